// The payload of an error frame and its conversions from and to CAF errors. The transports
// build and read error frames themselves, so this one message belongs to the ground floor;
// the catalogue (protocol/type_ids.hpp) lists it under the same kind number.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <caf/fwd.hpp>

#include "runtime/message_fields.hpp"

namespace inferstack::wire {

/// The payload of an error frame: a CAF error flattened to its category name, code and a
/// human-readable context, so the requester gets the same error it would get locally.
struct wire_error {
  std::string category;
  uint8_t code = 0;
  std::string context;
  INFERSTACK_FIELDS(wire_error, category, code, context)
};

/// The wire kind of wire_error: on the wire, never to change.
inline constexpr uint16_t wire_error_kind = 1;

/// Flattens a CAF error for an error frame (rendered by `sys` when given), and back.
wire_error to_wire_error(const caf::error& err, const caf::actor_system* sys = nullptr);
caf::error from_wire_error(const wire_error& err);

/// The error frame's payload bytes, and back (`error` says why not).
std::string encode_wire_error(const wire_error& err);
std::optional<wire_error> decode_wire_error(std::string_view bytes, std::string* error = nullptr);

}  // namespace inferstack::wire
