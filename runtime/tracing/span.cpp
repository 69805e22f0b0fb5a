#include "runtime/tracing/span.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace inferstack::tracing {

uint64_t system_unix_nanos() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

namespace {
constexpr uint64_t low56_range = uint64_t{1} << 56;
}

ratio_sampler::ratio_sampler(double ratio)
    : ratio_(std::isnan(ratio) ? 0.0 : std::clamp(ratio, 0.0, 1.0)) {
  // ratio 1 must take every id: a bound past the largest 56-bit value.
  bound_ = ratio_ >= 1.0 ? low56_range
                         : static_cast<uint64_t>(ratio_ * static_cast<double>(low56_range));
}

bool ratio_sampler::sample(const trace_id& trace, const trace_context* incoming) const {
  if (incoming) return incoming->sampled();
  uint64_t low56 = 0;
  for (size_t i = 9; i < 16; ++i)
    low56 = low56 << 8 | trace[i];
  return low56 < bound_;
}

}  // namespace inferstack::tracing
