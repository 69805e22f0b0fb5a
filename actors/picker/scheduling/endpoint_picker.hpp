// The endpoint picker of one InferencePool, as a plain class: pool state, the configured llm-d
// scheduling framework (profile handler -> filters -> weighted scorers -> picker), the prefix
// indexes, admission and in-flight accounting. No threads, no I/O, no clocks: time comes in as
// now_ns, randomness from a generator seeded by the options, plugin timings from an injected
// callable. Not thread-safe: one owner (the picker actor) calls everything.
//
// Typical use by the actor:
//   auto built = build_endpoint_picker(config_or_null, options);   // config_loader.hpp
//   picker.add_endpoint(info) / remove_endpoint(name) / set_draining(name, true)  (membership)
//   picker.update_load(name, report, now)                        (load reports)
//   picker.apply_kv_events(pod, model, batch, now)               (decoded vLLM KV events)
//   picker.clear_kv_index(pod)                                   (sequence gap, no replay)
//   picker.schedule(request, now, result)                        (pick; result.status)
//   picker.pre_request(request, result, now)                     (once forwarded)
//   picker.response_started(id, now) / response_complete(id, now)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actors/picker/scheduling/endpoint_state.hpp"
#include "actors/picker/scheduling/plugin.hpp"
#include "actors/picker/scheduling/producers.hpp"
#include "actors/picker/scheduling/saturation.hpp"
#include "runtime/kv_events.hpp"

namespace inferstack::actors::picker {

struct picker_options {
  uint64_t seed = 1;  ///< all random choices (tie-breaks, random pickers) derive from it
  /// A pod silent longer than this counts as saturated (load scorers score it as fully loaded,
  /// the saturation detector counts it 1.0) but stays a candidate. 0 disables.
  int64_t staleness_ns = 2'000'000'000;
  /// Time source for plugin_duration_seconds / scheduler_e2e_duration_seconds; empty: no timings.
  std::function<int64_t()> clock;
  /// Retry-After hint for shed requests.
  int64_t shed_retry_after_ns = 1'000'000'000;
  /// In-flight accounting of a request that never completes is dropped after this.
  int64_t request_timeout_ns = 600'000'000'000;
  /// inflight-load-producer: keep tokens until completion, adding output_ratio x prompt tokens
  /// (addEstimatedOutputTokens); otherwise prompt tokens are released at the first chunk.
  bool add_estimated_output_tokens = false;
  double output_ratio = 1.5;
  int64_t max_estimated_output_tokens = -1;  ///< cap on that estimate; -1: none
  /// The prefix producer whose match discounts cached prompt tokens (prefixMatchInfoProducerName).
  int inflight_producer = 0;
};

/// Gauges for the pool metrics (inference_pool_*, prefix_indexer_size, saturation).
struct pool_metrics {
  size_t endpoints = 0;
  size_t ready_endpoints = 0;  ///< inference_pool_ready_pods
  double average_kv_cache_utilization = 0;
  double average_queue_size = 0;
  double average_running_requests = 0;
  double saturation = 0;             ///< inference_extension_flow_control_pool_saturation
  size_t approx_prefix_entries = 0;  ///< prefix_indexer_size (approximate index)
  size_t precise_prefix_keys = 0;    ///< llm_d_epp_kv_cache index size (precise index)
  size_t prefix_index_bytes = 0;
  size_t in_flight_requests = 0;
};

/// One endpoint's prefix match as one producer sees it (raw match; scorers normalise it).
struct prefix_match_report {
  std::string endpoint;
  std::string producer;  ///< plugin name of the producer
  prefix_match match;
};

struct kv_event_result {
  bool known_pod = false;  ///< the pod id matched a pool endpoint (else indexed under the id)
  kv_apply_stats stats;
};

class endpoint_picker {
 public:
  explicit endpoint_picker(picker_options options = {});
  ~endpoint_picker();
  endpoint_picker(const endpoint_picker&) = delete;
  endpoint_picker& operator=(const endpoint_picker&) = delete;

  // -- membership and load ------------------------------------------------------------------
  /// Adds a ready pod (or updates address/labels of a known one). Returns its id.
  uint32_t add_endpoint(endpoint_info info);
  /// Removes a pod and everything kept about it (prefix entries, in-flight accounting).
  bool remove_endpoint(std::string_view name);
  bool set_ready(std::string_view name, bool ready);
  bool set_draining(std::string_view name, bool draining);
  bool update_load(std::string_view name, const load_report& report, int64_t now_ns);

  // -- KV events ------------------------------------------------------------------------------
  /// Applies one decoded vLLM event batch from topic kv@<pod>@<model>. `pod` may be the pod's
  /// name or address. Feeds every precise prefix index (none configured: a no-op).
  kv_event_result apply_kv_events(std::string_view pod, std::string_view model,
                                  const runtime::event_batch& batch, int64_t now_ns);
  /// Forgets the pod's KV blocks (after a sequence gap that cannot be replayed).
  void clear_kv_index(std::string_view pod);
  bool uses_kv_events() const { return !precise_.empty(); }
  /// Subscription settings from the config (first precise producer), for the actor.
  const kv_events_settings* kv_events() const;

  // -- scheduling -----------------------------------------------------------------------------
  /// Admission + the profile loop. `out` is reused (no allocation once warm).
  void schedule(const pick_request& request, int64_t now_ns, schedule_result& out);
  schedule_result schedule(const pick_request& request, int64_t now_ns);
  /// After the request was forwarded to the result's target(s): prefix learning, in-flight
  /// accounting, session bindings. Pass the same request (or an equal copy).
  pre_request_report pre_request(const pick_request& request, schedule_result& result,
                                 int64_t now_ns);
  /// First response chunk: prompt tokens stop counting as in-flight load.
  void response_started(std::string_view request_id, int64_t now_ns);
  /// Response finished (or failed): the request stops counting on its pods.
  void response_complete(std::string_view request_id, int64_t now_ns);
  /// What the gateway observed for a request (TTFT, mean ITL; 0: not observed): for the
  /// latency models fitted online (predicted-latency-producer). Call before response_complete.
  void observe_latency(std::string_view request_id, int64_t ttft_ns, int64_t itl_ns);

  /// Every prefix producer's raw match for every schedulable endpoint, without scheduling or
  /// learning anything (debugging; the normalised scores are in schedule_result::runs).
  std::vector<prefix_match_report> explain_prefix(const pick_request& request, int64_t now_ns);

  // -- picker replicas (replication/replica_state.hpp) ---------------------------------------
  /// Another replica's in-flight load on `pod` changed by `requests` and `tokens` (counts never
  /// go below 0), and it made `picks` picks there that the pod's last load report cannot show.
  void add_peer_load(std::string_view pod, int64_t requests, int64_t tokens, int64_t picks);

  // -- state and metrics ----------------------------------------------------------------------
  double saturation(int64_t now_ns) const;
  bool saturated(int64_t now_ns) const { return saturation(now_ns) >= 1.0; }
  /// The detector the config chose; null: none (saturation() is then 0).
  const saturation_detector* detector() const { return detector_; }
  pool_metrics metrics(int64_t now_ns) const;
  const pool_state& pool() const { return pool_; }
  std::string_view endpoint_name(uint32_t id) const;
  /// The last schedule()'s candidates before any filter (schedulable, inside the subset hint).
  const std::vector<uint32_t>& cycle_candidates() const { return endpoints_; }

  const std::vector<profile_def>& profiles() const { return profiles_; }
  const profile_handler_plugin* profile_handler() const { return handler_; }
  const std::vector<std::unique_ptr<plugin>>& plugins() const { return plugins_; }
  plugin* find_plugin(std::string_view name) const;
  const std::vector<prefix_producer*>& prefix_producers() const { return producers_; }
  const std::vector<std::string>& feature_gates() const { return feature_gates_; }
  bool flow_control_enabled() const;
  const picker_options& options() const { return options_; }

  // -- assembly (the config loader builds pickers through these) ---------------------------------
  plugin* add_plugin(std::unique_ptr<plugin> p);
  void add_producer(prefix_producer* p);
  void add_profile(profile_def profile) { profiles_.push_back(std::move(profile)); }
  void set_profile_handler(profile_handler_plugin* h) { handler_ = h; }
  void set_saturation_detector(saturation_detector* d) { detector_ = d; }
  void set_feature_gates(std::vector<std::string> gates) { feature_gates_ = std::move(gates); }
  /// inflight-load-producer parameters.
  void set_inflight_options(bool add_estimated_output_tokens, double output_ratio,
                            int64_t max_estimated_output_tokens = -1) {
    options_.add_estimated_output_tokens = add_estimated_output_tokens;
    options_.output_ratio = output_ratio;
    options_.max_estimated_output_tokens = max_estimated_output_tokens;
  }
  void set_inflight_producer(int producer) { options_.inflight_producer = producer; }
  /// Wires hook lists and state slots; call once after assembly.
  void finalize();

 private:
  struct in_flight {
    uint32_t targets[2];
    uint8_t n = 0;
    bool tokens_released = false;
    int64_t tokens[2] = {0, 0};
    int64_t expires_ns = 0;
  };

  /// Runs a profile's plugins; `t`: the clock reading its first plugin's time starts at.
  /// Returns the reading its last one's ended at.
  int64_t run_profile(int index, cycle& c, schedule_result& out, int64_t t);
  /// Records the time `p` took since `start`; returns the reading it ended at (0 without a
  /// clock), where the next plugin's time starts.
  int64_t time(extension_point point, const plugin* p, int64_t start, schedule_result& out) const;
  int64_t clock_now() const { return options_.clock ? options_.clock() : 0; }
  void release(in_flight& f, bool tokens_only);
  void expire_in_flight(int64_t now_ns);
  int64_t uncached_tokens(const pick_request& r, const prefix_match* m) const;

  picker_options options_;
  pool_state pool_;
  std::mt19937_64 rng_;

  std::vector<std::unique_ptr<plugin>> plugins_;
  std::vector<prefix_producer*> producers_;
  std::vector<precise_prefix_producer*> precise_;
  std::vector<profile_def> profiles_;
  profile_handler_plugin* handler_ = nullptr;
  saturation_detector* detector_ = nullptr;
  std::unique_ptr<utilization_detector> default_detector_;
  std::vector<plugin*> pre_request_hooks_;
  std::vector<std::string> feature_gates_;

  // Per-cycle scratch.
  std::vector<uint32_t> endpoints_;
  std::vector<std::vector<prefix_match>> prefix_;
  std::vector<run_state> states_;
  std::vector<int> run_slot_;
  std::vector<int> to_run_;
  std::vector<double> scratch_;
  std::vector<uint32_t> before_filter_;  ///< candidates before the current filter

  std::unordered_map<std::string, in_flight> in_flight_;
  int64_t last_expiry_ns_ = 0;
};

}  // namespace inferstack::actors::picker
