// inference-perf's `shared_prefix` workload as the virtual-time benches replay it (routing,
// replicas): `groups` system prompts of `system_prompt_len` tokens, each with
// `prompts_per_group` questions of `question_len` tokens; each request picks one (group, question)
// at random and requests arrive as a Poisson process at `rate` per second. The same options and
// seed give the same arrivals, so benches that share it replay the same traffic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace inferstack::bench {

struct shared_prefix_options {
  std::string profile = "llama-3.1-8b-h100";
  int pods = 8;
  int groups = 16;
  int prompts_per_group = 32;
  int system_prompt_len = 2048;
  int question_len = 128;
  int output_len = 64;
  double rate = 14;  ///< requests per second (Poisson)
  int requests = 2400;
  int kv_blocks = 800;  ///< per pod, 16 tokens each
  uint64_t seed = 42;
};

struct shared_prefix_request {
  int64_t arrival_ns = 0;
  int group = 0;
  std::vector<uint32_t> tokens;
};

inline std::vector<shared_prefix_request> make_shared_prefix_workload(
    const shared_prefix_options& o) {
  std::mt19937_64 rng(o.seed);
  auto random_tokens = [&](int n) {
    std::vector<uint32_t> out(static_cast<size_t>(n));
    for (auto& t : out)
      t = static_cast<uint32_t>(rng() >> 40) + 1000;  // distinct ids, no special tokens
    return out;
  };
  std::vector<std::vector<uint32_t>> systems;
  std::vector<std::vector<std::vector<uint32_t>>> questions(static_cast<size_t>(o.groups));
  for (int g = 0; g < o.groups; ++g) {
    systems.push_back(random_tokens(o.system_prompt_len));
    for (int q = 0; q < o.prompts_per_group; ++q)
      questions[static_cast<size_t>(g)].push_back(random_tokens(o.question_len));
  }
  std::exponential_distribution<double> gap(o.rate);
  std::uniform_int_distribution<int> group(0, o.groups - 1), question(0, o.prompts_per_group - 1);
  std::vector<shared_prefix_request> out;
  double t = 0;
  for (int i = 0; i < o.requests; ++i) {
    t += gap(rng);
    shared_prefix_request r;
    r.arrival_ns = static_cast<int64_t>(t * 1e9);
    r.group = group(rng);
    r.tokens = systems[static_cast<size_t>(r.group)];
    const auto& q = questions[static_cast<size_t>(r.group)][static_cast<size_t>(question(rng))];
    r.tokens.insert(r.tokens.end(), q.begin(), q.end());
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace inferstack::bench
