// The pod's Prometheus metrics, with vLLM's names, types, label and bucket boundaries (as
// llm-d-inference-sim exposes them), so EPPs, KEDA triggers and dashboards work unchanged.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace inferstack::actors::pod {

class pod_metrics {
 public:
  pod_metrics(prometheus::Registry& registry, const std::string& model_name, uint32_t block_size,
              uint32_t num_gpu_blocks, uint32_t max_model_len);

  prometheus::Gauge& running;
  prometheus::Gauge& waiting;
  prometheus::Gauge& kv_usage;
  prometheus::Counter& prefix_queries;
  prometheus::Counter& prefix_hits;
  prometheus::Counter& prompt_tokens;
  prometheus::Counter& generation_tokens;
  prometheus::Counter& preemptions;
  prometheus::Histogram& ttft;
  prometheus::Histogram& itl;
  prometheus::Histogram& tpot;
  prometheus::Histogram& request_tpot;
  prometheus::Histogram& e2e;
  prometheus::Histogram& queue_time;
  prometheus::Histogram& inference_time;
  prometheus::Histogram& prefill_time;
  prometheus::Histogram& decode_time;
  prometheus::Histogram& request_prompt_tokens;
  prometheus::Histogram& request_generation_tokens;
  prometheus::Histogram& request_max_tokens;

  void success(const std::string& finish_reason);
  void lora_info(uint32_t max_loras, const std::string& running, const std::string& waiting,
                 double timestamp_s);

 private:
  prometheus::Counter& success_counter(const std::string& finish_reason);

  prometheus::Family<prometheus::Counter>& success_family_;
  prometheus::Family<prometheus::Gauge>& lora_family_;
  std::map<std::string, prometheus::Counter*> success_;
  prometheus::Gauge* lora_gauge_ = nullptr;
  std::string model_;
};

}  // namespace inferstack::actors::pod
