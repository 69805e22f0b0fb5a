// The controller's decisions, without CAF: how many pods an InferenceSet needs created, which to
// remove when it has too many, and which pods a pool's selector admits.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "actors/node_mocker/node_mocker_protocol.hpp"

namespace inferstack::actors::controller {

struct pod_view {
  std::string name;
  node_mocker::pod_phase phase = node_mocker::pod_phase::pending;
  int64_t created_ns = 0;
};

struct reconcile_plan {
  int create = 0;
  std::vector<std::string> remove;
};

/// Pods that count toward the replicas are the ones not being removed (Pending, Loading,
/// Ready). Too few: create the difference. Too many: remove the surplus the way a ReplicaSet
/// does -- not yet scheduled first, then not yet Ready, then Ready; newest first within each.
reconcile_plan reconcile(int desired, const std::vector<pod_view>& pods);

/// A label selector (matchLabels) admits `labels`; an empty selector admits nothing (an
/// InferencePool must select something).
bool selects(const std::map<std::string, std::string>& selector,
             const std::map<std::string, std::string>& labels);

}  // namespace inferstack::actors::controller
