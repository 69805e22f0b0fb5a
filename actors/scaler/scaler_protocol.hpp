// Messages of the scaler: the gateway asks it to activate a pool with no Ready pod (scale from
// zero), the live console for the pods' load; everything else it needs arrives as events
// (set_status from the controller, the pods' load reports).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/pod/pod_protocol.hpp"
#include "protocol/type_ids.hpp"
#include "runtime/message_fields.hpp"

namespace inferstack::actors::scaler {

/// A request is waiting for InferencePool `ns/pool`, which has no Ready pod.
struct activate_pool {
  std::string ns;
  std::string pool;
  INFERSTACK_FIELDS(activate_pool, ns, pool)
};

struct activation {
  bool starting = false;  ///< a pod is (or is being) started for the pool: worth waiting
  std::string detail;
  INFERSTACK_FIELDS(activation, starting, detail)
};

/// The scaler's own timers: evaluate target `index` now (`kind`: 1 HPA sync / fast window,
/// 2 KEDA activation poll).
struct scaler_tick {
  uint32_t index = 0;
  uint8_t kind = 0;
  INFERSTACK_FIELDS(scaler_tick, index, kind)
};

/// Asks for the pods' latest load reports. The scaler holds them anyway (it scales on them); the
/// live console asks where the pods run in other processes, their registries out of reach.
struct pod_loads_query {
  INFERSTACK_NO_FIELDS(pod_loads_query)
};

struct pod_loads {
  std::vector<pod::load_report> reports;  ///< one per pod, fresh ones only (metric_staleness)
  INFERSTACK_FIELDS(pod_loads, reports)
};

using scaler_actor = caf::typed_actor<caf::replies_to<activate_pool>::with<activation>,
                                      caf::replies_to<pod_loads_query>::with<pod_loads>>;

}  // namespace inferstack::actors::scaler
