#include "nodes/stack.hpp"

#include <sstream>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include "actors/authorizer/authorizer_actor.hpp"
#include "actors/authorizer/key_loader.hpp"
#include "actors/picker/kv_subscriber.hpp"
#include "actors/picker/load_scraper.hpp"
#include "actors/picker/scheduling/config_loader.hpp"
#include "actors/pod/engine/latency.hpp"
#include "actors/pod/pod_actor.hpp"
#include "actors/router/route_table.hpp"
#include "actors/router/router_actor.hpp"
#include "gateway/upstream_client.hpp"
#include "nodes/admin_routes.hpp"
#include "runtime/logging.hpp"
#include "runtime/metrics.hpp"

namespace inferstack::nodes {

namespace {

bool selects(const config::string_map& selector, const config::string_map& labels) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return !selector.empty();
}

bool sets_latency(const config::string_map& engine) {
  for (const auto& [k, v] : engine)
    if (k == "profile" || actors::pod::engine::is_sim_latency_option(k)) return true;
  return false;
}

}  // namespace

actors::pod::pod_settings pod_settings_for(const config::inference_set& set,
                                           const config::model_preset* preset, int replica,
                                           const std::string& profiles_dir, uint64_t seed,
                                           std::vector<std::string>& problems) {
  actors::pod::pod_settings s;
  auto where = "InferenceSet " + set.meta.namespace_ + "/" + set.meta.name;
  std::string model = preset ? preset->served_model_name : set.preset;
  config::string_map engine = preset ? preset->engine : config::string_map{};
  for (auto& p : actors::pod::apply_pod_options(s, engine, profiles_dir))
    problems.push_back(where + ": ModelPreset " + set.preset + ": " + p);
  s.model = model;
  s.served_model_names = {model};
  s.pod_name = set.meta.namespace_ + "/" + set.meta.name + "-" + std::to_string(replica);
  // No network address in one process: the pod's name stands for it in KV-event topics.
  s.address = set.meta.name + "-" + std::to_string(replica) + "." + set.meta.namespace_;
  s.seed = seed ^ std::hash<std::string>{}(s.pod_name);
  auto has_annotation = set.template_annotations.count(
                            std::string(actors::pod::engine::annotation_latency_profile)) ||
                        set.template_annotations.count(
                            std::string(actors::pod::engine::annotation_latency_calculator));
  if (has_annotation || !sets_latency(engine)) {
    // The KAITO mocker's rule: the profile from the model's size, or the annotations.
    auto chosen = actors::pod::engine::select_profile(model, set.template_annotations);
    for (auto& w : chosen.warnings)
      problems.push_back(where + ": " + w);
    if (auto params = actors::pod::engine::kaito_sim_params(chosen.profile, chosen.calculator)) {
      s.profile.reset();
      s.sim = *params;
    }
  }
  for (auto& p : actors::pod::finish_pod_settings(s))
    problems.push_back(where + ": " + p);
  return s;
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

  // -- pods (one per InferenceSet replica; the controller takes this over) --------------------
  std::map<std::string, const config::model_preset*> presets;
  for (const auto& p : config_.model_presets)
    presets[p.meta.name] = &p;
  struct pod_info {
    std::string name, address, ns;
    config::string_map labels;
    std::string endpoint;                          ///< "actor:..." or an http:// URL
    const config::model_server* server = nullptr;  ///< outside this process
  };
  std::vector<pod_info> infos;
  for (const auto& set : config_.inference_sets) {
    auto preset_it = presets.find(set.preset);
    const config::model_preset* preset = preset_it == presets.end() ? nullptr : preset_it->second;
    for (int i = 0; i < set.replicas; ++i) {
      auto settings =
          pod_settings_for(set, preset, i, options_.profiles_dir, options_.seed, problems);
      if (!problems.empty()) continue;
      actors::pod::pod_dependencies deps;
      deps.registry = std::make_shared<prometheus::Registry>();
      deps.log = runtime::component_logger(log_, "pod");
      deps.wall_clock_offset_ns = options_.wall_clock_offset_ns;
      auto* transport = &transport_;
      auto load_topic = "load@" + settings.pod_name + "@";  // "@": pod-1 is no prefix of pod-10
      deps.outputs.load = [transport, load_topic](const actors::pod::load_report& r) {
        transport->publish(load_topic, caf::make_message(r));
      };
      deps.outputs.kv_events = [transport](const actors::pod::kv_event_message& m) {
        transport->publish(m.topic, caf::make_message(m));
      };
      auto actor = actors::pod::spawn_pod(system_, settings, deps);
      transport_.expose("pod/" + settings.pod_name, caf::actor_cast<caf::actor>(actor));
      pods_.push_back(
          {settings.pod_name, set.meta.namespace_, set.meta.name, actor, deps.registry});
      infos.push_back({settings.pod_name, settings.address, set.meta.namespace_,
                       set.template_labels, "actor:pod/" + settings.pod_name, nullptr});
    }
  }
  // Model servers outside this process join pools like pods; they are reached over HTTP.
  for (const auto& m : config_.model_servers)
    infos.push_back({m.meta.namespace_ + "/" + m.meta.name, m.address, m.meta.namespace_,
                     m.meta.labels, m.url, &m});
  std::map<std::string, std::vector<actors::picker::picker_impl_actor>> pickers_of;  // by pod

  // -- pickers, one per InferencePool -----------------------------------------------------------
  for (const auto& pool : config_.inference_pools) {
    std::shared_ptr<const config::picker_config> picker_config;
    for (const auto& c : config_.picker_configs)
      if (c.meta.name == pool.picker &&
          (c.meta.namespace_ == pool.meta.namespace_ || c.meta.namespace_ == "default"))
        picker_config = std::make_shared<config::picker_config>(c);
    actors::picker::picker_settings ps;
    ps.pool = pool.meta.namespace_ + "/" + pool.meta.name;
    ps.pool_name = pool.meta.name;
    ps.config = picker_config;
    ps.seed = options_.seed ^ std::hash<std::string>{}(ps.pool);
    actors::picker::picker_impl_actor picker;
    try {
      picker = actors::picker::spawn_picker(system_, ps,
                                            {registry_, runtime::component_logger(log_, "picker")});
    } catch (const std::exception& e) {
      problems.push_back("InferencePool " + ps.pool + ": EndpointPickerConfig " + pool.picker +
                         ": " + e.what());
      continue;
    }
    actors::picker::pool_membership membership{ps.pool, {}};
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
    for (const auto& info : infos) {
      if (info.ns != pool.meta.namespace_ || !selects(pool.selector, info.labels)) continue;
      membership.members.push_back(
          {info.name, info.endpoint, info.address, info.labels, true, false});
      pickers_of[info.name].push_back(picker);
      if (!info.server) {
        transport_.subscribe("", "load@" + info.name + "@", caf::actor_cast<caf::actor>(picker));
        transport_.subscribe("", "kv@" + info.address + "@", caf::actor_cast<caf::actor>(picker));
        continue;
      }
      if (!info.server->kv_events.empty()) {
        if (!kv)
          kv = std::make_unique<actors::picker::kv_subscriber>(
              actors::picker::kv_subscriber_settings{}, kv_sink);
        kv->connect(info.server->kv_events);
      }
      if (kv && !info.server->kv_replay.empty())
        kv->set_replay(info.address, info.server->kv_replay);
    }
    if (kv) kv_subscribers_.push_back(std::move(kv));
    caf::anon_send(picker, membership);
    gateway::pool_entry entry;
    entry.ns = pool.meta.namespace_;
    entry.name = pool.meta.name;
    entry.picker = caf::actor_cast<actors::picker::picker_actor>(picker);
    entry.failure_mode = pool.failure_mode;
    entry.members = membership.members;
    pools_->set(std::move(entry));
    pickers_.push_back(picker);
  }

  // Load of model servers that do not push reports: their /metrics, read on an interval.
  std::vector<actors::picker::scrape_target> scrape;
  for (const auto& info : infos) {
    if (!info.server || !info.server->scrape_metrics) continue;
    gateway::upstream_target t;
    if (!gateway::parse_upstream_url(info.server->url, t)) {
      problems.push_back("ModelServer " + info.name + ": bad url " + info.server->url);
      continue;
    }
    scrape.push_back({info.name, t.host, t.port, t.base_path + info.server->metrics_path});
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

  if (!problems.empty()) {
    std::ostringstream all;
    for (const auto& p : problems)
      all << "\n  " << p;
    throw std::runtime_error("the stack cannot start:" + all.str());
  }

  // -- gateway ----------------------------------------------------------------------------------
  gateway::gateway_settings gs;
  auto colon = gw.listen.rfind(':');
  gs.address = gw.listen.substr(0, colon);
  gs.port = static_cast<uint16_t>(std::stoi(gw.listen.substr(colon + 1)));
  gs.io_threads = gw.io_threads;
  gs.default_namespace = gw.default_namespace;
  gs.max_body_bytes = gw.max_body_bytes;
  gs.header_timeout = gw.header_timeout;
  gs.idle_timeout = gw.idle_timeout;
  gs.upstream_timeout = gw.upstream_timeout;
  gateway::gateway_dependencies gd;
  gd.system = &system_;
  gd.transport = &transport_;
  gd.authorizer = authorizer_;
  gd.router = router_;
  gd.pools = pools_;
  gd.registry = registry_;
  gd.log = runtime::component_logger(log_, "gateway");
  gd.unix_seconds = options_.unix_seconds;
  gd.seed = options_.seed;
  gd.admin = [this](const std::shared_ptr<http::exchange>& ex) { return admin(ex); };
  gateway_ = std::make_unique<gateway::gateway>(gs, gd);
  gateway_->start();
  ready_ = true;
}

bool in_process_stack::admin(const std::shared_ptr<http::exchange>& ex) {
  if (serve_admin(ex, *registry_, ready_)) return true;
  auto target = http::to_std(ex->req().target());
  auto path = target.substr(0, target.find('?'));
  // /pods/<namespace>/<name>/metrics: a pod's own vllm:* metrics, as a real pod serves them.
  if (path.rfind("/pods/", 0) == 0 && path.size() > 14 &&
      path.substr(path.size() - 8) == "/metrics") {
    auto name = path.substr(6, path.size() - 6 - 8);
    for (const auto& pod : pods_)
      if (pod.name == name) {
        ex->respond(http::status::ok, runtime::render_metrics(*pod.registry),
                    runtime::metrics_content_type);
        return true;
      }
  }
  if (path == "/pods") {
    std::string out;
    for (const auto& pod : pods_)
      out += pod.name + "\n";
    ex->respond(http::status::ok, out, "text/plain");
    return true;
  }
  return false;
}

void in_process_stack::stop(std::chrono::nanoseconds grace) {
  ready_ = false;
  if (gateway_) gateway_->stop(grace);
  gateway_.reset();
  scraper_.reset();
  kv_subscribers_.clear();
  for (auto& p : pods_)
    caf::anon_send_exit(p.actor, caf::exit_reason::user_shutdown);
  for (auto& p : pickers_)
    caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  if (authorizer_) caf::anon_send_exit(authorizer_, caf::exit_reason::user_shutdown);
  if (router_) caf::anon_send_exit(router_, caf::exit_reason::user_shutdown);
  pods_.clear();
  pickers_.clear();
  authorizer_ = nullptr;
  router_ = nullptr;
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
