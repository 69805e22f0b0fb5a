// SLO-aware routing with llm-d-router v0.10's plugin names: predicted-latency-producer (the
// latency model, latency_predictor.hpp), latency-scorer (headroom = objective - predicted) and
// slo-headroom-tier-filter (pods predicted to meet the request's objectives). A request's
// objectives come from x-llm-d-slo-ttft-ms / x-llm-d-slo-tpot-ms (or the old x-slo-* names),
// else its InferenceObjective's defaults (pick_request::slo_ttft_ms / slo_tpot_ms).
#pragma once

#include <string>
#include <vector>

#include "actors/picker/scheduling/latency_predictor.hpp"
#include "actors/picker/scheduling/plugin.hpp"

namespace inferstack::actors::picker {

/// One candidate's prediction and headroom (objective - predicted, in ms; with no objective,
/// 0 - predicted, as llm-d computes it).
struct latency_headroom {
  latency_prediction predicted;
  double ttft_ms = 0;
  double tpot_ms = 0;
  /// Meets every objective the request has (a request without objectives meets none).
  bool meets = false;
  /// Sending it there would make an earlier request miss its TTFT objective.
  bool harms = false;
};

/// predicted-latency-producer: owns the pool's latency_predictor; the scorer and the filter ask
/// it for each candidate's prediction. Learns from each pick (pre_request) and from the TTFT and
/// ITL the gateway observed (latency_observed).
class predicted_latency_producer : public plugin {
 public:
  /// `prefix_producer`: the producer whose match tells the cached prompt tokens (-1: none).
  predicted_latency_producer(std::string name, int prefix_producer, double slo_buffer_factor)
      : plugin("predicted-latency-producer", std::move(name)),
        prefix_producer_(prefix_producer),
        buffer_(slo_buffer_factor) {}

  /// Endpoint `id`'s prediction for the cycle's request (valid during the cycle).
  const latency_headroom& headroom(const cycle& c, uint32_t id) const;

  bool has_pre_request() const override { return true; }
  void pre_request(hook_context& h) override;
  bool has_response_complete() const override { return true; }
  void response_complete(std::string_view request_id, int64_t now_ns) override;
  void latency_observed(std::string_view request_id, int64_t ttft_ns, int64_t itl_ns) override;
  void endpoint_removed(uint32_t id, const endpoint_state& e) override;

  latency_predictor& predictor() { return predictor_; }
  const latency_predictor& predictor() const { return predictor_; }

 private:
  latency_query query(const pick_request& r, const prefix_match* m) const;
  latency_headroom compute(const cycle& c, uint32_t id) const;

  int prefix_producer_;
  double buffer_;  ///< sloBufferFactor: predictions are multiplied by it before comparing
  latency_predictor predictor_;
  // The cycle's predictions by endpoint id.
  mutable std::vector<latency_headroom> cache_;
  mutable std::vector<uint8_t> cached_;
  mutable double generation_ = 0;
  mutable latency_headroom single_;
};

/// latency-scorer: scores by headroom. When some candidates meet the objectives, only they
/// score; `least` (llm-d's default) prefers the smallest positive headroom (packing, keeping
/// the fast pods for tight objectives), `most` the largest. When none meets, idle pods score
/// first, then the smallest deficit. TTFT and TPOT headroom are min-max normalised and blended
/// by ttftWeight / tpotWeight. Pods without a prediction score 0.
class latency_scorer : public scorer_plugin {
 public:
  latency_scorer(std::string name, const predicted_latency_producer* producer, double ttft_weight,
                 double tpot_weight, bool most)
      : scorer_plugin("latency-scorer", std::move(name)),
        producer_(producer),
        ttft_weight_(ttft_weight),
        tpot_weight_(tpot_weight),
        most_(most) {}
  scorer_category category() const override { return scorer_category::distribution; }
  void score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) override;
  void set_producer(const predicted_latency_producer* p) { producer_ = p; }

 private:
  const predicted_latency_producer* producer_;
  double ttft_weight_, tpot_weight_;
  bool most_;
  std::vector<latency_headroom> scratch_;
};

/// slo-headroom-tier-filter: for a request with objectives, keeps the pods predicted to meet
/// them without making an earlier request miss its own (with probability epsilonExploreNeg, the
/// others instead, so a recovering pod is seen again). When none can and every pod has a
/// prediction, the request's InferenceObjective policy (pick_request::unattainable_slo)
/// decides: Reject and Queue remove every pod (schedule_result::slo says whether an idle pod
/// could not meet it either: Queue then refuses too), BestEffort keeps every pod (the least late
/// wins); unset, a sheddable request (priority < 0) is refused unless a pod is idle (llm-d's
/// latency-slo-admitter rule) and any other is best effort. A request without objectives keeps
/// the pods where its prefill would not make an earlier request miss its TTFT objective (all
/// when every pod would).
class slo_headroom_tier_filter : public filter_plugin {
 public:
  slo_headroom_tier_filter(std::string name, const predicted_latency_producer* producer,
                           double epsilon)
      : filter_plugin("slo-headroom-tier-filter", std::move(name)),
        producer_(producer),
        epsilon_(epsilon) {}
  void filter(cycle& c, std::vector<uint32_t>& candidates) override;
  void set_producer(const predicted_latency_producer* p) { producer_ = p; }

 private:
  const predicted_latency_producer* producer_;
  double epsilon_;
  std::vector<uint32_t> meet_, miss_;
};

}  // namespace inferstack::actors::picker
