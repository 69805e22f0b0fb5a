#include "simulate/calibration/profile_fit.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace inferstack::simulate::calibration {

namespace engine = actors::pod::engine;

namespace {

constexpr double ns_per_ms = 1e6;
constexpr double bytes_per_value = 2;  // BF16/FP16 weights, activations and KV
constexpr double latency_bound_bytes = 1 << 20;

fit_error error_of(const std::vector<double>& xs, const std::vector<double>& ys,
                   const auto& predict) {
  fit_error e;
  if (xs.empty()) return e;
  double sum = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    double rel = std::abs(predict(xs[i]) - ys[i]) / ys[i];
    sum += rel;
    if (rel > e.worst) {
      e.worst = rel;
      e.worst_at = xs[i];
    }
  }
  e.mape = sum / static_cast<double>(xs.size());
  return e;
}

std::string format(const char* pattern, auto... values) {
  char buffer[256];
  std::snprintf(buffer, sizeof buffer, pattern, values...);
  return buffer;
}

/// A duration for the manifest: milliseconds to 0.1 us, or nanoseconds to 0.001 ns below 10 us.
std::string duration_text(double ns) {
  if (ns >= 1e4) return format("%.4fms", ns / ns_per_ms);
  return format("%.3fns", ns);
}

struct gpu_defaults {
  double memory_bytes_per_s;
  double attention_flops;
};

/// Effective rates, not datasheet peaks. H100: vLLM's published single-request ITL grows
/// 43.7 ns a context token for Llama-3.1-8B, which reads 128 KiB of KV a token: 3.0 TB/s (of
/// 3.35). A100 (80 GB, 2.0 TB/s): the same 90 %, 1.8 TB/s. Attention FLOP/s: FlashAttention
/// reaches roughly 40-60 % of the dense BF16 peak (989 TFLOP/s H100, 312 A100): 400 and 180 --
/// an assumption, not a measurement (Vidur's attention tables are not in the copied data).
std::optional<gpu_defaults> defaults_of(const std::string& gpu) {
  if (gpu == "h100") return gpu_defaults{3.0e12, 4.0e14};
  if (gpu == "a100") return gpu_defaults{1.8e12, 1.8e14};
  return std::nullopt;
}

}  // namespace

line_fit relative_line_fit(const std::vector<double>& xs, const std::vector<double>& ys) {
  double s00 = 0, s01 = 0, s11 = 0, r0 = 0, r1 = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    double w = 1 / (ys[i] * ys[i]);
    s00 += w;
    s01 += w * xs[i];
    s11 += w * xs[i] * xs[i];
    r0 += w * ys[i];
    r1 += w * xs[i] * ys[i];
  }
  double det = s00 * s11 - s01 * s01;
  if (xs.size() < 2 || !(std::abs(det) > 0))
    throw calibration_error("a line needs two points at different token counts");
  return line_fit{(r0 * s11 - r1 * s01) / det, (s00 * r1 - s01 * r0) / det};
}

two_line_fit fit_two_lines(const std::vector<double>& xs, const std::vector<double>& ys) {
  two_line_fit best;
  best.error.mape = std::numeric_limits<double>::infinity();
  for (size_t k = 1; k + 1 < xs.size(); ++k) {
    std::vector<double> lx(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(k + 1));
    std::vector<double> ly(ys.begin(), ys.begin() + static_cast<std::ptrdiff_t>(k + 1));
    std::vector<double> hx(xs.begin() + static_cast<std::ptrdiff_t>(k), xs.end());
    std::vector<double> hy(ys.begin() + static_cast<std::ptrdiff_t>(k), ys.end());
    two_line_fit f;
    f.weight_bound = relative_line_fit(lx, ly);
    f.compute_bound = relative_line_fit(hx, hy);
    f.knee = xs[k];
    f.error = error_of(xs, ys, [&](double x) { return f.at(x); });
    if (f.error.mape < best.error.mape) best = f;
  }
  if (!std::isfinite(best.error.mape))
    throw calibration_error("two lines need at least three measured token counts");
  return best;
}

std::vector<engine::token_cost_knot> fit_token_cost(const std::vector<uint32_t>& tokens,
                                                    const std::vector<double>& ns,
                                                    double target_mape, size_t max_knots) {
  if (tokens.size() < 2) throw calibration_error("a token-cost table needs two measured points");
  std::vector<size_t> chosen{0, tokens.size() - 1};
  std::vector<double> xs(tokens.begin(), tokens.end());
  for (;;) {
    engine::step_profile table;
    for (size_t i : chosen)
      table.token_cost.push_back(engine::token_cost_knot{tokens[i], ns[i]});
    auto e =
        error_of(xs, ns, [&](double x) { return table.token_cost_ns(static_cast<uint64_t>(x)); });
    bool good = e.mape <= target_mape && e.worst <= 4 * target_mape;
    if (good || chosen.size() >= max_knots || chosen.size() == tokens.size())
      return table.token_cost;
    size_t worst = static_cast<size_t>(std::find(xs.begin(), xs.end(), e.worst_at) - xs.begin());
    chosen.insert(std::upper_bound(chosen.begin(), chosen.end(), worst), worst);
  }
}

all_reduce_fit fit_all_reduce(const all_reduce_table& table) {
  std::vector<double> small, big_x, big_y;
  for (size_t i = 0; i < table.bytes.size(); ++i) {
    if (table.bytes[i] <= latency_bound_bytes) {
      small.push_back(table.ms[i]);
    } else {
      big_x.push_back(table.bytes[i]);
      big_y.push_back(table.ms[i]);
    }
  }
  if (small.empty() || big_x.size() < 2)
    throw calibration_error(table.file + ": all-reduce sizes must span 1 MiB (some at or below, " +
                            "two or more above)");
  std::sort(small.begin(), small.end());
  all_reduce_fit f;
  f.floor_ms = small[small.size() / 2];
  f.bandwidth = relative_line_fit(big_x, big_y);
  std::vector<double> medians;
  for (double b : table.bytes)
    medians.push_back(table.median_near(b));
  f.error = error_of(table.bytes, medians, [&](double b) { return f.at(b); });
  return f;
}

double measured_step_ms(const layer_cost_table& layer, const all_reduce_table* network,
                        uint32_t layers, uint32_t hidden, double scale_linear,
                        double scale_elementwise, uint32_t tokens) {
  double ms = layers * layer.layer_ms_at(tokens, scale_linear, scale_elementwise);
  if (network != nullptr && layer.tensor_parallel > 1)
    ms += 2.0 * layers * network->median_near(double(tokens) * hidden * bytes_per_value);
  return ms;
}

fit_result fit_profile(const fit_options& o) {
  if (o.layers == 0) throw calibration_error("--layers: the model's layer count is required");
  if (o.tensor_parallel == 0) throw calibration_error("--tp must be at least 1");
  if (o.token_granularity == 0) throw calibration_error("--granularity must be at least 1");
  if (o.tensor_parallel > 1 && o.all_reduce_csv.empty())
    throw calibration_error("--network: an all_reduce.csv is required with --tp above 1");
  if (o.scale_linear <= 0 || o.scale_elementwise <= 0)
    throw calibration_error("--scale-linear and --scale-elementwise must be above 0");
  auto gpu = defaults_of(o.gpu);
  if (!gpu && (o.memory_bytes_per_s <= 0 || o.attention_flops <= 0))
    throw calibration_error("--gpu '" + o.gpu + "' is not h100 or a100; give " +
                            "--memory-bandwidth-gbps and --attention-tflops instead");
  const double memory = o.memory_bytes_per_s > 0 ? o.memory_bytes_per_s : gpu->memory_bytes_per_s;
  const double flops = o.attention_flops > 0 ? o.attention_flops : gpu->attention_flops;

  fit_result r;
  auto layer = read_layer_costs(o.mlp_csv, o.tensor_parallel);
  model_shape shape = layer.shape;
  if (o.target.heads) shape.heads = o.target.heads;
  if (o.target.kv_heads) shape.kv_heads = o.target.kv_heads;
  if (o.target.hidden) shape.hidden = o.target.hidden;
  if (o.target.mlp_hidden) shape.mlp_hidden = o.target.mlp_hidden;
  if (o.target.vocab) shape.vocab = o.target.vocab;
  const double head_dim = o.target_head_dim ? o.target_head_dim : shape.head_dim();
  if (shape.heads == 0 || shape.hidden == 0 || head_dim == 0)
    throw calibration_error(o.mlp_csv + ": the model shape (n_head, n_embd) is missing");
  r.shape = shape;
  const uint32_t tp = o.tensor_parallel;
  auto& p = r.profile;
  p.name = o.name;
  p.token_granularity = o.token_granularity;
  p.jitter = o.jitter;

  // Token-wise layers: every measured count a padded step can have.
  std::vector<uint32_t> tokens;
  std::vector<double> step_ns, xs, step_ms;
  size_t usable = 0;
  for (size_t i = 0; i < layer.tokens.size(); ++i) {
    uint32_t t = layer.tokens[i];
    if (t < o.token_granularity || t % o.token_granularity != 0) continue;
    // Cross-validation: every other usable count (never the first or the last) is left out.
    bool hold_out = o.hold_out_alternate && usable++ % 2 == 1 && i + 1 < layer.tokens.size();
    if (hold_out) {
      r.held_out_tokens.push_back(t);
      continue;
    }
    double ms = o.layers * layer.layer_ms(i, o.scale_linear, o.scale_elementwise);
    tokens.push_back(t);
    xs.push_back(t);
    step_ms.push_back(ms);
    step_ns.push_back(ms * ns_per_ms);
  }
  if (tokens.size() < 3)
    throw calibration_error(o.mlp_csv + ": fewer than 3 measured token counts are multiples of " +
                            "the granularity " + std::to_string(o.token_granularity));
  r.two_lines = fit_two_lines(xs, step_ms);
  p.token_cost = fit_token_cost(tokens, step_ns, o.knot_target_mape);
  r.token_cost_error =
      error_of(xs, step_ns, [&](double x) { return p.token_cost_ns(static_cast<uint64_t>(x)); });
  // Beyond the measured counts the table goes on at the compute-bound slope, not along its last
  // short segment (which may sit on a quantisation step): one more point at twice the last.
  const auto last = p.token_cost.back();
  const double compute_slope_ns = r.two_lines.compute_bound.slope * ns_per_ms;
  p.token_cost.push_back(
      engine::token_cost_knot{2 * last.tokens, last.ns + compute_slope_ns * last.tokens});

  // Tensor parallelism: two all-reduces a layer over the activations.
  std::optional<all_reduce_table> network;
  double ar_floor_ns = 0, ar_base_ns = 0, ar_per_token_ns = 0;
  if (tp > 1) {
    network = read_all_reduce(o.all_reduce_csv, tp);
    r.all_reduce = fit_all_reduce(*network);
    const double bytes_per_token = shape.hidden * bytes_per_value;
    p.all_reduces = 2 * o.layers;
    ar_floor_ns = r.all_reduce->floor_ms * ns_per_ms;
    ar_base_ns = r.all_reduce->bandwidth.base * ns_per_ms;
    ar_per_token_ns = r.all_reduce->bandwidth.slope * bytes_per_token * ns_per_ms;
    // The medians are not one line: NCCL switches protocols with the size (4 A100s: 0.06 ms
    // up to 300 KiB, 0.025 ms around 512 KiB, 0.06 again at 1 MiB). A table over the step's
    // token counts follows them; beyond the measured sizes it goes on at the line's slope.
    std::vector<uint32_t> ar_tokens;
    std::vector<double> ar_ns;
    for (uint32_t t : tokens) {
      if (!network->covers(double(t) * bytes_per_token)) break;
      ar_tokens.push_back(t);
      ar_ns.push_back(network->median_near(double(t) * bytes_per_token) * ns_per_ms);
    }
    if (ar_tokens.size() >= 2) {
      p.all_reduce_cost = fit_token_cost(ar_tokens, ar_ns, o.knot_target_mape);
      std::vector<double> ar_xs(ar_tokens.begin(), ar_tokens.end());
      r.all_reduce_table_error = error_of(ar_xs, ar_ns, [&](double x) {
        return engine::interpolate(p.all_reduce_cost, static_cast<uint64_t>(x));
      });
      const auto end = p.all_reduce_cost.back();
      p.all_reduce_cost.push_back(
          engine::token_cost_knot{2 * end.tokens, end.ns + ar_per_token_ns * end.tokens});
    } else {
      p.all_reduce_floor_ns = ar_floor_ns;
      p.all_reduce_base_ns = ar_base_ns;
      p.all_reduce_ns_per_token = ar_per_token_ns;
    }
  }

  // Attention, from the shape: KV read per context token, causal FLOPs per prefill pair.
  const double kv_heads_per_gpu = std::max(1.0, std::ceil(double(shape.kv_heads) / tp));
  const double kv_bytes_per_token = 2 * o.layers * kv_heads_per_gpu * head_dim * bytes_per_value;
  p.attention_ns_per_kv_token = kv_bytes_per_token / memory * 1e9;
  const double pair_flops = 4.0 * shape.heads * head_dim * o.layers / tp;
  p.prefill_attention_ns_per_pair = pair_flops / flops * 1e9;

  // Fixed cost: the LM head's weights once a step, plus CPU.
  const double lm_head_ns =
      double(shape.vocab) * shape.hidden * bytes_per_value / tp / memory * 1e9;
  double fixed_ns = lm_head_ns;
  if (!o.cpu_csv.empty()) {
    auto cpu = read_cpu_overheads(o.cpu_csv, o.cpu_model, tp);
    r.cpu = relative_line_fit(cpu.batch_sizes, cpu.ms);
    fixed_ns += std::max(0.0, r.cpu->base) * ns_per_ms;
    p.per_sequence_ns = std::max(0.0, r.cpu->slope) * ns_per_ms;
  }
  double anchored_extra_ns = 0;
  if (o.anchor_decode_step_ns) {
    engine::batch_stats one;
    one.decode_seqs = 1;
    double rest = p.breakdown(one).total();
    if (*o.anchor_decode_step_ns < rest)
      throw calibration_error(
          format("--anchor-decode-step %.3fms is below the fitted step "
                 "without a fixed cost (%.3fms)",
                 *o.anchor_decode_step_ns / ns_per_ms, rest / ns_per_ms));
    anchored_extra_ns = *o.anchor_decode_step_ns - rest - fixed_ns;
    fixed_ns = *o.anchor_decode_step_ns - rest;
  }
  p.step_overhead_ns = std::llround(fixed_ns);
  const double kv_model_bytes = 2.0 * o.layers * shape.kv_heads * head_dim * bytes_per_value;
  p.kv_transfer_latency_ns = std::llround(o.kv_transfer_latency_ns);
  p.kv_transfer_ns_per_token = std::llround(kv_model_bytes / o.kv_link_bytes_per_s * 1e9);

  // The report.
  auto& rep = r.report;
  rep.push_back(format("measured: %s, TP %u, %zu token counts (%u..%u) a multiple of %u",
                       o.mlp_csv.c_str(), tp, tokens.size(), tokens.front(), tokens.back(),
                       o.token_granularity));
  if (o.scale_linear != 1 || o.scale_elementwise != 1)
    rep.push_back(format("scaled: linear operators x %.4f, element-wise x %.4f", o.scale_linear,
                         o.scale_elementwise));
  const auto& tl = r.two_lines;
  rep.push_back(
      format("two lines, per step of %u layers: max(%.4f ms + %.3f us/token, "
             "%.4f ms + %.3f us/token), knee %.0f tokens: MAPE %.2f%%, worst %.1f%% "
             "at %.0f",
             o.layers, tl.weight_bound.base, tl.weight_bound.slope * 1e3, tl.compute_bound.base,
             tl.compute_bound.slope * 1e3, tl.knee, tl.error.mape * 100, tl.error.worst * 100,
             tl.error.worst_at));
  rep.push_back(
      format("tokenCost table: %zu points: MAPE %.2f%%, worst %.1f%% at %.0f tokens; "
             "beyond %u tokens at the compute-bound slope",
             p.token_cost.size() - 1, r.token_cost_error.mape * 100, r.token_cost_error.worst * 100,
             r.token_cost_error.worst_at, tokens.back()));
  if (r.all_reduce)
    rep.push_back(format(
        "all-reduce (%u GPUs): max(%.4f ms, %.4f ms + %.3f ps/byte) = %u x "
        "max(%s, %s + %s/token): MAPE %.2f%%, worst %.1f%% vs neighbour medians",
        tp, r.all_reduce->floor_ms, r.all_reduce->bandwidth.base,
        r.all_reduce->bandwidth.slope * 1e9, p.all_reduces, duration_text(ar_floor_ns).c_str(),
        duration_text(ar_base_ns).c_str(), duration_text(ar_per_token_ns).c_str(),
        r.all_reduce->error.mape * 100, r.all_reduce->error.worst * 100));
  if (!p.all_reduce_cost.empty())
    rep.push_back(
        format("allReduceCost table: %zu points: MAPE %.2f%%, worst %.1f%% at %.0f "
               "tokens vs neighbour medians",
               p.all_reduce_cost.size() - 1, r.all_reduce_table_error.mape * 100,
               r.all_reduce_table_error.worst * 100, r.all_reduce_table_error.worst_at));
  rep.push_back(
      format("attention: KV %.0f B/token/GPU at %.2f TB/s = %s/token; %.3g FLOPs/pair "
             "at %.0f TFLOP/s = %s/pair",
             kv_bytes_per_token, memory / 1e12, duration_text(p.attention_ns_per_kv_token).c_str(),
             pair_flops, flops / 1e12, duration_text(p.prefill_attention_ns_per_pair).c_str()));
  rep.push_back(format("fixed: LM head %.3f ms%s%s = stepOverhead %s", lm_head_ns / ns_per_ms,
                       r.cpu ? format(" + CPU %.3f ms", std::max(0.0, r.cpu->base)).c_str() : "",
                       o.anchor_decode_step_ns
                           ? format(" + anchor %.3f ms", anchored_extra_ns / ns_per_ms).c_str()
                           : "",
                       duration_text(double(p.step_overhead_ns)).c_str()));
  if (r.cpu)
    rep.push_back(format("CPU (%s, %s): %.3f ms + %.1f us/sequence", o.cpu_csv.c_str(),
                         o.cpu_model.c_str(), r.cpu->base, r.cpu->slope * 1e3));

  // The manifest, with its derivation as comments.
  std::ostringstream y;
  y << "# LatencyProfile " << o.name << ", fitted by `inferstack profile fit` from measured data.\n"
    << "# Source: Vidur (microsoft/vidur @7d47513, MIT License, Copyright (c) Microsoft\n"
    << "# Corporation), data/profiling/ as excerpted in data/vidur/ (see its LICENSE).\n";
  for (const auto& n : o.notes)
    y << "# " << n << "\n";
  y << "#\n# Step model (actors/pod/engine/latency.hpp), T = tokens padded to tokenGranularity:\n"
    << "#   stepOverhead + perSequence x sequences + tokenCost(T)\n"
    << "#   + allReduces x allReduceCost(T)   (or max(allReduceFloor, allReduceBase +\n"
    << "#                                       allReducePerToken x T) without the table)\n"
    << "#   + attentionPerKvToken x KV tokens attended + prefillAttentionPerPair x causal pairs\n"
    << "#\n# The fit:\n";
  for (const auto& line : rep)
    y << "#   " << line << "\n";
  y << "apiVersion: inferstack.io/v1alpha1\nkind: LatencyProfile\nmetadata:\n  name: " << o.name
    << "\n  annotations:\n"
    << "    inferstack.io/fit-source: \"" << o.mlp_csv << "\"\n"
    << "    inferstack.io/fit-tensor-parallel: \"" << tp << "\"\n"
    << "    inferstack.io/fit-layers: \"" << o.layers << "\"\n"
    << "    inferstack.io/fit-hidden: \"" << shape.hidden << "\"\n"
    << "    inferstack.io/fit-network: \"" << o.all_reduce_csv << "\"\n"
    << "    inferstack.io/fit-scale-linear: \"" << format("%.6g", o.scale_linear) << "\"\n"
    << "    inferstack.io/fit-scale-elementwise: \"" << format("%.6g", o.scale_elementwise)
    << "\"\n"
    << "    inferstack.io/fit-token-cost-mape: \"" << format("%.4f", r.token_cost_error.mape)
    << "\"\n"
    << "spec:\n"
    << "  # fixed: the LM head read" << (r.cpu ? ", measured CPU" : "")
    << (o.anchor_decode_step_ns ? ", anchored on a measured decode step" : "") << "\n"
    << "  stepOverhead: " << duration_text(double(p.step_overhead_ns)) << "\n"
    << "  prefillOverhead: 0s\n"
    << "  prefillPerToken: 0s        # in tokenCost\n"
    << "  decodePerSequence: 0s      # in tokenCost and perSequence\n"
    << "  perSequence: " << duration_text(p.per_sequence_ns) << "   # CPU per sequence\n"
    << "  # decode attention: reading a context token's KV at the memory bandwidth\n"
    << "  attentionPerKvToken: " << duration_text(p.attention_ns_per_kv_token) << "\n"
    << "  # prefill attention: causal QK and PV FLOPs for each (query, key) pair\n"
    << "  prefillAttentionPerPair: " << duration_text(p.prefill_attention_ns_per_pair) << "\n"
    << "  tokenGranularity: " << p.token_granularity << "\n"
    << "  # layers x token-wise operators at T tokens: [T, time]\n"
    << "  tokenCost:\n";
  for (const auto& k : p.token_cost)
    y << "    - [" << k.tokens << ", " << duration_text(k.ns) << "]\n";
  if (p.all_reduces > 0) {
    y << "  # tensor parallelism: 2 all-reduces a layer of T x " << shape.hidden * 2 << " bytes\n"
      << "  allReduces: " << p.all_reduces << "\n";
    if (!p.all_reduce_cost.empty()) {
      y << "  # one all-reduce at T tokens: NCCL medians, roughly max("
        << duration_text(ar_floor_ns) << ", " << duration_text(ar_base_ns) << " + "
        << duration_text(ar_per_token_ns) << " x T)\n  allReduceCost:\n";
      for (const auto& k : p.all_reduce_cost)
        y << "    - [" << k.tokens << ", " << duration_text(k.ns) << "]\n";
    } else {
      y << "  allReduceFloor: " << duration_text(p.all_reduce_floor_ns) << "\n"
        << "  allReduceBase: " << duration_text(p.all_reduce_base_ns) << "\n"
        << "  allReducePerToken: " << duration_text(p.all_reduce_ns_per_token) << "\n";
    }
  }
  y << "  # P/D: a prompt's KV over a " << o.kv_link_bytes_per_s / 1e9
    << " GB/s link (an assumption)\n"
    << "  kvTransferLatency: " << duration_text(double(p.kv_transfer_latency_ns)) << "\n"
    << "  kvTransferPerToken: " << duration_text(double(p.kv_transfer_ns_per_token)) << "\n"
    << "  jitter: " << format("%.3g", p.jitter) << "\n";
  r.yaml = y.str();
  return r;
}

}  // namespace inferstack::simulate::calibration
