#include <catch2/catch.hpp>

#include <chrono>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "openai/extract_model.hpp"
#include "openai/request.hpp"

using namespace inferstack::openai;
using json = nlohmann::json;

namespace {

std::string found(std::string_view body) {
  const auto r = extract_model(body);
  if (!r.found()) FAIL("no model in " << body << " (status " << static_cast<int>(r.status) << ")");
  return r.model;
}

model_status status_of(std::string_view body) {
  return extract_model(body).status;
}

// Valid and invalid documents, chosen to hit each rule of the grammar.
const std::vector<std::string>& corpus() {
  static const std::vector<std::string> docs = {
      R"({"model":"m"})",
      R"(  {"messages":[{"role":"user","content":"hi","model":"no"}],"model":"yes"}  )",
      R"({"model":"a","model":"b"})",
      R"({"\u006dodel":"esc"})",
      R"({"model":"x\ty"})",
      R"({"model":"\ud83d\ude00"})",
      R"({"model":"\ud83d"})",
      R"({"model":"\ude00"})",
      R"({"model":"\ud83d\u0041"})",
      R"({"model":"\x"})",
      R"({"model":"\u12G4"})",
      "{\"model\":\"tab\there\"}",
      "{\"model\":\"nul\x01\"}",
      "{\"model\":\"caf\xC3\xA9\"}",
      "{\"model\":\"bad\xC3\"}",
      "{\"model\":\"bad\xED\xA0\x80\"}",
      "{\"model\":\"over\xC0\xAF\"}",
      R"({"model":1})",
      R"({"model":-0.5e+3})",
      R"({"model":01})",
      R"({"model":1.})",
      R"({"model":.5})",
      R"({"model":+1})",
      R"({"model":-})",
      R"({"model":1e})",
      R"({"model":1e400})",
      R"({"model":-1e400})",
      R"({"model":1e-400})",
      R"({"model":0.0000e999})",
      R"({"model":123456789012345678901234567890})",
      R"({"model":18446744073709551615})",
      R"({"model":-9223372036854775809})",
      R"({"model":true})",
      R"({"model":tru})",
      R"({"model":nulll})",
      R"({"model":null})",
      R"({"model":{}})",
      R"({"model":[]})",
      R"({"model":[1,2,{"model":"x"}]})",
      R"({"a":{"b":{"c":[[[{"model":"deep"}]]]}}})",
      R"([{"model":"in-array"}])",
      R"("model")",
      R"(42)",
      R"(null)",
      R"({})",
      R"([])",
      R"({"model":"m",})",
      R"({"model":"m" "x":1})",
      R"({"model" "m"})",
      R"({model:"m"})",
      R"({'model':'m'})",
      R"({"model":"m"}})",
      R"({"model":"m"}{})",
      R"({"model":"m"} x)",
      R"([1,2,])",
      R"([1 2])",
      R"({"a":[}})",
      R"({"a":{]})",
      "",
      "   ",
      "\xEF\xBB\xBF{\"model\":\"bom\"}",
      "\xEF\xBB{\"model\":\"half-bom\"}",
      std::string("{\"model\":\"m\"}\0", 14),
      "/* c */{\"model\":\"m\"}",
      "{\"model\":\"m\"}\n\t\r ",
      R"({"model":NaN})",
      R"({"model":Infinity})",
      R"({"model":"unterminated)",
      R"({"model":"m","messages":[{"content":"quote \" and \\ and \/"}]})",
  };
  return docs;
}

}  // namespace

TEST_CASE("extract_model finds the top-level model") {
  CHECK(found(R"({"model":"gpt-4o"})") == "gpt-4o");
  CHECK(found(" \n{ \"model\" :\t\"m\" , \"stream\":true}\r\n") == "m");
  CHECK(found(R"({"stream":false,"n":2,"model":"last-key"})") == "last-key");
  CHECK(found(R"({"model":""})").empty());
}

TEST_CASE("nested model keys do not fool extract_model") {
  CHECK(found(R"({"messages":[{"role":"user","content":"x","model":"inner"}],"model":"outer"})") ==
        "outer");
  CHECK(found(R"({"model":"outer","metadata":{"model":"meta"},"tools":[{"model":"t"}]})") ==
        "outer");
  CHECK(found(R"({"messages":[{"content":"\"model\":\"fake\""}],"model":"real"})") == "real");
  CHECK(status_of(R"({"metadata":{"model":"meta"}})") == model_status::missing);
  CHECK(status_of(R"({"messages":[{"model":"m"}]})") == model_status::missing);
  CHECK(status_of(R"([{"model":"m"}])") == model_status::not_an_object);
  CHECK(status_of(R"({"x":"model","y":{"model":{"model":"z"}}})") == model_status::missing);
}

TEST_CASE("escapes are decoded in keys and values") {
  CHECK(found(R"({"\u006dodel":"escaped-key"})") == "escaped-key");
  CHECK(found(R"({"mo\u0064el":"m","model2":"no"})") == "m");
  CHECK(found(R"({"model":"llama\/3\u002d8b \"q\" \\ \n\u00e9\ud83d\ude00"})") ==
        "llama/3-8b \"q\" \\ \n\xC3\xA9\xF0\x9F\x98\x80");
  CHECK(found("{\"model\":\"caf\xC3\xA9\"}") == "caf\xC3\xA9");
  CHECK(status_of(R"({"modelx":"m"})") == model_status::missing);
  CHECK(status_of(R"({"mode":"m"})") == model_status::missing);
}

TEST_CASE("duplicate keys: the last one wins, as in nlohmann and Python") {
  CHECK(found(R"({"model":"a","model":"b"})") == "b");
  CHECK(found(R"({"model":1,"model":"b"})") == "b");
  CHECK(status_of(R"({"model":"a","model":1})") == model_status::not_a_string);
  CHECK(status_of(R"({"model":"a","model":null})") == model_status::missing);
}

TEST_CASE("a model that is not a string") {
  auto r = extract_model(R"({"model":42})");
  CHECK(r.status == model_status::not_a_string);
  CHECK(r.value_type == "an integer");
  CHECK(r.model.empty());
  CHECK(extract_model(R"({"model":4.5})").value_type == "a decimal");
  CHECK(extract_model(R"({"model":1e2})").value_type == "a decimal");
  CHECK(extract_model(R"({"model":123456789012345678901234567890})").value_type == "a decimal");
  CHECK(extract_model(R"({"model":true})").value_type == "a boolean");
  CHECK(extract_model(R"({"model":{"name":"x"}})").value_type == "an object");
  CHECK(extract_model(R"({"model":["x"]})").value_type == "an array");
  CHECK(status_of(R"({"model":null})") == model_status::missing);
}

TEST_CASE("invalid JSON is reported with an offset") {
  auto r = extract_model(R"({"model":"m",})");
  CHECK(r.status == model_status::invalid_json);
  CHECK(r.error_offset == 13);
  CHECK(r.model.empty());
  for (const std::string bad :
       {"", " ", "{", "}", R"({"model":"m")", R"({"model":'m'})", R"({"model":"m"}x)",
        "{\"model\":\"m\x01\"}", "{\"model\":\"\xFF\"}", R"({"model":"\ud800"})",
        R"({"model":1e400})", R"({"model":"m"} // comment)"}) {
    INFO(bad);
    CHECK(status_of(bad) == model_status::invalid_json);
  }
  // nlohmann stops at a NUL byte between tokens (and so does the scanner, to agree with it).
  CHECK(found(std::string("{\"model\":\"m\"}\0{{", 16)) == "m");
  CHECK(status_of(std::string("{\"model\":\0\"m\"}", 14)) == model_status::invalid_json);
  CHECK(status_of(std::string("{\"model\":\"m\0\"}", 14)) == model_status::invalid_json);
}

TEST_CASE("extract_model accepts exactly what nlohmann accepts") {
  for (const auto& doc : corpus()) {
    INFO(json(doc).dump(-1, ' ', true, json::error_handler_t::replace));
    const bool nlohmann_ok = json::accept(doc);
    const auto r = extract_model(doc);
    CHECK((r.status != model_status::invalid_json) == nlohmann_ok);
    if (nlohmann_ok) {
      const auto parsed = json::parse(doc);
      if (!parsed.is_object()) {
        CHECK(r.status == model_status::not_an_object);
      } else if (!parsed.contains("model") || parsed["model"].is_null()) {
        CHECK(r.status == model_status::missing);
      } else if (parsed["model"].is_string()) {
        CHECK(r.status == model_status::found);
        CHECK(r.model == parsed["model"].get<std::string>());
      } else {
        CHECK(r.status == model_status::not_a_string);
      }
    }
  }
}

TEST_CASE("every prefix and every one-byte corruption of valid bodies agrees with nlohmann") {
  const std::vector<std::string> bodies = {
      R"({"model":"m","messages":[{"role":"user","content":"h\u00e9\"llo"}],"n":-1.5e-3})",
      R"({"a":[true,false,null,{"b":[]}],"model":"\ud83d\ude00","c":0})",
  };
  const std::string replacements = "{}[]\":,\\ 0-.eEtfnu\x01\xC3\xFF";
  size_t checked = 0;
  for (const auto& body : bodies) {
    for (size_t cut = 0; cut <= body.size(); ++cut) {
      const std::string prefix = body.substr(0, cut);
      REQUIRE((extract_model(prefix).status != model_status::invalid_json) == json::accept(prefix));
      ++checked;
    }
    for (size_t i = 0; i < body.size(); ++i) {
      for (char c : replacements) {
        std::string mutated = body;
        mutated[i] = c;
        INFO(json(mutated).dump(-1, ' ', true, json::error_handler_t::replace));
        const auto r = extract_model(mutated);
        REQUIRE((r.status != model_status::invalid_json) == json::accept(mutated));
        if (r.found()) REQUIRE(json::parse(mutated)["model"].get<std::string>() == r.model);
        ++checked;
      }
    }
  }
  CHECK(checked > 2000);
}

TEST_CASE("model_lookup_error matches parse_request's error") {
  for (const std::string body :
       {R"({"messages":[]})", R"({"model":5})", R"({"model":[1]})", R"([1])", R"("s")"}) {
    INFO(body);
    const auto lookup = extract_model(body);
    const auto err = model_lookup_error(lookup);
    REQUIRE(err);
    const auto parsed = parse_request(endpoint::chat_completions, body);
    REQUIRE_FALSE(parsed.ok());
    CHECK(*err == parsed.error());
  }
  const auto bad = model_lookup_error(extract_model("{x"));
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK(bad->message ==
        "We could not parse the JSON body of your request. (syntax error at byte 1)");
  CHECK_FALSE(model_lookup_error(extract_model(R"({"model":"m"})")));
}

TEST_CASE("deep nesting is handled without recursion") {
  std::string deep(200000, '[');
  deep += std::string(200000, ']');
  CHECK(status_of(deep) == model_status::not_an_object);
  std::string body = R"({"x":)" + deep + R"(,"model":"after-deep"})";
  CHECK(found(body) == "after-deep");
  deep.pop_back();
  CHECK(status_of(deep) == model_status::invalid_json);
}

TEST_CASE("extract_model vs a full parse (printout, not an assertion)") {
  // A typical chat body: a system prompt, a few turns, tools, and nested "model" keys.
  json body = {
      {"messages", json::array()},
      {"tools",
       json::array(
           {{{"type", "function"},
             {"function",
              {{"name", "lookup"},
               {"parameters",
                {{"type", "object"}, {"properties", {{"model", {{"type", "string"}}}}}}}}}}})},
      {"stream", true},
      {"stream_options", {{"include_usage", true}}},
      {"max_tokens", 256},
      {"temperature", 0.7},
      {"metadata", {{"model", "not-this"}}},
  };
  body["messages"].push_back({{"role", "system"}, {"content", std::string(600, 's')}});
  for (int i = 0; i < 6; ++i) {
    body["messages"].push_back(
        {{"role", i % 2 ? "assistant" : "user"}, {"content", std::string(250, 'a' + i)}});
  }
  body["model"] = "meta-llama/Llama-3.1-8B-Instruct";
  const std::string text = body.dump();

  constexpr int iterations = 2000;
  size_t sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i)
    sink += extract_model(text).model.size();
  const auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i)
    sink += json::parse(text)["model"].get_ref<const std::string&>().size();
  const auto t2 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) {
    sink += parse_request(endpoint::chat_completions, text).request().model.size();
  }
  const auto t3 = std::chrono::steady_clock::now();
  auto per_op = [](auto d) {
    return std::chrono::duration<double, std::micro>(d).count() / iterations;
  };
  std::cout << "[openai codec] " << text.size() << "-byte chat body: extract_model "
            << per_op(t1 - t0) << " us, nlohmann::json::parse " << per_op(t2 - t1)
            << " us, parse_request " << per_op(t3 - t2) << " us per call\n";
  CHECK(sink == 3 * iterations * std::string("meta-llama/Llama-3.1-8B-Instruct").size());
}
