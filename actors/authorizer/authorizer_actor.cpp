#include "actors/authorizer/authorizer_actor.hpp"

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

authorizer_view::authorizer_view(key_store store,
                                 std::shared_ptr<runtime::decision_counters> counters,
                                 std::shared_ptr<spdlog::logger> log)
    : store_(std::move(store)), counters_(std::move(counters)), log_(std::move(log)) {}

auth_verdict authorizer_view::decide(std::string_view ns, std::string_view authorization,
                                     std::string_view request_id) const {
  auto verdict = store_.check(ns, authorization);
  // Unknown namespaces share one label value: a client cannot grow the metric set.
  counters_->count(verdict == auth_verdict::unknown_namespace ? runtime::unknown_label : ns,
                   to_string(verdict));
  if (log_ && log_->should_log(spdlog::level::debug))
    log_->debug("request {}: namespace {}: {}", request_id, ns, to_string(verdict));
  return verdict;
}

namespace {

struct authorizer_state {
  std::shared_ptr<runtime::decision_counters> counters;
  std::shared_ptr<spdlog::logger> log;
  std::shared_ptr<const authorizer_view> view;  ///< the current keys and the decision over them
  std::shared_ptr<published_authorizer> published;

  /// Replaces every key; returns the number loaded.
  size_t apply(const key_set& keys) {
    key_store store;
    auto loaded = store.apply(keys);
    view = std::make_shared<const authorizer_view>(std::move(store), counters, log);
    if (published) published->publish(view);
    return loaded;
  }
};

authorizer_actor::behavior_type authorizer_impl(
    authorizer_actor::stateful_pointer<authorizer_state> self, key_set initial,
    prometheus::Registry* registry, std::shared_ptr<spdlog::logger> log,
    std::shared_ptr<published_authorizer> published) {
  auto& st = self->state;
  st.log = std::move(log);
  st.counters = std::make_shared<runtime::decision_counters>(
      *registry, "inferstack_auth_requests_total",
      "Authorization decisions by namespace and result");
  st.published = std::move(published);
  st.apply(initial);
  if (st.published) self->attach_functor([p = st.published] { p->withdraw(); });
  return {
      [=](authorize_request& req) {
        auto verdict = self->state.view->decide(req.ns, req.authorization, req.request_id);
        return authorize_result{static_cast<uint8_t>(verdict)};
      },
      [=](key_set& keys) {
        auto& st = self->state;
        auto loaded = st.apply(keys);
        if (st.log)
          st.log->info("keys applied: {} namespaces, {} keys", keys.namespaces.size(), loaded);
        return key_set_applied{static_cast<uint32_t>(keys.namespaces.size()),
                               static_cast<uint32_t>(loaded)};
      },
  };
}

}  // namespace

authorizer_actor spawn_authorizer(caf::actor_system& sys, key_set initial,
                                  prometheus::Registry& registry,
                                  std::shared_ptr<spdlog::logger> log,
                                  std::shared_ptr<published_authorizer> view) {
  return sys.spawn(authorizer_impl, std::move(initial), &registry, std::move(log), std::move(view));
}

}  // namespace inferstack::actors::authorizer
