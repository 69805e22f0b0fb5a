// Messages of a picker (the endpoint picker of one InferencePool): which pod serves a request,
// the pool's membership, and the completion of requests (for load accounting).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "protocol/type_ids.hpp"
#include "runtime/message_fields.hpp"

namespace inferstack::actors::picker {

/// One pod of the pool as the picker is told about it.
struct pool_member {
  std::string pod;  ///< unique name, e.g. "team-a/llama-0"
  std::string
      endpoint;         ///< where requests go: "actor:<name>", "zmq:<address>#<name>", "http://h:p"
  std::string address;  ///< "<ip>:<port>" as in the pod's KV-event topic (kv@<address>@<model>)
  std::map<std::string, std::string> labels;  ///< pod labels (llm-d.ai/role, ...)
  bool ready = true;
  bool draining = false;
  /// Where a pod in another process publishes: its transport events (load reports) and its
  /// vLLM KV events and replay socket. Empty for pods of this process.
  std::string events;
  std::string kv_events;
  std::string kv_replay;
  INFERSTACK_FIELDS(pool_member, pod, endpoint, address, labels, ready, draining, events, kv_events,
                    kv_replay)
};

/// The pool's pods; replaces the previous membership (the controller keeps it equal to the
/// Ready pods, like an InferencePool selector).
struct pool_membership {
  std::string pool;
  std::vector<pool_member> members;
  INFERSTACK_FIELDS(pool_membership, pool, members)
};

// -- why this pod: a decision as the picker made it (recorded per pick, see pick_decision.hpp) --

/// The pods one filter removed.
struct filter_removal {
  std::string filter;  ///< plugin name
  std::vector<std::string> pods;
  INFERSTACK_FIELDS(filter_removal, filter, pods)
};

/// A candidate left after the filters, as the profile's scorers saw it.
struct candidate_scores {
  std::string pod;
  std::vector<double> scores;  ///< raw score in [0,1] per scorer (profile_decision::scorers)
  double total = 0;            ///< sum of weight x score
  INFERSTACK_FIELDS(candidate_scores, pod, scores, total)
};

/// One scheduling profile's run.
struct profile_decision {
  std::string name;
  bool failed = false;  ///< no endpoint left after the filters (or the picker chose none)
  std::vector<filter_removal> filtered;      ///< filters that removed pods, in order
  std::vector<std::string> scorers;          ///< scorer plugin names
  std::vector<double> weights;               ///< per scorer
  std::vector<candidate_scores> candidates;  ///< after the filters, in pool order
  std::string picker;                        ///< picker plugin type
  /// Chance decided: a random or weighted-random picker, or max-score's random tie-break
  /// among candidates sharing the best total.
  bool sampled = false;
  std::vector<std::string> picked;  ///< best first
  INFERSTACK_FIELDS(profile_decision, name, failed, filtered, scorers, weights, candidates, picker,
                    sampled, picked)
};

struct pick_decision {
  uint64_t seq = 0;  ///< the picker's count of decisions, from 1
  std::string request_id;
  std::string model;
  std::string pool;
  int64_t unix_ms = 0;                     ///< when it was made
  int64_t duration_ns = 0;                 ///< the scheduling cycle
  std::string status;                      ///< ok | no_endpoints | all_filtered | shed
  std::string reason;                      ///< why not, when not ok
  std::vector<std::string> candidates;     ///< schedulable pods before any filter
  std::vector<std::string> excluded;       ///< pods already tried for this request (a retry)
  std::vector<profile_decision> profiles;  ///< in run order
  std::string pod;                         ///< the choice ("" when none)
  std::string prefill_pod;                 ///< P/D: the prefill pod ("" when none)
  INFERSTACK_FIELDS(pick_decision, seq, request_id, model, pool, unix_ms, duration_ns, status,
                    reason, candidates, excluded, profiles, pod, prefill_pod)
};

struct choose_pod {
  std::string request_id;
  std::string model;                 ///< the requested (routing) model name
  std::vector<uint32_t> tokens;      ///< prompt token ids (the first prompt)
  std::string session;               ///< x-session-token
  int32_t priority = 0;              ///< InferenceObjective priority; < 0: sheddable
  std::string objective;             ///< InferenceObjective name (metrics)
  std::vector<std::string> exclude;  ///< pods already tried for this request
  /// Debug (x-inferstack-debug-pick): answer the decision too, in chosen_pod::decision.
  bool explain = false;
  /// W3C traceparent of the gateway's span when its request is traced (sampled): the picker
  /// records its pick as a child span. Empty: not traced (and from peers that predate it).
  std::string traceparent;
  /// The W3C tracestate that goes with traceparent (the caller's, passed on unchanged): the
  /// pick span keeps it. Empty: none (and from peers that predate it).
  std::string tracestate;
  /// x-llm-d-inference-fairness-id: the flow this request is queued in under flow control
  /// (empty: llm-d's "default-flow").
  std::string fairness_id;
  /// Latency objectives in ms (x-llm-d-slo-ttft-ms / x-llm-d-slo-tpot-ms, or the old x-slo-*
  /// names); 0: none given (the InferenceObjective's defaults apply, if it has any).
  double slo_ttft_ms = 0;
  double slo_tpot_ms = 0;
  INFERSTACK_FIELDS(choose_pod, request_id, model, tokens, session, priority, objective, exclude,
                    explain, traceparent, fairness_id, slo_ttft_ms, slo_tpot_ms, tracestate)
};

struct chosen_pod {
  std::string pod;
  std::string endpoint;
  std::string prefill_pod;  ///< P/D: the pod to prefill on first (empty: none)
  std::string prefill_endpoint;
  /// Only when choose_pod::explain: the decision as compact JSON (header_json); else empty.
  std::string decision;
  INFERSTACK_FIELDS(chosen_pod, pod, endpoint, prefill_pod, prefill_endpoint, decision)
};

/// Asks a picker for its recent decisions (answered with pick_decisions, newest first).
struct recent_picks {
  uint32_t limit = 0;      ///< 0: every decision kept
  std::string request_id;  ///< not empty: only this request's
  INFERSTACK_FIELDS(recent_picks, limit, request_id)
};

struct pick_decisions {
  std::string pool;
  std::vector<pick_decision> decisions;
  INFERSTACK_FIELDS(pick_decisions, pool, decisions)
};

/// A request the picker placed has finished (response_complete hook).
struct request_done {
  std::string request_id;
  std::string pod;
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  bool success = true;
  /// What the gateway observed, for latency models fitted online (0: not observed): time to
  /// first token, and the mean time between the later tokens.
  int64_t ttft_ns = 0;
  int64_t itl_ns = 0;
  INFERSTACK_FIELDS(request_done, request_id, pod, prompt_tokens, completion_tokens, success,
                    ttft_ns, itl_ns)
};

/// The client of a request has gone (the gateway saw its connection close): a pick waiting in
/// the picker's flow-control queue leaves it at once. Nothing to do for one not waiting.
struct cancel_pick {
  std::string request_id;
  INFERSTACK_FIELDS(cancel_pick, request_id)
};

/// Picker failures (CAF error category "picker").
enum class picker_errc : uint8_t {
  no_endpoints = 1,  ///< no ready pod in the pool: 503
  saturated = 2,     ///< sheddable request while the pool is saturated: 429 + Retry-After
  all_filtered = 3,  ///< the filters left nothing: 429 (llm-d: rejected-saturated)
  /// The picker does not know its pool yet (a restarted picker process before the control
  /// plane's first membership): the gateway treats it as unavailable (the failure mode decides).
  not_ready = 4,
  /// Flow control: the request waited in the queue past its TTL (llm-d: 429
  /// rejected-ttl-expired).
  ttl_expired = 5,
  /// Flow control: the request left the queue because its client went (cancel_pick).
  cancelled = 6,
  /// No pod is predicted to meet the request's latency objectives and its InferenceObjective
  /// says not to send it late (unattainableSloPolicy Reject, or Queue past its TTFT objective):
  /// 429 rejected-slo-unattainable.
  slo_unattainable = 7,
};

inline std::string to_string(picker_errc x) {
  switch (x) {
    case picker_errc::no_endpoints:
      return "no_endpoints";
    case picker_errc::saturated:
      return "saturated";
    case picker_errc::all_filtered:
      return "all_filtered";
    case picker_errc::not_ready:
      return "not_ready";
    case picker_errc::ttl_expired:
      return "ttl_expired";
    case picker_errc::cancelled:
      return "cancelled";
    case picker_errc::slo_unattainable:
      return "slo_unattainable";
  }
  return "unknown";
}

using picker_actor =
    caf::typed_actor<caf::replies_to<choose_pod>::with<chosen_pod>, caf::reacts_to<request_done>,
                     caf::reacts_to<pool_membership>, caf::reacts_to<cancel_pick>>;

}  // namespace inferstack::actors::picker

CAF_ERROR_CODE_ENUM(inferstack::actors::picker::picker_errc, "picker")
