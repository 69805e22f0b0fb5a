// The controller actor: reconciles InferenceSets into pods through the node mocker and keeps
// every InferencePool's membership equal to its Ready pods (plus the model servers outside the
// stack that it selects). A replicas change (scale_set, from the scaler or an operator) takes
// effect at once, without restarting anything. Exports desired/current/ready replicas.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <caf/fwd.hpp>

#include "actors/controller/controller_protocol.hpp"
#include "actors/node_mocker/node_mocker_protocol.hpp"
#include "actors/picker/picker_protocol.hpp"

namespace inferstack::actors::controller {

/// One InferenceSet: its replicas and the pod every replica is made from.
struct set_spec {
  std::string ns;
  std::string name;
  int32_t replicas = 1;
  node_mocker::pod_template prototype;  ///< name/seed are filled in per replica
};

/// One InferencePool: what it selects.
struct pool_spec {
  std::string ns;
  std::string name;
  std::map<std::string, std::string> selector;
  std::vector<picker::pool_member> static_members;  ///< model servers outside the stack
};

struct controller_settings {
  std::vector<set_spec> sets;
  std::vector<pool_spec> pools;
  /// The replicas that exist at start are adopted (already running: Ready at once) rather
  /// than started cold -- `inferstack dev` begins with a running stack.
  bool adopt_initial = true;
  /// Tell every pool's membership again this often, changed or not (0: only on change): a
  /// picker process that restarted learns its pods within one interval.
  std::chrono::nanoseconds membership_resync{0};
};

struct controller_dependencies {
  node_mocker::node_mocker_actor mocker;
  /// A pool's Ready members changed.
  std::function<void(const pool_spec& pool, const std::vector<picker::pool_member>& members)>
      on_membership;
  /// A set's status changed (published for the scaler).
  std::function<void(const set_status&)> on_status;
  std::shared_ptr<prometheus::Registry> registry;  ///< may be null
  std::shared_ptr<spdlog::logger> log;             ///< may be null
};

using controller_impl_actor = controller_actor::extend<caf::reacts_to<reconcile_now>>;

controller_impl_actor spawn_controller(caf::actor_system& sys, controller_settings settings,
                                       controller_dependencies deps);

}  // namespace inferstack::actors::controller
