// A request's server span: begun from the caller's traceparent when the request arrives, ended
// with what it became (route, model, pool, pod, tokens, status, outcome) when it finishes.
#pragma once

#include <string>
#include <string_view>

#include <caf/fwd.hpp>

#include "actors/authorizer/authorizer_protocol.hpp"
#include "actors/router/router_protocol.hpp"

namespace inferstack::gateway {

struct flow_state;

/// Sets st.trace from the request's headers; nothing when the gateway has no tracer.
void begin_request_trace(flow_state& st);

/// Ends a recorded server span with the request's attributes and hands it to the exporter.
void end_request_trace(flow_state& st, int status);

/// The authorizer's and the router's decisions, taken on the gateway's thread from their
/// published views (or asked of the actors when a view is withdrawn), as events on the server
/// span with their outcome. Nothing when the request is not recorded (one branch).
void trace_authorization(flow_state& st, actors::authorizer::auth_verdict verdict);
/// `refusal`: the router's error (null: routed to st.route).
void trace_route(flow_state& st, const caf::error* refusal);

/// Stamps a message to the stack's actors (choose_pod, generate_request) with this request's
/// trace context: the server span's traceparent, as their parent, and the caller's tracestate
/// (bounded, passed on unchanged) when the request is recorded; with no tracer here (a pod's own
/// HTTP front end) the caller's own, when sampled. Both empty otherwise: a picker or pod records
/// only sampled traces and calls no one further.
void stamp_trace(const flow_state& st, std::string& traceparent, std::string& tracestate);

/// What became of a request, by its status: ok, client_error, rejected (429), cancelled (499,
/// the client left) or server_error.
const char* request_outcome(int status);

}  // namespace inferstack::gateway
