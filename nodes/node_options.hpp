// Options every subcommand shares, and the helpers that turn them into running parts.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/logger.h>
#include <caf/fwd.hpp>

#include "runtime/actor_system_setup.hpp"
#include "runtime/config/manifests.hpp"
#include "runtime/logging.hpp"
#include "runtime/zmq_transport.hpp"

namespace inferstack::nodes {

struct common_options {
  std::string log_level = "info";
  std::string log_format = "text";
  std::vector<std::string> sets;  ///< --set Kind[/name]:path=value
  std::string scheduler = "io";   ///< io (runtime/io_scheduler) or caf (work stealing)
};

/// How a node's actor system schedules, from --scheduler.
runtime::scheduling scheduling_of(const common_options& options);

/// Builds the root logger; prints an error and returns null on a bad level or format.
std::shared_ptr<spdlog::logger> make_logger(const common_options& options);

/// The log format of --log-format (text when it is not one; make_logger refuses that first).
runtime::log_format log_format_of(const common_options& options);

/// Loads manifests with --set overrides; prints every problem to stderr. Returns nullopt when
/// anything is wrong.
std::optional<config::stack_config> load_stack(const std::vector<std::string>& files,
                                               const common_options& options);

/// A fresh incarnation number for this process (distinguishes restarts on the wire).
uint64_t new_incarnation();

/// ZeroMQ transport settings for a node of ours: the catalogue's codec, the node's name and
/// incarnation, the log for refused peers; sockets and keys are the caller's.
runtime::zmq_transport_settings transport_settings_for(std::string node_name, uint64_t incarnation,
                                                       std::shared_ptr<spdlog::logger> log);

/// Wall clock minus the actor system's clock, in nanoseconds: what actors add to their clock
/// to stamp events with wall time (they never read the wall clock themselves).
int64_t wall_clock_offset_ns(caf::actor_system& system);

}  // namespace inferstack::nodes
