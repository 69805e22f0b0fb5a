#pragma once

#include <cstdint>

namespace inferstack::wire {

/// Version of the envelope layout. A receiver refuses envelopes of any other version with a
/// clear error instead of guessing; bump it whenever the envelope's layout changes.
constexpr uint32_t wire_version = 1;

}  // namespace inferstack::wire
