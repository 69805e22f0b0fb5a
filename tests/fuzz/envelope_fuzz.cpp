// libFuzzer target: the wire envelope decoder and the catalogue payload decoder must refuse
// any input cleanly. A decoded envelope must re-encode to bytes that decode to the same value.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "protocol/codec.hpp"
#include "runtime/wire/envelope.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto decoded = inferstack::wire::decode(bytes);
  if (!decoded) {
    if (decoded.error.empty()) std::abort();  // a refusal must say why
    return 0;
  }
  auto again = inferstack::wire::decode(inferstack::wire::encode(*decoded.value));
  if (!again || !(*again.value == *decoded.value)) std::abort();
  // The payload goes through the catalogue decoder as a receiving node would.
  const inferstack::protocol::catalogue_codec codec;
  auto msg = codec.decode(decoded.value->kind, decoded.value->payload);
  if (msg) {
    auto encoded = codec.encode(*msg);
    if (!encoded || encoded->kind != decoded.value->kind) std::abort();
  }
  return 0;
}
