#include "actors/pod/pod_settings.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
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

/// Go's strconv.ParseBool, and "" for a flag given without a value (true).
std::optional<std::string> parse_bool(std::string_view value, bool& out) {
  for (std::string_view t : {"", "1", "t", "T", "true", "TRUE", "True"})
    if (value == t) {
      out = true;
      return std::nullopt;
    }
  for (std::string_view f : {"0", "f", "F", "false", "FALSE", "False"})
    if (value == f) {
      out = false;
      return std::nullopt;
    }
  return "expected true or false, got '" + std::string(value) + "'";
}

/// A signed integer (the simulator's int flags).
std::optional<std::string> parse_int(std::string_view value, int64_t& out) {
  auto text = value;
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size())
    return "expected an integer, got '" + std::string(value) + "'";
  return std::nullopt;
}

std::optional<std::string> parse_percent(std::string_view value, int& out) {
  int64_t v = 0;
  if (auto e = parse_int(value, v)) return e;
  if (v < 0 || v > 100) return std::string("must be between 0 and 100");
  out = static_cast<int>(v);
  return std::nullopt;
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

// Flags llm-d-inference-sim itself accepts and ignores (config.go: "Ignored parameters"):
// accepted and ignored here too. (enable-prefix-caching, which the simulator also ignores, is
// honoured here: the engine models prefix caching.)
const std::set<std::string, std::less<>> ignored_options{
    "enforce-eager", "no-enforce-eager", "tensor-parallel-size", "mm-processor-kwargs",
    "ec-transfer-config"};

// Simulator flags inferstack does not implement: refused with the reason, unless the value is the
// simulator's default (a config file that spells out a default asks for nothing).
enum class default_kind { off, empty, zero, text, duration };
struct refused_option {
  std::string_view key;
  default_kind kind;
  std::string_view default_value;  ///< for text and duration
  std::string_view reason;
};
constexpr std::string_view no_dataset =
    "SQLite response datasets are not supported by inferstack's pod; responses come from --mode "
    "(random or echo)";
constexpr std::string_view no_render =
    "inferstack tokenizes locally; there is no render (tokenizer) service to call";
constexpr refused_option refused_options[] = {
    {"dataset-path", default_kind::empty, "", no_dataset},
    {"dataset-url", default_kind::empty, "", no_dataset},
    {"dataset-in-memory", default_kind::off, "", no_dataset},
    {"dataset-table-name", default_kind::text, "llmd", no_dataset},
    {"render-url", default_kind::text, "http://localhost:8082", no_render},
    {"render-timeout", default_kind::duration, "30s", no_render},
    {"mm-render-timeout", default_kind::duration, "60s", no_render},
};

/// The refusal of `key` = `value`, if it is a refused option and the value asks for something.
std::optional<std::string> refusal(std::string_view key, std::string_view value, bool& known) {
  for (const auto& r : refused_options) {
    if (r.key != key) continue;
    known = true;
    bool is_default = false;
    switch (r.kind) {
      case default_kind::off: {
        bool on = true;
        is_default = !parse_bool(value, on) && !on;
        break;
      }
      case default_kind::empty:
        is_default = value.empty();
        break;
      case default_kind::zero: {
        int64_t v = 1;
        is_default = !parse_int(value, v) && v == 0;
        break;
      }
      case default_kind::text:
        is_default = value == r.default_value;
        break;
      case default_kind::duration: {
        int64_t d = -1, want = -2;
        is_default =
            !parse_ms_duration(value, d) && !parse_ms_duration(r.default_value, want) && d == want;
        break;
      }
    }
    if (is_default) return std::nullopt;
    return std::string(r.reason);
  }
  return std::nullopt;
}

/// "tcp://host:port" with the port moved by `offset` (the simulator's OffsetEndpointPort);
/// unchanged when the port is not a number (e.g. "*").
std::string offset_endpoint_port(const std::string& endpoint, int offset) {
  auto colon = endpoint.rfind(':');
  if (colon == std::string::npos || offset == 0) return endpoint;
  uint64_t port = 0;
  if (parse_uint(std::string_view(endpoint).substr(colon + 1), port) || port == 0) return endpoint;
  return endpoint.substr(0, colon + 1) + std::to_string(port + static_cast<uint64_t>(offset));
}

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
    return "--" + std::string(key) + ": " + *err;
  };
  s.given.insert(std::string(key));
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
    // The simulator's seed is an int64 (negative seeds are valid); inferstack's control plane
    // hands its pods a uint64.
    int64_t seed = 0;
    if (parse_uint(value, s.seed)) {
      if (auto e = parse_int(value, seed)) return fail(e);
      s.seed = static_cast<uint64_t>(seed);
    }
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
    int rate = 0;  // an int percent, as the simulator's
    if (auto e = parse_percent(value, rate)) return fail(e);
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
    if (auto e = parse_uint_as(value, s.data_parallel_size)) return fail(e);
    if (s.data_parallel_size < 1 || s.data_parallel_size > 8)
      return fail(std::string("must be between 1 and 8"));
    return std::nullopt;  // above 1 without a rank: refused by finish_pod_settings
  }
  if (key == "data-parallel-rank") {
    int64_t rank = 0;
    if (auto e = parse_int(value, rank)) return fail(e);
    if (rank > 7) return fail(std::string("must be between 0 and 7"));
    s.data_parallel_rank = rank < 0 ? -1 : static_cast<int>(rank);
    return std::nullopt;
  }
  if (key == "max-cpu-loras") return fail(parse_uint_as(value, s.max_cpu_loras));
  if (key == "lora-load-time") return fail(parse_ms_duration(value, s.engine.lora_load_ns));
  if (key == "lora-cpu-load-time") return fail(parse_ms_duration(value, s.engine.lora_cpu_load_ns));
  if (key == "ssl-certfile") {
    s.ssl_certfile = value;
    return std::nullopt;
  }
  if (key == "ssl-keyfile") {
    s.ssl_keyfile = value;
    return std::nullopt;
  }
  if (key == "self-signed-certs") return fail(parse_bool(value, s.self_signed_certs));
  if (key == "omni") return fail(parse_bool(value, s.omni));
  if (key == "image-emission-rate") {
    int64_t rate = 0;
    if (auto e = parse_int(value, rate)) return fail(e);
    if (rate < 0 || rate > 100)
      return fail(std::string("image emission rate should be between 0 and 100"));
    s.image_emission_rate = static_cast<int>(rate);
    return std::nullopt;
  }
  if (key == "time-to-generate-image")
    return fail(parse_ms_duration(value, s.time_to_generate_image_ns));
  if (key == "time-to-generate-image-std-dev")
    return fail(parse_ms_duration(value, s.time_to_generate_image_std_dev_ns));
  if (key == "log-http") return fail(parse_bool(value, s.log_http));
  if (key == "force-dummy-tokenizer") {
    // inferstack always uses its own local tokenizer, which is what this flag forces.
    bool ignored = false;
    return fail(parse_bool(value, ignored));
  }
  if (key == "no-omni") {
    bool off = false;
    auto err = parse_bool(value, off);
    if (!err && off) s.omni = false;
    return fail(err);
  }
  if (key == "mm-encoder-only") return fail(parse_bool(value, s.mm_encoder_only));
  if (key == "no-mm-encoder-only") {
    bool off = false;
    auto err = parse_bool(value, off);
    if (!err && off) s.mm_encoder_only = false;
    return fail(err);
  }
  if (key == "global-cache-hit-threshold") {
    double t = 0;
    if (auto e = parse_double(value, t)) return fail(e);
    if (t < 0 || t > 1) return fail(std::string("must be in the range [0, 1]"));
    s.global_cache_hit_threshold = t;
    return std::nullopt;
  }
  auto& tc = s.tool_calls;
  if (key == "max-tool-call-integer-param") return fail(parse_int(value, tc.max_integer_param));
  if (key == "min-tool-call-integer-param") return fail(parse_int(value, tc.min_integer_param));
  if (key == "max-tool-call-number-param") return fail(parse_double(value, tc.max_number_param));
  if (key == "min-tool-call-number-param") return fail(parse_double(value, tc.min_number_param));
  if (key == "max-tool-call-array-param-length")
    return fail(parse_int(value, tc.max_array_param_length));
  if (key == "min-tool-call-array-param-length")
    return fail(parse_int(value, tc.min_array_param_length));
  if (key == "tool-call-not-required-param-probability")
    return fail(parse_percent(value, tc.not_required_param_probability));
  if (key == "object-tool-call-not-required-field-probability")
    return fail(parse_percent(value, tc.object_not_required_field_probability));
  if (key == "tool-call-extra-call-probability")
    return fail(parse_percent(value, tc.extra_call_probability));
  if (key == "skip-tool-validation") return fail(parse_bool(value, tc.skip_validation));
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
    if (items.empty() && text.find_first_not_of(" ,") != std::string::npos)
      return fail(std::string(R"(expected JSON objects like {"name":"a","path":"/p"})"));
    s.lora_modules.clear();  // the last setting wins (a flag replaces the config file's list)
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
  if (key == "fake-metrics") {
    if (value.empty()) {  // the simulator's default: none
      s.fake.reset();
      return std::nullopt;
    }
    fake_metrics f;
    if (auto e = parse_fake_metrics(value, f)) return fail(e);
    s.fake = std::move(f);
    return std::nullopt;
  }
  if (key == "fake-metrics-refresh-interval")
    return fail(parse_ms_duration(value, s.fake_metrics_refresh_ns));
  if (ignored_options.count(key)) return std::nullopt;
  bool refused = false;
  if (auto why = refusal(key, value, refused)) return fail(why);
  if (refused) return std::nullopt;  // the simulator's default: nothing asked for
  return fail(std::string("unknown option (neither llm-d-inference-sim's nor inferstack's)"));
}

std::vector<std::string> apply_pod_options(pod_settings& s,
                                           const std::map<std::string, std::string>& options,
                                           const std::string& profiles_dir) {
  std::vector<std::string> problems;
  for (const auto& [key, value] : options)
    if (auto err = set_pod_option(s, key, value, profiles_dir)) problems.push_back(*err);
  return problems;
}

void apply_simulator_defaults(pod_settings& s, int64_t now_ns) {
  auto unset = [&](std::initializer_list<std::string_view> keys) {
    return std::none_of(keys.begin(), keys.end(), [&](auto k) { return s.given.count(k) > 0; });
  };
  // llm-d-inference-sim's newConfig() where it differs from inferstack's defaults.
  if (unset({"max-num-seqs"})) s.engine.max_num_seqs = 5;
  if (unset({"max-model-len"})) s.engine.max_model_len = 1024;
  if (unset({"kv-cache-size", "num-gpu-blocks"})) s.engine.kv.num_gpu_blocks = 1024;
  if (unset({"enable-kvcache"})) s.kv_events = false;
  if (unset({"zmq-endpoint"})) s.zmq_endpoint = "tcp://127.0.0.1:5557";
  if (unset({"kv-events-replay-queue-size"})) s.replay_buffer = 1024;
  if (unset({"log-http"})) s.log_http = false;
  // The simulator honours X-Return-Error always (fault injection is what it is run for).
  if (unset({"enable-return-error-header"})) s.enable_return_error_header = true;
  if (unset({"seed"})) s.seed = static_cast<uint64_t>(now_ns);  // time.Now().UnixNano()
  if (unset({"lora-load-time"})) s.engine.lora_load_ns = 0;     // it loads adapters instantly
  if (unset({"lora-cpu-load-time"})) s.engine.lora_cpu_load_ns = 0;
}

std::vector<std::string> finish_pod_settings(pod_settings& s, int64_t now_ns) {
  std::vector<std::string> problems;
  // The one place a pod's defaults are chosen: a standalone pod without a latency profile is
  // llm-d-inference-sim and takes its defaults; any other keeps inferstack's (the fields'
  // initializers: 256 sequences, 8192 tokens, 8192 blocks, KV events on, ...).
  if (s.simulator_defaults && !s.profile && s.profile_source.empty()) {
    if (now_ns == 0)
      now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    apply_simulator_defaults(s, now_ns);
  }
  if (s.model.empty()) problems.push_back("--model: required (or SIM_MODEL in the environment)");
  if (s.served_model_names.empty()) s.served_model_names.push_back(s.model);
  if (s.pod_name.empty()) s.pod_name = s.model;
  if (s.address.empty()) s.address = "127.0.0.1:" + std::to_string(s.port);
  s.engine.seed = s.seed;
  s.engine.kv.enable_events = s.kv_events;
  // The simulator's checks (config.go validate) of what the engine does not check itself.
  if (s.max_cpu_loras == 0) s.max_cpu_loras = s.engine.max_loras;
  if (s.max_cpu_loras < s.engine.max_loras)
    problems.push_back("--max-cpu-loras: cannot be less than --max-loras (" +
                       std::to_string(s.engine.max_loras) + ")");
  s.engine.max_cpu_loras = s.max_cpu_loras;
  for (const auto& l : s.lora_modules) {
    if (l.name.empty()) problems.push_back("--lora-modules: empty LoRA name");
    if (!l.base_model.empty() && l.base_model != s.model)
      problems.push_back("--lora-modules: unknown base model '" + l.base_model + "' for LoRA '" +
                         l.name + "'");
  }
  const auto& tc = s.tool_calls;
  if (tc.max_integer_param < tc.min_integer_param)
    problems.push_back(
        "--max-tool-call-integer-param: cannot be less than --min-tool-call-integer-param");
  if (tc.max_number_param < tc.min_number_param)
    problems.push_back(
        "--max-tool-call-number-param: cannot be less than --min-tool-call-number-param");
  if (tc.max_array_param_length < tc.min_array_param_length)
    problems.push_back(
        "--max-tool-call-array-param-length: cannot be less than "
        "--min-tool-call-array-param-length");
  if (tc.min_array_param_length < 0)
    problems.push_back("--min-tool-call-array-param-length: cannot be negative");
  if (s.fake) {
    if (auto e = validate_fake_metrics(*s.fake)) problems.push_back("--fake-metrics: " + *e);
    if (s.fake_metrics_refresh_ns <= 0)
      problems.push_back("--fake-metrics-refresh-interval: must be positive");
  }
  if (s.event_batch_size < 1) problems.push_back("--event-batch-size: cannot be less than 1");
  if (!s.replay_endpoint.empty() && s.replay_buffer < 1)
    problems.push_back("--kv-events-replay-queue-size: cannot be less than 1");
  if (s.max_request_body_mb < 1 || s.max_request_body_mb > 512)
    problems.push_back("--max-request-body-size-mb: must be between 1 and 512, got " +
                       std::to_string(s.max_request_body_mb));
  if (s.default_embedding_dimensions < 1)
    problems.push_back("--default-embedding-dimensions: must be at least 1");
  // Data parallelism. With a rank the simulator ignores the size and offsets the KV-event ports
  // by the rank; without one, `run pod` serves the size's ranks (rank_settings).
  if (s.data_parallel_rank >= 0) {
    s.zmq_endpoint = offset_endpoint_port(s.zmq_endpoint, s.data_parallel_rank);
    s.replay_endpoint = offset_endpoint_port(s.replay_endpoint, s.data_parallel_rank);
  }
  if (auto e = validate_omni(s)) problems.push_back(*e);
  // Encoder-only: the simulator starts no KV cache (it does not model images), so no events.
  if (s.mm_encoder_only) s.kv_events = s.engine.kv.enable_events = false;
  // HTTPS: the simulator's two checks (config.go validate).
  if (s.ssl_certfile.empty() != s.ssl_keyfile.empty())
    problems.push_back(
        "--ssl-certfile: both ssl-certfile and ssl-keyfile must be provided together");
  if (s.self_signed_certs && (!s.ssl_certfile.empty() || !s.ssl_keyfile.empty()))
    problems.push_back(
        "--self-signed-certs: cannot use both self-signed-certs and explicit "
        "ssl-certfile/ssl-keyfile");
  for (auto& p : s.engine.validate())
    problems.push_back("engine: " + p);
  if (!s.profile) {
    for (auto& p : s.sim.validate())
      problems.push_back("latency: " + p);
  }
  return problems;
}

pod_settings rank_settings(const pod_settings& s, int rank) {
  pod_settings r = s;
  r.data_parallel_rank = rank;
  if (rank == 0) return r;
  r.port = static_cast<uint16_t>(s.port + rank);
  r.zmq_endpoint = offset_endpoint_port(s.zmq_endpoint, rank);
  r.replay_endpoint = offset_endpoint_port(s.replay_endpoint, rank);
  // The address names the serving port in the KV-event topic (kv@<ip>:<port>@<model>).
  auto port_suffix = ":" + std::to_string(s.port);
  if (s.address.size() > port_suffix.size() &&
      s.address.compare(s.address.size() - port_suffix.size(), port_suffix.size(), port_suffix) ==
          0)
    r.address =
        s.address.substr(0, s.address.size() - port_suffix.size()) + ":" + std::to_string(r.port);
  return r;
}

std::optional<std::string> validate_omni(const pod_settings& s) {
  if (s.time_to_generate_image_ns < 0)
    return "--time-to-generate-image: time to generate image cannot be negative";
  if (s.time_to_generate_image_std_dev_ns < 0)
    return "--time-to-generate-image-std-dev: time to generate image standard deviation cannot be "
           "negative";
  if (static_cast<double>(s.time_to_generate_image_std_dev_ns) >
      0.3 * static_cast<double>(s.time_to_generate_image_ns))
    return "--time-to-generate-image-std-dev: time to generate image standard deviation cannot be "
           "more than 30% of time to generate image";
  return std::nullopt;
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
                                 "data-parallel-rank",
                                 "max-cpu-loras",
                                 "lora-load-time",
                                 "lora-cpu-load-time",
                                 "ssl-certfile",
                                 "ssl-keyfile",
                                 "self-signed-certs",
                                 "omni",
                                 "image-emission-rate",
                                 "time-to-generate-image",
                                 "time-to-generate-image-std-dev",
                                 "log-http",
                                 "force-dummy-tokenizer",
                                 "no-omni",
                                 "no-mm-encoder-only",
                                 "mm-encoder-only",
                                 "global-cache-hit-threshold",
                                 "max-tool-call-integer-param",
                                 "min-tool-call-integer-param",
                                 "max-tool-call-number-param",
                                 "min-tool-call-number-param",
                                 "max-tool-call-array-param-length",
                                 "min-tool-call-array-param-length",
                                 "tool-call-not-required-param-probability",
                                 "object-tool-call-not-required-field-probability",
                                 "tool-call-extra-call-probability",
                                 "skip-tool-validation",
                                 "lora-modules",
                                 "fake-metrics",
                                 "fake-metrics-refresh-interval",
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
  for (const auto& r : refused_options)  // known, so that they are refused with their reason
    names.emplace_back(r.key);
  return names;
}

std::unique_ptr<engine::latency_model> make_latency_model(const pod_settings& s) {
  if (s.profile) return std::make_unique<engine::step_latency_model>(*s.profile);
  return std::make_unique<engine::sim_latency_model>(engine::sim_latency(s.sim), "sim");
}

}  // namespace inferstack::actors::pod
