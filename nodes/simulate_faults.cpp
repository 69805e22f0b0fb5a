// The faults of `inferstack simulate` applied to an in-process stack (see the header).
#include "nodes/simulate_faults.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/node_mocker/node_mocker_actor.hpp"
#include "actors/pod/pod_protocol.hpp"

namespace inferstack::nodes {

namespace ctl = actors::controller;
namespace nm = actors::node_mocker;

stack_faults::stack_faults(caf::actor_system& system, const stack_process& stack,
                           std::shared_ptr<spdlog::logger> log)
    : system_(system), stack_(stack), log_(std::move(log)) {}

std::optional<in_process_launcher::running_pod> stack_faults::find_pod(
    const std::string& name) const {
  for (auto& pod : stack_.pods())
    if (pod.name == name) return pod;
  return std::nullopt;
}

bool stack_faults::known_node(const std::string& name) const {
  auto numbered = [&](const std::string& prefix) {
    return name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
           std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), name.end(),
                       [](unsigned char c) { return std::isdigit(c); });
  };
  const auto& pools = stack_.config().node_pools;
  if (pools.empty()) return numbered("node-");  // elastic: a node per pod
  return std::any_of(pools.begin(), pools.end(),
                     [&](const auto& pool) { return numbered(pool.meta.name + "-"); });
}

std::string stack_faults::apply(const simulate::fault& f) {
  using kind = simulate::fault::kind;
  char why[64];  // the reason logs and pod events show
  std::snprintf(why, sizeof why, "simulated fault at %.3f s",
                static_cast<double>(f.at.count()) / 1e9);
  switch (f.action) {
    case kind::kill_pod: {
      if (!find_pod(f.target)) return "kill_pod: no pod " + f.target + " is running";
      // As when its process ends: the mocker makes it Gone and stops it (the pod fails what it
      // held), and the controller replaces it.
      caf::anon_send(caf::actor_cast<nm::node_mocker_impl_actor>(stack_.node_mocker()),
                     nm::pod_exited{f.target, std::string("killed: ") + why});
      return "";
    }
    case kind::lose_node:
      if (!known_node(f.target)) return "lose_node: " + f.target + " is no node of the NodePools";
      caf::anon_send(stack_.node_mocker(), nm::lose_node{f.target, why});
      return "";
    case kind::reclaim_node:
    case kind::cordon_node:
    case kind::uncordon_node: {
      if (!known_node(f.target))
        return std::string(simulate::to_string(f.action)) + ": " + f.target +
               " is no node of the NodePools";
      auto action = f.action == kind::reclaim_node  ? "reclaim"
                    : f.action == kind::cordon_node ? "cordon"
                                                    : "uncordon";
      // Its answer is not waited for (nothing may wait here): the mocker logs a refusal.
      caf::anon_send(stack_.node_mocker(), nm::node_command{action, f.target, 0, why});
      return "";
    }
    case kind::cut_kv_events:
    case kind::restore_kv_events: {
      auto pod = find_pod(f.target);
      if (!pod || !pod->kv_cut)
        return std::string(simulate::to_string(f.action)) + ": no pod " + f.target + " is running";
      pod->kv_cut->store(f.action == kind::cut_kv_events, std::memory_order_relaxed);
      return "";
    }
    case kind::freeze_pod:
    case kind::unfreeze_pod: {
      auto pod = find_pod(f.target);
      if (!pod)
        return std::string(simulate::to_string(f.action)) + ": no pod " + f.target + " is running";
      caf::anon_send(pod->actor, actors::pod::freeze_pod{f.action == kind::freeze_pod});
      return "";
    }
    case kind::set_replicas: {
      auto slash = f.target.find('/');
      ctl::scale_set req{f.target.substr(0, slash), f.target.substr(slash + 1), f.replicas, why,
                         "simulate"};
      const auto& sets = stack_.config().inference_sets;
      if (std::none_of(sets.begin(), sets.end(), [&](const auto& s) {
            return s.meta.namespace_ == req.ns && s.meta.name == req.set;
          }))
        return "set_replicas: no InferenceSet " + f.target;
      // The controller answers later; a refusal is logged (nothing may wait for it here).
      system_.spawn(
          [controller = stack_.controller(), req, log = log_](caf::event_based_actor* self) {
            self->request(controller, caf::infinite, req)
                .then(
                    [=](ctl::scale_result& r) {
                      if (!r.ok && log)
                        log->warn("set_replicas {}/{}: {}", req.ns, req.set, r.error);
                    },
                    [=](caf::error& err) {
                      if (log)
                        log->warn("set_replicas {}/{}: {}", req.ns, req.set,
                                  self->system().render(err));
                    });
          });
      return "";
    }
  }
  return "unknown fault";
}

}  // namespace inferstack::nodes
