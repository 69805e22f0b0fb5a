// The /metrics scraper for model servers that push no load reports (real vLLM,
// llm-d-inference-sim): what it reads from vLLM's text, and that it keeps one connection per
// server, resolves names and reconnects after the server closes.
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

#include "actors/picker/load_scraper.hpp"
#include "tests/support/metrics_server.hpp"

using namespace inferstack;
using namespace inferstack::actors::picker;
namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

const char* vllm_metrics =
    R"(# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="llama"} 3.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="llama"} 5.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="llama"} 0.25
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",num_gpu_blocks="1000"} 1.0
# TYPE vllm:lora_requests_info gauge
vllm:lora_requests_info{max_lora="4",running_lora_adapters="a,b",waiting_lora_adapters=""} 1.7e+09
vllm:lora_requests_info{max_lora="4",running_lora_adapters="c",waiting_lora_adapters="d"} 1.8e+09
)";

/// Collects the scraper's reports; waits (bounded) for a number of them.
struct report_sink {
  std::mutex mutex;
  std::condition_variable arrived;
  std::vector<inferstack::actors::pod::load_report> reports;

  load_scraper::sink callback() {
    return [this](inferstack::actors::pod::load_report r) {
      std::lock_guard guard{mutex};
      reports.push_back(std::move(r));
      arrived.notify_all();
    };
  }
  bool wait_for(size_t count) {
    std::unique_lock lock{mutex};
    return arrived.wait_for(lock, std::chrono::seconds(10),
                            [&] { return reports.size() >= count; });
  }
};

}  // namespace

TEST_CASE("vLLM's /metrics text becomes a load report", "[load_scraper]") {
  auto r = parse_vllm_metrics(vllm_metrics, "ns/pod-a");
  CHECK(r.pod == "ns/pod-a");
  CHECK(r.ready);
  CHECK(r.running == 3);
  CHECK(r.waiting == 5);
  CHECK(r.kv_usage == Approx(0.25));
  CHECK(r.block_size == 16);
  CHECK(r.num_gpu_blocks == 1000);
  CHECK(r.max_loras == 4);
  // The latest lora_requests_info series (valued with its timestamp) is the one that counts.
  CHECK(r.running_loras == std::vector<std::string>{"c"});
  CHECK(r.waiting_loras == std::vector<std::string>{"d"});
}

TEST_CASE("vLLM's LoRA residency metrics become the report's resident adapters", "[load_scraper]") {
  auto r = parse_vllm_metrics(
      "vllm:num_gpu_loaded_lora_adapters{model_name=\"llama\"} 1\n"
      "vllm:max_gpu_lora_adapters{model_name=\"llama\"} 2\n"
      "vllm:lora_adapter_loaded{adapter_name=\"sql\",level=\"gpu\",pinned=\"false\"} 1\n"
      "vllm:lora_adapter_loaded{adapter_name=\"sql\",level=\"cpu\",pinned=\"false\"} 1\n"
      "vllm:lora_adapter_loaded{adapter_name=\"fr\",level=\"cpu\",pinned=\"false\"} 1\n"
      "vllm:lora_adapter_loaded{adapter_name=\"old\",level=\"gpu\",pinned=\"false\"} 0\n",
      "p");
  CHECK(r.lora_residency);
  CHECK(r.max_loras == 2);
  CHECK(r.gpu_loras == std::vector<std::string>{"sql"});
  CHECK(r.cpu_loras == std::vector<std::string>{"sql", "fr"});
  // lora_requests_info alone says nothing of residency.
  CHECK_FALSE(parse_vllm_metrics(vllm_metrics, "p").lora_residency);
}

TEST_CASE("the older vllm:gpu_cache_usage_perc is read as KV usage, series are summed",
          "[load_scraper]") {
  auto r = parse_vllm_metrics(
      "vllm:gpu_cache_usage_perc{model_name=\"a\"} 0.5\n"
      "vllm:num_requests_waiting{model_name=\"a\"} 2\n"
      "vllm:num_requests_waiting{model_name=\"b\"} 3\n"
      "not a sample line\n"
      "vllm:num_requests_running{model_name=\"a\"} NaN-ish\n",
      "p");
  CHECK(r.kv_usage == Approx(0.5));
  CHECK(r.waiting == 5);
  CHECK(r.running == 0);
}

TEST_CASE("the scraper keeps one connection per server across scrapes and resolves names",
          "[load_scraper]") {
  testing::metrics_server server{vllm_metrics, false};
  report_sink sink;
  {
    load_scraper scraper{std::chrono::milliseconds(10), sink.callback()};
    scraper.add({"ns/vllm-0", "localhost", server.port(), "/metrics"});
    REQUIRE(sink.wait_for(5));
  }
  CHECK(server.connections() == 1);
  std::lock_guard guard{sink.mutex};
  for (const auto& r : sink.reports) {
    CHECK(r.pod == "ns/vllm-0");
    CHECK(r.waiting == 5);
  }
}

TEST_CASE("the scraper connects again when the server closes after each response",
          "[load_scraper]") {
  testing::metrics_server server{vllm_metrics, true};
  report_sink sink;
  {
    load_scraper scraper{std::chrono::milliseconds(10), sink.callback()};
    scraper.add({"ns/vllm-0", "127.0.0.1", server.port(), "/metrics"});
    REQUIRE(sink.wait_for(3));
  }
  CHECK(server.connections() >= 3);
}

TEST_CASE("a server that answers 404 or does not listen gives no report, and others still do",
          "[load_scraper]") {
  testing::metrics_server server{vllm_metrics, false};
  report_sink sink;
  uint16_t closed_port = 0;
  {
    // A port nothing listens on: bind one, then let it go.
    net::io_context io;
    tcp::acceptor probe{io, tcp::endpoint{net::ip::make_address("127.0.0.1"), 0}};
    closed_port = probe.local_endpoint().port();
  }
  {
    load_scraper scraper{std::chrono::milliseconds(10), sink.callback()};
    scraper.add({"ns/missing-path", "127.0.0.1", server.port(), "/nope"});
    scraper.add({"ns/down", "127.0.0.1", closed_port, "/metrics"});
    scraper.add({"ns/up", "127.0.0.1", server.port(), "/metrics"});
    REQUIRE(sink.wait_for(4));
  }
  std::lock_guard guard{sink.mutex};
  for (const auto& r : sink.reports)
    CHECK(r.pod == "ns/up");
}
