// `inferstack run gateway|picker|control`: one role of the stack per process, the others found
// by address -- the multi-process stack (tools/stack-up starts it on 127.0.0.1; manifests/
// deploys it on Kubernetes). Every process speaks the catalogue's messages over ZeroMQ; the
// gateway serves the OpenAI API, the others an admin listener (/metrics, /healthz, /readyz, and
// for control /control/...).
#include <csignal>
#include <filesystem>
#include <iostream>

#include <prometheus/gauge.h>
#include <caf/actor_system.hpp>

#include "actors/authorizer/key_loader.hpp"
#include "nodes/admin_routes.hpp"
#include "nodes/commands.hpp"
#include "nodes/signals.hpp"
#include "nodes/stack_console.hpp"
#include "nodes/stack_process.hpp"
#include "protocol/registration.hpp"
#include "runtime/actor_system_setup.hpp"
#include "runtime/curve_keys.hpp"
#include "runtime/zmq_transport.hpp"

namespace inferstack::nodes {

namespace {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int run_role(const role_options& options, const common_options& common) {
  auto log = make_logger(common);
  if (!log) return 2;
  auto files = options.files;
  if (files.empty()) files.push_back(default_config_path());
  auto stack_config = load_stack(files, common);
  if (!stack_config) return 2;
  if (options.curve_keys.empty() && !options.insecure_plaintext) {
    std::cerr << "inferstack run " << options.role
              << ": --curve-keys DIR is required (CurveZMQ between roles; `inferstack keys`), "
                 "or --insecure-plaintext for local development\n";
    return 2;
  }

  stack_options so;
  so.roles.gateway = options.role == "gateway";
  // A gateway may host every pool's picker itself (--local-pickers): the vLLM production
  // stack router's shape, one hop a request; picker processes are llm-d's (a hop to the EPP).
  so.roles.pickers =
      options.role == "picker" || (options.role == "gateway" && options.local_pickers);
  if (options.local_pickers && !options.pickers.empty()) {
    std::cerr << "inferstack run gateway: --local-pickers runs the pickers here; drop --picker\n";
    return 2;
  }
  if (options.local_pickers && (options.control.empty() || options.control_events.empty())) {
    std::cerr << "inferstack run gateway: --local-pickers needs --control and --control-events "
                 "(the pickers learn their pools' pods from the control process's memberships)\n";
    return 2;
  }
  if (options.role == "control") so.peers.gateways = options.gateway_peers;
  if (options.role == "gateway" && !options.gateway_peers.empty()) {
    if (!options.local_pickers || options.transport_listen.empty()) {
      std::cerr << "inferstack run gateway: --gateway-peers needs --local-pickers and "
                   "--transport-listen (the peers reach this gateway's pickers there)\n";
      return 2;
    }
    if (options.gateway_peers.size() > 1 && options.replica.empty()) {
      std::cerr << "inferstack run gateway: --gateway-peers names " << options.gateway_peers.size()
                << " gateways: --replica I says which one this is\n";
      return 2;
    }
    so.peers.gateways = options.gateway_peers;
  }
  so.roles.picker_pool = options.role == "picker" ? options.pool : "";
  so.roles.control = options.role == "control";
  if (options.role == "picker" && options.pool.empty()) {
    std::cerr << "inferstack run picker: --pool <namespace>/<InferencePool> is required\n";
    return 2;
  }
  if (!options.replica.empty()) {
    auto replica = parse_replica(options.replica);
    if (!replica) {
      std::cerr << "--replica: expected a replica index or a StatefulSet pod name ending in "
                   "one (llama-epp-2), got '"
                << options.replica << "'\n";
      return 2;
    }
    so.roles.picker_replica = *replica;
    if (options.role == "gateway") {
      if (so.peers.gateways.empty() || *replica >= static_cast<int>(so.peers.gateways.size())) {
        std::cerr << "--replica " << *replica << ": --gateway-peers names "
                  << so.peers.gateways.size() << " gateway(s)\n";
        return 2;
      }
      // Its own entry is where it listens (the port; the host is the peers' name for it).
      auto port_of = [](const std::string& endpoint) {
        return endpoint.substr(endpoint.rfind(':') + 1);
      };
      if (port_of(so.peers.gateways[*replica]) != port_of(options.transport_listen)) {
        std::cerr << "--replica " << *replica << ": --gateway-peers entry "
                  << so.peers.gateways[*replica] << " is not this gateway's --transport-listen "
                  << options.transport_listen << " (another port)\n";
        return 2;
      }
    }
  }
  for (const auto& p : options.pickers) {
    auto eq = p.find('=');
    if (eq == std::string::npos) {
      std::cerr << "--picker: expected <namespace>/<pool>=tcp://host:port, got '" << p << "'\n";
      return 2;
    }
    so.peers.pickers[p.substr(0, eq)].push_back(p.substr(eq + 1));
  }
  so.peers.control = options.control;
  so.peers.control_events = options.control_events;
  so.profiles_dir = default_profiles_dir();
  so.seed = new_incarnation();
  so.listen = options.listen;
  so.cold_start = options.cold_start;
  // Roles answer /metrics, health and (control) /control on their admin listener, if given.
  so.admin_listen = options.http;
  so.log_format = log_format_of(common);
  so.admin_allow_remote = options.admin_allow_remote;
  so.generate_key = actors::authorizer::random_api_key;
  so.unix_seconds = unix_now;
  if (so.roles.control) {
    process_launcher_settings pl;
    std::error_code ec;
    pl.binary = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    pl.host = options.pod_host;
    pl.first_port = options.pod_ports_first;
    pl.last_port = options.pod_ports_last;
    pl.profiles_dir = std::filesystem::absolute(so.profiles_dir, ec).string();
    pl.log_level = options.pod_log_level;
    pl.requests_over_http = options.pods_over_http;
    if (!options.curve_keys.empty())
      pl.curve_keys = std::filesystem::absolute(options.curve_keys, ec).string();
    for (const auto& entry : options.pod_slots) {
      auto eq = entry.find('=');
      if (eq == std::string::npos) {
        std::cerr << "--pod-slots: expected <ns>/<set>=host:port,..., got '" << entry << "'\n";
        return 2;
      }
      auto& list = pl.slots[entry.substr(0, eq)];
      std::string rest = entry.substr(eq + 1);
      for (size_t pos = 0; pos <= rest.size();) {
        auto comma = rest.find(',', pos);
        auto item = rest.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        if (!item.empty()) {
          if (item.rfind(':') == std::string::npos) {
            std::cerr << "--pod-slots: '" << item << "' is not host:port\n";
            return 2;
          }
          list.push_back(item);
        }
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
    }
    so.pod_processes = pl;
  }

  runtime::system_config cfg{protocol::register_messages, scheduling_of(common)};
  caf::actor_system system{cfg};
  so.wall_clock_offset_ns = wall_clock_offset_ns(system);
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge()
      .Name("inferstack_build_info")
      .Help("Build information")
      .Register(*registry)
      .Add({{"version", INFERSTACK_VERSION}, {"mode", options.role}})
      .Set(1);
  // A picker replica's node is "picker/<ns>/<pool>#<i>" (picker_replica_name).
  auto node = options.role;
  if (!options.pool.empty())
    node += "/" + (options.replica.empty()
                       ? options.pool
                       : picker_replica_name(options.pool, so.roles.picker_replica));
  if (options.role == "gateway" && !options.replica.empty())
    node += "#" + std::to_string(so.roles.picker_replica);
  auto ts = transport_settings_for(node, so.seed, log);
  ts.listen = options.transport_listen;
  ts.events = options.transport_events;
  std::unique_ptr<runtime::zmq_transport> transport;
  try {
    if (!options.curve_keys.empty())
      ts.curve = runtime::curve_settings_from_dir(options.curve_keys, options.role);
    else
      log->warn(
          "transport: plaintext ZeroMQ (--insecure-plaintext): anyone who reaches the "
          "ports can talk to this role");
    transport = std::make_unique<runtime::zmq_transport>(system, ts);
  } catch (const std::exception& e) {
    log->error("transport: {}", e.what());
    return 1;
  }
  so.seed ^= std::hash<std::string>{}(ts.node_name);
  so.curve = ts.curve;
  stack_process stack{system, *transport, *stack_config, so, log, registry};
  try {
    stack.start();
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return 1;
  }
  if (so.roles.gateway) print_welcome(stack, files.front(), 0);
  std::cout << "inferstack " << options.role << (options.pool.empty() ? "" : " " + options.pool)
            << ": ready";
  if (so.roles.gateway) std::cout << "; OpenAI API: " << stack.url() << "/v1";
  if (!stack.admin_url().empty())
    std::cout << "; admin: " << stack.admin_url() << "; admin token file "
              << stack.admin_token_file();
  if (!transport->listen_endpoint().empty())
    std::cout << "; transport " << transport->listen_endpoint();
  if (!transport->events_endpoint().empty())
    std::cout << "; events " << transport->events_endpoint();
  std::cout << std::endl;

  // Keys and admin tokens change while running: SIGHUP reloads the manifests, key files are
  // watched.
  serve_until_stopped(stack, files, common, *log);
  auto gw = stack.config().gateway.value_or(config::gateway_settings{});
  stack.stop(so.roles.gateway ? gw.drain_timeout : std::chrono::seconds(0));
  transport->stop();
  log->info("stopped");
  return 0;
}

}  // namespace inferstack::nodes
