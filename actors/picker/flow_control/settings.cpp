// Reading the flowControl section (llm-d-router apix/config/v1alpha1 FlowControlConfig).
#include "actors/picker/flow_control/settings.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "runtime/config/yaml_fields.hpp"

namespace inferstack::actors::picker::flow_control {

std::string_view to_string(fairness_policy p) {
  switch (p) {
    case fairness_policy::global_strict:
      return "global-strict-fairness-policy";
    case fairness_policy::round_robin:
      return "round-robin-fairness-policy";
    case fairness_policy::vtc:
      return vtc_policy_type;
  }
  return "unknown";
}

band_settings flow_control_settings::band_for(int priority) const {
  for (const auto& b : bands)
    if (b.priority == priority) return b;
  band_settings out = priority < 0 && default_negative_band ? *default_negative_band : default_band;
  out.priority = priority;
  return out;
}

std::optional<uint64_t> parse_quantity(const std::string& text) {
  static const std::pair<const char*, double> suffixes[] = {
      {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
      {"k", 1e3},     {"M", 1e6},        {"G", 1e9},           {"T", 1e12},
      {"", 1.0}};
  for (const auto& [suffix, scale] : suffixes) {
    std::string_view s = suffix;
    if (text.size() <= s.size() || text.compare(text.size() - s.size(), s.size(), s) != 0) continue;
    auto number = text.substr(0, text.size() - s.size());
    if (number.find_first_not_of("0123456789.") != std::string::npos) continue;
    try {
      size_t used = 0;
      double v = std::stod(number, &used) * scale;
      if (used != number.size() || v < 0 || v != std::floor(v) || v > 1.8e19) return std::nullopt;
      return static_cast<uint64_t>(v);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

namespace {

using config::fields;

/// A quantity field: a YAML integer or a quantity string.
void get_quantity(fields& f, const std::string& key, uint64_t& out) {
  auto node = f.raw(key);
  if (!node.IsDefined() || node.IsNull()) return;
  auto v = node.IsScalar() ? parse_quantity(node.Scalar()) : std::nullopt;
  if (!v)
    f.diag().add(f.child_path(key), node,
                 "expected a non-negative whole quantity (e.g. 5000, 1k, 500M, 1Gi)");
  else if (*v > 0)  // "0" means unset, as in llm-d
    out = *v;
}

/// What a policy reference names: a plugin's type when it names one in `plugins`, else the
/// reference itself (llm-d registers its default policies under their type names).
std::string type_of_ref(const config::picker_config& cfg, const std::string& ref) {
  for (const auto& p : cfg.plugins)
    if (p.name == ref) return p.type;
  return ref;
}

void read_band(const config::picker_config& cfg, fields& f, band_settings& b) {
  get_quantity(f, "maxRequests", b.max_requests);
  get_quantity(f, "maxBytes", b.max_bytes);
  std::string fairness, ordering;
  f.get("fairnessPolicyRef", fairness);
  f.get("orderingPolicyRef", ordering);
  if (!fairness.empty()) {
    auto type = type_of_ref(cfg, fairness);
    if (type == "global-strict-fairness-policy")
      b.fairness = fairness_policy::global_strict;
    else if (type == "round-robin-fairness-policy")
      b.fairness = fairness_policy::round_robin;
    else if (type == vtc_policy_type)
      b.fairness = fairness_policy::vtc;
    else
      f.diag().add(f.child_path("fairnessPolicyRef"),
                   "'" + fairness + "' (" + type +
                       ") is not a fairness policy this picker implements "
                       "(global-strict-fairness-policy, round-robin-fairness-policy, "
                       "vtc-fairness-policy)");
  }
  if (!ordering.empty() && type_of_ref(cfg, ordering) != "fcfs-ordering-policy")
    f.diag().add(f.child_path("orderingPolicyRef"),
                 "'" + ordering + "': only fcfs-ordering-policy is implemented");
}

/// The ceiling of the fair-share-ceiling-policy `ref` names (its default when it names the type).
double fair_share_ceiling_of(const config::picker_config& cfg, const std::string& ref,
                             config::diagnostics& diag) {
  double ceiling = 0.95;
  for (const auto& p : cfg.plugins) {
    if (p.name != ref || !p.parameters.IsDefined() || p.parameters.IsNull()) continue;
    fields f(p.parameters, p.path + ".parameters", diag);
    f.get("ceiling", ceiling);
    f.finish();  // checked by the plugin's factory (passive_plugins.cpp)
  }
  return ceiling;
}

}  // namespace

flow_control_settings read_flow_control(const config::picker_config& cfg,
                                        std::vector<config::problem>& problems) {
  flow_control_settings out;
  out.enabled = std::find(cfg.feature_gates.begin(), cfg.feature_gates.end(), "flowControl") !=
                cfg.feature_gates.end();
  config::diagnostics diag(cfg.source.file, cfg.source.document);
  diag.set_object("EndpointPickerConfig" + (cfg.meta.name.empty() ? "" : " " + cfg.meta.name));
  // The VTC policy's weights come from its plugin's parameters.
  for (const auto& p : cfg.plugins) {
    if (p.type != vtc_policy_type || !p.parameters.IsDefined() || p.parameters.IsNull()) continue;
    fields f(p.parameters, p.path + ".parameters", diag);
    f.get("inputTokenWeight", out.vtc_input_weight);
    f.get("outputTokenWeight", out.vtc_output_weight);
    f.finish();  // checked by the plugin's factory (passive_plugins.cpp)
  }
  const auto& fc = cfg.flow_control;
  if (fc.IsDefined() && !fc.IsNull() && fc.IsMap()) {  // not a mapping: config_loader says so
    fields f(fc, "flowControl", diag);
    get_quantity(f, "maxRequests", out.max_requests);
    get_quantity(f, "maxBytes", out.max_bytes);
    std::chrono::nanoseconds ttl{out.request_ttl_ns};
    f.get("defaultRequestTTL", ttl);
    out.request_ttl_ns = ttl.count();
    if (ttl.count() < 0) diag.add("flowControl.defaultRequestTTL", "must not be negative");
    // An empty pool answers at once here (the gateway waits for a pod to start), so the
    // empty-pool budget has nothing to bound: read and accepted.
    std::chrono::nanoseconds no_endpoint_ttl{};
    f.get("noEndpointRequestTTL", no_endpoint_ttl);
    if (auto d = f.object("defaultPriorityBand"); d.valid()) {
      int ignored = 0;
      d.get("priority", ignored);
      read_band(cfg, d, out.default_band);
      d.finish();
    }
    if (auto d = f.object("defaultNegativePriorityBand"); d.valid()) {
      band_settings b = out.default_band;
      int ignored = 0;
      d.get("priority", ignored);
      read_band(cfg, d, b);
      d.finish();
      out.default_negative_band = b;
    }
    std::set<int> seen;
    for (auto& bf : f.list("priorityBands")) {
      band_settings b = out.default_band;
      bf.get("priority", b.priority, true);
      read_band(cfg, bf, b);
      bf.finish();
      if (!seen.insert(b.priority).second)
        diag.add(bf.path(), "priority " + std::to_string(b.priority) + " is configured twice");
      out.bands.push_back(b);
    }
    std::string usage_limit;
    f.get("usageLimitPolicyPluginRef", usage_limit);
    auto usage_type = usage_limit.empty() ? "" : type_of_ref(cfg, usage_limit);
    if (usage_type == fair_share_ceiling_type)
      out.over_share_ceiling = fair_share_ceiling_of(cfg, usage_limit, diag);
    else if (!usage_limit.empty() && usage_type != "static-usage-limit-policy")
      diag.add("flowControl.usageLimitPolicyPluginRef",
               "'" + usage_limit +
                   "': only static-usage-limit-policy and fair-share-ceiling-policy are "
                   "implemented");
    f.raw("saturationDetector");  // the picker's detector (config_loader)
    bool eviction = false;
    f.get("enableEviction", eviction);
    if (eviction) diag.add("flowControl.enableEviction", "in-flight eviction is not implemented");
    f.finish();
  }
  // Without the gate llm-d ignores the section; so does this picker.
  if (out.enabled)
    for (auto& p : diag.problems())
      problems.push_back(std::move(p));
  return out;
}

}  // namespace inferstack::actors::picker::flow_control
