// Encodes catalogue messages to their one msgpack form and back, for every process boundary.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>

#include "runtime/catalogue.hpp"

namespace inferstack::wire {

struct encoded_message {
  uint16_t kind = 0;
  std::string bytes;
};

/// Encodes a CAF message holding exactly one catalogue struct (or nothing: kind 0).
/// Returns nullopt for anything else, e.g. a local-only atom.
std::optional<encoded_message> encode_message(const caf::message& msg);

/// Decodes payload bytes of the given kind into a CAF message; `error` says why not.
std::optional<caf::message> decode_message(uint16_t kind, std::string_view bytes,
                                           std::string* error = nullptr);

/// Name of a kind for logs and errors ("probe_ping"), or "unknown".
std::string_view kind_name(uint16_t kind);

/// All catalogue kinds (for tests).
std::vector<uint16_t> all_kinds();

/// Encodes one catalogue struct directly (no CAF message).
template <class T>
std::string encode_value(const T& value) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, value);
  return std::string(buf.data(), buf.size());
}

/// Flattens a CAF error for an error frame, and back.
wire_error to_wire_error(const caf::error& err, const caf::actor_system* sys = nullptr);
caf::error from_wire_error(const wire_error& err);

}  // namespace inferstack::wire
