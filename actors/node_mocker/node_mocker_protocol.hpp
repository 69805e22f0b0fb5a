// Messages of the node mocker: the fake GPU nodes and the pods placed on them. The controller
// asks for pods (pod_template) and removes them; the mocker places each on a node with room,
// keeps it Pending (with a reason) while none has, loads the model (Loading, shorter on a node
// whose model cache is warm), marks it Ready, drains it on removal (Draining) and frees its GPUs
// (Gone). Every phase change is told as a pod_event.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "protocol/type_ids.hpp"
#include "runtime/message_fields.hpp"

namespace inferstack::actors::node_mocker {

/// A pod's lifecycle, as `kubectl get pods` would show it.
enum class pod_phase : uint8_t {
  pending = 1,   ///< no node with room (reason says why)
  loading = 2,   ///< on a node, loading the model (not Ready)
  ready = 3,     ///< serving: in its pool
  draining = 4,  ///< being removed: no new requests, in-flight ones finish
  gone = 5,      ///< removed; its GPUs are free
};

inline const char* to_string(pod_phase p) {
  switch (p) {
    case pod_phase::pending:
      return "Pending";
    case pod_phase::loading:
      return "Loading";
    case pod_phase::ready:
      return "Ready";
    case pod_phase::draining:
      return "Draining";
    case pod_phase::gone:
      return "Gone";
  }
  return "Unknown";
}

/// What to run: one replica of an InferenceSet.
struct pod_template {
  std::string name;  ///< "<namespace>/<set>-<n>", never reused
  std::string ns;
  std::string set;
  std::string model;          ///< served model name
  std::string preset;         ///< KAITO preset (ModelPreset name)
  std::string instance_type;  ///< nodes of this instance type only
  int32_t gpus = 1;           ///< nvidia.com/gpu requested
  int64_t load_ns = 0;        ///< model load time on a cold node
  int64_t warm_load_ns = 0;   ///< ... on a node that has loaded this model before
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::map<std::string, std::string> engine;  ///< pod engine options (llm-d-inference-sim names)
  uint64_t seed = 0;
  /// Already running when the stack started (`inferstack dev`'s initial replicas): placed and
  /// Ready at once, without a load.
  bool adopted = false;
  /// LeaderWorkerSet size: the replica is a group of this many pods, each on a node of its own --
  /// the leader (this pod: the only one that serves requests) and size - 1 workers "<name>-1", ...
  /// Placed all or nothing, Ready when every member is, and recreated whole when one member is lost
  /// (restartPolicy RecreateGroupOnPodRestart).
  int32_t group_size = 1;
  /// A group's workers (LeaderWorkerSet workerTemplate): their nvidia.com/gpu and instance type
  /// when they differ from the leader's (0 / empty: the leader's).
  int32_t worker_gpus = 0;
  std::string worker_instance_type;
  INFERSTACK_FIELDS(pod_template, name, ns, set, model, preset, instance_type, gpus, load_ns,
                    warm_load_ns, labels, annotations, engine, seed, adopted, group_size,
                    worker_gpus, worker_instance_type)
};

/// Remove a pod: drain it (in-flight requests finish), then free its GPUs.
struct delete_pod {
  std::string name;
  std::string reason;
  INFERSTACK_FIELDS(delete_pod, name, reason)
};

/// A pod changed phase.
struct pod_event {
  std::string name;
  std::string ns;
  std::string set;
  uint8_t phase = 0;  ///< pod_phase
  std::string node;
  std::string reason;    ///< why Pending / why removed
  std::string endpoint;  ///< where requests go once Ready ("actor:pod/<name>", "zmq:...", URL)
  std::string address;   ///< its name in KV-event topics
  std::map<std::string, std::string> labels;
  int64_t at_ns = 0;
  std::string events;     ///< a pod process's transport events endpoint (load reports)
  std::string kv_events;  ///< ... and its vLLM KV-event PUB and replay endpoints
  std::string kv_replay;
  /// The pod is the leader of a group being recreated (a member was lost): it comes back by
  /// itself, under the same name -- its owner keeps counting it and creates no replacement.
  bool group_restart = false;
  INFERSTACK_FIELDS(pod_event, name, ns, set, phase, node, reason, endpoint, address, labels, at_ns,
                    events, kv_events, kv_replay, group_restart)
};

struct node_info {
  std::string name;
  std::string pool;  ///< NodePool
  std::string instance_type;
  int32_t gpus = 0;
  int32_t gpus_allocated = 0;
  bool ready = true;
  std::vector<std::string> cached_models;  ///< models this node has loaded before
  std::vector<std::string> pods;
  int64_t created_ns = 0;
  std::map<std::string, std::string> labels;
  bool unschedulable = false;  ///< cordoned: no new pod goes there (kubectl cordon)
  bool spot = false;           ///< of a spot/preemptible pool
  int64_t reclaim_at_ns = 0;   ///< reclaim notice given: the node goes at this time (0: none)
  std::string reason;          ///< why it is cordoned or going
  INFERSTACK_FIELDS(node_info, name, pool, instance_type, gpus, gpus_allocated, ready,
                    cached_models, pods, created_ns, labels, unschedulable, spot, reclaim_at_ns,
                    reason)
};

struct pod_info {
  std::string name;
  std::string ns;
  std::string set;
  std::string model;
  uint8_t phase = 0;  ///< pod_phase
  std::string node;
  std::string reason;
  int32_t gpus = 0;
  int64_t created_ns = 0;
  int64_t phase_since_ns = 0;
  bool warm_start = false;  ///< loaded on a node whose cache held the model
  std::string group;        ///< its group's leader (LeaderWorkerSet); "" when alone
  int32_t group_index = 0;  ///< 0: the leader, 1..size-1: workers
  int32_t restarts = 0;     ///< times its group was recreated
  INFERSTACK_FIELDS(pod_info, name, ns, set, model, phase, node, reason, gpus, created_ns,
                    phase_since_ns, warm_start, group, group_index, restarts)
};

/// Ask for everything the mocker knows (for `inferstack get` and metrics).
struct cluster_query {
  INFERSTACK_NO_FIELDS(cluster_query)
};

struct cluster_snapshot {
  std::vector<node_info> nodes;
  std::vector<pod_info> pods;  ///< not Gone
  int32_t provisioning = 0;    ///< nodes being provisioned right now
  int64_t at_ns = 0;
  /// Usage since the start, by NodePool: node-hours, GPU-hours and their cost (node-hours x the
  /// pool's pricePerHour); by InferenceSet ("<ns>/<set>"): GPU-hours its pods held (every member
  /// of a group, from placement to removal).
  std::map<std::string, double> pool_node_hours;
  std::map<std::string, double> pool_gpu_hours;
  std::map<std::string, double> pool_cost;
  std::map<std::string, double> set_gpu_hours;
  INFERSTACK_FIELDS(cluster_snapshot, nodes, pods, provisioning, at_ns, pool_node_hours,
                    pool_gpu_hours, pool_cost, set_gpu_hours)
};

/// A pod's process ended on its own (crashed, killed): it is Gone.
struct pod_exited {
  std::string name;
  std::string reason;
  INFERSTACK_FIELDS(pod_exited, name, reason)
};

/// A node is lost (a fault of `inferstack simulate`): its pods are Gone at once, without a
/// drain, and the node is no more (its pool may provision another).
struct lose_node {
  std::string name;
  std::string reason;
  INFERSTACK_FIELDS(lose_node, name, reason)
};

/// An operator's (or a fault's) action on a node, as `inferstack cordon|uncordon|reclaim|fail`:
/// - cordon: no new pod goes there; its pods stay;
/// - uncordon: pods may go there again;
/// - reclaim: a spot node's reclaim notice -- cordoned, its pods drain (no new requests, the
///   admitted ones finish; the controller replaces them at once), and after `notice` the node
///   is gone with whatever still runs there;
/// - fail: the node is gone now, without notice (as lose_node).
struct node_command {
  std::string action;  ///< cordon | uncordon | reclaim | fail
  std::string node;
  int64_t notice_ns = 0;  ///< reclaim: 0 = the pool's reclaimNotice
  std::string reason;
  INFERSTACK_FIELDS(node_command, action, node, notice_ns, reason)
};

struct node_command_result {
  bool ok = false;
  std::string error;              ///< "no node x", "unknown action y"
  std::vector<std::string> pods;  ///< the pods it affects
  int64_t at_ns = 0;              ///< reclaim: when the node goes
  INFERSTACK_FIELDS(node_command_result, ok, error, pods, at_ns)
};

// Timers of the mocker itself.
struct pod_loaded {
  std::string name;
  uint32_t attempt = 0;  ///< the placement it belongs to (a recreated group places again)
  INFERSTACK_FIELDS(pod_loaded, name, attempt)
};
/// A spot node's random reclaim (its pool's reclaimRate) is due: its notice begins.
struct reclaim_due {
  std::string node;
  INFERSTACK_FIELDS(reclaim_due, node)
};
/// A reclaim notice ran out: the node goes.
struct node_reclaimed {
  std::string node;
  INFERSTACK_FIELDS(node_reclaimed, node)
};
struct node_provisioned {
  std::string pool;
  INFERSTACK_FIELDS(node_provisioned, pool)
};

using node_mocker_actor =
    caf::typed_actor<caf::reacts_to<pod_template>, caf::reacts_to<delete_pod>,
                     caf::replies_to<cluster_query>::with<cluster_snapshot>,
                     caf::reacts_to<lose_node>,
                     caf::replies_to<node_command>::with<node_command_result>>;

}  // namespace inferstack::actors::node_mocker
