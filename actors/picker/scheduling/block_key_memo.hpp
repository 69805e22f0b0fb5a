// A memo of block keys: (parent key, block tokens) -> key. llm-d's key chain costs ~1.1 ns per
// CBOR byte and cannot be parallelised (each block hashes its parent first), so a 4k-token
// prompt costs ~25 us to key. Prefix-heavy traffic repeats the same blocks (system prompts,
// conversation history): a hit costs a fast multi-lane hash of the tokens, one probe and a
// comparison of parent and tokens. Exact: a hit is only taken when parent and tokens are equal
// to what was hashed before, so keys are the ones kv_block_keys computes.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "actors/picker/scheduling/flat_map.hpp"
#include "runtime/kv_block_keys.hpp"

namespace inferstack::actors::picker {

class block_key_memo {
 public:
  /// `capacity` blocks of `block_size` tokens are remembered (past it, a clock sweep evicts).
  block_key_memo(size_t block_size, size_t capacity)
      : block_size_(block_size), capacity_(capacity > 0 ? capacity : 1) {
    parents_.resize(capacity_);
    fingerprints_.resize(capacity_, 0);
    referenced_.resize(capacity_, 0);
    prefix_fps_.resize(capacity_, 0);
    tokens_.resize(capacity_ * block_size_);
  }

  uint64_t key(const runtime::kv_block_keys& keys, uint64_t parent,
               std::span<const uint32_t> block) {
    uint32_t slot;
    return key(keys, parent, block, slot);
  }

  /// The key of `block` under `parent`; `slot` says where the memo keeps it.
  uint64_t key(const runtime::kv_block_keys& keys, uint64_t parent, std::span<const uint32_t> block,
               uint32_t& slot) {
    bool computed;
    return key(keys, parent, block, slot, computed);
  }

  /// A fingerprint of a whole prompt prefix, chained from the previous block's (`chain`; the
  /// model's root key for block 0) and this block's tokens. It needs no key, so a prompt's
  /// fingerprints can be computed ahead of its keys.
  uint64_t prefix_fingerprint(uint64_t chain, std::span<const uint32_t> block) const {
    return fingerprint(chain ^ 0x2545f4914f6cdd1dull, block);
  }
  void prefetch_prefix(uint64_t prefix_fp) const { by_prefix_.prefetch(prefix_fp); }
  /// Once the prefix's probe is in cache (prefetch_prefix some blocks earlier): starts loading
  /// what key_of_prefix compares for it, the entry's parent and tokens (random lines of
  /// megabytes of arrays, which the comparison otherwise waited for block after block).
  void prefetch_entry(uint64_t prefix_fp) const {
    const entry* e = by_prefix_.find(prefix_fp);
    if (!e) return;
    __builtin_prefetch(&parents_[e->slot]);
    const char* t = reinterpret_cast<const char*>(&tokens_[size_t{e->slot} * block_size_]);
    for (size_t b = 0; b < block_size_ * sizeof(uint32_t); b += 64)
      __builtin_prefetch(t + b);
  }
  /// Prefix fingerprints recorded (blocks keyed from the root that were asked for twice).
  size_t prefix_entries() const { return by_prefix_.size(); }

  /// key() for a block reached from the model's root: looked up by the prefix's fingerprint
  /// first. key() probes with a fingerprint of the parent key, which the previous block's probe
  /// yields, so a prompt's probes wait for each other (one memory latency per block); these
  /// probes do not, and the processor overlaps them. Exact: the entry counts only when its slot
  /// still holds this parent and these tokens. A block keyed for the first time (a miss) gets no
  /// prefix entry: most such blocks (a new prompt's tail) are never asked for again, and
  /// recording them cost a random insert and a later erase each; a block asked for again is
  /// found by key() and recorded then.
  uint64_t key_of_prefix(const runtime::kv_block_keys& keys, uint64_t prefix_fp, uint64_t parent,
                         std::span<const uint32_t> block) {
    uint64_t k, fp;
    if (find_of_prefix(prefix_fp, parent, block, k, fp)) return k;
    ++misses_;
    k = keys.block_key(parent, block);
    remember(fp, parent, block, k);
    return k;
  }

  /// key_of_prefix() when the memo holds the block (by the prefix's fingerprint, or by its
  /// parent's); false, with nothing computed or recorded, when only hashing the block would say.
  bool find_of_prefix(uint64_t prefix_fp, uint64_t parent, std::span<const uint32_t> block,
                      uint64_t& key) {
    uint64_t fp;
    return find_of_prefix(prefix_fp, parent, block, key, fp);
  }

  size_t block_size() const { return block_size_; }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  size_t memory_bytes() const {
    return index_.memory_bytes() + by_prefix_.memory_bytes() +
           capacity_ * (25 + block_size_ * sizeof(uint32_t));
  }

 private:
  uint64_t key(const runtime::kv_block_keys& keys, uint64_t parent, std::span<const uint32_t> block,
               uint32_t& slot, bool& computed) {
    uint64_t fp = fingerprint(parent, block);
    if (const entry* e = index_.find(fp)) {
      if (holds(e->slot, parent, block)) {
        ++hits_;
        slot = e->slot;
        referenced_[slot] = 1;
        computed = false;
        return e->key;
      }
    }
    ++misses_;
    uint64_t k = keys.block_key(parent, block);
    slot = remember(fp, parent, block, k);
    computed = true;
    return k;
  }

  // `fp`: the block's fingerprint under its parent (where a miss is remembered).
  bool find_of_prefix(uint64_t prefix_fp, uint64_t parent, std::span<const uint32_t> block,
                      uint64_t& key, uint64_t& fp) {
    if (const entry* e = by_prefix_.find(prefix_fp)) {
      if (holds(e->slot, parent, block)) {
        ++hits_;
        referenced_[e->slot] = 1;
        key = e->key;
        return true;
      }
    }
    fp = fingerprint(parent, block);
    const entry* e = index_.find(fp);
    if (!e || !holds(e->slot, parent, block)) return false;
    ++hits_;
    uint32_t slot = e->slot;
    referenced_[slot] = 1;
    key = e->key;
    // Asked for again: recorded under the prefix's fingerprint too.
    if (uint64_t old = prefix_fps_[slot]; old != 0 && old != prefix_fp) {
      const entry* at = by_prefix_.find(old);
      if (at && at->slot == slot) by_prefix_.erase(old);
    }
    prefix_fps_[slot] = prefix_fp;
    by_prefix_.get_or_insert(prefix_fp) = entry{key, slot};
    return true;
  }

  // Four independent multiply lanes over 64-bit words of tokens: no long dependency chain.
  uint64_t fingerprint(uint64_t parent, std::span<const uint32_t> block) const {
    constexpr uint64_t k1 = 0x9e3779b97f4a7c15ull, k2 = 0xc2b2ae3d27d4eb4full;
    uint64_t lane[4] = {parent ^ k1, parent + k2, parent * k1, ~parent};
    size_t words = block.size() / 2;
    const uint32_t* t = block.data();
    for (size_t w = 0; w < words; ++w) {
      uint64_t v = (uint64_t{t[2 * w + 1]} << 32) | t[2 * w];
      uint64_t& l = lane[w & 3];
      l = (l ^ v) * k2;
      l ^= l >> 29;
    }
    if (block.size() & 1) lane[0] = (lane[0] ^ t[block.size() - 1]) * k1;
    uint64_t h = lane[0] ^ (lane[1] * k1) ^ (lane[2] * k2) ^ (lane[3] + k1);
    h ^= h >> 32;
    h *= k1;
    h ^= h >> 29;
    return h | 1;  // never 0 (flat_map64's empty marker works either way, but keep it cheap)
  }

  bool holds(uint32_t slot, uint64_t parent, std::span<const uint32_t> block) const {
    if (parents_[slot] != parent) return false;
    const uint32_t* kept = &tokens_[size_t{slot} * block_size_];
    // 16-token blocks (llm-d's and vLLM's default) compared inline, not by a call to memcmp.
    if (block_size_ == 16) return std::memcmp(kept, block.data(), 16 * sizeof(uint32_t)) == 0;
    return std::memcmp(kept, block.data(), block_size_ * sizeof(uint32_t)) == 0;
  }

  uint32_t remember(uint64_t fp, uint64_t parent, std::span<const uint32_t> block, uint64_t k) {
    // Clock: the hand passes over entries hit since it last came by (clearing their mark) and
    // takes the first one that was not. Blocks every prompt shares (system prompts) stay while
    // the one-off blocks of new prompts, never hit again, go first; a plain ring let those push
    // the shared ones out every capacity / (new blocks per prompt) prompts.
    uint32_t slot;
    for (;;) {
      slot = static_cast<uint32_t>(next_);
      next_ = (next_ + 1) % capacity_;
      if (!referenced_[slot]) break;
      referenced_[slot] = 0;
    }
    // The slot's old entry goes: drop its fingerprints where they still point at this slot.
    if (uint64_t old = fingerprints_[slot]) {
      const entry* at = index_.find(old);
      if (at && at->slot == slot) index_.erase(old);
    }
    if (uint64_t old = prefix_fps_[slot]) {
      const entry* at = by_prefix_.find(old);
      if (at && at->slot == slot) by_prefix_.erase(old);
      prefix_fps_[slot] = 0;
    }
    fingerprints_[slot] = fp;
    referenced_[slot] = 0;
    parents_[slot] = parent;
    std::memcpy(&tokens_[size_t{slot} * block_size_], block.data(), block_size_ * sizeof(uint32_t));
    index_.get_or_insert(fp) = entry{k, slot};
    return slot;
  }

  size_t block_size_, capacity_;
  size_t next_ = 0;
  struct entry {
    uint64_t key;   ///< the block's key
    uint32_t slot;  ///< where its parent and tokens are kept (for the exactness check)
  };
  huge_page_vector<uint64_t> parents_;
  std::vector<uint64_t> fingerprints_;
  std::vector<uint64_t> prefix_fps_;  ///< per slot: its by_prefix_ fingerprint (0: none)
  std::vector<uint8_t> referenced_;   ///< per slot: hit since the clock hand last passed
  huge_page_vector<uint32_t> tokens_;
  flat_map64<entry> index_;      ///< fingerprint(parent, tokens) -> entry
  flat_map64<entry> by_prefix_;  ///< prefix_fingerprint -> entry (blocks keyed from the root)
  uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace inferstack::actors::picker
