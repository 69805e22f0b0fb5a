// Every role of the stack in one process, wired over a transport: gateway, authorizer, router,
// one picker per InferencePool, and the control plane -- controller, node mocker (pods as actors
// in this process) and scaler. `inferstack dev` runs it; tests and benchmarks run it too.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <caf/fwd.hpp>

#include "actors/authorizer/authorizer_actor.hpp"
#include "actors/controller/controller_actor.hpp"
#include "actors/node_mocker/node_mocker_actor.hpp"
#include "actors/picker/kv_subscriber.hpp"
#include "actors/picker/load_scraper.hpp"
#include "actors/picker/picker_actor.hpp"
#include "actors/router/router_actor.hpp"
#include "actors/scaler/scaler_actor.hpp"
#include "gateway/gateway.hpp"
#include "nodes/admin_access.hpp"
#include "nodes/in_process_launcher.hpp"
#include "nodes/process_launcher.hpp"
#include "nodes/scraped_pod_metrics.hpp"
#include "runtime/config/manifests.hpp"
#include "runtime/logging.hpp"
#include "runtime/transport.hpp"

namespace inferstack::nodes {

/// Which roles run in this process: all of them (`inferstack dev`), or one
/// (`inferstack run gateway|picker|control`) with the others found by address.
struct stack_roles {
  bool gateway = true;      ///< gateway + authorizer + router
  bool pickers = true;      ///< the pickers (of every pool, or of `picker_pool` only)
  std::string picker_pool;  ///< "<ns>/<pool>": a picker process serves just this pool
  bool control = true;      ///< controller + node mocker + scaler

  bool all() const { return gateway && pickers && picker_pool.empty() && control; }
};

/// Where the roles of other processes are (transport addresses, tcp://host:port).
struct peer_addresses {
  std::map<std::string, std::string> pickers;  ///< "<ns>/<pool>" -> its picker process
  std::string control;                         ///< the control process
  std::string control_events;                  ///< ... and its events endpoint
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
};

/// The template every replica of `set` is made from: its preset's model, GPUs, load times and
/// engine options, the set's labels and annotations.
actors::node_mocker::pod_template pod_template_for(const config::inference_set& set,
                                                   const config::model_preset* preset,
                                                   uint64_t seed);

class in_process_stack {
 public:
  in_process_stack(caf::actor_system& system, runtime::transport& transport,
                   config::stack_config config, stack_options options,
                   std::shared_ptr<spdlog::logger> log,
                   std::shared_ptr<prometheus::Registry> registry);
  ~in_process_stack();

  /// Spawns everything and starts listening; throws with every problem found.
  void start();
  /// Stops accepting, lets requests in flight finish until `grace`, stops the actors.
  void stop(std::chrono::nanoseconds grace);

  /// The gateway's port (0 when this process runs no gateway).
  uint16_t port() const;
  std::string url() const;
  /// The admin listener's URL ("" when there is none) and the file of its read-write token.
  std::string admin_url() const;
  std::string admin_token_file() const;
  const config::stack_config& config() const { return config_; }

  /// Re-reads keys (files, env, generated secrets) and applies them; open streams continue.
  void reload_keys();
  /// Applies a new configuration's keys and routes (SIGHUP).
  void reload(config::stack_config config);
  /// Files the keys came from (watched for changes).
  const std::vector<std::string>& key_files() const { return key_files_; }

  /// By namespace, a shell expression that yields its API key without showing it: `$(cat FILE)`
  /// for a generated key's secret file or a given keyFile, `$VAR` for a keyEnv (what the curl
  /// hint puts after "Bearer ").
  std::map<std::string, std::string> key_expressions() const;

  /// The pods running now.
  std::vector<in_process_launcher::running_pod> pods() const;
  /// Replicas the InferenceSets ask for at start.
  int initial_replicas() const;

  actors::controller::controller_actor controller() const;
  actors::node_mocker::node_mocker_actor node_mocker() const;

 private:
  /// The admin listener: /metrics and health open, /control and /pods behind a token.
  bool admin(const std::shared_ptr<http::exchange>& ex);
  void start_admin_listener(std::vector<std::string>& problems);
  /// The pickers' KV subscribers' replay counts, as gauges (read when /metrics is served).
  void export_kv_subscriber_stats();
  void on_membership(const actors::controller::pool_spec& pool,
                     const std::vector<actors::picker::pool_member>& members);
  /// A picker process: pods of other processes join the picker's pool -- hear their load
  /// reports and KV events from now on.
  void wire_members(const std::string& pool, const actors::picker::picker_impl_actor& picker,
                    const std::vector<actors::picker::pool_member>& members);
  void start_pickers(actors::controller::controller_settings& cs,
                     std::vector<std::string>& problems);
  void start_control(actors::controller::controller_settings cs,
                     std::vector<actors::scaler::scaling_target> targets);
  /// The gateway's pools (local pickers or proxies of remote ones); returns the activator of
  /// a remote control process (null when the control plane runs here).
  caf::actor register_pools(std::vector<std::string>& problems);
  void start_gateway(caf::actor activator);

  caf::actor_system& system_;
  runtime::transport& transport_;
  config::stack_config config_;
  stack_options options_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<gateway::pool_directory> pools_;
  actors::authorizer::authorizer_actor authorizer_;
  actors::router::router_actor router_;
  /// Their current decisions, for the gateway to apply on each request's own thread.
  std::shared_ptr<actors::authorizer::published_authorizer> authorizer_view_;
  std::shared_ptr<actors::router::published_router> router_view_;
  /// A picker of this process: the actor, and the handle the gateway picks with on its request
  /// threads.
  struct local_picker {
    actors::picker::picker_impl_actor actor;
    std::shared_ptr<actors::picker::direct_picker> direct;
  };
  std::map<std::string, local_picker> pickers_;  ///< by "<ns>/<pool>"
  std::shared_ptr<in_process_launcher> launcher_;
  std::shared_ptr<process_launcher> process_launcher_;
  /// Metrics of pod processes the load reports do not carry (for the scaler), if any is used.
  std::shared_ptr<scraped_pod_metrics> pod_metrics_;
  caf::actor membership_relay_;     ///< picker process: receives its pool's membership
  caf::actor membership_listener_;  ///< gateway process: pool members for FailOpen
  actors::node_mocker::node_mocker_impl_actor mocker_;
  actors::controller::controller_impl_actor controller_;
  actors::scaler::scaler_impl_actor scaler_;
  std::mutex subscribed_mutex_;
  std::set<std::pair<std::string, std::string>> subscribed_;  ///< (pool, pod) topic wiring done
  std::vector<std::string> key_files_;
  std::unique_ptr<gateway::gateway> gateway_;
  std::unique_ptr<admin_access> admin_access_;
  std::unique_ptr<http::server> admin_server_;
  std::vector<std::unique_ptr<actors::picker::kv_subscriber>> kv_subscribers_;
  std::map<std::string, actors::picker::kv_subscriber*> kv_pickers_;  ///< by pool
  prometheus::Family<prometheus::Gauge>* kv_replays_ = nullptr;
  prometheus::Family<prometheus::Gauge>* kv_gaps_left_ = nullptr;
  std::unique_ptr<actors::picker::load_scraper> scraper_;
  /// Which pickers hear each scraped model server's load.
  struct scrape_routes {
    std::mutex mutex;
    std::map<std::string, std::vector<caf::actor>> pickers;
  };
  std::shared_ptr<scrape_routes> scrape_routes_ = std::make_shared<scrape_routes>();
  std::atomic<bool> ready_{false};
  std::atomic<bool> has_membership_{false};
};

}  // namespace inferstack::nodes
