// How a picker replica shares its state with the other replicas of its pool
// (replication_protocol.hpp says what is shared and what is not).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace inferstack::actors::picker {

struct replication_settings {
  std::string replica;  ///< this replica's name among its pool's replicas
  /// Decisions wait at most this long before they are told (the staleness bound, plus the
  /// transit): llm-d's approximate index learns at pre_request, a peer one interval later.
  int64_t interval_ns = 20'000'000;
  /// At most this many block keys a batch (the rest go with the next one); a decision is never
  /// split. A burst past 8 batches' worth is dropped (counted): the index is approximate.
  size_t max_batch_keys = 16384;
  /// Take picks only after a peer's snapshot arrived (or no peer answered): a replica that
  /// starts late learns the approximate index before it routes.
  bool catch_up = true;
  /// How long to wait for one peer's snapshot before asking the next (or giving up).
  int64_t snapshot_timeout_ns = 2'000'000'000;
  /// At least this often a batch goes out, with every in-flight total of the replica, even
  /// when nothing changed: peers hear it is alive, and one that dropped its load learns it again.
  int64_t heartbeat_ns = 1'000'000'000;
  /// A peer not heard from for this long is gone (a process killed, a partition): its
  /// in-flight load stops counting until it is heard again.
  int64_t peer_timeout_ns = 3'000'000'000;
  /// Staleness samples kept for percentiles (a ring).
  size_t staleness_samples = 65536;
};

}  // namespace inferstack::actors::picker
