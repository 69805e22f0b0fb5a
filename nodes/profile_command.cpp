// `inferstack profile fit`: a LatencyProfile from Vidur's measured GPU tables (the fitter is in
// simulate/calibration/profile_fit.hpp). The manifest goes to --out (or stdout), the fit's
// coefficients and errors to stdout (or stderr when stdout carries the manifest).
#include <fstream>
#include <iostream>

#include "nodes/profile_command.hpp"
#include "runtime/config/yaml_fields.hpp"
#include "simulate/calibration/profile_fit.hpp"

namespace inferstack::nodes {

int run_profile_fit(const profile_fit_options& options) {
  using namespace simulate::calibration;
  fit_options fit = options.fit;
  if (!options.anchor_decode_step.empty()) {
    auto ns = config::parse_duration_ns(options.anchor_decode_step);
    if (!ns || *ns <= 0) {
      std::cerr << "inferstack profile fit: --anchor-decode-step: '" << options.anchor_decode_step
                << "' is not a duration like 6.44ms\n";
      return 2;
    }
    fit.anchor_decode_step_ns = *ns;
  }
  fit.memory_bytes_per_s = options.memory_bandwidth_gbps * 1e9;
  fit.attention_flops = options.attention_tflops * 1e12;
  if (fit.name.empty()) fit.name = "fitted";
  try {
    auto result = fit_profile(fit);
    std::ostream& report = options.out.empty() ? std::cerr : std::cout;
    for (const auto& line : result.report)
      report << line << "\n";
    if (options.out.empty()) {
      std::cout << result.yaml;
    } else {
      std::ofstream out(options.out);
      out << result.yaml;
      if (!out.flush()) {
        std::cerr << "inferstack profile fit: cannot write " << options.out << "\n";
        return 2;
      }
      report << "wrote " << options.out << "\n";
    }
    return 0;
  } catch (const calibration_error& e) {
    std::cerr << "inferstack profile fit: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace inferstack::nodes
