// tools/bench/replicas: active-active picker replicas against one picker, on the routing bench's
// shared-prefix workload, in deterministic virtual time.
//
// llm-d's approximate prefix routing (prefix-cache-scorer 3 + queue 2 + kv-cache 2, its
// default) learns which pod holds which prompt blocks from its own routing decisions. With
// several replicas each sees only the requests sent to it: without sharing, a replica routes a
// prompt its peers placed as if it were new. The arrivals go to the replicas round robin (as a
// gateway spreads picks), every replica hears every pod's load reports, and the variants are:
//   1 replica              -- the baseline
//   3 replicas, shared     -- each tells its peers its decisions and in-flight load every
//                             --interval-ms (replication/, the picker actor's batches)
//   3 replicas, unshared   -- each keeps its own
// Figures: prefix-cache hit rate (the pods' cached / prompt tokens), TTFT p50/p90 (the pods'
// clocks), and the ratios to one replica (goal: hit rate within 2 points, TTFT p90 within 10 %);
// for the shared variant, the staleness of a peer's decision when it is applied (made ->
// applied, p50/p90/max) and the gossip bytes per request (msgpack payload of the batches).
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
#include "actors/picker/replication/replica_link.hpp"
#include "actors/picker/replication/replica_state.hpp"
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

const char* approx_yaml = R"(
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
metadata: {name: bench}
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
)";

struct variant {
  std::string name;
  int replicas = 1;
  bool shared = false;
};

struct outcome {
  std::vector<double> ttft_ms;
  uint64_t prompt_tokens = 0, cached_tokens = 0, failed = 0;
  std::vector<double> staleness_ms;
  int64_t staleness_max_ns = 0;
  uint64_t bytes = 0, batches = 0, decisions = 0, dropped = 0;
};

outcome run_variant(const variant& v, const workload_options& o, int64_t interval_ns,
                    const std::vector<request_spec>& work, const std::string& profiles) {
  outcome out;
  config::load_result loaded;
  config::load_text(approx_yaml, "replicas-bench", loaded);
  if (!loaded.ok() || loaded.config.picker_configs.empty())
    throw std::runtime_error("bad picker config");
  auto cfg = std::make_shared<config::picker_config>(loaded.config.picker_configs.front());

  bench::replay r;
  r.count = work.size();
  r.arrival_ns = [&](size_t i) { return work[i].arrival_ns; };
  r.choose = [&](size_t i, picker::choose_pod& choose) { choose.tokens = work[i].tokens; };
  r.max_tokens = [&](size_t) { return o.output_len; };
  r.done = [&](const bench::finished_request& f, picker::request_done&) {
    out.ttft_ms.push_back(static_cast<double>(f.result->ttft_ns) / 1e6);
    out.prompt_tokens += f.result->prompt_tokens;
    out.cached_tokens += f.result->cached_tokens;
  };

  bench::pool_spec pool;
  pool.picker_config = cfg;
  pool.seed = o.seed;
  pool.pods = o.pods;
  pool.kv_events = true;
  pool.pickers = v.replicas;
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
  auto dir = std::make_shared<picker::local_replica_link::directory>();
  std::vector<std::shared_ptr<picker::direct_picker>> direct;
  std::vector<picker::replica_peer> peers;
  for (int i = 0; i < v.replicas; ++i)
    peers.push_back({"bench/pool#" + std::to_string(i), ""});
  pool.setup_picker = [&](int i, picker::picker_settings& s, picker::picker_dependencies& deps) {
    s.seed = o.seed + static_cast<uint64_t>(i);  // replicas break ties each their own way
    if (!v.shared) return;
    picker::replication_settings rs;
    rs.replica = peers[static_cast<size_t>(i)].name;
    rs.interval_ns = interval_ns;
    rs.catch_up = false;  // all start together
    s.replication = rs;
    deps.replicas = std::make_shared<picker::local_replica_link>(rs.replica, dir);
    deps.direct = std::make_shared<picker::direct_picker>();
    direct.push_back(deps.direct);
  };
  pool.pickers_started = [&](const std::vector<picker::picker_impl_actor>& pickers) {
    if (!v.shared) return;
    std::lock_guard lock{dir->mutex};
    for (size_t i = 0; i < pickers.size(); ++i) {
      dir->actors[peers[i].name] = caf::actor_cast<caf::actor>(pickers[i]);
      caf::anon_send(pickers[i], picker::replica_peers{"bench/pool", peers});
    }
  };
  pool.replay_finished = [&] {
    for (const auto& d : direct) {
      auto stats = d->replication();
      if (!stats) continue;
      for (auto ns : stats->staleness_samples)
        out.staleness_ms.push_back(static_cast<double>(ns) / 1e6);
      out.staleness_max_ns = std::max(out.staleness_max_ns, stats->staleness_max_ns);
      out.bytes += stats->bytes_sent;
      out.batches += stats->batches_sent;
      out.decisions += stats->decisions_sent;
      out.dropped += stats->decisions_dropped;
    }
  };
  out.failed = bench::run_replay(pool, r).failed;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"replicas benchmark: picker replicas sharing state against one picker"};
  bool quick = false;
  std::string json_path, profiles = INFERSTACK_SOURCE_DIR "/config/profiles";
  workload_options o;
  int replicas = 3;
  double interval_ms = 20;
  app.add_flag("--quick", quick, "small run (CI smoke test)");
  app.add_option("--json", json_path, "write the figures as one flat JSON object");
  app.add_option("--replicas", replicas, "picker replicas of the shared and unshared variants")
      ->capture_default_str();
  app.add_option("--interval-ms", interval_ms, "replication batch interval")->capture_default_str();
  app.add_option("--pods", o.pods, "simulated pods")->capture_default_str();
  app.add_option("--groups", o.groups, "shared system prompts")->capture_default_str();
  app.add_option("--prompts-per-group", o.prompts_per_group, "questions per system prompt")
      ->capture_default_str();
  app.add_option("--system-prompt-len", o.system_prompt_len, "tokens")->capture_default_str();
  app.add_option("--question-len", o.question_len, "tokens")->capture_default_str();
  app.add_option("--output-len", o.output_len, "tokens")->capture_default_str();
  app.add_option("--rate", o.rate, "requests per second (Poisson arrivals)")->capture_default_str();
  app.add_option("--requests", o.requests, "requests per variant")->capture_default_str();
  app.add_option("--kv-blocks", o.kv_blocks, "KV-cache blocks (16 tokens) per pod")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "workload and engine seed")->capture_default_str();
  app.add_option("--profiles", profiles, "latency profiles directory")->capture_default_str();
  app.add_option("--profile", o.profile, "the pods' latency profile")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (quick) o.requests = std::min(o.requests, 400);
  if (replicas < 1 || interval_ms <= 0) {
    std::fprintf(stderr, "--replicas must be at least 1 and --interval-ms above 0\n");
    return 2;
  }
  auto interval_ns = static_cast<int64_t>(interval_ms * 1e6);
  auto work = make_workload(o);
  auto n = std::to_string(replicas);
  std::vector<variant> variants = {
      {"1 replica", 1, false}, {n + " shared", replicas, true}, {n + " unshared", replicas, false}};

  struct row {
    variant v;
    outcome out;
    double hit, ttft_p50, ttft_p90, wall_s;
  };
  std::vector<row> rows;
  for (const auto& v : variants) {
    auto wall = std::chrono::steady_clock::now();
    auto out = run_variant(v, o, interval_ns, work, profiles);
    double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
    double hit = out.prompt_tokens ? static_cast<double>(out.cached_tokens) /
                                         static_cast<double>(out.prompt_tokens)
                                   : 0;
    rows.push_back({v, out, hit, bench::percentile(out.ttft_ms, 50),
                    bench::percentile(out.ttft_ms, 90), wall_s});
  }
  const auto& base = rows.front();
  auto ratio = [](double a, double b) { return b == 0 ? 0 : a / b; };

  std::printf(
      "replicas benchmark: approximate prefix routing (prefix 3, queue 2, kv 2), shared_prefix, "
      "%d pods (%s, %d KV blocks of 16 tokens), %d groups x %d prompts, system %d + question %d "
      "tokens, %d out, %.1f req/s Poisson, %d requests round robin over the replicas, batch "
      "interval %.0f ms (%s, virtual time, seed %llu)\n",
      o.pods, o.profile.c_str(), o.kv_blocks, o.groups, o.prompts_per_group, o.system_prompt_len,
      o.question_len, o.output_len, o.rate, o.requests, interval_ms, quick ? "quick" : "full",
      static_cast<unsigned long long>(o.seed));
  std::printf("%-13s %9s %10s %12s %12s %12s %9s %15s %15s %7s %7s\n", "variant", "hit rate",
              "hit - 1", "TTFT p50 ms", "TTFT p90 ms", "p90 x/1", "stale p90", "stale max ms",
              "gossip B/req", "failed", "wall s");
  for (const auto& r : rows) {
    bool shared = r.v.shared;
    std::printf(
        "%-13s %8.1f%% %+9.1fpt %12.1f %12.1f %12.3f %9s %15s %15s %7llu %7.2f\n", r.v.name.c_str(),
        100 * r.hit, 100 * (r.hit - base.hit), r.ttft_p50, r.ttft_p90,
        ratio(r.ttft_p90, base.ttft_p90),
        shared ? (std::to_string(bench::percentile(r.out.staleness_ms, 90)).substr(0, 5) + " ms")
                     .c_str()
               : "-",
        shared
            ? std::to_string(static_cast<double>(r.out.staleness_max_ns) / 1e6).substr(0, 5).c_str()
            : "-",
        shared ? std::to_string(static_cast<double>(r.out.bytes) / o.requests).substr(0, 7).c_str()
               : "-",
        static_cast<unsigned long long>(r.out.failed), r.wall_s);
  }
  const auto& sh = rows[1];
  std::printf(
      "shared: %llu batches, %llu decisions told, %llu dropped; staleness p50 %.1f ms, p90 %.1f "
      "ms, max %.1f ms (made on one replica -> applied on another)\n",
      static_cast<unsigned long long>(sh.out.batches),
      static_cast<unsigned long long>(sh.out.decisions),
      static_cast<unsigned long long>(sh.out.dropped), bench::percentile(sh.out.staleness_ms, 50),
      bench::percentile(sh.out.staleness_ms, 90),
      static_cast<double>(sh.out.staleness_max_ns) / 1e6);

  if (!json_path.empty()) {
    bench::json_report j;
    j.text("benchmark", "replicas");
    j.text("mode", quick ? "quick" : "full");
    j.number("pods", o.pods);
    j.number("requests", o.requests);
    j.number("rate", o.rate);
    j.number("replicas", replicas);
    j.number("interval_ms", interval_ms);
    const char* keys[] = {"one", "shared", "unshared"};
    for (size_t i = 0; i < rows.size(); ++i) {
      std::string k = keys[i];
      const auto& r = rows[i];
      j.number(k + "_hit_rate", r.hit);
      j.number(k + "_hit_rate_minus_one", r.hit - base.hit);
      j.number(k + "_ttft_p50_ms", r.ttft_p50);
      j.number(k + "_ttft_p90_ms", r.ttft_p90);
      j.number(k + "_ttft_p90_ratio_to_one", ratio(r.ttft_p90, base.ttft_p90));
      j.number(k + "_failed", static_cast<double>(r.out.failed));
    }
    j.number("shared_staleness_p50_ms", bench::percentile(sh.out.staleness_ms, 50));
    j.number("shared_staleness_p90_ms", bench::percentile(sh.out.staleness_ms, 90));
    j.number("shared_staleness_max_ms", static_cast<double>(sh.out.staleness_max_ns) / 1e6);
    j.number("shared_gossip_bytes_per_request", static_cast<double>(sh.out.bytes) / o.requests);
    j.number("shared_decisions_dropped", static_cast<double>(sh.out.dropped));
    if (!j.write(json_path)) return 1;
  }
  for (const auto& r : rows)
    if (r.out.failed) return 1;
  // A shared run that told nothing measured nothing.
  if (sh.out.decisions == 0) {
    std::fprintf(stderr, "the shared replicas told each other no decision\n");
    return 1;
  }
  return 0;
}
