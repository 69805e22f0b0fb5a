#include "actors/picker/scheduling/endpoint_picker.hpp"

#include <algorithm>
#include <cmath>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace inferstack::actors::picker {

// -- small value helpers ----------------------------------------------------------------------

std::string_view pick_request::header(std::string_view name) const {
  if (!headers) return {};
  for (const auto& [k, v] : *headers)
    if (k == name) return v;
  return {};
}

std::string_view to_string(pick_status s) {
  switch (s) {
    case pick_status::ok:
      return "ok";
    case pick_status::no_endpoints:
      return "no_endpoints";
    case pick_status::all_filtered:
      return "all_filtered";
    case pick_status::shed:
      return "shed";
  }
  return "unknown";
}

int http_status(pick_status s) {
  switch (s) {
    case pick_status::ok:
      return 200;
    case pick_status::no_endpoints:
      return 503;
    case pick_status::all_filtered:
    case pick_status::shed:
      return 429;
  }
  return 500;
}

std::string_view dropped_reason(pick_status s) {
  switch (s) {
    case pick_status::ok:
      return "";
    case pick_status::no_endpoints:
      return "rejected-no-endpoints";
    case pick_status::all_filtered:
    case pick_status::shed:
      return "rejected-saturated";
  }
  return "";
}

std::string_view to_string(extension_point p) {
  switch (p) {
    case extension_point::profile_handler:
      return "ProfileHandler";
    case extension_point::filter:
      return "Filter";
    case extension_point::scorer:
      return "Scorer";
    case extension_point::picker:
      return "Picker";
    case extension_point::data_producer:
      return "DataProducer";
    case extension_point::pre_request:
      return "PreRequest";
    case extension_point::response_complete:
      return "ResponseComplete";
  }
  return "";
}

void schedule_result::clear() {
  status = pick_status::ok;
  reason.clear();
  primary_profile.clear();
  targets.clear();
  prefill.reset();
  disagg_decision.clear();
  retry_after_ns = 0;
  slo = slo_miss::none;
  timings.clear();
  duration_ns = 0;
}

// -- endpoint_picker --------------------------------------------------------------------------

endpoint_picker::endpoint_picker(picker_options options)
    : options_(std::move(options)), pool_(options_.staleness_ns), rng_(options_.seed) {}

endpoint_picker::~endpoint_picker() = default;

plugin* endpoint_picker::add_plugin(std::unique_ptr<plugin> p) {
  plugins_.push_back(std::move(p));
  return plugins_.back().get();
}

void endpoint_picker::add_producer(prefix_producer* p) {
  p->producer_index = static_cast<int>(producers_.size());
  producers_.push_back(p);
  if (auto* precise = dynamic_cast<precise_prefix_producer*>(p)) precise_.push_back(precise);
}

plugin* endpoint_picker::find_plugin(std::string_view name) const {
  for (const auto& p : plugins_)
    if (p->name() == name) return p.get();
  return nullptr;
}

bool endpoint_picker::flow_control_enabled() const {
  return std::find(feature_gates_.begin(), feature_gates_.end(), "flowControl") !=
         feature_gates_.end();
}

void endpoint_picker::finalize() {
  int slot = 0;
  pre_request_hooks_.clear();
  for (auto& p : plugins_) {
    p->state_slot = slot++;
    if (p->has_pre_request()) pre_request_hooks_.push_back(p.get());
  }
  if (!detector_) {
    default_detector_ = std::make_unique<utilization_detector>("utilization-detector",
                                                               utilization_detector::settings{});
    detector_ = default_detector_.get();
  }
  prefix_.resize(producers_.size());
  states_.resize(profiles_.size());
  run_slot_.resize(profiles_.size());
}

const kv_events_settings* endpoint_picker::kv_events() const {
  return precise_.empty() ? nullptr : &precise_.front()->settings().events;
}

std::string_view endpoint_picker::endpoint_name(uint32_t id) const {
  return pool_.live(id) ? std::string_view(pool_.at(id).name) : std::string_view();
}

uint32_t endpoint_picker::add_endpoint(endpoint_info info) {
  uint32_t id = pool_.add(std::move(info));
  for (auto& p : plugins_)
    p->endpoint_added(id, pool_.at(id));
  return id;
}

bool endpoint_picker::remove_endpoint(std::string_view name) {
  auto* e = pool_.find(name);
  if (!e) return false;
  endpoint_state copy = *e;
  for (auto& p : plugins_)
    p->endpoint_removed(copy.id, copy);
  // In-flight entries keep their (now stale) ids: release them so a reused id starts clean.
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    auto& f = it->second;
    bool touches = false;
    for (uint8_t i = 0; i < f.n; ++i)
      if (f.targets[i] == copy.id) touches = true;
    if (touches) {
      release(f, false);
      it = in_flight_.erase(it);
    } else {
      ++it;
    }
  }
  pool_.remove(copy.name);
  return true;
}

bool endpoint_picker::set_ready(std::string_view name, bool ready) {
  return pool_.set_ready(name, ready);
}

bool endpoint_picker::set_draining(std::string_view name, bool draining) {
  return pool_.set_draining(name, draining);
}

bool endpoint_picker::update_load(std::string_view name, const load_report& report,
                                  int64_t now_ns) {
  return pool_.update_load(name, report, now_ns);
}

kv_event_result endpoint_picker::apply_kv_events(std::string_view pod, std::string_view model,
                                                 const runtime::event_batch& batch,
                                                 int64_t now_ns) {
  kv_event_result result;
  const auto* e = pool_.find(pod);
  result.known_pod = e != nullptr;
  for (auto* p : precise_) {
    auto& index = p->index();
    index.expire(now_ns);
    // A known pod is indexed under its name (its ordinal is bound to name and address).
    auto stats = index.apply(e ? std::string_view(e->name) : pod, model, batch);
    if (p == precise_.front()) result.stats = stats;
  }
  return result;
}

void endpoint_picker::clear_kv_index(std::string_view pod) {
  const auto* e = pool_.find(pod);
  for (auto* p : precise_)
    p->index().clear_pod(e ? std::string_view(e->name) : pod);
}

double endpoint_picker::saturation(int64_t now_ns) const {
  return detector_ ? detector_->saturation(pool_, now_ns) : 0.0;
}

pool_metrics endpoint_picker::metrics(int64_t now_ns) const {
  pool_metrics m;
  m.endpoints = pool_.size();
  for (uint32_t id : pool_.ids()) {
    const auto& e = pool_.at(id);
    if (!pool_.schedulable(e)) continue;
    ++m.ready_endpoints;
    m.average_kv_cache_utilization += e.load.kv_usage;
    m.average_queue_size += e.load.waiting;
    m.average_running_requests += e.load.running;
  }
  if (m.ready_endpoints > 0) {
    auto n = static_cast<double>(m.ready_endpoints);
    m.average_kv_cache_utilization /= n;
    m.average_queue_size /= n;
    m.average_running_requests /= n;
  }
  m.saturation = saturation(now_ns);
  for (const auto* p : producers_) {
    if (const auto* a = dynamic_cast<const approx_prefix_producer*>(p)) {
      m.approx_prefix_entries += a->index().size();
      m.prefix_index_bytes += a->index().memory_bytes();
    }
  }
  for (const auto* p : precise_) {
    m.precise_prefix_keys += p->index().size();
    m.prefix_index_bytes += p->index().memory_bytes();
  }
  m.in_flight_requests = in_flight_.size();
  return m;
}

int64_t endpoint_picker::time(extension_point point, const plugin* p, int64_t start,
                              schedule_result& out) const {
  if (!options_.clock) return 0;
  auto end = options_.clock();
  out.timings.push_back(plugin_timing{point, p, end - start});
  return end;
}

schedule_result endpoint_picker::schedule(const pick_request& request, int64_t now_ns) {
  schedule_result out;
  schedule(request, now_ns, out);
  return out;
}

void endpoint_picker::schedule(const pick_request& request, int64_t now_ns, schedule_result& out) {
  int64_t start = clock_now();
  out.clear();
  size_t runs = 0;

  // Candidates: ready, not draining, inside the subset hint when there is one.
  endpoints_.clear();
  for (uint32_t id : pool_.ids()) {
    const auto& e = pool_.at(id);
    if (!pool_.schedulable(e)) continue;
    if (request.subset) {
      bool in = std::any_of(request.subset->begin(), request.subset->end(),
                            [&](const auto& s) { return s == e.name || s == e.address; });
      if (!in) continue;
    }
    endpoints_.push_back(id);
  }
  auto finish = [&]() {
    out.runs.resize(runs);
    if (options_.clock) out.duration_ns = options_.clock() - start;
  };
  if (endpoints_.empty()) {
    out.status = pick_status::no_endpoints;
    out.reason = request.subset ? "failed to find endpoint candidates in the subset"
                                : "no ready endpoints in the pool";
    return finish();
  }
  // Legacy admission: sheddable requests are refused while the pool is saturated.
  if (request.priority < 0 && saturated(now_ns)) {
    out.status = pick_status::shed;
    out.reason = "system saturated, sheddable request dropped";
    out.retry_after_ns = options_.shed_retry_after_ns;
    return finish();
  }

  auto& memo = out.memo;
  memo.cursors.resize(producers_.size());
  memo.primary_match.assign(producers_.size(), prefix_match{});
  memo.prefill_match.assign(producers_.size(), prefix_match{});
  memo.plugin_state.assign(plugins_.size(), 0.0);
  memo.prompt_tokens = static_cast<uint32_t>(request.tokens.size());

  cycle c;
  c.request = &request;
  c.now_ns = now_ns;
  c.pool = &pool_;
  c.rng = &rng_;
  c.endpoints = endpoints_;
  c.prefix = &prefix_;
  c.memo = &memo;
  c.profiles = &profiles_;
  c.states = &states_;
  c.out = &out;
  c.run_slot = &run_slot_;

  for (auto& table : prefix_)
    if (table.size() < pool_.id_bound()) table.resize(pool_.id_bound());
  // One clock reading ends a plugin's time and starts the next one's.
  int64_t t = clock_now();
  for (auto* p : producers_) {
    p->produce(c);
    t = time(extension_point::data_producer, p, t, out);
  }

  std::fill(states_.begin(), states_.end(), run_state::pending);
  std::fill(run_slot_.begin(), run_slot_.end(), -1);
  // The profile loop: ask the handler for profiles until it has none; a profile never runs
  // twice (guards a misbehaving handler).
  for (size_t round = 0; round <= profiles_.size(); ++round) {
    to_run_.clear();
    handler_->pick(c, to_run_);
    t = time(extension_point::profile_handler, handler_, t, out);
    bool ran = false;
    for (int p : to_run_) {
      if (p < 0 || static_cast<size_t>(p) >= profiles_.size() || states_[p] != run_state::pending)
        continue;
      if (runs >= out.runs.size()) out.runs.emplace_back();
      run_slot_[p] = static_cast<int>(runs);
      auto& run = out.runs[runs++];
      run.name = profiles_[p].name;
      run.profile = &profiles_[p];
      t = run_profile(p, c, out, t);
      states_[p] = run.failed ? run_state::failed : run_state::ok;
      ran = true;
    }
    if (!ran) break;
  }
  handler_->process_results(c, out);
  time(extension_point::profile_handler, handler_, t, out);

  if (out.ok()) {
    // What pre_request needs about the picked pods' prefix matches.
    for (size_t p = 0; p < producers_.size(); ++p) {
      memo.primary_match[p] = prefix_[p][out.primary().id];
      if (out.prefill) memo.prefill_match[p] = prefix_[p][out.prefill->id];
    }
  }
  finish();
}

std::vector<prefix_match_report> endpoint_picker::explain_prefix(const pick_request& request,
                                                                 int64_t now_ns) {
  std::vector<prefix_match_report> out;
  endpoints_.clear();
  for (uint32_t id : pool_.ids())
    if (pool_.schedulable(pool_.at(id))) endpoints_.push_back(id);
  request_memo memo;
  memo.cursors.resize(producers_.size());
  memo.plugin_state.assign(plugins_.size(), 0.0);
  cycle c;
  c.request = &request;
  c.now_ns = now_ns;
  c.pool = &pool_;
  c.rng = &rng_;
  c.endpoints = endpoints_;
  c.prefix = &prefix_;
  c.memo = &memo;
  for (auto& table : prefix_)
    if (table.size() < pool_.id_bound()) table.resize(pool_.id_bound());
  for (auto* p : producers_) {
    p->produce(c);
    for (uint32_t id : endpoints_)
      out.push_back(
          prefix_match_report{pool_.at(id).name, p->name(), prefix_[p->producer_index][id]});
  }
  return out;
}

namespace {

// Scores into [0,1] (NaN counts 0) and their weighted sum into the totals; the same values as
// std::clamp (a -0.0 stays -0.0), without branches: at 1,000 pods it runs once per scorer per
// pick. On x86-64 written with SSE2 masks (a compare and an AND per bound: v >= 0 keeps v, -0.0
// included, and clears NaN and negatives to +0.0), which the compiler's own vectorisation of the
// loop below did in twice the instructions (~1 ns a score at 1,000 pods).
__attribute__((optimize("no-trapping-math"))) void clamp_and_add(double* __restrict raw,
                                                                 double* __restrict totals,
                                                                 size_t n, double w) {
  size_t i = 0;
#if defined(__SSE2__)
  const __m128d zero = _mm_setzero_pd(), one = _mm_set1_pd(1.0), weight = _mm_set1_pd(w);
  for (; i + 2 <= n; i += 2) {
    __m128d v = _mm_loadu_pd(raw + i);
    v = _mm_and_pd(v, _mm_cmpge_pd(v, zero));
    __m128d le = _mm_cmple_pd(v, one);
    v = _mm_or_pd(_mm_and_pd(le, v), _mm_andnot_pd(le, one));
    _mm_storeu_pd(raw + i, v);
    _mm_storeu_pd(totals + i, _mm_add_pd(_mm_loadu_pd(totals + i), _mm_mul_pd(v, weight)));
  }
#endif
  for (; i < n; ++i) {
    double v = raw[i];
    v = v >= 0.0 ? v : 0.0;  // negatives and NaN
    v = v <= 1.0 ? v : 1.0;
    raw[i] = v;
    totals[i] += v * w;
  }
}

}  // namespace

int64_t endpoint_picker::run_profile(int index, cycle& c, schedule_result& out, int64_t t) {
  const auto& profile = profiles_[index];
  auto& run = out.runs[run_slot_[index]];
  run.failed = false;
  run.targets.clear();
  run.candidates.assign(endpoints_.begin(), endpoints_.end());
  run.removed.clear();
  for (size_t fi = 0; fi < profile.filters.size(); ++fi) {
    auto* f = profile.filters[fi];
    before_filter_.assign(run.candidates.begin(), run.candidates.end());
    f->filter(c, run.candidates);
    t = time(extension_point::filter, f, t, out);
    // Filters keep the passing endpoints in order: one walk finds the removed ones (for the
    // decision record: which filter removed which pod).
    size_t kept = 0;
    for (uint32_t id : before_filter_) {
      if (kept < run.candidates.size() && run.candidates[kept] == id)
        ++kept;
      else
        run.removed.emplace_back(static_cast<uint32_t>(fi), id);
    }
    if (run.candidates.empty()) break;  // stop early: nothing left to filter
  }
  size_t n = run.candidates.size();
  run.totals.assign(n, 0.0);
  run.scores.assign(profile.scorers.size() * n, 0.0);
  if (n == 0) {
    run.failed = true;
    return t;
  }
  for (size_t s = 0; s < profile.scorers.size(); ++s) {
    auto* scorer = profile.scorers[s];
    std::span<double> raw(run.scores.data() + s * n, n);
    scorer->score(c, run.candidates, raw);
    t = time(extension_point::scorer, scorer, t, out);
    clamp_and_add(raw.data(), run.totals.data(), n, profile.weights[s]);
  }
  profile.picker->pick(c, run.candidates, run.totals, run.targets);
  t = time(extension_point::picker, profile.picker, t, out);
  if (run.targets.empty()) run.failed = true;
  return t;
}

// -- request lifecycle ------------------------------------------------------------------------

int64_t endpoint_picker::uncached_tokens(const pick_request& r, const prefix_match* m) const {
  auto prompt = static_cast<int64_t>(r.tokens.size());
  if (!m || !m->valid) return prompt;
  int64_t cached = std::min<int64_t>(prompt, int64_t{m->match_blocks} * m->block_size);
  return prompt - cached;
}

pre_request_report endpoint_picker::pre_request(const pick_request& request,
                                                schedule_result& result, int64_t now_ns) {
  pre_request_report report;
  if (!result.ok()) return report;
  hook_context h;
  h.request = &request;
  h.result = &result;
  h.now_ns = now_ns;
  h.pool = &pool_;
  h.memo = &result.memo;
  int64_t t = clock_now();
  for (auto* p : pre_request_hooks_) {
    p->pre_request(h);
    t = time(extension_point::pre_request, p, t, result);
  }

  // The default prefix producer's view of the primary target feeds the hit metrics and the
  // uncached-token estimate (llm-d's inflight-load-producer counts only uncached tokens).
  const prefix_match* primary = nullptr;
  const prefix_match* prefill = nullptr;
  if (!producers_.empty()) {
    primary = &result.memo.primary_match[0];
    prefill = &result.memo.prefill_match[0];
    if (primary->valid && primary->total_blocks > 0) {
      report.prefix_observed = true;
      report.hit_ratio = static_cast<double>(primary->match_blocks) / primary->total_blocks;
      report.hit_bytes = int64_t{primary->match_blocks} * primary->block_size * 4;
      report.total_bytes = int64_t{primary->total_blocks} * primary->block_size * 4;
    }
  }
  report.uncached_tokens = uncached_tokens(request, primary);

  expire_in_flight(now_ns);
  in_flight f;
  f.expires_ns = now_ns + options_.request_timeout_ns;
  auto account = [&](const pick_target& t, int64_t tokens) {
    if (!pool_.live(t.id)) return;
    auto& e = pool_.at(t.id);
    if (options_.add_estimated_output_tokens) {
      auto output = static_cast<int64_t>(std::llround(options_.output_ratio * tokens));
      if (options_.max_estimated_output_tokens >= 0)
        output = std::min(output, options_.max_estimated_output_tokens);
      tokens += output;
    }
    e.assigned_requests += 1;
    e.assigned_tokens += tokens;
    e.picked_since_report += 1;
    f.targets[f.n] = t.id;
    f.tokens[f.n] = tokens;
    ++f.n;
  };
  // The in-flight load's producer (another than the default one when named) says what is cached.
  if (auto k = static_cast<size_t>(options_.inflight_producer); k > 0 && k < producers_.size()) {
    account(result.primary(), uncached_tokens(request, &result.memo.primary_match[k]));
    if (result.prefill)
      account(*result.prefill, uncached_tokens(request, &result.memo.prefill_match[k]));
  } else {
    account(result.primary(), report.uncached_tokens);
    if (result.prefill) account(*result.prefill, uncached_tokens(request, prefill));
  }
  if (f.n > 0) {
    auto [it, inserted] = in_flight_.try_emplace(std::string(request.request_id), f);
    if (!inserted) {
      release(it->second, false);  // a retried id: the new attempt replaces the old
      it->second = f;
    }
  }
  return report;
}

void endpoint_picker::add_peer_load(std::string_view pod, int64_t requests, int64_t tokens,
                                    int64_t picks) {
  auto* e = pool_.find(pod);
  if (!e) return;
  e->assigned_requests = std::max<int64_t>(0, e->assigned_requests + requests);
  e->assigned_tokens = std::max<int64_t>(0, e->assigned_tokens + tokens);
  e->picked_since_report += picks;
}

void endpoint_picker::release(in_flight& f, bool tokens_only) {
  for (uint8_t i = 0; i < f.n; ++i) {
    if (!pool_.live(f.targets[i])) continue;
    auto& e = pool_.at(f.targets[i]);
    if (!f.tokens_released)
      e.assigned_tokens = std::max<int64_t>(0, e.assigned_tokens - f.tokens[i]);
    if (!tokens_only) {
      e.assigned_requests = std::max<int64_t>(0, e.assigned_requests - 1);
      e.done_since_report += 1;
    }
  }
  f.tokens_released = true;
}

void endpoint_picker::response_started(std::string_view request_id, int64_t now_ns) {
  if (options_.add_estimated_output_tokens) return;  // tokens held until completion
  auto it = in_flight_.find(std::string(request_id));
  if (it != in_flight_.end()) release(it->second, true);
  expire_in_flight(now_ns);
}

void endpoint_picker::response_complete(std::string_view request_id, int64_t now_ns) {
  auto it = in_flight_.find(std::string(request_id));
  if (it != in_flight_.end()) {
    release(it->second, false);
    in_flight_.erase(it);
  }
  for (auto& p : plugins_)
    if (p->has_response_complete()) p->response_complete(request_id, now_ns);
  expire_in_flight(now_ns);
}

void endpoint_picker::observe_latency(std::string_view request_id, int64_t ttft_ns,
                                      int64_t itl_ns) {
  if (ttft_ns <= 0 && itl_ns <= 0) return;
  for (auto& p : plugins_)
    p->latency_observed(request_id, ttft_ns, itl_ns);
}

void endpoint_picker::expire_in_flight(int64_t now_ns) {
  // A sweep per second at most: entries only expire when their response never completed.
  if (now_ns - last_expiry_ns_ < 1'000'000'000) return;
  last_expiry_ns_ = now_ns;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->second.expires_ns <= now_ns) {
      release(it->second, false);
      it = in_flight_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace inferstack::actors::picker
