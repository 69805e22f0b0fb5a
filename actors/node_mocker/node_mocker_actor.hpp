// The node mocker actor: fake GPU nodes (NodePools) and the lifecycle of every pod on them,
// Pending -> Loading -> Ready -> Draining -> Gone. It adapts messages and timers to the
// `cluster` decisions and starts/stops pods through a pod_launcher. Exports node GPU allocation
// and pending pods.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <caf/fwd.hpp>

#include "actors/node_mocker/node_mocker_protocol.hpp"
#include "actors/node_mocker/pod_launcher.hpp"
#include "runtime/config/manifests.hpp"

namespace inferstack::actors::node_mocker {

struct node_mocker_settings {
  std::vector<config::node_pool> pools;  ///< empty: elastic (a node per pod, at once)
  /// Longest a Draining pod may take to finish its requests (Kubernetes'
  /// terminationGracePeriodSeconds), then it is stopped anyway.
  std::chrono::nanoseconds drain_grace = std::chrono::seconds(30);
  /// Draws the random reclaims of spot pools with a reclaimRate (the same seed, the same times).
  uint64_t seed = 1;
};

struct node_mocker_dependencies {
  std::shared_ptr<pod_launcher> launcher;
  /// Every phase change (besides the pod_event each pod's requester -- the controller -- gets).
  std::function<void(const pod_event&)> on_pod_event;
  std::shared_ptr<prometheus::Registry> registry;  ///< may be null
  std::shared_ptr<spdlog::logger> log;             ///< may be null
};

/// Also accepts its own timers.
using node_mocker_impl_actor =
    node_mocker_actor::extend<caf::reacts_to<pod_loaded>, caf::reacts_to<node_provisioned>,
                              caf::reacts_to<pod_exited>, caf::reacts_to<node_reclaimed>,
                              caf::reacts_to<reclaim_due>>;

node_mocker_impl_actor spawn_node_mocker(caf::actor_system& sys, node_mocker_settings settings,
                                         node_mocker_dependencies deps);

}  // namespace inferstack::actors::node_mocker
