#include <catch2/catch.hpp>

#include <random>

#include "runtime/wire/envelope.hpp"

using namespace inferstack::wire;

TEST_CASE("envelopes round-trip") {
  envelope e;
  e.type = frame_type::request;
  e.sender = {"gateway/00ab", 17, ""};
  e.receiver = {"", 0, "picker"};
  e.correlation_id = 123456789012345ull;
  e.kind = 10;
  e.payload = std::string("\x81\xa3seq\x01", 6);
  auto bytes = encode(e);
  auto decoded = decode(bytes);
  REQUIRE(decoded);
  CHECK(*decoded.value == e);
}

TEST_CASE("envelope decoding refuses garbage with a reason") {
  CHECK(decode("").error == "empty frame");
  CHECK_FALSE(decode("\xc1"));              // never-used msgpack byte
  CHECK_FALSE(decode("\x93\x01\x02\x03"));  // too few fields
  CHECK(decode("\x91\x02").error.find("unsupported wire version 2") != std::string::npos);
  CHECK(decode("\x81\xa1x\x01").error == "envelope is not an array");

  envelope e;
  e.payload = "abc";
  auto bytes = encode(e);
  CHECK_FALSE(decode(bytes + "x"));  // trailing bytes
  CHECK_FALSE(decode(bytes.substr(0, bytes.size() - 1)));
  // a frame type outside the known range
  auto bad_type = bytes;
  bad_type[2] = 0x09;
  CHECK(decode(bad_type).error.find("frame type") != std::string::npos);
}

TEST_CASE("random bytes never crash the decoder") {
  std::mt19937 rng(7);
  envelope e;
  e.sender = {"n", 1, ""};
  e.payload = "payload";
  auto good = encode(e);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = good;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f)
      bytes[rng() % bytes.size()] = static_cast<char>(rng());
    if (rng() % 5 == 0) bytes.resize(rng() % bytes.size());
    auto result = decode(bytes);
    CHECK((result.value.has_value() || !result.error.empty()));
  }
}
