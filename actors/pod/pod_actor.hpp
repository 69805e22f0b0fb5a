// The pod actor: a simulated vLLM engine driven in the actor system's time. It admits
// generate_requests into the engine, runs engine steps on timers, streams tokens back to each
// requester with credit-based flow control, and publishes load reports and KV events.
#pragma once

#include <functional>
#include <memory>

#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <caf/fwd.hpp>

#include "actors/pod/pod_protocol.hpp"
#include "actors/pod/pod_settings.hpp"

namespace inferstack::tracing {
class tracer;
}  // namespace inferstack::tracing

namespace inferstack::actors::pod {

class pod_metrics;

/// Where a pod's events go; both callbacks may be called from any actor thread.
struct pod_outputs {
  std::function<void(const load_report&)> load;
  std::function<void(const kv_event_message&)> kv_events;
};

struct pod_dependencies {
  std::shared_ptr<prometheus::Registry> registry;  ///< the pod's own /metrics
  /// Its metrics, when the caller needs them too (fake-metrics updates); null: made in the
  /// registry with vLLM's exposition.
  std::shared_ptr<pod_metrics> metrics;
  std::shared_ptr<spdlog::logger> log;
  pod_outputs outputs;
  /// Added to the actor clock to get wall-clock nanoseconds for event timestamps (0 in tests).
  int64_t wall_clock_offset_ns = 0;
  /// Start ready (false: wait for mark_ready, e.g. while the node mocker "loads the model").
  bool start_ready = true;
  /// The process's tracer: a generate_request carrying a sampled traceparent is recorded as a
  /// child span (generate_trace.hpp). Null: no tracing, one branch a request.
  std::shared_ptr<tracing::tracer> tracer;
};

pod_actor spawn_pod(caf::actor_system& sys, pod_settings settings, pod_dependencies deps);

/// The HTTP status and OpenAI error fields a pod error maps to.
struct pod_error_info {
  int status = 500;
  std::string type;
  std::string code;
  std::string param;  ///< empty: null
  std::string message;
};

/// Maps a pod_errc error (as delivered to a requester) to its HTTP status and OpenAI fields.
pod_error_info describe_pod_error(const caf::error& err);

}  // namespace inferstack::actors::pod
