// The pod actor answering chat requests with tools and response_format: tool calls whose
// arguments are instances of their schemas, streamed as the arguments' tokens, counted as the
// simulator counts them; the simulator's schema check and errors in its mode, vLLM's ways under a
// profile.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "actors/pod/pod_actor.hpp"
#include "openai/tool_calls.hpp"
#include "runtime/tokenizer.hpp"
#include "tests/support/caf_fixture.hpp"

using namespace inferstack;
using namespace inferstack::actors::pod;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

const json weather_tools = json::parse(R"([
  {"type":"function","function":{"name":"get_weather","description":"Weather",
    "parameters":{"type":"object","properties":{"location":{"type":"string"}},
                  "required":["location"]}}},
  {"type":"function","function":{"name":"get_temperature","description":"Temperature",
    "parameters":{"type":"object","properties":{"city":{"type":"string"},
                  "unit":{"type":"string","enum":["C","F"]}},"required":["city","unit"]}}}
])");

const json& schema_of(const std::string& name) {
  return weather_tools[name == "get_weather" ? 0 : 1]["function"]["parameters"];
}

/// The wire form of a request body's tools and tool_choice, as the gateway hands it over.
std::string tools_wire(const json& body) {
  openai::tools_request tr;
  if (auto err = openai::parse_tools(body, tr)) FAIL(err->message);
  return openai::tools_wire_json(tr);
}

struct tools_fixture : testing::caf_fixture {
  /// `simulator`: started as llm-d-inference-sim (standalone, no profile); else as under an
  /// inferstack profile's settings (vLLM's behaviour).
  pod_actor start(std::map<std::string, std::string> options, bool simulator) {
    pod_settings s;
    options.emplace("model", "test-model");
    s.simulator_defaults = simulator;
    auto problems = apply_pod_options(s, options, INFERSTACK_SOURCE_DIR "/config/profiles");
    for (auto& p : finish_pod_settings(s))
      problems.push_back(p);
    for (auto& p : problems)
      FAIL(p);
    pod_dependencies deps;
    deps.registry = std::make_shared<prometheus::Registry>();
    auto pod = spawn_pod(sys, s, deps);
    run();
    return pod;
  }

  generate_request chat(const json& body, bool stream = false) {
    generate_request r;
    r.request_id = "req-" + std::to_string(++counter);
    r.model = "test-model";
    r.prompts = {runtime::tokenize("### user: what is the weather\n")};
    r.echo_texts = {"what is the weather"};
    r.stream = stream;
    r.tools = tools_wire(body);
    if (body.contains("response_format")) {
      openai::response_format rf;
      if (auto err = openai::parse_response_format(body, rf)) FAIL(err->message);
      r.response_format = openai::response_format_wire_json(rf);
    }
    return r;
  }

  /// Runs a request to its end; streamed chunks are collected (and acknowledged).
  caf::expected<generate_result> complete(const pod_actor& pod, const generate_request& r,
                                          std::vector<token_chunk>* chunks = nullptr) {
    self->send(pod, r);
    std::optional<caf::expected<generate_result>> out;
    advance_until(
        [&] {
          self->receive([&](generate_result& res) { out = std::move(res); },
                        [&](caf::error& err) { out = caf::expected<generate_result>(err); },
                        [&](token_chunk& c) {
                          if (chunks) chunks->push_back(c);
                          self->send(pod, stream_ack{r.request_id, 1});
                        },
                        caf::after(0s) >> [] {});
          return out.has_value();
        },
        600s);
    if (!out) return caf::make_error(caf::sec::request_timeout);
    return *out;
  }

  int counter = 0;
};

json required_body() {
  return json{{"tools", weather_tools}, {"tool_choice", "required"}};
}

}  // namespace

TEST_CASE_METHOD(tools_fixture, "tool_choice required answers tool calls that fit their schemas") {
  for (bool simulator : {true, false}) {
    auto pod = start({{"mode", "random"}, {"seed", "11"}}, simulator);
    for (int i = 0; i < 20; ++i) {
      auto r = complete(pod, chat(required_body()));
      REQUIRE(r);
      REQUIRE(r->choices.size() == 1);
      const auto& c = r->choices[0];
      CHECK(c.finish_reason == "tool_calls");
      CHECK(c.text.empty());
      auto calls = openai::read_tool_calls_json(c.tool_calls);
      REQUIRE(!calls.empty());
      CHECK(calls.size() <= 2);
      for (const auto& call : calls) {
        CHECK(call.id.rfind("chatcmpl-tool-", 0) == 0);
        REQUIRE((call.name == "get_weather" || call.name == "get_temperature"));
        CHECK_FALSE(openai::validate_instance(schema_of(call.name), json::parse(call.arguments)));
      }
      // The simulator's count: 3 per call plus the tokens of its arguments.
      CHECK(r->completion_tokens == openai::tool_call_tokens(calls));
      CHECK(c.completion_tokens == r->completion_tokens);
      CHECK(r->prompt_tokens == runtime::tokenize("### user: what is the weather\n").size());
    }
  }
}

TEST_CASE_METHOD(tools_fixture,
                 "streamed tool calls are their arguments' tokens, the calls first") {
  auto pod = start({{"mode", "random"}, {"tool-call-extra-call-probability", "100"}}, true);
  std::vector<token_chunk> chunks;
  auto r = complete(pod, chat(required_body(), true), &chunks);
  REQUIRE(r);
  REQUIRE(!chunks.empty());
  CHECK(chunks.front().first);
  auto calls = openai::read_tool_calls_json(chunks.front().tool_calls);
  REQUIRE(calls.size() == 2);  // extra calls always: one per tool offered
  std::string expected, streamed;
  uint32_t tokens = 0;
  for (const auto& call : calls)
    expected += call.arguments;
  for (size_t i = 0; i < chunks.size(); ++i) {
    streamed += chunks[i].text;
    tokens += chunks[i].tokens;
    if (i > 0) CHECK(chunks[i].tool_calls.empty());
  }
  CHECK(streamed == expected);
  CHECK(chunks.back().finish_reason == "tool_calls");
  CHECK(r->choices[0].tool_calls == chunks.front().tool_calls);
  CHECK(r->choices[0].text.empty());
  CHECK(r->completion_tokens == tokens + 3 * 2);
}

TEST_CASE_METHOD(tools_fixture, "tool_choice none, and auto without extra calls, answer text") {
  auto pod = start({{"mode", "echo"}, {"tool-call-extra-call-probability", "0"}}, true);
  auto none = complete(pod, chat({{"tools", weather_tools}, {"tool_choice", "none"}}));
  REQUIRE(none);
  CHECK(none->choices[0].tool_calls.empty());
  CHECK(none->choices[0].text == "what is the weather");
  auto automatic = complete(pod, chat({{"tools", weather_tools}}));
  REQUIRE(automatic);
  CHECK(automatic->choices[0].tool_calls.empty());
  CHECK(automatic->choices[0].finish_reason == "stop");
}

TEST_CASE_METHOD(tools_fixture, "a named function is the one called, a missing one is a 500") {
  auto pod = start({{"mode", "random"}}, true);
  json body = {{"tools", weather_tools},
               {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}}};
  for (int i = 0; i < 5; ++i) {
    auto r = complete(pod, chat(body));
    REQUIRE(r);
    auto calls = openai::read_tool_calls_json(r->choices[0].tool_calls);
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].name == "get_weather");
  }
  body["tool_choice"]["function"]["name"] = "get_time";
  auto missing = complete(pod, chat(body));
  REQUIRE_FALSE(missing);
  auto info = describe_pod_error(missing.error());
  CHECK(info.status == 500);
  CHECK(info.message.find("'get_time'") != std::string::npos);
}

TEST_CASE_METHOD(tools_fixture,
                 "the simulator refuses invalid tool schemas unless told to skip the check") {
  json body = required_body();
  body["tools"][1]["function"]["parameters"]["properties"]["unit"]["enum"] = json::array({5, 6});
  auto sim = start({{"mode", "random"}}, true);
  auto refused = complete(sim, chat(body));
  REQUIRE_FALSE(refused);
  auto info = describe_pod_error(refused.error());
  CHECK(info.status == 400);
  CHECK(info.message.rfind("Tool validation failed: ", 0) == 0);

  auto skipping = start({{"mode", "random"}, {"skip-tool-validation", "true"}}, true);
  CHECK(complete(skipping, chat(body)));
  // Under a profile only well-formed JSON Schema is asked for (vLLM compiles it as it is).
  auto vllm = start({{"mode", "random"}}, false);
  CHECK(complete(vllm, chat(body)));
  json commented = required_body();
  commented["tools"][0]["function"]["parameters"]["$comment"] = "not in the simulator's list";
  CHECK_FALSE(complete(sim, chat(commented)));
  CHECK(complete(vllm, chat(commented)));
  json no_type = required_body();
  no_type["tools"][0]["function"]["parameters"]["properties"]["location"]["type"] = "no-such-type";
  auto malformed = complete(vllm, chat(no_type));
  REQUIRE_FALSE(malformed);
  CHECK(describe_pod_error(malformed.error()).status == 400);
  CHECK(describe_pod_error(malformed.error()).message.rfind("Invalid tool schema: ", 0) == 0);

  // minItems above maxItems passes the check but cannot be generated: the simulator's 500.
  json wrong = {{"tool_choice", "required"},
                {"tools", json::parse(R"([{"type":"function","function":{"name":"multiply",
        "description":"","parameters":{"type":"object","properties":{"numbers":{"type":"array",
        "items":{"type":"number"},"minItems":3,"maxItems":1}},"required":["numbers"]}}}])")}};
  auto failed = complete(sim, chat(wrong));
  REQUIRE_FALSE(failed);
  CHECK(describe_pod_error(failed.error()).status == 500);
}

TEST_CASE_METHOD(tools_fixture, "the tool-call flags set the generated values") {
  json body = {{"tool_choice", "required"},
               {"tools", json::parse(R"([{"type":"function","function":{"name":"order",
                 "description":"","parameters":{"type":"object","properties":{
                 "numbers":{"type":"array","items":{"type":"number"}},
                 "quantity":{"type":"integer"},"note":{"type":"string"}},
                 "required":["numbers"]}}}])")}};
  auto pod = start({{"mode", "random"},
                    {"min-tool-call-array-param-length", "4"},
                    {"max-tool-call-array-param-length", "5"},
                    {"min-tool-call-number-param", "222.5"},
                    {"max-tool-call-number-param", "333.5"},
                    {"min-tool-call-integer-param", "150"},
                    {"max-tool-call-integer-param", "2500"},
                    {"tool-call-not-required-param-probability", "100"}},
                   true);
  for (int i = 0; i < 10; ++i) {
    auto r = complete(pod, chat(body));
    REQUIRE(r);
    auto calls = openai::read_tool_calls_json(r->choices[0].tool_calls);
    REQUIRE(calls.size() == 1);
    auto args = json::parse(calls[0].arguments);
    CHECK(args.size() == 3);  // not-required parameters always, at probability 100
    CHECK(args["numbers"].size() >= 4);
    CHECK(args["numbers"].size() <= 5);
    for (const auto& x : args["numbers"]) {
      CHECK(x.get<double>() >= 222.5);
      CHECK(x.get<double>() <= 333.5);
    }
    CHECK(args["quantity"].get<int64_t>() >= 150);
    CHECK(args["quantity"].get<int64_t>() <= 2500);
  }
}

TEST_CASE_METHOD(tools_fixture, "response_format answers valid JSON, schema instances too") {
  json schema = json::parse(R"({"type":"object","properties":{"name":{"type":"string"},
    "age":{"type":"integer","minimum":0,"maximum":120},"tags":{"type":"array",
    "items":{"type":"string"},"maxItems":3}},"required":["name","age"]})");
  json body = {
      {"response_format",
       {{"type", "json_schema"}, {"json_schema", {{"name", "person"}, {"schema", schema}}}}}};
  auto vllm = start({{"mode", "random"}}, false);
  for (int i = 0; i < 5; ++i) {
    auto r = complete(vllm, chat(body));
    REQUIRE(r);
    auto parsed = json::parse(r->choices[0].text, nullptr, false);
    REQUIRE_FALSE(parsed.is_discarded());
    CHECK_FALSE(openai::validate_instance(schema, parsed));
    CHECK(r->choices[0].finish_reason == "stop");
    CHECK(r->completion_tokens == runtime::split_tokens(r->choices[0].text).size());
  }
  std::vector<token_chunk> chunks;
  auto streamed =
      complete(vllm, chat({{"response_format", {{"type", "json_object"}}}}, true), &chunks);
  REQUIRE(streamed);
  std::string text;
  for (const auto& c : chunks)
    text += c.text;
  CHECK(json::parse(text, nullptr, false).is_object());

  // The simulator ignores response_format; the pod started as it answers JSON all the same.
  auto sim = start({{"mode", "echo"}}, true);
  auto r = complete(sim, chat(body));
  REQUIRE(r);
  CHECK_FALSE(openai::validate_instance(schema, json::parse(r->choices[0].text)));
  auto plain = complete(sim, chat(json::object()));
  REQUIRE(plain);
  CHECK(plain->choices[0].text == "what is the weather");
}
