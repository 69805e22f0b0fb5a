// A stack process: the roles of the stack that one process runs, composed over its transport --
// every role (`inferstack dev`: gateway, pickers and control plane in one process, over the local
// transport) or one (`inferstack run gateway|picker|control`, the others found by address over
// ZeroMQ; a gateway may run the pickers too, `--local-pickers`) -- with the process's admin
// listener. The roles are nodes/roles/*_role.hpp; this is
// what hands each the others' parts: local pickers to the gateway, pools' members from the
// control plane to the pickers and the gateway, the activator (the scaler) to the gateway.
// Tests and benchmarks run it too.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <caf/fwd.hpp>

#include "actors/controller/controller_protocol.hpp"
#include "actors/node_mocker/node_mocker_protocol.hpp"
#include "nodes/admin_listener.hpp"
#include "nodes/in_process_launcher.hpp"
#include "nodes/process_launcher.hpp"
#include "nodes/roles/control_role.hpp"
#include "nodes/roles/gateway_role.hpp"
#include "nodes/roles/picker_role.hpp"
#include "nodes/roles/role_context.hpp"
#include "runtime/config/manifests.hpp"
#include "runtime/logging.hpp"
#include "runtime/transport.hpp"
#include "runtime/zmq_transport.hpp"
#include "ui/console_service.hpp"

namespace inferstack::nodes {

/// Which roles run in this process: all of them (`inferstack dev`), or one
/// (`inferstack run gateway|picker|control`) with the others found by address.
struct stack_roles {
  bool gateway = true;      ///< gateway + authorizer + router
  bool pickers = true;      ///< the pickers (of every pool, or of `picker_pool` only)
  std::string picker_pool;  ///< "<ns>/<pool>": a picker process serves just this pool
  int picker_replica = 0;   ///< ... as this replica of the pool's picker (`--replica`; a
                            ///< gateway with its pickers: of every pool's)
  bool control = true;      ///< controller + node mocker + scaler

  bool all() const { return gateway && pickers && picker_pool.empty() && control; }
};

struct stack_options {
  stack_roles roles;
  peer_addresses peers;
  /// Pods as processes (the multi-process stack) instead of actors in this process.
  std::optional<process_launcher_settings> pod_processes;
  /// This role's CurveZMQ keys: also for the KV-event sockets of our own pods.
  std::optional<runtime::zmq_curve_settings> curve;
  std::string profiles_dir = "config/profiles";
  uint64_t seed = 1;
  std::string listen;  ///< overrides the InferenceGateway's spec.listen
  int64_t wall_clock_offset_ns = 0;
  std::function<int64_t()> unix_seconds;
  std::function<std::string()> generate_key;  ///< new API keys (CSPRNG in production)
  /// host:port of the admin listener (/metrics, health, /control, /pods); empty: none. Never
  /// the tenants' listener. A non-loopback address needs admin_allow_remote (or the config's
  /// adminAllowRemote).
  std::string admin_listen;
  bool admin_allow_remote = false;
  /// How the access log (one line per request) is written: text, or JSON like the other logs.
  runtime::log_format log_format = runtime::log_format::text;
  /// Start the InferenceSets' replicas cold (Pending -> Loading -> Ready) instead of adopting
  /// them as already running.
  bool cold_start = false;
  /// `inferstack simulate`: the roles run on a simulation's deterministic scheduler
  /// (runtime/simulation.hpp) -- no listeners, no sockets, nothing that waits on the wall
  /// clock; virtual clients send requests through pipeline(). Everything else is as `dev` runs.
  bool virtual_time = false;
};

class stack_process {
 public:
  stack_process(caf::actor_system& system, runtime::transport& transport,
                config::stack_config config, stack_options options,
                std::shared_ptr<spdlog::logger> log,
                std::shared_ptr<prometheus::Registry> registry);
  ~stack_process();

  /// Spawns everything and starts listening; throws with every problem found.
  void start();
  /// Stops accepting, lets requests in flight finish until `grace`, stops the actors.
  void stop(std::chrono::nanoseconds grace);

  /// The gateway's port (0 when this process runs no gateway).
  uint16_t port() const;
  std::string url() const;
  /// The gateway's request pipeline for virtual clients (virtual_time only; else null).
  gateway::request_pipeline* pipeline() const;
  /// The transport the roles talk over (load reports, statuses and KV events are published on
  /// it).
  runtime::transport& transport() const { return transport_; }
  /// The admin listener's URL ("" when there is none) and the file of its read-write token.
  std::string admin_url() const;
  std::string admin_token_file() const;
  /// The file of the admin listener's read-only token ("" when there is none).
  std::string admin_read_token_file() const;
  /// The live console (/ui on the admin listener) where the control plane runs; else null.
  ui::console_service* console() const { return console_.get(); }
  const config::stack_config& config() const { return config_; }

  /// Re-reads keys (files, env, generated secrets) and applies them; open streams continue.
  void reload_keys();
  /// Applies a new configuration's keys and routes (SIGHUP).
  void reload(config::stack_config config);
  /// Files the keys came from (watched for changes).
  const std::vector<std::string>& key_files() const { return key_files_; }

  /// By namespace, a shell expression that yields its API key without showing it (see
  /// nodes/roles/gateway_role.hpp).
  std::map<std::string, std::string> key_expressions() const;

  /// The pods running now (in this process).
  std::vector<in_process_launcher::running_pod> pods() const;
  /// Replicas the InferenceSets ask for at start.
  int initial_replicas() const;

  actors::controller::controller_actor controller() const;
  actors::node_mocker::node_mocker_actor node_mocker() const;

 private:
  /// The admin routes past the probes: a pod's own metrics, the pod list, the control plane.
  bool serve_pods_and_control(const std::shared_ptr<http::exchange>& ex, const std::string& path);
  /// The pickers of this process may take picks: always, but a picker process and pickers
  /// replicated between gateways once told their pools and caught up.
  bool pickers_ready() const;
  /// A pool's members changed, as the control plane of this process tells it.
  void on_membership(const actors::controller::pool_spec& pool,
                     const std::vector<actors::picker::pool_member>& members);

  caf::actor_system& system_;
  runtime::transport& transport_;
  config::stack_config config_;
  stack_options options_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::atomic<bool> ready_{false};
  /// The roles this process runs (null: elsewhere); declared after what they use.
  std::unique_ptr<gateway_role> gateway_;
  std::unique_ptr<picker_role> pickers_;
  std::unique_ptr<control_role> control_;
  std::unique_ptr<ui::console_service> console_;
  std::unique_ptr<admin_listener> admin_;
  std::vector<std::string> key_files_;
};

}  // namespace inferstack::nodes
