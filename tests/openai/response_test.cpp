#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "openai/response.hpp"

using namespace inferstack::openai;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

const response_meta chat_meta{"chatcmpl-123", 1700000000, "m"};
const response_meta cmpl_meta{"cmpl-9", 1700000001, "m"};

// The JSON inside one SSE frame; fails the test if the framing is wrong.
std::string frame_payload(const std::string& frame) {
  REQUIRE(frame.rfind("data: ", 0) == 0);
  REQUIRE(frame.size() >= 8);
  REQUIRE(frame.substr(frame.size() - 2) == "\n\n");
  const std::string payload = frame.substr(6, frame.size() - 8);
  REQUIRE(payload.find('\n') == std::string::npos);
  return payload;
}

// pydantic's UsageInfo field order: prompt_tokens, total_tokens, completion_tokens, details.
ojson usage_object(int64_t p, int64_t c) {
  ojson u;
  u["prompt_tokens"] = p;
  u["total_tokens"] = p + c;
  u["completion_tokens"] = c;
  return u;
}

ojson chunk_head(const response_meta& meta, const char* object) {
  ojson j;
  j["id"] = meta.id;
  j["object"] = object;
  j["created"] = meta.created;
  j["model"] = meta.model;
  return j;
}

// A chat chunk the way vLLM's exclude_unset dump lays it out.
ojson chat_chunk(const response_meta& meta, int index, ojson delta, const json& finish,
                 bool with_stop_reason) {
  ojson j = chunk_head(meta, "chat.completion.chunk");
  ojson choice;
  choice["index"] = index;
  choice["delta"] = std::move(delta);
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish;
  if (with_stop_reason) choice["stop_reason"] = nullptr;
  j["choices"] = ojson::array({choice});
  return j;
}

ojson content_delta(const std::string& text) {
  ojson d;
  d["content"] = text;
  return d;
}

}  // namespace

TEST_CASE("non-streamed chat completion: vLLM's model_dump layout") {
  const std::string body = chat_response_json(chat_meta, {{0, "Hello!", "stop"}}, usage{5, 2, 1});
  CHECK(body ==
        R"({"id":"chatcmpl-123","object":"chat.completion","created":1700000000,"model":"m",)"
        R"("choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","refusal":null,)"
        R"("annotations":null,"audio":null,"function_call":null,"tool_calls":[],)"
        R"("reasoning_content":null},"logprobs":null,"finish_reason":"stop","stop_reason":null}],)"
        R"("service_tier":null,"system_fingerprint":null,"usage":{"prompt_tokens":5,)"
        R"("total_tokens":7,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}},)"
        R"("prompt_logprobs":null,"kv_transfer_params":null})");

  ojson message;
  message["role"] = "assistant";
  message["content"] = "Hello!";
  for (const char* k : {"refusal", "annotations", "audio", "function_call"})
    message[k] = nullptr;
  message["tool_calls"] = ojson::array();
  message["reasoning_content"] = nullptr;
  ojson choice;
  choice["index"] = 0;
  choice["message"] = message;
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = "stop";
  choice["stop_reason"] = nullptr;
  ojson expected = chunk_head(chat_meta, "chat.completion");
  expected["choices"] = ojson::array({choice});
  expected["service_tier"] = nullptr;
  expected["system_fingerprint"] = nullptr;
  expected["usage"] = usage_object(5, 2);
  expected["usage"]["prompt_tokens_details"] = {{"cached_tokens", 1}};
  expected["prompt_logprobs"] = nullptr;
  expected["kv_transfer_params"] = nullptr;
  CHECK(body == expected.dump());
}

TEST_CASE("non-streamed text completion: vLLM's model_dump layout") {
  const std::string body = completion_response_json(
      cmpl_meta, {{0, "one", "length"}, {1, "two", "stop"}}, usage{3, 4, std::nullopt});
  CHECK(body ==
        R"({"id":"cmpl-9","object":"text_completion","created":1700000001,"model":"m",)"
        R"("choices":[{"index":0,"text":"one","logprobs":null,"finish_reason":"length",)"
        R"("stop_reason":null,"prompt_logprobs":null},{"index":1,"text":"two","logprobs":null,)"
        R"("finish_reason":"stop","stop_reason":null,"prompt_logprobs":null}],)"
        R"("service_tier":null,"system_fingerprint":null,"usage":{"prompt_tokens":3,)"
        R"("total_tokens":7,"completion_tokens":4,"prompt_tokens_details":null},)"
        R"("kv_transfer_params":null})");
  const auto parsed = json::parse(body);
  CHECK(parsed["choices"].size() == 2);
  CHECK(parsed["usage"]["total_tokens"] == 7);
}

TEST_CASE("an empty finish reason renders as null") {
  const auto parsed =
      json::parse(chat_response_json(chat_meta, {{0, "partial", ""}}, usage{1, 1, 0}));
  CHECK(parsed["choices"][0]["finish_reason"].is_null());
}

TEST_CASE("chat role chunk: delta role + empty content, no usage key") {
  const std::string frame = sse_chat_role_chunk(chat_meta, 0);
  CHECK(frame ==
        "data: "
        R"({"id":"chatcmpl-123","object":"chat.completion.chunk","created":1700000000,)"
        R"("model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},)"
        R"("logprobs":null,"finish_reason":null}]})"
        "\n\n");
  ojson delta;
  delta["role"] = "assistant";
  delta["content"] = "";
  CHECK(frame_payload(frame) == chat_chunk(chat_meta, 0, delta, nullptr, false).dump());
}

TEST_CASE("chat content chunk") {
  const std::string frame = sse_chat_content_chunk(chat_meta, 1, " world");
  CHECK(frame ==
        "data: "
        R"({"id":"chatcmpl-123","object":"chat.completion.chunk","created":1700000000,)"
        R"("model":"m","choices":[{"index":1,"delta":{"content":" world"},"logprobs":null,)"
        R"("finish_reason":null}]})"
        "\n\n");
  CHECK(frame_payload(frame) ==
        chat_chunk(chat_meta, 1, content_delta(" world"), nullptr, false).dump());
}

TEST_CASE("chat finish chunk carries the last text, the reason and stop_reason null") {
  const std::string frame = sse_chat_finish_chunk(chat_meta, 0, "length", "!");
  CHECK(frame ==
        "data: "
        R"({"id":"chatcmpl-123","object":"chat.completion.chunk","created":1700000000,)"
        R"("model":"m","choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,)"
        R"("finish_reason":"length","stop_reason":null}]})"
        "\n\n");
  CHECK(frame_payload(frame) ==
        chat_chunk(chat_meta, 0, content_delta("!"), "length", true).dump());
  CHECK(frame_payload(sse_chat_finish_chunk(chat_meta, 0, "stop")) ==
        chat_chunk(chat_meta, 0, content_delta(""), "stop", true).dump());
}

TEST_CASE("continuous usage stats ride on every chat chunk") {
  const usage running{10, 3, 4};
  ojson expected = chat_chunk(chat_meta, 0, content_delta("x"), nullptr, false);
  expected["usage"] = usage_object(10, 3);  // exclude_unset: no details key
  CHECK(frame_payload(sse_chat_content_chunk(chat_meta, 0, "x", running)) == expected.dump());

  ojson role_delta;
  role_delta["role"] = "assistant";
  role_delta["content"] = "";
  ojson role = chat_chunk(chat_meta, 0, role_delta, nullptr, false);
  role["usage"] = usage_object(10, 0);
  CHECK(frame_payload(sse_chat_role_chunk(chat_meta, 0, usage{10, 0})) == role.dump());

  ojson fin = chat_chunk(chat_meta, 0, content_delta(""), "stop", true);
  fin["usage"] = usage_object(10, 3);
  CHECK(frame_payload(sse_chat_finish_chunk(chat_meta, 0, "stop", "", running)) == fin.dump());
}

TEST_CASE("usage chunk: empty choices, usage with details when known") {
  const std::string frame =
      sse_usage_chunk(chat_meta, endpoint::chat_completions, usage{12, 30, 8});
  CHECK(frame ==
        "data: "
        R"({"id":"chatcmpl-123","object":"chat.completion.chunk","created":1700000000,)"
        R"("model":"m","choices":[],"usage":{"prompt_tokens":12,"total_tokens":42,)"
        R"("completion_tokens":30,"prompt_tokens_details":{"cached_tokens":8}}})"
        "\n\n");
  ojson expected = chunk_head(chat_meta, "chat.completion.chunk");
  expected["choices"] = ojson::array();
  expected["usage"] = usage_object(12, 30);
  expected["usage"]["prompt_tokens_details"] = {{"cached_tokens", 8}};
  CHECK(frame_payload(frame) == expected.dump());

  // exclude_none: without cached tokens the details key is absent, not null.
  ojson plain = chunk_head(cmpl_meta, "text_completion");
  plain["choices"] = ojson::array();
  plain["usage"] = usage_object(1, 2);
  CHECK(frame_payload(sse_usage_chunk(cmpl_meta, endpoint::completions,
                                      usage{1, 2, std::nullopt})) == plain.dump());
}

TEST_CASE("completion chunks: every field, usage null") {
  const std::string frame = sse_completion_chunk(cmpl_meta, 0, "tok");
  CHECK(frame ==
        "data: "
        R"({"id":"cmpl-9","object":"text_completion","created":1700000001,"model":"m",)"
        R"("choices":[{"index":0,"text":"tok","logprobs":null,"finish_reason":null,)"
        R"("stop_reason":null}],"usage":null})"
        "\n\n");
  auto expected = [&](const std::string& text, const json& finish, const ojson& use) {
    ojson j = chunk_head(cmpl_meta, "text_completion");
    ojson choice;
    choice["index"] = 0;
    choice["text"] = text;
    choice["logprobs"] = nullptr;
    choice["finish_reason"] = finish;
    choice["stop_reason"] = nullptr;
    j["choices"] = ojson::array({choice});
    j["usage"] = use;
    return j.dump();
  };
  CHECK(frame_payload(frame) == expected("tok", nullptr, nullptr));
  CHECK(frame_payload(sse_completion_chunk(cmpl_meta, 0, "", "stop")) ==
        expected("", "stop", nullptr));
  ojson running = usage_object(4, 2);
  running["prompt_tokens_details"] = nullptr;  // exclude_unset=False on a fresh UsageInfo
  CHECK(frame_payload(sse_completion_chunk(cmpl_meta, 0, "a", std::nullopt, usage{4, 2, 1})) ==
        expected("a", nullptr, running));
}

TEST_CASE("error event and [DONE]") {
  CHECK(sse_error_event(internal_error("engine died")) ==
        "data: "
        R"({"error":{"message":"engine died","type":"server_error","param":null,)"
        R"("code":"internal_error"}})"
        "\n\n");
  CHECK(sse_error_event(bad_request("x"), error_style::sim) ==
        "data: "
        R"({"error":{"message":"x","type":"BadRequestError","param":null,"code":400}})"
        "\n\n");
  CHECK(sse_done() == "data: [DONE]\n\n");
}

TEST_CASE("text with quotes, control characters and unicode is escaped") {
  const std::string text = "line1\nline2 \"q\" \\ \t\x01 caf\xC3\xA9 \xF0\x9F\x98\x80 </script>";
  for (const auto& frame : {sse_chat_content_chunk(chat_meta, 0, text),
                            sse_chat_finish_chunk(chat_meta, 0, "stop", text),
                            sse_completion_chunk(cmpl_meta, 0, text)}) {
    const auto parsed = json::parse(frame_payload(frame));
    const auto& choice = parsed["choices"][0];
    CHECK((choice.contains("delta") ? choice["delta"]["content"] : choice["text"]) == text);
  }
  CHECK(frame_payload(sse_chat_content_chunk(chat_meta, 0, text)) ==
        chat_chunk(chat_meta, 0, content_delta(text), nullptr, false).dump());
  const response_meta odd{"id\"1", 5, "org/model \xE2\x9C\x93\n"};
  const auto parsed = json::parse(frame_payload(sse_chat_role_chunk(odd, 0)));
  CHECK(parsed["id"] == odd.id);
  CHECK(parsed["model"] == odd.model);
  const auto body = json::parse(chat_response_json(odd, {{0, text, "stop"}}, usage{}));
  CHECK(body["choices"][0]["message"]["content"] == text);
}

TEST_CASE("invalid UTF-8 in generated text still yields valid JSON") {
  const std::string broken = "ok \xE4\xB8 then \xFF end";
  const auto parsed = json::parse(frame_payload(sse_chat_content_chunk(chat_meta, 0, broken)));
  CHECK(parsed["choices"][0]["delta"]["content"] == "ok \xEF\xBF\xBD then \xEF\xBF\xBD end");
}

TEST_CASE("stream_encoder produces the same frames as the free functions") {
  const stream_encoder chat(endpoint::chat_completions, chat_meta);
  const stream_encoder cmpl(endpoint::completions, cmpl_meta);
  std::string out;
  chat.append_role(out, 0);
  CHECK(out == sse_chat_role_chunk(chat_meta, 0));
  out.clear();
  chat.append_content(out, 2, "tok\n", usage{1, 1});
  CHECK(out == sse_chat_content_chunk(chat_meta, 2, "tok\n", usage{1, 1}));
  out.clear();
  chat.append_finish(out, 0, "stop", "end");
  CHECK(out == sse_chat_finish_chunk(chat_meta, 0, "stop", "end"));
  out.clear();
  chat.append_usage(out, usage{7, 8, 9});
  CHECK(out == sse_usage_chunk(chat_meta, endpoint::chat_completions, usage{7, 8, 9}));
  out.clear();
  cmpl.append_completion(out, 1, "t", "length", usage{2, 3});
  CHECK(out == sse_completion_chunk(cmpl_meta, 1, "t", "length", usage{2, 3}));
  out.clear();
  cmpl.append_usage(out, usage{2, 3});
  CHECK(out == sse_usage_chunk(cmpl_meta, endpoint::completions, usage{2, 3}));

  // Appending batches several frames into one buffer.
  out.clear();
  chat.append_content(out, 0, "a");
  chat.append_content(out, 0, "b");
  CHECK(out ==
        sse_chat_content_chunk(chat_meta, 0, "a") + sse_chat_content_chunk(chat_meta, 0, "b"));
  CHECK(chat.kind() == endpoint::chat_completions);
}

TEST_CASE("models list in the sim's layout, with vLLM's permission entry on request") {
  std::vector<model_card> models(2);
  models[0].id = "llama";
  models[0].created = 1700000000;
  models[0].root = "meta-llama/Llama-3.1-8B";
  models[0].max_model_len = 8192;
  models[1].id = "sql-lora";
  models[1].created = 1700000000;
  models[1].root = "/adapters/sql";
  models[1].parent = "llama";
  const std::string body = models_list_json(models);
  CHECK(body ==
        R"({"object":"list","data":[{"id":"llama","object":"model","created":1700000000,)"
        R"("owned_by":"vllm","root":"meta-llama/Llama-3.1-8B","parent":null,"max_model_len":8192},)"
        R"({"id":"sql-lora","object":"model","created":1700000000,"owned_by":"vllm",)"
        R"("root":"/adapters/sql","parent":"llama","max_model_len":null}]})");
  CHECK(models_list_json({}) == R"({"object":"list","data":[]})");

  models[0].permission_id = "modelperm-1";
  const auto parsed = json::parse(models_list_json({models[0]}));
  const auto& perm = parsed["data"][0]["permission"][0];
  CHECK(perm["id"] == "modelperm-1");
  CHECK(perm["object"] == "model_permission");
  CHECK(perm["allow_sampling"] == true);
  CHECK(perm["organization"] == "*");
  CHECK(perm["group"].is_null());
}

TEST_CASE("stream_encoder: append_tokens lays out vLLM's chunks by default") {
  const stream_encoder chat(endpoint::chat_completions, chat_meta);
  const stream_encoder cmpl(endpoint::completions, cmpl_meta);
  std::string out;
  chat.append_tokens(out, 1, "a ", "", 0);
  CHECK(out == sse_chat_content_chunk(chat_meta, 1, "a "));
  out.clear();
  chat.append_tokens(out, 1, "end", "stop", 1);  // the last text rides with the reason
  CHECK(out == sse_chat_finish_chunk(chat_meta, 1, "stop", "end"));
  out.clear();
  cmpl.append_tokens(out, 0, "end", "length", 3);
  CHECK(out == sse_completion_chunk(cmpl_meta, 0, "end", "length"));
}

TEST_CASE("stream_encoder: the simulator's style sends the last text apart from the reason") {
  const stream_encoder chat(endpoint::chat_completions, chat_meta, stream_style{true, {}});
  const stream_encoder cmpl(endpoint::completions, cmpl_meta, stream_style{true, {}});
  std::string out;
  chat.append_tokens(out, 0, "test.", "stop", 3);
  CHECK(out == sse_chat_content_chunk(chat_meta, 0, "test.") +
                   sse_chat_finish_chunk(chat_meta, 0, "stop"));
  out.clear();
  cmpl.append_tokens(out, 2, "test.", "length", 3);
  CHECK(out == sse_completion_chunk(cmpl_meta, 2, "test.") +
                   sse_completion_chunk(cmpl_meta, 2, "", "length"));
  // A finish without text is one chunk; a chunk without a finish is unchanged.
  out.clear();
  chat.append_tokens(out, 0, "", "stop", 3);
  CHECK(out == sse_chat_finish_chunk(chat_meta, 0, "stop"));
  out.clear();
  chat.append_tokens(out, 0, "x", "", 3);
  CHECK(out == sse_chat_content_chunk(chat_meta, 0, "x"));
}

TEST_CASE("stream_encoder: logprobs for each token of a chunk, from its position on") {
  const stream_encoder chat(endpoint::chat_completions, chat_meta, stream_style{true, 2});
  std::string out;
  chat.append_tokens(out, 0, "is a", "stop", 1);
  const auto first_newline = out.find("\n\n");
  REQUIRE(first_newline != std::string::npos);
  const auto content = json::parse(frame_payload(out.substr(0, first_newline + 2)));
  const auto finish = json::parse(frame_payload(out.substr(first_newline + 2)));
  ojson expected_lp = ojson::parse(R"({"content":[
    {"token":"is ","logprob":-1.1,"bytes":[105,115,32],"top_logprobs":[
      {"token":"is ","logprob":-1.1,"bytes":[105,115,32]},
      {"token":"is _1","logprob":-1.6,"bytes":[105,115,32,95,49]}]},
    {"token":"a","logprob":-1.2,"bytes":[97],"top_logprobs":[
      {"token":"a","logprob":-1.2,"bytes":[97]},
      {"token":"a_1","logprob":-1.7,"bytes":[97,95,49]}]}]})");
  CHECK(content["choices"][0]["delta"]["content"] == "is a");
  CHECK(json::parse(content["choices"][0]["logprobs"].dump()) == json::parse(expected_lp.dump()));
  CHECK(finish["choices"][0]["logprobs"].is_null());
  CHECK(finish["choices"][0]["finish_reason"] == "stop");

  const stream_encoder cmpl(endpoint::completions, cmpl_meta, stream_style{false, 1});
  out.clear();
  cmpl.append_tokens(out, 0, "x", "", 3);
  const auto c = json::parse(frame_payload(out));
  CHECK(c["choices"][0]["logprobs"] ==
        json::parse(R"({"text_offset":[0],"token_logprobs":[-1.0],"tokens":["x"],)"
                    R"("top_logprobs":[{"x":-1.0}]})"));
}

TEST_CASE("non-streamed bodies: synthetic logprobs of every token when asked") {
  choice_result asked{0, "This is", "stop", 2};
  const auto chat = json::parse(chat_response_json(chat_meta, {asked}, usage{}));
  const auto& content = chat["choices"][0]["logprobs"]["content"];
  REQUIRE(content.size() == 2);
  CHECK(content[0]["token"] == "This ");
  CHECK(content[0]["logprob"] == -1.0);
  CHECK(content[1]["token"] == "is");
  CHECK(content[1]["logprob"] == -1.1);
  CHECK(content[1]["top_logprobs"].size() == 2);
  CHECK(content[1]["top_logprobs"][1]["token"] == "is_1");
  CHECK(content[1]["top_logprobs"][1]["logprob"] == -1.6);

  const auto cmpl = json::parse(completion_response_json(cmpl_meta, {asked}, usage{}));
  CHECK(cmpl["choices"][0]["logprobs"] ==
        json::parse(R"({"text_offset":[0,5],"token_logprobs":[-1.0,-1.1],)"
                    R"("tokens":["This ","is"],"top_logprobs":[{"This ":-1.0,"This _1":-1.5},)"
                    R"({"is":-1.1,"is_1":-1.6}]})"));
  // Not asked: null, as before.
  const auto plain = json::parse(chat_response_json(chat_meta, {{0, "x", "stop"}}, usage{}));
  CHECK(plain["choices"][0]["logprobs"].is_null());
}

TEST_CASE("a prefill's answer carries kv_transfer_params for its decoder, null otherwise") {
  response_meta meta{"cmpl-1", 1, "m"};
  std::vector<choice_result> choices{{0, "a", "remote_decode"}};
  usage use{1, 1};
  CHECK(nlohmann::json::parse(completion_response_json(meta, choices, use))["kv_transfer_params"]
            .is_null());
  meta.kv_transfer_params = R"({"do_remote_prefill":true,"remote_port":1234})";
  auto body = nlohmann::json::parse(completion_response_json(meta, choices, use));
  CHECK(body["kv_transfer_params"]["remote_port"] == 1234);
  auto chat = nlohmann::json::parse(chat_response_json(meta, choices, use));
  CHECK(chat["kv_transfer_params"]["do_remote_prefill"] == true);
}
