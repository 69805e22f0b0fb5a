// What the gateway knows about one request on its way through the pipeline: the client's
// exchange, what the steps decided (route, pool, pod), what has been sent back, and the
// accounting that ends with it. The drivers (inline_driver, request_flow) and the pod
// conversation share it; the decisions in request_steps read it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_clock.hpp>

#include "actors/picker/picker_protocol.hpp"
#include "actors/pod/pod_protocol.hpp"
#include "actors/router/router_protocol.hpp"
#include "gateway/gateway_context.hpp"
#include "gateway/pool_directory.hpp"
#include "openai/endpoint.hpp"
#include "openai/request.hpp"
#include "openai/response.hpp"
#include "openai/responses_api.hpp"
#include "runtime/http/http_server.hpp"
#include "runtime/tracing/tracer.hpp"

namespace inferstack::gateway {

/// The request headers a flow reads, found in one pass over the fields (a lookup each was a
/// case-insensitive tree search per name).
/// The response header answering x-inferstack-debug-pick: the picker's decision as compact JSON.
inline constexpr char pick_decision_header[] = "x-inferstack-pick-decision";

struct flow_headers {
  std::string_view authorization;
  std::string_view session;    ///< x-session-token
  std::string_view objective;  ///< x-gateway-inference-objective, else x-llm-d-inference-objective
  std::string_view priority;   ///< x-inferstack-priority
  /// x-llm-d-inference-fairness-id (or x-gateway-inference-fairness-id): the flow-control flow
  std::string_view fairness_id;
  /// Latency objectives in ms: x-llm-d-slo-ttft-ms / x-llm-d-slo-tpot-ms (or the old x-slo-*)
  std::string_view slo_ttft;
  std::string_view slo_tpot;
  std::string_view return_error;            ///< x-return-error (simulator fault injection)
  std::string_view cache_threshold_finish;  ///< x-cache-threshold-finish-reason (simulator)
  std::string_view debug_pick;   ///< x-inferstack-debug-pick: answer the picker's decision
  std::string_view traceparent;  ///< W3C trace context of the caller
  std::string_view tracestate;
};

/// A request parsed whole, and what answering it as an in-process pod's result needs.
struct parsed_request {
  openai::completion_request req;
  actors::pod::generate_request gen;
  std::optional<openai::stream_encoder> encoder;
  openai::response_meta meta;
  std::vector<bool> role_sent;
  std::vector<uint32_t> tokens_sent;  ///< per choice: tokens streamed so far
  /// Synthetic logprobs for each token, with this many alternatives; nullopt: none asked.
  std::optional<int> logprobs;
  /// A Responses API request: its rendering, streamed or not.
  std::optional<openai::responses_stream> responses;
  /// Per choice answered with tool calls (streamed): the calls, and how far their arguments,
  /// which are the choice's text one after the other, have gone out.
  struct tool_stream {
    std::vector<openai::generated_call> calls;
    size_t call = 0;    ///< the call being streamed
    size_t offset = 0;  ///< bytes of its arguments sent
  };
  std::vector<tool_stream> tool_streams;
};

struct flow_state {
  std::shared_ptr<gateway::context> ctx;
  std::shared_ptr<http::exchange> ex;
  std::string ns;
  /// The namespace is one the stack knows (the authorizer said so): only then is it a metric
  /// label; a client cannot grow the metrics with made-up Hosts.
  bool ns_known = false;
  std::string request_id;
  openai::endpoint kind = openai::endpoint::chat_completions;
  caf::actor_clock::time_point started;
  flow_headers headers;  ///< views into ex->req()
  int return_error = 0;  ///< a valid X-Return-Error, when fault injection is forwarded

  std::string model = "<unknown>";  ///< for metrics until routed
  actors::router::route_decision route;
  std::shared_ptr<const pool_entry> pool;
  /// The body was not parsed whole: the pool's model servers are reached over HTTP and
  /// validate it themselves; only the prompt was read, into pick_tokens.
  bool lean = false;
  std::vector<uint32_t> pick_tokens;
  std::vector<std::string> tried;
  int attempts = 0;
  bool picking = false;        ///< waiting for the picker
  uint64_t pick_deadline = 0;  ///< its entry on the gateway's deadline board
  /// The picker replica asked for the pick: request_done and cancel_pick go to it (its
  /// in-flight count is its own).
  actors::picker::picker_actor picker;
  size_t replica = 0;
  uint64_t replicas_tried = 0;                     ///< bit i: replica i was asked for this pick
  uint64_t pick_attempt = 0;                       ///< answers of earlier attempts are stale
  caf::actor_clock::time_point pick_until{};       ///< the pick's deadline, over all its attempts
  caf::actor_clock::time_point attempt_started{};  ///< when the current replica was asked
  /// Scale from zero: waiting for the pool's first Ready pod until this time (0: not waiting).
  caf::actor_clock::time_point activation_deadline{};
  bool activation_waiting = false;

  caf::actor pod;
  std::string pod_name;
  /// x-inferstack-debug-pick: the picker's decision (JSON) for the x-inferstack-pick-decision
  /// response header; empty otherwise.
  std::string pick_decision;
  /// Chunks the client took but the pod has not been told of yet (credit goes back in
  /// batches); shared with the write callbacks, which run on an I/O thread.
  std::shared_ptr<std::atomic<uint32_t>> unacked_chunks;
  bool stream_started = false;
  bool finished = false;
  /// The body parsed whole, for a pod of this process (null while only the prompt was read).
  std::unique_ptr<parsed_request> parsed;
  bool first_token_seen = false;
  std::optional<double> ttft_seconds;
  std::optional<int64_t> prompt_tokens;  ///< from a pod of this process
  std::optional<int64_t> completion_tokens;
  std::optional<int64_t> cached_tokens;  ///< prompt tokens the pod found in its cache
  /// The request's place in its trace (empty when tracing is off); its server span, when
  /// sampled, ends in finish().
  tracing::request_trace trace;
  /// Omni mode (a pod's own API): this chat completion comes back with an image, which takes
  /// image_delay after the last token (see pod_omni.hpp).
  bool send_image = false;
  std::chrono::nanoseconds image_delay{0};
  /// --mm-encoder-only (a pod's own API): the answer names where its images' encoder output
  /// is (ec_transfer_params, see pod_encoder_only.hpp).
  bool encoder_only = false;
  int upstream_status = 0;    ///< HTTP upstreams: the status passed through
  std::string upstream_type;  ///< HTTP upstreams: the content type passed through
  /// HTTP upstreams: closes the exchange's connection when the client goes (see
  /// upstream_pool::send); empty before the request went out.
  std::function<void()> stop_upstream;
};

/// A request that has arrived: its accounting starts (in flight from here until finish()).
std::shared_ptr<flow_state> begin_flow(std::shared_ptr<gateway::context> ctx,
                                       std::shared_ptr<http::exchange> ex, std::string ns,
                                       std::string request_id, openai::endpoint kind);

/// The request's accounting ends (metrics, in-flight count, access log); false when it had
/// already ended.
bool finish(flow_state& st, caf::actor_clock::time_point now, int status);

/// The request goes to `pick` (one more attempt); a debug line says where.
void begin_attempt(flow_state& st, const actors::picker::chosen_pod& pick);

/// Time to first token is taken once per request, at whatever first carries a token or a head.
void record_first_token(flow_state& st, caf::actor_clock::time_point now);
/// The time to first token the gateway saw, in ns; 0 before the first token.
inline int64_t observed_ttft_ns(const flow_state& st) {
  return st.ttft_seconds ? static_cast<int64_t>(*st.ttft_seconds * 1e9) : 0;
}

/// The namespace as a metric label: <unknown> until the authorizer has said it is known.
const std::string& metric_namespace(const flow_state& st);

}  // namespace inferstack::gateway
