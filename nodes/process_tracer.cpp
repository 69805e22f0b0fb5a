// A process's tracer; see process_tracer.hpp.
#include "nodes/process_tracer.hpp"

#include <algorithm>
#include <chrono>

#include "runtime/tracing/otlp_exporter.hpp"

namespace inferstack::nodes {

std::shared_ptr<tracing::tracer> make_process_tracer(
    const config::gateway_settings::tracing_settings& t, const std::string& service_name,
    prometheus::Registry& registry, uint64_t seed) {
  if (t.endpoint.empty()) return nullptr;
  tracing::exporter_settings es;
  es.endpoint = t.endpoint;
  tracing::add(es.resource, "service.name", service_name);
  es.max_queue = static_cast<size_t>(t.max_queue);
  es.max_batch = static_cast<size_t>(t.max_batch);
  es.max_delay = std::max(std::chrono::milliseconds(1),
                          std::chrono::duration_cast<std::chrono::milliseconds>(t.max_delay));
  auto exporter = std::make_shared<tracing::otlp_exporter>(std::move(es), registry);
  // Span ids differ from the request ids drawn from the same seed.
  return std::make_shared<tracing::tracer>(tracing::ratio_sampler(t.sampling_ratio),
                                           seed ^ 0x7472616365ULL, tracing::system_unix_nanos,
                                           [exporter](tracing::span&& s) { exporter->submit(s); });
}

std::string role_service_name(const std::string& service_name, const std::string& role) {
  if (role.empty() || role == "gateway") return service_name;
  return service_name + "-" + role;
}

}  // namespace inferstack::nodes
