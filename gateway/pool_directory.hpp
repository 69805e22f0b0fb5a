// Which picker replicas serve each InferencePool, and how the gateway reaches pods. Read by
// every request (shared lock), written when pools, pickers or pods change.
//
// A pool may have several picker replicas (active-active, each a process of its own): the
// gateway spreads its picks over the healthy ones (fewest picks outstanding from this gateway,
// ties in turn), sends a request's next attempt to another replica, and leaves a replica out
// while its transport has heard nothing from it (heartbeats every 100 ms) or after a pick it
// did not answer in time -- until it answers again. See replica_set.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/error.hpp>

#include "actors/picker/picker_protocol.hpp"
#include "gateway/upstream_client.hpp"

namespace inferstack::actors::picker {
class direct_picker;
}

namespace inferstack::gateway {

/// One replica of a pool's endpoint picker.
struct picker_replica {
  actors::picker::picker_actor picker;
  std::string address;  ///< its transport address; empty: a picker of this process
};

/// When a replica counts as gone, and for how long a failed one is left out.
struct replica_policy {
  /// Silent this long (no heartbeat answer, no frame): left out. Heartbeats go every 100 ms, so
  /// this is two missed in a row; a replica that answers again is back at once.
  std::chrono::milliseconds silence_limit{200};
  /// One attempt's time when another replica could answer (a pick takes well under a
  /// millisecond): past it, the pick goes to another replica. Pools with flow control, whose
  /// picks may wait in the picker's queue, move on only when the replica is also silent.
  std::chrono::milliseconds attempt_timeout{150};
  /// How often a pick still waiting on a replica looks whether the replica has gone silent
  /// meanwhile: then it goes to another at once instead of waiting out its attempt (a pick sent
  /// just before the silence showed would otherwise add the whole attempt_timeout to it).
  std::chrono::milliseconds silence_check{25};
  /// A replica that failed a pick (no answer in time, transport error, not ready) is left out
  /// this long, then one pick probes it.
  std::chrono::milliseconds suspension{250};
};

/// The replicas a request has asked, as replica_set::choose reads them: bit i, replica i (a
/// pool has at most 16).
inline bool was_tried(uint64_t tried, size_t i) {
  return i < 64 && (tried >> i) & 1u;
}
inline void mark_tried(uint64_t& tried, size_t i) {
  if (i < 64) tried |= uint64_t{1} << i;
}

/// The replicas of one pool and what this gateway knows of their health: thread-safe (every
/// request thread chooses), time passed in as nanoseconds of the caller's clock. With one
/// replica it always chooses that one, as the gateway did before replicas.
class replica_set {
 public:
  /// How long the replica at `address` has been silent (nullopt: unknown, never dialled).
  using silence_probe =
      std::function<std::optional<std::chrono::milliseconds>(const std::string& address)>;

  explicit replica_set(std::vector<picker_replica> replicas, replica_policy policy = {},
                       silence_probe silence = {});

  size_t size() const { return replicas_.size(); }
  const picker_replica& at(size_t i) const { return replicas_[i].replica; }
  const replica_policy& policy() const { return policy_; }

  /// The replica for a pick at `now_ns`, not one of `tried` (bit i: replica i was asked for
  /// this request): a healthy one with the fewest picks outstanding, ties taken in turn; if
  /// none is healthy, the one whose suspension ends first unless it is silent. Nullopt: none
  /// left to ask. Counts the pick as outstanding there.
  std::optional<size_t> choose(int64_t now_ns, uint64_t tried);
  /// Replica i answered its pick (an endpoint, or the picker's own refusal): it is healthy.
  void answered(size_t i);
  /// Replica i did not answer in time, could not be reached or is not ready: left out for the
  /// suspension, then probed.
  void failed(size_t i, int64_t now_ns);

  /// Neither silent nor suspended at `now_ns`.
  bool healthy(size_t i, int64_t now_ns) const;
  /// Its transport has heard nothing from it for the silence limit.
  bool silent(size_t i) const;
  /// Picks outstanding at replica i, from this gateway.
  int outstanding(size_t i) const { return replicas_[i].outstanding.load(); }
  /// Picks sent to replica i so far; picks moved from one replica to another so far.
  uint64_t picks(size_t i) const { return replicas_[i].picks.load(); }
  uint64_t failovers() const { return failovers_.load(); }
  /// A request's pick moved on to another replica (counted for the metrics).
  void note_failover() { failovers_++; }

 private:
  struct slot {
    picker_replica replica;
    std::atomic<int> outstanding{0};
    std::atomic<int64_t> suspended_until{0};  ///< ns of the callers' clock
    std::atomic<uint64_t> picks{0};
  };
  // Slots hold atomics (not movable): built once, in place.
  std::vector<slot> replicas_;
  replica_policy policy_;
  silence_probe silence_;
  std::atomic<uint64_t> turn_{0};
  std::atomic<uint64_t> failovers_{0};
};

/// A pool served by one picker (tests, and pools whose picker runs in this process).
std::shared_ptr<replica_set> single_replica(actors::picker::picker_actor picker,
                                            std::string address = {});

/// The replica could not give an answer -- unreachable, gone, silent past the deadline, or not
/// ready yet (a late joiner catching up): another replica may.
bool replica_unavailable(const caf::error& err);

struct pool_entry {
  std::string ns;
  std::string name;
  /// The pool's picker replicas (shared by the entry's updates: their health stays).
  std::shared_ptr<replica_set> replicas;
  /// The picker of this process, called on the request's thread; null when it runs in
  /// another process.
  std::shared_ptr<actors::picker::direct_picker> direct;
  std::string failure_mode = "FailClose";  ///< FailOpen | FailClose (InferencePool)
  /// How long a pick may wait in the picker's flow-control queue (its defaultRequestTTL; 0:
  /// flow control off): the gateway's pick deadline is this much longer.
  std::chrono::nanoseconds queue_wait{0};
  /// Ready endpoints, for FailOpen when the picker cannot answer in time.
  std::vector<actors::picker::pool_member> members;
  /// The members' http:// endpoints, parsed once (filled by pool_directory).
  std::map<std::string, upstream_target, std::less<>> http_targets;

  /// Where an http:// endpoint is: parsed when the entry was set, else now. False: not one.
  bool http_target(const std::string& endpoint, upstream_target& out) const;
  /// The first replica (the only one of a picker in this process).
  const actors::picker::picker_actor& picker() const { return replicas->at(0).picker; }
};

class pool_directory {
 public:
  void set(pool_entry entry);
  void remove(const std::string& ns, const std::string& name);
  void set_members(const std::string& ns, const std::string& name,
                   std::vector<actors::picker::pool_member> members);
  /// The pool's current entry (immutable: updates replace it), or null.
  std::shared_ptr<const pool_entry> find(const std::string& ns, const std::string& name) const;
  /// Every pool's current entry (for metrics).
  std::vector<std::shared_ptr<const pool_entry>> all() const;

 private:
  mutable std::shared_mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const pool_entry>> pools_;
};

}  // namespace inferstack::gateway
