#include "actors/node_mocker/node_mocker_actor.hpp"

#include <map>

#include <prometheus/gauge.h>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/node_mocker/cluster.hpp"
#include "actors/pod/pod_protocol.hpp"

namespace inferstack::actors::node_mocker {

namespace {

struct mocker_state {
  std::unique_ptr<cluster> nodes;
  node_mocker_settings settings;
  node_mocker_dependencies deps;
  std::map<std::string, launched_pod> running;  ///< launched pods by name
  std::map<std::string, caf::actor> owners;     ///< who asked for each pod: gets its pod_events
  prometheus::Family<prometheus::Gauge>* gpu_capacity = nullptr;
  prometheus::Family<prometheus::Gauge>* gpu_allocated = nullptr;
  prometheus::Family<prometheus::Gauge>* pods_by_phase = nullptr;
};

using self_ptr = node_mocker_impl_actor::stateful_pointer<mocker_state>;

int64_t now_ns(self_ptr self) {
  return self->clock().now().time_since_epoch().count();
}

void tell(self_ptr self, const std::string& name, pod_phase phase, const std::string& reason) {
  auto& st = self->state;
  pod_event ev;
  ev.name = name;
  ev.phase = static_cast<uint8_t>(phase);
  ev.reason = reason;
  ev.at_ns = now_ns(self);
  ev.node = st.nodes->node_of(name);
  if (const auto* spec = st.nodes->spec(name)) {
    ev.ns = spec->ns;
    ev.set = spec->set;
    ev.labels = spec->labels;
  }
  if (auto it = st.running.find(name); it != st.running.end()) {
    ev.endpoint = it->second.endpoint;
    ev.address = it->second.address;
    ev.events = it->second.events;
    ev.kv_events = it->second.kv_events;
    ev.kv_replay = it->second.kv_replay;
  }
  if (st.deps.log)
    st.deps.log->info("pod {}: {}{}{}", name, to_string(phase), reason.empty() ? "" : ": ", reason);
  if (auto owner = st.owners.find(name); owner != st.owners.end()) {
    caf::anon_send(owner->second, ev);
    if (phase == pod_phase::gone) st.owners.erase(owner);
  }
  if (st.deps.on_pod_event) st.deps.on_pod_event(ev);
}

void export_metrics(self_ptr self) {
  auto& st = self->state;
  if (!st.gpu_capacity) return;
  auto snap = st.nodes->snapshot(now_ns(self));
  for (const auto& n : snap.nodes) {
    st.gpu_capacity->Add({{"node", n.name}, {"instance_type", n.instance_type}}).Set(n.gpus);
    st.gpu_allocated->Add({{"node", n.name}, {"instance_type", n.instance_type}})
        .Set(n.gpus_allocated);
  }
  std::map<pod_phase, int> counts{{pod_phase::pending, 0},
                                  {pod_phase::loading, 0},
                                  {pod_phase::ready, 0},
                                  {pod_phase::draining, 0}};
  for (const auto& p : snap.pods)
    counts[static_cast<pod_phase>(p.phase)]++;
  for (auto [phase, n] : counts)
    st.pods_by_phase->Add({{"phase", to_string(phase)}}).Set(n);
}

void start_provisioning(self_ptr self) {
  auto& st = self->state;
  for (const auto& pool : st.nodes->provisioning_needed()) {
    if (st.deps.log) st.deps.log->info("node pool {}: provisioning a node", pool);
    self->delayed_send(self, st.nodes->provision_delay(pool), node_provisioned{pool});
  }
}

/// A pod got a node: start it and let it load (or, adopted, make it Ready at once).
void start(self_ptr self, const placement& p) {
  auto& st = self->state;
  const auto* spec = st.nodes->spec(p.pod);
  if (!spec) return;
  auto launched = st.deps.launcher->launch(*spec, p.node);
  if (!launched) {
    auto reason = self->system().render(launched.error());
    if (st.deps.log) st.deps.log->error("pod {}: cannot start: {}", p.pod, reason);
    tell(self, p.pod, pod_phase::gone, "cannot start: " + reason);
    for (const auto& next : st.nodes->remove(p.pod, now_ns(self)))
      start(self, next);
    return;
  }
  st.running[p.pod] = *launched;
  if (spec->adopted) {
    st.nodes->mark_ready(p.pod, now_ns(self));
    caf::anon_send(caf::actor_cast<pod::pod_actor>(launched->actor), pod::mark_ready{});
    tell(self, p.pod, pod_phase::ready, "running at start");
    return;
  }
  tell(self, p.pod, pod_phase::loading,
       (p.warm ? "loading " : "pulling and loading ") + spec->model + " on " + p.node);
  self->delayed_send(self, std::chrono::nanoseconds(p.load_ns), pod_loaded{p.pod});
}

void place_all(self_ptr self, const std::vector<placement>& placed) {
  for (const auto& p : placed)
    start(self, p);
  start_provisioning(self);
  export_metrics(self);
}

void finish_removal(self_ptr self, const std::string& name, const std::string& reason) {
  auto& st = self->state;
  if (!st.nodes->phase(name)) return;  // already gone
  tell(self, name, pod_phase::gone, reason);
  if (st.running.erase(name)) st.deps.launcher->terminate(name);
  place_all(self, st.nodes->remove(name, now_ns(self)));
}

}  // namespace

node_mocker_impl_actor spawn_node_mocker(caf::actor_system& sys, node_mocker_settings settings,
                                         node_mocker_dependencies deps) {
  return sys.spawn([settings = std::move(settings), deps = std::move(deps)](
                       self_ptr self) -> node_mocker_impl_actor::behavior_type {
    auto& st = self->state;
    st.settings = settings;
    st.deps = deps;
    st.nodes = std::make_unique<cluster>(st.settings.pools, now_ns(self));
    if (st.deps.registry) {
      st.gpu_capacity = &prometheus::BuildGauge()
                             .Name("inferstack_node_gpu_capacity")
                             .Help("nvidia.com/gpu capacity of each (fake) node")
                             .Register(*st.deps.registry);
      st.gpu_allocated = &prometheus::BuildGauge()
                              .Name("inferstack_node_gpu_allocated")
                              .Help("nvidia.com/gpu allocated to pods on each node")
                              .Register(*st.deps.registry);
      st.pods_by_phase = &prometheus::BuildGauge()
                              .Name("inferstack_pods")
                              .Help("Pods by phase (Pending: no node with room)")
                              .Register(*st.deps.registry);
    }
    export_metrics(self);
    return {
        [self](pod_template& spec) {
          auto& st = self->state;
          if (st.nodes->phase(spec.name)) return;  // known already
          auto name = spec.name;
          if (auto sender = caf::actor_cast<caf::actor>(self->current_sender()))
            st.owners[name] = sender;
          auto placed = st.nodes->submit(spec, now_ns(self));
          if (placed)
            start(self, *placed);
          else
            tell(self, name, pod_phase::pending, st.nodes->pending_reason(name));
          start_provisioning(self);
          export_metrics(self);
        },
        [self](delete_pod& del) {
          auto& st = self->state;
          auto phase = st.nodes->phase(del.name);
          if (!phase || *phase == pod_phase::draining) return;
          auto it = st.running.find(del.name);
          if (*phase == pod_phase::pending || it == st.running.end()) {
            finish_removal(self, del.name, del.reason);
            return;
          }
          // Draining: out of its pool now; the pod finishes what it admitted, then goes.
          st.nodes->mark_draining(del.name, now_ns(self));
          tell(self, del.name, pod_phase::draining, del.reason);
          export_metrics(self);
          auto name = del.name;
          auto reason = del.reason;
          self->request(caf::actor_cast<pod::pod_actor>(it->second.actor),
                        std::chrono::duration_cast<caf::timespan>(st.settings.drain_grace),
                        pod::drain_request{})
              .then([self, name, reason](pod::drain_done&) { finish_removal(self, name, reason); },
                    [self, name, reason](caf::error& err) {
                      finish_removal(self, name,
                                     reason + " (drain ended: " + self->system().render(err) + ")");
                    });
        },
        [self](pod_loaded& loaded) {
          auto& st = self->state;
          if (st.nodes->phase(loaded.name) != pod_phase::loading) return;
          st.nodes->mark_ready(loaded.name, now_ns(self));
          if (auto it = st.running.find(loaded.name); it != st.running.end())
            caf::anon_send(caf::actor_cast<pod::pod_actor>(it->second.actor), pod::mark_ready{});
          tell(self, loaded.name, pod_phase::ready, "model loaded");
          export_metrics(self);
        },
        [self](node_provisioned& p) {
          if (self->state.deps.log)
            self->state.deps.log->info("node pool {}: a new node is Ready", p.pool);
          place_all(self, self->state.nodes->node_ready(p.pool, now_ns(self)));
        },
        [self](cluster_query&) { return self->state.nodes->snapshot(now_ns(self)); },
        [self](lose_node& lost) {
          auto& st = self->state;
          std::string instance_type;
          for (const auto& n : st.nodes->snapshot(now_ns(self)).nodes)
            if (n.name == lost.name) instance_type = n.instance_type;
          auto pods = st.nodes->lose_node(lost.name);
          if (!pods) {
            if (st.deps.log) st.deps.log->warn("node {}: cannot lose it: no such node", lost.name);
            return;
          }
          auto reason =
              "node " + lost.name + " lost" + (lost.reason.empty() ? "" : ": ") + lost.reason;
          if (st.deps.log) st.deps.log->warn("{} ({} pods on it)", reason, pods->size());
          if (st.gpu_capacity) {  // its gauges go with it
            prometheus::Labels labels{{"node", lost.name}, {"instance_type", instance_type}};
            st.gpu_capacity->Remove(&st.gpu_capacity->Add(labels));
            st.gpu_allocated->Remove(&st.gpu_allocated->Add(labels));
          }
          // Gone at once, no drain: the machine took them with it.
          for (const auto& pod : *pods)
            finish_removal(self, pod, reason);
          start_provisioning(self);
          export_metrics(self);
        },
        [self](pod_exited& e) {
          auto phase = self->state.nodes->phase(e.name);
          if (!phase || *phase == pod_phase::pending) return;
          finish_removal(self, e.name, "exited: " + e.reason);
        },
    };
  });
}

}  // namespace inferstack::actors::node_mocker
