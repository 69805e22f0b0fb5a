// The pod's /metrics as llm-d-inference-sim exposes them (pkg/llm-d-inference-sim/metrics.go and
// fake_metrics.go at eec055a): fake metrics read, checked and reported with the simulator's
// rules, lora_requests_info's series, and Go's text rendering.
#include <catch2/catch.hpp>

#include "actors/pod/pod_metrics.hpp"
#include "runtime/metrics.hpp"

using namespace inferstack::actors::pod;
using inferstack::runtime::go_float;
using inferstack::runtime::render_metrics;

namespace {

struct fixture {
  prometheus::Registry registry;
  int64_t now_ns = 1'000'000'000;
  std::unique_ptr<pod_metrics> metrics;

  explicit fixture(std::optional<fake_metrics> fake, bool simulator = true) {
    pod_metrics_options o;
    o.simulator = simulator;
    o.fake = std::move(fake);
    o.steady_ns = [this] { return now_ns; };
    o.unix_seconds = [] { return 1700000000.5; };
    metrics = std::make_unique<pod_metrics>(registry, "testmodel", 16, 1024, 1024, 1, o);
  }
  std::string text() {
    metrics->refresh_fake();
    return render_metrics(registry, true);
  }
};

fake_metrics parse(const std::string& text) {
  fake_metrics f;
  auto err = parse_fake_metrics(text, f);
  if (err) FAIL(*err);
  if (auto e = validate_fake_metrics(f)) FAIL(*e);
  return f;
}

bool has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

std::string bucket(const std::string& name, const std::string& le, int count) {
  return name + "_bucket{model_name=\"testmodel\",le=\"" + le + "\"} " + std::to_string(count) +
         "\n";
}

}  // namespace

TEST_CASE("pod metrics: Go's float text for sample values") {
  CHECK(go_float(1257894567) == "1.257894567e+09");
  CHECK(go_float(10) == "10");
  CHECK(go_float(0.4) == "0.4");
  CHECK(go_float(123456) == "123456");
  CHECK(go_float(1234567) == "1.234567e+06");
  CHECK(go_float(0.00001) == "1e-05");
  CHECK(go_float(0) == "0");
}

TEST_CASE("pod metrics: fake metrics from the simulator's JSON flag and its YAML config") {
  auto json =
      parse(R"({"running-requests":10,"waiting-requests":"oscillate:0:5:1s","kv-cache-usage":0.3,)"
            R"("request-success-total":{"stop":20},"ttft-buckets-values":[10,20],)"
            R"("loras":[{"running":"lora1,lora2","waiting":"lora3","timestamp":1257894567}]})");
  // The config file's fake-metrics mapping reaches set_pod_option in flow style; its loras are
  // JSON strings there.
  auto yaml =
      parse(R"({running-requests: 10, waiting-requests: "oscillate:0:5:1s", kv-cache-usage: 0.3, )"
            R"(request-success-total: {stop: 20}, ttft-buckets-values: [10, 20], )"
            R"(loras: ['{"running":"lora1,lora2","waiting":"lora3","timestamp":1257894567}']})");
  for (const auto* f : {&json, &yaml}) {
    REQUIRE(f->running_requests);
    CHECK(f->running_requests->fixed == 10);
    REQUIRE(f->waiting_requests);
    REQUIRE(f->waiting_requests->function);
    CHECK(f->waiting_requests->function->name == "oscillate");
    CHECK(f->waiting_requests->function->end == 5);
    CHECK(f->waiting_requests->function->period_ns == 1'000'000'000);
    CHECK(f->kv_cache_usage->fixed == 0.3);
    CHECK(*f->ttft_buckets == std::vector<int64_t>{10, 20});
    REQUIRE(f->loras);
    REQUIRE(f->loras->size() == 1);
    CHECK(f->loras->front().running == "lora1,lora2");
    CHECK(f->loras->front().timestamp == 1257894567);
    // The check fills in the finish reasons the simulator requires.
    CHECK(f->request_success_total->at("stop") == 20);
    CHECK(f->request_success_total->at("tool_calls") == 0);
    CHECK(f->request_success_total->size() == 5);
  }
}

TEST_CASE("pod metrics: a bad fake metric is refused naming its field") {
  struct bad {
    const char* text;
    const char* starts;
  };
  for (auto [text, starts] : {
           bad{R"({"running-requests":-1})", "running-requests: "},
           bad{R"({"kv-cache-usage":1.5})", "kv-cache-usage: "},
           bad{R"({"kv-cache-usage":"ramp:0:2:1s"})", "kv-cache-usage: "},
           bad{R"({"waiting-requests":"sawtooth:0:2:1s"})", "waiting-requests: invalid fake"},
           bad{R"({"waiting-requests":"ramp:0:2"})", "waiting-requests: unknown format"},
           bad{R"({"waiting-requests":"ramp:0:2:0s"})", "waiting-requests: invalid fake"},
           bad{R"({"ttft-buckets-values":[1,-1]})", "ttft-buckets-values: "},
           bad{R"({"ttft-buckets-values":"1,2"})", "ttft-buckets-values: "},
           bad{R"({"tpot-buckets-values":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]})",
               "tpot-buckets-values: "},
           bad{R"({"request-prompt-tokens":[1.5]})", "request-prompt-tokens: "},
           bad{R"({"request-success-total":{"done":1}})", "request-success-total: "},
           bad{R"({"request-success-total":{"stop":-1}})", "request-success-total.stop: "},
           bad{R"({"prefix-cache-hits":5})", "prefix-cache-hits, prefix-cache-queries: "},
           bad{R"({"prefix-cache-hits":5,"prefix-cache-queries":4})", "prefix-cache-hits: "},
           bad{R"({"loras":[{"running":"a","when":1}]})", "loras: "},
           bad{R"({"running-request":3})", "running-request: unknown field"},
       }) {
    CAPTURE(text);
    fake_metrics f;
    auto err = parse_fake_metrics(text, f);
    if (!err) err = validate_fake_metrics(f);
    REQUIRE(err);
    CHECK(err->find(starts) == 0);
  }
}

TEST_CASE("pod metrics: fake values are reported instead of the measured ones") {
  fixture fx(
      parse(R"({"running-requests":10,"waiting-requests":30,"kv-cache-usage":0.4,)"
            R"("request-success-total":{"stop":20},"request-prompt-tokens":[10,20,30],)"
            R"("ttft-buckets-values":[1,2,3],"tpot-buckets-values":[0,0,1],)"
            R"("e2erl-buckets-values":[0,1,2],"prefix-cache-hits":750,"prefix-cache-queries":2000,)"
            R"("loras":[{"running":"lora4,lora2","waiting":"lora3","timestamp":1257894567},)"
            R"({"running":"lora4,lora3","waiting":"","timestamp":1257894569}]})"));
  // The pod's measurements do not move them.
  fx.metrics->running.Set(1);
  fx.metrics->ttft.Observe(0.5);
  fx.metrics->prefix_queries.Increment(5);
  fx.metrics->lora_info("lora9", "", 1.0);
  auto t = fx.text();
  CHECK(has(t, "vllm:num_requests_running{model_name=\"testmodel\"} 10\n"));
  CHECK(has(t, "vllm:num_requests_waiting{model_name=\"testmodel\"} 30\n"));
  CHECK(has(t, "vllm:kv_cache_usage_perc{model_name=\"testmodel\"} 0.4\n"));
  CHECK(has(t,
            "vllm:lora_requests_info{max_lora=\"1\",running_lora_adapters=\"lora4,lora2\","
            "waiting_lora_adapters=\"lora3\"} 1.257894567e+09\n"));
  CHECK(has(t,
            "vllm:lora_requests_info{max_lora=\"1\",running_lora_adapters=\"lora4,lora3\","
            "waiting_lora_adapters=\"\"} 1.257894569e+09\n"));
  CHECK_FALSE(has(t, "lora9"));
  CHECK(has(t, bucket("vllm:time_to_first_token_seconds", "0.001", 1)));
  CHECK(has(t, bucket("vllm:time_to_first_token_seconds", "0.005", 3)));
  CHECK(has(t, bucket("vllm:time_to_first_token_seconds", "0.01", 6)));
  CHECK(has(t, bucket("vllm:time_to_first_token_seconds", "+Inf", 6)));
  for (auto name : {"vllm:time_per_output_token_seconds", "vllm:inter_token_latency_seconds"}) {
    CHECK(has(t, bucket(name, "0.025", 0)));
    CHECK(has(t, bucket(name, "0.05", 1)));
  }
  CHECK(has(t, bucket("vllm:e2e_request_latency_seconds", "0.3", 0)));
  CHECK(has(t, bucket("vllm:e2e_request_latency_seconds", "0.5", 1)));
  CHECK(has(t, bucket("vllm:e2e_request_latency_seconds", "0.8", 3)));
  // Token histograms: counts per 1-2-5 bucket too; the values they stand for add up to the
  // total unless one is given (10 x 1 + 20 x 2 + 30 x 5).
  CHECK(has(t, bucket("vllm:request_prompt_tokens", "1", 10)));
  CHECK(has(t, bucket("vllm:request_prompt_tokens", "2", 30)));
  CHECK(has(t, bucket("vllm:request_prompt_tokens", "5", 60)));
  CHECK(has(t, bucket("vllm:request_prompt_tokens", "+Inf", 60)));
  CHECK(has(t, "vllm:prompt_tokens_total{model_name=\"testmodel\"} 200\n"));
  CHECK(has(t, "vllm:request_success_total{finish_reason=\"stop\",model_name=\"testmodel\"} 20\n"));
  CHECK(
      has(t, "vllm:request_success_total{finish_reason=\"length\",model_name=\"testmodel\"} 0\n"));
  CHECK(has(t, "vllm:prefix_cache_queries_total{model_name=\"testmodel\"} 2000\n"));
  CHECK(has(t, "vllm:prefix_cache_hits_total{model_name=\"testmodel\"} 750\n"));
  // What was not given is not shown (the simulator's series appear with a value).
  CHECK_FALSE(has(t, "vllm:request_generation_tokens"));
  CHECK_FALSE(has(t, "vllm:generation_tokens_total"));
  CHECK_FALSE(has(t, "vllm:request_queue_time_seconds"));
  CHECK_FALSE(has(t, "vllm:num_preemptions_total"));
}

TEST_CASE("pod metrics: a fake update starts a histogram and its total over") {
  fixture fx(parse(R"({"request-prompt-tokens":[1,2,3],"total-prompt-tokens":12345})"));
  auto t = fx.text();
  CHECK(has(t, bucket("vllm:request_prompt_tokens", "1", 1)));
  CHECK(has(t, "vllm:prompt_tokens_total{model_name=\"testmodel\"} 12345\n"));
  REQUIRE_FALSE(fx.metrics->update_fake(R"({})"));  // names nothing: nothing changes
  CHECK(fx.text() == t);
  REQUIRE_FALSE(fx.metrics->update_fake(R"({"request-prompt-tokens":[10,20]})"));
  t = fx.text();
  CHECK(has(t, bucket("vllm:request_prompt_tokens", "1", 10)));
  CHECK(has(t, bucket("vllm:request_prompt_tokens", "2", 30)));
  CHECK(has(t, "vllm:prompt_tokens_total{model_name=\"testmodel\"} 50\n"));
  REQUIRE_FALSE(fx.metrics->update_fake(R"({"request-prompt-tokens":[]})"));
  t = fx.text();
  CHECK_FALSE(has(t, "vllm:request_prompt_tokens"));
  CHECK_FALSE(has(t, "vllm:prompt_tokens_total"));
  // A bad update changes nothing and names its field.
  auto err = fx.metrics->update_fake(R"({"kv-cache-usage":2})");
  REQUIRE(err);
  CHECK(err->find("kv-cache-usage: ") == 0);
  CHECK_FALSE(has(fx.text(), "vllm:kv_cache_usage_perc{"));
  // Loras given anew replace the old series; none given: one empty series, now.
  REQUIRE_FALSE(fx.metrics->update_fake(R"({"loras":[]})"));
  CHECK(has(fx.text(),
            "vllm:lora_requests_info{max_lora=\"1\",running_lora_adapters=\"\","
            "waiting_lora_adapters=\"\"} 1.7e+09\n"));
}

TEST_CASE("pod metrics: a function-valued fake gauge moves in refresh-interval steps") {
  fixture fx(parse(R"({"kv-cache-usage":"ramp:0:1:1s","running-requests":"squarewave:1:5:1s"})"));
  auto value = [&](const char* name) {
    auto t = fx.text();
    auto at = t.find(std::string(name) + "{model_name=\"testmodel\"} ");
    REQUIRE(at != std::string::npos);
    return std::stod(t.substr(t.find("} ", at) + 2));
  };
  CHECK(value("vllm:kv_cache_usage_perc") == 0);
  CHECK(value("vllm:num_requests_running") == 1);
  fx.now_ns += 250'000'000;  // 2.5 steps of 100 ms: the value of 200 ms
  CHECK(value("vllm:kv_cache_usage_perc") == Approx(0.2));
  fx.now_ns += 500'000'000;
  CHECK(value("vllm:num_requests_running") == 5);
  fx.now_ns += 1'000'000'000;
  CHECK(value("vllm:kv_cache_usage_perc") == 1);
}

TEST_CASE("pod metrics: lora_requests_info keeps a series per running and waiting pair") {
  fixture fx(std::nullopt);
  auto t = fx.text();
  // Not fake: the state starts at 0, series of what has happened appear when it happens.
  CHECK(has(t, "vllm:num_requests_running{model_name=\"testmodel\"} 0\n"));
  CHECK_FALSE(has(t, "vllm:time_to_first_token_seconds"));
  CHECK_FALSE(has(t, "vllm:request_success_total"));
  fx.metrics->lora_info("", "", 100);
  fx.metrics->lora_info("lora1", "", 101);
  fx.metrics->lora_info("lora1", "lora2", 102);
  fx.metrics->lora_info("", "", 103);
  t = fx.text();
  auto line = [](const char* running, const char* waiting, const char* ts) {
    return std::string("vllm:lora_requests_info{max_lora=\"1\",running_lora_adapters=\"") +
           running + "\",waiting_lora_adapters=\"" + waiting + "\"} " + ts + "\n";
  };
  CHECK(has(t, line("lora1", "", "101")));
  CHECK(has(t, line("lora1", "lora2", "102")));
  CHECK(has(t, line("", "", "103")));
  fx.metrics->ttft.Observe(0.2);
  fx.metrics->success("stop");
  t = fx.text();
  CHECK(has(t, bucket("vllm:time_to_first_token_seconds", "0.25", 1)));
  CHECK(has(t, "vllm:request_success_total{finish_reason=\"stop\",model_name=\"testmodel\"} 1\n"));
}

TEST_CASE("pod metrics: vLLM's exposition shows every series from the start") {
  fixture fx(std::nullopt, false);
  auto t = render_metrics(fx.registry);
  CHECK(has(t, "vllm:time_to_first_token_seconds_count{model_name=\"testmodel\"} 0\n"));
  CHECK(has(t, "vllm:num_preemptions_total{model_name=\"testmodel\"} 0\n"));
  CHECK(has(t, "vllm:request_max_num_generation_tokens_count"));
  CHECK_FALSE(has(t, "vllm:max_num_generation_tokens"));
  CHECK(
      has(t, "vllm:request_success_total{finish_reason=\"length\",model_name=\"testmodel\"} 0\n"));
}

TEST_CASE("pod metrics: vLLM's LoRA residency gauges follow the resident adapters") {
  fixture fx(std::nullopt, false);
  auto t = render_metrics(fx.registry);
  CHECK(has(t, "vllm:num_gpu_loaded_lora_adapters{model_name=\"testmodel\"} 0\n"));
  CHECK(has(t, "vllm:max_gpu_lora_adapters{model_name=\"testmodel\"} 1\n"));
  fx.metrics->lora_residency({"a"}, {"a", "b"});
  t = render_metrics(fx.registry);
  auto loaded = [](const char* name, const char* level) {
    return std::string("vllm:lora_adapter_loaded{adapter_name=\"") + name + "\",level=\"" + level +
           "\",pinned=\"false\"} 1\n";
  };
  CHECK(has(t, "vllm:num_gpu_loaded_lora_adapters{model_name=\"testmodel\"} 1\n"));
  CHECK(has(t, loaded("a", "gpu")));
  CHECK(has(t, loaded("a", "cpu")));
  CHECK(has(t, loaded("b", "cpu")));
  CHECK_FALSE(has(t, loaded("b", "gpu")));
  // "a" evicted from the GPU for "b": its gpu series goes.
  fx.metrics->lora_residency({"b"}, {"a", "b"});
  t = render_metrics(fx.registry);
  CHECK_FALSE(has(t, loaded("a", "gpu")));
  CHECK(has(t, loaded("b", "gpu")));
  CHECK(has(t, loaded("a", "cpu")));

  // The simulator has none of these.
  fixture sim(std::nullopt, true);
  sim.metrics->lora_residency({"a"}, {"a"});
  t = sim.text();
  CHECK_FALSE(has(t, "vllm:lora_adapter_loaded"));
  CHECK_FALSE(has(t, "vllm:num_gpu_loaded_lora_adapters"));
  CHECK_FALSE(has(t, "vllm:max_gpu_lora_adapters"));
}
