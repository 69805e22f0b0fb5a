// EndpointPickerConfig loading: defaults, every kind of error, and the example configs.
#include <filesystem>

#include <catch2/catch.hpp>

#include "actors/picker/scheduling/filters.hpp"
#include "actors/picker/scheduling/profile_handlers.hpp"
#include "actors/picker/scheduling/scorers.hpp"
#include "tests/actors/picker/scheduling/picker_test_util.hpp"

using namespace picker_test;
using Catch::Matchers::Contains;

namespace {

const char* header = "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n";

std::string yaml(const std::string& body) {
  return std::string(header) + body;
}

std::unique_ptr<endpoint_picker> load_example(const std::string& file) {
  auto path = std::string(INFERSTACK_SOURCE_DIR) + "/config/picker/" + file;
  auto loaded = inferstack::config::load_files({path});
  std::string text;
  for (const auto& p : loaded.problems)
    text += p.to_string() + "\n";
  INFO(text);
  REQUIRE(loaded.ok());
  REQUIRE(loaded.config.picker_configs.size() == 1);
  auto built = build_endpoint_picker(&loaded.config.picker_configs.front());
  INFO(built.error_text());
  REQUIRE(built.ok());
  return std::move(built.picker);
}

}  // namespace

TEST_CASE("no config: prefix 3, queue 2, kv-cache 2, max-score picker", "[config]") {
  auto built = build_endpoint_picker(nullptr);
  REQUIRE(built.ok());
  CHECK(describe_chain(*built.picker) ==
        "handler: single-profile-handler\n"
        "profile default: filters=[] scorers=[prefix-cache-scorer*3, queue-scorer*2, "
        "kv-cache-utilization-scorer*2] picker=max-score-picker\n"
        "producers: [approx-prefix-cache-producer(approx-prefix-cache-producer)]\n");
  // The written-out default says the same.
  CHECK(describe_chain(*load_example("default.yaml")) == describe_chain(*built.picker));
}

TEST_CASE("defaults: names from types, weight 1, a default profile, handler and picker",
          "[config]") {
  auto p = build(yaml(R"(
plugins:
- type: decode-filter
- type: queue-scorer
- type: kv-cache-utilization-scorer
  name: kv
)"));
  CHECK(describe_chain(*p) ==
        "handler: single-profile-handler\n"
        "profile default: filters=[decode-filter] scorers=[queue-scorer*1, kv*1] "
        "picker=max-score-picker\n"
        "producers: []\n");
  CHECK(p->find_plugin("kv")->type() == "kv-cache-utilization-scorer");
}

TEST_CASE("a profile's weights and picker come from its pluginRefs", "[config]") {
  auto p = build(yaml(R"(
plugins:
- type: queue-scorer
- type: load-aware-scorer
  parameters: {threshold: 64}
- type: weighted-random-picker
  parameters: {maxNumOfEndpoints: 2}
schedulingProfiles:
- name: main
  plugins:
  - pluginRef: load-aware-scorer
    weight: 5
  - pluginRef: queue-scorer
  - pluginRef: weighted-random-picker
)"));
  CHECK(describe_chain(*p) ==
        "handler: single-profile-handler\n"
        "profile main: filters=[] scorers=[load-aware-scorer*5, queue-scorer*1] "
        "picker=weighted-random-picker\n"
        "producers: []\n");
}

TEST_CASE("unknown plugin types are errors naming the plugin", "[config][errors]") {
  auto text = problems_of(yaml("plugins:\n- type: magic-scorer\n  name: wizard\n"));
  CHECK_THAT(text, Contains("field 'plugins[0].type'"));
  CHECK_THAT(text, Contains("unknown plugin type 'magic-scorer'"));
}

TEST_CASE("unknown parameters are errors naming plugin and parameter", "[config][errors]") {
  auto text = problems_of(yaml(R"(
plugins:
- type: load-aware-scorer
  name: la
  parameters: {threshold: 10, treshold: 12}
)"));
  CHECK_THAT(text, Contains("field 'plugins[0].parameters.treshold'"));
  CHECK_THAT(text, Contains("plugin 'la' (type load-aware-scorer): unknown parameter"));
  // Plugins without parameters reject any.
  CHECK_THAT(problems_of(yaml("plugins:\n- type: queue-scorer\n  parameters: {x: 1}\n")),
             Contains("plugin 'queue-scorer' (type queue-scorer): unknown parameter"));
}

TEST_CASE("wrongly typed parameters are errors", "[config][errors]") {
  auto text = problems_of(yaml(R"(
plugins:
- type: load-aware-scorer
  parameters: {threshold: many}
- type: metrics-data-source
  parameters: {insecureSkipVerify: perhaps, scheme: gopher}
- type: max-score-picker
  parameters: {maxNumOfEndpoints: [1]}
)"));
  CHECK_THAT(text, Contains("parameters.threshold': plugin 'load-aware-scorer' (type "
                            "load-aware-scorer): expected an integer, got 'many'"));
  CHECK_THAT(text, Contains("parameters.insecureSkipVerify'"));
  CHECK_THAT(text, Contains("'gopher' is not one of: http, https"));
  CHECK_THAT(text, Contains("parameters.maxNumOfEndpoints"));
}

TEST_CASE("pluginRefs to undefined plugins are errors", "[config][errors]") {
  auto text = problems_of(yaml(R"(
plugins:
- type: queue-scorer
- type: prefix-cache-scorer
  parameters: {prefixMatchInfoProducerName: nowhere}
- type: disagg-profile-handler
  parameters: {deciders: {prefill: missing-decider}}
schedulingProfiles:
- name: decode
  plugins:
  - pluginRef: queu-scorer
dataLayer:
  sources:
  - pluginRef: metrics-data-source
)"));
  CHECK_THAT(text, Contains("pluginRef 'queu-scorer' does not name a plugin"));
  CHECK_THAT(text, Contains("no plugin named 'nowhere'"));
  CHECK_THAT(text, Contains("no plugin named 'missing-decider'"));
  CHECK_THAT(text, Contains("data source 'metrics-data-source' does not name a plugin"));
}

TEST_CASE("structural errors: duplicates, two pickers, weights on non-scorers, handlers",
          "[config][errors]") {
  CHECK_THAT(problems_of(yaml("plugins:\n- type: queue-scorer\n- type: queue-scorer\n")),
             Contains("plugin name 'queue-scorer' is used twice"));
  CHECK_THAT(problems_of(yaml(R"(
plugins:
- type: max-score-picker
- type: random-picker
schedulingProfiles:
- name: p
  plugins:
  - pluginRef: max-score-picker
  - pluginRef: random-picker
    weight: 2
)")),
             Contains("has more than one picker"));
  CHECK_THAT(problems_of(yaml(R"(
plugins:
- type: decode-filter
schedulingProfiles:
- name: p
  plugins:
  - pluginRef: decode-filter
    weight: 2
)")),
             Contains("weight is only valid for scorers"));
  CHECK_THAT(problems_of(yaml(R"(
plugins:
- type: queue-scorer
schedulingProfiles:
- name: a
  plugins: [{pluginRef: queue-scorer}]
- name: b
  plugins: [{pluginRef: queue-scorer}]
)")),
             Contains("2 profiles need a profile handler plugin"));
  CHECK_THAT(problems_of(yaml(R"(
plugins:
- type: disagg-profile-handler
- type: queue-scorer
schedulingProfiles:
- name: only
  plugins: [{pluginRef: queue-scorer}]
)")),
             Contains("decode profile 'decode' is not defined"));
  CHECK_THAT(problems_of(yaml("featureGates: [flowControl, warpDrive]\n")),
             Contains("unknown feature gate 'warpDrive'"));
  CHECK_THAT(problems_of(yaml(R"(
plugins:
- type: queue-scorer
- type: prefix-cache-scorer
  parameters: {prefixMatchInfoProducerName: queue-scorer}
)")),
             Contains("plugin 'queue-scorer' does not produce prefix match information"));
}

TEST_CASE("all problems are reported at once", "[config][errors]") {
  auto r = build_endpoint_picker_from_yaml(yaml(R"(
featureGates: [nope]
plugins:
- type: nope-scorer
- type: load-aware-scorer
  parameters: {threshold: x, other: 1}
- type: prefix-cache-affinity-filter
  parameters: {affinityThreshold: 3}
schedulingProfiles:
- name: p
  plugins: [{pluginRef: ghost}]
)"));
  CHECK_FALSE(r.ok());
  CHECK(r.problems.size() >= 6);
  CHECK(r.picker == nullptr);
}

TEST_CASE("parameter values are validated like llm-d validates them", "[config][errors]") {
  CHECK_THAT(problems_of(yaml(R"(
plugins:
- type: prefix-cache-affinity-filter
  parameters: {affinityThreshold: 1.5}
)")),
             Contains("must be in [0, 1]"));
  CHECK_THAT(problems_of(yaml(R"(
plugins:
- type: prefix-cache-scorer
  parameters: {prefixLengthWeight: 0.5}
)")),
             Contains("must be specified when prefixLengthWeight is greater than 0"));
  CHECK_THAT(problems_of(yaml(R"(
plugins:
- type: utilization-detector
  parameters: {kvCacheUtilThreshold: 0, queueDepthThreshold: -1}
)")),
             Contains("must be in (0.0, 1.0]"));
  CHECK_THAT(problems_of(yaml(R"(
plugins:
- type: prefix-based-pd-decider
  parameters: {nonCachedTokens: -4}
)")),
             Contains("cannot be negative"));
  CHECK_THAT(problems_of(yaml(R"(
plugins:
- type: precise-prefix-cache-scorer
  parameters:
    indexerConfig:
      kvBlockIndexConfig:
        redisConfig: {address: "redis://x"}
)")),
             Contains("only the in-memory index"));
}

TEST_CASE("data-layer and producer plugins load and validate their parameters", "[config]") {
  auto p = build(yaml(R"(
featureGates: [flowControl]
plugins:
- type: metrics-data-source
  parameters: {scheme: https, path: /metrics, insecureSkipVerify: false, interval: 1s,
               families: [vllm:num_requests_waiting]}
- type: core-metrics-extractor
  parameters: {engineLabelKey: llm-d.ai/engine-type, defaultEngine: vllm}
- type: token-producer
  parameters: {modelName: qwen, vllm: {url: "http://localhost:8000"}}
- type: approx-prefix-cache-producer
  parameters: {autoTune: false, blockSizeTokens: 128, lruCapacityPerServer: 1000}
- type: prefix-cache-scorer
- type: queue-scorer
- type: openai-parser
requestHandler:
  parsers: [{pluginRef: openai-parser}]
dataLayer:
  sources:
  - pluginRef: metrics-data-source
    extractors: [{pluginRef: core-metrics-extractor}]
)"));
  CHECK(p->flow_control_enabled());
  REQUIRE(p->prefix_producers().size() == 1);
  auto* approx = dynamic_cast<approx_prefix_producer*>(p->prefix_producers()[0]);
  REQUIRE(approx);
  CHECK(approx->settings().block_size_tokens == 128);
  CHECK(approx->settings().lru_capacity_per_server == 1000);
}

TEST_CASE("precise prefix parameters: token processor, index and KV-event settings", "[config]") {
  auto p = build(yaml(R"(
plugins:
- type: precise-prefix-cache-producer
  parameters:
    tokenProcessorConfig: {blockSize: 32, hashSeed: "42"}
    indexerConfig:
      kvBlockIndexConfig:
        inMemoryConfig: {size: 5000, podCacheSize: 4}
      backendConfigs: [{name: gpu, weight: 1.0}, {name: cpu, weight: 0.5}]
    kvEventsConfig:
      zmqEndpoint: "tcp://*:5557"
      topicFilter: "kv@"
      discoverPods: false
      podDiscoveryConfig: {socketPort: 5600, replaySocketPort: 5601}
    speculativeIndexing: true
    speculativeTTL: 3s
- type: prefix-cache-scorer
  parameters: {prefixMatchInfoProducerName: precise-prefix-cache-producer}
)"));
  REQUIRE(p->uses_kv_events());
  const auto* events = p->kv_events();
  REQUIRE(events);
  CHECK(events->zmq_endpoint == "tcp://*:5557");
  CHECK_FALSE(events->discover_pods);
  CHECK(events->socket_port == 5600);
  CHECK(events->replay_socket_port == 5601);
  auto* precise = dynamic_cast<precise_prefix_producer*>(p->prefix_producers()[0]);
  REQUIRE(precise);
  CHECK(precise->settings().index.block_size == 32);
  CHECK(precise->settings().index.hash_seed == "42");
  CHECK(precise->settings().index.max_keys == 5000);
  CHECK(precise->settings().index.pod_cache_size == 4);
  CHECK(precise->index().tier_weight("cpu") == 0.5);
  CHECK(precise->settings().speculative_indexing);
  CHECK(precise->settings().speculative_ttl_ns == 3 * second);
}

TEST_CASE("GAIE's single-plugin prefix-cache-scorer parameters give it its own indexer",
          "[config]") {
  auto p = build(yaml(R"(
plugins:
- type: prefix-cache-scorer
  parameters: {hashBlockSize: 64, maxPrefixBlocksToMatch: 256, lruCapacityPerServer: 31250}
)"));
  REQUIRE(p->prefix_producers().size() == 1);
  auto* approx = dynamic_cast<approx_prefix_producer*>(p->prefix_producers()[0]);
  REQUIRE(approx);
  CHECK(approx->name() == "prefix-cache-scorer");
  CHECK(approx->settings().max_prefix_blocks == 256);
}

TEST_CASE("saturation detector from the GAIE section or a pluginRef", "[config]") {
  auto gaie = build(yaml(R"(
saturationDetector: {queueDepthThreshold: 10, kvCacheUtilThreshold: 0.9,
                     metricsStalenessThreshold: 500ms}
)"));
  gaie->add_endpoint(endpoint_info{"a", "", {}});
  gaie->update_load("a", load(5, 0.45), 0);
  CHECK(gaie->saturation(0) == Approx(0.5));
  auto ref = build(yaml(R"(
plugins:
- type: concurrency-detector
  name: cd
  parameters: {maxConcurrency: 4}
flowControl:
  saturationDetector: {pluginRef: cd}
)"));
  ref->add_endpoint(endpoint_info{"a", "", {}});
  CHECK(ref->saturation(0) == 0.0);
  CHECK_THAT(problems_of(yaml("flowControl:\n  saturationDetector: {pluginRef: nope}\n")),
             Contains("no plugin named 'nope'"));
}

// -- the example configs ----------------------------------------------------------------------

TEST_CASE("example: llm-d pd-epp-config loads into the P/D chain", "[config][examples]") {
  auto p = load_example("llm-d-pd-epp-config.yaml");
  CHECK(describe_chain(*p) ==
        "handler: disagg-profile-handler\n"
        "profile prefill: filters=[prefill-filter] scorers=[prefix-cache-scorer*2, "
        "queue-scorer*1] picker=max-score-picker\n"
        "profile decode: filters=[decode-filter] scorers=[prefix-cache-scorer*2, "
        "queue-scorer*1] picker=max-score-picker\n"
        "producers: [approx-prefix-cache-producer(approx-prefix-cache-producer)]\n");
  auto* approx = dynamic_cast<approx_prefix_producer*>(p->prefix_producers()[0]);
  CHECK(approx->settings().max_prefix_tokens == 16384);
  CHECK(approx->settings().lru_capacity_per_server == 31250);
  auto* h = dynamic_cast<const disagg_profile_handler*>(p->profile_handler());
  REQUIRE(h);
  REQUIRE(h->config().prefill_decider);
  CHECK(h->config().prefill_decider->type() == "prefix-based-pd-decider");
}

TEST_CASE("example: llm-d v0.3 precise prefix config", "[config][examples]") {
  auto p = load_example("llm-d-precise-prefix-cache-config.yaml");
  CHECK(describe_chain(*p) ==
        "handler: single-profile-handler\n"
        "profile default: filters=[decode-filter] scorers=[precise-prefix-cache-scorer*2, "
        "kv-cache-utilization-scorer*1, queue-scorer*1] picker=max-score-picker\n"
        "producers: [precise-prefix-cache-scorer(precise-prefix-cache-scorer)]\n");
  auto* precise = dynamic_cast<precise_prefix_producer*>(p->prefix_producers()[0]);
  CHECK(precise->settings().index.block_size == 64);
  CHECK(precise->settings().index.hash_seed == "42");
  CHECK(p->kv_events()->zmq_endpoint == "tcp://*:5557");
}

TEST_CASE("example: GAIE helm default (322 + metrics data source)", "[config][examples]") {
  auto p = load_example("gaie-helm-default.yaml");
  CHECK(describe_chain(*p) ==
        "handler: single-profile-handler\n"
        "profile default: filters=[] scorers=[queue-scorer*2, kv-cache-utilization-scorer*2, "
        "prefix-cache-scorer*3] picker=max-score-picker\n"
        "producers: [approx-prefix-cache-producer(approx-prefix-cache-producer)]\n");
  CHECK(p->find_plugin("metrics-data-source"));
  CHECK(p->find_plugin("core-metrics-extractor"));
  CHECK_FALSE(p->flow_control_enabled());
}

TEST_CASE("example: the KAITO chart's default-plugins.yaml", "[config][examples]") {
  auto p = load_example("kaito-default-plugins.yaml");
  CHECK(p->flow_control_enabled());
  CHECK(describe_chain(*p) ==
        "handler: single-profile-handler\n"
        "profile default: filters=[] scorers=[queue-scorer*2, kv-cache-utilization-scorer*2, "
        "prefix-cache-scorer*3] picker=max-score-picker\n"
        "producers: [approx-prefix-cache-producer(approx-prefix-cache-producer)]\n");
}

TEST_CASE("examples: baselines and the precise config for our pods", "[config][examples]") {
  CHECK(describe_chain(*load_example("random.yaml")) ==
        "handler: single-profile-handler\n"
        "profile default: filters=[] scorers=[] picker=random-picker\n"
        "producers: []\n");
  CHECK(describe_chain(*load_example("round-robin.yaml")) ==
        "handler: single-profile-handler\n"
        "profile default: filters=[] scorers=[] picker=round-robin-picker\n"
        "producers: []\n");
  auto precise = load_example("precise-prefix.yaml");
  CHECK(describe_chain(*precise) ==
        "handler: single-profile-handler\n"
        "profile default: filters=[] scorers=[prefix-cache-scorer*3, queue-scorer*2, "
        "kv-cache-utilization-scorer*2] picker=max-score-picker\n"
        "producers: [precise-prefix-cache-producer(precise-prefix-cache-producer)]\n");
}

TEST_CASE("every type the loader knows builds from a minimal config", "[config]") {
  auto types = known_plugin_types();
  CHECK(types.size() >= 40);
  for (const auto& type : types) {
    std::string body = "plugins:\n- type: " + type + "\n";
    if (type == "by-label") body += "  parameters: {label: tier}\n";
    // Handlers need their profiles; the rest need nothing else.
    if (type == "disagg-profile-handler" || type == "pd-profile-handler")
      body +=
          "- type: queue-scorer\nschedulingProfiles:\n- name: decode\n  plugins: "
          "[{pluginRef: queue-scorer}]\n- name: prefill\n  plugins: [{pluginRef: "
          "queue-scorer}]\n";
    INFO(type);
    auto r = build_endpoint_picker_from_yaml(yaml(body));
    INFO(r.error_text());
    CHECK(r.ok());
  }
}

TEST_CASE("examples: every file in config/picker/ loads", "[config][examples]") {
  size_t files = 0;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(INFERSTACK_SOURCE_DIR) + "/config/picker")) {
    INFO(e.path().string());
    CHECK(load_example(e.path().filename().string()) != nullptr);
    ++files;
  }
  CHECK(files >= 8);
}

TEST_CASE("kv-cache-scorer is kv-cache-utilization-scorer under GAIE v0.5's name", "[config]") {
  auto p = build(yaml("plugins:\n- type: kv-cache-scorer\n"));
  CHECK(dynamic_cast<kv_cache_utilization_scorer*>(p->find_plugin("kv-cache-scorer")));
  CHECK(p->find_plugin("kv-cache-scorer")->type() == "kv-cache-utilization-scorer");
  CHECK_THAT(problems_of(yaml("plugins:\n- type: kv-cache-scorer\n  parameters: {x: 1}\n")),
             Contains("unknown parameter"));
}

namespace {

/// A picker file of llm-d's prefix-routing benchmark, as copied unchanged into the scenario.
std::unique_ptr<endpoint_picker> load_llm_d_prefix(const std::string& file) {
  auto path = std::string(INFERSTACK_SOURCE_DIR) + "/config/scenarios/llm-d-prefix/" + file;
  auto loaded = inferstack::config::load_files({path});
  std::string text;
  for (const auto& p : loaded.problems)
    text += p.to_string() + "\n";
  INFO(path << "\n" << text);
  REQUIRE(loaded.ok());
  REQUIRE(loaded.config.picker_configs.size() == 1);
  auto built = build_endpoint_picker(&loaded.config.picker_configs.front());
  INFO(built.error_text());
  REQUIRE(built.ok());
  return std::move(built.picker);
}

}  // namespace

TEST_CASE("examples: llm-d's prefix benchmark pickers load unchanged", "[config][examples]") {
  auto precise = load_llm_d_prefix("precise-scheduling.yaml");
  CHECK(describe_chain(*precise) ==
        "handler: single-profile-handler\n"
        "profile default: filters=[] scorers=[prefix-cache-scorer*3, kv-cache-scorer*2, "
        "queue-scorer*2] picker=max-score-picker\n"
        "producers: [precise-prefix-cache-scorer(prefix-cache-scorer)]\n");
  auto* scorer =
      dynamic_cast<precise_prefix_scorer*>(scorer_named(*precise, "prefix-cache-scorer"));
  REQUIRE(scorer);
  CHECK(scorer->producer()->settings().index.block_size == 64);
  CHECK(scorer->producer()->settings().index.hash_seed == "42");

  auto estimated = load_llm_d_prefix("estimated-scheduling.yaml");
  CHECK(describe_chain(*estimated) ==
        "handler: single-profile-handler\n"
        "profile default: filters=[] scorers=[kv-cache-scorer*1, queue-scorer*1, "
        "prefix-cache-scorer*1] picker=max-score-picker\n"
        "producers: [approx-prefix-cache-producer(prefix-cache-scorer)]\n");
  auto* approx = dynamic_cast<approx_prefix_producer*>(estimated->prefix_producers()[0]);
  REQUIRE(approx);
  CHECK(approx->settings().max_prefix_blocks == 256);
  CHECK(approx->settings().lru_capacity_per_server == 31250);

  auto load = load_llm_d_prefix("load-scheduling.yaml");
  CHECK(describe_chain(*load) ==
        "handler: single-profile-handler\n"
        "profile default: filters=[] scorers=[queue-scorer*1, kv-cache-scorer*1] "
        "picker=max-score-picker\n"
        "producers: []\n");
  CHECK(dynamic_cast<kv_cache_utilization_scorer*>(load->find_plugin("kv-cache-scorer")));

  auto random = load_llm_d_prefix("random-scheduling.yaml");
  CHECK(describe_chain(*random) ==
        "handler: single-profile-handler\n"
        "profile default: filters=[] scorers=[] picker=random-picker\n"
        "producers: []\n");
}

TEST_CASE("llm-d-router v0.10: data-parallel-profile-handler is the single handler under its name",
          "[config]") {
  auto p = build(yaml(R"(
plugins:
- type: data-parallel-profile-handler
  parameters: {primaryPort: 8000}
- type: queue-scorer
)"));
  auto* handler =
      dynamic_cast<single_profile_handler*>(p->find_plugin("data-parallel-profile-handler"));
  REQUIRE(handler);
  CHECK(handler->type() == "data-parallel-profile-handler");
  CHECK_THAT(describe_chain(*p), Contains("handler: data-parallel-profile-handler"));
  CHECK(build(yaml("plugins:\n- type: data-parallel-profile-handler\n")) != nullptr);
  CHECK_THAT(
      problems_of(yaml(
          "plugins:\n- type: data-parallel-profile-handler\n  parameters: {primaryPort: 70000}\n")),
      Contains("primaryPort"));
  CHECK_THAT(problems_of(yaml(
                 "plugins:\n- type: data-parallel-profile-handler\n  parameters: {port: 8000}\n")),
             Contains("unknown parameter"));
}

TEST_CASE("llm-d-router v0.10: a config written as v0.10 writes them loads with its names",
          "[config][examples]") {
  auto p = load_example("llm-d-router-v0.10.yaml");
  CHECK(describe_chain(*p) ==
        "handler: data-parallel-profile-handler\n"
        "profile default: filters=[decode-pods, utilization-filter] "
        "scorers=[prefix-cache-scorer*3, "
        "token-load-scorer*1, queue-scorer*1, kv-cache-utilization-scorer*1] "
        "picker=max-score-picker\n"
        "producers: [approx-prefix-cache-producer(approx-prefix-cache-producer)]\n");
  CHECK(p->find_plugin("decode-pods")->type() == "label-selector-filter");
}

TEST_CASE("llm-d-router v0.10: utilization-filter reads its conditions and checks them",
          "[config]") {
  auto p = build(yaml(R"(
plugins:
- type: utilization-filter
  parameters:
    conditions:
    - {metric: kv-cache-utilization, maxValue: 0.9}
    - {metric: active-requests, maxValue: 32}
    fallbackOnEmpty: true
)"));
  CHECK(dynamic_cast<utilization_filter*>(p->find_plugin("utilization-filter")));
  auto with = [](const std::string& params) {
    return problems_of(
        yaml("plugins:\n- type: utilization-filter\n  parameters: " + params + "\n"));
  };
  CHECK_THAT(with("{fallbackOnEmpty: true}"), Contains("conditions"));
  CHECK_THAT(with("{conditions: []}"), Contains("at least one condition"));
  CHECK_THAT(with("{conditions: [{metric: gpu-temperature, maxValue: 1}]}"), Contains("metric"));
  CHECK_THAT(with("{conditions: [{metric: waiting-queue}]}"), Contains("maxValue"));
  CHECK_THAT(with("{conditions: [{metric: waiting-queue, maxValue: -1}]}"),
             Contains("non-negative"));
  CHECK_THAT(with("{conditions: [{metric: kv-cache-utilization, maxValue: 1.5}]}"),
             Contains("at most 1"));
}

TEST_CASE("llm-d-router v0.10: session-affinity-scorer's strategy and encodedEndpointHeaderConfig",
          "[config]") {
  auto p = build(yaml(R"(
plugins:
- type: session-affinity-scorer
  parameters:
    strategy: encoded_endpoint_header
    encodedEndpointHeaderConfig: {header: X-Session-Token}
)"));
  auto* s = dynamic_cast<session_affinity_scorer*>(p->find_plugin("session-affinity-scorer"));
  REQUIRE(s);
  CHECK(s->config().algorithm == "encoded_endpoint_header");
  CHECK(s->config().header == "x-session-token");
  CHECK_THAT(problems_of(yaml("plugins:\n- type: session-affinity-scorer\n  parameters: "
                              "{strategy: session_id}\n")),
             Contains("session_id is not supported"));
  CHECK_THAT(problems_of(yaml("plugins:\n- type: session-affinity-scorer\n  parameters: "
                              "{encodedEndpointHeaderConfig: {name: x}}\n")),
             Contains("unknown"));
}
