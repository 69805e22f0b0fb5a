// The control role: the control plane spawned and wired -- pods' statuses and load to the scaler,
// pools' members to the pickers (of this process, or of others over the transport).
#include "nodes/roles/control_role.hpp"

#include <algorithm>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "nodes/process_tracer.hpp"
#include "runtime/logging.hpp"

namespace inferstack::nodes {

control_role::control_role(role_context context, control_role_settings settings,
                           membership_sink members)
    : context_(std::move(context)), settings_(std::move(settings)), members_(std::move(members)) {}

control_role::~control_role() {
  stop();
}

void control_role::start() {
  auto& system = context_.system;
  auto& log = context_.log;
  auto& registry = context_.registry;
  auto cs = std::move(settings_.controller);
  std::shared_ptr<actors::node_mocker::pod_launcher> launcher;
  if (settings_.pod_processes) {
    auto pl = *settings_.pod_processes;
    // Pod processes trace their generations to the same collector, as <serviceName>-pod.
    auto tracing = context_.config.gateway.value_or(config::gateway_settings{}).tracing;
    if (!settings_.virtual_time && !tracing.endpoint.empty()) {
      pl.trace_endpoint = tracing.endpoint;
      pl.trace_service_name = role_service_name(tracing.service_name, "pod");
    }
    process_launcher_ = std::make_shared<process_launcher>(
        system, context_.transport, std::move(pl), runtime::component_logger(log, "launcher"));
    launcher = process_launcher_;
  } else {
    launcher_ =
        std::make_shared<in_process_launcher>(system, context_.transport, settings_.profiles_dir,
                                              settings_.wall_clock_offset_ns, log, context_.tracer);
    launcher = launcher_;
  }
  actors::node_mocker::node_mocker_settings ms;
  ms.pools = context_.config.node_pools;
  ms.seed = context_.seed;
  mocker_ = actors::node_mocker::spawn_node_mocker(
      system, ms, {launcher, {}, registry, runtime::component_logger(log, "node-mocker")});
  if (process_launcher_) process_launcher_->set_mocker(caf::actor_cast<caf::actor>(mocker_));
  actors::controller::controller_dependencies cd;
  cd.mocker = caf::actor_cast<actors::node_mocker::node_mocker_actor>(mocker_);
  auto* transport = &context_.transport;
  if (settings_.pickers_elsewhere) {
    // Pickers in other processes: send each its pool's membership, and publish it for the
    // gateways (FailOpen); resent every 2 s so a restarted picker catches up.
    cs.membership_resync = std::chrono::seconds(2);
    // Every replica of a pool's picker is told, each at its own address.
    auto relays = std::make_shared<std::map<std::string, std::vector<caf::actor>>>();
    for (const auto& [pool, addresses] : settings_.picker_addresses)
      for (const auto& address : addresses)
        if (auto relay = transport->lookup(address, "pool")) (*relays)[pool].push_back(*relay);
    auto members = members_;
    cd.on_membership = [relays, transport, members](
                           const actors::controller::pool_spec& pool,
                           const std::vector<actors::picker::pool_member>& pods) {
      auto key = pool.ns + "/" + pool.name;
      actors::picker::pool_membership m{key, pods};
      if (auto it = relays->find(key); it != relays->end())
        for (const auto& relay : it->second)
          caf::anon_send(relay, m);
      transport->publish("membership@" + key + "@", caf::make_message(m));
      members(pool, pods);
    };
  } else {
    cd.on_membership = members_;
  }
  cd.on_status = [transport](const actors::controller::set_status& s) {
    transport->publish("setstatus@" + s.ns + "/" + s.set + "@", caf::make_message(s));
  };
  cd.registry = registry;
  cd.log = runtime::component_logger(log, "controller");
  controller_ = actors::controller::spawn_controller(system, cs, cd);
  actors::scaler::scaler_settings ss;
  ss.targets = std::move(settings_.targets);
  actors::scaler::scaler_dependencies sd;
  sd.controller = caf::actor_cast<actors::controller::controller_actor>(controller_);
  if (launcher_) {
    auto local = launcher_;
    sd.read_metric = [local](const std::string& pod, const std::string& metric) {
      return local->read_metric(pod, metric);
    };
  } else if (process_launcher_ &&
             std::any_of(ss.targets.begin(), ss.targets.end(), [](const auto& t) {
               return !actors::scaler::from_load_reports(t.metric);
             })) {
    // Pod processes: what the load reports do not carry comes from their /metrics.
    scraped_metrics_ =
        std::make_shared<scraped_pod_metrics>(std::chrono::seconds(1), std::chrono::seconds(10));
    auto metrics = scraped_metrics_;
    sd.read_metric = [metrics](const std::string& pod, const std::string& metric) {
      return metrics->read(pod, metric);
    };
  }
  sd.registry = registry;
  sd.log = runtime::component_logger(log, "scaler");
  scaler_ = actors::scaler::spawn_scaler(system, ss, sd);
  auto scaler = caf::actor_cast<caf::actor>(scaler_);
  transport->subscribe("", "setstatus@", scaler);
  if (process_launcher_) {
    auto metrics = scraped_metrics_;
    process_launcher_->on_launched = [transport, scaler, metrics](
                                         const std::string& pod,
                                         const actors::node_mocker::launched_pod& launched) {
      transport->subscribe(launched.events, "load@", scaler);
      if (metrics) metrics->watch(pod, launched.address);
    };
    process_launcher_->on_terminated = [metrics](const std::string& pod) {
      if (metrics) metrics->forget(pod);
    };
  } else
    transport->subscribe("", "load@", scaler);
  if (settings_.expose) {
    transport->expose("controller", caf::actor_cast<caf::actor>(controller_));
    transport->expose("mocker", caf::actor_cast<caf::actor>(mocker_));
    transport->expose("scaler", scaler);
  }
  // Statuses published before the scaler subscribed: ask once (late ones are recognised by
  // their version).
  if (settings_.virtual_time) {
    // Nothing blocks in virtual time: an actor asks, the simulation runs it, and whoever runs
    // the simulation waits for the pods.
    auto controller = controller_;
    auto scaler_actor = scaler_;
    system.spawn([controller, scaler_actor](caf::event_based_actor* self) {
      self->request(controller, std::chrono::seconds(5), actors::controller::set_status_query{})
          .then([self, scaler_actor](actors::controller::set_status_list& list) {
            for (auto& s : list.sets)
              caf::anon_send(scaler_actor, s);
            self->quit();
          });
    });
    return;
  }
  caf::scoped_actor self{system};
  self->request(controller_, std::chrono::seconds(5), actors::controller::set_status_query{})
      .receive(
          [&](actors::controller::set_status_list& list) {
            for (auto& s : list.sets)
              caf::anon_send(scaler_, s);
          },
          [&](caf::error& err) { log->warn("controller: {}", system.render(err)); });

  // The initial replicas are adopted as running: wait (bounded) until they serve, so the first
  // request after "ready" finds them.
  if (!settings_.cold_start) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      bool all_ready = true;
      self->request(controller_, std::chrono::seconds(5), actors::controller::set_status_query{})
          .receive(
              [&](actors::controller::set_status_list& list) {
                for (const auto& s : list.sets)
                  if (s.ready < s.desired && s.pending == 0) all_ready = false;
              },
              [&](caf::error&) { all_ready = false; });
      if (all_ready) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(process_launcher_ ? 20 : 2));
    }
  }
}

void control_role::stop() {
  if (scaler_) caf::anon_send_exit(scaler_, caf::exit_reason::user_shutdown);
  if (controller_) caf::anon_send_exit(controller_, caf::exit_reason::user_shutdown);
  if (mocker_) caf::anon_send_exit(mocker_, caf::exit_reason::user_shutdown);
  if (launcher_) launcher_->terminate_all();
  if (process_launcher_) process_launcher_->terminate_all();
  scraped_metrics_.reset();
  scaler_ = nullptr;
  controller_ = nullptr;
  mocker_ = nullptr;
}

caf::actor control_role::activator() const {
  return caf::actor_cast<caf::actor>(scaler_);
}

actors::controller::controller_actor control_role::controller() const {
  return caf::actor_cast<actors::controller::controller_actor>(controller_);
}

actors::node_mocker::node_mocker_actor control_role::node_mocker() const {
  return caf::actor_cast<actors::node_mocker::node_mocker_actor>(mocker_);
}

std::vector<in_process_launcher::running_pod> control_role::pods() const {
  return launcher_ ? launcher_->pods() : std::vector<in_process_launcher::running_pod>{};
}

std::shared_ptr<prometheus::Registry> control_role::registry_of(const std::string& pod) const {
  return launcher_ ? launcher_->registry_of(pod) : nullptr;
}

}  // namespace inferstack::nodes
