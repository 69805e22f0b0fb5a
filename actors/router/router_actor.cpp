#include "actors/router/router_actor.hpp"

#include <map>

#include <prometheus/counter.h>
#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/router/route_table.hpp"
#include "gateway/openai/extract_model.hpp"

namespace inferstack::actors::router {

namespace {

struct router_state {
  route_table table;
  std::mt19937_64 rng;
  prometheus::Family<prometheus::Counter>* decisions = nullptr;
  std::map<std::pair<std::string, std::string>, prometheus::Counter*> counters;
  std::shared_ptr<spdlog::logger> log;

  void count(const std::string& ns, const char* result) {
    auto key = std::make_pair(ns, std::string(result));
    auto it = counters.find(key);
    if (it == counters.end())
      it = counters.emplace(key, &decisions->Add({{"namespace", ns}, {"result", result}})).first;
    it->second->Increment();
  }
};

router_actor::behavior_type router_impl(router_actor::stateful_pointer<router_state> self,
                                        route_set routes, uint64_t seed,
                                        prometheus::Registry* registry,
                                        std::shared_ptr<spdlog::logger> log) {
  auto& st = self->state;
  st.table = route_table(std::move(routes));
  st.rng.seed(seed);
  st.log = std::move(log);
  st.decisions = &prometheus::BuildCounter()
                      .Name("inferstack_router_decisions_total")
                      .Help("Body-based routing decisions by namespace and result")
                      .Register(*registry);
  return {
      [=](route_request& req) -> caf::result<route_decision> {
        auto& st = self->state;
        auto lookup = openai::extract_model(req.body);
        switch (lookup.status) {
          case openai::model_status::found:
            break;
          case openai::model_status::invalid_json:
          case openai::model_status::not_an_object: {
            st.count(req.ns, "invalid_json");
            auto why = openai::model_lookup_error(lookup);
            return caf::make_error(router_errc::invalid_json,
                                   why ? why->message : std::string("invalid JSON body"));
          }
          case openai::model_status::missing:
          case openai::model_status::not_a_string: {
            st.count(req.ns, "missing_model");
            auto why = openai::model_lookup_error(lookup);
            return caf::make_error(router_errc::missing_model,
                                   why ? why->message : std::string("model is required"));
          }
        }
        auto match = st.table.resolve(req.ns, lookup.model, req.path, st.rng);
        if (!match) {
          st.count(req.ns, "model_not_found");
          return caf::make_error(router_errc::model_not_found, lookup.model);
        }
        if (!match->backend) {
          st.count(req.ns, "no_backend");
          return caf::make_error(
              router_errc::no_backend,
              "every backend of HTTPRoute " + match->entry->route + " has weight 0");
        }
        st.count(req.ns, "routed");
        return route_decision{std::move(lookup.model), match->backend->pool_ns,
                              match->backend->pool};
      },
      [=](models_request& req) { return model_list{self->state.table.models(req.ns)}; },
      [=](route_set& routes) {
        self->state.table = route_table(std::move(routes));
        if (self->state.log) self->state.log->info("routes applied: {}", self->state.table.size());
        return route_set_applied{static_cast<uint32_t>(self->state.table.size())};
      },
  };
}

}  // namespace

router_actor spawn_router(caf::actor_system& sys, route_set routes, uint64_t seed,
                          prometheus::Registry& registry, std::shared_ptr<spdlog::logger> log) {
  return sys.spawn(router_impl, std::move(routes), seed, &registry, std::move(log));
}

}  // namespace inferstack::actors::router
