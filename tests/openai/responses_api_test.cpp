// The Responses API codec: bodies read into the chat request they are served as, the 400s that
// name their field, and the response object and stream events checked field by field against
// the shapes OpenAI and llm-d-inference-sim send.
#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "openai/responses_api.hpp"

using namespace inferstack::openai;
using json = nlohmann::json;

namespace {

responses_request parse_ok(const std::string& body) {
  auto r = parse_responses(body);
  if (auto* err = std::get_if<api_error>(&r)) FAIL("unexpected error: " << err->message);
  return std::move(std::get<responses_request>(r));
}

api_error parse_err(const std::string& body) {
  auto r = parse_responses(body);
  if (std::holds_alternative<responses_request>(r)) FAIL("expected an error for " << body);
  return std::get<api_error>(r);
}

responses_meta sample_meta() {
  responses_meta meta;
  meta.id = "resp_abc";
  meta.item_id = "msg_abc";
  meta.created_at = 1700000000;
  meta.model = "m";
  return meta;
}

/// The events of a Responses stream: (event name, data) in order.
std::vector<std::pair<std::string, json>> events_of(const std::string& stream) {
  std::vector<std::pair<std::string, json>> out;
  size_t at = 0;
  while (at < stream.size()) {
    auto end = stream.find("\n\n", at);
    REQUIRE(end != std::string::npos);
    auto frame = stream.substr(at, end - at);
    at = end + 2;
    REQUIRE(frame.rfind("event: ", 0) == 0);
    auto newline = frame.find('\n');
    auto name = frame.substr(7, newline - 7);
    auto data = frame.substr(newline + 1);
    REQUIRE(data.rfind("data: ", 0) == 0);
    out.emplace_back(name, json::parse(data.substr(6)));
  }
  return out;
}

std::vector<std::string> names_of(const std::vector<std::pair<std::string, json>>& events) {
  std::vector<std::string> names;
  for (const auto& e : events)
    names.push_back(e.first);
  return names;
}

}  // namespace

TEST_CASE("responses: a string input is one user message, echoed as is", "[responses]") {
  auto r = parse_ok(R"({"model":"m","input":"Hello world","max_output_tokens":7,"stream":true})");
  CHECK(r.chat.kind == endpoint::responses);
  CHECK(r.chat.model == "m");
  REQUIRE(r.chat.messages.size() == 1);
  CHECK(r.chat.messages[0].role == "user");
  CHECK(r.chat.messages[0].content == "Hello world");
  CHECK(r.echo_text == "Hello world");
  CHECK(r.chat.max_completion_tokens == 7);
  CHECK(r.chat.effective_max_tokens() == 7);
  CHECK(r.chat.stream);
  CHECK_FALSE(r.instructions);
  CHECK_FALSE(r.top_logprobs);
}

TEST_CASE("responses: message items with content parts, media named in the echo", "[responses]") {
  auto r = parse_ok(R"({"model":"m","instructions":"Reply in French","input":[
    {"role":"system","content":"be brief"},
    {"type":"message","role":"user","content":[
      {"type":"input_text","text":"Describe this"},
      {"type":"input_image","image_url":"https://example.com/img.png"},
      {"type":"input_audio","data":"AAAA","format":"wav"},
      {"type":"input_file","file_id":"file-1"}]}]})");
  REQUIRE(r.chat.messages.size() == 2);
  CHECK(r.chat.messages[0].role == "system");
  CHECK(r.chat.messages[0].content == "be brief");
  CHECK(r.chat.messages[1].content == "Describe this");
  CHECK(r.chat.messages[1].media_parts == 3);
  CHECK(r.echo_text == "Describe this\nimage: https://example.com/img.png\naudio: wav");
  CHECK(r.instructions == "Reply in French");
}

TEST_CASE("responses: function_call and function_call_output items become chat turns",
          "[responses]") {
  auto r = parse_ok(R"({"model":"m","input":[
    {"role":"user","content":"What is the weather?"},
    {"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},
    {"type":"function_call_output","call_id":"call_1","output":"sunny, 22C"}]})");
  REQUIRE(r.chat.messages.size() == 3);
  CHECK(r.chat.messages[1].role == "assistant");
  CHECK(r.chat.messages[1].content == R"(get_weather({"city":"Paris"}))");
  REQUIRE(r.chat.messages[1].tool_calls.size() == 1);
  CHECK(r.chat.messages[1].tool_calls[0].id == "call_1");
  CHECK(r.chat.messages[2].role == "tool");
  CHECK(r.chat.messages[2].tool_call_id == "call_1");
  CHECK(r.chat.messages[2].content == "sunny, 22C");
  CHECK(r.has_function_call_output);
  REQUIRE(r.function_calls.size() == 1);
  CHECK(r.function_calls[0].name == "get_weather");
  CHECK(r.echo_text == "sunny, 22C");
}

TEST_CASE("responses: logprobs only when include asks for them", "[responses]") {
  CHECK_FALSE(parse_ok(R"({"model":"m","input":"x","top_logprobs":2})").top_logprobs);
  CHECK(parse_ok(R"({"model":"m","input":"x","include":["message.output_text.logprobs"]})")
            .top_logprobs == 0);
  CHECK(parse_ok(R"({"model":"m","input":"x","include":["message.output_text.logprobs"],
                     "top_logprobs":2})")
            .top_logprobs == 2);
}

TEST_CASE("responses: tools, flat or nested, under the simulator's Responses rules",
          "[responses]") {
  const std::string tools = R"("tools":[
    {"type":"function","name":"a","description":"A","parameters":{"type":"object"}},
    {"type":"function","function":{"name":"b","parameters":{"type":"object"}}}])";
  auto r = parse_ok(R"({"model":"m","input":"x",)" + tools + "}");
  const auto& tr = r.chat.tools;
  REQUIRE(tr.tools.size() == 2);
  CHECK(tr.tools[0].name == "a");
  CHECK(tr.tools[0].description == "A");
  CHECK(tr.tools[1].name == "b");
  // No tool_choice: a first tool turn calls one tool.
  CHECK(tr.choice.mode == tool_choice_mode::required);
  CHECK_FALSE(tr.parallel_calls);
  CHECK(parse_ok(R"({"model":"m","input":"x","tool_choice":"auto",)" + tools + "}")
            .chat.tools.choice.mode == tool_choice_mode::required);
  CHECK(parse_ok(R"({"model":"m","input":"x","tool_choice":"none",)" + tools + "}")
            .chat.tools.choice.mode == tool_choice_mode::none);
  CHECK(parse_ok(R"({"model":"m","input":"x","parallel_tool_calls":true,)" + tools + "}")
            .chat.tools.parallel_calls);
  auto forced = parse_ok(R"({"model":"m","input":"x",
      "tool_choice":{"type":"function","name":"b"},)" +
                         tools + "}");
  CHECK(forced.chat.tools.choice.mode == tool_choice_mode::function);
  CHECK(forced.chat.tools.choice.function_name == "b");
  // A tool's result is in the input: the answer is a message.
  auto after = parse_ok(R"({"model":"m","input":[{"role":"user","content":"q"},
      {"type":"function_call_output","call_id":"call_1","output":"ok"}],)" +
                        tools + "}");
  CHECK(after.chat.tools.choice.mode == tool_choice_mode::none);
  CHECK(after.chat.tools.tools.size() == 2);  // still checked by the pod
}

TEST_CASE("responses: a generated call's ids as function_call items", "[responses]") {
  auto call = responses_call_of({"chatcmpl-tool-0123456789", "f", "{}"});
  CHECK(call.id == "fc_0123456789");
  CHECK(call.call_id == "call_0123456789");
  CHECK(call.name == "f");
  CHECK(call.arguments == "{}");
}

TEST_CASE("responses: refused bodies name the field", "[responses]") {
  auto unsupported = parse_err(R"({"model":"m","input":[{"role":"user","content":[
    {"type":"input_video","url":"https://example.com/v.mp4"}]}]})");
  CHECK(unsupported.status == 400);
  CHECK(unsupported.message ==
        "Failed to read and parse request body, unsupported input content type \"input_video\"");
  CHECK(unsupported.param == "input[0].content[0].type");

  auto item = parse_err(R"({"model":"m","input":[{"type":"reasoning","summary":[]}]})");
  CHECK(item.message ==
        "Failed to read and parse request body, unsupported input item type \"reasoning\"");
  CHECK(item.param == "input[0].type");

  auto no_input = parse_err(R"({"model":"m"})");
  CHECK(no_input.message == "Failed to read and parse request body, input is required");
  CHECK(no_input.param == "input");

  CHECK(parse_err(R"({"model":"m","input":5})").param == "input");
  CHECK(parse_err(R"({"input":"x"})").param == "model");
  CHECK(parse_err(R"({"model":3,"input":"x"})").param == "model");
  CHECK(parse_err(R"({"model":"m","input":"x","stream":"yes"})").param == "stream");
  CHECK(parse_err(R"({"model":"m","input":"x","instructions":1})").param == "instructions");

  auto zero = parse_err(R"({"model":"m","input":"x","max_output_tokens":0})");
  CHECK(zero.message == "Max completion tokens and max tokens should be positive");
  CHECK(zero.param == "max_output_tokens");

  CHECK(parse_err(R"({"model":"m","input":"x","top_logprobs":21})").param == "top_logprobs");
  CHECK(parse_err(R"({"model":"m","input":"x","previous_response_id":"resp_1"})").param ==
        "previous_response_id");
  CHECK(parse_err(R"({"model":"m","input":"x","tools":[{"type":"function"}]})").param ==
        "tools[0].function");
  CHECK(parse_err(R"({"model":"m","input":"x","tools":[{"type":"web_search"}]})").param ==
        "tools[0].type");
  CHECK(parse_err(R"({"model":"m","input":"x","parallel_tool_calls":1})").param ==
        "parallel_tool_calls");
  CHECK(parse_err(R"([1,2])").status == 400);
  CHECK(parse_err(R"({"model":)").status == 400);
}

TEST_CASE("responses: the simulator's logprob values per token", "[responses]") {
  auto lps = responses_logprobs("Hello world again", 0, 2);
  REQUIRE(lps.size() == 3);
  CHECK(lps[0]["token"] == "Hello ");
  CHECK(lps[0]["logprob"].get<double>() == Approx(-1.0));
  CHECK(lps[0]["bytes"] == nlohmann::ordered_json::parse("[72,101,108,108,111,32]"));
  REQUIRE(lps[0]["top_logprobs"].size() == 2);
  CHECK(lps[0]["top_logprobs"][0]["token"] == "Hello ");
  CHECK(lps[0]["top_logprobs"][1]["token"] == "Hello _1");
  CHECK(lps[0]["top_logprobs"][1]["logprob"].get<double>() == Approx(-1.5));
  CHECK(lps[1]["logprob"].get<double>() == Approx(-1.1));
  CHECK(lps[2]["logprob"].get<double>() == Approx(-1.2));
  // Positions go on from where the earlier deltas stopped.
  CHECK(responses_logprobs("x", 4, 0)[0]["logprob"].get<double>() == Approx(-1.1));
  CHECK(responses_logprobs("x", 4, 0)[0]["top_logprobs"].empty());
}

TEST_CASE("responses: the non-streamed response object", "[responses]") {
  auto meta = sample_meta();
  meta.instructions = "Reply in French";
  auto body = json::parse(responses_json(meta, "Hi there", usage{5, 2, 1}));
  CHECK(body["id"] == "resp_abc");
  CHECK(body["object"] == "response");
  CHECK(body["created_at"] == 1700000000);
  CHECK(body["status"] == "completed");
  CHECK(body["error"].is_null());
  CHECK(body["instructions"] == "Reply in French");
  CHECK(body["model"] == "m");
  CHECK(body["text"] == json::parse(R"({"format":{"type":"text"}})"));
  CHECK(body["parallel_tool_calls"] == true);
  REQUIRE(body["output"].size() == 1);
  auto item = body["output"][0];
  CHECK(item["type"] == "message");
  CHECK(item["id"] == "msg_abc");
  CHECK(item["role"] == "assistant");
  CHECK(item["status"] == "completed");
  REQUIRE(item["content"].size() == 1);
  CHECK(item["content"][0]["type"] == "output_text");
  CHECK(item["content"][0]["text"] == "Hi there");
  CHECK(item["content"][0]["annotations"] == json::array());
  CHECK_FALSE(item["content"][0].contains("logprobs"));
  CHECK(body["usage"] == json::parse(R"({"input_tokens":5,"input_tokens_details":
          {"cached_tokens":1},"output_tokens":2,"output_tokens_details":{"reasoning_tokens":0},
          "total_tokens":7})"));

  meta.top_logprobs = 0;
  meta.parallel_tool_calls = false;
  auto with = json::parse(responses_json(meta, "Hi there", usage{5, 2, 0}));
  CHECK(with["parallel_tool_calls"] == false);
  auto lps = with["output"][0]["content"][0]["logprobs"];
  REQUIRE(lps.size() == 2);
  CHECK(lps[1]["token"] == "there");
  CHECK(lps[1]["top_logprobs"] == json::array());
}

TEST_CASE("responses: function_call output items", "[responses]") {
  responses_call_output call{"fc_1", "call_1", "get_weather", R"({"city":"Paris"})"};
  auto body = json::parse(responses_json(sample_meta(), "", usage{5, 3, 0}, {call}));
  REQUIRE(body["output"].size() == 1);
  auto item = body["output"][0];
  CHECK(item["type"] == "function_call");
  CHECK(item["id"] == "fc_1");
  CHECK(item["call_id"] == "call_1");
  CHECK(item["name"] == "get_weather");
  CHECK(item["arguments"] == R"({"city":"Paris"})");
  CHECK(item["status"] == "completed");

  responses_stream stream(sample_meta());
  std::string out;
  stream.append_call(out, call);
  stream.append_finish(out, usage{5, 3, 0});
  auto events = events_of(out);
  CHECK(names_of(events) ==
        std::vector<std::string>{
            "response.created", "response.in_progress", "response.output_item.added",
            "response.function_call_arguments.delta", "response.function_call_arguments.done",
            "response.output_item.done", "response.completed"});
  CHECK(events[2].second["item"]["arguments"] == "");
  CHECK(events[2].second["item"]["status"] == "in_progress");
  CHECK(events[3].second["item_id"] == "fc_1");
  CHECK(events[4].second["name"] == "get_weather");
  CHECK(events[4].second["arguments"] == R"({"city":"Paris"})");
  CHECK(events[6].second["response"]["output"] == json::array({item}));
}

TEST_CASE("responses: the stream's events, in order, without logprobs", "[responses]") {
  responses_stream stream(sample_meta());
  std::string out;
  stream.append_text(out, "Hello ");
  stream.append_text(out, "world");
  stream.append_finish(out, usage{4, 2, 0});
  auto events = events_of(out);
  CHECK(names_of(events) ==
        std::vector<std::string>{"response.created", "response.in_progress",
                                 "response.output_item.added", "response.content_part.added",
                                 "response.output_text.delta", "response.output_text.delta",
                                 "response.output_text.done", "response.content_part.done",
                                 "response.output_item.done", "response.completed"});
  for (size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].second["type"] == events[i].first);
    CHECK(events[i].second["sequence_number"] == i);
  }
  CHECK(events[0].second["response"]["status"] == "in_progress");
  CHECK(events[0].second["response"]["output"] == json::array());
  CHECK(events[0].second["response"]["usage"].is_null());
  CHECK(events[2].second["output_index"] == 0);
  CHECK(events[2].second["item"]["status"] == "in_progress");
  CHECK(events[3].second["part"]["text"] == "");
  CHECK(events[4].second["item_id"] == "msg_abc");
  CHECK(events[4].second["delta"] == "Hello ");
  CHECK(events[5].second["delta"] == "world");
  CHECK(events[6].second["text"] == "Hello world");
  CHECK(events[7].second["part"]["text"] == "Hello world");
  CHECK(events[8].second["item"]["content"][0]["text"] == "Hello world");
  auto done = events[9].second["response"];
  CHECK(done["status"] == "completed");
  CHECK(done["output"][0]["content"][0]["text"] == "Hello world");
  CHECK(done["usage"]["total_tokens"] == 6);
  // Not asked for: no logprobs key anywhere.
  CHECK(out.find("logprobs") == std::string::npos);
}

TEST_CASE("responses: streamed logprobs per delta, [] and null on the done events", "[responses]") {
  auto meta = sample_meta();
  meta.top_logprobs = 2;
  responses_stream stream(meta);
  std::string out;
  stream.append_text(out, "Hello ");
  stream.append_text(out, "big world");
  stream.append_finish(out, usage{4, 3, 0});
  auto events = events_of(out);
  REQUIRE(events.size() == 10);
  CHECK(events[3].second["part"]["logprobs"] == json::array());
  auto first = events[4].second["logprobs"];
  auto second = events[5].second["logprobs"];
  REQUIRE(first.size() == 1);
  REQUIRE(second.size() == 2);
  CHECK(second[0]["token"] == "big ");
  // Positions run on across deltas: the third token is position 2.
  CHECK(second[1]["logprob"].get<double>() == Approx(-1.2));
  CHECK(second[1]["top_logprobs"].size() == 2);
  CHECK(events[6].second["logprobs"] == json::array());
  CHECK(events[7].second["part"].contains("logprobs"));
  CHECK(events[7].second["part"]["logprobs"].is_null());
  CHECK(events[8].second["item"]["content"][0]["logprobs"].is_null());
  auto all = events[9].second["response"]["output"][0]["content"][0]["logprobs"];
  REQUIRE(all.size() == 3);
  CHECK(all[0] == first[0]);
  CHECK(all[1] == second[0]);
  CHECK(all[2] == second[1]);
}

TEST_CASE("responses: a stream with no text still opens and closes its message", "[responses]") {
  responses_stream stream(sample_meta());
  std::string out;
  stream.append_finish(out, usage{4, 0, 0});
  auto names = names_of(events_of(out));
  CHECK(names == std::vector<std::string>{"response.created", "response.in_progress",
                                          "response.output_item.added",
                                          "response.content_part.added",
                                          "response.output_text.done", "response.content_part.done",
                                          "response.output_item.done", "response.completed"});
}

TEST_CASE("responses: streamed calls, their arguments cut across the pod's chunks", "[responses]") {
  responses_stream stream(sample_meta());
  std::string out;
  stream.expect_calls({{"fc_1", "call_1", "f", R"({"a":1})"}, {"fc_2", "call_2", "g", "{}"}});
  stream.append_text(out, R"({"a")");
  stream.append_text(out, R"(:1}{)");  // the end of the first call, the start of the second
  stream.append_text(out, "}");
  stream.append_finish(out, usage{3, 9, 0});
  auto events = events_of(out);
  CHECK(names_of(events) ==
        std::vector<std::string>{
            "response.created", "response.in_progress", "response.output_item.added",
            "response.function_call_arguments.delta", "response.function_call_arguments.delta",
            "response.function_call_arguments.done", "response.output_item.done",
            "response.output_item.added", "response.function_call_arguments.delta",
            "response.function_call_arguments.delta", "response.function_call_arguments.done",
            "response.output_item.done", "response.completed"});
  CHECK(events[3].second["delta"] == R"({"a")");
  CHECK(events[4].second["delta"] == ":1}");
  CHECK(events[5].second["arguments"] == R"({"a":1})");
  CHECK(events[7].second["output_index"] == 1);
  CHECK(events[7].second["item"]["id"] == "fc_2");
  CHECK(events[8].second["delta"] == "{");
  CHECK(events[10].second["arguments"] == "{}");
  auto output = events[12].second["response"]["output"];
  REQUIRE(output.size() == 2);
  CHECK(output[0]["arguments"] == R"({"a":1})");
  CHECK(output[1]["name"] == "g");
  CHECK(out.find("output_text") == std::string::npos);
}

TEST_CASE("responses: a call the stream cut short ends with what it got", "[responses]") {
  responses_stream stream(sample_meta());
  std::string out;
  stream.expect_calls({{"fc_1", "call_1", "f", R"({"a":1})"}});
  stream.append_text(out, R"({"a")");
  stream.append_finish(out, usage{3, 2, 0});
  auto events = events_of(out);
  REQUIRE(events.size() == 7);
  CHECK(events[4].first == "response.function_call_arguments.done");
  CHECK(events[4].second["arguments"] == R"({"a")");
  CHECK(events[6].second["response"]["output"][0]["arguments"] == R"({"a")");
}

TEST_CASE("responses: text.format read as chat's response_format and echoed", "[responses]") {
  auto r = parse_ok(R"({"model":"m","input":"x","text":{"format":{"type":"json_schema",
      "name":"city","schema":{"type":"object","properties":{"name":{"type":"string"}}},
      "strict":true}}})");
  CHECK(r.chat.format.type == response_format::kind::json_schema);
  CHECK(r.chat.format.schema["properties"]["name"]["type"] == "string");
  CHECK(parse_ok(R"({"model":"m","input":"x","text":{"format":{"type":"json_object"}}})")
            .chat.format.type == response_format::kind::json_object);
  CHECK(
      parse_ok(R"({"model":"m","input":"x","text":{"format":{"type":"text"}}})").chat.format.type ==
      response_format::kind::text);
  CHECK(parse_err(R"({"model":"m","input":"x","text":{"format":{"type":"xml"}}})").param ==
        "text.format.type");
  CHECK(parse_err(R"({"model":"m","input":"x","text":"plain"})").param == "text");

  auto meta = sample_meta();
  meta.text_format = r.text_format;
  auto body = json::parse(responses_json(meta, "{}", usage{1, 1, 0}));
  CHECK(body["text"]["format"]["type"] == "json_schema");
  CHECK(body["text"]["format"]["name"] == "city");
  CHECK(json::parse(responses_json(sample_meta(), "x", usage{1, 1, 0}))["text"] ==
        json::parse(R"({"format":{"type":"text"}})"));
}

TEST_CASE("responses: a stream that breaks off ends with an error event", "[responses]") {
  responses_stream stream(sample_meta());
  std::string out;
  stream.append_text(out, "Hello ");
  stream.append_error(out, internal_error("the model server p failed mid-stream: gone"));
  auto events = events_of(out);
  REQUIRE(events.size() == 6);
  CHECK(events[5].first == "error");
  CHECK(events[5].second["type"] == "error");
  CHECK(events[5].second["sequence_number"] == 5);
  CHECK(events[5].second["code"] == internal_error("x").code);
  CHECK(events[5].second["message"] == "the model server p failed mid-stream: gone");
  CHECK(events[5].second["param"].is_null());
  CHECK(out.find("[DONE]") == std::string::npos);
}
