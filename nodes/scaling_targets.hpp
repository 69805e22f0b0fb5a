// Which InferenceSets the scaler drives, and how, from the configuration: KEDA ScaledObjects
// (keda.sh/v1alpha1, trigger type `external` -- the KAITO stack's keda-kaito-scaler -- or
// `inferstack`), and InferenceSets switched on by the KAITO chart's annotations
// (scaledobject.kaito.sh/auto-provision, threshold, min-replicas, max-replicas). A ScaledObject's
// idleReplicaCount (0) and fallback (failureThreshold, replicas, behavior) act as in KEDA.
//
// inferstack's own knobs, as annotations (on the InferenceSet or the ScaledObject) or trigger
// metadata:
//   inferstack.io/scaling-mode        keda (default: KEDA polls every pollingInterval, the HPA
//                                     syncs every 15 s) | fast (every scaling-window, from the
//                                     pods' pushed load reports)
//   inferstack.io/scaling-window      fast mode's window (default 500ms)
//   inferstack.io/metric              the trigger metric (default vllm:num_requests_waiting)
//   inferstack.io/scale-down-window   the HPA's scale-down stabilisation window (default 300s)
//   inferstack.io/polling-interval    KEDA's polling interval (default 30s)
//   inferstack.io/cooldown-period     KEDA's cooldown before 1 -> 0 (default 300s)
#pragma once

#include <string>
#include <vector>

#include "actors/scaler/scaler_actor.hpp"
#include "runtime/config/manifests.hpp"

namespace inferstack::nodes {

/// Every autoscaled InferenceSet; problems (naming file, object and field) are appended.
std::vector<actors::scaler::scaling_target> scaling_targets(const config::stack_config& config,
                                                            std::vector<std::string>& problems);

}  // namespace inferstack::nodes
