#pragma once

#include <string>

#include <caf/fwd.hpp>

#include "actors/probe/probe_protocol.hpp"

namespace inferstack::actors::probe {

/// Spawns the transport probe: answers pings/echoes, counts notes, and serves streams by
/// sending probe_stream_item messages to the requester before replying probe_stream_done.
probe_actor spawn_probe(caf::actor_system& sys, std::string node_id);

}  // namespace inferstack::actors::probe
