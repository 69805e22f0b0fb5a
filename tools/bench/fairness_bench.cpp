// tools/bench/fairness: two tenants share a saturated pool; what the picker's flow control
// does for the light one, in deterministic virtual time.
//
// Tenant "heavy" sends `light-rate` x `ratio` requests per second, tenant "light" `light-rate`
// (Poisson arrivals, fairness ids x-llm-d-inference-fairness-id heavy / light), together more
// than `pods` simulated vLLM pods (the calibrated llama-3.1-8b-h100 profile) can serve. Requests
// go through the real picker actor and the real pod actors, as in tools/bench/routing; the
// picker's concurrency-detector counts the pool saturated at `slots` requests a pod. The same
// arrivals are replayed with:
//   no flow control         -- every request goes to a pod at once and queues there
//   fairness off            -- flow control, global-strict-fairness-policy (llm-d's default:
//                              one FCFS queue across tenants)
//   round robin             -- round-robin-fairness-policy (a turn per tenant)
//   VTC                     -- vtc-fairness-policy (the tenant with the fewest weighted tokens)
// and the light tenant alone (no heavy arrivals) as the baseline. Figures per run: each
// tenant's share of the tokens served (prompt + output of requests finished by the last
// arrival), its TTFT p50/p90 as a client sees it (the wait in the picker's queue plus the pod's
// time to first token), the light tenant's p90 wait in the picker's queue, and its p90 TTFT
// over its p90 alone (goal: <= 1.5), and the pod's part of it (TTFT from the pod's arrival).
// Placement counts the picker's own in-flight requests (active-request-scorer): a slot the
// detector sees free is a slot on the pod chosen. --detector utilization runs llm-d's
// utilization-detector at its default thresholds instead (pods with vLLM's 256 sequences, the
// pool saturated at 5 waiting requests a pod or 80 % KV); --heavy-prompt-len gives the heavy
// tenant longer prompts (VTC weighs tokens, round robin requests); --queue-aware adds llm-d's
// queue-scorer to the placement (and the utilization detector as a filter).
// --breakdown splits the light tenant's TTFT from each request's trace (its arrival, the
// picker's answer, the pod's arrival, admission, first token and finish): the wait in the
// picker's queue, the way to the pod, the wait at the pod for its first step, and that step
// (the prefill: one step, as prompts fit the step's token budget), with its batch-mates read off
// the other requests on the pod (prefills admitted in the same step, decodes running through
// it) and the requests queued ahead of it at the pod.
#include <algorithm>
#include <chrono>
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
#include "tools/bench/simulated_pool.hpp"

using namespace inferstack;
namespace picker = actors::picker;

namespace {

struct options {
  std::string profile = "llama-3.1-8b-h100";
  int pods = 16;
  int slots = 4;  ///< requests a pod before the pool counts saturated (concurrency-detector)
  /// The pool's saturation detector: "concurrency" (concurrency-detector at `slots`) or
  /// "utilization" (llm-d's utilization-detector with its defaults: queueDepthThreshold 5,
  /// kvCacheUtilThreshold 0.8, over the pods' load reports).
  std::string detector = "concurrency";
  int max_num_seqs = 0;  ///< a pod's batch; 0: `slots` (concurrency) or vLLM's 256 (utilization)
  double light_rate = 20;
  double ratio = 10;  ///< heavy's rate over light's
  double seconds = 30;
  int prompt_len = 1024;
  int heavy_prompt_len = 0;        ///< the heavy tenant's prompts; 0: prompt_len
  double report_interval_ms = 50;  ///< the pods' load reports, at most one per interval
  /// fair-share-ceiling-policy's ceiling in the "+ ceiling" rows: from this pool saturation on
  /// a flow over its fair share waits (0.95 of 64 slots: about 3 held for flows under theirs).
  double ceiling = 0.95;
  int output_len = 32;
  uint64_t seed = 42;
  bool queue_aware = false;  ///< queue-scorer (and the utilization detector as a filter) too
};

struct request_spec {
  int64_t arrival_ns = 0;
  bool heavy = false;
};

std::vector<request_spec> make_workload(const options& o, bool with_heavy) {
  std::vector<request_spec> out;
  auto add = [&](double rate, bool heavy, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::exponential_distribution<double> gap(rate);
    for (double t = gap(rng); t < o.seconds; t += gap(rng))
      out.push_back({static_cast<int64_t>(t * 1e9), heavy});
  };
  add(o.light_rate, false, o.seed);
  if (with_heavy) add(o.light_rate * o.ratio, true, o.seed + 1);
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.arrival_ns < b.arrival_ns; });
  return out;
}

struct mode {
  const char* name;
  const char* key;       ///< in the JSON
  const char* fairness;  ///< fairnessPolicyRef; null: flow control off
  bool with_heavy = true;
  bool fair_share_ceiling = false;  ///< usageLimitPolicyPluginRef: fair-share-ceiling-policy
};

const mode modes[] = {
    {"light alone", "alone", "global-strict-fairness-policy", false},
    {"no flow control", "none", nullptr},
    {"fairness off", "off", "global-strict-fairness-policy"},
    {"round robin", "round_robin", "round-robin-fairness-policy"},
    {"VTC", "vtc", "vtc-fairness-policy"},
    {"RR + ceiling", "round_robin_ceiling", "round-robin-fairness-policy", true, true},
    {"VTC + ceiling", "vtc_ceiling", "vtc-fairness-policy", true, true},
};

/// One finished request as the client and its pod saw it (virtual ns from the replay's start),
/// for --breakdown.
struct request_trace {
  size_t index = 0;
  bool heavy = false;
  std::string pod;
  int64_t arrival = 0;     ///< at the picker
  int64_t dispatched = 0;  ///< the picker's answer
  int64_t at_pod = 0;      ///< the pod's arrival
  int64_t admitted = 0;    ///< its first step began
  int64_t first_token = 0;
  int64_t finished = 0;
};

struct tenant_outcome {
  std::vector<double> ttft_ms;
  std::vector<double> wait_ms;      ///< in the picker's queue
  std::vector<double> pod_ttft_ms;  ///< the pod's part: TTFT from the pod's arrival
  double served_tokens = 0;         ///< finished by the last arrival
};

struct outcome {
  tenant_outcome light, heavy;
  std::vector<request_trace> traces;
  uint64_t failed = 0;
};

std::shared_ptr<const config::picker_config> picker_config(const mode& m, const options& o) {
  std::string text =
      "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\nmetadata: {name: bench}\n";
  if (m.fairness) text += "featureGates: [flowControl]\n";
  bool utilization = o.detector == "utilization";
  text += utilization ? "plugins:\n- type: utilization-detector\n"
                      : "plugins:\n- type: concurrency-detector\n  parameters: {maxConcurrency: " +
                            std::to_string(o.slots) + "}\n";
  text +=
      "- type: active-request-scorer\n- type: queue-scorer\n- type: max-score-picker\n"
      "- type: round-robin-fairness-policy\n- type: vtc-fairness-policy\n"
      "- type: fair-share-ceiling-policy\n  parameters: {ceiling: " +
      std::to_string(o.ceiling) +
      "}\n"
      "schedulingProfiles:\n- name: default\n  plugins:\n"
      "  - {pluginRef: active-request-scorer, weight: 1}\n  - {pluginRef: max-score-picker}\n";
  // --queue-aware: placement that sees the pods' waiting queues, as llm-d's default profile
  // (queue-scorer, weight 2) and its utilization-detector used as a filter (pods over the
  // queue threshold dropped while any is under it).
  if (o.queue_aware) {
    text += "  - {pluginRef: queue-scorer, weight: 2}\n";
    if (utilization) text += "  - {pluginRef: utilization-detector}\n";
  }
  if (m.fairness)
    text +=
        std::string("flowControl:\n  saturationDetector: {pluginRef: ") +
        (utilization ? "utilization-detector" : "concurrency-detector") + "}\n" +
        "  defaultPriorityBand: {fairnessPolicyRef: " + m.fairness + "}\n" +
        (m.fair_share_ceiling ? "  usageLimitPolicyPluginRef: fair-share-ceiling-policy\n" : "");
  config::load_result loaded;
  config::load_text(text, std::string("fairness-bench:") + m.key, loaded);
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
  // Distinct prompts: no prefix sharing to blur the queueing.
  r.choose = [&](size_t index, picker::choose_pod& choose) {
    const auto& spec = work[index];
    choose.tokens.resize(static_cast<size_t>(
        spec.heavy && o.heavy_prompt_len > 0 ? o.heavy_prompt_len : o.prompt_len));
    for (size_t i = 0; i < choose.tokens.size(); ++i)
      choose.tokens[i] = static_cast<uint32_t>(1000 + index * 7919 + i);
    choose.fairness_id = spec.heavy ? "heavy" : "light";
  };
  r.max_tokens = [&](size_t) { return o.output_len; };
  r.done = [&](const bench::finished_request& f, picker::request_done&) {
    const auto& res = *f.result;
    auto& t = work[f.index].heavy ? out.heavy : out.light;
    t.ttft_ms.push_back(static_cast<double>(f.waited_ns + res.ttft_ns) / 1e6);
    t.wait_ms.push_back(static_cast<double>(f.waited_ns) / 1e6);
    t.pod_ttft_ms.push_back(static_cast<double>(res.ttft_ns) / 1e6);
    if (f.since_start_ns <= work.back().arrival_ns)
      t.served_tokens += res.prompt_tokens + res.completion_tokens;
    request_trace tr;
    tr.index = f.index;
    tr.heavy = work[f.index].heavy;
    tr.pod = f.pod;
    tr.arrival = work[f.index].arrival_ns;
    tr.dispatched = tr.arrival + f.waited_ns;
    tr.finished = f.since_start_ns;
    tr.at_pod = tr.finished - res.e2e_ns;
    tr.admitted = tr.at_pod + res.queue_ns;
    tr.first_token = tr.at_pod + res.ttft_ns;
    out.traces.push_back(std::move(tr));
  };
  bench::pool_spec pool;
  pool.picker_config = picker_config(m, o);
  pool.seed = o.seed;
  pool.pods = o.pods;
  pool.pod_settings = [&](int i) {
    return bench::bench_pod_settings(
        {{"model", "bench-model"},
         {"profile", o.profile},
         {"block-size", "16"},
         {"max-num-seqs", std::to_string(o.max_num_seqs)},
         {"max-model-len", "8192"},
         {"load-report-interval",
          std::to_string(static_cast<int64_t>(o.report_interval_ms * 1000)) + "us"}},
        i, o.seed, profiles);
  };
  out.failed = bench::run_replay(pool, r).failed;
  return out;
}

/// Where the light tenant's TTFT goes, from each request's trace: the wait in the picker's
/// queue, the way to its pod, the wait at the pod before its first step, and that step (its
/// prefill), with what shared the step: other prefills (requests admitted in it that emitted
/// their first token at its end) and decodes (requests past their first token still running).
struct breakdown {
  struct parts {
    double ttft = 0, picker_wait = 0, transit = 0, pod_queue = 0, prefill = 0;
    double co_prefills = 0, decodes = 0, on_pod = 0, ahead = 0;
  };
  parts p50, p90, around_p90;   ///< per part; around_p90: the mean over TTFT ranks p85..p95
  double shared_prefill = 0;    ///< share of prefill steps with another prefill
  double heavy_co_prefill = 0;  ///< share of prefill steps with a heavy prefill
  double queued_at_pod = 0;     ///< share that waited at the pod
  double pod_full = 0;          ///< share that found max-num-seqs requests on the pod
  size_t requests = 0;
};

breakdown break_down(const outcome& out, int max_num_seqs) {
  std::map<std::string, std::vector<const request_trace*>> by_pod;
  for (const auto& t : out.traces)
    by_pod[t.pod].push_back(&t);
  std::vector<breakdown::parts> light;
  breakdown b;
  for (const auto& t : out.traces) {
    if (t.heavy) continue;
    breakdown::parts p;
    p.ttft = static_cast<double>(t.first_token - t.arrival) / 1e6;
    p.picker_wait = static_cast<double>(t.dispatched - t.arrival) / 1e6;
    p.transit = static_cast<double>(t.at_pod - t.dispatched) / 1e6;
    p.pod_queue = static_cast<double>(t.admitted - t.at_pod) / 1e6;
    p.prefill = static_cast<double>(t.first_token - t.admitted) / 1e6;
    bool heavy_mate = false;
    for (const auto* o : by_pod[t.pod]) {
      if (o == &t) continue;
      if (o->admitted == t.admitted && o->first_token == t.first_token) {
        p.co_prefills++;
        heavy_mate = heavy_mate || o->heavy;
      } else if (o->first_token <= t.admitted && o->finished >= t.first_token) {
        p.decodes++;
      }
      if (o->at_pod <= t.at_pod && o->finished > t.at_pod) p.on_pod++;
      if (o->at_pod <= t.at_pod && o->admitted > t.at_pod) p.ahead++;
    }
    b.shared_prefill += p.co_prefills > 0;
    b.heavy_co_prefill += heavy_mate;
    b.queued_at_pod += t.admitted > t.at_pod;
    b.pod_full += p.on_pod >= max_num_seqs;
    light.push_back(p);
  }
  b.requests = light.size();
  if (light.empty()) return b;
  double n = static_cast<double>(light.size());
  b.shared_prefill /= n;
  b.heavy_co_prefill /= n;
  b.queued_at_pod /= n;
  b.pod_full /= n;
  auto part_percentile = [&](double breakdown::parts::*field, double q) {
    std::vector<double> v;
    for (const auto& p : light)
      v.push_back(p.*field);
    return bench::percentile(v, q);
  };
  for (auto field :
       {&breakdown::parts::ttft, &breakdown::parts::picker_wait, &breakdown::parts::transit,
        &breakdown::parts::pod_queue, &breakdown::parts::prefill, &breakdown::parts::co_prefills,
        &breakdown::parts::decodes, &breakdown::parts::on_pod, &breakdown::parts::ahead}) {
    b.p50.*field = part_percentile(field, 50);
    b.p90.*field = part_percentile(field, 90);
  }
  std::sort(light.begin(), light.end(),
            [](const auto& x, const auto& y) { return x.ttft < y.ttft; });
  size_t lo = static_cast<size_t>(0.85 * (n - 1) + 0.5),
         hi = static_cast<size_t>(0.95 * (n - 1) + 0.5);
  for (size_t i = lo; i <= hi; ++i) {
    const auto& p = light[i];
    auto& a = b.around_p90;
    a.ttft += p.ttft;
    a.picker_wait += p.picker_wait;
    a.transit += p.transit;
    a.pod_queue += p.pod_queue;
    a.prefill += p.prefill;
    a.co_prefills += p.co_prefills;
    a.decodes += p.decodes;
    a.on_pod += p.on_pod;
    a.ahead += p.ahead;
  }
  double k = static_cast<double>(hi - lo + 1);
  auto& a = b.around_p90;
  for (double* v : {&a.ttft, &a.picker_wait, &a.transit, &a.pod_queue, &a.prefill, &a.co_prefills,
                    &a.decodes, &a.on_pod, &a.ahead})
    *v /= k;
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fairness benchmark: two tenants, one 10x the other, in a saturated pool"};
  bool quick = false, show_breakdown = false;
  std::string json_path, profiles = INFERSTACK_SOURCE_DIR "/config/profiles";
  options o;
  app.add_flag("--quick", quick, "short run (CI smoke test)");
  app.add_option("--json", json_path, "write the figures as one flat JSON object");
  app.add_flag("--breakdown", show_breakdown,
               "also print where the light tenant's TTFT goes (picker queue, to the pod, pod "
               "queue, prefill step and its batch-mates)");
  app.add_option("--pods", o.pods, "simulated pods")->capture_default_str();
  app.add_option("--slots", o.slots, "requests a pod before the pool counts saturated")
      ->capture_default_str();
  app.add_option("--ceiling", o.ceiling,
                 "fair-share-ceiling-policy's ceiling in the + ceiling rows (saturation, (0, 1])")
      ->capture_default_str();
  app.add_option("--light-rate", o.light_rate, "light tenant's requests per second")
      ->capture_default_str();
  app.add_option("--ratio", o.ratio, "heavy tenant's rate over the light one's")
      ->capture_default_str();
  app.add_option("--seconds", o.seconds, "arrivals for this long (virtual time)")
      ->capture_default_str();
  app.add_option("--prompt-len", o.prompt_len, "prompt tokens")->capture_default_str();
  app.add_option("--heavy-prompt-len", o.heavy_prompt_len,
                 "the heavy tenant's prompt tokens (0: --prompt-len)")
      ->capture_default_str();
  app.add_option("--detector", o.detector,
                 "saturation detector: concurrency (at --slots) or utilization (llm-d's "
                 "utilization-detector, default thresholds)")
      ->check(CLI::IsMember({"concurrency", "utilization"}))
      ->capture_default_str();
  app.add_option("--report-interval-ms", o.report_interval_ms,
                 "the pods' load reports, at most one per interval (what the utilization "
                 "detector sees)")
      ->capture_default_str();
  app.add_option("--max-num-seqs", o.max_num_seqs,
                 "a pod's batch (0: --slots with the concurrency detector, vLLM's 256 with the "
                 "utilization one)")
      ->capture_default_str();
  app.add_flag("--queue-aware", o.queue_aware,
               "place by the pods' waiting queues too: queue-scorer (weight 2, as in llm-d's "
               "default profile) and, with --detector utilization, the detector as a filter");
  app.add_option("--output-len", o.output_len, "output tokens")->capture_default_str();
  app.add_option("--seed", o.seed, "workload and engine seed")->capture_default_str();
  app.add_option("--profiles", profiles, "latency profiles directory")->capture_default_str();
  app.add_option("--profile", o.profile, "the pods' latency profile")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (quick) o.seconds = std::min(o.seconds, 5.0);
  if (o.max_num_seqs <= 0) o.max_num_seqs = o.detector == "utilization" ? 256 : o.slots;

  struct row {
    const mode* m;
    double served_tokens_per_s;  ///< both tenants, finished by the last arrival
    double light_share, heavy_share, light_p50, light_p90, light_wait_p90, light_pod_p90, heavy_p90,
        wall_s;
    uint64_t failed;
    breakdown parts;
  };
  std::vector<row> rows;
  for (const auto& m : modes) {
    auto work = make_workload(o, m.with_heavy);
    auto wall = std::chrono::steady_clock::now();
    auto out = run_mode(m, o, work, profiles);
    double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
    double total = out.light.served_tokens + out.heavy.served_tokens;
    rows.push_back(
        {&m, total / o.seconds, total > 0 ? out.light.served_tokens / total : 0,
         total > 0 ? out.heavy.served_tokens / total : 0, bench::percentile(out.light.ttft_ms, 50),
         bench::percentile(out.light.ttft_ms, 90), bench::percentile(out.light.wait_ms, 90),
         bench::percentile(out.light.pod_ttft_ms, 90), bench::percentile(out.heavy.ttft_ms, 90),
         wall_s, out.failed, break_down(out, o.max_num_seqs)});
  }
  double alone_p90 = rows.front().light_p90;
  auto vs_alone = [&](double p90) { return alone_p90 > 0 ? p90 / alone_p90 : 0; };

  std::string saturation =
      o.detector == "utilization"
          ? std::string("utilization-detector (queueDepthThreshold 5, kvCacheUtilThreshold 0.8)")
          : "concurrency-detector at " + std::to_string(o.slots) + " requests a pod";
  std::printf(
      "fairness benchmark: %d pods (%s, max-num-seqs %d), saturation: %s; light %.1f req/s, "
      "heavy %.1f req/s (%.0fx), %d prompt (heavy %d) + %d output tokens, %.0f s of arrivals "
      "(%s, virtual time, seed %llu)%s\n",
      o.pods, o.profile.c_str(), o.max_num_seqs, saturation.c_str(), o.light_rate,
      o.light_rate * o.ratio, o.ratio, o.prompt_len,
      o.heavy_prompt_len > 0 ? o.heavy_prompt_len : o.prompt_len, o.output_len, o.seconds,
      quick ? "quick" : "full", static_cast<unsigned long long>(o.seed),
      o.queue_aware ? "; placement: active-request + queue-scorer" : "");
  std::printf("%-16s %11s %12s %12s %13s %13s %18s %16s %13s %16s %7s %7s\n", "mode",
              "served tok/s", "light share", "heavy share", "light p50 ms", "light p90 ms",
              "light queue p90 ms", "light pod p90 ms", "heavy p90 ms", "light p90/alone", "failed",
              "wall s");
  for (const auto& r : rows)
    std::printf(
        "%-16s %11.0f %11.1f%% %11.1f%% %13.1f %13.1f %18.1f %16.1f %13.1f %16.2f %7llu %7.2f\n",
        r.m->name, r.served_tokens_per_s, 100 * r.light_share, 100 * r.heavy_share, r.light_p50,
        r.light_p90, r.light_wait_p90, r.light_pod_p90, r.heavy_p90, vs_alone(r.light_p90),
        static_cast<unsigned long long>(r.failed), r.wall_s);
  if (show_breakdown) {
    std::printf(
        "\nthe light tenant's TTFT in parts (ms): p50 / p90 of each part, and the mean over the "
        "requests ranked p85..p95 by TTFT (~p90); its prefill step's batch-mates (other prefills, "
        "decodes) and the requests on its pod when it arrived\n");
    std::printf("%-16s %-7s %8s %12s %9s %10s %9s %11s %8s %8s %8s\n", "mode", "stat", "TTFT",
                "picker queue", "to pod", "pod queue", "prefill", "co-prefills", "decodes",
                "on pod", "ahead");
    for (const auto& r : rows) {
      auto line = [&](const char* stat, const breakdown::parts& p) {
        std::printf("%-16s %-7s %8.1f %12.1f %9.2f %10.1f %9.1f %11.2f %8.2f %8.2f %8.2f\n",
                    r.m->name, stat, p.ttft, p.picker_wait, p.transit, p.pod_queue, p.prefill,
                    p.co_prefills, p.decodes, p.on_pod, p.ahead);
      };
      line("p50", r.parts.p50);
      line("p90", r.parts.p90);
      line("~p90", r.parts.around_p90);
    }
    std::printf("%-16s %14s %18s %14s %16s\n", "mode", "shared prefill", "with heavy prefill",
                "queued at pod", "pod full at arr.");
    for (const auto& r : rows)
      std::printf("%-16s %13.1f%% %17.1f%% %13.1f%% %15.1f%%\n", r.m->name,
                  100 * r.parts.shared_prefill, 100 * r.parts.heavy_co_prefill,
                  100 * r.parts.queued_at_pod, 100 * r.parts.pod_full);
  }
  if (!json_path.empty()) {
    bench::json_report j;
    j.text("benchmark", "fairness");
    j.text("mode", quick ? "quick" : "full");
    j.number("pods", o.pods);
    j.number("slots", o.slots);
    j.text("detector", o.detector);
    j.number("queue_aware", o.queue_aware ? 1 : 0);
    j.number("max_num_seqs", o.max_num_seqs);
    j.number("heavy_prompt_len", o.heavy_prompt_len > 0 ? o.heavy_prompt_len : o.prompt_len);
    j.number("light_rate", o.light_rate);
    j.number("heavy_rate", o.light_rate * o.ratio);
    j.number("seconds", o.seconds);
    for (const auto& r : rows) {
      std::string k = r.m->key;
      j.number(k + "_served_tokens_per_s", r.served_tokens_per_s);
      j.number(k + "_light_token_share", r.light_share);
      j.number(k + "_heavy_token_share", r.heavy_share);
      j.number(k + "_light_ttft_p50_ms", r.light_p50);
      j.number(k + "_light_ttft_p90_ms", r.light_p90);
      j.number(k + "_light_queue_wait_p90_ms", r.light_wait_p90);
      j.number(k + "_light_pod_ttft_p90_ms", r.light_pod_p90);
      j.number(k + "_heavy_ttft_p90_ms", r.heavy_p90);
      j.number(k + "_light_p90_vs_alone", vs_alone(r.light_p90));
      j.number(k + "_failed", static_cast<double>(r.failed));
      // Where the light tenant's ~p90 TTFT goes (the mean over TTFT ranks p85..p95).
      const auto& a = r.parts.around_p90;
      j.number(k + "_light_p90_picker_queue_ms", a.picker_wait);
      j.number(k + "_light_p90_pod_queue_ms", a.pod_queue);
      j.number(k + "_light_p90_prefill_ms", a.prefill);
      j.number(k + "_light_p90_co_prefills", a.co_prefills);
      j.number(k + "_light_p90_decodes", a.decodes);
    }
    if (!j.write(json_path)) return 1;
  }
  for (const auto& r : rows)
    if (r.failed) return 1;
  return 0;
}
