// Messages of the transport probe: a tiny actor that answers pings and echoes and produces
// streams on demand. The transport tests, the multi-process test and the transport benchmark
// use it, and `inferstack` nodes expose one so peers can check reachability.
#pragma once

#include <cstdint>
#include <string>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "protocol/type_ids.hpp"
#include "runtime/message_fields.hpp"

namespace inferstack::actors::probe {

struct probe_ping {
  uint64_t seq = 0;
  int64_t sent_ns = 0;  ///< sender's clock, echoed back for round-trip measurement
  INFERSTACK_FIELDS(probe_ping, seq, sent_ns)
};

struct probe_pong {
  uint64_t seq = 0;
  int64_t sent_ns = 0;
  std::string node;  ///< node id of the answering node
  INFERSTACK_FIELDS(probe_pong, seq, sent_ns, node)
};

struct probe_echo {
  std::string text;
  INFERSTACK_FIELDS(probe_echo, text)
};

/// Asks for `count` probe_stream_item messages sent to the requester, then the reply.
struct probe_stream_request {
  uint64_t stream = 0;
  uint64_t count = 0;
  uint32_t item_bytes = 0;
  INFERSTACK_FIELDS(probe_stream_request, stream, count, item_bytes)
};

struct probe_stream_item {
  uint64_t stream = 0;
  uint64_t seq = 0;
  std::string data;
  INFERSTACK_FIELDS(probe_stream_item, stream, seq, data)
};

struct probe_stream_done {
  uint64_t stream = 0;
  uint64_t count = 0;
  INFERSTACK_FIELDS(probe_stream_done, stream, count)
};

/// A one-way message; the probe counts them (for throughput measurements).
struct probe_note {
  uint64_t seq = 0;
  std::string data;
  INFERSTACK_FIELDS(probe_note, seq, data)
};

struct probe_count_request {
  INFERSTACK_NO_FIELDS(probe_count_request)
};

struct probe_count {
  uint64_t notes = 0;
  INFERSTACK_FIELDS(probe_count, notes)
};

using probe_actor = caf::typed_actor<
    caf::replies_to<probe_ping>::with<probe_pong>, caf::replies_to<probe_echo>::with<probe_echo>,
    caf::replies_to<probe_stream_request>::with<probe_stream_done>, caf::reacts_to<probe_note>,
    caf::replies_to<probe_count_request>::with<probe_count>>;

}  // namespace inferstack::actors::probe
