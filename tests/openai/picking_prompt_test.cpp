// The picker's view of a prompt, read without a DOM, against parse_request: for every body the
// full parse accepts, the same roles and contents (chat) or the same first prompt (completions),
// since both paths must tokenize alike for prefix matching; for the shapes it refuses, nullopt.
#include <catch2/catch.hpp>

#include <string>
#include <variant>
#include <vector>

#include "openai/picking_prompt.hpp"
#include "openai/request.hpp"

using namespace inferstack::openai;

namespace {

/// What parse_request makes of the body, in picking_prompt's terms.
picking_prompt expected_from_parse(endpoint kind, const std::string& body) {
  auto parsed = parse_request(kind, body);
  if (!parsed.ok()) FAIL("parse_request refused " << body << ": " << parsed.error().message);
  auto req = std::move(parsed).request();
  picking_prompt out;
  if (kind == endpoint::chat_completions) {
    for (auto& m : req.messages)
      out.turns.emplace_back(m.role, m.content);
    return out;
  }
  std::visit(
      [&](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) {
          out.text = p;
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          out.text = p.front();
        } else if constexpr (std::is_same_v<T, token_ids>) {
          out.ids = p;
          out.has_ids = true;
        } else if constexpr (std::is_same_v<T, std::vector<token_ids>>) {
          out.ids = p.front();
          out.has_ids = true;
        }
      },
      req.prompt);
  return out;
}

void same_as_parse(endpoint kind, const std::string& body) {
  INFO(body);
  auto want = expected_from_parse(kind, body);
  auto got = extract_picking_prompt(kind, body);
  REQUIRE(got.has_value());
  CHECK(got->turns == want.turns);
  CHECK(got->text == want.text);
  CHECK(got->ids == want.ids);
  CHECK(got->has_ids == want.has_ids);
}

}  // namespace

TEST_CASE("chat messages are read as parse_request reads them") {
  for (
      const std::string body : {
          R"({"model":"m","messages":[{"role":"user","content":"hello"}]})",
          R"({"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"model":"m","stream":true})",
          // parts: text joined by newlines, media skipped, refusal kept, a bare text part
          R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"text":"b"},{"type":"refusal","refusal":"c"}]}]})",
          // keys in any order inside a part, and the field after "text"
          R"({"model":"m","messages":[{"content":[{"text":"t","type":"input_text"}],"role":"user"}]})",
          // null content, tool calls with their own nested "content"-like keys
          R"({"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"1","function":{"name":"f","arguments":"{\"content\":\"no\"}"}}]},{"role":"tool","content":"r","tool_call_id":"1"}]})",
          // the last of duplicate keys wins
          R"({"model":"m","messages":[{"role":"user","content":"first"}],"messages":[{"role":"user","content":"x","content":"second","role":"system"}]})",
          // an invalid value followed by a valid one: the valid one wins, at every level
          R"({"model":"m","messages":[],"messages":[{"role":null,"role":"user","content":5,"content":[{"type":7,"type":"text","text":"ok"}]}]})",
          // nested objects and arrays elsewhere, escapes, unicode
          R"({"model":"m","metadata":{"messages":[1,2],"prompt":"no"},"messages":[{"role":"user","content":"caf\u00e9 \"q\"\n"}],"tools":[{"type":"function","function":{"name":"g","parameters":{"type":"object"}}}]})",
      })
    same_as_parse(endpoint::chat_completions, body);
}

TEST_CASE("a completion's first prompt is read as parse_request reads it") {
  for (const std::string body : {
           R"({"model":"m","prompt":"once upon a time","max_tokens":5})",
           R"({"model":"m","prompt":["first","second"]})",
           R"({"model":"m","prompt":[1,2,3,4294967295]})",
           R"({"model":"m","prompt":[[7,8],[9]]})",
           R"({"prompt":"old","model":"m","prompt":"new"})",
           R"({"model":"m","prompt":[],"prompt":[1.5],"prompt":[[4,5]]})",
           R"({"model":"m","prompt":"x","messages":{"ignored":true},"logit_bias":{"1":2.5}})",
       })
    same_as_parse(endpoint::completions, body);
}

TEST_CASE("bodies whose prompt parse_request refuses give nullopt, for the full parse to word") {
  for (const std::string body : {
           R"({"model":"m"})",
           R"({"model":"m","prompt":null})",
           R"({"model":"m","prompt":""})",
           R"({"model":"m","prompt":[]})",
           R"({"model":"m","prompt":["a",1]})",
           R"({"model":"m","prompt":[1,-2]})",
           R"({"model":"m","prompt":[1.5]})",
           R"({"model":"m","prompt":[[1],[]]})",
           R"({"model":"m","prompt":{"text":"x"}})",
           R"([{"prompt":"x"}])",
           R"({"model":"m","prompt":"x")",
           "not json",
       }) {
    INFO(body);
    CHECK_FALSE(extract_picking_prompt(endpoint::completions, body).has_value());
    CHECK_FALSE(parse_request(endpoint::completions, body).ok());
  }
  for (const std::string body : {
           R"({"model":"m"})",
           R"({"model":"m","messages":[]})",
           R"({"model":"m","messages":"hi"})",
           R"({"model":"m","messages":["hi"]})",
           R"({"model":"m","messages":[{"content":"no role"}]})",
           R"({"model":"m","messages":[{"role":7,"content":"x"}]})",
           R"({"model":"m","messages":[{"role":"user","role":null,"content":"x"}]})",
           R"({"model":"m","messages":[{"role":"user","content":5}]})",
           R"({"model":"m","messages":[{"role":"user","content":{"text":"x"}}]})",
           R"({"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]})",
           R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":null}]}]})",
           R"({"model":"m","messages":[{"role":"user","content":[{"type":"sound","text":"x"}]}]})",
           R"({"model":"m","messages":[{"role":"user","content":[{"image_url":{}}]}]})",
           R"({"model":"m","messages":[{"role":"user","content":["x"]}]})",
       }) {
    INFO(body);
    CHECK_FALSE(extract_picking_prompt(endpoint::chat_completions, body).has_value());
    CHECK_FALSE(parse_request(endpoint::chat_completions, body).ok());
  }
}

TEST_CASE("fields the model server validates are not looked at") {
  // parse_request refuses these; the picker only needs the prompt, the server words the error.
  auto got = extract_picking_prompt(endpoint::completions,
                                    R"({"model":"m","prompt":"p","max_tokens":-3,"n":"two"})");
  REQUIRE(got.has_value());
  CHECK(got->text == "p");
  CHECK_FALSE(parse_request(endpoint::completions,
                            R"({"model":"m","prompt":"p","max_tokens":-3,"n":"two"})")
                  .ok());
}
