// KV-block keys as llm-d computes them (llm-d-router's chunked token database, the default
// "cbor-fnv" algorithm): full blocks only, each key FNV-1a-64 over the canonical CBOR encoding
// of [parent key, block tokens, extra], the chain rooted at hash(FNV-1a-64(seed), nil, model).
// Pods key their prefix cache with it and put the keys in their KV events; pickers recompute
// the same keys from a prompt's tokens. Matching llm-d lets our picker index llm-d-inference-sim
// pods and llm-d's indexer index ours.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace inferstack::runtime {

/// FNV-1a, 64 bits.
uint64_t fnv1a_64(std::string_view data);

class kv_block_keys {
 public:
  explicit kv_block_keys(size_t block_size = 16, std::string hash_seed = "");

  size_t block_size() const { return block_size_; }

  /// Root of the chain for `model` (the parent of the first block).
  uint64_t root(std::string_view model) const;

  /// Key of one block given its parent key.
  uint64_t block_key(uint64_t parent, std::span<const uint32_t> block_tokens) const;

  /// Keys of every full block of `tokens`, chained from `parent` (0: from the model's root).
  std::vector<uint64_t> keys(std::span<const uint32_t> tokens, std::string_view model,
                             uint64_t parent = 0) const;

 private:
  size_t block_size_;
  uint64_t init_hash_;
};

}  // namespace inferstack::runtime
