// llm-d-inference-sim's fake metrics (--fake-metrics, the config file's `fake-metrics:`, the
// /fake_metrics and /admin/config updates): fixed values /metrics reports instead of the measured
// ones, with the simulator's field names, validation and update rules.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace inferstack::actors::pod {

/// A value that changes over time: oscillate, ramp, rampreset or squarewave from start to end.
struct fake_function {
  std::string name;
  double start = 0;
  double end = 0;
  int64_t period_ns = 0;
};

/// A gauge's fake value: a number, or a function of the time since it was set.
struct fake_value {
  double fixed = 0;
  std::optional<fake_function> function;
};

/// One series of vllm:lora_requests_info.
struct fake_lora {
  std::string running;  ///< comma-separated adapter names
  std::string waiting;
  double timestamp = 0;
};

/// Every field is optional: an update changes only what it names.
struct fake_metrics {
  std::optional<fake_value> running_requests, waiting_requests, kv_cache_usage;
  /// Histograms given as counts per bucket (a missing tail counts 0; the last is +Inf).
  std::optional<std::vector<int64_t>> ttft_buckets, tpot_buckets, request_tpot_buckets, e2e_buckets,
      queue_time_buckets, inference_time_buckets, prefill_time_buckets, decode_time_buckets;
  /// Token histograms, counts per 1-2-5 bucket too; the values they stand for sum to the token
  /// totals unless total-prompt-tokens / total-generation-tokens are given.
  std::optional<std::vector<int64_t>> request_prompt_tokens, request_generation_tokens,
      request_params_max_tokens, request_max_generation_tokens;
  std::optional<std::map<std::string, int64_t>> request_success_total;  ///< by finish reason
  std::optional<int64_t> total_prompt_tokens, total_generation_tokens;
  std::optional<int64_t> prefix_cache_hits, prefix_cache_queries;
  std::optional<std::vector<fake_lora>> loras;
};

/// Reads fake metrics from JSON (the flag, /fake_metrics) or YAML (the config file), where
/// `loras` items are objects or JSON strings. The error names the field.
std::optional<std::string> parse_fake_metrics(std::string_view text, fake_metrics& out);

/// The simulator's checks of the whole (merged) set; fills request-success-total with the
/// finish reasons it requires. The error names the field.
std::optional<std::string> validate_fake_metrics(fake_metrics& f);

/// `update` laid over `into` field by field (request-success-total merges by reason).
void merge_fake_metrics(fake_metrics& into, const fake_metrics& update);

/// The function's value `elapsed_ns` after it was set.
double fake_function_value(const fake_function& f, int64_t elapsed_ns);

/// Bucket upper bounds the simulator uses for the fake histograms (the +Inf bucket not listed).
extern const std::vector<double> ttft_bucket_bounds;
extern const std::vector<double> tpot_bucket_bounds;
extern const std::vector<double> request_latency_bucket_bounds;
/// vLLM's build_1_2_5_buckets: 1, 2, 5, 10, 20, 50, ... up to `max`.
std::vector<double> one_two_five_buckets(uint32_t max);

}  // namespace inferstack::actors::pod
