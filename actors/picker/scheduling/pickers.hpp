// Pickers: choose the target endpoints from the scored candidates. All randomness comes from
// the scheduler's seeded generator, so picks are reproducible per seed.
#pragma once

#include "actors/picker/scheduling/plugin.hpp"

namespace inferstack::actors::picker {

/// max-score-picker: the highest total; ties broken uniformly at random. With
/// maxNumOfEndpoints > 1: shuffle, stable sort by score, take the first N (GAIE's algorithm).
class max_score_picker : public picker_plugin {
 public:
  max_score_picker(std::string name, int max_endpoints)
      : picker_plugin("max-score-picker", std::move(name)),
        max_endpoints_(max_endpoints > 0 ? max_endpoints : 1) {}
  void pick(cycle& c, std::span<const uint32_t> cand, std::span<const double> totals,
            std::vector<uint32_t>& targets) override;

 private:
  int max_endpoints_;
  std::vector<size_t> order_;
};

/// random-picker: N distinct candidates uniformly at random.
class random_picker : public picker_plugin {
 public:
  random_picker(std::string name, int max_endpoints)
      : picker_plugin("random-picker", std::move(name)),
        max_endpoints_(max_endpoints > 0 ? max_endpoints : 1) {}
  void pick(cycle& c, std::span<const uint32_t> cand, std::span<const double> totals,
            std::vector<uint32_t>& targets) override;

 private:
  int max_endpoints_;
  std::vector<uint32_t> scratch_;
};

/// weighted-random-picker: A-Res sampling, key = U^(1/score); score <= 0 never wins unless
/// every score is <= 0, then uniform random.
class weighted_random_picker : public picker_plugin {
 public:
  weighted_random_picker(std::string name, int max_endpoints)
      : picker_plugin("weighted-random-picker", std::move(name)),
        max_endpoints_(max_endpoints > 0 ? max_endpoints : 1),
        fallback_("random-fallback", max_endpoints) {}
  void pick(cycle& c, std::span<const uint32_t> cand, std::span<const double> totals,
            std::vector<uint32_t>& targets) override;

 private:
  int max_endpoints_;
  random_picker fallback_;
  std::vector<std::pair<double, size_t>> keyed_;
};

/// round-robin-picker: not an llm-d plugin — inferstack's baseline for comparisons (what
/// GAIE's lightweight EPP and a plain Kubernetes Service do). Rotates over the candidates in
/// pool order, ignoring scores.
class round_robin_picker : public picker_plugin {
 public:
  round_robin_picker(std::string name, int max_endpoints)
      : picker_plugin("round-robin-picker", std::move(name)),
        max_endpoints_(max_endpoints > 0 ? max_endpoints : 1) {}
  void pick(cycle& c, std::span<const uint32_t> cand, std::span<const double> totals,
            std::vector<uint32_t>& targets) override;

 private:
  int max_endpoints_;
  uint64_t next_ = 0;
};

}  // namespace inferstack::actors::picker
