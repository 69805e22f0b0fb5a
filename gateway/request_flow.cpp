// One OpenAI request through the stack, as a short-lived actor:
//   authorize -> route -> parse -> pick -> generate (stream or not) -> done.
// The common case for model servers over HTTP with a picker in this process runs the same
// steps on the request's own I/O thread instead (see inline_flow at the end), and hands the
// request to the actor at the step where anything else happens.
// Every step is an asynchronous request with a timeout; every failure ends in a response the
// client can act on: OpenAI error JSON, the KAITO envelope for the stack's own failures, or a
// terminal SSE error event once the stream has begun.
#include <algorithm>
#include <charconv>
#include <memory>
#include <optional>
#include <random>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/authorizer/authorizer_actor.hpp"
#include "actors/picker/picker_actor.hpp"
#include "actors/pod/pod_actor.hpp"
#include "actors/router/router_actor.hpp"
#include "gateway/gateway_context.hpp"
#include "gateway/gateway_protocol.hpp"
#include "gateway/request_log.hpp"
#include "gateway/stack_errors.hpp"
#include "openai/extract_model.hpp"
#include "openai/picking_prompt.hpp"
#include "openai/request.hpp"
#include "openai/response.hpp"
#include "runtime/errors.hpp"
#include "runtime/metrics.hpp"
#include "runtime/tokenizer.hpp"

namespace inferstack::gateway {

namespace {

using namespace std::chrono;
namespace authz = actors::authorizer;
namespace router = actors::router;
namespace pod = actors::pod;
namespace picker = actors::picker;

std::string_view header_view(const http::request& req, std::string_view name) {
  auto it = req.find(boost::beast::string_view(name.data(), name.size()));
  if (it == req.end()) return {};
  return http::to_std(it->value());
}

/// The request headers a flow reads, found in one pass over the fields (a lookup each was a
/// case-insensitive tree search per name).
struct flow_headers {
  std::string_view authorization;
  std::string_view session;    ///< x-session-token
  std::string_view objective;  ///< x-gateway-inference-objective, else x-llm-d-inference-objective
  std::string_view priority;   ///< x-inferstack-priority
  std::string_view return_error;  ///< x-return-error (simulator fault injection)
};

flow_headers read_flow_headers(const http::request& req) {
  namespace bhttp = boost::beast::http;
  flow_headers h;
  std::string_view llm_d_objective;
  // A repeated header: the first one counts, as with a lookup.
  auto first = [](std::string_view& slot, std::string_view value) {
    if (slot.empty()) slot = value;
  };
  for (const auto& f : req) {
    auto value = http::to_std(f.value());
    if (f.name() == bhttp::field::authorization) {
      first(h.authorization, value);
      continue;
    }
    if (f.name() != bhttp::field::unknown) continue;
    auto name = f.name_string();
    if (boost::beast::iequals(name, "x-session-token"))
      first(h.session, value);
    else if (boost::beast::iequals(name, "x-gateway-inference-objective"))
      first(h.objective, value);
    else if (boost::beast::iequals(name, "x-llm-d-inference-objective"))
      first(llm_d_objective, value);
    else if (boost::beast::iequals(name, "x-inferstack-priority"))
      first(h.priority, value);
    else if (boost::beast::iequals(name, "x-return-error"))
      first(h.return_error, value);
  }
  if (h.objective.empty()) h.objective = llm_d_objective;
  return h;
}

/// A model server in another process, reached over HTTP (not an actor endpoint).
bool is_http_endpoint(const std::string& endpoint) {
  return endpoint.rfind("http://", 0) == 0;
}

/// Weighted backends are drawn per I/O thread when the router's view decides on the request's
/// thread (the router actor keeps its own seeded generator).
std::mt19937_64& routing_rng(uint64_t seed) {
  thread_local std::mt19937_64 rng{seed ^ std::hash<std::thread::id>{}(std::this_thread::get_id())};
  return rng;
}

std::string_view target_path(const http::request& req) {
  auto target = http::to_std(req.target());
  return target.substr(0, target.find('?'));
}

/// A request parsed whole, and what answering it as an in-process pod's result needs.
struct parsed_request {
  openai::completion_request req;
  pod::generate_request gen;
  std::optional<openai::stream_encoder> encoder;
  openai::response_meta meta;
  std::vector<bool> role_sent;
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
  router::route_decision route;
  std::shared_ptr<const pool_entry> pool;
  /// The body was not parsed whole: the pool's model servers are reached over HTTP and
  /// validate it themselves; only the prompt was read, into pick_tokens.
  bool lean = false;
  std::vector<uint32_t> pick_tokens;
  std::vector<std::string> tried;
  int attempts = 0;
  bool picking = false;        ///< waiting for the picker
  uint64_t pick_deadline = 0;  ///< its entry on the gateway's deadline board
  /// Scale from zero: waiting for the pool's first Ready pod until this time (0: not waiting).
  caf::actor_clock::time_point activation_deadline{};
  bool activation_waiting = false;

  caf::actor pod;
  std::string pod_name;
  bool stream_started = false;
  bool finished = false;
  /// The body parsed whole, for a pod of this process (null while only the prompt was read).
  std::unique_ptr<parsed_request> parsed;
  bool first_token_seen = false;
  std::optional<double> ttft_seconds;
  std::optional<int64_t> prompt_tokens;  ///< from a pod of this process
  std::optional<int64_t> completion_tokens;
  int upstream_status = 0;    ///< HTTP upstreams: the status passed through
  std::string upstream_type;  ///< HTTP upstreams: the content type passed through
};

using flow_actor = caf::stateful_actor<flow_state>;

const std::string unknown_namespace_label = runtime::unknown_label;

const std::string& metric_namespace(const flow_state& st) {
  return st.ns_known ? st.ns : unknown_namespace_label;
}

http::header_list base_headers(flow_actor* self) {
  return {{"x-request-id", self->state.request_id}};
}

/// The request's accounting ends (metrics, in-flight count); false when it had already ended.
bool finish(flow_state& st, caf::actor_clock::time_point now, int status) {
  if (st.finished) return false;
  st.finished = true;
  if (st.activation_waiting) st.ctx->activation_waiters--;
  auto seconds = duration<double>(now - st.started).count();
  st.ctx->metrics.finished(metric_namespace(st), st.model, status, seconds);
  st.ctx->metrics.in_flight.Decrement();
  st.ctx->in_flight--;
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

void done(flow_actor* self, int status) {
  if (finish(self->state, self->clock().now(), status)) self->quit();
}

void fail_openai(flow_actor* self, const openai::api_error& err, http::header_list extra = {}) {
  auto& st = self->state;
  auto headers = base_headers(self);
  for (auto& h : extra)
    headers.push_back(std::move(h));
  if (err.status == 401) headers.emplace_back("x-should-retry", "false");
  if (err.status == 429) headers.emplace_back("retry-after", "1");
  st.ex->respond(static_cast<http::status>(err.status), openai::error_json(err), "application/json",
                 std::move(headers));
  done(self, err.status);
}

void fail_stack(flow_actor* self, const stack_error& err) {
  auto& st = self->state;
  auto headers = base_headers(self);
  for (auto& h : stack_error_headers(err))
    headers.push_back(h);
  if (st.ctx->deps.log)
    st.ctx->deps.log->warn("request {}: {} ({})", st.request_id, err.code, err.message);
  st.ex->respond(static_cast<http::status>(err.status), stack_error_json(err), "application/json",
                 std::move(headers));
  done(self, err.status);
}

/// Once the stream has begun only the stream can carry an error: a terminal SSE error event,
/// then [DONE], so clients can tell truncation from completion.
void end_stream_with_error(flow_state& st, const openai::api_error& err) {
  st.ex->write(openai::sse_error_event(err));
  st.ex->write(openai::sse_done());
  st.ex->finish();
}

void fail_in_stream(flow_actor* self, const openai::api_error& err) {
  end_stream_with_error(self->state, err);
  done(self, err.status);
}

/// A model server over HTTP broke off after the first byte: an SSE stream says so; a
/// truncated JSON body must not look complete, so its connection is cut.
void end_broken_upstream(flow_state& st, const std::string& error) {
  if (st.upstream_type.rfind("text/event-stream", 0) == 0)
    end_stream_with_error(st, openai::internal_error("the model server " + st.pod_name +
                                                     " failed mid-stream: " + error));
  else
    st.ex->abort();
}

openai::api_error to_api_error(const pod::pod_error_info& info) {
  openai::api_error err;
  err.status = info.status;
  err.message = info.message;
  err.type = info.type;
  if (!info.param.empty()) err.param = info.param;
  err.code = info.code;
  return err;
}

bool is_transport_failure(const caf::error& err) {
  return err.category() == caf::atom("transport") || err == caf::sec::request_timeout ||
         err == caf::sec::request_receiver_down;
}

void pick_and_send(flow_actor* self);

// -- streaming ---------------------------------------------------------------------------------

void start_stream(flow_actor* self) {
  auto& st = self->state;
  if (st.stream_started) return;
  st.stream_started = true;
  auto headers = base_headers(self);
  headers.emplace_back("x-inference-pod", st.pod_name);
  st.ex->start_stream(http::status::ok, "text/event-stream; charset=utf-8", std::move(headers));
}

/// Time to first token is taken once per request, at whatever first carries a token or a head.
void record_first_token(flow_state& st, caf::actor_clock::time_point now) {
  if (!st.first_token_seen) {
    st.first_token_seen = true;
    st.ttft_seconds = duration<double>(now - st.started).count();
    st.ctx->metrics.first_token(metric_namespace(st), st.model, *st.ttft_seconds);
  }
}

void record_first_token(flow_actor* self) {
  record_first_token(self->state, self->clock().now());
}

void on_chunk(flow_actor* self, pod::token_chunk& chunk) {
  auto& st = self->state;
  if (st.finished || !st.parsed || !st.parsed->encoder) return;
  record_first_token(self);
  start_stream(self);
  std::string frame;
  auto index = static_cast<int>(chunk.choice);
  if (st.kind == openai::endpoint::chat_completions) {
    if (chunk.choice >= st.parsed->role_sent.size())
      st.parsed->role_sent.resize(chunk.choice + 1, false);
    if (!st.parsed->role_sent[chunk.choice]) {
      st.parsed->role_sent[chunk.choice] = true;
      st.parsed->encoder->append_role(frame, index);
    }
    if (chunk.finish_reason.empty())
      st.parsed->encoder->append_content(frame, index, chunk.text);
    else
      st.parsed->encoder->append_finish(frame, index, chunk.finish_reason, chunk.text);
  } else {
    std::optional<std::string_view> reason;
    if (!chunk.finish_reason.empty()) reason = chunk.finish_reason;
    st.parsed->encoder->append_completion(frame, index, chunk.text, reason);
  }
  // Credit goes back to the pod when the bytes reached the client's socket: a slow reader slows
  // the pod down instead of making the gateway buffer.
  auto pod = caf::actor_cast<pod::pod_actor>(st.pod);
  st.ex->write(std::move(frame), [pod, id = st.request_id] {
    caf::anon_send(pod, pod::stream_ack{id, 1});
  });
}

void on_result(flow_actor* self, pod::generate_result& result) {
  auto& st = self->state;
  if (st.finished) return;
  auto pool = st.pool;
  if (pool)
    caf::anon_send(pool->picker,
                   picker::request_done{st.request_id, st.pod_name, result.prompt_tokens,
                                        result.completion_tokens, true});
  openai::usage use{result.prompt_tokens, result.completion_tokens, result.cached_tokens};
  st.prompt_tokens = result.prompt_tokens;
  st.completion_tokens = result.completion_tokens;
  // Not streamed: the pod's own time to first token is what the access log can tell.
  if (!st.ttft_seconds) st.ttft_seconds = static_cast<double>(result.ttft_ns) / 1e9;
  if (st.parsed->req.stream) {
    start_stream(self);
    std::string tail;
    if (st.parsed->req.include_usage) st.parsed->encoder->append_usage(tail, use);
    tail += openai::sse_done();
    st.ex->write(std::move(tail));
    st.ex->finish();
    done(self, 200);
    return;
  }
  std::vector<openai::choice_result> choices;
  for (auto& c : result.choices)
    choices.push_back({static_cast<int>(c.index), std::move(c.text), c.finish_reason});
  st.parsed->meta.model = result.model.empty() ? st.parsed->meta.model : result.model;
  auto body = st.kind == openai::endpoint::chat_completions
                  ? openai::chat_response_json(st.parsed->meta, choices, use)
                  : openai::completion_response_json(st.parsed->meta, choices, use);
  auto headers = base_headers(self);
  headers.emplace_back("x-inference-pod", st.pod_name);
  st.ex->respond(http::status::ok, std::move(body), "application/json", std::move(headers));
  done(self, 200);
}

void on_pod_error(flow_actor* self, const caf::error& err) {
  auto& st = self->state;
  if (st.finished) return;
  if (st.pool)
    caf::anon_send(st.pool->picker, picker::request_done{st.request_id, st.pod_name, 0, 0, false});
  bool transport = is_transport_failure(err);
  bool unavailable = err.category() == caf::atom("pod") &&
                     (err.code() == static_cast<uint8_t>(pod::pod_errc::not_ready) ||
                      err.code() == static_cast<uint8_t>(pod::pod_errc::draining));
  bool can_retry = !st.ctx->deps.direct_pod && st.attempts < st.ctx->settings.max_attempts;
  if (!st.stream_started && (transport || unavailable) && can_retry) {
    // Nothing reached the client yet: try once more on another pod.
    st.ctx->metrics.retries.Increment();
    if (st.ctx->deps.log)
      st.ctx->deps.log->info("request {}: pod {} failed before the first byte ({}), retrying",
                             st.request_id, st.pod_name, self->system().render(err));
    pick_and_send(self);
    return;
  }
  if (st.stream_started) {
    auto api = transport
                   ? openai::internal_error("the model server " + st.pod_name +
                                            " failed mid-stream: " + self->system().render(err))
                   : to_api_error(pod::describe_pod_error(err));
    fail_in_stream(self, api);
    return;
  }
  if (err == caf::sec::request_timeout) {
    fail_stack(self, internal_failure(504, "the model server " + st.pod_name +
                                               " did not answer within the upstream timeout"));
    return;
  }
  if (transport) {
    fail_stack(self, no_healthy_pod("the model server " + st.pod_name +
                                    " is unreachable: " + self->system().render(err)));
    return;
  }
  // A genuine error from the pod passes through unchanged.
  fail_openai(self, to_api_error(pod::describe_pod_error(err)));
}

/// A model server in another process, over HTTP: the request body goes out unchanged (with
/// X-Gateway-Model-Name set by the router), the response comes back byte for byte; the upstream
/// I/O thread writes to the client directly and reads the next piece only once the client has
/// taken the last one.
upstream_request upstream_request_for(const flow_state& st, const upstream_target& target) {
  upstream_request req;
  req.target = target.base_path + std::string(target_path(st.ex->req()));
  req.headers = {{"Content-Type", "application/json"},
                 {"X-Gateway-Model-Name", st.route.model},
                 {"x-request-id", st.request_id}};
  if (st.return_error != 0) req.headers.emplace_back("x-return-error", st.headers.return_error);
  if (!st.headers.session.empty()) req.headers.emplace_back("x-session-token", st.headers.session);
  req.body = st.ex->req().body();
  return req;
}

caf::error not_http_endpoint(const std::string& url) {
  return caf::make_error(runtime::transport_errc::unknown_actor, "not an http:// endpoint: " + url);
}

void forward_http(flow_actor* self, const std::string& url) {
  auto& st = self->state;
  upstream_target target;
  if (!parse_upstream_url(url, target)) {
    on_pod_error(self, not_http_endpoint(url));
    return;
  }
  auto req = upstream_request_for(st, target);
  auto ex = st.ex;
  auto me = caf::actor_cast<caf::actor>(self);
  upstream_handler h;
  h.on_head = [ex, me, pod = st.pod_name, id = st.request_id](int status, const std::string& type) {
    ex->start_stream(static_cast<http::status>(status), type.empty() ? "application/json" : type,
                     {{"x-request-id", id}, {"x-inference-pod", pod}});
    caf::anon_send(
        me, upstream_event{static_cast<uint8_t>(upstream_phase::head), status, type, {}, false});
  };
  h.on_complete = [ex, me, pod = st.pod_name, id = st.request_id](
                      int status, const std::string& type, std::string body) {
    ex->respond(static_cast<http::status>(status), std::move(body),
                type.empty() ? "application/json" : type,
                {{"x-request-id", id}, {"x-inference-pod", pod}});
    // Head and end at once: one message tells the flow both.
    caf::anon_send(
        me, upstream_event{static_cast<uint8_t>(upstream_phase::end), status, type, {}, false});
  };
  h.on_data = [ex](std::string data, std::function<void()> resume) {
    if (!ex->write(std::move(data), resume)) resume();  // client gone: drain, then done
  };
  h.on_end = [ex, me] {
    ex->finish();
    caf::anon_send(me, upstream_event{static_cast<uint8_t>(upstream_phase::end), 0, {}, {}, false});
  };
  h.on_error = [me](const std::string& error, bool before_first_byte) {
    caf::anon_send(
        me, upstream_event{
                static_cast<uint8_t>(upstream_phase::failed), 0, {}, error, before_first_byte});
  };
  // On the client connection's I/O thread: the response goes to the client without a hop.
  st.ctx->upstreams->send(target, std::move(req), st.ctx->settings.upstream_timeout, std::move(h),
                          st.ex->executor());
}

void on_upstream_event(flow_actor* self, upstream_event& ev) {
  auto& st = self->state;
  if (st.finished) return;
  switch (static_cast<upstream_phase>(ev.phase)) {
    case upstream_phase::head:
      st.stream_started = true;
      st.upstream_status = ev.status;
      st.upstream_type = ev.content_type;
      record_first_token(self);
      return;
    case upstream_phase::end:
      if (ev.status != 0) {  // a whole response: the head comes with the end
        st.upstream_status = ev.status;
        st.upstream_type = ev.content_type;
        record_first_token(self);
      }
      if (st.pool)
        caf::anon_send(st.pool->picker, picker::request_done{st.request_id, st.pod_name, 0, 0,
                                                             st.upstream_status < 500});
      done(self, st.upstream_status);
      return;
    case upstream_phase::failed:
      if (ev.before_first_byte) {
        on_pod_error(self, caf::make_error(runtime::transport_errc::peer_unreachable, ev.error));
        return;
      }
      if (st.pool)
        caf::anon_send(st.pool->picker,
                       picker::request_done{st.request_id, st.pod_name, 0, 0, false});
      end_broken_upstream(st, ev.error);
      done(self, 502);
      return;
  }
}

bool parse_whole(flow_actor* self);

/// Debug: where the request goes (every role's debug lines carry the request id).
void log_pick(const flow_state& st, const picker::chosen_pod& pick) {
  const auto& log = st.ctx->deps.log;
  if (log && log->should_log(spdlog::level::debug))
    log->debug("request {}: namespace {}, model {}, pool {}/{}: to pod {} ({}), attempt {}",
               st.request_id, st.ns, st.model, st.route.pool_ns, st.route.pool, pick.pod,
               pick.endpoint, st.attempts + 1);
}

void send_to_pod(flow_actor* self, const picker::chosen_pod& pick) {
  auto& st = self->state;
  log_pick(st, pick);
  st.pod_name = pick.pod;
  st.tried.push_back(pick.pod);
  ++st.attempts;
  if (is_http_endpoint(pick.endpoint)) {
    forward_http(self, pick.endpoint);
    return;
  }
  if (st.lean) {
    // The pool got a pod of its own meanwhile: that one needs the request parsed whole.
    st.lean = false;
    if (!parse_whole(self)) {
      if (st.pool)
        caf::anon_send(st.pool->picker,
                       picker::request_done{st.request_id, st.pod_name, 0, 0, false});
      return;
    }
  }
  auto handle = st.ctx->resolve(pick.endpoint);
  if (!handle) {
    on_pod_error(self, handle.error());
    return;
  }
  st.pod = *handle;
  self->request(caf::actor_cast<pod::pod_actor>(st.pod),
                duration_cast<caf::timespan>(st.ctx->settings.upstream_timeout), st.parsed->gen)
      .then([self](pod::generate_result& result) { on_result(self, result); },
            [self](caf::error& err) { on_pod_error(self, err); });
}

/// The picker answered (or its deadline passed): true the first time only.
bool end_picking(flow_actor* self) {
  auto& st = self->state;
  if (!st.picking) return false;
  st.picking = false;
  st.ctx->pick_deadlines.remove(st.pick_deadline);
  return true;
}

/// 503 as the EPP answers when the pool has no endpoint, with llm-d's dropped-reason header.
void fail_no_endpoints(flow_actor* self, const std::string& detail) {
  const auto& pool = *self->state.pool;
  fail_openai(self,
              openai::service_unavailable("InferencePool " + pool.ns + "/" + pool.name +
                                          " has no ready endpoint" + detail),
              {{"x-llm-d-request-dropped-reason", "rejected-no-endpoints"}});
}

/// The pool has no Ready pod: ask the activator (the scaler) to start one and wait for it,
/// trying the picker again every 100 ms, within the activation timeout and queue bound. False:
/// not worth waiting (no activator, queue full, timed out) -- the caller answers 503.
bool await_activation(flow_actor* self) {
  auto& st = self->state;
  auto& ctx = *st.ctx;
  if (!ctx.deps.activator) return false;
  auto now = self->clock().now();
  if (st.activation_waiting) {
    if (now >= st.activation_deadline) return false;
    self->delayed_send(self, std::chrono::milliseconds(100), atoms::tick_atom_v);
    return true;
  }
  if (ctx.activation_waiters.fetch_add(1) >= ctx.settings.activation_queue) {
    ctx.activation_waiters--;
    return false;
  }
  st.activation_waiting = true;
  st.activation_deadline =
      now + std::chrono::duration_cast<caf::timespan>(ctx.settings.activation_timeout);
  auto pool = st.pool;
  self->request(ctx.deps.activator, std::chrono::seconds(5),
                actors::scaler::activate_pool{pool->ns, pool->name})
      .then(
          [self, pool](actors::scaler::activation& a) {
            if (a.starting) {
              if (self->state.ctx->deps.log)
                self->state.ctx->deps.log->info("request {}: waiting for a Ready pod of {}/{}: {}",
                                                self->state.request_id, pool->ns, pool->name,
                                                a.detail);
              self->delayed_send(self, std::chrono::milliseconds(100), atoms::tick_atom_v);
              return;
            }
            fail_no_endpoints(self, " (" + a.detail + ")");
          },
          [self](caf::error&) { fail_no_endpoints(self, ""); });
  return true;
}

void on_pick_error(flow_actor* self, const caf::error& err) {
  auto& st = self->state;
  auto pool = st.pool;
  // The picker's own answers, as the EPP gives them (503 no endpoints, 429 shed), with llm-d's
  // x-llm-d-request-dropped-reason. A picker that does not know its pool yet (restarted) has
  // no answer to give: it counts as unavailable, below.
  bool not_ready = err.category() == caf::atom("picker") &&
                   err.code() == static_cast<uint8_t>(picker::picker_errc::not_ready);
  if (err.category() == caf::atom("picker") && !not_ready) {
    auto code = static_cast<picker::picker_errc>(err.code());
    if (code == picker::picker_errc::no_endpoints) {
      if (await_activation(self)) return;
      fail_no_endpoints(self, "");
      return;
    }
    openai::api_error shed{429, "The pool is saturated; sheddable requests are rejected.",
                           "rate_limit_error", std::nullopt, "rate_limit_exceeded"};
    fail_openai(self, shed, {{"x-llm-d-request-dropped-reason", "rejected-saturated"}});
    return;
  }
  // The picker could not answer (in time, or yet): the pool's failure mode decides.
  if (pool->failure_mode == "FailOpen") {
    // Any ready member, spread by request id (not always the first one).
    const auto& members = pool->members;
    size_t start = members.empty() ? 0 : std::hash<std::string>{}(st.request_id) % members.size();
    for (size_t i = 0; i < members.size(); ++i) {
      const auto& m = members[(start + i) % members.size()];
      if (!m.ready || m.draining) continue;
      if (std::find(st.tried.begin(), st.tried.end(), m.pod) != st.tried.end()) continue;
      send_to_pod(self, picker::chosen_pod{m.pod, m.endpoint, {}, {}});
      return;
    }
    fail_stack(self, no_healthy_pod("the picker of " + pool->ns + "/" + pool->name +
                                    " is unavailable and no pod is known"));
    return;
  }
  fail_stack(self, not_programmed("the picker of InferencePool " + pool->ns + "/" + pool->name +
                                  " is unavailable (FailClose): " + self->system().render(err)));
}

/// What the picker is asked for this request.
picker::choose_pod pick_for(const flow_state& st) {
  picker::choose_pod pick;
  pick.request_id = st.request_id;
  pick.model = st.route.model;
  if (st.lean)
    pick.tokens = st.pick_tokens;
  else if (st.parsed && !st.parsed->gen.prompts.empty())
    pick.tokens = st.parsed->gen.prompts.front();
  pick.session = st.headers.session;
  pick.exclude = st.tried;
  pick.objective = st.headers.objective;
  if (!st.headers.priority.empty()) {
    try {
      pick.priority = std::stoi(std::string(st.headers.priority));
    } catch (const std::exception&) {
    }
  }
  return pick;
}

void pick_and_send(flow_actor* self) {
  auto& st = self->state;
  st.pool = st.ctx->deps.pools->find(st.route.pool_ns, st.route.pool);
  if (!st.pool) {
    fail_stack(self, not_programmed("no picker for InferencePool " + st.route.pool_ns + "/" +
                                    st.route.pool + " yet"));
    return;
  }
  // The picker's deadline is kept on the gateway's deadline board (one sweep for all
  // requests) rather than as a CAF request timeout.
  st.picking = true;
  st.pick_deadline = st.ctx->pick_deadlines.add(
      self->clock().now() + duration_cast<caf::timespan>(st.ctx->settings.picker_timeout),
      caf::actor_cast<caf::actor>(self));
  self->request(st.pool->picker, caf::infinite, pick_for(st))
      .then(
          [self](picker::chosen_pod& result) {
            if (!end_picking(self)) return;
            send_to_pod(self, result);
          },
          [self](caf::error& err) {
            if (!end_picking(self)) return;
            on_pick_error(self, err);
          });
}

/// The prompts as token ids and the texts echo mode returns.
void build_generate(flow_actor* self) {
  auto& st = self->state;
  auto& req = st.parsed->req;
  auto& gen = st.parsed->gen;
  gen.request_id = st.request_id;
  gen.model = st.route.model;
  gen.api = static_cast<uint8_t>(st.kind == openai::endpoint::chat_completions
                                     ? pod::api_kind::chat
                                     : pod::api_kind::completions);
  if (st.kind == openai::endpoint::chat_completions) {
    std::vector<runtime::chat_turn> turns;
    turns.reserve(req.messages.size());
    for (const auto& m : req.messages)
      turns.push_back({m.role, m.content});
    gen.prompts.push_back(runtime::tokenize(runtime::flatten_chat(turns)));
    gen.echo_texts.push_back(req.messages.empty() ? "" : req.messages.back().content);
  } else {
    std::visit(
        [&](const auto& p) {
          using T = std::decay_t<decltype(p)>;
          if constexpr (std::is_same_v<T, std::string>) {
            gen.prompts.push_back(runtime::tokenize(p));
            gen.echo_texts.push_back(p);
          } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            for (const auto& s : p) {
              gen.prompts.push_back(runtime::tokenize(s));
              gen.echo_texts.push_back(s);
            }
          } else if constexpr (std::is_same_v<T, openai::token_ids>) {
            gen.prompts.push_back(p);
            std::string text;
            for (size_t i = 0; i < p.size(); ++i) {
              if (i) text += ',';
              text += std::to_string(p[i]);
            }
            gen.echo_texts.push_back(text);
          } else if constexpr (std::is_same_v<T, std::vector<openai::token_ids>>) {
            for (const auto& ids : p) {
              gen.prompts.push_back(ids);
              std::string text;
              for (size_t i = 0; i < ids.size(); ++i) {
                if (i) text += ',';
                text += std::to_string(ids[i]);
              }
              gen.echo_texts.push_back(text);
            }
          }
        },
        req.prompt);
  }
  auto max_tokens = req.effective_max_tokens();
  if (!max_tokens && st.kind == openai::endpoint::completions)
    max_tokens = openai::vllm_completions_default_max_tokens;
  gen.max_tokens = max_tokens.value_or(-1);
  gen.ignore_eos = req.ignore_eos;
  gen.n = static_cast<uint32_t>(std::max(1, req.n));
  gen.stream = req.stream;
  gen.stream_window = st.ctx->settings.stream_window;
  gen.return_error = static_cast<uint32_t>(st.return_error);
}

/// Every member of the pool is a model server over HTTP (which validates requests itself).
bool reached_over_http(const pool_entry* pool) {
  if (!pool || pool->members.empty()) return false;
  return std::all_of(pool->members.begin(), pool->members.end(),
                     [](const auto& m) { return is_http_endpoint(m.endpoint); });
}

/// For a pool reached over HTTP: only the prompt, for the picker, as llm-d's EPP reads it.
/// False when the body does not read that way (the full parse then words the 400).
bool read_prompt_only(flow_state& st) {
  auto prompt = openai::extract_picking_prompt(st.kind, st.ex->req().body());
  if (!prompt) return false;
  if (st.kind == openai::endpoint::chat_completions) {
    std::vector<runtime::chat_turn> turns;
    turns.reserve(prompt->turns.size());
    for (auto& [role, content] : prompt->turns)
      turns.push_back({std::move(role), std::move(content)});
    st.pick_tokens = runtime::tokenize(runtime::flatten_chat(turns));
  } else {
    st.pick_tokens = prompt->has_ids ? std::move(prompt->ids) : runtime::tokenize(prompt->text);
  }
  st.lean = true;
  return true;
}

/// The whole body, typed and validated, and the generate request an in-process pod gets.
/// False when it is refused (the 400 has been sent).
bool parse_whole(flow_actor* self) {
  auto& st = self->state;
  bool direct = static_cast<bool>(st.ctx->deps.direct_pod);
  auto outcome = openai::parse_request(st.kind, st.ex->req().body());
  if (!outcome) {
    fail_openai(self, outcome.error());
    return false;
  }
  st.parsed = std::make_unique<parsed_request>();
  st.parsed->req = std::move(outcome).request();
  if (direct) st.route.model = st.parsed->req.model;  // the pod itself checks the model
  st.model = st.route.model;
  st.parsed->req.raw = nlohmann::json();  // the pod gets typed fields; drop the DOM early
  st.parsed->meta.id =
      (st.kind == openai::endpoint::chat_completions ? "chatcmpl-" : "cmpl-") + st.request_id;
  st.parsed->meta.created = st.ctx->deps.unix_seconds ? st.ctx->deps.unix_seconds() : 0;
  st.parsed->meta.model = st.route.model;
  if (st.parsed->req.stream) st.parsed->encoder.emplace(st.kind, st.parsed->meta);
  build_generate(self);
  return true;
}

/// X-Return-Error, when the operator forwards fault injection: a status code of 400-599 (the
/// simulator answers with it), anything else refused. Without the switch it is ignored.
std::optional<openai::api_error> read_fault_header(flow_state& st) {
  const auto& text = st.headers.return_error;
  if (!st.ctx->settings.forward_fault_injection || text.empty()) return std::nullopt;
  int code = 0;
  auto end = text.data() + text.size();
  auto [stop, problem] = std::from_chars(text.data(), end, code);
  if (problem != std::errc{} || stop != end || code < 400 || code > 599)
    return openai::bad_request(
        "X-Return-Error must be an HTTP error status between 400 and 599, got '" +
            std::string(st.headers.return_error.substr(0, 16)) + "'",
        std::string("x-return-error"));
  st.return_error = code;
  return std::nullopt;
}

void on_routed(flow_actor* self, router::route_decision& decision) {
  auto& st = self->state;
  bool direct = static_cast<bool>(st.ctx->deps.direct_pod);
  st.route = std::move(decision);
  if (auto refused = read_fault_header(st)) {
    fail_openai(self, *refused);
    return;
  }
  if (!direct &&
      reached_over_http(st.ctx->deps.pools->find(st.route.pool_ns, st.route.pool).get()) &&
      read_prompt_only(st)) {
    st.model = st.route.model;
    pick_and_send(self);
    return;
  }
  if (!parse_whole(self)) return;
  if (direct) {
    send_to_pod(self, picker::chosen_pod{st.ctx->deps.direct_pod_name, "direct", {}, {}});
    return;
  }
  pick_and_send(self);
}

void on_route_error(flow_actor* self, const caf::error& err) {
  if (err.category() == caf::atom("router")) {
    auto code = static_cast<router::router_errc>(err.code());
    std::string context;
    if (err.context().match_elements<std::string>()) context = err.context().get_as<std::string>(0);
    switch (code) {
      case router::router_errc::model_not_found:
        // The body-based router decided: the KAITO stack names it as the source.
        fail_openai(self, openai::model_not_found(context), {{"x-kaito-error-source", "bbr"}});
        return;
      case router::router_errc::invalid_json:
      case router::router_errc::missing_model: {
        // The codec's own error for this body (its message, param and code), once.
        auto why = openai::model_lookup_error(openai::extract_model(self->state.ex->req().body()));
        fail_openai(self, why ? *why : openai::bad_request(context, std::string("model")),
                    {{"x-kaito-error-source", "bbr"}});
        return;
      }
      case router::router_errc::no_backend:
        fail_stack(self, internal_failure(500, context));
        return;
    }
  }
  fail_stack(self, router_unavailable(self->system().render(err)));
}

void on_authorized(flow_actor* self, authz::authorize_result& result) {
  auto& st = self->state;
  auto verdict = static_cast<authz::auth_verdict>(result.verdict);
  st.ns_known = verdict != authz::auth_verdict::unknown_namespace;
  if (!authz::admits(verdict)) {
    openai::api_error err = openai::invalid_api_key();
    if (verdict == authz::auth_verdict::missing_key)
      err.message =
          "You didn't provide an API key. You need to provide your API key in an Authorization "
          "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).";
    else if (verdict == authz::auth_verdict::unknown_namespace)
      err.message = "No API key is configured for namespace " + st.ns + ".";
    fail_openai(self, err);
    return;
  }
  // The router's published view decides here, on this thread: no round trip.
  if (auto view = st.ctx->deps.router_view ? st.ctx->deps.router_view->current() : nullptr) {
    auto decision = view->decide(st.ns, target_path(st.ex->req()), st.ex->req().body(),
                                 routing_rng(st.ctx->deps.seed), st.request_id);
    if (decision)
      on_routed(self, *decision);
    else
      on_route_error(self, decision.error());
    return;
  }
  // No timeout: the router lives in this process; if it has died CAF answers at once with
  // request_receiver_down (-> 502 bbr_unavailable). A timer per request would cost the clock
  // thread two events (set, cancel) on the hot path.
  self->request(st.ctx->deps.router, caf::infinite,
                router::route_request{st.ns, std::string(target_path(st.ex->req())),
                                      st.ex->req().body(), st.request_id})
      .then([self](router::route_decision& d) { on_routed(self, d); },
            [self](caf::error& err) { on_route_error(self, err); });
}

/// The first step: authorization runs on every request, before the body is looked at.
void authorize(flow_actor* self) {
  auto& st = self->state;
  if (st.ctx->deps.direct_pod) {
    router::route_decision none;
    on_routed(self, none);
  } else if (auto view =
                 st.ctx->deps.authorizer_view ? st.ctx->deps.authorizer_view->current() : nullptr) {
    // With the authorizer's published view, here.
    authz::authorize_result r{
        static_cast<uint8_t>(view->decide(st.ns, st.headers.authorization, st.request_id))};
    on_authorized(self, r);
  } else {
    // No view (withdrawn: the authorizer has ended): ask it. No timeout, as for the router: a
    // local actor that died answers at once (-> 502 ext_authz_unavailable).
    self->request(
            st.ctx->deps.authorizer, caf::infinite,
            authz::authorize_request{st.ns, std::string(st.headers.authorization), st.request_id})
        .then([self](authz::authorize_result& r) { on_authorized(self, r); },
              [self](caf::error& err) {
                fail_stack(self, authorizer_unavailable(self->system().render(err)));
              });
  }
}

/// A request that has arrived: its accounting starts (in flight from here until finish()).
std::shared_ptr<flow_state> begin_flow(std::shared_ptr<gateway::context> ctx,
                                       std::shared_ptr<http::exchange> ex, std::string ns,
                                       std::string request_id, bool chat) {
  auto st = std::make_shared<flow_state>();
  st->ctx = std::move(ctx);
  st->ex = std::move(ex);
  st->ns = std::move(ns);
  st->request_id = std::move(request_id);
  st->kind = chat ? openai::endpoint::chat_completions : openai::endpoint::completions;
  st->started = st->ctx->deps.system->clock().now();
  st->headers = read_flow_headers(st->ex->req());
  if (st->ctx->deps.direct_pod) {  // a pod's own API: no namespaces
    st->ns = st->ctx->settings.default_namespace;
    st->ns_known = true;
  }
  st->ctx->metrics.in_flight.Increment();
  st->ctx->in_flight++;
  return st;
}

/// Where an actor takes a request up: from the start, or at the step where a flow begun on the
/// request's own thread (see forward_inline) met something that needs an actor.
enum class flow_step {
  authorize,
  authorized,
  routed,
  route_failed,
  pick_failed,
  picked,
  pod_failed
};

struct flow_start {
  flow_step at = flow_step::authorize;
  authz::auth_verdict verdict = authz::auth_verdict::allowed;  ///< authorized
  caf::error error;                                            ///< *_failed
  picker::chosen_pod pick;                                     ///< picked
};

caf::behavior request_flow(flow_actor* self, std::shared_ptr<flow_state> begun, flow_start start) {
  auto& st = self->state;
  st = std::move(*begun);

  // The client went away: stop the pod's work and end.
  auto me = caf::actor_cast<caf::actor>(self);
  st.ex->on_abort([me] { caf::anon_send(me, atoms::stop_atom_v); });

  switch (start.at) {
    case flow_step::authorize:
      authorize(self);
      break;
    case flow_step::authorized: {
      authz::authorize_result r{static_cast<uint8_t>(start.verdict)};
      on_authorized(self, r);
      break;
    }
    case flow_step::routed: {
      auto decision = st.route;
      on_routed(self, decision);
      break;
    }
    case flow_step::route_failed:
      on_route_error(self, start.error);
      break;
    case flow_step::pick_failed:
      on_pick_error(self, start.error);
      break;
    case flow_step::picked:
      send_to_pod(self, start.pick);
      break;
    case flow_step::pod_failed:
      on_pod_error(self, start.error);
      break;
  }
  return {
      [self](pod::token_chunk& chunk) { on_chunk(self, chunk); },
      [self](upstream_event& ev) { on_upstream_event(self, ev); },
      [self](atoms::tick_atom) {  // waiting for a Ready pod: ask the picker again
        auto& st = self->state;
        if (st.finished || st.picking) return;
        pick_and_send(self);
      },
      [self](atoms::timeout_atom) {
        if (!end_picking(self)) return;
        on_pick_error(self, caf::make_error(caf::sec::request_timeout, "no answer in time"));
      },
      [self](atoms::stop_atom) {
        auto& st = self->state;
        if (st.pod)
          caf::anon_send(caf::actor_cast<pod::pod_actor>(st.pod),
                         pod::cancel_request{st.request_id});
        if (st.pool)
          caf::anon_send(st.pool->picker,
                         picker::request_done{st.request_id, st.pod_name, 0, 0, false});
        done(self, 499);  // client closed request (nginx's code)
      },
  };
}

// -- on the request's own thread ---------------------------------------------------------------

/// The common case taken on the request's own I/O thread, without an actor: authorization and
/// routing from the published views, the pick through the direct picker, the upstream request
/// to a model server over HTTP on the same thread. No message, no thread hop. Anything else (a
/// refusal, a pick error, a pod that is not reached over HTTP, a failure before the first byte)
/// hands the request to an actor at that step, so those paths are written once.
struct inline_flow {
  std::shared_ptr<flow_state> st;
  bool handed_over = false;  ///< the actor has the state now
};

void hand_over(const std::shared_ptr<inline_flow>& flow, flow_start start) {
  flow->handed_over = true;
  flow->st->ctx->deps.system->spawn(request_flow, flow->st, std::move(start));
}

caf::actor_clock::time_point now_of(const flow_state& st) {
  return st.ctx->deps.system->clock().now();
}

/// The response has ended (or the client has gone): the picker and the metrics hear it.
void finish_inline(flow_state& st, int status, bool success) {
  if (st.finished) return;
  st.pool->direct->done(picker::request_done{st.request_id, st.pod_name, 0, 0, success});
  finish(st, now_of(st), status);
}

void forward_inline(const std::shared_ptr<inline_flow>& flow, const picker::chosen_pod& pick) {
  auto& st = *flow->st;
  if (!is_http_endpoint(pick.endpoint))  // the pool got a pod of this process meanwhile
    return hand_over(flow, {flow_step::picked, {}, {}, pick});
  log_pick(st, pick);
  st.pod_name = pick.pod;
  st.tried.push_back(pick.pod);
  ++st.attempts;
  upstream_target target;
  if (!st.pool->http_target(pick.endpoint, target))
    return hand_over(flow, {flow_step::pod_failed, {}, not_http_endpoint(pick.endpoint), {}});
  // The client went away: the picker and the metrics hear it now, the upstream response is
  // drained into the closed exchange.
  std::weak_ptr<inline_flow> weak = flow;
  st.ex->on_abort([weak] {
    auto flow = weak.lock();
    if (flow && !flow->handed_over) finish_inline(*flow->st, 499, false);
  });
  if (st.finished) return;  // it had gone already

  upstream_handler h;
  h.on_head = [flow](int status, const std::string& type) {
    auto& st = *flow->st;
    st.ex->start_stream(static_cast<http::status>(status), type.empty() ? "application/json" : type,
                        {{"x-request-id", st.request_id}, {"x-inference-pod", st.pod_name}});
    st.stream_started = true;
    st.upstream_status = status;
    st.upstream_type = type;
    record_first_token(st, now_of(st));
  };
  h.on_complete = [flow](int status, const std::string& type, std::string body) {
    auto& st = *flow->st;
    // On the client connection's thread (the upstream exchange runs there): written at once.
    st.ex->respond_now(static_cast<http::status>(status), body,
                       type.empty() ? std::string_view("application/json") : type,
                       {{"x-request-id", st.request_id}, {"x-inference-pod", st.pod_name}});
    record_first_token(st, now_of(st));
    finish_inline(st, status, status < 500);
  };
  h.on_data = [ex = st.ex](std::string data, std::function<void()> resume) {
    if (!ex->write(std::move(data), resume)) resume();  // client gone: drain, then done
  };
  h.on_end = [flow] {
    auto& st = *flow->st;
    st.ex->finish();
    finish_inline(st, st.upstream_status, st.upstream_status < 500);
  };
  h.on_error = [flow](const std::string& error, bool before_first_byte) {
    auto& st = *flow->st;
    if (st.finished) return;
    if (before_first_byte)  // retried, or answered, by the actor
      return hand_over(flow, {flow_step::pod_failed,
                              {},
                              caf::make_error(runtime::transport_errc::peer_unreachable, error),
                              {}});
    end_broken_upstream(st, error);
    finish_inline(st, 502, false);
  };
  st.ctx->upstreams->send(target, upstream_request_for(st, target),
                          st.ctx->settings.upstream_timeout, std::move(h), st.ex->executor());
}

/// Takes the request on this thread as far as it goes; see inline_flow.
void run_inline(std::shared_ptr<flow_state> begun, const authz::authorizer_view& authorizer,
                const router::router_view& routes) {
  auto flow = std::make_shared<inline_flow>();
  flow->st = std::move(begun);
  auto& st = *flow->st;
  const auto& req = st.ex->req();
  auto verdict = authorizer.decide(st.ns, st.headers.authorization, st.request_id);
  if (!authz::admits(verdict)) return hand_over(flow, {flow_step::authorized, verdict, {}, {}});
  st.ns_known = true;
  auto decision = routes.decide(st.ns, target_path(req), req.body(), routing_rng(st.ctx->deps.seed),
                                st.request_id);
  if (!decision) return hand_over(flow, {flow_step::route_failed, {}, decision.error(), {}});
  st.route = std::move(*decision);
  if (read_fault_header(st))  // refused by the actor, which words the 400
    return hand_over(flow, {flow_step::routed, {}, {}, {}});
  auto pool = st.ctx->deps.pools->find(st.route.pool_ns, st.route.pool);
  if (!pool || !pool->direct || !reached_over_http(pool.get()) || !read_prompt_only(st))
    return hand_over(flow, {flow_step::routed, {}, {}, {}});
  st.model = st.route.model;
  st.pool = pool;
  auto answer = pool->direct->choose(pick_for(st));
  if (!answer)  // the picker has ended: the actor asks it, hears so, and answers as configured
    return hand_over(flow, {flow_step::routed, {}, {}, {}});
  if (!*answer) return hand_over(flow, {flow_step::pick_failed, {}, answer->error(), {}});
  forward_inline(flow, **answer);
}

// -- GET /v1/models ----------------------------------------------------------------------------

struct models_state {
  std::shared_ptr<gateway::context> ctx;
  std::shared_ptr<http::exchange> ex;
  std::string ns;
  std::string request_id;
};

caf::behavior models_flow(caf::stateful_actor<models_state>* self,
                          std::shared_ptr<gateway::context> ctx, std::shared_ptr<http::exchange> ex,
                          std::string ns, std::string request_id) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.ex = std::move(ex);
  st.ns = std::move(ns);
  st.request_id = std::move(request_id);
  auto timeout = duration_cast<caf::timespan>(st.ctx->settings.control_timeout);
  auto reply = [self](int status, std::string body, http::header_list extra = {}) {
    extra.emplace_back("x-request-id", self->state.request_id);
    self->state.ex->respond(static_cast<http::status>(status), std::move(body), "application/json",
                            std::move(extra));
    self->quit();
  };
  self->request(st.ctx->deps.authorizer, timeout,
                authz::authorize_request{
                    st.ns, std::string(header_view(st.ex->req(), "authorization")), st.request_id})
      .then(
          [self, timeout, reply](authz::authorize_result& r) {
            auto& st = self->state;
            if (!authz::admits(static_cast<authz::auth_verdict>(r.verdict))) {
              reply(401, openai::error_json(openai::invalid_api_key()),
                    {{"x-should-retry", "false"}});
              return;
            }
            self->request(st.ctx->deps.router, timeout, router::models_request{st.ns})
                .then(
                    [self, reply](router::model_list& list) {
                      auto& st = self->state;
                      std::vector<openai::model_card> cards;
                      auto created = st.ctx->deps.unix_seconds ? st.ctx->deps.unix_seconds() : 0;
                      for (auto& m : list.models) {
                        openai::model_card card;
                        card.id = m;
                        card.created = created;
                        card.root = m;
                        cards.push_back(std::move(card));
                      }
                      reply(200, openai::models_list_json(cards));
                    },
                    [reply](caf::error& err) {
                      auto e = router_unavailable("no model list");
                      reply(e.status, stack_error_json(e), stack_error_headers(e));
                    });
          },
          [reply](caf::error&) {
            auto e = authorizer_unavailable("no decision");
            reply(e.status, stack_error_json(e), stack_error_headers(e));
          });
  return {[](atoms::stop_atom) {}};
}

}  // namespace

void start_request_flow(std::shared_ptr<gateway::context> ctx, std::shared_ptr<http::exchange> ex,
                        std::string ns, std::string request_id, bool chat) {
  auto begun = begin_flow(ctx, std::move(ex), std::move(ns), std::move(request_id), chat);
  if (!ctx->deps.direct_pod && ctx->deps.authorizer_view && ctx->deps.router_view) {
    auto authorizer = ctx->deps.authorizer_view->current();
    auto routes = ctx->deps.router_view->current();
    if (authorizer && routes) return run_inline(std::move(begun), *authorizer, *routes);
  }
  ctx->deps.system->spawn(request_flow, std::move(begun), flow_start{});
}

void start_models_flow(std::shared_ptr<gateway::context> ctx, std::shared_ptr<http::exchange> ex,
                       std::string ns, std::string request_id) {
  auto* sys = ctx->deps.system;
  sys->spawn(models_flow, std::move(ctx), std::move(ex), std::move(ns), std::move(request_id));
}

}  // namespace inferstack::gateway
