// The faults of `inferstack simulate` applied to a stack_process of this process (pods as
// actors, over the local transport), as the real failures would happen:
// - kill_pod: the pod's process ends (the node mocker hears pod_exited; the pod fails what it
//   held; the controller replaces it);
// - lose_node: the node mocker loses the node with every pod on it;
// - reclaim_node / cordon_node / uncordon_node: the node mocker's node commands (a spot
//   reclaim notice: cordon, drain, then the node goes);
// - cut_kv_events / restore_kv_events: the pod's KV events are dropped on their way out, so
//   the pickers' index goes stale, until the link is restored;
// - freeze_pod / unfreeze_pod: the pod stops (as SIGSTOP) and later carries on;
// - set_replicas: the controller's scale subresource, as `inferstack scale` sets it.
// Only sends messages: it works on the deterministic scheduler, where nothing may block.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <spdlog/logger.h>
#include <caf/fwd.hpp>

#include "nodes/stack_process.hpp"
#include "simulate/faults.hpp"

namespace inferstack::nodes {

class stack_faults : public simulate::fault_target {
 public:
  /// `stack` runs the control plane and its pods in this process; both outlive this.
  /// `log` (may be null) hears what only shows later, e.g. a scale the controller refused.
  stack_faults(caf::actor_system& system, const stack_process& stack,
               std::shared_ptr<spdlog::logger> log);

  std::string apply(const simulate::fault& f) override;

 private:
  /// The pod named `name`, if it runs now.
  std::optional<in_process_launcher::running_pod> find_pod(const std::string& name) const;
  /// Whether `name` can be a node of the node mocker (its NodePools' naming).
  bool known_node(const std::string& name) const;

  caf::actor_system& system_;
  const stack_process& stack_;
  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace inferstack::nodes
