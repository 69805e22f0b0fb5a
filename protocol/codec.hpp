// The catalogue's codec: encodes catalogue messages to their one msgpack form and back, for
// every process boundary. The transports take it through runtime's wire::message_codec.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/wire/message_codec.hpp"

namespace inferstack::protocol {

class catalogue_codec final : public wire::message_codec {
 public:
  std::optional<wire::encoded_message> encode(const caf::message& msg) const override;
  std::optional<caf::message> decode(uint16_t kind, std::string_view bytes,
                                     std::string* error = nullptr) const override;
};

/// Name of a kind for logs and errors ("probe_ping"), or "unknown".
std::string_view kind_name(uint16_t kind);

/// All catalogue kinds (for tests).
std::vector<uint16_t> all_kinds();

}  // namespace inferstack::protocol
