// `inferstack dev`: every role in one process, wired over the local transport.
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <iostream>
#include <sstream>

#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include "actors/authorizer/key_loader.hpp"
#include "nodes/admin_routes.hpp"
#include "nodes/commands.hpp"
#include "nodes/signals.hpp"
#include "nodes/stack_console.hpp"
#include "nodes/stack_process.hpp"
#include "protocol/registration.hpp"
#include "runtime/actor_system_setup.hpp"
#include "runtime/local_transport.hpp"

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
  auto stack_config = load_stack(files, common);
  if (!stack_config) return 2;

  runtime::system_config cfg{protocol::register_messages, scheduling_of(common)};
  caf::actor_system system{cfg};
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge()
      .Name("inferstack_build_info")
      .Help("Build information")
      .Register(*registry)
      .Add({{"version", INFERSTACK_VERSION}, {"mode", "dev"}})
      .Set(1);
  runtime::local_transport transport{"dev"};

  stack_options so;
  so.profiles_dir = default_profiles_dir();
  so.seed = new_incarnation();
  so.listen = options.listen;
  so.wall_clock_offset_ns = wall_clock_offset_ns(system);
  so.unix_seconds = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  so.generate_key = actors::authorizer::random_api_key;
  so.cold_start = options.cold_start;
  so.admin_listen = options.admin_listen.empty()
                        ? stack_config->gateway.value_or(config::gateway_settings{}).admin_listen
                        : options.admin_listen;
  so.log_format = log_format_of(common);
  so.admin_allow_remote = options.admin_allow_remote;
  stack_process stack{system, transport, *stack_config, so, log, registry};
  auto started = std::chrono::steady_clock::now();
  try {
    stack.start();
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    // What did start (control plane, pickers, pods) is stopped, or the actor system's
    // destructor would wait for those actors forever -- a pod the node mocker was starting
    // meanwhile included: the launcher, once stopped, starts none.
    stack.stop(std::chrono::seconds(0));
    return 1;
  }
  auto startup_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  print_welcome(stack, files.front(), startup_ms);

  // Keys change while running: SIGHUP reloads the manifests, and key files are watched.
  serve_until_stopped(stack, files, common, *log);
  auto gw = stack.config().gateway.value_or(config::gateway_settings{});
  stack.stop(gw.drain_timeout);
  log->info("stopped");
  return 0;
}

}  // namespace inferstack::nodes
