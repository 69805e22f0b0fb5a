#include "actors/pod/pod_actor.hpp"

#include <algorithm>
#include <deque>
#include <random>
#include <set>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/pod/engine/engine.hpp"
#include "actors/pod/generate_trace.hpp"
#include "actors/pod/pod_metrics.hpp"
#include "actors/pod/response_text.hpp"
#include "openai/tool_calls.hpp"
#include "runtime/kv_events.hpp"
#include "runtime/tokenizer.hpp"
#include "runtime/tracing/tracer.hpp"

namespace inferstack::actors::pod {

namespace {

using namespace std::chrono;

struct choice_state {
  uint64_t seq_id = 0;
  std::vector<std::string> pieces;  ///< planned output, one piece per token
  std::string finish_reason;
  uint32_t emitted = 0;
  /// Tokens the engine runs: all the pieces, or the part of a long echo that fits the context.
  uint32_t engine_tokens = 0;
  bool finished = false;
  int64_t last_token_ns = 0;
  /// Answered with tool calls: the calls (openai::tool_calls_json) and the tokens the simulator
  /// counts for them besides their arguments (3 per call: name, id, type).
  std::string tool_calls;
  uint32_t extra_tokens = 0;
};

struct request_state {
  std::string request_id;
  caf::strong_actor_ptr requester;
  caf::typed_response_promise<generate_result> promise;
  std::string display_model;
  bool stream = false;
  uint32_t window = 64;
  uint32_t in_flight = 0;           ///< chunks sent and not acked
  std::deque<token_chunk> pending;  ///< tokens waiting for credit
  std::vector<choice_state> choices;
  uint32_t unfinished = 0;
  uint32_t prompt_tokens = 0;
  uint32_t cached_tokens = 0;
  int64_t arrival_ns = 0;
  int64_t first_token_ns = -1;
  int64_t admitted_ns = -1;
  int64_t max_queue_ns = 0;
  int64_t max_tokens = -1;
  uint32_t n = 1;                      ///< choices per prompt
  std::vector<uint32_t> prompt_sizes;  ///< tokens of each prompt
  bool remote_decode = false;
  std::optional<tracing::span> span;  ///< its caller's trace is sampled: the generation's span
};

struct sequence_ref {
  uint64_t request = 0;  ///< key into requests
  uint32_t choice = 0;
};

struct pod_state {
  pod_settings settings;
  pod_dependencies deps;
  std::unique_ptr<engine::engine> eng;
  std::shared_ptr<pod_metrics> metrics;
  std::unique_ptr<response_planner> planner;
  std::mt19937_64 rng;       ///< failure injection
  std::mt19937_64 tool_rng;  ///< tool calls and response_format answers

  std::unordered_map<uint64_t, request_state> requests;
  std::unordered_map<std::string, uint64_t> by_request_id;
  std::unordered_map<uint64_t, sequence_ref> sequences;
  uint64_t next_request = 1;
  uint64_t next_sequence = 1;

  // stepping
  uint64_t step_epoch = 0;
  bool step_interruptible = false;
  /// The step in progress takes no time: its end is already in the mailbox.
  bool step_instant = false;

  // lifecycle
  bool ready = true;
  bool draining = false;
  bool frozen = false;
  std::vector<caf::down_msg> downs_while_frozen;  ///< handled when it runs again
  std::vector<caf::typed_response_promise<drain_done>> drain_waiters;
  uint32_t completed_while_draining = 0;
  std::set<std::string> loras;

  // events
  uint64_t kv_seq = 0;  ///< vLLM numbers KV batches from 0
  std::vector<runtime::kv_event> kv_buffer;
  uint64_t load_seq = 0;
  int64_t last_report_ns = INT64_MIN / 2;
  bool report_scheduled = false;
  load_report last_report;
  std::string kv_topic;
};

int64_t now_ns(caf::scheduled_actor* self) {
  return duration_cast<nanoseconds>(self->clock().now().time_since_epoch()).count();
}

caf::error pod_error(pod_errc code, std::string message) {
  return caf::make_error(code, std::move(message));
}

// The pod's own timers are part of its implementation interface, not of its protocol.
using pod_impl_actor =
    pod_actor::extend<caf::reacts_to<atoms::step_atom, uint64_t>,
                      caf::reacts_to<atoms::report_atom>, caf::reacts_to<atoms::tick_atom>>;
using pod_pointer = pod_impl_actor::stateful_pointer<pod_state>;

// -- events ------------------------------------------------------------------------------------

void publish_kv(pod_pointer self, bool force) {
  auto& st = self->state;
  for (auto& e : st.eng->drain_kv_events())
    st.kv_buffer.push_back(std::move(e));
  if (st.kv_buffer.empty()) return;
  if (!force && st.kv_buffer.size() < st.settings.event_batch_size) return;
  if (!st.settings.kv_events || !st.deps.outputs.kv_events) {
    st.kv_buffer.clear();
    return;
  }
  runtime::event_batch batch;
  batch.ts = static_cast<double>(now_ns(self) + st.deps.wall_clock_offset_ns) / 1e9;
  batch.events = std::move(st.kv_buffer);
  batch.data_parallel_rank = std::max(0, st.settings.data_parallel_rank);  // the simulator's
  st.kv_buffer.clear();
  kv_event_message msg{st.kv_topic, st.kv_seq++,
                       runtime::encode_batch(batch, st.settings.event_format)};
  st.deps.outputs.kv_events(msg);
}

/// The step profile as the linear model an SLO-aware picker predicts from (step overhead,
/// per decoding sequence, per KV token, prefill overhead and per prompt token), read off the
/// profile's own step costs: fitted profiles keep those in token-cost tables, not in terms.
void set_linear_step_terms(load_report& r, const engine::step_profile& p) {
  auto mean = [&](uint32_t prefill, uint32_t decode, uint64_t kv) {
    engine::batch_stats b;
    b.prefill_tokens = prefill;
    b.prefill_seqs = prefill > 0 ? 1 : 0;
    b.decode_seqs = decode;
    b.kv_tokens = kv;
    b.prefill_pairs = uint64_t{prefill} * (prefill + 1) / 2;
    return static_cast<double>(p.mean_step_ns(b));
  };
  double decode = std::max(0.0, (mean(0, 64, 0) - mean(0, 1, 0)) / 63);
  double overhead = std::max(0.0, mean(0, 1, 0) - decode);
  double kv = std::max(0.0, (mean(0, 1, 65536) - mean(0, 1, 0)) / 65536);
  double per_token = std::max(0.0, (mean(2048, 0, 2048) - mean(512, 0, 512)) / 1536 - kv);
  r.step_overhead_ns = overhead;
  r.decode_ns_per_sequence = decode;
  r.attention_ns_per_kv_token = kv;
  r.prefill_ns_per_token = per_token;
  r.prefill_overhead_ns =
      std::max(0.0, mean(512, 0, 512) - overhead - decode - 512 * (per_token + kv));
}

load_report make_report(pod_pointer self) {
  auto& st = self->state;
  auto snap = st.eng->snapshot();
  auto loras = st.eng->loras();
  load_report r;
  r.pod = st.settings.pod_name;
  r.model = st.settings.served_model_names.front();
  r.at_ns = now_ns(self);
  r.running = snap.running;
  r.waiting = snap.waiting;
  r.kv_usage = snap.kv_usage;
  r.inflight_tokens = snap.in_flight_tokens;
  r.max_num_seqs = st.settings.engine.max_num_seqs;
  r.block_size = st.settings.engine.kv.block_size;
  r.num_gpu_blocks = st.settings.engine.kv.num_gpu_blocks;
  r.running_loras = loras.running;
  r.waiting_loras = loras.waiting;
  r.max_loras = st.settings.engine.max_loras;
  r.lora_residency = true;
  r.gpu_loras = std::move(loras.resident);
  r.cpu_loras = std::move(loras.cpu);
  r.ready = st.ready;
  r.draining = st.draining;
  if (const auto* step = dynamic_cast<const engine::step_latency_model*>(&st.eng->latency()))
    set_linear_step_terms(r, step->profile());
  return r;
}

bool same_load(const load_report& a, const load_report& b) {
  return a.running == b.running && a.waiting == b.waiting &&
         std::abs(a.kv_usage - b.kv_usage) < 1e-3 && a.inflight_tokens == b.inflight_tokens &&
         a.ready == b.ready && a.draining == b.draining && a.running_loras == b.running_loras &&
         a.waiting_loras == b.waiting_loras && a.gpu_loras == b.gpu_loras &&
         a.cpu_loras == b.cpu_loras;
}

void update_gauges(pod_pointer self, const load_report& r) {
  auto& st = self->state;
  auto& m = *st.metrics;
  m.running.Set(r.running);
  m.waiting.Set(r.waiting);
  m.kv_usage.Set(r.kv_usage);
  // vllm:lora_requests_info follows the adapters of running and waiting requests, as vLLM's.
  if (r.running_loras != st.last_report.running_loras ||
      r.waiting_loras != st.last_report.waiting_loras) {
    auto join = [](const std::vector<std::string>& v) {
      std::string out;
      for (const auto& s : v)
        out += (out.empty() ? "" : ",") + s;
      return out;
    };
    m.lora_info(join(r.running_loras), join(r.waiting_loras),
                static_cast<double>(r.at_ns + st.deps.wall_clock_offset_ns) / 1e9);
  }
  if (r.gpu_loras != st.last_report.gpu_loras || r.cpu_loras != st.last_report.cpu_loras)
    m.lora_residency(r.gpu_loras, r.cpu_loras);
}

/// Pushes a load report when something changed, at most once per interval; a change inside
/// the interval is sent when it ends.
void report_load(pod_pointer self, bool force = false) {
  auto& st = self->state;
  auto r = make_report(self);
  update_gauges(self, r);
  if (!force && same_load(r, st.last_report)) return;
  auto now = now_ns(self);
  auto next_allowed = st.last_report_ns + st.settings.load_report_interval_ns;
  if (!force && now < next_allowed) {
    if (!st.report_scheduled) {
      st.report_scheduled = true;
      self->delayed_send(self, nanoseconds(next_allowed - now), atoms::report_atom_v);
    }
    return;
  }
  r.seq = ++st.load_seq;
  st.last_report = r;
  st.last_report_ns = now;
  if (st.deps.outputs.load) st.deps.outputs.load(r);
}

// -- streaming ---------------------------------------------------------------------------------

void flush_stream(pod_pointer self, request_state& req) {
  auto dest = caf::actor_cast<caf::actor>(req.requester);
  while (!req.pending.empty() && req.in_flight < req.window) {
    caf::unsafe_send_as(self, dest, std::move(req.pending.front()));
    req.pending.pop_front();
    ++req.in_flight;
  }
}

void finish_request(pod_pointer self, uint64_t key) {
  auto& st = self->state;
  auto it = st.requests.find(key);
  if (it == st.requests.end()) return;
  auto& req = it->second;
  if (req.unfinished > 0 || !req.pending.empty()) return;
  auto now = now_ns(self);
  generate_result result;
  result.request_id = req.request_id;
  result.pod = st.settings.pod_name;
  result.model = req.display_model;
  result.prompt_tokens = req.prompt_tokens;
  result.cached_tokens = req.cached_tokens;
  result.queue_ns = req.max_queue_ns;
  result.ttft_ns = req.first_token_ns >= 0 ? req.first_token_ns - req.arrival_ns : 0;
  result.e2e_ns = now - req.arrival_ns;
  for (size_t i = 0; i < req.choices.size(); ++i) {
    auto& c = req.choices[i];
    choice_result cr;
    cr.index = static_cast<uint32_t>(i);
    cr.finish_reason = req.remote_decode ? "remote_decode" : c.finish_reason;
    cr.completion_tokens = c.emitted + c.extra_tokens;
    cr.tool_calls = c.tool_calls;
    if (!req.stream && c.tool_calls.empty())
      for (uint32_t t = 0; t < c.emitted; ++t)
        cr.text += c.pieces[t];
    result.completion_tokens += cr.completion_tokens;
    result.choices.push_back(std::move(cr));
  }
  // Each prompt is a request of its own to vLLM (and to the simulator): counted once each,
  // with its choices' tokens.
  auto& m = *st.metrics;
  double e2e_s = static_cast<double>(result.e2e_ns) / 1e9;
  const uint32_t n = std::max<uint32_t>(1, req.n);
  for (size_t p = 0; p * n < result.choices.size(); ++p) {
    uint32_t generated = 0, most = 0;
    for (size_t i = p * n; i < std::min<size_t>((p + 1) * n, result.choices.size()); ++i) {
      generated += result.choices[i].completion_tokens;
      most = std::max(most, result.choices[i].completion_tokens);
    }
    m.success(result.choices[p * n].finish_reason);
    m.e2e.Observe(e2e_s);
    m.request_prompt_tokens.Observe(p < req.prompt_sizes.size() ? req.prompt_sizes[p] : 0);
    m.request_generation_tokens.Observe(generated);
    m.request_max_generation_tokens.Observe(most);
    if (req.max_tokens > 0) m.request_max_tokens.Observe(static_cast<double>(req.max_tokens));
    if (req.admitted_ns >= 0) {
      m.inference_time.Observe(static_cast<double>(now - req.admitted_ns) / 1e9);
      if (req.first_token_ns >= 0) {
        m.prefill_time.Observe(static_cast<double>(req.first_token_ns - req.admitted_ns) / 1e9);
        m.decode_time.Observe(static_cast<double>(now - req.first_token_ns) / 1e9);
      }
    }
    if (most > 1 && req.first_token_ns >= 0)
      m.request_tpot.Observe(static_cast<double>(now - req.first_token_ns) / 1e9 / (most - 1));
  }
  if (st.deps.log && st.deps.log->should_log(spdlog::level::debug))
    st.deps.log->debug(
        "request {}: pod {}: finished, {} prompt ({} cached) + {} completion "
        "tokens, TTFT {:.3f} s, {:.3f} s",
        req.request_id, st.settings.pod_name, result.prompt_tokens, result.cached_tokens,
        result.completion_tokens, static_cast<double>(result.ttft_ns) / 1e9, e2e_s);
  if (req.span) {
    describe_generation(*req.span, result);
    st.deps.tracer->submit(std::move(*req.span));
  }
  req.promise.deliver(std::move(result));
  if (req.requester) self->demonitor(caf::actor_cast<caf::actor_addr>(req.requester));
  st.by_request_id.erase(req.request_id);
  st.requests.erase(it);
  if (st.draining) {
    ++st.completed_while_draining;
    if (st.requests.empty()) {
      for (auto& w : st.drain_waiters)
        w.deliver(drain_done{st.settings.pod_name, st.completed_while_draining});
      st.drain_waiters.clear();
    }
  }
}

void drop_request(pod_pointer self, uint64_t key) {
  auto& st = self->state;
  auto it = st.requests.find(key);
  if (it == st.requests.end()) return;
  if (auto& span = it->second.span) {  // its requester went away or cancelled it
    describe_failed_generation(*span, st.settings.pod_name, "cancelled", "", false,
                               st.deps.tracer->now());
    st.deps.tracer->submit(std::move(*span));
  }
  for (auto& c : it->second.choices) {
    if (!c.finished) st.eng->cancel(c.seq_id);  // out of waiting/running, its KV blocks freed
    st.sequences.erase(c.seq_id);
  }
  // vLLM counts an aborted request as finished, with finish reason abort: each prompt once.
  for (size_t p = 0; p < std::max<size_t>(1, it->second.prompt_sizes.size()); ++p)
    st.metrics->success("abort");
  st.by_request_id.erase(it->second.request_id);
  st.requests.erase(it);
  if (st.draining && st.requests.empty()) {
    for (auto& w : st.drain_waiters)
      w.deliver(drain_done{st.settings.pod_name, st.completed_while_draining});
    st.drain_waiters.clear();
  }
}

// -- stepping ----------------------------------------------------------------------------------

void process_outputs(pod_pointer self, const engine::step_outputs& out) {
  auto& st = self->state;
  auto& m = *st.metrics;
  std::vector<uint64_t> to_finish;
  // The step's tokens go to the metrics together, after the loop.
  histogram_batch itl(m.itl), tpot(m.tpot);
  uint32_t generated = 0;
  for (const auto& o : out.sequences) {
    auto ref_it = st.sequences.find(o.id);
    if (ref_it == st.sequences.end()) continue;
    auto key = ref_it->second.request;
    auto req_it = st.requests.find(key);
    if (req_it == st.requests.end()) continue;
    auto& req = req_it->second;
    auto& c = req.choices[ref_it->second.choice];
    if (o.started) {
      req.cached_tokens = std::max(req.cached_tokens, o.cached_tokens);
      req.max_queue_ns = std::max(req.max_queue_ns, o.queue_ns);
      // Admitted when its first step started (the output comes when that step ends).
      if (req.admitted_ns < 0) req.admitted_ns = req.arrival_ns + o.queue_ns;
      m.queue_time.Observe(static_cast<double>(o.queue_ns) / 1e9);
    }
    if (o.new_tokens > 0 && c.emitted < c.pieces.size()) {
      auto index = c.emitted++;
      // An echo longer than the context: the engine's last token brings the rest of it.
      if (c.emitted == c.engine_tokens) c.emitted = static_cast<uint32_t>(c.pieces.size());
      ++generated;
      if (o.first_token || req.first_token_ns < 0) {
        if (req.first_token_ns < 0) {
          req.first_token_ns = out.now_ns;
          m.ttft.Observe(static_cast<double>(out.now_ns - req.arrival_ns) / 1e9);
        }
      } else {
        double gap = static_cast<double>(out.now_ns - c.last_token_ns) / 1e9;
        itl.observe(gap);
        tpot.observe(gap);
      }
      c.last_token_ns = out.now_ns;
      if (req.stream) {
        // Coalesce with a waiting chunk of the same choice: a slow reader costs fewer messages.
        bool last = c.emitted == c.pieces.size();
        std::string reason = last ? (req.remote_decode ? "remote_decode" : c.finish_reason) : "";
        if (!req.pending.empty() && req.pending.back().choice == ref_it->second.choice &&
            req.in_flight >= req.window) {
          for (auto t = index; t < c.emitted; ++t)
            req.pending.back().text += c.pieces[t];
          req.pending.back().tokens += c.emitted - index;
          req.pending.back().finish_reason = reason;
        } else {
          req.pending.push_back(token_chunk{req.request_id, ref_it->second.choice, c.pieces[index],
                                            c.emitted - index, index == 0, reason});
          for (auto t = index + 1; t < c.emitted; ++t)
            req.pending.back().text += c.pieces[t];
          if (index == 0) req.pending.back().tool_calls = c.tool_calls;
        }
      }
    }
    if (o.finished) {
      c.finished = true;
      st.sequences.erase(ref_it);
      if (--req.unfinished == 0) to_finish.push_back(key);
    }
    if (req.stream) flush_stream(self, req);
  }
  if (generated > 0) m.generation_tokens.Increment(generated);
  m.itl.observe(itl);
  m.tpot.observe(tpot);
  for (auto key : to_finish)
    finish_request(self, key);
}

void kick(pod_pointer self);

void run_step_end(pod_pointer self) {
  auto& st = self->state;
  auto out = st.eng->end_step(now_ns(self));
  process_outputs(self, out);
  auto snap = st.eng->snapshot();
  st.metrics->preemptions.Increment(static_cast<double>(snap.preemptions) -
                                    st.metrics->preemptions.Value());
  st.metrics->lora_loads.Increment(static_cast<double>(snap.lora_loads) -
                                   st.metrics->lora_loads.Value());
  st.metrics->prefix_queries.Increment(static_cast<double>(snap.prefix_cache_queries) -
                                       st.metrics->prefix_queries.Value());
  st.metrics->prefix_hits.Increment(static_cast<double>(snap.prefix_cache_hits) -
                                    st.metrics->prefix_hits.Value());
  publish_kv(self, true);
  report_load(self);
}

void kick(pod_pointer self) {
  auto& st = self->state;
  if (st.eng->in_step() || !st.eng->has_work()) return;
  auto plan = st.eng->begin_step(now_ns(self));
  publish_kv(self, false);
  st.step_interruptible = plan.interruptible;
  st.step_instant = plan.duration_ns <= 0;
  auto epoch = ++st.step_epoch;
  if (plan.duration_ns <= 0)
    self->send(self, atoms::step_atom_v, epoch);  // through the mailbox: others get a turn
  else
    self->delayed_send(self, nanoseconds(plan.duration_ns), atoms::step_atom_v, epoch);
}

/// A request arrived: start a step now, or cut an interruptible one short so the newcomer is
/// admitted at once (the simulator starts a request as soon as a worker is free).
void on_arrival(pod_pointer self) {
  auto& st = self->state;
  if (st.eng->in_step()) {
    // An instant step ends at this very time anyway: the newcomer joins the next one, with
    // whoever else arrives meanwhile, instead of every arrival costing a step of its own.
    if (!st.step_interruptible || st.step_instant) return;
    ++st.step_epoch;  // the pending timer is stale now
    run_step_end(self);
  }
  kick(self);
}

// -- freezing ----------------------------------------------------------------------------------

/// A requester went away: its requests go (later, when frozen).
void on_down(pod_pointer self, caf::down_msg& msg) {
  auto& st = self->state;
  if (st.frozen) {  // a stopped process notices nothing until it runs again
    st.downs_while_frozen.push_back(std::move(msg));
    return;
  }
  std::vector<uint64_t> gone;
  for (auto& [key, req] : st.requests)
    if (req.requester && req.requester->address() == msg.source) gone.push_back(key);
  for (auto key : gone)
    drop_request(self, key);
  report_load(self);
}

/// As SIGSTOP: every message but an unfreeze is skipped -- it stays in the mailbox, in order,
/// and is handled once the pod runs again (CAF puts skipped messages back after the next one it
/// handles). Timers that fall due meanwhile wait there too, so steps end late, as they would.
void freeze(pod_pointer self) {
  auto& st = self->state;
  if (st.frozen) return;
  st.frozen = true;
  self->set_default_handler(caf::skip);
  caf::behavior frozen{[self](freeze_pod& f) {
    if (f.frozen) return;
    auto& st = self->state;
    st.frozen = false;
    self->set_default_handler(caf::print_and_drop);
    self->unbecome();
    auto downs = std::move(st.downs_while_frozen);
    st.downs_while_frozen.clear();
    for (auto& d : downs)
      on_down(self, d);
  }};
  self->become(caf::keep_behavior,
               pod_impl_actor::behavior_type{pod_impl_actor::behavior_type::unsafe_init{},
                                             std::move(frozen)});
}

// -- admission ---------------------------------------------------------------------------------

std::optional<caf::error> injected_failure(pod_pointer self, const std::string& model) {
  auto& st = self->state;
  if (st.settings.failure_injection_rate <= 0) return std::nullopt;
  std::uniform_real_distribution<double> percent(0, 100);
  if (percent(st.rng) >= st.settings.failure_injection_rate) return std::nullopt;
  static const std::vector<std::string> all{"rate_limit",   "invalid_api_key", "context_length",
                                            "server_error", "invalid_request", "model_not_found"};
  const auto& types = st.settings.failure_types.empty() ? all : st.settings.failure_types;
  auto type = types[std::uniform_int_distribution<size_t>(0, types.size() - 1)(st.rng)];
  if (type == "rate_limit")
    return pod_error(pod_errc::injected_rate_limit,
                     "Rate limit reached for " + model +
                         " in organization org-xxx on requests per min (RPM): Limit 3, Used 3, "
                         "Requested 1.");
  if (type == "invalid_api_key")
    return pod_error(pod_errc::injected_invalid_api_key, "Incorrect API key provided.");
  if (type == "context_length")
    return pod_error(pod_errc::injected_context_length,
                     "This model's maximum context length is 4096 tokens. However, your "
                     "messages resulted in 4500 tokens.");
  if (type == "server_error")
    return pod_error(pod_errc::injected_server_error, "The server is overloaded or not ready yet.");
  if (type == "invalid_request")
    return pod_error(pod_errc::injected_invalid_request,
                     "Invalid request: missing required parameter 'model'.");
  return pod_error(pod_errc::injected_model_not_found,
                   "The model '" + model + "-nonexistent' does not exist");
}

/// Started as llm-d-inference-sim (a standalone pod without an inferstack profile).
bool sim_mode(const pod_settings& s) {
  return s.simulator_defaults && !s.profile && s.profile_source.empty();
}

openai::tool_generation_settings generation_settings(const tool_call_settings& t) {
  openai::tool_generation_settings g;
  g.min_integer_param = t.min_integer_param;
  g.max_integer_param = t.max_integer_param;
  g.min_number_param = t.min_number_param;
  g.max_number_param = t.max_number_param;
  g.min_array_length = t.min_array_param_length;
  g.max_array_length = t.max_array_param_length;
  g.not_required_param_probability = t.not_required_param_probability;
  g.object_not_required_field_probability = t.object_not_required_field_probability;
  g.extra_call_probability = t.extra_call_probability;
  return g;
}

/// What a chat request asks of the answer's shape besides text: tools and response_format.
struct answer_shape {
  openai::tools_request tools;
  openai::response_format format;
};

/// Reads the request's tools and response_format. Both modes answer tool calls as the
/// simulator does (vLLM with a tool parser returns tool_calls too). The simulator checks tool
/// schemas against its meta-schema (--skip-tool-validation turns that off); under a profile
/// (vLLM) only well-formed JSON Schema is asked for, as a server compiling it for structured
/// output would. Both answer response_format with valid JSON: vLLM does; the simulator ignores it
/// and answers text, but JSON is still what a client asking for it can use.
std::optional<caf::error> read_answer_shape(const pod_settings& s, const generate_request& req,
                                            answer_shape& out) {
  if (!req.tools.empty()) {
    auto body = nlohmann::json::parse(req.tools, nullptr, false);
    if (auto err = openai::parse_tools(body, out.tools))
      return pod_error(pod_errc::bad_request, err->message);
    if (!s.tool_calls.skip_validation)
      if (auto bad = openai::check_tool_schemas(out.tools, sim_mode(s)))
        return pod_error(pod_errc::bad_request, bad->message);
  }
  if (!req.response_format.empty()) {
    auto body = nlohmann::json::parse(req.response_format, nullptr, false);
    if (auto err = openai::parse_response_format(body, out.format))
      return pod_error(pod_errc::bad_request, err->message);
  }
  return std::nullopt;
}

/// One choice answered with tool calls (when the simulator's draw makes some) or with JSON for
/// response_format; nothing when the answer is plain text.
std::optional<planned_output> plan_shaped(pod_pointer self, const generate_request& req,
                                          const answer_shape& shape, choice_state& c,
                                          std::optional<caf::error>& failure) {
  auto& st = self->state;
  const auto gen = generation_settings(st.settings.tool_calls);
  planned_output out;
  std::string text;
  if (shape.tools.calls_possible()) {
    auto made = openai::generate_tool_calls(shape.tools, gen, st.tool_rng);
    if (made.error) {  // the simulator's 500
      failure = pod_error(pod_errc::internal,
                          "failed to create response for chat completion "
                          "request (req id " +
                              req.request_id + ") " + *made.error);
      return std::nullopt;
    }
    if (!made.calls.empty()) {
      for (const auto& call : made.calls)
        for (auto& piece : openai::token_pieces(call.arguments))
          out.pieces.push_back(std::move(piece));
      out.finish_reason = "tool_calls";
      c.tool_calls = openai::tool_calls_json(made.calls);
      c.extra_tokens = 3 * static_cast<uint32_t>(made.calls.size());
    }
  }
  if (out.pieces.empty() && shape.format.type != openai::response_format::kind::text) {
    out.pieces =
        openai::token_pieces(openai::generate_response_json(shape.format, gen, st.tool_rng));
    out.finish_reason = "stop";
  }
  if (out.pieces.empty()) return std::nullopt;
  out.token_ids.reserve(out.pieces.size());
  for (const auto& piece : out.pieces)
    out.token_ids.push_back(runtime::fnv1a_32(piece));
  return out;
}

/// llm-d-inference-sim's X-Cache-Threshold-Finish-Reason: the request is answered at once, each
/// choice with finish_reason cache_threshold and no tokens (a stream gets that finish chunk).
generate_result cache_threshold_answer(pod_pointer self, const generate_request& req) {
  auto& st = self->state;
  generate_result r;
  r.request_id = req.request_id;
  r.pod = st.settings.pod_name;
  r.model = st.settings.display_model(req.model);
  for (const auto& p : req.prompts)
    r.prompt_tokens += static_cast<uint32_t>(p.size());
  auto dest = caf::actor_cast<caf::actor>(self->current_sender());
  const auto choices = static_cast<uint32_t>(req.prompts.size()) * req.n;
  for (uint32_t i = 0; i < choices; ++i) {
    choice_result cr;
    cr.index = i;
    cr.finish_reason = "cache_threshold";
    if (i % std::max<uint32_t>(1, req.n) == 0) st.metrics->success(cr.finish_reason);  // a prompt
    r.choices.push_back(std::move(cr));
    if (req.stream && dest)
      caf::unsafe_send_as(self, dest,
                          token_chunk{req.request_id, i, "", 0, true, "cache_threshold"});
  }
  return r;
}

/// llm-d-inference-sim checks the context length once a request runs: a LoRA request refused
/// for it shows in vllm:lora_requests_info as running, then gone. Started as the simulator, the
/// pod's series show the same (vLLM refuses before scheduling: nothing shows).
void lora_ran_briefly(pod_pointer self, const std::string& lora) {
  auto& st = self->state;
  if (!st.settings.simulator_defaults || st.settings.profile || !st.settings.profile_source.empty())
    return;
  auto state = st.eng->loras();
  auto join = [](const std::vector<std::string>& v, const std::string& extra) {
    std::string out;
    for (const auto& s : v)
      out += (out.empty() ? "" : ",") + s;
    if (!extra.empty() && std::find(v.begin(), v.end(), extra) == v.end())
      out += (out.empty() ? "" : ",") + extra;
    return out;
  };
  double at = static_cast<double>(now_ns(self) + st.deps.wall_clock_offset_ns) / 1e9;
  st.metrics->lora_info(join(state.running, lora), join(state.waiting, ""), at);
  st.metrics->lora_info(join(state.running, ""), join(state.waiting, ""), at);
}

/// llm-d-inference-sim's cache hit threshold: with KV events on (its --enable-kvcache), a request
/// whose prompts are cached for less than its cache_hit_threshold (else --global-cache-hit-
/// threshold, when above 0) is answered at once with finish_reason cache_threshold. The hit
/// rate is the cached prompt tokens (whole cached blocks) over the prompt tokens.
bool below_cache_hit_threshold(const pod_state& st, const generate_request& req) {
  if (!st.settings.kv_events) return false;
  double threshold = req.cache_hit_threshold;
  if (threshold < 0 || threshold > 1) threshold = st.settings.global_cache_hit_threshold;
  if (threshold <= 0) return false;
  const std::string& hash_model =
      st.settings.serves(req.model) ? st.settings.served_model_names.front() : req.model;
  uint64_t queried = 0, cached = 0;
  for (const auto& p : req.prompts) {
    queried += p.size();
    cached += uint64_t{st.eng->cache().find_cached_prefix(p, hash_model).num_blocks()} *
              st.eng->cache().block_size();
  }
  double hit_rate = queried > 0 ? static_cast<double>(cached) / static_cast<double>(queried) : 0;
  return hit_rate < threshold;
}

caf::result<generate_result> admit(pod_pointer self, generate_request& req) {
  auto& st = self->state;
  if (req.return_error != 0 && st.settings.enable_return_error_header)
    return pod_error(pod_errc::returned_error, std::to_string(req.return_error));
  if (!st.ready) return pod_error(pod_errc::not_ready, "The model is still loading.");
  if (st.draining) return pod_error(pod_errc::draining, "The pod is shutting down.");
  if (auto failure = injected_failure(self, req.model)) return *failure;
  if (!st.settings.serves(req.model) && !st.loras.count(req.model))
    return pod_error(pod_errc::model_not_found, "The model `" + req.model + "` does not exist.");
  if (req.prompts.empty() || req.n == 0)
    return pod_error(pod_errc::bad_request, "The request has no prompt.");
  if (req.remote_decode && req.stream)
    return pod_error(pod_errc::bad_request, "Prefill does not support streaming");
  for (const auto& p : req.prompts)
    if (p.empty()) return pod_error(pod_errc::bad_request, "The prompt is empty.");

  answer_shape shape;
  if (auto err = read_answer_shape(st.settings, req, shape)) return *err;

  uint32_t max_len = st.settings.engine.max_model_len;
  for (const auto& p : req.prompts) {
    int64_t completion = req.max_tokens > 0 ? req.max_tokens : 1;
    if (static_cast<int64_t>(p.size()) + completion > max_len) {
      if (!st.settings.serves(req.model)) lora_ran_briefly(self, req.model);
      return pod_error(pod_errc::context_length,
                       "This model's maximum context length is " + std::to_string(max_len) +
                           " tokens. However, you requested " +
                           std::to_string(p.size() + static_cast<size_t>(completion)) +
                           " tokens (" + std::to_string(p.size()) + " in the messages, " +
                           std::to_string(completion) +
                           " in the completion). Please reduce the length of the messages or "
                           "completion.");
    }
  }

  if (req.cache_threshold_finish || below_cache_hit_threshold(st, req))
    return cache_threshold_answer(self, req);

  auto now = now_ns(self);
  auto key = st.next_request++;
  if (st.deps.log && st.deps.log->should_log(spdlog::level::debug))
    st.deps.log->debug("request {}: pod {}: admitted, {} prompt(s), n={}, max_tokens {}",
                       req.request_id, st.settings.pod_name, req.prompts.size(), req.n,
                       req.max_tokens);
  request_state rs;
  rs.request_id = req.request_id;
  rs.requester = self->current_sender();
  rs.display_model = st.settings.display_model(req.model);
  rs.stream = req.stream;
  rs.window = std::max<uint32_t>(1, req.stream_window);
  rs.arrival_ns = now;
  rs.max_tokens = req.max_tokens;
  rs.n = req.n;
  rs.remote_decode = req.remote_decode;
  std::string lora = st.settings.serves(req.model) ? std::string() : req.model;

  std::vector<engine::sequence_spec> specs;
  for (size_t p = 0; p < req.prompts.size(); ++p) {
    rs.prompt_tokens += static_cast<uint32_t>(req.prompts[p].size());
    rs.prompt_sizes.push_back(static_cast<uint32_t>(req.prompts[p].size()));
    for (uint32_t k = 0; k < req.n; ++k) {
      auto echo = p < req.echo_texts.size() ? std::string_view(req.echo_texts[p]) : "";
      choice_state c;
      std::optional<caf::error> failure;
      auto shaped = req.remote_decode ? std::nullopt : plan_shaped(self, req, shape, c, failure);
      if (failure) return *failure;
      // A prefill-only (remote_decode) request produces one token and hands over.
      auto planned = shaped
                         ? std::move(*shaped)
                         : st.planner->plan(echo, static_cast<uint32_t>(req.prompts[p].size()),
                                            req.remote_decode ? 1 : req.max_tokens, req.ignore_eos);
      if (st.settings.mm_encoder_only && !shaped && !req.remote_decode)
        planned = encoder_only_output(req.max_tokens);       // no language model: "!"s
      if (req.remote_decode && planned.pieces.size() > 1) {  // echo ignores max_tokens
        planned.pieces.resize(1);
        planned.token_ids.resize(1);
      }
      // Echo ignores max_tokens too and comes back whole, as the simulator's; but a sequence
      // cannot outgrow max-model-len here (the simulator's KV model does not hold the output):
      // the engine runs the tokens that fit, and the last of them carries the rest of the echo.
      size_t room = std::max<size_t>(
          1, max_len > req.prompts[p].size() ? max_len - req.prompts[p].size() : 1);
      c.engine_tokens = static_cast<uint32_t>(planned.pieces.size());
      if (st.settings.mode == "echo" && !shaped && planned.pieces.size() > room) {
        c.engine_tokens = static_cast<uint32_t>(room);
        planned.token_ids.resize(room);
      }
      engine::sequence_spec spec;
      spec.id = st.next_sequence++;
      spec.prompt = req.prompts[p];
      spec.output_tokens = c.engine_tokens;
      spec.output_token_ids = std::move(planned.token_ids);
      spec.model = st.settings.served_model_names.front();
      spec.lora = lora;
      spec.arrival_ns = now;
      spec.remote_prefill = req.remote_prefill;
      c.seq_id = spec.id;
      c.pieces = std::move(planned.pieces);
      c.finish_reason = planned.finish_reason;
      rs.choices.push_back(std::move(c));
      specs.push_back(std::move(spec));
    }
  }
  rs.unfinished = static_cast<uint32_t>(specs.size());
  // Submit all choices or none: a partially admitted request would be answered wrongly.
  for (size_t i = 0; i < specs.size(); ++i) {
    auto status = st.eng->submit(std::move(specs[i]));
    if (status != engine::submit_status::accepted) {
      for (size_t j = 0; j < i; ++j)
        st.eng->cancel(rs.choices[j].seq_id);
      if (status == engine::submit_status::queue_full)
        return pod_error(pod_errc::queue_full,
                         "Failed to enqueue request, waiting requests queue is full");
      if (status == engine::submit_status::too_long ||
          status == engine::submit_status::exceeds_kv_cache)
        return pod_error(pod_errc::context_length,
                         "This model's maximum context length is " + std::to_string(max_len) +
                             " tokens, and the request does not fit the KV cache "
                             "(" +
                             std::string(engine::to_string(status)) + ").");
      return pod_error(pod_errc::bad_request,
                       "The request was refused: " + std::string(engine::to_string(status)));
    }
  }
  st.metrics->prompt_tokens.Increment(rs.prompt_tokens);
  for (size_t i = 0; i < rs.choices.size(); ++i)
    st.sequences[rs.choices[i].seq_id] = sequence_ref{key, static_cast<uint32_t>(i)};
  rs.promise = self->make_response_promise<generate_result>();
  auto promise = rs.promise;
  if (rs.requester) self->monitor(rs.requester);
  st.by_request_id[rs.request_id] = key;
  st.requests.emplace(key, std::move(rs));
  on_arrival(self);
  report_load(self);
  return promise;
}

/// Admission of a request whose caller's trace is sampled: the generation's span begins at its
/// arrival and ends with the answer (finish_request), a refusal, or a cancellation.
caf::result<generate_result> admit_traced(pod_pointer self, generate_request& req) {
  auto& st = self->state;
  auto& tracer = *st.deps.tracer;
  auto span = tracer.child(req.traceparent, req.tracestate, "generate");
  if (!span) return admit(self, req);
  tracing::add(span->attributes, "gen_ai.request.model", req.model);
  auto out = admit(self, req);
  if (out.flag == caf::rt_delegated) {  // admitted: its request state carries the span on
    auto it = st.by_request_id.find(req.request_id);
    if (it != st.by_request_id.end()) {
      st.requests.at(it->second).span = std::move(span);
      return out;
    }
  }
  if (out.flag == caf::rt_value && out.value.match_elements<generate_result>()) {
    describe_generation(*span, out.value.get_as<generate_result>(0));  // answered at once
  } else {
    auto info = describe_pod_error(out.err);
    std::string outcome = "refused";
    if (out.err.category() == caf::atom("pod"))
      outcome = to_string(static_cast<pod_errc>(out.err.code()));
    describe_failed_generation(*span, st.settings.pod_name, outcome, info.message,
                               info.status >= 500, tracer.now());
  }
  tracer.submit(std::move(*span));
  return out;
}

// -- run-time configuration and sleep ------------------------------------------------------------

/// POST /admin/config: every option is applied to a copy and checked before the pod takes it.
options_applied apply_runtime_options(pod_pointer self, const apply_options& change) {
  auto& st = self->state;
  options_applied out;
  if (change.keys.size() != change.values.size()) {
    out.problems.emplace_back("apply_options: one value per key is required");
    return out;
  }
  auto next = st.settings;
  for (size_t i = 0; i < change.keys.size(); ++i)
    if (auto err = set_pod_option(next, change.keys[i], change.values[i]))
      out.problems.push_back(*err);
  for (auto& p : next.sim.validate())
    out.problems.push_back(std::move(p));
  if (!out.problems.empty()) return out;
  try {
    if (!st.eng->set_latency(make_latency_model(next))) {
      out.problems.emplace_back("the latency model cannot change its timing while a step runs");
      return out;
    }
  } catch (const std::exception& e) {
    out.problems.emplace_back(e.what());
    return out;
  }
  st.settings = std::move(next);
  if (st.deps.log)
    st.deps.log->info("pod {}: run-time configuration applied ({} option(s))", st.settings.pod_name,
                      change.keys.size());
  return out;
}

/// /sleep and /wake_up: asleep, the KV cache is discarded and disabled (its AllBlocksCleared goes
/// out at once); waking with the kv_cache tag enables it again.
void control_sleep(pod_pointer self, const sleep_control& c) {
  auto& st = self->state;
  if (c.sleep) {
    st.eng->sleep_kv_cache();
    publish_kv(self, true);
  } else if (c.kv_cache) {
    st.eng->wake_kv_cache();
  }
  report_load(self);
}

pod_impl_actor::behavior_type pod_impl(pod_pointer self, pod_settings settings,
                                       pod_dependencies deps) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.deps = std::move(deps);
  st.ready = st.deps.start_ready;
  st.rng.seed(st.settings.seed ^ 0x9E3779B97F4A7C15ull);
  st.tool_rng.seed(st.settings.seed ^ 0x5851F42D4C957F2Dull);
  st.eng = std::make_unique<engine::engine>(st.settings.engine, make_latency_model(st.settings));
  st.planner = std::make_unique<response_planner>(
      st.settings.mode, st.settings.output, st.settings.engine.max_model_len, st.settings.seed);
  st.metrics = st.deps.metrics;
  if (!st.metrics)
    st.metrics = std::make_shared<pod_metrics>(
        *st.deps.registry, st.settings.served_model_names.front(), st.settings.engine.kv.block_size,
        st.settings.engine.kv.num_gpu_blocks, st.settings.engine.max_model_len,
        st.settings.engine.max_loras);
  for (const auto& l : st.settings.lora_modules)
    st.loras.insert(l.name);
  st.kv_topic = "kv@" + st.settings.address + "@" + st.settings.model;
  // llm-d-inference-sim numbers its KV batches from 1 (vLLM from 0).
  if (sim_mode(st.settings)) st.kv_seq = 1;
  st.metrics->lora_info("", "",
                        static_cast<double>(now_ns(self) + st.deps.wall_clock_offset_ns) / 1e9);

  // The requester went away (client disconnect, its process died): free its sequences.
  self->set_down_handler([self](caf::down_msg& msg) { on_down(self, msg); });
  // Stopped (killed, its node lost, the stack shutting down): what it holds fails at once, as a
  // dead process's connections do, so the gateway retries elsewhere or ends the stream.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& [key, req] : self->state.requests)
      req.promise.deliver(caf::make_error(caf::sec::request_receiver_down));
    self->state.requests.clear();
    self->quit(msg.reason);
  });
  report_load(self, true);
  if (st.settings.load_report_heartbeat_ns > 0)
    self->delayed_send(self, nanoseconds(st.settings.load_report_heartbeat_ns), atoms::tick_atom_v);

  return {
      [=](generate_request& req) {
        // Tracing off, or the caller's request is not traced: one branch.
        if (!self->state.deps.tracer || req.traceparent.empty()) return admit(self, req);
        return admit_traced(self, req);
      },
      [=](stream_ack& ack) {
        auto& st = self->state;
        auto it = st.by_request_id.find(ack.request_id);
        if (it == st.by_request_id.end()) return;
        auto key = it->second;
        auto& req = st.requests.at(key);
        req.in_flight -= std::min(req.in_flight, ack.chunks);
        flush_stream(self, req);
        finish_request(self, key);
      },
      [=](cancel_request& cancel) {
        auto& st = self->state;
        auto it = st.by_request_id.find(cancel.request_id);
        if (it == st.by_request_id.end()) return;
        auto key = it->second;
        st.requests.at(key).promise.deliver(
            pod_error(pod_errc::bad_request, "The request was cancelled."));
        drop_request(self, key);
        report_load(self);
      },
      [=](mark_ready& m) {
        auto& st = self->state;
        if (!m.pod_name.empty()) st.settings.pod_name = m.pod_name;
        st.ready = true;
        st.draining = false;  // a reused pod serves again
        report_load(self, true);
      },
      [=](drain_request&) -> caf::result<drain_done> {
        auto& st = self->state;
        st.draining = true;
        report_load(self, true);
        if (st.requests.empty()) return drain_done{st.settings.pod_name, 0};
        auto promise = self->make_response_promise<drain_done>();
        st.drain_waiters.push_back(promise);
        return promise;
      },
      [=](status_request&) { return make_report(self); },
      [=](freeze_pod& f) {
        if (f.frozen) freeze(self);
      },
      [=](lora_change& change) {
        auto& st = self->state;
        if (change.load)
          st.loras.insert(change.lora_name);
        else
          st.loras.erase(change.lora_name);
        // vllm:lora_requests_info follows requests, not loaded adapters (vLLM and the simulator).
        return lora_change_result{true, {}};
      },
      [=](apply_options& change) { return apply_runtime_options(self, change); },
      [=](sleep_control& c) { control_sleep(self, c); },
      [=](atoms::step_atom, uint64_t epoch) {
        auto& st = self->state;
        if (epoch != st.step_epoch || !st.eng->in_step()) return;
        run_step_end(self);
        kick(self);
      },
      [=](atoms::report_atom) {
        self->state.report_scheduled = false;
        report_load(self);
      },
      [=](atoms::tick_atom) {  // heartbeat: a report at least this often
        auto& st = self->state;
        if (now_ns(self) - st.last_report_ns >= st.settings.load_report_heartbeat_ns)
          report_load(self, true);
        self->delayed_send(self, nanoseconds(st.settings.load_report_heartbeat_ns),
                           atoms::tick_atom_v);
      },
  };
}

}  // namespace

pod_actor spawn_pod(caf::actor_system& sys, pod_settings settings, pod_dependencies deps) {
  if (!deps.registry) deps.registry = std::make_shared<prometheus::Registry>();
  return caf::actor_cast<pod_actor>(sys.spawn(pod_impl, std::move(settings), std::move(deps)));
}

pod_error_info describe_pod_error(const caf::error& err) {
  pod_error_info info;
  std::string context;
  if (err.context().match_elements<std::string>()) context = err.context().get_as<std::string>(0);
  info.message = context;
  if (err.category() != caf::atom("pod")) {
    info.status = 500;
    info.type = "InternalServerError";
    info.code = "internal_error";
    return info;
  }
  switch (static_cast<pod_errc>(err.code())) {
    case pod_errc::queue_full:
    case pod_errc::injected_rate_limit:
      info = {429, "rate_limit_error", "rate_limit_exceeded", "", context};
      break;
    case pod_errc::context_length:
    case pod_errc::injected_context_length:
      info = {400, "invalid_request_error", "context_length_exceeded", "messages", context};
      break;
    case pod_errc::model_not_found:
    case pod_errc::injected_model_not_found:
      info = {404, "invalid_request_error", "model_not_found", "model", context};
      break;
    case pod_errc::bad_request:
      info = {400, "invalid_request_error", "bad_request", "", context};
      break;
    case pod_errc::injected_invalid_request:
      info = {400, "invalid_request_error", "invalid_request", "model", context};
      break;
    case pod_errc::injected_invalid_api_key:
      info = {401, "invalid_request_error", "invalid_api_key", "", context};
      break;
    case pod_errc::not_ready:
    case pod_errc::draining:
    case pod_errc::injected_server_error:
      info = {503, "service_unavailable_error", "server_error", "", context};
      break;
    case pod_errc::returned_error: {
      int status = 0;
      try {
        status = std::stoi(context);
      } catch (const std::exception&) {
        status = 400;
      }
      info = {status, status >= 500 ? "server_error" : "invalid_request_error",
              std::to_string(status), "",
              "Simulated error triggered by X-Return-Error header (code " + context + ")"};
      break;
    }
    case pod_errc::internal:
      info = {500, "server_error", "internal_error", "", context};
      break;
  }
  return info;
}

}  // namespace inferstack::actors::pod
