#pragma once

#include <atomic>
#include <memory>

#include <prometheus/registry.h>

#include "runtime/http/http_server.hpp"

namespace inferstack::nodes {

/// Answers /metrics, /healthz (alive) and /readyz (ready once `ready` is set); returns false
/// for any other path so the caller can route it elsewhere.
bool serve_admin(const std::shared_ptr<http::exchange>& ex, prometheus::Registry& registry,
                 const std::atomic<bool>& ready);

}  // namespace inferstack::nodes
