// The gateway's request pipeline: where a request enters, which driver takes it, and the model
// list; see request_pipeline.hpp.
#include "gateway/request_pipeline.hpp"

#include <algorithm>
#include <functional>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/authorizer/authorizer_actor.hpp"
#include "actors/router/router_actor.hpp"
#include "gateway/gateway_context.hpp"
#include "gateway/inline_driver.hpp"
#include "gateway/request_flow.hpp"
#include "gateway/request_steps.hpp"
#include "openai/api_error.hpp"
#include "openai/embeddings.hpp"
#include "openai/extract_model.hpp"
#include "openai/response.hpp"
#include "runtime/errors.hpp"

namespace inferstack::gateway {

namespace {

namespace authz = actors::authorizer;
namespace router = actors::router;

/// An OpenAI request (chat, completions or responses): on this thread with the published views
/// when both are there, else by an actor from the first step.
void start_request_flow(const std::shared_ptr<gateway::context>& ctx,
                        std::shared_ptr<http::exchange> ex, std::string ns, std::string request_id,
                        openai::endpoint kind) {
  auto begun = begin_flow(ctx, std::move(ex), std::move(ns), std::move(request_id), kind);
  if (ctx->deps.authorizer_view && ctx->deps.router_view) {
    auto authorizer = ctx->deps.authorizer_view->current();
    auto routes = ctx->deps.router_view->current();
    if (authorizer && routes) return run_inline(std::move(begun), *authorizer, *routes);
  }
  continue_in_actor(std::move(begun), authorize);
}

// -- GET /v1/models ----------------------------------------------------------------------------

struct models_answer {
  int status = 200;
  std::string body;
  http::header_list headers;
};

/// The model list of a namespace for an authorization verdict; with `wanted` (GET
/// /v1/models/{id}) that one model's card, or OpenAI's 404 model_not_found.
models_answer models_for(const gateway::context& ctx, authz::auth_verdict verdict,
                         const std::vector<std::string>& models,
                         const std::optional<std::string>& wanted = std::nullopt) {
  if (!authz::admits(verdict))
    return {401, openai::error_json(openai::invalid_api_key()), {{"x-should-retry", "false"}}};
  std::vector<openai::model_card> cards;
  auto created = ctx.deps.unix_seconds ? ctx.deps.unix_seconds() : 0;
  for (const auto& m : models) {
    if (wanted && m != *wanted) continue;
    openai::model_card card;
    card.id = m;
    card.created = created;
    card.root = m;
    cards.push_back(std::move(card));
  }
  if (!wanted) return {200, openai::models_list_json(cards), {}};
  if (cards.empty()) return {404, openai::error_json(openai::model_not_found(*wanted)), {}};
  return {200, openai::model_card_json(cards.front()), {}};
}

models_answer models_failure(const stack_error& e) {
  return {e.status, stack_error_json(e), stack_error_headers(e)};
}

void reply(http::exchange& ex, models_answer answer, const std::string& request_id) {
  answer.headers.emplace_back("x-request-id", request_id);
  ex.respond(static_cast<http::status>(answer.status), std::move(answer.body), "application/json",
             std::move(answer.headers));
}

std::string_view authorization_of(const http::request& req) {
  auto it = req.find(boost::beast::http::field::authorization);
  return it == req.end() ? std::string_view{} : http::to_std(it->value());
}

/// What a models-like request answers for an authorization verdict and the namespace's models.
using models_answerer =
    std::function<models_answer(authz::auth_verdict, const std::vector<std::string>&)>;

/// Without the published views (an actor has ended): the authorizer and the router are asked,
/// each within the control timeout.
caf::behavior models_flow(caf::event_based_actor* self, std::shared_ptr<gateway::context> ctx,
                          std::shared_ptr<http::exchange> ex, std::string ns,
                          std::string request_id, models_answerer answerer) {
  auto timeout = std::chrono::duration_cast<caf::timespan>(ctx->settings.control_timeout);
  auto answer = [self, ex, request_id](models_answer a) {
    reply(*ex, std::move(a), request_id);
    self->quit();
  };
  self->request(ctx->deps.authorizer, timeout,
                authz::authorize_request{ns, std::string(authorization_of(ex->req())), request_id})
      .then(
          [self, ctx, ns, timeout, answer, answerer](authz::authorize_result& r) {
            auto verdict = static_cast<authz::auth_verdict>(r.verdict);
            if (!authz::admits(verdict)) return answer(answerer(verdict, {}));
            self->request(ctx->deps.router, timeout, router::models_request{ns})
                .then(
                    [answer, answerer](router::model_list& list) {
                      answer(answerer(authz::auth_verdict::allowed, list.models));
                    },
                    [answer](caf::error&) {
                      answer(models_failure(router_unavailable("no model list")));
                    });
          },
          [answer](caf::error&) { answer(models_failure(authorizer_unavailable("no decision"))); });
  return {[](atoms::stop_atom) {}};
}

/// A request answered from the caller's namespace's model list (after authorization): from the
/// published views, on this thread, as the other requests; by asking the actors when a view
/// has been withdrawn.
void start_models_flow(const std::shared_ptr<gateway::context>& ctx,
                       std::shared_ptr<http::exchange> ex, std::string ns, std::string request_id,
                       models_answerer answerer) {
  auto authorizer = ctx->deps.authorizer_view ? ctx->deps.authorizer_view->current() : nullptr;
  auto routes = ctx->deps.router_view ? ctx->deps.router_view->current() : nullptr;
  if (authorizer && routes) {
    auto verdict = authorizer->decide(ns, authorization_of(ex->req()), request_id);
    auto models = authz::admits(verdict) ? routes->table().models(ns) : std::vector<std::string>{};
    return reply(*ex, answerer(verdict, models), request_id);
  }
  ctx->deps.system->spawn(models_flow, ctx, std::move(ex), std::move(ns), std::move(request_id),
                          std::move(answerer));
}

/// GET /v1/models, or /v1/models/{id} with `wanted`.
models_answerer list_models(std::shared_ptr<gateway::context> ctx,
                            std::optional<std::string> wanted = std::nullopt) {
  return [ctx = std::move(ctx), wanted = std::move(wanted)](
             authz::auth_verdict verdict, const std::vector<std::string>& models) {
    return models_for(*ctx, verdict, models, wanted);
  };
}

/// POST /v1/embeddings for a model the namespace routes: the body's model is looked up as for
/// generation (missing or unknown: the same 400 and 404), then the deterministic vectors the
/// simulated pods give (openai/embeddings.hpp) are the answer. The gateway answers itself: an
/// embedding takes no engine steps in the simulator either.
models_answerer embed(std::string body) {
  return [body = std::move(body)](authz::auth_verdict verdict,
                                  const std::vector<std::string>& models) -> models_answer {
    if (!authz::admits(verdict))
      return {401, openai::error_json(openai::invalid_api_key()), {{"x-should-retry", "false"}}};
    auto lookup = openai::extract_model(body);
    if (auto err = openai::model_lookup_error(lookup))
      return {err->status, openai::error_json(*err), {}};
    if (std::find(models.begin(), models.end(), lookup.model) == models.end())
      return {404, openai::error_json(openai::model_not_found(lookup.model)), {}};
    auto answer =
        openai::embeddings_response(body, lookup.model, openai::default_embedding_dimensions);
    return {answer.status, std::move(answer.body), {}};
  };
}

}  // namespace

request_pipeline::request_pipeline(gateway_settings settings, gateway_dependencies deps)
    : context_(std::make_shared<gateway::context>(std::move(settings), std::move(deps))) {}

request_pipeline::~request_pipeline() {
  stop();
}

void request_pipeline::start() {
  // Sweeps pick deadlines a tenth of the picker timeout apart (5-25 ms): a late picker is
  // noticed at most that much after its deadline, and a pick waiting on a picker replica that
  // went silent moves on about that soon (replica_policy::silence_check).
  std::weak_ptr<gateway::context> weak = context_;
  auto interval = std::clamp(
      std::chrono::duration_cast<caf::timespan>(context_->settings.picker_timeout) / 10,
      caf::timespan{std::chrono::milliseconds(5)}, caf::timespan{std::chrono::milliseconds(25)});
  context_->deadline_sweeper =
      context_->deps.system->spawn([weak, interval](caf::event_based_actor* self) -> caf::behavior {
        self->delayed_send(self, interval, atoms::tick_atom_v);
        return {[self, weak, interval](atoms::tick_atom) {
          auto ctx = weak.lock();
          if (!ctx) return self->quit();
          for (auto& flow : ctx->pick_deadlines.expire(self->clock().now()))
            caf::anon_send(flow, atoms::timeout_atom_v);
          self->delayed_send(self, interval, atoms::tick_atom_v);
        }};
      });
}

void request_pipeline::stop() {
  if (context_->deadline_sweeper) {
    caf::anon_send_exit(context_->deadline_sweeper, caf::exit_reason::user_shutdown);
    context_->deadline_sweeper = nullptr;
  }
  context_->upstreams->stop();  // idle upstream connections live on the server's I/O contexts
}

void request_pipeline::handle(std::shared_ptr<http::exchange> ex) {
  const auto& ctx = context_;
  if (ctx->deps.admin && ctx->deps.admin(ex)) return;
  const auto& req = ex->req();
  auto host_it = req.find(boost::beast::http::field::host);
  std::string_view host =
      host_it == req.end() ? std::string_view{} : http::to_std(host_it->value());
  auto ns = namespace_of(host, ctx->settings.default_namespace);
  auto a = arrive(req, [&ctx] { return ctx->make_request_id(); });
  switch (a.route) {
    case api_route::chat:
    case api_route::completions:
    case api_route::responses:
      return start_request_flow(ctx, std::move(ex), std::move(ns), std::move(a.request_id),
                                endpoint_of(a.route));
    case api_route::models:
      return start_models_flow(ctx, std::move(ex), std::move(ns), std::move(a.request_id),
                               list_models(ctx));
    case api_route::model:
      return start_models_flow(ctx, std::move(ex), std::move(ns), std::move(a.request_id),
                               list_models(ctx, model_of_path(a.path)));
    case api_route::embeddings: {
      std::string body = ex->req().body();
      return start_models_flow(ctx, std::move(ex), std::move(ns), std::move(a.request_id),
                               embed(std::move(body)));
    }
    case api_route::not_allowed:
    case api_route::not_found:
      break;
  }
  auto err = no_route_error(a);
  ex->respond(static_cast<http::status>(err.status), openai::error_json(err), "application/json",
              {{"x-request-id", a.request_id}});
}

size_t request_pipeline::in_flight() const {
  return context_->in_flight;
}

}  // namespace inferstack::gateway
