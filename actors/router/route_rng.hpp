// The random numbers of weighted backend choice (route_table::resolve).
#pragma once

#include <cstdint>

namespace inferstack::actors::router {

/// The generator weighted backends are drawn from: SplitMix64 (Steele, Lea, Flood 2014), a
/// uniform random bit generator for std:: distributions. Not std::mt19937_64: the gateway seeds
/// one per request (splits must not depend on the thread or the order of requests), and seeding
/// a Mersenne twister fills 312 words -- about 1.7 us a request, 2.6 % of the gateway's CPU on
/// the multi-process path (perf) -- for one draw.
struct route_rng {
  using result_type = uint64_t;
  uint64_t state = 0;

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return UINT64_MAX; }
  result_type operator()() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

}  // namespace inferstack::actors::router
