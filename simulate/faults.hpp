// Faults on a simulation's timeline: a YAML file of what goes wrong when (a pod killed, a node
// lost, a pod's KV-event link cut, a pod frozen, an InferenceSet's replicas changed), loaded into
// a time-sorted list, and the interface through which a run applies them to its stack.
//
// The file:
//   faults:
//   - at: 60s                           # virtual time since the workload's start (ms, s, m)
//     kill_pod: team-a/llama-3-1-8b-1   # a pod, as `inferstack get pods` names it
//   - at: 90s
//     lose_node: a100-2                 # a node of the node mocker, with all its pods
//   - at: 120s
//     reclaim_node: spot-0              # a spot reclaim: cordon, drain within the pool's
//                                       # reclaimNotice (30 s), then the node goes
//   - at: 130s
//     cordon_node: a100-1               # no new pods there (uncordon_node: again)
//   - at: 30s
//     cut_kv_events: team-a/llama-3-1-8b-0
//     for: 20s                          # optional (cut_kv_events, freeze_pod): then restored
//   - at: 40s
//     freeze_pod: team-a/llama-3-1-8b-0
//   - at: 100s
//     set_replicas: team-a/llama-3-1-8b # an InferenceSet
//     replicas: 4
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "simulate/workload/workload.hpp"

namespace inferstack::simulate {

struct fault {
  enum class kind : uint8_t {
    kill_pod,           ///< the pod's process dies; the controller replaces it
    lose_node,          ///< the node and every pod on it are gone
    cut_kv_events,      ///< the pod's KV events stop reaching the pickers (lost, not delayed)
    restore_kv_events,  ///< ... and reach them again (the end of a cut with `for`)
    freeze_pod,         ///< the pod makes no progress (no tokens, no load reports)
    unfreeze_pod,       ///< ... and carries on (the end of a freeze with `for`)
    set_replicas,       ///< an InferenceSet's replicas change, as `inferstack scale` does
    reclaim_node,       ///< a spot node's reclaim notice: its pods drain, then it goes
    cordon_node,        ///< no new pod goes to the node
    uncordon_node,      ///< ... and again does
  };

  std::chrono::nanoseconds at{0};  ///< since the workload's start
  kind action = kind::kill_pod;
  std::string target;    ///< "<namespace>/<pod>", a node, or "<namespace>/<InferenceSet>"
  int32_t replicas = 0;  ///< set_replicas only
  size_t entry = 0;      ///< its entry in the file (faults[entry]), for reports

  bool operator==(const fault&) const = default;
};

/// "kill_pod", "restore_kv_events", ... (the file's spelling; the ends have none there).
const char* to_string(fault::kind k);
/// One line for logs and reports: "60.000 s: kill_pod team-a/llama-3-1-8b-1".
std::string describe(const fault& f);

/// Reads a faults file. Throws workload_error naming the file, the line and the field (e.g.
/// "faults[2].at") of the first problem. Sorted by time, ties in the file's order; a fault
/// with `for` also gives its end (restore_kv_events, unfreeze_pod) at at + for.
std::vector<fault> load_faults(const std::string& path);

/// The same for a file already in memory; `file` only names it in errors.
std::vector<fault> load_faults_text(const std::string& text, const std::string& file);

/// What a run applies faults to: the stack it simulates.
class fault_target {
 public:
  virtual ~fault_target() = default;
  /// Applies one fault now; returns "" or a problem (unknown pod...), which the run reports and
  /// carries on.
  virtual std::string apply(const fault& f) = 0;
};

}  // namespace inferstack::simulate
