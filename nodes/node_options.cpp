#include "nodes/node_options.hpp"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <random>

#include <caf/actor_clock.hpp>
#include <caf/actor_system.hpp>

#include "protocol/codec.hpp"
#include "protocol/type_ids.hpp"

namespace inferstack::nodes {

runtime::scheduling scheduling_of(const common_options& options) {
  return options.scheduler == "caf" ? runtime::scheduling::threads
                                    : runtime::scheduling::io_threads;
}

runtime::log_format log_format_of(const common_options& options) {
  return runtime::parse_log_format(options.log_format).value_or(runtime::log_format::text);
}

std::shared_ptr<spdlog::logger> make_logger(const common_options& options) {
  auto level = runtime::parse_log_level(options.log_level);
  if (!level) {
    std::cerr << "inferstack: --log-level '" << options.log_level
              << "' is not one of trace, debug, info, warn, error, critical, off\n";
    return nullptr;
  }
  auto format = runtime::parse_log_format(options.log_format);
  if (!format) {
    std::cerr << "inferstack: --log-format '" << options.log_format << "' is not text or json\n";
    return nullptr;
  }
  return runtime::make_root_logger({*level, *format});
}

std::optional<config::stack_config> load_stack(const std::vector<std::string>& files,
                                               const common_options& options) {
  std::vector<config::override_spec> overrides;
  bool ok = true;
  for (const auto& text : options.sets) {
    std::string error;
    auto o = config::parse_override(text, &error);
    if (!o) {
      std::cerr << "inferstack: --set: " << error << "\n";
      ok = false;
      continue;
    }
    overrides.push_back(*o);
  }
  auto result = config::load_files(files, overrides);
  for (const auto& p : result.problems)
    std::cerr << p.to_string() << "\n";
  if (!ok || !result.ok()) return std::nullopt;
  return std::move(result.config);
}

uint64_t new_incarnation() {
  // The composition root is the one place allowed to read entropy and the wall clock.
  std::random_device rd;
  auto now = std::chrono::system_clock::now().time_since_epoch().count();
  return (static_cast<uint64_t>(rd()) << 32) ^ static_cast<uint64_t>(now) ^
         static_cast<uint64_t>(::getpid());
}

runtime::zmq_transport_settings transport_settings_for(std::string node_name, uint64_t incarnation,
                                                       std::shared_ptr<spdlog::logger> log) {
  runtime::zmq_transport_settings settings;
  settings.codec = std::make_shared<protocol::catalogue_codec>();
  settings.node_name = std::move(node_name);
  settings.incarnation = incarnation;
  settings.log = std::move(log);
  // A request's end, told to its picker, rides along with the next pick (or leaves within
  // lazy_delay): no frame, wake-ups and TCP segments of its own.
  settings.lazy_kinds = {static_cast<uint16_t>(protocol::message_kind::request_done)};
  return settings;
}

}  // namespace inferstack::nodes

namespace inferstack::nodes {

int64_t wall_clock_offset_ns(caf::actor_system& system) {
  auto wall = std::chrono::system_clock::now().time_since_epoch();
  auto actor = system.clock().now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(wall - actor).count();
}

}  // namespace inferstack::nodes
