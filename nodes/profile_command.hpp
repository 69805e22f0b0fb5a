// `inferstack profile fit`: its options (kept apart from commands.hpp so that the other commands
// do not compile the fitter's headers).
#pragma once

#include <string>

#include "simulate/calibration/profile_fit.hpp"

namespace inferstack::nodes {
struct profile_fit_options {
  simulate::calibration::fit_options fit;
  std::string anchor_decode_step;    ///< a duration, e.g. 6.44ms
  double memory_bandwidth_gbps = 0;  ///< 0: the GPU's default
  double attention_tflops = 0;       ///< 0: the GPU's default
  std::string out;                   ///< the manifest's file ("" = stdout)
};

/// `inferstack profile fit`: a LatencyProfile fitted on Vidur's measured GPU tables.
int run_profile_fit(const profile_fit_options& options);

}  // namespace inferstack::nodes
