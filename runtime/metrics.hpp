// One prometheus-cpp registry per process, created by the composition root and passed to
// every component that counts something; served at /metrics in the text format.
#pragma once

#include <map>
#include <memory>
#include <mutex>

#include <string>
#include <string_view>
#include "runtime/brief_mutex.hpp"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

namespace inferstack::runtime {

/// Renders every family of `registry` in the Prometheus text exposition format, each family
/// llm-d-router renamed also under its llm_d_epp_* name (runtime/metric_aliases.hpp). `go_style`:
/// as Go's client_golang renders it (llm-d-inference-sim's /metrics): a family without series is
/// left out and values are written as strconv's shortest 'g' (1.257894567e+09).
std::string render_metrics(prometheus::Registry& registry, bool go_style = false);

/// `value` as Go's strconv.FormatFloat(value, 'g', -1, 64).
std::string go_float(double value);

/// At most this many distinct values of a label that a request can influence, per metric; the
/// rest count under `overflow_label`. Bounds what any client can add to /metrics.
inline constexpr size_t max_client_label_values = 64;
inline constexpr const char* overflow_label = "<other>";
/// The namespace label of a request whose namespace the stack does not know (made-up Hosts).
inline constexpr const char* unknown_label = "<unknown>";

/// The entry of `key` in a map of series keyed by a client-influenced label value, added
/// (value-initialised) when new; once the map holds max_client_label_values entries, a new key
/// gets the entry of overflow_label instead. The label value to use is the entry's key.
template <class Map>
typename Map::iterator capped_entry(Map& series, std::string_view key) {
  auto it = series.find(key);
  if (it != series.end()) return it;
  if (series.size() >= max_client_label_values) {
    key = overflow_label;
    it = series.find(key);
    if (it != series.end()) return it;
  }
  return series.emplace(std::string(key), typename Map::mapped_type{}).first;
}

/// A counter family labelled {namespace, result}: decisions of an actor and of the views it
/// publishes, counted from any thread. A series is found without building its labels per call.
class decision_counters {
 public:
  decision_counters(prometheus::Registry& registry, const std::string& name,
                    const std::string& help);
  void count(std::string_view ns, std::string_view result);

 private:
  prometheus::Family<prometheus::Counter>& family_;
  brief_mutex mutex_;
  std::map<std::string, std::map<std::string, prometheus::Counter*, std::less<>>, std::less<>>
      counters_;
};

/// Content type of render_metrics() output.
inline constexpr const char* metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace inferstack::runtime
