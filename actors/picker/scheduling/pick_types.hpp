// The values that go in and out of a scheduling cycle.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "actors/picker/scheduling/block_key_cursor.hpp"

namespace inferstack::actors::picker {

class plugin;
struct profile_def;

using header_list = std::vector<std::pair<std::string, std::string>>;

/// What happens to a request with latency objectives that no pod is predicted to meet
/// (InferenceObjective spec.unattainableSloPolicy, inferstack's extension).
enum class slo_policy : uint8_t {
  /// Not set: llm-d's rule -- a sheddable request is refused while every pod is busy and
  /// predicted (latency-slo-admitter), any other goes to the least late pod.
  unset,
  best_effort,  ///< BestEffort: sent to the least late pod
  /// Queue: waits in flow control until a pod is predicted to meet it, counting the wait
  /// against its TTFT objective; refused when no pod could meet it even idle.
  queue,
  reject,  ///< Reject: refused at once (429 rejected-slo-unattainable)
};

/// Why the slo-headroom-tier-filter kept no pod.
enum class slo_miss : uint8_t {
  none,
  busy,          ///< no pod is predicted to meet the objectives now; an idle one might
  unattainable,  ///< not even an idle pod is predicted to meet them
};

/// One request to place. A view: the referenced data must outlive the call it is passed to
/// (schedule, then pre_request with the same request).
struct pick_request {
  std::string_view request_id;
  std::string_view model;                ///< target model (the LoRA adapter name for LoRA requests)
  std::span<const uint32_t> tokens;      ///< prompt token ids (runtime::tokenize)
  int priority = 0;                      ///< InferenceObjective priority: < 0 is sheddable
  const header_list* headers = nullptr;  ///< lower-case names (x-session-token, ...)
  /// Endpoint subset hint (x-gateway-destination-endpoint-subset): names or addresses. nullptr:
  /// no hint; an empty list means "none eligible".
  const std::vector<std::string>* subset = nullptr;
  /// Latency objectives in ms (x-llm-d-slo-ttft-ms / x-llm-d-slo-tpot-ms, else the
  /// InferenceObjective's defaults); 0: none.
  double slo_ttft_ms = 0;
  double slo_tpot_ms = 0;
  slo_policy unattainable_slo = slo_policy::unset;

  std::string_view header(std::string_view name) const;
};

enum class pick_status : uint8_t {
  ok,
  no_endpoints,  ///< no ready endpoint (or none in the subset): 503 rejected-no-endpoints
  all_filtered,  ///< a required profile kept no endpoint: 429 rejected-saturated
  shed,          ///< sheddable request while the pool is saturated: 429 with Retry-After
};
std::string_view to_string(pick_status s);
/// The HTTP status the gateway answers with.
int http_status(pick_status s);
/// The value of llm-d's x-llm-d-request-dropped-reason header ("" for ok).
std::string_view dropped_reason(pick_status s);

struct pick_target {
  uint32_t id = 0;  ///< endpoint id (valid until the endpoint is removed)
  std::string name;
  std::string address;
};

enum class extension_point : uint8_t {
  profile_handler,
  filter,
  scorer,
  picker,
  data_producer,
  pre_request,
  response_complete,
};
/// The label value llm-d uses in plugin_duration_seconds{extension_point=...}.
std::string_view to_string(extension_point p);

struct plugin_timing {
  extension_point point;
  const plugin* source;  ///< type() / name() give the metric labels
  int64_t duration_ns;
};

/// One profile run, with every candidate's scores (for debugging and score headers).
struct profile_run {
  std::string name;
  const profile_def* profile = nullptr;  ///< scorer names and weights
  bool failed = false;                   ///< no endpoint left after the filters
  std::vector<uint32_t> targets;         ///< endpoint ids picked, best first
  std::vector<uint32_t> candidates;      ///< endpoint ids after the filters
  std::vector<double> totals;            ///< per candidate: sum of weight x score
  std::vector<double> scores;  ///< scorer s, candidate c: scores[s * candidates.size() + c]
  /// What the filters removed, in order: (index in profile->filters, endpoint id).
  std::vector<std::pair<uint32_t, uint32_t>> removed;
};

/// Prefix match of one endpoint as a producer computed it (llm-d PrefixCacheMatchInfo).
struct prefix_match {
  uint32_t match_blocks = 0;  ///< consecutive blocks cached (approx: llm-d's greedy count)
  uint32_t total_blocks = 0;  ///< blocks the prompt has
  uint32_t block_size = 0;    ///< tokens per block
  double weighted = 0;        ///< precise: tier-weighted match; approx: == match_blocks
  bool valid = false;
};

/// State a cycle leaves for pre_request (kept in the result so the actor may interleave
/// requests).
struct request_memo {
  std::vector<block_key_cursor> cursors;    ///< per prefix producer
  std::vector<prefix_match> primary_match;  ///< per producer, for the primary target
  std::vector<prefix_match> prefill_match;  ///< per producer, for the prefill target
  std::vector<double> plugin_state;         ///< one slot per plugin (e.g. no-hit-lru cold)
  uint32_t prompt_tokens = 0;
};

struct schedule_result {
  pick_status status = pick_status::ok;
  std::string reason;                  ///< why it failed, in llm-d's words
  std::string primary_profile;         ///< decode (or the single profile)
  std::vector<pick_target> targets;    ///< primary profile's picks, best first
  std::optional<pick_target> prefill;  ///< P/D: the prefill pod (x-prefiller-host-port)
  std::string disagg_decision;  ///< "" or decode-only | prefill-decode (disagg_decision_total)
  int64_t retry_after_ns = 0;   ///< shed: hint for Retry-After
  /// Set when the SLO filter removed every pod because none meets the request's objectives.
  slo_miss slo = slo_miss::none;
  std::vector<profile_run> runs;       ///< profiles in run order
  std::vector<plugin_timing> timings;  ///< one per plugin call (when a clock is set)
  int64_t duration_ns = 0;             ///< scheduler_e2e_duration (when a clock is set)
  request_memo memo;

  bool ok() const { return status == pick_status::ok; }
  const pick_target& primary() const { return targets.front(); }
  void clear();
};

/// What pre_request observed, for the prefix_indexer_hit_ratio / hit_bytes histograms.
struct pre_request_report {
  bool prefix_observed = false;
  double hit_ratio = 0;   ///< matched / total blocks on the primary target
  int64_t hit_bytes = 0;  ///< matched tokens x 4 (llm-d reports bytes at ~4 bytes/token)
  int64_t total_bytes = 0;
  int64_t uncached_tokens = 0;  ///< prompt tokens not expected to hit the target's cache
};

}  // namespace inferstack::actors::picker
