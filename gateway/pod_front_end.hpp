// A pod's own OpenAI API over HTTP (`inferstack run pod`, a drop-in for llm-d-inference-sim):
// every chat or completions request goes to this one pod actor through the same pod
// conversation the gateway uses -- no authorizer, router or picker, no namespaces, no retry
// (there is no other pod); the pod checks the model itself. /v1/messages and
// /inference/v1/generate go to the same pod actor (pod_other_apis.hpp). The other routes (health,
// /metrics, /v1/models, LoRA adapters, /tokenize) are the caller's `admin`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <spdlog/logger.h>
#include <caf/fwd.hpp>

#include "actors/pod/pod_protocol.hpp"
#include "gateway/gateway.hpp"
#include "runtime/http/http_server.hpp"
#include "runtime/logging.hpp"

namespace inferstack::gateway {

struct omni_output;

struct pod_front_end_dependencies {
  caf::actor_system* system = nullptr;
  actors::pod::pod_actor pod;
  std::string pod_name;
  std::shared_ptr<spdlog::logger> log;
  /// One line per request (settings.access_log); null: none.
  runtime::access_logger access_log;
  /// Wall-clock seconds for `created` fields.
  std::function<int64_t()> unix_seconds;
  /// The pod's other routes, tried first; true: handled.
  std::function<bool(const std::shared_ptr<http::exchange>&)> admin;
  uint64_t seed = 0;  ///< request ids
  /// The pod answers in echo mode (/inference/v1/generate then returns the prompt's ids).
  bool echo_mode = false;
  /// HTTPS on the listener (--ssl-certfile/--ssl-keyfile, --self-signed-certs); null: HTTP.
  std::shared_ptr<http::tls_credentials> tls;
  /// Omni mode's settings (--omni and the image flags); null: no images.
  std::shared_ptr<omni_output> omni;
  /// --mm-encoder-only: answers with images carry ec_transfer_params.
  bool encoder_only = false;
  /// Connections that open with HTTP/2's preface (gRPC on the same port, pod_grpc.hpp) go to
  /// this callback; null: HTTP/1 only.
  std::function<void(int fd)> http2_connections;
};

class pod_front_end {
 public:
  /// Of `settings`, the listener's (address, port, threads, limits), the pod's timeout
  /// (upstream_timeout), stream_window, forward_fault_injection and access_log count.
  pod_front_end(gateway_settings settings, pod_front_end_dependencies deps);
  ~pod_front_end();

  void start();
  uint16_t port() const;
  /// Stops accepting; requests in flight may finish until `grace` has passed.
  void stop(std::chrono::nanoseconds grace);

 private:
  /// One request, as the listener hands it over.
  void handle(std::shared_ptr<http::exchange> ex);

  struct parts;
  std::shared_ptr<parts> parts_;
  std::unique_ptr<http::server> server_;
};

}  // namespace inferstack::gateway
