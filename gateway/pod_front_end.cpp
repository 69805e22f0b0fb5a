// A pod's own OpenAI API over HTTP; see pod_front_end.hpp.
#include "gateway/pod_front_end.hpp"

#include <caf/actor_system.hpp>

#include "gateway/gateway_context.hpp"
#include "gateway/pod_conversation.hpp"
#include "gateway/request_flow.hpp"
#include "gateway/request_steps.hpp"
#include "openai/api_error.hpp"

namespace inferstack::gateway {

struct pod_front_end::parts {
  std::shared_ptr<gateway::context> ctx;
  actors::pod::pod_actor pod;
  actors::picker::chosen_pod target;  ///< the pod, as the access log and debug lines name it
};

namespace {

gateway_dependencies context_dependencies(pod_front_end_dependencies& deps) {
  gateway_dependencies out;
  out.system = deps.system;
  out.registry = std::make_shared<prometheus::Registry>();  // its counters stay internal
  out.log = std::move(deps.log);
  out.access_log = std::move(deps.access_log);
  out.unix_seconds = std::move(deps.unix_seconds);
  out.admin = std::move(deps.admin);
  out.seed = deps.seed;
  return out;
}

/// The request's steps, in its actor: the fault header, the whole body, then the pod.
void converse(flow_actor* self, const actors::pod::pod_actor& pod,
              const actors::picker::chosen_pod& target) {
  auto& st = self->state;
  if (auto refused = read_fault_header(st.headers.return_error,
                                       st.ctx->settings.forward_fault_injection, st.return_error))
    return fail_openai(self, *refused);
  if (!parse_body(self, true)) return;  // the pod checks the model itself
  begin_attempt(st, target);
  send_generate(self, caf::actor_cast<caf::actor>(pod), nullptr);
}

}  // namespace

pod_front_end::pod_front_end(gateway_settings settings, pod_front_end_dependencies deps)
    : parts_(std::make_shared<parts>()) {
  parts_->pod = deps.pod;
  parts_->target = {deps.pod_name, "direct", {}, {}};
  parts_->ctx = std::make_shared<gateway::context>(std::move(settings), context_dependencies(deps));
  server_ = std::make_unique<http::server>(
      listener_settings(parts_->ctx->settings, parts_->ctx->deps),
      [this](std::shared_ptr<http::exchange> ex) { handle(std::move(ex)); });
}

pod_front_end::~pod_front_end() {
  stop(std::chrono::seconds(0));
}

void pod_front_end::start() {
  server_->start();
}

uint16_t pod_front_end::port() const {
  return server_->port();
}

void pod_front_end::stop(std::chrono::nanoseconds grace) {
  server_->stop(grace);
  parts_->ctx->upstreams->stop();
}

void pod_front_end::handle(std::shared_ptr<http::exchange> ex) {
  const auto& ctx = parts_->ctx;
  if (ctx->deps.admin && ctx->deps.admin(ex)) return;
  auto a = arrive(ex->req(), [&ctx] { return ctx->make_request_id(); });
  // GET /v1/models is the admin's (the pod's own model list).
  if (a.route != api_route::chat && a.route != api_route::completions) {
    auto err = no_route_error(a);
    return ex->respond(static_cast<http::status>(err.status), openai::error_json(err),
                       "application/json", {{"x-request-id", a.request_id}});
  }
  // A pod's own API has no namespaces: every request is the default one's, a known one.
  auto begun = begin_flow(ctx, std::move(ex), ctx->settings.default_namespace,
                          std::move(a.request_id), a.route == api_route::chat);
  begun->ns_known = true;
  ctx->deps.system->spawn(
      [begun = std::move(begun), parts = parts_](flow_actor* self) mutable -> caf::behavior {
        take_over(self, std::move(begun));
        converse(self, parts->pod, parts->target);
        return {
            [self](actors::pod::token_chunk& chunk) { on_chunk(self, chunk); },
            [self](atoms::stop_atom) { client_gone(self); },
        };
      });
}

}  // namespace inferstack::gateway
