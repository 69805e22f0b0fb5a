#include "runtime/metrics.hpp"

#include <prometheus/text_serializer.h>

namespace inferstack::runtime {

decision_counters::decision_counters(prometheus::Registry& registry, const std::string& name,
                                     const std::string& help)
    : family_(prometheus::BuildCounter().Name(name).Help(help).Register(registry)) {}

void decision_counters::count(std::string_view ns, std::string_view result) {
  std::lock_guard guard{mutex_};
  auto by_ns = counters_.find(ns);
  if (by_ns == counters_.end()) {
    if (counters_.size() >= max_client_label_values) ns = overflow_label;
    by_ns = counters_.find(ns);
    if (by_ns == counters_.end())
      by_ns = counters_.emplace(std::string(ns), decltype(by_ns->second){}).first;
  }
  auto it = by_ns->second.find(result);
  if (it == by_ns->second.end() && by_ns->second.size() >= max_client_label_values) {
    result = overflow_label;
    it = by_ns->second.find(result);
  }
  if (it == by_ns->second.end())
    it = by_ns->second
             .emplace(std::string(result), &family_.Add({{"namespace", std::string(ns)},
                                                         {"result", std::string(result)}}))
             .first;
  it->second->Increment();
}

std::string render_metrics(prometheus::Registry& registry) {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry.Collect());
}

}  // namespace inferstack::runtime
