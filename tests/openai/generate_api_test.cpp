// vLLM's /inference/v1/generate: the body as llm-d-inference-sim reads it (its 400s, both places
// of kv_transfer_params) and the answers' shapes.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "openai/generate_api.hpp"

using namespace inferstack;
using nlohmann::json;

namespace {

openai::generate_request_body read(std::string_view body) {
  auto out = openai::parse_generate(body);
  if (auto* err = std::get_if<openai::api_error>(&out)) FAIL(err->message);
  return std::get<openai::generate_request_body>(out);
}

std::string refusal(std::string_view body) {
  auto out = openai::parse_generate(body);
  REQUIRE(std::holds_alternative<openai::api_error>(out));
  CHECK(std::get<openai::api_error>(out).status == 400);
  return std::get<openai::api_error>(out).message;
}

json data_of(const std::string& frame) {
  REQUIRE(frame.rfind("data: ", 0) == 0);
  REQUIRE(frame.size() > 8);
  CHECK(frame.substr(frame.size() - 2) == "\n\n");
  return json::parse(frame.substr(6, frame.size() - 8));
}

}  // namespace

TEST_CASE("a generate body: token ids, sampling params, stream options, P/D") {
  auto b = read(R"({"model":"m","token_ids":[1,2,3],"sampling_params":{"max_tokens":5},
                    "stream":true,"stream_options":{"include_usage":true}})");
  CHECK(b.model == "m");
  CHECK(b.token_ids == std::vector<uint32_t>{1, 2, 3});
  CHECK(b.max_tokens == 5);
  CHECK(b.stream);
  CHECK(b.include_usage);
  CHECK_FALSE(b.remote_decode);
  CHECK(
      read(
          R"({"token_ids":[1],"sampling_params":{},"kv_transfer_params":{"do_remote_decode":true}})")
          .remote_decode);
  // vLLM sometimes puts them in extra_args; the simulator reads them there too
  auto extra = read(
      R"({"token_ids":[1],"sampling_params":{"extra_args":{"kv_transfer_params":{"do_remote_prefill":true}}}})");
  CHECK(extra.remote_prefill);
  CHECK_FALSE(read(R"({"token_ids":[1],"sampling_params":{}})").max_tokens);
}

TEST_CASE("generate bodies the simulator refuses") {
  CHECK(refusal(R"({"model":"m","sampling_params":{"max_tokens":5}})") ==
        "Missing input token_ids");
  CHECK(refusal(R"({"model":"m","token_ids":[1,2,3]})") == "Missing sampling_params field");
  CHECK(refusal(R"({"token_ids":[1],"sampling_params":{"max_tokens":0}})") ==
        "Max completion tokens and max tokens should be positive");
  CHECK(refusal(R"({"token_ids":["a"],"sampling_params":{}})")
            .rfind("Failed to read and parse request body", 0) == 0);
  CHECK(refusal("[]").rfind("Failed to read and parse request body", 0) == 0);
}

TEST_CASE("generate answers carry token ids, and a prefill's kv_transfer_params") {
  auto body = json::parse(openai::generate_response_json("req-1", {7, 8}, "length", false));
  CHECK(body == json::parse(R"({"choices":[{"index":0,"finish_reason":"length","token_ids":[7,8]}],
                                "request_id":"req-1","ec_transfer_params":null})"));
  auto prefill = json::parse(openai::generate_response_json("req-2", {7}, "remote_decode", true));
  CHECK(prefill["kv_transfer_params"]["do_remote_prefill"] == true);
  CHECK(prefill["kv_transfer_params"]["do_remote_decode"] == false);
  CHECK(prefill["kv_transfer_params"]["remote_port"] == 1234);
  CHECK_FALSE(prefill["kv_transfer_params"]["remote_block_ids"].empty());

  auto chunk = data_of(openai::sse_generate_chunk("req-3", {9}, ""));
  CHECK(chunk == json::parse(R"({"request_id":"req-3","choices":[{"index":0,"finish_reason":null,
                                 "token_ids":[9]}]})"));
  CHECK(data_of(openai::sse_generate_chunk("req-3", {9}, "stop"))["choices"][0]["finish_reason"] ==
        "stop");
  auto usage = data_of(openai::sse_generate_usage_chunk("req-3", 4, 5, 0));
  CHECK(usage["choices"] == json::array());
  CHECK(usage["usage"]["total_tokens"] == 9);
}
