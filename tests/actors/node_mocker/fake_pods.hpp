// Test fixtures of the control plane: a pod launcher whose pods are tiny actors that answer the
// node mocker's lifecycle messages (mark_ready, drain_request) the way pod actors do, and
// record what happened to them.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/node_mocker/pod_launcher.hpp"
#include "actors/pod/pod_protocol.hpp"

namespace control_test {

namespace nm = inferstack::actors::node_mocker;
namespace pod = inferstack::actors::pod;

struct fake_pod_record {
  std::string node;
  bool ready = false;
  bool drained = false;
  bool terminated = false;
};

class fake_launcher : public nm::pod_launcher {
 public:
  explicit fake_launcher(caf::actor_system& sys) : sys_(sys) {}

  caf::expected<nm::launched_pod> launch(const nm::pod_template& t,
                                         const std::string& node) override {
    if (fail_next) {
      fail_next = false;
      return caf::make_error(caf::sec::runtime_error, "image pull failed");
    }
    auto rec = std::make_shared<fake_pod_record>();
    rec->node = node;
    records[t.name] = rec;
    launches.push_back(t.name);
    auto actor = sys_.spawn([rec](caf::event_based_actor*) -> caf::behavior {
      return {
          [rec](pod::mark_ready&) { rec->ready = true; },
          [rec](pod::drain_request&) {
            rec->drained = true;
            return pod::drain_done{"", 0};
          },
      };
    });
    return nm::launched_pod{"actor:pod/" + t.name, t.name + ".addr", actor, {}, {}, {}};
  }

  void terminate(const std::string& name) override {
    if (auto it = records.find(name); it != records.end()) it->second->terminated = true;
  }

  bool fail_next = false;
  std::vector<std::string> launches;
  std::map<std::string, std::shared_ptr<fake_pod_record>> records;

 private:
  caf::actor_system& sys_;
};

inline nm::pod_template pod_of(const std::string& name, int gpus = 1,
                               const std::string& model = "llama", int64_t load_s = 20,
                               int64_t warm_s = 4) {
  nm::pod_template t;
  t.name = "team-a/" + name;
  t.ns = "team-a";
  t.set = "llama";
  t.model = model;
  t.instance_type = "Standard_NC24ads_A100_v4";
  t.gpus = gpus;
  t.load_ns = load_s * 1'000'000'000;
  t.warm_load_ns = warm_s * 1'000'000'000;
  t.labels = {{"app", "llama"}};
  return t;
}

}  // namespace control_test
