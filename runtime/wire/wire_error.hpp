#pragma once

#include <cstdint>
#include <string>

#include "runtime/message_fields.hpp"

namespace inferstack::wire {

/// The payload of an error frame: a CAF error flattened to its category name, code and a
/// human-readable context, so the requester gets the same error it would get locally.
struct wire_error {
  std::string category;
  uint8_t code = 0;
  std::string context;
  INFERSTACK_FIELDS(wire_error, category, code, context)
};

}  // namespace inferstack::wire
