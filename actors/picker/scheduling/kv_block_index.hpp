// The precise prefix index: which pod holds which KV block, built from the pods' KV events the
// way llm-d-router HEAD builds it (pkg/kvevents/pool.go, pkg/kvcache/kvblock/in_memory.go).
//
// - BlockStored: the index keys ("request keys") are recomputed from the event's token_ids with
//   llm-d's chunked token database (runtime::kv_block_keys, our block size and hash seed); the
//   model is the topic's model, or lora_name when set. The parent request key comes from the
//   parent engine key through the engine->request map; an unknown parent skips the event (as
//   llm-d does), "no parent" starts at the model's root. Engine->request mappings are recorded.
//   An event without tokens (a tier move) resolves its engine keys and adds the tier.
// - BlockRemoved: evicts (pod, tier) from the request keys of each engine key; duplicate stores
//   are reference-counted so a remove only evicts the last announcement (llm-d's dedup filter).
// - AllBlocksCleared: drops every entry of the pod.
// - Tier = medium lower-cased (default "gpu"); scoring weights gpu 1.0, cpu 0.8, others 1.0.
// - Score: longest consecutive prefix of the request's keys per pod, summing the pod's best
//   tier weight per block.
//
// Memory: request keys live in one open-addressing table (24-byte slots, three pod entries
// inline, more in an overflow table); engine keys in a second (16-byte slots). Both are bounded
// by `max_keys`; past it, entries are evicted by a clock sweep (second chance for keys that
// lookups touched), which approximates llm-d's LRU without a linked list per key.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "actors/picker/scheduling/block_key_memo.hpp"
#include "actors/picker/scheduling/flat_map.hpp"
#include "runtime/kv_block_keys.hpp"
#include "runtime/kv_events.hpp"

namespace inferstack::actors::picker {

struct kv_index_settings {
  size_t block_size = 16;         ///< tokenProcessorConfig.blockSize (llm-d default 16)
  std::string hash_seed;          ///< tokenProcessorConfig.hashSeed (vLLM's PYTHONHASHSEED)
  size_t max_keys = 100'000'000;  ///< kvBlockIndexConfig.inMemoryConfig.size
  size_t pod_cache_size = 10;     ///< inMemoryConfig.podCacheSize: pod entries per key (<= 64)
  /// indexerConfig.backendConfigs: scoring weight per tier (unlisted tiers weigh 1.0).
  std::vector<std::pair<std::string, double>> tier_weights{{"gpu", 1.0}, {"cpu", 0.8}};
  /// Tokens of distinct block content whose keys are memoised (0: no memo).
  size_t key_memo_tokens = 1 << 20;
};

struct kv_apply_stats {
  size_t stored_events = 0;
  size_t stored_blocks = 0;   ///< request keys added or refreshed
  size_t skipped_events = 0;  ///< BlockStored with an unknown parent (or nothing to key)
  size_t removed_blocks = 0;  ///< engine keys evicted (after dedup)
  size_t cleared = 0;         ///< AllBlocksCleared events
};

/// One pod's entry under a request key.
struct kv_pod_entry {
  uint32_t pod = 0;  ///< index ordinal
  std::string tier;
  bool speculative = false;
  bool operator==(const kv_pod_entry&) const = default;
};

/// Result of a longest-prefix lookup for one pod.
struct kv_pod_match {
  uint32_t pod = 0;     ///< index ordinal
  uint32_t blocks = 0;  ///< consecutive blocks from block 0
  double weighted = 0;  ///< sum of the pod's best tier weight over those blocks
};

class kv_block_index {
 public:
  explicit kv_block_index(kv_index_settings settings = {});

  const kv_index_settings& settings() const { return settings_; }
  const runtime::kv_block_keys& block_keys() const { return keys_; }
  /// The key memo shared by event application and lookups (null when disabled).
  block_key_memo* key_memo() { return memo_.get(); }

  // -- pods -------------------------------------------------------------------------------------
  /// The ordinal of a pod identifier (pod name or address), created on first use.
  uint32_t intern(std::string_view pod);
  std::optional<uint32_t> find_pod(std::string_view pod) const;
  /// Makes `alias` another identifier of `ordinal` (a pod known by name and by address).
  /// Returns false when `alias` already names a different pod.
  bool bind(std::string_view alias, uint32_t ordinal);
  const std::string& pod_name(uint32_t ordinal) const { return pod_names_[ordinal]; }
  size_t pod_count() const { return pod_names_.size(); }

  // -- events -----------------------------------------------------------------------------------
  kv_apply_stats apply(std::string_view pod, std::string_view model,
                       const runtime::event_batch& batch);
  kv_apply_stats apply(uint32_t pod, std::string_view model, const runtime::kv_event& event);
  /// Drops every entry of the pod (AllBlocksCleared, or a sequence gap with no replay).
  void clear_pod(uint32_t pod);
  void clear_pod(std::string_view pod);

  // -- speculative entries (llm-d speculativeIndexing) ------------------------------------------
  /// Adds `pod` under `keys` as a speculative entry that expires at `expires_ns`.
  void add_speculative(std::span<const uint64_t> keys, uint32_t pod, int64_t expires_ns);
  /// Evicts speculative entries whose time has come.
  void expire(int64_t now_ns);

  // -- lookup -----------------------------------------------------------------------------------
  /// Longest consecutive prefix per pod. `key_at(i)` yields block i's key (computed lazily, so
  /// keys past the last matching block are never computed); `allowed(ordinal)` restricts the
  /// pods considered (llm-d's candidate filter). Appends one match per pod with blocks > 0.
  template <class KeyAt, class Allowed>
  void longest_prefix(size_t n_keys, KeyAt&& key_at, Allowed&& allowed,
                      std::vector<kv_pod_match>& out) {
    longest_prefix(
        n_keys, key_at,
        [&](size_t i, uint64_t& key) {
          key = key_at(i);
          return true;
        },
        allowed, out);
  }
  /// The same, where `known_at(i, key)` gives block i's key when it is cheap to have (false:
  /// not before the walk needs it): keys ahead of the walk come from it, so a key that only
  /// hashing would give is computed when its block is reached, never past the last match.
  /// Block i is asked for once every block before it is known.
  template <class KeyAt, class KnownAt, class Allowed>
  void longest_prefix(size_t n_keys, KeyAt&& key_at, KnownAt&& known_at, Allowed&& allowed,
                      std::vector<kv_pod_match>& out);

  // -- introspection (metrics and tests) ----------------------------------------------------------
  size_t size() const { return requests_.size(); }  ///< request keys (prefix_indexer_size)
  size_t engine_key_count() const { return engine_.size(); }
  size_t memory_bytes() const;
  std::optional<uint64_t> request_key(uint64_t engine_key) const;
  std::vector<kv_pod_entry> entries(uint64_t request_key) const;
  double tier_weight(std::string_view tier) const;

 private:
  // Entry bits: pod ordinal (20), tier index (10), speculative (1).
  static constexpr uint32_t pod_bits = 20, tier_bits = 10;
  static constexpr uint32_t pod_mask = (1u << pod_bits) - 1;
  static constexpr uint32_t spec_bit = 1u << (pod_bits + tier_bits);
  static uint32_t encode(uint32_t pod, uint32_t tier, bool spec) {
    return pod | (tier << pod_bits) | (spec ? spec_bit : 0);
  }
  static uint32_t entry_pod(uint32_t e) { return e & pod_mask; }
  static uint32_t entry_tier(uint32_t e) { return (e >> pod_bits) & ((1u << tier_bits) - 1); }

  struct pod_list {
    uint32_t inline_[3];  // entries when n <= 3; else inline_[0] is the spill_ slot of all n
    uint16_t n;
    uint8_t touched;  // clock second chance
    uint8_t pad;
  };
  static constexpr size_t max_pod_cache = 64;

  uint32_t tier_index(std::string_view tier);
  const uint32_t* spilled(uint32_t slot) const { return spill_.data() + size_t{slot} * chunk_; }
  std::span<const uint32_t> view(const pod_list& list) const {
    return list.n <= 3 ? std::span<const uint32_t>(list.inline_, list.n)
                       : std::span<const uint32_t>(spilled(list.inline_[0]), list.n);
  }
  size_t load(const pod_list& list, uint32_t* out) const;
  void store(pod_list& list, const uint32_t* entries, size_t n);
  void release(pod_list& list);
  void add_entries(uint64_t request_key, const uint32_t* records, size_t n);
  bool remove_entry(uint64_t request_key, uint32_t record);  // true when the key became empty
  void set_engine(uint64_t engine_key, const uint64_t* request_keys, size_t n);
  void evict_engine_key(uint64_t engine_key, uint32_t record);
  void enforce_capacity();
  void drop_request_key_at(size_t slot);

  std::vector<uint64_t> request_keys(std::span<const uint32_t> tokens, std::string_view model,
                                     uint64_t parent);

  kv_index_settings settings_;
  runtime::kv_block_keys keys_;
  std::unique_ptr<block_key_memo> memo_;

  flat_map64<pod_list> requests_;
  // Entry lists of keys held more than 3 times: fixed chunks of pod_cache_size entries in one
  // pool, so a lookup reaches them with one (prefetchable) load.
  huge_page_vector<uint32_t> spill_;
  std::vector<uint32_t> spill_free_;
  size_t chunk_ = 0;
  flat_map64<uint64_t> engine_;  // engine key -> last request key
  std::unordered_map<uint64_t, std::vector<uint64_t>> engine_multi_;  // 1:many mappings
  size_t request_hand_ = 0, engine_hand_ = 0;

  std::vector<std::string> pod_names_;
  std::unordered_map<std::string, uint32_t> pod_ids_;
  std::vector<std::string> tiers_;
  std::vector<double> tier_weights_;
  uint32_t gpu_tier_ = 0;

  // Dedup of duplicate announcements: (pod, tier) -> engine key -> outstanding stores.
  std::unordered_map<uint64_t, flat_map64<uint32_t>> refs_;

  struct speculation {
    int64_t expires_ns;
    uint32_t pod;
    std::vector<uint64_t> keys;
  };
  std::vector<speculation> speculative_;  // a min-heap on expires_ns

  // Lookup scratch, indexed by pod ordinal.
  std::vector<uint32_t> lp_stamp_, lp_blocks_;
  std::vector<double> lp_weight_, lp_last_;
  std::vector<uint32_t> lp_active_;
  uint32_t lp_cycle_ = 0;
};

template <class KeyAt, class KnownAt, class Allowed>
void kv_block_index::longest_prefix(size_t n_keys, KeyAt&& key_at, KnownAt&& known_at,
                                    Allowed&& allowed, std::vector<kv_pod_match>& out) {
  // One pass over each block's entries: a pod is in the chain while it was credited for every
  // block so far (lp_blocks_ == i); its block credit is its best tier's weight.
  size_t pods = pod_names_.size();
  if (lp_stamp_.size() < pods) {
    lp_stamp_.resize(pods, 0);
    lp_blocks_.resize(pods, 0);
    lp_weight_.resize(pods, 0);
    lp_last_.resize(pods, 0);
  }
  if (++lp_cycle_ == 0) {
    std::fill(lp_stamp_.begin(), lp_stamp_.end(), 0);
    lp_cycle_ = 1;
  }
  lp_active_.clear();
  if (n_keys == 0) return;
  // Pipelined: keys are taken `depth` blocks ahead and their slots prefetched (6: at 1,000
  // pods 4 left probes waiting on memory and 8 measured slower); two blocks ahead, the slot is
  // read (by then in cache) and its entry chunk prefetched. Memory latency overlaps with hashing.
  // Ahead of the walk, only keys known_at has cheaply: a key only hashing gives (a block the
  // memo never saw, such as a new prompt's tail) waits until the walk reaches its block, so none
  // is hashed past the last match (6 were, ~0.1 us each and a memo insert).
  constexpr size_t depth = 6;
  uint64_t ring[depth];
  size_t computed = 0;
  // Keys up to `limit` (exclusive): those up to block `must` in any case, the later ones while
  // known_at has them.
  size_t unknown = SIZE_MAX;  // the block known_at last had no key for (not asked again)
  auto ahead_to = [&](size_t limit, size_t must) {
    while (computed < limit) {
      uint64_t k;
      if (computed <= must) {
        k = key_at(computed);
      } else if (computed == unknown || !known_at(computed, k)) {
        unknown = computed;
        break;
      }
      ring[computed % depth] = k;
      requests_.prefetch(k);
      ++computed;
    }
  };
  ahead_to(std::min(depth, n_keys), 0);
  for (size_t i = 0; i < n_keys; ++i) {
    if (computed <= i) ahead_to(std::min(n_keys, i + depth), i);
    if (i + 2 < computed) {
      if (const pod_list* ahead = requests_.find(ring[(i + 2) % depth]); ahead && ahead->n > 3)
        __builtin_prefetch(spilled(ahead->inline_[0]));
    }
    pod_list* list = requests_.find(ring[i % depth]);
    if (!list) break;
    list->touched = 1;
    ahead_to(std::min(n_keys, i + 1 + depth), i);  // (block i's slot is free from here)
    size_t extended = 0;
    for (uint32_t e : view(*list)) {
      uint32_t pod = entry_pod(e);
      if (i == 0) {
        if (!allowed(pod)) continue;
        if (lp_stamp_[pod] != lp_cycle_) {
          lp_stamp_[pod] = lp_cycle_;
          lp_blocks_[pod] = 0;
          lp_weight_[pod] = 0;
          lp_active_.push_back(pod);
        }
      } else if (lp_stamp_[pod] != lp_cycle_) {
        continue;  // not in the chain (or not allowed)
      }
      double w = tier_weights_[entry_tier(e)];
      if (lp_blocks_[pod] == i) {
        lp_blocks_[pod] = static_cast<uint32_t>(i + 1);
        lp_weight_[pod] += w;
        lp_last_[pod] = w;
        ++extended;
      } else if (lp_blocks_[pod] == i + 1 && w > lp_last_[pod]) {
        lp_weight_[pod] += w - lp_last_[pod];  // a better tier for the same block
        lp_last_[pod] = w;
      }
    }
    if (extended == 0) break;
  }
  for (uint32_t pod : lp_active_)
    if (lp_blocks_[pod] > 0) out.push_back(kv_pod_match{pod, lp_blocks_[pod], lp_weight_[pod]});
}

}  // namespace inferstack::actors::picker
