// The picker's flow-control queues (llm-d-router's flow-control layer as a plain class: no
// actors, no clock of its own -- every call is given the time). Requests wait in priority
// bands, highest priority first; within a band each flow (fairness id) has a FCFS queue, and
// the band's fairness policy chooses the flow to serve next: the oldest request of the band
// (global strict), flows in turn (round robin), or the flow with the fewest tokens served (VTC,
// which charges every request dispatched through the picker, queued or not: its prompt tokens
// when dispatched, its output tokens when done). Bands and the whole are bounded in requests
// and bytes; each request has a queue-wait budget (TTL). With a fair-share ceiling the caller
// may hold back flows over their share of the band's requests in flight (pop's argument).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/picker/flow_control/settings.hpp"

namespace inferstack::actors::picker::flow_control {

/// A request in (or leaving) the queues. The ticket is the caller's handle.
struct queued_request {
  uint64_t ticket = 0;
  std::string flow;  ///< fairness id
  int priority = 0;  ///< its band
  uint64_t bytes = 0;
  uint64_t prompt_tokens = 0;  ///< charged to the flow when dispatched (VTC)
  int64_t enqueued_ns = 0;
  int64_t expires_ns = 0;  ///< 0: no TTL
  uint64_t seq = 0;        ///< enqueue order (global strict; kept when requeued)
};

/// One flow's queue, for metrics.
struct flow_stats {
  int priority = 0;
  std::string flow;
  size_t requests = 0;
  uint64_t bytes = 0;
};

class flow_controller {
 public:
  explicit flow_controller(flow_control_settings settings);

  const flow_control_settings& settings() const { return settings_; }

  /// Queues a request; false when its band or the whole is full (nothing changes then).
  /// `deadline_ns` (not 0): it leaves by then if its TTL does not end it sooner.
  bool enqueue(uint64_t ticket, const std::string& flow, int priority, uint64_t bytes,
               uint64_t prompt_tokens, int64_t now_ns, int64_t deadline_ns = 0);

  /// Puts a request pop() gave back at the head of its flow, as it was (its place, enqueue
  /// time and deadline; VTC's charge of its prompt undone): it could not be dispatched yet
  /// (no pod predicted to meet its latency objective). Not bounded by the capacities: it was
  /// counted in them a moment ago.
  void requeue(const queued_request& req);

  /// The next request to dispatch, taken out of the queues and its prompt charged to its flow;
  /// nullopt when nothing waits. `over_share_may_go` false: flows over their share (over_share)
  /// are passed over, and nullopt when the first band with requests has no other flow waiting.
  std::optional<queued_request> pop(int64_t now_ns, bool over_share_may_go = true);

  /// Whether a flow holds more than its share of its band's requests in flight: more than the
  /// band's in-flight total over its active flows (in flight or waiting). Counted with the
  /// fair-share ceiling on (settings().over_share_ceiling < 1) from track() and done().
  bool over_share(const std::string& flow, int priority) const;

  /// A request leaves its queue (its client went); nullopt when it is not queued.
  std::optional<queued_request> cancel(uint64_t ticket);

  /// Requests whose TTL has passed by now, taken out of the queues (oldest deadline first).
  /// Also forgets flows idle for longer than the flow GC interval.
  std::vector<queued_request> expire(int64_t now_ns);

  /// Every queued request, taken out (the pool has emptied, or the picker ends).
  std::vector<queued_request> take_all();

  /// When the next TTL falls due; nullopt: none pending.
  std::optional<int64_t> next_expiry() const;

  /// Charges tokens served to a flow (VTC): a request dispatched without waiting (its prompt),
  /// and a request's output when it is done. A no-op for bands of other policies.
  void charge(const std::string& flow, int priority, uint64_t prompt_tokens, uint64_t output_tokens,
              int64_t now_ns);

  /// A request dispatched: done() charges its output to its flow (VTC) and takes it off the
  /// flow's in flight (fair-share ceiling). A record whose completion never comes (the gateway
  /// died, the message was lost) is forgotten by expire() after record_ttl_ns. A no-op for bands
  /// of other policies without the fair-share ceiling.
  void track(const std::string& request_id, const std::string& flow, int priority, int64_t now_ns);
  /// A tracked request is done: its output charged to its flow; false when it is not tracked.
  bool done(const std::string& request_id, uint64_t output_tokens, int64_t now_ns);
  size_t tracked() const { return tracked_.size(); }

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  size_t band_size(int priority) const;
  /// A flow's virtual token counter (VTC); 0 for a flow never charged.
  double counter(const std::string& flow, int priority) const;
  std::vector<flow_stats> stats() const;

  /// Flows idle this long are forgotten (llm-d's flow GC: 5 minutes).
  static constexpr int64_t flow_gc_ns = 300'000'000'000;
  /// Tracked requests are forgotten after this long (the endpoint picker's in-flight timeout).
  static constexpr int64_t record_ttl_ns = 600'000'000'000;

 private:
  struct flow {
    std::deque<uint64_t> tickets;  ///< FCFS
    uint64_t bytes = 0;
    double counter = 0;  ///< VTC: weighted tokens served
    int64_t last_used_ns = 0;
    size_t in_flight = 0;  ///< tracked requests dispatched and not yet done
  };
  struct band {
    band_settings cfg;
    std::map<std::string, flow> flows;  ///< sorted: round robin's deterministic order
    size_t requests = 0;
    uint64_t bytes = 0;
    std::string cursor;  ///< round robin: the flow served last
    bool served_any = false;
    double last_left = 0;  ///< VTC: the counter of the flow whose queue emptied last
  };
  struct item {
    queued_request req;
  };

  band& band_of(int priority);
  const flow* find_flow(const std::string& name, int priority) const;
  /// The flow to serve next by the band's policy (null: none waits that may go).
  const std::string* choose_flow(band& b, bool over_share_may_go) const;
  struct band_load {
    size_t active = 0;     ///< flows with requests in flight or waiting
    size_t in_flight = 0;  ///< the band's requests in flight
  };
  static band_load load_of(const band& b);
  static bool over_share(const band_load& load, const flow& f);
  void untrack(const std::string& flow, int priority);
  void remove(std::unordered_map<uint64_t, item>::iterator it, bool from_front);

  flow_control_settings settings_;
  std::map<int, band, std::greater<>> bands_;  ///< highest priority first
  std::unordered_map<uint64_t, item> items_;
  std::set<std::pair<int64_t, uint64_t>> deadlines_;  ///< (expires_ns, ticket)
  uint64_t seq_ = 0;
  uint64_t bytes_ = 0;
  struct tracked_request {
    std::string flow;
    int priority = 0;
    int64_t since_ns = 0;
  };
  std::unordered_map<std::string, tracked_request> tracked_;  ///< by request id
  int64_t last_sweep_ns_ = 0;
};

}  // namespace inferstack::actors::picker::flow_control
