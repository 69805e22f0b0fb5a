// The paged KV cache of a vLLM V1 engine, metadata only: which GPU blocks hold which tokens.
//
// Semantics follow vLLM V1's BlockPool / KVCacheManager:
//  - a request's KV lives in fixed-size blocks; blocks are refcounted and shared between requests
//    through prefix caching: a *full* block is registered under its key (llm-d's block key chain,
//    the model or LoRA adapter name mixed into the root), prompt and decode blocks alike;
//  - free blocks (refcount 0) wait in a queue; a new block comes from the queue's front, and if
//    it was cached it is evicted then (LRU: least recently freed first). A request's blocks are
//    freed tail-first, so its prefix stays cached longest;
//  - prefix hits never cover the whole prompt: at least the last token is computed again.
// Every block that becomes cached yields a BlockStored event (one per allocation call and run of
// consecutive blocks), every eviction of a cached block a BlockRemoved, clear() an
// AllBlocksCleared. A key is stored at most once at a time: a block whose key is already cached by
// another block stays uncached and unreported, so removal is never reported for a key that was
// not reported stored (vLLM would report the duplicate; llm-d's index would then drop a key that
// is still cached). One consequence: after such a duplicate, a later block of the same request
// may name as parent a key whose block has been evicted meanwhile (llm-d then skips the store).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/kv_block_keys.hpp"
#include "runtime/kv_events.hpp"

namespace inferstack::actors::pod::engine {

struct kv_cache_config {
  uint32_t num_gpu_blocks = 8192;
  uint32_t block_size = 16;
  std::string hash_seed;  ///< llm-d's hashSeed (PYTHONHASHSEED); must match the pickers'
  bool enable_prefix_caching = true;
  bool enable_events = true;  ///< off: no event objects are built (benchmarks)
};

/// A run of cached blocks matching the start of a token sequence.
struct prefix_match {
  std::vector<uint32_t> blocks;  ///< block ids, in order
  uint64_t last_key = 0;         ///< key of the last matched block (the chain root when none)

  uint32_t num_blocks() const { return static_cast<uint32_t>(blocks.size()); }
};

/// Who a request's blocks belong to, for keys and events.
struct kv_request_meta {
  std::string_view hash_model;     ///< mixed into the key chain: the LoRA adapter, else the model
  std::optional<int64_t> lora_id;  ///< reported in events
  std::string_view lora_name;      ///< reported in events; empty: none
  bool count_prefix_stats = true;  ///< count this allocation in the prefix query/hit counters
};

class kv_cache {
 public:
  explicit kv_cache(kv_cache_config config);

  const kv_cache_config& config() const { return config_; }
  uint32_t block_size() const { return config_.block_size; }
  uint32_t num_blocks() const { return config_.num_gpu_blocks; }
  /// Blocks with refcount 0 (cached or not): what allocation can draw on.
  uint32_t num_free_blocks() const { return num_free_; }
  uint32_t num_used_blocks() const { return config_.num_gpu_blocks - num_free_; }
  /// Blocks registered under a key (referenced or not).
  uint32_t num_cached_blocks() const { return static_cast<uint32_t>(cached_.size()); }
  /// Referenced blocks / all blocks (vLLM's kv_cache_usage_perc, as a fraction).
  double usage() const;
  /// Blocks needed to hold `num_tokens` token slots.
  uint32_t blocks_for(uint64_t num_tokens) const;

  /// Leading full blocks of `tokens` that are cached for `model` (never all of `tokens`: at most
  /// (tokens.size() - 1) / block_size blocks). Empty when prefix caching is off. No side effects.
  prefix_match find_cached_prefix(std::span<const uint32_t> tokens, std::string_view model) const;

  /// Starts request `seq`: takes the `prefix` blocks (found by find_cached_prefix for these
  /// tokens, nothing changed since; looked up here when null) and allocates blocks so that
  /// `num_slots` token slots exist (num_slots >= the prefix's tokens). `tokens` are the request's
  /// known token ids; full blocks among the first min(num_slots, tokens.size()) become cached.
  /// Returns false, changing nothing, when there are not enough free blocks or `seq` exists.
  bool allocate(uint64_t seq, std::span<const uint32_t> tokens, uint32_t num_slots,
                const kv_request_meta& meta, const prefix_match* prefix = nullptr);

  /// Grows request `seq` to `num_slots` token slots (no-op if it has them) and caches its newly
  /// full blocks (`tokens`: all its known token ids). Returns false, changing nothing, when
  /// there are not enough free blocks.
  bool append_slots(uint64_t seq, std::span<const uint32_t> tokens, uint32_t num_slots);

  /// Releases request `seq`'s blocks, tail first. Cached blocks stay cached until evicted.
  void free(uint64_t seq);

  bool has_request(uint64_t seq) const { return requests_.count(seq) != 0; }
  /// The request's block ids (empty if unknown).
  std::span<const uint32_t> block_table(uint64_t seq) const;

  /// Forgets every cached key (vLLM's reset_prefix_cache). Only possible when no block is in
  /// use; returns false otherwise. Emits AllBlocksCleared.
  bool clear();

  /// vLLM's sleep mode (llm-d-inference-sim discards its cache so): every cached key is
  /// forgotten, blocks in use included (they stay allocated to their requests), AllBlocksCleared
  /// is emitted, and until wake() nothing is cached nor found -- no prefix hits, no BlockStored.
  void sleep();
  void wake() { asleep_ = false; }
  bool asleep() const { return asleep_; }

  bool is_cached(uint64_t key) const { return cached_.count(key) != 0; }
  uint32_t ref_count(uint32_t block) const { return blocks_.at(block).ref; }

  /// Prefix-cache counters in tokens (vllm:prefix_cache_queries / _hits).
  uint64_t prefix_queries() const { return prefix_queries_; }
  uint64_t prefix_hits() const { return prefix_hits_; }

  /// Events since the last drain, in the order they happened.
  std::vector<runtime::kv_event> drain_events();
  bool has_events() const { return !events_.empty(); }

  const runtime::kv_block_keys& keys() const { return keys_; }

 private:
  static constexpr uint32_t none = UINT32_MAX;

  struct block {
    uint32_t ref = 0;
    uint32_t prev = none;  ///< free-queue links
    uint32_t next = none;
    bool in_free = false;
    bool cached = false;
    uint64_t key = 0;
  };

  struct request {
    std::vector<uint32_t> blocks;
    uint32_t num_hashed = 0;  ///< leading full blocks already keyed
    uint64_t last_key = 0;    ///< key of block num_hashed-1, or the root
    std::optional<int64_t> lora_id;
    uint32_t lora_name = 0;  ///< index into names_ (0: none)
  };

  void push_free_back(uint32_t b);
  void remove_free(uint32_t b);
  uint32_t pop_free_front(std::vector<uint64_t>& evicted);
  void take_blocks(request& r, uint32_t n);
  void cache_full_blocks(request& r, std::span<const uint32_t> tokens, uint32_t num_slots);
  uint32_t intern(std::string_view name);

  kv_cache_config config_;
  runtime::kv_block_keys keys_;
  std::vector<block> blocks_;
  uint32_t free_head_ = none;
  uint32_t free_tail_ = none;
  uint32_t num_free_ = 0;
  std::unordered_map<uint64_t, uint32_t> cached_;  ///< key -> block
  std::unordered_map<uint64_t, request> requests_;
  std::vector<std::string> names_;  ///< LoRA names for events; [0] is ""
  std::map<std::string, uint32_t, std::less<>> name_index_;
  std::vector<runtime::kv_event> events_;
  std::vector<uint64_t> evicted_scratch_;
  uint64_t prefix_queries_ = 0;
  uint64_t prefix_hits_ = 0;
  bool asleep_ = false;
};

}  // namespace inferstack::actors::pod::engine
