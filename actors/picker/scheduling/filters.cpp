#include "actors/picker/scheduling/filters.hpp"

#include <algorithm>
#include <limits>

#include "actors/picker/scheduling/plugin_registry.hpp"

namespace inferstack::actors::picker {

void by_label_filter::filter(cycle& c, std::vector<uint32_t>& candidates) {
  std::erase_if(candidates, [&](uint32_t id) {
    const std::string* value = c.endpoint(id).label(label_);
    if (!value) return !allows_no_label_;
    return valid_.count(*value) == 0;
  });
}

// llm-d bylabel/roles.go: decode accepts unlabeled pods, prefill and encode do not.
std::unique_ptr<by_label_filter> by_label_filter::decode(std::string name) {
  return std::make_unique<by_label_filter>(
      "decode-filter", std::move(name), std::string(role_label),
      std::set<std::string>{"decode", "prefill-decode", "both", "encode-prefill-decode"}, true);
}

std::unique_ptr<by_label_filter> by_label_filter::prefill(std::string name) {
  return std::make_unique<by_label_filter>(
      "prefill-filter", std::move(name), std::string(role_label),
      std::set<std::string>{"prefill", "encode-prefill", "prefill-decode", "both",
                            "encode-prefill-decode"},
      false);
}

std::unique_ptr<by_label_filter> by_label_filter::encode(std::string name) {
  return std::make_unique<by_label_filter>(
      "encode-filter", std::move(name), std::string(role_label),
      std::set<std::string>{"encode", "encode-prefill", "encode-prefill-decode"}, false);
}

bool label_selector::matches(const std::map<std::string, std::string>& labels) const {
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const auto& r : match_expressions) {
    auto it = labels.find(r.key);
    bool has = it != labels.end();
    bool in = has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
    if (r.op == "In" && !in) return false;
    if (r.op == "NotIn" && in) return false;
    if (r.op == "Exists" && !has) return false;
    if (r.op == "DoesNotExist" && has) return false;
  }
  return true;
}

void label_selector_filter::filter(cycle& c, std::vector<uint32_t>& candidates) {
  std::erase_if(candidates, [&](uint32_t id) { return !selector_.matches(c.endpoint(id).labels); });
}

bool utilization_filter::satisfies_all(const endpoint_state& e) const {
  for (const auto& cond : conditions_) {
    double value = 0;
    switch (cond.what) {
      case metric::active_requests:
        value = static_cast<double>(e.assigned_requests);
        break;
      case metric::running_requests:
        value = e.load.running;
        break;
      case metric::waiting_queue:
        value = e.load.waiting;
        break;
      case metric::kv_cache_utilization:
        value = e.load.kv_usage;
        break;
    }
    if (value > cond.max_value) return false;
  }
  return true;
}

void utilization_filter::filter(cycle& c, std::vector<uint32_t>& candidates) {
  auto kept = std::count_if(candidates.begin(), candidates.end(),
                            [&](uint32_t id) { return satisfies_all(c.endpoint(id)); });
  if (kept == 0 && fallback_on_empty_) return;
  std::erase_if(candidates, [&](uint32_t id) { return !satisfies_all(c.endpoint(id)); });
}

void prefix_cache_affinity_filter::filter(cycle& c, std::vector<uint32_t>& candidates) {
  if (candidates.size() <= 1 || settings_.affinity_threshold <= 0 || producer_ < 0) {
    ++counts_.not_applicable;
    return;
  }
  if (settings_.exploration_probability > 0) {
    double u = std::uniform_real_distribution<double>(0.0, 1.0)(*c.rng);
    if (u < settings_.exploration_probability) {
      ++counts_.exploration;
      return;
    }
  }
  sticky_.clear();
  non_sticky_.clear();
  for (uint32_t id : candidates) {
    const auto& m = c.match(producer_, id);
    double score =
        m.valid && m.total_blocks > 0 ? static_cast<double>(m.match_blocks) / m.total_blocks : 0.0;
    (score >= settings_.affinity_threshold ? sticky_ : non_sticky_).push_back(id);
  }
  if (sticky_.empty()) {
    ++counts_.no_match;
    return;
  }
  if (settings_.max_ttft_penalty_ms > 0 && !non_sticky_.empty()) {
    // TTFT estimated from the tokens this picker has in flight on the pod.
    auto best = [&](const std::vector<uint32_t>& ids) {
      double b = std::numeric_limits<double>::max();
      for (uint32_t id : ids) {
        double ttft = static_cast<double>(c.endpoint(id).assigned_tokens) /
                      settings_.peak_prefill_throughput * 1000.0;
        b = std::min(b, ttft);
      }
      return b;
    };
    if (best(sticky_) - best(non_sticky_) > settings_.max_ttft_penalty_ms) {
      ++counts_.load_override;
      return;
    }
  }
  ++counts_.sticky;
  candidates.swap(sticky_);
}

// -- factories --------------------------------------------------------------------------------

namespace {

using config::fields;
using config::picker_plugin_spec;

void make_label_selector(plugin_builder& b, const picker_plugin_spec& s, fields& p) {
  label_selector sel;
  std::map<std::string, std::string> labels;
  p.get("matchLabels", labels);
  sel.match_labels.assign(labels.begin(), labels.end());
  for (auto& e : p.list("matchExpressions")) {
    label_selector::requirement r;
    e.get("key", r.key, true);
    e.get_enum("operator", r.op, {"In", "NotIn", "Exists", "DoesNotExist"}, true);
    e.get("values", r.values);
    if ((r.op == "In" || r.op == "NotIn") && r.values.empty())
      b.problem(e.child_path("values"), "must not be empty for operator " + r.op);
    e.finish();
    sel.match_expressions.push_back(std::move(r));
  }
  b.add(std::make_unique<label_selector_filter>(s.type, s.name, std::move(sel)), &s);
}

void make_utilization_filter(plugin_builder& b, const picker_plugin_spec& s, fields& p) {
  using metric = utilization_filter::metric;
  static const std::map<std::string, metric, std::less<>> metrics = {
      {"active-requests", metric::active_requests},
      {"running-requests", metric::running_requests},
      {"waiting-queue", metric::waiting_queue},
      {"kv-cache-utilization", metric::kv_cache_utilization}};
  std::vector<utilization_filter::condition> conditions;
  for (auto& e : p.list("conditions", true)) {
    std::string name;
    double max_value = 0;
    e.get_enum("metric", name,
               {"active-requests", "running-requests", "waiting-queue", "kv-cache-utilization"},
               true);
    e.get("maxValue", max_value, true);
    if (max_value < 0) b.problem(e.child_path("maxValue"), "must be non-negative");
    if (name == "kv-cache-utilization" && max_value > 1)
      b.problem(e.child_path("maxValue"), "kv-cache-utilization is a fraction: at most 1");
    e.finish();
    if (auto it = metrics.find(name); it != metrics.end())
      conditions.push_back({it->second, max_value});
  }
  if (p.has("conditions") && conditions.empty())
    b.problem(p.child_path("conditions"), "needs at least one condition");
  bool fallback = false;
  std::string unused;
  p.get("fallbackOnEmpty", fallback);
  p.get("inFlightLoadProducerName", unused);  // active-requests is this picker's own count
  b.add(std::make_unique<utilization_filter>(s.name, std::move(conditions), fallback), &s);
}

void make_prefix_cache_affinity(plugin_builder& b, const picker_plugin_spec& s, fields& p) {
  prefix_cache_affinity_filter::settings st;
  p.get("affinityThreshold", st.affinity_threshold);
  p.get("explorationProbability", st.exploration_probability);
  p.get("maxTTFTPenaltyMs", st.max_ttft_penalty_ms);
  std::string source = "prefillThroughput";
  p.get_enum("ttftSource", source, {"prefillThroughput", "latencyPredictor"});
  if (source == "latencyPredictor")
    b.problem(p.child_path("ttftSource"),
              "latencyPredictor is not supported (no latency predictor in this stack)");
  p.get("peakPrefillThroughput", st.peak_prefill_throughput);
  std::string file, fingerprint, producer, unused;
  bool required = false;
  p.get("prefillCalibrationFile", file);
  p.get("prefillCalibrationFingerprint", fingerprint);
  p.get("prefillCalibrationRequired", required);
  // The picker reads no files: a calibration record cannot be applied. llm-d then keeps the
  // default unless the calibration is required.
  if (!file.empty() && required && !p.has("peakPrefillThroughput"))
    b.problem(p.child_path("prefillCalibrationFile"),
              "calibration records are not read by this picker; set peakPrefillThroughput");
  p.get("prefixMatchInfoProducerName", producer);
  p.get("latencyPredictionInfoProducerName", unused);
  p.get("inFlightLoadProducerName", unused);
  check_range(b, p, "affinityThreshold", st.affinity_threshold, 0, 1, "must be in [0, 1]");
  check_range(b, p, "explorationProbability", st.exploration_probability, 0, 1,
              "must be in [0, 1]");
  if (st.max_ttft_penalty_ms < 0) b.problem(p.child_path("maxTTFTPenaltyMs"), "must be >= 0");
  if (st.max_ttft_penalty_ms > 0 && st.peak_prefill_throughput <= 0)
    b.problem(p.child_path("peakPrefillThroughput"),
              "must be > 0 when ttftSource is prefillThroughput");
  auto* f = b.add(std::make_unique<prefix_cache_affinity_filter>(s.name, st, -1), &s);
  auto path = p.child_path("prefixMatchInfoProducerName");
  b.later([&b, f, producer, path] { f->set_producer(b.producer_ref(producer, path)); });
}

plugin_factory label_selector_type(std::string_view type) {
  return {type,
          plugin_kind::filter,
          {{"matchLabels", "{}"}, {"matchExpressions", "[]"}},
          make_label_selector};
}

/// decode-filter, prefill-filter, encode-filter: by-label on the role label.
template <std::unique_ptr<by_label_filter> (*make_role)(std::string)>
plugin_factory role_filter(std::string_view type) {
  return {
      type, plugin_kind::filter, {}, [](plugin_builder& b, const picker_plugin_spec& s, fields&) {
        b.add(make_role(s.name), &s);
      }};
}

}  // namespace

const std::vector<plugin_factory>& filter_factories() {
  static const std::vector<plugin_factory> list = {
      role_filter<by_label_filter::decode>("decode-filter"),
      role_filter<by_label_filter::prefill>("prefill-filter"),
      role_filter<by_label_filter::encode>("encode-filter"),
      {"by-label",
       plugin_kind::filter,
       {{"label", "(required)"}, {"validValues", "[]"}, {"allowsNoLabel", "false"}},
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         std::string label;
         std::vector<std::string> values;
         bool allows_no_label = false;
         p.get("label", label, true);
         p.get("validValues", values);
         p.get("allowsNoLabel", allows_no_label);
         b.add(std::make_unique<by_label_filter>(
                   "by-label", s.name, label, std::set<std::string>(values.begin(), values.end()),
                   allows_no_label),
               &s);
       }},
      label_selector_type("label-selector-filter"),
      label_selector_type("by-label-selector"),  // deprecated name
      {"prefix-cache-affinity-filter",
       plugin_kind::filter,
       {{"affinityThreshold", "0.80"},
        {"explorationProbability", "0"},
        {"maxTTFTPenaltyMs", "18000"},
        {"ttftSource", "prefillThroughput"},
        {"peakPrefillThroughput", "15928"},
        {"prefillCalibrationFile", "-"},
        {"prefillCalibrationFingerprint", "-"},
        {"prefillCalibrationRequired", "false"},
        {"prefixMatchInfoProducerName", "the default producer"},
        {"latencyPredictionInfoProducerName", "- (unused)"},
        {"inFlightLoadProducerName", "- (unused)"}},
       make_prefix_cache_affinity},
      {"utilization-filter",
       plugin_kind::filter,
       {{"conditions", "(required) [{metric, maxValue}]"},
        {"fallbackOnEmpty", "false"},
        {"inFlightLoadProducerName", "- (unused)"}},
       make_utilization_filter},
  };
  return list;
}

}  // namespace inferstack::actors::picker
