// Pods as actors in this process (`inferstack dev`): the node mocker's launcher. Each pod is a
// pod actor reachable as "actor:pod/<name>" on the transport, publishing its load reports and KV
// events there, with its own metrics registry (served at /pods/<name>/metrics).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <caf/fwd.hpp>

#include "actors/node_mocker/pod_launcher.hpp"
#include "actors/pod/pod_protocol.hpp"
#include "actors/pod/pod_settings.hpp"
#include "runtime/transport.hpp"

namespace inferstack::tracing {
class tracer;
}  // namespace inferstack::tracing

namespace inferstack::nodes {

/// The settings of the pod a template describes: the template's engine options, its served
/// model name, and -- when the options set no latency -- the KAITO latency profile chosen from
/// the model size or the template's annotations. Problems are appended.
actors::pod::pod_settings pod_settings_from(const actors::node_mocker::pod_template& pod,
                                            const std::string& profiles_dir,
                                            std::vector<std::string>& problems);

class in_process_launcher : public actors::node_mocker::pod_launcher {
 public:
  /// `tracer`: the process's, the pods record their generations with it (null: no tracing).
  in_process_launcher(caf::actor_system& system, runtime::transport& transport,
                      std::string profiles_dir, int64_t wall_clock_offset_ns,
                      std::shared_ptr<spdlog::logger> log,
                      std::shared_ptr<tracing::tracer> tracer = nullptr);

  caf::expected<actors::node_mocker::launched_pod> launch(
      const actors::node_mocker::pod_template& pod, const std::string& node) override;
  void terminate(const std::string& pod) override;

  /// Stops every pod and closes the launcher (shutdown): a launch after it -- the node mocker
  /// may be inside one while its exit message waits -- starts nothing.
  void terminate_all();

  struct running_pod {
    std::string name;
    actors::pod::pod_actor actor;
    std::shared_ptr<prometheus::Registry> registry;
    /// Set: the pod's KV events are dropped on their way out, as over a cut link (a fault of
    /// `inferstack simulate`); cleared: they flow again.
    std::shared_ptr<std::atomic<bool>> kv_cut;
  };
  /// The pods running now, by name.
  std::vector<running_pod> pods() const;
  std::shared_ptr<prometheus::Registry> registry_of(const std::string& pod) const;
  /// The sum of every sample of `metric` in the pod's registry (nothing if it has none).
  std::optional<double> read_metric(const std::string& pod, const std::string& metric) const;

 private:
  caf::actor_system& system_;
  runtime::transport& transport_;
  std::string profiles_dir_;
  int64_t wall_clock_offset_ns_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<tracing::tracer> tracer_;
  mutable std::mutex mutex_;
  std::map<std::string, running_pod> pods_;
  bool closed_ = false;  ///< terminate_all ran; under the mutex
};

}  // namespace inferstack::nodes
