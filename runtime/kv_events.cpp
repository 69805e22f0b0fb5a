#include "runtime/kv_events.hpp"

#include <cstring>
#include <limits>

#include <msgpack.hpp>

namespace inferstack::runtime {

namespace {

// -- encoding -------------------------------------------------------------------------------------

using packer = msgpack::packer<msgpack::sbuffer>;

void pack_string(packer& pk, std::string_view s) {
  pk.pack_str(static_cast<uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

// Always a float64, as vLLM and the simulator write ts (msgpack-c's pack_double would write an
// integral value as an integer).
void pack_float64(msgpack::sbuffer& buf, double d) {
  uint64_t bits = 0;
  std::memcpy(&bits, &d, sizeof bits);
  char out[9];
  out[0] = static_cast<char>(0xcb);
  for (int i = 0; i < 8; ++i)
    out[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
  buf.write(out, sizeof out);
}

void pack_hashes(packer& pk, const std::vector<uint64_t>& hashes) {
  pk.pack_array(static_cast<uint32_t>(hashes.size()));
  for (uint64_t h : hashes)
    pk.pack_uint64(h);
}

void pack_tokens(packer& pk, const std::vector<uint32_t>& tokens) {
  pk.pack_array(static_cast<uint32_t>(tokens.size()));
  for (uint32_t t : tokens)
    pk.pack_uint32(t);
}

void pack_event_array(packer& pk, const kv_event& event) {
  if (const auto* s = std::get_if<block_stored>(&event)) {
    // Every slot is written, as the simulator's as_array structs do (they ignore omitempty).
    pk.pack_array(9);
    pack_string(pk, "BlockStored");
    pack_hashes(pk, s->block_hashes);
    // Always msgpack's uint64 form, as the simulator's Go encoder writes it: a compact 0 (no
    // parent) decodes as int8 there, which llm-d's event adapter refuses as a hash.
    pk.pack_fix_uint64(s->parent_block_hash.value_or(0));
    pack_tokens(pk, s->token_ids);
    pk.pack_uint32(s->block_size);
    if (s->lora_id)
      pk.pack_int64(*s->lora_id);
    else
      pk.pack_nil();
    pack_string(pk, s->medium);
    if (s->lora_name)
      pack_string(pk, *s->lora_name);
    else
      pk.pack_nil();
    pk.pack_nil();  // extra_keys
  } else if (const auto* r = std::get_if<block_removed>(&event)) {
    pk.pack_array(3);
    pack_string(pk, "BlockRemoved");
    pack_hashes(pk, r->block_hashes);
    pack_string(pk, r->medium);
  } else {
    pk.pack_array(1);
    pack_string(pk, "AllBlocksCleared");
  }
}

void pack_event_map(packer& pk, const kv_event& event) {
  if (const auto* s = std::get_if<block_stored>(&event)) {
    pk.pack_map(6 + (s->lora_id ? 1 : 0) + (s->lora_name ? 1 : 0));
    pack_string(pk, "type");
    pack_string(pk, "BlockStored");
    pack_string(pk, "block_hashes");
    pack_hashes(pk, s->block_hashes);
    pack_string(pk, "parent_block_hash");
    if (s->parent_block_hash)
      pk.pack_uint64(*s->parent_block_hash);
    else
      pk.pack_nil();
    pack_string(pk, "token_ids");
    pack_tokens(pk, s->token_ids);
    pack_string(pk, "block_size");
    pk.pack_uint32(s->block_size);
    if (s->lora_id) {
      pack_string(pk, "lora_id");
      pk.pack_int64(*s->lora_id);
    }
    pack_string(pk, "medium");
    pack_string(pk, s->medium);
    if (s->lora_name) {
      pack_string(pk, "lora_name");
      pack_string(pk, *s->lora_name);
    }
  } else if (const auto* r = std::get_if<block_removed>(&event)) {
    pk.pack_map(3);
    pack_string(pk, "type");
    pack_string(pk, "BlockRemoved");
    pack_string(pk, "block_hashes");
    pack_hashes(pk, r->block_hashes);
    pack_string(pk, "medium");
    pack_string(pk, r->medium);
  } else {
    pk.pack_map(1);
    pack_string(pk, "type");
    pack_string(pk, "AllBlocksCleared");
  }
}

// -- decoding -------------------------------------------------------------------------------------
// A small bounds-checked msgpack reader instead of msgpack::unpack: it allocates nothing, cannot
// throw, and a hostile length prefix costs nothing because every element still has to be read.

enum class kind { nil, boolean, uint, sint, real, str, bin, array, map, ext };

struct item {
  kind k = kind::nil;
  bool flag = false;
  uint64_t u = 0;  ///< uint: the value; array/map: element count
  int64_t i = 0;   ///< sint: the (negative) value
  double d = 0;
  std::string_view bytes;  ///< str/bin/ext payload
};

constexpr int max_depth = 32;

class reader {
 public:
  explicit reader(std::string_view bytes) : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}

  bool at_end() const { return p_ == end_; }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }

  bool next(item& out) {
    uint8_t b = 0;
    if (!byte(b)) return false;
    out = item{};
    if (b <= 0x7f) return set_uint(out, b);
    if (b >= 0xe0) return set_int(out, static_cast<int8_t>(b));
    if ((b & 0xf0) == 0x80) return container(out, kind::map, b & 0x0f);
    if ((b & 0xf0) == 0x90) return container(out, kind::array, b & 0x0f);
    if ((b & 0xe0) == 0xa0) return body(out, kind::str, b & 0x1f);
    switch (b) {
      case 0xc0:
        out.k = kind::nil;
        return true;
      case 0xc2:
      case 0xc3:
        out.k = kind::boolean;
        out.flag = b == 0xc3;
        return true;
      case 0xc4:
        return sized_body(out, kind::bin, 1);
      case 0xc5:
        return sized_body(out, kind::bin, 2);
      case 0xc6:
        return sized_body(out, kind::bin, 4);
      case 0xc7:
        return ext(out, 1);
      case 0xc8:
        return ext(out, 2);
      case 0xc9:
        return ext(out, 4);
      case 0xca: {
        uint64_t bits = 0;
        if (!be(4, bits)) return false;
        float f = 0;
        auto b32 = static_cast<uint32_t>(bits);
        std::memcpy(&f, &b32, sizeof f);
        out.k = kind::real;
        out.d = f;
        return true;
      }
      case 0xcb: {
        uint64_t bits = 0;
        if (!be(8, bits)) return false;
        std::memcpy(&out.d, &bits, sizeof out.d);
        out.k = kind::real;
        return true;
      }
      case 0xcc:
      case 0xcd:
      case 0xce:
      case 0xcf: {
        uint64_t v = 0;
        if (!be(size_t{1} << (b - 0xcc), v)) return false;
        return set_uint(out, v);
      }
      case 0xd0:
      case 0xd1:
      case 0xd2:
      case 0xd3: {
        size_t n = size_t{1} << (b - 0xd0);
        uint64_t v = 0;
        if (!be(n, v)) return false;
        // Sign-extend from n bytes.
        int shift = static_cast<int>(64 - 8 * n);
        auto s = static_cast<int64_t>(v << shift) >> shift;
        return set_int(out, s);
      }
      case 0xd4:
        return fixext(out, 1);
      case 0xd5:
        return fixext(out, 2);
      case 0xd6:
        return fixext(out, 4);
      case 0xd7:
        return fixext(out, 8);
      case 0xd8:
        return fixext(out, 16);
      case 0xd9:
        return sized_body(out, kind::str, 1);
      case 0xda:
        return sized_body(out, kind::str, 2);
      case 0xdb:
        return sized_body(out, kind::str, 4);
      case 0xdc:
      case 0xdd: {
        uint64_t n = 0;
        if (!be(b == 0xdc ? 2 : 4, n)) return false;
        return container(out, kind::array, n);
      }
      case 0xde:
      case 0xdf: {
        uint64_t n = 0;
        if (!be(b == 0xde ? 2 : 4, n)) return false;
        return container(out, kind::map, n);
      }
      default:
        return false;  // 0xc1 is never used
    }
  }

  /// Skips one complete value.
  bool skip(int depth = 0) {
    if (depth > max_depth) return false;
    item it;
    if (!next(it)) return false;
    if (it.k == kind::array || it.k == kind::map) {
      uint64_t n = it.k == kind::map ? it.u * 2 : it.u;
      for (uint64_t j = 0; j < n; ++j)
        if (!skip(depth + 1)) return false;
    }
    return true;
  }

 private:
  bool byte(uint8_t& b) {
    if (p_ == end_) return false;
    b = static_cast<uint8_t>(*p_++);
    return true;
  }
  bool be(size_t n, uint64_t& out) {
    if (remaining() < n) return false;
    out = 0;
    for (size_t j = 0; j < n; ++j)
      out = (out << 8) | static_cast<uint8_t>(p_[j]);
    p_ += n;
    return true;
  }
  static bool set_uint(item& out, uint64_t v) {
    out.k = kind::uint;
    out.u = v;
    return true;
  }
  static bool set_int(item& out, int64_t v) {
    // Producers that write signed types (Go int, int64) also use them for positive values.
    if (v >= 0) return set_uint(out, static_cast<uint64_t>(v));
    out.k = kind::sint;
    out.i = v;
    return true;
  }
  bool container(item& out, kind k, uint64_t n) {
    // Each element takes at least one byte: a count beyond the input is garbage.
    if (n > remaining() / (k == kind::map ? 2 : 1)) return false;
    out.k = k;
    out.u = n;
    return true;
  }
  bool body(item& out, kind k, uint64_t n) {
    if (remaining() < n) return false;
    out.k = k;
    out.bytes = std::string_view(p_, n);
    p_ += n;
    return true;
  }
  bool sized_body(item& out, kind k, size_t len_bytes) {
    uint64_t n = 0;
    if (!be(len_bytes, n)) return false;
    return body(out, k, n);
  }
  bool ext(item& out, size_t len_bytes) {
    uint64_t n = 0;
    if (!be(len_bytes, n)) return false;
    uint8_t type = 0;
    if (!byte(type)) return false;
    return body(out, kind::ext, n);
  }
  bool fixext(item& out, size_t n) {
    uint8_t type = 0;
    if (!byte(type)) return false;
    return body(out, kind::ext, n);
  }

  const char* p_;
  const char* end_;
};

struct decode_error {
  std::string what;
};

class batch_decoder {
 public:
  explicit batch_decoder(std::string_view bytes) : in_(bytes) {}

  std::optional<event_batch> run(std::string& error) {
    event_batch out;
    if (!batch(out)) {
      error = error_.empty() ? "truncated or malformed msgpack" : error_;
      return std::nullopt;
    }
    if (!in_.at_end()) {
      error = "trailing bytes after the batch";
      return std::nullopt;
    }
    return out;
  }

 private:
  bool fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
    return false;
  }

  bool number(double& out, const char* what) {
    item it;
    if (!in_.next(it)) return false;
    if (it.k == kind::real)
      out = it.d;
    else if (it.k == kind::uint)
      out = static_cast<double>(it.u);
    else if (it.k == kind::sint)
      out = static_cast<double>(it.i);
    else
      return fail(std::string(what) + " is not a number");
    return true;
  }

  bool rank(std::optional<int>& out) {
    item it;
    if (!in_.next(it)) return false;
    if (it.k == kind::nil) return true;
    if (it.k == kind::uint && it.u <= static_cast<uint64_t>(std::numeric_limits<int>::max())) {
      out = static_cast<int>(it.u);
      return true;
    }
    if (it.k == kind::sint && it.i >= std::numeric_limits<int>::min()) {
      out = static_cast<int>(it.i);
      return true;
    }
    return fail("data_parallel_rank is not an int");
  }

  bool batch(event_batch& out) {
    item top;
    if (!in_.next(top)) return fail("empty or truncated payload");
    if (top.k == kind::array) {
      if (top.u < 2) return fail("batch has fewer than 2 fields");
      if (!number(out.ts, "ts")) return false;
      if (!events(out.events)) return false;
      if (top.u >= 3 && !rank(out.data_parallel_rank)) return false;
      for (uint64_t j = 3; j < top.u; ++j)
        if (!in_.skip()) return false;
      return true;
    }
    if (top.k == kind::map) {
      bool have_ts = false, have_events = false;
      for (uint64_t j = 0; j < top.u; ++j) {
        std::string_view key;
        if (!string_key(key)) return false;
        if (key == "ts") {
          if (!number(out.ts, "ts")) return false;
          have_ts = true;
        } else if (key == "events") {
          if (!events(out.events)) return false;
          have_events = true;
        } else if (key == "data_parallel_rank") {
          if (!rank(out.data_parallel_rank)) return false;
        } else if (!in_.skip()) {
          return false;
        }
      }
      if (!have_ts || !have_events) return fail("batch map lacks ts or events");
      return true;
    }
    return fail("batch is neither an array nor a map");
  }

  bool string_key(std::string_view& key) {
    item it;
    if (!in_.next(it)) return false;
    if (it.k != kind::str && it.k != kind::bin) return fail("map key is not a string");
    key = it.bytes;
    return true;
  }

  bool events(std::vector<kv_event>& out) {
    item it;
    if (!in_.next(it)) return false;
    if (it.k != kind::array) return fail("events is not an array");
    out.reserve(std::min<uint64_t>(it.u, 1024));
    for (uint64_t j = 0; j < it.u; ++j)
      if (!event(out)) return false;
    return true;
  }

  // Everything any event type can carry; the tag decides what is built from it.
  struct fields {
    std::string_view tag;
    std::vector<uint64_t> hashes;
    std::optional<uint64_t> parent;
    std::vector<uint32_t> tokens;
    uint32_t block_size = 0;
    std::optional<int64_t> lora_id;
    std::string medium = "GPU";
    std::optional<std::string> lora_name;
  };

  bool event(std::vector<kv_event>& out) {
    item it;
    if (!in_.next(it)) return false;
    fields f;
    if (it.k == kind::array) {
      if (it.u < 1) return fail("event array is empty");
      item tag;
      if (!in_.next(tag)) return false;
      if (tag.k != kind::str && tag.k != kind::bin) return fail("event tag is not a string");
      f.tag = tag.bytes;
      uint64_t slots = it.u - 1;
      uint64_t used = 0;
      auto slot = [&](auto&& read) -> bool {
        if (used >= slots) return true;
        ++used;
        return read();
      };
      if (f.tag == "BlockStored") {
        if (!slot([&] { return hashes(f.hashes); }) || !slot([&] { return parent(f.parent); }) ||
            !slot([&] { return tokens(f.tokens); }) ||
            !slot([&] { return block_size(f.block_size); }) ||
            !slot([&] { return lora_id(f.lora_id); }) || !slot([&] { return medium(f.medium); }) ||
            !slot([&] { return lora_name(f.lora_name); }))
          return false;
      } else if (f.tag == "BlockRemoved") {
        if (!slot([&] { return hashes(f.hashes); }) || !slot([&] { return medium(f.medium); }))
          return false;
      }
      for (; used < slots; ++used)
        if (!in_.skip()) return false;
    } else if (it.k == kind::map) {
      for (uint64_t j = 0; j < it.u; ++j) {
        std::string_view key;
        if (!string_key(key)) return false;
        bool ok = true;
        if (key == "type") {
          item tag;
          if (!in_.next(tag)) return false;
          if (tag.k != kind::str && tag.k != kind::bin) return fail("event type is not a string");
          f.tag = tag.bytes;
        } else if (key == "block_hashes") {
          ok = hashes(f.hashes);
        } else if (key == "parent_block_hash") {
          ok = parent(f.parent);
        } else if (key == "token_ids") {
          ok = tokens(f.tokens);
        } else if (key == "block_size") {
          ok = block_size(f.block_size);
        } else if (key == "lora_id") {
          ok = lora_id(f.lora_id);
        } else if (key == "medium") {
          ok = medium(f.medium);
        } else if (key == "lora_name") {
          ok = lora_name(f.lora_name);
        } else {
          ok = in_.skip();
        }
        if (!ok) return false;
      }
    } else {
      return fail("event is neither an array nor a map");
    }

    if (f.tag == "BlockStored") {
      out.push_back(block_stored{std::move(f.hashes), f.parent, std::move(f.tokens), f.block_size,
                                 f.lora_id, std::move(f.medium), std::move(f.lora_name)});
    } else if (f.tag == "BlockRemoved") {
      out.push_back(block_removed{std::move(f.hashes), std::move(f.medium)});
    } else if (f.tag == "AllBlocksCleared") {
      out.push_back(all_blocks_cleared{});
    } else if (f.tag.empty()) {
      return fail("event without a type");
    }
    // Other types (added by newer producers) are skipped.
    return true;
  }

  // A hash as uint64, int64 (two's complement) or bytes (last 8 bytes, big-endian).
  bool hash_value(const item& it, uint64_t& out) {
    if (it.k == kind::uint) {
      out = it.u;
    } else if (it.k == kind::sint) {
      out = static_cast<uint64_t>(it.i);
    } else if (it.k == kind::bin || it.k == kind::str) {
      auto b = it.bytes.size() > 8 ? it.bytes.substr(it.bytes.size() - 8) : it.bytes;
      out = 0;
      for (unsigned char c : b)
        out = (out << 8) | c;
    } else {
      return fail("block hash is not an integer or bytes");
    }
    return true;
  }

  bool hashes(std::vector<uint64_t>& out) {
    item it;
    if (!in_.next(it)) return false;
    if (it.k == kind::nil) return true;
    if (it.k != kind::array) return fail("block_hashes is not an array");
    out.reserve(it.u);  // bounded by the input size (see reader::container)
    for (uint64_t j = 0; j < it.u; ++j) {
      item h;
      if (!in_.next(h)) return false;
      uint64_t v = 0;
      if (!hash_value(h, v)) return false;
      out.push_back(v);
    }
    return true;
  }

  bool parent(std::optional<uint64_t>& out) {
    item it;
    if (!in_.next(it)) return false;
    if (it.k == kind::nil) return true;
    uint64_t v = 0;
    if (!hash_value(it, v)) return false;
    if (v != 0) out = v;  // 0 is the simulator's "no parent"
    return true;
  }

  bool tokens(std::vector<uint32_t>& out) {
    item it;
    if (!in_.next(it)) return false;
    if (it.k == kind::nil) return true;  // hash-only events of early producers
    if (it.k != kind::array) return fail("token_ids is not an array");
    out.reserve(it.u);
    for (uint64_t j = 0; j < it.u; ++j) {
      item t;
      if (!in_.next(t)) return false;
      if (t.k != kind::uint || t.u > std::numeric_limits<uint32_t>::max())
        return fail("token id is not a uint32");
      out.push_back(static_cast<uint32_t>(t.u));
    }
    return true;
  }

  bool block_size(uint32_t& out) {
    item it;
    if (!in_.next(it)) return false;
    if (it.k == kind::nil) return true;
    if (it.k != kind::uint || it.u > std::numeric_limits<uint32_t>::max())
      return fail("block_size is not a uint32");
    out = static_cast<uint32_t>(it.u);
    return true;
  }

  bool lora_id(std::optional<int64_t>& out) {
    item it;
    if (!in_.next(it)) return false;
    if (it.k == kind::nil) return true;
    if (it.k == kind::uint && it.u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      out = static_cast<int64_t>(it.u);
      return true;
    }
    if (it.k == kind::sint) {
      out = it.i;
      return true;
    }
    return fail("lora_id is not an int");
  }

  bool medium(std::string& out) {
    item it;
    if (!in_.next(it)) return false;
    if (it.k == kind::nil) return true;
    if (it.k != kind::str && it.k != kind::bin) return fail("medium is not a string");
    out.assign(it.bytes);
    return true;
  }

  bool lora_name(std::optional<std::string>& out) {
    item it;
    if (!in_.next(it)) return false;
    if (it.k == kind::nil) return true;
    if (it.k != kind::str && it.k != kind::bin) return fail("lora_name is not a string");
    out = std::string(it.bytes);
    return true;
  }

  reader in_;
  std::string error_;
};

}  // namespace

std::string encode_batch(const event_batch& batch, event_format format) {
  msgpack::sbuffer buf(256);
  packer pk(buf);
  pk.pack_array(batch.data_parallel_rank ? 3 : 2);
  pack_float64(buf, batch.ts);
  pk.pack_array(static_cast<uint32_t>(batch.events.size()));
  for (const auto& e : batch.events) {
    if (format == event_format::array)
      pack_event_array(pk, e);
    else
      pack_event_map(pk, e);
  }
  if (batch.data_parallel_rank) pk.pack_int(*batch.data_parallel_rank);
  return std::string(buf.data(), buf.size());
}

std::optional<event_batch> decode_batch(std::string_view bytes, std::string* error) {
  std::string why;
  auto out = batch_decoder(bytes).run(why);
  if (!out && error) *error = std::move(why);
  return out;
}

std::string_view event_type_name(const kv_event& event) {
  switch (event.index()) {
    case 0:
      return "BlockStored";
    case 1:
      return "BlockRemoved";
    default:
      return "AllBlocksCleared";
  }
}

}  // namespace inferstack::runtime
