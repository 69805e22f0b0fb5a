#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <caf/fwd.hpp>

#include "actors/authorizer/authorizer_protocol.hpp"
#include "actors/authorizer/key_store.hpp"
#include "runtime/metrics.hpp"
#include "runtime/published.hpp"

namespace inferstack::actors::authorizer {

/// The authorizer's decision as its keys stand: immutable, published anew when keys change.
/// The gateway decides with it on the request's own thread; the actor answers
/// authorize_request with the same function, so both count and log alike.
class authorizer_view {
 public:
  authorizer_view(key_store store, std::shared_ptr<runtime::decision_counters> counters,
                  std::shared_ptr<spdlog::logger> log);
  auth_verdict decide(std::string_view ns, std::string_view authorization,
                      std::string_view request_id) const;

 private:
  key_store store_;
  std::shared_ptr<runtime::decision_counters> counters_;
  std::shared_ptr<spdlog::logger> log_;
};

using published_authorizer = runtime::published<authorizer_view>;

/// The authorizer: answers authorize_request from its key store; key_set replaces the keys
/// (rotation while running: open streams are unaffected, new requests see the new keys).
/// Counts decisions in `inferstack_auth_requests_total{namespace,result}`. With `view`, it
/// publishes each version of its keys there, and withdraws it when it ends.
authorizer_actor spawn_authorizer(caf::actor_system& sys, key_set initial,
                                  prometheus::Registry& registry,
                                  std::shared_ptr<spdlog::logger> log,
                                  std::shared_ptr<published_authorizer> view = nullptr);

}  // namespace inferstack::actors::authorizer
