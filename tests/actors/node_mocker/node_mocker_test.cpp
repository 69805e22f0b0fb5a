// The node mocker in virtual time: placement by free GPUs, Pending with a reason, the GPU
// provisioner adding nodes after its delay, model load times (warm caches are faster), and the
// whole pod lifecycle Pending -> Loading -> Ready -> Draining -> Gone.
#include <catch2/catch.hpp>

#include "actors/node_mocker/cluster.hpp"
#include "actors/node_mocker/node_mocker_actor.hpp"
#include "tests/actors/node_mocker/fake_pods.hpp"
#include "tests/support/caf_fixture.hpp"

using namespace inferstack;
using namespace inferstack::actors::node_mocker;
using namespace control_test;
using namespace std::chrono;

namespace {

constexpr int64_t s = 1'000'000'000;

config::node_pool pool(const std::string& name, int count, int max_count = 0,
                       seconds delay = seconds(60), int gpus = 0,
                       const std::string& type = "Standard_NC24ads_A100_v4") {
  config::node_pool p;
  p.meta.name = name;
  p.instance_type = type;
  p.count = count;
  p.max_count = max_count;
  p.provision_delay = delay;
  p.gpus_per_node = gpus;
  return p;
}

struct mocker_fixture : testing::caf_fixture {
  std::shared_ptr<fake_launcher> launcher = std::make_shared<fake_launcher>(sys);
  std::vector<pod_event> events;

  node_mocker_impl_actor start(std::vector<config::node_pool> pools) {
    node_mocker_settings settings;
    settings.pools = std::move(pools);
    node_mocker_dependencies deps;
    deps.launcher = launcher;
    deps.on_pod_event = [this](const pod_event& e) { events.push_back(e); };
    auto m = spawn_node_mocker(sys, settings, deps);
    run();
    return m;
  }

  pod_phase last_phase(const std::string& pod) {
    pod_phase out = pod_phase::gone;
    bool seen = false;
    for (const auto& e : events)
      if (e.name == pod) {
        out = static_cast<pod_phase>(e.phase);
        seen = true;
      }
    REQUIRE(seen);
    return out;
  }

  std::string last_reason(const std::string& pod) {
    std::string out;
    for (const auto& e : events)
      if (e.name == pod) out = e.reason;
    return out;
  }
};

}  // namespace

TEST_CASE("instance types map to their GPU count") {
  CHECK(gpus_of_instance_type("Standard_NC24ads_A100_v4") == 1);
  CHECK(gpus_of_instance_type("Standard_NC80adis_H100_v5") == 2);
  CHECK(gpus_of_instance_type("Standard_ND96asr_v4") == 8);
  CHECK(gpus_of_instance_type("Standard_D4s_v3") == 0);  // a CPU size
}

TEST_CASE("cluster: pods fill nodes by free GPUs and wait, with a reason, when none is left") {
  cluster c({pool("a100", 2, 0, seconds(60), 2)}, 0);  // 2 nodes x 2 GPUs
  CHECK(c.submit(pod_of("p0", 2), 0)->node == "a100-0");
  CHECK(c.submit(pod_of("p1", 1), 0)->node == "a100-1");
  CHECK(c.submit(pod_of("p2", 1), 0)->node == "a100-1");
  CHECK_FALSE(c.submit(pod_of("p3", 1), 0));
  CHECK(c.phase("team-a/p3") == pod_phase::pending);
  CHECK(c.pending_reason("team-a/p3") == "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.");
  // p1 goes: p3 takes its GPU.
  auto placed = c.remove("team-a/p1", 10 * s);
  REQUIRE(placed.size() == 1);
  CHECK(placed[0].pod == "team-a/p3");
  CHECK(placed[0].node == "a100-1");
  auto snap = c.snapshot(10 * s);
  CHECK(snap.nodes[0].gpus_allocated == 2);
  CHECK(snap.nodes[1].gpus_allocated == 2);
}

TEST_CASE("cluster: a pod of another instance type does not fit, whatever the free GPUs") {
  cluster c({pool("a100", 1, 0, seconds(60), 8)}, 0);
  auto other = pod_of("h", 1);
  other.instance_type = "Standard_NC80adis_H100_v5";
  CHECK_FALSE(c.submit(other, 0));
  CHECK(c.pending_reason("team-a/h") ==
        "0/1 nodes are available: 1 node(s) didn't match instance type Standard_NC80adis_H100_v5.");
}

TEST_CASE("cluster: a node that loaded the model before loads it warm, and is preferred") {
  cluster c({pool("a100", 2, 0, seconds(60), 1)}, 0);
  auto first = c.submit(pod_of("p0"), 0);
  CHECK(first->load_ns == 20 * s);
  CHECK_FALSE(first->warm);
  c.mark_ready("team-a/p0", 20 * s);
  c.remove("team-a/p0", 30 * s);
  // Both nodes are free; a100-0 has the weights cached.
  auto second = c.submit(pod_of("p1"), 40 * s);
  CHECK(second->node == first->node);
  CHECK(second->warm);
  CHECK(second->load_ns == 4 * s);
  // Another model on the other node is cold.
  auto third = c.submit(pod_of("q0", 1, "qwen"), 40 * s);
  CHECK(third->node != first->node);
  CHECK(third->load_ns == 20 * s);
}

TEST_CASE("cluster: the provisioner adds nodes up to maxCount while pending pods need GPUs") {
  cluster c({pool("a100", 1, 3, seconds(60), 1)}, 0);
  c.submit(pod_of("p0"), 0);
  CHECK(c.provisioning_needed().empty());
  c.submit(pod_of("p1"), 0);
  c.submit(pod_of("p2"), 0);
  c.submit(pod_of("p3"), 0);
  auto provision = c.provisioning_needed();
  CHECK(provision == std::vector<std::string>{"a100", "a100"});  // up to maxCount 3
  CHECK(c.provisioning_needed().empty());                        // already on their way
  auto placed = c.node_ready("a100", 60 * s);
  REQUIRE(placed.size() == 1);
  CHECK(placed[0].pod == "team-a/p1");  // first come, first served
  CHECK(c.node_ready("a100", 60 * s).size() == 1);
  CHECK(c.phase("team-a/p3") == pod_phase::pending);
  CHECK(c.snapshot(60 * s).nodes.size() == 3);
}

TEST_CASE("cluster: with no NodePool every pod gets a node at once (elastic)") {
  cluster c({}, 0);
  for (int i = 0; i < 5; ++i)
    CHECK(c.submit(pod_of("p" + std::to_string(i), 2), 0));
  CHECK(c.snapshot(0).nodes.size() == 5);
  c.remove("team-a/p0", 0);
  CHECK(c.snapshot(0).nodes.size() == 4);
}

TEST_CASE_METHOD(mocker_fixture, "a pod goes Loading, Ready after its load time, and drains") {
  auto m = start({pool("a100", 1, 0, seconds(60), 1)});
  caf::anon_send(m, pod_of("p0"));
  run();
  CHECK(last_phase("team-a/p0") == pod_phase::loading);
  CHECK(launcher->launches == std::vector<std::string>{"team-a/p0"});
  advance_time(seconds(19));
  CHECK(last_phase("team-a/p0") == pod_phase::loading);
  CHECK_FALSE(launcher->records["team-a/p0"]->ready);
  advance_time(seconds(1));
  CHECK(last_phase("team-a/p0") == pod_phase::ready);
  CHECK(launcher->records["team-a/p0"]->ready);
  caf::anon_send(m, delete_pod{"team-a/p0", "scaled down"});
  run();
  std::vector<pod_phase> phases;
  for (const auto& e : events)
    phases.push_back(static_cast<pod_phase>(e.phase));
  CHECK(phases == std::vector<pod_phase>{pod_phase::loading, pod_phase::ready, pod_phase::draining,
                                         pod_phase::gone});
  CHECK(launcher->records["team-a/p0"]->drained);
  CHECK(launcher->records["team-a/p0"]->terminated);
}

TEST_CASE_METHOD(mocker_fixture, "pods are Pending when GPUs run out, Ready once one is freed") {
  auto m = start({pool("a100", 1, 0, seconds(60), 1)});
  caf::anon_send(m, pod_of("p0"));
  caf::anon_send(m, pod_of("p1"));
  run();
  CHECK(last_phase("team-a/p1") == pod_phase::pending);
  CHECK(last_reason("team-a/p1") == "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.");
  advance_time(seconds(20));
  CHECK(last_phase("team-a/p0") == pod_phase::ready);
  caf::anon_send(m, delete_pod{"team-a/p0", "scaled down"});
  run();
  // p1 lands on the freed node, whose cache holds the model: warm load, 4 s.
  CHECK(last_phase("team-a/p1") == pod_phase::loading);
  advance_time(seconds(4));
  CHECK(last_phase("team-a/p1") == pod_phase::ready);
  auto snap = request<cluster_snapshot>(m, cluster_query{});
  REQUIRE(snap);
  CHECK(snap->pods.size() == 1);
  CHECK(snap->pods[0].warm_start);
}

TEST_CASE_METHOD(mocker_fixture, "a pod waits for a provisioned node, then loads cold there") {
  auto m = start({pool("a100", 0, 2, seconds(60), 1)});
  caf::anon_send(m, pod_of("p0"));
  run();
  CHECK(last_phase("team-a/p0") == pod_phase::pending);
  advance_time(seconds(59));
  CHECK(last_phase("team-a/p0") == pod_phase::pending);
  advance_time(seconds(1));  // the node is up
  CHECK(last_phase("team-a/p0") == pod_phase::loading);
  advance_time(seconds(20));
  CHECK(last_phase("team-a/p0") == pod_phase::ready);
}

TEST_CASE_METHOD(mocker_fixture,
                 "adopted pods are Ready at once, a pod that cannot start is Gone") {
  auto m = start({});
  auto t = pod_of("p0");
  t.adopted = true;
  caf::anon_send(m, t);
  run();
  CHECK(last_phase("team-a/p0") == pod_phase::ready);
  launcher->fail_next = true;
  caf::anon_send(m, pod_of("p1"));
  run();
  CHECK(last_phase("team-a/p1") == pod_phase::gone);
  CHECK(last_reason("team-a/p1").find("image pull failed") != std::string::npos);
}

TEST_CASE(
    "cluster: a lost node takes its pods, is gone once they are, and its name is not reused") {
  cluster c({pool("a100", 2, 3, seconds(60), 2)}, 0);  // 2 nodes x 2 GPUs, at most 3
  c.submit(pod_of("p0", 2), 0);                        // a100-0
  c.submit(pod_of("p1", 1), 0);                        // a100-1
  c.submit(pod_of("p2", 1), 0);                        // a100-1
  CHECK_FALSE(c.lose_node("a100-9"));
  auto pods = c.lose_node("a100-1");
  REQUIRE(pods);
  CHECK(*pods == std::vector<std::string>{"team-a/p1", "team-a/p2"});
  // A pod waiting now does not go to the lost node, though its GPUs are being freed.
  CHECK_FALSE(c.submit(pod_of("p3", 1), 0));
  CHECK(c.remove("team-a/p1", s).empty());
  CHECK(c.snapshot(s).nodes.size() == 2);  // still there, NotReady, while p2 is on it
  CHECK_FALSE(c.snapshot(s).nodes[1].ready);
  CHECK(c.remove("team-a/p2", s).empty());
  auto snap = c.snapshot(s);
  REQUIRE(snap.nodes.size() == 1);
  CHECK(snap.nodes[0].name == "a100-0");
  // The pool may provision again (p3 waits): the new node gets a new name.
  CHECK(c.provisioning_needed() == std::vector<std::string>{"a100"});
  auto placed = c.node_ready("a100", 60 * s);
  REQUIRE(placed.size() == 1);
  CHECK(placed[0].node == "a100-2");
  // A node without pods is gone at once.
  cluster empty({pool("a100", 1, 0, seconds(60), 1)}, 0);
  CHECK(empty.lose_node("a100-0") == std::vector<std::string>{});
  CHECK(empty.snapshot(0).nodes.empty());
}

TEST_CASE_METHOD(mocker_fixture, "a lost node's pods are Gone at once, without a drain") {
  auto m = start({pool("a100", 2, 0, seconds(60), 1)});
  caf::anon_send(m, pod_of("p0"));
  caf::anon_send(m, pod_of("p1"));
  run();
  advance_time(seconds(20));
  REQUIRE(last_phase("team-a/p0") == pod_phase::ready);
  REQUIRE(last_phase("team-a/p1") == pod_phase::ready);
  REQUIRE(launcher->records["team-a/p1"]->node == "a100-1");
  caf::anon_send(m, lose_node{"a100-1", "fault"});
  run();
  CHECK(last_phase("team-a/p1") == pod_phase::gone);
  CHECK(last_reason("team-a/p1") == "node a100-1 lost: fault");
  CHECK_FALSE(launcher->records["team-a/p1"]->drained);
  CHECK(launcher->records["team-a/p1"]->terminated);
  CHECK(last_phase("team-a/p0") == pod_phase::ready);
  auto snap = request<cluster_snapshot>(m, cluster_query{});
  REQUIRE(snap);
  REQUIRE(snap->nodes.size() == 1);
  CHECK(snap->nodes[0].name == "a100-0");
  // A replacement finds no room (no pool growth): Pending.
  caf::anon_send(m, pod_of("p2"));
  run();
  CHECK(last_phase("team-a/p2") == pod_phase::pending);
}
