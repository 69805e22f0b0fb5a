// Saturation detectors (llm-d utilization-detector and concurrency-detector): the pool's
// saturation in [0,1+] for admission (sheddable traffic is refused at >= 1) and for the metric
// inference_extension_flow_control_pool_saturation.
#pragma once

#include <string>

#include "actors/picker/scheduling/plugin.hpp"

namespace inferstack::config {
class fields;
}

namespace inferstack::actors::picker {

class saturation_detector {
 public:
  virtual ~saturation_detector() = default;
  /// Pool saturation over the schedulable endpoints; 1.0 or more means saturated. A pool with
  /// no schedulable endpoint is saturated (1.0).
  virtual double saturation(const pool_state& pool, int64_t now_ns) const = 0;
};

/// utilization-detector: per endpoint max(queue / queueDepthThreshold, kv / kvCacheUtilThreshold)
/// with the queue term corrected by this picker's own traffic since the last report: requests
/// it sent that the report does not show yet, less requests that finished since (a completion
/// frees capacity at once, not at the next report); endpoints with stale or missing reports
/// count 1.0 (fail closed); pool = average.
/// Also a filter: drops endpoints over threshold x (1 + headroom) or stale, but keeps the
/// original list when that would drop all (fail open).
class utilization_detector : public filter_plugin, public saturation_detector {
 public:
  struct settings {
    int queue_depth_threshold = 5;
    double kv_cache_util_threshold = 0.8;
    /// metricsStalenessThreshold; 0: the pool's staleness bound (our reports are pushed, not
    /// polled every 50 ms, so llm-d's 200 ms default would mark healthy pods stale).
    int64_t staleness_ns = 0;
    double headroom = 0;
  };
  utilization_detector(std::string name, settings s)
      : filter_plugin("utilization-detector", std::move(name)), settings_(s) {}

  double saturation(const pool_state& pool, int64_t now_ns) const override;
  double endpoint_saturation(const pool_state& pool, const endpoint_state& e, int64_t now_ns) const;
  void filter(cycle& c, std::vector<uint32_t>& candidates) override;
  const settings& config() const { return settings_; }

 private:
  bool stale(const pool_state& pool, const endpoint_state& e, int64_t now_ns) const;
  settings settings_;
  std::vector<uint32_t> kept_;
};

/// Reads GAIE's thresholds (queueDepthThreshold, kvCacheUtilThreshold, metricsStalenessThreshold):
/// utilization-detector's parameters, and the top-level saturationDetector section's.
void read_utilization_thresholds(config::fields& f, utilization_detector::settings& st);

/// concurrency-detector: in-flight work this picker assigned over capacity, per mode
/// requests (maxConcurrency per endpoint), tokens (maxTokenConcurrency) or hybrid (the larger).
class concurrency_detector : public plugin, public saturation_detector {
 public:
  struct settings {
    std::string mode = "requests";
    int64_t max_concurrency = 100;
    int64_t max_token_concurrency = 1'000'000;
  };
  concurrency_detector(std::string name, settings s)
      : plugin("concurrency-detector", std::move(name)), settings_(std::move(s)) {}
  double saturation(const pool_state& pool, int64_t now_ns) const override;

 private:
  settings settings_;
};

}  // namespace inferstack::actors::picker
