#include "actors/scaler/scaling_policy.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>

namespace inferstack::actors::scaler {

namespace {

constexpr int64_t second_ns = 1'000'000'000;

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

}  // namespace

scaling_rules scaling_rules::default_scale_up() {
  scaling_rules r;
  r.stabilization_window_seconds = 0;
  r.select_policy = select::max;
  r.policies = {{rate_policy::kind::pods, 4, 15}, {rate_policy::kind::percent, 100, 15}};
  return r;
}

scaling_rules scaling_rules::default_scale_down() {
  scaling_rules r;
  r.stabilization_window_seconds = 300;
  r.select_policy = select::max;
  r.policies = {{rate_policy::kind::percent, 100, 15}};
  return r;
}

autoscaler::autoscaler(autoscaler_spec spec) : spec_(std::move(spec)) {}

scaling_decision autoscaler::decide(int current, double value, int64_t now_ns) {
  if (auto d = activation_check(current, value, now_ns)) return *d;
  return hpa(current, value, now_ns);
}

std::optional<scaling_decision> autoscaler::activation_check(int current, double value,
                                                             int64_t now_ns) {
  bool active = value > spec_.activation_threshold;
  if (active) last_active_ns_ = now_ns;
  // Activation goes to one replica, or with idleReplicaCount straight to minReplicaCount.
  int active_floor = spec_.idle_at_zero ? std::max(1, spec_.min_replicas) : 1;
  if (current == 0) {
    // KEDA owns 0 <-> 1 (or 0 <-> min); the HPA is paused at zero.
    if (active && spec_.max_replicas > 0) {
      int to = std::min(active_floor, spec_.max_replicas);
      return scaling_decision{to, to,
                              "activated: value " + number(value) + " > activation threshold " +
                                  number(spec_.activation_threshold)};
    }
    return scaling_decision{0, 0, "inactive at zero"};
  }
  if ((spec_.min_replicas == 0 || spec_.idle_at_zero) && !active) {
    if (!last_active_ns_) last_active_ns_ = now_ns;  // the cooldown counts from the first look
    if (now_ns - *last_active_ns_ >= spec_.cooldown_seconds * second_ns)
      return scaling_decision{0, 0,
                              "deactivated: value " + number(value) +
                                  " at or below the activation threshold for " +
                                  std::to_string(spec_.cooldown_seconds) + " s" +
                                  (spec_.idle_at_zero ? " (idleReplicaCount 0)" : "")};
  }
  return std::nullopt;
}

std::optional<scaling_decision> autoscaler::activate(int current, int64_t now_ns) {
  last_active_ns_ = now_ns;
  if (current > 0 || spec_.max_replicas == 0) return std::nullopt;
  int to = std::min(spec_.idle_at_zero ? std::max(1, spec_.min_replicas) : 1, spec_.max_replicas);
  return scaling_decision{to, to, "activated: a request is waiting for a Ready pod"};
}

std::optional<scaling_decision> autoscaler::metric_failed(int current, int64_t now_ns) {
  ++failures_;
  return fallback_decision(current, now_ns);
}

std::optional<scaling_decision> autoscaler::fallback_decision(int current, int64_t now_ns) {
  if (!spec_.fallback || current < 1 || failures_ < spec_.fallback->failure_threshold)
    return std::nullopt;
  const auto& f = *spec_.fallback;
  int replicas = f.replicas;
  if (f.behavior == fallback_spec::keep::current) replicas = current;
  if (f.behavior == fallback_spec::keep::if_higher) replicas = std::max(current, f.replicas);
  if (f.behavior == fallback_spec::keep::if_lower) replicas = std::min(current, f.replicas);
  // As KEDA does: the HPA sees the value that asks for exactly that many replicas.
  double value = replicas * spec_.target;
  auto d = hpa(current, spec_.average_value ? value : value / std::max(1, current), now_ns);
  d.reason = "fallback: the metric could not be read " + std::to_string(failures_) +
             " times in a row (failureThreshold " + std::to_string(f.failure_threshold) + ") -> " +
             std::to_string(replicas) + " replicas; " + d.reason;
  return d;
}

scaling_decision autoscaler::hpa(int current, double value, int64_t now_ns) {
  int hpa_min = std::max(1, spec_.min_replicas);
  // 1. The replica count the metric asks for (replica_calculator.go).
  int raw = current;
  double ratio = spec_.average_value ? value / (spec_.target * current) : value / spec_.target;
  std::string why;
  if (std::abs(1.0 - ratio) <= spec_.tolerance) {
    why = "within tolerance";
  } else {
    raw = spec_.average_value ? static_cast<int>(std::ceil(value / spec_.target))
                              : static_cast<int>(std::ceil(ratio * current));
    why = value > spec_.target * (spec_.average_value ? current : 1) ? "above target"
                                                                     : "below target";
  }
  std::string basis = "value " + number(value) + " vs target " + number(spec_.target) +
                      (spec_.average_value ? " per pod" : "") + " (" + why + ")";

  // 2. Stabilisation over the recommendations of each window.
  int up = raw, down = raw;
  int64_t up_cutoff = now_ns - spec_.scale_up.stabilization_window_seconds * second_ns;
  int64_t down_cutoff = now_ns - spec_.scale_down.stabilization_window_seconds * second_ns;
  for (const auto& [t, r] : recommendations_) {
    if (t > up_cutoff) up = std::min(up, r);
    if (t > down_cutoff) down = std::max(down, r);
  }
  recommendations_.emplace_back(now_ns, raw);
  int64_t keep = std::max(spec_.scale_up.stabilization_window_seconds,
                          spec_.scale_down.stabilization_window_seconds) *
                 second_ns;
  while (!recommendations_.empty() && recommendations_.front().first <= now_ns - keep)
    recommendations_.pop_front();
  int stabilized = current;
  if (stabilized < up) stabilized = up;
  if (stabilized > down) stabilized = down;
  if (stabilized != raw)
    basis += raw > stabilized ? "; scale-up stabilised" : "; scale-down stabilised";

  // 3. Rate policies and bounds.
  int desired = stabilized;
  if (desired > current) {
    int cap = std::max(scale_up_limit(current, now_ns), current);
    cap = std::min(cap, spec_.max_replicas);
    if (desired > cap) {
      desired = cap;
      basis += cap == spec_.max_replicas ? "; at max replicas" : "; scale-up rate limited";
    }
  } else if (desired < current) {
    int floor = std::min(scale_down_limit(current, now_ns), current);
    floor = std::max(floor, hpa_min);
    if (desired < floor) {
      desired = floor;
      basis += floor == hpa_min ? "; at min replicas" : "; scale-down rate limited";
    }
  }
  desired = std::clamp(desired, hpa_min, std::max(hpa_min, spec_.max_replicas));
  return {desired, raw, basis};
}

int autoscaler::changed_within(const std::deque<std::pair<int64_t, int>>& events,
                               int period_seconds, int64_t now_ns) const {
  int n = 0;
  for (const auto& [t, count] : events)
    if (t > now_ns - period_seconds * second_ns) n += count;
  return n;
}

int autoscaler::scale_up_limit(int current, int64_t now_ns) const {
  const auto& rules = spec_.scale_up;
  if (rules.select_policy == scaling_rules::select::disabled) return current;
  bool pick_max = rules.select_policy == scaling_rules::select::max;
  int result = pick_max ? INT_MIN : INT_MAX;
  for (const auto& p : rules.policies) {
    int start = current - changed_within(up_events_, p.period_seconds, now_ns) +
                changed_within(down_events_, p.period_seconds, now_ns);
    int proposed = p.type == rate_policy::kind::pods
                       ? start + p.value
                       : static_cast<int>(std::ceil(start * (1.0 + p.value / 100.0)));
    result = pick_max ? std::max(result, proposed) : std::min(result, proposed);
  }
  return rules.policies.empty() ? INT_MAX : result;
}

int autoscaler::scale_down_limit(int current, int64_t now_ns) const {
  const auto& rules = spec_.scale_down;
  if (rules.select_policy == scaling_rules::select::disabled) return current;
  // The largest change ("Max") gives the lowest count.
  bool largest_change = rules.select_policy == scaling_rules::select::max;
  int result = largest_change ? INT_MAX : INT_MIN;
  for (const auto& p : rules.policies) {
    int start = current - changed_within(up_events_, p.period_seconds, now_ns) +
                changed_within(down_events_, p.period_seconds, now_ns);
    int proposed = p.type == rate_policy::kind::pods
                       ? start - p.value
                       : static_cast<int>(start * (1.0 - p.value / 100.0));
    result = largest_change ? std::min(result, proposed) : std::max(result, proposed);
  }
  return rules.policies.empty() ? 0 : result;
}

void autoscaler::scaled(int from, int to, int64_t now_ns) {
  if (to > from) up_events_.emplace_back(now_ns, to - from);
  if (to < from) down_events_.emplace_back(now_ns, from - to);
  int64_t keep = 0;
  for (const auto* rules : {&spec_.scale_up, &spec_.scale_down})
    for (const auto& p : rules->policies)
      keep = std::max<int64_t>(keep, p.period_seconds * second_ns);
  for (auto* events : {&up_events_, &down_events_})
    while (!events->empty() && events->front().first <= now_ns - keep)
      events->pop_front();
}

}  // namespace inferstack::actors::scaler
