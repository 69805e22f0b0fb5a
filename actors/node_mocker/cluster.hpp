// The node mocker's decisions, without CAF: which node a pod goes to, when it must wait, when
// the GPU provisioner adds a node, how long the model takes to load there. Time is passed in.
//
// Rules (the Kubernetes scheduler and KAITO's gpu-provisioner, reduced to what matters here):
// - a pod fits a Ready node of its instance type with at least its GPU request free; among those
//   the first node that has loaded the model before wins (warm cache), else the first with room;
// - a pod that fits nowhere is Pending, "0/N nodes are available: insufficient nvidia.com/gpu";
//   the pods waiting are placed first-come first-served whenever room appears;
// - a node pool with maxCount above its size provisions one more node (after its delay) while
//   the GPUs its pending pods ask for exceed what the nodes being provisioned will bring;
// - with no NodePool configured at all the cluster is elastic: every pod gets a node of its own
//   at once (the behaviour of a stack without a node mocker).
// - a node remembers every model it loaded (its image/weight cache): the next pod of that model
//   loads in warm_load_ns instead of load_ns.
// - a group (LeaderWorkerSet, pod_template::group_size > 1) is placed all or nothing: a node of
//   its own for every member (the leader's by its GPUs and instance type, the workers' by
//   theirs: worker_gpus, worker_instance_type), or the whole group waits (gang scheduling); it is
//   Ready once every member has loaded, and a lost member sends the whole group back to Pending
//   (recreated under the same names: RecreateGroupOnPodRestart);
// - a cordoned node (kubectl cordon, or a spot node under its reclaim notice) takes no new pod.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actors/node_mocker/node_mocker_protocol.hpp"
#include "runtime/config/manifests.hpp"

namespace inferstack::actors::node_mocker {

/// GPUs of a known cloud GPU instance type (Azure sizes KAITO uses; 0 for unknown / CPU types).
int gpus_of_instance_type(const std::string& instance_type);

/// What a group's workers run (workerTemplate): the leader's template with the workers' GPUs
/// and instance type, alone (group_size 1).
pod_template worker_template(const pod_template& leader);

struct placement {
  std::string pod;
  std::string node;
  int64_t load_ns = 0;
  bool warm = false;
  uint32_t attempt = 0;            ///< the pod's placement count (a recreated group places again)
  std::vector<placement> workers;  ///< a group's leader: its workers' placements
};

class cluster {
 public:
  /// `pools`: the NodePools; empty: elastic.
  cluster(const std::vector<config::node_pool>& pools, int64_t now_ns);

  /// A new pod. Returns where it runs, or nothing (Pending; see pending_reason()).
  std::optional<placement> submit(const pod_template& pod, int64_t now_ns);

  /// The pod is loaded: Ready (a group's leader: the whole group).
  void mark_ready(const std::string& pod, int64_t now_ns);
  /// A member of placement `attempt` has loaded. Returns its group's leader (the pod itself
  /// when alone) once every member has: the group is Ready then. "" while members still load,
  /// or when the timer is stale (the group was placed again since).
  std::string mark_loaded(const std::string& pod, uint32_t attempt, int64_t now_ns);
  /// The leader of `pod`'s group: the pod itself when it has none.
  std::string leader_of(const std::string& pod) const;
  /// A group's workers (empty for a pod alone).
  std::vector<std::string> workers_of(const std::string& leader) const;
  /// Recreates `leader`'s group: every member leaves its node, the workers are gone, the
  /// leader is Pending again at the head of the queue with `reason`. Returns the pods that now
  /// fit (the group itself, when nodes with room are left).
  std::vector<placement> restart_group(const std::string& leader, const std::string& reason,
                                       int64_t now_ns);
  /// The pod is being removed (Ready or Loading pods drain first).
  void mark_draining(const std::string& pod, int64_t now_ns);
  /// The pod is gone: its GPUs are free (the node keeps the model cached). Returns the pods
  /// that now fit, in the order they were waiting.
  std::vector<placement> remove(const std::string& pod, int64_t now_ns);

  /// The node is lost: no pod goes there any more. Returns its pods, which the caller removes
  /// (remove()); the node is gone with the last of them, or at once when it has none. Nothing
  /// when there is no such node.
  /// `now_ns`: when (for the usage figures; 0: the latest time passed in before).
  std::optional<std::vector<std::string>> lose_node(const std::string& node, int64_t now_ns = 0);

  /// Cordons (or uncordons) a node: no new pod goes there; its pods stay. False: no such node.
  bool cordon(const std::string& node, bool on, const std::string& reason);
  /// A reclaim notice: the node is cordoned and goes at `at_ns`. Returns its pods; nothing when
  /// there is no such node.
  std::optional<std::vector<std::string>> reclaim_notice(const std::string& node, int64_t at_ns,
                                                         const std::string& reason);
  /// The reclaim notice of the node's pool (spec.reclaimNotice); 30 s when there is none.
  std::chrono::nanoseconds reclaim_notice_of(const std::string& node) const;
  /// The reclaims per hour of the node's pool (spec.reclaimRate); 0 when none or no such node.
  double reclaim_rate_of(const std::string& node) const;

  /// Node pools that should start provisioning one more node now (each call may return a
  /// pool several times, once per node to add); the caller adds the node after the pool's delay.
  std::vector<std::string> provisioning_needed();
  std::chrono::nanoseconds provision_delay(const std::string& pool) const;
  /// A provisioned node of `pool` is up: returns the pods placed on it.
  std::vector<placement> node_ready(const std::string& pool, int64_t now_ns);

  /// Places the waiting pods that fit now (after an uncordon).
  std::vector<placement> place_pending(int64_t now_ns) { return place_waiting(now_ns); }
  /// How many times the pod was placed (0: unknown pod).
  uint32_t attempt_of(const std::string& pod) const;

  const pod_template* spec(const std::string& pod) const;
  std::optional<pod_phase> phase(const std::string& pod) const;
  std::string pending_reason(const std::string& pod) const;
  std::string node_of(const std::string& pod) const;

  cluster_snapshot snapshot(int64_t now_ns) const;
  int pending_pods() const { return static_cast<int>(waiting_.size()); }

 private:
  struct node {
    std::string name;
    std::string pool;
    std::string instance_type;
    std::map<std::string, std::string> labels;
    int gpus = 0;
    int used = 0;
    bool ready = true;
    std::set<std::string> cached;
    std::set<std::string> pods;
    int64_t created_ns = 0;
    bool cordoned = false;
    bool spot = false;
    int64_t reclaim_at_ns = 0;
    std::string reason;  ///< why cordoned
  };
  struct pool {
    config::node_pool config;
    int gpus_per_node = 0;
    int nodes = 0;
    int provisioning = 0;
    int next_index = 0;            ///< names are never reused, also after a node is lost
    double gone_node_seconds = 0;  ///< of its nodes that are gone
  };
  struct pod {
    pod_template spec;
    pod_phase phase = pod_phase::pending;
    std::string node;
    std::string reason;
    int64_t created_ns = 0;
    int64_t since_ns = 0;
    bool warm = false;
    std::string leader;                ///< a worker: its group's leader
    int index = 0;                     ///< 0: the leader (or alone), 1..: workers
    std::vector<std::string> workers;  ///< a leader: its workers while placed
    uint32_t attempt = 0;
    bool loaded = false;
    int restarts = 0;
    int64_t bound_ns = 0;  ///< when it took its node's GPUs
  };

  std::optional<placement> try_place(pod& p, int64_t now_ns);
  std::optional<placement> try_place_group(pod& leader, int64_t now_ns);
  /// Nodes where one pod of `spec` fits now, warm caches first.
  std::vector<node*> nodes_with_room(const pod_template& spec);
  /// Takes a node's GPUs for pod `name` (loading).
  placement bind(pod& p, const std::string& name, node& n, int64_t now_ns);
  /// The pod leaves its node (its GPUs are free; an elastic node goes with it).
  void release(pod& p, const std::string& name);
  node* find_node(const std::string& name);
  std::vector<placement> place_waiting(int64_t now_ns);
  node& add_node(pool& pl, int64_t now_ns);
  /// Drops a lost node once it has no pods left.
  void forget_if_lost(const std::string& node);
  std::string unschedulable_reason(const pod_template& spec) const;

  /// The latest time a call passed in: when what happens without one (a node forgotten once its
  /// last pod is removed) happened, for the usage figures.
  void at(int64_t now_ns) { last_ns_ = std::max(last_ns_, now_ns); }
  int64_t last_ns_ = 0;
  std::map<std::string, double> set_gpu_seconds_;  ///< of pods already gone, by "<ns>/<set>"

  bool elastic_;
  std::map<std::string, pool> pools_;
  std::vector<node> nodes_;  ///< in creation order (placement tries them in this order)
  std::map<std::string, pod> pods_;
  std::deque<std::string> waiting_;  ///< Pending pods, first come first served
  int elastic_nodes_ = 0;
};

}  // namespace inferstack::actors::node_mocker
