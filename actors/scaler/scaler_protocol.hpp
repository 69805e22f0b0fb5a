// Messages of the scaler: the gateway asks it to activate a pool with no Ready pod (scale from
// zero); everything else it needs arrives as events (set_status from the controller, the pods'
// load reports).
#pragma once

#include <cstdint>
#include <string>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

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

using scaler_actor = caf::typed_actor<caf::replies_to<activate_pool>::with<activation>>;

}  // namespace inferstack::actors::scaler
