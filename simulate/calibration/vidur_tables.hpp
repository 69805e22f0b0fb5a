// Vidur's measured GPU profiles (microsoft/vidur, data/profiling/), read into tables the profile
// fitter and the fidelity benchmark share:
//  - compute/<gpu>/<model>/mlp.csv: per-layer times of the token-wise operators (projections,
//    MLP, norms, rope, activation, residual add) by token count and tensor-parallel degree;
//  - network/<net>/all_reduce.csv: NCCL all-reduce times by message size and worker count;
//  - cpu_overheads_a100.csv: per-step CPU work (schedule, sampler, input preparation, output
//    processing) by model, batch size and tensor-parallel degree.
// Columns are found by their header names, so Vidur's full files and the trimmed excerpt under
// data/vidur/ read alike. Times are milliseconds, as in the files; every bad file is a
// calibration_error naming the file, and the line and column where known.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace inferstack::simulate::calibration {

struct calibration_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A comma-separated file with a header line. Quoting is not supported: Vidur's files have none,
/// and a quote is reported as an error rather than misread. (Written here: the format is five
/// lines of parsing, and Debian's CSV libraries are C APIs that would need as much glue.)
struct csv_table {
  std::string file;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<int> lines;  ///< the file line of each row (1-based)

  /// The index of a column; throws naming the file and the column when absent.
  size_t column(const std::string& name) const;
  /// A cell as a number; throws naming file, line and column when it is not one.
  double number(size_t row, size_t column) const;
};

/// Reads a CSV file; throws calibration_error if it cannot be read, is empty or has a row with a
/// different number of cells than the header.
csv_table read_csv(const std::string& path);

/// The shape of a transformer as mlp.csv records it (n_head, n_kv_head, n_embd,
/// n_expanded_embd, vocab_size).
struct model_shape {
  uint32_t heads = 0;
  uint32_t kv_heads = 0;
  uint32_t hidden = 0;
  uint32_t mlp_hidden = 0;
  uint32_t vocab = 0;

  uint32_t head_dim() const { return heads == 0 ? 0 : hidden / heads; }
};

/// One layer's token-wise operators at each measured token count, for one TP degree. Rows measured
/// twice (at the seams of Vidur's grid) are averaged.
struct layer_cost_table {
  std::string file;
  uint32_t tensor_parallel = 1;
  model_shape shape;
  std::vector<uint32_t> tokens;        ///< increasing
  std::vector<double> linear_ms;       ///< QKV and output projections, MLP up and down (weights)
  std::vector<double> elementwise_ms;  ///< norms, rope, activation, residual add

  double layer_ms(size_t i, double scale_linear = 1, double scale_elementwise = 1) const {
    return linear_ms[i] * scale_linear + elementwise_ms[i] * scale_elementwise;
  }
  /// The layer's time at `tokens`: the row itself on the grid, else linear between the two
  /// neighbouring rows (held at the ends).
  double layer_ms_at(uint32_t tokens, double scale_linear = 1, double scale_elementwise = 1) const;
  bool measured_at(uint32_t tokens) const;
};

/// The operators mlp.csv sums (the `.median` statistic), by kind.
const std::vector<std::string>& linear_operators();
const std::vector<std::string>& elementwise_operators();

/// Reads mlp.csv for one tensor-parallel degree; throws when a column is missing, a value is not
/// a number, or the file has fewer than two token counts for that degree.
layer_cost_table read_layer_costs(const std::string& path, uint32_t tensor_parallel);

/// NCCL all-reduce medians of one worker count within one node (num_workers ==
/// devices_per_node), by message size.
struct all_reduce_table {
  std::string file;
  uint32_t workers = 0;
  std::vector<double> bytes;  ///< increasing
  std::vector<double> ms;

  /// The median of the measurements within 25 % of `bytes` in size, and of at least the
  /// `neighbours` nearest: small messages jump between two latencies from one size to the next
  /// (0.025 or 0.065 ms on 4 A100s), so one row is noise.
  double median_near(double bytes, size_t neighbours = 9) const;
  bool covers(double b) const { return !bytes.empty() && b <= bytes.back() * 1.001; }
};

/// Reads all_reduce.csv for `workers` GPUs in one node; throws like read_layer_costs.
all_reduce_table read_all_reduce(const std::string& path, uint32_t workers);

/// Per-step CPU time (schedule + sampler + prepare inputs + process outputs, medians) by batch
/// size, for one model name and TP degree in cpu_overheads_a100.csv.
struct cpu_overhead_table {
  std::string file;
  std::string model;
  std::vector<double> batch_sizes;
  std::vector<double> ms;
};

cpu_overhead_table read_cpu_overheads(const std::string& path, const std::string& model,
                                      uint32_t tensor_parallel);

}  // namespace inferstack::simulate::calibration
