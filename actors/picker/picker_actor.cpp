#include "actors/picker/picker_actor.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/picker/flow_control/flow_controller.hpp"
#include "actors/picker/flow_control/flow_metrics.hpp"
#include "actors/picker/pick_decision.hpp"
#include "actors/picker/pick_trace.hpp"
#include "actors/picker/replication/replica_link.hpp"
#include "actors/picker/replication/replica_state.hpp"
#include "actors/picker/scheduling/config_loader.hpp"
#include "actors/picker/scheduling/endpoint_picker.hpp"
#include "actors/picker/scheduling/kv_message_feed.hpp"
#include "actors/picker/scheduling/saturation.hpp"
#include "runtime/brief_mutex.hpp"
#include "runtime/kv_events.hpp"
#include "runtime/tracing/tracer.hpp"

namespace inferstack::actors::picker {

namespace {

using namespace std::chrono;

const prometheus::Histogram::BucketBoundaries duration_buckets{
    0.00001, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1};
/// llm-d-router v0.10's llm_d_epp_scheduler_e2e_duration_seconds buckets.
const prometheus::Histogram::BucketBoundaries llm_d_scheduler_buckets{
    0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1};
const prometheus::Histogram::BucketBoundaries ratio_buckets{0.0, 0.1, 0.2, 0.3, 0.4, 0.5,
                                                            0.6, 0.7, 0.8, 0.9, 1.0};
const prometheus::Histogram::BucketBoundaries bytes_buckets{
    0, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576};

/// Observations of one histogram series gathered under the picker's lock and handed to
/// Prometheus on the metrics tick: a Histogram::Observe per plugin per pick (a mutex and a
/// bucket search each) was a visible share of a pick. Counts and sums are exact; a scrape sees
/// them at most one metrics interval late, like the pool gauges.
class batched_histogram {
 public:
  batched_histogram(prometheus::Histogram& series,
                    const prometheus::Histogram::BucketBoundaries& bounds)
      : series_(series), bounds_(bounds), counts_(bounds.size() + 1, 0.0) {}

  void observe(double value) {
    // Prometheus' bucket: the first upper bound at or above the value (the last is +Inf).
    auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
    counts_[static_cast<size_t>(bucket)] += 1;
    sum_ += value;
    pending_ = true;
  }

  void flush() {
    if (!pending_) return;
    series_.ObserveMultiple(counts_, sum_);
    std::fill(counts_.begin(), counts_.end(), 0.0);
    sum_ = 0;
    pending_ = false;
  }

 private:
  prometheus::Histogram& series_;
  const prometheus::Histogram::BucketBoundaries& bounds_;
  std::vector<double> counts_;
  double sum_ = 0;
  bool pending_ = false;
};

/// The pool's metrics under GAIE/llm-d names (families are shared by every picker of the process).
struct picker_metrics {
  picker_metrics(prometheus::Registry& r, const std::string& pool)
      : pool(pool),
        requests(prometheus::BuildCounter()
                     .Name("inference_objective_request_total")
                     .Help("Counter of inference objective requests broken out for each model and "
                           "target model.")
                     .Register(r)),
        errors(prometheus::BuildCounter()
                   .Name("inference_objective_request_error_total")
                   .Help("Counter of inference objective requests errors broken out for each model "
                         "and target model.")
                   .Register(r)),
        attempts(prometheus::BuildCounter()
                     .Name("inference_extension_scheduler_attempts_total")
                     .Help("Total number of scheduling attempts.")
                     .Register(r)),
        e2e(prometheus::BuildHistogram()
                .Name("inference_extension_scheduler_e2e_duration_seconds")
                .Help("Scheduling latency distribution in seconds.")
                .Register(r)
                .Add({{"name", pool}}, duration_buckets),
            duration_buckets),
        llm_d_e2e(prometheus::BuildHistogram()
                      .Name("llm_d_epp_scheduler_e2e_duration_seconds")
                      .Help("End-to-end scheduling latency distribution in seconds.")
                      .Register(r)
                      .Add({{"name", pool}}, llm_d_scheduler_buckets),
                  llm_d_scheduler_buckets),
        plugin_duration(prometheus::BuildHistogram()
                            .Name("inference_extension_plugin_duration_seconds")
                            .Help("Plugin processing latency distribution in seconds for each "
                                  "extension point, plugin type and plugin name.")
                            .Register(r)),
        indexer_size(prometheus::BuildGauge()
                         .Name("inference_extension_prefix_indexer_size")
                         .Help("Size of the prefix indexer.")
                         .Register(r)
                         .Add({{"name", pool}})),
        hit_ratio(
            prometheus::BuildHistogram()
                .Name("inference_extension_prefix_indexer_hit_ratio")
                .Help("Ratio of prefix length matched to total prefix length in the cache lookup.")
                .Register(r)
                .Add({{"name", pool}}, ratio_buckets),
            ratio_buckets),
        hit_bytes(prometheus::BuildHistogram()
                      .Name("inference_extension_prefix_indexer_hit_bytes")
                      .Help("Length of the prefix match in number of bytes in the cache lookup.")
                      .Register(r)
                      .Add({{"name", pool}}, bytes_buckets),
                  bytes_buckets),
        ready_pods(prometheus::BuildGauge()
                       .Name("inference_pool_ready_pods")
                       .Help("The number of ready pods in the inference server pool.")
                       .Register(r)
                       .Add({{"name", pool}})),
        queue_family(prometheus::BuildGauge()
                         .Name("inference_pool_per_pod_queue_size")
                         .Help("The total number of requests pending in the model server queue for "
                               "each underlying pod.")
                         .Register(r)),
        average_kv(prometheus::BuildGauge()
                       .Name("inference_pool_average_kv_cache_utilization")
                       .Help("The average kv cache utilization for an inference server pool.")
                       .Register(r)
                       .Add({{"name", pool}})),
        average_queue(prometheus::BuildGauge()
                          .Name("inference_pool_average_queue_size")
                          .Help("The average number of requests pending in the model server queue.")
                          .Register(r)
                          .Add({{"name", pool}})),
        saturation(prometheus::BuildGauge()
                       .Name("inference_extension_flow_control_pool_saturation")
                       .Help("Saturation of the inference pool (1 or more: saturated).")
                       .Register(r)
                       .Add({{"inference_pool", pool}})),
        kv_gaps(prometheus::BuildCounter()
                    .Name("inferstack_picker_kv_event_gaps_total")
                    .Help("KV-event sequence gaps seen; each resets the pod's index entries.")
                    .Register(r)
                    .Add({{"name", pool}})) {}

  std::string pool;
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Counter>& errors;
  prometheus::Family<prometheus::Counter>& attempts;
  batched_histogram e2e;
  batched_histogram llm_d_e2e;  ///< the same picks, under llm-d-router's name and buckets
  prometheus::Family<prometheus::Histogram>& plugin_duration;
  prometheus::Gauge& indexer_size;
  batched_histogram hit_ratio;
  batched_histogram hit_bytes;
  prometheus::Gauge& ready_pods;
  prometheus::Family<prometheus::Gauge>& queue_family;
  prometheus::Gauge& average_kv;
  prometheus::Gauge& average_queue;
  prometheus::Gauge& saturation;
  prometheus::Counter& kv_gaps;

  /// By model (the model name is also the target model name here). The maps below are looked
  /// up on every pick, so their keys are found without building strings.
  std::map<std::string, prometheus::Counter*, std::less<>> request_counters;
  std::map<std::tuple<std::string, std::string, std::string>, prometheus::Counter*> error_counters;
  std::map<std::string, prometheus::Counter*, std::less<>> attempt_counters;
  /// By extension point and plugin: the picker and its plugins live as long as the actor.
  std::map<std::pair<extension_point, const plugin*>, std::unique_ptr<batched_histogram>> plugins;
  std::map<std::string, prometheus::Gauge*> queues;

  void flush_histograms() {
    e2e.flush();
    llm_d_e2e.flush();
    hit_ratio.flush();
    hit_bytes.flush();
    for (auto& [key, series] : plugins)
      series->flush();
  }

  template <class Map, class Key, class Make>
  static auto& get(Map& map, const Key& key, Make make) {
    auto it = map.find(key);
    if (it == map.end()) it = map.emplace(key, &make()).first;
    return *it->second;
  }
};

}  // namespace

/// Flow control (the flowControl gate): picks that wait while the pool is saturated, each
/// with the promise its caller waits on.
struct flow_queue {
  explicit flow_queue(flow_control::flow_control_settings s) : queues(std::move(s)) {}
  flow_control::flow_controller queues;
  std::unique_ptr<flow_control::flow_metrics> metrics;
  /// The gate's detector when the config chooses none (llm-d's default utilization-detector).
  utilization_detector default_detector{"utilization-detector", {}};
  struct waiter {
    choose_pod req;
    caf::typed_response_promise<chosen_pod> promise;
  };
  std::unordered_map<uint64_t, waiter> waiting;       ///< by ticket
  std::unordered_map<std::string, uint64_t> tickets;  ///< request id -> ticket
  uint64_t next_ticket = 0;
  int64_t timer_due_ns = 0;  ///< the TTL timer set for this time (0: none)
};

/// Everything the picker decides with, behind one lock: the actor's handlers and direct
/// callers on other threads take turns.
struct direct_picker::core {
  runtime::brief_mutex mutex;  ///< I/O threads pick at once: contention spins, not sleeps
  bool open = true;            ///< false once the actor has ended
  caf::actor_clock* clock = nullptr;
  picker_settings settings;
  picker_dependencies deps;
  std::unique_ptr<endpoint_picker> picker;
  std::unique_ptr<picker_metrics> metrics;
  std::map<std::string, pool_member> members;  ///< by pod name
  bool knows_pool = false;                     ///< a pool_membership has arrived
  kv_message_feed kv_feed;                     ///< last seq per KV topic
  schedule_result scratch;
  header_list headers;
  decision_ring decisions{0};  ///< the last settings.recent_decisions picks (spawn_picker sizes it)
  decision_ring explained{1};  ///< with none kept: the last pick asked to explain itself
  std::unique_ptr<flow_queue> flow;  ///< null: flow control off
  /// Replicas: this replica's journal and its peers' state (null: the pool's only picker).
  /// Declared after `picker`, whose index it observes, so it goes first.
  std::unique_ptr<replica_state> replica;
  /// A late joiner takes picks only once caught up (a peer's snapshot, or none to ask).
  bool caught_up = true;
  bool peers_known = false;  ///< a replica_peers has arrived
  bool asking = false;       ///< a snapshot request is out
  size_t next_peer = 0;      ///< the next peer to ask for a snapshot
  bool kv_replayed = false;  ///< see kv_caught_up()

  int64_t now_ns() const {
    return duration_cast<nanoseconds>(clock->now().time_since_epoch()).count();
  }
};

namespace {

using core = direct_picker::core;

struct picker_state {
  std::shared_ptr<core> shared;
};

using picker_pointer = picker_impl_actor::stateful_pointer<picker_state>;

/// Whether the picker has heard what its pods held when it started (their first KV replays
/// have ended, once it knows its pool). Stays true: a pod that joins later does not stop picks.
bool kv_caught_up(core& st) {
  if (!st.kv_replayed)
    st.kv_replayed = !st.deps.kv_first_replays_pending ||
                     (st.knows_pool && *st.deps.kv_first_replays_pending == 0);
  return st.kv_replayed;
}

void update_pool_metrics(core& st) {
  auto& m = *st.metrics;
  m.flush_histograms();
  auto now = st.now_ns();
  auto pm = st.picker->metrics(now);
  m.ready_pods.Set(static_cast<double>(pm.ready_endpoints));
  m.average_kv.Set(pm.average_kv_cache_utilization);
  m.average_queue.Set(pm.average_queue_size);
  m.saturation.Set(pm.saturation);
  m.indexer_size.Set(static_cast<double>(pm.approx_prefix_entries + pm.precise_prefix_keys));
  std::map<std::string, prometheus::Gauge*> still;
  for (auto id : st.picker->pool().ids()) {
    const auto& e = st.picker->pool().at(id);
    auto& g = picker_metrics::get(m.queues, e.name, [&]() -> prometheus::Gauge& {
      return m.queue_family.Add({{"name", m.pool}, {"model_server_pod", e.name}});
    });
    g.Set(e.load.waiting);
    still[e.name] = &g;
  }
  for (auto& [name, g] : m.queues)
    if (!still.count(name)) m.queue_family.Remove(g);
  m.queues = std::move(still);
}

void apply_membership(core& st, pool_membership& membership) {
  std::map<std::string, pool_member> next;
  for (auto& m : membership.members)
    next[m.pod] = m;
  for (auto& [name, old] : st.members)
    if (!next.count(name)) st.picker->remove_endpoint(name);
  for (auto& [name, m] : next) {
    st.picker->add_endpoint(endpoint_info{m.pod, m.address, m.labels});
    st.picker->set_ready(name, m.ready);
    st.picker->set_draining(name, m.draining);
  }
  st.members = std::move(next);
  st.decisions.endpoints_changed();
  st.explained.endpoints_changed();
  st.knows_pool = true;
  update_pool_metrics(st);
}

/// The request's InferenceObjective's spec.unattainableSloPolicy (unset without one).
slo_policy slo_policy_of(const core& st, const choose_pod& req) {
  if (req.objective.empty()) return slo_policy::unset;
  auto it = st.settings.objective_slo_policies.find(req.objective);
  return it == st.settings.objective_slo_policies.end() ? slo_policy::unset : it->second;
}

/// A request whose objective says it must not be served late (Queue, Reject) has until its
/// TTFT objective ends to leave the queue; 0: no such deadline.
int64_t slo_deadline(const core& st, const choose_pod& req, int64_t arrived_ns) {
  auto policy = slo_policy_of(st, req);
  if (req.slo_ttft_ms <= 0 || (policy != slo_policy::queue && policy != slo_policy::reject))
    return 0;
  return arrived_ns + static_cast<int64_t>(req.slo_ttft_ms * 1e6);
}

/// One pick, with its metrics: the chosen pod, or the error the EPP would answer. `record`: keep
/// its decision even when none are kept (a traced pick describes its span with it).
caf::expected<chosen_pod> choose(core& st, choose_pod& req, bool record = false) {
  if (st.settings.await_membership && !st.knows_pool)
    return caf::make_error(picker_errc::not_ready,
                           "the picker of " + st.settings.pool + " has no membership yet");
  if (!st.caught_up)
    return caf::make_error(picker_errc::not_ready, "the picker replica of " + st.settings.pool +
                                                       " is catching up from a peer");
  if (!kv_caught_up(st))
    return caf::make_error(picker_errc::not_ready, "the picker of " + st.settings.pool +
                                                       " is replaying its pods' KV events");
  auto& m = *st.metrics;
  auto now = st.now_ns();
  st.headers.clear();
  if (!req.session.empty()) st.headers.emplace_back("x-session-token", req.session);
  pick_request pr;
  pr.request_id = req.request_id;
  pr.model = req.model;
  pr.tokens = std::move(req.tokens);
  pr.priority = req.priority;
  pr.headers = &st.headers;
  pr.slo_ttft_ms = req.slo_ttft_ms;
  pr.slo_tpot_ms = req.slo_tpot_ms;
  pr.unattainable_slo = slo_policy_of(st, req);
  std::vector<std::string> subset;
  if (!req.exclude.empty()) {
    // A retry: every member but the pods already tried.
    for (auto& [name, member] : st.members)
      if (std::find(req.exclude.begin(), req.exclude.end(), name) == req.exclude.end())
        subset.push_back(name);
    pr.subset = &subset;
  }
  auto& result = st.scratch;
  st.picker->schedule(pr, now, result);
  // The decision, kept for GET /debug/picks and the console once the cycle is done with; the
  // ring that has it (null: none kept and none asked for).
  auto keep_decision = [&]() -> decision_ring* {
    auto* ring = st.decisions.capacity() > 0 ? &st.decisions
                 : req.explain || record     ? &st.explained
                                             : nullptr;
    if (!ring) return nullptr;
    decision_input din;
    din.request_id = req.request_id;
    din.model = req.model;
    din.pool = st.settings.pool;
    din.excluded = &req.exclude;
    din.unix_ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    ring->record(din, result, *st.picker);
    return ring;
  };
  picker_metrics::get(m.request_counters, req.model, [&]() -> prometheus::Counter& {
    return m.requests.Add({{"model_name", req.model}, {"target_model_name", req.model}});
  }).Increment();
  m.e2e.observe(static_cast<double>(result.duration_ns) / 1e9);
  m.llm_d_e2e.observe(static_cast<double>(result.duration_ns) / 1e9);
  for (const auto& t : result.timings) {
    auto& series = m.plugins[std::make_pair(t.point, t.source)];
    if (!series)
      series = std::make_unique<batched_histogram>(
          m.plugin_duration.Add({{"extension_point", std::string(to_string(t.point))},
                                 {"plugin_type", t.source->type()},
                                 {"plugin_name", t.source->name()}},
                                duration_buckets),
          duration_buckets);
    series->observe(static_cast<double>(t.duration_ns) / 1e9);
  }
  std::string_view status = result.ok() ? "success" : "failure";
  picker_metrics::get(m.attempt_counters, status, [&]() -> prometheus::Counter& {
    return m.attempts.Add({{"status", std::string(status)}});
  }).Increment();
  if (!result.ok()) {
    auto code = std::string(dropped_reason(result.status));
    picker_metrics::get(
        m.error_counters, std::make_tuple(req.model, req.model, code),
        [&]() -> prometheus::Counter& {
          return m.errors.Add(
              {{"model_name", req.model}, {"target_model_name", req.model}, {"error_code", code}});
        })
        .Increment();
    if (st.deps.log && st.deps.log->should_log(spdlog::level::debug))
      st.deps.log->debug("request {}: pool {}: no pick ({}): {}", req.request_id, st.settings.pool,
                         code, result.reason);
    keep_decision();
    switch (result.status) {
      case pick_status::no_endpoints:
        return caf::make_error(picker_errc::no_endpoints, result.reason);
      case pick_status::shed:
        return caf::make_error(picker_errc::saturated, result.reason);
      default:
        if (result.slo != slo_miss::none)
          return caf::make_error(picker_errc::slo_unattainable,
                                 "no pod is predicted to meet the request's latency objectives");
        return caf::make_error(picker_errc::all_filtered, result.reason);
    }
  }
  auto report = st.picker->pre_request(pr, result, now);
  if (report.prefix_observed) {
    m.hit_ratio.observe(report.hit_ratio);
    m.hit_bytes.observe(static_cast<double>(report.hit_bytes));
  }
  if (st.replica) {  // the index adds pre_request made are journaled: they go with this time
    st.replica->note_pick(result.primary().name, now);
    if (result.prefill) st.replica->note_pick(result.prefill->name, now);
  }
  auto* kept = keep_decision();
  chosen_pod out;
  out.pod = result.primary().name;
  auto it = st.members.find(out.pod);
  if (it != st.members.end()) out.endpoint = it->second.endpoint;
  if (result.prefill) {
    out.prefill_pod = result.prefill->name;
    auto p = st.members.find(out.prefill_pod);
    if (p != st.members.end()) out.prefill_endpoint = p->second.endpoint;
  }
  if (req.explain && kept) out.decision = header_json(kept->last());
  if (st.deps.log && st.deps.log->should_log(spdlog::level::debug))
    st.deps.log->debug("request {}: pool {}: picked {}{}{}", req.request_id, st.settings.pool,
                       out.pod, out.prefill_pod.empty() ? "" : ", prefill on ", out.prefill_pod);
  return out;
}

/// A pick, recorded as a child span of its caller's when the caller's trace is sampled, its
/// attributes from the pick's decision. Tracing off: one branch. `ended`: where the ended span
/// goes for the caller to hand over once it has let go of the picker's lock (the span's encoding
/// is then no other thread's wait); null: handed over at once.
caf::expected<chosen_pod> pick(core& st, choose_pod& req,
                               std::optional<tracing::span>* ended = nullptr) {
  if (!st.deps.tracer || req.traceparent.empty()) return choose(st, req);
  auto span = st.deps.tracer->child(req.traceparent, req.tracestate, "pick");
  if (!span) return choose(st, req);
  const auto& ring = st.decisions.capacity() > 0 ? st.decisions : st.explained;
  auto before = ring.recorded();
  auto out = choose(st, req, true);
  pick_summary summary;
  if (ring.recorded() != before && ring.summarize_last(summary)) {
    describe_pick(*span, std::move(summary));
  } else {  // refused before scheduling (no membership yet)
    std::string code = "refused";
    if (!out && out.error().category() == caf::atom("picker"))
      code = to_string(static_cast<picker_errc>(out.error().code()));
    describe_refused_pick(*span, req, st.settings.pool, code, "no decision was made");
  }
  span->end_unix_nano = st.deps.tracer->now();
  if (ended)
    *ended = std::move(span);
  else
    st.deps.tracer->submit(std::move(*span));
  return out;
}

// -- flow control -------------------------------------------------------------------------------

/// llm-d's flow of a request without x-llm-d-inference-fairness-id.
const std::string default_flow = "default-flow";

const std::string& flow_of(const choose_pod& req) {
  return req.fairness_id.empty() ? default_flow : req.fairness_id;
}

/// A request naming one of the pool's InferenceObjectives gets its priority.
void resolve_priority(const core& st, choose_pod& req) {
  if (req.objective.empty()) return;
  auto it = st.settings.objective_priorities.find(req.objective);
  if (it != st.settings.objective_priorities.end()) req.priority = it->second;
  auto slo = st.settings.objective_slos.find(req.objective);
  if (slo != st.settings.objective_slos.end()) {
    if (req.slo_ttft_ms <= 0) req.slo_ttft_ms = slo->second.first;
    if (req.slo_tpot_ms <= 0) req.slo_tpot_ms = slo->second.second;
  }
}

bool has_endpoints(const core& st) {
  const auto& pool = st.picker->pool();
  for (auto id : pool.ids())
    if (pool.schedulable(pool.at(id))) return true;
  return false;
}

/// The pool's saturation, by the config's detector or llm-d's default utilization-detector
/// when it chooses none; dispatch waits from 1.0 on.
double saturation(const core& st, int64_t now) {
  if (st.picker->detector()) return st.picker->saturation(now);
  return st.flow->default_detector.saturation(st.picker->pool(), now);
}

bool saturated(const core& st, int64_t now) {
  return saturation(st, now) >= 1.0;
}

/// Whether flows over their fair share may be dispatched at the pool's `saturation`: below the
/// fair-share ceiling (always, without fair-share-ceiling-policy).
bool over_share_may_go(const core& st, double saturation) {
  double ceiling = st.flow->queues.settings().over_share_ceiling;
  return ceiling >= 1.0 || saturation < ceiling;
}

/// A pick that leaves flow control to be scheduled. `queued`: it waited (and its prompt was
/// charged to its flow when it left the queue); else it is charged now. nullopt: no pod is
/// predicted to meet its latency objectives yet and its InferenceObjective says to wait for one
/// (Queue): it stays in (or goes to) the queue.
std::optional<caf::expected<chosen_pod>> dispatch(core& st, choose_pod& req, int64_t now,
                                                  int64_t arrived_ns, bool queued) {
  auto& fq = *st.flow;
  auto flow = flow_of(req);
  auto prompt = req.tokens.size();
  // The time it waited is gone from its TTFT objective.
  double objective = req.slo_ttft_ms;
  double left = objective - static_cast<double>(now - arrived_ns) / 1e6;
  if (objective > 0 && left <= 0 && slo_deadline(st, req, arrived_ns) > 0) {
    fq.metrics->outcome(flow, req.priority, "EvictedSloUnattainable",
                        static_cast<double>(now - arrived_ns) / 1e9);
    return caf::make_error(picker_errc::slo_unattainable,
                           "the request waited past its latency objective");
  }
  if (objective > 0) req.slo_ttft_ms = left;
  auto out = pick(st, req);
  req.slo_ttft_ms = objective;
  bool late = !out && out.error().category() == caf::atom("picker") &&
              out.error().code() == static_cast<uint8_t>(picker_errc::slo_unattainable);
  if (late && st.scratch.slo == slo_miss::busy && slo_policy_of(st, req) == slo_policy::queue)
    return std::nullopt;
  if (out) {
    if (!queued) fq.queues.charge(flow, req.priority, prompt, 0, now);
    fq.queues.track(req.request_id, flow, req.priority, now);  // VTC: output charged when done
  }
  fq.metrics->outcome(flow, req.priority, late ? "RejectedSloUnattainable" : "Dispatched",
                      static_cast<double>(now - arrived_ns) / 1e9);
  return out;
}

/// Flow control's word on a pick: an answer now (scheduled, or refused), or nullopt: it waits.
std::optional<caf::expected<chosen_pod>> admit(core& st, choose_pod& req, int64_t now) {
  // Nothing to wait for: no pool known yet, or no endpoint (the gateway waits for one to start).
  if ((st.settings.await_membership && !st.knows_pool) || !st.caught_up || !kv_caught_up(st) ||
      !has_endpoints(st))
    return pick(st, req);
  double load = saturation(st, now);
  bool full = load >= 1.0;
  if (!full && st.flow->queues.empty() &&
      (over_share_may_go(st, load) || !st.flow->queues.over_share(flow_of(req), req.priority)))
    return dispatch(st, req, now, now, false);
  if (full && req.priority < 0) {  // sheddable: refused at once
    st.flow->metrics->outcome(flow_of(req), req.priority, "RejectedSaturated", 0);
    return caf::make_error(picker_errc::saturated, "system saturated, sheddable request dropped");
  }
  return std::nullopt;
}

template <class T>
void deliver(caf::typed_response_promise<chosen_pod>& promise, caf::expected<T> out) {
  if (out)
    promise.deliver(std::move(*out));
  else
    promise.deliver(std::move(out.error()));
}

flow_queue::waiter take_waiting(flow_queue& fq, uint64_t ticket) {
  auto it = fq.waiting.find(ticket);
  auto w = std::move(it->second);
  fq.waiting.erase(it);
  auto t = fq.tickets.find(w.req.request_id);
  if (t != fq.tickets.end() && t->second == ticket) fq.tickets.erase(t);
  return w;
}

/// Every waiting pick answered at once: the pool has no endpoint left (503, and the gateway
/// waits for a pod to start), or the picker ends.
void evict_all(core& st, int64_t now, picker_errc code, std::string_view outcome) {
  auto& fq = *st.flow;
  for (auto& q : fq.queues.take_all()) {
    auto w = take_waiting(fq, q.ticket);
    fq.metrics->outcome(q.flow, q.priority, outcome,
                        static_cast<double>(now - q.enqueued_ns) / 1e9);
    w.promise.deliver(caf::make_error(
        code, "InferencePool " + st.settings.pool + " has no ready endpoint for queued requests"));
  }
}

/// Waiting picks go, best first, while the pool has room (after load or KV events, a
/// completion, a membership change, an arrival). A pick no pod can serve in time yet (Queue)
/// keeps its place for the next try; those behind it go on.
void dispatch_waiting(core& st) {
  if (!st.flow || st.flow->queues.empty()) return;
  auto& fq = *st.flow;
  auto now = st.now_ns();
  if (!has_endpoints(st))
    return evict_all(st, now, picker_errc::no_endpoints, "EvictedNoEndpoints");
  std::vector<flow_control::queued_request> held;
  for (double load; !fq.queues.empty() && (load = saturation(st, now)) < 1.0;) {
    auto q = fq.queues.pop(now, over_share_may_go(st, load));
    if (!q) break;  // only flows over their fair share wait, and the pool is at the ceiling
    auto out = dispatch(st, fq.waiting.at(q->ticket).req, now, q->enqueued_ns, true);
    if (!out) {
      held.push_back(std::move(*q));
      continue;
    }
    auto w = take_waiting(fq, q->ticket);
    deliver(w.promise, std::move(*out));
  }
  for (auto it = held.rbegin(); it != held.rend(); ++it)
    fq.queues.requeue(*it);
}

/// The TTL timer, set for the next deadline unless one is set for then or sooner.
void arm_ttl(picker_pointer self, core& st, int64_t now) {
  auto& fq = *st.flow;
  auto due = fq.queues.next_expiry();
  if (!due || (fq.timer_due_ns != 0 && fq.timer_due_ns <= *due)) return;
  fq.timer_due_ns = *due;
  self->delayed_send(self, nanoseconds(std::max<int64_t>(0, *due - now)), atoms::timeout_atom_v);
}

/// A pick that must wait: queued with a promise, or refused when its band or the whole is full
/// (llm-d: 429 rejected-saturated).
caf::result<chosen_pod> enqueue(picker_pointer self, core& st, choose_pod& req, int64_t now) {
  auto& fq = *st.flow;
  auto ticket = ++fq.next_ticket;
  const auto& flow = flow_of(req);
  // The picker sees tokens, not the body: its size taken as llm-d's estimate, 4 bytes a token.
  uint64_t bytes = 4 * req.tokens.size();
  if (!fq.queues.enqueue(ticket, flow, req.priority, bytes, req.tokens.size(), now,
                         slo_deadline(st, req, now))) {
    fq.metrics->outcome(flow, req.priority, "RejectedCapacity", 0);
    return caf::make_error(picker_errc::saturated, "flow control queue at capacity");
  }
  auto promise = self->make_response_promise<chosen_pod>();
  fq.tickets[req.request_id] = ticket;
  fq.waiting.emplace(ticket, flow_queue::waiter{std::move(req), promise});
  arm_ttl(self, st, now);
  return promise;
}

/// Waiting picks past their TTL answered: llm-d's 429 rejected-ttl-expired (503 when the pool
/// has no endpoint left).
void expire_waiting(core& st, int64_t now) {
  auto& fq = *st.flow;
  bool empty = !has_endpoints(st);
  for (auto& q : fq.queues.expire(now)) {
    auto w = take_waiting(fq, q.ticket);
    auto wait_s = static_cast<double>(now - q.enqueued_ns) / 1e9;
    auto deadline = slo_deadline(st, w.req, q.enqueued_ns);
    if (!empty && deadline > 0 && deadline <= now) {  // its TTFT objective ran out first
      fq.metrics->outcome(q.flow, q.priority, "EvictedSloUnattainable", wait_s);
      w.promise.deliver(caf::make_error(picker_errc::slo_unattainable,
                                        "no pod could meet the request's latency objective "
                                        "before it ran out"));
      continue;
    }
    fq.metrics->outcome(q.flow, q.priority, empty ? "EvictedNoEndpoints" : "EvictedTTL", wait_s);
    w.promise.deliver(caf::make_error(empty ? picker_errc::no_endpoints : picker_errc::ttl_expired,
                                      "request timed out in queue"));
  }
}

/// A request is done: VTC charges its output to its flow; its pod has room again.
void note_done(core& st, const request_done& done) {
  if (st.flow) st.flow->queues.done(done.request_id, done.completion_tokens, st.now_ns());
}

// -- replicas -----------------------------------------------------------------------------------

/// A late joiner asks its peers for a snapshot, one at a time, until one answers; with none
/// left to ask it takes picks with what it has (its own KV events, its peers' next batches).
void catch_up(picker_pointer self, core& st) {
  if (st.caught_up || st.asking || !st.peers_known || !st.knows_pool) return;
  const auto& peers = st.replica->peers();
  while (st.next_peer < peers.size()) {
    auto peer = peers[st.next_peer++];
    auto handle = st.deps.replicas ? st.deps.replicas->reach(peer) : caf::actor{};
    if (!handle) continue;
    st.asking = true;
    auto timeout = nanoseconds(st.replica->settings().snapshot_timeout_ns);
    self->request(caf::actor_cast<replica_actor>(handle), timeout,
                  replica_snapshot_request{st.settings.pool, st.replica->settings().replica})
        .then(
            [self, name = peer.name](replica_snapshot& snapshot) {
              auto& st = *self->state.shared;
              std::lock_guard lock{st.mutex};
              st.asking = false;
              st.replica->apply(snapshot, st.now_ns());
              st.caught_up = true;
              if (st.deps.log)
                st.deps.log->info("pool {}: replica {} caught up from {} ({} index entries)",
                                  st.settings.pool, st.replica->settings().replica, name,
                                  snapshot.index.size());
              dispatch_waiting(st);
            },
            [self, name = peer.name](caf::error& err) {
              auto& st = *self->state.shared;
              std::lock_guard lock{st.mutex};
              st.asking = false;
              if (st.deps.log)
                st.deps.log->warn("pool {}: no snapshot from replica {}: {}", st.settings.pool,
                                  name, caf::to_string(err));
              catch_up(self, st);
            });
    return;
  }
  st.caught_up = true;  // nobody to ask (the first replica), or nobody answered
  if (st.deps.log && !peers.empty())
    st.deps.log->warn("pool {}: replica {} takes picks without a peer's snapshot", st.settings.pool,
                      st.replica->settings().replica);
  dispatch_waiting(st);
}

picker_impl_actor::behavior_type picker_impl(picker_pointer self, std::shared_ptr<core> shared) {
  self->state.shared = shared;
  // Direct callers hear that the picker has ended (and ask the actor, which says so too).
  self->attach_functor([shared] {
    std::lock_guard lock{shared->mutex};
    shared->open = false;
    shared->metrics->flush_histograms();
  });
  self->delayed_send(self, nanoseconds(shared->settings.metrics_interval_ns), atoms::tick_atom_v);
  if (shared->replica)
    self->delayed_send(self, nanoseconds(shared->replica->settings().interval_ns),
                       atoms::flush_atom_v);

  return {
      [self](choose_pod& req) -> caf::result<chosen_pod> {
        auto& st = *self->state.shared;
        std::lock_guard lock{st.mutex};
        resolve_priority(st, req);
        if (!st.flow) return pick(st, req);
        dispatch_waiting(st);  // those waiting go first
        auto now = st.now_ns();
        if (auto answer = admit(st, req, now)) return std::move(*answer);
        auto waiting = enqueue(self, st, req, now);
        // With room in the pool only picks held for their latency objective wait: this one
        // may go now, in its turn.
        if (!saturated(st, now)) dispatch_waiting(st);
        return waiting;
      },
      [self](cancel_pick& cancel) {
        auto& st = *self->state.shared;
        std::lock_guard lock{st.mutex};
        if (!st.flow) return;
        auto& fq = *st.flow;
        auto t = fq.tickets.find(cancel.request_id);
        if (t == fq.tickets.end()) return;  // not waiting (dispatched, answered, or never here)
        auto ticket = t->second;
        auto q = fq.queues.cancel(ticket);
        auto w = take_waiting(fq, ticket);
        fq.metrics->outcome(q->flow, q->priority, "EvictedContextCancelled",
                            static_cast<double>(st.now_ns() - q->enqueued_ns) / 1e9);
        w.promise.deliver(caf::make_error(picker_errc::cancelled, "the client disconnected"));
      },
      [self](atoms::timeout_atom) {
        auto& st = *self->state.shared;
        std::lock_guard lock{st.mutex};
        if (!st.flow) return;
        st.flow->timer_due_ns = 0;
        auto now = st.now_ns();
        expire_waiting(st, now);
        arm_ttl(self, st, now);
      },
      [self](request_done& done) {
        auto& st = *self->state.shared;
        std::lock_guard lock{st.mutex};
        st.picker->observe_latency(done.request_id, done.ttft_ns, done.itl_ns);
        st.picker->response_complete(done.request_id, st.now_ns());
        note_done(st, done);
        dispatch_waiting(st);
      },
      [self](pool_membership& membership) {
        auto& st = *self->state.shared;
        std::lock_guard lock{st.mutex};
        apply_membership(st, membership);
        if (st.replica) {
          st.replica->membership_changed();
          catch_up(self, st);
        }
        dispatch_waiting(st);
      },
      [self](atoms::flush_atom) {
        auto& st = *self->state.shared;
        std::optional<replica_batch> batch;
        {
          std::lock_guard lock{st.mutex};
          if (st.replica) batch = st.replica->take_batch(st.now_ns());
        }
        if (batch && st.deps.replicas) st.deps.replicas->publish(*batch);
        if (st.replica)
          self->delayed_send(self, nanoseconds(st.replica->settings().interval_ns),
                             atoms::flush_atom_v);
      },
      [self](replica_batch& batch) {
        auto& st = *self->state.shared;
        std::lock_guard lock{st.mutex};
        if (!st.replica) return;
        st.replica->apply(batch, st.now_ns());
        dispatch_waiting(st);
      },
      [self](replica_snapshot_request&) -> replica_snapshot {
        auto& st = *self->state.shared;
        std::lock_guard lock{st.mutex};
        if (!st.replica) return replica_snapshot{st.settings.pool, "", {}, {}, {}};
        return st.replica->snapshot();
      },
      [self](replica_peers& peers) {
        auto& st = *self->state.shared;
        {
          std::lock_guard lock{st.mutex};
          if (!st.replica || peers.pool != st.settings.pool) return;
          st.replica->set_peers(peers.peers);
          st.peers_known = true;
          catch_up(self, st);
          dispatch_waiting(st);
        }
        if (st.deps.replicas) st.deps.replicas->peers_changed(peers.peers);
      },
      [self](pod::load_report& report) {
        auto& st = *self->state.shared;
        load_report lr;
        lr.waiting = static_cast<int>(report.waiting);
        lr.running = static_cast<int>(report.running);
        lr.kv_usage = report.kv_usage;
        lr.in_flight_tokens = static_cast<int64_t>(report.inflight_tokens);
        lr.max_num_seqs = static_cast<int>(report.max_num_seqs);
        lr.block_size = static_cast<int>(report.block_size);
        lr.num_gpu_blocks = static_cast<int>(report.num_gpu_blocks);
        lr.max_loras = static_cast<int>(report.max_loras);
        lr.active_loras = report.running_loras;
        lr.waiting_loras = report.waiting_loras;
        lr.lora_residency = report.lora_residency;
        lr.gpu_loras = report.gpu_loras;
        lr.cpu_loras = report.cpu_loras;
        lr.base_model = report.model;
        lr.step = {report.step_overhead_ns, report.prefill_overhead_ns, report.prefill_ns_per_token,
                   report.decode_ns_per_sequence, report.attention_ns_per_kv_token};
        std::lock_guard lock{st.mutex};
        st.picker->update_load(report.pod, lr, st.now_ns());
        if (report.draining) st.picker->set_draining(report.pod, true);
        dispatch_waiting(st);
      },
      [self](pod::kv_event_message& msg) {
        auto& st = *self->state.shared;
        auto message = decode_kv_message(msg.topic, msg.payload);  // outside the lock
        if (!message) return;
        std::lock_guard lock{st.mutex};
        auto applied = st.kv_feed.apply(*st.picker, msg.topic, msg.seq, *message, st.now_ns());
        if (applied.gap) {
          st.metrics->kv_gaps.Increment();
          if (st.deps.log)
            st.deps.log->warn("pool {}: KV events of {} jumped from {} to {}: index reset",
                              st.settings.pool, message->pod, applied.last_seq, msg.seq);
        }
        if (!applied.applied) {
          if (st.deps.log)
            st.deps.log->warn("pool {}: bad KV batch from {}: {}", st.settings.pool, message->pod,
                              message->error);
          return;
        }
        dispatch_waiting(st);
      },
      [self](recent_picks& ask) {
        auto& st = *self->state.shared;
        pick_decisions out;
        out.pool = st.settings.pool;
        std::lock_guard lock{st.mutex};
        out.decisions = st.decisions.recent(ask.limit, ask.request_id);
        return out;
      },
      [self](atoms::tick_atom) {
        auto& st = *self->state.shared;
        {
          std::lock_guard lock{st.mutex};
          update_pool_metrics(st);
          if (st.flow) {
            expire_waiting(st, st.now_ns());  // also forgets idle flows
            st.flow->metrics->update(st.flow->queues.stats());
          }
        }
        self->delayed_send(self, nanoseconds(st.settings.metrics_interval_ns), atoms::tick_atom_v);
      },
  };
}

}  // namespace

size_t recent_decisions_of(const picker_settings& settings) {
  if (!settings.config) return settings.recent_decisions;
  const auto& annotations = settings.config->meta.annotations;
  auto it = annotations.find(std::string(recent_picks_annotation));
  if (it == annotations.end()) return settings.recent_decisions;
  size_t n = 0;
  const auto& text = it->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n > 1'000'000)
    throw std::invalid_argument("metadata.annotations." + std::string(recent_picks_annotation) +
                                ": a whole number of decisions to keep (0 to 1000000), not '" +
                                text + "'");
  return n;
}

std::optional<caf::expected<chosen_pod>> direct_picker::choose(choose_pod req) {
  if (!core_) return std::nullopt;     // never connected to a picker
  std::optional<tracing::span> ended;  // the pick's span: handed over once the lock is let go
  std::optional<caf::expected<chosen_pod>> out;
  {
    std::lock_guard lock{core_->mutex};
    if (!core_->open) return std::nullopt;
    resolve_priority(*core_, req);
    if (core_->flow) {
      if (!core_->flow->queues.empty()) return std::nullopt;  // others wait: the actor's queue
      return admit(*core_, req, core_->now_ns());             // nullopt: this one must wait too
    }
    out = picker::pick(*core_, req, &ended);
  }
  if (ended) core_->deps.tracer->submit(std::move(*ended));
  return out;
}

std::optional<pick_decisions> direct_picker::recent(const recent_picks& ask) {
  if (!core_) return std::nullopt;
  pick_decisions out;
  std::lock_guard lock{core_->mutex};
  if (!core_->open) return std::nullopt;
  out.pool = core_->settings.pool;
  out.decisions = core_->decisions.recent(ask.limit, ask.request_id);
  return out;
}

std::optional<replication_stats> direct_picker::replication() const {
  if (!core_) return std::nullopt;
  std::lock_guard lock{core_->mutex};
  if (!core_->open || !core_->replica) return std::nullopt;
  return core_->replica->stats();
}

bool direct_picker::caught_up() const {
  if (!core_) return false;
  std::lock_guard lock{core_->mutex};
  return core_->open && core_->caught_up && kv_caught_up(*core_);
}

bool direct_picker::done(const request_done& done) {
  if (!core_) return false;
  std::lock_guard lock{core_->mutex};
  if (!core_->open) return false;
  // Picks wait that this completion may let go: the actor dispatches them, so it hears it.
  if (core_->flow && !core_->flow->queues.empty()) return false;
  core_->picker->observe_latency(done.request_id, done.ttft_ns, done.itl_ns);
  core_->picker->response_complete(done.request_id, core_->now_ns());
  note_done(*core_, done);
  return true;
}

picker_impl_actor spawn_picker(caf::actor_system& sys, picker_settings settings,
                               picker_dependencies deps) {
  if (!deps.registry) deps.registry = std::make_shared<prometheus::Registry>();
  auto shared = std::make_shared<core>();
  shared->clock = &sys.clock();
  picker_options options;
  options.seed = settings.seed;
  options.staleness_ns = settings.staleness_ns;
  options.clock = [c = shared.get()] { return c->now_ns(); };
  // Built before spawning so a bad config is an error at the caller, not a dead actor.
  auto built = build_endpoint_picker(settings.config.get(), options);
  if (!built.ok()) throw std::invalid_argument(built.error_text());
  shared->picker = std::move(built.picker);
  shared->metrics = std::make_unique<picker_metrics>(*deps.registry, settings.pool);
  shared->decisions = decision_ring(recent_decisions_of(settings));
  if (settings.config) {
    std::vector<config::problem> problems;
    auto fc = flow_control::read_flow_control(*settings.config, problems);
    if (!problems.empty()) {
      std::string text;
      for (const auto& p : problems)
        text += p.to_string() + "\n";
      throw std::invalid_argument(text);
    }
    if (fc.enabled) {
      shared->flow = std::make_unique<flow_queue>(std::move(fc));
      shared->flow->metrics =
          std::make_unique<flow_control::flow_metrics>(*deps.registry, settings.pool);
    }
  }
  if (settings.replication) {
    shared->replica =
        std::make_unique<replica_state>(*settings.replication, settings.pool, *shared->picker);
    shared->caught_up = !settings.replication->catch_up;
  }
  if (deps.direct) deps.direct->core_ = shared;
  deps.direct = nullptr;  // the core must not own the handle that owns it
  shared->settings = std::move(settings);
  shared->deps = std::move(deps);
  return sys.spawn(picker_impl, std::move(shared));
}

}  // namespace inferstack::actors::picker
