#pragma once

#include <cstdint>
#include <memory>

#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <caf/fwd.hpp>

#include "actors/router/router_protocol.hpp"

namespace inferstack::actors::router {

/// The router: extracts the model from the body, resolves the namespace's routes (weighted
/// backends drawn from a generator seeded with `seed`), answers the model list of a namespace,
/// and takes a new route set at run time. Counts decisions in
/// `inferstack_router_decisions_total{namespace,result}`.
router_actor spawn_router(caf::actor_system& sys, route_set routes, uint64_t seed,
                          prometheus::Registry& registry, std::shared_ptr<spdlog::logger> log);

}  // namespace inferstack::actors::router
