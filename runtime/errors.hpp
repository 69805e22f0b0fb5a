#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace inferstack::runtime {

/// Failures of the transport, delivered to requesters as CAF errors of category "transport".
enum class transport_errc : uint8_t {
  peer_unreachable = 1,  ///< the peer did not answer heartbeats: request not sent
  peer_lost,             ///< the peer went away while the request was outstanding
  unknown_actor,         ///< no actor of that name or id on the peer
  not_serializable,      ///< the message is not in the wire catalogue
  decode_failed,         ///< the peer could not decode the payload
  shutting_down,         ///< the local transport is stopping
  request_expired,       ///< no answer within the transport's request lifetime
};

std::string to_string(transport_errc x);

}  // namespace inferstack::runtime

CAF_ERROR_CODE_ENUM(inferstack::runtime::transport_errc, "transport")
