// A stack process: its roles built in order (each gets what it needs from the ones before),
// checked, started, and stopped in reverse.
#include "nodes/stack_process.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include <caf/actor_system.hpp>

#include "nodes/control_routes.hpp"
#include "nodes/debug_picks.hpp"
#include "nodes/process_tracer.hpp"
#include "nodes/scaling_targets.hpp"
#include "nodes/stack_console.hpp"
#include "nodes/stack_parts.hpp"
#include "runtime/metrics.hpp"

namespace inferstack::nodes {

namespace {

/// Start-up stops at the first step that found problems, naming every one of them.
void throw_if_any(const std::vector<std::string>& problems) {
  if (problems.empty()) return;
  std::ostringstream all;
  for (const auto& p : problems)
    all << "\n  " << p;
  throw std::runtime_error("the stack cannot start:" + all.str());
}

}  // namespace

stack_process::stack_process(caf::actor_system& system, runtime::transport& transport,
                             config::stack_config config, stack_options options,
                             std::shared_ptr<spdlog::logger> log,
                             std::shared_ptr<prometheus::Registry> registry)
    : system_(system),
      transport_(transport),
      config_(std::move(config)),
      options_(std::move(options)),
      log_(std::move(log)),
      registry_(std::move(registry)) {}

stack_process::~stack_process() {
  stop(std::chrono::seconds(0));
}

void stack_process::start() {
  std::vector<std::string> problems;
  const auto& roles = options_.roles;
  role_context context{system_, transport_, config_, log_, registry_, options_.seed};
  // One tracer for the roles that serve requests here (a simulation's time is not the wall
  // clock's: none there); a control process's pods are processes with tracers of their own.
  if (!options_.virtual_time && (roles.gateway || roles.pickers)) {
    auto tracing = config_.gateway.value_or(config::gateway_settings{}).tracing;
    context.tracer = make_process_tracer(
        tracing, role_service_name(tracing.service_name, roles.gateway ? "gateway" : "picker"),
        *registry_, options_.seed);
  }

  if (roles.gateway) {
    gateway_role_settings gs;
    gs.listen = options_.listen;
    gs.peers = options_.peers;
    gs.control_elsewhere = !roles.control;
    // Its /readyz as the admin listener's (the gateway stops before the pickers).
    gs.pickers_ready = [this] { return pickers_ready(); };
    gs.log_format = options_.log_format;
    gs.unix_seconds = options_.unix_seconds;
    gs.generate_key = options_.generate_key;
    gs.virtual_clients = options_.virtual_time;
    gateway_ = std::make_unique<gateway_role>(context, std::move(gs), ready_);
    gateway_->prepare(problems);
  }

  // InferenceSets and pools as the controller reconciles them (the engine options are checked
  // now, wherever the control plane runs).
  auto cs = controller_settings_for(config_, options_.profiles_dir, options_.seed,
                                    !options_.cold_start, problems);
  auto pools = pool_names(config_);
  if (!roles.picker_pool.empty() &&
      std::find(pools.begin(), pools.end(), roles.picker_pool) == pools.end())
    problems.push_back("--pool " + roles.picker_pool + ": no such InferencePool");
  if (roles.pickers) {
    picker_role_settings ps{roles.picker_pool, options_.curve, options_.virtual_time};
    if (roles.gateway && !roles.control) {  // a gateway running the pickers (--local-pickers)
      ps.in_gateway = true;
      ps.replica = roles.picker_replica;
      ps.replica_addresses = options_.peers.gateways;
    }
    if (!roles.picker_pool.empty()) {
      // A replica of the pool's picker: its index, and every replica's address (its peers).
      ps.replica = roles.picker_replica;
      if (auto it = options_.peers.pickers.find(roles.picker_pool);
          it != options_.peers.pickers.end())
        ps.replica_addresses = it->second;
    }
    pickers_ = std::make_unique<picker_role>(context, std::move(ps));
    pickers_->start(problems);
  }
  std::vector<actors::scaler::scaling_target> targets;
  if (roles.control) targets = scaling_targets(config_, problems);
  caf::actor activator;
  // The gateway's pickers hear their pools' members from the control process's published
  // memberships, as the gateway does.
  if (gateway_ && pickers_ && !roles.control)
    gateway_->tell_memberships_to(pickers_->membership_sink());
  if (gateway_)
    activator = gateway_->register_pools(
        pickers_ ? pickers_->pickers() : std::map<std::string, local_picker>{}, problems);

  throw_if_any(problems);
  if (roles.control) {
    control_role_settings settings;
    settings.controller = std::move(cs);
    settings.targets = std::move(targets);
    settings.pod_processes = options_.pod_processes;
    settings.profiles_dir = options_.profiles_dir;
    settings.wall_clock_offset_ns = options_.wall_clock_offset_ns;
    settings.cold_start = options_.cold_start;
    settings.pickers_elsewhere = !roles.pickers;
    settings.picker_addresses = options_.peers.pickers;
    settings.expose = !roles.all();
    settings.virtual_time = options_.virtual_time;
    control_ = std::make_unique<control_role>(
        context, std::move(settings),
        [this](const actors::controller::pool_spec& pool,
               const std::vector<actors::picker::pool_member>& members) {
          on_membership(pool, members);
        });
    control_->start();
    activator = control_->activator();
  }
  if (gateway_) gateway_->start(activator);

  if (control_) {
    // The console where the control plane runs: what it shows comes from the controller, the
    // node mocker, the pods and the pickers of this process; it records the sets' status
    // changes. In virtual time nothing serves it: `inferstack simulate` records its snapshots.
    ui::console_sources cs;
    cs.config = config_;
    cs.mocker = control_->node_mocker();
    cs.controller = control_->controller();
    cs.scaler = caf::actor_cast<actors::scaler::scaler_actor>(control_->activator());
    if (auto launcher = control_->launcher())
      cs.figures = [launcher](const std::string& pod) -> std::optional<ui::pod_figures> {
        auto registry = launcher->registry_of(pod);
        if (!registry) return std::nullopt;
        return ui::figures_from_registry(*registry);
      };
    if (pickers_) {
      // The pickers' latest decisions, as GET /debug/picks answers them (newest first).
      auto pickers = pickers_->pickers();
      cs.recent_picks = [pickers] {
        recent_picks_query q;
        q.limit = 12;
        return nlohmann::json::parse(recent_picks_json(pickers, q), nullptr, false);
      };
    } else if (!options_.peers.pickers.empty() || !options_.peers.gateways.empty()) {
      // The pickers run elsewhere, asked over ZeroMQ at each snapshot, a second at most: a
      // pool's first picker replica, or the first gateway that runs the pickers
      // (--local-pickers; one per pool) -- each keeps its own recent decisions.
      std::map<std::string, caf::actor> remote;
      for (const auto& [pool, addresses] : options_.peers.pickers)
        if (!addresses.empty())
          if (auto handle = transport_.lookup(addresses.front(), "picker"))
            remote.emplace(pool, *handle);
      if (!options_.peers.gateways.empty())
        for (const auto& pool : pool_names(config_))
          if (auto handle = transport_.lookup(options_.peers.gateways.front(), "picker/" + pool))
            remote.emplace(pool, *handle);
      cs.ask_picks = remote_picks(std::move(remote), 12, std::chrono::seconds(1));
    }
    cs.now_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
    if (options_.virtual_time) {
      // The simulation's clock, counted from the start as from the run's date.
      auto* clock = &system_.clock();
      auto start = clock->now();
      int64_t date_ms = options_.unix_seconds ? options_.unix_seconds() * 1000 : 0;
      cs.now_ms = [clock, start, date_ms] {
        return date_ms +
               std::chrono::duration_cast<std::chrono::milliseconds>(clock->now() - start).count();
      };
    }
    console_ = std::make_unique<ui::console_service>(system_, std::move(cs));
    transport_.subscribe("", "setstatus@", console_->status_recorder());
  }
  if (options_.virtual_time) {  // no listener of any kind
    ready_ = true;
    return;
  }

  auto gw = config_.gateway.value_or(config::gateway_settings{});
  admin_listener_settings as;
  as.listen = options_.admin_listen;
  as.allow_remote = options_.admin_allow_remote || gw.admin_allow_remote;
  as.tokens.secrets_dir = gw.secrets_dir;
  as.tokens.admin_token_file = gw.admin_token_file;
  as.tokens.read_token_file = gw.admin_read_token_file;
  as.tokens.generate = options_.generate_key;
  as.log = log_;
  as.registry = registry_;
  admin_listener_handlers ah;
  ah.before_metrics = [this] {
    if (pickers_) pickers_->export_kv_subscriber_stats();
    if (pickers_) pickers_->export_replication_stats();
    if (gateway_) gateway_->export_replica_stats();
  };
  ah.ready = [this] { return ready_ && pickers_ready(); };
  ah.routes = [this](const std::shared_ptr<http::exchange>& ex, const std::string& path) {
    return serve_pods_and_control(ex, path);
  };
  admin_ = std::make_unique<admin_listener>(std::move(as), std::move(ah));
  admin_->start(problems);
  key_files_ = gateway_ ? gateway_->key_files() : std::vector<std::string>{};
  for (const auto& f : admin_->token_files())
    key_files_.push_back(f);
  throw_if_any(problems);
  ready_ = true;
}

bool stack_process::pickers_ready() const {
  bool waits = !options_.roles.picker_pool.empty() || (pickers_ && pickers_->replicated());
  return !waits || (pickers_ && pickers_->ready());
}

void stack_process::on_membership(const actors::controller::pool_spec& pool,
                                  const std::vector<actors::picker::pool_member>& members) {
  // The pool's picker here hears each pod from the moment it joins; the gateway here serves
  // the members when the picker cannot (FailOpen).
  if (pickers_ && !pickers_->on_membership(pool.ns + "/" + pool.name, members)) return;
  if (gateway_) gateway_->set_members(pool.ns, pool.name, members);
}

bool stack_process::serve_pods_and_control(const std::shared_ptr<http::exchange>& ex,
                                           const std::string& path) {
  // /pods/<namespace>/<name>/metrics: a pod's own vllm:* metrics, as a real pod serves them.
  if (path.rfind("/pods/", 0) == 0 && path.size() > 14 &&
      path.substr(path.size() - 8) == "/metrics") {
    auto name = path.substr(6, path.size() - 6 - 8);
    if (auto registry = control_ ? control_->registry_of(name) : nullptr) {
      ex->respond(http::status::ok, runtime::render_metrics(*registry),
                  runtime::metrics_content_type);
      return true;
    }
  }
  // Why this pod: the recent decisions of this process's pickers.
  if (path == "/debug/picks" && pickers_) {
    serve_recent_picks(ex, pickers_->pickers());
    return true;
  }
  if (path == "/pods") {
    std::string out;
    for (const auto& pod : pods())
      out += pod.name + "\n";
    ex->respond(http::status::ok, out, "text/plain");
    return true;
  }
  if (console_ && console_->serve(ex, path)) return true;
  if (control_ && control_->node_mocker() && control_->controller())
    return serve_control(ex, system_, control_->node_mocker(), control_->controller());
  return false;
}

void stack_process::stop(std::chrono::nanoseconds grace) {
  ready_ = false;
  if (gateway_) gateway_->stop(grace);
  if (admin_) admin_->stop();
  if (console_) {
    transport_.unsubscribe(console_->status_recorder());
    console_->stop();
  }
  if (control_) control_->stop();
  if (pickers_) pickers_->stop();
}

std::vector<in_process_launcher::running_pod> stack_process::pods() const {
  return control_ ? control_->pods() : std::vector<in_process_launcher::running_pod>{};
}

int stack_process::initial_replicas() const {
  int n = 0;
  for (const auto& s : config_.inference_sets)
    n += s.replicas;
  return n;
}

actors::controller::controller_actor stack_process::controller() const {
  return control_ ? control_->controller() : actors::controller::controller_actor{};
}

actors::node_mocker::node_mocker_actor stack_process::node_mocker() const {
  return control_ ? control_->node_mocker() : actors::node_mocker::node_mocker_actor{};
}

gateway::request_pipeline* stack_process::pipeline() const {
  return gateway_ ? gateway_->pipeline() : nullptr;
}

uint16_t stack_process::port() const {
  return gateway_ ? gateway_->port() : 0;
}

std::string stack_process::url() const {
  auto gw = config_.gateway.value_or(config::gateway_settings{});
  auto listen = options_.listen.empty() ? gw.listen : options_.listen;
  return "http://" + listen.substr(0, listen.rfind(':')) + ":" + std::to_string(port());
}

std::string stack_process::admin_url() const {
  return admin_ ? admin_->url() : "";
}

std::string stack_process::admin_token_file() const {
  return admin_ ? admin_->token_file() : "";
}

std::string stack_process::admin_read_token_file() const {
  return admin_ ? admin_->read_token_file() : "";
}

void stack_process::reload_keys() {
  key_files_.clear();
  if (gateway_) {
    gateway_->reload_keys();
    key_files_ = gateway_->key_files();
  }
  if (admin_) {
    admin_->reload_tokens();
    for (const auto& f : admin_->token_files())
      key_files_.push_back(f);
  }
}

void stack_process::reload(config::stack_config config) {
  if (!gateway_) {  // no gateway here: only the admin tokens
    reload_keys();
    return;
  }
  config_.api_keys = std::move(config.api_keys);
  config_.http_routes = std::move(config.http_routes);
  reload_keys();
  gateway_->reload_routes();
  if (console_) console_->reload(config_);
  log_->info("reloaded keys and routes");
}

std::map<std::string, std::string> stack_process::key_expressions() const {
  return nodes::key_expressions(config_);
}

}  // namespace inferstack::nodes
