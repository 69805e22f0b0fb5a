// How a process boundary turns actor messages into bytes and back. The transports take it as
// an interface: which messages exist is the business of the layer above (protocol/), the
// ground floor only moves their bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <caf/message.hpp>
#include <msgpack.hpp>

namespace inferstack::wire {

struct encoded_message {
  uint16_t kind = 0;  ///< the message's wire kind; 0: an empty message (e.g. a void reply)
  std::string bytes;
};

class message_codec {
 public:
  virtual ~message_codec() = default;

  /// Encodes a CAF message holding exactly one known message (or nothing: kind 0).
  /// Returns nullopt for anything else, e.g. a local-only atom.
  virtual std::optional<encoded_message> encode(const caf::message& msg) const = 0;

  /// Decodes payload bytes of the given kind into a CAF message; `error` says why not.
  virtual std::optional<caf::message> decode(uint16_t kind, std::string_view bytes,
                                             std::string* error = nullptr) const = 0;
};

/// Encodes one INFERSTACK_FIELDS struct as its msgpack map.
template <class T>
std::string encode_value(const T& value) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, value);
  return std::string(buf.data(), buf.size());
}

/// Unpacks one payload whole, within the limits every boundary applies (16 MiB strings, 64 Ki
/// array or map entries, depth 32); nullopt with `error` ("<name>: why") on garbage or
/// trailing bytes.
std::optional<msgpack::object_handle> unpack_payload(std::string_view bytes, std::string_view name,
                                                     std::string* error);

}  // namespace inferstack::wire
