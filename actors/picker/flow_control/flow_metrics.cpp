#include "actors/picker/flow_control/flow_metrics.hpp"

namespace inferstack::actors::picker::flow_control {

namespace {

/// llm-d-router's buckets for the queue duration.
const prometheus::Histogram::BucketBoundaries queue_buckets{
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25,   0.5,    1.0,   2.5,   5.0,  10.0,  30.0, 60.0};

}  // namespace

flow_metrics::flow_metrics(prometheus::Registry& r, std::string pool)
    : pool_(std::move(pool)),
      size_family_(prometheus::BuildGauge()
                       .Name("llm_d_epp_flow_control_queue_size")
                       .Help("Current number of requests actively held in the Flow Control queue.")
                       .Register(r)),
      bytes_family_(prometheus::BuildGauge()
                        .Name("llm_d_epp_flow_control_queue_bytes")
                        .Help("Current total size in bytes of requests actively held in the Flow "
                              "Control queue.")
                        .Register(r)),
      duration_family_(prometheus::BuildHistogram()
                           .Name("llm_d_epp_flow_control_request_queue_duration_seconds")
                           .Help("Distribution of total time requests spend in the Flow Control "
                                 "layer (from enqueue to final outcome).")
                           .Register(r)),
      requests_family_(prometheus::BuildCounter()
                           .Name("llm_d_epp_flow_control_requests_total")
                           .Help("Total number of requests processed by the Flow Control layer.")
                           .Register(r)) {}

std::string flow_metrics::flow_label(const std::string& flow) {
  if (flows_seen_.count(flow)) return flow;
  if (flows_seen_.size() >= max_flows) return "other";
  flows_seen_.insert(flow);
  return flow;
}

std::string flow_metrics::priority_label(int priority) {
  if (!priorities_seen_.count(priority)) {
    if (priorities_seen_.size() >= max_priorities) return "other";
    priorities_seen_.insert(priority);
  }
  return std::to_string(priority);
}

void flow_metrics::outcome(const std::string& flow, int priority, std::string_view outcome,
                           double wait_seconds) {
  auto f = flow_label(flow);
  auto p = priority_label(priority);
  std::string o(outcome);
  auto key = std::make_tuple(f, p, o);
  auto d = durations_.find(key);
  if (d == durations_.end())
    d = durations_
            .emplace(key, &duration_family_.Add({{"fairness_id", f},
                                                 {"priority", p},
                                                 {"outcome", o},
                                                 {"inference_pool", pool_}},
                                                queue_buckets))
            .first;
  d->second->Observe(wait_seconds);
  auto c = requests_.find({p, o});
  if (c == requests_.end())
    c = requests_
            .emplace(
                std::make_pair(p, o),
                &requests_family_.Add({{"outcome", o}, {"priority", p}, {"inference_pool", pool_}}))
            .first;
  c->second->Increment();
}

void flow_metrics::update(const std::vector<flow_stats>& queued) {
  for (auto& [key, gauges] : queues_) {
    gauges.first->Set(0);
    gauges.second->Set(0);
  }
  for (const auto& q : queued) {
    std::pair key{flow_label(q.flow), priority_label(q.priority)};
    auto it = queues_.find(key);
    if (it == queues_.end()) {
      std::map<std::string, std::string> labels{
          {"fairness_id", key.first}, {"priority", key.second}, {"inference_pool", pool_}};
      it = queues_.emplace(key, std::pair{&size_family_.Add(labels), &bytes_family_.Add(labels)})
               .first;
    }
    // "other" gathers several flows.
    it->second.first->Increment(static_cast<double>(q.requests));
    it->second.second->Increment(static_cast<double>(q.bytes));
  }
}

}  // namespace inferstack::actors::picker::flow_control
