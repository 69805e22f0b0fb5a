#include "nodes/stack.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <thread>

#include <prometheus/gauge.h>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/authorizer/authorizer_actor.hpp"
#include "actors/authorizer/key_loader.hpp"
#include "actors/controller/reconciler.hpp"
#include "actors/picker/kv_subscriber.hpp"
#include "actors/picker/load_scraper.hpp"
#include "actors/picker/scheduling/config_loader.hpp"
#include "actors/pod/engine/latency.hpp"
#include "actors/pod/pod_actor.hpp"
#include "actors/router/route_table.hpp"
#include "actors/router/router_actor.hpp"
#include "gateway/upstream_client.hpp"
#include "nodes/admin_routes.hpp"
#include "nodes/control_routes.hpp"
#include "nodes/scaling_targets.hpp"
#include "nodes/stack_parts.hpp"
#include "runtime/logging.hpp"
#include "runtime/metrics.hpp"

namespace inferstack::nodes {

namespace {

using actors::controller::selects;

/// Start-up stops at the first step that found problems, naming every one of them.
void throw_if_any(const std::vector<std::string>& problems) {
  if (problems.empty()) return;
  std::ostringstream all;
  for (const auto& p : problems)
    all << "\n  " << p;
  throw std::runtime_error("the stack cannot start:" + all.str());
}

}  // namespace

actors::node_mocker::pod_template pod_template_for(const config::inference_set& set,
                                                   const config::model_preset* preset,
                                                   uint64_t seed) {
  actors::node_mocker::pod_template t;
  t.ns = set.meta.namespace_;
  t.set = set.meta.name;
  t.preset = set.preset;
  t.model = preset && !preset->served_model_name.empty() ? preset->served_model_name : set.preset;
  t.instance_type = set.instance_type;
  t.gpus = preset ? preset->gpus : 1;
  auto defaults = config::model_preset{};
  t.load_ns = (preset ? preset->load_time : defaults.load_time).count();
  t.warm_load_ns = (preset ? preset->warm_load_time : defaults.warm_load_time).count();
  t.labels = set.template_labels;
  t.annotations = set.template_annotations;
  if (preset) t.engine = preset->engine;
  t.seed = seed;
  return t;
}

in_process_stack::in_process_stack(caf::actor_system& system, runtime::transport& transport,
                                   config::stack_config config, stack_options options,
                                   std::shared_ptr<spdlog::logger> log,
                                   std::shared_ptr<prometheus::Registry> registry)
    : system_(system),
      transport_(transport),
      config_(std::move(config)),
      options_(std::move(options)),
      log_(std::move(log)),
      registry_(std::move(registry)),
      pools_(std::make_shared<gateway::pool_directory>()) {}

in_process_stack::~in_process_stack() {
  stop(std::chrono::seconds(0));
}

void in_process_stack::start() {
  std::vector<std::string> problems;
  const auto& roles = options_.roles;
  auto gw = config_.gateway.value_or(config::gateway_settings{});

  if (roles.gateway) {
    // -- authorizer -------------------------------------------------------------------------
    actors::authorizer::key_sources sources{gw.secrets_dir, options_.generate_key, std::getenv};
    auto keys = actors::authorizer::load_keys(config_.api_keys, sources);
    for (auto& p : keys.problems)
      problems.push_back(p);
    for (auto& g : keys.generated)
      log_->info("generated an API key in {}", g);
    key_files_ = keys.files;
    authorizer_view_ = std::make_shared<actors::authorizer::published_authorizer>();
    authorizer_ = actors::authorizer::spawn_authorizer(
        system_, keys.keys, *registry_, runtime::component_logger(log_, "authorizer"),
        authorizer_view_);
    // -- router -----------------------------------------------------------------------------
    std::vector<std::string> route_problems;
    auto routes = actors::router::build_route_set(config_, route_problems);
    for (auto& p : route_problems)
      problems.push_back(p);
    router_view_ = std::make_shared<actors::router::published_router>();
    router_ = actors::router::spawn_router(system_, routes, options_.seed, *registry_,
                                           runtime::component_logger(log_, "router"), router_view_);
  }

  // InferenceSets and pools as the controller reconciles them (the engine options are checked
  // now, wherever the control plane runs).
  auto cs = controller_settings_for(config_, options_.profiles_dir, options_.seed,
                                    !options_.cold_start, problems);
  auto pools = pool_names(config_);
  if (!roles.picker_pool.empty() &&
      std::find(pools.begin(), pools.end(), roles.picker_pool) == pools.end())
    problems.push_back("--pool " + roles.picker_pool + ": no such InferencePool");
  if (roles.pickers) start_pickers(cs, problems);
  std::vector<actors::scaler::scaling_target> targets;
  if (roles.control) targets = scaling_targets(config_, problems);
  caf::actor activator;
  if (roles.gateway) activator = register_pools(problems);

  throw_if_any(problems);
  if (roles.control) {
    start_control(std::move(cs), std::move(targets));
    activator = caf::actor_cast<caf::actor>(scaler_);
  }
  if (roles.gateway) {
    start_gateway(activator);
    gateway_->start();
  }
  start_admin_listener(problems);
  throw_if_any(problems);
  ready_ = true;
}

void in_process_stack::start_admin_listener(std::vector<std::string>& problems) {
  if (options_.admin_listen.empty()) return;
  auto gw = config_.gateway.value_or(config::gateway_settings{});
  auto colon = options_.admin_listen.rfind(':');
  if (colon == std::string::npos) {
    problems.push_back("admin listener: expected host:port, got '" + options_.admin_listen + "'");
    return;
  }
  auto host = options_.admin_listen.substr(0, colon);
  if (!is_loopback_host(host) && !options_.admin_allow_remote && !gw.admin_allow_remote) {
    problems.push_back("admin listener " + options_.admin_listen +
                       ": not a loopback address; the admin API (/control, /pods, /metrics) "
                       "is off there unless asked for (InferenceGateway spec.adminAllowRemote: "
                       "true, or --admin-allow-remote)");
    return;
  }
  admin_token_settings ts;
  ts.secrets_dir = gw.secrets_dir;
  ts.admin_token_file = gw.admin_token_file;
  ts.read_token_file = gw.admin_read_token_file;
  ts.generate = options_.generate_key;
  admin_access_ = std::make_unique<admin_access>(ts);
  for (auto& p : admin_access_->load())
    problems.push_back(p);
  for (const auto& f : admin_access_->files())
    key_files_.push_back(f);
  http::server_settings hs;
  hs.address = host;
  try {
    hs.port = static_cast<uint16_t>(std::stoi(options_.admin_listen.substr(colon + 1)));
  } catch (const std::exception&) {
    problems.push_back("admin listener: bad port in '" + options_.admin_listen + "'");
    return;
  }
  hs.io_threads = 1;
  hs.server_name = "inferstack-admin";
  hs.log = log_;
  hs.registry = registry_;
  admin_server_ = std::make_unique<http::server>(hs, [this](std::shared_ptr<http::exchange> ex) {
    if (admin(ex)) return;
    ex->respond(http::status::not_found, http::openai_error_body(404, "no such route"),
                "application/json");
  });
  try {
    admin_server_->start();
  } catch (const std::exception& e) {
    problems.push_back("admin listener " + options_.admin_listen + ": " + e.what());
    admin_server_.reset();
  }
}

std::string in_process_stack::admin_url() const {
  if (!admin_server_) return "";
  auto host = options_.admin_listen.substr(0, options_.admin_listen.rfind(':'));
  return "http://" + host + ":" + std::to_string(admin_server_->port());
}

std::string in_process_stack::admin_token_file() const {
  if (!admin_access_) return "";
  auto files = admin_access_->files();
  if (files.empty()) return "";
  std::error_code ec;
  return std::filesystem::absolute(files.front(), ec).string();
}

void in_process_stack::start_pickers(actors::controller::controller_settings& cs,
                                     std::vector<std::string>& problems) {
  const auto& roles = options_.roles;
  bool picker_process = !roles.picker_pool.empty();
  for (const auto& pool : config_.inference_pools) {
    auto ps = picker_settings_for(config_, pool, options_.seed);
    if (picker_process && ps.pool != roles.picker_pool) continue;
    // A picker process takes picks only once the control process has told it its pool (a
    // restarted one would otherwise answer "no ready endpoint" until the next resync); the
    // gateway meanwhile treats it as unavailable and FailOpen serves the members it knows.
    ps.await_membership = picker_process;
    auto picker_config = ps.config;
    actors::picker::picker_impl_actor picker;
    auto direct = std::make_shared<actors::picker::direct_picker>();
    try {
      picker = actors::picker::spawn_picker(
          system_, ps, {registry_, runtime::component_logger(log_, "picker"), direct});
    } catch (const std::exception& e) {
      problems.push_back("InferencePool " + ps.pool + ": EndpointPickerConfig " + pool.picker +
                         ": " + e.what());
      continue;
    }
    // Where KV events of pods outside this process come from: a central SUB socket the pool's
    // config binds (llm-d's zmqEndpoint), or each pod's own publisher.
    auto probe = actors::picker::build_endpoint_picker(picker_config.get(), {});
    const auto* kv_settings = probe.picker ? probe.picker->kv_events() : nullptr;
    std::unique_ptr<actors::picker::kv_subscriber> kv;
    auto kv_sink = [picker](actors::pod::kv_event_message m) {
      caf::anon_send(picker, std::move(m));
    };
    try {
      actors::picker::kv_subscriber_settings ks;
      if (kv_settings && !kv_settings->zmq_endpoint.empty()) {
        ks.bind = kv_settings->zmq_endpoint;
        ks.topic_filter = kv_settings->topic_filter;
      }
      ks.curve = options_.curve;
      kv = std::make_unique<actors::picker::kv_subscriber>(ks, kv_sink);
      if (!ks.bind.empty())
        log_->info("pool {}: KV events bound at {}", ps.pool, kv->bound_endpoint());
    } catch (const std::exception& e) {
      problems.push_back("InferencePool " + ps.pool + ": " + e.what());
    }
    pickers_[ps.pool] = {picker, direct};
    kv_pickers_[ps.pool] = kv.get();
    if (kv) kv_subscribers_.push_back(std::move(kv));
    // Model servers outside the stack join pools like pods; they are reached over HTTP.
    auto servers = model_servers_of(config_, pool);
    wire_members(ps.pool, picker, servers);
    // A picker process hears its model servers with the rest of the pool from the control
    // process (the controller's membership includes them); told here, it would count as
    // knowing its pool before it does.
    if (!picker_process) caf::anon_send(picker, actors::picker::pool_membership{ps.pool, servers});
    if (picker_process) {
      // The control process sends this pool's membership here; gateways ask "picker".
      transport_.expose("picker", caf::actor_cast<caf::actor>(picker));
      auto pool_key = ps.pool;
      membership_relay_ = system_.spawn([this, picker, pool_key](caf::event_based_actor*) {
        return caf::behavior{[this, picker, pool_key](actors::picker::pool_membership& m) {
          // Subscriptions first (load reports, KV events, the pods' replay sockets: a topic
          // first heard mid-stream is replayed from its start), then the picker knows its pool.
          wire_members(pool_key, picker, m.members);
          caf::anon_send(picker, std::move(m));
          has_membership_ = true;  // ready: the control plane has told us our pods
        }};
      });
      transport_.expose("pool", membership_relay_);
    }
  }
  (void)cs;
}

void in_process_stack::wire_members(const std::string& pool,
                                    const actors::picker::picker_impl_actor& picker,
                                    const std::vector<actors::picker::pool_member>& members) {
  std::lock_guard guard{subscribed_mutex_};
  for (const auto& m : members) {
    if (!subscribed_.emplace(pool, m.pod).second) continue;
    auto p = caf::actor_cast<caf::actor>(picker);
    if (m.endpoint.rfind("actor:", 0) == 0) {  // a pod of this process
      transport_.subscribe("", "load@" + m.pod + "@", p);
      transport_.subscribe("", "kv@" + m.address + "@", p);
      continue;
    }
    if (!m.events.empty()) transport_.subscribe(m.events, "load@" + m.pod + "@", p);
    auto kv = kv_pickers_.find(pool);
    if (kv != kv_pickers_.end() && kv->second) {
      // Our own pods (they report load over the transport) speak CurveZMQ; vLLM cannot.
      bool ours = !m.events.empty();
      if (!m.kv_events.empty()) kv->second->connect(m.kv_events, ours);
      if (!m.kv_replay.empty()) kv->second->set_replay(m.address, m.kv_replay, ours);
    }
    // A model server that does not push load reports: its /metrics, read on an interval.
    if (m.events.empty() && m.endpoint.rfind("http://", 0) == 0) {
      bool scrape = true;
      std::string metrics_path = "/metrics";
      for (const auto& server : config_.model_servers)
        if (server.meta.namespace_ + "/" + server.meta.name == m.pod) {
          scrape = server.scrape_metrics;
          metrics_path = server.metrics_path;
        }
      gateway::upstream_target t;
      if (!scrape || !gateway::parse_upstream_url(m.endpoint, t)) continue;
      if (!scraper_) {
        auto routes = scrape_routes_;
        scraper_ = std::make_unique<actors::picker::load_scraper>(
            std::chrono::milliseconds(100), [routes](actors::pod::load_report r) {
              std::lock_guard guard{routes->mutex};
              auto it = routes->pickers.find(r.pod);
              if (it == routes->pickers.end()) return;
              for (auto& dest : it->second)
                caf::anon_send(dest, r);
            });
      }
      {
        std::lock_guard routes_guard{scrape_routes_->mutex};
        auto& dests = scrape_routes_->pickers[m.pod];
        bool first = dests.empty();
        dests.push_back(p);
        if (!first) continue;
      }
      scraper_->add({m.pod, t.host, t.port, t.base_path + metrics_path});
    }
  }
}

caf::actor in_process_stack::register_pools(std::vector<std::string>& problems) {
  const auto& peers = options_.peers;
  for (const auto& pool : config_.inference_pools) {
    auto key = pool.meta.namespace_ + "/" + pool.meta.name;
    gateway::pool_entry entry;
    entry.ns = pool.meta.namespace_;
    entry.name = pool.meta.name;
    entry.failure_mode = pool.failure_mode;
    entry.members = model_servers_of(config_, pool);
    if (auto local = pickers_.find(key); local != pickers_.end()) {
      entry.picker = caf::actor_cast<actors::picker::picker_actor>(local->second.actor);
      entry.direct = local->second.direct;
    } else if (auto remote = peers.pickers.find(key); remote != peers.pickers.end()) {
      auto handle = transport_.lookup(remote->second, "picker");
      if (!handle) {
        problems.push_back("InferencePool " + key + ": picker at " + remote->second + ": " +
                           system_.render(handle.error()));
        continue;
      }
      entry.picker = caf::actor_cast<actors::picker::picker_actor>(*handle);
    } else {
      problems.push_back("InferencePool " + key + ": no picker (give its address: --picker " + key +
                         "=tcp://HOST:PORT)");
      continue;
    }
    pools_->set(std::move(entry));
  }
  caf::actor activator;
  if (!options_.roles.control) {
    // The control process tells every pool's Ready members (for FailOpen) and starts pods
    // for pools at zero (activation).
    if (peers.control.empty()) {
      problems.push_back("no control process (give its address: --control tcp://HOST:PORT)");
    } else {
      auto scaler = transport_.lookup(peers.control, "scaler");
      if (scaler) activator = *scaler;
    }
    if (!peers.control_events.empty()) {
      auto pools = pools_;
      membership_listener_ = system_.spawn([pools](caf::event_based_actor*) {
        return caf::behavior{[pools](actors::picker::pool_membership& m) {
          auto slash = m.pool.find('/');
          if (slash == std::string::npos) return;
          pools->set_members(m.pool.substr(0, slash), m.pool.substr(slash + 1), m.members);
        }};
      });
      transport_.subscribe(peers.control_events, "membership@", membership_listener_);
    }
  }
  return activator;
}

void in_process_stack::start_gateway(caf::actor activator) {
  auto gs = gateway_settings_for(config_, options_.listen);
  gateway::gateway_dependencies gd;
  gd.system = &system_;
  gd.transport = &transport_;
  gd.authorizer = authorizer_;
  gd.router = router_;
  gd.authorizer_view = authorizer_view_;
  gd.router_view = router_view_;
  gd.pools = pools_;
  gd.activator = caf::actor_cast<actors::scaler::scaler_actor>(activator);
  gd.registry = registry_;
  gd.log = runtime::component_logger(log_, "gateway");
  gd.access_log = runtime::make_access_logger(log_, options_.log_format);
  gd.unix_seconds = options_.unix_seconds;
  gd.seed = options_.seed;
  // The tenants' listener answers health probes only: metrics, /control and /pods are on the
  // admin listener.
  gd.admin = [this](const std::shared_ptr<http::exchange>& ex) {
    auto target = http::to_std(ex->req().target());
    auto path = target.substr(0, target.find('?'));
    return is_health_path(path) && serve_admin(ex, *registry_, ready_);
  };
  gateway_ = std::make_unique<gateway::gateway>(gs, gd);
}

void in_process_stack::start_control(actors::controller::controller_settings cs,
                                     std::vector<actors::scaler::scaling_target> targets) {
  const auto& peers = options_.peers;
  bool remote_pickers = !options_.roles.pickers;
  std::shared_ptr<actors::node_mocker::pod_launcher> launcher;
  if (options_.pod_processes) {
    process_launcher_ = std::make_shared<process_launcher>(
        system_, transport_, *options_.pod_processes, runtime::component_logger(log_, "launcher"));
    launcher = process_launcher_;
  } else {
    launcher_ = std::make_shared<in_process_launcher>(system_, transport_, options_.profiles_dir,
                                                      options_.wall_clock_offset_ns, log_);
    launcher = launcher_;
  }
  actors::node_mocker::node_mocker_settings ms;
  ms.pools = config_.node_pools;
  mocker_ = actors::node_mocker::spawn_node_mocker(
      system_, ms, {launcher, {}, registry_, runtime::component_logger(log_, "node-mocker")});
  if (process_launcher_) process_launcher_->set_mocker(caf::actor_cast<caf::actor>(mocker_));
  actors::controller::controller_dependencies cd;
  cd.mocker = caf::actor_cast<actors::node_mocker::node_mocker_actor>(mocker_);
  auto* transport = &transport_;
  if (remote_pickers) {
    // Pickers in other processes: send each its pool's membership, and publish it for the
    // gateways (FailOpen); resent every 2 s so a restarted picker catches up.
    cs.membership_resync = std::chrono::seconds(2);
    auto relays = std::make_shared<std::map<std::string, caf::actor>>();
    for (const auto& [pool, address] : peers.pickers)
      if (auto relay = transport_.lookup(address, "pool")) (*relays)[pool] = *relay;
    auto pools = pools_;
    bool gateway_here = options_.roles.gateway;
    cd.on_membership = [relays, transport, pools, gateway_here](
                           const actors::controller::pool_spec& pool,
                           const std::vector<actors::picker::pool_member>& members) {
      auto key = pool.ns + "/" + pool.name;
      actors::picker::pool_membership m{key, members};
      if (auto it = relays->find(key); it != relays->end()) caf::anon_send(it->second, m);
      transport->publish("membership@" + key + "@", caf::make_message(m));
      if (gateway_here) pools->set_members(pool.ns, pool.name, members);
    };
  } else {
    cd.on_membership = [this](const actors::controller::pool_spec& pool,
                              const std::vector<actors::picker::pool_member>& members) {
      on_membership(pool, members);
    };
  }
  cd.on_status = [transport](const actors::controller::set_status& s) {
    transport->publish("setstatus@" + s.ns + "/" + s.set + "@", caf::make_message(s));
  };
  cd.registry = registry_;
  cd.log = runtime::component_logger(log_, "controller");
  controller_ = actors::controller::spawn_controller(system_, cs, cd);
  actors::scaler::scaler_settings ss;
  ss.targets = std::move(targets);
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
    pod_metrics_ =
        std::make_shared<scraped_pod_metrics>(std::chrono::seconds(1), std::chrono::seconds(10));
    auto metrics = pod_metrics_;
    sd.read_metric = [metrics](const std::string& pod, const std::string& metric) {
      return metrics->read(pod, metric);
    };
  }
  sd.registry = registry_;
  sd.log = runtime::component_logger(log_, "scaler");
  scaler_ = actors::scaler::spawn_scaler(system_, ss, sd);
  auto scaler = caf::actor_cast<caf::actor>(scaler_);
  transport_.subscribe("", "setstatus@", scaler);
  if (process_launcher_) {
    auto metrics = pod_metrics_;
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
    transport_.subscribe("", "load@", scaler);
  if (!options_.roles.all()) {
    transport_.expose("controller", caf::actor_cast<caf::actor>(controller_));
    transport_.expose("mocker", caf::actor_cast<caf::actor>(mocker_));
    transport_.expose("scaler", scaler);
  }
  // Statuses published before the scaler subscribed: ask once (late ones are recognised by
  // their version).
  caf::scoped_actor self{system_};
  self->request(controller_, std::chrono::seconds(5), actors::controller::set_status_query{})
      .receive(
          [&](actors::controller::set_status_list& list) {
            for (auto& s : list.sets)
              caf::anon_send(scaler_, s);
          },
          [&](caf::error& err) { log_->warn("controller: {}", system_.render(err)); });

  // The initial replicas are adopted as running: wait (bounded) until they serve, so the first
  // request after "ready" finds them.
  if (!options_.cold_start) {
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

void in_process_stack::on_membership(const actors::controller::pool_spec& pool,
                                     const std::vector<actors::picker::pool_member>& members) {
  auto key = pool.ns + "/" + pool.name;
  auto it = pickers_.find(key);
  if (it == pickers_.end()) return;
  // The pool's picker hears each pod from the moment it joins.
  wire_members(key, it->second.actor, members);
  caf::anon_send(it->second.actor, actors::picker::pool_membership{key, members});
  pools_->set_members(pool.ns, pool.name, members);
}

void in_process_stack::export_kv_subscriber_stats() {
  if (kv_pickers_.empty()) return;
  if (!kv_replays_) {
    kv_replays_ = &prometheus::BuildGauge()
                       .Name("inferstack_picker_kv_replays")
                       .Help("KV-event gaps repaired by a replay from the pod, so far")
                       .Register(*registry_);
    kv_gaps_left_ = &prometheus::BuildGauge()
                         .Name("inferstack_picker_kv_gaps_unrepaired")
                         .Help(
                             "KV-event gaps no replay could fill, so far (the pod's index "
                             "entries were reset)")
                         .Register(*registry_);
  }
  for (const auto& [pool, kv] : kv_pickers_) {
    if (!kv) continue;
    kv_replays_->Add({{"name", pool}}).Set(static_cast<double>(kv->replays()));
    kv_gaps_left_->Add({{"name", pool}}).Set(static_cast<double>(kv->gaps_left()));
  }
}

bool in_process_stack::admin(const std::shared_ptr<http::exchange>& ex) {
  auto target = http::to_std(ex->req().target());
  auto path = target.substr(0, target.find('?'));
  if (path == "/metrics") export_kv_subscriber_stats();
  if (needs_admin_token(path)) {
    namespace bhttp = boost::beast::http;
    const auto& req = ex->req();
    auto auth = req.find(bhttp::field::authorization);
    auto scope = admin_access_
                     ? admin_access_->scope_of(auth == req.end() ? std::string_view{}
                                                                 : http::to_std(auth->value()))
                     : admin_scope::none;
    if (scope == admin_scope::none) {
      ex->respond(http::status::unauthorized,
                  http::openai_error_body(401,
                                          "the admin API needs an admin token (Authorization: "
                                          "Bearer <token>; inferstack get/scale --token-file)"),
                  "application/json", {{"www-authenticate", "Bearer"}});
      return true;
    }
    bool reads = req.method() == bhttp::verb::get || req.method() == bhttp::verb::head;
    if (!reads && scope != admin_scope::admin) {
      ex->respond(http::status::forbidden,
                  http::openai_error_body(403,
                                          "this token may only read (GET); changes need "
                                          "the admin token"),
                  "application/json");
      return true;
    }
  }
  // A picker process is ready once it knows its pool's members.
  std::atomic<bool> ready = ready_ && (options_.roles.picker_pool.empty() || has_membership_);
  if (serve_admin(ex, *registry_, ready)) return true;
  // /pods/<namespace>/<name>/metrics: a pod's own vllm:* metrics, as a real pod serves them.
  if (path.rfind("/pods/", 0) == 0 && path.size() > 14 &&
      path.substr(path.size() - 8) == "/metrics") {
    auto name = std::string(path.substr(6, path.size() - 6 - 8));
    if (auto registry = launcher_ ? launcher_->registry_of(name) : nullptr) {
      ex->respond(http::status::ok, runtime::render_metrics(*registry),
                  runtime::metrics_content_type);
      return true;
    }
  }
  if (path == "/pods") {
    std::string out;
    for (const auto& pod : pods())
      out += pod.name + "\n";
    ex->respond(http::status::ok, out, "text/plain");
    return true;
  }
  if (mocker_ && controller_)
    return serve_control(ex, system_,
                         caf::actor_cast<actors::node_mocker::node_mocker_actor>(mocker_),
                         caf::actor_cast<actors::controller::controller_actor>(controller_));
  return false;
}

void in_process_stack::stop(std::chrono::nanoseconds grace) {
  ready_ = false;
  if (gateway_) gateway_->stop(grace);
  gateway_.reset();
  if (admin_server_) admin_server_->stop();
  admin_server_.reset();
  scraper_.reset();
  kv_subscribers_.clear();
  if (scaler_) caf::anon_send_exit(scaler_, caf::exit_reason::user_shutdown);
  if (controller_) caf::anon_send_exit(controller_, caf::exit_reason::user_shutdown);
  if (mocker_) caf::anon_send_exit(mocker_, caf::exit_reason::user_shutdown);
  if (launcher_) launcher_->terminate_all();
  if (process_launcher_) process_launcher_->terminate_all();
  pod_metrics_.reset();
  for (auto* a : {&membership_relay_, &membership_listener_})
    if (*a) caf::anon_send_exit(*a, caf::exit_reason::user_shutdown);
  for (auto& [name, p] : pickers_)
    caf::anon_send_exit(p.actor, caf::exit_reason::user_shutdown);
  if (authorizer_) caf::anon_send_exit(authorizer_, caf::exit_reason::user_shutdown);
  if (router_) caf::anon_send_exit(router_, caf::exit_reason::user_shutdown);
  pickers_.clear();
  scaler_ = nullptr;
  controller_ = nullptr;
  mocker_ = nullptr;
  authorizer_ = nullptr;
  router_ = nullptr;
}

std::vector<in_process_launcher::running_pod> in_process_stack::pods() const {
  return launcher_ ? launcher_->pods() : std::vector<in_process_launcher::running_pod>{};
}

int in_process_stack::initial_replicas() const {
  int n = 0;
  for (const auto& s : config_.inference_sets)
    n += s.replicas;
  return n;
}

actors::controller::controller_actor in_process_stack::controller() const {
  return caf::actor_cast<actors::controller::controller_actor>(controller_);
}

actors::node_mocker::node_mocker_actor in_process_stack::node_mocker() const {
  return caf::actor_cast<actors::node_mocker::node_mocker_actor>(mocker_);
}

uint16_t in_process_stack::port() const {
  return gateway_ ? gateway_->port() : 0;
}

std::string in_process_stack::url() const {
  auto gw = config_.gateway.value_or(config::gateway_settings{});
  auto listen = options_.listen.empty() ? gw.listen : options_.listen;
  return "http://" + listen.substr(0, listen.rfind(':')) + ":" + std::to_string(port());
}

void in_process_stack::reload_keys() {
  auto gw = config_.gateway.value_or(config::gateway_settings{});
  actors::authorizer::key_sources sources{gw.secrets_dir, options_.generate_key, std::getenv};
  if (authorizer_) {
    auto keys = actors::authorizer::load_keys(config_.api_keys, sources);
    for (auto& p : keys.problems)
      log_->warn("keys: {}", p);
    key_files_ = keys.files;
    caf::anon_send(authorizer_, keys.keys);
  } else {
    key_files_.clear();
  }
  if (admin_access_) {
    for (auto& p : admin_access_->load())
      log_->warn("admin tokens: {}", p);
    for (const auto& f : admin_access_->files())
      key_files_.push_back(f);
  }
}

void in_process_stack::reload(config::stack_config config) {
  if (!router_) {  // no gateway here: only the admin tokens
    reload_keys();
    return;
  }
  config_.api_keys = std::move(config.api_keys);
  config_.http_routes = std::move(config.http_routes);
  reload_keys();
  std::vector<std::string> problems;
  auto routes = actors::router::build_route_set(config_, problems);
  for (auto& p : problems)
    log_->warn("routes: {}", p);
  caf::anon_send(router_, routes);
  log_->info("reloaded keys and routes");
}

std::map<std::string, std::string> in_process_stack::key_expressions() const {
  std::map<std::string, std::string> out;
  auto gw = config_.gateway.value_or(config::gateway_settings{});
  auto cat = [](const std::string& file) {
    std::error_code ec;
    return "$(cat " + std::filesystem::absolute(file, ec).string() + ")";
  };
  for (const auto& k : config_.api_keys) {
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
