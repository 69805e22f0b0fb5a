#pragma once

#include <cstdint>
#include <string_view>

namespace inferstack::wire {

/// Version of the envelope layout. A receiver refuses envelopes of any other version with a
/// clear error instead of guessing; bump it whenever the envelope's layout changes.
constexpr uint32_t wire_version = 1;

/// The payload of a heartbeat ack from a node that reads the leading parts of a ZeroMQ message
/// as frames of their own (lazy frames ride ahead of the next frame; see zmq_transport). A node
/// of an older build acks with an empty payload and keeps only a message's last part, so lazy
/// frames are held for a peer only once its ack said this. Peers of either build keep talking.
constexpr std::string_view ack_takes_leading_parts = "parts";

}  // namespace inferstack::wire
