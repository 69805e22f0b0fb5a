#include <catch2/catch.hpp>

#include <filesystem>

#include <yaml-cpp/yaml.h>

#include "runtime/config/manifests.hpp"

using namespace inferstack::config;

namespace {

load_result load(const std::string& text) {
  load_result r;
  load_text(text, "test.yaml", r);
  validate_references(r.config, r.problems);
  return r;
}

std::string all_problems(const load_result& r) {
  std::string out;
  for (const auto& p : r.problems)
    out += p.to_string() + "\n";
  return out;
}

const char* valid_stack = R"(
apiVersion: inferstack.io/v1alpha1
kind: InferenceGateway
metadata: {name: gateway}
spec:
  listen: 127.0.0.1:8080
  defaultNamespace: team-a
---
apiVersion: kaito.sh/v1alpha1
kind: APIKey
metadata: {name: key, namespace: team-a}
spec: {}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata:
  name: llama
  namespace: team-a
  annotations:
    scaledobject.kaito.sh/auto-provision: "true"
    scaledobject.kaito.sh/max-replicas: "5"
spec:
  replicas: 2
  labelSelector:
    matchLabels: {app: llama}
  template:
    metadata:
      labels: {app: llama}
    resource:
      instanceType: Standard_NC24ads_A100_v4
    inference:
      preset:
        name: llama-3.1-8b-instruct
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: llama, namespace: team-a}
spec:
  selector:
    matchLabels: {app: llama}
  targetPorts: [{number: 8000}]
  endpointPickerRef:
    name: llama-epp
    port: {number: 9002}
    failureMode: FailOpen
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: llama, namespace: team-a}
spec:
  parentRefs: [{name: gateway}]
  rules:
  - matches:
    - headers:
      - type: Exact
        name: X-Gateway-Model-Name
        value: llama-3.1-8b-instruct
    backendRefs:
    - group: inference.networking.k8s.io
      kind: InferencePool
      name: llama
      weight: 90
---
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
featureGates: [flowControl]
plugins:
- type: queue-scorer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: queue-scorer
    weight: 2
  - pluginRef: max-score-picker
)";

}  // namespace

TEST_CASE("a valid stack loads with every field in place") {
  auto r = load(valid_stack);
  INFO(all_problems(r));
  REQUIRE(r.ok());
  REQUIRE(r.config.gateway);
  CHECK(r.config.gateway->default_namespace == "team-a");
  REQUIRE(r.config.inference_sets.size() == 1);
  const auto& set = r.config.inference_sets[0];
  CHECK(set.replicas == 2);
  CHECK(set.preset == "llama-3.1-8b-instruct");
  CHECK(set.instance_type == "Standard_NC24ads_A100_v4");
  CHECK(set.meta.annotations.at("scaledobject.kaito.sh/max-replicas") == "5");
  REQUIRE(r.config.inference_pools.size() == 1);
  CHECK(r.config.inference_pools[0].failure_mode == "FailOpen");
  CHECK(r.config.inference_pools[0].target_ports == std::vector<int>{8000});
  REQUIRE(r.config.http_routes.size() == 1);
  CHECK(r.config.http_routes[0].rules[0].backends[0].weight == 90);
  REQUIRE(r.config.picker_configs.size() == 1);
  CHECK(r.config.picker_configs[0].profiles[0].plugins[0].weight == 2.0);
}

TEST_CASE("a misspelt field names file, document, object and field") {
  auto r = load(R"(
apiVersion: inferstack.io/v1alpha1
kind: InferenceGateway
metadata: {name: gateway}
spec: {listen: "127.0.0.1:1"}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {name: llama, namespace: team-a}
spec:
  replica: 2
  template:
    resource: {instanceType: x}
    inference: {preset: {name: m}}
)");
  REQUIRE(r.problems.size() == 1);
  const auto& p = r.problems[0];
  CHECK(p.file == "test.yaml");
  CHECK(p.document == 2);
  CHECK(p.object == "InferenceSet team-a/llama");
  CHECK(p.field == "spec.replica");
  CHECK(p.message == "unknown field");
  CHECK(p.to_string().find("test.yaml") != std::string::npos);
}

TEST_CASE("every problem is reported, not only the first") {
  auto r = load(R"(
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {name: llama}
spec:
  replicas: two
  template:
    resource: {}
    inference: {preset: {name: m}}
---
apiVersion: kaito.sh/v1alpha1
kind: Widget
metadata: {name: w}
---
apiVersion: kaito.sh/v9
kind: APIKey
metadata: {name: k}
)");
  auto text = all_problems(r);
  INFO(text);
  CHECK(text.find("spec.replicas': expected an integer, got 'two'") != std::string::npos);
  CHECK(text.find("spec.template.resource.instanceType': required field is missing") !=
        std::string::npos);
  CHECK(text.find("unknown kind 'Widget'") != std::string::npos);
  CHECK(text.find("'kaito.sh/v9' is not an apiVersion of APIKey") != std::string::npos);
}

TEST_CASE("keys in clear are refused") {
  auto r = load(R"(
apiVersion: kaito.sh/v1alpha1
kind: APIKey
metadata: {name: k, namespace: a}
spec: {key: sk-secret}
)");
  REQUIRE_FALSE(r.ok());
  CHECK(all_problems(r).find("never written in manifests") != std::string::npos);
}

TEST_CASE("cross references are checked") {
  auto r = load(R"(
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: a}
spec:
  rules:
  - backendRefs: [{name: missing-pool}]
)");
  CHECK(all_problems(r).find("no InferencePool a/missing-pool") != std::string::npos);
}

TEST_CASE("YAML syntax errors carry a line") {
  auto r = load("kind: [unclosed\n");
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems[0].message.find("YAML syntax") == 0);
}

TEST_CASE("overrides change fields before decoding") {
  std::string error;
  auto o = parse_override("InferenceGateway:spec.listen=127.0.0.1:9999", &error);
  REQUIRE(o);
  CHECK(o->kind == "InferenceGateway");
  CHECK(o->path == "spec.listen");
  auto named = parse_override("InferenceSet/llama:spec.replicas=4", &error);
  REQUIRE(named);
  CHECK(named->name == "llama");
  CHECK_FALSE(parse_override("nonsense", &error));
}

TEST_CASE("durations read like Go's") {
  using namespace std::chrono;
  CHECK(parse_duration("250ms") == milliseconds(250));
  CHECK(parse_duration("1.5s") == milliseconds(1500));
  CHECK(parse_duration("1h30m") == minutes(90));
  CHECK(parse_duration("100us") == microseconds(100));
  CHECK(parse_duration("2") == seconds(2));
  CHECK_FALSE(parse_duration("fast"));
  CHECK_FALSE(parse_duration("10 parsecs"));
}

TEST_CASE("every shipped file in config/ and manifests/ loads cleanly") {
  namespace fs = std::filesystem;
  size_t files = 0;
  for (const char* dir : {"config", "manifests"}) {
    fs::path root = fs::path(INFERSTACK_SOURCE_DIR) / dir;
    if (!fs::exists(root)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      auto ext = entry.path().extension();
      if (ext != ".yaml" && ext != ".yml") continue;
      // Kubernetes deployment objects and latency profiles are checked by their own tests, and
      // so are Prometheus's and Grafana's files (the dashboards' e2e test).
      auto rel = fs::relative(entry.path(), INFERSTACK_SOURCE_DIR).string();
      if (rel.find("manifests/deploy") == 0 || rel.find("manifests/grafana") == 0 ||
          rel.find("config/profiles") == 0 || rel.find("kustomization") != std::string::npos)
        continue;
      // Scenarios keep their workloads (inference-perf configs: a top-level `load`) and fault
      // timelines (a top-level `faults`) beside their stacks; simulate's loaders read those.
      if (rel.find("config/scenarios") == 0) {
        auto top = YAML::LoadFile(entry.path().string());
        if (top.IsMap() && (top["load"] || top["faults"])) continue;
      }
      ++files;
      auto r = load_files({entry.path().string()});
      INFO(rel << "\n" << all_problems(r));
      CHECK(r.ok());
    }
  }
  CHECK(files >= 1);
}

TEST_CASE("ScaledObject: idleReplicaCount and fallback load, KEDA's own rules are checked") {
  const char* head = R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: so, namespace: a}
spec:
  scaleTargetRef: {name: llama}
  minReplicaCount: 2
  triggers:
  - type: external
    metadata: {threshold: "10"}
)";
  auto ok = load(std::string(head) + R"(  idleReplicaCount: 0
  fallback: {failureThreshold: 3, replicas: 6, behavior: currentReplicasIfHigher}
)");
  INFO(all_problems(ok));
  REQUIRE(ok.config.scaled_objects.size() == 1);
  const auto& so = ok.config.scaled_objects[0];
  REQUIRE(so.idle_replicas);
  CHECK(*so.idle_replicas == 0);
  REQUIRE(so.fallback);
  CHECK(so.fallback->failure_threshold == 3);
  CHECK(so.fallback->replicas == 6);
  CHECK(so.fallback->behavior == "currentReplicasIfHigher");

  auto idle_one = all_problems(load(std::string(head) + "  idleReplicaCount: 1\n"));
  CHECK(idle_one.find("spec.idleReplicaCount") != std::string::npos);
  CHECK(idle_one.find("only 0 is supported") != std::string::npos);

  auto no_threshold = all_problems(load(std::string(head) + "  fallback: {replicas: 6}\n"));
  CHECK(no_threshold.find("spec.fallback.failureThreshold") != std::string::npos);

  auto bad_behavior = all_problems(
      load(std::string(head) + "  fallback: {failureThreshold: 1, replicas: 1, behavior: x}\n"));
  CHECK(bad_behavior.find("spec.fallback.behavior") != std::string::npos);
}

TEST_CASE(
    "ScaledObject: idleReplicaCount must be below minReplicaCount, fallback needs "
    "AverageValue") {
  auto r = all_problems(load(R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: so, namespace: a}
spec:
  scaleTargetRef: {name: llama}
  minReplicaCount: 0
  idleReplicaCount: 0
  fallback: {failureThreshold: 3, replicas: 2}
  triggers:
  - type: external
    metricType: Value
    metadata: {threshold: "10"}
)"));
  CHECK(r.find("must be below minReplicaCount") != std::string::npos);
  CHECK(r.find("needs a trigger with metricType AverageValue") != std::string::npos);
}
