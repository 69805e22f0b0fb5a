// The gateway role: keys and routes loaded into their actors, pools wired to their pickers, and
// the gateway serving on top of them.
#include "nodes/roles/gateway_role.hpp"

#include <cstdlib>
#include <filesystem>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/authorizer/key_loader.hpp"
#include "actors/picker/flow_control/settings.hpp"
#include "actors/router/route_table.hpp"
#include "nodes/admin_routes.hpp"
#include "nodes/stack_parts.hpp"
#include "runtime/tracing/tracer.hpp"
#include "runtime/zmq_transport.hpp"

namespace inferstack::nodes {

gateway_role::gateway_role(role_context context, gateway_role_settings settings,
                           const std::atomic<bool>& ready)
    : context_(std::move(context)),
      settings_(std::move(settings)),
      ready_(ready),
      pools_(std::make_shared<gateway::pool_directory>()) {}

gateway_role::~gateway_role() {
  stop(std::chrono::seconds(0));
}

void gateway_role::prepare(std::vector<std::string>& problems) {
  auto& system = context_.system;
  const auto& config = context_.config;
  auto gw = config.gateway.value_or(config::gateway_settings{});
  // -- authorizer ---------------------------------------------------------------------------
  actors::authorizer::key_sources sources{gw.secrets_dir, settings_.generate_key, std::getenv};
  auto keys = actors::authorizer::load_keys(config.api_keys, sources);
  for (auto& p : keys.problems)
    problems.push_back(p);
  for (auto& g : keys.generated)
    context_.log->info("generated an API key in {}", g);
  key_files_ = keys.files;
  authorizer_view_ = std::make_shared<actors::authorizer::published_authorizer>();
  authorizer_ = actors::authorizer::spawn_authorizer(
      system, keys.keys, *context_.registry, runtime::component_logger(context_.log, "authorizer"),
      authorizer_view_);
  // -- router -------------------------------------------------------------------------------
  std::vector<std::string> route_problems;
  auto routes = actors::router::build_route_set(config, route_problems);
  for (auto& p : route_problems)
    problems.push_back(p);
  router_view_ = std::make_shared<actors::router::published_router>();
  router_ =
      actors::router::spawn_router(system, routes, context_.seed, *context_.registry,
                                   runtime::component_logger(context_.log, "router"), router_view_);
}

caf::actor gateway_role::register_pools(const std::map<std::string, local_picker>& local,
                                        std::vector<std::string>& problems) {
  auto& system = context_.system;
  auto& transport = context_.transport;
  const auto& config = context_.config;
  const auto& peers = settings_.peers;
  // How long each picker replica has been silent, as the ZeroMQ transport hears it.
  gateway::replica_set::silence_probe silence;
  if (auto* zmq = dynamic_cast<runtime::zmq_transport*>(&transport))
    silence = [zmq](const std::string& address) { return zmq->peer_silence(address); };
  for (const auto& pool : config.inference_pools) {
    auto key = pool.meta.namespace_ + "/" + pool.meta.name;
    gateway::pool_entry entry;
    entry.ns = pool.meta.namespace_;
    entry.name = pool.meta.name;
    entry.failure_mode = pool.failure_mode;
    // Under flow control a pick may wait in the picker's queue, up to its TTL (the picker
    // reports the config's problems).
    if (auto ps = picker_settings_for(config, pool, context_.seed); ps.config) {
      std::vector<config::problem> reported_by_picker;
      auto fc = actors::picker::flow_control::read_flow_control(*ps.config, reported_by_picker);
      if (fc.enabled)
        entry.queue_wait = fc.request_ttl_ns > 0 ? std::chrono::nanoseconds(fc.request_ttl_ns)
                                                 : std::chrono::hours(24);
    }
    entry.members = model_servers_of(config, pool);
    if (auto here = local.find(key); here != local.end()) {
      entry.replicas = gateway::single_replica(
          caf::actor_cast<actors::picker::picker_actor>(here->second.actor));
      entry.direct = here->second.direct;
    } else if (auto remote = peers.pickers.find(key);
               remote != peers.pickers.end() && !remote->second.empty()) {
      // Each replica of the pool's picker at its own address: picks are spread over those
      // the transport hears (see gateway::replica_set).
      std::vector<gateway::picker_replica> replicas;
      for (const auto& address : remote->second) {
        auto handle = transport.lookup(address, "picker");
        if (!handle) {
          problems.push_back("InferencePool " + key + ": picker at " + address + ": " +
                             system.render(handle.error()));
          continue;
        }
        replicas.push_back({caf::actor_cast<actors::picker::picker_actor>(*handle), address});
      }
      if (replicas.size() != remote->second.size()) continue;
      int configured = picker_replicas_of(pool, nullptr);
      if (configured != static_cast<int>(replicas.size()))
        context_.log->warn(
            "InferencePool {}: {} picker replica(s) given (--picker), its {} annotation says {}",
            key, replicas.size(), picker_replicas_annotation, configured);
      entry.replicas = std::make_shared<gateway::replica_set>(std::move(replicas),
                                                              gateway::replica_policy{}, silence);
    } else {
      problems.push_back("InferencePool " + key + ": no picker (give its address: --picker " + key +
                         "=tcp://HOST:PORT)");
      continue;
    }
    pools_->set(std::move(entry));
  }
  caf::actor activator;
  if (settings_.control_elsewhere) {
    // The control process tells every pool's Ready members (for FailOpen) and starts pods
    // for pools at zero (activation).
    if (peers.control.empty()) {
      problems.push_back("no control process (give its address: --control tcp://HOST:PORT)");
    } else {
      auto scaler = transport.lookup(peers.control, "scaler");
      if (scaler) activator = *scaler;
    }
    if (!peers.control_events.empty()) {
      // The control plane publishes a membership when it changes and resends all every 2 s: a
      // gateway that starts after the pods are Ready would know none until then (FailOpen has
      // no pod to serve while the picker is down). So once subscribed it asks the controller
      // to tell them all now, and again every 250 ms until one arrives (what is published
      // before the subscription reaches the control process is not seen here); "ready" waits
      // for the first (a second at most), so the first request finds the members.
      auto pools = pools_;
      caf::actor controller;
      if (!peers.control.empty())
        if (auto found = transport.lookup(peers.control, "controller")) controller = *found;
      auto heard = std::make_shared<std::atomic<bool>>(false);
      auto told = membership_sink_;
      membership_listener_ = system.spawn([pools, controller, heard,
                                           told](caf::event_based_actor* self) {
        if (controller) self->send(self, atoms::tick_atom_v);
        return caf::behavior{
            [pools, heard, told](actors::picker::pool_membership& m) {
              auto slash = m.pool.find('/');
              if (slash != std::string::npos) {
                // The pickers here first: they hear a pod before a pick can name it.
                if (told) told(m.pool, m.members);
                pools->set_members(m.pool.substr(0, slash), m.pool.substr(slash + 1), m.members);
              }
              *heard = true;
            },
            [self, controller, heard](atoms::tick_atom) {
              if (heard->load()) return;
              caf::anon_send(controller, actors::controller::reconcile_now{});
              self->delayed_send(self, std::chrono::milliseconds(250), atoms::tick_atom_v);
            }};
      });
      transport.subscribe(peers.control_events, "membership@", membership_listener_);
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (controller && !heard->load() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  return activator;
}

void gateway_role::start(caf::actor activator) {
  auto gs = gateway_settings_for(context_.config, settings_.listen);
  gateway::gateway_dependencies gd;
  gd.system = &context_.system;
  gd.transport = &context_.transport;
  gd.authorizer = authorizer_;
  gd.router = router_;
  gd.authorizer_view = authorizer_view_;
  gd.router_view = router_view_;
  gd.pools = pools_;
  gd.activator = caf::actor_cast<actors::scaler::scaler_actor>(activator);
  gd.registry = context_.registry;
  gd.log = runtime::component_logger(context_.log, "gateway");
  gd.access_log = runtime::make_access_logger(context_.log, settings_.log_format);
  gd.unix_seconds = settings_.unix_seconds;
  gd.seed = context_.seed;
  if (!settings_.virtual_clients)  // a simulation's time is not the wall clock's
    gd.tracer = context_.tracer;   // the process's (its exporter flushed once the last holder goes)
  // The tenants' listener answers health probes only: metrics, /control and /pods are on the
  // admin listener.
  gd.admin = [this](const std::shared_ptr<http::exchange>& ex) {
    auto target = http::to_std(ex->req().target());
    auto path = target.substr(0, target.find('?'));
    if (!is_health_path(path)) return false;
    std::atomic<bool> ready = ready_ && (!settings_.pickers_ready || settings_.pickers_ready());
    return serve_admin(ex, *context_.registry, ready);
  };
  if (settings_.virtual_clients) {
    gs.access_log = false;  // a simulation's report has every request
    pipeline_ = std::make_unique<gateway::request_pipeline>(gs, gd);
    pipeline_->start();
    return;
  }
  gateway_ = std::make_unique<gateway::gateway>(gs, gd);
  gateway_->start();
}

void gateway_role::stop(std::chrono::nanoseconds grace) {
  if (gateway_) gateway_->stop(grace);
  gateway_.reset();
  if (pipeline_) pipeline_->stop();
  pipeline_.reset();
  if (membership_listener_) {
    context_.transport.unsubscribe(membership_listener_);
    caf::anon_send_exit(membership_listener_, caf::exit_reason::user_shutdown);
    membership_listener_ = caf::actor{};
  }
  if (authorizer_) caf::anon_send_exit(authorizer_, caf::exit_reason::user_shutdown);
  if (router_) caf::anon_send_exit(router_, caf::exit_reason::user_shutdown);
  authorizer_ = nullptr;
  router_ = nullptr;
}

uint16_t gateway_role::port() const {
  return gateway_ ? gateway_->port() : 0;
}

void gateway_role::set_members(const std::string& ns, const std::string& name,
                               const std::vector<actors::picker::pool_member>& members) {
  pools_->set_members(ns, name, members);
}

void gateway_role::export_replica_stats() {
  if (!replica_picks_) {
    replica_picks_ = &prometheus::BuildGauge()
                          .Name("inferstack_gateway_picker_replica_picks")
                          .Help("Picks this gateway sent to each picker replica, so far")
                          .Register(*context_.registry);
    replica_healthy_ = &prometheus::BuildGauge()
                            .Name("inferstack_gateway_picker_replica_healthy")
                            .Help(
                                "1 while a picker replica is neither silent nor left out after "
                                "a failed pick")
                            .Register(*context_.registry);
    replica_failovers_ = &prometheus::BuildGauge()
                              .Name("inferstack_gateway_picker_failovers")
                              .Help(
                                  "Picks moved on to another picker replica (no answer in time, "
                                  "unreachable, not ready), so far")
                              .Register(*context_.registry);
  }
  auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                 context_.system.clock().now().time_since_epoch())
                 .count();
  for (const auto& entry : pools_->all()) {
    const auto& set = *entry->replicas;
    if (set.size() < 2) continue;
    auto pool = entry->ns + "/" + entry->name;
    replica_failovers_->Add({{"name", pool}}).Set(static_cast<double>(set.failovers()));
    for (size_t i = 0; i < set.size(); ++i) {
      prometheus::Labels labels{{"name", pool}, {"replica", std::to_string(i)}};
      replica_picks_->Add(labels).Set(static_cast<double>(set.picks(i)));
      replica_healthy_->Add(labels).Set(set.healthy(i, now) ? 1 : 0);
    }
  }
}

void gateway_role::reload_keys() {
  if (!authorizer_) {  // stopped
    key_files_.clear();
    return;
  }
  const auto& config = context_.config;
  auto gw = config.gateway.value_or(config::gateway_settings{});
  actors::authorizer::key_sources sources{gw.secrets_dir, settings_.generate_key, std::getenv};
  auto keys = actors::authorizer::load_keys(config.api_keys, sources);
  for (auto& p : keys.problems)
    context_.log->warn("keys: {}", p);
  key_files_ = keys.files;
  caf::anon_send(authorizer_, keys.keys);
}

void gateway_role::reload_routes() {
  if (!router_) return;  // stopped
  std::vector<std::string> problems;
  auto routes = actors::router::build_route_set(context_.config, problems);
  for (auto& p : problems)
    context_.log->warn("routes: {}", p);
  caf::anon_send(router_, routes);
}

std::map<std::string, std::string> key_expressions(const config::stack_config& config) {
  std::map<std::string, std::string> out;
  auto gw = config.gateway.value_or(config::gateway_settings{});
  auto cat = [](const std::string& file) {
    std::error_code ec;
    return "$(cat " + std::filesystem::absolute(file, ec).string() + ")";
  };
  for (const auto& k : config.api_keys) {
    if (k.auth_disabled) continue;
    const auto& ns = k.meta.namespace_;
    if (!k.key_file.empty())
      out[ns] = cat(k.key_file);
    else if (!k.key_env.empty())
      out[ns] = "$" + k.key_env;
    else
      out[ns] = cat(actors::authorizer::secret_path(gw.secrets_dir, ns));
  }
  return out;
}

}  // namespace inferstack::nodes
