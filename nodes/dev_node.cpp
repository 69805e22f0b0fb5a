// `inferstack dev`: every role in one process, wired over the local transport.
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <iostream>

#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include "nodes/admin_routes.hpp"
#include "nodes/commands.hpp"
#include "nodes/signals.hpp"
#include "runtime/actor_system_setup.hpp"
#include "runtime/local_transport.hpp"
#include "runtime/probe_actor.hpp"

namespace inferstack::nodes {

std::string default_config_path() {
  namespace fs = std::filesystem;
  if (fs::exists("config/dev.yaml")) return "config/dev.yaml";
  // Also find it next to the build tree or an install: <exe>/../config, <exe>/../../config,
  // <exe>/../share/inferstack/config.
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const auto& candidate :
         {exe.parent_path() / "../config/dev.yaml", exe.parent_path() / "../../config/dev.yaml",
          exe.parent_path() / "../share/inferstack/config/dev.yaml"})
      if (fs::exists(candidate)) return fs::weakly_canonical(candidate).string();
  }
  return "config/dev.yaml";
}

std::string default_profiles_dir() {
  namespace fs = std::filesystem;
  if (fs::exists("config/profiles")) return "config/profiles";
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const auto& candidate :
         {exe.parent_path() / "../config/profiles", exe.parent_path() / "../../config/profiles",
          exe.parent_path() / "../share/inferstack/config/profiles"})
      if (fs::exists(candidate)) return fs::weakly_canonical(candidate).string();
  }
  return "config/profiles";
}

int run_dev(const dev_options& options, const common_options& common) {
  auto log = make_logger(common);
  if (!log) return 2;
  auto files = options.files;
  if (files.empty()) files.push_back(default_config_path());
  auto stack = load_stack(files, common);
  if (!stack) return 2;
  config::gateway_settings gateway = stack->gateway.value_or(config::gateway_settings{});
  if (!options.listen.empty()) gateway.listen = options.listen;

  runtime::system_config cfg;
  caf::actor_system system{cfg};
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge()
      .Name("inferstack_build_info")
      .Help("Build information")
      .Register(*registry)
      .Add({{"version", INFERSTACK_VERSION}, {"mode", "dev"}})
      .Set(1);

  runtime::local_transport transport{"dev"};
  auto probe = runtime::spawn_probe(system, transport.node_id());
  transport.expose("probe", caf::actor_cast<caf::actor>(probe));

  std::atomic<bool> ready{false};
  auto colon = gateway.listen.rfind(':');
  http::server_settings http_settings;
  http_settings.address = gateway.listen.substr(0, colon);
  http_settings.port = static_cast<uint16_t>(std::stoi(gateway.listen.substr(colon + 1)));
  http_settings.io_threads = gateway.io_threads;
  http_settings.body_limit = gateway.max_body_bytes;
  http_settings.header_timeout = gateway.header_timeout;
  http_settings.idle_timeout = gateway.idle_timeout;
  http::server server{
      http_settings, [&](std::shared_ptr<http::exchange> ex) {
        if (serve_admin(ex, *registry, ready)) return;
        ex->respond(http::status::not_found,
                    http::openai_error_body(
                        404, "no route for " + std::string(http::to_std(ex->req().target()))),
                    "application/json");
      }};
  try {
    server.start();
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return 1;
  }
  ready = true;
  auto url = "http://" + http_settings.address + ":" + std::to_string(server.port());
  log->info("inferstack dev ready on {} (config: {})", url, files.front());
  std::cout << "inferstack dev listening on " << url << "\n"
            << "  health:  curl " << url << "/healthz\n"
            << "  metrics: curl " << url << "/metrics\n"
            << std::flush;

  for (;;) {
    int sig = wait_signal();
    if (sig == SIGHUP) {
      log->info("SIGHUP: nothing to reload yet");
      continue;
    }
    log->info("signal {}: shutting down", sig);
    break;
  }
  ready = false;
  server.stop(gateway.drain_timeout);
  caf::anon_send_exit(probe, caf::exit_reason::user_shutdown);
  log->info("stopped");
  return 0;
}

}  // namespace inferstack::nodes
