#pragma once

#include <memory>

#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <caf/fwd.hpp>

#include "actors/authorizer/authorizer_protocol.hpp"

namespace inferstack::actors::authorizer {

/// The authorizer: answers authorize_request from its key store; key_set replaces the keys
/// (rotation while running: open streams are unaffected, new requests see the new keys).
/// Counts decisions in `inferstack_auth_requests_total{namespace,result}`.
authorizer_actor spawn_authorizer(caf::actor_system& sys, key_set initial,
                                  prometheus::Registry& registry,
                                  std::shared_ptr<spdlog::logger> log);

const char* to_string(auth_verdict v);

}  // namespace inferstack::actors::authorizer
