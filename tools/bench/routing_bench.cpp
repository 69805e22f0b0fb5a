// tools/bench/routing: what the endpoint picker's strategy does to a pool under KV-cache
// pressure, in deterministic virtual time.
//
// The workload is inference-perf's `shared_prefix`: `groups` system prompts of
// `system-prompt-len` tokens, each with `prompts-per-group` questions of `question-len` tokens,
// `output-len` tokens out; requests pick one (group, question) at random and arrive as a
// Poisson process at `rate` per second. They go to `pods` simulated vLLM pods (the calibrated
// llama-3.1-8b-h100 step profile by default, --profile; a KV cache too small to hold every system
// prompt on every pod) through the real picker actor and the real pod actors: the pods' KV events
// and load reports reach the picker as they would in the stack. The same arrivals are replayed for
// each strategy:
//   round-robin, random          -- no knowledge of the pods
//   load-only                    -- queue-scorer 2 + kv-cache-utilization-scorer 2
//   approx-prefix                -- llm-d's default: prefix-cache-scorer 3 (the picker's own
//                                   routing history) + queue 2 + kv-cache 2
//   precise-prefix               -- precise-prefix-cache-scorer 3 (index from KV events) +
//                                   queue 2 + kv-cache 2
// Figures per strategy: prefix-cache hit rate (cached / prompt tokens, as vLLM's
// prefix_cache_hits / prefix_cache_queries), TTFT p50/p90 and ITL p50 (the pods' own clocks),
// output tokens/s over the run; ratios against random. Virtual time: the run is reproducible
// (same seed, same figures) and takes seconds of wall time for minutes of traffic.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "actors/picker/picker_actor.hpp"
#include "runtime/config/manifests.hpp"
#include "tools/bench/bench_table.hpp"
#include "tools/bench/shared_prefix_workload.hpp"
#include "tools/bench/simulated_pool.hpp"

using namespace inferstack;
namespace picker = actors::picker;

namespace {

// The workload: tools/bench/shared_prefix_workload.hpp (the routing bench's defaults).
using workload_options = bench::shared_prefix_options;
using request_spec = bench::shared_prefix_request;
const auto make_workload = bench::make_shared_prefix_workload;

struct strategy {
  const char* name;
  const char* yaml;  ///< EndpointPickerConfig
};

const strategy strategies[] = {
    {"round-robin", R"(
plugins:
- type: round-robin-picker
)"},
    {"random", R"(
plugins:
- type: random-picker
)"},
    {"load-only", R"(
plugins:
- type: queue-scorer
- type: kv-cache-utilization-scorer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - {pluginRef: queue-scorer, weight: 2}
  - {pluginRef: kv-cache-utilization-scorer, weight: 2}
  - {pluginRef: max-score-picker}
)"},
    {"approx-prefix", R"(
plugins:
- type: prefix-cache-scorer
- type: queue-scorer
- type: kv-cache-utilization-scorer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - {pluginRef: prefix-cache-scorer, weight: 3}
  - {pluginRef: queue-scorer, weight: 2}
  - {pluginRef: kv-cache-utilization-scorer, weight: 2}
  - {pluginRef: max-score-picker}
)"},
    {"precise-prefix", R"(
plugins:
- type: precise-prefix-cache-scorer
  parameters:
    tokenProcessorConfig: {blockSize: 16}
- type: queue-scorer
- type: kv-cache-utilization-scorer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - {pluginRef: precise-prefix-cache-scorer, weight: 3}
  - {pluginRef: queue-scorer, weight: 2}
  - {pluginRef: kv-cache-utilization-scorer, weight: 2}
  - {pluginRef: max-score-picker}
)"},
};

struct outcome {
  std::vector<double> ttft_ms, itl_ms;
  uint64_t prompt_tokens = 0, cached_tokens = 0, output_tokens = 0, failed = 0;
  int64_t first_arrival_ns = 0, last_finish_ns = 0;
  std::map<std::string, int> per_pod;
};

std::shared_ptr<const config::picker_config> parse_picker(const strategy& st) {
  config::load_result loaded;
  std::string text = std::string(
                         "apiVersion: inference.networking.x-k8s.io/v1alpha1\n"
                         "kind: EndpointPickerConfig\nmetadata: {name: bench}\n") +
                     st.yaml;
  config::load_text(text, std::string("routing-bench:") + st.name, loaded);
  if (!loaded.ok() || loaded.config.picker_configs.empty())
    throw std::runtime_error(std::string("bad picker config for ") + st.name);
  return std::make_shared<config::picker_config>(loaded.config.picker_configs.front());
}

outcome run_strategy(const strategy& strat, const workload_options& o,
                     const std::vector<request_spec>& work, const std::string& profiles) {
  outcome out;
  bench::replay r;
  r.count = work.size();
  r.arrival_ns = [&](size_t i) { return work[i].arrival_ns; };
  r.choose = [&](size_t index, picker::choose_pod& choose) { choose.tokens = work[index].tokens; };
  r.max_tokens = [&](size_t) { return o.output_len; };
  // What the pod reports (its own clocks).
  r.done = [&](const bench::finished_request& f, picker::request_done&) {
    const auto& res = *f.result;
    out.ttft_ms.push_back(static_cast<double>(res.ttft_ns) / 1e6);
    if (res.completion_tokens > 1)
      out.itl_ms.push_back(static_cast<double>(res.e2e_ns - res.ttft_ns) / 1e6 /
                           (res.completion_tokens - 1));
    out.prompt_tokens += res.prompt_tokens;
    out.cached_tokens += res.cached_tokens;
    out.output_tokens += res.completion_tokens;
    out.per_pod[f.pod]++;
    out.last_finish_ns = std::max<int64_t>(out.last_finish_ns, f.since_start_ns);
  };
  bench::pool_spec pool;
  pool.picker_config = parse_picker(strat);
  pool.seed = o.seed;
  pool.pods = o.pods;
  pool.kv_events = true;
  // The calibrated profile by default (issue 19); KAITO's round figures were 8b-h100.
  pool.pod_settings = [&](int i) {
    return bench::bench_pod_settings({{"model", "bench-model"},
                                      {"profile", o.profile},
                                      {"kv-cache-size", std::to_string(o.kv_blocks)},
                                      {"block-size", "16"},
                                      {"max-num-seqs", "128"},
                                      {"max-model-len", "8192"},
                                      {"event-batch-size", "1"}},
                                     i, o.seed, profiles);
  };
  out.failed = bench::run_replay(pool, r).failed;
  out.first_arrival_ns = work.empty() ? 0 : work.front().arrival_ns;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"routing benchmark: picker strategies on a shared-prefix workload, virtual time"};
  bool quick = false;
  std::string json_path, profiles = INFERSTACK_SOURCE_DIR "/config/profiles";
  workload_options o;
  app.add_flag("--quick", quick, "small run (CI smoke test)");
  app.add_option("--json", json_path, "write the figures as one flat JSON object");
  app.add_option("--pods", o.pods, "simulated pods")->capture_default_str();
  app.add_option("--groups", o.groups, "shared system prompts")->capture_default_str();
  app.add_option("--prompts-per-group", o.prompts_per_group, "questions per system prompt")
      ->capture_default_str();
  app.add_option("--system-prompt-len", o.system_prompt_len, "tokens")->capture_default_str();
  app.add_option("--question-len", o.question_len, "tokens")->capture_default_str();
  app.add_option("--output-len", o.output_len, "tokens")->capture_default_str();
  app.add_option("--rate", o.rate, "requests per second (Poisson arrivals)")->capture_default_str();
  app.add_option("--requests", o.requests, "requests per strategy")->capture_default_str();
  app.add_option("--kv-blocks", o.kv_blocks, "KV-cache blocks (16 tokens) per pod")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "workload and engine seed")->capture_default_str();
  app.add_option("--profiles", profiles, "latency profiles directory")->capture_default_str();
  app.add_option("--profile", o.profile, "the pods' latency profile")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (quick) o.requests = std::min(o.requests, 400);

  auto work = make_workload(o);
  struct row {
    std::string name;
    double hit, ttft_p50, ttft_p90, itl_p50, tokens_per_s, wall_s;
    uint64_t failed;
  };
  std::vector<row> rows;
  for (const auto& strat : strategies) {
    auto wall = std::chrono::steady_clock::now();
    auto out = run_strategy(strat, o, work, profiles);
    double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
    double span_s = static_cast<double>(out.last_finish_ns - out.first_arrival_ns) / 1e9;
    rows.push_back(
        {strat.name,
         out.prompt_tokens
             ? static_cast<double>(out.cached_tokens) / static_cast<double>(out.prompt_tokens)
             : 0,
         bench::percentile(out.ttft_ms, 50), bench::percentile(out.ttft_ms, 90),
         bench::percentile(out.itl_ms, 50),
         span_s > 0 ? static_cast<double>(out.output_tokens) / span_s : 0, wall_s, out.failed});
  }
  const row* random = nullptr;
  for (const auto& r : rows)
    if (r.name == "random") random = &r;
  auto ratio = [](double a, double b) { return b == 0 ? 0 : a / b; };

  std::printf(
      "routing benchmark: shared_prefix, %d pods (%s, %d KV blocks of 16 tokens each), %d "
      "groups x %d prompts, system %d + question %d tokens, %d out, %.1f req/s Poisson, %d "
      "requests (%s, virtual time, seed %llu)\n",
      o.pods, o.profile.c_str(), o.kv_blocks, o.groups, o.prompts_per_group, o.system_prompt_len,
      o.question_len, o.output_len, o.rate, o.requests, quick ? "quick" : "full",
      static_cast<unsigned long long>(o.seed));
  std::printf("%-15s %9s %13s %13s %11s %12s %16s %8s %8s\n", "strategy", "hit rate", "TTFT p50 ms",
              "TTFT p90 ms", "ITL p50 ms", "out tok/s", "p90 TTFT random/x", "failed", "wall s");
  for (const auto& r : rows)
    std::printf("%-15s %8.1f%% %13.1f %13.1f %11.2f %12.1f %16.2f %8llu %8.2f\n", r.name.c_str(),
                100 * r.hit, r.ttft_p50, r.ttft_p90, r.itl_p50, r.tokens_per_s,
                random ? ratio(random->ttft_p90, r.ttft_p90) : 0,
                static_cast<unsigned long long>(r.failed), r.wall_s);
  if (!json_path.empty()) {
    bench::json_report j;
    j.text("benchmark", "routing");
    j.text("mode", quick ? "quick" : "full");
    j.number("pods", o.pods);
    j.number("requests", o.requests);
    j.number("rate", o.rate);
    for (const auto& r : rows) {
      std::string k = r.name;
      std::replace(k.begin(), k.end(), '-', '_');
      j.number(k + "_hit_rate", r.hit);
      j.number(k + "_ttft_p50_ms", r.ttft_p50);
      j.number(k + "_ttft_p90_ms", r.ttft_p90);
      j.number(k + "_itl_p50_ms", r.itl_p50);
      j.number(k + "_output_tokens_per_s", r.tokens_per_s);
      j.number(k + "_failed", static_cast<double>(r.failed));
      if (random) j.number(k + "_p90_ttft_gain_vs_random", ratio(random->ttft_p90, r.ttft_p90));
    }
    if (!j.write(json_path)) return 1;
  }
  for (const auto& r : rows)
    if (r.failed) return 1;
  return 0;
}
