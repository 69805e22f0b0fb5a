// The envelope every inter-process message travels in. Decoding never throws and never
// trusts its input: garbage yields a decode error naming what was wrong.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/wire/frame_type.hpp"
#include "runtime/wire/version.hpp"

namespace inferstack::wire {

/// Who sent or receives a frame. An actor is named either by a well-known name (published
/// through the transport) or by its numeric id on `node` (actors that sent us something).
struct actor_address {
  std::string node;    ///< node identity: "<node name>/<incarnation>"
  uint64_t actor = 0;  ///< actor id on that node, 0 when `name` is used
  std::string name;    ///< well-known name, empty when `actor` is used

  bool operator==(const actor_address&) const = default;
};

struct envelope {
  uint32_t version = wire_version;
  frame_type type = frame_type::send;
  actor_address sender;
  actor_address receiver;
  uint64_t correlation_id = 0;  ///< pairs a request with its response or error
  uint16_t kind = 0;            ///< message_kind of the payload (0: empty payload)
  std::string payload;          ///< msgpack encoding of the catalogue message

  bool operator==(const envelope&) const = default;
};

/// Encodes `x` as a msgpack array (version first so a reader can refuse early).
std::string encode(const envelope& x);

struct decode_result {
  std::optional<envelope> value;
  std::string error;  ///< set when value is empty
  explicit operator bool() const { return value.has_value(); }
};

/// Decodes an envelope; any malformed input gives an error, never a crash or an exception.
decode_result decode(std::string_view bytes);

/// Largest accepted frame; bigger input is refused before parsing.
constexpr size_t max_frame_bytes = 64 * 1024 * 1024;

}  // namespace inferstack::wire
