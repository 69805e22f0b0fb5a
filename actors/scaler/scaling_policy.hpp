// The scaler's decisions, without CAF: KEDA's activation (0 <-> 1) and the Horizontal Pod
// Autoscaler's algorithm (N <-> M) exactly as Kubernetes computes them, so results carry over:
//
//   desired = ceil(current x value / target)            (Value targets; AverageValue: ceil(sum /
//                                                         target)), unchanged while the ratio is
//                                                         within 1 +- tolerance (0.1)
//   stabilisation: scale-down uses the highest recommendation of its window (300 s), scale-up
//                  the lowest of its window (0 s)
//   rate policies: per period, Pods (+/- n) or Percent, selectPolicy Max / Min / Disabled;
//                  defaults: up max(+4 pods, +100 %) per 15 s, down -100 % per 15 s
//   min / max replicas; KEDA: 0 -> 1 once the value exceeds activationThreshold, 1 -> 0 after
//   the value stayed at or below it for cooldownPeriod (300 s); the HPA never goes below 1.
//   KEDA's idleReplicaCount (0): with minReplicaCount above it, an inactive set goes to 0 and an
//   active one straight back to minReplicaCount. KEDA's fallback: after failureThreshold failed
//   metric reads in a row the HPA is fed replicas x target, so it scales to fallback.replicas
//   (within its rate policies and bounds); not from zero.
//
// (kubernetes pkg/controller/podautoscaler: replica_calculator.go GetExternalMetricReplicas,
// horizontal.go stabilizeRecommendationWithBehaviors, calculateScaleUpLimitWithScalingRules,
// calculateScaleDownLimitWithBehaviors; KEDA scale_handler / scaledobject spec.)
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace inferstack::actors::scaler {

struct rate_policy {
  enum class kind { pods, percent };
  kind type = kind::pods;
  int value = 0;
  int period_seconds = 15;
};

struct scaling_rules {
  int stabilization_window_seconds = 0;
  enum class select { max, min, disabled };
  select select_policy = select::max;
  std::vector<rate_policy> policies;

  static scaling_rules default_scale_up();    ///< window 0 s; max(+4 pods, +100 %) per 15 s
  static scaling_rules default_scale_down();  ///< window 300 s; -100 % per 15 s
};

/// KEDA's fallback: replicas to run while the trigger's metric cannot be read.
struct fallback_spec {
  int failure_threshold = 3;  ///< failed reads in a row before it applies
  int replicas = 1;
  /// KEDA's fallback.behavior: static (replicas), currentReplicas (stay), currentReplicasIfHigher
  /// (the larger of current and replicas), currentReplicasIfLower (the smaller).
  enum class keep { fixed, current, if_higher, if_lower };
  keep behavior = keep::fixed;
};

struct autoscaler_spec {
  int min_replicas = 1;       ///< 0: scale to zero (KEDA)
  bool idle_at_zero = false;  ///< KEDA idleReplicaCount 0: inactive -> 0, active -> min_replicas
  int max_replicas = 10;
  double target = 10;         ///< the trigger's threshold
  bool average_value = true;  ///< AverageValue (per pod) or Value target
  double tolerance = 0.1;
  double activation_threshold = 0;  ///< KEDA: active while value > this
  int cooldown_seconds = 300;       ///< KEDA: inactive this long -> 0 (when min is 0)
  scaling_rules scale_up = scaling_rules::default_scale_up();
  scaling_rules scale_down = scaling_rules::default_scale_down();
  std::optional<fallback_spec> fallback;
};

struct scaling_decision {
  int desired = 0;
  int recommended = 0;  ///< before stabilisation and rate limits
  std::string reason;
  bool change(int current) const { return desired != current; }
};

class autoscaler {
 public:
  explicit autoscaler(autoscaler_spec spec);

  /// What the set should have now, given its current replicas and the trigger's value (summed
  /// over its Ready pods): activation_check() first, then hpa(). The fast mode's evaluation.
  scaling_decision decide(int current, double value, int64_t now_ns);

  /// KEDA's part, at its polling interval: 0 -> 1 once active, -> 0 after the cooldown (when
  /// min_replicas is 0). Nothing: the HPA decides.
  std::optional<scaling_decision> activation_check(int current, double value, int64_t now_ns);

  /// The HPA's part, at its sync period (current >= 1; never below max(1, min_replicas)).
  scaling_decision hpa(int current, double value, int64_t now_ns);

  /// The trigger's metric could not be read (every Ready pod silent or unknown). With a
  /// fallback, once that happened failure_threshold times in a row: the HPA's decision for
  /// fallback.replicas; otherwise nothing (the replicas stay as they are).
  std::optional<scaling_decision> metric_failed(int current, int64_t now_ns);

  /// The metric was read again: the failure count starts over.
  void metric_read() { failures_ = 0; }
  int failures() const { return failures_; }

  /// While failure_threshold or more reads in a row failed and a fallback is set: the HPA's
  /// decision for fallback.replicas (current >= 1). Nothing otherwise.
  std::optional<scaling_decision> fallback_decision(int current, int64_t now_ns);

  /// A request is waiting for a set with no Ready pod (scale from zero): 1 replica at once.
  std::optional<scaling_decision> activate(int current, int64_t now_ns);

  /// A decision was carried out (feeds the rate policies).
  void scaled(int from, int to, int64_t now_ns);

  const autoscaler_spec& spec() const { return spec_; }

 private:
  int scale_up_limit(int current, int64_t now_ns) const;
  int scale_down_limit(int current, int64_t now_ns) const;
  int changed_within(const std::deque<std::pair<int64_t, int>>& events, int period_seconds,
                     int64_t now_ns) const;

  autoscaler_spec spec_;
  std::deque<std::pair<int64_t, int>> recommendations_;          ///< (time, unstabilised replicas)
  std::deque<std::pair<int64_t, int>> up_events_, down_events_;  ///< (time, pods changed)
  std::optional<int64_t> last_active_ns_;
  int failures_ = 0;  ///< failed metric reads in a row
};

}  // namespace inferstack::actors::scaler
