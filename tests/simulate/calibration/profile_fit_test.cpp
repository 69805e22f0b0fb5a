// The profile fitter (simulate/calibration/profile_fit.cpp): synthetic Vidur files with known
// coefficients are recovered -- two lines over tokens, the tokenCost table, the all-reduce floor
// and line, the CPU line -- the attention terms follow their formulas, the anchor pins a decode
// step, the manifest reads back as the same profile, and bad options are refused by name.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "actors/pod/engine/latency.hpp"
#include "simulate/calibration/profile_fit.hpp"
#include "tests/simulate/temp_files.hpp"

using namespace inferstack::simulate::calibration;
namespace engine = inferstack::actors::pod::engine;
namespace fs = std::filesystem;

namespace {

using inferstack::simulate::testing::scratch_dir;

std::string number(double v) {
  std::ostringstream s;
  s << std::setprecision(17) << v;
  return s.str();
}

/// Per layer, ms over tokens: max(w + m T, s + k T).
struct two_lines {
  double w, m, s, k;
  double at(double t) const { return std::max(w + m * t, s + k * t); }
  double crossing() const { return (w - s) / (k - m); }
};

// Per layer, 32 heads of 128, 8 KV heads, hidden 4096 (Llama-3-8B's shape).
const two_lines tp1_line{0.2, 0.0001, 0.02, 0.0005};    // crossing at 450 tokens
const two_lines tp2_line{0.11, 0.00006, 0.01, 0.0003};  // crossing at ~417 tokens
constexpr uint32_t layers = 32;
constexpr double ns_per_ms = 1e6;

/// Vidur's token grid: 8..1024 step 8, then step 16 to 2048, then step 32 to 4096.
std::vector<uint32_t> vidur_token_grid() {
  std::vector<uint32_t> grid;
  for (uint32_t t = 8; t <= 1024; t += 8)
    grid.push_back(t);
  for (uint32_t t = 1040; t <= 2048; t += 16)
    grid.push_back(t);
  for (uint32_t t = 2080; t <= 4096; t += 32)
    grid.push_back(t);
  return grid;
}

/// mlp.csv with the 9 operators in a fixed share of each layer's time, for TP 1 and TP 2.
std::string synthetic_mlp_csv() {
  const std::vector<std::pair<std::string, double>> ops{{"input_layernorm", 0.02},
                                                        {"attn_pre_proj", 0.30},
                                                        {"attn_rope", 0.03},
                                                        {"attn_post_proj", 0.10},
                                                        {"post_attention_layernorm", 0.02},
                                                        {"mlp_up_proj", 0.28},
                                                        {"mlp_act", 0.04},
                                                        {"mlp_down_proj", 0.18},
                                                        {"add", 0.03}};
  std::string csv;
  for (const auto& [op, share] : ops)
    csv += "time_stats." + op + ".median,";
  csv +=
      "n_head,n_kv_head,n_embd,n_expanded_embd,vocab_size,num_tokens,num_tensor_parallel_"
      "workers\n";
  for (auto [tp, line] : {std::pair{1, tp1_line}, std::pair{2, tp2_line}}) {
    for (uint32_t t : vidur_token_grid()) {
      for (const auto& [op, share] : ops)
        csv += number(share * line.at(t)) + ",";
      csv += "32,8,4096,14336,128256," + std::to_string(t) + "," + std::to_string(tp) + "\n";
    }
  }
  return csv;
}

/// One all-reduce, ms over bytes: `floor` up to 1 MiB (latency-bound), then a line through
/// (1 MiB, floor) with `slope` ms a byte.
struct all_reduce_law {
  double floor, slope;
  double base() const { return floor - slope * (1 << 20); }
  double at(double bytes) const { return std::max(floor, base() + slope * bytes); }
};

const all_reduce_law two_gpus{0.015, 1.0e-8};  // 100 GB/s
const all_reduce_law four_gpus{0.03, 2.0e-8};
const all_reduce_law four_over_two_nodes{0.09, 8.0e-8};  // num_workers 4, 2 a node

/// Sizes like Vidur's: 2 KiB + 8 KiB steps to 1 MiB, then coarser to 64 MiB.
std::vector<double> all_reduce_sizes() {
  std::vector<double> sizes;
  for (double b = 2048; b < (1 << 20); b += 8192)
    sizes.push_back(b);
  for (double b = 1 << 20; b < 8 << 20; b += 32768)
    sizes.push_back(b);
  for (double b = 8 << 20; b <= 64 << 20; b += 262144)
    sizes.push_back(b);
  return sizes;
}

std::string synthetic_all_reduce_csv() {
  std::string csv = "time_stats.all_reduce.median,num_workers,size,devices_per_node\n";
  struct set {
    all_reduce_law law;
    int workers, per_node;
  };
  for (auto [law, workers, per_node] :
       {set{two_gpus, 2, 2}, set{four_gpus, 4, 4}, set{four_over_two_nodes, 4, 2}})
    for (double b : all_reduce_sizes())
      csv += number(law.at(b)) + "," + std::to_string(workers) + "," + number(b) + "," +
             std::to_string(per_node) + "\n";
  return csv;
}

/// CPU per step, ms over batch size: a + b x batch, split over the four parts.
struct cpu_law {
  double a, b;
  double at(double batch) const { return a + b * batch; }
};
const cpu_law cpu_tp1{1.2, 0.015};
const cpu_law cpu_tp2{1.5, 0.02};
const cpu_law cpu_other_model{3.0, 0.1};

std::string synthetic_cpu_csv() {
  std::string csv =
      "schedule_median,sampler_e2e_median,prepare_inputs_e2e_median,process_model_outputs_"
      "median,model_name,batch_size,tensor_parallel_degree\n";
  struct set {
    cpu_law law;
    std::string model;
    int tp;
  };
  for (const auto& [law, model, tp] :
       {set{cpu_tp1, "test/Synthetic-8B", 1}, set{cpu_tp2, "test/Synthetic-8B", 2},
        set{cpu_other_model, "test/Other-70B", 1}})
    for (int batch : {1, 2, 4, 8, 16, 32, 64, 128, 256}) {
      double total = law.at(batch);
      csv += number(0.2 * total) + "," + number(0.3 * total) + "," + number(0.35 * total) + "," +
             number(0.15 * total) + "," + model + "," + std::to_string(batch) + "," +
             std::to_string(tp) + "\n";
    }
  return csv;
}

/// The synthetic files and options fitting them at TP 1 on an H100.
struct synthetic_fit {
  scratch_dir dir;
  fit_options options;
  synthetic_fit() {
    options.name = "synthetic";
    options.mlp_csv = dir.write("mlp.csv", synthetic_mlp_csv());
    options.all_reduce_csv = dir.write("all_reduce.csv", synthetic_all_reduce_csv());
    options.cpu_csv = dir.write("cpu_overheads.csv", synthetic_cpu_csv());
    options.cpu_model = "test/Synthetic-8B";
    options.layers = layers;
    options.gpu = "h100";
  }
};

calibration_error error_of(const fit_options& options) {
  try {
    fit_profile(options);
  } catch (const calibration_error& e) {
    return e;
  }
  FAIL("fit_profile did not refuse the options");
  throw;  // not reached
}

void check_within(double got, double want, double tolerance) {
  INFO("got " << got << ", want " << want << " within " << tolerance * 100 << " %");
  CHECK(std::abs(got - want) <= tolerance * std::abs(want));
}

/// Causal pairs of a sequence computing n tokens after c already computed.
uint64_t pairs(uint64_t n, uint64_t c) {
  return n * c + n * (n + 1) / 2;
}

std::vector<engine::batch_stats> sample_batches() {
  engine::batch_stats decode;
  decode.decode_seqs = 32;
  decode.kv_tokens = 32 * 2000;
  engine::batch_stats prefill;  // two prompts, the second after a cached prefix of 500
  prefill.prefill_tokens = 600 + 400;
  prefill.prefill_seqs = 2;
  prefill.kv_tokens = 600 + 900;
  prefill.prefill_pairs = pairs(600, 0) + pairs(400, 500);
  engine::batch_stats mixed;
  mixed.prefill_tokens = 256;
  mixed.prefill_seqs = 1;
  mixed.decode_seqs = 20;
  mixed.kv_tokens = 20 * 1500 + 256;
  mixed.prefill_pairs = pairs(256, 0);
  engine::batch_stats long_prefill;  // beyond the measured 4096 tokens
  long_prefill.prefill_tokens = 6000;
  long_prefill.prefill_seqs = 1;
  long_prefill.kv_tokens = 6000;
  long_prefill.prefill_pairs = pairs(6000, 0);
  return {decode, prefill, mixed, long_prefill};
}

/// The manifest parses without problems and prices every sample batch as the profile does.
void check_yaml_round_trip(const fit_result& r) {
  std::vector<inferstack::config::problem> problems;
  auto parsed = engine::parse_step_profile(r.yaml, "fitted.yaml", problems);
  for (const auto& p : problems)
    UNSCOPED_INFO(p.to_string());
  REQUIRE(problems.empty());
  REQUIRE(parsed);
  CHECK(parsed->name == r.profile.name);
  for (const auto& batch : sample_batches()) {
    INFO("prefill tokens " << batch.prefill_tokens << ", decode sequences " << batch.decode_seqs);
    double want = static_cast<double>(r.profile.mean_step_ns(batch));
    REQUIRE(want > 0);
    check_within(static_cast<double>(parsed->mean_step_ns(batch)), want, 0.001);
  }
}

}  // namespace

TEST_CASE("profile fit: two lines over tokens are recovered from a synthetic mlp.csv",
          "[profile-fit]") {
  synthetic_fit s;
  auto r = fit_profile(s.options);
  // Per step: layers x per layer, ms over tokens.
  check_within(r.two_lines.weight_bound.base, layers * tp1_line.w, 0.01);
  check_within(r.two_lines.weight_bound.slope, layers * tp1_line.m, 0.01);
  check_within(r.two_lines.compute_bound.base, layers * tp1_line.s, 0.01);
  check_within(r.two_lines.compute_bound.slope, layers * tp1_line.k, 0.01);
  CHECK(std::abs(r.two_lines.knee - tp1_line.crossing()) <= 16);
  CHECK(r.two_lines.error.mape < 0.001);
  CHECK(r.shape.heads == 32);
  CHECK(r.shape.kv_heads == 8);
  CHECK(r.shape.hidden == 4096);
  CHECK(r.shape.vocab == 128256);
}

TEST_CASE("profile fit: the rows of another TP degree are ignored", "[profile-fit]") {
  synthetic_fit s;
  s.options.tensor_parallel = 2;
  auto r = fit_profile(s.options);
  check_within(r.two_lines.weight_bound.base, layers * tp2_line.w, 0.01);
  check_within(r.two_lines.weight_bound.slope, layers * tp2_line.m, 0.01);
  check_within(r.two_lines.compute_bound.base, layers * tp2_line.s, 0.01);
  check_within(r.two_lines.compute_bound.slope, layers * tp2_line.k, 0.01);
  CHECK(std::abs(r.two_lines.knee - tp2_line.crossing()) <= 16);
}

TEST_CASE("profile fit: the tokenCost table reproduces every measured row within 1.5 %",
          "[profile-fit]") {
  synthetic_fit s;
  auto r = fit_profile(s.options);
  REQUIRE(r.profile.token_cost.size() >= 3);
  CHECK(r.profile.token_cost.size() < vidur_token_grid().size());  // a table, not a copy
  CHECK(r.profile.token_granularity == 8);
  for (uint32_t t : vidur_token_grid()) {
    INFO(t << " tokens");
    check_within(r.profile.token_cost_ns(t), layers * tp1_line.at(t) * ns_per_ms, 0.015);
  }
  CHECK(r.token_cost_error.worst <= 0.015);
  // Beyond the measured 4096 tokens the table goes on at the compute-bound slope.
  check_within(r.profile.token_cost_ns(8192), layers * tp1_line.at(8192) * ns_per_ms, 0.015);
}

TEST_CASE("profile fit: an all-reduce's floor and line are recovered from all_reduce.csv",
          "[profile-fit]") {
  scratch_dir dir;
  auto path = dir.write("all_reduce.csv", synthetic_all_reduce_csv());
  // 4 workers on one node; the rows of 4 workers over two nodes are not these.
  auto table = read_all_reduce(path, 4);
  auto f = fit_all_reduce(table);
  check_within(f.floor_ms, four_gpus.floor, 0.01);
  check_within(f.bandwidth.base, four_gpus.base(), 0.01);
  check_within(f.bandwidth.slope, four_gpus.slope, 0.01);
  check_within(f.at(512 * 1024), four_gpus.floor, 0.01);
  check_within(f.at(32 << 20), four_gpus.at(32 << 20), 0.01);
}

TEST_CASE("profile fit: with TP above 1 a step has two all-reduces a layer from the NCCL line",
          "[profile-fit]") {
  synthetic_fit s;
  s.options.tensor_parallel = 2;
  auto r = fit_profile(s.options);
  REQUIRE(r.all_reduce);
  check_within(r.all_reduce->floor_ms, two_gpus.floor, 0.01);
  check_within(r.all_reduce->bandwidth.base, two_gpus.base(), 0.01);
  check_within(r.all_reduce->bandwidth.slope, two_gpus.slope, 0.01);
  CHECK(r.profile.all_reduces == 2 * layers);
  // One all-reduce carries T tokens x 4096 x 2 bytes: at 8 tokens (64 KiB) the floor, at 512
  // (4 MiB) the line -- the table follows the medians of neighbouring sizes, so within 3 %.
  const double bytes_per_token = 4096 * 2;
  check_within(r.profile.all_reduce_ns(8), two_gpus.floor * ns_per_ms, 0.03);
  check_within(r.profile.all_reduce_ns(512), two_gpus.at(512 * bytes_per_token) * ns_per_ms, 0.03);
  check_within(r.profile.all_reduce_ns(2048), two_gpus.at(2048 * bytes_per_token) * ns_per_ms,
               0.03);
}

TEST_CASE("profile fit: the CPU line over batch size becomes stepOverhead and perSequence",
          "[profile-fit]") {
  synthetic_fit s;
  auto r = fit_profile(s.options);
  REQUIRE(r.cpu);
  check_within(r.cpu->base, cpu_tp1.a, 0.01);
  check_within(r.cpu->slope, cpu_tp1.b, 0.01);
  check_within(r.profile.per_sequence_ns, cpu_tp1.b * ns_per_ms, 0.01);
  // The fixed cost: the LM head's weights (vocab x hidden x 2 bytes) read once, plus the CPU.
  const double lm_head_ns = 128256.0 * 4096 * 2 / 3.0e12 * 1e9;
  check_within(static_cast<double>(r.profile.step_overhead_ns), lm_head_ns + cpu_tp1.a * ns_per_ms,
               0.01);

  SECTION("TP 2 reads the CPU rows of TP 2") {
    s.options.tensor_parallel = 2;
    auto r2 = fit_profile(s.options);
    REQUIRE(r2.cpu);
    check_within(r2.cpu->base, cpu_tp2.a, 0.01);
    check_within(r2.cpu->slope, cpu_tp2.b, 0.01);
  }
  SECTION("without a CPU file there is no CPU term") {
    s.options.cpu_csv.clear();
    auto r0 = fit_profile(s.options);
    CHECK_FALSE(r0.cpu);
    CHECK(r0.profile.per_sequence_ns == 0);
    check_within(static_cast<double>(r0.profile.step_overhead_ns), lm_head_ns, 0.001);
  }
}

TEST_CASE("profile fit: the attention terms follow the shape at the GPU's effective rates",
          "[profile-fit]") {
  synthetic_fit s;
  // KV read per context token: 2 (K and V) x layers x KV heads a GPU x head size x 2 bytes, at
  // the memory bandwidth; prefill: 4 x heads x head size x layers / TP FLOPs a causal pair.
  auto kv_ns = [](double tp, double bandwidth) {
    return 2.0 * layers * std::ceil(8 / tp) * 128 * 2 / bandwidth * 1e9;
  };
  auto pair_ns = [](double tp, double flops) { return 4.0 * 32 * 128 * layers / tp / flops * 1e9; };

  SECTION("h100 defaults: 3.0 TB/s, 400 TFLOP/s") {
    auto r = fit_profile(s.options);
    check_within(r.profile.attention_ns_per_kv_token, kv_ns(1, 3.0e12), 1e-9);
    check_within(r.profile.prefill_attention_ns_per_pair, pair_ns(1, 4.0e14), 1e-9);
    check_within(r.profile.attention_ns_per_kv_token, 43.69, 0.001);  // the vLLM ITL slope
  }
  SECTION("a100 defaults: 1.8 TB/s, 180 TFLOP/s") {
    s.options.gpu = "a100";
    auto r = fit_profile(s.options);
    check_within(r.profile.attention_ns_per_kv_token, kv_ns(1, 1.8e12), 1e-9);
    check_within(r.profile.prefill_attention_ns_per_pair, pair_ns(1, 1.8e14), 1e-9);
  }
  SECTION("explicit rates, TP 2: each GPU holds half the KV heads and does half the FLOPs") {
    s.options.gpu = "mi300";
    s.options.tensor_parallel = 2;
    s.options.memory_bytes_per_s = 4.5e12;
    s.options.attention_flops = 6.0e14;
    auto r = fit_profile(s.options);
    check_within(r.profile.attention_ns_per_kv_token, kv_ns(2, 4.5e12), 1e-9);
    check_within(r.profile.prefill_attention_ns_per_pair, pair_ns(2, 6.0e14), 1e-9);
  }
  SECTION("explicit rates override the GPU's defaults") {
    s.options.memory_bytes_per_s = 2.0e12;
    s.options.attention_flops = 1.0e14;
    auto r = fit_profile(s.options);
    check_within(r.profile.attention_ns_per_kv_token, kv_ns(1, 2.0e12), 1e-9);
    check_within(r.profile.prefill_attention_ns_per_pair, pair_ns(1, 1.0e14), 1e-9);
  }
}

TEST_CASE("profile fit: an anchor pins the one-sequence decode step at an empty context",
          "[profile-fit]") {
  synthetic_fit s;
  engine::batch_stats one;
  one.decode_seqs = 1;
  one.kv_tokens = 0;
  const double unanchored = static_cast<double>(fit_profile(s.options).profile.mean_step_ns(one));

  s.options.anchor_decode_step_ns = 8.5e6;
  REQUIRE(*s.options.anchor_decode_step_ns > unanchored);
  auto r = fit_profile(s.options);
  CHECK(std::abs(r.profile.mean_step_ns(one) - 8'500'000) <= 1);
  // Only the fixed cost moves: the other terms are the unanchored fit's.
  one.kv_tokens = 1000;
  CHECK(std::abs(r.profile.mean_step_ns(one) - 8'500'000 -
                 std::llround(1000 * r.profile.attention_ns_per_kv_token)) <= 1);
  check_yaml_round_trip(r);

  SECTION("an anchor below the fitted step without a fixed cost is refused") {
    s.options.anchor_decode_step_ns = 5e6;  // the token-wise layers alone take 6.4 ms
    auto e = error_of(s.options);
    CHECK_THAT(e.what(), Catch::Contains("--anchor-decode-step") && Catch::Contains("5.000ms"));
  }
}

TEST_CASE("profile fit: the manifest reads back as the same step profile", "[profile-fit]") {
  synthetic_fit s;
  SECTION("TP 1 with CPU") {
    check_yaml_round_trip(fit_profile(s.options));
  }
  SECTION("TP 2 with the allReduceCost table") {
    s.options.tensor_parallel = 2;
    auto r = fit_profile(s.options);
    REQUIRE_FALSE(r.profile.all_reduce_cost.empty());
    check_yaml_round_trip(r);
  }
  SECTION("scaled to another shape, another GPU") {
    s.options.gpu = "a100";
    s.options.scale_linear = 0.8;
    s.options.scale_elementwise = 0.625;
    s.options.target.hidden = 5120;
    s.options.target.kv_heads = 4;
    s.options.target_head_dim = 128;
    s.options.notes = {"a note for people", "and another"};
    auto r = fit_profile(s.options);
    CHECK(r.shape.hidden == 5120);
    CHECK(r.yaml.find("# a note for people\n") != std::string::npos);
    check_yaml_round_trip(r);
  }
}

TEST_CASE("profile fit: bad options and files are refused naming what is wrong", "[profile-fit]") {
  synthetic_fit s;
  SECTION("layers 0") {
    s.options.layers = 0;
    CHECK_THAT(error_of(s.options).what(), Catch::Contains("--layers"));
  }
  SECTION("TP above 1 without a network file") {
    s.options.tensor_parallel = 2;
    s.options.all_reduce_csv.clear();
    CHECK_THAT(error_of(s.options).what(),
               Catch::Contains("--network") && Catch::Contains("all_reduce.csv"));
  }
  SECTION("an unknown GPU without explicit rates") {
    s.options.gpu = "v100";
    CHECK_THAT(error_of(s.options).what(), Catch::Contains("--gpu") && Catch::Contains("v100") &&
                                               Catch::Contains("--memory-bandwidth") &&
                                               Catch::Contains("--attention"));
    s.options.memory_bytes_per_s = 0.9e12;  // one rate is not enough
    CHECK_THAT(error_of(s.options).what(), Catch::Contains("v100"));
  }
  SECTION("a missing mlp.csv") {
    s.options.mlp_csv = (s.dir.path / "absent" / "mlp.csv").string();
    CHECK_THAT(error_of(s.options).what(), Catch::Contains(s.options.mlp_csv));
  }
  SECTION("no rows for the TP degree") {
    s.options.tensor_parallel = 4;
    CHECK_THAT(error_of(s.options).what(), Catch::Contains(s.options.mlp_csv) &&
                                               Catch::Contains("num_tensor_parallel_workers = 4"));
  }
  SECTION("an all_reduce.csv without the worker count") {
    s.options.all_reduce_csv =
        s.dir.write("network.csv",
                    "time_stats.all_reduce.median,num_workers,size,devices_per_node\n"
                    "0.01,8,2048,8\n0.02,8,4194304,8\n");
    s.options.tensor_parallel = 2;
    CHECK_THAT(error_of(s.options).what(),
               Catch::Contains("network.csv") && Catch::Contains("num_workers"));
  }
  SECTION("a CPU file without the model") {
    s.options.cpu_model = "test/Absent-1B";
    CHECK_THAT(error_of(s.options).what(),
               Catch::Contains("cpu_overheads.csv") && Catch::Contains("test/Absent-1B"));
  }
  SECTION("fewer than 3 token counts a multiple of the granularity") {
    s.options.token_granularity = 2048;  // only 2048 and 4096
    CHECK_THAT(error_of(s.options).what(),
               Catch::Contains(s.options.mlp_csv) && Catch::Contains("granularity"));
  }
}
