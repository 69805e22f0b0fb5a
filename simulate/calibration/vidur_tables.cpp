#include "simulate/calibration/vidur_tables.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

namespace inferstack::simulate::calibration {

namespace {

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> cells;
  size_t start = 0;
  for (;;) {
    size_t comma = line.find(',', start);
    cells.push_back(
        line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return cells;
}

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/// The groups' keys in order and each group's median; throws, naming the file and what the
/// groups are, unless there are at least two.
void medians_by_key(const std::map<double, std::vector<double>>& groups, std::vector<double>& keys,
                    std::vector<double>& medians, const std::string& file,
                    const std::string& what) {
  if (groups.size() < 2)
    throw calibration_error(file + ": " + std::to_string(groups.size()) + " " + what +
                            ", at least 2 are needed");
  for (const auto& [key, values] : groups) {
    keys.push_back(key);
    medians.push_back(median_of(values));
  }
}

}  // namespace

csv_table read_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw calibration_error(path + ": cannot read the file");
  csv_table t;
  t.file = path;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line.find('"') != std::string::npos)
      throw calibration_error(path + ":" + std::to_string(number) +
                              ": quoted cells are not supported");
    auto cells = split(line);
    if (t.header.empty()) {
      t.header = std::move(cells);
      continue;
    }
    if (cells.size() != t.header.size())
      throw calibration_error(path + ":" + std::to_string(number) + ": " +
                              std::to_string(cells.size()) + " cells, the header has " +
                              std::to_string(t.header.size()));
    t.rows.push_back(std::move(cells));
    t.lines.push_back(number);
  }
  if (t.header.empty()) throw calibration_error(path + ": the file is empty");
  return t;
}

size_t csv_table::column(const std::string& name) const {
  auto it = std::find(header.begin(), header.end(), name);
  if (it == header.end()) throw calibration_error(file + ": no column '" + name + "'");
  return static_cast<size_t>(it - header.begin());
}

double csv_table::number(size_t row, size_t col) const {
  const std::string& text = rows[row][col];
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v))
    throw calibration_error(file + ":" + std::to_string(lines[row]) + ": column '" + header[col] +
                            "': '" + text + "' is not a number");
  return v;
}

const std::vector<std::string>& linear_operators() {
  static const std::vector<std::string> ops{"attn_pre_proj", "attn_post_proj", "mlp_up_proj",
                                            "mlp_down_proj"};
  return ops;
}

const std::vector<std::string>& elementwise_operators() {
  static const std::vector<std::string> ops{"input_layernorm", "attn_rope",
                                            "post_attention_layernorm", "mlp_act", "add"};
  return ops;
}

bool layer_cost_table::measured_at(uint32_t t) const {
  return std::binary_search(tokens.begin(), tokens.end(), t);
}

double layer_cost_table::layer_ms_at(uint32_t t, double lin, double elem) const {
  auto at = [&](size_t i) { return layer_ms(i, lin, elem); };
  auto it = std::lower_bound(tokens.begin(), tokens.end(), t);
  if (it == tokens.begin()) return at(0);
  if (it == tokens.end()) return at(tokens.size() - 1);
  size_t hi = static_cast<size_t>(it - tokens.begin());
  if (*it == t) return at(hi);
  size_t lo = hi - 1;
  double f = static_cast<double>(t - tokens[lo]) / static_cast<double>(tokens[hi] - tokens[lo]);
  return at(lo) + f * (at(hi) - at(lo));
}

layer_cost_table read_layer_costs(const std::string& path, uint32_t tensor_parallel) {
  auto csv = read_csv(path);
  auto median_column = [&](const std::string& op) {
    return csv.column("time_stats." + op + ".median");
  };
  std::vector<size_t> linear, elementwise;
  for (const auto& op : linear_operators())
    linear.push_back(median_column(op));
  for (const auto& op : elementwise_operators())
    elementwise.push_back(median_column(op));
  size_t tokens_col = csv.column("num_tokens");
  size_t tp_col = csv.column("num_tensor_parallel_workers");
  size_t heads = csv.column("n_head"), kv_heads = csv.column("n_kv_head");
  size_t hidden = csv.column("n_embd"), mlp = csv.column("n_expanded_embd");
  size_t vocab = csv.column("vocab_size");

  layer_cost_table t;
  t.file = path;
  t.tensor_parallel = tensor_parallel;
  struct sums {
    double linear = 0, elementwise = 0;
    int count = 0;
  };
  std::map<uint32_t, sums> by_tokens;
  for (size_t r = 0; r < csv.rows.size(); ++r) {
    if (csv.number(r, tp_col) != tensor_parallel) continue;
    double tokens = csv.number(r, tokens_col);
    if (tokens < 1 || tokens != std::floor(tokens))
      throw calibration_error(path + ":" + std::to_string(csv.lines[r]) +
                              ": column 'num_tokens': expected a whole number of at least 1");
    auto& s = by_tokens[static_cast<uint32_t>(tokens)];
    for (size_t c : linear)
      s.linear += csv.number(r, c);
    for (size_t c : elementwise)
      s.elementwise += csv.number(r, c);
    ++s.count;
    t.shape = model_shape{
        static_cast<uint32_t>(csv.number(r, heads)), static_cast<uint32_t>(csv.number(r, kv_heads)),
        static_cast<uint32_t>(csv.number(r, hidden)), static_cast<uint32_t>(csv.number(r, mlp)),
        static_cast<uint32_t>(csv.number(r, vocab))};
  }
  if (by_tokens.size() < 2)
    throw calibration_error(path + ": " + std::to_string(by_tokens.size()) +
                            " token counts measured with num_tensor_parallel_workers = " +
                            std::to_string(tensor_parallel) + ", at least 2 are needed");
  for (const auto& [tokens, s] : by_tokens) {
    t.tokens.push_back(tokens);
    t.linear_ms.push_back(s.linear / s.count);
    t.elementwise_ms.push_back(s.elementwise / s.count);
  }
  return t;
}

double all_reduce_table::median_near(double b, size_t neighbours) const {
  if (bytes.empty()) return 0;
  auto it = std::lower_bound(bytes.begin(), bytes.end(), b);
  size_t centre = static_cast<size_t>(it - bytes.begin());
  if (centre == bytes.size()) --centre;
  neighbours = std::min(neighbours, bytes.size());
  // The window of `neighbours` rows around the nearest one, kept inside the table ...
  size_t first = centre >= neighbours / 2 ? centre - neighbours / 2 : 0;
  first = std::min(first, bytes.size() - neighbours);
  size_t last = first + neighbours;  // exclusive
  // ... widened to every size within 25 %.
  while (first > 0 && bytes[first - 1] >= b / 1.25)
    --first;
  while (last < bytes.size() && bytes[last] <= b * 1.25)
    ++last;
  return median_of(std::vector<double>(ms.begin() + static_cast<std::ptrdiff_t>(first),
                                       ms.begin() + static_cast<std::ptrdiff_t>(last)));
}

all_reduce_table read_all_reduce(const std::string& path, uint32_t workers) {
  auto csv = read_csv(path);
  size_t time = csv.column("time_stats.all_reduce.median");
  size_t workers_col = csv.column("num_workers");
  size_t per_node = csv.column("devices_per_node");
  size_t size = csv.column("size");
  std::map<double, std::vector<double>> by_size;
  for (size_t r = 0; r < csv.rows.size(); ++r) {
    if (csv.number(r, workers_col) != workers || csv.number(r, per_node) != workers) continue;
    by_size[csv.number(r, size)].push_back(csv.number(r, time));
  }
  all_reduce_table t;
  t.file = path;
  t.workers = workers;
  medians_by_key(
      by_size, t.bytes, t.ms, path,
      "message sizes measured with num_workers = devices_per_node = " + std::to_string(workers));
  return t;
}

cpu_overhead_table read_cpu_overheads(const std::string& path, const std::string& model,
                                      uint32_t tensor_parallel) {
  auto csv = read_csv(path);
  std::vector<size_t> parts{csv.column("schedule_median"), csv.column("sampler_e2e_median"),
                            csv.column("prepare_inputs_e2e_median"),
                            csv.column("process_model_outputs_median")};
  size_t model_col = csv.column("model_name");
  size_t batch_col = csv.column("batch_size");
  size_t tp_col = csv.column("tensor_parallel_degree");
  std::map<double, std::vector<double>> by_batch;
  for (size_t r = 0; r < csv.rows.size(); ++r) {
    if (csv.rows[r][model_col] != model || csv.number(r, tp_col) != tensor_parallel) continue;
    double total = 0;
    for (size_t c : parts)
      total += csv.number(r, c);
    by_batch[csv.number(r, batch_col)].push_back(total);
  }
  cpu_overhead_table t;
  t.file = path;
  t.model = model;
  medians_by_key(by_batch, t.batch_sizes, t.ms, path,
                 "batch sizes for model_name = " + model +
                     " with tensor_parallel_degree = " + std::to_string(tensor_parallel));
  return t;
}

}  // namespace inferstack::simulate::calibration
