// One prometheus-cpp registry per process, created by the composition root and passed to
// every component that counts something; served at /metrics in the text format.
#pragma once

#include <memory>
#include <string>

#include <prometheus/registry.h>

namespace inferstack::runtime {

/// Renders every family of `registry` in the Prometheus text exposition format.
std::string render_metrics(prometheus::Registry& registry);

/// Content type of render_metrics() output.
inline constexpr const char* metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace inferstack::runtime
