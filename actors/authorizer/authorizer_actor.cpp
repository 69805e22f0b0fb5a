#include "actors/authorizer/authorizer_actor.hpp"

#include <map>

#include <prometheus/counter.h>
#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/authorizer/key_store.hpp"

namespace inferstack::actors::authorizer {

const char* to_string(auth_verdict v) {
  switch (v) {
    case auth_verdict::allowed:
      return "allowed";
    case auth_verdict::auth_disabled:
      return "auth_disabled";
    case auth_verdict::missing_key:
      return "missing_key";
    case auth_verdict::invalid_key:
      return "invalid_key";
    case auth_verdict::unknown_namespace:
      return "unknown_namespace";
  }
  return "unknown";
}

namespace {

struct authorizer_state {
  key_store store;
  prometheus::Family<prometheus::Counter>* decisions = nullptr;
  std::map<std::pair<std::string, uint8_t>, prometheus::Counter*> counters;
  std::shared_ptr<spdlog::logger> log;

  void count(const std::string& ns, auth_verdict v) {
    auto key = std::make_pair(ns, static_cast<uint8_t>(v));
    auto it = counters.find(key);
    if (it == counters.end()) {
      // Unknown namespaces share one label value: a client cannot grow the metric set.
      auto label = v == auth_verdict::unknown_namespace ? std::string("<unknown>") : ns;
      it = counters.emplace(key, &decisions->Add({{"namespace", label}, {"result", to_string(v)}}))
               .first;
    }
    it->second->Increment();
  }
};

authorizer_actor::behavior_type authorizer_impl(
    authorizer_actor::stateful_pointer<authorizer_state> self, key_set initial,
    prometheus::Registry* registry, std::shared_ptr<spdlog::logger> log) {
  auto& st = self->state;
  st.log = std::move(log);
  st.store.apply(initial);
  st.decisions = &prometheus::BuildCounter()
                      .Name("inferstack_auth_requests_total")
                      .Help("Authorization decisions by namespace and result")
                      .Register(*registry);
  return {
      [=](authorize_request& req) {
        auto& st = self->state;
        auto verdict = st.store.check(req.ns, req.authorization);
        st.count(req.ns, verdict);
        if (!admits(verdict) && st.log)
          st.log->debug("request {}: namespace {}: {}", req.request_id, req.ns, to_string(verdict));
        return authorize_result{static_cast<uint8_t>(verdict)};
      },
      [=](key_set& keys) {
        auto loaded = self->state.store.apply(keys);
        if (self->state.log)
          self->state.log->info("keys applied: {} namespaces, {} keys", keys.namespaces.size(),
                                loaded);
        return key_set_applied{static_cast<uint32_t>(keys.namespaces.size()),
                               static_cast<uint32_t>(loaded)};
      },
  };
}

}  // namespace

authorizer_actor spawn_authorizer(caf::actor_system& sys, key_set initial,
                                  prometheus::Registry& registry,
                                  std::shared_ptr<spdlog::logger> log) {
  return sys.spawn(authorizer_impl, std::move(initial), &registry, std::move(log));
}

}  // namespace inferstack::actors::authorizer
