// What `inferstack dev` and the gateway process tell their user, how they notice key files
// changing, and where the console of a control process finds the picks of pickers elsewhere.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/logger.h>
#include <caf/actor.hpp>

#include "nodes/node_options.hpp"
#include "nodes/stack_process.hpp"
#include "ui/console_service.hpp"

namespace inferstack::nodes {

/// The console's picks from pickers in other processes (ui::console_sources::ask_picks): each
/// picker (by pool) asked over the transport for its last `limit` decisions (recent_picks), all
/// at once, each for at most `timeout`; the newest `limit` of what answered, and a note for each
/// picker that did not.
decltype(ui::console_sources::ask_picks) remote_picks(std::map<std::string, caf::actor> pickers,
                                                      size_t limit,
                                                      std::chrono::milliseconds timeout);

/// Modification times and sizes of files, to notice changes.
std::vector<std::pair<int64_t, int64_t>> file_stamps(const std::vector<std::string>& files);

/// The URL and a curl line per routed model that works as printed: Host and key included (the
/// key is read from its secret file by the shell, so it never appears in the terminal or logs).
void print_welcome(const stack_process& stack, const std::string& config_file, double startup_ms);

/// Waits for a stopping signal. Meanwhile a change of a key or admin token file reloads them,
/// and SIGHUP reloads the manifests from `files` (a configuration with problems is refused and
/// the running one kept). Returns the stopping signal.
int serve_until_stopped(stack_process& stack, const std::vector<std::string>& files,
                        const common_options& common, spdlog::logger& log);

}  // namespace inferstack::nodes
