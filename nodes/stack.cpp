#include "nodes/stack.hpp"

#include <sstream>
#include <thread>

#include <caf/actor_system.hpp>
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
  auto gw = config_.gateway.value_or(config::gateway_settings{});
  if (!options_.listen.empty()) gw.listen = options_.listen;

  // -- authorizer ---------------------------------------------------------------------------
  actors::authorizer::key_sources sources{gw.secrets_dir, options_.generate_key, std::getenv};
  auto keys = actors::authorizer::load_keys(config_.api_keys, sources);
  for (auto& p : keys.problems)
    problems.push_back(p);
  for (auto& g : keys.generated)
    log_->info("generated an API key in {}", g);
  key_files_ = keys.files;
  authorizer_ = actors::authorizer::spawn_authorizer(system_, keys.keys, *registry_,
                                                     runtime::component_logger(log_, "authorizer"));

  // -- router ---------------------------------------------------------------------------------
  std::vector<std::string> route_problems;
  auto routes = actors::router::build_route_set(config_, route_problems);
  for (auto& p : route_problems)
    problems.push_back(p);
  router_ = actors::router::spawn_router(system_, routes, options_.seed, *registry_,
                                         runtime::component_logger(log_, "router"));

  // -- InferenceSets and pools as the controller reconciles them (started by the control plane
  // below; the engine options are checked now) --------------------------------------------------
  auto cs = controller_settings_for(config_, options_.profiles_dir, options_.seed,
                                    !options_.cold_start, problems);

  // -- pickers, one per InferencePool ---------------------------------------------------------
  for (const auto& pool : config_.inference_pools) {
    auto ps = picker_settings_for(config_, pool, options_.seed);
    auto picker_config = ps.config;
    actors::picker::picker_impl_actor picker;
    try {
      picker = actors::picker::spawn_picker(system_, ps,
                                            {registry_, runtime::component_logger(log_, "picker")});
    } catch (const std::exception& e) {
      problems.push_back("InferencePool " + ps.pool + ": EndpointPickerConfig " + pool.picker +
                         ": " + e.what());
      continue;
    }
    // Where KV events of pods outside this process come from: a central SUB socket the pool's
    // config binds (llm-d's zmqEndpoint), or each model server's own publisher.
    auto probe = actors::picker::build_endpoint_picker(picker_config.get(), {});
    const auto* kv_settings = probe.picker ? probe.picker->kv_events() : nullptr;
    std::unique_ptr<actors::picker::kv_subscriber> kv;
    auto kv_sink = [picker](actors::pod::kv_event_message m) {
      caf::anon_send(picker, std::move(m));
    };
    if (kv_settings && !kv_settings->zmq_endpoint.empty()) {
      try {
        kv = std::make_unique<actors::picker::kv_subscriber>(
            actors::picker::kv_subscriber_settings{kv_settings->zmq_endpoint,
                                                   kv_settings->topic_filter},
            kv_sink);
        log_->info("pool {}: KV events bound at {}", ps.pool, kv->bound_endpoint());
      } catch (const std::exception& e) {
        problems.push_back("InferencePool " + ps.pool + ": " + e.what());
      }
    }
    // Model servers outside this process join pools like pods; they are reached over HTTP.
    auto servers = model_servers_of(config_, pool);
    for (const auto& m : servers) {
      if (!m.kv_events.empty()) {
        if (!kv)
          kv = std::make_unique<actors::picker::kv_subscriber>(
              actors::picker::kv_subscriber_settings{}, kv_sink);
        kv->connect(m.kv_events);
      }
      if (kv && !m.kv_replay.empty()) kv->set_replay(m.address, m.kv_replay);
    }
    if (kv) kv_subscribers_.push_back(std::move(kv));
    caf::anon_send(picker, actors::picker::pool_membership{ps.pool, servers});
    gateway::pool_entry entry;
    entry.ns = pool.meta.namespace_;
    entry.name = pool.meta.name;
    entry.picker = caf::actor_cast<actors::picker::picker_actor>(picker);
    entry.failure_mode = pool.failure_mode;
    entry.members = servers;
    pools_->set(std::move(entry));
    pickers_[ps.pool] = picker;
  }

  // Load of model servers that do not push reports: their /metrics, read on an interval.
  std::vector<actors::picker::scrape_target> scrape;
  std::map<std::string, std::vector<actors::picker::picker_impl_actor>> pickers_of;  // by server
  for (const auto& pool : cs.pools) {
    auto picker = pickers_.find(pool.ns + "/" + pool.name);
    if (picker == pickers_.end()) continue;  // its problem is reported
    for (const auto& m : pool.static_members)
      pickers_of[m.pod].push_back(picker->second);
  }
  for (const auto& m : config_.model_servers) {
    if (!m.scrape_metrics) continue;
    auto name = m.meta.namespace_ + "/" + m.meta.name;
    gateway::upstream_target t;
    if (!gateway::parse_upstream_url(m.url, t)) {
      problems.push_back("ModelServer " + name + ": bad url " + m.url);
      continue;
    }
    scrape.push_back({name, t.host, t.port, t.base_path + m.metrics_path});
  }
  if (!scrape.empty()) {
    auto routes =
        std::make_shared<std::map<std::string, std::vector<actors::picker::picker_impl_actor>>>(
            pickers_of);
    scraper_ = std::make_unique<actors::picker::load_scraper>(std::chrono::milliseconds(100),
                                                              [routes](actors::pod::load_report r) {
                                                                auto it = routes->find(r.pod);
                                                                if (it == routes->end()) return;
                                                                for (auto& p : it->second)
                                                                  caf::anon_send(p, r);
                                                              });
    for (auto& t : scrape)
      scraper_->add(t);
  }

  auto targets = scaling_targets(config_, problems);
  if (!problems.empty()) {
    std::ostringstream all;
    for (const auto& p : problems)
      all << "\n  " << p;
    throw std::runtime_error("the stack cannot start:" + all.str());
  }

  // -- control plane: node mocker (pods as actors here), controller, scaler --------------------
  launcher_ = std::make_shared<in_process_launcher>(system_, transport_, options_.profiles_dir,
                                                    options_.wall_clock_offset_ns, log_);
  actors::node_mocker::node_mocker_settings ms;
  ms.pools = config_.node_pools;
  mocker_ = actors::node_mocker::spawn_node_mocker(
      system_, ms, {launcher_, {}, registry_, runtime::component_logger(log_, "node-mocker")});
  actors::controller::controller_dependencies cd;
  cd.mocker = caf::actor_cast<actors::node_mocker::node_mocker_actor>(mocker_);
  cd.on_membership = [this](const actors::controller::pool_spec& pool,
                            const std::vector<actors::picker::pool_member>& members) {
    on_membership(pool, members);
  };
  auto* transport = &transport_;
  cd.on_status = [transport](const actors::controller::set_status& s) {
    transport->publish("setstatus@" + s.ns + "/" + s.set + "@", caf::make_message(s));
  };
  cd.registry = registry_;
  cd.log = runtime::component_logger(log_, "controller");
  actors::scaler::scaler_settings ss;
  ss.targets = std::move(targets);
  actors::scaler::scaler_dependencies sd;
  // The scaler hears the controller through the transport; its handle is needed at once.
  controller_ = actors::controller::spawn_controller(system_, cs, cd);
  sd.controller = caf::actor_cast<actors::controller::controller_actor>(controller_);
  auto launcher = launcher_;
  sd.read_metric = [launcher](const std::string& pod, const std::string& metric) {
    return launcher->read_metric(pod, metric);
  };
  sd.registry = registry_;
  sd.log = runtime::component_logger(log_, "scaler");
  scaler_ = actors::scaler::spawn_scaler(system_, ss, sd);
  transport_.subscribe("", "load@", caf::actor_cast<caf::actor>(scaler_));
  transport_.subscribe("", "setstatus@", caf::actor_cast<caf::actor>(scaler_));
  // Statuses published before the scaler subscribed: ask once.
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
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  // -- gateway ----------------------------------------------------------------------------------
  auto gs = gateway_settings_for(config_, options_.listen);
  gateway::gateway_dependencies gd;
  gd.system = &system_;
  gd.transport = &transport_;
  gd.authorizer = authorizer_;
  gd.router = router_;
  gd.pools = pools_;
  gd.activator = caf::actor_cast<actors::scaler::scaler_actor>(scaler_);
  gd.registry = registry_;
  gd.log = runtime::component_logger(log_, "gateway");
  gd.unix_seconds = options_.unix_seconds;
  gd.seed = options_.seed;
  gd.admin = [this](const std::shared_ptr<http::exchange>& ex) { return admin(ex); };
  gateway_ = std::make_unique<gateway::gateway>(gs, gd);
  gateway_->start();
  ready_ = true;
}

void in_process_stack::on_membership(const actors::controller::pool_spec& pool,
                                     const std::vector<actors::picker::pool_member>& members) {
  auto key = pool.ns + "/" + pool.name;
  auto it = pickers_.find(key);
  if (it == pickers_.end()) return;
  const auto& picker = it->second;
  {
    // The pool's picker hears each pod of this process from the moment it joins.
    std::lock_guard guard{subscribed_mutex_};
    for (const auto& m : members) {
      if (m.endpoint.rfind("actor:", 0) != 0) continue;
      if (!subscribed_.emplace(key, m.pod).second) continue;
      transport_.subscribe("", "load@" + m.pod + "@", caf::actor_cast<caf::actor>(picker));
      transport_.subscribe("", "kv@" + m.address + "@", caf::actor_cast<caf::actor>(picker));
    }
  }
  caf::anon_send(picker, actors::picker::pool_membership{key, members});
  pools_->set_members(pool.ns, pool.name, members);
}

bool in_process_stack::admin(const std::shared_ptr<http::exchange>& ex) {
  if (serve_admin(ex, *registry_, ready_)) return true;
  auto target = http::to_std(ex->req().target());
  auto path = target.substr(0, target.find('?'));
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
  scraper_.reset();
  kv_subscribers_.clear();
  if (scaler_) caf::anon_send_exit(scaler_, caf::exit_reason::user_shutdown);
  if (controller_) caf::anon_send_exit(controller_, caf::exit_reason::user_shutdown);
  if (mocker_) caf::anon_send_exit(mocker_, caf::exit_reason::user_shutdown);
  if (launcher_) launcher_->terminate_all();
  for (auto& [name, p] : pickers_)
    caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
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
  auto keys = actors::authorizer::load_keys(config_.api_keys, sources);
  for (auto& p : keys.problems)
    log_->warn("keys: {}", p);
  key_files_ = keys.files;
  caf::anon_send(authorizer_, keys.keys);
}

void in_process_stack::reload(config::stack_config config) {
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

std::map<std::string, std::string> in_process_stack::secret_files() const {
  std::map<std::string, std::string> out;
  auto gw = config_.gateway.value_or(config::gateway_settings{});
  for (const auto& k : config_.api_keys)
    if (k.key_file.empty() && k.key_env.empty() && !k.auth_disabled)
      out[k.meta.namespace_] = actors::authorizer::secret_path(gw.secrets_dir, k.meta.namespace_);
  return out;
}

}  // namespace inferstack::nodes
