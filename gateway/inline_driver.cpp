// The inline driver; see inline_driver.hpp.
#include "gateway/inline_driver.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include "actors/picker/picker_actor.hpp"
#include "gateway/request_flow.hpp"
#include "gateway/request_steps.hpp"
#include "gateway/request_trace.hpp"
#include "gateway/upstream_forwarder.hpp"
#include "runtime/errors.hpp"

namespace inferstack::gateway {

namespace {

namespace authz = actors::authorizer;
namespace picker = actors::picker;

/// A request on its own thread; it also hears the model server's answer there.
struct inline_flow : upstream_listener {
  std::shared_ptr<flow_state> st;
  bool handed_over = false;  ///< the actor has the state now

  std::string_view request_id() const override { return st->request_id; }
  std::string_view pod() const override { return st->pod_name; }
  std::string_view pick_decision() const override { return st->pick_decision; }
  void head(int status, const std::string& type) override {
    note_upstream_head(*st, status, type, now());
  }
  http::exchange& client() override { return *st->ex; }
  void ended(int status, const std::string&) override {
    if (status == 0) return finish_here(st->upstream_status, st->upstream_status < 500);
    record_first_token(*st, now());  // a whole response: its head came with it
    finish_here(status, status < 500);
  }
  void failed(const std::string& error, bool before_first_byte) override;

  caf::actor_clock::time_point now() const { return st->ctx->deps.system->clock().now(); }

  /// The response has ended (or the client has gone): the picker and the metrics hear it.
  void finish_here(int status, bool success) {
    if (st->finished) return;
    picker::request_done done{st->request_id, st->pod_name, 0, 0, success};
    done.ttft_ns = observed_ttft_ns(*st);  // for the picker's latency models fitted online
    // Not taken on this thread (picks wait in the picker's queue): the actor hears it.
    if (!st->pool->direct->done(done)) caf::anon_send(st->pool->picker(), std::move(done));
    finish(*st, now(), status);
  }
};

/// The actor driver goes on with the request from `step`.
template <class Step>
void hand_over(inline_flow& flow, Step step) {
  flow.handed_over = true;
  continue_in_actor(flow.st, std::move(step));
}

void inline_flow::failed(const std::string& error, bool before_first_byte) {
  if (st->finished) return;
  if (before_first_byte) {  // retried, or answered, by the actor
    auto err = caf::make_error(runtime::transport_errc::peer_unreachable, error);
    return hand_over(*this, [err](flow_actor* self) { pod_failed(self, err, pick_and_send); });
  }
  end_broken_upstream(*st, error);
  finish_here(502, false);
}

void forward_inline(const std::shared_ptr<inline_flow>& flow, const picker::chosen_pod& pick) {
  auto& st = *flow->st;
  if (!is_http_endpoint(pick.endpoint))  // the pool got a pod of this process meanwhile
    return hand_over(*flow, [pick](flow_actor* self) { send_to_pod(self, pick); });
  begin_attempt(st, pick);
  upstream_target target;
  if (!st.pool->http_target(pick.endpoint, target))
    return hand_over(*flow, [err = not_http_endpoint(pick.endpoint)](flow_actor* self) {
      pod_failed(self, err, pick_and_send);
    });
  // The client went away: the picker and the metrics hear it now, and the model server sees
  // its connection closed (it aborts the request, as vLLM does).
  std::weak_ptr<inline_flow> weak = flow;
  st.ex->on_abort([weak] {
    auto flow = weak.lock();
    if (!flow || flow->handed_over) return;
    if (flow->st->stop_upstream) flow->st->stop_upstream();
    flow->finish_here(499, false);
  });
  if (st.finished) return;  // it had gone already
  forward_upstream(st, target, flow);
}

}  // namespace

void run_inline(std::shared_ptr<flow_state> begun, const authz::authorizer_view& authorizer,
                const actors::router::router_view& routes) {
  auto flow = std::make_shared<inline_flow>();
  flow->st = std::move(begun);
  auto& st = *flow->st;
  const auto& req = st.ex->req();
  auto verdict = authorizer.decide(st.ns, st.headers.authorization, st.request_id);
  trace_authorization(st, verdict);
  if (!authz::admits(verdict))
    return hand_over(*flow, [verdict](flow_actor* self) { authorized(self, verdict); });
  st.ns_known = true;
  auto rng = routing_rng(st.ctx->deps.seed, st.request_id);
  auto decision = routes.decide(st.ns, target_path(req), req.body(), rng, st.request_id);
  if (!decision) {
    trace_route(st, &decision.error());
    return hand_over(*flow,
                     [err = decision.error()](flow_actor* self) { route_failed(self, err); });
  }
  st.route = std::move(*decision);
  trace_route(st, nullptr);
  auto pool = st.ctx->deps.pools->find(st.route.pool_ns, st.route.pool);
  // A refused X-Return-Error, a pool with pods of this process, a body the picker cannot read,
  // or a picker that has ended: the actor takes the request from the route on.
  if (read_fault_header(st.headers.return_error, st.ctx->settings.forward_fault_injection,
                        st.return_error) ||
      !pool || !pool->direct || !reached_over_http(pool.get()))
    return hand_over(*flow, routed);
  auto tokens = read_prompt_only(st.kind, req.body());
  if (!tokens) return hand_over(*flow, routed);
  st.pick_tokens = std::move(*tokens);
  st.lean = true;
  st.model = st.route.model;
  st.pool = pool;
  st.picker = pool->picker();
  auto answer = pool->direct->choose(pick_for(st));
  if (!answer)  // the picker has ended: the actor asks it, hears so, and answers as configured
    return hand_over(*flow, routed);
  if (!*answer)
    return hand_over(*flow, [err = answer->error()](flow_actor* self) { pick_failed(self, err); });
  forward_inline(flow, **answer);
}

}  // namespace inferstack::gateway
