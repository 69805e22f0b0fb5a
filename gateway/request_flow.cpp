// The actor driver (see request_flow.hpp): a request's steps as a short-lived actor --
//   authorize -> route -> parse -> pick -> the pod (a pod actor, or a model server over HTTP)
//   -> retry on another pod before the first byte, or answer.
// Each step applies a decision of request_steps and goes on to the next; every step that asks
// an actor is an asynchronous request, and every failure ends in a response the client can act
// on: OpenAI error JSON, the KAITO envelope for the stack's own failures, or a terminal SSE error
// event once the stream has begun.
#include "gateway/request_flow.hpp"

#include <algorithm>
#include <memory>
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/authorizer/authorizer_actor.hpp"
#include "actors/router/router_actor.hpp"
#include "actors/scaler/scaler_protocol.hpp"
#include "gateway/gateway_context.hpp"
#include "gateway/gateway_protocol.hpp"
#include "gateway/request_steps.hpp"
#include "gateway/request_trace.hpp"
#include "gateway/upstream_forwarder.hpp"
#include "runtime/errors.hpp"

namespace inferstack::gateway {

namespace {

using namespace std::chrono;
namespace authz = actors::authorizer;
namespace router = actors::router;
namespace picker = actors::picker;

/// The actor hears how a model server over HTTP answers, by message (see upstream_forwarder).
class upstream_messenger : public upstream_listener {
 public:
  upstream_messenger(caf::actor flow, const flow_state& st)
      : flow_(std::move(flow)),
        ex_(st.ex),
        request_id_(st.request_id),
        pod_(st.pod_name),
        pick_decision_(st.pick_decision) {}
  std::string_view request_id() const override { return request_id_; }
  std::string_view pod() const override { return pod_; }
  std::string_view pick_decision() const override { return pick_decision_; }
  http::exchange& client() override { return *ex_; }
  void head(int status, const std::string& type) override {
    caf::anon_send(
        flow_, upstream_event{static_cast<uint8_t>(upstream_phase::head), status, type, {}, false});
  }
  void ended(int status, const std::string& type) override {
    // A whole response (status set): head and end at once, one message tells the flow both.
    caf::anon_send(
        flow_, upstream_event{static_cast<uint8_t>(upstream_phase::end), status, type, {}, false});
  }
  void failed(const std::string& error, bool before_first_byte) override {
    caf::anon_send(
        flow_, upstream_event{
                   static_cast<uint8_t>(upstream_phase::failed), 0, {}, error, before_first_byte});
  }

 private:
  caf::actor flow_;
  std::shared_ptr<http::exchange> ex_;
  std::string request_id_;
  std::string pod_;
  std::string pick_decision_;
};

void on_upstream_event(flow_actor* self, upstream_event& ev) {
  auto& st = self->state;
  if (st.finished) return;
  switch (static_cast<upstream_phase>(ev.phase)) {
    case upstream_phase::head:
      note_upstream_head(st, ev.status, ev.content_type, self->clock().now());
      return;
    case upstream_phase::end:
      if (ev.status != 0)  // a whole response: the head comes with the end
        note_upstream_head(st, ev.status, ev.content_type, self->clock().now());
      picker_done(st, st.upstream_status < 500);
      done(self, st.upstream_status);
      return;
    case upstream_phase::failed:
      if (ev.before_first_byte) {
        pod_failed(self, caf::make_error(runtime::transport_errc::peer_unreachable, ev.error),
                   pick_and_send);
        return;
      }
      picker_done(st, false);
      end_broken_upstream(st, ev.error);
      done(self, 502);
      return;
  }
}

/// The pool has no Ready pod: ask the activator (the scaler) to start one and wait for it,
/// trying the picker again every 100 ms, within the activation timeout and queue bound. False:
/// not worth waiting (no activator, queue full, timed out) -- the caller answers 503.
bool wait_for_activation(flow_actor* self) {
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
            fail_with(self, no_endpoints(*pool, " (" + a.detail + ")"));
          },
          [self, pool](caf::error&) { fail_with(self, no_endpoints(*pool, "")); });
  return true;
}

/// Sends the pick to a replica of the pool (defined below pick_and_send).
void ask_replica(flow_actor* self, std::optional<size_t> chosen);

/// The picker answered (or its deadline passed): true the first time only.
bool end_picking(flow_actor* self) {
  auto& st = self->state;
  if (!st.picking) return false;
  st.picking = false;
  st.ctx->pick_deadlines.remove(st.pick_deadline);
  return true;
}

}  // namespace

void authorize(flow_actor* self) {
  auto& st = self->state;
  if (auto view =
          st.ctx->deps.authorizer_view ? st.ctx->deps.authorizer_view->current() : nullptr) {
    auto verdict = view->decide(st.ns, st.headers.authorization, st.request_id);
    trace_authorization(st, verdict);
    return authorized(self, verdict);
  }
  // No view (withdrawn: the authorizer has ended): ask it. No timeout: a local actor that died
  // answers at once (-> 502 ext_authz_unavailable); a timer per request would cost the clock
  // thread two events (set, cancel) on the hot path.
  self->request(
          st.ctx->deps.authorizer, caf::infinite,
          authz::authorize_request{st.ns, std::string(st.headers.authorization), st.request_id})
      .then(
          [self](authz::authorize_result& r) {
            auto verdict = static_cast<authz::auth_verdict>(r.verdict);
            trace_authorization(self->state, verdict);
            authorized(self, verdict);
          },
          [self](caf::error& err) {
            fail_stack(self, authorizer_unavailable(self->system().render(err)));
          });
}

void authorized(flow_actor* self, authz::auth_verdict verdict) {
  auto& st = self->state;
  st.ns_known = verdict != authz::auth_verdict::unknown_namespace;
  if (auto refused = refuse_unauthorized(verdict, st.ns)) return fail_openai(self, *refused);
  // The router's published view decides here, on this thread: no round trip.
  if (auto view = st.ctx->deps.router_view ? st.ctx->deps.router_view->current() : nullptr) {
    auto rng = routing_rng(st.ctx->deps.seed, st.request_id);
    auto decision =
        view->decide(st.ns, target_path(st.ex->req()), st.ex->req().body(), rng, st.request_id);
    if (!decision) {
      trace_route(st, &decision.error());
      return route_failed(self, decision.error());
    }
    st.route = std::move(*decision);
    trace_route(st, nullptr);
    return routed(self);
  }
  // No timeout, as for the authorizer: the router lives in this process.
  self->request(st.ctx->deps.router, caf::infinite,
                router::route_request{st.ns, std::string(target_path(st.ex->req())),
                                      st.ex->req().body(), st.request_id})
      .then(
          [self](router::route_decision& d) {
            self->state.route = std::move(d);
            trace_route(self->state, nullptr);
            routed(self);
          },
          [self](caf::error& err) {
            trace_route(self->state, &err);
            route_failed(self, err);
          });
}

void route_failed(flow_actor* self, const caf::error& err) {
  fail_with(self, route_refusal(err, self->state.ex->req().body(), renderer_of(self)));
}

bool parse_body(flow_actor* self, bool model_from_body) {
  auto& st = self->state;
  parse_inputs in;
  in.kind = st.kind;
  in.body = st.ex->req().body();
  in.request_id = st.request_id;
  in.model = st.route.model;
  in.model_from_body = model_from_body;
  in.created = st.ctx->deps.unix_seconds ? st.ctx->deps.unix_seconds() : 0;
  in.stream_window = st.ctx->settings.stream_window;
  in.return_error = st.return_error;
  in.simulator = st.ctx->settings.simulator_requests;
  in.cache_threshold_finish = header_true(st.headers.cache_threshold_finish);
  auto outcome = parse_whole(in);
  if (auto* refused = std::get_if<openai::api_error>(&outcome)) {
    fail_openai(self, *refused);
    return false;
  }
  st.parsed = std::move(std::get<std::unique_ptr<parsed_request>>(outcome));
  if (model_from_body) st.route.model = st.parsed->req.model;
  st.model = st.route.model;
  return true;
}

void routed(flow_actor* self) {
  auto& st = self->state;
  if (auto refused = read_fault_header(st.headers.return_error,
                                       st.ctx->settings.forward_fault_injection, st.return_error))
    return fail_openai(self, *refused);
  if (reached_over_http(st.ctx->deps.pools->find(st.route.pool_ns, st.route.pool).get())) {
    if (auto tokens = read_prompt_only(st.kind, st.ex->req().body())) {
      st.pick_tokens = std::move(*tokens);
      st.lean = true;
      st.model = st.route.model;
      return pick_and_send(self);
    }
  }
  if (parse_body(self, false)) pick_and_send(self);
}

void pick_and_send(flow_actor* self) {
  auto& st = self->state;
  st.pool = st.ctx->deps.pools->find(st.route.pool_ns, st.route.pool);
  if (!st.pool)
    return fail_stack(self, not_programmed("no picker for InferencePool " + st.route.pool_ns + "/" +
                                           st.route.pool + " yet"));
  // The picker's deadline is kept on the gateway's deadline board (one sweep for all
  // requests) rather than as a CAF request timeout; a pick may wait in the picker's
  // flow-control queue for up to the pool's queue wait on top.
  st.picking = true;
  // The pick may wait in the picker's queue: a client hanging up meanwhile must be noticed
  // (and its pick cancelled) although nothing is written to it.
  if (st.pool->queue_wait.count() > 0) st.ex->watch_hangup();
  st.pick_until = self->clock().now() + duration_cast<caf::timespan>(
                                            st.ctx->settings.picker_timeout + st.pool->queue_wait);
  st.replicas_tried = 0;
  ask_replica(self, std::nullopt);
}

namespace {

int64_t clock_ns(caf::actor_clock::time_point t) {
  return duration_cast<nanoseconds>(t.time_since_epoch()).count();
}

/// When a pick waiting on one of several replicas is looked at next: after the silence check's
/// interval, or at its attempt's deadline if sooner, never after the pick's own deadline.
caf::actor_clock::time_point next_attempt_check(const flow_state& st,
                                                caf::actor_clock::time_point now) {
  const auto& policy = st.pool->replicas->policy();
  auto next = now + duration_cast<caf::timespan>(policy.silence_check);
  auto attempt_end = st.attempt_started + duration_cast<caf::timespan>(policy.attempt_timeout);
  if (st.pool->queue_wait.count() == 0 && attempt_end > now) next = std::min(next, attempt_end);
  return std::min(next, st.pick_until);
}

/// Sends the pick to a replica of the pool: `chosen`, or the replica set's choice.
void ask_replica(flow_actor* self, std::optional<size_t> chosen) {
  auto& st = self->state;
  auto replicas = st.pool->replicas;
  auto now = self->clock().now();
  auto choice = chosen ? chosen : replicas->choose(clock_ns(now), st.replicas_tried);
  if (!choice) {
    end_picking(self);
    return pick_failed(self, caf::make_error(runtime::transport_errc::peer_unreachable,
                                             "no picker replica of InferencePool " + st.pool->ns +
                                                 "/" + st.pool->name + " answers"));
  }
  size_t i = *choice;
  st.replica = i;
  mark_tried(st.replicas_tried, i);
  st.picker = replicas->at(i).picker;
  auto attempt = ++st.pick_attempt;
  st.attempt_started = now;
  // With another replica to go to, the attempt is looked at again soon: it moves on when its
  // replica goes silent or its short deadline passes (see replica_policy).
  auto deadline = st.pick_until;
  if (replicas->size() > 1) deadline = next_attempt_check(st, now);
  st.pick_deadline = st.ctx->pick_deadlines.add(deadline, caf::actor_cast<caf::actor>(self));
  self->request(st.picker, caf::infinite, pick_for(st))
      .then(
          [self, attempt, replicas, i](picker::chosen_pod& result) {
            auto& st = self->state;
            if (attempt != st.pick_attempt || !st.picking) {
              // An attempt given up on: the replica counted the request in flight; it ends.
              caf::anon_send(replicas->at(i).picker,
                             picker::request_done{st.request_id, result.pod, 0, 0, false});
              return;
            }
            replicas->answered(i);
            if (end_picking(self)) send_to_pod(self, result);
          },
          [self, attempt, replicas, i](caf::error& err) {
            auto& st = self->state;
            if (attempt != st.pick_attempt || !st.picking) return;
            if (replica_unavailable(err)) {
              replicas->failed(i, clock_ns(self->clock().now()));
              if (replicas->size() > 1 && self->clock().now() < st.pick_until) {
                // Another replica may answer (a late joiner still catching up says not_ready).
                st.ctx->pick_deadlines.remove(st.pick_deadline);
                replicas->note_failover();
                return ask_replica(self, std::nullopt);
              }
            } else {
              replicas->answered(i);  // the picker's own answer: no endpoint, shed, ...
            }
            if (end_picking(self)) pick_failed(self, err);
          });
}

/// The board's deadline passed: the attempt's (another replica may answer) or the pick's.
void pick_deadline_passed(flow_actor* self) {
  auto& st = self->state;
  if (!st.picking) return;
  auto replicas = st.pool->replicas;
  auto now = self->clock().now();
  if (replicas->size() > 1 && now < st.pick_until) {
    // A replica gone silent is given up on at once; one that answers heartbeats only once its
    // attempt's deadline passed -- and never when the pick may be waiting in its flow-control
    // queue. With no other replica to ask, the pick waits for this one until its own deadline.
    bool timed_out = st.pool->queue_wait.count() == 0 &&
                     now - st.attempt_started >=
                         duration_cast<caf::timespan>(replicas->policy().attempt_timeout);
    bool give_up = timed_out || replicas->silent(st.replica);
    auto next = give_up ? replicas->choose(clock_ns(now), st.replicas_tried) : std::nullopt;
    if (next) {
      replicas->failed(st.replica, clock_ns(now));
      caf::anon_send(st.picker, picker::cancel_pick{st.request_id});
      replicas->note_failover();
      return ask_replica(self, next);
    }
    st.pick_deadline =
        st.ctx->pick_deadlines.add(next_attempt_check(st, now), caf::actor_cast<caf::actor>(self));
    return;
  }
  if (end_picking(self)) {
    replicas->failed(st.replica, clock_ns(now));
    pick_failed(self, caf::make_error(caf::sec::request_timeout, "no answer in time"));
  }
}

}  // namespace

void pick_failed(flow_actor* self, const caf::error& err) {
  auto& st = self->state;
  auto next = after_pick_error(err, *st.pool, st.request_id, st.tried, renderer_of(self));
  if (auto* pick = std::get_if<picker::chosen_pod>(&next)) return send_to_pod(self, *pick);
  if (std::holds_alternative<await_activation>(next)) {
    if (!wait_for_activation(self)) fail_with(self, no_endpoints(*st.pool, ""));
    return;
  }
  fail_with(self, std::get<error_answer>(next));
}

void send_to_pod(flow_actor* self, const picker::chosen_pod& pick) {
  auto& st = self->state;
  begin_attempt(st, pick);
  // Nothing is written to the client before the first token: a hang-up meanwhile is noticed
  // (and the pod's or the model server's work stopped) all the same.
  st.ex->watch_hangup();
  if (is_http_endpoint(pick.endpoint)) {
    upstream_target target;
    if (!upstream_target_of(st, pick.endpoint, target))
      return pod_failed(self, not_http_endpoint(pick.endpoint), pick_and_send);
    return forward_upstream(
        st, target, std::make_shared<upstream_messenger>(caf::actor_cast<caf::actor>(self), st));
  }
  if (st.lean) {
    // The pool got a pod of its own meanwhile: that one needs the request parsed whole.
    st.lean = false;
    if (!parse_body(self, false)) return picker_done(st, false);
  }
  auto handle = st.ctx->resolve(pick.endpoint);
  if (!handle) return pod_failed(self, handle.error(), pick_and_send);
  send_generate(self, std::move(*handle), pick_and_send);
}

caf::behavior flow_behavior(flow_actor* self) {
  return {
      [self](actors::pod::token_chunk& chunk) { on_chunk(self, chunk); },
      [self](upstream_event& ev) { on_upstream_event(self, ev); },
      [self](atoms::tick_atom) {  // waiting for a Ready pod: ask the picker again
        auto& st = self->state;
        if (st.finished || st.picking) return;
        pick_and_send(self);
      },
      [self](atoms::timeout_atom) { pick_deadline_passed(self); },
      [self](atoms::stop_atom) { client_gone(self); },
  };
}

}  // namespace inferstack::gateway
