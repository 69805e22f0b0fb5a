// One picker replica's side of the replication (replication_protocol.hpp), as a plain class
// beside its endpoint_picker: it journals this replica's routing decisions (the approximate
// prefix index tells it of each add), hands them out in bounded batches with the replica's own
// in-flight totals, and applies its peers' batches and snapshots to the endpoint_picker. No
// CAF, no clock of its own, no I/O: the picker actor owns it, under the same lock as the
// endpoint_picker, and moves its messages.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "actors/picker/replication/replication_protocol.hpp"
#include "actors/picker/replication/replication_settings.hpp"

namespace inferstack::actors::picker {

class endpoint_picker;
class approx_prefix_producer;

/// What replication did so far (the bench's and the metrics' figures).
struct replication_stats {
  uint64_t batches_sent = 0;
  uint64_t bytes_sent = 0;  ///< msgpack bytes of the batches (the payload the transport carries)
  uint64_t decisions_sent = 0;
  uint64_t decisions_dropped = 0;  ///< journal overflow: decisions never told
  uint64_t batches_applied = 0;
  uint64_t decisions_applied = 0;
  uint64_t snapshots_applied = 0;
  uint64_t peers_expired = 0;  ///< peers taken as gone after the peer timeout
  /// Age of each peer decision when applied (decision made -> applied here), ns: count, sum,
  /// max, and the last samples (at most replication_settings::staleness_samples).
  uint64_t staleness_count = 0;
  int64_t staleness_sum_ns = 0;
  int64_t staleness_max_ns = 0;
  std::vector<int64_t> staleness_samples;
};

class replica_state {
 public:
  /// Starts journaling `picker`'s approximate-index adds (every approx-prefix-cache-producer);
  /// `picker` must outlive this object.
  replica_state(replication_settings settings, std::string pool, endpoint_picker& picker);
  ~replica_state();
  replica_state(const replica_state&) = delete;
  replica_state& operator=(const replica_state&) = delete;

  const replication_settings& settings() const { return settings_; }

  /// This replica picked `pod` at `now_ns` (after the picker's pre_request, whose index adds
  /// are journaled): its picks since the pod's last load report are told with the next batch,
  /// and the decisions journaled since the last call are stamped with `now_ns`.
  void note_pick(std::string_view pod, int64_t now_ns);

  /// The batch due now: decisions journaled since the last one (at most max_batch_keys keys;
  /// the rest wait for the next), the replica's own in-flight totals that changed (all of them,
  /// once a heartbeat interval). nullopt when there is nothing to tell and no heartbeat is due.
  /// Peers silent past the peer timeout are taken as gone here (the batch timer is the clock).
  std::optional<replica_batch> take_batch(int64_t now_ns);

  /// A peer's batch: its decisions join the approximate index, its in-flight totals replace
  /// the ones it told before. From this replica itself or another pool: ignored.
  void apply(const replica_batch& batch, int64_t now_ns);

  /// What a late joiner needs: the approximate index, and the in-flight totals known here.
  replica_snapshot snapshot() const;
  /// A peer's snapshot (before this replica takes picks).
  void apply(const replica_snapshot& snapshot, int64_t now_ns);

  /// The pool's replicas now: a peer no longer listed is gone (its in-flight totals are taken
  /// off the pods); a new one hears every total of ours in the next batch.
  void set_peers(const std::vector<replica_peer>& peers);
  const std::vector<replica_peer>& peers() const { return peers_; }
  /// A peer went silent or away: its in-flight load no longer counts.
  void peer_gone(std::string_view replica);

  /// The endpoint_picker's membership changed: totals told for pods now gone are forgotten (a
  /// pod added again starts from none).
  void membership_changed();

  /// This replica's own in-flight requests and tokens on `pod` (its counts minus its peers').
  std::pair<int64_t, int64_t> own_in_flight(std::string_view pod) const;
  /// The in-flight totals `replica` last told for `pod` ({0, 0}: none).
  std::pair<int64_t, int64_t> peer_in_flight(std::string_view replica, std::string_view pod) const;

  const replication_stats& stats() const { return stats_; }

 private:
  struct pending {
    int producer;  ///< index in approx_
    std::string pod;
    std::vector<uint64_t> keys;
    int64_t made_ns;
  };
  struct totals {
    int64_t requests = 0, tokens = 0;
  };

  void journal(int producer, std::span<const uint64_t> keys, uint32_t pod);
  void apply_decision(const replica_decision& d);
  /// Sets `replica`'s totals for `pod` to `now`, changing the pod's counts by the difference.
  void set_peer_totals(const std::string& replica, const std::string& pod, totals now);
  void note_staleness(int64_t age_ns);

  replication_settings settings_;
  std::string pool_;
  endpoint_picker& picker_;
  std::vector<approx_prefix_producer*> approx_;
  std::vector<pending> journal_;
  size_t journal_keys_ = 0;
  size_t unstamped_ = 0;  ///< journal entries from here on wait for note_pick's time
  uint64_t seq_ = 0;
  std::map<std::string, int64_t, std::less<>> picks_;  ///< own picks per pod since last batch
  std::map<std::string, totals, std::less<>> told_;    ///< own totals last told, per pod
  bool tell_all_ = false;                              ///< a peer joined: tell every total
  /// Peers' totals: replica -> pod -> totals.
  std::map<std::string, std::map<std::string, totals, std::less<>>, std::less<>> peer_load_;
  std::vector<replica_peer> peers_;
  std::map<std::string, int64_t, std::less<>> heard_;  ///< peer -> when its last batch came
  int64_t last_full_ns_ = -1;                          ///< the last heartbeat (every total told)
  replication_stats stats_;
  size_t next_sample_ = 0;
};

}  // namespace inferstack::actors::picker
