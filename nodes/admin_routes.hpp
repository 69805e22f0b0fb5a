#pragma once

#include <atomic>
#include <memory>
#include <string_view>

#include <prometheus/registry.h>

#include "runtime/http/http_server.hpp"

namespace inferstack::nodes {

/// /healthz and /readyz (and vLLM's /health, /health/ready): the probes, open on every listener.
bool is_health_path(std::string_view path);

/// Answers /metrics, /healthz (alive) and /readyz (ready once `ready` is set); returns false
/// for any other path so the caller can route it elsewhere.
bool serve_admin(const std::shared_ptr<http::exchange>& ex, prometheus::Registry& registry,
                 const std::atomic<bool>& ready);

}  // namespace inferstack::nodes
