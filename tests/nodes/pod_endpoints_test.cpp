// The simulator endpoints of `inferstack run pod` as pure functions: embeddings (values, forms,
// the simulator's 400s), render, one model card, Go durations and /admin/config.
#include <catch2/catch.hpp>

#include <regex>

#include <nlohmann/json.hpp>

#include "nodes/pod_endpoints.hpp"
#include "runtime/tokenizer.hpp"

using namespace inferstack;
using nlohmann::json;

namespace {

actors::pod::pod_settings settings() {
  actors::pod::pod_settings s;
  s.model = "base";
  s.served_model_names = {"base", "alias"};
  s.default_embedding_dimensions = 8;
  return s;
}

json body_of(const nodes::endpoint_reply& r) {
  return json::parse(r.body);
}

}  // namespace

TEST_CASE("stub embeddings follow the simulator's values") {
  auto v = nodes::stub_embedding({1024 + 512, 256}, 4);
  REQUIRE(v.size() == 4);
  CHECK(v[0] == 0.0F);   // 2*512/1024-1
  CHECK(v[1] == -0.5F);  // 2*256/1024-1
  CHECK(v[2] == -1.0F);  // past the tokens: token 0 again, mod 256 -> 0
  CHECK(v[3] == -1.0F);  // token 1, 256 mod 256 -> 0
  CHECK(nodes::stub_embedding({}, 3) == std::vector<float>{0, 0, 0});
  CHECK(nodes::stub_embedding({5, 6, 7}, 3) == nodes::stub_embedding({5, 6, 7}, 3));
}

TEST_CASE("embeddings in base64 are little-endian float32") {
  CHECK(nodes::embedding_base64({1.0F, -2.0F}) == "AACAPwAAAMA=");
  CHECK(nodes::embedding_base64({}).empty());
}

TEST_CASE("embeddings answer OpenAI's list for each input form") {
  auto s = settings();
  SECTION("a string, default dimensions, the model echoed unchecked") {
    auto r =
        nodes::embeddings_reply(R"({"input":"hello world","model":"text-embedding-3-small"})", s);
    REQUIRE(r.status == 200);
    auto b = body_of(r);
    CHECK(b["object"] == "list");
    CHECK(b["model"] == "text-embedding-3-small");
    REQUIRE(b["data"].size() == 1);
    CHECK(b["data"][0]["object"] == "embedding");
    CHECK(b["data"][0]["index"] == 0);
    auto tokens = runtime::tokenize("hello world");
    auto expected = nodes::stub_embedding(tokens, 8);
    REQUIRE(b["data"][0]["embedding"].size() == 8);
    for (size_t i = 0; i < expected.size(); ++i)
      CHECK(b["data"][0]["embedding"][i].get<double>() == static_cast<double>(expected[i]));
    CHECK(b["usage"]["prompt_tokens"] == tokens.size());
    CHECK(b["usage"]["total_tokens"] == tokens.size());
    // OpenAI's key order, as the simulator writes it
    CHECK(r.body.rfind(R"({"object":"list","data":[{"object":"embedding","index":0,)", 0) == 0);
  }
  SECTION("strings, no model: the pod's model") {
    auto b = body_of(nodes::embeddings_reply(R"({"input":["a b","c"],"dimensions":2})", s));
    CHECK(b["model"] == "base");
    REQUIRE(b["data"].size() == 2);
    CHECK(b["data"][1]["index"] == 1);
    CHECK(b["data"][1]["embedding"].size() == 2);
    CHECK(b["usage"]["prompt_tokens"] == 3);
  }
  SECTION("token ids and token-id arrays, base64") {
    auto b = body_of(nodes::embeddings_reply(R"({"input":[3,-4,5],"dimensions":3})", s));
    CHECK(b["usage"]["prompt_tokens"] == 3);
    CHECK(b["data"][0]["embedding"][1].get<double>() == -1.0);  // negative ids count as 0
    b = body_of(nodes::embeddings_reply(
        R"({"input":[[1,2],[3]],"dimensions":2,"encoding_format":"base64"})", s));
    REQUIRE(b["data"].size() == 2);
    CHECK(b["data"][0]["embedding"] == nodes::embedding_base64(nodes::stub_embedding({1, 2}, 2)));
    CHECK(b["data"][1]["embedding"] == nodes::embedding_base64(nodes::stub_embedding({3}, 2)));
    CHECK(b["usage"]["total_tokens"] == 3);
  }
}

TEST_CASE("embeddings refuse what the simulator refuses") {
  auto s = settings();
  auto message = [&](std::string_view body) {
    auto r = nodes::embeddings_reply(body, s);
    CHECK(r.status == 400);
    return body_of(r)["error"]["message"].get<std::string>();
  };
  CHECK(message(R"({"input":[]})") == "input is required and must be a non-empty string or array");
  CHECK(message(R"({"model":"m"})") == "input is required and must be a non-empty string or array");
  CHECK(message(R"({"input":["a",1]})") ==
        "input is required and must be a non-empty string or array");
  CHECK(message(R"({"input":7})") == "input is required and must be a non-empty string or array");
  CHECK(message(R"({"input":""})") == "input cannot be an empty string");
  CHECK(message(R"({"input":["a",""]})") == "input cannot be an empty string");
  CHECK(message(R"({"input":"a","dimensions":0})") == "dimensions must be at least 1");
  CHECK(message(R"({"input":"a","dimensions":100000})") == "dimensions must be at most 65536");
  CHECK(message("not json").rfind("Failed to read and parse request body", 0) == 0);
  CHECK(message(R"({"input":"a","dimensions":"x"})")
            .rfind("Failed to read and parse request body", 0) == 0);
}

TEST_CASE("render gives the tokens generation would see") {
  auto s = settings();
  std::set<std::string> loras{"my-lora"};
  auto chat = nodes::render_reply(
      true, R"({"model":"alias","messages":[{"role":"user","content":"hi there"}]})", s, loras);
  REQUIRE(chat.status == 200);
  auto expected = runtime::tokenize(runtime::flatten_chat({{"user", "hi there"}}));
  CHECK(body_of(chat) == json{{"token_ids", expected}});

  auto text = nodes::render_reply(false, R"({"model":"base","prompt":["one two","x"]})", s, loras);
  REQUIRE(text.status == 200);
  CHECK(body_of(text) == json::array({json{{"token_ids", runtime::tokenize("one two")}},
                                      json{{"token_ids", runtime::tokenize("x")}}}));
  auto ids = nodes::render_reply(false, R"({"model":"base","prompt":[[7,8],[9]]})", s, loras);
  CHECK(body_of(ids) == json::parse(R"([{"token_ids":[7,8]},{"token_ids":[9]}])"));
  auto one = nodes::render_reply(false, R"({"model":"base","prompt":"solo"})", s, loras);
  CHECK(body_of(one).is_array());
}

TEST_CASE("render refuses as the simulator does") {
  auto s = settings();
  std::set<std::string> loras{"my-lora"};
  auto check = [&](bool chat, std::string_view body, int status, std::string message) {
    auto r = nodes::render_reply(chat, body, s, loras);
    CHECK(r.status == status);
    CHECK(body_of(r)["error"]["message"] == message);
  };
  check(true, R"({"model":"base","messages":[]})", 400, "messages must not be empty");
  check(true, R"({"model":"base","prompt":"x"})", 400, "messages must not be empty");
  check(false, R"({"model":"base"})", 400, "prompt array must contain at least one prompt");
  check(false, R"({"model":"base","prompt":[]})", 400,
        "prompt array must contain at least one prompt");
  check(false, R"({"model":"base","prompt":["a",""]})", 400,
        "prompt must not contain an empty string");
  check(false, R"({"model":"base","prompt":[[1],[]]})", 400,
        "prompt must not contain an empty token-id array");
  check(false, R"({"model":"nope","prompt":"a"})", 404, "The model `nope` does not exist.");
  check(false, R"({"model":"my-lora","prompt":"a"})", 400,
        "The model `my-lora` is a LoRA adapter and is not supported by the render endpoints.");
}

TEST_CASE("one model card by id") {
  auto s = settings();
  std::set<std::string> loras{"my-lora"};
  auto r = nodes::model_card_reply("alias", s, loras, 42);
  REQUIRE(r.status == 200);
  auto b = body_of(r);
  CHECK(b["id"] == "alias");
  CHECK(b["object"] == "model");
  CHECK(b["root"] == "base");
  CHECK(b["created"] == 42);
  auto lora = body_of(nodes::model_card_reply("my-lora", s, loras, 42));
  CHECK(lora["parent"] == "base");
  auto missing = nodes::model_card_reply("other", s, loras, 42);
  CHECK(missing.status == 404);
  CHECK(body_of(missing)["error"]["message"] == "The model `other` does not exist.");
}

TEST_CASE("durations print as Go's time.Duration") {
  CHECK(nodes::go_duration(0) == "0s");
  CHECK(nodes::go_duration(500) == "500ns");
  CHECK(nodes::go_duration(1500) == "1.5\xC2\xB5s");
  CHECK(nodes::go_duration(250'000'000) == "250ms");
  CHECK(nodes::go_duration(1'250'000) == "1.25ms");
  CHECK(nodes::go_duration(1'500'000'000) == "1.5s");
  CHECK(nodes::go_duration(90'000'000'000) == "1m30s");
  CHECK(nodes::go_duration(3'661'000'000'000) == "1h1m1s");
  CHECK(nodes::go_duration(3'600'000'000'000) == "1h0m0s");
  CHECK(nodes::go_duration(-2'000'000'000) == "-2s");
}

TEST_CASE("admin config shows the settings under the simulator's keys") {
  auto s = settings();
  s.sim.time_to_first_token_ns = 250'000'000;
  s.failure_injection_rate = 10;
  s.failure_types = {"rate_limit"};
  auto c = nodes::admin_config(s);
  CHECK(c["model"] == "base");
  CHECK(c["served-model-name"] == json::array({"base", "alias"}));
  CHECK(c["time-to-first-token"] == "250ms");
  CHECK(c["inter-token-latency"] == "0s");
  CHECK(c["failure-injection-rate"] == 10);
  CHECK(c["failure-injection-rate"].is_number_integer());
  CHECK(c["failure-types"] == json::array({"rate_limit"}));
  CHECK(c["default-embedding-dimensions"] == 8);
  CHECK(c["data-parallel-size"] == 1);
  CHECK(c.contains("max-num-seqs"));
  CHECK(c.contains("enable-sleep-mode"));
}

TEST_CASE(
    "admin config updates: the simulator's keys only, valid values, nothing changed on a 400") {
  auto s = settings();
  actors::pod::apply_options apply;
  auto status = [&](std::string_view body) {
    return nodes::admin_config_update(body, s, apply).status;
  };
  auto message = [&](std::string_view body) {
    return body_of(nodes::admin_config_update(body, s, apply))["error"]["message"]
        .get<std::string>();
  };
  CHECK(status(R"({"port":9000})") == 400);
  CHECK(message(R"({"model":"x"})") == "field 'model' is not admin-configurable");
  CHECK(status(R"({"time-to-first-token":"100ms","max-num-seqs":3})") == 400);
  CHECK(status("[]") == 400);
  CHECK(status("nope") == 400);
  CHECK(status(R"({"time-to-first-token":"soon"})") == 400);
  CHECK(status(R"({"failure-injection-rate":101})") == 400);
  CHECK(status(R"({"failure-types":["no_such_failure"]})") == 400);
  CHECK(status(R"({"latency-calculator":"quadratic"})") == 400);
  CHECK(status(R"({"time-factor-under-load":0.5})") == 400);
  // std-dev above 30 % of the mean, as the simulator checks
  CHECK(status(R"({"time-to-first-token":"100ms","time-to-first-token-std-dev":"50ms"})") == 400);
  CHECK(status(R"({"inter-token-latency":[1]})") == 400);
  // A refused update changes nothing, not even its valid keys.
  CHECK(s.sim.time_to_first_token_ns == 0);
  CHECK(apply.keys.empty());
}

TEST_CASE("admin config updates apply the run-time fields and answer the whole configuration") {
  auto s = settings();
  actors::pod::apply_options apply;
  auto r = nodes::admin_config_update(
      R"({"time-to-first-token":"250ms","time-factor-under-load":1.5,"inter-token-latency":5000000})",
      s, apply);
  REQUIRE(r.status == 200);
  CHECK(s.sim.time_to_first_token_ns == 250'000'000);
  CHECK(s.sim.time_factor_under_load == 1.5);
  CHECK(s.sim.inter_token_latency_ns == 5'000'000);  // a number is Go's nanoseconds
  auto body = body_of(r);
  CHECK(body["time-to-first-token"] == "250ms");
  CHECK(body["time-factor-under-load"] == 1.5);
  CHECK(body["model"] == "base");
  // What the pod actor gets: flag names and values as text.
  CHECK(apply.keys == std::vector<std::string>{"inter-token-latency", "time-factor-under-load",
                                               "time-to-first-token"});
  CHECK(apply.values == std::vector<std::string>{"5000000ns", "1.5", "250ms"});

  REQUIRE(nodes::admin_config_update(
              R"({"failure-injection-rate":100,"failure-types":["rate_limit"]})", s, apply)
              .status == 200);
  CHECK(s.failure_injection_rate == 100);
  CHECK(s.failure_types == std::vector<std::string>{"rate_limit"});
  CHECK(s.sim.time_to_first_token_ns == 250'000'000);  // earlier changes stay
  CHECK(nodes::admin_config(s)["failure-injection-rate"] == 100);

  REQUIRE(nodes::admin_config_update(R"({"latency-calculator":""})", s, apply).status == 200);
  REQUIRE(nodes::admin_config_update(R"({"latency-calculator":"constant"})", s, apply).status ==
          200);
  CHECK(nodes::admin_config(s)["latency-calculator"] == "constant");
  // Accepted by the simulator; the pod has no fake metrics: nothing to apply.
  REQUIRE(
      nodes::admin_config_update(R"({"fake-metrics":{"running-requests":3}})", s, apply).status ==
      200);
  CHECK(apply.keys.empty());
}

TEST_CASE("the Mooncake query names one rank with a v4 uuid") {
  auto id = nodes::uuid_v4(0x0123456789abcdefULL, 0xfedcba9876543210ULL);
  CHECK(std::regex_match(id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                                        "[0-9a-f]{12}")));
  CHECK(id != nodes::uuid_v4(1, 2));
  CHECK(json::parse(nodes::mooncake_query_json(id)) == json{{"0", {{"engine_id", id}}}});
}
