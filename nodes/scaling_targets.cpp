#include "nodes/scaling_targets.hpp"

#include <algorithm>

#include "actors/controller/reconciler.hpp"
#include "runtime/config/yaml_fields.hpp"

namespace inferstack::nodes {

namespace {

namespace scaler = actors::scaler;
using config::string_map;

constexpr const char* kaito_auto = "scaledobject.kaito.sh/auto-provision";
constexpr const char* kaito_threshold = "scaledobject.kaito.sh/threshold";
constexpr const char* kaito_min = "scaledobject.kaito.sh/min-replicas";
constexpr const char* kaito_max = "scaledobject.kaito.sh/max-replicas";

/// Reads inferstack's knobs from one string map (annotations or trigger metadata).
struct knob_reader {
  const string_map& values;
  std::string where;
  std::vector<std::string>& problems;

  const std::string* find(const std::string& key) const {
    auto it = values.find(key);
    return it == values.end() ? nullptr : &it->second;
  }
  void duration(const std::string& key, std::chrono::nanoseconds& out) {
    if (const auto* v = find(key)) {
      if (auto d = config::parse_duration(*v))
        out = *d;
      else
        problems.push_back(where + ": " + key + ": not a duration: '" + *v + "'");
    }
  }
  void seconds(const std::string& key, int& out) {
    std::chrono::nanoseconds d = std::chrono::seconds(out);
    duration(key, d);
    out = static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
  }
  void number(const std::string& key, double& out) {
    if (const auto* v = find(key)) {
      try {
        size_t used = 0;
        out = std::stod(*v, &used);
        if (used != v->size()) throw std::invalid_argument("trailing");
      } catch (const std::exception&) {
        problems.push_back(where + ": " + key + ": not a number: '" + *v + "'");
      }
    }
  }
  void integer(const std::string& key, int& out) {
    double d = out;
    number(key, d);
    out = static_cast<int>(d);
  }
  void mode(const std::string& key, scaler::timing& out) {
    if (const auto* v = find(key)) {
      if (*v == "keda")
        out = scaler::timing::keda;
      else if (*v == "fast")
        out = scaler::timing::fast;
      else
        problems.push_back(where + ": " + key + ": expected keda or fast, got '" + *v + "'");
    }
  }
  void text(const std::string& key, std::string& out) {
    if (const auto* v = find(key)) out = *v;
  }
};

void read_inferstack_knobs(knob_reader& r, scaler::scaling_target& t) {
  r.mode("inferstack.io/scaling-mode", t.mode);
  r.duration("inferstack.io/scaling-window", t.fast_window);
  r.text("inferstack.io/metric", t.metric);
  r.seconds("inferstack.io/scale-down-window", t.policy.scale_down.stabilization_window_seconds);
  r.duration("inferstack.io/polling-interval", t.polling_interval);
  r.seconds("inferstack.io/cooldown-period", t.policy.cooldown_seconds);
}

scaler::scaling_rules convert(const config::scaling_rules& in, scaler::scaling_rules defaults) {
  auto out = defaults;
  if (in.stabilization_window_seconds)
    out.stabilization_window_seconds = *in.stabilization_window_seconds;
  out.select_policy = in.select_policy == "Min"        ? scaler::scaling_rules::select::min
                      : in.select_policy == "Disabled" ? scaler::scaling_rules::select::disabled
                                                       : scaler::scaling_rules::select::max;
  if (!in.policies.empty()) {
    out.policies.clear();
    for (const auto& p : in.policies)
      out.policies.push_back({p.type == "Percent" ? scaler::rate_policy::kind::percent
                                                  : scaler::rate_policy::kind::pods,
                              p.value, p.period_seconds});
  }
  return out;
}

std::vector<std::string> pools_of(const config::stack_config& config,
                                  const config::inference_set& set) {
  std::vector<std::string> out;
  for (const auto& pool : config.inference_pools)
    if (pool.meta.namespace_ == set.meta.namespace_ &&
        actors::controller::selects(pool.selector, set.template_labels))
      out.push_back(pool.meta.namespace_ + "/" + pool.meta.name);
  return out;
}

}  // namespace

std::vector<scaler::scaling_target> scaling_targets(const config::stack_config& config,
                                                    std::vector<std::string>& problems) {
  std::vector<scaler::scaling_target> out;
  auto find_set = [&](const std::string& ns, const std::string& name) {
    const config::inference_set* found = nullptr;
    for (const auto& s : config.inference_sets)
      if (s.meta.namespace_ == ns && s.meta.name == name) found = &s;
    return found;
  };
  for (const auto& so : config.scaled_objects) {
    auto where = so.source.file + ": ScaledObject " + so.meta.namespace_ + "/" + so.meta.name;
    if (so.target_kind != "InferenceSet") {
      problems.push_back(where +
                         ": spec.scaleTargetRef.kind: only InferenceSet can be scaled, got '" +
                         so.target_kind + "'");
      continue;
    }
    const auto* set = find_set(so.meta.namespace_, so.target_name);
    if (!set) {
      problems.push_back(where + ": spec.scaleTargetRef.name: no InferenceSet " +
                         so.meta.namespace_ + "/" + so.target_name);
      continue;
    }
    if (so.trigger_type != "external" && so.trigger_type != "inferstack") {
      problems.push_back(where + ": spec.triggers[0].type: '" + so.trigger_type +
                         "' is not supported (external -- the KAITO scaler -- or inferstack)");
      continue;
    }
    scaler::scaling_target t;
    t.ns = set->meta.namespace_;
    t.set = set->meta.name;
    t.pools = pools_of(config, *set);
    t.source = "ScaledObject " + so.meta.namespace_ + "/" + so.meta.name;
    t.polling_interval = std::chrono::seconds(so.polling_interval);
    t.policy.cooldown_seconds = so.cooldown_period;
    t.policy.min_replicas = so.min_replicas;
    t.policy.max_replicas = so.max_replicas;
    t.policy.average_value = so.metric_type != "Value";
    t.policy.idle_at_zero = so.idle_replicas.has_value();
    if (so.fallback) {
      scaler::fallback_spec f;
      f.failure_threshold = so.fallback->failure_threshold;
      f.replicas = so.fallback->replicas;
      const auto& b = so.fallback->behavior;
      f.behavior = b == "currentReplicas"           ? scaler::fallback_spec::keep::current
                   : b == "currentReplicasIfHigher" ? scaler::fallback_spec::keep::if_higher
                   : b == "currentReplicasIfLower"  ? scaler::fallback_spec::keep::if_lower
                                                    : scaler::fallback_spec::keep::fixed;
      t.policy.fallback = f;
    }
    if (so.scale_up)
      t.policy.scale_up = convert(*so.scale_up, scaler::scaling_rules::default_scale_up());
    if (so.scale_down)
      t.policy.scale_down = convert(*so.scale_down, scaler::scaling_rules::default_scale_down());
    knob_reader meta{so.trigger_metadata, where + ": spec.triggers[0].metadata", problems};
    if (!meta.find("threshold"))
      problems.push_back(where + ": spec.triggers[0].metadata.threshold: required");
    meta.number("threshold", t.policy.target);
    meta.number("activationThreshold", t.policy.activation_threshold);
    meta.text("metricName", t.metric);
    meta.mode("scalingMode", t.mode);
    meta.duration("scalingWindow", t.fast_window);
    knob_reader annotations{so.meta.annotations, where + ": metadata.annotations", problems};
    read_inferstack_knobs(annotations, t);
    if (t.policy.target <= 0)
      problems.push_back(where + ": spec.triggers[0].metadata.threshold: must be positive");
    out.push_back(std::move(t));
  }
  for (const auto& set : config.inference_sets) {
    auto on = set.meta.annotations.find(kaito_auto);
    if (on == set.meta.annotations.end() || on->second != "true") continue;
    auto where = set.source.file + ": InferenceSet " + set.meta.namespace_ + "/" + set.meta.name;
    bool covered = std::any_of(out.begin(), out.end(), [&](const auto& t) {
      return t.ns == set.meta.namespace_ && t.set == set.meta.name;
    });
    if (covered) {
      problems.push_back(where + ": both a ScaledObject and " + std::string(kaito_auto) +
                         " scale it; keep one");
      continue;
    }
    scaler::scaling_target t;
    t.ns = set.meta.namespace_;
    t.set = set.meta.name;
    t.pools = pools_of(config, set);
    t.source = "InferenceSet " + t.ns + "/" + t.set + " annotations";
    t.policy.target = 10;
    t.policy.min_replicas = 1;
    t.policy.max_replicas = std::max(10, set.replicas);
    knob_reader r{set.meta.annotations, where + ": metadata.annotations", problems};
    r.number(kaito_threshold, t.policy.target);
    r.integer(kaito_min, t.policy.min_replicas);
    r.integer(kaito_max, t.policy.max_replicas);
    read_inferstack_knobs(r, t);
    if (t.policy.target <= 0)
      problems.push_back(where + ": " + std::string(kaito_threshold) + ": must be positive");
    if (t.policy.min_replicas < 0)
      problems.push_back(where + ": " + std::string(kaito_min) + ": must not be negative");
    if (t.policy.max_replicas < set.replicas || t.policy.max_replicas < t.policy.min_replicas)
      problems.push_back(where + ": " + std::string(kaito_max) +
                         ": below spec.replicas or min-replicas");
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace inferstack::nodes
