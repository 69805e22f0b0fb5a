#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "actors/router/route_table.hpp"
#include "actors/router/router_protocol.hpp"
#include "runtime/metrics.hpp"
#include "runtime/published.hpp"

namespace inferstack::actors::router {

/// The router's decision as its routes stand: immutable, published anew when routes change.
/// The gateway decides with it on the request's own thread (weighted backends drawn from the
/// caller's generator); the actor answers route_request with the same function.
class router_view {
 public:
  router_view(route_table table, std::shared_ptr<runtime::decision_counters> counters,
              std::shared_ptr<spdlog::logger> log = nullptr);
  /// The pool for the body's model, or a router_errc error with its detail as context.
  /// `request_id` names the request on the debug line.
  caf::expected<route_decision> decide(std::string_view ns, std::string_view path,
                                       std::string_view body, route_rng& rng,
                                       std::string_view request_id = {}) const;
  const route_table& table() const { return table_; }

 private:
  route_table table_;
  std::shared_ptr<runtime::decision_counters> counters_;
  std::shared_ptr<spdlog::logger> log_;
};

using published_router = runtime::published<router_view>;

/// The router: extracts the model from the body, resolves the namespace's routes (weighted
/// backends drawn from a generator seeded with `seed`), answers the model list of a namespace,
/// and takes a new route set at run time. Counts decisions in
/// `inferstack_router_decisions_total{namespace,result}`. With `view`, it publishes each version
/// of its routes there, and withdraws it when it ends.
router_actor spawn_router(caf::actor_system& sys, route_set routes, uint64_t seed,
                          prometheus::Registry& registry, std::shared_ptr<spdlog::logger> log,
                          std::shared_ptr<published_router> view = nullptr);

}  // namespace inferstack::actors::router
