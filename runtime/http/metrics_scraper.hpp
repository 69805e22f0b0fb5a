// Reads Prometheus /metrics endpoints on an interval, as llm-d's metrics-data-source and KEDA's
// scalers do: one kept-alive connection per target on one I/O thread, host names resolved
// asynchronously, at most one scrape in flight per target. What a body means is up to the sink.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace inferstack::http {

struct scrape_target {
  std::string name;  ///< who the sink is told the body is from (e.g. a pod)
  std::string host;
  uint16_t port = 0;
  std::string path = "/metrics";
};

/// One sample line of the Prometheus text format: `name{labels} value [timestamp]`. False for
/// comments, blank lines and lines that are not a sample. Label values may hold spaces, braces
/// and escaped quotes.
bool parse_sample(std::string_view line, std::string_view& name, std::string_view& labels,
                  double& value);

/// Calls `each(name, labels, value)` for every sample of a /metrics text.
void for_each_sample(std::string_view text,
                     const std::function<void(std::string_view, std::string_view, double)>& each);

class metrics_scraper {
 public:
  /// A 200 answer's body; nothing is delivered for a failed or non-200 scrape.
  using sink = std::function<void(const std::string& name, const std::string& body)>;

  metrics_scraper(std::chrono::milliseconds interval, sink deliver);
  ~metrics_scraper();

  metrics_scraper(const metrics_scraper&) = delete;
  metrics_scraper& operator=(const metrics_scraper&) = delete;

  /// Starts scraping `target` (replacing one of the same name).
  void add(scrape_target target);
  void remove(const std::string& name);

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace inferstack::http
