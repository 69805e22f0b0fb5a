// Every role of the stack in one process, wired over a transport: gateway, authorizer, router,
// one picker per InferencePool, and the control plane -- controller, node mocker (pods as actors
// in this process) and scaler. `inferstack dev` runs it; tests and benchmarks run it too.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <caf/fwd.hpp>

#include "actors/authorizer/authorizer_protocol.hpp"
#include "actors/controller/controller_actor.hpp"
#include "actors/node_mocker/node_mocker_actor.hpp"
#include "actors/picker/kv_subscriber.hpp"
#include "actors/picker/load_scraper.hpp"
#include "actors/picker/picker_actor.hpp"
#include "actors/router/router_protocol.hpp"
#include "actors/scaler/scaler_actor.hpp"
#include "gateway/gateway.hpp"
#include "nodes/in_process_launcher.hpp"
#include "runtime/config/manifests.hpp"
#include "runtime/transport.hpp"

namespace inferstack::nodes {

struct stack_options {
  std::string profiles_dir = "config/profiles";
  uint64_t seed = 1;
  std::string listen;  ///< overrides the InferenceGateway's spec.listen
  int64_t wall_clock_offset_ns = 0;
  std::function<int64_t()> unix_seconds;
  std::function<std::string()> generate_key;  ///< new API keys (CSPRNG in production)
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

  uint16_t port() const;
  std::string url() const;
  const config::stack_config& config() const { return config_; }

  /// Re-reads keys (files, env, generated secrets) and applies them; open streams continue.
  void reload_keys();
  /// Applies a new configuration's keys and routes (SIGHUP).
  void reload(config::stack_config config);
  /// Files the keys came from (watched for changes).
  const std::vector<std::string>& key_files() const { return key_files_; }

  /// Generated API keys' files, by namespace (what the curl hint reads the key from).
  std::map<std::string, std::string> secret_files() const;

  /// The pods running now.
  std::vector<in_process_launcher::running_pod> pods() const;
  /// Replicas the InferenceSets ask for at start.
  int initial_replicas() const;

  actors::controller::controller_actor controller() const;
  actors::node_mocker::node_mocker_actor node_mocker() const;

 private:
  bool admin(const std::shared_ptr<http::exchange>& ex);
  void on_membership(const actors::controller::pool_spec& pool,
                     const std::vector<actors::picker::pool_member>& members);

  caf::actor_system& system_;
  runtime::transport& transport_;
  config::stack_config config_;
  stack_options options_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<gateway::pool_directory> pools_;
  actors::authorizer::authorizer_actor authorizer_;
  actors::router::router_actor router_;
  std::map<std::string, actors::picker::picker_impl_actor> pickers_;  ///< by "<ns>/<pool>"
  std::shared_ptr<in_process_launcher> launcher_;
  actors::node_mocker::node_mocker_impl_actor mocker_;
  actors::controller::controller_impl_actor controller_;
  actors::scaler::scaler_impl_actor scaler_;
  std::mutex subscribed_mutex_;
  std::set<std::pair<std::string, std::string>> subscribed_;  ///< (pool, pod) topic wiring done
  std::vector<std::string> key_files_;
  std::unique_ptr<gateway::gateway> gateway_;
  std::vector<std::unique_ptr<actors::picker::kv_subscriber>> kv_subscribers_;
  std::unique_ptr<actors::picker::load_scraper> scraper_;
  std::atomic<bool> ready_{false};
};

}  // namespace inferstack::nodes
