// The live console's snapshot: one JSON document of how the stack stands now -- namespaces,
// their routes and pools, each pool's pods with their queue, running requests, KV usage and
// prefix-cache hit rate, the nodes, every InferenceSet's replicas with their recent history,
// the scaler's recent decisions and the pickers' recent picks with their scores. Built from what
// the control plane already answers (the node mocker's cluster_snapshot, the controller's set
// statuses) and the pods' own metrics; the same document feeds /ui/snapshot, /ui/events and
// `inferstack top`.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <nlohmann/json.hpp>

#include "actors/controller/controller_protocol.hpp"
#include "actors/node_mocker/node_mocker_protocol.hpp"
#include "runtime/config/manifests.hpp"

namespace inferstack::ui {

/// A pod's figures, as its vllm:* metrics say.
struct pod_figures {
  double waiting = 0;
  double running = 0;
  double kv_usage = 0;  ///< 0..1
  double prefix_hits = 0;
  double prefix_queries = 0;
  bool prefix_known = true;  ///< false: the prefix-cache counts are not at hand (load reports)
};

/// Reads the figures from a pod's own registry (one collection of it).
pod_figures figures_from_registry(prometheus::Registry& registry);

/// The InferenceSets' replicas over the last minutes, from the statuses the controller
/// publishes on each change (nothing is recorded while nothing changes), and the scaling
/// decisions among them (a status whose last scale changed). Thread-safe.
class set_history {
 public:
  explicit set_history(int64_t keep_ms = 10 * 60 * 1000) : keep_ms_(keep_ms) {}

  void record(const actors::controller::set_status& s, int64_t now_ms);

  struct sample {
    int64_t at_ms;
    int32_t desired;
    int32_t current;
    int32_t ready;
  };
  struct decision {
    int64_t at_ms;
    std::string ns;
    std::string set;
    int32_t from;
    int32_t to;
    std::string reason;
  };
  /// Samples by "ns/set", oldest first; decisions oldest first (both within keep_ms of now).
  std::map<std::string, std::vector<sample>> samples(int64_t now_ms) const;
  std::vector<decision> decisions(int64_t now_ms) const;

 private:
  int64_t keep_ms_;
  mutable std::mutex mutex_;
  struct per_set {
    std::deque<sample> samples;
    uint64_t version = 0;
    int64_t last_scale_ns = 0;
  };
  std::map<std::string, per_set> sets_;
  std::deque<decision> decisions_;
};

/// Everything one snapshot is made of.
struct snapshot_inputs {
  const config::stack_config* config = nullptr;
  actors::node_mocker::cluster_snapshot cluster;
  actors::controller::set_status_list sets;
  /// A pod's figures; nothing when unknown (e.g. a pod in another process).
  std::function<std::optional<pod_figures>(const std::string& pod)> figures;
  const set_history* history = nullptr;
  /// The pickers' recent decisions, newest first ({"decisions":[...]} as GET /debug/picks
  /// answers); none where the pickers run in other processes.
  std::optional<nlohmann::json> picks;
  std::vector<std::string> errors;  ///< parts that could not be asked
};

nlohmann::json build_snapshot(const snapshot_inputs& in, int64_t now_ms);

}  // namespace inferstack::ui
