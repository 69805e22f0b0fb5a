// The profile fitter: from Vidur's measured operator times (and NCCL and CPU tables) to a
// LatencyProfile for the pod's step model (actors/pod/engine/latency.hpp).
//
//   token-wise layers  tokenCost: a piecewise-linear table of layers x (Σ operators) over the
//                      padded token count. A step's cost is not one line in tokens: small batches
//                      are bound by reading the weights, large ones by compute, and GEMM tiles make
//                      steps (wave quantisation). The best max-of-two-lines fit is printed too.
//   tensor parallelism the per-GPU operator times of that TP degree, plus 2 all-reduces a layer:
//                      max(floor, base + per token), fitted on the NCCL medians.
//   attention          not in Vidur's copied data: decode reads the KV cache at the GPU's
//                      effective memory bandwidth (attentionPerKvToken), prefill pays causal FLOPs
//                      at an effective attention throughput (prefillAttentionPerPair).
//   fixed cost         the LM head's weights read once a step, plus the measured CPU work per step
//                      and per sequence when a CPU table is given; or anchored on a measured
//                      single-sequence decode step.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actors/pod/engine/latency.hpp"
#include "simulate/calibration/vidur_tables.hpp"

namespace inferstack::simulate::calibration {

/// y = base + slope * x.
struct line_fit {
  double base = 0;
  double slope = 0;
  double at(double x) const { return base + slope * x; }
};

/// The line minimising the sum of squared relative errors Σ((base + slope x - y) / y)²: every
/// point counts alike whether it is 0.1 ms or 100 ms. Needs two distinct x and positive y.
line_fit relative_line_fit(const std::vector<double>& xs, const std::vector<double>& ys);

/// How far a fit is from the points: mean and worst absolute relative error.
struct fit_error {
  double mape = 0;
  double worst = 0;
  double worst_at = 0;  ///< x of the worst point
};

/// max(weight_bound(x), compute_bound(x)), the knee searched over the points.
struct two_line_fit {
  line_fit weight_bound;   ///< small batches: reading the weights, a little per token
  line_fit compute_bound;  ///< large batches: FLOPs per token
  double knee = 0;
  fit_error error;
  double at(double x) const { return std::max(weight_bound.at(x), compute_bound.at(x)); }
};

two_line_fit fit_two_lines(const std::vector<double>& xs, const std::vector<double>& ys);

/// A piecewise-linear table through some of the points: greedily adds the worst-fitted point
/// until the mean error is at most `target_mape` and the worst at most 4x that, or `max_knots`.
std::vector<actors::pod::engine::token_cost_knot> fit_token_cost(
    const std::vector<uint32_t>& tokens, const std::vector<double>& ns, double target_mape,
    size_t max_knots = 64);

/// One all-reduce: max(floor, base + per_byte * bytes). The floor is the median of messages up
/// to 1 MiB (latency-bound and noisy), the line a relative fit over the larger ones.
struct all_reduce_fit {
  double floor_ms = 0;
  line_fit bandwidth;  ///< ms over bytes
  fit_error error;     ///< against median_near() at every measured size
  double at(double bytes) const { return std::max(floor_ms, bandwidth.at(bytes)); }
};

all_reduce_fit fit_all_reduce(const all_reduce_table& table);

/// What the fitter needs; the target model's shape defaults to the measured file's.
struct fit_options {
  std::string name;              ///< metadata.name of the profile
  std::string mlp_csv;           ///< Vidur's compute/<gpu>/<model>/mlp.csv
  uint32_t tensor_parallel = 1;  ///< the TP degree to read (num_tensor_parallel_workers)
  uint32_t layers = 0;           ///< the target model's layer count (not in the CSV)
  std::string all_reduce_csv;    ///< network/<net>/all_reduce.csv; required when TP > 1
  std::string cpu_csv;           ///< cpu_overheads_a100.csv (optional)
  std::string cpu_model;         ///< its model_name rows to use
  /// Scaling a measured model to a neighbouring one: per-layer linear-operator times (by weight
  /// count) and element-wise ones (by hidden size).
  double scale_linear = 1;
  double scale_elementwise = 1;
  model_shape target;             ///< fields left 0 come from the CSV
  uint32_t target_head_dim = 0;   ///< 0: hidden / heads
  std::string gpu;                ///< h100 | a100: default bandwidth and attention throughput
  double memory_bytes_per_s = 0;  ///< effective HBM bandwidth (0: the GPU's default)
  double attention_flops = 0;     ///< effective attention FLOP/s (0: the GPU's default)
  /// Pins the fixed cost so a one-sequence decode step at an empty context takes this long
  /// (a measured intercept, such as vLLM's published single-request ITL law).
  std::optional<double> anchor_decode_step_ns;
  uint32_t token_granularity = 8;  ///< vLLM pads a batch's tokens (Vidur rounds up to 8)
  double knot_target_mape = 0.015;
  double jitter = 0.02;
  double kv_link_bytes_per_s = 50e9;  ///< P/D transfer link (an assumption)
  double kv_transfer_latency_ns = 2e6;
  /// Fits on every other measured token count only (the rest are in fit_result::held_out_tokens),
  /// so that the fit can be checked on rows it did not see.
  bool hold_out_alternate = false;
  /// Recorded in the profile's header: how the options were chosen.
  std::vector<std::string> notes;
};

struct fit_result {
  actors::pod::engine::step_profile profile;
  model_shape shape;           ///< the target's
  two_line_fit two_lines;      ///< per step (layers x), ms over tokens
  fit_error token_cost_error;  ///< the table against the measured rows
  std::optional<all_reduce_fit> all_reduce;
  fit_error all_reduce_table_error;       ///< the allReduceCost table against the medians
  std::optional<line_fit> cpu;            ///< ms over batch size
  std::vector<uint32_t> held_out_tokens;  ///< with hold_out_alternate: the counts left out
  std::vector<std::string> report;        ///< the fit, line by line, for people
  std::string yaml;                       ///< the LatencyProfile manifest with its derivation
};

/// Reads the files and fits; throws calibration_error naming the file and what is wrong.
fit_result fit_profile(const fit_options& options);

/// The measured step time Vidur's model composes for `tokens` padded tokens: layers x (token-wise
/// operators, scaled as the options say) + 2 x layers all-reduces of the activations
/// (all_reduce_table::median_near) when TP > 1. Milliseconds. Attention and CPU are not in it.
double measured_step_ms(const layer_cost_table& layer, const all_reduce_table* network,
                        uint32_t layers, uint32_t hidden, double scale_linear,
                        double scale_elementwise, uint32_t tokens);

}  // namespace inferstack::simulate::calibration
