#include <catch2/catch.hpp>

#include <map>
#include <numeric>
#include <random>
#include <set>

#include "actors/pod/engine/kv_cache.hpp"

using namespace inferstack::actors::pod::engine;
using inferstack::runtime::all_blocks_cleared;
using inferstack::runtime::block_removed;
using inferstack::runtime::block_stored;
using inferstack::runtime::kv_block_keys;
using inferstack::runtime::kv_event;

namespace {

std::vector<uint32_t> iota_tokens(uint32_t n, uint32_t first = 1) {
  std::vector<uint32_t> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

kv_cache make_cache(uint32_t blocks, uint32_t block_size = 4) {
  kv_cache_config c;
  c.num_gpu_blocks = blocks;
  c.block_size = block_size;
  return kv_cache(c);
}

kv_request_meta meta(std::string_view model = "m") {
  kv_request_meta m;
  m.hash_model = model;
  return m;
}

// Replays events into the set of keys an indexer would hold; fails on any inconsistency.
struct event_checker {
  std::set<uint64_t> held;
  void apply(const std::vector<kv_event>& events) {
    for (const auto& e : events) {
      if (const auto* s = std::get_if<block_stored>(&e)) {
        REQUIRE(s->token_ids.size() == s->block_hashes.size() * s->block_size);
        for (uint64_t h : s->block_hashes) {
          INFO("stored twice: " << h);
          CHECK(held.insert(h).second);
        }
      } else if (const auto* r = std::get_if<block_removed>(&e)) {
        for (uint64_t h : r->block_hashes) {
          INFO("removed without being stored: " << h);
          CHECK(held.erase(h) == 1);
        }
      } else {
        held.clear();
      }
    }
  }
};

}  // namespace

TEST_CASE("allocation caches full blocks under llm-d keys and reports them") {
  auto cache = make_cache(8);
  auto tokens = iota_tokens(10);
  REQUIRE(cache.allocate(1, tokens, 10, meta()));
  CHECK(cache.block_table(1).size() == 3);
  CHECK(cache.num_used_blocks() == 3);
  CHECK(cache.usage() == Approx(3.0 / 8));
  CHECK(cache.num_cached_blocks() == 2);
  auto keys = kv_block_keys(4).keys(tokens, "m");
  REQUIRE(keys.size() == 2);
  CHECK(cache.is_cached(keys[0]));
  CHECK(cache.is_cached(keys[1]));

  auto events = cache.drain_events();
  REQUIRE(events.size() == 1);
  const auto& s = std::get<block_stored>(events[0]);
  CHECK(s.block_hashes == keys);
  CHECK_FALSE(s.parent_block_hash);
  CHECK(s.token_ids == iota_tokens(8));
  CHECK(s.block_size == 4);
  CHECK(s.medium == "GPU");
  CHECK_FALSE(s.lora_id);
  CHECK_FALSE(s.lora_name);
  CHECK(cache.drain_events().empty());
  CHECK(cache.prefix_queries() == 10);
  CHECK(cache.prefix_hits() == 0);
}

TEST_CASE("a shared prefix is hit, refcounted, and never covers the whole prompt") {
  auto cache = make_cache(8);
  auto tokens = iota_tokens(10);
  REQUIRE(cache.allocate(1, tokens, 10, meta()));
  cache.drain_events();

  auto match = cache.find_cached_prefix(tokens, "m");
  CHECK(match.num_blocks() == 2);
  CHECK(match.last_key == kv_block_keys(4).keys(tokens, "m")[1]);
  REQUIRE(cache.allocate(2, tokens, 10, meta(), &match));
  auto t1 = cache.block_table(1), t2 = cache.block_table(2);
  CHECK(t2[0] == t1[0]);
  CHECK(t2[1] == t1[1]);
  CHECK(t2[2] != t1[2]);
  CHECK(cache.ref_count(t1[0]) == 2);
  CHECK(cache.num_used_blocks() == 4);
  CHECK(cache.drain_events().empty());  // nothing new became cached
  CHECK(cache.prefix_queries() == 20);
  CHECK(cache.prefix_hits() == 8);

  // An 8-token prompt of two cached blocks matches only one: its last token must be computed.
  CHECK(cache.find_cached_prefix(iota_tokens(8), "m").num_blocks() == 1);
  CHECK(cache.find_cached_prefix(iota_tokens(9), "m").num_blocks() == 2);
  // Another model (or LoRA adapter) never matches.
  CHECK(cache.find_cached_prefix(tokens, "other").num_blocks() == 0);
  CHECK(cache.find_cached_prefix(iota_tokens(10, 2), "m").num_blocks() == 0);
}

TEST_CASE("decode tokens fill blocks that become cached with the right parent") {
  auto cache = make_cache(8);
  auto tokens = iota_tokens(16);  // 6 prompt tokens, then generated ones
  REQUIRE(cache.allocate(1, std::span(tokens).first(6), 6, meta()));
  auto first = cache.drain_events();
  REQUIRE(first.size() == 1);
  auto keys = kv_block_keys(4).keys(tokens, "m");
  for (uint32_t n = 7; n <= 12; ++n)
    REQUIRE(cache.append_slots(1, std::span(tokens).first(n), n));
  CHECK(cache.block_table(1).size() == 3);
  auto events = cache.drain_events();
  REQUIRE(events.size() == 2);  // block 2 full at 8 tokens, block 3 at 12
  const auto& b2 = std::get<block_stored>(events[0]);
  CHECK(b2.block_hashes == std::vector<uint64_t>{keys[1]});
  CHECK(b2.parent_block_hash == keys[0]);
  CHECK(b2.token_ids == std::vector<uint32_t>{5, 6, 7, 8});
  CHECK(std::get<block_stored>(events[1]).parent_block_hash == keys[1]);
  // Slots already there: no-op.
  CHECK(cache.append_slots(1, std::span(tokens).first(12), 10));
  CHECK(cache.block_table(1).size() == 3);
}

TEST_CASE("freed blocks are evicted least recently freed first, a request's tail first") {
  auto cache = make_cache(4);
  auto a = iota_tokens(12);
  REQUIRE(cache.allocate(1, a, 12, meta()));
  auto keys = kv_block_keys(4).keys(a, "m");
  REQUIRE(keys.size() == 3);
  auto table = std::vector<uint32_t>(cache.block_table(1).begin(), cache.block_table(1).end());
  cache.free(1);
  CHECK(cache.num_used_blocks() == 0);
  CHECK(cache.num_cached_blocks() == 3);  // cached until evicted
  event_checker checker;
  checker.apply(cache.drain_events());

  // Two new blocks: the never-used block, then A's last block (freed first).
  auto b = iota_tokens(8, 100);
  REQUIRE(cache.allocate(2, b, 8, meta()));
  auto events = cache.drain_events();
  REQUIRE(events.size() == 2);
  CHECK(std::get<block_removed>(events[0]).block_hashes == std::vector<uint64_t>{keys[2]});
  CHECK(std::holds_alternative<block_stored>(events[1]));
  checker.apply(events);
  CHECK(cache.block_table(2)[1] == table[2]);
  // A's prefix survived: a repeat of A still hits two blocks.
  CHECK(cache.find_cached_prefix(a, "m").num_blocks() == 2);

  // The next eviction takes A's middle block, then its first.
  cache.free(2);
  REQUIRE(cache.allocate(3, iota_tokens(4, 500), 4, meta()));
  events = cache.drain_events();
  REQUIRE(events.size() == 2);
  CHECK(std::get<block_removed>(events[0]).block_hashes == std::vector<uint64_t>{keys[1]});
  checker.apply(events);
}

TEST_CASE("allocation fails without changes when blocks run out and referenced blocks stay") {
  auto cache = make_cache(4);
  REQUIRE(cache.allocate(1, iota_tokens(12), 12, meta()));
  CHECK_FALSE(cache.allocate(2, iota_tokens(8, 50), 8, meta()));
  CHECK_FALSE(cache.has_request(2));
  CHECK(cache.num_used_blocks() == 3);
  CHECK(cache.num_cached_blocks() == 3);
  CHECK(cache.allocate(2, iota_tokens(4, 50), 4, meta()));
  CHECK_FALSE(cache.append_slots(2, iota_tokens(8, 50), 8));
  CHECK(cache.block_table(2).size() == 1);
  CHECK_FALSE(cache.allocate(2, iota_tokens(4, 50), 4, meta()));  // exists
  CHECK_FALSE(cache.append_slots(99, iota_tokens(4), 4));
}

TEST_CASE("prefix hits waiting in the free queue are not free capacity") {
  auto cache = make_cache(3);
  auto a = iota_tokens(9);
  REQUIRE(cache.allocate(1, a, 8, meta()));  // two full cached blocks
  cache.free(1);
  CHECK(cache.num_free_blocks() == 3);
  // Same prefix plus 8 more tokens: 2 hits (both evictable) + 3 new blocks > 3.
  auto longer = iota_tokens(17);
  auto match = cache.find_cached_prefix(longer, "m");
  REQUIRE(match.num_blocks() == 2);
  CHECK_FALSE(cache.allocate(2, longer, 17, meta(), &match));
  CHECK(cache.num_cached_blocks() == 2);
  // 2 hits + 1 new block fits.
  CHECK(cache.allocate(2, longer, 12, meta(), &match));
  CHECK(cache.num_free_blocks() == 0);
}

TEST_CASE("a key computed twice is stored once and removed once") {
  auto cache = make_cache(6);
  auto tokens = iota_tokens(8);
  REQUIRE(cache.allocate(1, tokens, 8, meta()));
  // Scheduled before request 1's blocks were cached: no prefix match.
  prefix_match none;
  REQUIRE(cache.allocate(2, tokens, 8, meta(), &none));
  CHECK(cache.num_cached_blocks() == 2);
  CHECK(cache.num_used_blocks() == 4);
  event_checker checker;
  auto events = cache.drain_events();
  CHECK(events.size() == 1);
  checker.apply(events);
  cache.free(1);
  cache.free(2);
  // Evict everything.
  REQUIRE(cache.allocate(3, iota_tokens(24, 1000), 24, meta()));
  checker.apply(cache.drain_events());
  for (uint64_t k : kv_block_keys(4).keys(tokens, "m"))
    CHECK_FALSE(checker.held.count(k));
}

TEST_CASE("LoRA adapters get their own key chain and appear in events") {
  auto cache = make_cache(8);
  auto tokens = iota_tokens(8);
  REQUIRE(cache.allocate(1, tokens, 8, meta("base")));
  kv_request_meta lora;
  lora.hash_model = "sql-lora";
  lora.lora_id = 1;
  lora.lora_name = "sql-lora";
  REQUIRE(cache.allocate(2, tokens, 8, lora));
  auto events = cache.drain_events();
  REQUIRE(events.size() == 2);
  const auto& base = std::get<block_stored>(events[0]);
  const auto& adapted = std::get<block_stored>(events[1]);
  CHECK(base.block_hashes != adapted.block_hashes);
  CHECK(adapted.block_hashes == kv_block_keys(4).keys(tokens, "sql-lora"));
  CHECK(adapted.lora_id == 1);
  CHECK(adapted.lora_name == "sql-lora");
  CHECK(cache.num_used_blocks() == 4);
}

TEST_CASE("clear drops every key once no block is in use") {
  auto cache = make_cache(8);
  REQUIRE(cache.allocate(1, iota_tokens(8), 8, meta()));
  CHECK_FALSE(cache.clear());
  cache.free(1);
  cache.drain_events();
  CHECK(cache.clear());
  CHECK(cache.num_cached_blocks() == 0);
  auto events = cache.drain_events();
  REQUIRE(events.size() == 1);
  CHECK(std::holds_alternative<all_blocks_cleared>(events[0]));
  CHECK(cache.find_cached_prefix(iota_tokens(9), "m").num_blocks() == 0);
  // Blocks that were cached are plain free blocks now: reusing them reports no removal.
  REQUIRE(cache.allocate(2, iota_tokens(32, 77), 32, meta()));
  for (const auto& e : cache.drain_events())
    CHECK_FALSE(std::holds_alternative<block_removed>(e));
}

TEST_CASE("asleep, the cache forgets every key, blocks in use too, and keys nothing until woken") {
  auto cache = make_cache(8);
  REQUIRE(cache.allocate(1, iota_tokens(8), 8, meta()));
  REQUIRE(cache.allocate(2, iota_tokens(8, 40), 8, meta()));
  cache.free(2);
  cache.drain_events();
  cache.sleep();  // unlike clear(), with request 1 still holding its blocks
  CHECK(cache.asleep());
  CHECK(cache.num_cached_blocks() == 0);
  CHECK(cache.num_used_blocks() == 2);  // request 1 keeps its blocks
  auto events = cache.drain_events();
  REQUIRE(events.size() == 1);
  CHECK(std::holds_alternative<all_blocks_cleared>(events[0]));
  // Asleep: no prefix hit, nothing stored.
  CHECK(cache.find_cached_prefix(iota_tokens(9), "m").num_blocks() == 0);
  REQUIRE(cache.allocate(3, iota_tokens(9), 9, meta()));
  CHECK(cache.num_cached_blocks() == 0);
  CHECK(cache.drain_events().empty());
  cache.free(3);
  cache.free(1);
  CHECK(cache.drain_events().empty());  // nothing was cached: nothing is removed
  cache.wake();
  REQUIRE(cache.allocate(4, iota_tokens(8), 8, meta()));
  CHECK(cache.num_cached_blocks() == 2);
  cache.free(4);
  CHECK(cache.find_cached_prefix(iota_tokens(9), "m").num_blocks() == 2);
}

TEST_CASE("without prefix caching nothing is keyed, hit or reported") {
  kv_cache_config c;
  c.num_gpu_blocks = 8;
  c.block_size = 4;
  c.enable_prefix_caching = false;
  kv_cache cache(c);
  REQUIRE(cache.allocate(1, iota_tokens(8), 8, meta()));
  REQUIRE(cache.allocate(2, iota_tokens(8), 8, meta()));
  CHECK(cache.num_used_blocks() == 4);
  CHECK(cache.num_cached_blocks() == 0);
  CHECK_FALSE(cache.has_events());
  CHECK(cache.prefix_queries() == 0);
}

TEST_CASE("events stay consistent under random allocation, growth and frees") {
  auto cache = make_cache(24, 4);
  std::mt19937_64 rng(2024);
  struct live_req {
    std::vector<uint32_t> tokens;
    uint32_t slots = 0;
  };
  std::map<uint64_t, live_req> live;
  event_checker checker;
  uint64_t next = 1;
  for (int op = 0; op < 5000; ++op) {
    auto choice = rng() % 3;
    if (choice == 0 || live.empty()) {
      // Prompts from a few shared prefixes so hits, duplicates and evictions all happen.
      live_req r;
      uint32_t family = static_cast<uint32_t>(rng() % 4);
      uint32_t len = 1 + static_cast<uint32_t>(rng() % 20);
      for (uint32_t i = 0; i < len; ++i)
        r.tokens.push_back(i < 8 ? family * 1000 + i : static_cast<uint32_t>(rng() % 5));
      r.slots = len;
      kv_request_meta m = meta(rng() % 5 == 0 ? "lora" : "m");
      if (cache.allocate(next, r.tokens, r.slots, m)) live.emplace(next, std::move(r));
      ++next;
    } else if (choice == 1) {
      auto it = std::next(live.begin(), static_cast<long>(rng() % live.size()));
      it->second.tokens.push_back(static_cast<uint32_t>(rng() % 3));
      if (cache.append_slots(it->first, it->second.tokens,
                             static_cast<uint32_t>(it->second.tokens.size())))
        it->second.slots = static_cast<uint32_t>(it->second.tokens.size());
      else
        it->second.tokens.pop_back();
    } else {
      auto it = std::next(live.begin(), static_cast<long>(rng() % live.size()));
      cache.free(it->first);
      live.erase(it);
    }
    checker.apply(cache.drain_events());
    REQUIRE(cache.num_used_blocks() <= cache.num_blocks());
  }
  // What the events say is cached is exactly what the cache holds.
  CHECK(checker.held.size() == cache.num_cached_blocks());
  for (uint64_t k : checker.held)
    CHECK(cache.is_cached(k));
  for (auto& [id, r] : live)
    cache.free(id);
  CHECK(cache.num_used_blocks() == 0);
}
