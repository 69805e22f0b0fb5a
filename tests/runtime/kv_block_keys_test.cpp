#include <catch2/catch.hpp>

#include <numeric>

#include "runtime/kv_block_keys.hpp"

using namespace inferstack::runtime;

TEST_CASE("block keys follow llm-d's cbor-fnv chain") {
  std::vector<uint32_t> tokens(32);
  std::iota(tokens.begin(), tokens.end(), 1u);
  // Vectors from the reference notes on llm-d-router HEAD (tokens 1..32, block 16).
  CHECK(kv_block_keys(16, "").keys(tokens, "test-model") ==
        std::vector<uint64_t>{9540012594951042066ull, 16921089685996993662ull});
  CHECK(kv_block_keys(16, "42").keys(tokens, "test-model") ==
        std::vector<uint64_t>{3239622172847516705ull, 18365376266021390534ull});
}

TEST_CASE("only full blocks get keys, and the chain continues from a parent") {
  kv_block_keys keys(16);
  std::vector<uint32_t> tokens(40, 7);
  auto all = keys.keys(tokens, "m");
  REQUIRE(all.size() == 2);
  auto tail = keys.keys(std::span<const uint32_t>(tokens).subspan(16, 16), "m", all[0]);
  REQUIRE(tail.size() == 1);
  CHECK(tail[0] == all[1]);
  CHECK(keys.keys(std::span<const uint32_t>(tokens).first(15), "m").empty());
  CHECK(keys.keys(tokens, "other-model")[0] != all[0]);
}
