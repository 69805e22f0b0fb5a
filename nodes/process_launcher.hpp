// Pods as processes on this machine (the multi-process stack): the node mocker's launcher for
// `inferstack run control`. Each pod is an `inferstack run pod` child with its own ports: the
// OpenAI API, the pod actor over ZeroMQ, its load reports, its vLLM KV events and their replay.
// It starts not Ready (--wait-ready); a supervisor actor in this process makes sure the pod hears
// mark_ready (retrying until the pod says it is Ready), passes drains on, and reports the process
// ending on its own to the node mocker (pod_exited).
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/logger.h>
#include <caf/fwd.hpp>

#include "actors/node_mocker/pod_launcher.hpp"
#include "runtime/transport.hpp"

namespace inferstack::nodes {

struct process_launcher_settings {
  std::string binary;  ///< the inferstack executable
  std::string host = "127.0.0.1";
  int first_port = 7400;  ///< pods take 5 consecutive ports each from here
  int last_port = 8999;
  std::string profiles_dir;
  std::string log_level = "warn";
  /// CurveZMQ key directory the pods get (--curve-keys); empty: --insecure-plaintext.
  std::string curve_keys;
  /// Pod processes that run already, started by someone else (a StatefulSet on Kubernetes):
  /// "<ns>/<set>" -> their "host:port" (HTTP at port, then the pod actor, load reports, KV
  /// events and their replay at port+1..port+4). A replica of such a set takes a free one
  /// (`inferstack run pod --wait-ready` waits there); one that goes frees it again.
  std::map<std::string, std::vector<std::string>> slots;
  /// OTLP/HTTP collector the pods send their spans to (--otlp-endpoint), as service.name
  /// trace_service_name; empty: the pods do not trace.
  std::string trace_endpoint;
  std::string trace_service_name;
  /// Where gateways send a pod's requests: its HTTP port (proxied like a vLLM server's, one
  /// thread hop fewer a side than a ZeroMQ round trip) instead of its actor over the transport.
  /// Load reports and KV events come over ZeroMQ either way.
  bool requests_over_http = false;
};

class process_launcher : public actors::node_mocker::pod_launcher {
 public:
  process_launcher(caf::actor_system& system, runtime::transport& transport,
                   process_launcher_settings settings, std::shared_ptr<spdlog::logger> log);
  ~process_launcher() override;

  /// Where supervisors report a process that ended on its own.
  void set_mocker(caf::actor mocker);
  /// Called for every pod started (e.g. to subscribe the scaler to its load reports).
  std::function<void(const std::string& pod, const actors::node_mocker::launched_pod&)> on_launched;
  /// Called for every pod stopped.
  std::function<void(const std::string& pod)> on_terminated;

  caf::expected<actors::node_mocker::launched_pod> launch(
      const actors::node_mocker::pod_template& pod, const std::string& node) override;
  void terminate(const std::string& pod) override;

  /// SIGTERM to every pod process, then waits (bounded) for them to end.
  void terminate_all();

  /// The command line a pod gets (for tests and `inferstack plan`).
  std::vector<std::string> command_line(const actors::node_mocker::pod_template& pod,
                                        int first_port) const;

 private:
  int allocate_ports();
  caf::expected<actors::node_mocker::launched_pod> launch_in_slot(
      const actors::node_mocker::pod_template& pod, const std::string& node,
      const std::string& set_key, const std::vector<std::string>& addresses);
  struct child {
    pid_t pid = -1;  ///< -1: a slot, not our process
    caf::actor supervisor;
    std::string slot_set;
    size_t slot = 0;
  };
  /// Connects to a started pod process listening from `host`:`base`, puts it under a supervisor
  /// and records it as `record` (its supervisor filled in).
  caf::expected<actors::node_mocker::launched_pod> adopt(
      const actors::node_mocker::pod_template& pod, const std::string& host, int base,
      child record);

  caf::actor_system& system_;
  runtime::transport& transport_;
  process_launcher_settings settings_;
  std::shared_ptr<spdlog::logger> log_;
  std::mutex mutex_;
  caf::actor mocker_;
  int next_port_;
  std::map<std::string, child> children_;
  std::map<std::string, std::vector<bool>> slots_taken_;
  bool closed_ = false;  ///< terminate_all ran: nothing more is started; under the mutex
};

}  // namespace inferstack::nodes
