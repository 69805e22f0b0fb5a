// SLO-aware routing plugins (slo_plugins.hpp) and their factories.
#include "actors/picker/scheduling/slo_plugins.hpp"

#include <algorithm>
#include <limits>
#include <random>

#include "actors/picker/scheduling/endpoint_picker.hpp"
#include "actors/picker/scheduling/plugin_registry.hpp"

namespace inferstack::actors::picker {

namespace {

bool has_objectives(const pick_request& r) {
  return r.slo_ttft_ms > 0 || r.slo_tpot_ms > 0;
}

/// Nothing running, waiting or on its way there.
bool idle(const endpoint_state& e) {
  return e.load.running == 0 && e.queue_estimate() == 0 && e.assigned_requests == 0;
}

}  // namespace

// -- predicted-latency-producer -----------------------------------------------------------------

latency_query predicted_latency_producer::query(const pick_request& r,
                                                const prefix_match* m) const {
  latency_query q;
  q.prompt_tokens = static_cast<uint32_t>(r.tokens.size());
  uint64_t cached = m && m->valid ? uint64_t{m->match_blocks} * m->block_size : 0;
  q.uncached_tokens =
      q.prompt_tokens - static_cast<uint32_t>(std::min<uint64_t>(cached, q.prompt_tokens));
  q.slo_ttft_ms = r.slo_ttft_ms;
  return q;
}

const latency_headroom& predicted_latency_producer::headroom(const cycle& c, uint32_t id) const {
  // Computed once a cycle per endpoint (the filter and the scorer both ask): the cycle's memo
  // starts with this plugin's slot at 0, and the slot holds the generation of the cache.
  if (state_slot < 0 || static_cast<size_t>(state_slot) >= c.memo->plugin_state.size()) {
    single_ = compute(c, id);  // outside a scheduler (a plugin driven on its own)
    return single_;
  }
  auto& stamp = c.memo->plugin_state[state_slot];
  if (stamp == 0) {
    stamp = ++generation_;
    cached_.assign(c.pool->id_bound(), 0);
    cache_.resize(c.pool->id_bound());
  }
  if (!cached_[id]) {
    cache_[id] = compute(c, id);
    cached_[id] = 1;
  }
  return cache_[id];
}

latency_headroom predicted_latency_producer::compute(const cycle& c, uint32_t id) const {
  const auto& r = *c.request;
  const prefix_match* m = prefix_producer_ >= 0 ? &c.match(prefix_producer_, id) : nullptr;
  latency_headroom h;
  auto q = query(r, m);
  h.predicted = predictor_.predict(c.endpoint(id), q, c.now_ns);
  h.harms = predictor_.harms(c.endpoint(id), q, c.now_ns);
  h.ttft_ms = r.slo_ttft_ms - buffer_ * h.predicted.ttft_ms;
  h.tpot_ms = r.slo_tpot_ms - buffer_ * h.predicted.tpot_ms;
  h.meets = h.predicted.valid && has_objectives(r) && (r.slo_ttft_ms <= 0 || h.ttft_ms >= 0) &&
            (r.slo_tpot_ms <= 0 || h.tpot_ms >= 0);
  return h;
}

void predicted_latency_producer::pre_request(hook_context& h) {
  if (!h.result || !h.result->ok() || !h.pool->live(h.result->primary().id)) return;
  const prefix_match* m =
      prefix_producer_ >= 0 && static_cast<size_t>(prefix_producer_) < h.memo->primary_match.size()
          ? &h.memo->primary_match[prefix_producer_]
          : nullptr;
  predictor_.picked(h.request->request_id, h.pool->at(h.result->primary().id), query(*h.request, m),
                    h.now_ns);
}

void predicted_latency_producer::response_complete(std::string_view request_id, int64_t now_ns) {
  predictor_.completed(request_id, now_ns);
}

void predicted_latency_producer::latency_observed(std::string_view request_id, int64_t ttft_ns,
                                                  int64_t itl_ns) {
  predictor_.observed(request_id, ttft_ns, itl_ns);
}

void predicted_latency_producer::endpoint_removed(uint32_t id, const endpoint_state&) {
  predictor_.endpoint_removed(id);
}

// -- latency-scorer -----------------------------------------------------------------------------

void latency_scorer::score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) {
  scratch_.clear();
  bool any_meets = false;
  for (uint32_t id : cand) {
    scratch_.push_back(producer_->headroom(c, id));
    any_meets = any_meets || scratch_.back().meets;
  }
  // The group scored: the pods meeting the objectives when there are any; else the idle pods
  // with a prediction when there are any (they absorb work before the late ones get more);
  // else every pod with a prediction, the least late first.
  std::vector<uint8_t> in(cand.size(), 0);
  bool any_idle = false;
  if (!any_meets)
    for (size_t i = 0; i < cand.size(); ++i)
      any_idle = any_idle || (scratch_[i].predicted.valid && idle(c.endpoint(cand[i])));
  for (size_t i = 0; i < cand.size(); ++i) {
    const auto& h = scratch_[i];
    in[i] = any_meets ? h.meets : h.predicted.valid && (!any_idle || idle(c.endpoint(cand[i])));
  }
  double inf = std::numeric_limits<double>::infinity();
  double t_lo = inf, t_hi = -inf, p_lo = inf, p_hi = -inf;
  for (size_t i = 0; i < cand.size(); ++i) {
    if (!in[i]) continue;
    t_lo = std::min(t_lo, scratch_[i].ttft_ms);
    t_hi = std::max(t_hi, scratch_[i].ttft_ms);
    p_lo = std::min(p_lo, scratch_[i].tpot_ms);
    p_hi = std::max(p_hi, scratch_[i].tpot_ms);
  }
  // A dimension where every pod is alike says nothing: its weight goes to the other.
  double wt = t_hi > t_lo ? ttft_weight_ : 0, wp = p_hi > p_lo ? tpot_weight_ : 0;
  // Packing (least) applies to pods that meet; among late pods the least late is best.
  bool prefer_small = any_meets && !most_;
  auto norm = [&](double v, double lo, double hi) {
    double x = (v - lo) / (hi - lo);
    return prefer_small ? 1 - x : x;
  };
  for (size_t i = 0; i < cand.size(); ++i) {
    if (!in[i]) continue;
    if (wt + wp <= 0) {
      out[i] = 1;
      continue;
    }
    double s = 0;
    if (wt > 0) s += wt * norm(scratch_[i].ttft_ms, t_lo, t_hi);
    if (wp > 0) s += wp * norm(scratch_[i].tpot_ms, p_lo, p_hi);
    out[i] = s / (wt + wp);
  }
}

// -- slo-headroom-tier-filter ------------------------------------------------------------------

void slo_headroom_tier_filter::filter(cycle& c, std::vector<uint32_t>& candidates) {
  meet_.clear();
  miss_.clear();
  if (!has_objectives(*c.request)) {
    // No objective of its own: kept off the pods where its prefill would make an earlier
    // request miss its objective, while another pod is free of that.
    for (uint32_t id : candidates)
      (producer_->headroom(c, id).harms ? miss_ : meet_).push_back(id);
    if (!meet_.empty() && !miss_.empty()) candidates = meet_;
    return;
  }
  bool unknown = false, any_idle = false;
  for (uint32_t id : candidates) {
    const auto& h = producer_->headroom(c, id);
    (h.meets && !h.harms ? meet_ : miss_).push_back(id);
    unknown = unknown || !h.predicted.valid;
    any_idle = any_idle || idle(c.endpoint(id));
  }
  // Meeting its objective only by making an earlier request miss its own is a last resort.
  if (meet_.empty()) {
    miss_.clear();
    for (uint32_t id : candidates)
      (producer_->headroom(c, id).meets ? meet_ : miss_).push_back(id);
  }
  if (meet_.empty()) {
    // No pod can serve it in time. A pod without a prediction yet may: every pod is kept (the
    // scorer sends it where it is least late). Else the objective's policy decides: refuse
    // (Reject; a sheddable request by default while no pod is idle, llm-d's
    // latency-slo-admitter rule), wait for a pod (Queue: the picker's flow control holds it
    // unless not even an idle pod meets it), or send it where it is least late.
    auto policy = c.request->unattainable_slo;
    bool refuse =
        !unknown && (policy == slo_policy::reject || policy == slo_policy::queue ||
                     (policy == slo_policy::unset && c.request->priority < 0 && !any_idle));
    if (refuse) {
      candidates.clear();
      if (c.out) c.out->slo = any_idle ? slo_miss::unattainable : slo_miss::busy;
    }
    return;
  }
  if (miss_.empty()) return;
  bool explore =
      epsilon_ > 0 && std::uniform_real_distribution<double>(0.0, 1.0)(*c.rng) < epsilon_;
  candidates = explore ? miss_ : meet_;
}

// -- factories ----------------------------------------------------------------------------------

namespace {

using config::fields;
using config::picker_plugin_spec;

/// The pool's predicted-latency-producer: the one declared, else one made with defaults (as
/// llm-d's scorer and filter need its LatencyPredictionInfo).
predicted_latency_producer* latency_producer(plugin_builder& b) {
  for (const auto& p : b.picker().plugins())
    if (auto* l = dynamic_cast<predicted_latency_producer*>(p.get())) return l;
  return b.add(
      std::make_unique<predicted_latency_producer>(
          "predicted-latency-producer", b.producer_ref("", "predicted-latency-producer"), 1.0),
      nullptr);
}

}  // namespace

const std::vector<plugin_factory>& slo_factories() {
  static const std::vector<plugin_factory> list = {
      {"predicted-latency-producer",
       plugin_kind::producer,
       {{"sloBufferFactor", "1.0"}},
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         double buffer = 1.0;
         p.get("sloBufferFactor", buffer);
         check_range(b, p, "sloBufferFactor", buffer, 0.01, 100, "must be in [0.01, 100]");
         b.add(std::make_unique<predicted_latency_producer>(
                   s.name, b.producer_ref("", s.name + ".parameters"), buffer),
               &s);
       }},
      {"latency-scorer",
       plugin_kind::scorer,
       {{"ttftWeight", "0.8"}, {"tpotWeight", "0.2"}, {"headroomSelectionStrategy", "least"}},
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         double ttft = 0.8, tpot = 0.2;
         std::string strategy = "least";
         p.get("ttftWeight", ttft);
         p.get("tpotWeight", tpot);
         p.get("headroomSelectionStrategy", strategy);
         check_range(b, p, "ttftWeight", ttft, 0, 1e9, "must not be negative");
         check_range(b, p, "tpotWeight", tpot, 0, 1e9, "must not be negative");
         if (strategy != "least" && strategy != "most")
           b.problem(p.child_path("headroomSelectionStrategy"), "must be least or most");
         auto* scorer = b.add(
             std::make_unique<latency_scorer>(s.name, nullptr, ttft, tpot, strategy == "most"), &s);
         b.later([&b, scorer] { scorer->set_producer(latency_producer(b)); });
       }},
      {"slo-headroom-tier-filter",
       plugin_kind::filter,
       {{"epsilonExploreNeg", "0.01"}},
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         double epsilon = 0.01;
         p.get("epsilonExploreNeg", epsilon);
         check_range(b, p, "epsilonExploreNeg", epsilon, 0, 1, "must be in [0, 1]");
         auto* filter =
             b.add(std::make_unique<slo_headroom_tier_filter>(s.name, nullptr, epsilon), &s);
         b.later([&b, filter] { filter->set_producer(latency_producer(b)); });
       }},
  };
  return list;
}

}  // namespace inferstack::actors::picker
