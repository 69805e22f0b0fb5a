#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "openai/api_error.hpp"

using namespace inferstack::openai;
using json = nlohmann::json;

TEST_CASE("error_json, OpenAI style") {
  CHECK(error_json(model_not_found("llama")) ==
        R"({"error":{"message":"The model `llama` does not exist.","type":"invalid_request_error",)"
        R"("param":"model","code":"model_not_found"}})");
  CHECK(error_json(invalid_api_key()) ==
        R"({"error":{"message":"Incorrect API key provided.","type":"invalid_request_error",)"
        R"("param":null,"code":"invalid_api_key"}})");
  // An empty code renders as null, as OpenAI sends for plain invalid requests.
  CHECK(error_json(bad_request("bad \"thing\"\n")) ==
        R"({"error":{"message":"bad \"thing\"\n","type":"invalid_request_error","param":null,)"
        R"("code":null}})");
}

TEST_CASE("error_json, sim/vLLM style: type from the status, code the integer status") {
  CHECK(error_json(model_not_found("llama"), error_style::sim) ==
        R"({"error":{"message":"The model `llama` does not exist.","type":"NotFoundError",)"
        R"("param":"model","code":404}})");
  CHECK(error_json(bad_request("x", "n"), error_style::sim) ==
        R"({"error":{"message":"x","type":"BadRequestError","param":"n","code":400}})");
  CHECK(error_json(queue_full(), error_style::sim) ==
        R"({"error":{"message":"Failed to enqueue request, waiting requests queue is full",)"
        R"("type":"RateLimitError","param":null,"code":429}})");
}

TEST_CASE("sim_error_type covers the sim's table") {
  CHECK(sim_error_type(400) == "BadRequestError");
  CHECK(sim_error_type(401) == "AuthenticationError");
  CHECK(sim_error_type(403) == "PermissionDeniedError");
  CHECK(sim_error_type(404) == "NotFoundError");
  CHECK(sim_error_type(422) == "UnprocessableEntityError");
  CHECK(sim_error_type(429) == "RateLimitError");
  CHECK(sim_error_type(500) == "InternalServerError");
  CHECK(sim_error_type(503) == "InternalServerError");
  CHECK(sim_error_type(418) == "APIConnectionError");
}

TEST_CASE("the standard errors") {
  auto ctx = context_length_exceeded(1024, 1000, 100);
  CHECK(ctx.status == 400);
  CHECK(ctx.message ==
        "This model's maximum context length is 1024 tokens. However, you requested 1100 tokens "
        "(1000 in the messages, 100 in the completion). Please reduce the length of the messages "
        "or completion.");
  CHECK(ctx.type == "invalid_request_error");
  CHECK(ctx.param == "messages");
  CHECK(ctx.code == "context_length_exceeded");

  auto q = queue_full();
  CHECK(q.status == 429);
  CHECK(q.type == "rate_limit_error");
  CHECK(q.code == "rate_limit_exceeded");
  CHECK_FALSE(q.param);

  auto k = invalid_api_key();
  CHECK(k.status == 401);
  CHECK(k.message == "Incorrect API key provided.");

  auto nf = model_not_found("a`b");
  CHECK(nf.status == 404);
  CHECK(nf.message == "The model `a`b` does not exist.");
  CHECK(nf.param == "model");

  CHECK(service_unavailable("no ready pod").status == 503);
  CHECK(service_unavailable("no ready pod").type == "service_unavailable_error");
  CHECK(internal_error("boom").status == 500);
  CHECK(internal_error("boom").type == "server_error");

  auto b = bad_request("m", "p");
  CHECK(b.status == 400);
  CHECK(b.param == "p");
  CHECK(b.code.empty());

  auto mp = missing_parameter("messages");
  CHECK(mp.message == "Missing required parameter: 'messages'.");
  CHECK(mp.code == "missing_required_parameter");
  auto it = invalid_type("n", "an integer", "a string");
  CHECK(it.message == "Invalid type for 'n': expected an integer, but got a string instead.");
  CHECK(it.param == "n");
}

TEST_CASE("error_for_status follows the HTTP server's mapping") {
  CHECK(error_for_status(400, "x").code == "bad_request");
  CHECK(error_for_status(401, "x").type == "authentication_error");
  CHECK(error_for_status(404, "x").code == "not_found");
  CHECK(error_for_status(413, "x").code == "request_too_large");
  CHECK(error_for_status(429, "x").type == "rate_limit_error");
  CHECK(error_for_status(503, "x").code == "service_unavailable");
  auto e = error_for_status(502, "bad gateway");
  CHECK(e.status == 502);
  CHECK(e.type == "server_error");
  CHECK(error_for_status(409, "x").code == "invalid_request");
}

TEST_CASE("error_body is the bytes the HTTP servers answer their own errors with") {
  auto body = [](const char* type, const char* code) {
    return std::string(R"({"error":{"message":"say \"no\"\n","type":")") + type +
           R"(","param":null,"code":")" + code + R"("}})";
  };
  const std::string m = "say \"no\"\n";
  CHECK(error_body(400, m) == body("invalid_request_error", "bad_request"));
  CHECK(error_body(401, m) == body("authentication_error", "invalid_api_key"));
  CHECK(error_body(403, m) == body("invalid_request_error", "invalid_request"));
  CHECK(error_body(404, m) == body("invalid_request_error", "not_found"));
  CHECK(error_body(405, m) == body("invalid_request_error", "method_not_allowed"));
  CHECK(error_body(413, m) == body("invalid_request_error", "request_too_large"));
  CHECK(error_body(429, m) == body("rate_limit_error", "rate_limit_exceeded"));
  CHECK(error_body(431, m) == body("invalid_request_error", "request_header_fields_too_large"));
  CHECK(error_body(500, m) == body("server_error", "internal_error"));
  CHECK(error_body(502, m) == body("server_error", "internal_error"));
  CHECK(error_body(503, m) == body("service_unavailable_error", "service_unavailable"));
}

TEST_CASE("the sim's injected failures") {
  struct expected {
    injected_failure f;
    const char* name;
    int status;
    const char* message;
    std::optional<std::string> param;
  };
  for (const auto& e : {
           expected{injected_failure::rate_limit, "rate_limit", 429,
                    "Rate limit reached for llama in organization org-xxx on requests per min "
                    "(RPM): Limit 3, Used 3, Requested 1.",
                    std::nullopt},
           expected{injected_failure::invalid_api_key, "invalid_api_key", 401,
                    "Incorrect API key provided.", std::nullopt},
           expected{injected_failure::context_length, "context_length", 400,
                    "This model's maximum context length is 4096 tokens. However, your messages "
                    "resulted in 4500 tokens.",
                    "messages"},
           expected{injected_failure::server_error, "server_error", 503,
                    "The server is overloaded or not ready yet.", std::nullopt},
           expected{injected_failure::invalid_request, "invalid_request", 400,
                    "Invalid request: missing required parameter 'model'.", "model"},
           expected{injected_failure::model_not_found, "model_not_found", 404,
                    "The model 'llama-nonexistent' does not exist", "model"},
       }) {
    INFO(e.name);
    CHECK(to_string(e.f) == e.name);
    CHECK(parse_injected_failure(e.name) == e.f);
    const auto err = injected_failure_error(e.f, "llama");
    CHECK(err.status == e.status);
    CHECK(err.message == e.message);
    CHECK(err.param == e.param);
    // In the sim's own style the body is what the sim sends.
    const auto body = json::parse(error_json(err, error_style::sim));
    CHECK(body["error"]["code"] == e.status);
    CHECK(body["error"]["type"] == std::string(sim_error_type(e.status)));
    CHECK(body["error"]["message"] == e.message);
  }
  CHECK_FALSE(parse_injected_failure("meteor"));
}

TEST_CASE("error bodies are valid JSON whatever the message holds") {
  const char raw[] = "nul \0 ctrl \x1f bad \xFF utf8 caf\xC3\xA9";
  api_error e = bad_request(std::string(raw, sizeof raw - 1), "p\"q");
  for (auto style : {error_style::openai, error_style::sim}) {
    const auto body = json::parse(error_json(e, style));
    CHECK(body["error"]["param"] == "p\"q");
    CHECK(body["error"]["message"].get<std::string>().find("caf\xC3\xA9") != std::string::npos);
  }
}
