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

struct choose_pod {
  std::string request_id;
  std::string model;                 ///< the requested (routing) model name
  std::vector<uint32_t> tokens;      ///< prompt token ids (the first prompt)
  std::string session;               ///< x-session-token
  int32_t priority = 0;              ///< InferenceObjective priority; < 0: sheddable
  std::string objective;             ///< InferenceObjective name (metrics)
  std::vector<std::string> exclude;  ///< pods already tried for this request
  INFERSTACK_FIELDS(choose_pod, request_id, model, tokens, session, priority, objective, exclude)
};

struct chosen_pod {
  std::string pod;
  std::string endpoint;
  std::string prefill_pod;  ///< P/D: the pod to prefill on first (empty: none)
  std::string prefill_endpoint;
  INFERSTACK_FIELDS(chosen_pod, pod, endpoint, prefill_pod, prefill_endpoint)
};

/// A request the picker placed has finished (response_complete hook).
struct request_done {
  std::string request_id;
  std::string pod;
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  bool success = true;
  INFERSTACK_FIELDS(request_done, request_id, pod, prompt_tokens, completion_tokens, success)
};

/// Picker failures (CAF error category "picker").
enum class picker_errc : uint8_t {
  no_endpoints = 1,  ///< no ready pod in the pool: 503
  saturated = 2,     ///< sheddable request while the pool is saturated: 429 + Retry-After
  all_filtered = 3,  ///< the filters left nothing: 429 (llm-d: rejected-saturated)
  /// The picker does not know its pool yet (a restarted picker process before the control
  /// plane's first membership): the gateway treats it as unavailable (the failure mode decides).
  not_ready = 4,
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
  }
  return "unknown";
}

using picker_actor =
    caf::typed_actor<caf::replies_to<choose_pod>::with<chosen_pod>, caf::reacts_to<request_done>,
                     caf::reacts_to<pool_membership>>;

}  // namespace inferstack::actors::picker

CAF_ERROR_CODE_ENUM(inferstack::actors::picker::picker_errc, "picker")
