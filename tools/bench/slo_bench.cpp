// tools/bench/slo: interactive requests with a TTFT objective beside batch requests without one
// on a busy pool; the share of interactive requests meeting their objective with llm-d's default
// scheduling and with SLO-aware routing, on the same arrivals, in deterministic virtual time.
//
// Interactive requests (short prompts, x-llm-d-slo-ttft-ms: 500) and batch requests (long
// prompts, no objective) arrive as two Poisson streams at `pods` simulated vLLM pods (the 8b-h100
// step profile: a 3,000-token prompt is ~0.8 s of prefill, during which a pod's other requests
// wait for their first token). Requests go through the real picker actor and the real pod
// actors, as in tools/bench/routing. Two pickers:
//   default     -- the default EndpointPickerConfig (prefix-cache 3, queue 2, kv-cache 2)
//   slo-aware   -- the same scorers plus slo-headroom-tier-filter and latency-scorer (weight 2,
//                  headroomSelectionStrategy: most), with predicted-latency-producer
// Figures per picker: the share of interactive requests whose TTFT (as a client sees it) met
// the objective, interactive and batch TTFT p50/p90, and failures. Goal: slo-aware >= 95 %.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "actors/picker/picker_actor.hpp"
#include "runtime/config/manifests.hpp"
#include "tools/bench/bench_table.hpp"
#include "tools/bench/simulated_pool.hpp"

using namespace inferstack;
namespace picker = actors::picker;

namespace {

struct options {
  std::string profile = "8b-h100";
  int pods = 4;
  double interactive_rate = 8;  ///< requests a second
  double batch_rate = 2;
  double seconds = 60;
  int interactive_prompt = 256;
  int interactive_output = 64;
  int batch_prompt = 3000;
  int batch_output = 128;
  double objective_ms = 500;
  uint64_t seed = 42;
};

struct request_spec {
  int64_t arrival_ns = 0;
  bool interactive = false;
};

std::vector<request_spec> make_workload(const options& o) {
  std::vector<request_spec> out;
  auto add = [&](double rate, bool interactive, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::exponential_distribution<double> gap(rate);
    for (double t = gap(rng); t < o.seconds; t += gap(rng))
      out.push_back({static_cast<int64_t>(t * 1e9), interactive});
  };
  add(o.interactive_rate, true, o.seed);
  add(o.batch_rate, false, o.seed + 1);
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.arrival_ns < b.arrival_ns; });
  return out;
}

struct mode {
  const char* name;
  const char* key;  ///< in the JSON
  bool slo;
};

const mode modes[] = {{"default", "default", false}, {"slo-aware", "slo", true}};

struct outcome {
  std::vector<double> interactive_ttft_ms, batch_ttft_ms;
  size_t met = 0;
  uint64_t failed = 0;
};

std::shared_ptr<const config::picker_config> picker_config(const mode& m) {
  if (!m.slo) return nullptr;  // the default configuration
  std::string text = R"(apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
metadata: {name: slo-bench}
plugins:
- type: predicted-latency-producer
- type: slo-headroom-tier-filter
  parameters: {epsilonExploreNeg: 0}
- type: latency-scorer
  parameters: {headroomSelectionStrategy: most}
- type: prefix-cache-scorer
- type: queue-scorer
- type: kv-cache-utilization-scorer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: slo-headroom-tier-filter
  - {pluginRef: latency-scorer, weight: 2}
  - {pluginRef: prefix-cache-scorer, weight: 3}
  - {pluginRef: queue-scorer, weight: 2}
  - {pluginRef: kv-cache-utilization-scorer, weight: 2}
  - pluginRef: max-score-picker
)";
  config::load_result loaded;
  config::load_text(text, std::string("slo-bench:") + m.key, loaded);
  if (!loaded.ok() || loaded.config.picker_configs.empty())
    throw std::runtime_error(std::string("bad picker config for ") + m.name);
  return std::make_shared<config::picker_config>(loaded.config.picker_configs.front());
}

outcome run_mode(const mode& m, const options& o, const std::vector<request_spec>& work,
                 const std::string& profiles) {
  outcome out;
  bench::replay r;
  r.count = work.size();
  r.arrival_ns = [&](size_t i) { return work[i].arrival_ns; };
  // Distinct prompts: no prefix sharing to blur the queueing. Interactive ones carry the
  // objective.
  r.choose = [&](size_t index, picker::choose_pod& choose) {
    auto len = work[index].interactive ? o.interactive_prompt : o.batch_prompt;
    for (int i = 0; i < len; ++i)
      choose.tokens.push_back(static_cast<uint32_t>(1000 + index * 7919 + i));
    if (work[index].interactive) choose.slo_ttft_ms = o.objective_ms;
  };
  r.max_tokens = [&](size_t index) {
    return work[index].interactive ? o.interactive_output : o.batch_output;
  };
  // The TTFT as a client sees it (the wait for the pick plus the pod's), told to the picker
  // too with the ITL, for its latency model.
  r.done = [&](const bench::finished_request& f, picker::request_done& done) {
    const auto& res = *f.result;
    auto ttft_ns = f.waited_ns + res.ttft_ns;
    double ttft_ms = static_cast<double>(ttft_ns) / 1e6;
    if (work[f.index].interactive) {
      out.interactive_ttft_ms.push_back(ttft_ms);
      if (ttft_ms <= o.objective_ms) out.met++;
    } else {
      out.batch_ttft_ms.push_back(ttft_ms);
    }
    done.ttft_ns = ttft_ns;
    if (res.completion_tokens > 1)
      done.itl_ns = (res.e2e_ns - res.ttft_ns) / (res.completion_tokens - 1);
  };
  bench::pool_spec pool;
  pool.picker_config = picker_config(m);
  pool.seed = o.seed;
  pool.pods = o.pods;
  pool.pod_settings = [&](int i) {
    return bench::bench_pod_settings({{"model", "bench-model"},
                                      {"profile", o.profile},
                                      {"block-size", "16"},
                                      {"max-model-len", "8192"}},
                                     i, o.seed, profiles);
  };
  out.failed = bench::run_replay(pool, r).failed;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"SLO benchmark: interactive requests with a TTFT objective beside batch ones"};
  bool quick = false;
  std::string json_path, profiles = INFERSTACK_SOURCE_DIR "/config/profiles";
  options o;
  app.add_flag("--quick", quick, "short run (CI smoke test)");
  app.add_option("--json", json_path, "write the figures as one flat JSON object");
  app.add_option("--pods", o.pods, "simulated pods")->capture_default_str();
  app.add_option("--interactive-rate", o.interactive_rate, "interactive requests per second")
      ->capture_default_str();
  app.add_option("--batch-rate", o.batch_rate, "batch requests per second")->capture_default_str();
  app.add_option("--seconds", o.seconds, "arrivals for this long (virtual time)")
      ->capture_default_str();
  app.add_option("--interactive-prompt", o.interactive_prompt)->capture_default_str();
  app.add_option("--interactive-output", o.interactive_output)->capture_default_str();
  app.add_option("--batch-prompt", o.batch_prompt)->capture_default_str();
  app.add_option("--batch-output", o.batch_output)->capture_default_str();
  app.add_option("--objective-ms", o.objective_ms, "interactive TTFT objective")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "workload and engine seed")->capture_default_str();
  app.add_option("--profiles", profiles, "latency profiles directory")->capture_default_str();
  app.add_option("--profile", o.profile, "the pods' latency profile")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (quick) o.seconds = std::min(o.seconds, 10.0);

  auto work = make_workload(o);
  struct row {
    const mode* m;
    double met_share, i_p50, i_p90, b_p50, b_p90, wall_s;
    size_t interactive;
    uint64_t failed;
  };
  std::vector<row> rows;
  for (const auto& m : modes) {
    auto wall = std::chrono::steady_clock::now();
    auto out = run_mode(m, o, work, profiles);
    double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
    auto n = out.interactive_ttft_ms.size();
    rows.push_back({&m, n ? static_cast<double>(out.met) / static_cast<double>(n) : 0,
                    bench::percentile(out.interactive_ttft_ms, 50),
                    bench::percentile(out.interactive_ttft_ms, 90),
                    bench::percentile(out.batch_ttft_ms, 50),
                    bench::percentile(out.batch_ttft_ms, 90), wall_s, n, out.failed});
  }

  std::printf(
      "SLO benchmark: %d pods (%s); interactive %.1f req/s (%d + %d tokens, TTFT objective "
      "%.0f ms), batch %.1f req/s (%d + %d tokens, none); %.0f s of arrivals (%s, virtual time, "
      "seed %llu)\n",
      o.pods, o.profile.c_str(), o.interactive_rate, o.interactive_prompt, o.interactive_output,
      o.objective_ms, o.batch_rate, o.batch_prompt, o.batch_output, o.seconds,
      quick ? "quick" : "full", static_cast<unsigned long long>(o.seed));
  std::printf("%-10s %12s %13s %13s %13s %13s %7s %7s\n", "picker", "met SLO", "inter p50 ms",
              "inter p90 ms", "batch p50 ms", "batch p90 ms", "failed", "wall s");
  for (const auto& r : rows)
    std::printf("%-10s %11.1f%% %13.1f %13.1f %13.1f %13.1f %7llu %7.2f\n", r.m->name,
                100 * r.met_share, r.i_p50, r.i_p90, r.b_p50, r.b_p90,
                static_cast<unsigned long long>(r.failed), r.wall_s);
  if (!json_path.empty()) {
    bench::json_report j;
    j.text("benchmark", "slo");
    j.text("mode", quick ? "quick" : "full");
    j.number("pods", o.pods);
    j.number("interactive_rate", o.interactive_rate);
    j.number("batch_rate", o.batch_rate);
    j.number("seconds", o.seconds);
    j.number("objective_ms", o.objective_ms);
    j.number("interactive_requests", static_cast<double>(rows.front().interactive));
    for (const auto& r : rows) {
      std::string k = r.m->key;
      j.number(k + "_met_share", r.met_share);
      j.number(k + "_interactive_ttft_p50_ms", r.i_p50);
      j.number(k + "_interactive_ttft_p90_ms", r.i_p90);
      j.number(k + "_batch_ttft_p50_ms", r.b_p50);
      j.number(k + "_batch_ttft_p90_ms", r.b_p90);
      j.number(k + "_failed", static_cast<double>(r.failed));
    }
    if (!j.write(json_path)) return 1;
  }
  for (const auto& r : rows)
    if (r.failed) return 1;
  return 0;
}
