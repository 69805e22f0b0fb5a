// The gateway: the OpenAI API over HTTP in front of the stack. For every request it finds the
// namespace from the Host, asks the authorizer (before anything else), the router (model from
// the body -> InferencePool), the pool's picker (which pod), then streams the pod's tokens back
// -- nothing blocking an I/O thread. The steps are request_pipeline.hpp's; this is its listener.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <caf/fwd.hpp>

#include "actors/authorizer/authorizer_protocol.hpp"
#include "actors/router/router_protocol.hpp"
#include "actors/scaler/scaler_protocol.hpp"
#include "gateway/pool_directory.hpp"
#include "runtime/http/http_server.hpp"
#include "runtime/logging.hpp"
#include "runtime/transport.hpp"

namespace inferstack::runtime {
template <class T>
class published;
}  // namespace inferstack::runtime

namespace inferstack::actors::authorizer {
class authorizer_view;
}  // namespace inferstack::actors::authorizer

namespace inferstack::actors::router {
class router_view;
}  // namespace inferstack::actors::router

namespace inferstack::tracing {
class tracer;
}  // namespace inferstack::tracing

namespace inferstack::gateway {

struct gateway_settings {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;
  int io_threads = 2;
  std::string default_namespace = "default";
  uint64_t max_body_bytes = 4 * 1024 * 1024;
  std::chrono::nanoseconds header_timeout = std::chrono::seconds(10);
  std::chrono::nanoseconds idle_timeout = std::chrono::seconds(60);
  std::chrono::nanoseconds upstream_timeout = std::chrono::seconds(600);
  std::chrono::nanoseconds control_timeout = std::chrono::seconds(2);  ///< authorizer, router
  std::chrono::nanoseconds picker_timeout = std::chrono::milliseconds(500);
  uint32_t stream_window = 32;  ///< token chunks in flight per streamed request
  int max_attempts = 2;         ///< a request failing before its first byte is tried once more
  int upstream_threads = 1;     ///< spare I/O thread for upstream work outside a client connection
  /// Scale from zero: a request for a pool without a Ready pod asks the activator and waits up
  /// to this long for one; at most activation_queue requests wait at once (the rest: 503).
  std::chrono::nanoseconds activation_timeout = std::chrono::seconds(120);
  int activation_queue = 1024;
  /// X-Return-Error (fault injection) from clients is passed to pods only when this is on; a
  /// pod honours it only with its own switch too. Codes outside 400-599 are refused.
  bool forward_fault_injection = false;
  /// One info line per request when it ends (see request_log.hpp).
  bool access_log = true;
  /// X-Request-Id is adopted from the client and answered. The stack's gateway always does; a
  /// simulator pod's own API (pod_front_end) only with --enable-request-id-headers, and then
  /// its own ids are UUID-shaped, as llm-d-inference-sim's.
  bool request_id_headers = true;
  /// The request rules of llm-d-inference-sim instead of vLLM's (a simulator pod's own API):
  /// /v1/completions without max_tokens runs to the rest of the context (vLLM: 16 tokens), and
  /// a max_tokens below 1 is refused with the simulator's message.
  bool simulator_requests = false;
  /// The headers naming the pod on a generation's answer. Unset: x-inference-pod with the pod's
  /// name (the stack's gateway). A simulator pod sets llm-d-inference-sim's: x-inference-pod
  /// and -port from POD_NAME, x-inference-namespace from POD_NAMESPACE, none without them.
  std::optional<std::vector<std::pair<std::string, std::string>>> pod_identity_headers;
};

struct gateway_dependencies {
  caf::actor_system* system = nullptr;
  runtime::transport* transport = nullptr;
  actors::authorizer::authorizer_actor authorizer;
  actors::router::router_actor router;
  /// What the authorizer and router (in this process) publish: requests are authorized and
  /// routed on their own thread with it. Null or withdrawn: the actors are asked instead.
  std::shared_ptr<runtime::published<actors::authorizer::authorizer_view>> authorizer_view;
  std::shared_ptr<runtime::published<actors::router::router_view>> router_view;
  std::shared_ptr<pool_directory> pools;
  /// Starts a pod for a pool that has none (the scaler); null: no scale from zero.
  actors::scaler::scaler_actor activator;
  std::shared_ptr<prometheus::Registry> registry;
  std::shared_ptr<spdlog::logger> log;
  /// One line per request (settings.access_log); null: none.
  runtime::access_logger access_log;
  /// Wall-clock seconds for `created` fields (the composition root reads the clock).
  std::function<int64_t()> unix_seconds;
  /// Other routes (/metrics, health, debug) tried before the OpenAI API; true: handled.
  std::function<bool(const std::shared_ptr<http::exchange>&)> admin;
  uint64_t seed = 0;  ///< request ids and retries
  /// Request spans (W3C traceparent in, a server span per request, traceparent on to HTTP
  /// model servers); null: no tracing.
  std::shared_ptr<tracing::tracer> tracer;
};

/// Namespace of a request: the first label of its Host (`team-a.gw.example.com` -> team-a);
/// an IP address, `localhost` or a missing Host mean `default_ns`.
std::string namespace_of(std::string_view host, const std::string& default_ns);

/// A client's X-Request-Id is adopted only up to this length, of [A-Za-z0-9-_.:/+=].
inline constexpr size_t max_request_id_length = 128;
bool acceptable_request_id(std::string_view id);

class request_pipeline;

/// The request pipeline (request_pipeline.hpp) behind an HTTP listener.
class gateway {
 public:
  gateway(gateway_settings settings, gateway_dependencies deps);
  ~gateway();

  void start();
  uint16_t port() const;
  /// Stops accepting; requests in flight may finish until `grace` has passed.
  void stop(std::chrono::nanoseconds grace);

  /// Requests being answered now.
  size_t in_flight() const;

  struct context;

 private:
  std::shared_ptr<request_pipeline> pipeline_;
  std::unique_ptr<http::server> server_;
};

}  // namespace inferstack::gateway
