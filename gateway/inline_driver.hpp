// The inline driver: the common case taken on the request's own I/O thread, without an actor --
// authorization and routing from the published views, the pick through the direct picker, the
// forward to a model server over HTTP on the same thread. No message, no thread hop. Anything
// else (a refusal, a pick error, a pod that is not reached over HTTP, a failure before the first
// byte) hands the request to the actor driver at that step, so those paths are written once.
#pragma once

#include <memory>

#include "actors/authorizer/authorizer_actor.hpp"
#include "actors/router/router_actor.hpp"
#include "gateway/request_state.hpp"

namespace inferstack::gateway {

/// Takes the request on this thread as far as it goes, with the views current now.
void run_inline(std::shared_ptr<flow_state> begun,
                const actors::authorizer::authorizer_view& authorizer,
                const actors::router::router_view& routes);

}  // namespace inferstack::gateway
