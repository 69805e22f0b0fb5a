// A pod's settings, named like llm-d-inference-sim's flags so that a user can swap binaries:
// `inferstack run pod --model X --max-num-seqs 8 --time-to-first-token 100ms` means what it means
// for the simulator. The same names are the keys of a ModelPreset's `spec.engine` map.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "actors/pod/engine/engine.hpp"
#include "actors/pod/engine/latency.hpp"
#include "actors/pod/fake_metrics.hpp"
#include "runtime/kv_events.hpp"

namespace inferstack::actors::pod {

/// How many tokens a response has.
struct output_length_spec {
  enum class kind {
    sim,      ///< llm-d-inference-sim's rule (buckets under max_tokens, N(40,20) without)
    fixed,    ///< always `a` tokens (capped by max_tokens)
    uniform,  ///< uniform in [a, b]
    normal,   ///< N(a, b), at least 1
  };
  kind type = kind::sim;
  double a = 0;
  double b = 0;
};

struct lora_module {
  std::string name;
  std::string path;
  std::string base_model;
};

/// llm-d-inference-sim's tool-call generation settings, stored and validated as the simulator does
/// (config.go); the chat handler's tool-call generation reads them (issue 20, next step).
struct tool_call_settings {
  int64_t max_integer_param = 100;
  int64_t min_integer_param = 0;
  double max_number_param = 100;
  double min_number_param = 0;
  int64_t max_array_param_length = 5;
  int64_t min_array_param_length = 1;
  int not_required_param_probability = 50;         ///< percent
  int object_not_required_field_probability = 50;  ///< percent
  int extra_call_probability = 45;                 ///< percent
  bool skip_validation = false;                    ///< accept any tool schema, as vLLM does
};

/// The engine's defaults, plus inferstack's LoRA swap-in times (--lora-load-time,
/// --lora-cpu-load-time; ours, estimates, as vLLM has no such figure): 50 ms from disk (guides
/// quote ~50 ms per swap, 100-500 ms with CPU offload) and 5 ms from the CPU cache (a ~100 MB
/// rank-16 adapter over PCIe 4.0 x16 at ~25 GB/s, plus set-up). The simulator has neither: 0.
inline engine::engine_config pod_engine_defaults() {
  engine::engine_config c;
  c.lora_load_ns = 50'000'000;
  c.lora_cpu_load_ns = 5'000'000;
  return c;
}

struct pod_settings {
  std::string pod_name;  ///< identity in logs, load reports and metrics (POD_NAME)
  std::string address;   ///< "<ip>:<port>" in the KV-event topic kv@<address>@<model>
  std::string model;     ///< base model (--model)
  std::vector<std::string> served_model_names;  ///< aliases; default: {model}
  uint16_t port = 8000;                         ///< the pod's own HTTP listener when run alone

  engine::engine_config engine = pod_engine_defaults();
  /// Latency: a step profile (--profile) or the simulator's calculators (--time-to-first-token,
  /// ...). Neither given: the simulator's defaults (all zero).
  std::optional<engine::step_profile> profile;
  std::string profile_source;  ///< file or name the profile came from
  engine::sim_latency_params sim;

  std::string mode = "random";  ///< echo | random
  uint64_t seed = 0;
  output_length_spec output;

  std::vector<lora_module> lora_modules;

  double failure_injection_rate = 0;  ///< percent, 0..100
  std::vector<std::string> failure_types;

  int64_t startup_duration_ns = 0;  ///< /health/ready answers 503 this long after start

  bool kv_events = true;           ///< publish KV events
  std::string zmq_endpoint;        ///< PUB endpoint; binds when it contains '*', else connects
  bool kv_events_bind = false;     ///< bind zmq_endpoint whatever it looks like
  std::string replay_endpoint;     ///< ROUTER endpoint for replay requests; empty: none
  uint32_t replay_buffer = 10000;  ///< batches kept for replay (vLLM's buffer_steps)
  uint32_t event_batch_size = 16;
  runtime::event_format event_format = runtime::event_format::array;

  int64_t load_report_interval_ns = 50'000'000;  ///< at most one load report per interval
  /// At least one load report per heartbeat, changed or not (0: only on change): a subscriber
  /// that joins late, or a picker judging staleness, hears from an idle pod too -- as vLLM's
  /// /metrics, scraped every 50 ms, would tell it.
  int64_t load_report_heartbeat_ns = 500'000'000;
  bool enable_request_id_headers = false;
  /// Honour X-Return-Error (the simulator's fault injection header): off unless the operator
  /// turns it on for this pod, so no client can make a pod fail.
  bool enable_return_error_header = false;
  uint32_t max_request_body_mb = 4;
  /// llm-d-inference-sim's sleep mode: /sleep, /wake_up and /is_sleeping act only with this on
  /// (and VLLM_SERVER_DEV_MODE=1 in the environment, as vLLM asks).
  bool enable_sleep_mode = false;
  /// /v1/embeddings: the vector size when a request gives no `dimensions`.
  uint32_t default_embedding_dimensions = 384;
  /// Data parallelism: -1 (all ranks in this process) or the one rank this process serves
  /// (then data-parallel-size is ignored and the KV-event ports are offset by the rank).
  int data_parallel_rank = -1;
  uint32_t data_parallel_size = 1;  ///< ranks `run pod` serves, on port, port+1, ...
  /// HTTPS on the pod's port, as the simulator: a certificate and key (PEM files, read again
  /// when they change), or a self-signed pair made at start. Neither: plain HTTP.
  std::string ssl_certfile;
  std::string ssl_keyfile;
  bool self_signed_certs = false;
  /// Omni mode, as the simulator's: chat completions may come back with a synthetic image (on
  /// X-Send-Image: true, or with this percent chance), which takes time-to-generate-image
  /// (normal, with its std-dev) after the last token. The rate and times change at run time.
  bool omni = false;
  /// --mm-encoder-only, as the simulator's: no language model -- every answer is "!" times
  /// max_tokens (finish length, echo mode ignored), a chat completion with images carries
  /// ec_transfer_params, no KV cache (no KV events), no /v1/embeddings.
  bool mm_encoder_only = false;
  int image_emission_rate = 0;
  int64_t time_to_generate_image_ns = 0;
  int64_t time_to_generate_image_std_dev_ns = 0;
  /// LoRAs kept in CPU memory: 0 means max-loras; never less than max-loras. The engine's CPU
  /// cache (engine.max_cpu_loras): an adapter swapped in from it costs --lora-cpu-load-time.
  uint32_t max_cpu_loras = 0;
  /// One access-log line per HTTP request (the simulator's --log-http logs each request too).
  bool log_http = true;
  /// The cache_hit_threshold of requests that give none, in [0, 1] (0: none): with KV events on,
  /// a request less cached than its threshold finishes at once with cache_threshold.
  double global_cache_hit_threshold = 0;
  tool_call_settings tool_calls;
  /// --fake-metrics / the config file's fake-metrics: /metrics reports these instead of the
  /// measured values (llm-d-inference-sim's meaning); refreshed in steps of the interval.
  std::optional<fake_metrics> fake;
  int64_t fake_metrics_refresh_ns = 100'000'000;

  /// A standalone `inferstack run pod`: without a latency profile it takes llm-d-inference-sim's
  /// defaults (finish_pod_settings, simulator_defaults). Off: inferstack's defaults.
  bool simulator_defaults = false;
  /// Option names given explicitly (command line, config file, preset, environment): a mode's
  /// defaults never replace them.
  std::set<std::string, std::less<>> given;

  /// The name the pod reports for `requested` (an alias maps to the first served name).
  std::string display_model(const std::string& requested) const;
  bool serves(const std::string& name) const;
};

/// Sets one option by its flag name (without dashes). Returns an error message naming the
/// option ("--key: why") for an unknown key, a bad value or a simulator flag inferstack refuses.
/// A list option (served-model-name, lora-modules, failure-types) takes its items separated by
/// spaces or commas: the command line and a YAML list join their items so.
/// `profiles_dir` resolves --profile NAME.
std::optional<std::string> set_pod_option(pod_settings& s, std::string_view key,
                                          std::string_view value,
                                          const std::string& profiles_dir = "config/profiles");

/// Applies a key -> value map (a ModelPreset's spec.engine); every problem is reported.
std::vector<std::string> apply_pod_options(pod_settings& s,
                                           const std::map<std::string, std::string>& options,
                                           const std::string& profiles_dir = "config/profiles");

/// Final checks and defaults after all options are set (served names, engine config).
/// `now_ns` seeds a simulator-mode pod that was given no --seed (the simulator uses the time).
std::vector<std::string> finish_pod_settings(pod_settings& s, int64_t now_ns = 0);

/// llm-d-inference-sim's defaults where they differ from inferstack's, for options not given:
/// applied by finish_pod_settings when s.simulator_defaults is on and no latency profile
/// (--profile, --kaito-profile) was chosen.
void apply_simulator_defaults(pod_settings& s, int64_t now_ns);

/// Rank `rank` of a --data-parallel-size run, as the simulator starts it: the port, the
/// KV-event endpoints and the address in the KV-event topic moved up by the rank, and the rank
/// in the published batches.
pod_settings rank_settings(const pod_settings& s, int rank);

/// The simulator's checks of the omni image settings (config.go validate); nullopt when valid.
std::optional<std::string> validate_omni(const pod_settings& s);

/// Every option name set_pod_option understands, for --help and error messages.
std::vector<std::string> pod_option_names();

/// The latency model the settings describe.
std::unique_ptr<engine::latency_model> make_latency_model(const pod_settings& s);

}  // namespace inferstack::actors::pod
