// Requests to model servers over HTTP; see upstream_forwarder.hpp.
#include "gateway/upstream_forwarder.hpp"

#include "gateway/request_steps.hpp"
#include "openai/response.hpp"
#include "runtime/errors.hpp"

namespace inferstack::gateway {

namespace {

/// The request a model server gets for this flow; `destination` is the target's host:port.
upstream_request upstream_request_for(const flow_state& st, const upstream_target& target,
                                      const std::string& destination) {
  upstream_request req;
  req.target = target.base_path + std::string(target_path(st.ex->req()));
  // x-gateway-destination-endpoint: the endpoint picked, as llm-d-router's EPP sets it on the
  // request Envoy forwards (pkg/epp/metadata DestinationEndpointKey).
  req.headers = {{"Content-Type", "application/json"},
                 {"X-Gateway-Model-Name", st.route.model},
                 {"x-gateway-destination-endpoint", destination},
                 {"x-request-id", st.request_id}};
  if (st.return_error != 0) req.headers.emplace_back("x-return-error", st.headers.return_error);
  if (!st.headers.session.empty()) req.headers.emplace_back("x-session-token", st.headers.session);
  // W3C trace context: the model server's span is a child of the gateway's.
  if (!st.trace.traceparent.empty()) req.headers.emplace_back("traceparent", st.trace.traceparent);
  if (!st.trace.tracestate.empty()) req.headers.emplace_back("tracestate", st.trace.tracestate);
  req.body = st.ex->req().body();
  return req;
}

const std::string no_content_type;

}  // namespace

bool upstream_target_of(const flow_state& st, const std::string& endpoint, upstream_target& out) {
  return st.pool ? st.pool->http_target(endpoint, out) : parse_upstream_url(endpoint, out);
}

caf::error not_http_endpoint(const std::string& endpoint) {
  return caf::make_error(runtime::transport_errc::unknown_actor,
                         "not an http:// endpoint: " + endpoint);
}

void forward_upstream(flow_state& st, const upstream_target& target,
                      std::shared_ptr<upstream_listener> listener) {
  upstream_handler h;
  h.on_head = [listener](int status, const std::string& type) {
    http::header_list headers{{"x-request-id", std::string(listener->request_id())},
                              {"x-inference-pod", std::string(listener->pod())}};
    if (auto decision = listener->pick_decision(); !decision.empty())
      headers.emplace_back(pick_decision_header, std::string(decision));
    listener->client().start_stream(static_cast<http::status>(status),
                                    type.empty() ? "application/json" : type, std::move(headers));
    listener->head(status, type);
  };
  h.on_complete = [listener](int status, const std::string& type, std::string body) {
    // On the client connection's thread (the upstream exchange runs there): written at once.
    auto code = static_cast<http::status>(status);
    auto content_type = type.empty() ? std::string_view("application/json") : type;
    if (auto decision = listener->pick_decision(); !decision.empty())
      listener->client().respond_now(code, body, content_type,
                                     {{"x-request-id", listener->request_id()},
                                      {"x-inference-pod", listener->pod()},
                                      {pick_decision_header, decision}});
    else
      listener->client().respond_now(
          code, body, content_type,
          {{"x-request-id", listener->request_id()}, {"x-inference-pod", listener->pod()}});
    listener->ended(status, type);
  };
  h.on_data = [listener](std::string data, std::function<void()> resume) {
    // The client gone: drain, then done.
    if (!listener->client().write(std::move(data), resume)) resume();
  };
  h.on_end = [listener] {
    listener->client().finish();
    listener->ended(0, no_content_type);
  };
  h.on_error = [listener](const std::string& error, bool before_first_byte) {
    listener->failed(error, before_first_byte);
  };
  auto destination = target.host + ":" + std::to_string(target.port);
  // A hang-up before the response (nothing is written to the client until then) is noticed.
  st.ex->watch_hangup();
  st.stop_upstream =
      st.ctx->upstreams->send(target, upstream_request_for(st, target, destination),
                              st.ctx->settings.upstream_timeout, std::move(h), st.ex->executor());
}

void end_broken_upstream(flow_state& st, const std::string& error) {
  if (st.upstream_type.rfind("text/event-stream", 0) == 0) {
    st.ex->write(openai::sse_error_event(broken_upstream(st.pod_name, error)));
    st.ex->write(openai::sse_done());
    st.ex->finish();
  } else {
    st.ex->abort();
  }
}

void note_upstream_head(flow_state& st, int status, const std::string& content_type,
                        caf::actor_clock::time_point now) {
  st.stream_started = true;
  st.upstream_status = status;
  st.upstream_type = content_type;
  record_first_token(st, now);
}

}  // namespace inferstack::gateway
