// The console's snapshot (ui/console_snapshot.hpp): against a stack_process running its control
// plane on CAF's threads (every pod, pool, route and set present, the counts right, the pods'
// figures read from their metrics), the replicas' history and its decisions, and the tables of
// `inferstack top`.
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <set>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <caf/actor_system.hpp>

#include "nodes/stack_process.hpp"
#include "protocol/registration.hpp"
#include "runtime/actor_system_setup.hpp"
#include "runtime/local_transport.hpp"
#include "ui/console_snapshot.hpp"
#include "ui/top_table.hpp"

using namespace inferstack;
using json = nlohmann::json;

namespace {

// Two namespaces: team-a routes one model 80/20 to two pools (sets of 2 and 1 pods), team-b
// one model to a pool of 2; one node pool with room for all five.
const char* stack_yaml = R"(apiVersion: inferstack.io/v1alpha1
kind: NodePool
metadata: {name: a100}
spec: {instanceType: Standard_NC24ads_A100_v4, count: 6}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {name: tiny}
spec:
  gpus: 1
  loadTime: 20s
  engine: {time-to-first-token: "10ms", inter-token-latency: "1ms", block-size: "16"}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {name: main, namespace: team-a}
spec:
  replicas: 2
  labelSelector: {matchLabels: {app: main}}
  template:
    metadata: {labels: {app: main}}
    resource: {instanceType: Standard_NC24ads_A100_v4}
    inference: {preset: {name: tiny}}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {name: canary, namespace: team-a}
spec:
  replicas: 1
  labelSelector: {matchLabels: {app: canary}}
  template:
    metadata: {labels: {app: canary}}
    resource: {instanceType: Standard_NC24ads_A100_v4}
    inference: {preset: {name: tiny}}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {name: other, namespace: team-b}
spec:
  replicas: 2
  labelSelector: {matchLabels: {app: other}}
  template:
    metadata: {labels: {app: other}}
    resource: {instanceType: Standard_NC24ads_A100_v4}
    inference: {preset: {name: tiny}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: main, namespace: team-a}
spec: {selector: {matchLabels: {app: main}}, targetPorts: [{number: 8000}], endpointPickerRef: {name: main-epp}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: canary, namespace: team-a}
spec: {selector: {matchLabels: {app: canary}}, targetPorts: [{number: 8000}], endpointPickerRef: {name: canary-epp}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: other, namespace: team-b}
spec: {selector: {matchLabels: {app: other}}, targetPorts: [{number: 8000}], endpointPickerRef: {name: other-epp}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: tiny-route, namespace: team-a}
spec:
  rules:
  - matches: [{headers: [{name: X-Gateway-Model-Name, value: tiny-model}]}]
    backendRefs: [{name: main, weight: 80}, {name: canary, weight: 20}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: other-route, namespace: team-b}
spec:
  rules:
  - matches: [{headers: [{name: X-Gateway-Model-Name, value: other-model}]}]
    backendRefs: [{name: other}]
)";

config::stack_config load_stack() {
  config::load_result loaded;
  config::load_text(stack_yaml, "stack.yaml", loaded);
  for (const auto& p : loaded.problems)
    FAIL(p.message);
  return loaded.config;
}

json find_named(const json& list, const std::string& name) {
  for (const auto& x : list)
    if (x.value("name", "") == name) return x;
  return json();
}

actors::controller::set_status status(int32_t desired, int32_t ready, uint64_t version,
                                      int64_t last_scale_ns, std::string reason = "") {
  actors::controller::set_status s;
  s.ns = "team-a";
  s.set = "main";
  s.desired = desired;
  s.current = desired;
  s.ready = ready;
  s.version = version;
  s.last_scale_ns = last_scale_ns;
  s.last_scale_reason = std::move(reason);
  return s;
}

}  // namespace

TEST_CASE(
    "the console's snapshot of a running stack lists every namespace, route, pool, pod, "
    "node and set") {
  runtime::system_config cfg{protocol::register_messages};
  caf::actor_system system{cfg};
  runtime::local_transport transport{"test"};
  nodes::stack_options options;
  options.roles.gateway = false;  // the control plane and the pickers: no listener needed
  options.profiles_dir = INFERSTACK_SOURCE_DIR "/config/profiles";
  options.generate_key = [] { return std::string("sk-test"); };
  auto registry = std::make_shared<prometheus::Registry>();
  nodes::stack_process stack{
      system, transport, load_stack(), options, std::make_shared<spdlog::logger>("test"), registry};
  stack.start();
  REQUIRE(stack.console() != nullptr);

  std::promise<json> answered;
  stack.console()->gather([&answered](json j) { answered.set_value(std::move(j)); });
  auto future = answered.get_future();
  REQUIRE(future.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  auto s = future.get();

  CHECK(s["errors"].empty());
  // Five pods, all Ready, each on a node, each in its set's pool, each with its figures.
  REQUIRE(s["pods"].size() == 5);
  std::set<std::string> names;
  for (const auto& p : s["pods"]) {
    names.insert(p["name"].get<std::string>());
    CHECK(p["phase"] == "Ready");
    CHECK_FALSE(p["node"].get<std::string>().empty());
    CHECK(p["pool"] == p["inferenceset"]);
    CHECK(p["waiting"] == 0);
    CHECK(p["running"] == 0);
    CHECK(p.contains("kv_usage"));
    CHECK(p["hit_rate"].is_null());  // no prompt yet
  }
  CHECK(names == std::set<std::string>{"team-a/main-0", "team-a/main-1", "team-a/canary-0",
                                       "team-b/other-0", "team-b/other-1"});

  REQUIRE(s["namespaces"].size() == 2);
  auto a = find_named(s["namespaces"], "team-a");
  REQUIRE(a["routes"].size() == 1);
  CHECK(a["routes"][0]["models"] == json::array({"tiny-model"}));
  CHECK(a["routes"][0]["backends"] ==
        json::parse(R"([{"pool":"main","weight":80},{"pool":"canary","weight":20}])"));
  REQUIRE(a["pools"].size() == 2);
  auto main_pool = find_named(a["pools"], "main");
  CHECK(main_pool["inferencesets"] == json::array({"main"}));
  CHECK(main_pool["pods"] == json::array({"team-a/main-0", "team-a/main-1"}));
  CHECK(find_named(a["pools"], "canary")["pods"] == json::array({"team-a/canary-0"}));
  auto b = find_named(s["namespaces"], "team-b");
  CHECK(find_named(b["pools"], "other")["pods"].size() == 2);

  // Six nodes, five GPUs taken.
  REQUIRE(s["nodes"].size() == 6);
  int allocated = 0;
  for (const auto& n : s["nodes"])
    allocated += n["gpus_allocated"].get<int>();
  CHECK(allocated == 5);

  // Each set with its replicas and the line of its history (its status at start).
  REQUIRE(s["inferencesets"].size() == 3);
  for (const auto& set : s["inferencesets"]) {
    CHECK(set["ready"] == set["desired"]);
    CHECK(set["pool"] == set["name"]);
    CHECK(set["history"].size() >= 1);
  }
  CHECK(s["decisions"].empty());

  // The terminal's tables name every pod.
  auto table = ui::top_table(s);
  for (const auto& n : names)
    CHECK(table.find(n.substr(n.find('/') + 1)) != std::string::npos);
  CHECK(table.find("WAITING") != std::string::npos);

  stack.stop(std::chrono::seconds(0));
}

TEST_CASE("a pod's figures are its vllm metrics summed over their label sets") {
  prometheus::Registry registry;
  auto& waiting = prometheus::BuildGauge().Name("vllm:num_requests_waiting").Register(registry);
  waiting.Add({{"model_name", "a"}}).Set(3);
  waiting.Add({{"model_name", "b"}}).Set(4);
  prometheus::BuildGauge()
      .Name("vllm:num_requests_running")
      .Register(registry)
      .Add({{"model_name", "a"}})
      .Set(2);
  prometheus::BuildGauge()
      .Name("vllm:kv_cache_usage_perc")
      .Register(registry)
      .Add({{"model_name", "a"}})
      .Set(0.25);
  prometheus::BuildCounter()
      .Name("vllm:prefix_cache_queries_total")
      .Register(registry)
      .Add({{"model_name", "a"}})
      .Increment(200);
  prometheus::BuildCounter()
      .Name("vllm:prefix_cache_hits_total")
      .Register(registry)
      .Add({{"model_name", "a"}})
      .Increment(150);
  auto f = ui::figures_from_registry(registry);
  CHECK(f.waiting == 7);
  CHECK(f.running == 2);
  CHECK(f.kv_usage == 0.25);
  CHECK(f.prefix_queries == 200);
  CHECK(f.prefix_hits == 150);

  ui::snapshot_inputs in;
  actors::node_mocker::pod_info pod;
  pod.name = "ns/p-0";
  pod.phase = 3;
  in.cluster.pods.push_back(pod);
  in.figures = [&](const std::string&) { return std::optional<ui::pod_figures>(f); };
  auto s = ui::build_snapshot(in, 0);
  CHECK(s["pods"][0]["hit_rate"] == 0.75);
  CHECK(s["pods"][0]["waiting"] == 7);
  in.figures = [](const std::string&) { return std::optional<ui::pod_figures>(); };
  s = ui::build_snapshot(in, 0);
  CHECK_FALSE(s["pods"][0].contains("waiting"));  // unknown, not zero
  CHECK(ui::top_table(s).find("-") != std::string::npos);
}

TEST_CASE("the replicas' history keeps status changes for the window and spots the decisions") {
  ui::set_history history{60'000};
  history.record(status(2, 2, 1, 0), 1'000);
  // A status older than the last one seen (a late delivery) is ignored.
  history.record(status(2, 1, 1, 0), 1'500);
  history.record(status(4, 2, 2, 5'000'000'000, "value 45 vs target 10"), 2'000);
  history.record(status(4, 4, 3, 5'000'000'000, "value 45 vs target 10"), 9'000);

  auto samples = history.samples(9'000).at("team-a/main");
  REQUIRE(samples.size() == 3);
  CHECK(samples[0].ready == 2);
  CHECK(samples[1].desired == 4);
  CHECK(samples[2].ready == 4);
  auto decisions = history.decisions(9'000);
  REQUIRE(decisions.size() == 1);  // readiness changes are no decision
  CHECK(decisions[0].from == 2);
  CHECK(decisions[0].to == 4);
  CHECK(decisions[0].reason == "value 45 vs target 10");

  // Past the window: the decision goes, the samples but the last one before the window too.
  history.record(status(2, 2, 4, 70'000'000'000, "below target"), 70'000);
  decisions = history.decisions(70'000);
  REQUIRE(decisions.size() == 1);
  CHECK(decisions[0].to == 2);
  samples = history.samples(70'000).at("team-a/main");
  REQUIRE(samples.size() == 2);
  CHECK(samples[0].at_ms == 9'000);
  CHECK(samples[1].at_ms == 70'000);
}

TEST_CASE("a set's first status seen is no decision, even with a scale from before") {
  ui::set_history history;
  history.record(status(3, 3, 7, 1'000'000'000, "set by an operator"), 5'000);
  CHECK(history.decisions(5'000).empty());
  history.record(status(5, 3, 8, 4'000'000'000, "set by an operator"), 6'000);
  CHECK(history.decisions(6'000).size() == 1);
}
