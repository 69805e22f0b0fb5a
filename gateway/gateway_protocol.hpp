// Messages the gateway's request actors get from their HTTP upstream connections (a model
// server in another process): the upstream I/O thread passes the body straight to the client and
// tells the actor only how the exchange went.
#pragma once

#include <cstdint>
#include <string>

#include "protocol/type_ids.hpp"
#include "runtime/message_fields.hpp"

namespace inferstack::gateway {

enum class upstream_phase : uint8_t {
  head = 1,    ///< status and headers arrived: the response has begun
  end = 2,     ///< the body is complete (status set: a whole response, head included)
  failed = 3,  ///< connection or protocol failure
};

struct upstream_event {
  uint8_t phase = 0;  ///< upstream_phase
  int32_t status = 0;
  std::string content_type;
  std::string error;
  bool before_first_byte = false;
  INFERSTACK_FIELDS(upstream_event, phase, status, content_type, error, before_first_byte)
};

}  // namespace inferstack::gateway
