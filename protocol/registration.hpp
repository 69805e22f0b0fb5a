// Registers inferstack's message catalogue with an actor system: every message type of the
// type-ID block and the error categories of the actors that answer with errors. Every node,
// test and benchmark hands it to runtime::system_config (or runtime::simulation).
#pragma once

#include <caf/fwd.hpp>

namespace inferstack::protocol {

void register_messages(caf::actor_system_config& cfg);

}  // namespace inferstack::protocol
