// The actors' settings as the roles read them from the manifests: pod templates, pools' model
// servers and pickers, the gateway's listener.
#include <catch2/catch.hpp>

#include "nodes/stack_parts.hpp"

using namespace inferstack;

namespace {

/// One manifest: its kind, API version, metadata and the rest (flow-style YAML).
std::string doc(const std::string& api, const std::string& kind, const std::string& meta,
                const std::string& rest) {
  return "apiVersion: " + api + "\nkind: " + kind + "\nmetadata: " + meta + "\n" + rest + "\n---\n";
}

/// A gateway; a set of two replicas of preset `small`; pools team/chat (picker config from
/// `default`) and team/other (none); model servers in team and elsewhere.
std::string manifests() {
  const std::string inferstack = "inferstack.io/v1alpha1", pools = "inference.networking.k8s.io/v1";
  std::string out =
      doc(inferstack, "InferenceGateway", "{name: gateway}", "spec: {listen: 127.0.0.1:8080}");
  out += doc(inferstack, "ModelPreset", "{name: small}",
             "spec: {gpus: 2, loadTime: 7s, warmLoadTime: 3s, servedModelName: small-chat}");
  out +=
      doc("kaito.sh/v1alpha1", "InferenceSet", "{name: chat, namespace: team}",
          "spec: {replicas: 2, labelSelector: {matchLabels: {app: chat}}, template: "
          "{metadata: {labels: {app: chat}}, resource: {instanceType: gpu-1}, inference: {preset: "
          "{name: small}}}}");
  for (std::string pool : {"chat", "other"})
    out += doc(pools, "InferencePool", "{name: " + pool + ", namespace: team}",
               "spec: {selector: {matchLabels: {app: " + pool +
                   "}}, targetPorts: [{number: 8000}], endpointPickerRef: {name: " +
                   (pool == "chat" ? "shared-epp" : "missing-epp") + "}}");
  out += doc("inference.networking.x-k8s.io/v1alpha1", "EndpointPickerConfig",
             "{name: shared-epp, namespace: default}",
             "plugins: [{type: queue-scorer}, {type: max-score-picker}]\nschedulingProfiles: "
             "[{name: default, plugins: [{pluginRef: queue-scorer}, {pluginRef: "
             "max-score-picker}]}]");
  out += doc(inferstack, "ModelServer", "{name: vllm-0, namespace: team, labels: {app: chat}}",
             "spec: {url: 'http://127.0.0.1:9000', kvEvents: {endpoint: 'tcp://127.0.0.1:9001'}}");
  out += doc(inferstack, "ModelServer", "{name: vllm-1, namespace: elsewhere, labels: {app: chat}}",
             "spec: {url: 'http://127.0.0.1:9100'}");
  return out;
}

config::stack_config load() {
  config::load_result result;
  config::load_text(manifests(), "test.yaml", result);
  for (const auto& p : result.problems)
    UNSCOPED_INFO(p.to_string());
  REQUIRE(result.ok());
  return result.config;
}

}  // namespace

TEST_CASE(
    "stack parts: a replica's template takes its preset's served model, GPUs and load times") {
  auto config = load();
  REQUIRE(config.inference_sets.size() == 1);
  REQUIRE(config.model_presets.size() == 1);
  const auto& set = config.inference_sets.front();
  auto t = nodes::pod_template_for(set, &config.model_presets.front(), 42);
  CHECK(t.ns == "team");
  CHECK(t.set == "chat");
  CHECK(t.model == "small-chat");
  CHECK(t.gpus == 2);
  CHECK(t.load_ns == std::chrono::nanoseconds(std::chrono::seconds(7)).count());
  CHECK(t.warm_load_ns == std::chrono::nanoseconds(std::chrono::seconds(3)).count());
  CHECK(t.labels.at("app") == "chat");
  CHECK(t.seed == 42);
  // Without its preset: the preset's name as the model, one GPU, the default load times.
  auto bare = nodes::pod_template_for(set, nullptr, 42);
  CHECK(bare.model == "small");
  CHECK(bare.gpus == 1);
  CHECK(bare.load_ns == config::model_preset{}.load_time.count());
}

TEST_CASE("stack parts: a preset bigger than a node makes each replica a group, a node each") {
  const char* yaml = R"(apiVersion: inferstack.io/v1alpha1
kind: NodePool
metadata: {name: h100}
spec:
  instanceType: Standard_ND96isr_H100_v5
  gpusPerNode: 8
  count: 2
  capacityType: spot
  reclaimNotice: 45s
---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {name: big}
spec: {gpus: 16}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {name: big, namespace: team}
spec:
  template:
    resource: {instanceType: Standard_ND96isr_H100_v5}
    inference: {preset: {name: big}}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {name: wide, namespace: team}
spec:
  leaderWorkerSet: {size: 4, restartPolicy: RecreateGroupOnPodRestart}
  template:
    resource: {instanceType: Standard_ND96isr_H100_v5}
    inference: {preset: {name: big}}
)";
  config::load_result result;
  config::load_text(yaml, "big.yaml", result);
  for (const auto& p : result.problems)
    UNSCOPED_INFO(p.to_string());
  REQUIRE(result.ok());
  auto& c = result.config;
  CHECK(c.node_pools.front().capacity_type == "spot");
  CHECK(c.node_pools.front().reclaim_notice == std::chrono::seconds(45));
  auto gpus = nodes::node_gpus_for(c, "Standard_ND96isr_H100_v5");
  CHECK(gpus == 8);
  // 16 GPUs on 8-GPU nodes: a leader and a worker, 8 each.
  auto t = nodes::pod_template_for(c.inference_sets[0], &c.model_presets.front(), 1, gpus);
  CHECK(t.group_size == 2);
  CHECK(t.gpus == 8);
  // An explicit size spreads them wider: 4 pods of 4.
  auto wide = nodes::pod_template_for(c.inference_sets[1], &c.model_presets.front(), 1, gpus);
  CHECK(wide.group_size == 4);
  CHECK(wide.gpus == 4);
  // A group whose share still exceeds a node is refused.
  config::load_result bad;
  std::string narrow = std::string(yaml) + R"(---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {name: narrow, namespace: team}
spec:
  leaderWorkerSet: {size: 1}
  template:
    resource: {instanceType: Standard_ND96isr_H100_v5}
    inference: {preset: {name: big}}
)";
  config::load_text(narrow, "narrow.yaml", bad);
  config::validate_references(bad.config, bad.problems);
  REQUIRE(bad.problems.size() == 1);
  CHECK(bad.problems[0].message ==
        "its preset needs 16 GPUs over 1 pods (spec.leaderWorkerSet.size): more per pod than any "
        "Standard_ND96isr_H100_v5 node has");
}

TEST_CASE(
    "stack parts: leaderWorkerTemplate gives the leader and its workers their own resources") {
  const char* pools = R"(apiVersion: inferstack.io/v1alpha1
kind: NodePool
metadata: {name: h100}
spec: {instanceType: Standard_ND96isr_H100_v5, gpusPerNode: 8, count: 1}
---
apiVersion: inferstack.io/v1alpha1
kind: NodePool
metadata: {name: a100}
spec: {instanceType: Standard_NC96ads_A100_v4, gpusPerNode: 4, count: 2}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {name: big}
spec: {gpus: 16}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {name: mixed, namespace: team}
spec:
  template:
    resource: {instanceType: Standard_ND96isr_H100_v5}
    inference: {preset: {name: big}}
  leaderWorkerTemplate:
)";
  std::string good = std::string(pools) + R"(    size: 3
    restartPolicy: RecreateGroupOnPodRestart
    leaderTemplate: {resource: {gpus: 8}}
    workerTemplate: {resource: {instanceType: Standard_NC96ads_A100_v4, gpus: 4}}
)";
  config::load_result result;
  config::load_text(good, "mixed.yaml", result);
  config::validate_references(result.config, result.problems);
  for (const auto& p : result.problems)
    UNSCOPED_INFO(p.to_string());
  REQUIRE(result.ok());
  const auto& set = result.config.inference_sets.front();
  auto gpus = nodes::node_gpus_for(result.config, set.instance_type);
  auto t = nodes::pod_template_for(set, &result.config.model_presets.front(), 1, gpus);
  CHECK(t.group_size == 3);
  CHECK(t.gpus == 8);
  CHECK(t.instance_type == "Standard_ND96isr_H100_v5");
  CHECK(t.worker_gpus == 4);
  CHECK(t.worker_instance_type == "Standard_NC96ads_A100_v4");

  // Workers asking more GPUs than any node of their type has are refused, the field named.
  std::string greedy = std::string(pools) + R"(    size: 3
    workerTemplate: {resource: {instanceType: Standard_NC96ads_A100_v4, gpus: 8}}
)";
  config::load_result bad;
  config::load_text(greedy, "greedy.yaml", bad);
  config::validate_references(bad.config, bad.problems);
  REQUIRE(bad.problems.size() == 1);
  CHECK(bad.problems[0].to_string().find("greedy.yaml") != std::string::npos);
  CHECK(bad.problems[0].field == "spec.leaderWorkerTemplate.workerTemplate.resource.gpus");
  CHECK(bad.problems[0].message ==
        "8 nvidia.com/gpu per pod: more than any Standard_NC96ads_A100_v4 node has (4)");

  // A worker instance type no NodePool has, and an unknown template field.
  std::string nowhere = std::string(pools) + R"(    size: 2
    workerTemplate: {resource: {instanceType: Standard_NC6s_v3}, nodeName: x}
)";
  config::load_result lost;
  config::load_text(nowhere, "nowhere.yaml", lost);
  config::validate_references(lost.config, lost.problems);
  std::string all;
  for (const auto& p : lost.problems)
    all += p.to_string() + "\n";
  INFO(all);
  CHECK(all.find("spec.leaderWorkerTemplate.workerTemplate.nodeName") != std::string::npos);
  CHECK(all.find("spec.leaderWorkerTemplate.workerTemplate.resource.instanceType") !=
        std::string::npos);
  CHECK(all.find("no NodePool has instance type Standard_NC6s_v3") != std::string::npos);

  // The flat form and the LWS form together are refused.
  std::string both = std::string(pools) + R"(    size: 2
  leaderWorkerSet: {size: 2}
)";
  config::load_result twice;
  config::load_text(both, "both.yaml", twice);
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.problems[0].field == "spec.leaderWorkerTemplate");
}

TEST_CASE("stack parts: a pool's model servers are the ones its selector picks in its namespace") {
  auto config = load();
  auto servers = nodes::model_servers_of(config, config.inference_pools.front());
  REQUIRE(servers.size() == 1);
  CHECK(servers.front().pod == "team/vllm-0");
  CHECK(servers.front().endpoint == "http://127.0.0.1:9000");
  CHECK(servers.front().kv_events == "tcp://127.0.0.1:9001");
  CHECK(nodes::model_servers_of(config, config.inference_pools.back()).empty());
}

TEST_CASE("stack parts: a pool's picker config comes from its namespace or from default") {
  auto config = load();
  auto chat = nodes::picker_settings_for(config, config.inference_pools.front(), 1);
  CHECK(chat.pool == "team/chat");
  CHECK(chat.pool_name == "chat");
  REQUIRE(chat.config);
  CHECK(chat.config->meta.name == "shared-epp");
  auto other = nodes::picker_settings_for(config, config.inference_pools.back(), 1);
  CHECK_FALSE(other.config);
  CHECK(chat.seed != other.seed);  // each pool's picker draws its own numbers
  CHECK(nodes::pool_names(config) == std::vector<std::string>{"team/chat", "team/other"});
}

TEST_CASE("stack parts: the gateway listens where the manifest says unless --listen overrides") {
  auto config = load();
  auto gs = nodes::gateway_settings_for(config, "");
  CHECK(gs.address == "127.0.0.1");
  CHECK(gs.port == 8080);
  auto overridden = nodes::gateway_settings_for(config, "0.0.0.0:9090");
  CHECK(overridden.address == "0.0.0.0");
  CHECK(overridden.port == 9090);
}

TEST_CASE("stack parts: the controller gets every InferenceSet and every pool with its servers") {
  auto config = load();
  std::vector<std::string> problems;
  auto cs = nodes::controller_settings_for(config, "config/profiles", 7, true, problems);
  CHECK(cs.adopt_initial);
  REQUIRE(cs.sets.size() == 1);
  CHECK(cs.sets.front().replicas == 2);
  CHECK(cs.sets.front().prototype.model == "small-chat");
  REQUIRE(cs.pools.size() == 2);
  CHECK(cs.pools.front().static_members.size() == 1);
}
