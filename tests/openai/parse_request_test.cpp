#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "openai/request.hpp"

using namespace inferstack::openai;
using json = nlohmann::json;

namespace {

completion_request parse_ok(endpoint kind, const std::string& body) {
  auto r = parse_request(kind, body);
  if (!r.ok()) FAIL("unexpected error: " << r.error().message);
  return std::move(r).request();
}

completion_request chat_ok(const std::string& body) {
  return parse_ok(endpoint::chat_completions, body);
}

completion_request completion_ok(const std::string& body) {
  return parse_ok(endpoint::completions, body);
}

api_error parse_err(endpoint kind, const std::string& body) {
  auto r = parse_request(kind, body);
  if (r.ok()) FAIL("expected an error for " << body);
  return r.error();
}

api_error chat_err(const std::string& body) {
  return parse_err(endpoint::chat_completions, body);
}
api_error completion_err(const std::string& body) {
  return parse_err(endpoint::completions, body);
}

void check_error(const api_error& e, int status, const std::optional<std::string>& param,
                 const std::string& message) {
  CHECK(e.status == status);
  CHECK(e.param == param);
  CHECK(e.message == message);
  CHECK(e.type == "invalid_request_error");
}

constexpr auto none = std::nullopt;

}  // namespace

TEST_CASE("a minimal chat request parses with defaults") {
  auto req = chat_ok(R"({"model":"m","messages":[{"role":"user","content":"hello"}]})");
  CHECK(req.kind == endpoint::chat_completions);
  CHECK(req.model == "m");
  REQUIRE(req.messages.size() == 1);
  CHECK(req.messages[0].role == "user");
  CHECK(req.messages[0].content == "hello");
  CHECK(req.messages[0].media_parts == 0);
  CHECK_FALSE(req.stream);
  CHECK_FALSE(req.include_usage);
  CHECK_FALSE(req.continuous_usage_stats);
  CHECK_FALSE(req.max_tokens);
  CHECK_FALSE(req.max_completion_tokens);
  CHECK_FALSE(req.effective_max_tokens());
  CHECK_FALSE(req.ignore_eos);
  CHECK(req.n == 1);
  CHECK_FALSE(req.seed);
  CHECK_FALSE(req.temperature);
  CHECK_FALSE(req.echo);
  CHECK_FALSE(req.user);
  CHECK(std::holds_alternative<std::monostate>(req.prompt));
  CHECK(req.raw["messages"][0]["content"] == "hello");
}

TEST_CASE("every typed field is read") {
  auto req = chat_ok(R"({
    "model": "llama", "messages": [{"role": "system", "content": "be brief"},
                                   {"role": "user", "content": "hi", "name": "bob"}],
    "stream": true, "stream_options": {"include_usage": true, "continuous_usage_stats": true},
    "max_tokens": 50, "max_completion_tokens": 20, "ignore_eos": true, "n": 3,
    "seed": -7, "temperature": 0.5, "top_p": 0.9, "user": "u-1", "echo": true})");
  CHECK(req.stream);
  CHECK(req.include_usage);
  CHECK(req.continuous_usage_stats);
  CHECK(req.max_tokens == 50);
  CHECK(req.max_completion_tokens == 20);
  CHECK(req.effective_max_tokens() == 20);  // max_completion_tokens wins
  CHECK(req.ignore_eos);
  CHECK(req.n == 3);
  CHECK(req.seed == -7);
  CHECK(req.temperature == 0.5);
  CHECK(req.top_p == 0.9);
  CHECK(req.user == "u-1");
  CHECK(req.echo);
  CHECK(req.messages[1].name == "bob");
}

TEST_CASE("max_tokens is used when max_completion_tokens is absent") {
  auto req = chat_ok(R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":9})");
  CHECK(req.effective_max_tokens() == 9);
}

TEST_CASE("unknown fields are accepted and kept in raw") {
  auto req = chat_ok(R"({"model":"m","messages":[{"role":"user","content":"x"}],
    "frequency_penalty":0,"logit_bias":{"50256":-100},"tools":[{"type":"function",
    "function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"auto",
    "response_format":{"type":"json_object"},"metadata":{"model":"not-this-one"},
    "parallel_tool_calls":false,"store":false,"x_vendor_extension":[1,2,3]})");
  CHECK(req.model == "m");
  CHECK(req.raw["x_vendor_extension"] == json::array({1, 2, 3}));
  CHECK(req.raw["metadata"]["model"] == "not-this-one");
}

TEST_CASE("null optional fields count as absent") {
  auto req = chat_ok(R"({"model":"m","messages":[{"role":"user","content":null}],
    "stream":null,"max_tokens":null,"n":null,"seed":null,"temperature":null,"user":null,
    "stream_options":null,"ignore_eos":null})");
  CHECK(req.n == 1);
  CHECK_FALSE(req.max_tokens);
  CHECK(req.messages[0].content.empty());
}

TEST_CASE("content parts: text joined with newlines, media counted") {
  auto req = chat_ok(R"({"model":"m","messages":[{"role":"user","content":[
    {"type":"text","text":"first"},
    {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},
    {"type":"text","text":"second"},
    {"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}},
    {"type":"video_url","video_url":{"url":"http://example/v.mp4"}},
    {"text":"bare text part"}]}]})");
  REQUIRE(req.messages.size() == 1);
  CHECK(req.messages[0].content == "first\nsecond\nbare text part");
  CHECK(req.messages[0].media_parts == 3);
}

TEST_CASE("assistant tool calls and tool results are accepted") {
  auto req = chat_ok(R"({"model":"m","messages":[
    {"role":"user","content":"weather?"},
    {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
      "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
    {"role":"tool","tool_call_id":"call_1","content":"sunny"},
    {"role":"assistant","tool_calls":[{"id":"call_2","function":{"name":"f",
      "arguments":{"a":1}}}]}]})");
  REQUIRE(req.messages.size() == 4);
  REQUIRE(req.messages[1].tool_calls.size() == 1);
  CHECK(req.messages[1].tool_calls[0].id == "call_1");
  CHECK(req.messages[1].tool_calls[0].name == "get_weather");
  CHECK(req.messages[1].tool_calls[0].arguments == R"({"city":"Paris"})");
  CHECK(req.messages[1].content.empty());
  CHECK(req.messages[2].tool_call_id == "call_1");
  CHECK(req.messages[2].content == "sunny");
  CHECK(req.messages[3].tool_calls[0].arguments == R"({"a":1})");
}

TEST_CASE("invalid JSON is a 400 naming the parse problem") {
  for (const std::string body : {"", "   ", "{", "{\"model\":}", "{'model':'m'}", "[1,]",
                                 "{\"model\":\"m\"} trailing", "nul", "{\"a\":1,}"}) {
    INFO(body);
    const auto e = chat_err(body);
    CHECK(e.status == 400);
    CHECK_FALSE(e.param);
    CHECK(e.type == "invalid_request_error");
    CHECK_THAT(e.message, Catch::StartsWith("We could not parse the JSON body of your request."));
  }
  const auto e = chat_err("{\"model\": x}");
  CHECK(e.message ==
        "We could not parse the JSON body of your request. (parse error at line 1, column 11: "
        "syntax error while parsing value - invalid literal; last read: '\"model\": x')");
}

TEST_CASE("the body must be an object") {
  const auto e = chat_err("[1,2]");
  check_error(e, 400, none,
              "Invalid type for the request body: expected an object, but got an array instead.");
  CHECK(e.code == "invalid_type");
  check_error(completion_err("\"text\""), 400, none,
              "Invalid type for the request body: expected an object, but got a string instead.");
}

TEST_CASE("model is required and must be a string") {
  const auto e = chat_err(R"({"messages":[{"role":"user","content":"x"}]})");
  check_error(e, 400, "model", "Missing required parameter: 'model'.");
  CHECK(e.code == "missing_required_parameter");
  check_error(chat_err(R"({"model":null,"messages":[{"role":"user","content":"x"}]})"), 400,
              "model", "Missing required parameter: 'model'.");
  const auto t = chat_err(R"({"model":7,"messages":[{"role":"user","content":"x"}]})");
  check_error(t, 400, "model",
              "Invalid type for 'model': expected a string, but got an integer instead.");
  CHECK(t.code == "invalid_type");
  check_error(completion_err(R"({"model":["a"],"prompt":"x"})"), 400, "model",
              "Invalid type for 'model': expected a string, but got an array instead.");
}

TEST_CASE("chat messages are required, non-empty, and each needs a role") {
  check_error(chat_err(R"({"model":"m"})"), 400, "messages",
              "Missing required parameter: 'messages'.");
  const auto empty = chat_err(R"({"model":"m","messages":[]})");
  check_error(empty, 400, "messages",
              "Invalid 'messages': empty array. Expected an array with minimum length 1, but got "
              "an empty array instead.");
  CHECK(empty.code == "empty_array");
  check_error(chat_err(R"({"model":"m","messages":"hi"})"), 400, "messages",
              "Invalid type for 'messages': expected an array, but got a string instead.");
  check_error(chat_err(R"({"model":"m","messages":[{"role":"user","content":"a"},
                         {"content":"no role"}]})"),
              400, "messages[1].role", "Missing required parameter: 'messages[1].role'.");
  check_error(chat_err(R"({"model":"m","messages":[{"role":1,"content":"a"}]})"), 400,
              "messages[0].role",
              "Invalid type for 'messages[0].role': expected a string, but got an integer "
              "instead.");
  check_error(chat_err(R"({"model":"m","messages":["hi"]})"), 400, "messages[0]",
              "Invalid type for 'messages[0]': expected an object, but got a string instead.");
}

TEST_CASE("message content of the wrong shape is rejected with its path") {
  check_error(chat_err(R"({"model":"m","messages":[{"role":"user","content":5}]})"), 400,
              "messages[0].content",
              "Invalid type for 'messages[0].content': expected one of a string or array of "
              "objects, but got an integer instead.");
  check_error(chat_err(R"({"model":"m","messages":[{"role":"user","content":["x"]}]})"), 400,
              "messages[0].content[0]",
              "Invalid type for 'messages[0].content[0]': expected an object, but got a string "
              "instead.");
  check_error(chat_err(R"({"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]})"),
              400, "messages[0].content[0].text",
              "Missing required parameter: 'messages[0].content[0].text'.");
  check_error(
      chat_err(
          R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":1}]}]})"),
      400, "messages[0].content[0].text",
      "Invalid type for 'messages[0].content[0].text': expected a string, but got an integer "
      "instead.");
  check_error(
      chat_err(R"({"model":"m","messages":[{"role":"user","content":[{"type":"hologram"}]}]})"),
      400, "messages[0].content[0].type",
      "Invalid value for 'messages[0].content[0].type': unknown content part type 'hologram'.");
  check_error(chat_err(R"({"model":"m","messages":[{"role":"user","content":[{"url":"x"}]}]})"),
              400, "messages[0].content[0].type",
              "Missing required parameter: 'messages[0].content[0].type'.");
  check_error(chat_err(R"({"model":"m","messages":[{"role":"assistant","tool_calls":{}}]})"), 400,
              "messages[0].tool_calls",
              "Invalid type for 'messages[0].tool_calls': expected an array, but got an object "
              "instead.");
  check_error(chat_err(R"({"model":"m","messages":[{"role":"tool","tool_call_id":3}]})"), 400,
              "messages[0].tool_call_id",
              "Invalid type for 'messages[0].tool_call_id': expected a string, but got an "
              "integer instead.");
}

TEST_CASE("completion prompts: string, strings, tokens, token arrays") {
  auto s = completion_ok(R"({"model":"m","prompt":"once upon"})");
  CHECK(std::get<std::string>(s.prompt) == "once upon");
  CHECK(prompt_count(s.prompt) == 1);
  CHECK(s.messages.empty());

  auto ss = completion_ok(R"({"model":"m","prompt":["a","b","c"]})");
  CHECK(std::get<std::vector<std::string>>(ss.prompt) == std::vector<std::string>{"a", "b", "c"});
  CHECK(prompt_count(ss.prompt) == 3);

  auto t = completion_ok(R"({"model":"m","prompt":[1,2,4294967295]})");
  CHECK(std::get<token_ids>(t.prompt) == token_ids{1, 2, 4294967295u});
  CHECK(prompt_count(t.prompt) == 1);

  auto tt = completion_ok(R"({"model":"m","prompt":[[1,2],[3]]})");
  CHECK(std::get<std::vector<token_ids>>(tt.prompt) == std::vector<token_ids>{{1, 2}, {3}});
  CHECK(prompt_count(tt.prompt) == 2);
}

TEST_CASE("completion prompt validation") {
  const auto missing = completion_err(R"({"model":"m"})");
  check_error(missing, 400, "prompt", "At least one of `prompt` or `prompt_embeds` must be set.");
  check_error(completion_err(R"({"model":"m","prompt":null})"), 400, "prompt",
              "At least one of `prompt` or `prompt_embeds` must be set.");
  check_error(completion_err(R"({"model":"m","prompt":[]})"), 400, "prompt",
              "please provide at least one prompt");
  check_error(completion_err(R"({"model":"m","prompt":""})"), 400, "prompt",
              "The decoder prompt cannot be empty");
  check_error(completion_err(R"({"model":"m","prompt":["a",""]})"), 400, "prompt",
              "The decoder prompt cannot be empty");
  check_error(completion_err(R"({"model":"m","prompt":[[1],[]]})"), 400, "prompt",
              "The decoder prompt cannot be empty");
  const std::string shape =
      "prompt must be a string, array of strings, array of tokens, or array of token arrays";
  for (const std::string p : {"5", "{}", "true", R"(["a",1])", "[1,\"a\"]", "[-1]", "[4294967296]",
                              "[1.5]", "[[1],\"a\"]", "[[1,\"a\"]]", "[null]", "[{}]"}) {
    INFO(p);
    check_error(completion_err(R"({"model":"m","prompt":)" + p + "}"), 400, "prompt", shape);
  }
}

TEST_CASE("completions ignore messages, chat ignores prompt") {
  auto c = completion_ok(R"({"model":"m","prompt":"p","messages":5,"max_completion_tokens":-1})");
  CHECK(c.messages.empty());
  CHECK_FALSE(c.max_completion_tokens);  // not a completions field: accepted, not read
  auto m = chat_ok(R"({"model":"m","messages":[{"role":"user","content":"x"}],"prompt":[]})");
  CHECK(std::holds_alternative<std::monostate>(m.prompt));
}

TEST_CASE("n must be at least 1") {
  check_error(chat_err(R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":0})"), 400,
              "n", "n must be at least 1, got 0.");
  check_error(completion_err(R"({"model":"m","prompt":"x","n":-2})"), 400, "n",
              "n must be at least 1, got -2.");
  check_error(completion_err(R"({"model":"m","prompt":"x","n":"2"})"), 400, "n",
              "Invalid type for 'n': expected an integer, but got a string instead.");
  check_error(completion_err(R"({"model":"m","prompt":"x","n":1.5})"), 400, "n",
              "Invalid type for 'n': expected an integer, but got a decimal instead.");
  CHECK(completion_ok(R"({"model":"m","prompt":"x","n":2.0})").n == 2);
  check_error(completion_err(R"({"model":"m","prompt":"x","n":4294967296})"), 400, "n",
              "Invalid value for 'n': integer out of range.");
}

TEST_CASE("max_tokens and max_completion_tokens must be positive") {
  check_error(
      chat_err(R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0})"), 400,
      "max_tokens", "max_tokens must be at least 1, got 0.");
  check_error(completion_err(R"({"model":"m","prompt":"x","max_tokens":-5})"), 400, "max_tokens",
              "max_tokens must be at least 1, got -5.");
  check_error(chat_err(R"({"model":"m","messages":[{"role":"user","content":"x"}],
                          "max_completion_tokens":0})"),
              400, "max_completion_tokens", "max_tokens must be at least 1, got 0.");
  check_error(chat_err(R"({"model":"m","messages":[{"role":"user","content":"x"}],
                          "max_tokens":"10"})"),
              400, "max_tokens",
              "Invalid type for 'max_tokens': expected an integer, but got a string instead.");
  check_error(completion_err(R"({"model":"m","prompt":"x","max_tokens":18446744073709551615})"),
              400, "max_tokens", "Invalid value for 'max_tokens': integer out of range.");
}

TEST_CASE("ignore_eos needs a max (the sim's rule and message)") {
  const auto e = chat_err(R"({"model":"m","messages":[{"role":"user","content":"x"}],
                             "ignore_eos":true})");
  check_error(e, 400, none,
              "Ignore_eos is true but max_completion_tokens (or max_tokens) is not set");
  CHECK(chat_ok(R"({"model":"m","messages":[{"role":"user","content":"x"}],"ignore_eos":true,
                   "max_completion_tokens":5})")
            .ignore_eos);
  CHECK(completion_ok(R"({"model":"m","prompt":"x","ignore_eos":true,"max_tokens":5})").ignore_eos);
  check_error(completion_err(R"({"model":"m","prompt":"x","ignore_eos":true})"), 400, none,
              "Ignore_eos is true but max_completion_tokens (or max_tokens) is not set");
}

TEST_CASE("stream_options follow vLLM") {
  const std::string base = R"({"model":"m","messages":[{"role":"user","content":"x"}])";
  SECTION("rejected without stream=true") {
    for (const std::string extra :
         {R"(,"stream_options":{"include_usage":true})",
          R"(,"stream":false,"stream_options":{"include_usage":false})"}) {
      check_error(chat_err(base + extra + "}"), 400, "stream_options",
                  "Stream options can only be defined when `stream=True`.");
    }
    check_error(completion_err(R"({"model":"m","prompt":"x","stream_options":{"x":1}})"), 400,
                "stream_options", "Stream options can only be defined when `stream=True`.");
  }
  SECTION("an empty object is falsy in Python and passes") {
    auto req = chat_ok(base + R"(,"stream_options":{}})");
    CHECK_FALSE(req.include_usage);
  }
  SECTION("include_usage defaults to true once stream_options is given") {
    CHECK(chat_ok(base + R"(,"stream":true,"stream_options":{}})").include_usage);
    auto req =
        chat_ok(base + R"(,"stream":true,"stream_options":{"continuous_usage_stats":true}})");
    CHECK(req.include_usage);
    CHECK(req.continuous_usage_stats);
  }
  SECTION("explicit false or null disables usage, and continuous stats with it") {
    auto req = chat_ok(base +
                       R"(,"stream":true,"stream_options":{"include_usage":false,
                           "continuous_usage_stats":true}})");
    CHECK_FALSE(req.include_usage);
    CHECK_FALSE(req.continuous_usage_stats);
    CHECK_FALSE(
        chat_ok(base + R"(,"stream":true,"stream_options":{"include_usage":null}})").include_usage);
  }
  SECTION("no stream_options, no usage") {
    CHECK_FALSE(chat_ok(base + R"(,"stream":true})").include_usage);
  }
  SECTION("wrong types") {
    check_error(chat_err(base + R"(,"stream":true,"stream_options":true})"), 400, "stream_options",
                "Invalid type for 'stream_options': expected an object, but got a boolean "
                "instead.");
    check_error(chat_err(base + R"(,"stream":true,"stream_options":{"include_usage":"yes"}})"), 400,
                "stream_options.include_usage",
                "Invalid type for 'stream_options.include_usage': expected a boolean, but got a "
                "string instead.");
  }
}

TEST_CASE("scalar fields of the wrong type name the field") {
  const std::string base = R"({"model":"m","messages":[{"role":"user","content":"x"}])";
  struct wrong {
    const char* field;
    const char* value;
    const char* message;
  };
  for (const auto& w : {
           wrong{"stream", "\"true\"",
                 "Invalid type for 'stream': expected a boolean, but got a string instead."},
           wrong{"stream", "1",
                 "Invalid type for 'stream': expected a boolean, but got an integer instead."},
           wrong{"ignore_eos", "{}",
                 "Invalid type for 'ignore_eos': expected a boolean, but got an object instead."},
           wrong{"echo", "[]",
                 "Invalid type for 'echo': expected a boolean, but got an array instead."},
           wrong{"seed", "true",
                 "Invalid type for 'seed': expected an integer, but got a boolean instead."},
           wrong{"temperature", "\"hot\"",
                 "Invalid type for 'temperature': expected a number, but got a string instead."},
           wrong{"top_p", "[]",
                 "Invalid type for 'top_p': expected a number, but got an array instead."},
           wrong{"user", "42",
                 "Invalid type for 'user': expected a string, but got an integer instead."},
       }) {
    INFO(w.field);
    const auto e = chat_err(base + ",\"" + w.field + "\":" + w.value + "}");
    check_error(e, 400, std::string(w.field), w.message);
    CHECK(e.code == "invalid_type");
  }
}

TEST_CASE("an already parsed body can be validated without re-reading it") {
  json body = {{"model", "m"}, {"prompt", {1, 2, 3}}, {"max_tokens", 4}};
  auto r = validate_request(endpoint::completions, std::move(body));
  REQUIRE(r.ok());
  CHECK(std::get<token_ids>(r.request().prompt).size() == 3);
  CHECK(r.request().raw["max_tokens"] == 4);
}

TEST_CASE("a nested model key does not stand in for the top-level one") {
  const auto e = chat_err(R"({"messages":[{"role":"user","content":"x","model":"inner"}],
                             "metadata":{"model":"meta"}})");
  check_error(e, 400, "model", "Missing required parameter: 'model'.");
}

TEST_CASE("invalid UTF-8 in the body is invalid JSON") {
  const auto e = chat_err("{\"model\":\"m\xFF\",\"messages\":[{\"role\":\"user\"}]}");
  CHECK(e.status == 400);
  CHECK_THAT(e.message, Catch::StartsWith("We could not parse the JSON body"));
}

TEST_CASE("endpoint names and prompt counts") {
  CHECK(to_string(endpoint::chat_completions) == "chat_completions");
  CHECK(to_string(endpoint::completions) == "completions");
  CHECK(prompt_count(prompt_input{}) == 0);
}

TEST_CASE("the simulator's rules: stream_options without stream is accepted and ignored") {
  const std::string body = R"({"model":"m","messages":[{"role":"user","content":"x"}],)"
                           R"("stream_options":{"include_usage":true}})";
  CHECK_FALSE(parse_request(endpoint::chat_completions, body).ok());
  auto sim = parse_request(endpoint::chat_completions, body, parse_rules{true});
  REQUIRE(sim.ok());
  CHECK_FALSE(sim.request().stream);
  CHECK_FALSE(sim.request().include_usage);
  auto cmpl = parse_request(endpoint::completions,
                            R"({"model":"m","prompt":"x","stream_options":{"include_usage":true}})",
                            parse_rules{true});
  CHECK(cmpl.ok());
}

TEST_CASE("the simulator's rules: its texts for completion prompt errors") {
  const parse_rules sim{true};
  auto err = [&](const std::string& prompt) {
    auto r = parse_request(endpoint::completions, R"({"model":"m","prompt":)" + prompt + "}", sim);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().status == 400);
    CHECK(r.error().param == std::optional<std::string>("prompt"));
    return r.error().message;
  };
  CHECK(err("[]") == "prompt array must contain at least one prompt");
  CHECK(err(R"("")") == "prompt must not contain an empty string");
  CHECK(err(R"(["a",""])") == "prompt must not contain an empty string");
  CHECK(err("[[1],[]]") == "prompt must not contain an empty token-id array");
  CHECK(err("123") ==
        "prompt must be a string, an array of strings, an array of token ids, or an array of "
        "arrays of token ids");
}

TEST_CASE("logprobs: chat's logprobs and top_logprobs, completions' logprobs are read") {
  auto chat = chat_ok(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":3})");
  CHECK(chat.logprobs);
  CHECK(chat.top_logprobs == std::optional<int64_t>(3));
  CHECK_FALSE(chat_ok(R"({"model":"m","messages":[{"role":"user","content":"x"}]})").logprobs);
  check_error(chat_err(R"({"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":1})"),
              400, "logprobs",
              "Invalid type for 'logprobs': expected a boolean, but got an integer instead.");
  auto cmpl = completion_ok(R"({"model":"m","prompt":"x","logprobs":2})");
  CHECK_FALSE(cmpl.logprobs);
  CHECK(cmpl.top_logprobs == std::optional<int64_t>(2));
}

TEST_CASE("content parts: the simulator's plain text keeps image lines, only when images are in") {
  auto req = chat_ok(R"({"model":"m","messages":[{"role":"user","content":[
      {"type":"text","text":"Describe this"},
      {"type":"image_url","image_url":{"url":"https://example.com/img.png"}},
      {"type":"input_audio","input_audio":{"data":"x","format":"wav"}},
      {"type":"text","text":"please"}]}]})");
  const auto& m = req.messages[0];
  CHECK(m.content == "Describe this\nplease");
  CHECK(m.plain_text ==
        std::optional<std::string>("Describe this\nimage: https://example.com/img.png\nplease"));
  CHECK_FALSE(chat_ok(R"({"model":"m","messages":[{"role":"user","content":[
      {"type":"text","text":"a"},{"type":"text","text":"b"}]}]})")
                  .messages[0]
                  .plain_text);
}

TEST_CASE("kv_transfer_params: P/D remote prefill or decode, an object or null") {
  auto prefill = completion_ok(
      R"({"model":"m","prompt":"x","kv_transfer_params":{"do_remote_prefill":true,"remote_engine_id":"e","remote_block_ids":["1"]}})");
  CHECK(prefill.remote_prefill);
  CHECK_FALSE(prefill.remote_decode);
  auto decode = chat_ok(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"kv_transfer_params":{"do_remote_decode":true}})");
  CHECK(decode.remote_decode);
  CHECK_FALSE(decode.remote_prefill);
  auto none = completion_ok(R"({"model":"m","prompt":"x","kv_transfer_params":null})");
  CHECK_FALSE(none.remote_prefill);
  CHECK_FALSE(none.remote_decode);
  CHECK(completion_err(R"({"model":"m","prompt":"x","kv_transfer_params":true})").param ==
        "kv_transfer_params");
  CHECK(completion_err(R"({"model":"m","prompt":"x","kv_transfer_params":{"do_remote_prefill":1}})")
            .status == 400);
}
