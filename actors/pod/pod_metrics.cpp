#include "actors/pod/pod_metrics.hpp"

#include <vector>

namespace inferstack::actors::pod {

namespace {

using prometheus::Histogram;

const Histogram::BucketBoundaries ttft_buckets{0.001, 0.005, 0.01, 0.02,  0.04,  0.06,  0.08, 0.1,
                                               0.25,  0.5,   0.75, 1.0,   2.5,   5.0,   7.5,  10.0,
                                               20.0,  40.0,  80.0, 160.0, 640.0, 2560.0};
const Histogram::BucketBoundaries token_time_buckets{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
                                                     0.3,  0.4,   0.5,  0.75,  1.0, 2.5,  5.0,
                                                     7.5,  10.0,  20.0, 40.0,  80.0};
const Histogram::BucketBoundaries request_time_buckets{
    0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,   15.0,  20.0,
    30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

/// vLLM's 1-2-5 series up to `max` (build_1_2_5_buckets).
Histogram::BucketBoundaries one_two_five(uint32_t max) {
  Histogram::BucketBoundaries out;
  for (double exponent = 1;; exponent *= 10) {
    for (double m : {1.0, 2.0, 5.0}) {
      double v = m * exponent;
      if (v > max) return out;
      out.push_back(v);
    }
  }
}

template <class Builder>
auto& family(Builder builder, prometheus::Registry& registry, const char* name, const char* help) {
  return builder.Name(name).Help(help).Register(registry);
}

}  // namespace

pod_metrics::pod_metrics(prometheus::Registry& r, const std::string& model, uint32_t block_size,
                         uint32_t num_gpu_blocks, uint32_t max_model_len)
    : running(family(prometheus::BuildGauge(), r, "vllm:num_requests_running",
                     "Number of requests currently running on GPU.")
                  .Add({{"model_name", model}})),
      waiting(family(prometheus::BuildGauge(), r, "vllm:num_requests_waiting",
                     "Number of requests waiting to be processed.")
                  .Add({{"model_name", model}})),
      kv_usage(family(prometheus::BuildGauge(), r, "vllm:kv_cache_usage_perc",
                      "KV-cache usage. 1 means 100 percent usage.")
                   .Add({{"model_name", model}})),
      prefix_queries(family(prometheus::BuildCounter(), r, "vllm:prefix_cache_queries_total",
                            "Prefix cache queries, in terms of number of queried tokens.")
                         .Add({{"model_name", model}})),
      prefix_hits(family(prometheus::BuildCounter(), r, "vllm:prefix_cache_hits_total",
                         "Prefix cache hits, in terms of number of cached tokens.")
                      .Add({{"model_name", model}})),
      prompt_tokens(family(prometheus::BuildCounter(), r, "vllm:prompt_tokens_total",
                           "Number of prefill tokens processed.")
                        .Add({{"model_name", model}})),
      generation_tokens(family(prometheus::BuildCounter(), r, "vllm:generation_tokens_total",
                               "Number of generation tokens processed.")
                            .Add({{"model_name", model}})),
      preemptions(family(prometheus::BuildCounter(), r, "vllm:num_preemptions_total",
                         "Cumulative number of preemption from the engine.")
                      .Add({{"model_name", model}})),
      ttft(family(prometheus::BuildHistogram(), r, "vllm:time_to_first_token_seconds",
                  "Histogram of time to first token in seconds.")
               .Add({{"model_name", model}}, ttft_buckets)),
      itl(family(prometheus::BuildHistogram(), r, "vllm:inter_token_latency_seconds",
                 "Histogram of inter-token latency in seconds.")
              .Add({{"model_name", model}}, token_time_buckets)),
      tpot(family(prometheus::BuildHistogram(), r, "vllm:time_per_output_token_seconds",
                  "Histogram of time per output token in seconds.")
               .Add({{"model_name", model}}, token_time_buckets)),
      request_tpot(family(prometheus::BuildHistogram(), r,
                          "vllm:request_time_per_output_token_seconds",
                          "Histogram of time_per_output_token_seconds per request.")
                       .Add({{"model_name", model}}, token_time_buckets)),
      e2e(family(prometheus::BuildHistogram(), r, "vllm:e2e_request_latency_seconds",
                 "Histogram of e2e request latency in seconds.")
              .Add({{"model_name", model}}, request_time_buckets)),
      queue_time(family(prometheus::BuildHistogram(), r, "vllm:request_queue_time_seconds",
                        "Histogram of time spent in WAITING phase for request.")
                     .Add({{"model_name", model}}, request_time_buckets)),
      inference_time(family(prometheus::BuildHistogram(), r, "vllm:request_inference_time_seconds",
                            "Histogram of time spent in RUNNING phase for request.")
                         .Add({{"model_name", model}}, request_time_buckets)),
      prefill_time(family(prometheus::BuildHistogram(), r, "vllm:request_prefill_time_seconds",
                          "Histogram of time spent in PREFILL phase for request.")
                       .Add({{"model_name", model}}, request_time_buckets)),
      decode_time(family(prometheus::BuildHistogram(), r, "vllm:request_decode_time_seconds",
                         "Histogram of time spent in DECODE phase for request.")
                      .Add({{"model_name", model}}, request_time_buckets)),
      request_prompt_tokens(family(prometheus::BuildHistogram(), r, "vllm:request_prompt_tokens",
                                   "Number of prefill tokens processed.")
                                .Add({{"model_name", model}}, one_two_five(max_model_len))),
      request_generation_tokens(family(prometheus::BuildHistogram(), r,
                                       "vllm:request_generation_tokens",
                                       "Number of generation tokens processed.")
                                    .Add({{"model_name", model}}, one_two_five(max_model_len))),
      request_max_tokens(family(prometheus::BuildHistogram(), r, "vllm:request_params_max_tokens",
                                "Histogram of the max_tokens request parameter.")
                             .Add({{"model_name", model}}, one_two_five(max_model_len))),
      success_family_(family(prometheus::BuildCounter(), r, "vllm:request_success_total",
                             "Count of successfully processed requests.")),
      lora_family_(family(prometheus::BuildGauge(), r, "vllm:lora_requests_info",
                          "Running stats on lora requests.")),
      model_(model) {
  family(prometheus::BuildGauge(), r, "vllm:cache_config_info",
         "Information of the LLMEngine CacheConfig")
      .Add({{"block_size", std::to_string(block_size)},
            {"num_gpu_blocks", std::to_string(num_gpu_blocks)}})
      .Set(1);
  for (const char* reason : {"stop", "length"})
    success_counter(reason);
}

prometheus::Counter& pod_metrics::success_counter(const std::string& finish_reason) {
  auto it = success_.find(finish_reason);
  if (it == success_.end())
    it = success_
             .emplace(finish_reason, &success_family_.Add({{"model_name", model_},
                                                           {"finish_reason", finish_reason}}))
             .first;
  return *it->second;
}

void pod_metrics::success(const std::string& finish_reason) {
  success_counter(finish_reason).Increment();
}

void pod_metrics::lora_info(uint32_t max_loras, const std::string& running,
                            const std::string& waiting, double timestamp_s) {
  if (lora_gauge_) lora_family_.Remove(lora_gauge_);
  lora_gauge_ = &lora_family_.Add({{"max_lora", std::to_string(max_loras)},
                                   {"running_lora_adapters", running},
                                   {"waiting_lora_adapters", waiting}});
  lora_gauge_->Set(timestamp_s);
}

}  // namespace inferstack::actors::pod
