#include <catch2/catch.hpp>

#include <cstring>
#include <random>

#include <msgpack.hpp>

#include "runtime/kv_events.hpp"

using namespace inferstack::runtime;

namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values)
    out.push_back(static_cast<char>(v));
  return out;
}

std::string str_bytes(std::string_view s) {
  // fixstr header + body (all test strings are < 32 bytes)
  std::string out(1, static_cast<char>(0xa0 | s.size()));
  out += s;
  return out;
}

using packer = msgpack::packer<msgpack::sbuffer>;

void pack_str(packer& pk, std::string_view s) {
  pk.pack_str(static_cast<uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

// A float64 even for integral values (msgpack-c's pack_double would write an integer).
void pack_float64(msgpack::sbuffer& buf, double d) {
  uint64_t bits = 0;
  std::memcpy(&bits, &d, sizeof bits);
  char out[9] = {static_cast<char>(0xcb)};
  for (int i = 0; i < 8; ++i)
    out[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
  buf.write(out, sizeof out);
}

std::string to_string(const msgpack::sbuffer& b) {
  return std::string(b.data(), b.size());
}

event_batch sample_batch() {
  event_batch b;
  b.ts = 1700000000.25;
  block_stored s;
  s.block_hashes = {9540012594951042066ull, 16921089685996993662ull};
  s.parent_block_hash = 42;
  s.token_ids = {1, 2, 3, 70000};
  s.block_size = 2;
  s.lora_id = 7;
  s.lora_name = "sql-lora";
  b.events.emplace_back(s);
  block_stored plain;
  plain.block_hashes = {1};
  plain.token_ids = {5, 6};
  plain.block_size = 2;
  b.events.emplace_back(plain);
  b.events.emplace_back(block_removed{{16921089685996993662ull, 3}, "GPU"});
  b.events.emplace_back(all_blocks_cleared{});
  b.data_parallel_rank = 0;
  return b;
}

}  // namespace

TEST_CASE("array batches are encoded in the simulator's legacy layout, byte for byte") {
  event_batch b;
  b.ts = 1.5;
  block_stored s;
  s.block_hashes = {1, 0x1234};
  s.token_ids = {7, 300};
  s.block_size = 16;
  b.events.emplace_back(s);
  b.events.emplace_back(block_removed{{5}, "GPU"});
  b.events.emplace_back(all_blocks_cleared{});
  b.data_parallel_rank = 0;

  std::string expected = bytes({0x93,                                // [ts, events, rank]
                                0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,  // 1.5 as float64
                                0x93});                              // 3 events
  expected += bytes({0x99}) + str_bytes("BlockStored");              // 9 slots
  expected += bytes({0x92, 0x01, 0xcd, 0x12, 0x34});                 // hashes
  // parent: 0 = none, in msgpack's full uint64 form as the simulator's Go encoder writes it
  expected += bytes({0xcf, 0, 0, 0, 0, 0, 0, 0, 0});
  expected += bytes({0x92, 0x07, 0xcd, 0x01, 0x2c});                         // tokens
  expected += bytes({0x10, 0xc0}) + str_bytes("GPU") + bytes({0xc0, 0xc0});  // size, lora_id,
                                                                             // medium, name, extra
  expected += bytes({0x93}) + str_bytes("BlockRemoved") + bytes({0x91, 0x05}) + str_bytes("GPU");
  expected += bytes({0x91}) + str_bytes("AllBlocksCleared");
  expected += bytes({0x00});  // data-parallel rank
  CHECK(encode_batch(b, event_format::array) == expected);
}

TEST_CASE("array encoding of LoRA fields, a parent and a large hash") {
  event_batch b;
  b.ts = 0;
  block_stored s;
  s.block_hashes = {UINT64_MAX};
  s.parent_block_hash = 9;
  s.token_ids = {1};
  s.block_size = 1;
  s.lora_id = 3;
  s.lora_name = "ab";
  b.events.emplace_back(s);
  std::string expected = bytes({0x92, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0x91, 0x99});  // no rank
  expected += str_bytes("BlockStored");
  expected += bytes({0x91, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
  expected += bytes({0xcf, 0, 0, 0, 0, 0, 0, 0, 0x09});  // parent, msgpack's full uint64 form
  expected += bytes({0x91, 0x01, 0x01, 0x03}) + str_bytes("GPU") + str_bytes("ab");
  expected += bytes({0xc0});
  CHECK(encode_batch(b) == expected);
}

TEST_CASE("map-form events carry a type key and leave absent LoRA fields out") {
  event_batch b;
  b.ts = 2;
  block_stored s;
  s.block_hashes = {1};
  s.token_ids = {2};
  s.block_size = 1;
  b.events.emplace_back(s);
  b.data_parallel_rank = 1;

  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_array(3);
  pack_float64(buf, 2);
  pk.pack_array(1);
  pk.pack_map(6);
  pack_str(pk, "type");
  pack_str(pk, "BlockStored");
  pack_str(pk, "block_hashes");
  pk.pack_array(1);
  pk.pack_uint64(1);
  pack_str(pk, "parent_block_hash");
  pk.pack_nil();
  pack_str(pk, "token_ids");
  pk.pack_array(1);
  pk.pack_uint32(2);
  pack_str(pk, "block_size");
  pk.pack_uint32(1);
  pack_str(pk, "medium");
  pack_str(pk, "GPU");
  pk.pack_int(1);
  CHECK(encode_batch(b, event_format::map) == to_string(buf));
}

TEST_CASE("encoded batches decode to what was encoded, in both formats") {
  auto b = sample_batch();
  for (auto format : {event_format::array, event_format::map}) {
    std::string error;
    auto decoded = decode_batch(encode_batch(b, format), &error);
    INFO(error);
    REQUIRE(decoded);
    CHECK(*decoded == b);
  }
  b.data_parallel_rank.reset();
  auto decoded = decode_batch(encode_batch(b));
  REQUIRE(decoded);
  CHECK(*decoded == b);
  CHECK(decode_batch(encode_batch(event_batch{})) == event_batch{});
}

TEST_CASE("vLLM's map events with newer fields decode and extra keys are ignored") {
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_array(3);
  pk.pack_double(12.5);
  pk.pack_array(2);
  pk.pack_map(11);
  pack_str(pk, "type");
  pack_str(pk, "BlockStored");
  pack_str(pk, "block_hashes");
  pk.pack_array(2);
  pk.pack_uint64(11);
  pk.pack_int64(-2);  // Python ints that came out negative
  pack_str(pk, "parent_block_hash");
  pk.pack_uint64(10);
  pack_str(pk, "token_ids");
  pk.pack_array(2);
  pk.pack_uint32(1);
  pk.pack_uint32(2);
  pack_str(pk, "block_size");
  pk.pack_uint32(1);
  pack_str(pk, "lora_id");
  pk.pack_nil();
  pack_str(pk, "medium");
  pack_str(pk, "CPU");
  pack_str(pk, "lora_name");
  pk.pack_nil();
  pack_str(pk, "extra_keys");
  pk.pack_nil();
  pack_str(pk, "group_idx");
  pk.pack_uint32(0);
  pack_str(pk, "kv_cache_spec_kind");
  pack_str(pk, "full_attention");
  pk.pack_map(3);
  pack_str(pk, "type");
  pack_str(pk, "BlockRemoved");
  pack_str(pk, "block_hashes");
  pk.pack_array(1);
  pk.pack_uint64(11);
  pack_str(pk, "group_idx");
  pk.pack_uint32(0);
  pk.pack_int(0);

  auto b = decode_batch(to_string(buf));
  REQUIRE(b);
  CHECK(b->ts == 12.5);
  CHECK(b->data_parallel_rank == 0);
  REQUIRE(b->events.size() == 2);
  const auto& s = std::get<block_stored>(b->events[0]);
  CHECK(s.block_hashes == std::vector<uint64_t>{11, static_cast<uint64_t>(-2)});
  CHECK(s.parent_block_hash == 10u);
  CHECK(s.token_ids == std::vector<uint32_t>{1, 2});
  CHECK(s.medium == "CPU");
  CHECK_FALSE(s.lora_id);
  CHECK_FALSE(s.lora_name);
  const auto& r = std::get<block_removed>(b->events[1]);
  CHECK(r.block_hashes == std::vector<uint64_t>{11});
  CHECK(r.medium == "GPU");  // absent medium means GPU
}

TEST_CASE("what older producers send decodes: byte hashes, missing trailing slots, no rank") {
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_array(2);            // vLLM before data_parallel_rank: [ts, events]
  pk.pack_uint64(1700000000);  // an integer timestamp
  pk.pack_array(4);
  // vLLM v0.9 without VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES: 32-byte hashes; omit_defaults has
  // dropped lora_id. Parent 0 means none.
  pk.pack_array(5);
  pack_str(pk, "BlockStored");
  pk.pack_array(1);
  std::string sha(32, '\0');
  for (int i = 0; i < 32; ++i)
    sha[i] = static_cast<char>(i);
  pk.pack_bin(32);
  pk.pack_bin_body(sha.data(), 32);
  pk.pack_uint64(0);
  pk.pack_array(1);
  pk.pack_uint32(9);
  pk.pack_uint32(16);
  // kv-cache-manager v0.4's hash-only form: [tag, hashes, nil, nil, 0, nil, nil]
  pk.pack_array(7);
  pack_str(pk, "BlockStored");
  pk.pack_array(1);
  pk.pack_uint64(77);
  pk.pack_nil();
  pk.pack_nil();
  pk.pack_uint32(0);
  pk.pack_nil();
  pk.pack_nil();
  // BlockRemoved without medium
  pk.pack_array(2);
  pack_str(pk, "BlockRemoved");
  pk.pack_array(1);
  pk.pack_uint64(77);
  // A type this decoder does not know: skipped.
  pk.pack_array(2);
  pack_str(pk, "BlockMoved");
  pk.pack_array(0);

  std::string error;
  auto b = decode_batch(to_string(buf), &error);
  INFO(error);
  REQUIRE(b);
  CHECK(b->ts == 1700000000.0);
  CHECK_FALSE(b->data_parallel_rank);
  REQUIRE(b->events.size() == 3);
  const auto& s = std::get<block_stored>(b->events[0]);
  REQUIRE(s.block_hashes.size() == 1);
  CHECK(s.block_hashes[0] == 0x18191a1b1c1d1e1full);  // last 8 bytes, big-endian
  CHECK_FALSE(s.parent_block_hash);
  CHECK(s.block_size == 16);
  CHECK(s.medium == "GPU");
  const auto& h = std::get<block_stored>(b->events[1]);
  CHECK(h.block_hashes == std::vector<uint64_t>{77});
  CHECK(h.token_ids.empty());
  CHECK(std::get<block_removed>(b->events[2]).block_hashes == std::vector<uint64_t>{77});
}

TEST_CASE("a batch written as a map decodes too") {
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_map(4);
  pack_str(pk, "ts");
  pk.pack_double(3.0);
  pack_str(pk, "events");
  pk.pack_array(1);
  pk.pack_array(1);
  pack_str(pk, "AllBlocksCleared");
  pack_str(pk, "data_parallel_rank");
  pk.pack_nil();
  pack_str(pk, "future");
  pk.pack_array(2);
  pk.pack_true();
  pk.pack_float(1.0f);
  auto b = decode_batch(to_string(buf));
  REQUIRE(b);
  CHECK(b->ts == 3.0);
  REQUIRE(b->events.size() == 1);
  CHECK(std::holds_alternative<all_blocks_cleared>(b->events[0]));
  CHECK(event_type_name(b->events[0]) == "AllBlocksCleared");
}

TEST_CASE("malformed payloads are rejected with a reason") {
  std::string error;
  CHECK_FALSE(decode_batch("", &error));
  CHECK_FALSE(error.empty());
  CHECK_FALSE(decode_batch(bytes({0x91, 0x00})));              // one field
  CHECK_FALSE(decode_batch(bytes({0x92, 0xa1, 'x', 0x90})));   // ts not a number
  CHECK_FALSE(decode_batch(bytes({0x92, 0x00, 0x00})));        // events not an array
  CHECK_FALSE(decode_batch(bytes({0x92, 0x00, 0x91, 0x05})));  // event not array/map
  CHECK_FALSE(decode_batch(bytes({0x92, 0x00, 0x91, 0x90})));  // empty event
  // Wrong-typed field inside a BlockStored.
  CHECK_FALSE(decode_batch(bytes({0x92, 0x00, 0x91, 0x92, 0xab, 'B', 'l', 'o', 'c', 'k', 'S', 't',
                                  'o', 'r', 'e', 'd', 0xc3})));
  // A hostile length prefix: 4 billion events, then nothing.
  CHECK_FALSE(decode_batch(bytes({0x92, 0x00, 0xdd, 0xff, 0xff, 0xff, 0xff})));
  auto good = encode_batch(sample_batch());
  CHECK_FALSE(decode_batch(good + "x", &error));
  CHECK(error == "trailing bytes after the batch");
  // Token id beyond uint32.
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_array(2);
  pk.pack_double(0);
  pk.pack_array(1);
  pk.pack_array(4);
  pack_str(pk, "BlockStored");
  pk.pack_array(0);
  pk.pack_nil();
  pk.pack_array(1);
  pk.pack_uint64(1ull << 40);
  CHECK_FALSE(decode_batch(to_string(buf)));
}

TEST_CASE("garbage never crashes the decoder: truncations, bit flips, random bytes") {
  std::mt19937_64 rng(7);
  for (auto format : {event_format::array, event_format::map}) {
    auto good = encode_batch(sample_batch(), format);
    REQUIRE(decode_batch(good));
    for (size_t n = 0; n < good.size(); ++n)
      CHECK_FALSE(decode_batch(std::string_view(good).substr(0, n)));
    for (size_t i = 0; i < good.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        auto flipped = good;
        flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
        std::string error;
        auto b = decode_batch(flipped, &error);  // may or may not decode; must not crash
        if (!b) CHECK_FALSE(error.empty());
      }
    }
  }
  for (int round = 0; round < 20000; ++round) {
    std::string junk(rng() % 64, '\0');
    for (auto& c : junk)
      c = static_cast<char>(rng());
    // Bias towards structure so the decoder gets past the first byte often.
    if (!junk.empty() && round % 2 == 0) junk[0] = static_cast<char>(0x92 + (round % 3));
    (void)decode_batch(junk);
  }
  SUCCEED();
}
