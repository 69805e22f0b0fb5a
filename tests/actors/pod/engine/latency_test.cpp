#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "actors/pod/engine/latency.hpp"

using namespace inferstack::actors::pod::engine;

namespace {

constexpr int64_t us = 1'000;
constexpr int64_t ms = 1'000'000;

std::string profiles_dir() {
  return std::string(INFERSTACK_SOURCE_DIR) + "/config/profiles";
}

batch_stats decode_batch(uint32_t seqs, uint32_t context) {
  batch_stats b;
  b.decode_seqs = seqs;
  b.kv_tokens = static_cast<uint64_t>(seqs) * context;
  return b;
}

batch_stats prefill_batch(uint32_t tokens) {
  batch_stats b;
  b.prefill_seqs = 1;
  b.prefill_tokens = tokens;
  b.kv_tokens = tokens;
  b.prefill_pairs = uint64_t(tokens) * (tokens + 1) / 2;
  return b;
}

const char* valid_profile = R"(apiVersion: inferstack.io/v1alpha1
kind: LatencyProfile
metadata:
  name: test
spec:
  stepOverhead: 5ms
  prefillPerToken: 250us
  decodePerSequence: 100us
  attentionPerKvToken: 10ns
  jitter: 0.05
)";

}  // namespace

// -- step model -----------------------------------------------------------------------------------

TEST_CASE("a step costs overhead plus prefill, decode and attention terms") {
  step_profile p;
  p.step_overhead_ns = 5 * ms;
  p.prefill_overhead_ns = 10 * ms;
  p.prefill_ns_per_token = 250 * us;
  p.decode_ns_per_sequence = 100 * us;
  p.attention_ns_per_kv_token = 10;
  CHECK(p.mean_step_ns(batch_stats{}) == 0);
  CHECK(p.mean_step_ns(decode_batch(4, 1000)) == 5 * ms + 4 * 100 * us + 4000 * 10);
  batch_stats mixed = decode_batch(2, 100);
  mixed.prefill_seqs = 1;
  mixed.prefill_tokens = 64;
  mixed.kv_tokens += 64;
  CHECK(p.mean_step_ns(mixed) == 5 * ms + 10 * ms + 64 * 250 * us + 2 * 100 * us + 264 * 10);
  std::mt19937_64 rng(1);
  CHECK(p.step_duration(mixed, rng) == p.mean_step_ns(mixed));  // no jitter: exact, no draw
  CHECK(rng() == std::mt19937_64(1)());
  CHECK(p.kv_transfer_ns(100) == 0);
  p.kv_transfer_latency_ns = 2 * ms;
  p.kv_transfer_ns_per_token = 3 * us;
  CHECK(p.kv_transfer_ns(100) == 2 * ms + 300 * us);
}

TEST_CASE("a fitted step pads its tokens, reads the token-cost table and adds all-reduces") {
  step_profile p;
  p.token_granularity = 8;
  p.token_cost = {{8, 6.0 * ms}, {128, 7.2 * ms}, {1024, 25.2 * ms}};
  CHECK(p.token_cost_ns(1) == 6.0 * ms);           // held below the first point
  CHECK(p.token_cost_ns(68) == Approx(6.6 * ms));  // halfway between 8 and 128
  CHECK(p.token_cost_ns(2048) == Approx(25.2 * ms + 1024 * 18.0 * ms / 896));  // extended
  p.all_reduces = 160;
  p.all_reduce_floor_ns = 40 * us;
  p.all_reduce_base_ns = 20 * us;
  p.all_reduce_ns_per_token = 50;
  CHECK(p.all_reduce_ns(8) == 40 * us);     // latency-bound
  CHECK(p.all_reduce_ns(1000) == 70 * us);  // bandwidth-bound
  auto b = decode_batch(3, 1000);           // 3 tokens, padded to 8
  CHECK(p.padded_tokens(b) == 8);
  CHECK(p.mean_step_ns(b) == 6 * ms + 160 * 40 * us);
  p.attention_ns_per_kv_token = 43.7;
  p.per_sequence_ns = 20 * us;
  CHECK(p.mean_step_ns(b) == 6 * ms + 160 * 40 * us + 131100 + 60 * us);

  batch_stats prefill = prefill_batch(100);  // 100 tokens, padded to 104
  prefill.prefill_pairs = 100 * 101 / 2;
  p.prefill_attention_ns_per_pair = 1.5;
  auto parts = p.breakdown(prefill);
  CHECK(parts.token_cost == Approx(6.0 * ms + 96 * (1.2 * ms / 120)));
  CHECK(parts.all_reduce == Approx(160 * 40.0 * us));  // 20us + 104 * 50ns is under the floor
  CHECK(parts.prefill_attention == Approx(5050 * 1.5));
  CHECK(parts.per_sequence == 20 * us);
  CHECK(p.mean_step_ns(prefill) == std::llround(parts.total()));
}

TEST_CASE("a lone prompt's first token pays causal attention over the cached prefix too") {
  step_profile p;
  p.prefill_attention_ns_per_pair = 1;
  step_latency_model m(p);
  std::mt19937_64 rng(1);
  first_token_query fresh{1000, 0, 1, 1, false};
  CHECK(m.first_token_ns(fresh, rng) == 1000 * 1001 / 2);
  first_token_query cached{1000, 600, 1, 1, false};
  CHECK(m.first_token_ns(cached, rng) == 400 * 600 + 400 * 401 / 2);
}

TEST_CASE("profile YAML reads the fitted terms and names a bad token-cost point") {
  std::string fitted = std::string(valid_profile) + R"(  perSequence: 42.5us
  tokenGranularity: 8
  tokenCost:
    - [8, 6.2ms]
    - [512, 21.4ms]
  allReduces: 160
  allReduceFloor: 42us
  allReduceBase: 30us
  allReducePerToken: 68.6ns
  prefillAttentionPerPair: 1.31ns
)";
  std::vector<inferstack::config::problem> problems;
  auto ok = parse_step_profile(fitted, "fit.yaml", problems);
  REQUIRE(ok);
  CHECK(ok->per_sequence_ns == 42500);
  CHECK(ok->token_granularity == 8);
  REQUIRE(ok->token_cost.size() == 2);
  CHECK(ok->token_cost[1].tokens == 512);
  CHECK(ok->token_cost[1].ns == Approx(21.4e6));
  CHECK(ok->all_reduces == 160);
  CHECK(ok->all_reduce_ns_per_token == Approx(68.6));
  CHECK(ok->prefill_attention_ns_per_pair == Approx(1.31));

  auto bad = [&](std::string from, std::string to) {
    auto t = fitted;
    t.replace(t.find(from), from.size(), to);
    problems.clear();
    CHECK_FALSE(parse_step_profile(t, "fit.yaml", problems));
    REQUIRE(problems.size() == 1);
    return problems[0];
  };
  CHECK(bad("[512, 21.4ms]", "[4, 21.4ms]").field == "spec.tokenCost[1]");
  CHECK_THAT(bad("[512, 21.4ms]", "[4, 21.4ms]").message, Catch::Contains("increase"));
  CHECK(bad("[8, 6.2ms]", "[8, fast]").field == "spec.tokenCost[0]");
  CHECK(bad("[8, 6.2ms]", "[eight, 6.2ms]").field == "spec.tokenCost[0]");
  CHECK(bad("    - [512, 21.4ms]\n", "").field == "spec.tokenCost");
  CHECK(bad("1.31ns", "1.31 nanos").field == "spec.prefillAttentionPerPair");
  CHECK(bad("tokenGranularity: 8", "tokenGranularity: 0").field == "spec.tokenGranularity");
}

TEST_CASE("step jitter stays within three standard deviations and is reproducible") {
  step_profile p;
  p.step_overhead_ns = 10 * ms;
  p.jitter = 0.05;
  auto b = decode_batch(1, 1);
  std::mt19937_64 a(42), c(42);
  double sum = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    int64_t d = p.step_duration(b, a);
    CHECK(d >= static_cast<int64_t>(10 * ms * 0.85));
    CHECK(d <= static_cast<int64_t>(10 * ms * 1.15));
    CHECK(d == p.step_duration(b, c));
    sum += static_cast<double>(d);
  }
  CHECK(sum / n == Approx(10.0 * ms).epsilon(0.005));
  // A jitter so large that -3 sigma goes below zero clamps at 0.
  p.jitter = 0.5;
  std::mt19937_64 r(3);
  for (int i = 0; i < 5000; ++i)
    CHECK(p.step_duration(b, r) >= 0);
}

TEST_CASE("standard_normal has mean 0 and variance 1") {
  std::mt19937_64 rng(11);
  double sum = 0, sq = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    double z = standard_normal(rng);
    sum += z;
    sq += z * z;
  }
  CHECK(std::abs(sum / n) < 0.01);
  CHECK(sq / n == Approx(1.0).epsilon(0.01));
}

// -- YAML profiles --------------------------------------------------------------------------------

TEST_CASE("every shipped profile loads") {
  for (const char* name : {"8b-h100", "70b-tp8", "small-l40s", "qwen3-32b-h100-tp2", "zero"}) {
    INFO(name);
    auto p = load_named_step_profile(profiles_dir(), name);
    CHECK(p.name == name);
  }
  auto zero = load_named_step_profile(profiles_dir(), "zero");
  std::mt19937_64 rng(1);
  CHECK(zero.step_duration(decode_batch(256, 4096), rng) == 0);
  CHECK(zero.step_duration(prefill_batch(8192), rng) == 0);
  CHECK(zero.kv_transfer_ns(1000) == 0);
}

TEST_CASE("8b-h100 is calibrated to KAITO's figures") {
  auto p = load_named_step_profile(profiles_dir(), "8b-h100");
  CHECK(p.step_overhead_ns == 11800 * us);
  CHECK(p.prefill_ns_per_token == 250 * us);
  CHECK(p.jitter == 0.05);
  // A lone request: TTFT = 30 ms + 0.25 ms per prompt token.
  for (uint32_t prompt : {1u, 100u, 1000u, 4000u}) {
    double want = 30.0 * ms + 0.25 * ms * prompt;
    CHECK(static_cast<double>(p.mean_step_ns(prefill_batch(prompt))) ==
          Approx(want).epsilon(0.001));
  }
  // ITL ~12 ms at batch 1, ~20 ms at batch 64 with 1k-token contexts, growing with the batch.
  CHECK(static_cast<double>(p.mean_step_ns(decode_batch(1, 1024))) ==
        Approx(12.0 * ms).epsilon(0.01));
  CHECK(static_cast<double>(p.mean_step_ns(decode_batch(64, 1024))) ==
        Approx(20.0 * ms).epsilon(0.01));
  CHECK(p.mean_step_ns(decode_batch(256, 1024)) > p.mean_step_ns(decode_batch(64, 1024)));
  CHECK(p.kv_transfer_ns(1000) == 2 * ms + 3 * ms);
}

TEST_CASE("qwen3-32b-h100-tp2, now fitted, stays near its earlier hand derivation") {
  // The hand derivation from the same Vidur rows (issue 18): decode batch 1 with a 1k context
  // 19.3 ms, batch 64 with 8.2k contexts 45.8 ms, a lone 7,200-token prompt 473 ms.
  auto p = load_named_step_profile(profiles_dir(), "qwen3-32b-h100-tp2");
  CHECK(static_cast<double>(p.mean_step_ns(decode_batch(1, 1024))) ==
        Approx(19.3 * ms).epsilon(0.05));
  CHECK(static_cast<double>(p.mean_step_ns(decode_batch(64, 8200))) ==
        Approx(45.8 * ms).epsilon(0.05));
  CHECK(static_cast<double>(p.mean_step_ns(prefill_batch(7200))) ==
        Approx(473.0 * ms).epsilon(0.1));
}

TEST_CASE("70b-tp8 and small-l40s follow their KAITO rows") {
  auto big = load_named_step_profile(profiles_dir(), "70b-tp8");
  CHECK(static_cast<double>(big.mean_step_ns(prefill_batch(1000))) ==
        Approx(80.0 * ms + 500.0 * ms).epsilon(0.001));
  CHECK(static_cast<double>(big.mean_step_ns(decode_batch(1, 1024))) ==
        Approx(25.0 * ms).epsilon(0.01));
  CHECK(static_cast<double>(big.mean_step_ns(decode_batch(64, 1024))) ==
        Approx(40.0 * ms).epsilon(0.01));
  auto small = load_named_step_profile(profiles_dir(), "small-l40s");
  CHECK(static_cast<double>(small.mean_step_ns(prefill_batch(1000))) ==
        Approx(20.0 * ms + 350.0 * ms).epsilon(0.001));
  CHECK(static_cast<double>(small.mean_step_ns(decode_batch(1, 1024))) ==
        Approx(15.0 * ms).epsilon(0.01));
  CHECK(static_cast<double>(small.mean_step_ns(decode_batch(64, 1024))) ==
        Approx(20.0 * ms).epsilon(0.01));
}

TEST_CASE("profile YAML is strict: unknown keys name the file and the key") {
  std::vector<inferstack::config::problem> problems;
  auto ok = parse_step_profile(valid_profile, "p.yaml", problems);
  REQUIRE(ok);
  CHECK(problems.empty());
  CHECK(ok->step_overhead_ns == 5 * ms);
  CHECK(ok->prefill_overhead_ns == 0);
  CHECK(ok->attention_ns_per_kv_token == 10);
  CHECK(ok->jitter == 0.05);

  std::string text = valid_profile;
  text += "  stepOverheads: 1ms\n";
  CHECK_FALSE(parse_step_profile(text, "config/profiles/bad.yaml", problems));
  REQUIRE(problems.size() == 1);
  auto msg = problems[0].to_string();
  CHECK_THAT(msg, Catch::Contains("config/profiles/bad.yaml"));
  CHECK_THAT(msg, Catch::Contains("spec.stepOverheads"));
  CHECK_THAT(msg, Catch::Contains("unknown field"));

  problems.clear();
  CHECK_FALSE(parse_step_profile(std::string(valid_profile) + "extra: 1\n", "f.yaml", problems));
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].field == "extra");
}

TEST_CASE("profile YAML rejects bad values, kinds and missing fields") {
  std::vector<inferstack::config::problem> problems;
  std::string text = valid_profile;
  auto replace = [&](std::string from, std::string to) {
    auto t = text;
    t.replace(t.find(from), from.size(), to);
    return t;
  };
  CHECK_FALSE(parse_step_profile(replace("5ms", "five"), "f.yaml", problems));
  CHECK_FALSE(parse_step_profile(replace("5ms", "-5ms"), "f.yaml", problems));
  CHECK_FALSE(parse_step_profile(replace("LatencyProfile", "Latency"), "f.yaml", problems));
  CHECK_FALSE(parse_step_profile(replace("v1alpha1", "v2"), "f.yaml", problems));
  CHECK_FALSE(parse_step_profile(replace("jitter: 0.05", "jitter: 2"), "f.yaml", problems));
  CHECK_FALSE(parse_step_profile(replace("  decodePerSequence: 100us\n", ""), "f.yaml", problems));
  CHECK_FALSE(parse_step_profile("spec: [", "f.yaml", problems));
  CHECK_FALSE(parse_step_profile("", "f.yaml", problems));
  CHECK(problems.size() >= 8);
  for (const auto& p : problems)
    CHECK(p.file == "f.yaml");
}

TEST_CASE("load_step_profile throws with every problem, naming the file") {
  auto dir = std::filesystem::temp_directory_path() / "inferstack-pod-engine-test";
  std::filesystem::create_directories(dir);
  auto path = (dir / "typo.yaml").string();
  {
    std::ofstream out(path);
    out << valid_profile << "  jiter: 0.1\n";
  }
  try {
    load_step_profile(path);
    FAIL("expected an exception");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains(path));
    CHECK_THAT(e.what(), Catch::Contains("spec.jiter"));
  }
  CHECK_THROWS_AS(load_step_profile((dir / "missing.yaml").string()), std::runtime_error);
  std::filesystem::remove_all(dir);
}

// -- llm-d-inference-sim calculators --------------------------------------------------------------

TEST_CASE("sim durations are drawn in whole milliseconds and clamped to [0.3, 1.7] x mean") {
  std::mt19937_64 rng(5);
  // sd under 1 ms: no draw, the mean truncated to whole ms.
  CHECK(sim_random_norm_duration(12700 * us, 900 * us, rng) == 12 * ms);
  CHECK(rng() == std::mt19937_64(5)());
  // Anything under a millisecond becomes 0.
  CHECK(sim_random_norm_duration(999 * us, 0, rng) == 0);
  CHECK(sim_random_norm_duration(0, 5 * ms, rng) == 0);
  // A huge sd hits both clamps; every value is whole ms inside the bounds.
  bool low = false, high = false;
  for (int i = 0; i < 2000; ++i) {
    int64_t d = sim_random_norm_duration(100 * ms, 1000 * ms, rng);
    CHECK(d % ms == 0);
    CHECK(d >= 30 * ms);
    CHECK(d <= 170 * ms);
    low |= d == 30 * ms;
    high |= d == 170 * ms;
  }
  CHECK(low);
  CHECK(high);
  // The same seed gives the same draws.
  std::mt19937_64 a(9), b(9);
  for (int i = 0; i < 1000; ++i)
    CHECK(sim_random_norm_duration(10 * ms, 1 * ms, a) == sim_random_norm_duration(10 * ms, ms, b));
}

TEST_CASE("the load factor interpolates between 1 and time-factor-under-load") {
  sim_latency_params p;
  p.time_factor_under_load = 2.0;
  sim_latency calc(p);
  CHECK(calc.load_factor(1, 11) == 1.0);
  CHECK(calc.load_factor(6, 11) == 1.5);
  CHECK(calc.load_factor(11, 11) == 2.0);
  CHECK(calc.load_factor(5, 1) == 1.0);  // max-num-seqs <= 1
  p.time_factor_under_load = 1.0;
  CHECK(sim_latency(p).load_factor(11, 11) == 1.0);
}

TEST_CASE("constant calculator: TTFT from time-to-first-token, scaled by load") {
  sim_latency_params p;
  p.calculator = sim_calculator::constant;
  p.time_to_first_token_ns = 100 * ms;
  p.prefill_overhead_ns = 999 * ms;  // ignored by this calculator
  p.kv_cache_transfer_latency_ns = 2 * ms;
  p.kv_cache_transfer_time_per_token_ns = 1 * ms;  // ignored
  p.inter_token_latency_ns = 12 * ms;
  p.time_factor_under_load = 2.0;
  sim_latency calc(p);
  std::mt19937_64 rng(1);
  CHECK(calc.ttft_ns(500, 0, 1, 11, false, rng) == 100 * ms);
  CHECK(calc.ttft_ns(500, 0, 6, 11, false, rng) == 150 * ms);
  CHECK(calc.ttft_ns(500, 0, 11, 11, false, rng) == 200 * ms);
  // P/D: the transfer latency, never scaled.
  CHECK(calc.ttft_ns(500, 0, 11, 11, true, rng) == 2 * ms);
  CHECK(calc.itl_ns(1, 5, rng) == 12 * ms);
  CHECK(calc.itl_ns(5, 5, rng) == 24 * ms);
  CHECK(calc.itl_ns(3, 5, rng) == 18 * ms);
}

TEST_CASE("per-token calculator: overhead + uncached tokens, each part scaled, truncated to ms") {
  sim_latency_params p;
  p.calculator = sim_calculator::per_token;
  p.time_to_first_token_ns = 100 * ms;  // ignored by this calculator
  p.prefill_overhead_ns = 30 * ms;
  p.prefill_time_per_token_ns = 250 * us;
  p.kv_cache_transfer_time_per_token_ns = 3 * us;
  p.kv_cache_transfer_latency_ns = 50 * ms;  // ignored
  p.time_factor_under_load = 2.0;
  sim_latency calc(p);
  std::mt19937_64 rng(1);
  CHECK(calc.ttft_ns(100, 16, 1, 11, false, rng) == 51 * ms);  // 30 + 84 * 0.25
  // L = 1.5: 45 ms + 84 * 375 us = 76.5 ms -> 76 ms.
  CHECK(calc.ttft_ns(100, 16, 6, 11, false, rng) == 76 * ms);
  // P/D: prompt * per-token transfer (cached tokens not subtracted, no load).
  CHECK(calc.ttft_ns(1000, 500, 11, 11, true, rng) == 3 * ms);
  CHECK(calc.ttft_ns(100, 0, 1, 11, true, rng) == 0);  // 0.3 ms truncates to 0
}

TEST_CASE("legacy calculator picks constant or per-token from what is set") {
  sim_latency_params p;
  p.calculator = sim_calculator::legacy;
  p.prefill_overhead_ns = 30 * ms;
  p.prefill_time_per_token_ns = 1 * ms;
  p.kv_cache_transfer_time_per_token_ns = 1 * ms;
  std::mt19937_64 rng(1);
  CHECK(sim_latency(p).ttft_ns(10, 0, 1, 1, false, rng) == 40 * ms);  // per-token
  CHECK(sim_latency(p).ttft_ns(10, 0, 1, 1, true, rng) == 10 * ms);   // per-token transfer
  p.time_to_first_token_ns = 7 * ms;
  CHECK(sim_latency(p).ttft_ns(10, 0, 1, 1, false, rng) == 7 * ms);  // constant
  CHECK(sim_latency(p).ttft_ns(10, 0, 1, 1, true, rng) == 10 * ms);  // still per-token transfer
  p.kv_cache_transfer_latency_ns = 4 * ms;
  CHECK(sim_latency(p).ttft_ns(10, 0, 1, 1, true, rng) == 4 * ms);  // constant transfer
  // Nothing set: per-token with everything 0.
  CHECK(sim_latency(sim_latency_params{}).ttft_ns(1000, 0, 1, 1, false, rng) == 0);
}

TEST_CASE("sim parameters are validated like the simulator does") {
  sim_latency_params p;
  p.time_to_first_token_ns = 10 * ms;
  p.time_to_first_token_std_dev_ns = 3 * ms;  // exactly 30%: fine
  p.inter_token_latency_ns = 10 * ms;
  p.inter_token_latency_std_dev_ns = 3 * ms;
  p.kv_cache_transfer_latency_ns = 10 * ms;
  p.kv_cache_transfer_latency_std_dev_ns = 3 * ms;
  p.prefill_time_per_token_ns = 1 * us;
  p.prefill_time_std_dev_ns = 50 * ms;  // no bound: applied to a total unknown up front
  CHECK(p.validate().empty());
  auto bad = p;
  bad.time_to_first_token_std_dev_ns = 3100 * us;
  CHECK(bad.validate().size() == 1);
  CHECK_THROWS_AS(sim_latency(bad), std::invalid_argument);
  bad = p;
  bad.inter_token_latency_std_dev_ns = 4 * ms;
  bad.kv_cache_transfer_latency_std_dev_ns = 4 * ms;
  bad.prefill_overhead_ns = -1;
  bad.time_factor_under_load = 0.5;
  CHECK(bad.validate().size() == 4);
}

TEST_CASE("sim options are read from the simulator's flag names") {
  sim_latency_params p;
  CHECK(is_sim_latency_option("time-to-first-token"));
  CHECK(is_sim_latency_option("latency-calculator"));
  CHECK_FALSE(is_sim_latency_option("max-num-seqs"));
  CHECK_FALSE(set_sim_latency_option(p, "time-to-first-token", "250ms"));
  CHECK_FALSE(set_sim_latency_option(p, "prefill-time-per-token", "50us"));
  CHECK_FALSE(set_sim_latency_option(p, "inter-token-latency", "12"));  // bare: milliseconds
  CHECK_FALSE(set_sim_latency_option(p, "time-factor-under-load", "2.5"));
  CHECK_FALSE(set_sim_latency_option(p, "latency-calculator", "per-token"));
  CHECK(p.time_to_first_token_ns == 250 * ms);
  CHECK(p.prefill_time_per_token_ns == 50 * us);
  CHECK(p.inter_token_latency_ns == 12 * ms);
  CHECK(p.time_factor_under_load == 2.5);
  CHECK(p.calculator == sim_calculator::per_token);
  CHECK_FALSE(set_sim_latency_option(p, "latency-calculator", ""));
  CHECK(p.calculator == sim_calculator::legacy);
  CHECK(set_sim_latency_option(p, "latency-calculator", "fast"));
  CHECK(set_sim_latency_option(p, "time-to-first-token", "soon"));
  CHECK(set_sim_latency_option(p, "time-factor-under-load", "x"));
  CHECK(set_sim_latency_option(p, "max-num-seqs", "5"));
  CHECK_FALSE(set_sim_latency_option(p, "kv-cache-transfer-latency", "-1ms"));
  CHECK(p.kv_cache_transfer_latency_ns == -1 * ms);
  CHECK_FALSE(p.validate().empty());  // negatives are reported by validate, as the simulator does
}

// -- KAITO profiles -------------------------------------------------------------------------------

TEST_CASE("KAITO profiles carry the table's values and pass validation") {
  for (auto name : {profile_small_l40s, profile_8b_h100, profile_70b_tp8}) {
    INFO(name);
    auto p = kaito_sim_params(name, sim_calculator::per_token);
    REQUIRE(p);
    CHECK(p->validate().empty());
    CHECK(p->calculator == sim_calculator::per_token);
  }
  auto p = *kaito_sim_params(profile_8b_h100, sim_calculator::constant);
  CHECK(p.calculator == sim_calculator::constant);
  CHECK(p.inter_token_latency_ns == 12 * ms);
  CHECK(p.inter_token_latency_std_dev_ns == 2 * ms);
  CHECK(p.time_factor_under_load == 2.0);
  CHECK(p.time_to_first_token_ns == 100 * ms);
  CHECK(p.time_to_first_token_std_dev_ns == 20 * ms);
  CHECK(p.prefill_overhead_ns == 30 * ms);
  CHECK(p.prefill_time_per_token_ns == 250 * us);
  CHECK(p.prefill_time_std_dev_ns == 50 * us);
  CHECK(p.kv_cache_transfer_latency_ns == 2 * ms);
  CHECK(p.kv_cache_transfer_latency_std_dev_ns == 400 * us);
  CHECK(p.kv_cache_transfer_time_per_token_ns == 3 * us);
  CHECK(p.kv_cache_transfer_time_std_dev_ns == 600);
  auto big = *kaito_sim_params(profile_70b_tp8, sim_calculator::per_token);
  CHECK(big.inter_token_latency_ns == 25 * ms);
  CHECK(big.time_factor_under_load == 3.0);
  CHECK(big.prefill_overhead_ns == 80 * ms);
  CHECK(big.kv_cache_transfer_time_per_token_ns == 8 * us);
  auto small = *kaito_sim_params(profile_small_l40s, sim_calculator::per_token);
  CHECK(small.inter_token_latency_ns == 15 * ms);
  CHECK(small.time_to_first_token_ns == 110 * ms);
  CHECK(small.prefill_time_per_token_ns == 350 * us);
  CHECK(small.kv_cache_transfer_latency_ns == 5 * ms);
  CHECK_FALSE(kaito_sim_params("h200", sim_calculator::per_token));

  // 8b-h100 per-token, a lone 1000-token prompt: 30 ms + 250 ms (the 50 us sd truncates to 0).
  std::mt19937_64 rng(1);
  sim_latency calc(*kaito_sim_params(profile_8b_h100, sim_calculator::per_token));
  CHECK(calc.ttft_ns(1000, 0, 1, 256, false, rng) == 280 * ms);
}

TEST_CASE("parameter counts are parsed from model names") {
  CHECK(parse_parameter_count_b("llama-3.1-8b-instruct") == 8.0);
  CHECK(parse_parameter_count_b("qwen2.5-0.5b") == 0.5);
  CHECK(parse_parameter_count_b("mixtral-8x7b") == 56.0);
  CHECK(parse_parameter_count_b("Mixtral-8x22B-Instruct-v0.1") == 176.0);
  CHECK(parse_parameter_count_b("meta-llama/Llama-3.1-70B-Instruct") == 70.0);
  CHECK(parse_parameter_count_b("Qwen3-30B-A3B") == 30.0);
  CHECK(parse_parameter_count_b("deepseek-r1-distill-qwen-1.5b") == 1.5);
  CHECK(parse_parameter_count_b("gpt-oss-120b") == 120.0);
  CHECK(parse_parameter_count_b("falcon-7b") == 7.0);
  CHECK(parse_parameter_count_b("smollm2-360m") == Approx(0.36));
  CHECK(parse_parameter_count_b("qwen2.5-coder-32b-instruct-awq") == 32.0);
  CHECK_FALSE(parse_parameter_count_b("Phi-4-mini"));
  CHECK_FALSE(parse_parameter_count_b("llama-4bit"));
  CHECK_FALSE(parse_parameter_count_b("Mistral-Nemo-Instruct"));
  CHECK_FALSE(parse_parameter_count_b(""));
}

TEST_CASE("profiles are chosen from the model size, annotations override") {
  CHECK(select_profile("qwen2.5-0.5b").profile == "small-l40s");
  CHECK(select_profile("llama-3.2-3b").profile == "small-l40s");
  CHECK(select_profile("qwen2.5-4.9b").profile == "small-l40s");
  CHECK(select_profile("mistral-5b").profile == "8b-h100");
  CHECK(select_profile("llama-3.1-8b-instruct").profile == "8b-h100");
  CHECK(select_profile("phi-24b").profile == "8b-h100");
  CHECK(select_profile("gemma-25b").profile == "70b-tp8");
  CHECK(select_profile("llama-3.1-70b").profile == "70b-tp8");
  CHECK(select_profile("mixtral-8x7b").profile == "70b-tp8");  // 56B
  auto phi = select_profile("Phi-4-mini");
  CHECK(phi.profile == "8b-h100");
  CHECK_FALSE(phi.parameters_b);
  CHECK(phi.calculator == sim_calculator::per_token);
  CHECK(phi.warnings.empty());

  using annotations = std::map<std::string, std::string>;
  auto forced =
      select_profile("qwen2.5-0.5b", annotations{{"kaito.sh/latency-profile", "70b-tp8"},
                                                 {"kaito.sh/latency-calculator", "constant"}});
  CHECK(forced.profile == "70b-tp8");
  CHECK(forced.calculator == sim_calculator::constant);
  CHECK(forced.warnings.empty());
  CHECK(select_profile("qwen2.5-0.5b", annotations{{"kaito.sh/latency-profile", "auto"}}).profile ==
        "small-l40s");
  auto unknown = select_profile(
      "llama-3.1-70b",
      annotations{{"kaito.sh/latency-profile", "h200"}, {"kaito.sh/latency-calculator", "fast"}});
  CHECK(unknown.profile == "70b-tp8");
  CHECK(unknown.calculator == sim_calculator::per_token);
  REQUIRE(unknown.warnings.size() == 2);
  CHECK_THAT(unknown.warnings[0], Catch::Contains("h200"));
  CHECK_THAT(unknown.warnings[1], Catch::Contains("fast"));
}

TEST_CASE("latency models: step model per step, sim model per request, both reproducible") {
  step_latency_model step(load_named_step_profile(profiles_dir(), "8b-h100"));
  CHECK(step.mode() == timing::per_step);
  CHECK(step.name() == "8b-h100");
  sim_latency_model sim(sim_latency(*kaito_sim_params(profile_8b_h100, sim_calculator::per_token)),
                        "8b-h100");
  CHECK(sim.mode() == timing::per_request);
  std::mt19937_64 a(123), b(123);
  for (int i = 0; i < 100; ++i) {
    CHECK(step.step_ns(decode_batch(8, 500), a) == step.step_ns(decode_batch(8, 500), b));
    CHECK(sim.next_token_ns(8, 256, a) == sim.next_token_ns(8, 256, b));
  }
  first_token_query q;
  q.prompt_tokens = 1000;
  q.running = 1;
  q.max_num_seqs = 256;
  CHECK(sim.first_token_ns(q, a) == 280 * ms);
  q.remote_prefill = true;
  CHECK(sim.first_token_ns(q, a) == 3 * ms);
  CHECK(sim.kv_transfer_ns(1000, 0, a) == 3 * ms);
  CHECK(sim.step_ns(decode_batch(1, 1), a) == 0);
  // The step model's single-request estimate: the lone prefill step.
  CHECK(static_cast<double>(step.first_token_ns(first_token_query{1000, 0, 1, 256, false}, a)) ==
        Approx(280.0 * ms).epsilon(0.2));
}
