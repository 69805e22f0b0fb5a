// Publishes a pod's KV events on ZeroMQ exactly as vLLM does: a PUB socket (binding when the
// endpoint has '*', '::', ipc:// or inproc://, connecting otherwise), messages
// [topic, 8-byte big-endian seq, msgpack EventBatch], and a replay ROUTER that answers
// [identity, "", start seq] with every kept batch from that seq, then an end sentinel.
// With `curve` (a pod of the multi-process stack) a bound PUB and the replay ROUTER are CurveZMQ
// servers that admit only the stack's role keys; without it, plaintext as vLLM's.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "actors/pod/pod_protocol.hpp"
#include "runtime/zmq_transport.hpp"

namespace inferstack::actors::pod {

struct kv_publisher_settings {
  std::string endpoint;          ///< PUB endpoint
  std::string replay_endpoint;   ///< ROUTER endpoint; empty: no replay
  size_t replay_buffer = 10000;  ///< batches kept (vLLM's buffer_steps)
  /// Bind even an endpoint vLLM's rule would connect (a pod whose port was chosen for it).
  bool force_bind = false;
  /// CurveZMQ for the bound sockets; a PUB that connects (to a central SUB that vLLM pods
  /// reach too) stays plaintext.
  std::optional<runtime::zmq_curve_settings> curve;
};

class kv_publisher {
 public:
  /// Binds/connects at once; throws with the endpoint in the message when that fails.
  explicit kv_publisher(kv_publisher_settings settings);
  ~kv_publisher();

  kv_publisher(const kv_publisher&) = delete;
  kv_publisher& operator=(const kv_publisher&) = delete;

  /// Thread-safe: queues one message for the I/O thread.
  void publish(const kv_event_message& message);

  /// The PUB / ROUTER endpoints actually bound ("*" ports resolved); empty when connecting.
  std::string bound_endpoint() const;
  std::string bound_replay_endpoint() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

/// vLLM's rule: bind when the endpoint contains '*', '::', ipc:// or inproc://.
bool publisher_binds(const std::string& endpoint);

}  // namespace inferstack::actors::pod
