#include <catch2/catch.hpp>

#include "runtime/tokenizer.hpp"

using namespace inferstack::runtime;

TEST_CASE("token ids are FNV-1a 32 of the token text with its trailing whitespace") {
  // The reference value from llm-d-inference-sim's dummy tokenizer.
  CHECK(fnv1a_32("Hello ") == 2871118705u);
  auto ids = tokenize("Hello world");
  REQUIRE(ids.size() == 2);
  CHECK(ids[0] == 2871118705u);
  CHECK(ids[1] == fnv1a_32("world"));
}

TEST_CASE("the split follows the simulator's regex") {
  using v = std::vector<std::string_view>;
  CHECK(split_tokens("Hello, world!") == v{"Hello", ", ", "world", "!"});
  CHECK(split_tokens("a  b\n\tc") == v{"a  ", "b\n\t", "c"});
  // '_' is its own alternative before \w+, but inside a word run it stays in the word
  CHECK(split_tokens("_x foo_bar") == v{"_", "x ", "foo_bar"});
  // characters outside the regex are skipped, leading whitespace too
  CHECK(split_tokens("  `x` \xC3\xA9t\xC3\xA9") == v{"x", "t"});
  CHECK(split_tokens("{\"k\": [1, 2]}") ==
        v{"{", "\"", "k", "\"", ": ", "[", "1", ", ", "2", "]", "}"});
  CHECK(split_tokens("").empty());
}

TEST_CASE("chat is flattened as the simulator does") {
  auto text = flatten_chat({{"system", "Be brief."}, {"user", "Hi"}});
  CHECK(text == "### system: Be brief.\n### user: Hi\n");
}
