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
  /// `capacity` blocks of `block_size` tokens are remembered (a ring: the oldest go first).
  block_key_memo(size_t block_size, size_t capacity)
      : block_size_(block_size), capacity_(capacity > 0 ? capacity : 1) {
    parents_.resize(capacity_);
    keys_.resize(capacity_);
    fingerprints_.resize(capacity_, 0);
    tokens_.resize(capacity_ * block_size_);
  }

  uint64_t key(const runtime::kv_block_keys& keys, uint64_t parent,
               std::span<const uint32_t> block) {
    uint64_t fp = fingerprint(parent, block);
    if (const uint32_t* slot = index_.find(fp)) {
      if (parents_[*slot] == parent &&
          std::memcmp(&tokens_[size_t{*slot} * block_size_], block.data(),
                      block_size_ * sizeof(uint32_t)) == 0) {
        ++hits_;
        return keys_[*slot];
      }
    }
    ++misses_;
    uint64_t k = keys.block_key(parent, block);
    remember(fp, parent, block, k);
    return k;
  }

  void prefetch(uint64_t parent, std::span<const uint32_t> block) const {
    index_.prefetch(fingerprint(parent, block));
  }

  size_t block_size() const { return block_size_; }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  size_t memory_bytes() const {
    return index_.memory_bytes() + capacity_ * (24 + block_size_ * sizeof(uint32_t));
  }

 private:
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

  void remember(uint64_t fp, uint64_t parent, std::span<const uint32_t> block, uint64_t k) {
    uint32_t slot = static_cast<uint32_t>(next_);
    next_ = (next_ + 1) % capacity_;
    // The ring overwrites its oldest entry: drop that entry's fingerprint if it still owns it.
    if (uint64_t old = fingerprints_[slot]) {
      const uint32_t* at = index_.find(old);
      if (at && *at == slot) index_.erase(old);
    }
    fingerprints_[slot] = fp;
    parents_[slot] = parent;
    keys_[slot] = k;
    std::memcpy(&tokens_[size_t{slot} * block_size_], block.data(), block_size_ * sizeof(uint32_t));
    index_.get_or_insert(fp) = slot;
  }

  size_t block_size_, capacity_;
  size_t next_ = 0;
  std::vector<uint64_t> parents_, keys_, fingerprints_;
  std::vector<uint32_t> tokens_;
  flat_map64<uint32_t> index_;
  uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace inferstack::actors::picker
