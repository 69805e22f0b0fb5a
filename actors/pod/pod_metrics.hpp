// The pod's Prometheus metrics, with vLLM's names, types, label and bucket boundaries (as
// llm-d-inference-sim exposes them), so EPPs, KEDA triggers and dashboards work unchanged.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "actors/pod/fake_metrics.hpp"
#include "runtime/brief_mutex.hpp"

namespace inferstack::actors::pod {

struct pod_metrics_options {
  /// llm-d-inference-sim's exposition (a pod started as the simulator): a series appears once
  /// it has a value, and the simulator's names where they differ from vLLM's. Off: vLLM's (every
  /// series from the start).
  bool simulator = false;
  /// Report these instead of the measured values (the simulator's --fake-metrics).
  std::optional<fake_metrics> fake;
  /// Function-valued fake gauges change in steps of this (--fake-metrics-refresh-interval).
  int64_t fake_refresh_ns = 100'000'000;
  /// Steady nanoseconds, for fake functions; wall-clock seconds, for lora_requests_info.
  std::function<int64_t()> steady_ns;
  std::function<double()> unix_seconds;
};

class pod_metrics;

/// One series of a family: created when first given a value in simulator mode, at once
/// otherwise; `frozen` while fake metrics stand in for it. Thread-safe: the pod actor observes,
/// /metrics and the fake-metrics updates come from the HTTP threads.
template <class Metric>
class metric_series {
 public:
  void reset();  ///< removed from /metrics (until its next value)

 protected:
  friend class pod_metrics;
  friend class histogram_batch;
  Metric* get();  ///< with the lock held
  runtime::brief_mutex* mutex_ = nullptr;
  prometheus::Family<Metric>* family_ = nullptr;  ///< null: not exported in this mode
  prometheus::Labels labels_;
  std::vector<double> buckets_;  ///< histograms
  Metric* metric_ = nullptr;
  bool frozen_ = false;
};

class gauge_series : public metric_series<prometheus::Gauge> {
 public:
  void Set(double value);
  void set_fake(double value);
};

class counter_series : public metric_series<prometheus::Counter> {
 public:
  void Increment(double by = 1);
  double Value();
  void add_fake(double by);
};

class histogram_batch;

class histogram_series : public metric_series<prometheus::Histogram> {
 public:
  void Observe(double value);
  /// The batch's observations at once (one lock for many); the batch is empty afterwards.
  void observe(histogram_batch& batch);
  /// The simulator's fake histogram: counts[i] observations of bucket i's upper bound (the last
  /// bucket: the last bound + 1). Returns the sum of the observed values, whole numbers.
  std::optional<int64_t> fill_fake(const std::vector<int64_t>& counts);
};

/// Observations of one histogram gathered without a lock, e.g. the inter-token gaps of a step's
/// tokens: a step's dozens of tokens cost the series one update instead of one each.
class histogram_batch {
 public:
  explicit histogram_batch(const histogram_series& series);
  void observe(double value);
  bool empty() const { return observed_ == 0; }

 private:
  friend class histogram_series;
  const std::vector<double>* bounds_;
  std::vector<double> counts_;  ///< per bucket, the last: above every bound
  double sum_ = 0;
  uint64_t observed_ = 0;
};

class pod_metrics {
 public:
  pod_metrics(prometheus::Registry& registry, const std::string& model_name, uint32_t block_size,
              uint32_t num_gpu_blocks, uint32_t max_model_len, uint32_t max_loras,
              pod_metrics_options options = {});
  pod_metrics(const pod_metrics&) = delete;
  pod_metrics& operator=(const pod_metrics&) = delete;

  gauge_series running;
  gauge_series waiting;
  gauge_series kv_usage;
  counter_series prefix_queries;
  counter_series prefix_hits;
  counter_series prompt_tokens;
  counter_series generation_tokens;
  counter_series preemptions;  ///< vLLM's; the simulator has none
  histogram_series ttft;
  histogram_series itl;
  histogram_series tpot;
  histogram_series request_tpot;
  histogram_series e2e;
  histogram_series queue_time;
  histogram_series inference_time;
  histogram_series prefill_time;
  histogram_series decode_time;
  histogram_series request_prompt_tokens;
  histogram_series request_generation_tokens;
  histogram_series request_max_tokens;
  /// The largest generation of a request's choices (vLLM: request_max_num_generation_tokens).
  histogram_series request_max_generation_tokens;
  gauge_series gpu_loras;  ///< vllm:num_gpu_loaded_lora_adapters (vLLM's; not the simulator's)
  /// inferstack_lora_adapter_loads_total: adapters swapped into a GPU slot (ours: vLLM counts
  /// none; not in the simulator's exposition).
  counter_series lora_loads;

  void success(const std::string& finish_reason);
  /// vllm:lora_requests_info: each (running, waiting) pair seen keeps its series, valued with
  /// the time it was last current (as vLLM and the simulator leave them).
  void lora_info(const std::string& running, const std::string& waiting);
  void lora_info(const std::string& running, const std::string& waiting, double timestamp_s);
  /// vllm:lora_adapter_loaded{adapter_name, level="gpu"|"cpu", pinned}: 1 for each adapter
  /// resident at that level, gone when evicted (vLLM's residency metrics; not the simulator's).
  void lora_residency(const std::vector<std::string>& gpu, const std::vector<std::string>& cpu);

  /// Fake metrics in force (--fake-metrics or a later update).
  bool fake();
  /// Applies a fake-metrics update (JSON, the /fake_metrics body) over the current set, as the
  /// simulator does: a histogram or counter given anew starts over. The error names the field.
  std::optional<std::string> update_fake(std::string_view json);
  std::optional<std::string> update_fake(const fake_metrics& update);
  /// The error update_fake would give, without applying anything.
  std::optional<std::string> check_fake(std::string_view json);
  /// Brings function-valued fake gauges to now: call before rendering /metrics.
  void refresh_fake();

 private:
  template <class M>
  void bind(metric_series<M>& s, prometheus::Family<M>* family, std::vector<double> buckets = {});
  void freeze();
  void apply_fake(const fake_metrics& update, const fake_metrics* old);
  void set_fake_gauge(gauge_series& g, const fake_value& v, bool round);
  void clear_loras();
  void apply_token_update(histogram_series& hist, counter_series& total,
                          const std::optional<std::vector<int64_t>>& new_hist,
                          const std::optional<std::vector<int64_t>>* old_hist,
                          const std::optional<int64_t>& new_total,
                          const std::optional<int64_t>* old_total);

  pod_metrics_options options_;
  runtime::brief_mutex mutex_;
  std::string model_;
  uint32_t max_loras_;
  prometheus::Family<prometheus::Counter>& success_family_;
  prometheus::Family<prometheus::Gauge>& lora_family_;
  std::map<std::string, prometheus::Counter*> success_;
  std::map<std::pair<std::string, std::string>, prometheus::Gauge*> lora_series_;
  prometheus::Family<prometheus::Gauge>* loaded_family_ = nullptr;  ///< null: simulator mode
  std::map<std::pair<std::string, std::string>, prometheus::Gauge*> loaded_;  ///< (level, name)
  std::optional<fake_metrics> fake_;  ///< the merged fake set in force
  struct fake_gauge {
    gauge_series* gauge;
    fake_function function;
    int64_t since_ns;
    bool round;
  };
  std::vector<fake_gauge> fake_functions_;
};

}  // namespace inferstack::actors::pod
