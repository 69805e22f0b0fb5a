// Fidelity benchmark: how far the calibrated latency profiles are from measured GPU data.
//  1. Every fitted profile against Vidur's measured operator sums (data/vidur/, read through the
//     profile's fit-* annotations): predicted vs measured step time over a grid of batches --
//     prefill-only, decode-only at several batch sizes and contexts, mixed -- with the error per
//     point, the MAPE and the worst point. "layers+AR" compares what Vidur measured (token-wise
//     operators, plus all-reduces with TP); "full" adds the model's analytic attention, CPU and
//     fixed terms to both sides (the same amount), as a step's share of them.
//  2. llama-3.1-8b-h100 against vLLM's published figures for Llama-3.1-8B on one H100, run
//     through the real engine (actors/pod/engine) in virtual time: single-request ITL at 1k-128k
//     contexts, and 8 closed-loop clients at ~20k in / 2k out (median TTFT and ITL). The KAITO
//     reference profile 8b-h100 runs beside it as the baseline.
// Usage: tools/bench/fidelity [--quick] [--json FILE] [--summary]
#include <yaml-cpp/yaml.h>
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "actors/pod/engine/engine.hpp"
#include "simulate/calibration/profile_fit.hpp"
#include "tools/bench/bench_table.hpp"

namespace {

namespace engine = inferstack::actors::pod::engine;
namespace cal = inferstack::simulate::calibration;
using inferstack::bench::json_report;
using inferstack::bench::median;

const std::string source_dir = INFERSTACK_SOURCE_DIR;

struct grid_point {
  std::string label;
  engine::batch_stats batch;
};

engine::batch_stats prefill(uint32_t tokens, uint32_t cached) {
  engine::batch_stats b;
  b.prefill_seqs = 1;
  b.prefill_tokens = tokens;
  b.kv_tokens = uint64_t(cached) + tokens;
  b.prefill_pairs = uint64_t(tokens) * cached + uint64_t(tokens) * (tokens + 1) / 2;
  return b;
}

engine::batch_stats decode(uint32_t seqs, uint32_t context) {
  engine::batch_stats b;
  b.decode_seqs = seqs;
  b.kv_tokens = uint64_t(seqs) * context;
  return b;
}

engine::batch_stats mixed(uint32_t chunk, uint32_t seqs, uint32_t context) {
  auto b = prefill(chunk, context - chunk);  // the chunk completes a `context`-token prompt
  auto d = decode(seqs, context);
  b.decode_seqs = d.decode_seqs;
  b.kv_tokens += d.kv_tokens;
  return b;
}

/// The grid: within the measured token range of each file (Llama-2 rows stop at 4096).
std::vector<grid_point> grid_for(uint32_t max_tokens) {
  std::vector<grid_point> g;
  std::vector<uint32_t> prompts{128, 512, 1024, 2048, 4096, 8192, 16384};
  for (uint32_t p : prompts) {
    if (p > max_tokens) break;
    for (uint32_t cached : {0u, 2048u})
      g.push_back({"prefill " + std::to_string(p) + (cached ? " after 2048 cached" : ""),
                   prefill(p, cached)});
  }
  std::vector<uint32_t> contexts{512, 2048, 4096};
  if (max_tokens >= 32768) contexts.insert(contexts.end(), {8192, 32768});
  for (uint32_t d : {1u, 8u, 32u, 64u, 128u, 256u})
    for (uint32_t c : contexts)
      g.push_back(
          {"decode " + std::to_string(d) + " x " + std::to_string(c) + " ctx", decode(d, c)});
  for (uint32_t chunk : {512u, 2048u})
    for (uint32_t d : {16u, 64u})
      g.push_back({"mixed " + std::to_string(chunk) + " + " + std::to_string(d) + " decode",
                   mixed(chunk, d, 2048)});
  return g;
}

struct profile_result {
  std::string name;
  bool derived = false;  ///< scaled from another model's rows
  size_t points = 0;
  double mape = 0, worst = 0, full_mape = 0;
  size_t held_out_rows = 0;  ///< measured rows left out of a refit
  double held_out_mape = 0, held_out_worst = 0;
  std::string worst_label;
};

std::string annotation(const YAML::Node& doc, const std::string& key) {
  auto n = doc["metadata"]["annotations"]["inferstack.io/" + key];
  return n ? n.as<std::string>() : std::string();
}

profile_result check_profile(const std::string& name, bool print_points) {
  const std::string file = source_dir + "/config/profiles/" + name + ".yaml";
  auto profile = engine::load_step_profile(file);
  auto doc = YAML::LoadFile(file);
  const auto tp = static_cast<uint32_t>(std::stoul(annotation(doc, "fit-tensor-parallel")));
  const auto layers = static_cast<uint32_t>(std::stoul(annotation(doc, "fit-layers")));
  const auto hidden = static_cast<uint32_t>(std::stoul(annotation(doc, "fit-hidden")));
  const double scale_linear = std::stod(annotation(doc, "fit-scale-linear"));
  const double scale_elementwise = std::stod(annotation(doc, "fit-scale-elementwise"));
  auto table = cal::read_layer_costs(source_dir + "/" + annotation(doc, "fit-source"), tp);
  std::optional<cal::all_reduce_table> network;
  if (tp > 1) network = cal::read_all_reduce(source_dir + "/" + annotation(doc, "fit-network"), tp);

  profile_result r;
  r.name = name;
  r.derived = scale_linear != 1 || scale_elementwise != 1;
  std::vector<double> errors, full_errors;
  if (print_points)
    std::printf("\n%s (TP %u, %u layers%s)\n  %-30s %6s %11s %11s %7s %11s %11s %7s\n",
                name.c_str(), tp, layers, r.derived ? ", scaled rows" : "", "batch", "T",
                "measured", "predicted", "error", "full meas.", "full pred.", "error");
  for (const auto& point : grid_for(table.tokens.back())) {
    const auto padded = static_cast<uint32_t>(profile.padded_tokens(point.batch));
    // Only where Vidur measured: the token count, and with TP the all-reduce's size.
    if (!table.measured_at(padded)) continue;
    if (network && !network->covers(double(padded) * hidden * 2)) continue;
    const double measured = cal::measured_step_ms(table, network ? &*network : nullptr, layers,
                                                  hidden, scale_linear, scale_elementwise, padded);
    const auto parts = profile.breakdown(point.batch);
    const double predicted = (parts.token_cost + parts.all_reduce) / 1e6;
    const double analytic = parts.total() / 1e6 - predicted;
    const double error = (predicted - measured) / measured;
    const double full_error = (predicted - measured) / (measured + analytic);
    errors.push_back(std::abs(error));
    full_errors.push_back(std::abs(full_error));
    if (std::abs(error) > r.worst) {
      r.worst = std::abs(error);
      r.worst_label = point.label;
    }
    if (print_points)
      std::printf("  %-30s %6u %9.3fms %9.3fms %+6.1f%% %9.3fms %9.3fms %+6.1f%%\n",
                  point.label.c_str(), padded, measured, predicted, error * 100,
                  measured + analytic, predicted + analytic, full_error * 100);
  }
  // Cross-validation: refit on every other measured token count, predict the ones left out.
  cal::fit_options refit;
  refit.mlp_csv = source_dir + "/" + annotation(doc, "fit-source");
  refit.tensor_parallel = tp;
  refit.layers = layers;
  refit.target.hidden = hidden;
  if (tp > 1) refit.all_reduce_csv = source_dir + "/" + annotation(doc, "fit-network");
  refit.scale_linear = scale_linear;
  refit.scale_elementwise = scale_elementwise;
  refit.gpu = "h100";  // attention and fixed terms are not compared here
  refit.hold_out_alternate = true;
  auto held = cal::fit_profile(refit);
  std::vector<double> held_errors;
  for (uint32_t t : held.held_out_tokens) {
    if (network && !network->covers(double(t) * hidden * 2)) continue;
    const double measured = cal::measured_step_ms(table, network ? &*network : nullptr, layers,
                                                  hidden, scale_linear, scale_elementwise, t);
    const auto& p = held.profile;
    const double predicted =
        (p.token_cost_ns(t) + (p.all_reduces > 0 ? p.all_reduces * p.all_reduce_ns(t) : 0)) / 1e6;
    held_errors.push_back(std::abs(predicted - measured) / measured);
    r.held_out_worst = std::max(r.held_out_worst, held_errors.back());
  }
  for (double e : held_errors)
    r.held_out_mape += e / double(held_errors.size());
  r.held_out_rows = held_errors.size();
  r.points = errors.size();
  for (double e : errors)
    r.mape += e / double(errors.size());
  for (double e : full_errors)
    r.full_mape += e / double(full_errors.size());
  return r;
}

// -- the real engine in virtual time -------------------------------------------------------------

struct run_stats {
  std::vector<double> ttft_ms;
  std::vector<double> itl_ms;
  double output_tokens_per_s = 0;
};

engine::engine_config h100_8b_engine(uint32_t max_model_len) {
  engine::engine_config c;
  c.max_num_seqs = 256;
  c.max_num_batched_tokens = 8192;  // vLLM V1's default for `vllm serve` on an 80 GB GPU
  c.max_model_len = max_model_len;
  // 80 GB x 0.9 utilisation - 16 GB of weights - activations: ~54 GB / 128 KiB a token.
  c.kv.num_gpu_blocks = 25'000;
  c.kv.block_size = 16;
  c.seed = 7;
  return c;
}

std::vector<uint32_t> random_prompt(uint32_t length, std::mt19937_64& rng) {
  std::vector<uint32_t> ids(length);
  for (auto& id : ids)
    id = static_cast<uint32_t>(rng() % 120'000) + 1000;
  return ids;
}

/// `clients` closed-loop clients, each sending `per_client` requests back to back.
run_stats closed_loop(const engine::step_profile& profile, uint32_t clients, uint32_t per_client,
                      uint32_t input, uint32_t output) {
  engine::engine e(h100_8b_engine(input + output + 16),
                   std::make_unique<engine::step_latency_model>(profile));
  std::mt19937_64 rng(11);
  std::map<uint64_t, int64_t> arrival;
  std::map<uint64_t, int64_t> last_token;
  std::map<uint64_t, uint32_t> client_of;
  std::vector<uint32_t> sent(clients, 0);
  uint64_t next_id = 1;
  run_stats s;
  int64_t now = 0;
  uint64_t tokens = 0;
  auto send = [&](uint32_t client) {
    engine::sequence_spec spec;
    spec.id = next_id++;
    spec.prompt = random_prompt(input, rng);
    spec.output_tokens = output;
    spec.arrival_ns = now;
    arrival[spec.id] = now;
    client_of[spec.id] = client;
    ++sent[client];
    if (e.submit(std::move(spec)) != engine::submit_status::accepted)
      throw std::runtime_error("the engine refused a request");
  };
  for (uint32_t c = 0; c < clients; ++c)
    send(c);
  while (e.has_work()) {
    auto plan = e.begin_step(now);
    auto out = e.end_step(plan.end_ns());
    now = plan.end_ns();
    for (const auto& o : out.sequences) {
      if (o.new_tokens == 0) continue;
      ++tokens;
      if (o.first_token)
        s.ttft_ms.push_back(double(now - arrival[o.id]) / 1e6);
      else
        s.itl_ms.push_back(double(now - last_token[o.id]) / 1e6);
      last_token[o.id] = now;
      if (o.finished && sent[client_of[o.id]] < per_client) send(client_of[o.id]);
    }
  }
  s.output_tokens_per_s = double(tokens) / (double(now) / 1e9);
  return s;
}

double vllm_itl_law_ms(double context) {
  return 6.44 + 4.37e-5 * context;  // blog.vllm.ai 2026-04-22, Llama-3.1-8B, 1 x H100, BF16 KV
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fidelity: calibrated latency profiles against measured GPU data"};
  bool quick = false, summary_only = false;
  std::string json_path;
  app.add_flag("--quick", quick, "fewer closed-loop requests, summaries only (a smoke test)");
  app.add_flag("--summary", summary_only, "only each profile's summary, not every grid point");
  app.add_option("--json", json_path, "write the figures as one flat JSON object");
  CLI11_PARSE(app, argc, argv);
  json_report json;

  // 1. Step time against Vidur's measured operator sums.
  const std::vector<std::string> profiles{"llama-3-8b-a100",   "llama-3-70b-a100-tp4",
                                          "llama-2-7b-h100",   "llama-2-70b-h100-tp4",
                                          "llama-3.1-8b-h100", "qwen3-32b-h100-tp2"};
  std::vector<profile_result> results;
  for (const auto& name : profiles)
    results.push_back(check_profile(name, !summary_only && !quick));
  std::printf(
      "\nStep time vs Vidur's measured operator sums (layers + all-reduces; grid of prefill, "
      "decode and mixed batches; held-out: refit on every other measured token count, error on "
      "the rows left out)\n");
  std::printf("%-22s %-9s %6s %8s %8s  %-32s %9s %9s %9s\n", "profile", "rows", "points", "MAPE",
              "worst", "worst point", "full MAPE", "held-out", "worst");
  double worst_vidur_mape = 0;
  for (const auto& r : results) {
    std::printf("%-22s %-9s %6zu %7.2f%% %7.2f%%  %-32s %8.2f%% %8.2f%% %8.2f%%\n", r.name.c_str(),
                r.derived ? "scaled" : "measured", r.points, r.mape * 100, r.worst * 100,
                r.worst_label.c_str(), r.full_mape * 100, r.held_out_mape * 100,
                r.held_out_worst * 100);
    json.number(r.name + "_held_out_mape_pct", r.held_out_mape * 100);
    json.number(r.name + "_held_out_worst_pct", r.held_out_worst * 100);
    json.number(r.name + "_step_mape_pct", r.mape * 100);
    json.number(r.name + "_step_worst_pct", r.worst * 100);
    json.number(r.name + "_full_step_mape_pct", r.full_mape * 100);
    if (!r.derived) worst_vidur_mape = std::max(worst_vidur_mape, r.mape);
  }
  json.number("worst_measured_profile_step_mape_pct", worst_vidur_mape * 100);

  // 2. vLLM's published figures, through the engine.
  const auto calibrated =
      engine::load_named_step_profile(source_dir + "/config/profiles", "llama-3.1-8b-h100");
  const auto kaito = engine::load_named_step_profile(source_dir + "/config/profiles", "8b-h100");
  std::printf(
      "\nSingle-request ITL, Llama-3.1-8B on one H100 (128 output tokens) vs vLLM's law "
      "6.44 ms + 43.7 ns x context\n");
  std::printf("%-9s %10s %14s %8s %14s %8s\n", "context", "vLLM", "llama-3.1-8b", "error",
              "8b-h100", "error");
  double worst_itl_error = 0;
  for (uint32_t k : {1, 2, 4, 8, 16, 32, 64, 128}) {
    const uint32_t context = k * 1024;
    const double law = vllm_itl_law_ms(context);
    auto run = [&](const engine::step_profile& p) {
      return inferstack::bench::median(closed_loop(p, 1, 1, context, 128).itl_ms);
    };
    const double ours = run(calibrated), baseline = run(kaito);
    const double error = (ours - law) / law;
    worst_itl_error = std::max(worst_itl_error, std::abs(error));
    std::printf("%6uk %9.3fms %12.3fms %+7.1f%% %12.3fms %+7.1f%%\n", k, law, ours, error * 100,
                baseline, (baseline - law) / law * 100);
    json.number("itl_" + std::to_string(k) + "k_ms", ours);
    json.number("itl_" + std::to_string(k) + "k_error_pct", error * 100);
    json.number("itl_" + std::to_string(k) + "k_kaito_error_pct", (baseline - law) / law * 100);
  }
  json.number("itl_worst_error_pct", worst_itl_error * 100);

  const uint32_t per_client = quick ? 2 : 6;
  std::printf(
      "\n8 closed-loop clients, 20k in / 2k out, %u requests each, vs vLLM (median TTFT "
      "763.6 ms, median ITL 15.18 ms, 450.3 output tok/s)\n",
      per_client);
  std::printf("%-18s %12s %8s %12s %8s %12s %8s\n", "profile", "TTFT p50", "error", "ITL p50",
              "error", "tok/s", "error");
  for (const auto* p : {&calibrated, &kaito}) {
    auto s = closed_loop(*p, 8, per_client, 20'000, 2'000);
    const double ttft = median(s.ttft_ms), itl = median(s.itl_ms);
    const double ttft_error = (ttft - 763.6) / 763.6, itl_error = (itl - 15.18) / 15.18;
    const double rate_error = (s.output_tokens_per_s - 450.3) / 450.3;
    std::printf("%-18s %10.1fms %+7.1f%% %10.2fms %+7.1f%% %12.1f %+7.1f%%\n", p->name.c_str(),
                ttft, ttft_error * 100, itl, itl_error * 100, s.output_tokens_per_s,
                rate_error * 100);
    const std::string key = p == &calibrated ? "c8_" : "c8_kaito_";
    json.number(key + "ttft_p50_ms", ttft);
    json.number(key + "ttft_error_pct", ttft_error * 100);
    json.number(key + "itl_p50_ms", itl);
    json.number(key + "itl_error_pct", itl_error * 100);
    json.number(key + "output_tokens_per_s", s.output_tokens_per_s);
  }
  if (!json_path.empty() && !json.write(json_path)) {
    std::fprintf(stderr, "cannot write %s\n", json_path.c_str());
    return 1;
  }
  return 0;
}
