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
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/picker/picker_actor.hpp"
#include "actors/pod/pod_actor.hpp"
#include "actors/pod/pod_settings.hpp"
#include "protocol/registration.hpp"
#include "runtime/config/manifests.hpp"
#include "runtime/simulation.hpp"
#include "tools/bench/bench_table.hpp"

using namespace inferstack;
namespace pod = actors::pod;
namespace picker = actors::picker;

namespace {

struct workload_options {
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

struct request_spec {
  int64_t arrival_ns = 0;
  int group = 0;
  std::vector<uint32_t> tokens;
};

std::vector<request_spec> make_workload(const workload_options& o) {
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
  std::vector<request_spec> out;
  double t = 0;
  for (int i = 0; i < o.requests; ++i) {
    t += gap(rng);
    request_spec r;
    r.arrival_ns = static_cast<int64_t>(t * 1e9);
    r.group = group(rng);
    r.tokens = systems[static_cast<size_t>(r.group)];
    const auto& q = questions[static_cast<size_t>(r.group)][static_cast<size_t>(question(rng))];
    r.tokens.insert(r.tokens.end(), q.begin(), q.end());
    out.push_back(std::move(r));
  }
  return out;
}

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
  size_t done = 0;
  std::map<std::string, int> per_pod;
};

struct driver_state {
  const std::vector<request_spec>* work = nullptr;
  size_t next = 0;
  caf::actor_clock::time_point start;
  picker::picker_actor picker;
  std::map<std::string, pod::pod_actor> pods;
  workload_options options;
  outcome* out = nullptr;
};

// Replays the arrivals: at each one, asks the picker for a pod, sends the request there, and
// records what the pod reports when it is done.
caf::behavior driver(caf::stateful_actor<driver_state>* self, const std::vector<request_spec>* work,
                     picker::picker_actor pick, std::map<std::string, pod::pod_actor> pods,
                     workload_options options, outcome* out) {
  auto& st = self->state;
  st.work = work;
  st.picker = std::move(pick);
  st.pods = std::move(pods);
  st.options = options;
  st.out = out;
  st.start = self->clock().now();
  auto schedule_next = [self] {
    auto& st = self->state;
    if (st.next >= st.work->size()) return;
    auto due = st.start + std::chrono::nanoseconds((*st.work)[st.next].arrival_ns);
    auto now = self->clock().now();
    self->delayed_send(self, due > now ? due - now : caf::timespan{0}, atoms::tick_atom_v);
  };
  schedule_next();
  return {
      [self, schedule_next](atoms::tick_atom) {
        auto& st = self->state;
        auto index = st.next++;
        schedule_next();
        const auto& spec = (*st.work)[index];
        picker::choose_pod choose;
        choose.request_id = "req-" + std::to_string(index);
        choose.model = "bench-model";
        choose.tokens = spec.tokens;
        self->request(st.picker, caf::infinite, choose)
            .then(
                [self, index](picker::chosen_pod& chosen) {
                  auto& st = self->state;
                  const auto& spec = (*st.work)[index];
                  pod::generate_request gen;
                  gen.request_id = "req-" + std::to_string(index);
                  gen.model = "bench-model";
                  gen.api = static_cast<uint8_t>(pod::api_kind::completions);
                  gen.prompts = {spec.tokens};
                  gen.echo_texts = {""};
                  gen.max_tokens = st.options.output_len;
                  gen.ignore_eos = true;
                  auto name = chosen.pod;
                  self->request(st.pods.at(name), caf::infinite, gen)
                      .then(
                          [self, name, index](pod::generate_result& r) {
                            auto& st = self->state;
                            auto& o = *st.out;
                            o.ttft_ms.push_back(static_cast<double>(r.ttft_ns) / 1e6);
                            if (r.completion_tokens > 1)
                              o.itl_ms.push_back(static_cast<double>(r.e2e_ns - r.ttft_ns) / 1e6 /
                                                 (r.completion_tokens - 1));
                            o.prompt_tokens += r.prompt_tokens;
                            o.cached_tokens += r.cached_tokens;
                            o.output_tokens += r.completion_tokens;
                            o.per_pod[name]++;
                            o.last_finish_ns = std::max<int64_t>(
                                o.last_finish_ns, (self->clock().now() - st.start).count());
                            o.done++;
                            caf::anon_send(
                                st.picker,
                                picker::request_done{"req-" + std::to_string(index), name,
                                                     r.prompt_tokens, r.completion_tokens, true});
                          },
                          [self](caf::error&) {
                            self->state.out->failed++;
                            self->state.out->done++;
                          });
                },
                [self](caf::error&) {
                  self->state.out->failed++;
                  self->state.out->done++;
                });
      },
  };
}

pod::pod_settings bench_pod_settings(const workload_options& o, int i,
                                     const std::string& profiles) {
  // The calibrated profile by default (issue 19); KAITO's round figures were 8b-h100.
  pod::pod_settings s;
  for (auto [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"model", "bench-model"},
           {"profile", o.profile},
           {"kv-cache-size", std::to_string(o.kv_blocks)},
           {"block-size", "16"},
           {"max-num-seqs", "128"},
           {"max-model-len", "8192"},
           {"event-batch-size", "1"}})
    if (auto err = pod::set_pod_option(s, k, v, profiles)) throw std::runtime_error(*err);
  s.pod_name = "bench/pod-" + std::to_string(i);
  s.address = "10.0.0." + std::to_string(i + 1) + ":8000";
  s.seed = o.seed + static_cast<uint64_t>(i);
  for (auto& p : pod::finish_pod_settings(s))
    throw std::runtime_error(p);
  return s;
}

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
  runtime::simulation sim{protocol::register_messages};
  auto registry = std::make_shared<prometheus::Registry>();
  picker::picker_settings ps;
  ps.pool = "bench/pool";
  ps.pool_name = "pool";
  ps.config = parse_picker(strat);
  ps.seed = o.seed;
  auto pick = picker::spawn_picker(sim.sys, ps, {registry, nullptr});
  std::map<std::string, pod::pod_actor> pods;
  picker::pool_membership membership{ps.pool, {}};
  for (int i = 0; i < o.pods; ++i) {
    auto s = bench_pod_settings(o, i, profiles);
    pod::pod_dependencies deps;
    deps.registry = std::make_shared<prometheus::Registry>();
    deps.outputs.kv_events = [pick](const pod::kv_event_message& m) { caf::anon_send(pick, m); };
    deps.outputs.load = [pick](const pod::load_report& r) { caf::anon_send(pick, r); };
    membership.members.push_back(
        {s.pod_name, "actor:pod/" + s.pod_name, s.address, {}, true, false, {}, {}, {}});
    pods.emplace(s.pod_name, pod::spawn_pod(sim.sys, s, deps));
  }
  caf::anon_send(pick, membership);
  sim.run();
  outcome out;
  sim.sys.spawn(driver, &work, caf::actor_cast<picker::picker_actor>(pick), pods, o, &out);
  sim.advance_until([&] { return out.done == work.size(); }, std::chrono::hours(24));
  out.first_arrival_ns = work.empty() ? 0 : work.front().arrival_ns;
  for (auto& [name, p] : pods)
    caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(pick, caf::exit_reason::user_shutdown);
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
