// The precise prefix index fed by vLLM KV events.
#include <catch2/catch.hpp>

#include <set>

#include "actors/picker/scheduling/kv_block_index.hpp"
#include "tests/actors/picker/scheduling/picker_test_util.hpp"

using namespace picker_test;

namespace {

// Longest prefix of `tokens` per pod name, as (name, blocks, weighted).
std::map<std::string, std::pair<uint32_t, double>> lookup(kv_block_index& index,
                                                          const std::vector<uint32_t>& tokens,
                                                          const std::string& model = "m") {
  auto keys = index.block_keys().keys(tokens, model);
  std::vector<kv_pod_match> matches;
  index.longest_prefix(
      keys.size(), [&](size_t i) { return keys[i]; }, [](uint32_t) { return true; }, matches);
  std::map<std::string, std::pair<uint32_t, double>> out;
  for (const auto& m : matches)
    out[index.pod_name(m.pod)] = {m.blocks, m.weighted};
  return out;
}

}  // namespace

TEST_CASE("BlockStored indexes request keys recomputed from the token ids", "[kv_index]") {
  kv_block_index index;
  auto tokens = random_tokens(64, 1);  // 4 blocks of 16
  auto stats = index.apply("pod-a", "m", batch_of({stored(tokens, 1000, std::nullopt)}));
  CHECK(stats.stored_events == 1);
  CHECK(stats.stored_blocks == 4);
  CHECK(index.size() == 4);
  CHECK(index.engine_key_count() == 4);
  // The index keys are the router's keys, not the engine's.
  auto keys = index.block_keys().keys(tokens, "m");
  CHECK(index.request_key(1000) == keys[0]);
  CHECK(index.request_key(1003) == keys[3]);
  auto e = index.entries(keys[2]);
  REQUIRE(e.size() == 1);
  CHECK(index.pod_name(e[0].pod) == "pod-a");
  CHECK(e[0].tier == "gpu");
  CHECK_FALSE(e[0].speculative);

  auto m = lookup(index, tokens);
  CHECK(m["pod-a"] == std::make_pair(4u, 4.0));
}

TEST_CASE("a BlockStored continues the chain from its parent's request key", "[kv_index]") {
  kv_block_index index;
  auto prefix = random_tokens(32, 2), suffix = random_tokens(32, 3);
  index.apply("pod-a", "m", batch_of({stored(prefix, 10, std::nullopt)}));
  // The second event names the last engine key of the first as its parent.
  auto stats = index.apply("pod-a", "m", batch_of({stored(suffix, 20, uint64_t{11})}));
  CHECK(stats.stored_blocks == 2);
  auto full = concat(prefix, suffix);
  CHECK(lookup(index, full)["pod-a"].first == 4);
}

TEST_CASE("a BlockStored with an unknown parent is skipped, a parent of 0 or nil is none",
          "[kv_index]") {
  kv_block_index index;
  auto tokens = random_tokens(32, 4);
  auto stats = index.apply("pod-a", "m", batch_of({stored(tokens, 10, uint64_t{999})}));
  CHECK(stats.skipped_events == 1);
  CHECK(index.size() == 0);
  // 0 means "no parent" on the wire (the simulator's legacy format).
  stats = index.apply("pod-a", "m", batch_of({stored(tokens, 10, uint64_t{0})}));
  CHECK(stats.stored_blocks == 2);
  CHECK(lookup(index, tokens)["pod-a"].first == 2);
}

TEST_CASE("BlockRemoved evicts by engine key for the pod and tier only", "[kv_index]") {
  kv_block_index index;
  auto tokens = random_tokens(48, 5);
  index.apply("pod-a", "m", batch_of({stored(tokens, 100, std::nullopt)}));
  index.apply("pod-b", "m", batch_of({stored(tokens, 100, std::nullopt)}));
  // pod-a drops its middle block: its chain stops at block 1, pod-b keeps all three.
  rt::block_removed removed;
  removed.block_hashes = {101};
  auto stats = index.apply("pod-a", "m", batch_of({removed}));
  CHECK(stats.removed_blocks == 1);
  auto m = lookup(index, tokens);
  CHECK(m["pod-a"].first == 1);
  CHECK(m["pod-b"].first == 3);
  // A CPU-tier removal does not touch the GPU entry.
  rt::block_removed cpu;
  cpu.block_hashes = {100};
  cpu.medium = "CPU";
  index.apply("pod-b", "m", batch_of({cpu}));
  CHECK(lookup(index, tokens)["pod-b"].first == 3);
}

TEST_CASE("AllBlocksCleared and clear_pod drop every entry of the pod", "[kv_index]") {
  kv_block_index index;
  auto tokens = random_tokens(64, 6);
  index.apply("pod-a", "m", batch_of({stored(tokens, 1, std::nullopt)}));
  index.apply("pod-b", "m", batch_of({stored(tokens, 1, std::nullopt)}));
  auto stats = index.apply("pod-a", "m", batch_of({rt::all_blocks_cleared{}}));
  CHECK(stats.cleared == 1);
  auto m = lookup(index, tokens);
  CHECK(m.count("pod-a") == 0);
  CHECK(m["pod-b"].first == 4);
  index.clear_pod("pod-b");
  CHECK(lookup(index, tokens).empty());
  CHECK(index.size() == 0);
}

TEST_CASE("tiers: medium lower-cased, default gpu, weights gpu 1.0 cpu 0.8", "[kv_index]") {
  kv_block_index index;
  auto tokens = random_tokens(48, 7);
  index.apply("pod-a", "m", batch_of({stored(tokens, 1, std::nullopt, 16, "")}));
  index.apply("pod-b", "m", batch_of({stored(tokens, 1, std::nullopt, 16, "CPU")}));
  auto keys = index.block_keys().keys(tokens, "m");
  auto e = index.entries(keys[0]);
  REQUIRE(e.size() == 2);
  CHECK(e[0].tier == "gpu");
  CHECK(e[1].tier == "cpu");
  auto m = lookup(index, tokens);
  CHECK(m["pod-a"].second == Approx(3.0));
  CHECK(m["pod-b"].second == Approx(3 * 0.8));
  // The best tier counts when a pod holds a block in both.
  index.apply("pod-b", "m", batch_of({stored(tokens, 1, std::nullopt, 16, "GPU")}));
  CHECK(lookup(index, tokens)["pod-b"].second == Approx(3.0));
}

TEST_CASE("a tier move without tokens adds the tier to known blocks", "[kv_index]") {
  kv_block_index index;
  auto tokens = random_tokens(32, 8);
  index.apply("pod-a", "m", batch_of({stored(tokens, 50, std::nullopt)}));
  rt::block_stored offload;
  offload.block_hashes = {50, 51};
  offload.medium = "CPU";
  index.apply("pod-a", "m", batch_of({offload}));
  auto keys = index.block_keys().keys(tokens, "m");
  CHECK(index.entries(keys[1]).size() == 2);
  // GPU eviction leaves the CPU copy: still a (lighter) hit.
  rt::block_removed gone;
  gone.block_hashes = {50, 51};
  index.apply("pod-a", "m", batch_of({gone}));
  CHECK(lookup(index, tokens)["pod-a"].second == Approx(1.6));
}

TEST_CASE("longest consecutive prefix: a hole ends the pod's chain", "[kv_index]") {
  kv_block_index index;
  auto tokens = random_tokens(64, 9);
  index.apply("pod-a", "m", batch_of({stored(tokens, 1, std::nullopt)}));
  rt::block_removed hole;
  hole.block_hashes = {3};  // engine keys 1..4: the third block
  index.apply("pod-a", "m", batch_of({hole}));
  CHECK(lookup(index, tokens)["pod-a"].first == 2);
  // A pod that holds only later blocks scores nothing.
  index.clear_pod("pod-a");
  index.apply("pod-c", "m", batch_of({stored(tokens, 1, std::nullopt)}));
  rt::block_removed head;
  head.block_hashes = {1};
  index.apply("pod-c", "m", batch_of({head}));
  CHECK(lookup(index, tokens).empty());
}

TEST_CASE("a prompt whose blocks only pod B holds matches pod B only", "[kv_index]") {
  kv_block_index index;
  auto shared = random_tokens(32, 10);
  auto a_tail = random_tokens(64, 11), b_tail = random_tokens(64, 12);
  index.apply("pod-a", "m", batch_of({stored(concat(shared, a_tail), 1, std::nullopt)}));
  index.apply("pod-b", "m", batch_of({stored(concat(shared, b_tail), 1, std::nullopt)}));
  auto m = lookup(index, concat(shared, b_tail));
  CHECK(m["pod-a"].first == 2);
  CHECK(m["pod-b"].first == 6);
}

TEST_CASE("lora_name replaces the topic model in the keys", "[kv_index]") {
  kv_block_index index;
  auto tokens = random_tokens(32, 13);
  auto ev = stored(tokens, 1, std::nullopt);
  ev.lora_name = "sql-lora";
  index.apply("pod-a", "base", batch_of({ev}));
  CHECK(lookup(index, tokens, "base").empty());
  CHECK(lookup(index, tokens, "sql-lora")["pod-a"].first == 2);
}

TEST_CASE("events decode from both wire formats and index identically", "[kv_index]") {
  auto tokens = random_tokens(48, 14);
  for (auto format : {rt::event_format::array, rt::event_format::map}) {
    kv_block_index index;
    auto batch = batch_of({stored(tokens, 7, std::nullopt)});
    auto payload = rt::encode_batch(batch, format);
    std::string error;
    auto decoded = rt::decode_batch(payload, &error);
    INFO(error);
    REQUIRE(decoded);
    index.apply("pod-b", "m", *decoded);
    CHECK(lookup(index, tokens)["pod-b"].first == 3);
  }
}

TEST_CASE("duplicate announcements are reference-counted before eviction", "[kv_index]") {
  kv_block_index index;
  auto tokens = random_tokens(16, 15);
  index.apply("pod-a", "m", batch_of({stored(tokens, 5, std::nullopt)}));
  index.apply("pod-a", "m", batch_of({stored(tokens, 5, std::nullopt)}));
  rt::block_removed r;
  r.block_hashes = {5};
  CHECK(index.apply("pod-a", "m", batch_of({r})).removed_blocks == 0);  // one still holds it
  CHECK(lookup(index, tokens)["pod-a"].first == 1);
  CHECK(index.apply("pod-a", "m", batch_of({r})).removed_blocks == 1);
  CHECK(lookup(index, tokens).empty());
}

TEST_CASE("engine blocks smaller than index blocks map many to one", "[kv_index]") {
  kv_index_settings s;
  s.block_size = 32;  // the pod's blocks are 16 tokens
  kv_block_index index(s);
  auto tokens = random_tokens(64, 16);
  auto stats = index.apply("pod-a", "m", batch_of({stored(tokens, 100, std::nullopt, 16)}));
  CHECK(stats.stored_blocks == 2);
  auto keys = index.block_keys().keys(tokens, "m");
  CHECK(index.request_key(100) == keys[0]);
  CHECK(index.request_key(101) == keys[0]);
  CHECK(index.request_key(103) == keys[1]);
  // Evicting one engine block of a request block removes the pod from it.
  rt::block_removed r;
  r.block_hashes = {102};
  index.apply("pod-a", "m", batch_of({r}));
  CHECK(lookup(index, tokens)["pod-a"].first == 1);
}

TEST_CASE("pod entries per key are bounded by podCacheSize, least recent first out", "[kv_index]") {
  kv_index_settings s;
  s.pod_cache_size = 4;
  kv_block_index index(s);
  auto tokens = random_tokens(16, 17);
  for (int p = 0; p < 6; ++p)
    index.apply("pod-" + std::to_string(p), "m", batch_of({stored(tokens, 1, std::nullopt)}));
  auto keys = index.block_keys().keys(tokens, "m");
  auto e = index.entries(keys[0]);
  REQUIRE(e.size() == 4);
  CHECK(index.pod_name(e.front().pod) == "pod-2");
  CHECK(index.pod_name(e.back().pod) == "pod-5");
}

TEST_CASE("speculative entries count until they expire", "[kv_index]") {
  kv_block_index index;
  auto tokens = random_tokens(32, 18);
  auto keys = index.block_keys().keys(tokens, "m");
  uint32_t pod = index.intern("pod-a");
  index.add_speculative(keys, pod, 5 * second);
  CHECK(lookup(index, tokens)["pod-a"].first == 2);
  CHECK(index.entries(keys[0])[0].speculative);
  index.expire(4 * second);
  CHECK(lookup(index, tokens)["pod-a"].first == 2);
  index.expire(5 * second);
  CHECK(lookup(index, tokens).empty());
}

TEST_CASE("the index stays within max_keys", "[kv_index]") {
  kv_index_settings s;
  s.max_keys = 100;
  kv_block_index index(s);
  for (uint64_t i = 0; i < 50; ++i)
    index.apply("pod-a", "m", batch_of({stored(random_tokens(64, 100 + i), i * 10, std::nullopt)}));
  CHECK(index.size() <= 100);
  CHECK(index.engine_key_count() <= 100);
  CHECK(index.size() > 50);
}

TEST_CASE("the lookup computes keys only a few blocks past the first miss", "[kv_index]") {
  kv_block_index index;
  auto tokens = random_tokens(160, 19);  // 10 blocks
  index.apply("pod-a", "m",
              batch_of({stored(std::vector<uint32_t>(tokens.begin(), tokens.begin() + 48), 1,
                               std::nullopt)}));
  block_key_cursor cursor;
  cursor.reset(&index.block_keys(), tokens, "m");
  std::vector<kv_pod_match> matches;
  index.longest_prefix(
      cursor.total(), [&](size_t i) { return cursor.at(i); }, [](uint32_t) { return true; },
      matches);
  REQUIRE(matches.size() == 1);
  CHECK(matches[0].blocks == 3);
  // Three hits, the miss, and at most the lookahead's six keys past the last hit.
  CHECK(cursor.computed() <= 3 + 6);
  CHECK(cursor.computed() < cursor.total());
  CHECK(cursor.all().size() == 10);
}

TEST_CASE("with the key memo, the lookup hashes no block past the first miss", "[kv_index][memo]") {
  kv_block_index index;
  auto tokens = random_tokens(160, 19);  // 10 blocks; the pod holds the first 3
  index.apply("pod-a", "m",
              batch_of({stored(std::vector<uint32_t>(tokens.begin(), tokens.begin() + 48), 1,
                               std::nullopt)}));
  REQUIRE(index.key_memo() != nullptr);
  auto misses = index.key_memo()->misses();
  block_key_cursor cursor;
  cursor.reset(&index.block_keys(), tokens, "m", block_key_cursor::unlimited, index.key_memo());
  std::vector<kv_pod_match> matches;
  index.longest_prefix(
      cursor.total(), [&](size_t i) { return cursor.at(i); },
      [&](size_t i, uint64_t& key) { return cursor.try_at(i, key); }, [](uint32_t) { return true; },
      matches);
  REQUIRE(matches.size() == 1);
  CHECK(matches[0].blocks == 3);
  // The three stored blocks come from the memo; block 3, which no pod holds, is the one block
  // hashed (the lookahead hashed up to five more).
  CHECK(cursor.computed() == 4);
  CHECK(index.key_memo()->misses() == misses + 1);
  // The same keys as without the memo.
  auto all = cursor.all();
  auto plain = index.block_keys().keys(tokens, "m");
  CHECK(std::vector<uint64_t>(all.begin(), all.end()) == plain);
}

TEST_CASE("the key memo gives exactly kv_block_keys' keys, through hits and evictions",
          "[kv_index][memo]") {
  rt::kv_block_keys keys(16, "seed");
  std::vector<std::vector<uint32_t>> prompts;
  for (uint64_t i = 0; i < 6; ++i)
    prompts.push_back(concat(random_tokens(48, 500 + i % 3), random_tokens(32, 600 + i)));
  for (size_t capacity : {size_t{8}, size_t{64}}) {  // constant eviction, then mostly hits
    block_key_memo memo(16, capacity);
    for (int round = 0; round < 3; ++round) {
      for (const auto& p : prompts) {
        block_key_cursor cursor;
        cursor.reset(&keys, p, "m", block_key_cursor::unlimited, &memo);
        auto got = cursor.all();
        auto want = keys.keys(p, "m");
        REQUIRE(std::vector<uint64_t>(got.begin(), got.end()) == want);
      }
    }
    CHECK(memo.misses() > 0);
    if (capacity == 64) CHECK(memo.hits() > memo.misses());
  }
  block_key_memo memo(16, 8);
  // The same block under another parent is another key (no false hit).
  auto block = random_tokens(16, 9);
  CHECK(memo.key(keys, 1, block) == keys.block_key(1, block));
  CHECK(memo.key(keys, 2, block) == keys.block_key(2, block));
  CHECK(memo.key(keys, 1, block) == keys.block_key(1, block));
}

TEST_CASE("the key memo keeps a prefix every prompt shares while one-off blocks flood it",
          "[kv_index][memo]") {
  rt::kv_block_keys keys(16, "seed");
  block_key_memo memo(16, 64);
  auto shared = random_tokens(8 * 16, 700);  // 8 blocks, like a system prompt
  auto key_prompt = [&](const std::vector<uint32_t>& p) {
    block_key_cursor cursor;
    cursor.reset(&keys, p, "m", block_key_cursor::unlimited, &memo);
    auto got = cursor.all();
    REQUIRE(std::vector<uint64_t>(got.begin(), got.end()) == keys.keys(p, "m"));
  };
  key_prompt(shared);
  // Each prompt: the shared prefix, then 16 blocks nobody asks for again. Four prompts push
  // 64 one-off blocks through a memo of 64: a ring would have dropped the shared ones.
  for (uint64_t i = 0; i < 20; ++i) {
    auto misses = memo.misses();
    key_prompt(concat(shared, random_tokens(16 * 16, 800 + i)));
    CHECK(memo.misses() - misses == 16);  // the shared 8 blocks hit, every time
  }
}

TEST_CASE("the key memo records a prefix's fingerprint for blocks asked for again, not misses",
          "[kv_index][memo]") {
  rt::kv_block_keys keys(16, "seed");
  block_key_memo memo(16, 64);
  auto prompt = random_tokens(4 * 16, 900);
  auto key_prompt = [&] {
    block_key_cursor cursor;
    cursor.reset(&keys, prompt, "m", block_key_cursor::unlimited, &memo);
    auto got = cursor.all();
    REQUIRE(std::vector<uint64_t>(got.begin(), got.end()) == keys.keys(prompt, "m"));
  };
  key_prompt();
  CHECK(memo.misses() == 4);
  CHECK(memo.prefix_entries() == 0);  // a first sighting is a miss: nothing to record yet
  key_prompt();
  CHECK(memo.misses() == 4);
  CHECK(memo.prefix_entries() == 4);  // found by parent and tokens, recorded by prefix now
  auto hits = memo.hits();
  key_prompt();
  CHECK(memo.hits() - hits == 4);
  CHECK(memo.misses() == 4);
}

TEST_CASE("speculative indexing: the picked pod counts until its events arrive or the TTL ends",
          "[kv_index][memo]") {
  auto p = build(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: precise-prefix-cache-scorer
  parameters: {speculativeIndexing: true, speculativeTTL: 2s}
- type: max-score-picker
)");
  for (auto name : {"a", "b", "c", "d"})
    p->add_endpoint(endpoint_info{name, "", {}});
  auto tokens = random_tokens(160, 30);
  pick_request req;
  req.model = "m";
  req.tokens = tokens;
  req.request_id = "r1";
  auto first = p->schedule(req, 0);
  REQUIRE(first.ok());
  p->pre_request(req, first, 0);
  // Within the TTL the same prompt follows the first pick, before any KV event arrived.
  for (int i = 0; i < 10; ++i)
    CHECK(p->schedule(req, second).primary().name == first.primary().name);
  // After the TTL the speculation is gone: the picks spread again.
  std::set<std::string> later;
  for (int i = 0; i < 40; ++i)
    later.insert(p->schedule(req, 3 * second).primary().name);
  CHECK(later.size() > 1);
}
