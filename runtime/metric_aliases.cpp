#include "runtime/metric_aliases.hpp"

#include <algorithm>
#include <string>

namespace inferstack::runtime {

namespace {

// Old name -> new name, as llm-d-router v0.10 registers both (pkg/epp/metrics/metrics.go: the
// deprecated families; llm_d_router_metrics.go: the llm_d_epp ones; the approximate prefix
// producer's metrics.go; collectors/inference_pool.go for the per-endpoint queue gauge).
// inference_extension_scheduler_e2e_duration_seconds is not here: the picker registers
// llm_d_epp_scheduler_e2e_duration_seconds itself, with llm-d's buckets.
constexpr metric_alias aliases[] = {
    {"inference_objective_request_total", "llm_d_epp_request_total"},
    {"inference_objective_request_error_total", "llm_d_epp_request_error_total"},
    {"inference_objective_request_duration_seconds", "llm_d_epp_request_duration_seconds"},
    {"inference_objective_request_sizes", "llm_d_epp_request_size_bytes"},
    {"inference_objective_response_sizes", "llm_d_epp_response_size_bytes"},
    {"inference_objective_input_tokens", "llm_d_epp_request_input_tokens"},
    {"inference_objective_output_tokens", "llm_d_epp_request_output_tokens"},
    {"inference_objective_prompt_cached_tokens", "llm_d_epp_request_cached_tokens"},
    {"inference_objective_running_requests", "llm_d_epp_request_running"},
    {"inference_objective_normalized_time_per_output_token_seconds",
     "llm_d_epp_request_ntpot_seconds"},
    {"inference_pool_average_kv_cache_utilization", "llm_d_epp_average_kv_cache_utilization"},
    {"inference_pool_average_queue_size", "llm_d_epp_average_queue_size"},
    {"inference_pool_average_running_requests", "llm_d_epp_average_running_requests"},
    {"inference_pool_ready_pods", "llm_d_epp_ready_endpoints"},
    {"inference_pool_per_pod_queue_size", "llm_d_epp_per_endpoint_queue_size", "model_server_pod",
     "model_server_endpoint"},
    {"inference_extension_scheduler_attempts_total", "llm_d_epp_scheduler_attempts_total",
     "pod_name", "endpoint_name"},
    {"inference_extension_plugin_duration_seconds", "llm_d_epp_plugin_duration_seconds"},
    {"inference_extension_info", "llm_d_epp_info"},
    {"inference_extension_flow_control_request_queue_duration_seconds",
     "llm_d_epp_flow_control_request_queue_duration_seconds"},
    {"inference_extension_flow_control_dispatch_cycle_duration_seconds",
     "llm_d_epp_flow_control_dispatch_cycle_duration_seconds"},
    {"inference_extension_flow_control_request_enqueue_duration_seconds",
     "llm_d_epp_flow_control_request_enqueue_duration_seconds"},
    {"inference_extension_flow_control_queue_size", "llm_d_epp_flow_control_queue_size"},
    {"inference_extension_flow_control_queue_bytes", "llm_d_epp_flow_control_queue_bytes"},
    {"inference_extension_flow_control_pool_saturation", "llm_d_epp_flow_control_pool_saturation"},
    {"inference_extension_model_rewrite_decisions_total",
     "llm_d_epp_model_rewrite_decisions_total"},
    {"inference_extension_prefix_indexer_size", "llm_d_epp_prefix_indexer_size"},
    {"inference_extension_prefix_indexer_hit_ratio", "llm_d_epp_prefix_indexer_hit_ratio"},
    {"inference_extension_prefix_indexer_hit_bytes", "llm_d_epp_prefix_indexer_hit_bytes"},
};

}  // namespace

std::span<const metric_alias> llm_d_metric_aliases() {
  return aliases;
}

void add_metric_aliases(std::vector<prometheus::MetricFamily>& families) {
  auto present = [&](std::string_view name) {
    return std::any_of(families.begin(), families.end(),
                       [&](const auto& f) { return f.name == name; });
  };
  // Only the families collected, not the copies appended below, are looked at.
  size_t collected = families.size();
  for (size_t i = 0; i < collected; ++i) {
    auto alias = std::find_if(std::begin(aliases), std::end(aliases),
                              [&](const auto& a) { return a.old_name == families[i].name; });
    if (alias == std::end(aliases) || present(alias->new_name)) continue;
    prometheus::MetricFamily copy = families[i];
    copy.name = std::string(alias->new_name);
    if (!alias->old_label.empty())
      for (auto& metric : copy.metric)
        for (auto& label : metric.label)
          if (label.name == alias->old_label) label.name = std::string(alias->new_label);
    families.push_back(std::move(copy));
  }
}

}  // namespace inferstack::runtime
