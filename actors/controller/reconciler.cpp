#include "actors/controller/reconciler.hpp"

#include <algorithm>

namespace inferstack::actors::controller {

using node_mocker::pod_phase;

reconcile_plan reconcile(int desired, const std::vector<pod_view>& pods) {
  std::vector<const pod_view*> active;
  for (const auto& p : pods)
    if (p.phase == pod_phase::pending || p.phase == pod_phase::loading ||
        p.phase == pod_phase::ready)
      active.push_back(&p);
  reconcile_plan plan;
  int have = static_cast<int>(active.size());
  if (have < desired) {
    plan.create = desired - have;
    return plan;
  }
  auto rank = [](pod_phase ph) {
    return ph == pod_phase::pending ? 0 : ph == pod_phase::loading ? 1 : 2;
  };
  std::sort(active.begin(), active.end(), [&](const pod_view* a, const pod_view* b) {
    if (rank(a->phase) != rank(b->phase)) return rank(a->phase) < rank(b->phase);
    if (a->created_ns != b->created_ns) return a->created_ns > b->created_ns;
    return a->name > b->name;
  });
  for (int i = 0; i < have - desired; ++i)
    plan.remove.push_back(active[static_cast<size_t>(i)]->name);
  return plan;
}

bool selects(const std::map<std::string, std::string>& selector,
             const std::map<std::string, std::string>& labels) {
  if (selector.empty()) return false;
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

}  // namespace inferstack::actors::controller
