// The gateway role: the tenants' OpenAI API (gateway/), with the authorizer (API keys) and the
// router (HTTPRoutes) it asks, and its directory of pools -- each served by a picker of this
// process or of a picker process, its members told by the control plane (for FailOpen).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <caf/actor.hpp>

#include "actors/authorizer/authorizer_actor.hpp"
#include "actors/router/router_actor.hpp"
#include "gateway/gateway.hpp"
#include "gateway/request_pipeline.hpp"
#include "nodes/roles/picker_role.hpp"
#include "nodes/roles/role_context.hpp"
#include "runtime/logging.hpp"

namespace inferstack::nodes {

struct gateway_role_settings {
  std::string listen;  ///< overrides the InferenceGateway's spec.listen
  /// Where the pickers of other processes and the control process are.
  peer_addresses peers;
  /// The control plane runs in another process (at peers.control): it activates pools at zero
  /// and publishes their members.
  bool control_elsewhere = false;
  /// The pickers of this process (replicas in gateways) have caught up: /readyz waits for it.
  std::function<bool()> pickers_ready;
  /// How the access log (one line per request) is written: text, or JSON like the other logs.
  runtime::log_format log_format = runtime::log_format::text;
  std::function<int64_t()> unix_seconds;
  std::function<std::string()> generate_key;  ///< new API keys (CSPRNG in production)
  /// Virtual clients (`inferstack simulate`) instead of a listener: requests enter through
  /// pipeline(), on a simulation's deterministic scheduler.
  bool virtual_clients = false;
};

class gateway_role {
 public:
  /// `ready`: the process is ready (the tenants' listener answers /readyz with it).
  gateway_role(role_context context, gateway_role_settings settings,
               const std::atomic<bool>& ready);
  ~gateway_role();

  /// Loads the API keys and the routes, spawns the authorizer and the router; problems are
  /// appended.
  void prepare(std::vector<std::string>& problems);
  /// With control elsewhere: `sink` is also told each membership the control process publishes
  /// (the pickers of this process hear their pools' pods from it). Before register_pools.
  void tell_memberships_to(pool_members_sink sink) { membership_sink_ = std::move(sink); }
  /// Fills the pool directory: each pool's picker from `local` or from its picker process.
  /// Returns the activator of a control process elsewhere (null when the control plane runs
  /// here).
  caf::actor register_pools(const std::map<std::string, local_picker>& local,
                            std::vector<std::string>& problems);
  /// Starts serving, pools at zero activated by `activator`.
  void start(caf::actor activator);
  /// Stops accepting, lets requests in flight finish until `grace`, stops the actors.
  void stop(std::chrono::nanoseconds grace);

  uint16_t port() const;
  /// The request pipeline virtual clients send to (null unless settings.virtual_clients).
  gateway::request_pipeline* pipeline() const { return pipeline_.get(); }
  /// A pool's Ready members changed (FailOpen serves them when its picker cannot).
  void set_members(const std::string& ns, const std::string& name,
                   const std::vector<actors::picker::pool_member>& members);

  /// The pools' picker replicas as gauges (read when /metrics is served): picks sent to each,
  /// picks moved on to another replica, and whether each is healthy now.
  void export_replica_stats();

  /// Re-reads the API keys (files, env, generated secrets) and applies them.
  void reload_keys();
  /// Applies the configuration's routes anew (its keys were reloaded before).
  void reload_routes();
  /// Files the keys came from (watched for changes).
  const std::vector<std::string>& key_files() const { return key_files_; }

 private:
  role_context context_;
  gateway_role_settings settings_;
  const std::atomic<bool>& ready_;
  std::shared_ptr<gateway::pool_directory> pools_;
  actors::authorizer::authorizer_actor authorizer_;
  actors::router::router_actor router_;
  /// Their current decisions, for the gateway to apply on each request's own thread.
  std::shared_ptr<actors::authorizer::published_authorizer> authorizer_view_;
  std::shared_ptr<actors::router::published_router> router_view_;
  caf::actor membership_listener_;     ///< pool members published by a control process
  pool_members_sink membership_sink_;  ///< ... told to this process's pickers too
  std::vector<std::string> key_files_;
  prometheus::Family<prometheus::Gauge>* replica_picks_ = nullptr;
  prometheus::Family<prometheus::Gauge>* replica_healthy_ = nullptr;
  prometheus::Family<prometheus::Gauge>* replica_failovers_ = nullptr;
  std::unique_ptr<gateway::gateway> gateway_;
  std::unique_ptr<gateway::request_pipeline> pipeline_;  ///< virtual clients only
};

/// By namespace, a shell expression that yields its API key without showing it: `$(cat FILE)`
/// for a generated key's secret file or a given keyFile, `$VAR` for a keyEnv (what the curl hint
/// puts after "Bearer ").
std::map<std::string, std::string> key_expressions(const config::stack_config& config);

}  // namespace inferstack::nodes
