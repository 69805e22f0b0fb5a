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
#pragma once

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

struct placement {
  std::string pod;
  std::string node;
  int64_t load_ns = 0;
  bool warm = false;
};

class cluster {
 public:
  /// `pools`: the NodePools; empty: elastic.
  cluster(const std::vector<config::node_pool>& pools, int64_t now_ns);

  /// A new pod. Returns where it runs, or nothing (Pending; see pending_reason()).
  std::optional<placement> submit(const pod_template& pod, int64_t now_ns);

  /// The pod is loaded: Ready.
  void mark_ready(const std::string& pod, int64_t now_ns);
  /// The pod is being removed (Ready or Loading pods drain first).
  void mark_draining(const std::string& pod, int64_t now_ns);
  /// The pod is gone: its GPUs are free (the node keeps the model cached). Returns the pods
  /// that now fit, in the order they were waiting.
  std::vector<placement> remove(const std::string& pod, int64_t now_ns);

  /// The node is lost: no pod goes there any more. Returns its pods, which the caller removes
  /// (remove()); the node is gone with the last of them, or at once when it has none. Nothing
  /// when there is no such node.
  std::optional<std::vector<std::string>> lose_node(const std::string& node);

  /// Node pools that should start provisioning one more node now (each call may return a
  /// pool several times, once per node to add); the caller adds the node after the pool's delay.
  std::vector<std::string> provisioning_needed();
  std::chrono::nanoseconds provision_delay(const std::string& pool) const;
  /// A provisioned node of `pool` is up: returns the pods placed on it.
  std::vector<placement> node_ready(const std::string& pool, int64_t now_ns);

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
  };
  struct pool {
    config::node_pool config;
    int gpus_per_node = 0;
    int nodes = 0;
    int provisioning = 0;
    int next_index = 0;  ///< names are never reused, also after a node is lost
  };
  struct pod {
    pod_template spec;
    pod_phase phase = pod_phase::pending;
    std::string node;
    std::string reason;
    int64_t created_ns = 0;
    int64_t since_ns = 0;
    bool warm = false;
  };

  std::optional<placement> try_place(pod& p, int64_t now_ns);
  std::vector<placement> place_waiting(int64_t now_ns);
  node& add_node(pool& pl, int64_t now_ns);
  /// Drops a lost node once it has no pods left.
  void forget_if_lost(const std::string& node);
  std::string unschedulable_reason(const pod_template& spec) const;

  bool elastic_;
  std::map<std::string, pool> pools_;
  std::vector<node> nodes_;  ///< in creation order (placement tries them in this order)
  std::map<std::string, pod> pods_;
  std::deque<std::string> waiting_;  ///< Pending pods, first come first served
  int elastic_nodes_ = 0;
};

}  // namespace inferstack::actors::node_mocker
