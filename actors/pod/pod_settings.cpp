#include "actors/pod/pod_settings.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "runtime/config/yaml_fields.hpp"

namespace inferstack::actors::pod {

std::string pod_settings::display_model(const std::string& requested) const {
  for (const auto& name : served_model_names)
    if (name == requested) return served_model_names.front();
  return requested;  // a LoRA adapter reports its own name
}

bool pod_settings::serves(const std::string& name) const {
  return std::find(served_model_names.begin(), served_model_names.end(), name) !=
         served_model_names.end();
}

namespace {

std::optional<std::string> parse_uint(std::string_view value, uint64_t& out) {
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || ptr != value.data() + value.size())
    return "expected a non-negative integer, got '" + std::string(value) + "'";
  return std::nullopt;
}

template <class T>
std::optional<std::string> parse_uint_as(std::string_view value, T& out) {
  uint64_t v = 0;
  if (auto err = parse_uint(value, v)) return err;
  if (v > std::numeric_limits<T>::max()) return "value " + std::string(value) + " is too large";
  out = static_cast<T>(v);
  return std::nullopt;
}

std::optional<std::string> parse_bool(std::string_view value, bool& out) {
  if (value == "true" || value == "1" || value == "") {
    out = true;
    return std::nullopt;
  }
  if (value == "false" || value == "0") {
    out = false;
    return std::nullopt;
  }
  return "expected true or false, got '" + std::string(value) + "'";
}

std::optional<std::string> parse_double(std::string_view value, double& out) {
  try {
    size_t used = 0;
    out = std::stod(std::string(value), &used);
    if (used != value.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    return "expected a number, got '" + std::string(value) + "'";
  }
  return std::nullopt;
}

/// Durations: Go strings ("250ms"); a bare integer means milliseconds (the simulator's old
/// integer flags).
std::optional<std::string> parse_ms_duration(std::string_view value, int64_t& out) {
  uint64_t bare = 0;
  if (!parse_uint(value, bare)) {
    out = static_cast<int64_t>(bare) * 1'000'000;
    return std::nullopt;
  }
  auto d = config::parse_duration(std::string(value));
  if (!d) return "expected a duration like 250ms, got '" + std::string(value) + "'";
  out = d->count();
  return std::nullopt;
}

std::vector<std::string> split_list(std::string_view value) {
  std::vector<std::string> out;
  std::string current;
  for (char c : value) {
    if (c == ',' || c == ' ') {
      if (!current.empty()) out.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) out.push_back(current);
  return out;
}

const std::set<std::string, std::less<>> failure_type_names{"rate_limit",      "invalid_api_key",
                                                            "context_length",  "server_error",
                                                            "invalid_request", "model_not_found"};

// Flags llm-d-inference-sim accepts and ignores: accepted here too.
const std::set<std::string, std::less<>> ignored_options{
    "enforce-eager",         "tensor-parallel-size", "mm-processor-kwargs",
    "ec-transfer-config",    "max-cpu-loras",        "v",
    "force-dummy-tokenizer", "dataset-path",         "dataset-url",
    "dataset-in-memory",     "dataset-table-name",   "log-http",
    "data-parallel-rank"};

std::optional<std::string> parse_output(std::string_view value, output_length_spec& out) {
  // sim | fixed:N | uniform:A:B | normal:MEAN:SD
  auto parts = std::vector<std::string>{};
  std::string cur;
  for (char c : value) {
    if (c == ':') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  auto number = [&](size_t i, double& x) { return parse_double(parts[i], x); };
  if (parts[0] == "sim" && parts.size() == 1) {
    out = {output_length_spec::kind::sim, 0, 0};
    return std::nullopt;
  }
  if (parts[0] == "fixed" && parts.size() == 2) {
    out.type = output_length_spec::kind::fixed;
    if (auto e = number(1, out.a)) return e;
    if (out.a < 1) return std::string("fixed output length must be at least 1");
    return std::nullopt;
  }
  if ((parts[0] == "uniform" || parts[0] == "normal") && parts.size() == 3) {
    out.type = parts[0] == "uniform" ? output_length_spec::kind::uniform
                                     : output_length_spec::kind::normal;
    if (auto e = number(1, out.a)) return e;
    if (auto e = number(2, out.b)) return e;
    if (out.type == output_length_spec::kind::uniform && (out.a < 1 || out.b < out.a))
      return std::string("uniform output length needs 1 <= A <= B");
    if (out.type == output_length_spec::kind::normal && (out.a < 1 || out.b < 0))
      return std::string("normal output length needs MEAN >= 1 and SD >= 0");
    return std::nullopt;
  }
  return "expected sim, fixed:N, uniform:A:B or normal:MEAN:SD, got '" + std::string(value) + "'";
}

}  // namespace

std::optional<std::string> set_pod_option(pod_settings& s, std::string_view key,
                                          std::string_view value, const std::string& profiles_dir) {
  auto fail = [&](std::optional<std::string> err) -> std::optional<std::string> {
    if (!err) return std::nullopt;
    return "option " + std::string(key) + ": " + *err;
  };
  if (engine::is_sim_latency_option(key))
    return fail(engine::set_sim_latency_option(s.sim, key, value));
  if (key == "model") {
    s.model = value;
    return std::nullopt;
  }
  if (key == "served-model-name") {
    s.served_model_names = split_list(value);
    return std::nullopt;
  }
  if (key == "pod-name") {
    s.pod_name = value;
    return std::nullopt;
  }
  if (key == "pod-address") {
    s.address = value;
    return std::nullopt;
  }
  if (key == "port") return fail(parse_uint_as(value, s.port));
  if (key == "max-num-seqs") return fail(parse_uint_as(value, s.engine.max_num_seqs));
  if (key == "max-num-batched-tokens")
    return fail(parse_uint_as(value, s.engine.max_num_batched_tokens));
  if (key == "max-model-len") return fail(parse_uint_as(value, s.engine.max_model_len));
  if (key == "max-waiting-queue-length") return fail(parse_uint_as(value, s.engine.max_waiting));
  if (key == "max-loras") return fail(parse_uint_as(value, s.engine.max_loras));
  if (key == "block-size") {
    uint32_t b = 0;
    if (auto e = parse_uint_as(value, b)) return fail(e);
    if (b != 8 && b != 16 && b != 32 && b != 64 && b != 128)
      return fail(std::string("must be 8, 16, 32, 64 or 128"));
    s.engine.kv.block_size = b;
    return std::nullopt;
  }
  if (key == "kv-cache-size" || key == "num-gpu-blocks")
    return fail(parse_uint_as(value, s.engine.kv.num_gpu_blocks));
  if (key == "hash-seed") {
    s.engine.kv.hash_seed = value;
    return std::nullopt;
  }
  if (key == "enable-prefix-caching")
    return fail(parse_bool(value, s.engine.enable_prefix_caching));
  if (key == "no-enable-prefix-caching") {
    s.engine.enable_prefix_caching = false;
    return std::nullopt;
  }
  if (key == "enable-chunked-prefill")
    return fail(parse_bool(value, s.engine.enable_chunked_prefill));
  if (key == "enable-kvcache") return fail(parse_bool(value, s.kv_events));
  if (key == "zmq-endpoint") {
    s.zmq_endpoint = value;
    return std::nullopt;
  }
  if (key == "kv-events-replay-endpoint") {
    s.replay_endpoint = value;
    return std::nullopt;
  }
  if (key == "kv-events-replay-queue-size") return fail(parse_uint_as(value, s.replay_buffer));
  if (key == "event-batch-size") return fail(parse_uint_as(value, s.event_batch_size));
  if (key == "use-vllm-map-event-format") {
    bool map = false;
    if (auto e = parse_bool(value, map)) return fail(e);
    s.event_format = map ? runtime::event_format::map : runtime::event_format::array;
    return std::nullopt;
  }
  if (key == "mode") {
    if (value != "echo" && value != "random") return fail(std::string("must be echo or random"));
    s.mode = value;
    return std::nullopt;
  }
  if (key == "seed") {
    if (auto e = parse_uint(value, s.seed)) return fail(e);
    s.engine.seed = s.seed;
    return std::nullopt;
  }
  if (key == "output-length") return fail(parse_output(value, s.output));
  if (key == "kaito-profile") {
    // One of the KAITO mocker's named profiles, "<name>[:per-token|constant]": what
    // `inferstack dev` picks from the model size, handed to a pod process by the control plane.
    auto text = std::string(value);
    auto colon = text.find(':');
    auto calc = colon == std::string::npos ? std::string("per-token") : text.substr(colon + 1);
    if (calc != "per-token" && calc != "constant")
      return fail("expected per-token or constant after ':', got '" + calc + "'");
    auto params = engine::kaito_sim_params(
        text.substr(0, colon),
        calc == "constant" ? engine::sim_calculator::constant : engine::sim_calculator::per_token);
    if (!params) return fail("unknown KAITO profile '" + text.substr(0, colon) + "'");
    s.sim = *params;
    s.profile.reset();
    s.profile_source = "kaito:" + text;
    return std::nullopt;
  }
  if (key == "profile") {
    std::string path(value);
    if (!std::filesystem::exists(path)) path = profiles_dir + "/" + std::string(value) + ".yaml";
    try {
      s.profile = engine::load_step_profile(path);
      s.profile_source = path;
    } catch (const std::exception& e) {
      return fail(std::string(e.what()));
    }
    return std::nullopt;
  }
  if (key == "failure-injection-rate") {
    double rate = 0;
    if (auto e = parse_double(value, rate)) return fail(e);
    if (rate < 0 || rate > 100) return fail(std::string("must be between 0 and 100"));
    s.failure_injection_rate = rate;
    return std::nullopt;
  }
  if (key == "failure-types") {
    auto types = split_list(value);
    for (const auto& t : types)
      if (!failure_type_names.count(t))
        return fail("unknown failure type '" + t +
                    "' (rate_limit, invalid_api_key, context_length, server_error, "
                    "invalid_request, model_not_found)");
    s.failure_types = types;
    return std::nullopt;
  }
  if (key == "startup-duration") return fail(parse_ms_duration(value, s.startup_duration_ns));
  if (key == "load-report-interval")
    return fail(parse_ms_duration(value, s.load_report_interval_ns));
  if (key == "kv-events-bind") return fail(parse_bool(value, s.kv_events_bind));
  if (key == "load-report-heartbeat")
    return fail(parse_ms_duration(value, s.load_report_heartbeat_ns));
  if (key == "enable-request-id-headers")
    return fail(parse_bool(value, s.enable_request_id_headers));
  if (key == "enable-return-error-header")
    return fail(parse_bool(value, s.enable_return_error_header));
  if (key == "max-request-body-size-mb") return fail(parse_uint_as(value, s.max_request_body_mb));
  if (key == "enable-sleep-mode") return fail(parse_bool(value, s.enable_sleep_mode));
  if (key == "no-enable-sleep-mode") {
    bool off = false;
    auto err = parse_bool(value, off);
    if (!err && off) s.enable_sleep_mode = false;
    return fail(err);
  }
  if (key == "default-embedding-dimensions")
    return fail(parse_uint_as(value, s.default_embedding_dimensions));
  if (key == "data-parallel-size") {
    if (value != "1") return fail(std::string("only 1 is supported (run one pod per rank)"));
    return std::nullopt;
  }
  if (key == "lora-modules") {
    // JSON objects {"name","path","base_model_name"}, one per list item (comma/space separated
    // when given as one string, as the simulator's flag allows).
    std::string text(value);
    std::vector<std::string> items;
    int depth = 0;
    std::string cur;
    for (char c : text) {
      if (c == '{') ++depth;
      if (depth > 0) cur += c;
      if (c == '}' && --depth == 0) {
        items.push_back(cur);
        cur.clear();
      }
    }
    if (items.empty() && !text.empty())
      return fail(std::string(R"(expected JSON objects like {"name":"a","path":"/p"})"));
    for (const auto& item : items) {
      auto j = nlohmann::json::parse(item, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("name") || !j["name"].is_string())
        return fail("bad LoRA module " + item);
      lora_module m;
      m.name = j["name"].get<std::string>();
      if (j.contains("path") && j["path"].is_string()) m.path = j["path"].get<std::string>();
      if (j.contains("base_model_name") && j["base_model_name"].is_string())
        m.base_model = j["base_model_name"].get<std::string>();
      s.lora_modules.push_back(m);
    }
    return std::nullopt;
  }
  if (ignored_options.count(key)) return std::nullopt;
  return "unknown option " + std::string(key);
}

std::vector<std::string> apply_pod_options(pod_settings& s,
                                           const std::map<std::string, std::string>& options,
                                           const std::string& profiles_dir) {
  std::vector<std::string> problems;
  for (const auto& [key, value] : options)
    if (auto err = set_pod_option(s, key, value, profiles_dir)) problems.push_back(*err);
  return problems;
}

std::vector<std::string> finish_pod_settings(pod_settings& s) {
  std::vector<std::string> problems;
  if (s.model.empty()) problems.push_back("option model: required");
  if (s.served_model_names.empty()) s.served_model_names.push_back(s.model);
  if (s.pod_name.empty()) s.pod_name = s.model;
  if (s.address.empty()) s.address = "127.0.0.1:" + std::to_string(s.port);
  s.engine.seed = s.seed;
  s.engine.kv.enable_events = s.kv_events;
  for (auto& p : s.engine.validate())
    problems.push_back("engine: " + p);
  if (!s.profile) {
    for (auto& p : s.sim.validate())
      problems.push_back("latency: " + p);
  }
  return problems;
}

std::vector<std::string> pod_option_names() {
  std::vector<std::string> names{"model",
                                 "served-model-name",
                                 "pod-name",
                                 "pod-address",
                                 "port",
                                 "max-num-seqs",
                                 "max-num-batched-tokens",
                                 "max-model-len",
                                 "max-waiting-queue-length",
                                 "max-loras",
                                 "block-size",
                                 "kv-cache-size",
                                 "num-gpu-blocks",
                                 "hash-seed",
                                 "enable-prefix-caching",
                                 "no-enable-prefix-caching",
                                 "enable-chunked-prefill",
                                 "enable-kvcache",
                                 "zmq-endpoint",
                                 "kv-events-replay-endpoint",
                                 "kv-events-replay-queue-size",
                                 "event-batch-size",
                                 "use-vllm-map-event-format",
                                 "mode",
                                 "seed",
                                 "output-length",
                                 "profile",
                                 "failure-injection-rate",
                                 "failure-types",
                                 "startup-duration",
                                 "load-report-interval",
                                 "load-report-heartbeat",
                                 "kv-events-bind",
                                 "kaito-profile",
                                 "enable-request-id-headers",
                                 "enable-return-error-header",
                                 "max-request-body-size-mb",
                                 "enable-sleep-mode",
                                 "no-enable-sleep-mode",
                                 "default-embedding-dimensions",
                                 "data-parallel-size",
                                 "lora-modules",
                                 "latency-calculator",
                                 "time-to-first-token",
                                 "time-to-first-token-std-dev",
                                 "inter-token-latency",
                                 "inter-token-latency-std-dev",
                                 "prefill-overhead",
                                 "prefill-time-per-token",
                                 "prefill-time-std-dev",
                                 "kv-cache-transfer-latency",
                                 "kv-cache-transfer-latency-std-dev",
                                 "kv-cache-transfer-time-per-token",
                                 "kv-cache-transfer-time-std-dev",
                                 "time-factor-under-load"};
  for (const auto& i : ignored_options)
    names.push_back(i);
  return names;
}

std::unique_ptr<engine::latency_model> make_latency_model(const pod_settings& s) {
  if (s.profile) return std::make_unique<engine::step_latency_model>(*s.profile);
  return std::make_unique<engine::sim_latency_model>(engine::sim_latency(s.sim), "sim");
}

}  // namespace inferstack::actors::pod
