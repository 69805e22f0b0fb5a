// tools/bench/picker: pick latency and throughput of the endpoint picker's decision classes.
//
// Pools of 10, 100 and 1,000 pods; 4,096-token prompts of random token ids built as a shared
// system prompt (one of 64, 1,536 tokens) + a conversation context (2,560 tokens). Half of the
// requests continue one of 512 known conversations (their whole prompt can be cached
// somewhere), half start a new one (only the system prompt can be). Configurations:
//   - round-robin (baseline; inferstack's round-robin-picker, no scoring),
//   - default (prefix-cache-scorer 3 / queue 2 / kv-cache 2, approximate index learned from
//     the picker's own routing: pre_request after every pick),
//   - precise (precise prefix index fed by KV events: after each pick the chosen pod "stores"
//     the prompt, i.e. a BlockStored event is applied, as the pod would publish it),
//   - slo (default plus slo-headroom-tier-filter and latency-scorer; half the requests carry a
//     500 ms TTFT objective, the pods report the 8b-h100 step profile's terms).
//   - default+fc and slo+fc: the same with flow control's gate in the timed pick, as the picker
//     actor runs it before each pick when the flowControl gate is on (a schedulable endpoint, the
//     default utilization-detector's saturation, the queues empty; once dispatched the flow charged
//     and tracked for VTC across 8 tenants, the Dispatched outcome counted in the metrics).
// Timed: schedule() alone ("pick"), which includes computing the prompt's block keys as far as
// the index matches; and pre_request() separately (the approximate index hashes the rest of the
// prompt there). Event application and load reports happen outside the timed sections.
// Block keys are memoised across prompts (exact: parent and tokens compared), so a shared prefix
// is keyed once; the line "keying one 4096-token prompt" shows the cost without the memo.
// precise-static is precise with the events stopped while measuring (index warm in cache).
// Every figure is the median over repetitions; ratios are against round-robin in the same run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "actors/picker/flow_control/flow_metrics.hpp"
#include "actors/picker/pick_decision.hpp"
#include "actors/picker/scheduling/config_loader.hpp"
#include "actors/picker/scheduling/saturation.hpp"
#include "tools/bench/bench_table.hpp"

using namespace inferstack;
using namespace inferstack::actors::picker;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr size_t prompt_tokens = 4096;
constexpr size_t system_tokens = 1536;
constexpr size_t groups = 64;
constexpr size_t conversations = 512;

const char* round_robin_yaml = R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: round-robin-picker
)";

const char* slo_yaml = R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: slo-headroom-tier-filter
- type: latency-scorer
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

const char* precise_yaml = R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: precise-prefix-cache-producer
  parameters: {tokenProcessorConfig: {blockSize: 16}}
- type: prefix-cache-scorer
  parameters: {prefixMatchInfoProducerName: precise-prefix-cache-producer}
- type: queue-scorer
- type: kv-cache-utilization-scorer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: prefix-cache-scorer
    weight: 3
  - pluginRef: queue-scorer
    weight: 2
  - pluginRef: kv-cache-utilization-scorer
    weight: 2
  - pluginRef: max-score-picker
)";

std::vector<uint32_t> random_tokens(std::mt19937_64& g, size_t n) {
  std::vector<uint32_t> out(n);
  for (auto& t : out)
    t = static_cast<uint32_t>(g() >> 32);  // like the simulator's FNV-32 token ids
  return out;
}

struct workload {
  std::vector<std::vector<uint32_t>> systems, contexts;
  std::mt19937_64 rng{2024};

  workload() {
    for (size_t i = 0; i < groups; ++i)
      systems.push_back(random_tokens(rng, system_tokens));
    for (size_t i = 0; i < conversations; ++i)
      contexts.push_back(random_tokens(rng, prompt_tokens - system_tokens));
  }
  /// Next prompt into `out` (reusing its buffer).
  void next(std::vector<uint32_t>& out) {
    const auto& sys = systems[rng() % groups];
    out.assign(sys.begin(), sys.end());
    if (rng() % 2 == 0) {
      const auto& ctx = contexts[rng() % conversations];
      out.insert(out.end(), ctx.begin(), ctx.end());
    } else {
      for (size_t i = system_tokens; i < prompt_tokens; ++i)
        out.push_back(static_cast<uint32_t>(rng() >> 32));
    }
  }
};

struct figures {
  double p50_us = 0, p99_us = 0, picks_per_s = 0, pre_p50_us = 0;
  double index_entries = 0, index_mb = 0;
};

struct run_figures {
  std::vector<double> p50, p99, rate, pre_p50;
  figures last;
};

enum class kind { round_robin, approx, precise, precise_static, slo };

figures run_once(kind k, bool gate, size_t pods, size_t warmup, size_t measured, uint64_t seed,
                 bool record) {
  picker_options opts;
  opts.seed = seed;
  opts.staleness_ns = 2'000'000'000;
  bool precise = k == kind::precise || k == kind::precise_static;
  build_result built = k == kind::round_robin
                           ? build_endpoint_picker_from_yaml(round_robin_yaml, opts)
                       : precise        ? build_endpoint_picker_from_yaml(precise_yaml, opts)
                       : k == kind::slo ? build_endpoint_picker_from_yaml(slo_yaml, opts)
                                        : build_endpoint_picker(nullptr, opts);
  if (!built.ok()) {
    std::cerr << built.error_text();
    std::exit(1);
  }
  auto& picker = *built.picker;
  std::mt19937_64 rng(seed);
  std::vector<std::string> names;
  for (size_t i = 0; i < pods; ++i) {
    names.push_back("pod-" + std::to_string(i));
    picker.add_endpoint(
        endpoint_info{names.back(),
                      "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ":8000",
                      {}});
  }
  int64_t now = 1'000'000'000;
  auto report_all = [&] {
    for (const auto& n : names) {
      load_report r;
      r.waiting = static_cast<int>(rng() % 8);
      r.running = static_cast<int>(rng() % 32);
      r.kv_usage = static_cast<double>(rng() % 90) / 100.0;
      r.block_size = 16;
      r.num_gpu_blocks = 65536;
      r.step = {11.8e6, 18.2e6, 250e3, 50e3, 75};  // 8b-h100 (read by the slo config only)
      picker.update_load(n, r, now);
    }
  };
  report_all();

  workload w;
  std::vector<uint32_t> tokens;
  tokens.reserve(prompt_tokens);
  schedule_result result;
  std::vector<double> pick_us, pre_us;
  pick_us.reserve(measured);
  pre_us.reserve(measured);
  // Flow control's gate (the `gate` rows): VTC between 8 tenants, llm-d's default detector.
  flow_control::flow_control_settings fc_settings;
  fc_settings.enabled = true;
  fc_settings.default_band.fairness = flow_control::fairness_policy::vtc;
  flow_control::flow_controller fc(fc_settings);
  prometheus::Registry fc_registry;
  flow_control::flow_metrics fc_metrics(fc_registry, "bench/pool");
  utilization_detector detector("utilization-detector", {});
  std::vector<std::string> tenants;
  for (int t = 0; t < 8; ++t)
    tenants.push_back("tenant-" + std::to_string(t));
  size_t saturated_picks = 0;
  std::string id;
  decision_ring decisions(256);  // --record-decisions: what the picker actor keeps per pick
  double timed_s = 0;
  for (size_t i = 0; i < warmup + measured; ++i) {
    w.next(tokens);
    pick_request req;
    id = "request-" + std::to_string(i);
    req.request_id = id;
    req.model = "bench-model";
    req.tokens = tokens;
    req.slo_ttft_ms = i % 2 ? 0 : 500;  // ignored without the slo config's plugins
    const auto& flow = tenants[i % tenants.size()];
    auto t0 = clock_type::now();
    if (gate) {  // the picker actor's admit(): it would queue the pick when this says saturated
      const auto& pool = picker.pool();
      bool any = false;
      for (auto pid : pool.ids())
        if (pool.schedulable(pool.at(pid))) {
          any = true;
          break;
        }
      if (!any || !fc.empty() || detector.saturation(pool, now) >= 1.0) saturated_picks++;
    }
    picker.schedule(req, now, result);
    if (gate && result.ok()) {  // dispatch(): VTC's charge and record, the outcome counted
      fc.charge(flow, 0, req.tokens.size(), 0, now);
      fc.track(id, flow, 0, now);
      fc_metrics.outcome(flow, 0, "Dispatched", 0);
    }
    if (record)
      decisions.record({req.request_id, req.model, "bench/pool", nullptr, 0}, result, picker);
    auto t1 = clock_type::now();
    if (!result.ok()) {
      std::cerr << "pick failed: " << result.reason << "\n";
      std::exit(1);
    }
    picker.pre_request(req, result, now);
    auto t2 = clock_type::now();
    picker.response_complete(req.request_id, now);
    if (gate) fc.done(id, 32, now);
    // precise-static stops the events once measuring: the index then stays in cache between
    // picks, which separates the algorithm's cost from the cache misses the events cause.
    if (precise && (i < warmup || k == kind::precise)) {
      // The chosen pod caches the prompt and says so (outside the timed section).
      // Engine keys depend on content only, as vLLM's do (a cheap chain stands in for them).
      runtime::block_stored stored;
      stored.token_ids = tokens;
      stored.block_size = 16;
      uint64_t engine = 0x51ed270b27ad43c1ull;
      for (size_t b = 0; b < tokens.size() / 16; ++b) {
        for (size_t t = 0; t < 16; ++t)
          engine = (engine ^ tokens[b * 16 + t]) * 0x100000001b3ull;
        stored.block_hashes.push_back(engine);
      }
      runtime::event_batch batch;
      batch.events.emplace_back(std::move(stored));
      picker.apply_kv_events(result.primary().name, "bench-model", batch, now);
    }
    now += 1'000'000;  // 1 ms per request
    if (i % 1000 == 999) {
      report_all();
      if (gate) fc.expire(now);
    }
    if (i >= warmup) {
      double pick = std::chrono::duration<double, std::micro>(t1 - t0).count();
      pick_us.push_back(pick);
      pre_us.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
      timed_s += pick / 1e6;
    }
  }
  figures f;
  f.p50_us = bench::median(pick_us);
  f.p99_us = bench::percentile(pick_us, 99);
  f.picks_per_s = static_cast<double>(measured) / timed_s;
  f.pre_p50_us = bench::median(pre_us);
  if (saturated_picks == warmup + measured)
    std::fputs("(the gate saw the pool saturated)\n", stderr);
  auto m = picker.metrics(now);
  f.index_entries = static_cast<double>(m.approx_prefix_entries + m.precise_prefix_keys);
  f.index_mb = static_cast<double>(m.prefix_index_bytes) / (1024.0 * 1024.0);
  return f;
}

/// Median time to key a whole prompt with llm-d's chain, without any memo.
double key_chain_us(size_t block_size, int rounds) {
  std::mt19937_64 g(7);
  auto tokens = random_tokens(g, prompt_tokens);
  runtime::kv_block_keys keys(block_size);
  std::vector<double> us;
  uint64_t sink = 0;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = clock_type::now();
    auto k = keys.keys(tokens, "bench-model");
    auto t1 = clock_type::now();
    sink ^= k.back();
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  if (sink == 42) std::puts("");
  return bench::median(us);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"endpoint picker benchmark"};
  bool quick = false;
  std::string json_path;
  app.add_flag("--quick", quick, "small run (CI smoke test)");
  app.add_option("--json", json_path, "write the figures as one flat JSON object");
  bool record = false;
  app.add_flag("--record-decisions", record,
               "record each pick's decision (the picker actor's ring of 256) inside the timed "
               "pick");
  std::vector<size_t> only_pods;
  app.add_option("--pods", only_pods, "only these pool sizes (default: 10, 100, 1000)");
  std::vector<std::string> only_configs;
  app.add_option("--config", only_configs,
                 "only these configurations (round-robin, default, precise, ...; the ratio "
                 "columns need round-robin and default in the run)");
  CLI11_PARSE(app, argc, argv);

  int repeats = quick ? 1 : 3;
  std::vector<size_t> pod_counts{10, 100, 1000};
  struct config_row {
    const char* name;
    kind k;
    bool gate = false;  ///< flow control's gate in the timed pick
  };
  std::vector<config_row> configs{{"round-robin", kind::round_robin},
                                  {"default", kind::approx},
                                  {"precise", kind::precise},
                                  {"precise-static", kind::precise_static},
                                  {"slo", kind::slo},
                                  {"default+fc", kind::approx, true},
                                  {"slo+fc", kind::slo, true}};
  if (!only_pods.empty()) pod_counts = only_pods;
  if (!only_configs.empty())
    std::erase_if(configs, [&](const config_row& c) {
      return std::find(only_configs.begin(), only_configs.end(), c.name) == only_configs.end();
    });

  std::printf("picker benchmark (%s, median of %d; 4096-token prompts)\n", quick ? "quick" : "full",
              repeats);
  bench::json_report report;
  report.text("benchmark", "picker");
  report.text("mode", quick ? "quick" : "full");
  report.number("prompt_tokens", prompt_tokens);
  double chain16 = key_chain_us(16, quick ? 20 : 200), chain64 = key_chain_us(64, quick ? 20 : 200);
  std::printf(
      "keying one 4096-token prompt without memo: %.1f us (16-token blocks), %.1f us "
      "(64-token blocks)\n",
      chain16, chain64);
  report.number("key_chain_4096_bs16_us", chain16);
  report.number("key_chain_4096_bs64_us", chain64);
  std::printf("%-15s %5s %9s %9s %11s %8s %8s %11s %9s %9s\n", "config", "pods", "p50 us", "p99 us",
              "picks/s", "p50/rr", "p50/def", "pre_req us", "index", "index MB");
  for (size_t pods : pod_counts) {
    size_t warmup = quick ? 200 : (pods >= 1000 ? 2000 : 3000);
    size_t measured = quick ? 300 : (pods >= 1000 ? 3000 : 5000);
    double baseline_p50 = 0, default_p50 = 0;
    for (const auto& cfg : configs) {
      run_figures rf;
      for (int r = 0; r < repeats; ++r) {
        auto f = run_once(cfg.k, cfg.gate, pods, warmup, measured, 1000 + r, record);
        rf.p50.push_back(f.p50_us);
        rf.p99.push_back(f.p99_us);
        rf.rate.push_back(f.picks_per_s);
        rf.pre_p50.push_back(f.pre_p50_us);
        rf.last = f;
      }
      double p50 = bench::median(rf.p50), p99 = bench::median(rf.p99);
      double rate = bench::median(rf.rate), pre = bench::median(rf.pre_p50);
      if (cfg.k == kind::round_robin) baseline_p50 = p50;
      if (cfg.k == kind::approx && !cfg.gate) default_p50 = p50;
      double ratio = baseline_p50 > 0 ? p50 / baseline_p50 : 0;
      double vs_default = default_p50 > 0 ? p50 / default_p50 : 0;  // the gate's cost on +fc rows
      std::printf("%-15s %5zu %9.2f %9.2f %11.0f %8.1f %8.2f %11.2f %9.0f %9.1f\n", cfg.name, pods,
                  p50, p99, rate, ratio, vs_default, pre, rf.last.index_entries, rf.last.index_mb);
      std::fflush(stdout);
      std::string key = std::string(cfg.name) + "_" + std::to_string(pods) + "_";
      report.number(key + "p50_us", p50);
      report.number(key + "p99_us", p99);
      report.number(key + "picks_per_s", rate);
      report.number(key + "p50_ratio_vs_round_robin", ratio);
      if (default_p50 > 0) report.number(key + "p50_ratio_vs_default", vs_default);
      report.number(key + "pre_request_p50_us", pre);
      report.number(key + "index_entries", rf.last.index_entries);
      report.number(key + "index_mb", rf.last.index_mb);
    }
  }
  if (!json_path.empty() && !report.write(json_path)) {
    std::cerr << "cannot write " << json_path << "\n";
    return 1;
  }
  return 0;
}
