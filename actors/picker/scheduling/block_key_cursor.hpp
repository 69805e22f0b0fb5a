// Block keys of one prompt, computed on demand. A prefix lookup stops at the first block no pod
// holds, so keys past that point are never needed for the pick; pre_request (which records the
// whole prompt) continues from where the lookup stopped. The keys are llm-d's chained hash, so
// block i cannot be computed without block i-1: this is the dominant cost of a pick on long
// prompts (about 1.5 ns per CBOR byte, ~5 bytes per token).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "actors/picker/scheduling/block_key_memo.hpp"
#include "runtime/kv_block_keys.hpp"

namespace inferstack::actors::picker {

class block_key_cursor {
 public:
  block_key_cursor() = default;

  static constexpr size_t unlimited = SIZE_MAX;

  /// Starts a new prompt. `max_blocks` caps how many blocks are keyed; `memo` (same block
  /// size) remembers keys across prompts.
  void reset(const runtime::kv_block_keys* keys, std::span<const uint32_t> tokens,
             std::string_view model, size_t max_blocks = unlimited,
             block_key_memo* memo = nullptr) {
    keys_ = keys;
    memo_ = memo && keys && memo->block_size() == keys->block_size() ? memo : nullptr;
    tokens_ = tokens;
    model_ = model;
    computed_.clear();
    prefix_fps_.clear();
    size_t full = keys ? tokens.size() / keys->block_size() : 0;
    total_ = max_blocks < full ? max_blocks : full;
  }

  /// Points the cursor at another copy of the same prompt (keys already computed stay valid).
  void rebind(std::span<const uint32_t> tokens) { tokens_ = tokens; }

  /// Number of blocks the prompt has (full blocks, capped).
  size_t total() const { return total_; }
  size_t computed() const { return computed_.size(); }

  /// Key of block i (< total()), computing the chain up to it.
  uint64_t at(size_t i) {
    while (computed_.size() <= i) {
      size_t b = computed_.size();
      uint64_t parent = b == 0 ? keys_->root(model_) : computed_.back();
      size_t bs = keys_->block_size();
      auto block = tokens_.subspan(b * bs, bs);
      if (!memo_) {
        computed_.push_back(keys_->block_key(parent, block));
        continue;
      }
      // The memo is probed by the prefix's fingerprint, computed `ahead` blocks in advance and
      // its entry prefetched, so the probes of consecutive blocks overlap.
      if (b == 0) root_ = parent;
      fingerprints_ahead(std::min(total_, b + ahead + 1));
      if (b + entry_ahead < prefix_fps_.size()) memo_->prefetch_entry(prefix_fps_[b + entry_ahead]);
      computed_.push_back(memo_->key_of_prefix(*keys_, prefix_fps_[b], parent, block));
    }
    return computed_[i];
  }

  /// The key of block i (at most computed()) when it costs no hashing of the block: already
  /// computed, or in the memo. False otherwise (without a memo every key is hashed: then it is
  /// computed). Lookups ask ahead of the block they match with this, so the keys of blocks past
  /// the last match (a new prompt's tail, never seen) are not hashed for nothing.
  bool try_at(size_t i, uint64_t& key) {
    if (i < computed_.size()) {
      key = computed_[i];
      return true;
    }
    if (!memo_ || i != computed_.size()) {
      key = at(i);
      return true;
    }
    size_t bs = keys_->block_size();
    uint64_t parent = i == 0 ? keys_->root(model_) : computed_.back();
    if (i == 0) root_ = parent;
    fingerprints_ahead(std::min(total_, i + ahead + 1));
    if (i + entry_ahead < prefix_fps_.size()) memo_->prefetch_entry(prefix_fps_[i + entry_ahead]);
    if (!memo_->find_of_prefix(prefix_fps_[i], parent, tokens_.subspan(i * bs, bs), key))
      return false;
    computed_.push_back(key);
    return true;
  }

  /// All keys (computes the rest of the chain).
  std::span<const uint64_t> all() {
    if (total_ > 0) at(total_ - 1);
    return std::span<const uint64_t>(computed_.data(), total_);
  }

  const runtime::kv_block_keys* keys() const { return keys_; }

 private:
  // Fingerprints (and their probes' prefetches) run `ahead` blocks in front of the keys; once a
  // probe had time to arrive, `entry_ahead` blocks in front, its entry's parent and tokens are
  // prefetched for the exactness check.
  static constexpr size_t ahead = 8, entry_ahead = 4;

  void fingerprints_ahead(size_t end) {
    size_t bs = keys_->block_size();
    while (prefix_fps_.size() < end) {
      size_t b = prefix_fps_.size();
      uint64_t chain = b == 0 ? root_ : prefix_fps_.back();
      prefix_fps_.push_back(memo_->prefix_fingerprint(chain, tokens_.subspan(b * bs, bs)));
      memo_->prefetch_prefix(prefix_fps_.back());
    }
  }

  const runtime::kv_block_keys* keys_ = nullptr;
  block_key_memo* memo_ = nullptr;
  std::span<const uint32_t> tokens_;
  std::string model_;
  std::vector<uint64_t> computed_;
  std::vector<uint64_t> prefix_fps_;  ///< with a memo: per block, the prefix's fingerprint
  uint64_t root_ = 0;
  size_t total_ = 0;
};

}  // namespace inferstack::actors::picker
