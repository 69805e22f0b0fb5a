// Filters, with llm-d's type names and semantics.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "actors/picker/scheduling/plugin.hpp"

namespace inferstack::actors::picker {

/// by-label (and the role filters decode-filter / prefill-filter / encode-filter, which are
/// by-label on llm-d.ai/role): keep pods whose label value is valid, or that lack the label when
/// allowsNoLabel.
class by_label_filter : public filter_plugin {
 public:
  by_label_filter(std::string type, std::string name, std::string label,
                  std::set<std::string> valid_values, bool allows_no_label)
      : filter_plugin(std::move(type), std::move(name)),
        label_(std::move(label)),
        valid_(std::move(valid_values)),
        allows_no_label_(allows_no_label) {}
  void filter(cycle& c, std::vector<uint32_t>& candidates) override;

  static std::unique_ptr<by_label_filter> decode(std::string name);
  static std::unique_ptr<by_label_filter> prefill(std::string name);
  static std::unique_ptr<by_label_filter> encode(std::string name);

 private:
  std::string label_;
  std::set<std::string> valid_;
  bool allows_no_label_;
};

/// A Kubernetes LabelSelector (matchLabels + matchExpressions).
struct label_selector {
  struct requirement {
    std::string key;
    std::string op;  ///< In | NotIn | Exists | DoesNotExist
    std::vector<std::string> values;
  };
  std::vector<std::pair<std::string, std::string>> match_labels;
  std::vector<requirement> match_expressions;
  bool matches(const std::map<std::string, std::string>& labels) const;
};

/// label-selector-filter (and the deprecated by-label-selector).
class label_selector_filter : public filter_plugin {
 public:
  label_selector_filter(std::string type, std::string name, label_selector selector)
      : filter_plugin(std::move(type), std::move(name)), selector_(std::move(selector)) {}
  void filter(cycle& c, std::vector<uint32_t>& candidates) override;

 private:
  label_selector selector_;
};

/// prefix-cache-affinity-filter (llm-d): keep "sticky" pods whose prefix score (match / total
/// blocks) reaches affinityThreshold; none sticky keeps all; with probability
/// explorationProbability skip the gate; the TTFT load gate breaks stickiness when the best
/// sticky pod's estimated TTFT (in-flight tokens / peakPrefillThroughput) exceeds the best
/// non-sticky one by more than maxTTFTPenaltyMs.
class prefix_cache_affinity_filter : public filter_plugin {
 public:
  struct settings {
    double affinity_threshold = 0.80;
    double exploration_probability = 0;
    double max_ttft_penalty_ms = 18000;
    double peak_prefill_throughput = 15928;
  };
  prefix_cache_affinity_filter(std::string name, settings s, int producer)
      : filter_plugin("prefix-cache-affinity-filter", std::move(name)),
        settings_(s),
        producer_(producer) {}
  void filter(cycle& c, std::vector<uint32_t>& candidates) override;
  int producer() const { return producer_; }
  void set_producer(int p) { producer_ = p; }

  /// Decision counters (llm_d_epp_prefix_cache_affinity_filter_decisions_total{outcome}).
  struct decisions {
    uint64_t not_applicable = 0, exploration = 0, no_match = 0, load_override = 0, sticky = 0;
  };
  const decisions& counts() const { return counts_; }

 private:
  settings settings_;
  int producer_;
  decisions counts_;
  std::vector<uint32_t> sticky_, non_sticky_;
};

/// utilization-filter (llm-d-router v0.10): keep the pods whose every named load figure is at
/// most its maxValue -- active-requests (this picker's requests not yet done), running-requests
/// and waiting-queue (as the pod reported them), kv-cache-utilization (a fraction); a pod that
/// never reported reads 0. fallbackOnEmpty: when none is kept, keep them all.
class utilization_filter : public filter_plugin {
 public:
  enum class metric { active_requests, running_requests, waiting_queue, kv_cache_utilization };
  struct condition {
    metric what;
    double max_value;
  };
  utilization_filter(std::string name, std::vector<condition> conditions, bool fallback_on_empty)
      : filter_plugin("utilization-filter", std::move(name)),
        conditions_(std::move(conditions)),
        fallback_on_empty_(fallback_on_empty) {}
  void filter(cycle& c, std::vector<uint32_t>& candidates) override;

 private:
  bool satisfies_all(const endpoint_state& e) const;

  std::vector<condition> conditions_;
  bool fallback_on_empty_;
};

}  // namespace inferstack::actors::picker
