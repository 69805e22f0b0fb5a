// The flow-control layer's metrics under llm-d-router v0.10's names (pkg/epp/metrics):
//   llm_d_epp_flow_control_queue_size{fairness_id,priority,inference_pool}      requests waiting
//   llm_d_epp_flow_control_queue_bytes{fairness_id,priority,inference_pool}     their bytes
//   llm_d_epp_flow_control_request_queue_duration_seconds{fairness_id,priority,outcome,
//     inference_pool}                                   time from arrival to the outcome
//   llm_d_epp_flow_control_requests_total{outcome,priority,inference_pool}      outcomes
// Outcomes are llm-d's QueueOutcome names (Dispatched, RejectedCapacity, EvictedTTL,
// EvictedContextCancelled, EvictedNoEndpoints) plus RejectedSaturated: a sheddable request
// refused at once. llm-d's model labels are left out (a flow is not one model). Label values
// are bounded per pool: fairness ids beyond the first 100 and priorities beyond the first 20
// are reported as "other", as llm-d bounds its label values.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "actors/picker/flow_control/flow_controller.hpp"

namespace inferstack::actors::picker::flow_control {

class flow_metrics {
 public:
  flow_metrics(prometheus::Registry& registry, std::string pool);

  /// A request's outcome after `wait_seconds` in the layer (0 for one never queued).
  void outcome(const std::string& flow, int priority, std::string_view outcome,
               double wait_seconds);

  /// Sets the queue gauges to what waits now; series of flows no longer waiting go to 0.
  void update(const std::vector<flow_stats>& queued);

  static constexpr size_t max_flows = 100;
  static constexpr size_t max_priorities = 20;

 private:
  std::string flow_label(const std::string& flow);
  std::string priority_label(int priority);

  std::string pool_;
  prometheus::Family<prometheus::Gauge>& size_family_;
  prometheus::Family<prometheus::Gauge>& bytes_family_;
  prometheus::Family<prometheus::Histogram>& duration_family_;
  prometheus::Family<prometheus::Counter>& requests_family_;
  std::set<std::string> flows_seen_;
  std::set<int> priorities_seen_;
  std::map<std::pair<std::string, std::string>, std::pair<prometheus::Gauge*, prometheus::Gauge*>>
      queues_;
  std::map<std::tuple<std::string, std::string, std::string>, prometheus::Histogram*> durations_;
  std::map<std::pair<std::string, std::string>, prometheus::Counter*> requests_;
};

}  // namespace inferstack::actors::picker::flow_control
