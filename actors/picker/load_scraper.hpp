// For model servers that do not push load reports (real vLLM, llm-d-inference-sim): reads their
// Prometheus /metrics on an interval, as llm-d's metrics-data-source does, and turns the vllm:*
// gauges into load reports for the picker.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "actors/pod/pod_protocol.hpp"
#include "runtime/http/metrics_scraper.hpp"

namespace inferstack::actors::picker {

/// The load a vLLM /metrics text describes (running, waiting, KV usage, cache config, LoRAs);
/// series are summed over label sets. Both vllm:kv_cache_usage_perc and the older
/// vllm:gpu_cache_usage_perc are understood.
pod::load_report parse_vllm_metrics(std::string_view text, const std::string& pod);

/// A model server's /metrics: `name` is the pod the reports are for.
using scrape_target = http::scrape_target;

class load_scraper {
 public:
  using sink = std::function<void(pod::load_report)>;

  load_scraper(std::chrono::milliseconds interval, sink deliver);
  ~load_scraper();

  load_scraper(const load_scraper&) = delete;
  load_scraper& operator=(const load_scraper&) = delete;

  void add(scrape_target target);
  void remove(const std::string& pod);

 private:
  std::unique_ptr<http::metrics_scraper> scraper_;
};

}  // namespace inferstack::actors::picker
