#include <catch2/catch.hpp>

#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/json_escape.hpp"

using namespace inferstack::runtime;
using json = nlohmann::json;

namespace {

// nlohmann's own rendering of a string value, quotes stripped; invalid UTF-8 replaced.
std::string nlohmann_escape(const std::string& s) {
  const std::string dumped = json(s).dump(-1, ' ', false, json::error_handler_t::replace);
  return dumped.substr(1, dumped.size() - 2);
}

}  // namespace

TEST_CASE("json_escape escapes quotes, backslashes and control characters") {
  CHECK(json_escape("plain text") == "plain text");
  CHECK(json_escape(R"(say "hi" \ bye)") == R"(say \"hi\" \\ bye)");
  CHECK(json_escape("a\nb\rc\td\be\ff") == R"(a\nb\rc\td\be\ff)");
  CHECK(json_escape(std::string("\x00\x01\x1f", 3)) == R"(\u0000\u0001\u001f)");
  CHECK(json_escape("\x7f") == "\x7f");  // DEL is not a JSON control character
  CHECK(json_escape("a/b") == "a/b");    // nor does '/' need escaping
  CHECK(json_escape("") == "");
}

TEST_CASE("json_escape writes non-ASCII text as raw UTF-8, like vLLM and nlohmann") {
  CHECK(json_escape("caf\xC3\xA9") == "caf\xC3\xA9");
  CHECK(json_escape("\xE4\xB8\xAD\xE6\x96\x87") == "\xE4\xB8\xAD\xE6\x96\x87");
  CHECK(json_escape("\xF0\x9F\x98\x80 \xE2\x80\xA8") == "\xF0\x9F\x98\x80 \xE2\x80\xA8");
}

TEST_CASE("json_escape matches nlohmann's dump for every ASCII byte") {
  for (int c = 0; c < 128; ++c) {
    const std::string s(1, static_cast<char>(c));
    INFO("byte " << c);
    CHECK(json_escape(s) == nlohmann_escape(s));
  }
}

TEST_CASE("json_escape replaces invalid UTF-8 with U+FFFD per maximal subpart") {
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(json_escape("a\xFF"
                    "b") == "a" + fffd + "b");
  CHECK(json_escape("\xC3") == fffd);                        // truncated at the end
  CHECK(json_escape("\xE4\xB8") == fffd);                    // one subpart, one replacement
  CHECK(json_escape("\xE0\x80") == fffd + fffd);             // E0 80 is never valid
  CHECK(json_escape("\xED\xA0\x80") == fffd + fffd + fffd);  // UTF-8-encoded surrogate
  CHECK(json_escape("\xC0\xAF") == fffd + fffd);             // overlong
  CHECK(json_escape("\xF4\x90\x80\x80") == fffd + fffd + fffd + fffd);  // > U+10FFFF
  CHECK(json_escape("\xE4\xB8x") == fffd + "x");
}

TEST_CASE("json_escape agrees with nlohmann on random bytes, valid UTF-8 or not") {
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<int> len(0, 24);
  // Bias towards the interesting bytes: ASCII, continuation bytes and lead bytes.
  const std::string alphabet =
      "ab\"\\\n\x01\x7f\x80\x8f\x9f\xa0\xbf\xc2\xc3\xdf\xe0\xe4\xed\xef\xf0\xf4\xf5\xff";
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  for (int round = 0; round < 20000; ++round) {
    std::string s;
    const int n = len(rng);
    for (int k = 0; k < n; ++k)
      s += alphabet[pick(rng)];
    const std::string escaped = json_escape(s);
    INFO("input " << json(s).dump(-1, ' ', true, json::error_handler_t::replace));
    REQUIRE(escaped == nlohmann_escape(s));
    REQUIRE(json::accept("\"" + escaped + "\""));
    // The alphabet cannot spell U+FFFD (no 0xBD), so a replacement means invalid input.
    CHECK(is_valid_utf8(s) == (escaped.find("\xEF\xBF\xBD") == std::string::npos));
  }
}

TEST_CASE("escaped strings round-trip through a JSON parser") {
  const std::string text = "multi\nline \"quoted\" \\ tab\t \x01 caf\xC3\xA9 \xF0\x9F\x98\x80";
  std::string quoted;
  append_json_string(quoted, text);
  const auto parsed = json::parse(quoted);
  CHECK(parsed.get<std::string>() == text);
}

TEST_CASE("utf8_sequence_length follows RFC 3629") {
  CHECK(utf8_sequence_length("a") == 1);
  CHECK(utf8_sequence_length("\xC3\xA9") == 2);
  CHECK(utf8_sequence_length("\xE2\x82\xAC") == 3);
  CHECK(utf8_sequence_length("\xF0\x9F\x98\x80") == 4);
  CHECK(utf8_sequence_length("\xC1\xBF") == 0);          // overlong
  CHECK(utf8_sequence_length("\xED\xBF\xBF") == 0);      // surrogate
  CHECK(utf8_sequence_length("\xF4\x90\x80\x80") == 0);  // above U+10FFFF
  CHECK(utf8_sequence_length("\xE2\x82") == 0);          // truncated
  CHECK(utf8_sequence_length("") == 0);
  CHECK(is_valid_utf8("h\xC3\xA9llo \xF0\x9F\x98\x80"));
  CHECK_FALSE(is_valid_utf8("h\xC3llo"));
}

TEST_CASE("append_json_int and append_json_string") {
  std::string out;
  append_json_int(out, 0);
  out += ',';
  append_json_int(out, -9223372036854775807LL - 1);
  out += ',';
  append_json_string(out, "x\"y");
  CHECK(out == R"(0,-9223372036854775808,"x\"y")");
}
