// The faults of `inferstack simulate` on a whole stack_process in virtual time: a killed pod and
// a lost node's pod are replaced, a cut KV-event link loses the events in between, a frozen pod
// answers nothing until unfrozen, set_replicas scales the set, and unknown targets are reported.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <set>
#include <string>

#include <prometheus/registry.h>
#include <spdlog/logger.h>

#include "actors/node_mocker/node_mocker_protocol.hpp"
#include "actors/pod/pod_protocol.hpp"
#include "nodes/simulate_faults.hpp"
#include "nodes/stack_process.hpp"
#include "runtime/local_transport.hpp"
#include "tests/support/caf_fixture.hpp"

using namespace inferstack;
using namespace std::chrono_literals;
using kind = simulate::fault::kind;

namespace {

// Three 1-GPU nodes, a set of two pods (llama-0 on a100-0, llama-1 on a100-1), one spare node.
const char* stack_yaml = R"(apiVersion: inferstack.io/v1alpha1
kind: NodePool
metadata: {name: a100}
spec: {instanceType: Standard_NC24ads_A100_v4, count: 3}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {name: tiny}
spec:
  gpus: 1
  loadTime: 20s
  warmLoadTime: 4s
  engine: {time-to-first-token: "1s", inter-token-latency: "1s", block-size: "16"}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {name: llama, namespace: team-a}
spec:
  replicas: 2
  labelSelector: {matchLabels: {app: llama}}
  template:
    metadata: {labels: {app: llama}}
    resource: {instanceType: Standard_NC24ads_A100_v4}
    inference: {preset: {name: tiny}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: llama, namespace: team-a}
spec: {selector: {matchLabels: {app: llama}}, targetPorts: [{number: 8000}], endpointPickerRef: {name: llama-epp}}
)";

struct stack_fixture : testing::caf_fixture {
  runtime::local_transport transport{"test"};
  std::unique_ptr<nodes::stack_process> stack;
  std::unique_ptr<nodes::stack_faults> faults;

  stack_fixture() {
    config::load_result loaded;
    config::load_text(stack_yaml, "stack.yaml", loaded);
    for (const auto& p : loaded.problems)
      FAIL(p.message);
    nodes::stack_options options;
    options.profiles_dir = INFERSTACK_SOURCE_DIR "/config/profiles";
    options.virtual_time = true;
    options.unix_seconds = [] { return int64_t{1767225600}; };
    options.generate_key = [] { return std::string("sk-test"); };
    auto log = std::make_shared<spdlog::logger>("test");
    stack = std::make_unique<nodes::stack_process>(sys, transport, loaded.config, options, log,
                                                   std::make_shared<prometheus::Registry>());
    stack->start();
    advance_time(5s);
    faults = std::make_unique<nodes::stack_faults>(sys, *stack, log);
  }

  ~stack_fixture() {
    stack->stop(0s);
    run();
  }

  std::set<std::string> pods() {
    std::set<std::string> out;
    for (const auto& p : stack->pods())
      out.insert(p.name);
    return out;
  }

  actors::node_mocker::cluster_snapshot cluster() {
    auto snap = request<actors::node_mocker::cluster_snapshot>(
        stack->node_mocker(), actors::node_mocker::cluster_query{});
    REQUIRE(snap);
    return *snap;
  }

  std::string node_of(const std::string& pod) {
    for (const auto& p : cluster().pods)
      if (p.name == pod) return p.node;
    return "";
  }

  caf::actor pod_actor(const std::string& name) {
    for (const auto& p : stack->pods())
      if (p.name == name) return caf::actor_cast<caf::actor>(p.actor);
    FAIL("no pod " << name);
    return {};
  }

  simulate::fault fault_of(kind action, std::string target, int32_t replicas = 0) {
    simulate::fault f;
    f.at = std::chrono::duration_cast<std::chrono::nanoseconds>(now().time_since_epoch());
    f.action = action;
    f.target = std::move(target);
    f.replicas = replicas;
    return f;
  }

  actors::pod::generate_request request_of(const std::string& id) {
    actors::pod::generate_request r;
    r.request_id = id;
    r.model = "tiny";
    r.prompts = {std::vector<uint32_t>(64, 7)};  // four full blocks: KV events
    r.max_tokens = 2;
    r.ignore_eos = true;
    return r;
  }
};

}  // namespace

TEST_CASE_METHOD(stack_fixture, "a killed pod is replaced by the controller") {
  REQUIRE(pods() == std::set<std::string>{"team-a/llama-0", "team-a/llama-1"});
  CHECK(faults->apply(fault_of(kind::kill_pod, "team-a/llama-0")) == "");
  advance_time(1s);
  CHECK(pods() == std::set<std::string>{"team-a/llama-1", "team-a/llama-2"});
}

TEST_CASE_METHOD(stack_fixture, "a lost node takes its pod, which comes back on the spare node") {
  auto node = node_of("team-a/llama-1");
  REQUIRE(!node.empty());
  CHECK(faults->apply(fault_of(kind::lose_node, node)) == "");
  advance_time(1s);
  CHECK(pods() == std::set<std::string>{"team-a/llama-0", "team-a/llama-2"});
  auto snap = cluster();
  CHECK(snap.nodes.size() == 2);
  CHECK(std::none_of(snap.nodes.begin(), snap.nodes.end(),
                     [&](const auto& n) { return n.name == node; }));
  CHECK(node_of("team-a/llama-2") != node);
}

TEST_CASE_METHOD(stack_fixture, "a cut KV-event link loses the events until it is restored") {
  auto log = std::make_shared<testing::message_log>();
  auto recorder = testing::spawn_recorder(sys, log);
  transport.subscribe("", "kv@llama-0.team-a@", recorder);
  auto pod = pod_actor("team-a/llama-0");
  auto kv_events = [&] { return log->all<actors::pod::kv_event_message>(); };

  CHECK(faults->apply(fault_of(kind::cut_kv_events, "team-a/llama-0")) == "");
  self->send(pod, request_of("r1"));
  advance_time(10s);
  CHECK(kv_events().empty());  // stored blocks, never heard of

  CHECK(faults->apply(fault_of(kind::restore_kv_events, "team-a/llama-0")) == "");
  auto r2 = request_of("r2");
  r2.prompts = {std::vector<uint32_t>(64, 9)};
  self->send(pod, r2);
  advance_time(10s);
  auto heard = kv_events();
  REQUIRE(!heard.empty());
  CHECK(heard.front().seq > 0);  // the lost batches left a gap in the sequence numbers
}

TEST_CASE_METHOD(stack_fixture, "a frozen pod answers nothing until it is unfrozen") {
  auto pod = pod_actor("team-a/llama-0");
  CHECK(faults->apply(fault_of(kind::freeze_pod, "team-a/llama-0")) == "");
  run();
  self->send(pod, request_of("r1"));
  advance_time(30s);
  auto take = [&] {
    std::optional<actors::pod::generate_result> out;
    self->receive([&](actors::pod::generate_result& r) { out = r; },
                  [&](caf::error& e) { FAIL(sys.render(e)); }, caf::after(0s) >> [] {});
    return out;
  };
  CHECK_FALSE(take());
  CHECK(faults->apply(fault_of(kind::unfreeze_pod, "team-a/llama-0")) == "");
  advance_time(10s);
  auto result = take();
  REQUIRE(result);
  CHECK(result->completion_tokens == 2);  // the request waited in the pod's mailbox
}

TEST_CASE_METHOD(stack_fixture, "set_replicas scales the InferenceSet") {
  CHECK(faults->apply(fault_of(kind::set_replicas, "team-a/llama", 3)) == "");
  advance_time(1s);
  CHECK(pods().size() == 3);
  CHECK(faults->apply(fault_of(kind::set_replicas, "team-a/llama", 1)) == "");
  advance_time(60s);
  CHECK(pods().size() == 1);
}

TEST_CASE_METHOD(stack_fixture, "faults on unknown targets are reported, not applied") {
  CHECK(faults->apply(fault_of(kind::kill_pod, "team-a/llama-7")) ==
        "kill_pod: no pod team-a/llama-7 is running");
  CHECK(faults->apply(fault_of(kind::freeze_pod, "team-b/x-0")) ==
        "freeze_pod: no pod team-b/x-0 is running");
  CHECK(faults->apply(fault_of(kind::cut_kv_events, "team-b/x-0")) ==
        "cut_kv_events: no pod team-b/x-0 is running");
  CHECK(faults->apply(fault_of(kind::lose_node, "h100-0")) ==
        "lose_node: h100-0 is no node of the NodePools");
  CHECK(faults->apply(fault_of(kind::set_replicas, "team-a/qwen", 2)) ==
        "set_replicas: no InferenceSet team-a/qwen");
  advance_time(1s);
  CHECK(pods().size() == 2);
}
