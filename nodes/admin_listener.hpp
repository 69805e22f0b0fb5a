// The admin listener of a stack process (`dev --admin-listen`, `run <role> --http`): /metrics and
// the health probes open, /control and /pods only with an admin token (nodes/admin_access.hpp).
// Paths past the token check and the probes are answered by the roles the process runs.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <spdlog/logger.h>

#include "nodes/admin_access.hpp"
#include "runtime/http/http_server.hpp"

namespace inferstack::nodes {

struct admin_listener_settings {
  std::string listen;  ///< host:port; empty: no listener
  /// A non-loopback address is allowed (--admin-allow-remote, or spec.adminAllowRemote).
  bool allow_remote = false;
  admin_token_settings tokens;
  std::shared_ptr<spdlog::logger> log;
  std::shared_ptr<prometheus::Registry> registry;
};

struct admin_listener_handlers {
  std::function<void()> before_metrics;  ///< refreshes gauges read only when /metrics is served
  std::function<bool()> ready;           ///< what /readyz answers
  /// Any other path (its query cut off): true when answered.
  std::function<bool(const std::shared_ptr<http::exchange>&, const std::string& path)> routes;
};

class admin_listener {
 public:
  admin_listener(admin_listener_settings settings, admin_listener_handlers handlers);

  /// Loads the tokens and starts listening; problems are appended.
  void start(std::vector<std::string>& problems);
  void stop();

  /// Its URL ("" when there is none) and the file of its read-write token.
  std::string url() const;
  std::string token_file() const;
  /// The file of its read-only token ("" when there is none).
  std::string read_token_file() const;

  /// Re-reads the tokens (problems are logged); a token that fails keeps the last good one.
  void reload_tokens();
  /// Files the tokens came from (watched for changes).
  std::vector<std::string> token_files() const;

 private:
  bool serve(const std::shared_ptr<http::exchange>& ex);

  admin_listener_settings settings_;
  admin_listener_handlers handlers_;
  std::unique_ptr<admin_access> access_;
  std::unique_ptr<http::server> server_;  ///< last: stops before the rest goes
};

}  // namespace inferstack::nodes
