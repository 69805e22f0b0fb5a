// A request's server span: begun from the caller's traceparent when the request arrives, ended
// with what it became (route, model, pool, pod, tokens, status, outcome) when it finishes.
#pragma once

namespace inferstack::gateway {

struct flow_state;

/// Sets st.trace from the request's headers; nothing when the gateway has no tracer.
void begin_request_trace(flow_state& st);

/// Ends a recorded server span with the request's attributes and hands it to the exporter.
void end_request_trace(flow_state& st, int status);

/// What became of a request, by its status: ok, client_error, rejected (429), cancelled (499,
/// the client left) or server_error.
const char* request_outcome(int status);

}  // namespace inferstack::gateway
