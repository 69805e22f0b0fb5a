#include "actors/pod/fake_metrics.hpp"

#include <charconv>
#include <cmath>
#include <functional>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "runtime/config/yaml_fields.hpp"

namespace inferstack::actors::pod {

const std::vector<double> ttft_bucket_bounds{0.001, 0.005, 0.01, 0.02,  0.04,  0.06,  0.08, 0.1,
                                             0.25,  0.5,   0.75, 1.0,   2.5,   5.0,   7.5,  10.0,
                                             20.0,  40.0,  80.0, 160.0, 640.0, 2560.0};
const std::vector<double> tpot_bucket_bounds{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
                                             0.3,  0.4,   0.5,  0.75,  1.0, 2.5,  5.0,
                                             7.5,  10.0,  20.0, 40.0,  80.0};
const std::vector<double> request_latency_bucket_bounds{
    0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,   15.0,  20.0,
    30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

std::vector<double> one_two_five_buckets(uint32_t max) {
  std::vector<double> out;
  for (double exponent = 1;; exponent *= 10) {
    for (double m : {1.0, 2.0, 5.0}) {
      double v = m * exponent;
      if (v > max) return out;
      out.push_back(v);
    }
  }
}

namespace {

using nlohmann::json;
using error = std::optional<std::string>;

/// YAML as JSON: a plain scalar that reads as a number, bool or null becomes one, as yaml.v3
/// decodes it into the simulator's fields.
json yaml_to_json(const YAML::Node& n) {
  if (n.IsMap()) {
    json out = json::object();
    for (const auto& kv : n)
      out[kv.first.Scalar()] = yaml_to_json(kv.second);
    return out;
  }
  if (n.IsSequence()) {
    json out = json::array();
    for (const auto& item : n)
      out.push_back(yaml_to_json(item));
    return out;
  }
  if (!n.IsScalar()) return nullptr;
  const auto& s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted: a string
  int64_t i = 0;
  if (auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
      ec == std::errc() && p == s.data() + s.size())
    return i;
  try {
    size_t used = 0;
    double d = std::stod(s, &used);
    if (used == s.size()) return d;
  } catch (const std::exception&) {
  }
  if (s == "true" || s == "false") return s == "true";
  if (s == "null" || s == "~") return nullptr;
  return s;
}

error parse_function(const std::string& text, fake_function& out) {
  std::vector<std::string> parts;
  size_t from = 0;
  for (;;) {
    auto colon = text.find(':', from);
    parts.push_back(text.substr(from, colon - from));
    if (colon == std::string::npos) break;
    from = colon + 1;
  }
  const std::string bad = "unknown format in fake metric generation function: ";
  if (parts.size() != 4) return bad + "need func:start:end:period, got '" + text + "'";
  out.name = parts[0];
  for (int i : {1, 2}) {
    try {
      size_t used = 0;
      (i == 1 ? out.start : out.end) = std::stod(parts[i], &used);
      if (used != parts[i].size()) throw std::invalid_argument(parts[i]);
    } catch (const std::exception&) {
      return bad + "'" + parts[i] + "' is not a number";
    }
  }
  auto period = config::parse_duration(parts[3]);
  if (!period) return bad + "'" + parts[3] + "' is not a duration like 500ms";
  out.period_ns = period->count();
  return std::nullopt;
}

error read_value(const json& j, fake_value& out) {
  if (j.is_number()) {
    out.fixed = j.get<double>();
    return std::nullopt;
  }
  if (!j.is_string()) return std::string("expected a number or \"func:start:end:period\"");
  out.function.emplace();
  return parse_function(j.get<std::string>(), *out.function);
}

error read_int(const json& j, int64_t& out) {
  if (!j.is_number_integer()) return "expected an integer, got " + j.dump();
  out = j.get<int64_t>();
  return std::nullopt;
}

error read_ints(const json& j, std::vector<int64_t>& out) {
  if (!j.is_array()) return "expected an array of integers, got " + j.dump();
  for (const auto& v : j) {
    int64_t x = 0;
    if (auto e = read_int(v, x)) return e;
    out.push_back(x);
  }
  return std::nullopt;
}

error read_lora(const json& j, fake_lora& out) {
  json obj = j;
  if (j.is_string()) {  // the config file's form: each item a JSON string
    obj = json::parse(j.get<std::string>(), nullptr, false);
    if (obj.is_discarded()) return "not JSON: " + j.get<std::string>();
  }
  if (!obj.is_object()) return "expected {\"running\",\"waiting\",\"timestamp\"}, got " + j.dump();
  for (const auto& [key, v] : obj.items()) {
    if (key == "running" && v.is_string()) {
      out.running = v.get<std::string>();
    } else if (key == "waiting" && v.is_string()) {
      out.waiting = v.get<std::string>();
    } else if (key == "timestamp" && v.is_number()) {
      out.timestamp = v.get<double>();
    } else if (key != "running" && key != "waiting" && key != "timestamp") {
      return "unknown field '" + key + "'";
    } else {
      return key + ": wrong type " + v.dump();
    }
  }
  return std::nullopt;
}

using int_list = std::optional<std::vector<int64_t>> fake_metrics::*;
const std::pair<std::string_view, int_list> int_lists[] = {
    {"ttft-buckets-values", &fake_metrics::ttft_buckets},
    {"tpot-buckets-values", &fake_metrics::tpot_buckets},
    {"request-tpot-buckets-values", &fake_metrics::request_tpot_buckets},
    {"e2erl-buckets-values", &fake_metrics::e2e_buckets},
    {"queue-time-buckets-values", &fake_metrics::queue_time_buckets},
    {"inf-time-buckets-values", &fake_metrics::inference_time_buckets},
    {"prefill-time-buckets-values", &fake_metrics::prefill_time_buckets},
    {"decode-time-buckets-values", &fake_metrics::decode_time_buckets},
    {"request-prompt-tokens", &fake_metrics::request_prompt_tokens},
    {"request-generation-tokens", &fake_metrics::request_generation_tokens},
    {"request-params-max-tokens", &fake_metrics::request_params_max_tokens},
    {"request-max-generation-tokens", &fake_metrics::request_max_generation_tokens},
};
using value_field = std::optional<fake_value> fake_metrics::*;
const std::pair<std::string_view, value_field> values[] = {
    {"running-requests", &fake_metrics::running_requests},
    {"waiting-requests", &fake_metrics::waiting_requests},
    {"kv-cache-usage", &fake_metrics::kv_cache_usage},
};
using int_field = std::optional<int64_t> fake_metrics::*;
const std::pair<std::string_view, int_field> ints[] = {
    {"total-prompt-tokens", &fake_metrics::total_prompt_tokens},
    {"total-generation-tokens", &fake_metrics::total_generation_tokens},
    {"prefix-cache-hits", &fake_metrics::prefix_cache_hits},
    {"prefix-cache-queries", &fake_metrics::prefix_cache_queries},
};

error read_field(const std::string& key, const json& v, fake_metrics& out) {
  for (const auto& [name, field] : values)
    if (key == name) return read_value(v, (out.*field).emplace());
  for (const auto& [name, field] : int_lists)
    if (key == name) return read_ints(v, (out.*field).emplace());
  for (const auto& [name, field] : ints)
    if (key == name) return read_int(v, (out.*field).emplace());
  if (key == "request-success-total") {
    if (!v.is_object()) return "expected an object of counts by finish reason, got " + v.dump();
    auto& m = out.request_success_total.emplace();
    for (const auto& [reason, count] : v.items())
      if (auto e = read_int(count, m[reason])) return reason + ": " + *e;
    return std::nullopt;
  }
  if (key == "loras") {
    if (!v.is_array()) return "expected an array, got " + v.dump();
    auto& list = out.loras.emplace();
    for (const auto& item : v)
      if (auto e = read_lora(item, list.emplace_back())) return e;
    return std::nullopt;
  }
  return std::string("unknown field (not one of llm-d-inference-sim's fake metrics)");
}

error negative(const std::optional<std::vector<int64_t>>& list, std::string_view name) {
  if (!list) return std::nullopt;
  for (auto v : *list)
    if (v < 0) return std::string(name) + ": cannot contain negative values";
  return std::nullopt;
}

error check_function(const std::optional<fake_value>& v, std::string_view name) {
  if (!v || !v->function) return std::nullopt;
  const auto& f = *v->function;
  if (f.name != "oscillate" && f.name != "ramp" && f.name != "rampreset" && f.name != "squarewave")
    return std::string(name) + ": invalid fake metrics generation function " + f.name +
           ", must be one of the following: oscillate, ramp, rampreset, squarewave";
  if (f.start < 0 || f.end < 0)
    return std::string(name) +
           ": invalid fake metrics generation parameter: start and end must not be negative";
  if (f.period_ns <= 0)
    return std::string(name) +
           ": invalid fake metrics generation parameter: period must be positive";
  return std::nullopt;
}

}  // namespace

std::optional<std::string> parse_fake_metrics(std::string_view text, fake_metrics& out) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    try {
      j = yaml_to_json(YAML::Load(std::string(text)));
    } catch (const YAML::Exception& e) {
      return std::string("not JSON or YAML: ") + e.what();
    }
  }
  if (j.is_null()) return std::nullopt;  // nothing given: all fields absent
  if (!j.is_object()) return "expected an object of fake metrics, got " + j.dump();
  for (const auto& [key, v] : j.items()) {
    if (v.is_null()) continue;  // as absent
    if (auto e = read_field(key, v, out)) return key + ": " + *e;
  }
  return std::nullopt;
}

std::optional<std::string> validate_fake_metrics(fake_metrics& f) {
  for (auto [v, name] : {std::pair{&f.running_requests, "running-requests"},
                         std::pair{&f.waiting_requests, "waiting-requests"}})
    if (*v && !(*v)->function && (*v)->fixed < 0)
      return std::string(name) + ": fake metrics request counters cannot be negative";
  if (f.kv_cache_usage && !f.kv_cache_usage->function &&
      (f.kv_cache_usage->fixed < 0 || f.kv_cache_usage->fixed > 1))
    return std::string("kv-cache-usage: fake metrics KV cache usage must be between 0 and 1");
  for (const auto& [name, field] : values)
    if (auto e = check_function(f.*field, name)) return e;
  if (f.kv_cache_usage && f.kv_cache_usage->function) {
    const auto& fn = *f.kv_cache_usage->function;
    if (fn.start > 1 || fn.end > 1)
      return std::string(
          "kv-cache-usage: fake metrics KV cache usage start and end must be between 0 and 1");
  }
  if (f.ttft_buckets && f.ttft_buckets->size() > ttft_bucket_bounds.size() + 1)
    return std::string("ttft-buckets-values: fake time-to-first-token array is too long");
  if (f.tpot_buckets && f.tpot_buckets->size() > tpot_bucket_bounds.size() + 1)
    return std::string("tpot-buckets-values: fake time-per-output-token array is too long");
  for (const auto& [name, field] : int_lists)
    if (auto e = negative(f.*field, name)) return e;
  if (f.request_success_total) {
    static const std::vector<std::string> reasons{"stop", "length", "tool_calls", "remote_decode",
                                                  "cache_threshold"};
    for (const auto& [reason, count] : *f.request_success_total) {
      if (count < 0)
        return "request-success-total." + reason + ": cannot be negative, got " +
               std::to_string(count);
      if (std::find(reasons.begin(), reasons.end(), reason) == reasons.end())
        return "request-success-total: invalid finish reason " + reason +
               " (valid reasons: stop, length, tool_calls, remote_decode, cache_threshold)";
    }
    for (const auto& reason : reasons)
      f.request_success_total->emplace(reason, 0);
  }
  for (const auto& [name, field] : ints)
    if (f.*field && *(f.*field) < 0) return std::string(name) + ": cannot be negative";
  if (f.prefix_cache_hits.has_value() != f.prefix_cache_queries.has_value())
    return std::string(
        "prefix-cache-hits, prefix-cache-queries: fake metrics prefix-cache-hits and "
        "prefix-cache-queries must be specified together");
  if (f.prefix_cache_hits && *f.prefix_cache_hits > *f.prefix_cache_queries)
    return std::string("prefix-cache-hits: cannot exceed prefix-cache-queries");
  return std::nullopt;
}

void merge_fake_metrics(fake_metrics& into, const fake_metrics& u) {
  for (const auto& [name, field] : values)
    if (u.*field) into.*field = u.*field;
  for (const auto& [name, field] : int_lists)
    if (u.*field) into.*field = u.*field;
  for (const auto& [name, field] : ints)
    if (u.*field) into.*field = u.*field;
  if (u.request_success_total) {  // a JSON object decoded over a Go map merges by key
    if (!into.request_success_total) into.request_success_total.emplace();
    for (const auto& [reason, count] : *u.request_success_total)
      (*into.request_success_total)[reason] = count;
  }
  if (u.loras) into.loras = u.loras;
}

double fake_function_value(const fake_function& f, int64_t elapsed_ns) {
  double t = static_cast<double>(elapsed_ns) / 1e9;
  double period = static_cast<double>(f.period_ns) / 1e9;
  if (f.name == "oscillate") {
    double phase = 2 * M_PI * t / period;
    return (f.start + f.end) / 2 + (f.end - f.start) / 2 * std::sin(phase);
  }
  if (f.name == "ramp") {
    double frac = t / period;
    return frac >= 1 ? f.end : f.start + frac * (f.end - f.start);
  }
  int64_t within = elapsed_ns % f.period_ns;
  if (f.name == "rampreset")
    return f.start +
           static_cast<double>(within) / static_cast<double>(f.period_ns) * (f.end - f.start);
  return within < f.period_ns / 2 ? f.start : f.end;  // squarewave
}

}  // namespace inferstack::actors::pod
