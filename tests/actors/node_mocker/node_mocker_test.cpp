// The node mocker in virtual time: placement by free GPUs, Pending with a reason, the GPU
// provisioner adding nodes after its delay, model load times (warm caches are faster), and the
// whole pod lifecycle Pending -> Loading -> Ready -> Draining -> Gone.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

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

namespace {

// A replica of a model that needs two 8-GPU nodes: a leader and one worker, 8 GPUs each.
nm::pod_template group_of(const std::string& name, const std::string& model = "big") {
  auto t = pod_of(name, 8, model);
  t.instance_type = "Standard_ND96isr_H100_v5";
  t.group_size = 2;
  return t;
}

nm::pod_template h100_pod(const std::string& name, const std::string& model) {
  auto t = pod_of(name, 8, model);
  t.instance_type = "Standard_ND96isr_H100_v5";
  return t;
}

config::node_pool h100(int count) {
  return pool("h100", count, 0, seconds(60), 0, "Standard_ND96isr_H100_v5");
}

}  // namespace

TEST_CASE_METHOD(mocker_fixture, "a group of 2 x 8 GPUs is placed only when both nodes are free") {
  auto m = start({h100(2)});
  caf::anon_send(m, h100_pod("p0", "small"));  // h100-0
  caf::anon_send(m, h100_pod("p1", "big"));    // h100-1: its cache gets the group's model
  run();
  advance_time(seconds(20));
  caf::anon_send(m, group_of("g0"));
  run();
  CHECK(last_phase("team-a/g0") == pod_phase::pending);
  CHECK(last_reason("team-a/g0") ==
        "0/2 nodes are available: 2 Insufficient nvidia.com/gpu. Gang of 2 pods (8 "
        "nvidia.com/gpu each, one node each): placed all or nothing.");
  // One node frees up: still nothing placed, no GPU held (all or nothing).
  caf::anon_send(m, delete_pod{"team-a/p0", "scaled down"});
  run();
  CHECK(last_phase("team-a/g0") == pod_phase::pending);
  auto snap = request<cluster_snapshot>(m, cluster_query{});
  REQUIRE(snap);
  REQUIRE(snap->pods.size() == 2);
  CHECK(snap->pods[0].name == "team-a/g0");
  CHECK(snap->pods[0].reason.rfind("1/2 nodes are available: 1 Insufficient", 0) == 0);
  CHECK(snap->nodes[0].gpus_allocated == 0);
  CHECK(snap->nodes[1].gpus_allocated == 8);
  CHECK(std::count(launcher->launches.begin(), launcher->launches.end(), "team-a/g0") == 0);
  // Both free: the leader takes the node whose cache holds the model (4 s), the worker the
  // other (20 s); only the leader runs an engine.
  caf::anon_send(m, delete_pod{"team-a/p1", "scaled down"});
  run();
  CHECK(last_phase("team-a/g0") == pod_phase::loading);
  CHECK(last_phase("team-a/g0-1") == pod_phase::loading);
  CHECK(launcher->records["team-a/g0"]->node == "h100-1");
  CHECK(launcher->records.count("team-a/g0-1") == 0);
  snap = request<cluster_snapshot>(m, cluster_query{});
  REQUIRE(snap);
  CHECK(snap->nodes[0].gpus_allocated == 8);
  CHECK(snap->nodes[1].gpus_allocated == 8);
  for (const auto& p : snap->pods) {
    CHECK(p.group == "team-a/g0");
    CHECK(p.group_index == (p.name == "team-a/g0" ? 0 : 1));
  }
  // The leader has loaded, the worker has not: the group is not Ready.
  advance_time(seconds(5));
  CHECK(last_phase("team-a/g0") == pod_phase::loading);
  CHECK_FALSE(launcher->records["team-a/g0"]->ready);
  advance_time(seconds(15));
  CHECK(last_phase("team-a/g0") == pod_phase::ready);
  CHECK(last_phase("team-a/g0-1") == pod_phase::ready);
  CHECK(launcher->records["team-a/g0"]->ready);
  // Removed, the group goes whole.
  caf::anon_send(m, delete_pod{"team-a/g0", "scaled down"});
  run();
  CHECK(last_phase("team-a/g0") == pod_phase::gone);
  CHECK(last_phase("team-a/g0-1") == pod_phase::gone);
  snap = request<cluster_snapshot>(m, cluster_query{});
  REQUIRE(snap);
  CHECK(snap->pods.empty());
  CHECK(snap->nodes[0].gpus_allocated + snap->nodes[1].gpus_allocated == 0);
}

TEST_CASE_METHOD(mocker_fixture, "one member lost: the whole group is recreated, same names") {
  auto m = start({h100(3)});
  caf::anon_send(m, group_of("g0"));
  run();
  advance_time(seconds(20));
  REQUIRE(last_phase("team-a/g0") == pod_phase::ready);
  auto first = launcher->records["team-a/g0"];
  REQUIRE(first->node == "h100-0");
  events.clear();
  // The worker's node fails: the leader's engine stops too, and the group starts over on the
  // two nodes left (h100-0 warm for the leader, h100-2 cold for the worker).
  caf::anon_send(m, lose_node{"h100-1", "hardware"});
  run();
  std::vector<std::pair<std::string, pod_phase>> seen;
  for (const auto& e : events)
    seen.emplace_back(e.name, static_cast<pod_phase>(e.phase));
  CHECK(seen == std::vector<std::pair<std::string, pod_phase>>{{"team-a/g0-1", pod_phase::gone},
                                                               {"team-a/g0", pod_phase::pending},
                                                               {"team-a/g0-1", pod_phase::loading},
                                                               {"team-a/g0", pod_phase::loading}});
  CHECK(events[1].group_restart);
  CHECK(events[1].reason == "group recreated: node h100-1 lost: hardware");
  CHECK(first->terminated);
  CHECK_FALSE(first->drained);  // no notice: no drain
  advance_time(seconds(19));    // the worker's node is cold: 20 s
  CHECK(last_phase("team-a/g0") == pod_phase::loading);
  advance_time(seconds(1));
  CHECK(last_phase("team-a/g0") == pod_phase::ready);
  CHECK(std::count(launcher->launches.begin(), launcher->launches.end(), "team-a/g0") == 2);
  auto snap = request<cluster_snapshot>(m, cluster_query{});
  REQUIRE(snap);
  REQUIRE(snap->nodes.size() == 2);
  for (const auto& p : snap->pods)
    CHECK(p.restarts == 1);
}

TEST_CASE_METHOD(mocker_fixture, "a group with no room left after a member's loss waits whole") {
  auto m = start({h100(2)});
  caf::anon_send(m, group_of("g0"));
  run();
  advance_time(seconds(20));
  caf::anon_send(m, lose_node{"h100-0", "hardware"});
  run();
  CHECK(last_phase("team-a/g0") == pod_phase::pending);
  CHECK(last_phase("team-a/g0-1") == pod_phase::gone);
  CHECK(last_reason("team-a/g0") == "group recreated: node h100-0 lost: hardware");
  auto snap = request<cluster_snapshot>(m, cluster_query{});
  REQUIRE(snap);
  REQUIRE(snap->nodes.size() == 1);
  CHECK(snap->nodes[0].gpus_allocated == 0);  // the survivor holds nothing for the group
  REQUIRE(snap->pods.size() == 1);
  CHECK(snap->pods[0].reason.find("Gang of 2 pods") != std::string::npos);
}

TEST_CASE("cluster: a group's leader and workers go to nodes that fit their own templates") {
  // One 8-GPU H100 node and two 4-GPU A100 nodes; a 4-GPU pod holds one A100 node first.
  cluster c({pool("h100", 1, 0, seconds(60), 0, "Standard_ND96isr_H100_v5"),
             pool("a100", 2, 0, seconds(60), 4, "Standard_NC96ads_A100_v4")},
            0);
  auto other = pod_of("p0", 4);
  other.instance_type = "Standard_NC96ads_A100_v4";
  REQUIRE(c.submit(other, 0));
  // leaderTemplate 8 GPUs on the H100 type, workerTemplate 4 GPUs on the A100 type, size 3.
  auto g = pod_of("g0", 8, "big");
  g.instance_type = "Standard_ND96isr_H100_v5";
  g.group_size = 3;
  g.worker_gpus = 4;
  g.worker_instance_type = "Standard_NC96ads_A100_v4";
  CHECK_FALSE(c.submit(g, 1 * s));  // one A100 node free for two workers: all or nothing
  CHECK(c.pending_reason("team-a/g0") ==
        "2/3 nodes are available: 1 Insufficient nvidia.com/gpu. Gang of 3 pods (a leader of 8 "
        "nvidia.com/gpu "
        "on Standard_ND96isr_H100_v5, 2 workers of 4 on Standard_NC96ads_A100_v4, one node "
        "each): placed all or nothing.");
  CHECK(c.node_of("team-a/g0").empty());
  auto placed = c.remove("team-a/p0", 2 * s);
  REQUIRE(placed.size() == 1);
  CHECK(placed[0].pod == "team-a/g0");
  CHECK(placed[0].node == "h100-0");
  REQUIRE(placed[0].workers.size() == 2);
  CHECK(placed[0].workers[0].node == "a100-0");
  CHECK(placed[0].workers[1].node == "a100-1");
  // Each member holds its own template's GPUs.
  auto snap = c.snapshot(2 * s);
  for (const auto& n : snap.nodes)
    CHECK(n.gpus_allocated == (n.name == "h100-0" ? 8 : 4));
  REQUIRE(c.spec("team-a/g0-1"));
  CHECK(c.spec("team-a/g0-1")->gpus == 4);
  CHECK(c.spec("team-a/g0-1")->instance_type == "Standard_NC96ads_A100_v4");
  // A lost worker recreates the group; it is placed again by the same templates.
  auto lost = c.lose_node("a100-1", 3 * s);
  REQUIRE(lost);
  auto again = c.restart_group("team-a/g0", "node a100-1 lost", 3 * s);
  CHECK(again.empty());  // a worker's node is gone: the group waits whole
  CHECK(c.phase("team-a/g0") == pod_phase::pending);
}

TEST_CASE_METHOD(mocker_fixture,
                 "a reclaim notice cordons the node, drains its pods, then it goes") {
  auto spot = pool("spot", 2, 0, seconds(60), 1);
  spot.capacity_type = "spot";
  auto m = start({spot});
  caf::anon_send(m, pod_of("p0"));
  run();
  advance_time(seconds(20));
  REQUIRE(launcher->records["team-a/p0"]->node == "spot-0");
  auto result = request<node_command_result>(m, node_command{"reclaim", "spot-0", 0, "capacity"});
  REQUIRE(result);
  CHECK(result->ok);
  CHECK(result->pods == std::vector<std::string>{"team-a/p0"});
  CHECK(result->at_ns == (now().time_since_epoch() + seconds(30)).count());
  CHECK(last_phase("team-a/p0") == pod_phase::gone);  // drained (the fake pod had nothing)
  CHECK(launcher->records["team-a/p0"]->drained);
  CHECK(last_reason("team-a/p0") == "node spot-0 reclaimed (30 s notice): capacity");
  auto snap = request<cluster_snapshot>(m, cluster_query{});
  REQUIRE(snap);
  REQUIRE(snap->nodes.size() == 2);
  CHECK(snap->nodes[0].unschedulable);
  CHECK(snap->nodes[0].spot);
  CHECK(snap->nodes[0].labels["karpenter.sh/capacity-type"] == "spot");
  CHECK(snap->nodes[0].reclaim_at_ns == result->at_ns);
  // New pods pass the cordoned node by.
  caf::anon_send(m, pod_of("p1"));
  caf::anon_send(m, pod_of("p2"));
  run();
  CHECK(launcher->records["team-a/p1"]->node == "spot-1");
  CHECK(last_phase("team-a/p2") == pod_phase::pending);
  CHECK(last_reason("team-a/p2") ==
        "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) were unschedulable.");
  CHECK_FALSE(request<node_command_result>(m, node_command{"reclaim", "spot-0", 0, ""})->ok);
  advance_time(seconds(29));
  CHECK(request<cluster_snapshot>(m, cluster_query{})->nodes.size() == 2);
  advance_time(seconds(1));
  snap = request<cluster_snapshot>(m, cluster_query{});
  REQUIRE(snap->nodes.size() == 1);
  CHECK(snap->nodes[0].name == "spot-1");
}

TEST_CASE_METHOD(mocker_fixture, "cordon keeps new pods off a node, uncordon lets them on") {
  auto m = start({pool("a100", 1, 0, seconds(60), 1)});
  auto cordon = request<node_command_result>(m, node_command{"cordon", "a100-0", 0, ""});
  REQUIRE(cordon);
  CHECK(cordon->ok);
  caf::anon_send(m, pod_of("p0"));
  run();
  CHECK(last_phase("team-a/p0") == pod_phase::pending);
  CHECK(last_reason("team-a/p0") == "0/1 nodes are available: 1 node(s) were unschedulable.");
  CHECK(request<node_command_result>(m, node_command{"uncordon", "a100-0", 0, ""})->ok);
  run();
  CHECK(last_phase("team-a/p0") == pod_phase::loading);
  auto bad = request<node_command_result>(m, node_command{"cordon", "a100-7", 0, ""});
  CHECK(bad->error == "no node a100-7");
  CHECK(request<node_command_result>(m, node_command{"reboot", "a100-0", 0, ""})->error ==
        "unknown action reboot (cordon, uncordon, reclaim, fail)");
  // fail: gone now, its pod with it.
  auto failed = request<node_command_result>(m, node_command{"fail", "a100-0", 0, "psu"});
  CHECK(failed->pods == std::vector<std::string>{"team-a/p0"});
  CHECK(last_phase("team-a/p0") == pod_phase::gone);
  CHECK(last_reason("team-a/p0") == "node a100-0 failed: psu");
}

TEST_CASE("random spot reclaims follow the pool's reclaimRate, the same for the same seed") {
  auto reclaim_times = [](uint64_t seed) {
    testing::caf_fixture f;
    auto launcher = std::make_shared<fake_launcher>(f.sys);
    auto spot = pool("spot", 4, 0, seconds(60), 1);
    spot.capacity_type = "spot";
    spot.reclaim_rate = 6;  // per node-hour: one every 10 minutes on average
    node_mocker_settings settings;
    settings.pools = {spot};
    settings.seed = seed;
    std::vector<std::pair<std::string, int64_t>> gone;  // node, second it went
    auto m = spawn_node_mocker(f.sys, settings, {launcher, {}, nullptr, nullptr});
    std::set<std::string> left{"spot-0", "spot-1", "spot-2", "spot-3"};
    for (int minute = 1; minute <= 120; ++minute) {
      f.advance_time(minutes(1));
      auto snap = f.request<cluster_snapshot>(m, cluster_query{});
      REQUIRE(snap);
      for (auto it = left.begin(); it != left.end();) {
        bool there = std::any_of(snap->nodes.begin(), snap->nodes.end(),
                                 [&](const node_info& n) { return n.name == *it; });
        if (!there) {
          gone.emplace_back(*it, minute);
          it = left.erase(it);
        } else {
          ++it;
        }
      }
    }
    return gone;
  };
  auto first = reclaim_times(7);
  CHECK(first.size() == 4);  // each node reclaimed once within 2 h (P(not) = e^-12 each)
  CHECK(reclaim_times(7) == first);
  CHECK(reclaim_times(8) != first);
}

TEST_CASE("cluster: node-hours, GPU-hours and cost by NodePool, GPU-hours by InferenceSet") {
  auto spot = pool("spot", 2, 0, seconds(60), 0, "Standard_ND96isr_H100_v5");
  spot.capacity_type = "spot";
  spot.price_per_hour = 30;
  auto od = pool("od", 1, 0, seconds(60), 0, "Standard_ND96isr_H100_v5");
  od.price_per_hour = 98;
  cluster c({spot, od}, 0);
  constexpr int64_t hour = 3600 * s;
  // A group of 2 x 8 GPUs from hour 1 to hour 3: 32 GPU-hours, both members counted.
  auto g = pod_of("g0", 8);
  g.instance_type = "Standard_ND96isr_H100_v5";
  g.group_size = 2;
  REQUIRE(c.submit(g, hour));
  c.remove("team-a/g0", 3 * hour);
  // spot-1 is lost at hour 3.5 (empty: gone at once).
  c.lose_node("spot-1", 3 * hour + hour / 2);
  auto snap = c.snapshot(4 * hour);
  CHECK(snap.set_gpu_hours["team-a/llama"] == Approx(32));
  CHECK(snap.pool_node_hours["spot"] == Approx(4 + 3.5));  // spot-0 all along, spot-1 3.5 h
  CHECK(snap.pool_gpu_hours["spot"] == Approx(60));
  CHECK(snap.pool_cost["spot"] == Approx(225));
  CHECK(snap.pool_node_hours["od"] == Approx(4));
  CHECK(snap.pool_cost["od"] == Approx(392));
}
