// tools/bench/autoscale: how fast the stack scales out of a load step, KEDA's timing against
// inferstack's fast mode, in deterministic virtual time.
//
// One InferenceSet of simulated vLLM pods (the calibrated llama-3-8b-a100 step profile by
// default, --profile; max-num-seqs 16) starts at one replica on fake A100 nodes; requests arrive as
// a Poisson process at `low-rate`, then from `step-at` on at `high-rate`. The real node mocker
// (model load time `load-time`), controller, scaler (trigger: sum of vllm:num_requests_waiting, 10
// per pod, HPA defaults) and picker run the stack; only the timing differs:
//   keda -- KEDA polls every 30 s for activation, the HPA syncs every 15 s (what users see);
//   fast -- the scaler evaluates every 500 ms from the pods' pushed load reports;
//   static -- no autoscaler: the baseline the others are measured against.
// Requests the pods refuse (waiting queue full: 429) are counted as failed.
// Figures: seconds from the step to the first scale-up decision, to the first new Ready pod,
// the number of one-second windows after the step whose p90 TTFT (by arrival) exceeds the SLO,
// the p90 TTFT over the run, and the replicas at the end. Same seed, same figures.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/controller/controller_actor.hpp"
#include "actors/node_mocker/node_mocker_actor.hpp"
#include "actors/picker/picker_actor.hpp"
#include "actors/scaler/scaler_actor.hpp"
#include "nodes/in_process_launcher.hpp"
#include "nodes/stack_parts.hpp"
#include "protocol/registration.hpp"
#include "runtime/local_transport.hpp"
#include "runtime/simulation.hpp"
#include "tools/bench/bench_table.hpp"

using namespace inferstack;
namespace nm = actors::node_mocker;
namespace ctl = actors::controller;
namespace sc = actors::scaler;
namespace pod = actors::pod;
namespace picker = actors::picker;

namespace {

struct options {
  std::string profile = "llama-3-8b-a100";  // the nodes are A100s
  double low_rate = 3;
  double high_rate = 14;
  double step_at_s = 60;
  double duration_s = 300;
  double load_time_s = 30;
  double slo_s = 1.0;
  int prompt_tokens = 512;
  int output_tokens = 128;
  int max_replicas = 8;
  uint64_t seed = 7;
};

struct arrival {
  int64_t at_ns = 0;
  std::vector<uint32_t> tokens;
};

std::vector<arrival> make_arrivals(const options& o) {
  std::mt19937_64 rng(o.seed);
  std::vector<arrival> out;
  double t = 0;
  while (true) {
    double rate = t < o.step_at_s ? o.low_rate : o.high_rate;
    t += std::exponential_distribution<double>(rate)(rng);
    if (t >= o.duration_s) break;
    arrival a;
    a.at_ns = static_cast<int64_t>(t * 1e9);
    a.tokens.resize(static_cast<size_t>(o.prompt_tokens));
    for (auto& tok : a.tokens)
      tok = static_cast<uint32_t>(rng() >> 40) + 1000;
    out.push_back(std::move(a));
  }
  return out;
}

struct run_result {
  double decision_s = -1;     ///< step -> first scale-up decision
  double first_ready_s = -1;  ///< step -> first new Ready pod
  int windows_over_slo = 0;
  int windows_after_step = 0;
  double ttft_p90_s = 0;
  double ttft_p90_after_step_s = 0;
  int final_replicas = 0;
  int peak_replicas = 0;
  size_t requests = 0;
  size_t failed = 0;
};

struct observer_state {
  caf::actor_clock::time_point start;
  double step_at_s = 0;
  run_result* out = nullptr;
  int initial_desired = -1;
  int initial_ready = -1;
};

/// Records the set's status changes (desired, ready) with their times.
caf::behavior status_observer(caf::stateful_actor<observer_state>* self,
                              caf::actor_clock::time_point start, double step_at_s,
                              run_result* out) {
  self->state.start = start;
  self->state.step_at_s = step_at_s;
  self->state.out = out;
  return {[self](ctl::set_status& s) {
    auto& st = self->state;
    double t = std::chrono::duration<double>(self->clock().now() - st.start).count();
    if (st.initial_desired < 0) {
      st.initial_desired = s.desired;
      st.initial_ready = s.ready;
    }
    st.out->final_replicas = s.desired;
    st.out->peak_replicas = std::max(st.out->peak_replicas, s.desired);
    if (t < st.step_at_s) {
      st.initial_desired = s.desired;
      st.initial_ready = s.ready;
      return;
    }
    if (st.out->decision_s < 0 && s.desired > st.initial_desired)
      st.out->decision_s = t - st.step_at_s;
    if (st.out->first_ready_s < 0 && s.ready > st.initial_ready)
      st.out->first_ready_s = t - st.step_at_s;
  }};
}

struct driver_state {
  const std::vector<arrival>* work = nullptr;
  size_t next = 0;
  caf::actor_clock::time_point start;
  picker::picker_actor pick;
  runtime::transport* transport = nullptr;
  int output_tokens = 0;
  std::vector<std::pair<double, double>>* ttfts = nullptr;  ///< (arrival s, ttft s)
  size_t* done = nullptr;
  size_t* failed = nullptr;
};

caf::behavior driver(caf::stateful_actor<driver_state>* self, driver_state init) {
  self->state = std::move(init);
  self->state.start = self->clock().now();
  auto schedule = [self] {
    auto& st = self->state;
    if (st.next >= st.work->size()) return;
    auto due = st.start + std::chrono::nanoseconds((*st.work)[st.next].at_ns);
    auto now = self->clock().now();
    self->delayed_send(self, due > now ? due - now : caf::timespan{0}, atoms::tick_atom_v);
  };
  schedule();
  return {[self, schedule](atoms::tick_atom) {
    auto& st = self->state;
    auto index = st.next++;
    schedule();
    auto id = "req-" + std::to_string(index);
    picker::choose_pod choose;
    choose.request_id = id;
    choose.model = "bench-model";
    choose.tokens = (*st.work)[index].tokens;
    auto fail = [self](caf::error&) {
      ++*self->state.failed;
      ++*self->state.done;
    };
    self->request(st.pick, caf::infinite, choose)
        .then(
            [self, index, id, fail](picker::chosen_pod& chosen) {
              auto& st = self->state;
              auto handle = st.transport->lookup("", chosen.endpoint.substr(6));  // "actor:"
              if (!handle) {
                caf::error err = handle.error();
                fail(err);
                return;
              }
              pod::generate_request gen;
              gen.request_id = id;
              gen.model = "bench-model";
              gen.api = static_cast<uint8_t>(pod::api_kind::completions);
              gen.prompts = {(*st.work)[index].tokens};
              gen.echo_texts = {""};
              gen.max_tokens = st.output_tokens;
              gen.ignore_eos = true;
              auto name = chosen.pod;
              self->request(caf::actor_cast<pod::pod_actor>(*handle), caf::infinite, gen)
                  .then(
                      [self, index, id, name](pod::generate_result& r) {
                        auto& st = self->state;
                        st.ttfts->emplace_back(static_cast<double>((*st.work)[index].at_ns) / 1e9,
                                               static_cast<double>(r.ttft_ns) / 1e9);
                        ++*st.done;
                        caf::anon_send(st.pick, picker::request_done{id, name, r.prompt_tokens,
                                                                     r.completion_tokens, true});
                      },
                      fail);
            },
            fail);
  }};
}

run_result run(const options& o, const std::vector<arrival>& work, const char* mode,
               const std::string& profiles) {
  runtime::simulation sim{protocol::register_messages};
  runtime::local_transport transport{"bench"};
  auto start = sim.now();

  // The InferenceSet and its preset.
  config::inference_set set;
  set.meta.name = "llama";
  set.meta.namespace_ = "bench";
  set.replicas = 1;
  set.template_labels = {{"app", "llama"}};
  set.instance_type = "Standard_NC24ads_A100_v4";
  set.preset = "bench-model";
  config::model_preset preset;
  preset.meta.name = "bench-model";
  preset.gpus = 1;
  preset.load_time = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(o.load_time_s));
  preset.warm_load_time = preset.load_time;
  preset.engine = {{"profile", o.profile},
                   {"max-num-seqs", "16"},
                   {"kv-cache-size", "8192"},
                   {"max-model-len", "8192"}};

  // Picker of the pool.
  picker::picker_settings ps;
  ps.pool = "bench/llama";
  ps.pool_name = "llama";
  ps.seed = o.seed;
  auto pick =
      picker::spawn_picker(sim.sys, ps, {std::make_shared<prometheus::Registry>(), nullptr});

  // Control plane.
  auto launcher =
      std::make_shared<nodes::in_process_launcher>(sim.sys, transport, profiles, 0, nullptr);
  config::node_pool nodes_pool;
  nodes_pool.meta.name = "a100";
  nodes_pool.instance_type = set.instance_type;
  nodes_pool.count = o.max_replicas;
  auto mocker = nm::spawn_node_mocker(sim.sys, {{nodes_pool}, std::chrono::seconds(30)},
                                      {launcher, {}, nullptr, nullptr});
  ctl::controller_settings cs;
  cs.sets.push_back({"bench", "llama", 1, nodes::pod_template_for(set, &preset, o.seed)});
  cs.pools.push_back({"bench", "llama", {{"app", "llama"}}, {}});
  std::set<std::string> subscribed;
  ctl::controller_dependencies cd;
  cd.mocker = caf::actor_cast<nm::node_mocker_actor>(mocker);
  cd.on_membership = [&](const ctl::pool_spec&, const std::vector<picker::pool_member>& members) {
    for (const auto& m : members)
      if (subscribed.insert(m.pod).second) {
        transport.subscribe("", "load@" + m.pod + "@", caf::actor_cast<caf::actor>(pick));
        transport.subscribe("", "kv@" + m.address + "@", caf::actor_cast<caf::actor>(pick));
      }
    caf::anon_send(pick, picker::pool_membership{"bench/llama", members});
  };
  cd.on_status = [&](const ctl::set_status& s) {
    transport.publish("setstatus@bench/llama@", caf::make_message(s));
  };
  run_result out;
  auto observer = sim.sys.spawn(status_observer, start, o.step_at_s, &out);
  transport.subscribe("", "setstatus@", observer);
  sc::scaler_impl_actor scaler;
  std::string m = mode;
  auto controller = ctl::spawn_controller(sim.sys, cs, cd);
  if (m != "static") {
    sc::scaling_target t;
    t.ns = "bench";
    t.set = "llama";
    t.pools = {"bench/llama"};
    t.mode = m == "fast" ? sc::timing::fast : sc::timing::keda;
    t.policy.target = 10;
    t.policy.min_replicas = 1;
    t.policy.max_replicas = o.max_replicas;
    sc::scaler_dependencies sd;
    sd.controller = caf::actor_cast<ctl::controller_actor>(controller);
    scaler = sc::spawn_scaler(sim.sys, {{t}}, sd);
    transport.subscribe("", "load@", caf::actor_cast<caf::actor>(scaler));
    transport.subscribe("", "setstatus@", caf::actor_cast<caf::actor>(scaler));
  }
  sim.run();

  std::vector<std::pair<double, double>> ttfts;
  size_t done = 0, failed = 0;
  driver_state ds;
  ds.work = &work;
  ds.pick = caf::actor_cast<picker::picker_actor>(pick);
  ds.transport = &transport;
  ds.output_tokens = o.output_tokens;
  ds.ttfts = &ttfts;
  ds.done = &done;
  ds.failed = &failed;
  sim.sys.spawn(driver, ds);
  sim.advance_until([&] { return done == work.size(); }, std::chrono::hours(2));

  out.requests = done;
  out.failed = failed;
  std::vector<double> all, after;
  std::map<int, std::vector<double>> windows;
  for (auto [at, ttft] : ttfts) {
    all.push_back(ttft);
    if (at >= o.step_at_s) {
      after.push_back(ttft);
      windows[static_cast<int>(at - o.step_at_s)].push_back(ttft);
    }
  }
  out.ttft_p90_s = bench::percentile(all, 90);
  out.ttft_p90_after_step_s = bench::percentile(after, 90);
  out.windows_after_step = static_cast<int>(windows.size());
  for (auto& [w, v] : windows)
    if (bench::percentile(v, 90) > o.slo_s) ++out.windows_over_slo;

  launcher->terminate_all();
  for (const auto& a :
       {caf::actor_cast<caf::actor>(mocker), caf::actor_cast<caf::actor>(controller),
        caf::actor_cast<caf::actor>(pick), observer})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  if (scaler) caf::anon_send_exit(scaler, caf::exit_reason::user_shutdown);
  sim.run();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "autoscale benchmark: a load step, keda and fast timing side by side (virtual time)"};
  bool quick = false;
  std::string json_path, profiles = INFERSTACK_SOURCE_DIR "/config/profiles";
  options o;
  app.add_flag("--quick", quick, "small run (CI smoke test)");
  app.add_option("--json", json_path, "write the figures as one flat JSON object");
  app.add_option("--low-rate", o.low_rate, "requests/s before the step")->capture_default_str();
  app.add_option("--high-rate", o.high_rate, "requests/s after the step")->capture_default_str();
  app.add_option("--step-at", o.step_at_s, "seconds until the step")->capture_default_str();
  app.add_option("--duration", o.duration_s, "seconds of traffic")->capture_default_str();
  app.add_option("--load-time", o.load_time_s, "model load time of a new pod (s)")
      ->capture_default_str();
  app.add_option("--slo", o.slo_s, "TTFT SLO in seconds (p90 per one-second window)")
      ->capture_default_str();
  app.add_option("--max-replicas", o.max_replicas, "the set's max replicas (and A100 nodes)")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "workload seed")->capture_default_str();
  app.add_option("--profiles", profiles, "latency profiles directory")->capture_default_str();
  app.add_option("--profile", o.profile, "the pods' latency profile")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    o.duration_s = std::min(o.duration_s, 120.0);
    o.step_at_s = std::min(o.step_at_s, 20.0);
    o.load_time_s = std::min(o.load_time_s, 20.0);
  }
  auto work = make_arrivals(o);
  std::vector<std::pair<std::string, run_result>> rows;
  for (const char* mode : {"static", "keda", "fast"}) {
    auto wall = std::chrono::steady_clock::now();
    rows.emplace_back(mode, run(o, work, mode, profiles));
    std::fprintf(stderr, "%s: %.2f s wall\n", mode,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count());
  }
  auto fmt = [](double v) {
    char buf[32];
    if (v < 0)
      std::snprintf(buf, sizeof(buf), "-");
    else
      std::snprintf(buf, sizeof(buf), "%.1f", v);
    return std::string(buf);
  };
  std::printf(
      "autoscale benchmark: step %.0f -> %.0f req/s at t=%.0f s, %.0f s of traffic, %d+%d tokens, "
      "%s pods (max-num-seqs 16), load time %.0f s, trigger vllm:num_requests_waiting 10 per "
      "pod, max %d replicas, TTFT SLO %.1f s (%s, virtual time, seed %llu)\n",
      o.low_rate, o.high_rate, o.step_at_s, o.duration_s, o.prompt_tokens, o.output_tokens,
      o.profile.c_str(), o.load_time_s, o.max_replicas, o.slo_s, quick ? "quick" : "full",
      static_cast<unsigned long long>(o.seed));
  std::printf("%-8s %12s %14s %16s %14s %14s %9s %9s %7s\n", "timing", "decision s",
              "first ready s", "s over SLO", "p90 TTFT s", "p90 after s", "peak", "final",
              "failed");
  for (const auto& [name, r] : rows)
    std::printf("%-8s %12s %14s %10d / %-3d %14.2f %14.2f %9d %9d %7zu\n", name.c_str(),
                fmt(r.decision_s).c_str(), fmt(r.first_ready_s).c_str(), r.windows_over_slo,
                r.windows_after_step, r.ttft_p90_s, r.ttft_p90_after_step_s, r.peak_replicas,
                r.final_replicas, r.failed);
  const auto& keda = rows[1].second;
  const auto& fast = rows[2].second;
  const auto& fixed = rows[0].second;
  auto ratio = [](double a, double b) { return b <= 0 ? 0.0 : a / b; };
  std::printf(
      "fast vs keda: decision %.1fx sooner, first new pod %.1fx sooner; seconds over SLO: "
      "static %d, keda %d, fast %d\n",
      ratio(keda.decision_s, fast.decision_s), ratio(keda.first_ready_s, fast.first_ready_s),
      fixed.windows_over_slo, keda.windows_over_slo, fast.windows_over_slo);
  if (!json_path.empty()) {
    bench::json_report j;
    j.text("benchmark", "autoscale");
    j.text("mode", quick ? "quick" : "full");
    j.number("low_rate", o.low_rate);
    j.number("high_rate", o.high_rate);
    j.number("load_time_s", o.load_time_s);
    j.number("slo_s", o.slo_s);
    for (const auto& [name, r] : rows) {
      j.number(name + "_decision_s", r.decision_s);
      j.number(name + "_first_ready_s", r.first_ready_s);
      j.number(name + "_seconds_over_slo", r.windows_over_slo);
      j.number(name + "_ttft_p90_s", r.ttft_p90_s);
      j.number(name + "_ttft_p90_after_step_s", r.ttft_p90_after_step_s);
      j.number(name + "_peak_replicas", r.peak_replicas);
      j.number(name + "_failed", static_cast<double>(r.failed));
    }
    j.number("ratio_decision_keda_vs_fast", ratio(keda.decision_s, fast.decision_s));
    j.number("ratio_first_ready_keda_vs_fast", ratio(keda.first_ready_s, fast.first_ready_s));
    if (!j.write(json_path)) return 1;
  }
  // Failed requests are figures (an overloaded pod's queue is full: 429), not errors of the
  // benchmark; a timing that never decided is.
  if (fast.decision_s < 0 || keda.decision_s < 0) return 1;
  return 0;
}
