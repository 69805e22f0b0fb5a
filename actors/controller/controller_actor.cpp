#include "actors/controller/controller_actor.hpp"

#include <algorithm>

#include <prometheus/gauge.h>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/controller/reconciler.hpp"

namespace inferstack::actors::controller {

namespace {

using node_mocker::pod_phase;

struct pod_record {
  pod_phase phase = pod_phase::pending;
  std::string endpoint;
  std::string address;
  std::string events, kv_events, kv_replay;
  std::map<std::string, std::string> labels;
  int64_t created_ns = 0;
  bool removing = false;    ///< we asked for its removal (or its node is being reclaimed)
  bool restarting = false;  ///< a group's leader draining before its group is recreated
};

/// The phase the replica counts as: a group draining for its restart comes back by itself, so
/// it still counts (not Ready) -- no replacement is made for it.
pod_phase counted_phase(const pod_record& p) {
  if (p.removing) return pod_phase::draining;
  if (p.restarting && p.phase == pod_phase::draining) return pod_phase::loading;
  return p.phase;
}

struct set_record {
  set_spec spec;
  int next_index = 0;
  std::map<std::string, pod_record> pods;
  std::string last_reason;
  int64_t last_scale_ns = 0;
  int64_t created_ns = 0;
  int failures = 0;      ///< pods that failed to start in a row (backoff)
  uint64_t version = 0;  ///< of the last published status
  prometheus::Gauge* desired = nullptr;
  prometheus::Gauge* current = nullptr;
  prometheus::Gauge* ready = nullptr;
};

struct controller_state {
  controller_dependencies deps;
  std::chrono::nanoseconds resync{0};
  std::map<std::string, set_record> sets;  ///< by "<ns>/<name>"
  std::vector<pool_spec> pools;
  std::map<std::string, std::vector<picker::pool_member>> memberships;  ///< last told, by pool
};

using self_ptr = controller_impl_actor::stateful_pointer<controller_state>;

int64_t now_ns(self_ptr self) {
  return self->clock().now().time_since_epoch().count();
}

std::string key(const std::string& ns, const std::string& name) {
  return ns + "/" + name;
}

set_status status_of(const set_record& r) {
  set_status s;
  s.ns = r.spec.ns;
  s.set = r.spec.name;
  s.desired = r.spec.replicas;
  for (const auto& [name, p] : r.pods) {
    auto phase = counted_phase(p);
    if (phase == pod_phase::draining || phase == pod_phase::gone) continue;
    s.current++;
    if (phase == pod_phase::ready) {
      s.ready++;
      s.ready_pods.push_back(name);
    }
    if (phase == pod_phase::pending) s.pending++;
  }
  s.last_scale_reason = r.last_reason;
  s.last_scale_ns = r.last_scale_ns;
  s.created_ns = r.created_ns;
  s.version = r.version;
  return s;
}

void publish(self_ptr self, set_record& r) {
  ++r.version;
  auto s = status_of(r);
  if (r.desired) {
    r.desired->Set(s.desired);
    r.current->Set(s.current);
    r.ready->Set(s.ready);
  }
  if (self->state.deps.on_status) self->state.deps.on_status(s);
}

void update_memberships(self_ptr self) {
  auto& st = self->state;
  for (const auto& pool : st.pools) {
    auto members = pool.static_members;
    for (const auto& [k, r] : st.sets) {
      if (r.spec.ns != pool.ns) continue;
      for (const auto& [name, p] : r.pods)
        if (p.phase == pod_phase::ready && !p.removing && selects(pool.selector, p.labels))
          members.push_back({name, p.endpoint, p.address, p.labels, true, false, p.events,
                             p.kv_events, p.kv_replay});
    }
    std::sort(members.begin(), members.end(),
              [](const auto& a, const auto& b) { return a.pod < b.pod; });
    auto [last, fresh] = st.memberships.try_emplace(key(pool.ns, pool.name));
    if (!fresh && last->second == members) continue;
    last->second = members;
    if (st.deps.on_membership) st.deps.on_membership(pool, members);
  }
}

void reconcile_set(self_ptr self, set_record& r, bool adopt) {
  auto& st = self->state;
  std::vector<pod_view> views;
  for (const auto& [name, p] : r.pods)
    views.push_back({name, counted_phase(p), p.created_ns});
  auto plan = reconcile(r.spec.replicas, views);
  for (int i = 0; i < plan.create; ++i) {
    auto pod = r.spec.prototype;
    auto index = r.next_index++;
    pod.name = key(r.spec.ns, r.spec.name) + "-" + std::to_string(index);
    pod.ns = r.spec.ns;
    pod.set = r.spec.name;
    pod.seed = r.spec.prototype.seed ^ std::hash<std::string>{}(pod.name);
    pod.adopted = adopt;
    auto& rec = r.pods[pod.name];
    rec.labels = pod.labels;
    rec.created_ns = now_ns(self);
    if (st.deps.log)
      st.deps.log->info("InferenceSet {}: creating pod {}", key(r.spec.ns, r.spec.name), pod.name);
    self->send(st.deps.mocker, std::move(pod));  // the mocker answers with the pod's events
  }
  for (const auto& name : plan.remove) {
    r.pods[name].removing = true;
    if (st.deps.log)
      st.deps.log->info("InferenceSet {}: removing pod {}", key(r.spec.ns, r.spec.name), name);
    self->send(st.deps.mocker,
               node_mocker::delete_pod{name, "scaled down to " + std::to_string(r.spec.replicas)});
  }
  if (!plan.remove.empty()) update_memberships(self);  // removed pods take no new requests
}

}  // namespace

controller_impl_actor spawn_controller(caf::actor_system& sys, controller_settings settings,
                                       controller_dependencies deps) {
  return sys.spawn([settings = std::move(settings),
                    deps = std::move(deps)](self_ptr self) -> controller_impl_actor::behavior_type {
    auto& st = self->state;
    st.deps = deps;
    st.pools = settings.pools;
    st.resync = settings.membership_resync;
    if (st.resync.count() > 0) self->delayed_send(self, st.resync, reconcile_now{});
    prometheus::Family<prometheus::Gauge>*desired = nullptr, *current = nullptr, *ready = nullptr;
    if (st.deps.registry) {
      desired = &prometheus::BuildGauge()
                     .Name("inferstack_inferenceset_desired_replicas")
                     .Help("spec.replicas of each InferenceSet")
                     .Register(*st.deps.registry);
      current = &prometheus::BuildGauge()
                     .Name("inferstack_inferenceset_current_replicas")
                     .Help("Pods of each InferenceSet that are not being removed")
                     .Register(*st.deps.registry);
      ready = &prometheus::BuildGauge()
                   .Name("inferstack_inferenceset_ready_replicas")
                   .Help("Ready pods of each InferenceSet")
                   .Register(*st.deps.registry);
    }
    for (const auto& s : settings.sets) {
      auto& r = st.sets[key(s.ns, s.name)];
      r.spec = s;
      r.created_ns = now_ns(self);
      if (desired) {
        prometheus::Labels labels{{"namespace", s.ns}, {"inferenceset", s.name}};
        r.desired = &desired->Add(labels);
        r.current = &current->Add(labels);
        r.ready = &ready->Add(labels);
      }
      reconcile_set(self, r, settings.adopt_initial);
      publish(self, r);
    }
    update_memberships(self);  // pools of model servers only start full
    return {
        [self](scale_set& req) -> scale_result {
          auto& st = self->state;
          auto it = st.sets.find(key(req.ns, req.set));
          if (it == st.sets.end()) return {false, 0, 0, "no InferenceSet " + key(req.ns, req.set)};
          if (req.replicas < 0) return {false, 0, 0, "replicas must not be negative"};
          auto& r = it->second;
          auto previous = r.spec.replicas;
          if (previous != req.replicas) {
            r.spec.replicas = req.replicas;
            r.last_reason = req.reason.empty() ? req.source : req.reason;
            r.last_scale_ns = now_ns(self);
            if (st.deps.log)
              st.deps.log->info("InferenceSet {}: replicas {} -> {} ({}: {})", it->first, previous,
                                req.replicas, req.source, req.reason);
            reconcile_set(self, r, false);
            publish(self, r);
          }
          return {true, previous, req.replicas, {}};
        },
        [self](set_status_query&) {
          set_status_list out;
          for (const auto& [k, r] : self->state.sets)
            out.sets.push_back(status_of(r));
          return out;
        },
        [self](node_mocker::pod_event& ev) {
          auto& st = self->state;
          auto it = st.sets.find(key(ev.ns, ev.set));
          if (it == st.sets.end()) return;
          auto& r = it->second;
          auto pod = r.pods.find(ev.name);
          if (pod == r.pods.end()) return;
          auto phase = static_cast<pod_phase>(ev.phase);
          if (phase == pod_phase::gone) {
            bool expected = pod->second.removing;
            r.pods.erase(pod);
            update_memberships(self);
            publish(self, r);
            if (!expected) {
              // It died on its own (could not start): replace it, with a growing pause.
              auto delay = std::chrono::seconds(std::min(30, 1 << std::min(r.failures++, 5)));
              self->delayed_send(self, delay, reconcile_now{ev.ns, ev.set});
            }
            return;
          }
          pod->second.phase = phase;
          pod->second.restarting = ev.group_restart;
          if (phase == pod_phase::draining && !ev.group_restart && !pod->second.removing) {
            // Drained without our asking (its node is being reclaimed): it no longer counts,
            // and its replacement is made now, while it finishes its requests.
            pod->second.removing = true;
            if (st.deps.log)
              st.deps.log->info("InferenceSet {}: pod {} evicted ({}), replacing it", it->first,
                                ev.name, ev.reason);
            update_memberships(self);
            reconcile_set(self, r, false);
            publish(self, r);
            return;
          }
          if (!ev.endpoint.empty()) pod->second.endpoint = ev.endpoint;
          if (!ev.address.empty()) pod->second.address = ev.address;
          if (!ev.events.empty()) pod->second.events = ev.events;
          if (!ev.kv_events.empty()) pod->second.kv_events = ev.kv_events;
          if (!ev.kv_replay.empty()) pod->second.kv_replay = ev.kv_replay;
          if (phase == pod_phase::ready) r.failures = 0;
          update_memberships(self);
          publish(self, r);
        },
        [self](reconcile_now& again) {
          auto& st = self->state;
          if (again.ns.empty() && again.set.empty()) {
            // Every pool's membership told again: the resync timer's, or asked by a gateway
            // that just subscribed (the timer's own message alone sets the next one).
            st.memberships.clear();
            update_memberships(self);
            if (self->current_sender() == self->ctrl())
              self->delayed_send(self, st.resync, reconcile_now{});
            return;
          }
          auto it = self->state.sets.find(key(again.ns, again.set));
          if (it == self->state.sets.end()) return;
          reconcile_set(self, it->second, false);
          publish(self, it->second);
        },
    };
  });
}

}  // namespace inferstack::actors::controller
