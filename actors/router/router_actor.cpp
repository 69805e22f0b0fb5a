#include "actors/router/router_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/router/route_table.hpp"
#include "openai/extract_model.hpp"

namespace inferstack::actors::router {

router_view::router_view(route_table table, std::shared_ptr<runtime::decision_counters> counters,
                         std::shared_ptr<spdlog::logger> log)
    : table_(std::move(table)), counters_(std::move(counters)), log_(std::move(log)) {}

caf::expected<route_decision> router_view::decide(std::string_view ns, std::string_view path,
                                                  std::string_view body, route_rng& rng,
                                                  std::string_view request_id) const {
  auto lookup = openai::extract_model(body);
  bool debug = log_ && log_->should_log(spdlog::level::debug);
  // The body names no usable model: counted, and refused with the codec's wording.
  auto refuse = [&](router_errc code, std::string_view fallback) -> caf::error {
    counters_->count(ns, to_string(code));
    if (debug) log_->debug("request {}: namespace {}: {}", request_id, ns, to_string(code));
    auto why = openai::model_lookup_error(lookup);
    return caf::make_error(code, why ? why->message : std::string(fallback));
  };
  switch (lookup.status) {
    case openai::model_status::found:
      break;
    case openai::model_status::invalid_json:
    case openai::model_status::not_an_object:
      return refuse(router_errc::invalid_json, "invalid JSON body");
    case openai::model_status::missing:
    case openai::model_status::not_a_string:
      return refuse(router_errc::missing_model, "model is required");
  }
  auto match = table_.resolve(ns, lookup.model, path, rng);
  if (!match) {
    counters_->count(ns, "model_not_found");
    if (debug) log_->debug("request {}: namespace {}: no route for this model", request_id, ns);
    return caf::make_error(router_errc::model_not_found, lookup.model);
  }
  if (!match->backend) {
    counters_->count(ns, "no_backend");
    return caf::make_error(router_errc::no_backend,
                           "every backend of HTTPRoute " + match->entry->route + " has weight 0");
  }
  counters_->count(ns, "routed");
  if (debug)
    log_->debug("request {}: namespace {}: model {} -> pool {}/{}", request_id, ns, lookup.model,
                match->backend->pool_ns, match->backend->pool);
  return route_decision{std::move(lookup.model), match->backend->pool_ns, match->backend->pool};
}

namespace {

struct router_state {
  route_rng rng;
  std::shared_ptr<runtime::decision_counters> counters;
  std::shared_ptr<spdlog::logger> log;
  std::shared_ptr<const router_view> view;  ///< the current routes and the decision over them
  std::shared_ptr<published_router> published;

  void apply(route_set routes) {
    view = std::make_shared<const router_view>(route_table(std::move(routes)), counters, log);
    if (published) published->publish(view);
  }
};

router_actor::behavior_type router_impl(router_actor::stateful_pointer<router_state> self,
                                        route_set routes, uint64_t seed,
                                        prometheus::Registry* registry,
                                        std::shared_ptr<spdlog::logger> log,
                                        std::shared_ptr<published_router> published) {
  auto& st = self->state;
  st.rng.state = seed;
  st.log = std::move(log);
  st.counters = std::make_shared<runtime::decision_counters>(
      *registry, "inferstack_router_decisions_total",
      "Body-based routing decisions by namespace and result");
  st.published = std::move(published);
  st.apply(std::move(routes));
  if (st.published) self->attach_functor([p = st.published] { p->withdraw(); });
  return {
      [=](route_request& req) -> caf::result<route_decision> {
        auto& st = self->state;
        return st.view->decide(req.ns, req.path, req.body, st.rng, req.request_id);
      },
      [=](models_request& req) { return model_list{self->state.view->table().models(req.ns)}; },
      [=](route_set& routes) {
        auto& st = self->state;
        st.apply(std::move(routes));
        auto size = st.view->table().size();
        if (st.log) st.log->info("routes applied: {}", size);
        return route_set_applied{static_cast<uint32_t>(size)};
      },
  };
}

}  // namespace

router_actor spawn_router(caf::actor_system& sys, route_set routes, uint64_t seed,
                          prometheus::Registry& registry, std::shared_ptr<spdlog::logger> log,
                          std::shared_ptr<published_router> view) {
  return sys.spawn(router_impl, std::move(routes), seed, &registry, std::move(log),
                   std::move(view));
}

}  // namespace inferstack::actors::router
