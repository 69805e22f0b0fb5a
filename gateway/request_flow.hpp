// The actor driver: a request's steps as a short-lived actor, for whatever needs one -- asking
// the authorizer, router or picker as actors, waiting for a pool's first pod, talking to a pod
// actor, retrying on another pod. A request starts here from its first step, or is handed over
// by the inline driver at the step it reached (continue_in_actor).
#pragma once

#include <memory>
#include <utility>

#include <caf/actor_system.hpp>

#include "actors/authorizer/authorizer_protocol.hpp"
#include "actors/picker/picker_protocol.hpp"
#include "gateway/pod_conversation.hpp"
#include "gateway/request_state.hpp"

namespace inferstack::gateway {

/// What the request's actor handles while its steps wait: token chunks, upstream events, the
/// picker's deadline, the activation tick, the client going away.
caf::behavior flow_behavior(flow_actor* self);

/// Spawns the request's actor, which goes on with `step(self)` (one of the steps below).
template <class Step>
void continue_in_actor(std::shared_ptr<flow_state> begun, Step step) {
  auto* sys = begun->ctx->deps.system;
  sys->spawn([begun = std::move(begun),
              step = std::move(step)](flow_actor* self) mutable -> caf::behavior {
    take_over(self, std::move(begun));
    step(self);
    return flow_behavior(self);
  });
}

// -- the steps, in order ------------------------------------------------------------------------

/// Authorization runs on every request, before the body is looked at.
void authorize(flow_actor* self);
void authorized(flow_actor* self, actors::authorizer::auth_verdict verdict);
void route_failed(flow_actor* self, const caf::error& err);
/// st.route is set: the fault header, the body, then the pick.
void routed(flow_actor* self);
/// The whole body for a pod actor (the request was read lean so far, or not at all); the model
/// is the route's, or with `model_from_body` the body's own (a pod's front end, no router).
/// False: the body's 400 is answered.
bool parse_body(flow_actor* self, bool model_from_body);
void pick_and_send(flow_actor* self);
void pick_failed(flow_actor* self, const caf::error& err);
void send_to_pod(flow_actor* self, const actors::picker::chosen_pod& pick);

}  // namespace inferstack::gateway
