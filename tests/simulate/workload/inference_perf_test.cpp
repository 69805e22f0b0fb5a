// inference-perf configs as workloads: the llm-d benchmark's file loads as is, the same seed
// gives the same requests, constant load is evenly spaced, and each bad file names its field
// and line.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "simulate/workload/inference_perf.hpp"

using namespace inferstack::simulate;
using namespace std::chrono_literals;

namespace {

const std::string llm_d_file =
    INFERSTACK_SHARED_DATA "/llm-d-prefix-benchmark/inference-perf-shared-prefix.yaml";

workload_error error_of(const std::string& text) {
  try {
    load_inference_perf_text(text, "bad.yaml", 1);
  } catch (const workload_error& e) {
    return e;
  }
  FAIL("no error for:\n" << text);
  throw;  // not reached
}

const char* constant_shared = R"(load:
  type: constant
  interval: 0.5
  stages:
    - rate: 4
      duration: 2
    - rate: 2
      duration: 1
data:
  type: shared_prefix
  shared_prefix:
    num_groups: 2
    num_prompts_per_group: 3
    system_prompt_len: 100
    question_len: 20
    output_len: 7
)";

}  // namespace

TEST_CASE("the llm-d prefix benchmark's inference-perf file loads as is", "[shared-data]") {
  auto w = load_inference_perf(llm_d_file, 42);
  // Each stage sends int(rate x duration) requests, poisson too, as inference-perf does:
  // 15x50 + 3x20 + 10x20 + ... + 60x25 over the file's 17 stages.
  REQUIRE(w.requests.size() == 17084);
  std::set<std::string> groups;
  for (size_t i = 0; i < w.requests.size(); ++i) {
    const auto& r = w.requests[i];
    CAPTURE(i);
    // 150 groups x 5 prompts, taken in order, group by group
    REQUIRE(r.shared_prefix == std::to_string((i % 750) / 5));
    REQUIRE(r.prompt_tokens == 6000 + 1200);
    REQUIRE(r.prefix_blocks == std::vector<uint64_t>{(i % 750) / 5});
    REQUIRE(r.prefix_block_tokens == 6000);
    REQUIRE(r.max_tokens == 1000);
    REQUIRE(!r.chat);
    REQUIRE(r.stream);
    REQUIRE(r.ignore_eos);
    REQUIRE(r.model.empty());  // the file's model_name is a placeholder
    if (i > 0) REQUIRE(w.requests[i - 1].arrival <= r.arrival);
    groups.insert(r.shared_prefix);
  }
  CHECK(groups.size() == 150);
  // Poisson at 15/s: the warm-up's 750 arrivals span about 50 s (their sum's standard
  // deviation is sqrt(750)/15 = 1.8 s; 5 s is almost 3 of them).
  CHECK(w.requests[749].arrival > 45s);
  CHECK(w.requests[749].arrival < 55s);
  // The ladder's first stage (3/s for 20 s) starts after the warm-up and the 1 s interval.
  CHECK(w.requests[750].arrival > w.requests[749].arrival);
  CHECK(w.requests[750].arrival >= 51s);
}

TEST_CASE("the same file and seed give the same requests and another seed other arrivals",
          "[shared-data]") {
  auto a = load_inference_perf(llm_d_file, 7);
  auto b = load_inference_perf(llm_d_file, 7);
  auto c = load_inference_perf(llm_d_file, 8);
  CHECK(a.requests == b.requests);
  REQUIRE(a.requests.size() == c.requests.size());
  size_t differ = 0;
  for (size_t i = 0; i < a.requests.size(); ++i)
    differ += a.requests[i].arrival != c.requests[i].arrival;
  CHECK(differ > a.requests.size() / 2);
}

TEST_CASE("constant load is evenly spaced and the next stage starts after the interval") {
  auto w = load_inference_perf_text(constant_shared, "constant.yaml", 1);
  REQUIRE(w.requests.size() == 8 + 2);
  for (size_t i = 0; i < 8; ++i)
    CHECK(w.requests[i].arrival == 250ms * (i + 1));  // the last at the stage's end
  // stage 2 starts at 2 s + 0.5 s interval, two requests in its second
  CHECK(w.requests[8].arrival == 3000ms);
  CHECK(w.requests[9].arrival == 3500ms);
  // 2 groups x 3 prompts, in order; the request stream goes on across stages
  for (size_t i = 0; i < w.requests.size(); ++i) {
    CHECK(w.requests[i].shared_prefix == std::to_string((i % 6) / 3));
    CHECK(w.requests[i].prompt_tokens == 120);
    CHECK(w.requests[i].max_tokens == 7);
    CHECK(w.requests[i].ignore_eos);  // inference-perf's default without a server section
  }
}

TEST_CASE("random and synthetic lengths follow their distributions within min and max") {
  for (std::string type : {"random", "synthetic"}) {
    CAPTURE(type);
    auto w = load_inference_perf_text(R"(load:
  stages: [{rate: 100, duration: 10}]
api: {type: completion, streaming: false}
server: {base_url: "http://x", ignore_eos: false}
data:
  type: )" + type + R"(
  input_distribution: {min: 50, max: 150, mean: 100, std_dev: 40, total_count: 500}
  output_distribution: {type: uniform, min: 5, max: 9, total_count: 600}
)",
                                      "io.yaml", 3);
    REQUIRE(w.requests.size() == 1000);
    double sum = 0;
    std::set<uint32_t> outputs;
    bool clamped_low = false, clamped_high = false;
    for (size_t i = 0; i < w.requests.size(); ++i) {
      const auto& r = w.requests[i];
      REQUIRE(r.prompt_tokens >= 50);
      REQUIRE(r.prompt_tokens <= 150);
      REQUIRE(r.max_tokens >= 5);
      REQUIRE(r.max_tokens <= 9);
      REQUIRE(!r.ignore_eos);
      REQUIRE(r.shared_prefix.empty());
      // total_count lengths drawn once, then taken again in order (the shorter list decides)
      if (i >= 500) REQUIRE(r.prompt_tokens == w.requests[i - 500].prompt_tokens);
      sum += r.prompt_tokens;
      outputs.insert(r.max_tokens);
      clamped_low |= r.prompt_tokens == 50;
      clamped_high |= r.prompt_tokens == 150;
    }
    // mean 100 (symmetric clamping keeps it); 500 draws of sd <= 40: within 10 of it easily
    CHECK(sum / 1000 > 90);
    CHECK(sum / 1000 < 110);
    CHECK(clamped_low);
    CHECK(clamped_high);
    CHECK(outputs == std::set<uint32_t>{5, 6, 7, 8, 9});
  }
}

TEST_CASE("shared_prefix lengths may be distributions, drawn per group and per prompt") {
  auto w = load_inference_perf_text(R"(load: {stages: [{rate: 10, duration: 4}]}
data:
  type: shared_prefix
  shared_prefix:
    num_unique_system_prompts: 4
    num_users_per_system_prompt: 10
    system_prompt_len: {min: 100, max: 400, mean: 250, std_dev: 100}
    question_distribution: {type: fixed, mean: 30}
    output_len: {type: uniform, min: 1, max: 1000}
)",
                                    "dist.yaml", 5);
  REQUIRE(w.requests.size() == 40);
  std::set<uint32_t> prefixes, outputs;
  for (size_t i = 0; i < 40; ++i) {
    const auto& r = w.requests[i];
    REQUIRE(r.shared_prefix == std::to_string(i / 10));
    REQUIRE(r.prompt_tokens == r.prefix_block_tokens + 30);
    if (i % 10 > 0) REQUIRE(r.prefix_block_tokens == w.requests[i - 1].prefix_block_tokens);
    prefixes.insert(r.prefix_block_tokens);
    outputs.insert(r.max_tokens);
  }
  CHECK(prefixes.size() > 1);
  CHECK(outputs.size() > 10);
}

TEST_CASE("each bad inference-perf file names its field and line") {
  struct bad {
    std::string text, field;
    size_t line;
  };
  const std::string data =
      "data: {type: random, input_distribution: {total_count: 3}, "
      "output_distribution: {total_count: 3}}\n";
  const std::string load = "load:\n  stages:\n    - {rate: 1, duration: 1}\n";
  const bad cases[] = {
      {data, "load", 1},  // missing section: the document's first line
      {load, "data", 1},
      {"load:\n  type: poisson\n", "load.stages", 2},
      {"load:\n  stages: []\n" + data, "load.stages", 2},
      {"load:\n  stages: 5\n" + data, "load.stages", 2},
      {"load:\n  type: burst\n  stages:\n    - {rate: 1, duration: 1}\n" + data, "load.type", 2},
      {"load:\n  type: concurrent\n  stages:\n    - {rate: 1, duration: 1}\n" + data, "load.type",
       2},
      {load + "    - {rate: 0, duration: 1}\n" + data, "load.stages[1].rate", 4},
      {load + "    - rate: 2\n      duration: -3\n" + data, "load.stages[1].duration", 5},
      {load + "    - rate: fast\n      duration: 3\n" + data, "load.stages[1].rate", 4},
      {load + "    - duration: 3\n" + data, "load.stages[1].rate", 4},
      {load + "    - {rate: 1, duration: 1, concurrency_level: 2}\n" + data,
       "load.stages[1].concurrency_level", 4},
      {load + "  stage_count: 3\n" + data, "load.stage_count", 4},
      {load + "data:\n  type: sharegpt2\n", "data.type", 5},
      {load + "data:\n  type: shareGPT\n", "data.type", 5},
      {load + "data:\n  type: shared_prefix\n", "data.shared_prefix", 5},
      {load + "data:\n  type: shared_prefix\n  shared_prefix:\n    num_groups: many\n",
       "data.shared_prefix.num_groups", 7},
      {load + "data:\n  type: shared_prefix\n  shared_prefix:\n    question_len: [1]\n",
       "data.shared_prefix.question_len", 7},
      {load + "data:\n  type: random\n  input_distribution: {total_count: 3}\n",
       "data.output_distribution", 5},
      {load + "data:\n  type: random\n  input_distribution: {min: 3}\n"
              "  output_distribution: {total_count: 3}\n",
       "data.input_distribution.total_count", 6},
      {load + "data:\n  type: random\n  input_distribution: {min: 9, max: 3, total_count: 3}\n"
              "  output_distribution: {total_count: 3}\n",
       "data.input_distribution.min", 6},
      {load + "data:\n  type: random\n  input_distribution: {type: zipf, total_count: 3}\n"
              "  output_distribution: {total_count: 3}\n",
       "data.input_distribution.type", 6},
      {load + data + "api:\n  type: grpc\n", "api.type", 6},
      {load + data + "api:\n  type: chat\n", "api.type", 6},  // random serves completion only
      {load + data + "api:\n  streaming: maybe\n", "api.streaming", 6},
      {load + data + "server:\n  ignore_eos: 3\n", "server.ignore_eos", 6},
      {load + data + "reports: {}\n", "reports", 5},
      {load + data + "load2:\n  - x: [1, 2\n", "", 7},  // YAML syntax: no field
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto e = error_of(c.text);
    CAPTURE(e.what());
    CHECK(e.field() == c.field);
    CHECK(e.line() == c.line);
    CHECK(e.file() == "bad.yaml");
  }
}

TEST_CASE("a missing inference-perf file is one error naming it") {
  try {
    load_inference_perf("/nonexistent/inference-perf.yaml", 1);
    FAIL("loaded a missing file");
  } catch (const workload_error& e) {
    CHECK(e.file() == "/nonexistent/inference-perf.yaml");
    CHECK(e.line() == 0);
  }
}
