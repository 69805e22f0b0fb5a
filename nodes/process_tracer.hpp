// A process's tracer: one per process (gateway, picker or pod process, or `inferstack dev` with
// every role), from the InferenceGateway's spec.tracing, with the OTLP exporter it hands ended
// spans to. The roles get it passed in; each process names itself in service.name.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <prometheus/registry.h>

#include "runtime/config/manifests.hpp"
#include "runtime/tracing/tracer.hpp"

namespace inferstack::nodes {

/// The tracer (owning its exporter, flushed when the last holder lets go); null when
/// spec.tracing names no collector. `service_name` is the OTLP resource's service.name.
/// Throws std::invalid_argument for an endpoint the exporter refuses.
std::shared_ptr<tracing::tracer> make_process_tracer(
    const config::gateway_settings::tracing_settings& settings, const std::string& service_name,
    prometheus::Registry& registry, uint64_t seed);

/// A process that runs some roles only names itself after them: `<serviceName>-picker` for a
/// picker process, `<serviceName>-pod` for a pod process; the gateway's process (and `dev`,
/// every role in one) keeps serviceName.
std::string role_service_name(const std::string& service_name, const std::string& role);

}  // namespace inferstack::nodes
