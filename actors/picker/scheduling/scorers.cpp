// Load and LoRA scorers (queue, running requests, KV-cache utilization, load-aware, active
// requests, token load, LoRA affinity). The session and prefix scorers have files of their own;
// scorers.hpp declares them all.
#include <algorithm>
#include <climits>
#include <cmath>

#include "actors/picker/scheduling/plugin_registry.hpp"
#include "actors/picker/scheduling/scorers.hpp"

namespace inferstack::actors::picker {

namespace {

// Min-max over a per-pod count among fresh pods; lower is better. Pods without fresh metrics
// are left at 0 and do not take part in the range (llm-d leaves them unscored). One pass reads
// the pods (kept in `counts`), the second only that array: at 1,000 pods the pods' state is
// the costly part to walk.
template <class Count>
void min_max_lower_better(cycle& c, std::span<const uint32_t> cand, std::span<double> out,
                          std::vector<int>& counts, std::vector<double>& ratios, Count count) {
  constexpr int unscored = INT_MIN;
  int lo = INT_MAX, hi = INT_MIN;
  counts.resize(cand.size());
  bool any_unscored = false;
  for (size_t i = 0; i < cand.size(); ++i) {
    if (!c.fresh(cand[i])) {
      counts[i] = unscored;
      any_unscored = true;
      continue;
    }
    int q = count(c.endpoint(cand[i]));
    counts[i] = q;
    lo = std::min(lo, q);
    hi = std::max(hi, q);
  }
  if (lo > hi) return;  // no pod has fresh metrics
  double span = static_cast<double>(hi - lo);
  // Counts are small integers (queues, running requests): when their range is narrower than
  // the candidates are many, each distinct (hi - q) / span is divided once into `ratios` and
  // looked up (the same division, so the same values); a division per pod cost ~2 ns each.
  bool table = hi != lo && static_cast<int64_t>(hi) - lo < static_cast<int64_t>(cand.size());
  if (table) {
    ratios.resize(static_cast<size_t>(hi - lo) + 1);
    for (int d = 0; d <= hi - lo; ++d)
      ratios[static_cast<size_t>(d)] = static_cast<double>(d) / span;
  }
  for (size_t i = 0; i < cand.size(); ++i) {
    int q = counts[i];
    // A fresh pod may count INT_MIN too; the flag tells the cases apart only when it matters.
    if (q == unscored && any_unscored && !c.fresh(cand[i])) continue;
    out[i] = hi == lo ? 1.0
             : table  ? ratios[static_cast<size_t>(hi - q)]
                      : static_cast<double>(hi - q) / span;
  }
}

}  // namespace

void queue_scorer::score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) {
  min_max_lower_better(c, cand, out, counts_, ratios_, [](const endpoint_state& e) {
    return static_cast<int>(std::min<int64_t>(e.queue_estimate(), INT_MAX));
  });
}

void running_requests_scorer::score(cycle& c, std::span<const uint32_t> cand,
                                    std::span<double> out) {
  min_max_lower_better(c, cand, out, counts_, ratios_,
                       [](const endpoint_state& e) { return e.load.running; });
}

void kv_cache_utilization_scorer::score(cycle& c, std::span<const uint32_t> cand,
                                        std::span<double> out) {
  for (size_t i = 0; i < cand.size(); ++i)
    if (c.fresh(cand[i])) out[i] = 1.0 - c.endpoint(cand[i]).load.kv_usage;
}

void load_aware_scorer::score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) {
  auto th = static_cast<double>(threshold_);
  for (size_t i = 0; i < cand.size(); ++i) {
    if (c.stale(cand[i])) continue;  // fully loaded
    auto q = static_cast<double>(c.endpoint(cand[i]).queue_estimate());
    out[i] = q <= 0 ? 0.5 : 0.5 * (1.0 - std::min(q, th) / th);
  }
}

void active_request_scorer::score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) {
  int64_t max_count = 0;
  for (uint32_t id : cand)
    max_count = std::max(max_count, c.endpoint(id).assigned_requests);
  for (size_t i = 0; i < cand.size(); ++i) {
    int64_t count = c.endpoint(cand[i]).assigned_requests;
    if (count <= idle_threshold_) {
      out[i] = 1.0;
      continue;
    }
    out[i] =
        static_cast<double>(max_count - count) / static_cast<double>(max_count) * max_busy_score_;
  }
}

void token_load_scorer::score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) {
  auto th = static_cast<double>(threshold_);
  for (size_t i = 0; i < cand.size(); ++i) {
    double tokens = static_cast<double>(c.endpoint(cand[i]).assigned_tokens);
    out[i] = 1.0 - std::min(1.0, tokens / th);
  }
}

namespace {

bool holds(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

/// Ranks by where the adapter is: a pod holding it needs no swap, one with a free slot swaps
/// it in without evicting, one with only idle slots evicts; spreading follows from the other
/// scorers breaking the ties among equally ranked pods.
double residency_score(const load_report& l, std::string_view model) {
  if (model == l.base_model || holds(l.gpu_loras, model)) return 1.0;
  const auto slots = static_cast<size_t>(std::max(l.max_loras, 1));
  const bool free_slot = l.gpu_loras.size() < slots;
  const bool idle_slot = std::any_of(l.gpu_loras.begin(), l.gpu_loras.end(),
                                     [&](const auto& a) { return !holds(l.active_loras, a); });
  if (!free_slot && !idle_slot) return 0.0;
  if (holds(l.cpu_loras, model)) return 0.7;
  return free_slot ? 0.6 : 0.3;
}

}  // namespace

void lora_affinity_scorer::score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) {
  const auto model = c.request->model;
  for (size_t i = 0; i < cand.size(); ++i) {
    const auto& l = c.endpoint(cand[i]).load;
    if (l.lora_residency) {
      out[i] = residency_score(l, model);
      continue;
    }
    bool active =
        std::find(l.active_loras.begin(), l.active_loras.end(), model) != l.active_loras.end();
    bool waiting =
        std::find(l.waiting_loras.begin(), l.waiting_loras.end(), model) != l.waiting_loras.end();
    auto loaded = static_cast<int>(l.active_loras.size() + l.waiting_loras.size());
    if (active)
      out[i] = 1.0;
    else if (loaded < l.max_loras)
      out[i] = 0.8;
    else if (waiting)
      out[i] = 0.6;
    else
      out[i] = 0.0;
  }
}

// -- factories --------------------------------------------------------------------------------

const std::vector<plugin_factory>& scorer_factories() {
  using config::fields;
  using config::picker_plugin_spec;
  static const std::vector<plugin_factory> list = {
      without_parameters<queue_scorer>("queue-scorer", plugin_kind::scorer),
      without_parameters<kv_cache_utilization_scorer>("kv-cache-utilization-scorer",
                                                      plugin_kind::scorer),
      // The same scorer under its GAIE v0.5 name, which llm-d's configs of that time use (e.g.
      // llm-d-benchmark's prefix-routing pickers in config/scenarios/llm-d-prefix/).
      without_parameters<kv_cache_utilization_scorer>("kv-cache-scorer", plugin_kind::scorer),
      without_parameters<running_requests_scorer>("running-requests-size-scorer",
                                                  plugin_kind::scorer),
      without_parameters<lora_affinity_scorer>("lora-affinity-scorer", plugin_kind::scorer),
      {"load-aware-scorer",
       plugin_kind::scorer,
       {{"threshold", "128"}},
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         int threshold = 128;
         p.get("threshold", threshold);
         b.add(std::make_unique<load_aware_scorer>(s.name, threshold), &s);
       }},
      {"active-request-scorer",
       plugin_kind::scorer,
       {{"requestTimeout", "- (deprecated)"},
        {"idleThreshold", "0"},
        {"maxBusyScore", "1.0"},
        {"inFlightLoadProducerName", "- (unused)"}},
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         std::chrono::nanoseconds timeout{};
         p.get("requestTimeout", timeout);  // deprecated upstream; bounds in-flight accounting
         int idle = 0;
         p.get("idleThreshold", idle);
         double max_busy = 1.0;
         p.get("maxBusyScore", max_busy);
         check_range(b, p, "maxBusyScore", max_busy, 0.0, 1.0, "must be in [0, 1]");
         std::string producer;
         p.get("inFlightLoadProducerName", producer);
         b.add(std::make_unique<active_request_scorer>(s.name, std::max(idle, 0), max_busy), &s);
       }},
      {"token-load-scorer",
       plugin_kind::scorer,
       {{"queueThresholdTokens", "4194304"}, {"inFlightLoadProducerName", "- (unused)"}},
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         int64_t threshold = 4194304;
         p.get("queueThresholdTokens", threshold);
         if (threshold <= 0) b.problem(p.child_path("queueThresholdTokens"), "must be positive");
         std::string producer;
         p.get("inFlightLoadProducerName", producer);
         b.add(std::make_unique<token_load_scorer>(s.name, threshold > 0 ? threshold : 4194304),
               &s);
       }},
  };
  return list;
}

}  // namespace inferstack::actors::picker
