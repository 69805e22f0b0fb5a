// Receives vLLM KV-event messages over ZeroMQ for a picker, from pods in other processes --
// ours, llm-d-inference-sim or real vLLM: SUB sockets that bind (llm-d's central mode, pods
// connect) or connect to each pod (pod discovery), 3-frame messages [topic, 8-byte BE seq,
// payload]. When a topic's sequence jumps, it asks the pod's replay ROUTER for the missing
// batches first and delivers everything in order; only when that fails does the gap reach the
// picker (which then resets that pod's index). A topic first heard past seq 0 (a picker that
// joined late or restarted) is replayed from 0 the same way: what the pod's buffer still holds.
// And a pod is asked for everything its buffer holds as soon as set_replay first names it, busy
// or idle: a picker that starts late knows what every pod holds before it takes picks
// (`first_replays_pending`), not at each pod's next event.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "actors/pod/pod_protocol.hpp"
#include "runtime/zmq_transport.hpp"

namespace inferstack::actors::picker {

struct kv_subscriber_settings {
  std::string bind;  ///< central mode: SUB binds here ("tcp://*:5557"); empty: none
  std::string topic_filter = "kv@";
  std::chrono::milliseconds replay_timeout{1000};
  /// Our own pods' KV sockets speak CurveZMQ (connect(..., true)); vLLM's and the central
  /// socket stay plaintext.
  std::optional<runtime::zmq_curve_settings> curve;
  /// The pods named by set_replay whose first replay has not ended (answered to the end,
  /// or given up after `replay_timeout` without an answer). Shared with the picker, which
  /// takes its first pick only once it is 0; null: the subscriber keeps its own.
  std::shared_ptr<std::atomic<size_t>> first_replays_pending;
};

class kv_subscriber {
 public:
  using sink = std::function<void(pod::kv_event_message)>;

  /// Throws when `bind` cannot be bound. `deliver` runs on the subscriber's thread.
  kv_subscriber(kv_subscriber_settings settings, sink deliver);
  ~kv_subscriber();

  kv_subscriber(const kv_subscriber&) = delete;
  kv_subscriber& operator=(const kv_subscriber&) = delete;

  /// Pod discovery: subscribe to a pod's PUB endpoint; `secure`: over CurveZMQ (one of our
  /// pods, when the settings have keys).
  void connect(const std::string& endpoint, bool secure = false);
  void disconnect(const std::string& endpoint);
  /// Where to ask for replays of topics whose pod field is `pod` (its address). The first
  /// time a pod is named, it is asked at once for everything it holds.
  void set_replay(const std::string& pod, const std::string& replay_endpoint, bool secure = false);

  std::string bound_endpoint() const;
  uint64_t replays() const;    ///< replay requests answered
  uint64_t gaps_left() const;  ///< gaps passed on unrepaired
  size_t first_replays_pending() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace inferstack::actors::picker
