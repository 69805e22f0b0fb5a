// The latency model behind SLO-aware routing: a prediction of each pod's time to first token
// (TTFT) and time per output token (TPOT) for one more request, from its queue, batch and
// prefix-cache state. Two sources:
//  - a pod that reports its step profile's terms (our simulated pods put them in their load
//    reports): the step model itself, plus the prefill work this picker sent there that the
//    pod cannot have finished yet (a backlog that drains in real time);
//  - any other pod (a model server over HTTP): a least-squares line fitted online from the
//    TTFT and ITL the gateway observed, TTFT against the uncached prompt tokens in flight there
//    and TPOT against the batch size, older samples fading (exponential forgetting).
// Plain classes: the time is given, nothing is shared.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actors/picker/scheduling/endpoint_state.hpp"

namespace inferstack::actors::picker {

/// y = a + b x by least squares over weighted samples; each new sample multiplies the weight of
/// the older ones by `decay`, so the line follows a pod whose speed changes.
class linear_fit {
 public:
  explicit linear_fit(double decay = 0.98) : decay_(decay) {}

  void add(double x, double y);
  /// Samples seen (not weighted).
  uint64_t samples() const { return samples_; }
  /// Enough samples to predict from.
  bool ready() const { return samples_ >= min_samples; }
  /// The line at `x`; with no spread in x yet, the mean y. The slope is never negative (more
  /// work never makes a pod faster) and the result never below 0.
  double predict(double x) const;
  double intercept() const;
  double slope() const;

  static constexpr uint64_t min_samples = 3;

 private:
  double decay_;
  double w_ = 0, sx_ = 0, sy_ = 0, sxx_ = 0, sxy_ = 0;
  uint64_t samples_ = 0;
};

struct latency_prediction {
  double ttft_ms = 0;
  double tpot_ms = 0;
  bool valid = false;  ///< false: no model yet (an HTTP pod with too few observations)
};

/// What the predictor needs to know of the request on one pod.
struct latency_query {
  uint32_t prompt_tokens = 0;
  uint32_t uncached_tokens = 0;  ///< prompt tokens not expected in the pod's prefix cache
  double slo_ttft_ms = 0;        ///< the request's TTFT objective (0: none)
};

/// The pool's latency model, per endpoint id.
class latency_predictor {
 public:
  latency_prediction predict(const endpoint_state& e, const latency_query& q, int64_t now_ns) const;

  /// The request went to `e`: its prefill joins the pod's backlog, and what was predicted from
  /// is kept until the gateway reports what it observed.
  void picked(std::string_view request_id, const endpoint_state& e, const latency_query& q,
              int64_t now_ns);
  /// Sending this request to `e` would make a request picked there earlier with a TTFT objective
  /// miss it: that one has not had its first token yet and has less slack than this prompt's
  /// prefill (a vLLM step computes the waiting prompts together, so a later prompt delays an
  /// earlier one's first token). Step-profile pods only.
  bool harms(const endpoint_state& e, const latency_query& q, int64_t now_ns) const;

  /// What the gateway observed for a request picked here (0: not observed). Feeds the fits of
  /// the pod it went to.
  void observed(std::string_view request_id, int64_t ttft_ns, int64_t itl_ns);
  /// The request is over: forget it. On a step-profile pod its prefill, and all that was sent
  /// there before it, is done by now: the backlog keeps only the prefill sent after it.
  void completed(std::string_view request_id, int64_t now_ns = 0);
  void endpoint_removed(uint32_t id);

  /// For tests and debugging.
  const linear_fit* ttft_fit(uint32_t id) const;
  const linear_fit* tpot_fit(uint32_t id) const;
  int64_t backlog_ns(uint32_t id, int64_t now_ns) const;
  size_t pending() const { return pending_.size(); }

  /// Step model: one step computing `prefill_tokens` new tokens beside `decode_seqs` decoding
  /// sequences over `kv_tokens` of context (the pod's step profile, without jitter).
  static double step_ns(const step_cost& s, double prefill_tokens, double decode_seqs,
                        double kv_tokens);

 private:
  struct per_endpoint {
    double backlog_ns = 0;  ///< prefill work sent here, as of backlog_at_ns
    int64_t backlog_at_ns = 0;
    double sent_ns = 0;  ///< all the prefill work ever sent here
    /// Requests with TTFT objectives picked here: when the last of them should have its first
    /// token, and the least slack (objective - predicted) among those still waiting for it.
    int64_t guard_until_ns = 0;
    double guard_slack_ns = 0;
    linear_fit ttft, tpot;
  };
  struct pending_request {
    uint32_t id = 0;  ///< forgotten with its endpoint (ids are reused)
    double ttft_x = 0;
    double tpot_x = 0;
    double sent_through_ns = 0;  ///< per_endpoint::sent_ns with this request's prefill
  };

  per_endpoint* slot(uint32_t id);
  const per_endpoint* find(uint32_t id) const;
  double remaining_backlog(const per_endpoint& p, int64_t now_ns) const;
  static double ttft_feature(const endpoint_state& e, const latency_query& q);
  static double tpot_feature(const endpoint_state& e);

  std::vector<per_endpoint> endpoints_;
  std::vector<uint8_t> known_;
  std::unordered_map<std::string, pending_request> pending_;
};

}  // namespace inferstack::actors::picker
