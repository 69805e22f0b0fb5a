#include "actors/node_mocker/node_mocker_actor.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <set>

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
  std::mt19937_64 rng;                       ///< random spot reclaims
  std::set<std::string> reclaims_scheduled;  ///< nodes whose random reclaim is drawn (once)
};

using self_ptr = node_mocker_impl_actor::stateful_pointer<mocker_state>;

int64_t now_ns(self_ptr self) {
  return self->clock().now().time_since_epoch().count();
}

void tell(self_ptr self, const std::string& name, pod_phase phase, const std::string& reason,
          bool group_restart = false) {
  auto& st = self->state;
  pod_event ev;
  ev.group_restart = group_restart;
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
    for (const auto& w : p.workers)
      tell(self, w.pod, pod_phase::ready, "running at start");
    tell(self, p.pod, pod_phase::ready, "running at start");
    return;
  }
  // A group's workers hold their GPUs and load their share of the model; only the leader runs
  // an engine (the one endpoint of the replica). Each member loads in its own node's time.
  std::string nodes = p.node;
  for (const auto& w : p.workers) {
    nodes += ", " + w.node;
    tell(self, w.pod, pod_phase::loading,
         (w.warm ? "loading " : "pulling and loading ") + spec->model + " on " + w.node);
    self->delayed_send(self, std::chrono::nanoseconds(w.load_ns), pod_loaded{w.pod, w.attempt});
  }
  tell(self, p.pod, pod_phase::loading,
       (p.warm ? "loading " : "pulling and loading ") + spec->model + " on " +
           (p.workers.empty()
                ? p.node
                : "a group of " + std::to_string(p.workers.size() + 1) + " (" + nodes + ")"));
  self->delayed_send(self, std::chrono::nanoseconds(p.load_ns), pod_loaded{p.pod, p.attempt});
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
  for (const auto& w : st.nodes->workers_of(name))
    tell(self, w, pod_phase::gone, reason);
  tell(self, name, pod_phase::gone, reason);
  if (st.running.erase(name)) st.deps.launcher->terminate(name);
  place_all(self, st.nodes->remove(name, now_ns(self)));
}

/// RecreateGroupOnPodRestart: a member was lost, so the whole group goes -- the leader's engine
/// stops (failing what it held), the workers are Gone -- and comes back under the same names,
/// Pending until nodes for every member are free.
void restart_group(self_ptr self, const std::string& leader, const std::string& reason) {
  auto& st = self->state;
  if (!st.nodes->phase(leader)) return;
  if (st.running.erase(leader)) st.deps.launcher->terminate(leader);
  for (const auto& w : st.nodes->workers_of(leader))
    tell(self, w, pod_phase::gone, reason);
  auto placed = st.nodes->restart_group(leader, reason, now_ns(self));
  tell(self, leader, pod_phase::pending, "group recreated: " + reason, true);
  place_all(self, placed);
}

bool in_group(self_ptr self, const std::string& leader) {
  return !self->state.nodes->workers_of(leader).empty() ||
         (self->state.nodes->spec(leader) && self->state.nodes->spec(leader)->group_size > 1);
}

/// Drains a Ready or Loading pod: out of its pool now, it finishes what it admitted (for at most
/// `grace`), then goes -- or, a group's leader (`then_restart`), its group is recreated.
void drain(self_ptr self, const std::string& name, const std::string& reason,
           std::chrono::nanoseconds grace, bool then_restart) {
  auto& st = self->state;
  auto it = st.running.find(name);
  if (it == st.running.end()) {
    if (then_restart)
      restart_group(self, name, reason);
    else
      finish_removal(self, name, reason);
    return;
  }
  st.nodes->mark_draining(name, now_ns(self));
  tell(self, name, pod_phase::draining, reason, then_restart);
  export_metrics(self);
  auto attempt = st.nodes->attempt_of(name);
  auto done = [self, name, reason, attempt, then_restart](const std::string& how) {
    // The node may have gone (and the group been recreated) before the drain ended.
    if (self->state.nodes->attempt_of(name) != attempt ||
        self->state.nodes->phase(name) != pod_phase::draining)
      return;
    if (then_restart)
      restart_group(self, name, reason + how);
    else
      finish_removal(self, name, reason + how);
  };
  self->request(caf::actor_cast<pod::pod_actor>(it->second.actor),
                std::chrono::duration_cast<caf::timespan>(grace), pod::drain_request{})
      .then([done](pod::drain_done&) { done(""); },
            [self, done](caf::error& err) {
              done(" (drain ended: " + self->system().render(err) + ")");
            });
}

/// The node is gone now: pods alone are Gone at once (no drain: the machine took them with
/// it), groups with a member there are recreated. Nothing when there is no such node.
std::optional<std::vector<std::string>> fail_node(self_ptr self, const std::string& node,
                                                  const std::string& reason) {
  auto& st = self->state;
  std::string instance_type;
  for (const auto& n : st.nodes->snapshot(now_ns(self)).nodes)
    if (n.name == node) instance_type = n.instance_type;
  auto pods = st.nodes->lose_node(node, now_ns(self));
  if (!pods) return std::nullopt;
  if (st.deps.log) st.deps.log->warn("{} ({} pods on it)", reason, pods->size());
  if (st.gpu_capacity) {  // its gauges go with it
    prometheus::Labels labels{{"node", node}, {"instance_type", instance_type}};
    st.gpu_capacity->Remove(&st.gpu_capacity->Add(labels));
    st.gpu_allocated->Remove(&st.gpu_allocated->Add(labels));
  }
  std::vector<std::string> leaders;  // a group once, whichever members were there
  for (const auto& pod : *pods) {
    auto leader = st.nodes->leader_of(pod);
    if (std::find(leaders.begin(), leaders.end(), leader) == leaders.end())
      leaders.push_back(leader);
  }
  for (const auto& leader : leaders)
    if (in_group(self, leader))
      restart_group(self, leader, reason);
    else
      finish_removal(self, leader, reason);
  start_provisioning(self);
  export_metrics(self);
  return pods;
}

/// A spot node's reclaim notice: cordoned, every pod on it drains within the notice (a group's
/// leader drains, then its group is recreated elsewhere), and the node goes when it runs out.
node_command_result reclaim(self_ptr self, const node_command& cmd) {
  auto& st = self->state;
  node_command_result out;
  for (const auto& n : st.nodes->snapshot(now_ns(self)).nodes)
    if (n.name == cmd.node && n.reclaim_at_ns != 0) {
      out.error = "node " + cmd.node + " is already being reclaimed";
      return out;
    }
  auto notice = cmd.notice_ns > 0 ? std::chrono::nanoseconds(cmd.notice_ns)
                                  : st.nodes->reclaim_notice_of(cmd.node);
  auto reason = "node " + cmd.node + " reclaimed (" +
                std::to_string(notice.count() / 1'000'000'000) + " s notice)" +
                (cmd.reason.empty() ? "" : ": ") + cmd.reason;
  auto pods = st.nodes->reclaim_notice(cmd.node, now_ns(self) + notice.count(), reason);
  if (!pods) {
    out.error = "no node " + cmd.node;
    return out;
  }
  if (st.deps.log) st.deps.log->warn("{}: {} pods drain", reason, pods->size());
  std::vector<std::string> leaders;
  for (const auto& pod : *pods) {
    auto leader = st.nodes->leader_of(pod);
    if (std::find(leaders.begin(), leaders.end(), leader) == leaders.end())
      leaders.push_back(leader);
  }
  auto grace = std::min(notice, st.settings.drain_grace);
  for (const auto& leader : leaders) {
    auto phase = st.nodes->phase(leader);
    if (!phase || *phase == pod_phase::draining) continue;  // already on its way out
    drain(self, leader, reason, grace, in_group(self, leader));
  }
  self->delayed_send(self, notice, node_reclaimed{cmd.node});
  export_metrics(self);
  out.ok = true;
  out.pods = *pods;
  out.at_ns = now_ns(self) + notice.count();
  return out;
}

/// Draws the random reclaim of every spot node of a pool with a reclaimRate that has none yet:
/// exponential waits (a Poisson process per node), from the mocker's seeded generator.
void schedule_reclaims(self_ptr self) {
  auto& st = self->state;
  for (const auto& n : st.nodes->snapshot(now_ns(self)).nodes) {
    auto rate = st.nodes->reclaim_rate_of(n.name);
    if (rate <= 0 || !st.reclaims_scheduled.insert(n.name).second) continue;
    std::exponential_distribution<double> wait_hours(rate);
    auto wait = std::chrono::nanoseconds(static_cast<int64_t>(wait_hours(st.rng) * 3600e9));
    self->delayed_send(self, wait, reclaim_due{n.name});
  }
}

/// cordon | uncordon | reclaim | fail (see node_command).
node_command_result run_command(self_ptr self, const node_command& cmd) {
  auto& st = self->state;
  node_command_result out;
  if (cmd.action == "reclaim") return reclaim(self, cmd);
  if (cmd.action == "fail") {
    auto reason = "node " + cmd.node + " failed" + (cmd.reason.empty() ? "" : ": ") + cmd.reason;
    auto pods = fail_node(self, cmd.node, reason);
    if (!pods) return {false, "no node " + cmd.node, {}, 0};
    return {true, "", *pods, now_ns(self)};
  }
  if (cmd.action != "cordon" && cmd.action != "uncordon")
    return {false, "unknown action " + cmd.action + " (cordon, uncordon, reclaim, fail)", {}, 0};
  bool on = cmd.action == "cordon";
  if (!st.nodes->cordon(cmd.node, on, cmd.reason.empty() ? "cordoned" : cmd.reason))
    return {false, "no node " + cmd.node, {}, 0};
  if (st.deps.log) st.deps.log->info("node {}: {}ed", cmd.node, cmd.action);
  if (!on) place_all(self, st.nodes->place_pending(now_ns(self)));
  for (const auto& n : st.nodes->snapshot(now_ns(self)).nodes)
    if (n.name == cmd.node) out.pods = n.pods;
  out.ok = true;
  out.at_ns = now_ns(self);
  return out;
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
    st.rng.seed(st.settings.seed);
    schedule_reclaims(self);
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
          if (*phase == pod_phase::pending) {
            finish_removal(self, del.name, del.reason);
            return;
          }
          // Draining: out of its pool now; the pod finishes what it admitted, then goes.
          drain(self, del.name, del.reason, st.settings.drain_grace, false);
        },
        [self](pod_loaded& loaded) {
          auto& st = self->state;
          // The leader once every member of its group has loaded (the pod itself when alone).
          auto leader = st.nodes->mark_loaded(loaded.name, loaded.attempt, now_ns(self));
          if (leader.empty()) return;
          if (auto it = st.running.find(leader); it != st.running.end())
            caf::anon_send(caf::actor_cast<pod::pod_actor>(it->second.actor), pod::mark_ready{});
          auto workers = st.nodes->workers_of(leader);
          for (const auto& w : workers)
            tell(self, w, pod_phase::ready, "group Ready");
          tell(self, leader, pod_phase::ready,
               workers.empty() ? std::string("model loaded")
                               : "model loaded by all " + std::to_string(workers.size() + 1) +
                                     " pods of the group");
          export_metrics(self);
        },
        [self](node_provisioned& p) {
          if (self->state.deps.log)
            self->state.deps.log->info("node pool {}: a new node is Ready", p.pool);
          place_all(self, self->state.nodes->node_ready(p.pool, now_ns(self)));
          schedule_reclaims(self);
        },
        [self](cluster_query&) { return self->state.nodes->snapshot(now_ns(self)); },
        [self](lose_node& lost) {
          auto reason =
              "node " + lost.name + " lost" + (lost.reason.empty() ? "" : ": ") + lost.reason;
          if (!fail_node(self, lost.name, reason) && self->state.deps.log)
            self->state.deps.log->warn("node {}: cannot lose it: no such node", lost.name);
        },
        [self](node_command& cmd) {
          auto out = run_command(self, cmd);
          if (!out.ok && self->state.deps.log)
            self->state.deps.log->warn("node command {} {}: {}", cmd.action, cmd.node, out.error);
          return out;
        },
        [self](reclaim_due& due) {
          auto& st = self->state;
          auto out = reclaim(self, {"reclaim", due.node, 0, "spot capacity (reclaimRate)"});
          if (!out.ok && st.deps.log && out.error.rfind("no node", 0) != 0)
            st.deps.log->info("node {}: {}", due.node, out.error);
        },
        [self](node_reclaimed& r) {
          fail_node(self, r.node, "node " + r.node + " reclaimed: its notice ran out");
        },
        [self](pod_exited& e) {
          auto phase = self->state.nodes->phase(e.name);
          if (!phase || *phase == pod_phase::pending) return;
          auto leader = self->state.nodes->leader_of(e.name);
          if (in_group(self, leader))
            restart_group(self, leader, "pod " + e.name + " exited: " + e.reason);
          else
            finish_removal(self, e.name, "exited: " + e.reason);
        },
    };
  });
}

}  // namespace inferstack::actors::node_mocker
