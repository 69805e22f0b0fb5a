// What every role of the stack (nodes/roles/*_role.hpp) is built from: the actor system and
// transport of its process, the configuration, where it logs and counts; and where the roles of
// other processes are. The process that composes the roles (nodes/stack_process.hpp) owns all of
// it and outlives its roles.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <caf/fwd.hpp>

#include "runtime/config/manifests.hpp"
#include "runtime/transport.hpp"

namespace inferstack::tracing {
class tracer;
}  // namespace inferstack::tracing

namespace inferstack::nodes {

struct role_context {
  caf::actor_system& system;
  runtime::transport& transport;
  /// The configuration; a reload (SIGHUP) replaces its keys and routes in place.
  const config::stack_config& config;
  std::shared_ptr<spdlog::logger> log;
  std::shared_ptr<prometheus::Registry> registry;
  uint64_t seed;
  /// The process's tracer (nodes/process_tracer.hpp), one for all its roles; null: no tracing.
  std::shared_ptr<tracing::tracer> tracer = nullptr;
};

/// Where the roles of other processes are (transport addresses, tcp://host:port).
struct peer_addresses {
  /// "<ns>/<pool>" -> its picker replicas' processes, in replica order (`--picker` repeated
  /// for the pool; one for a pool with one picker).
  std::map<std::string, std::vector<std::string>> pickers;
  /// Gateways that run the pickers (--local-pickers): every gateway replica's transport
  /// address, in replica order -- each pool's pickers in them share state (`--gateway-peers`).
  std::vector<std::string> gateways;
  std::string control;         ///< the control process
  std::string control_events;  ///< ... and its events endpoint
};

}  // namespace inferstack::nodes
