// vLLM's gRPC engine API (service VllmEngine, gateway/grpc/vllm_engine.proto) on a pod's own
// port, as llm-d-inference-sim serves it beside HTTP: the pod's HTTP listener hands every
// connection that opens with HTTP/2's preface to this server (adopt), the rest stay HTTP/1.
// Generate runs on the pod's engine like any other request (echo or random, latencies, metrics)
// through `generate` (pod_grpc_engine.hpp makes it on the pod actor); the other calls answer
// from the pod's settings. No CAF and no gRPC in this header: both stay in their own sources.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace inferstack::gateway {

/// One Generate call, as the pod's engine takes it.
struct grpc_generation {
  std::string request_id;  ///< unique per call (clients may repeat theirs)
  std::vector<uint32_t> prompt;
  std::string text;         ///< a text prompt as given (its ids are in `prompt`); empty: token ids
  int64_t max_tokens = -1;  ///< -1: not given
  bool ignore_eos = false;
  bool stream = false;
};

/// What a generation produces: token runs (streamed), then one complete or failed.
struct grpc_event {
  enum class kind { tokens, complete, failed };
  kind what = kind::tokens;
  std::vector<uint32_t> ids;  ///< tokens: this run's ids; complete: all output ids (not streamed)
  std::string finish_reason;
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  uint32_t cached_tokens = 0;
  int http_status = 0;  ///< failed: the pod's error as its HTTP status (the simulator maps those)
  std::string message;  ///< failed: the error's text
};

/// Starts a generation; `emit` hears its events (from any thread), the last one complete or
/// failed. Returns what cancels it (the client went away, or Abort named it).
using grpc_generate_fn =
    std::function<std::function<void()>(grpc_generation, std::function<void(grpc_event)> emit)>;

struct pod_grpc_dependencies {
  grpc_generate_fn generate;
  std::function<bool()> ready;  ///< HealthCheck's answer (model loaded); null: always
  std::string model;            ///< GetModelInfo's model_path (the pod's --model)
  uint32_t max_model_len = 0;
  std::function<double()> unix_seconds;  ///< GetServerInfo's timestamps
};

class pod_grpc_server {
 public:
  explicit pod_grpc_server(pod_grpc_dependencies deps);
  ~pod_grpc_server();

  /// Builds the gRPC server (it listens on no port of its own).
  void start();
  /// Serves one accepted connection whose first bytes are HTTP/2's preface; the server owns
  /// `fd` from now on. Before start() or after stop(), the fd is closed.
  void adopt(int fd);
  /// Ends the calls in flight and the connections. Idempotent.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace inferstack::gateway
