// A request's server span; see request_trace.hpp.
#include "gateway/request_trace.hpp"

#include <cmath>

#include "gateway/request_state.hpp"
#include "gateway/request_steps.hpp"

namespace inferstack::gateway {

const char* request_outcome(int status) {
  if (status < 400) return "ok";
  if (status == 429) return "rejected";
  if (status == 499) return "cancelled";
  if (status < 500) return "client_error";
  return "server_error";
}

void begin_request_trace(flow_state& st) {
  auto* tracer = st.ctx->deps.tracer.get();
  if (!tracer) return;
  const auto& req = st.ex->req();
  // OpenTelemetry's HTTP server span name: method and route.
  auto method = http::to_std(req.method_string());
  std::string name(method);
  name += ' ';
  name += target_path(req);
  st.trace = tracer->begin(st.headers.traceparent, st.headers.tracestate, std::move(name));
  if (st.trace.recorded) {
    // Room for every attribute end_request_trace adds: one allocation, not five regrowths.
    st.trace.recorded->attributes.reserve(16);
    st.trace.recorded->events.reserve(3);  // authorize, route, first token
    tracing::add(st.trace.recorded->attributes, "http.request.method", method);
    tracing::add(st.trace.recorded->attributes, "http.route", target_path(req));
  }
}

void trace_authorization(flow_state& st, actors::authorizer::auth_verdict verdict) {
  if (!st.trace.recorded) return;
  auto& s = *st.trace.recorded;
  tracing::span_event e{"authorize", st.ctx->deps.tracer->now(), {}};
  tracing::add(e.attributes, "inferstack.outcome", actors::authorizer::to_string(verdict));
  s.events.push_back(std::move(e));
}

void trace_route(flow_state& st, const caf::error* refusal) {
  if (!st.trace.recorded) return;
  auto& s = *st.trace.recorded;
  tracing::span_event e{"route", st.ctx->deps.tracer->now(), {}};
  if (!refusal) {
    tracing::add(e.attributes, "inferstack.outcome", "routed");
    tracing::add_joined(e.attributes, "inferstack.pool", st.route.pool_ns, "/", st.route.pool);
  } else {
    std::string code = "refused";
    if (refusal->category() == caf::atom("router"))
      code = to_string(static_cast<actors::router::router_errc>(refusal->code()));
    tracing::add(e.attributes, "inferstack.outcome", code);
  }
  s.events.push_back(std::move(e));
}

void stamp_trace(const flow_state& st, std::string& traceparent, std::string& tracestate) {
  // No context (a unit test driving one step): no tracer either.
  if (st.ctx && st.ctx->deps.tracer) {
    if (st.trace.recorded) {
      traceparent = st.trace.traceparent;
      tracestate = st.trace.tracestate;  // bounded when the request began
    } else {
      traceparent.clear();
      tracestate.clear();
    }
    return;
  }
  // A pod's own HTTP front end: the caller's context, when it is valid and sampled.
  auto incoming = st.headers.traceparent.empty()
                      ? std::nullopt
                      : tracing::parse_traceparent(st.headers.traceparent);
  if (incoming && incoming->sampled()) {
    traceparent = st.headers.traceparent;
    tracestate = tracing::bounded_tracestate(st.headers.tracestate);
  } else {
    traceparent.clear();
    tracestate.clear();
  }
}

void end_request_trace(flow_state& st, int status) {
  if (!st.trace.recorded) return;
  auto s = std::move(*st.trace.recorded);
  st.trace.recorded.reset();
  using tracing::add;
  // OpenTelemetry's HTTP and GenAI attribute names where they exist, ours otherwise (the
  // method and route were added at the start).
  add(s.attributes, "http.response.status_code", status);
  add(s.attributes, "inferstack.request_id", st.request_id);
  add(s.attributes, "inferstack.namespace", st.ns);
  add(s.attributes, "gen_ai.request.model", st.model);
  if (st.pool)
    tracing::add_joined(s.attributes, "inferstack.pool", st.pool->ns, "/", st.pool->name);
  if (!st.pod_name.empty()) add(s.attributes, "inferstack.pod", st.pod_name);
  if (st.attempts > 0) add(s.attributes, "inferstack.attempts", st.attempts);
  if (st.prompt_tokens) add(s.attributes, "gen_ai.usage.input_tokens", *st.prompt_tokens);
  if (st.cached_tokens) add(s.attributes, "inferstack.usage.cached_tokens", *st.cached_tokens);
  if (st.completion_tokens) add(s.attributes, "gen_ai.usage.output_tokens", *st.completion_tokens);
  add(s.attributes, "inferstack.outcome", request_outcome(status));
  if (st.ttft_seconds) {
    add(s.attributes, "inferstack.ttft_seconds", *st.ttft_seconds);
    auto offset = static_cast<uint64_t>(std::llround(*st.ttft_seconds * 1e9));
    s.events.push_back({"first token", s.start_unix_nano + offset, {}});
  }
  // OpenTelemetry's HTTP server rule: only a 5xx is the server's error.
  if (status >= 500) s.status = tracing::status_code::error;
  st.ctx->deps.tracer->end(std::move(s));
}

}  // namespace inferstack::gateway
