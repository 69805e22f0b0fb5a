#include "runtime/kv_block_keys.hpp"

namespace inferstack::runtime {

namespace {

constexpr uint64_t fnv_offset = 14695981039346656037ull;
constexpr uint64_t fnv_prime = 1099511628211ull;

// Streams canonical CBOR straight into an FNV-1a-64 state: no buffer, same bytes.
class cbor_fnv {
 public:
  void byte(uint8_t b) {
    hash_ ^= b;
    hash_ *= fnv_prime;
  }
  // Major type + argument in the shortest form (canonical CBOR).
  void head(uint8_t major, uint64_t value) {
    uint8_t m = static_cast<uint8_t>(major << 5);
    if (value < 24) {
      byte(m | static_cast<uint8_t>(value));
    } else if (value <= 0xFF) {
      byte(m | 24);
      byte(static_cast<uint8_t>(value));
    } else if (value <= 0xFFFF) {
      byte(m | 25);
      for (int s = 8; s >= 0; s -= 8)
        byte(static_cast<uint8_t>(value >> s));
    } else if (value <= 0xFFFFFFFFull) {
      byte(m | 26);
      for (int s = 24; s >= 0; s -= 8)
        byte(static_cast<uint8_t>(value >> s));
    } else {
      byte(m | 27);
      for (int s = 56; s >= 0; s -= 8)
        byte(static_cast<uint8_t>(value >> s));
    }
  }
  void null() { byte(0xF6); }
  void text(std::string_view s) {
    head(3, s.size());
    for (unsigned char c : s)
      byte(c);
  }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = fnv_offset;
};

}  // namespace

uint64_t fnv1a_64(std::string_view data) {
  uint64_t hash = fnv_offset;
  for (unsigned char c : data) {
    hash ^= c;
    hash *= fnv_prime;
  }
  return hash;
}

kv_block_keys::kv_block_keys(size_t block_size, std::string hash_seed)
    : block_size_(block_size == 0 ? 16 : block_size), init_hash_(fnv1a_64(hash_seed)) {}

uint64_t kv_block_keys::root(std::string_view model) const {
  cbor_fnv h;
  h.head(4, 3);  // [init, nil, model]
  h.head(0, init_hash_);
  h.null();
  h.text(model);
  return h.value();
}

uint64_t kv_block_keys::block_key(uint64_t parent, std::span<const uint32_t> block_tokens) const {
  cbor_fnv h;
  h.head(4, 3);  // [parent, tokens, nil]
  h.head(0, parent);
  h.head(4, block_tokens.size());
  for (uint32_t t : block_tokens)
    h.head(0, t);
  h.null();
  return h.value();
}

std::vector<uint64_t> kv_block_keys::keys(std::span<const uint32_t> tokens, std::string_view model,
                                          uint64_t parent) const {
  std::vector<uint64_t> out;
  size_t full = tokens.size() / block_size_;
  if (full == 0) return out;
  out.reserve(full);
  uint64_t prev = parent != 0 ? parent : root(model);
  for (size_t i = 0; i < full; ++i) {
    prev = block_key(prev, tokens.subspan(i * block_size_, block_size_));
    out.push_back(prev);
  }
  return out;
}

}  // namespace inferstack::runtime
