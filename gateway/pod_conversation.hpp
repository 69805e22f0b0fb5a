// The conversation with a pod for one request, in one place: the generate request to a pod
// actor (of this process, or of another over the transport), its token chunks encoded as
// OpenAI SSE and written to the client -- credit going back to the pod as the client takes
// them --, the result as the OpenAI response, the cancel when the client goes, and what a
// failure means (the retry policy, after_pod_error, decides; the driver picks another pod).
// The gateway's actor driver and a pod's own HTTP front end (pod_front_end) both use it, with
// the answers every driver ends a request with.
#pragma once

#include <memory>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/pod/pod_protocol.hpp"
#include "gateway/request_state.hpp"
#include "gateway/request_steps.hpp"

namespace inferstack::gateway {

/// A request's actor: its state is the flow's.
using flow_actor = caf::stateful_actor<flow_state>;

/// What the driver does when the policy says to try another pod; null: there is no other.
using retry_fn = void (*)(flow_actor*);

/// The request's actor takes its state over, and hears when the client goes away (client_gone
/// then ends it).
void take_over(flow_actor* self, std::shared_ptr<flow_state> begun);

/// Sends the parsed request to the pod actor `pod` (st.pod_name names it); chunks arrive as
/// messages (on_chunk), the result or the failure as the answer.
void send_generate(flow_actor* self, caf::actor pod, retry_fn retry);

/// A token chunk of a streamed request.
void on_chunk(flow_actor* self, actors::pod::token_chunk& chunk);

/// The chosen pod (an actor, or a model server over HTTP) failed: retried, or answered.
void pod_failed(flow_actor* self, const caf::error& err, retry_fn retry);

/// The client has gone: the pod stops its work, the picker hears it, and the request ends (499).
void client_gone(flow_actor* self);

/// Tells the pool's picker the request has ended on st.pod_name (nothing without a pool), with
/// its TTFT (0: the one the gateway saw, if any) and mean ITL (0: unknown).
void picker_done(const flow_state& st, bool success, uint32_t prompt_tokens = 0,
                 uint32_t completion_tokens = 0, int64_t ttft_ns = 0, int64_t itl_ns = 0);

// -- how a request ends ----------------------------------------------------------------------

/// The request's accounting ends and its actor quits.
void done(flow_actor* self, int status);
void fail_openai(flow_actor* self, const openai::api_error& err, http::header_list extra = {});
void fail_stack(flow_actor* self, const stack_error& err);
void fail_with(flow_actor* self, const error_answer& answer);

/// Renders errors with the actor's system.
error_renderer renderer_of(flow_actor* self);

}  // namespace inferstack::gateway
