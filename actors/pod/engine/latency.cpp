#include "actors/pod/engine/latency.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <yaml-cpp/yaml.h>

namespace inferstack::actors::pod::engine {

namespace {

constexpr int64_t ns_per_ms = 1'000'000;

double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

}  // namespace

double standard_normal(std::mt19937_64& rng) {
  for (;;) {
    double u = 2 * uniform01(rng) - 1;
    double v = 2 * uniform01(rng) - 1;
    double s = u * u + v * v;
    if (s >= 1 || s == 0) continue;
    return u * std::sqrt(-2 * std::log(s) / s);
  }
}

// ------------------------------------------------------------------------------------------------
// step_profile
// ------------------------------------------------------------------------------------------------

uint64_t step_profile::padded_tokens(const batch_stats& batch) const {
  uint64_t tokens = static_cast<uint64_t>(batch.prefill_tokens) + batch.decode_seqs;
  uint64_t g = std::max<uint32_t>(token_granularity, 1);
  return (tokens + g - 1) / g * g;
}

double interpolate(const std::vector<token_cost_knot>& table, uint64_t tokens) {
  if (table.empty()) return 0;
  if (table.size() == 1 || tokens <= table.front().tokens) return table.front().ns;
  // The segment holding `tokens`, or the last one beyond the table.
  auto upper = std::upper_bound(table.begin() + 1, table.end() - 1, tokens,
                                [](uint64_t t, const token_cost_knot& k) { return t <= k.tokens; });
  const auto& hi = *upper;
  const auto& lo = *(upper - 1);
  double slope = (hi.ns - lo.ns) / static_cast<double>(hi.tokens - lo.tokens);
  double cost = lo.ns + slope * (static_cast<double>(tokens) - lo.tokens);
  return std::max(cost, 0.0);
}

double step_profile::token_cost_ns(uint64_t tokens) const {
  return interpolate(token_cost, tokens);
}

double step_profile::all_reduce_ns(uint64_t tokens) const {
  if (!all_reduce_cost.empty()) return interpolate(all_reduce_cost, tokens);
  return std::max(all_reduce_floor_ns,
                  all_reduce_base_ns + all_reduce_ns_per_token * static_cast<double>(tokens));
}

step_cost_breakdown step_profile::breakdown(const batch_stats& batch) const {
  step_cost_breakdown b;
  if (batch.empty()) return b;
  b.fixed = static_cast<double>(step_overhead_ns);
  if (batch.prefill_seqs > 0) b.fixed += static_cast<double>(prefill_overhead_ns);
  b.per_sequence = static_cast<double>(batch.prefill_tokens) * prefill_ns_per_token +
                   static_cast<double>(batch.decode_seqs) * decode_ns_per_sequence +
                   static_cast<double>(batch.num_seqs()) * per_sequence_ns;
  const uint64_t tokens = padded_tokens(batch);
  b.token_cost = token_cost_ns(tokens);
  if (all_reduces > 0) b.all_reduce = all_reduces * all_reduce_ns(tokens);
  b.kv_read = static_cast<double>(batch.kv_tokens) * attention_ns_per_kv_token;
  b.prefill_attention = static_cast<double>(batch.prefill_pairs) * prefill_attention_ns_per_pair;
  return b;
}

int64_t step_profile::mean_step_ns(const batch_stats& batch) const {
  return static_cast<int64_t>(std::llround(breakdown(batch).total()));
}

namespace {

int64_t apply_jitter(int64_t mean, double jitter, std::mt19937_64& rng) {
  if (jitter <= 0 || mean <= 0) return mean;
  double z = std::clamp(standard_normal(rng), -3.0, 3.0);
  double d = static_cast<double>(mean) * (1 + jitter * z);
  return d <= 0 ? 0 : static_cast<int64_t>(std::llround(d));
}

}  // namespace

int64_t step_profile::step_duration(const batch_stats& batch, std::mt19937_64& rng) const {
  return apply_jitter(mean_step_ns(batch), jitter, rng);
}

int64_t step_profile::kv_transfer_ns(uint32_t transferred_tokens) const {
  return kv_transfer_latency_ns +
         static_cast<int64_t>(transferred_tokens) * kv_transfer_ns_per_token;
}

std::optional<step_profile> parse_step_profile(const std::string& yaml_text,
                                               const std::string& file,
                                               std::vector<config::problem>& problems) {
  config::diagnostics diag(file, 1);
  auto done = [&]() -> bool {
    bool ok = diag.problems().empty();
    for (auto& p : diag.problems())
      problems.push_back(std::move(p));
    return ok;
  };
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    diag.add("", std::string("not valid YAML: ") + e.what());
    done();
    return std::nullopt;
  }
  config::fields doc(root, "", diag);
  if (!doc.valid()) {
    diag.add("", root, "expected a LatencyProfile mapping");
    done();
    return std::nullopt;
  }

  step_profile p;
  std::string api_version, kind;
  doc.get("apiVersion", api_version, true);
  doc.get("kind", kind, true);
  if (!api_version.empty() && api_version != "inferstack.io/v1alpha1")
    diag.add("apiVersion", doc.raw("apiVersion"),
             "'" + api_version + "' is not inferstack.io/v1alpha1");
  if (!kind.empty() && kind != "LatencyProfile")
    diag.add("kind", doc.raw("kind"), "'" + kind + "' is not LatencyProfile");

  auto meta = doc.object("metadata", true);
  meta.get("name", p.name, true);
  meta.raw("labels");
  meta.raw("annotations");
  meta.finish();
  if (!p.name.empty()) diag.set_object("LatencyProfile " + p.name);

  auto spec = doc.object("spec", true);
  auto duration = [&](const char* key, int64_t& out, bool required) {
    std::chrono::nanoseconds d{out};
    spec.get(key, d, required);
    out = d.count();
  };
  // Per-token and per-byte costs are fractions of a nanosecond: read without rounding.
  auto fine_duration = [&](const char* key, double& out, bool required) {
    auto node = spec.raw(key);
    if (!node.IsDefined()) {
      if (required) diag.add(std::string("spec.") + key, "is required");
      return;
    }
    auto ns = node.IsScalar() ? config::parse_duration_ns(node.Scalar()) : std::nullopt;
    if (!ns) {
      diag.add(std::string("spec.") + key, node, "expected a duration like 43.7ns or 2us");
      return;
    }
    out = *ns;
  };
  duration("stepOverhead", p.step_overhead_ns, true);
  duration("prefillOverhead", p.prefill_overhead_ns, false);
  duration("prefillPerToken", p.prefill_ns_per_token, true);
  duration("decodePerSequence", p.decode_ns_per_sequence, true);
  fine_duration("attentionPerKvToken", p.attention_ns_per_kv_token, true);
  duration("kvTransferLatency", p.kv_transfer_latency_ns, false);
  duration("kvTransferPerToken", p.kv_transfer_ns_per_token, false);
  spec.get("jitter", p.jitter, false);
  if (p.jitter < 0 || p.jitter > 1)
    diag.add("spec.jitter", spec.raw("jitter"), "must be between 0 and 1 (a relative std-dev)");
  fine_duration("perSequence", p.per_sequence_ns, false);
  spec.get("tokenGranularity", p.token_granularity, false);
  if (p.token_granularity == 0)
    diag.add("spec.tokenGranularity", spec.raw("tokenGranularity"), "must be at least 1");
  auto knot_table = [&](const char* key, std::vector<token_cost_knot>& out) {
    auto knots = spec.raw(key);
    if (!knots.IsDefined()) return;
    if (!knots.IsSequence() || knots.size() < 2) {
      diag.add(std::string("spec.") + key, knots,
               "expected a list of at least two [tokens, duration] points, e.g. [8, 6.2ms]");
      return;
    }
    for (size_t i = 0; i < knots.size(); ++i) {
      const auto& k = knots[i];
      std::string field = std::string("spec.") + key + "[" + std::to_string(i) + "]";
      uint32_t tokens = 0;
      std::optional<double> ns;
      bool shape = k.IsSequence() && k.size() == 2 && k[0].IsScalar() && k[1].IsScalar();
      if (shape) {
        try {
          tokens = k[0].as<uint32_t>();
        } catch (const YAML::Exception&) {
          shape = false;
        }
        if (shape) ns = config::parse_duration_ns(k[1].Scalar());
      }
      if (!shape || !ns) {
        diag.add(field, k, "expected [tokens, duration], e.g. [512, 21.4ms]");
        continue;
      }
      if (!out.empty() && tokens <= out.back().tokens) {
        diag.add(field, k, "token counts must increase from one point to the next");
        continue;
      }
      out.push_back(token_cost_knot{tokens, *ns});
    }
  };
  knot_table("tokenCost", p.token_cost);
  knot_table("allReduceCost", p.all_reduce_cost);
  spec.get("allReduces", p.all_reduces, false);
  fine_duration("allReduceFloor", p.all_reduce_floor_ns, false);
  fine_duration("allReduceBase", p.all_reduce_base_ns, false);
  fine_duration("allReducePerToken", p.all_reduce_ns_per_token, false);
  fine_duration("prefillAttentionPerPair", p.prefill_attention_ns_per_pair, false);
  spec.finish();
  doc.finish();

  if (!done()) return std::nullopt;
  return p;
}

namespace {

std::string join_problems(const std::vector<config::problem>& problems) {
  std::string out;
  for (const auto& p : problems) {
    if (!out.empty()) out += '\n';
    out += p.to_string();
  }
  return out;
}

}  // namespace

step_profile load_step_profile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot read the latency profile");
  std::stringstream text;
  text << in.rdbuf();
  std::vector<config::problem> problems;
  auto p = parse_step_profile(text.str(), path, problems);
  if (!p) throw std::runtime_error(join_problems(problems));
  return *p;
}

step_profile load_named_step_profile(const std::string& dir, const std::string& name) {
  return load_step_profile(dir + "/" + name + ".yaml");
}

// ------------------------------------------------------------------------------------------------
// Simulator calculators
// ------------------------------------------------------------------------------------------------

std::string_view to_string(sim_calculator c) {
  switch (c) {
    case sim_calculator::constant:
      return "constant";
    case sim_calculator::per_token:
      return "per-token";
    default:
      return "";
  }
}

std::optional<sim_calculator> parse_sim_calculator(std::string_view text) {
  if (text.empty()) return sim_calculator::legacy;
  if (text == "constant") return sim_calculator::constant;
  if (text == "per-token") return sim_calculator::per_token;
  return std::nullopt;
}

std::vector<std::string> sim_latency_params::validate() const {
  std::vector<std::string> errors;
  auto non_negative = [&](int64_t v, const char* what) {
    if (v < 0) errors.push_back(std::string(what) + " cannot be negative");
  };
  // float32, like the simulator's `float32(sd) > 0.3*float32(mean)`.
  auto at_most_30_percent = [&](int64_t sd, int64_t mean, const char* what) {
    if (static_cast<float>(sd) > 0.3f * static_cast<float>(mean))
      errors.push_back(std::string(what) + " standard deviation cannot be more than 30% of " +
                       what);
  };
  non_negative(inter_token_latency_ns, "inter-token-latency");
  non_negative(inter_token_latency_std_dev_ns, "inter-token-latency-std-dev");
  at_most_30_percent(inter_token_latency_std_dev_ns, inter_token_latency_ns, "inter token latency");
  non_negative(time_to_first_token_ns, "time-to-first-token");
  non_negative(time_to_first_token_std_dev_ns, "time-to-first-token-std-dev");
  at_most_30_percent(time_to_first_token_std_dev_ns, time_to_first_token_ns, "time to first token");
  non_negative(prefill_overhead_ns, "prefill-overhead");
  non_negative(prefill_time_per_token_ns, "prefill-time-per-token");
  non_negative(prefill_time_std_dev_ns, "prefill-time-std-dev");
  non_negative(kv_cache_transfer_latency_ns, "kv-cache-transfer-latency");
  non_negative(kv_cache_transfer_latency_std_dev_ns, "kv-cache-transfer-latency-std-dev");
  at_most_30_percent(kv_cache_transfer_latency_std_dev_ns, kv_cache_transfer_latency_ns,
                     "kv-cache transfer");
  non_negative(kv_cache_transfer_time_per_token_ns, "kv-cache-transfer-time-per-token");
  non_negative(kv_cache_transfer_time_std_dev_ns, "kv-cache-transfer-time-std-dev");
  if (!(time_factor_under_load >= 1.0)) errors.push_back("time-factor-under-load must be >= 1.0");
  return errors;
}

namespace {

struct duration_option {
  std::string_view key;
  int64_t sim_latency_params::*field;
};

constexpr duration_option duration_options[] = {
    {"time-to-first-token", &sim_latency_params::time_to_first_token_ns},
    {"time-to-first-token-std-dev", &sim_latency_params::time_to_first_token_std_dev_ns},
    {"inter-token-latency", &sim_latency_params::inter_token_latency_ns},
    {"inter-token-latency-std-dev", &sim_latency_params::inter_token_latency_std_dev_ns},
    {"prefill-overhead", &sim_latency_params::prefill_overhead_ns},
    {"prefill-time-per-token", &sim_latency_params::prefill_time_per_token_ns},
    {"prefill-time-std-dev", &sim_latency_params::prefill_time_std_dev_ns},
    {"kv-cache-transfer-latency", &sim_latency_params::kv_cache_transfer_latency_ns},
    {"kv-cache-transfer-latency-std-dev",
     &sim_latency_params::kv_cache_transfer_latency_std_dev_ns},
    {"kv-cache-transfer-time-per-token", &sim_latency_params::kv_cache_transfer_time_per_token_ns},
    {"kv-cache-transfer-time-std-dev", &sim_latency_params::kv_cache_transfer_time_std_dev_ns},
};

std::optional<int64_t> parse_sim_duration(std::string_view text) {
  bool negative = !text.empty() && text.front() == '-';
  if (negative) text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  int64_t value = 0;
  if (std::all_of(text.begin(), text.end(), [](char c) { return std::isdigit(c) != 0; })) {
    if (text.size() > 12) return std::nullopt;
    value = std::stoll(std::string(text)) * ns_per_ms;  // pre-v0.8 flags were milliseconds
  } else {
    auto d = config::parse_duration(std::string(text));
    if (!d) return std::nullopt;
    value = d->count();
  }
  return negative ? -value : value;
}

}  // namespace

bool is_sim_latency_option(std::string_view key) {
  if (key == "latency-calculator" || key == "time-factor-under-load") return true;
  return std::any_of(std::begin(duration_options), std::end(duration_options),
                     [&](const duration_option& o) { return o.key == key; });
}

std::optional<std::string> set_sim_latency_option(sim_latency_params& params, std::string_view key,
                                                  std::string_view value) {
  if (key == "latency-calculator") {
    auto c = parse_sim_calculator(value);
    if (!c)
      return "latency-calculator: '" + std::string(value) + "' is not one of \"\", constant, " +
             "per-token";
    params.calculator = *c;
    return std::nullopt;
  }
  if (key == "time-factor-under-load") {
    std::string s(value);
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0' || !std::isfinite(v))
      return "time-factor-under-load: '" + s + "' is not a number";
    params.time_factor_under_load = v;
    return std::nullopt;
  }
  for (const auto& o : duration_options) {
    if (o.key != key) continue;
    auto d = parse_sim_duration(value);
    if (!d) return std::string(key) + ": '" + std::string(value) + "' is not a duration like 250ms";
    params.*o.field = *d;
    return std::nullopt;
  }
  return "unknown latency option '" + std::string(key) + "'";
}

int64_t sim_random_norm_duration(int64_t mean_ns, int64_t std_dev_ns, std::mt19937_64& rng) {
  // time.Duration.Milliseconds() truncates toward zero, as C++ integer division does.
  int64_t mean_ms = mean_ns / ns_per_ms;
  int64_t sd_ms = std_dev_ns / ns_per_ms;
  double value = static_cast<double>(mean_ms);
  if (sd_ms != 0) value = standard_normal(rng) * static_cast<double>(sd_ms) + value;
  double mean = static_cast<double>(mean_ms);
  if (value < 0.3 * mean)
    value = 0.3 * mean;
  else if (value > 1.7 * mean)
    value = 1.7 * mean;
  return static_cast<int64_t>(value) * ns_per_ms;
}

sim_latency::sim_latency(sim_latency_params params) : params_(params) {
  auto errors = params_.validate();
  if (!errors.empty()) {
    std::string all;
    for (const auto& e : errors) {
      if (!all.empty()) all += "; ";
      all += e;
    }
    throw std::invalid_argument(all);
  }
}

double sim_latency::load_factor(int64_t running, int64_t max_num_seqs) const {
  if (max_num_seqs <= 1) return 1.0;
  return 1 + (params_.time_factor_under_load - 1) * static_cast<double>(running - 1) /
                 static_cast<double>(max_num_seqs - 1);
}

int64_t sim_latency::scaled(int64_t ns, double factor) const {
  // time.Duration(float64(d) * factor): truncation toward zero.
  return static_cast<int64_t>(static_cast<double>(ns) * factor);
}

int64_t sim_latency::ttft_ns(int64_t prompt_tokens, int64_t cached_tokens, int64_t running,
                             int64_t max_num_seqs, bool remote_prefill,
                             std::mt19937_64& rng) const {
  const auto& p = params_;
  bool constant = false;
  switch (p.calculator) {
    case sim_calculator::constant:
      constant = true;
      break;
    case sim_calculator::per_token:
      constant = false;
      break;
    case sim_calculator::legacy:
      constant =
          remote_prefill
              ? (p.kv_cache_transfer_latency_ns != 0 || p.kv_cache_transfer_latency_std_dev_ns != 0)
              : (p.time_to_first_token_ns != 0 || p.time_to_first_token_std_dev_ns != 0);
      break;
  }
  if (remote_prefill) {
    if (constant)
      return sim_random_norm_duration(p.kv_cache_transfer_latency_ns,
                                      p.kv_cache_transfer_latency_std_dev_ns, rng);
    return sim_random_norm_duration(p.kv_cache_transfer_time_per_token_ns * prompt_tokens,
                                    p.kv_cache_transfer_time_std_dev_ns, rng);
  }
  double load = load_factor(running, max_num_seqs);
  if (constant)
    return sim_random_norm_duration(scaled(p.time_to_first_token_ns, load),
                                    p.time_to_first_token_std_dev_ns, rng);
  int64_t prefill = scaled(p.prefill_overhead_ns, load) +
                    (prompt_tokens - cached_tokens) * scaled(p.prefill_time_per_token_ns, load);
  return sim_random_norm_duration(prefill, p.prefill_time_std_dev_ns, rng);
}

int64_t sim_latency::itl_ns(int64_t running, int64_t max_num_seqs, std::mt19937_64& rng) const {
  return sim_random_norm_duration(
      scaled(params_.inter_token_latency_ns, load_factor(running, max_num_seqs)),
      params_.inter_token_latency_std_dev_ns, rng);
}

// ------------------------------------------------------------------------------------------------
// KAITO profiles
// ------------------------------------------------------------------------------------------------

namespace {

constexpr int64_t us = 1'000;
constexpr int64_t ms = 1'000'000;

}  // namespace

std::optional<sim_latency_params> kaito_sim_params(std::string_view profile,
                                                   sim_calculator calculator) {
  sim_latency_params p;
  p.calculator = calculator;
  if (profile == profile_8b_h100) {
    p.inter_token_latency_ns = 12 * ms;
    p.inter_token_latency_std_dev_ns = 2 * ms;
    p.time_factor_under_load = 2.0;
    p.time_to_first_token_ns = 100 * ms;
    p.time_to_first_token_std_dev_ns = 20 * ms;
    p.prefill_overhead_ns = 30 * ms;
    p.prefill_time_per_token_ns = 250 * us;
    p.prefill_time_std_dev_ns = 50 * us;
    p.kv_cache_transfer_latency_ns = 2 * ms;
    p.kv_cache_transfer_latency_std_dev_ns = 400 * us;
    p.kv_cache_transfer_time_per_token_ns = 3 * us;
    p.kv_cache_transfer_time_std_dev_ns = 600;
  } else if (profile == profile_70b_tp8) {
    p.inter_token_latency_ns = 25 * ms;
    p.inter_token_latency_std_dev_ns = 4 * ms;
    p.time_factor_under_load = 3.0;
    p.time_to_first_token_ns = 200 * ms;
    p.time_to_first_token_std_dev_ns = 40 * ms;
    p.prefill_overhead_ns = 80 * ms;
    p.prefill_time_per_token_ns = 500 * us;
    p.prefill_time_std_dev_ns = 100 * us;
    p.kv_cache_transfer_latency_ns = 2 * ms;
    p.kv_cache_transfer_latency_std_dev_ns = 400 * us;
    p.kv_cache_transfer_time_per_token_ns = 8 * us;
    p.kv_cache_transfer_time_std_dev_ns = 1600;
  } else if (profile == profile_small_l40s) {
    p.inter_token_latency_ns = 15 * ms;
    p.inter_token_latency_std_dev_ns = 2 * ms;
    p.time_factor_under_load = 1.5;
    p.time_to_first_token_ns = 110 * ms;
    p.time_to_first_token_std_dev_ns = 15 * ms;
    p.prefill_overhead_ns = 20 * ms;
    p.prefill_time_per_token_ns = 350 * us;
    p.prefill_time_std_dev_ns = 70 * us;
    p.kv_cache_transfer_latency_ns = 5 * ms;
    p.kv_cache_transfer_latency_std_dev_ns = 1 * ms;
    p.kv_cache_transfer_time_per_token_ns = 12 * us;
    p.kv_cache_transfer_time_std_dev_ns = 2400;
  } else {
    return std::nullopt;
  }
  return p;
}

namespace {

bool is_component_separator(char c) {
  return c == '-' || c == '_' || c == '/' || c == ':' || c == '.' || c == ' ';
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Reads digits with an optional fraction at s[j...]; advances j.
double read_number(std::string_view s, size_t& j) {
  size_t start = j;
  while (j < s.size() && is_digit(s[j]))
    ++j;
  if (j + 1 < s.size() && s[j] == '.' && is_digit(s[j + 1])) {
    ++j;
    while (j < s.size() && is_digit(s[j]))
      ++j;
  }
  return std::strtod(std::string(s.substr(start, j - start)).c_str(), nullptr);
}

}  // namespace

std::optional<double> parse_parameter_count_b(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (!is_digit(s[i]) || (i > 0 && !is_component_separator(s[i - 1]))) continue;
    size_t j = i;
    double value = read_number(s, j);
    // Mixture of experts: "8x7b" is 8 experts of 7B.
    if (j + 1 < s.size() && (s[j] == 'x' || s[j] == 'X') && is_digit(s[j + 1])) {
      ++j;
      value *= read_number(s, j);
    }
    if (j >= s.size()) continue;
    char unit = static_cast<char>(std::tolower(static_cast<unsigned char>(s[j])));
    if (unit != 'b' && unit != 'm') continue;
    if (j + 1 < s.size() && !is_component_separator(s[j + 1])) continue;
    return unit == 'b' ? value : value / 1000;
  }
  return std::nullopt;
}

profile_selection select_profile(std::string_view model_name,
                                 const std::map<std::string, std::string>& annotations) {
  profile_selection sel;
  sel.parameters_b = parse_parameter_count_b(model_name);
  std::string_view automatic = profile_8b_h100;
  if (sel.parameters_b) {
    if (*sel.parameters_b < 5)
      automatic = profile_small_l40s;
    else if (*sel.parameters_b >= 25)
      automatic = profile_70b_tp8;
  }
  sel.profile = std::string(automatic);

  if (auto it = annotations.find(std::string(annotation_latency_profile));
      it != annotations.end()) {
    const auto& v = it->second;
    if (v == profile_small_l40s || v == profile_8b_h100 || v == profile_70b_tp8) {
      sel.profile = v;
    } else if (v != "auto") {
      sel.warnings.push_back(std::string(annotation_latency_profile) + ": unknown value '" + v +
                             "', using " + sel.profile + " (auto)");
    }
  }
  if (auto it = annotations.find(std::string(annotation_latency_calculator));
      it != annotations.end()) {
    const auto& v = it->second;
    if (v == "constant") {
      sel.calculator = sim_calculator::constant;
    } else if (v != "per-token") {
      sel.warnings.push_back(std::string(annotation_latency_calculator) + ": unknown value '" + v +
                             "', using per-token");
    }
  }
  return sel;
}

// ------------------------------------------------------------------------------------------------
// latency models
// ------------------------------------------------------------------------------------------------

int64_t step_latency_model::step_ns(const batch_stats& batch, std::mt19937_64& rng) const {
  return profile_.step_duration(batch, rng);
}

int64_t step_latency_model::kv_transfer_ns(uint32_t prompt_tokens, uint32_t cached_tokens,
                                           std::mt19937_64& rng) const {
  uint32_t transferred = prompt_tokens > cached_tokens ? prompt_tokens - cached_tokens : 0;
  return apply_jitter(profile_.kv_transfer_ns(transferred), profile_.jitter, rng);
}

int64_t step_latency_model::first_token_ns(const first_token_query& q, std::mt19937_64& rng) const {
  batch_stats b;
  b.prefill_seqs = 1;
  b.kv_tokens = q.prompt_tokens;
  auto computes = [&b](uint64_t new_tokens, uint64_t before) {
    b.prefill_tokens = static_cast<uint32_t>(new_tokens);
    b.prefill_pairs = new_tokens * before + new_tokens * (new_tokens + 1) / 2;
  };
  if (q.remote_prefill) {
    computes(1, q.prompt_tokens > 0 ? q.prompt_tokens - 1 : 0);  // the last token, locally
    return kv_transfer_ns(q.prompt_tokens, q.cached_tokens, rng) + profile_.step_duration(b, rng);
  }
  uint32_t cached = std::min(q.cached_tokens, q.prompt_tokens);
  computes(q.prompt_tokens - cached, cached);
  return profile_.step_duration(b, rng);
}

int64_t step_latency_model::next_token_ns(uint32_t running, uint32_t, std::mt19937_64& rng) const {
  batch_stats b;
  b.decode_seqs = std::max<uint32_t>(running, 1);
  return profile_.step_duration(b, rng);
}

int64_t sim_latency_model::kv_transfer_ns(uint32_t prompt_tokens, uint32_t cached_tokens,
                                          std::mt19937_64& rng) const {
  return calc_.ttft_ns(prompt_tokens, cached_tokens, 1, 1, true, rng);
}

int64_t sim_latency_model::first_token_ns(const first_token_query& q, std::mt19937_64& rng) const {
  return calc_.ttft_ns(q.prompt_tokens, q.cached_tokens, q.running, q.max_num_seqs,
                       q.remote_prefill, rng);
}

int64_t sim_latency_model::next_token_ns(uint32_t running, uint32_t max_num_seqs,
                                         std::mt19937_64& rng) const {
  return calc_.itl_ns(running, max_num_seqs, rng);
}

}  // namespace inferstack::actors::pod::engine
