#include "actors/picker/scheduling/filters.hpp"

#include <algorithm>
#include <limits>

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

}  // namespace inferstack::actors::picker
