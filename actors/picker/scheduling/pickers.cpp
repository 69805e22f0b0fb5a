#include "actors/picker/scheduling/pickers.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "actors/picker/scheduling/plugin_registry.hpp"

namespace inferstack::actors::picker {

void max_score_picker::pick(cycle& c, std::span<const uint32_t> cand,
                            std::span<const double> totals, std::vector<uint32_t>& targets) {
  targets.clear();
  if (cand.empty()) return;
  if (max_endpoints_ == 1) {
    // One pass: reservoir sampling over the ties keeps the choice uniform among the maxima.
    size_t best = 0;
    uint64_t ties = 1;
    for (size_t i = 1; i < cand.size(); ++i) {
      if (totals[i] > totals[best]) {
        best = i;
        ties = 1;
      } else if (totals[i] == totals[best]) {
        ++ties;
        if (std::uniform_int_distribution<uint64_t>(0, ties - 1)(*c.rng) == 0) best = i;
      }
    }
    targets.push_back(cand[best]);
    return;
  }
  order_.resize(cand.size());
  std::iota(order_.begin(), order_.end(), size_t{0});
  std::shuffle(order_.begin(), order_.end(), *c.rng);
  std::stable_sort(order_.begin(), order_.end(),
                   [&](size_t a, size_t b) { return totals[a] > totals[b]; });
  size_t n = std::min(order_.size(), static_cast<size_t>(max_endpoints_));
  for (size_t i = 0; i < n; ++i)
    targets.push_back(cand[order_[i]]);
}

void random_picker::pick(cycle& c, std::span<const uint32_t> cand, std::span<const double>,
                         std::vector<uint32_t>& targets) {
  targets.clear();
  scratch_.assign(cand.begin(), cand.end());
  size_t n = std::min(scratch_.size(), static_cast<size_t>(max_endpoints_));
  for (size_t i = 0; i < n; ++i) {
    size_t j = std::uniform_int_distribution<size_t>(i, scratch_.size() - 1)(*c.rng);
    std::swap(scratch_[i], scratch_[j]);
    targets.push_back(scratch_[i]);
  }
}

void weighted_random_picker::pick(cycle& c, std::span<const uint32_t> cand,
                                  std::span<const double> totals, std::vector<uint32_t>& targets) {
  targets.clear();
  bool any_positive = std::any_of(totals.begin(), totals.end(), [](double s) { return s > 0; });
  if (!any_positive) return fallback_.pick(c, cand, totals, targets);
  keyed_.clear();
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (size_t i = 0; i < cand.size(); ++i) {
    if (totals[i] <= 0) {
      keyed_.emplace_back(0.0, i);
      continue;
    }
    double u = unit(*c.rng);
    if (u == 0) u = 1e-10;
    keyed_.emplace_back(std::pow(u, 1.0 / totals[i]), i);
  }
  std::stable_sort(keyed_.begin(), keyed_.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  size_t n = std::min(keyed_.size(), static_cast<size_t>(max_endpoints_));
  for (size_t i = 0; i < n; ++i)
    targets.push_back(cand[keyed_[i].second]);
}

void round_robin_picker::pick(cycle&, std::span<const uint32_t> cand, std::span<const double>,
                              std::vector<uint32_t>& targets) {
  targets.clear();
  if (cand.empty()) return;
  size_t n = std::min(cand.size(), static_cast<size_t>(max_endpoints_));
  size_t start = next_++ % cand.size();
  for (size_t i = 0; i < n; ++i)
    targets.push_back(cand[(start + i) % cand.size()]);
}

// -- factories --------------------------------------------------------------------------------

namespace {

int max_endpoints(config::fields& p) {
  int n = 1;
  p.get("maxNumOfEndpoints", n);
  return n;  // <= 0 falls back to 1, as llm-d does
}

template <class P>
plugin_factory picker_factory(std::string_view type) {
  return {type,
          plugin_kind::picker,
          {{"maxNumOfEndpoints", "1"}},
          [](plugin_builder& b, const config::picker_plugin_spec& s, config::fields& p) {
            b.add(std::make_unique<P>(s.name, max_endpoints(p)), &s);
          }};
}

}  // namespace

const std::vector<plugin_factory>& picker_factories() {
  static const std::vector<plugin_factory> list = {
      picker_factory<max_score_picker>("max-score-picker"),
      picker_factory<random_picker>("random-picker"),
      picker_factory<weighted_random_picker>("weighted-random-picker"),
      picker_factory<round_robin_picker>("round-robin-picker"),
  };
  return list;
}

}  // namespace inferstack::actors::picker
