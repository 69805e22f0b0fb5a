// Flow-control settings of a picker, read from its EndpointPickerConfig as llm-d-router names
// them: the `flowControl` feature gate turns the layer on (off by default, as in llm-d); the
// `flowControl` section gives the global and per-band capacities (maxRequests, maxBytes, as
// Kubernetes quantities), the queue-wait budget (defaultRequestTTL, 60s) and per priority band
// (priorityBands, defaultPriorityBand, defaultNegativePriorityBand) the fairness policy between
// flows (fairnessPolicyRef) and the ordering within one (orderingPolicyRef: FCFS only here).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/config/manifests.hpp"

namespace inferstack::actors::picker::flow_control {

/// How a band chooses between its flows (fairness ids).
enum class fairness_policy {
  global_strict,  ///< global-strict-fairness-policy: the oldest request of the band first
  round_robin,    ///< round-robin-fairness-policy: one request per flow in turn
  /// vtc-fairness-policy (inferstack's): the flow with the fewest tokens served, a Virtual Token
  /// Counter (Sheng et al., "Fairness in Serving Large Language Models", OSDI 2024).
  vtc,
};

std::string_view to_string(fairness_policy p);

inline constexpr std::string_view vtc_policy_type = "vtc-fairness-policy";
inline constexpr std::string_view fair_share_ceiling_type = "fair-share-ceiling-policy";

struct band_settings {
  int priority = 0;
  uint64_t max_requests = 5000;        ///< llm-d's per-band default
  uint64_t max_bytes = 1'000'000'000;  ///< 1 GB, llm-d's per-band default
  fairness_policy fairness = fairness_policy::global_strict;
};

struct flow_control_settings {
  bool enabled = false;       ///< the flowControl feature gate
  uint64_t max_requests = 0;  ///< over all bands; 0: no global bound
  uint64_t max_bytes = 0;
  /// Queue-wait budget of a request; 0: none (waits until dispatch or cancel).
  int64_t request_ttl_ns = 60'000'000'000;
  band_settings default_band;
  std::optional<band_settings> default_negative_band;  ///< else default_band for priority < 0
  std::vector<band_settings> bands;                    ///< explicit bands
  /// VTC's weights of a served prompt token and a generated one (the paper's w_p, w_q).
  double vtc_input_weight = 1.0;
  double vtc_output_weight = 2.0;
  /// fair-share-ceiling-policy (inferstack's usage limit, usageLimitPolicyPluginRef): from this
  /// pool saturation on, a flow holding more than its share of its band's requests in flight
  /// waits, so the last room goes to flows under their share (a light tenant's request finds a
  /// free slot instead of waiting for one). 1: off, as static-usage-limit-policy.
  double over_share_ceiling = 1.0;

  /// The settings of the band a priority falls in (its priority set).
  band_settings band_for(int priority) const;
};

/// A Kubernetes resource quantity as an integer ("5000", "1k", "500M", "1Gi"); nullopt when
/// malformed, negative or fractional after scaling.
std::optional<uint64_t> parse_quantity(const std::string& text);

/// Reads the flowControl gate and section of `cfg`; problems (unknown fields, references to
/// plugins that are not fairness or ordering policies, policies this picker does not implement)
/// are added to `problems`.
flow_control_settings read_flow_control(const config::picker_config& cfg,
                                        std::vector<config::problem>& problems);

}  // namespace inferstack::actors::picker::flow_control
