// Metrics of pod processes for the scaler: any metric from their /metrics, summed over label
// sets, stale readings dropped.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "nodes/scraped_pod_metrics.hpp"
#include "tests/support/metrics_server.hpp"

using namespace inferstack;
using namespace std::chrono_literals;

namespace {

const char* pod_text = R"(# TYPE vllm:num_requests_swapped gauge
vllm:num_requests_swapped{engine="0",model_name="a"} 2
vllm:num_requests_swapped{engine="1",model_name="a"} 3
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{model_name="a"} 1200 1700000000000
)";

/// Waits (bounded) until `read` gives a value.
std::optional<double> eventually(const nodes::scraped_pod_metrics& m, const std::string& pod,
                                 const std::string& metric) {
  for (int i = 0; i < 500; ++i) {
    if (auto v = m.read(pod, metric)) return v;
    std::this_thread::sleep_for(10ms);
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("scraped pod metrics: any metric of a pod process, summed over its label sets") {
  testing::metrics_server server{pod_text, false};
  nodes::scraped_pod_metrics metrics{10ms, 10s};
  metrics.watch("ns/pod-0", "127.0.0.1:" + std::to_string(server.port()));
  auto swapped = eventually(metrics, "ns/pod-0", "vllm:num_requests_swapped");
  REQUIRE(swapped);
  CHECK(*swapped == 5);
  CHECK(metrics.read("ns/pod-0", "vllm:prompt_tokens_total") == 1200);
  CHECK_FALSE(metrics.read("ns/pod-0", "vllm:not_exported"));
  CHECK_FALSE(metrics.read("ns/other", "vllm:num_requests_swapped"));
  metrics.forget("ns/pod-0");
  CHECK_FALSE(metrics.read("ns/pod-0", "vllm:num_requests_swapped"));
}

TEST_CASE("scraped pod metrics: a reading older than the staleness bound is no reading") {
  auto server = std::make_unique<testing::metrics_server>(pod_text, false);
  auto start = std::chrono::steady_clock::now();
  auto offset = std::make_shared<std::atomic<int64_t>>(0);  // seconds added to the clock
  nodes::scraped_pod_metrics metrics{
      10ms, 5s, [start, offset] { return start + std::chrono::seconds(offset->load()); }};
  metrics.watch("ns/pod-0", "127.0.0.1:" + std::to_string(server->port()));
  REQUIRE(eventually(metrics, "ns/pod-0", "vllm:num_requests_swapped"));
  server.reset();  // the pod stops answering: no new readings
  offset->store(4);
  CHECK(metrics.read("ns/pod-0", "vllm:num_requests_swapped"));  // 4 s old: still fresh
  offset->store(6);
  CHECK_FALSE(metrics.read("ns/pod-0", "vllm:num_requests_swapped"));
}
