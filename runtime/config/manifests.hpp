// The stack's configuration: multi-document YAML in the shapes users already write (KAITO,
// Gateway API, GAIE/llm-d, KEDA) plus a few inferstack kinds for what those do not cover.
// Loading is strict: an unknown or mistyped field is an error naming file, document, object
// and field. Semantic checks (cross references, plugin parameters) run after loading.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "runtime/config/yaml_fields.hpp"

namespace inferstack::config {

using string_map = std::map<std::string, std::string>;
using std::chrono::nanoseconds;

struct source_ref {
  std::string file;
  int document = 0;
};

struct object_meta {
  std::string name;
  std::string namespace_ = "default";
  string_map labels;
  string_map annotations;
};

// -- inferstack.io/v1alpha1 InferenceGateway: the gateway process and its listener ------------
struct gateway_settings {
  object_meta meta;
  source_ref source;
  std::string listen = "127.0.0.1:8080";  ///< host:port of the OpenAI API
  std::string default_namespace = "default";
  int io_threads = 2;
  uint64_t max_body_bytes = 4 * 1024 * 1024;
  nanoseconds header_timeout = std::chrono::seconds(10);
  nanoseconds idle_timeout = std::chrono::seconds(60);
  nanoseconds upstream_timeout = std::chrono::seconds(600);
  nanoseconds drain_timeout = std::chrono::seconds(30);
  /// Scale from zero: how long a request waits for a Ready pod of its pool, and how many may
  /// wait at once (more get 503 at once).
  nanoseconds activation_timeout = std::chrono::seconds(120);
  int activation_queue = 1024;
  std::string secrets_dir = "var/secrets";  ///< generated API keys land here (mode 0600)
  /// The admin listener (/metrics, health, /control, /pods): never the tenants' listener.
  std::string admin_listen = "127.0.0.1:8081";
  /// A non-loopback admin address must be asked for explicitly.
  bool admin_allow_remote = false;
  /// Bearer tokens of the admin listener: read-write and read-only. Empty: generated at first
  /// start into <secretsDir>/inferstack-admin/ (mode 0600), like API keys.
  std::string admin_token_file;
  std::string admin_read_token_file;
  /// Fault injection (x-return-error) from clients reaches pods only when the operator turns
  /// this on; pods honour it only with their own switch too.
  bool forward_fault_injection = false;
  /// One info line per request (access log), JSON when JSON logs are on.
  bool access_log = true;
  /// spec.tracing: request spans sent to an OpenTelemetry collector (OTLP/HTTP, JSON).
  struct tracing_settings {
    std::string endpoint;         ///< http://host:port of the collector; empty: no tracing
    double sampling_ratio = 1.0;  ///< of new traces; a caller's traceparent decides for its own
    std::string service_name = "inferstack";
    int max_queue = 2048;  ///< spans waiting for export; more are dropped and counted
    int max_batch = 512;
    nanoseconds max_delay = std::chrono::seconds(1);
  } tracing;
};

// -- kaito.sh/v1alpha1 APIKey -----------------------------------------------------------------
struct api_key {
  object_meta meta;
  source_ref source;
  std::string key_file;        ///< read the key from this file
  std::string key_env;         ///< read the key from this environment variable
  bool auth_disabled = false;  ///< the namespace accepts requests without a key
};

// -- kaito.sh/v1alpha1 InferenceSet ------------------------------------------------------------
struct inference_set {
  object_meta meta;
  source_ref source;
  int replicas = 1;
  string_map selector;              ///< spec.labelSelector.matchLabels
  string_map template_labels;       ///< spec.template.metadata.labels
  string_map template_annotations;  ///< spec.template.metadata.annotations
  std::string instance_type;        ///< spec.template.resource.instanceType
  std::string preset;               ///< spec.template.inference.preset.name (the model)
  std::string image;                ///< spec.template.inference.preset.presetOptions.image
  std::vector<std::string>
      adapters;  ///< LoRA adapters: spec.template.inference.adapters[].source.name
  /// spec.leaderWorkerSet.size (LeaderWorkerSet): pods per replica, one node each; 0: one pod,
  /// or as many nodes as the preset's GPUs need when they are more than one node has.
  int group_size = 0;
  /// spec.leaderWorkerTemplate.leaderTemplate / workerTemplate .resource: a member's
  /// nvidia.com/gpu (0: the preset's GPUs shared evenly over the group) and instance type
  /// (empty: spec.template.resource.instanceType; the leader's, when given, replaces it).
  int leader_gpus = 0;
  int worker_gpus = 0;
  std::string leader_instance_type;
  std::string worker_instance_type;
};

// -- inference.networking.k8s.io/v1 (and x-k8s.io/v1alpha2) InferencePool ---------------------
struct inference_pool {
  object_meta meta;
  source_ref source;
  string_map selector;
  std::vector<int> target_ports;
  std::string picker;  ///< endpointPickerRef.name (extensionRef in v1alpha2)
  int picker_port = 0;
  std::string failure_mode = "FailClose";  ///< FailOpen | FailClose
};

// -- inference.networking.x-k8s.io/v1alpha2 InferenceObjective ---------------------------------
/// A request's objective (named by x-llm-d-inference-objective): its priority in its pool's
/// picker (higher first; negative: sheddable; unset: 0).
struct inference_objective {
  object_meta meta;
  source_ref source;
  int priority = 0;
  std::string pool;  ///< poolRef.name: an InferencePool of the same namespace
  /// inferstack's extension (llm-d's InferenceObjective has none): default latency objectives
  /// in ms for requests naming it without x-llm-d-slo-ttft-ms / -tpot-ms (spec.sloTtftMs,
  /// spec.sloTpotMs); 0: none.
  double slo_ttft_ms = 0;
  double slo_tpot_ms = 0;
  /// inferstack's extension: what happens to its requests when no pod is predicted to meet their
  /// objectives (spec.unattainableSloPolicy): BestEffort (the least late pod), Queue (wait in
  /// the picker's flow control for a pod that can, within the TTFT objective and the queue TTL),
  /// Reject (429 rejected-slo-unattainable); empty: llm-d's rule (sheddable refused, others best
  /// effort).
  std::string unattainable_slo_policy;
};

// -- gateway.networking.k8s.io/v1 HTTPRoute -----------------------------------------------------
struct route_header_match {
  std::string type = "Exact";  ///< Exact | RegularExpression
  std::string name;
  std::string value;
};
struct route_match {
  std::string path_type;  ///< empty: any path
  std::string path_value;
  std::vector<route_header_match> headers;
};
struct route_backend {
  std::string group;
  std::string kind = "InferencePool";
  std::string name;
  std::string namespace_;
  int port = 0;
  int weight = 1;
};
struct route_rule {
  std::vector<route_match> matches;
  std::vector<route_backend> backends;
  nanoseconds request_timeout{0};
};
struct http_route {
  object_meta meta;
  source_ref source;
  std::vector<std::string> parents;
  std::vector<std::string> hostnames;
  std::vector<route_rule> rules;
};

// -- EndpointPickerConfig (inference.networking.x-k8s.io/v1alpha1, llm-d.ai/v1alpha1) ----------
struct picker_plugin_spec {
  std::string name;  ///< defaults to type
  std::string type;
  YAML::Node parameters;  ///< validated by the picker module
  std::string path;       ///< where in the file, for messages
};
struct picker_profile_plugin {
  std::string plugin_ref;
  std::optional<double> weight;
};
struct picker_profile {
  std::string name;
  std::vector<picker_profile_plugin> plugins;
};
struct picker_config {
  object_meta meta;
  source_ref source;
  std::string api_version;
  std::vector<std::string> feature_gates;
  std::vector<picker_plugin_spec> plugins;
  std::vector<picker_profile> profiles;
  YAML::Node data_layer, flow_control, request_handler, saturation_detector;
};

// -- inferstack.io/v1alpha1 NodePool: fake nodes for the node mocker ----------------------------
struct node_pool {
  object_meta meta;
  source_ref source;
  std::string instance_type;
  int gpus_per_node = 0;  ///< 0: from the instance type table, CPU node when not a GPU type
  int count = 0;          ///< nodes at start
  int max_count = 0;      ///< provisioning may add nodes up to this (0: no provisioning)
  nanoseconds provision_delay = std::chrono::seconds(60);
  string_map labels;
  std::string capacity_type = "on-demand";  ///< on-demand | spot (Karpenter's capacity types)
  nanoseconds reclaim_notice = std::chrono::seconds(30);  ///< a spot node's warning before it goes
  double reclaim_rate = 0;    ///< spot: reclaims per node-hour, at random (Poisson); 0: none
  double price_per_hour = 0;  ///< a node's price an hour at its capacity type (for cost reports)
};

// -- inferstack.io/v1alpha1 ModelPreset: what a KAITO preset needs and how its engine runs -----
struct model_preset {
  object_meta meta;  ///< name = preset name used by InferenceSets
  source_ref source;
  std::string served_model_name;  ///< defaults to the preset name
  int gpus = 1;
  nanoseconds load_time = std::chrono::seconds(30);
  nanoseconds warm_load_time = std::chrono::seconds(5);  ///< model already cached on the node
  string_map engine;  ///< pod engine options, llm-d-inference-sim flag names (validated by pod)
};

// -- keda.sh/v1alpha1 ScaledObject --------------------------------------------------------------
struct scaling_policy {
  std::string type;  ///< Pods | Percent
  int value = 0;
  int period_seconds = 15;
};
struct scaling_rules {
  std::optional<int> stabilization_window_seconds;
  std::string select_policy = "Max";  ///< Max | Min | Disabled
  std::vector<scaling_policy> policies;
};
/// KEDA's spec.fallback: replicas while the trigger's metric cannot be read.
struct scaled_object_fallback {
  int failure_threshold = 3;
  int replicas = 0;
  std::string behavior = "static";  ///< static | currentReplicas | currentReplicasIf{Higher,Lower}
};
struct scaled_object {
  object_meta meta;
  source_ref source;
  std::string target_kind = "InferenceSet";
  std::string target_name;
  int polling_interval = 30;
  int cooldown_period = 300;
  int min_replicas = 0;
  int max_replicas = 100;
  std::optional<int> idle_replicas;  ///< idleReplicaCount (KEDA supports only 0)
  std::optional<scaled_object_fallback> fallback;
  std::optional<scaling_rules> scale_up, scale_down;
  std::string trigger_type;
  std::string metric_type = "AverageValue";  ///< AverageValue | Value
  string_map trigger_metadata;
};

// -- inferstack.io/v1alpha1 ModelServer: a model server outside this process (a real vLLM,
// llm-d-inference-sim, an `inferstack run pod`) that InferencePools select by its labels, like a
// pod. Requests go to it over HTTP; its load comes from its /metrics, its KV events over ZeroMQ.
struct model_server {
  object_meta meta;
  source_ref source;
  std::string url;             ///< http://host:port
  std::string address;         ///< its name in KV-event topics (default: host:port of url)
  std::string kv_events;       ///< ZeroMQ PUB endpoint it publishes on (we connect); empty: none
  std::string kv_replay;       ///< its replay ROUTER endpoint; empty: none
  bool scrape_metrics = true;  ///< read /metrics for load (servers that do not push reports)
  std::string metrics_path = "/metrics";
};

struct stack_config {
  std::optional<gateway_settings> gateway;
  std::vector<api_key> api_keys;
  std::vector<inference_set> inference_sets;
  std::vector<inference_pool> inference_pools;
  std::vector<inference_objective> inference_objectives;
  std::vector<http_route> http_routes;
  std::vector<picker_config> picker_configs;
  std::vector<node_pool> node_pools;
  std::vector<model_preset> model_presets;
  std::vector<scaled_object> scaled_objects;
  std::vector<model_server> model_servers;
  std::vector<std::string> files;
};

struct load_result {
  stack_config config;
  std::vector<problem> problems;
  bool ok() const { return problems.empty(); }
};

/// Loads one YAML text (may hold many documents). `file` names it in problems.
void load_text(const std::string& text, const std::string& file, load_result& into);

/// Loads files in order; all documents end up in one stack_config.
load_result load_files(const std::vector<std::string>& paths);

/// An override `Kind/name:dotted.path=value` (or `Kind:path=value` for singletons), applied
/// to the YAML before decoding; what --set and INFERSTACK_SET give.
struct override_spec {
  std::string kind;
  std::string name;
  std::string path;
  std::string value;
};
std::optional<override_spec> parse_override(const std::string& text, std::string* error);

/// Loads one YAML text, applying overrides to matching documents before decoding.
void load_text(const std::string& text, const std::string& file, load_result& into,
               const std::vector<override_spec>& overrides);

/// Loads files, applying overrides to matching documents before decoding.
load_result load_files(const std::vector<std::string>& paths,
                       const std::vector<override_spec>& overrides);

/// Checks cross references (routes to pools, pools to pickers, sets to presets...), after
/// loading; appends problems.
void validate_references(const stack_config& config, std::vector<problem>& problems);

/// Every kind the loader understands, as "apiVersion kind" lines, for --help and errors.
std::vector<std::string> known_kinds();

}  // namespace inferstack::config
