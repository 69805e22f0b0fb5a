#include "runtime/metrics.hpp"

#include <prometheus/text_serializer.h>

namespace inferstack::runtime {

decision_counters::decision_counters(prometheus::Registry& registry, const std::string& name,
                                     const std::string& help)
    : family_(prometheus::BuildCounter().Name(name).Help(help).Register(registry)) {}

void decision_counters::count(std::string_view ns, std::string_view result) {
  std::lock_guard guard{mutex_};
  auto by_ns = capped_entry(counters_, ns);
  auto it = capped_entry(by_ns->second, result);
  if (!it->second) it->second = &family_.Add({{"namespace", by_ns->first}, {"result", it->first}});
  it->second->Increment();
}

std::string render_metrics(prometheus::Registry& registry) {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry.Collect());
}

}  // namespace inferstack::runtime
