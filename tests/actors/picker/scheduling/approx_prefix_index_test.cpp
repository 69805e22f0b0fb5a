// The approximate prefix index and its producer (llm-d approx-prefix-cache-producer).
#include <catch2/catch.hpp>

#include "actors/picker/scheduling/approx_prefix_index.hpp"
#include "actors/picker/scheduling/producers.hpp"
#include "tests/actors/picker/scheduling/picker_test_util.hpp"

using namespace picker_test;

TEST_CASE("approx index: per-pod LRU evicts the least recently added key", "[approx]") {
  approx_prefix_index index;
  std::vector<uint64_t> keys{11, 12, 13};
  index.add(keys, 0, 3);
  index.add(keys, 1, 10);
  CHECK(index.size() == 6);
  CHECK(index.pods(12).size() == 2);
  // Touch 11 again, then add 14: pod 0's oldest is now 12.
  std::vector<uint64_t> again{11}, more{14};
  index.add(again, 0, 3);
  index.add(more, 0, 3);
  CHECK(index.pod_size(0) == 3);
  auto holders12 = index.pods(12);
  CHECK(std::vector<uint32_t>(holders12.begin(), holders12.end()) == std::vector<uint32_t>{1});
  CHECK(index.pods(11).size() == 2);
  CHECK(index.pods(14).size() == 1);
}

TEST_CASE("approx index: many holders per key, and removing a pod", "[approx]") {
  approx_prefix_index index;
  std::vector<uint64_t> keys{1, 2};
  for (uint32_t pod = 0; pod < 8; ++pod)
    index.add(keys, pod, 100);
  CHECK(index.pods(1).size() == 8);
  index.remove_pod(3);
  index.remove_pod(0);
  auto holders = index.pods(2);
  CHECK(holders.size() == 6);
  CHECK(std::find(holders.begin(), holders.end(), 3u) == holders.end());
  CHECK(index.size() == 12);
  for (uint32_t pod : {1u, 2u, 4u, 5u, 6u, 7u})
    index.remove_pod(pod);
  CHECK(index.pods(1).empty());
  CHECK(index.keys() == 0);
}

TEST_CASE("approx producer: greedy walk counts holders until the first unknown block", "[approx]") {
  bench b;
  uint32_t a = b.add("a"), c = b.add("c"), d = b.add("d");
  approx_prefix_settings s;
  s.auto_tune = false;
  s.block_size_tokens = 64;
  approx_prefix_producer producer("approx", s);
  producer.producer_index = 0;
  b.prefix.resize(1);
  b.memo.cursors.resize(1);
  b.tokens = random_tokens(64 * 5, 1);
  rt::kv_block_keys keys(64);
  auto all = keys.keys(b.tokens, "m");
  // a holds blocks 0..2; c holds blocks 0 and 2 (a hole at 1: the approximation still counts
  // block 2); d holds only block 4, past the first unknown block.
  producer.index().add(std::span(all).subspan(0, 3), a, 100);
  producer.index().add(std::span(all).subspan(0, 1), c, 100);
  producer.index().add(std::span(all).subspan(2, 1), c, 100);
  producer.index().add(std::span(all).subspan(4, 1), d, 100);
  auto cyc = b.make();
  producer.produce(cyc);
  CHECK(b.prefix[0][a].match_blocks == 3);
  CHECK(b.prefix[0][c].match_blocks == 2);
  CHECK(b.prefix[0][d].match_blocks == 0);
  CHECK(b.prefix[0][a].total_blocks == 5);
  CHECK(b.prefix[0][a].block_size == 64);
  // Keys after the miss at block 3 were not computed.
  CHECK(b.memo.cursors[0].computed() == 4);
}

TEST_CASE("approx producer: block size floors to 64 and autotunes from the first endpoint",
          "[approx]") {
  bench b;
  load_report r;
  r.block_size = 128;
  b.add("a", {}, r);
  approx_prefix_settings s;
  s.block_size_tokens = 16;
  approx_prefix_producer producer("approx", s);
  CHECK(producer.block_size(b.pool, b.ids) == 128);
  s.auto_tune = false;
  approx_prefix_producer manual("approx", s);
  CHECK(manual.block_size(b.pool, b.ids) == 64);  // 16 floored
  // maxPrefixTokensToMatch wins and converts at the block size; below one block keys nothing.
  s.max_prefix_tokens = 1000;
  approx_prefix_producer capped("approx", s);
  CHECK(capped.max_blocks(64) == 15);
  s.max_prefix_tokens = 10;
  approx_prefix_producer tiny("approx", s);
  CHECK(tiny.max_blocks(64) == 0);
  s.max_prefix_tokens = 0;
  s.max_prefix_blocks = 0;
  approx_prefix_producer unlimited("approx", s);
  CHECK(unlimited.max_blocks(64) == block_key_cursor::unlimited);
}

TEST_CASE("approx producer: LRU capacity from num_gpu_blocks, else lruCapacityPerServer",
          "[approx]") {
  approx_prefix_settings s;
  s.lru_capacity_per_server = 500;
  approx_prefix_producer producer("approx", s);
  endpoint_state e;
  CHECK(producer.lru_capacity(e) == 500);
  e.load.num_gpu_blocks = 2000;
  CHECK(producer.lru_capacity(e) == 2000);
  s.auto_tune = false;
  approx_prefix_producer manual("approx", s);
  CHECK(manual.lru_capacity(e) == 500);
  approx_prefix_producer defaults("approx", approx_prefix_settings{});
  endpoint_state unknown;
  CHECK(defaults.lru_capacity(unknown) == 31250);
}

TEST_CASE("approx learning: pre_request records the whole prompt for the chosen pod", "[approx]") {
  auto picker = build(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: approx-prefix-cache-producer
  parameters: {autoTune: false, blockSizeTokens: 64}
- type: prefix-cache-scorer
- type: max-score-picker
)");
  for (auto name : {"a", "b", "c"})
    picker->add_endpoint(endpoint_info{name, std::string(name) + ":1", {}});
  auto tokens = random_tokens(64 * 8, 3);
  pick_request req;
  req.request_id = "r1";
  req.model = "m";
  req.tokens = tokens;
  auto first = picker->schedule(req, second);
  REQUIRE(first.ok());
  auto report = picker->pre_request(req, first, second);
  CHECK(report.prefix_observed);
  CHECK(report.hit_ratio == 0);
  // The same prompt now goes where the first went, with a full hit.
  req.request_id = "r2";
  auto second_pick = picker->schedule(req, 2 * second);
  REQUIRE(second_pick.ok());
  CHECK(second_pick.primary().name == first.primary().name);
  auto report2 = picker->pre_request(req, second_pick, 2 * second);
  CHECK(report2.hit_ratio == 1.0);
  CHECK(report2.hit_bytes == 64 * 8 * 4);
  CHECK(picker->metrics(2 * second).approx_prefix_entries == 8);
  // Removing the pod forgets what it learned.
  picker->remove_endpoint(first.primary().name);
  CHECK(picker->metrics(2 * second).approx_prefix_entries == 0);
}
