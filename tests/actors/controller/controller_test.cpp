// The controller in virtual time, with the real node mocker and fake pods: InferenceSets become
// pods, replicas changes take effect at once, pools hold exactly the Ready pods, and removed pods
// leave their pool before they drain.
#include <catch2/catch.hpp>

#include "actors/controller/controller_actor.hpp"
#include "actors/controller/reconciler.hpp"
#include "actors/node_mocker/node_mocker_actor.hpp"
#include "tests/actors/node_mocker/fake_pods.hpp"
#include "tests/support/caf_fixture.hpp"

using namespace inferstack;
using namespace inferstack::actors::controller;
using namespace control_test;
using namespace std::chrono;
using inferstack::actors::node_mocker::pod_phase;

namespace {

struct controller_fixture : testing::caf_fixture {
  std::shared_ptr<fake_launcher> launcher = std::make_shared<fake_launcher>(sys);
  std::map<std::string, std::vector<std::string>> members;  ///< last membership per pool
  std::map<std::string, std::vector<std::vector<std::string>>> history;  ///< ... every one told
  std::map<std::string, set_status> statuses;
  controller_impl_actor controller;
  nm::node_mocker_impl_actor mocker;

  void start(int replicas, bool adopt, std::vector<config::node_pool> pools = {},
             nm::pod_template prototype = pod_of("proto")) {
    nm::node_mocker_settings ms;
    ms.pools = std::move(pools);
    mocker = nm::spawn_node_mocker(sys, ms, {launcher, {}, nullptr, nullptr});
    controller_settings cs;
    cs.adopt_initial = adopt;
    set_spec set{"team-a", "llama", replicas, prototype};
    cs.sets.push_back(set);
    cs.pools.push_back({"team-a", "llama", {{"app", "llama"}}, {}});
    cs.pools.push_back({"team-a", "other", {{"app", "other"}}, {}});
    controller_dependencies deps;
    deps.mocker = caf::actor_cast<nm::node_mocker_actor>(mocker);
    deps.on_membership = [this](const pool_spec& pool,
                                const std::vector<actors::picker::pool_member>& m) {
      auto& names = members[pool.name];
      names.clear();
      for (const auto& x : m)
        names.push_back(x.pod);
      history[pool.name].push_back(names);
    };
    deps.on_status = [this](const set_status& s) { statuses[s.set] = s; };
    controller = spawn_controller(sys, cs, deps);
    run();
  }

  scale_result scale(int replicas) {
    auto r = request<scale_result>(caf::actor_cast<controller_actor>(controller),
                                   scale_set{"team-a", "llama", replicas, "test", "operator"});
    REQUIRE(r);
    return *r;
  }
};

}  // namespace

TEST_CASE("reconcile creates the missing pods and removes the surplus, not-ready ones first") {
  std::vector<pod_view> pods{{"a", pod_phase::ready, 1},
                             {"b", pod_phase::ready, 2},
                             {"c", pod_phase::loading, 3},
                             {"d", pod_phase::pending, 4},
                             {"e", pod_phase::draining, 5}};
  CHECK(reconcile(6, pods).create == 2);  // e does not count
  CHECK(reconcile(4, pods).create == 0);
  CHECK(reconcile(4, pods).remove.empty());
  CHECK(reconcile(2, pods).remove == std::vector<std::string>{"d", "c"});
  CHECK(reconcile(1, pods).remove == std::vector<std::string>{"d", "c", "b"});  // newest Ready
}

TEST_CASE("selectors: every matchLabel must match, an empty selector selects nothing") {
  CHECK(selects({{"app", "x"}}, {{"app", "x"}, {"tier", "gpu"}}));
  CHECK_FALSE(selects({{"app", "x"}, {"tier", "cpu"}}, {{"app", "x"}, {"tier", "gpu"}}));
  CHECK_FALSE(selects({}, {{"app", "x"}}));
}

TEST_CASE_METHOD(controller_fixture, "initial replicas are adopted: Ready at once, in their pool") {
  start(3, true);
  CHECK(members["llama"] ==
        std::vector<std::string>{"team-a/llama-0", "team-a/llama-1", "team-a/llama-2"});
  CHECK(members["other"].empty());
  CHECK(statuses["llama"].ready == 3);
}

TEST_CASE_METHOD(controller_fixture,
                 "a replicas change adds pods, which join the pool once Ready") {
  start(1, true);
  auto r = scale(3);
  CHECK(r.ok);
  CHECK(r.previous == 1);
  run();
  CHECK(statuses["llama"].desired == 3);
  CHECK(statuses["llama"].current == 3);
  CHECK(statuses["llama"].ready == 1);
  CHECK(members["llama"] == std::vector<std::string>{"team-a/llama-0"});  // the new ones load
  advance_time(seconds(20));                                              // the preset's load time
  CHECK(members["llama"] ==
        std::vector<std::string>{"team-a/llama-0", "team-a/llama-1", "team-a/llama-2"});
  CHECK(statuses["llama"].ready == 3);
}

TEST_CASE_METHOD(controller_fixture, "scaling down takes pods out of the pool before they drain") {
  start(3, true);
  scale(1);
  run();
  CHECK(members["llama"] == std::vector<std::string>{"team-a/llama-0"});
  CHECK(launcher->records["team-a/llama-2"]->drained);
  CHECK(launcher->records["team-a/llama-1"]->terminated);
  CHECK(statuses["llama"].current == 1);
  CHECK_FALSE(launcher->records["team-a/llama-0"]->drained);
}

TEST_CASE_METHOD(controller_fixture, "cold start: Pending without GPUs, Ready once a node frees") {
  config::node_pool p;
  p.meta.name = "a100";
  p.instance_type = "Standard_NC24ads_A100_v4";
  p.count = 2;
  start(3, false, {p});
  CHECK(statuses["llama"].pending == 1);
  advance_time(seconds(20));
  CHECK(members["llama"].size() == 2);
  scale(1);  // removes the Pending one first, then the newest Ready
  run();
  CHECK(statuses["llama"].current == 1);
  CHECK(statuses["llama"].pending == 0);
}

TEST_CASE_METHOD(controller_fixture, "bad scale requests are refused") {
  start(1, true);
  auto r = request<scale_result>(caf::actor_cast<controller_actor>(controller),
                                 scale_set{"team-a", "nope", 2, "", "operator"});
  REQUIRE(r);
  CHECK_FALSE(r->ok);
  CHECK(r->error == "no InferenceSet team-a/nope");
  CHECK_FALSE(scale(-1).ok);
}

TEST_CASE_METHOD(controller_fixture, "a pod that cannot start is replaced after a pause") {
  start(1, true);
  launcher->fail_next = true;
  scale(2);
  run();
  CHECK(statuses["llama"].current == 1);  // the new pod died at once
  advance_time(seconds(1));               // backoff
  advance_time(seconds(20));              // the replacement loads
  CHECK(statuses["llama"].ready == 2);
}

TEST_CASE_METHOD(
    controller_fixture,
    "a group's lost member: the pool sees its leader leave and return, no new replica") {
  config::node_pool h100;
  h100.meta.name = "h100";
  h100.instance_type = "Standard_ND96isr_H100_v5";
  h100.count = 3;
  auto proto = pod_of("proto", 8);
  proto.instance_type = h100.instance_type;
  proto.group_size = 2;
  start(1, false, {h100}, proto);
  advance_time(seconds(20));
  REQUIRE(members["llama"] == std::vector<std::string>{"team-a/llama-0"});
  CHECK(statuses["llama"].ready == 1);
  history.clear();
  caf::anon_send(mocker, nm::lose_node{"h100-1", "hardware"});  // the worker's node
  run();
  CHECK(members["llama"].empty());
  CHECK(statuses["llama"].current == 1);  // the same replica, Pending, then Loading: no other
  CHECK(statuses["llama"].ready == 0);
  advance_time(seconds(20));
  CHECK(members["llama"] == std::vector<std::string>{"team-a/llama-0"});
  CHECK(history["llama"] == std::vector<std::vector<std::string>>{{}, {"team-a/llama-0"}});
  CHECK(statuses["llama"].ready == 1);
  CHECK(launcher->launches ==
        std::vector<std::string>{"team-a/llama-0", "team-a/llama-0"});  // recreated, same name
}

TEST_CASE_METHOD(controller_fixture,
                 "a pod evicted by a reclaim notice is replaced at once, while it drains") {
  config::node_pool spot;
  spot.meta.name = "spot";
  spot.instance_type = "Standard_NC24ads_A100_v4";
  spot.count = 1;
  spot.max_count = 2;
  spot.provision_delay = seconds(60);
  spot.capacity_type = "spot";
  start(1, false, {spot});
  advance_time(seconds(20));
  REQUIRE(members["llama"] == std::vector<std::string>{"team-a/llama-0"});
  auto r = request<nm::node_command_result>(caf::actor_cast<nm::node_mocker_actor>(mocker),
                                            nm::node_command{"reclaim", "spot-0", 0, ""});
  REQUIRE(r);
  CHECK(r->ok);
  // The pod leaves the pool, its replacement waits for the node the provisioner adds.
  CHECK(members["llama"].empty());
  CHECK(statuses["llama"].current == 1);
  CHECK(statuses["llama"].pending == 1);
  advance_time(seconds(30));  // the reclaimed node is gone
  advance_time(seconds(30));  // the new node is up (60 s after the notice)
  CHECK(statuses["llama"].pending == 0);
  advance_time(seconds(20));  // cold load
  CHECK(members["llama"] == std::vector<std::string>{"team-a/llama-1"});
  CHECK(statuses["llama"].ready == 1);
  CHECK(statuses["llama"].current == 1);
}
