#pragma once

#include <cstdint>
#include <string_view>

namespace inferstack::wire {

/// What an envelope asks of the receiving node. Values are fixed: they are on the wire.
enum class frame_type : uint8_t {
  send = 1,           ///< one-way message to an actor
  request = 2,        ///< message expecting exactly one response or error (correlation id set)
  response = 3,       ///< the reply to a request (correlation id of the request)
  error = 4,          ///< a request failed; payload is a wire_error
  heartbeat = 5,      ///< liveness probe from a connecting peer
  heartbeat_ack = 6,  ///< answer to a heartbeat
  event = 7,          ///< a published event (pub/sub), receiver is the topic
};

constexpr frame_type max_frame_type = frame_type::event;

std::string_view to_string(frame_type x);

}  // namespace inferstack::wire
