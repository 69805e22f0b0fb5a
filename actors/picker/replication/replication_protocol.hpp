// Messages between the endpoint-picker replicas of one InferencePool (active-active). Each
// replica hears every pod's load reports and KV events itself (the precise prefix index
// converges on its own); what only its own picks know is told to its peers here:
// - the approximate prefix index (llm-d's approx-prefix-cache-producer learns from routing
//   decisions: pod + prompt block keys), batched every replication interval;
// - its own in-flight load per pod (requests it sent there and not yet seen finished), as
//   totals, so a lost or repeated batch cannot leave a count wrong for long.
// Kept per replica, not told: flow-control queues (a waiting request's promise lives in the
// replica that holds its caller's connection; every replica sees the same saturation from the
// pods' load reports, so each gates its own share) and the latency models (fitted from the
// completions each replica sees, a sample of the same pods). A late joiner asks one peer for a
// snapshot of the index and the in-flight totals before it takes picks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "protocol/type_ids.hpp"
#include "runtime/message_fields.hpp"

namespace inferstack::actors::picker {

/// One routing decision as the approximate index learned it: `pod` now holds `keys` (block keys
/// of its prompt, in prompt order) in the index of the producer named `producer`. In a
/// snapshot: every key the index holds for the pod, least recently used first.
struct replica_decision {
  std::string producer;  ///< the approx-prefix-cache-producer's plugin name
  std::string pod;
  std::vector<uint64_t> keys;
  int64_t age_ns = 0;  ///< how old the decision was when its batch left (0 in a snapshot)
  INFERSTACK_FIELDS(replica_decision, producer, pod, keys, age_ns)
};

/// A replica's own in-flight load on one pod: requests it sent there and has not yet seen
/// finished, and their tokens as its in-flight accounting counts them; and its picks of the pod
/// since its last batch (the queue-scorer's estimate adds picks a load report cannot show yet).
struct replica_in_flight {
  std::string pod;
  int64_t requests = 0;
  int64_t tokens = 0;
  int64_t picks = 0;
  INFERSTACK_FIELDS(replica_in_flight, pod, requests, tokens, picks)
};

/// What one replica tells its peers every replication interval (nothing when nothing changed).
struct replica_batch {
  std::string pool;
  std::string replica;  ///< the sender's name
  uint64_t seq = 0;     ///< the sender's count of batches, from 1
  int64_t sent_ns = 0;  ///< the sender's clock (staleness is measured on one host's clock)
  std::vector<replica_decision> decisions;
  /// The sender's own totals for the pods whose totals changed since its last batch; every
  /// pod it has load on in its first batch after a peer joined.
  std::vector<replica_in_flight> in_flight;
  INFERSTACK_FIELDS(replica_batch, pool, replica, seq, sent_ns, decisions, in_flight)
};

/// A late joiner asks a ready peer for what it knows.
struct replica_snapshot_request {
  std::string pool;
  std::string replica;  ///< who asks
  INFERSTACK_FIELDS(replica_snapshot_request, pool, replica)
};

/// The answer: the peer's approximate index (which holds what it learned from every replica),
/// and the in-flight totals it knows: its own and each of its peers' last told.
struct replica_snapshot {
  std::string pool;
  std::string replica;  ///< who answers
  std::vector<replica_decision> index;
  std::vector<replica_in_flight> in_flight;
  std::vector<std::string> in_flight_owner;  ///< the replica each in_flight entry is of
  INFERSTACK_FIELDS(replica_snapshot, pool, replica, index, in_flight, in_flight_owner)
};

/// One replica of a pool as its peers reach it.
struct replica_peer {
  std::string name;
  std::string address;  ///< its transport address ("" : this process)
  INFERSTACK_FIELDS(replica_peer, name, address)
};

/// The replicas of the pool a replica gossips with (itself left out or ignored). Replaces the
/// previous list: a peer missing from it is gone, and its in-flight load with it.
struct replica_peers {
  std::string pool;
  std::vector<replica_peer> peers;
  INFERSTACK_FIELDS(replica_peers, pool, peers)
};

/// What a picker replica answers its peers.
using replica_actor =
    caf::typed_actor<caf::reacts_to<replica_batch>,
                     caf::replies_to<replica_snapshot_request>::with<replica_snapshot>,
                     caf::reacts_to<replica_peers>>;

}  // namespace inferstack::actors::picker
