// Messages of the controller: InferenceSets (desired replicas -> pods through the node mocker)
// and their scale subresource. The scaler and operators change replicas with scale_set; the
// controller tells who asks how each set stands (set_status).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "protocol/type_ids.hpp"  // also declares node_mocker::pod_event, which the controller hears
#include "runtime/message_fields.hpp"

namespace inferstack::actors::controller {

/// Set the replicas of an InferenceSet (its scale subresource).
struct scale_set {
  std::string ns;
  std::string set;
  int32_t replicas = 0;
  std::string reason;  ///< for logs and `get inferencesets`
  std::string source;  ///< who asked: scaler, operator, ...
  INFERSTACK_FIELDS(scale_set, ns, set, replicas, reason, source)
};

struct scale_result {
  bool ok = false;
  int32_t previous = 0;
  int32_t replicas = 0;
  std::string error;
  INFERSTACK_FIELDS(scale_result, ok, previous, replicas, error)
};

/// How an InferenceSet stands.
struct set_status {
  std::string ns;
  std::string set;
  int32_t desired = 0;  ///< spec.replicas
  int32_t current = 0;  ///< pods not being removed (Pending, Loading, Ready)
  int32_t ready = 0;
  int32_t pending = 0;
  std::vector<std::string> ready_pods;
  std::string last_scale_reason;
  int64_t last_scale_ns = 0;
  int64_t created_ns = 0;
  /// Grows with every change of the set: a status that arrives late (after a newer one) is
  /// recognised and ignored.
  uint64_t version = 0;
  INFERSTACK_FIELDS(set_status, ns, set, desired, current, ready, pending, ready_pods,
                    last_scale_reason, last_scale_ns, created_ns, version)
};

struct set_status_query {
  INFERSTACK_NO_FIELDS(set_status_query)
};

struct set_status_list {
  std::vector<set_status> sets;
  INFERSTACK_FIELDS(set_status_list, sets)
};

/// The controller's own timers: look at one set again (after a pod failed to start); both
/// fields empty: tell every pool's membership again (the resync; a gateway that just
/// subscribed to the memberships asks for one too).
struct reconcile_now {
  std::string ns;
  std::string set;
  INFERSTACK_FIELDS(reconcile_now, ns, set)
};

using controller_actor = caf::typed_actor<caf::replies_to<scale_set>::with<scale_result>,
                                          caf::replies_to<set_status_query>::with<set_status_list>,
                                          caf::reacts_to<node_mocker::pod_event>>;

}  // namespace inferstack::actors::controller
