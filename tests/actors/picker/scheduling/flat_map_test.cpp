#include <catch2/catch.hpp>

#include <random>
#include <unordered_map>

#include "actors/picker/scheduling/flat_map.hpp"

using inferstack::actors::picker::flat_map64;

TEST_CASE("flat_map64 finds, inserts and erases, key 0 included", "[flat_map]") {
  flat_map64<uint32_t> m;
  CHECK(m.find(5) == nullptr);
  bool inserted = false;
  m.get_or_insert(5, &inserted) = 50;
  CHECK(inserted);
  m.get_or_insert(0, &inserted) = 7;
  CHECK(inserted);
  m.get_or_insert(5, &inserted) += 1;
  CHECK_FALSE(inserted);
  REQUIRE(m.find(5));
  CHECK(*m.find(5) == 51);
  CHECK(*m.find(0) == 7);
  CHECK(m.size() == 2);
  CHECK(m.erase(0));
  CHECK_FALSE(m.erase(0));
  CHECK(m.erase(5));
  CHECK(m.empty());
}

TEST_CASE("flat_map64 matches std::unordered_map under random operations", "[flat_map]") {
  flat_map64<uint64_t> m;
  std::unordered_map<uint64_t, uint64_t> ref;
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200000; ++i) {
    uint64_t key = rng() % 5000;  // dense keys: long probe clusters and many shifts
    switch (rng() % 3) {
      case 0:
      case 1:
        m.get_or_insert(key) = i;
        ref[key] = i;
        break;
      case 2:
        CHECK(m.erase(key) == (ref.erase(key) == 1));
        break;
    }
  }
  REQUIRE(m.size() == ref.size());
  for (const auto& [k, v] : ref) {
    const uint64_t* found = m.find(k);
    REQUIRE(found);
    CHECK(*found == v);
  }
}

TEST_CASE("flat_map64 erase_if visits every entry once while erasing", "[flat_map]") {
  flat_map64<uint32_t> m;
  for (uint64_t k = 0; k < 10000; ++k)
    m.get_or_insert(k * 7919) = static_cast<uint32_t>(k);
  size_t visited = 0;
  m.erase_if([&](uint64_t, uint32_t& v) {
    ++visited;
    return v % 2 == 0;
  });
  CHECK(visited == 10000);
  CHECK(m.size() == 5000);
  for (uint64_t k = 0; k < 10000; ++k)
    CHECK((m.find(k * 7919) != nullptr) == (k % 2 == 1));
}
