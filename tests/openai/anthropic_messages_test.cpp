// Anthropic's Messages API: the chat body a request stands for, the simulator's 400s, and the
// answer's shapes (message object, streamed events in order, error body).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "openai/anthropic_messages.hpp"

using namespace inferstack;
using nlohmann::json;

namespace {

json chat_of(std::string_view body) {
  auto out = openai::messages_to_chat(body);
  if (auto* err = std::get_if<openai::api_error>(&out)) FAIL(err->message);
  return std::get<json>(out);
}

std::string refusal(std::string_view body) {
  auto out = openai::messages_to_chat(body);
  REQUIRE(std::holds_alternative<openai::api_error>(out));
  CHECK(std::get<openai::api_error>(out).status == 400);
  return std::get<openai::api_error>(out).message;
}

/// (event name, data) of each SSE event in `text`.
std::vector<std::pair<std::string, json>> events_of(const std::string& text) {
  std::vector<std::pair<std::string, json>> out;
  size_t at = 0;
  while (at < text.size()) {
    auto end = text.find("\n\n", at);
    REQUIRE(end != std::string::npos);
    auto frame = text.substr(at, end - at);
    REQUIRE(frame.rfind("event: ", 0) == 0);
    auto nl = frame.find('\n');
    REQUIRE(frame.substr(nl + 1, 6) == "data: ");
    out.emplace_back(frame.substr(7, nl - 7), json::parse(frame.substr(nl + 7)));
    CHECK(out.back().second["type"] == out.back().first);
    at = end + 2;
  }
  return out;
}

}  // namespace

TEST_CASE("a Messages request is the chat request it stands for") {
  auto chat = chat_of(R"({"model":"m","max_tokens":100,"system":"Be brief.","stream":true,
    "stop_sequences":["END"],"temperature":0.5,
    "messages":[{"role":"user","content":"Hello!"},
                {"role":"assistant","content":[{"type":"text","text":"Hi"},{"type":"thinking"}]},
                {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"},
                  {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAA"}}]}]})");
  CHECK(chat["model"] == "m");
  CHECK(chat["max_completion_tokens"] == 100);
  CHECK(chat["stream"] == true);
  CHECK(chat["stop"] == json::array({"END"}));
  CHECK(chat["temperature"] == 0.5);
  auto& m = chat["messages"];
  REQUIRE(m.size() == 4);
  CHECK(m[0] == json{{"role", "system"}, {"content", "Be brief."}});
  CHECK(m[1] == json{{"role", "user"}, {"content", "Hello!"}});
  CHECK(m[2]["content"] == json::array({{{"type", "text"}, {"text", "Hi"}}}));  // thinking skipped
  CHECK(m[3]["content"].size() == 3);
  CHECK(m[3]["content"][2] ==
        json{{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,AAA"}}}});
}

TEST_CASE("Messages tools: tool_use as tool_calls, tool_result as tool messages, choices mapped") {
  auto chat = chat_of(R"({"model":"m","max_tokens":10,
    "tools":[{"name":"get_weather","description":"d","input_schema":{"type":"object"}}],
    "tool_choice":{"type":"tool","name":"get_weather"},
    "messages":[{"role":"user","content":"weather?"},
      {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather",
                                      "input":{"location":"Paris"}}]},
      {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1",
                                 "content":[{"type":"text","text":"sunny"}]}]}]})");
  CHECK(chat["tools"] == json::array({{{"type", "function"},
                                       {"function",
                                        {{"name", "get_weather"},
                                         {"description", "d"},
                                         {"parameters", {{"type", "object"}}}}}}}));
  CHECK(chat["tool_choice"] == json{{"type", "function"}, {"function", {{"name", "get_weather"}}}});
  auto& m = chat["messages"];
  REQUIRE(m.size() == 3);
  CHECK(m[1]["role"] == "assistant");
  CHECK(m[1]["content"].is_null());
  CHECK(m[1]["tool_calls"][0]["id"] == "toolu_1");
  CHECK(json::parse(m[1]["tool_calls"][0]["function"]["arguments"].get<std::string>()) ==
        json{{"location", "Paris"}});
  CHECK(m[2] == json{{"role", "tool"}, {"tool_call_id", "toolu_1"}, {"content", "sunny"}});
  CHECK(
      chat_of(
          R"({"max_tokens":1,"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"x"}]})")
          ["tool_choice"] == "required");
}

TEST_CASE("Messages requests the simulator refuses") {
  CHECK(refusal(R"({"model":"m","max_tokens":100,"messages":[]})") == "messages must not be empty");
  CHECK(refusal(R"({"model":"m","messages":[{"role":"user","content":"x"}]})") ==
        "max_tokens is required");
  CHECK(
      refusal(
          R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image"}]}]})") ==
      "image content block is missing required 'source' field");
  CHECK(
      refusal(
          R"({"model":"m","max_tokens":1,"tool_choice":{"type":"tool"},"messages":[{"role":"user","content":"x"}]})") ==
      "tool_choice of type 'tool' requires a non-empty 'name'");
  CHECK(refusal("nope").rfind("Failed to read and parse request body", 0) == 0);
  CHECK(refusal(R"({"max_tokens":1,"messages":[{"role":"user","content":7}]})")
            .rfind("Failed to read and parse request body", 0) == 0);
}

TEST_CASE("the Messages answer: message object and stop reasons") {
  auto body =
      json::parse(openai::messages_response_json({"msg_1", "m"}, "Hi there", "length", 5, 2));
  CHECK(body == json::parse(R"({"id":"msg_1","type":"message","role":"assistant",
    "content":[{"type":"text","text":"Hi there"}],"model":"m","stop_reason":"max_tokens",
    "stop_sequence":null,"usage":{"input_tokens":5,"cache_creation_input_tokens":0,
    "cache_read_input_tokens":0,"output_tokens":2}})"));
  CHECK(openai::messages_stop_reason("stop") == "end_turn");
  CHECK(openai::messages_stop_reason("tool_calls") == "tool_use");
  CHECK(openai::messages_stop_reason("length") == "max_tokens");
}

TEST_CASE("the streamed Messages answer: Anthropic's events in order") {
  openai::messages_stream s({"msg_2", "m"});
  std::string out;
  s.append_start(out, 7);
  s.append_text(out, "Hello ");
  s.append_start(out, 7);  // once only
  s.append_text(out, "");  // nothing for no text
  s.append_text(out, "world");
  s.append_finish(out, "stop", 7, 2);
  auto events = events_of(out);
  std::vector<std::string> names;
  for (auto& [name, data] : events)
    names.push_back(name);
  CHECK(names == std::vector<std::string>{"message_start", "content_block_start", "ping",
                                          "content_block_delta", "content_block_delta",
                                          "content_block_stop", "message_delta", "message_stop"});
  auto& start = events[0].second["message"];
  CHECK(start["id"] == "msg_2");
  CHECK(start["content"] == json::array());
  CHECK(start["stop_reason"].is_null());
  CHECK(start["usage"]["input_tokens"] == 7);
  CHECK(events[1].second["content_block"] == json{{"type", "text"}, {"text", ""}});
  CHECK(events[3].second["delta"] == json{{"type", "text_delta"}, {"text", "Hello "}});
  CHECK(events[6].second["delta"]["stop_reason"] == "end_turn");
  CHECK(events[6].second["usage"]["output_tokens"] == 2);
  // Nothing generated: the block still opens before it closes.
  openai::messages_stream empty({"msg_3", "m"});
  std::string none;
  empty.append_finish(none, "length", 3, 0);
  CHECK(events_of(none).size() == 6);
}

TEST_CASE("Anthropic's error body names the error type from the status") {
  auto body = [](int status) {
    return json::parse(openai::messages_error_json(openai::error_for_status(status, "why")));
  };
  CHECK(body(400) == json{{"type", "error"},
                          {"error", {{"type", "invalid_request_error"}, {"message", "why"}}}});
  CHECK(body(404)["error"]["type"] == "not_found_error");
  CHECK(body(429)["error"]["type"] == "rate_limit_error");
  CHECK(body(503)["error"]["type"] == "overloaded_error");
  CHECK(body(500)["error"]["type"] == "api_error");
  CHECK(openai::messages_error_event(openai::error_for_status(429, "x"))
            .rfind("event: error\ndata: ", 0) == 0);
}

TEST_CASE("tool calls answer as tool_use blocks with Anthropic's ids") {
  auto tools = openai::messages_tool_uses(
      R"([{"id":"chatcmpl-tool-0123456789","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}},
          {"id":"chatcmpl-tool-9876543210","type":"function","function":{"name":"get_time","arguments":"{}"}}])");
  REQUIRE(tools.size() == 2);
  CHECK(tools[0].id == "toolu_0123456789");
  CHECK(tools[0].name == "get_weather");
  CHECK(openai::messages_tool_uses("not json").empty());
  auto body =
      json::parse(openai::messages_response_json({"msg_4", "m"}, "", "tool_calls", 5, 9, tools));
  CHECK(body["stop_reason"] == "tool_use");
  CHECK(body["content"] == json::parse(R"([
    {"type":"tool_use","id":"toolu_0123456789","name":"get_weather","input":{"location":"Paris"}},
    {"type":"tool_use","id":"toolu_9876543210","name":"get_time","input":{}}])"));
}

TEST_CASE("streamed tool calls: a tool_use block per call, its arguments as input_json_delta") {
  openai::messages_stream s({"msg_5", "m"});
  s.use_tools({{"toolu_1", "a", R"({"x":1})"}, {"toolu_2", "b", R"({"y":2})"}});
  std::string out;
  s.append_start(out, 4);
  s.append_text(out, R"({"x")");
  s.append_text(out, R"(:1}{"y)");  // the end of one call and the start of the next
  s.append_text(out, R"(":2})");
  s.append_finish(out, "tool_calls", 4, 8);
  auto events = events_of(out);
  std::vector<std::string> names;
  for (auto& [name, data] : events)
    names.push_back(name);
  CHECK(names == std::vector<std::string>{"message_start", "ping", "content_block_start",
                                          "content_block_delta", "content_block_delta",
                                          "content_block_stop", "content_block_start",
                                          "content_block_delta", "content_block_delta",
                                          "content_block_stop", "message_delta", "message_stop"});
  CHECK(events[2].second["content_block"] ==
        json{{"type", "tool_use"}, {"id", "toolu_1"}, {"name", "a"}, {"input", json::object()}});
  CHECK(events[3].second["delta"] ==
        json{{"type", "input_json_delta"}, {"partial_json", "{\"x\""}});
  CHECK(events[4].second["delta"]["partial_json"] == ":1}");
  CHECK(events[6].second["index"] == 1);
  CHECK(events[6].second["content_block"]["id"] == "toolu_2");
  CHECK(events[7].second["delta"]["partial_json"] == "{\"y");
  CHECK(events[9].second["index"] == 1);
  CHECK(events[10].second["delta"]["stop_reason"] == "tool_use");
}
