// Tests of openai/tool_calls: parsing tools and tool_choice, the simulator's schema check,
// argument generation (deterministic per seed, always an instance of its schema) and
// response_format.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "openai/response.hpp"
#include "openai/tool_calls.hpp"
#include "runtime/tokenizer.hpp"

using namespace inferstack::openai;
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

tools_request parse_ok(const json& body) {
  tools_request tr;
  auto err = parse_tools(body, tr);
  if (err) FAIL("unexpected error: " << err->message);
  return tr;
}

api_error parse_err(const json& body) {
  tools_request tr;
  auto err = parse_tools(body, tr);
  if (!err) FAIL("expected an error for " << body.dump());
  return *err;
}

std::optional<std::string> schema_problem(const json& parameters) {
  json body = {
      {"tools",
       json::array(
           {{{"type", "function"},
             {"function", {{"name", "f"}, {"description", "d"}, {"parameters", parameters}}}}})}};
  auto tr = parse_ok(body);
  auto err = check_tool_schemas(tr);
  if (!err) return std::nullopt;
  return err->message;
}

/// An independent check of what the generator promises, written without validate_instance: the
/// JSON types of each value and the bounds of numbers and array lengths.
void check_by_hand(const json& schema, const json& v, const tool_generation_settings& s) {
  if (schema.contains("enum")) {
    bool found = false;
    for (const auto& e : schema["enum"])
      found = found || e == v;
    CHECK(found);
    return;
  }
  const std::string type = schema.value("type", "string");
  if (type == "string") {
    CHECK(v.is_string());
  } else if (type == "integer") {
    REQUIRE(v.is_number_integer());
    CHECK(v.get<int64_t>() >= schema.value("minimum", s.min_integer_param));
    CHECK(v.get<int64_t>() <= schema.value("maximum", s.max_integer_param));
  } else if (type == "number") {
    REQUIRE(v.is_number());
    CHECK(v.get<double>() >= schema.value("minimum", s.min_number_param));
    CHECK(v.get<double>() <= schema.value("maximum", s.max_number_param));
  } else if (type == "boolean") {
    CHECK(v.is_boolean());
  } else if (type == "array") {
    REQUIRE(v.is_array());
    CHECK(static_cast<int64_t>(v.size()) >= schema.value("minItems", s.min_array_length));
    CHECK(static_cast<int64_t>(v.size()) <= schema.value("maxItems", s.max_array_length));
    for (const auto& item : v)
      check_by_hand(schema["items"], item, s);
  } else if (type == "object") {
    REQUIRE(v.is_object());
    for (const auto& r : schema.value("required", json::array()))
      CHECK(v.contains(r.get<std::string>()));
    for (const auto& [key, sub] : v.items()) {
      REQUIRE(schema["properties"].contains(key));
      check_by_hand(schema["properties"][key], sub, s);
    }
  }
}

// A schema with every type, nested objects and arrays, enums and bounds.
const json rich_schema = json::parse(R"({
  "type":"object",
  "properties":{
    "name":{"type":"string"},
    "count":{"type":"integer","minimum":3,"maximum":9},
    "ratio":{"type":"number","minimum":0.5,"maximum":0.75},
    "flag":{"type":"boolean"},
    "unit":{"type":"string","enum":["C","F"]},
    "level":{"type":"integer","enum":[1,2,3]},
    "tensor":{"type":"array","minItems":2,"items":{"type":"array","minItems":0,"maxItems":1,
              "items":{"type":"array","items":{"type":"string"},"maxItems":3}}},
    "order":{"type":"object","properties":{
        "item":{"type":"string"},"quantity":{"type":"integer"},
        "address":{"type":"object","properties":{"street":{"type":"string"},
                   "number":{"type":"integer"},"home":{"type":"boolean"}},
                   "required":["street","number","home"]}},
        "required":["item"]}
  },
  "required":["name","tensor"]
})");

}  // namespace

TEST_CASE("tools: parse function tools and every tool_choice form", "[tool_calls]") {
  auto tr = parse_ok({{"tools", weather_tools}});
  REQUIRE(tr.tools.size() == 2);
  CHECK(tr.tools[0].name == "get_weather");
  CHECK(tr.tools[0].description == "Weather");
  CHECK(tr.tools[1].parameters["properties"].contains("unit"));
  CHECK(tr.choice.mode == tool_choice_mode::automatic);
  CHECK(tr.calls_possible());

  CHECK(parse_ok({{"tools", weather_tools}, {"tool_choice", "none"}}).choice.mode ==
        tool_choice_mode::none);
  CHECK_FALSE(parse_ok({{"tools", weather_tools}, {"tool_choice", "none"}}).calls_possible());
  CHECK(parse_ok({{"tool_choice", "required"}}).choice.mode == tool_choice_mode::required);
  CHECK_FALSE(parse_ok({{"tool_choice", "required"}}).calls_possible());  // no tools

  auto named = parse_ok(
      json::parse(R"({"tool_choice":{"type":"function","function":{"name":"get_weather"}}})"));
  CHECK(named.choice.mode == tool_choice_mode::function);
  CHECK(named.choice.function_name == "get_weather");
  auto flat = parse_ok(json::parse(R"({"tool_choice":{"type":"function","name":"f"}})"));
  CHECK(flat.choice.function_name == "f");

  // The Responses API's flat tool definition.
  auto responses = parse_ok(json::parse(
      R"({"tools":[{"type":"function","name":"f","parameters":{"type":"object","properties":{}}}]})"));
  REQUIRE(responses.tools.size() == 1);
  CHECK(responses.tools[0].name == "f");
  CHECK(parse_ok({{"tools", nullptr}, {"tool_choice", nullptr}}).tools.empty());
}

TEST_CASE("tools: malformed tools and tool_choice are 400s naming the param", "[tool_calls]") {
  auto e = parse_err({{"tools", "x"}});
  CHECK(e.status == 400);
  CHECK(e.param == "tools");
  CHECK(e.code == "invalid_type");

  CHECK(parse_err({{"tools", json::array({1})}}).param == "tools[0]");
  CHECK(parse_err(json::parse(R"({"tools":[{"type":"function"}]})")).param == "tools[0].function");
  CHECK(parse_err(json::parse(R"({"tools":[{"type":"function","function":{}}]})")).param ==
        "tools[0].function.name");
  CHECK(parse_err(json::parse(R"({"tools":[{"type":"function","function":{"name":3}}]})")).param ==
        "tools[0].function.name");
  CHECK(parse_err(json::parse(
                      R"({"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]})"))
            .param == "tools[0].function.parameters");
  CHECK(parse_err(json::parse(R"({"tools":[{"type":"web_search","function":{"name":"f"}}]})"))
            .param == "tools[0].type");

  auto bad_choice = parse_err({{"tool_choice", "sometimes"}});
  CHECK(bad_choice.param == "tool_choice");
  CHECK(bad_choice.message.find("sometimes") != std::string::npos);
  CHECK(parse_err({{"tool_choice", 3}}).param == "tool_choice");
  CHECK(parse_err(json::parse(R"({"tool_choice":{"type":"function"}})")).param ==
        "tool_choice.function.name");
  CHECK(parse_err(json::parse(R"({"tool_choice":{"type":"magic"}})")).param == "tool_choice.type");
}

TEST_CASE("tools: the simulator's schema check refuses what its meta-schema refuses",
          "[tool_calls]") {
  CHECK_FALSE(check_tool_schemas(parse_ok({{"tools", weather_tools}})));
  CHECK_FALSE(schema_problem(rich_schema));

  // The three invalid tools of the simulator's own suite.
  auto enum_of_ints = schema_problem(
      json::parse(R"({"type":"object","properties":{"unit":{"type":"string","enum":[5,6]}}})"));
  REQUIRE(enum_of_ints);
  CHECK(enum_of_ints->rfind("Tool validation failed: ", 0) == 0);
  CHECK(enum_of_ints->find("properties.unit.enum[0]") != std::string::npos);
  CHECK(schema_problem(
      json::parse(R"({"type":"object","properties":{"location":{"type":"stringstring"}}})")));
  json no_parameters = {
      {"tools", json::array({{{"type", "function"}, {"function", {{"name", "f"}}}}})}};
  auto missing = check_tool_schemas(parse_ok(no_parameters));
  REQUIRE(missing);
  CHECK(missing->status == 400);
  CHECK(missing->param == "tools");
  CHECK(missing->message.find("'parameters'") != std::string::npos);

  // Keywords outside its list ("$comment"), and the conditional rules.
  CHECK(schema_problem(json::parse(R"({"type":"object","$comment":"x","properties":{}})")));
  CHECK(schema_problem(json::parse(R"({"type":"object"})")));  // object needs properties
  CHECK(schema_problem(json::parse(
      R"({"type":"object","properties":{"a":{"type":"array"}}})")));  // array needs items
  CHECK(schema_problem(json::parse(
      R"({"type":"object","properties":{"a":{"type":"array","items":{"type":"string"},"minItems":-1}}})")));
  CHECK(schema_problem(
      json::parse(R"({"type":"object","properties":{"a":{"type":"integer","enum":[1.5]}}})")));
  CHECK(schema_problem(json::parse(
      R"({"type":"object","properties":{"a":{"type":"object","properties":{},"enum":[1]}}})")));
  CHECK(schema_problem(json::parse(R"({"type":["string","null"]})")));
  CHECK_FALSE(schema_problem(json::parse(
      R"({"type":"object","properties":{"a":{"type":"integer","enum":[1,2.0]},
          "b":{"type":"number","exclusiveMinimum":true,"minimum":1}},
          "additionalProperties":false})")));
}

TEST_CASE("tools: generated arguments are instances of their schema, for many seeds",
          "[tool_calls]") {
  tool_generation_settings s;
  s.min_integer_param = -50;
  s.max_integer_param = 50;
  s.min_number_param = -1.5;
  s.max_number_param = 2.5;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    std::mt19937_64 rng(seed);
    auto made = generate_instance(rich_schema, s, rng, 50);
    REQUIRE_FALSE(made.error);
    INFO(made.value.dump());
    CHECK_FALSE(validate_instance(rich_schema, made.value));
    check_by_hand(rich_schema, made.value, s);
    const auto& tensor = made.value["tensor"];
    CHECK(tensor.size() >= 2);
    CHECK(tensor.size() <= 5);  // the settings' maximum length
  }
}

TEST_CASE("tools: the validator rejects what is not an instance", "[tool_calls]") {
  CHECK(validate_instance(rich_schema, json::object()));  // required missing
  CHECK(validate_instance(json::parse(R"({"type":"integer","maximum":3})"), 4));
  CHECK(validate_instance(json::parse(R"({"type":"integer"})"), 1.5));
  CHECK_FALSE(validate_instance(json::parse(R"({"type":"integer"})"), 2.0));
  CHECK(validate_instance(json::parse(R"({"type":"string","enum":["C","F"]})"), "K"));
  CHECK(validate_instance(json::parse(R"({"type":"array","items":{"type":"string"},"maxItems":1})"),
                          json::array({"a", "b"})));
  CHECK(validate_instance(json::parse(R"({"type":"array","items":{"type":"string"}})"),
                          json::array({1})));
  CHECK(validate_instance(
      json::parse(R"({"type":"object","properties":{},"additionalProperties":false})"),
      json{{"x", 1}}));
  CHECK_FALSE(
      validate_instance(json::parse(R"({"anyOf":[{"type":"string"},{"type":"null"}]})"), nullptr));
}

TEST_CASE("tools: generation is deterministic for a seed and varies across seeds", "[tool_calls]") {
  auto tr = parse_ok({{"tools", weather_tools}, {"tool_choice", "required"}});
  tool_generation_settings s;
  std::mt19937_64 a(42), b(42);
  auto x = generate_tool_calls(tr, s, a);
  auto y = generate_tool_calls(tr, s, b);
  REQUIRE(x.calls.size() == y.calls.size());
  for (size_t i = 0; i < x.calls.size(); ++i) {
    CHECK(x.calls[i].id == y.calls[i].id);
    CHECK(x.calls[i].name == y.calls[i].name);
    CHECK(x.calls[i].arguments == y.calls[i].arguments);
  }
  std::set<std::string> seen;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    std::mt19937_64 rng(seed);
    auto made = generate_tool_calls(tr, s, rng);
    REQUIRE_FALSE(made.error);
    REQUIRE(made.calls.size() >= 1);  // required
    REQUIRE(made.calls.size() <= 2);  // at most one per tool offered
    for (const auto& c : made.calls) {
      seen.insert(c.arguments);
      CHECK(c.id.rfind("chatcmpl-tool-", 0) == 0);
      CHECK(c.id.size() == std::string("chatcmpl-tool-").size() + 10);
      auto args = json::parse(c.arguments);
      const auto& schema = c.name == "get_weather" ? weather_tools[0]["function"]["parameters"]
                                                   : weather_tools[1]["function"]["parameters"];
      CHECK_FALSE(validate_instance(schema, args));
      if (c.name == "get_temperature") CHECK((args["unit"] == "C" || args["unit"] == "F"));
    }
  }
  CHECK(seen.size() > 5);
}

TEST_CASE("tools: how many calls tool_choice and the extra-call probability make", "[tool_calls]") {
  tool_generation_settings s;
  s.extra_call_probability = 0;
  std::mt19937_64 rng(7);
  CHECK(generate_tool_calls(parse_ok({{"tools", weather_tools}}), s, rng).calls.empty());  // auto
  CHECK(generate_tool_calls(parse_ok({{"tools", weather_tools}, {"tool_choice", "none"}}), s, rng)
            .calls.empty());
  CHECK(
      generate_tool_calls(parse_ok({{"tools", weather_tools}, {"tool_choice", "required"}}), s, rng)
          .calls.size() == 1);
  s.extra_call_probability = 100;
  CHECK(generate_tool_calls(parse_ok({{"tools", weather_tools}}), s, rng).calls.size() == 2);
  json named = {{"tools", weather_tools},
                {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}}};
  auto forced = generate_tool_calls(parse_ok(named), s, rng);
  REQUIRE(forced.calls.size() == 1);
  CHECK(forced.calls[0].name == "get_weather");

  named["tool_choice"]["function"]["name"] = "missing";
  auto absent = generate_tool_calls(parse_ok(named), s, rng);
  REQUIRE(absent.error);
  CHECK(absent.error->find("'missing'") != std::string::npos);
}

TEST_CASE("tools: settings drive integer, number and array draws, and optional params",
          "[tool_calls]") {
  json body = json::parse(R"({"tool_choice":"required","tools":[{"type":"function","function":{
    "name":"multiply","description":"","parameters":{"type":"object","properties":{
      "numbers":{"type":"array","items":{"type":"number"}},
      "n":{"type":"integer"},"note":{"type":"string"},"extra":{"type":"boolean"}},
      "required":["numbers","n"]}}}]})");
  auto tr = parse_ok(body);
  tool_generation_settings s;
  s.min_array_length = 3;
  s.max_array_length = 7;
  s.min_number_param = -100.2;
  s.max_number_param = -5.75;
  s.min_integer_param = 150;
  s.max_integer_param = 2500;
  s.not_required_param_probability = 0;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    std::mt19937_64 rng(seed);
    auto made = generate_tool_calls(tr, s, rng);
    REQUIRE(made.calls.size() == 1);
    auto args = json::parse(made.calls[0].arguments);
    CHECK(args.size() == 2);  // the optional ones never, at probability 0
    CHECK(args["numbers"].size() >= 3);
    CHECK(args["numbers"].size() <= 7);
    for (const auto& x : args["numbers"]) {
      CHECK(x.get<double>() >= -100.2);
      CHECK(x.get<double>() <= -5.75);
    }
    CHECK(args["n"].get<int64_t>() >= 150);
    CHECK(args["n"].get<int64_t>() <= 2500);
  }
  s.not_required_param_probability = 100;
  std::mt19937_64 rng(1);
  CHECK(json::parse(generate_tool_calls(tr, s, rng).calls[0].arguments).size() == 4);
}

TEST_CASE("tools: minItems above maxItems and unknown types are generation errors",
          "[tool_calls]") {
  tool_generation_settings s;
  std::mt19937_64 rng(3);
  auto wrong = generate_instance(json::parse(R"({"type":"object","properties":{"a":{"type":"array",
        "items":{"type":"number"},"minItems":3,"maxItems":1}},"required":["a"]})"),
                                 s, rng, 50);
  REQUIRE(wrong.error);
  CHECK(*wrong.error == "minItems (3) is greater than maxItems(1)");
  auto unknown = generate_instance(json::parse(R"({"type":"decimal"})"), s, rng, 50);
  REQUIRE(unknown.error);
  CHECK(unknown.error->find("decimal") != std::string::npos);
}

TEST_CASE("tools: token pieces cover the text exactly, counted as the tokenizer counts",
          "[tool_calls]") {
  std::string args = R"({"city":"Paris","n":[1.5,-2],"x y":true})";
  auto pieces = token_pieces(args);
  std::string joined;
  for (const auto& p : pieces)
    joined += p;
  CHECK(joined == args);
  CHECK(pieces.size() == inferstack::runtime::split_tokens(args).size());
  std::vector<generated_call> calls{{"id1", "f", args}, {"id2", "g", "{}"}};
  CHECK(tool_call_tokens(calls) ==
        3 + pieces.size() + 3 + inferstack::runtime::split_tokens("{}").size());
}

TEST_CASE("tools: tool_calls_json renders OpenAI's layout and reads back", "[tool_calls]") {
  std::vector<generated_call> calls{{"chatcmpl-tool-1", "f", R"({"a":"\"q\""})"}};
  auto text = tool_calls_json(calls);
  auto j = json::parse(text);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["id"] == "chatcmpl-tool-1");
  CHECK(j[0]["type"] == "function");
  CHECK(j[0]["function"]["name"] == "f");
  CHECK(j[0]["function"]["arguments"] == R"({"a":"\"q\""})");
  auto back = read_tool_calls_json(text);
  REQUIRE(back.size() == 1);
  CHECK(back[0].arguments == calls[0].arguments);
  CHECK(read_tool_calls_json("not json").empty());
}

TEST_CASE("tools: response_format is parsed and answered with valid JSON", "[tool_calls]") {
  response_format rf;
  CHECK_FALSE(parse_response_format(json::object(), rf));
  CHECK(rf.type == response_format::kind::text);
  CHECK_FALSE(
      parse_response_format(json::parse(R"({"response_format":{"type":"json_object"}})"), rf));
  CHECK(rf.type == response_format::kind::json_object);
  tool_generation_settings s;
  std::mt19937_64 rng(9);
  auto object = json::parse(generate_response_json(rf, s, rng));
  CHECK(object.is_object());

  json body = {
      {"response_format",
       {{"type", "json_schema"}, {"json_schema", {{"name", "x"}, {"schema", rich_schema}}}}}};
  REQUIRE_FALSE(parse_response_format(body, rf));
  CHECK(rf.type == response_format::kind::json_schema);
  for (uint64_t seed = 0; seed < 50; ++seed) {
    std::mt19937_64 r(seed);
    auto v = json::parse(generate_response_json(rf, s, r));
    CHECK_FALSE(validate_instance(rich_schema, v));
    CHECK(v.contains("order"));  // optional properties are all included
  }

  auto err = parse_response_format(json::parse(R"({"response_format":{"type":"yaml"}})"), rf);
  REQUIRE(err);
  CHECK(err->param == "response_format.type");
  err = parse_response_format(json::parse(R"({"response_format":{"type":"json_schema"}})"), rf);
  REQUIRE(err);
  CHECK(err->param == "response_format.json_schema");
  err = parse_response_format(json::parse(R"({"response_format":"json"})"), rf);
  REQUIRE(err);
  CHECK(err->param == "response_format");
}

TEST_CASE("tools: the wire forms a gateway hands a pod read back the same", "[tool_calls]") {
  json body = {{"tools", weather_tools},
               {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}}};
  auto tr = parse_ok(body);
  auto back = parse_ok(json::parse(tools_wire_json(tr)));
  REQUIRE(back.tools.size() == 2);
  CHECK(back.tools[1].parameters == tr.tools[1].parameters);
  CHECK(back.tools[0].description == "Weather");
  CHECK(back.choice.mode == tool_choice_mode::function);
  CHECK(back.choice.function_name == "get_weather");
  CHECK(parse_ok(json::parse(tools_wire_json(
                     parse_ok({{"tools", weather_tools}, {"tool_choice", "none"}}))))
            .choice.mode == tool_choice_mode::none);
  CHECK(tools_wire_json(tools_request{}).empty());

  response_format rf;
  rf.type = response_format::kind::json_schema;
  rf.schema = rich_schema;
  response_format rb;
  REQUIRE_FALSE(parse_response_format(json::parse(response_format_wire_json(rf)), rb));
  CHECK(rb.type == response_format::kind::json_schema);
  CHECK(rb.schema == rich_schema);
  CHECK(response_format_wire_json(response_format{}).empty());
}

TEST_CASE("tools: a chat body with tool calls has content null, chunks carry one delta each",
          "[tool_calls]") {
  response_meta meta{"chatcmpl-1", 7, "m"};
  std::vector<generated_call> calls{{"chatcmpl-tool-1", "get_weather", R"({"location":"Paris"})"}};
  choice_result choice{0, "", "tool_calls", std::nullopt, tool_calls_json(calls)};
  auto body = json::parse(chat_response_json(meta, {choice}, usage{3, 9, 0}));
  const auto& message = body["choices"][0]["message"];
  CHECK(message["content"].is_null());
  CHECK(message["tool_calls"] == json::parse(tool_calls_json(calls)));
  CHECK(body["choices"][0]["finish_reason"] == "tool_calls");
  // Without tool calls the message is text with an empty tool_calls list, as before.
  auto text = json::parse(chat_response_json(meta, {choice_result{0, "hi", "stop"}}, usage{}));
  CHECK(text["choices"][0]["message"]["content"] == "hi");
  CHECK(text["choices"][0]["message"]["tool_calls"] == json::array());

  stream_encoder encoder(endpoint::chat_completions, meta);
  std::string first, next;
  encoder.append_tool_call(first, 0, 1, "chatcmpl-tool-1", "get_weather", "{\"");
  encoder.append_tool_call(next, 0, 1, "chatcmpl-tool-1", "", "}", "tool_calls");
  auto parse_frame = [](const std::string& frame) {
    REQUIRE(frame.rfind("data: ", 0) == 0);
    REQUIRE(frame.size() > 8);
    CHECK(frame.substr(frame.size() - 2) == "\n\n");
    return json::parse(frame.substr(6));
  };
  auto a = parse_frame(first);
  CHECK(a["object"] == "chat.completion.chunk");
  const auto& da = a["choices"][0]["delta"]["tool_calls"][0];
  CHECK(da["index"] == 1);
  CHECK(da["id"] == "chatcmpl-tool-1");
  CHECK(da["type"] == "function");
  CHECK(da["function"]["name"] == "get_weather");
  CHECK(da["function"]["arguments"] == "{\"");
  CHECK(a["choices"][0]["finish_reason"].is_null());
  auto b = parse_frame(next);
  const auto& db = b["choices"][0]["delta"]["tool_calls"][0];
  CHECK_FALSE(db["function"].contains("name"));
  CHECK(db["function"]["arguments"] == "}");
  CHECK(b["choices"][0]["finish_reason"] == "tool_calls");
}

TEST_CASE("tools: under vLLM's rules only well-formed JSON Schema is asked for", "[tool_calls]") {
  auto lenient = [](const json& parameters) {
    json fn = {{"name", "f"}};
    if (!parameters.is_null()) fn["parameters"] = parameters;
    json body = {{"tools", json::array({{{"type", "function"}, {"function", fn}}})}};
    tools_request tr;
    REQUIRE_FALSE(parse_tools(body, tr));
    return check_tool_schemas(tr, false);
  };
  CHECK_FALSE(lenient(nullptr));  // no parameters
  CHECK_FALSE(lenient(rich_schema));
  CHECK_FALSE(lenient(json::parse(R"({"type":"object","$comment":"x","properties":{
      "a":{"type":["string","null"]},"b":{"anyOf":[{"type":"integer"},{"type":"null"}]}}})")));
  auto bad =
      lenient(json::parse(R"({"type":"object","properties":{"x":{"type":"no-such-type"}}})"));
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK(bad->param == "tools");
  CHECK(bad->message.rfind("Invalid tool schema: tools[0].function.parameters.properties.x.type",
                           0) == 0);
  CHECK(lenient(json::parse(R"({"type":"object","required":"x"})")));
  CHECK(lenient(json::parse(R"({"type":"array","items":[{"type":"wat"}]})")));
  CHECK(lenient(json::parse(R"({"type":"array","minItems":-1})")));
}
