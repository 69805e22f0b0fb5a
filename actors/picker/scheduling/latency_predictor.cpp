#include "actors/picker/scheduling/latency_predictor.hpp"

#include <algorithm>
#include <cmath>

namespace inferstack::actors::picker {

// -- linear_fit --------------------------------------------------------------------------------

void linear_fit::add(double x, double y) {
  w_ = w_ * decay_ + 1;
  sx_ = sx_ * decay_ + x;
  sy_ = sy_ * decay_ + y;
  sxx_ = sxx_ * decay_ + x * x;
  sxy_ = sxy_ * decay_ + x * y;
  ++samples_;
}

double linear_fit::slope() const {
  if (w_ <= 0) return 0;
  double var = sxx_ / w_ - (sx_ / w_) * (sx_ / w_);
  // No spread in x (every sample at the same load): no slope to learn yet.
  if (var <= 1e-9 * std::max(1.0, sxx_ / w_)) return 0;
  double cov = sxy_ / w_ - (sx_ / w_) * (sy_ / w_);
  return std::max(0.0, cov / var);
}

double linear_fit::intercept() const {
  if (w_ <= 0) return 0;
  return sy_ / w_ - slope() * sx_ / w_;
}

double linear_fit::predict(double x) const {
  return std::max(0.0, intercept() + slope() * x);
}

// -- latency_predictor -------------------------------------------------------------------------

double latency_predictor::step_ns(const step_cost& s, double prefill_tokens, double decode_seqs,
                                  double kv_tokens) {
  double ns = s.step_overhead_ns + s.decode_ns_per_sequence * decode_seqs +
              s.attention_ns_per_kv_token * kv_tokens;
  if (prefill_tokens > 0)
    ns += s.prefill_overhead_ns + s.prefill_ns_per_token * prefill_tokens +
          s.decode_ns_per_sequence;  // the prefilling sequence is one of the batch too
  return ns;
}

namespace {

/// KV tokens the pod holds: from its KV usage when its cache size is known, else the tokens in
/// flight there.
double kv_tokens(const endpoint_state& e) {
  if (e.load.num_gpu_blocks > 0 && e.load.block_size > 0)
    return e.load.kv_usage * e.load.num_gpu_blocks * e.load.block_size;
  return static_cast<double>(e.load.in_flight_tokens);
}

/// The batch the request would join: the pod's running sequences, plus what this picker sent
/// since the report (they run by now, or wait).
double batch(const endpoint_state& e) {
  return static_cast<double>(e.load.running) + static_cast<double>(e.picked_since_report);
}

}  // namespace

latency_predictor::per_endpoint* latency_predictor::slot(uint32_t id) {
  if (id >= endpoints_.size()) {
    endpoints_.resize(id + 1);
    known_.resize(id + 1, 0);
  }
  known_[id] = 1;
  return &endpoints_[id];
}

const latency_predictor::per_endpoint* latency_predictor::find(uint32_t id) const {
  return id < endpoints_.size() && known_[id] ? &endpoints_[id] : nullptr;
}

double latency_predictor::remaining_backlog(const per_endpoint& p, int64_t now_ns) const {
  return std::max(0.0, p.backlog_ns - static_cast<double>(now_ns - p.backlog_at_ns));
}

int64_t latency_predictor::backlog_ns(uint32_t id, int64_t now_ns) const {
  const auto* p = find(id);
  return p ? static_cast<int64_t>(remaining_backlog(*p, now_ns)) : 0;
}

double latency_predictor::ttft_feature(const endpoint_state& e, const latency_query& q) {
  return static_cast<double>(e.assigned_tokens) + q.uncached_tokens;
}

double latency_predictor::tpot_feature(const endpoint_state& e) {
  return (e.has_metrics() ? batch(e) : static_cast<double>(e.assigned_requests)) + 1;
}

latency_prediction latency_predictor::predict(const endpoint_state& e, const latency_query& q,
                                              int64_t now_ns) const {
  latency_prediction out;
  const auto* p = find(e.id);
  const auto& s = e.load.step;
  if (s.known()) {
    double running = batch(e);
    double kv = kv_tokens(e);
    // Queued prefill: what this picker sent and the pod cannot have computed yet, and no less
    // than one prefill step for each request the pod reports waiting (another picker's).
    double queued = p ? remaining_backlog(*p, now_ns) : 0;
    double waiting_floor =
        static_cast<double>(e.load.waiting) * (s.step_overhead_ns + s.prefill_overhead_ns);
    double own = step_ns(s, q.uncached_tokens, running, kv + q.prompt_tokens);
    out.ttft_ms = (std::max(queued, waiting_floor) + own) / 1e6;
    out.tpot_ms = step_ns(s, 0, running + 1, kv + q.prompt_tokens) / 1e6;
    out.valid = true;
    return out;
  }
  if (p && p->ttft.ready()) {
    out.ttft_ms = p->ttft.predict(ttft_feature(e, q)) / 1e6;
    out.tpot_ms = p->tpot.ready() ? p->tpot.predict(tpot_feature(e)) / 1e6 : 0;
    out.valid = true;
  }
  return out;
}

bool latency_predictor::harms(const endpoint_state& e, const latency_query& q,
                              int64_t now_ns) const {
  const auto* p = find(e.id);
  const auto& s = e.load.step;
  if (!p || !s.known() || p->guard_until_ns <= now_ns) return false;
  return s.prefill_overhead_ns + s.prefill_ns_per_token * q.uncached_tokens > p->guard_slack_ns;
}

void latency_predictor::picked(std::string_view request_id, const endpoint_state& e,
                               const latency_query& q, int64_t now_ns) {
  if (q.slo_ttft_ms > 0 && e.load.step.known()) {
    auto ttft_ns = predict(e, q, now_ns).ttft_ms * 1e6;
    auto slack = std::max(0.0, q.slo_ttft_ms * 1e6 - ttft_ns);
    auto* p = slot(e.id);
    bool guarding = p->guard_until_ns > now_ns;
    p->guard_slack_ns = guarding ? std::min(p->guard_slack_ns, slack) : slack;
    p->guard_until_ns = std::max(p->guard_until_ns, now_ns + static_cast<int64_t>(ttft_ns));
  }
  auto* p = slot(e.id);
  const auto& s = e.load.step;
  if (s.known()) {
    // The pod computes this prompt after what is queued there (the backlog drains in real time).
    double prefill = s.prefill_overhead_ns + s.prefill_ns_per_token * q.uncached_tokens;
    p->backlog_ns = remaining_backlog(*p, now_ns) + prefill;
    p->backlog_at_ns = now_ns;
    p->sent_ns += prefill;
  }
  pending_request r;
  r.id = e.id;
  r.sent_through_ns = p->sent_ns;
  r.ttft_x = ttft_feature(e, q);
  r.tpot_x = tpot_feature(e);
  pending_.insert_or_assign(std::string(request_id), std::move(r));
}

void latency_predictor::observed(std::string_view request_id, int64_t ttft_ns, int64_t itl_ns) {
  auto it = pending_.find(std::string(request_id));
  if (it == pending_.end()) return;
  const auto& r = it->second;
  if (!find(r.id)) return;
  auto* p = slot(r.id);
  if (ttft_ns > 0) p->ttft.add(r.ttft_x, static_cast<double>(ttft_ns));
  if (itl_ns > 0) p->tpot.add(r.tpot_x, static_cast<double>(itl_ns));
}

void latency_predictor::completed(std::string_view request_id, int64_t now_ns) {
  auto it = pending_.find(std::string(request_id));
  if (it == pending_.end()) return;
  if (auto* p = find(it->second.id) ? slot(it->second.id) : nullptr; p && now_ns > 0) {
    // A pod computes prompts in the order they came: what is left is at most what came after.
    double after = p->sent_ns - it->second.sent_through_ns;
    if (remaining_backlog(*p, now_ns) > after) {
      p->backlog_ns = after;
      p->backlog_at_ns = now_ns;
    }
  }
  pending_.erase(it);
}

void latency_predictor::endpoint_removed(uint32_t id) {
  if (id < endpoints_.size()) {
    endpoints_[id] = per_endpoint{};
    known_[id] = 0;
  }
  for (auto it = pending_.begin(); it != pending_.end();)
    it = it->second.id == id ? pending_.erase(it) : std::next(it);
}

const linear_fit* latency_predictor::ttft_fit(uint32_t id) const {
  const auto* p = find(id);
  return p ? &p->ttft : nullptr;
}

const linear_fit* latency_predictor::tpot_fit(uint32_t id) const {
  const auto* p = find(id);
  return p ? &p->tpot : nullptr;
}

}  // namespace inferstack::actors::picker
