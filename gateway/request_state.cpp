// A request's accounting: it begins when the request arrives and ends once, with its status;
// see request_state.hpp.
#include "gateway/request_state.hpp"

#include <caf/actor_system.hpp>

#include "gateway/request_log.hpp"
#include "gateway/request_steps.hpp"
#include "gateway/request_trace.hpp"
#include "runtime/metrics.hpp"

namespace inferstack::gateway {

namespace {

const std::string unknown_namespace_label = runtime::unknown_label;

}  // namespace

const std::string& metric_namespace(const flow_state& st) {
  return st.ns_known ? st.ns : unknown_namespace_label;
}

std::shared_ptr<flow_state> begin_flow(std::shared_ptr<gateway::context> ctx,
                                       std::shared_ptr<http::exchange> ex, std::string ns,
                                       std::string request_id, openai::endpoint kind) {
  auto st = std::make_shared<flow_state>();
  st->ctx = std::move(ctx);
  st->ex = std::move(ex);
  st->ns = std::move(ns);
  st->request_id = std::move(request_id);
  st->kind = kind;
  st->started = st->ctx->deps.system->clock().now();
  st->headers = read_flow_headers(st->ex->req());
  begin_request_trace(*st);
  st->ctx->metrics.in_flight.Increment();
  st->ctx->in_flight++;
  return st;
}

bool finish(flow_state& st, caf::actor_clock::time_point now, int status) {
  if (st.finished) return false;
  st.finished = true;
  if (st.activation_waiting) st.ctx->activation_waiters--;
  auto seconds = std::chrono::duration<double>(now - st.started).count();
  st.ctx->metrics.finished(metric_namespace(st), st.model, status, seconds);
  st.ctx->metrics.in_flight.Decrement();
  st.ctx->in_flight--;
  if (st.trace.recorded) end_request_trace(st, status);
  const auto& access = st.ctx->deps.access_log;
  if (access.log && st.ctx->settings.access_log && access.log->should_log(spdlog::level::info)) {
    request_record r;
    r.id = st.request_id;
    r.ns = st.ns;
    r.model = st.model;
    if (st.pool) r.pool = st.pool->ns + "/" + st.pool->name;
    r.pod = st.pod_name;
    r.status = status;
    r.prompt_tokens = st.prompt_tokens;
    r.completion_tokens = st.completion_tokens;
    r.ttft_seconds = st.ttft_seconds;
    r.duration_seconds = seconds;
    r.attempts = st.attempts;
    access.log->info(render_request_record(r, access.json));
  }
  return true;
}

void begin_attempt(flow_state& st, const actors::picker::chosen_pod& pick) {
  // Debug: where the request goes (every role's debug lines carry the request id).
  const auto& log = st.ctx->deps.log;
  if (log && log->should_log(spdlog::level::debug))
    log->debug("request {}: namespace {}, model {}, pool {}/{}: to pod {} ({}), attempt {}",
               st.request_id, st.ns, st.model, st.route.pool_ns, st.route.pool, pick.pod,
               pick.endpoint, st.attempts + 1);
  st.pod_name = pick.pod;
  st.pick_decision = pick.decision;  // empty unless asked (x-inferstack-debug-pick)
  st.tried.push_back(pick.pod);
  ++st.attempts;
}

void record_first_token(flow_state& st, caf::actor_clock::time_point now) {
  if (!st.first_token_seen) {
    st.first_token_seen = true;
    st.ttft_seconds = std::chrono::duration<double>(now - st.started).count();
    st.ctx->metrics.first_token(metric_namespace(st), st.model, *st.ttft_seconds);
  }
}

}  // namespace inferstack::gateway
