// Any metric of pods in other processes, for the scaler: their /metrics read on an interval,
// each metric summed over its label sets, as the in-process launcher reads a pod's registry.
// (The load reports the pods push carry only waiting, running and KV usage.) Not the pod's own
// metrics: those are actors/pod/pod_metrics, which these read from the outside.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "runtime/http/metrics_scraper.hpp"

namespace inferstack::nodes {

class scraped_pod_metrics {
 public:
  using clock_fn = std::function<std::chrono::steady_clock::time_point()>;

  /// Reads every `interval`; a reading older than `stale_after` is no reading.
  scraped_pod_metrics(std::chrono::milliseconds interval, std::chrono::milliseconds stale_after,
                      clock_fn now = std::chrono::steady_clock::now);

  /// Starts reading `pod` at `address` (host:port of its HTTP API).
  void watch(const std::string& pod, const std::string& address);
  void forget(const std::string& pod);

  /// `metric` of `pod`, summed over its label sets; nothing when the pod has no fresh reading or
  /// does not export the metric.
  std::optional<double> read(const std::string& pod, const std::string& metric) const;

 private:
  struct reading {
    std::chrono::steady_clock::time_point at;
    std::map<std::string, double, std::less<>> sums;
  };
  std::chrono::milliseconds stale_after_;
  clock_fn now_;
  mutable std::mutex mutex_;
  std::map<std::string, reading> readings_;
  std::set<std::string> watched_;  ///< a scrape finishing after forget() is dropped
  std::unique_ptr<http::metrics_scraper> scraper_;  ///< last: stops before the rest goes
};

}  // namespace inferstack::nodes
