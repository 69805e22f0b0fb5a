// The control role: the controller (InferenceSets into pods, pools' members), the node mocker
// (the nodes the pods run on, started by a launcher: pod actors in this process, or pod
// processes) and the scaler (pods' metrics into replicas; the activator of pools at zero).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/controller/controller_actor.hpp"
#include "actors/node_mocker/node_mocker_actor.hpp"
#include "actors/picker/picker_protocol.hpp"
#include "actors/scaler/scaler_actor.hpp"
#include "nodes/in_process_launcher.hpp"
#include "nodes/process_launcher.hpp"
#include "nodes/roles/role_context.hpp"
#include "nodes/scraped_pod_metrics.hpp"

namespace inferstack::nodes {

struct control_role_settings {
  /// The InferenceSets and pools, as nodes/stack_parts.hpp reads them.
  actors::controller::controller_settings controller;
  /// The autoscaled InferenceSets (nodes/scaling_targets.hpp).
  std::vector<actors::scaler::scaling_target> targets;
  /// Pods as processes (the multi-process stack) instead of actors in this process.
  std::optional<process_launcher_settings> pod_processes;
  std::string profiles_dir = "config/profiles";
  int64_t wall_clock_offset_ns = 0;
  /// Start the replicas cold instead of adopting them as running (and waiting until they are).
  bool cold_start = false;
  /// The pickers run in other processes, at these addresses ("<ns>/<pool>" -> address): each
  /// is sent its pool's members, which are also published for the gateways.
  bool pickers_elsewhere = false;
  std::map<std::string, std::vector<std::string>> picker_addresses;  ///< every replica
  /// Expose the controller, node mocker and scaler on the transport (other processes use them).
  bool expose = false;
  /// On a simulation's deterministic scheduler (runtime/simulation.hpp): nothing may block
  /// waiting for an actor's answer; the simulation runs the start-up and waits for the pods.
  bool virtual_time = false;
};

/// Told every change of a pool's members, in this process.
using membership_sink = std::function<void(const actors::controller::pool_spec&,
                                           const std::vector<actors::picker::pool_member>&)>;

class control_role {
 public:
  control_role(role_context context, control_role_settings settings, membership_sink members);
  ~control_role();

  /// Spawns the control plane; unless starting cold, waits (bounded) for the initial replicas.
  void start();
  void stop();

  /// What starts pods for a pool at zero: the scaler.
  caf::actor activator() const;
  actors::controller::controller_actor controller() const;
  actors::node_mocker::node_mocker_actor node_mocker() const;

  /// The pods running in this process (none when pods are processes).
  std::vector<in_process_launcher::running_pod> pods() const;
  /// The metrics registry of a pod of this process (null for any other).
  std::shared_ptr<prometheus::Registry> registry_of(const std::string& pod) const;
  /// The launcher of the pods in this process (null when pods are processes).
  std::shared_ptr<const in_process_launcher> launcher() const { return launcher_; }

 private:
  role_context context_;
  control_role_settings settings_;
  membership_sink members_;
  std::shared_ptr<in_process_launcher> launcher_;
  std::shared_ptr<process_launcher> process_launcher_;
  /// Metrics of pod processes the load reports do not carry (for the scaler), if any is used.
  std::shared_ptr<scraped_pod_metrics> scraped_metrics_;
  actors::node_mocker::node_mocker_impl_actor mocker_;
  actors::controller::controller_impl_actor controller_;
  actors::scaler::scaler_impl_actor scaler_;
};

}  // namespace inferstack::nodes
