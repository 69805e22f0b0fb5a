// Where pods run: the node mocker decides when a pod starts, loads and stops; a launcher makes
// it happen -- pod actors in this process (`inferstack dev`), pod processes on this machine
// (the multi-process stack), or pods of a Deployment on Kubernetes.
#pragma once

#include <string>

#include <caf/actor.hpp>
#include <caf/expected.hpp>

#include "actors/node_mocker/node_mocker_protocol.hpp"

namespace inferstack::actors::node_mocker {

struct launched_pod {
  std::string endpoint;  ///< where the gateway sends requests ("actor:pod/<name>", ...)
  std::string address;   ///< the pod's name in KV-event topics
  caf::actor actor;      ///< the pod (pod_actor protocol): mark_ready, drain_request
  std::string events;    ///< pod processes: where its load reports are published
  std::string kv_events;
  std::string kv_replay;
};

class pod_launcher {
 public:
  virtual ~pod_launcher() = default;
  /// Starts the pod's engine, not Ready (it "loads the model" until mark_ready). Runs inside
  /// the node mocker's actor: must not block.
  virtual caf::expected<launched_pod> launch(const pod_template& pod, const std::string& node) = 0;
  /// Stops the pod for good (after its drain).
  virtual void terminate(const std::string& pod) = 0;
};

}  // namespace inferstack::actors::node_mocker
