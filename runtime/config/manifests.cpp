#include "runtime/config/manifests.hpp"

#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include "runtime/tracing/collector_endpoint.hpp"

namespace inferstack::config {

namespace {

void read_meta(fields& doc, object_meta& meta, bool name_required = true) {
  auto m = doc.object("metadata", name_required);
  m.get("name", meta.name, name_required);
  m.get("namespace", meta.namespace_);
  m.get("labels", meta.labels);
  m.get("annotations", meta.annotations);
  // Kubernetes bookkeeping users paste along with their manifests: accepted and ignored.
  m.raw("uid");
  m.raw("resourceVersion");
  m.raw("generation");
  m.raw("creationTimestamp");
  m.raw("generateName");
  m.raw("finalizers");
  m.raw("ownerReferences");
  m.raw("managedFields");
  m.finish();
  if (name_required && !meta.name.empty()) {
    // DNS-1123 label-ish: what Kubernetes would accept as a name.
    bool ok = meta.name.size() <= 253;
    for (char c : meta.name)
      if (!(std::islower(static_cast<unsigned char>(c)) ||
            std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.'))
        ok = false;
    if (!ok)
      doc.diag().add(
          "metadata.name", doc.raw("metadata"),
          "'" + meta.name + "' is not a valid name (lower-case letters, digits, '-', '.')");
  }
}

void decode_tracing(fields& spec, diagnostics& diag, gateway_settings::tracing_settings& t) {
  if (!spec.has("tracing")) return;
  auto section = spec.object("tracing");
  section.get("endpoint", t.endpoint, true);
  section.get("samplingRatio", t.sampling_ratio);
  section.get("serviceName", t.service_name);
  section.get("maxQueue", t.max_queue);
  section.get("maxBatch", t.max_batch);
  section.get("maxDelay", t.max_delay);
  section.finish();
  std::string error;
  if (!t.endpoint.empty() && !inferstack::tracing::parse_collector_endpoint(t.endpoint, error))
    diag.add("spec.tracing.endpoint", error);
  if (!(t.sampling_ratio >= 0 && t.sampling_ratio <= 1))
    diag.add("spec.tracing.samplingRatio", "must be between 0 and 1");
  if (t.service_name.empty()) diag.add("spec.tracing.serviceName", "must not be empty");
  if (t.max_queue < 1)
    diag.add("spec.tracing.maxQueue", "must be at least 1");
  else if (t.max_batch < 1 || t.max_batch > t.max_queue)
    diag.add("spec.tracing.maxBatch", "must be between 1 and maxQueue");
  if (t.max_delay <= nanoseconds::zero()) diag.add("spec.tracing.maxDelay", "must be positive");
}

void decode_gateway(fields& doc, stack_config& out, const source_ref& src) {
  gateway_settings g;
  g.source = src;
  read_meta(doc, g.meta);
  auto spec = doc.object("spec", true);
  spec.get("listen", g.listen);
  spec.get("defaultNamespace", g.default_namespace);
  spec.get("ioThreads", g.io_threads);
  spec.get("maxBodyBytes", g.max_body_bytes);
  spec.get("headerTimeout", g.header_timeout);
  spec.get("idleTimeout", g.idle_timeout);
  spec.get("upstreamTimeout", g.upstream_timeout);
  spec.get("drainTimeout", g.drain_timeout);
  spec.get("activationTimeout", g.activation_timeout);
  spec.get("activationQueue", g.activation_queue);
  spec.get("secretsDir", g.secrets_dir);
  spec.get("adminListen", g.admin_listen);
  spec.get("adminAllowRemote", g.admin_allow_remote);
  spec.get("adminTokenFile", g.admin_token_file);
  spec.get("adminReadTokenFile", g.admin_read_token_file);
  spec.get("forwardFaultInjection", g.forward_fault_injection);
  spec.get("accessLog", g.access_log);
  decode_tracing(spec, doc.diag(), g.tracing);
  spec.finish();
  if (g.io_threads < 1) doc.diag().add("spec.ioThreads", "must be at least 1");
  if (g.activation_queue < 0) doc.diag().add("spec.activationQueue", "must not be negative");
  if (g.listen.find(':') == std::string::npos)
    doc.diag().add("spec.listen", "expected host:port, got '" + g.listen + "'");
  if (!g.admin_listen.empty() && g.admin_listen.find(':') == std::string::npos)
    doc.diag().add("spec.adminListen", "expected host:port, got '" + g.admin_listen + "'");
  if (out.gateway)
    doc.diag().add("kind", "a second InferenceGateway; only one is allowed (first in " +
                               out.gateway->source.file + ")");
  else
    out.gateway = std::move(g);
}

void decode_api_key(fields& doc, stack_config& out, const source_ref& src) {
  api_key k;
  k.source = src;
  read_meta(doc, k.meta);
  auto spec = doc.object("spec");
  spec.get("keyFile", k.key_file);
  spec.get("keyEnv", k.key_env);
  spec.get("authDisabled", k.auth_disabled);
  if (spec.has("key") || spec.has("value"))
    doc.diag().add("spec.key", "keys are never written in manifests: use keyFile or keyEnv");
  spec.raw("key");
  spec.raw("value");
  spec.finish();
  if (!k.key_file.empty() && !k.key_env.empty())
    doc.diag().add("spec", "keyFile and keyEnv are exclusive");
  out.api_keys.push_back(std::move(k));
}

void decode_inference_set(fields& doc, stack_config& out, const source_ref& src) {
  inference_set s;
  s.source = src;
  read_meta(doc, s.meta);
  auto spec = doc.object("spec", true);
  spec.get("replicas", s.replicas);
  if (s.replicas < 0) doc.diag().add("spec.replicas", "must not be negative");
  auto selector = spec.object("labelSelector");
  selector.get("matchLabels", s.selector);
  selector.finish();
  auto tmpl = spec.object("template", true);
  auto tmeta = tmpl.object("metadata");
  tmeta.get("labels", s.template_labels);
  tmeta.get("annotations", s.template_annotations);
  tmeta.finish();
  auto resource = tmpl.object("resource", true);
  resource.get("instanceType", s.instance_type, true);
  resource.raw("count");
  resource.raw("labelSelector");
  resource.finish();
  auto inference = tmpl.object("inference", true);
  auto preset = inference.object("preset", true);
  preset.get("name", s.preset, true);
  std::string access_mode;
  preset.get_enum("accessMode", access_mode, {"public", "private"});
  auto options = preset.object("presetOptions");
  options.get("image", s.image);
  options.raw("modelAccessSecret");
  options.finish();
  preset.finish();
  for (auto& adapter : inference.list("adapters")) {
    auto source = adapter.object("source", true);
    std::string name;
    source.get("name", name, true);
    source.raw("image");
    source.finish();
    adapter.raw("strength");
    adapter.finish();
    if (!name.empty()) s.adapters.push_back(name);
  }
  inference.raw("config");
  // LeaderWorkerSet: the flat form (leaderWorkerSet: size, restartPolicy) or LWS's own
  // (leaderWorkerTemplate: size, restartPolicy, leaderTemplate, workerTemplate); a member
  // template says its pod's resource (nvidia.com/gpu as gpus, instanceType); the leader keeps
  // spec.template's inference (it is the endpoint).
  if (spec.has("leaderWorkerSet") && spec.has("leaderWorkerTemplate"))
    doc.diag().add("spec.leaderWorkerTemplate",
                   "leaderWorkerSet and leaderWorkerTemplate are "
                   "exclusive: write one");
  for (std::string key : {"leaderWorkerSet", "leaderWorkerTemplate"}) {
    if (!spec.has(key)) continue;
    auto lws = spec.object(key);
    lws.get("size", s.group_size, true);
    std::string restart = "RecreateGroupOnPodRestart";
    lws.get_enum("restartPolicy", restart, {"RecreateGroupOnPodRestart"});
    if (s.group_size < 1) doc.diag().add("spec." + key + ".size", "must be at least 1");
    if (key == "leaderWorkerTemplate") {
      auto member = [&](const std::string& name, int& gpus, std::string& instance_type) {
        if (!lws.has(name)) return;
        auto t = lws.object(name);
        auto res = t.object("resource");
        res.get("instanceType", instance_type);
        res.get("gpus", gpus);
        res.finish();
        t.finish();
        if (res.has("gpus") && gpus < 1)
          doc.diag().add("spec.leaderWorkerTemplate." + name + ".resource.gpus",
                         "must be at least 1 (nvidia.com/gpu per pod)");
      };
      member("leaderTemplate", s.leader_gpus, s.leader_instance_type);
      member("workerTemplate", s.worker_gpus, s.worker_instance_type);
    }
    lws.finish();
  }
  if (!s.leader_instance_type.empty()) s.instance_type = s.leader_instance_type;
  inference.finish();
  tmpl.finish();
  spec.raw("nodeCountLimit");
  spec.finish();
  // The chart refuses an autoscaling range that excludes the starting replicas.
  auto max_it = s.meta.annotations.find("scaledobject.kaito.sh/max-replicas");
  if (max_it != s.meta.annotations.end()) {
    char* end = nullptr;
    long max = std::strtol(max_it->second.c_str(), &end, 10);
    if (*end != '\0' || max < 0)
      doc.diag().add("metadata.annotations.scaledobject.kaito.sh/max-replicas",
                     "expected a non-negative integer, got '" + max_it->second + "'");
    else if (max < s.replicas)
      doc.diag().add("metadata.annotations.scaledobject.kaito.sh/max-replicas",
                     "max-replicas " + max_it->second + " is below spec.replicas " +
                         std::to_string(s.replicas));
  }
  out.inference_sets.push_back(std::move(s));
}

void decode_inference_pool(fields& doc, stack_config& out, const source_ref& src,
                           const std::string& api_version) {
  inference_pool p;
  p.source = src;
  read_meta(doc, p.meta);
  auto spec = doc.object("spec", true);
  static const std::set<std::string> modes{"FailOpen", "FailClose"};
  if (api_version == "inference.networking.k8s.io/v1") {
    auto selector = spec.object("selector", true);
    selector.get("matchLabels", p.selector, true);
    selector.finish();
    for (auto& port : spec.list("targetPorts", true)) {
      int number = 0;
      port.get("number", number, true);
      port.finish();
      if (number < 1 || number > 65535)
        doc.diag().add(port.path() + ".number", "port out of range");
      else
        p.target_ports.push_back(number);
    }
    auto ref = spec.object("endpointPickerRef", true);
    ref.get("name", p.picker, true);
    ref.raw("group");
    ref.raw("kind");
    auto port = ref.object("port");
    port.get("number", p.picker_port);
    port.finish();
    ref.get_enum("failureMode", p.failure_mode, modes);
    ref.finish();
  } else {  // v1alpha2
    spec.get("selector", p.selector, true);
    int port = 0;
    spec.get("targetPortNumber", port, true);
    if (port > 0) p.target_ports.push_back(port);
    auto ref = spec.object("extensionRef", true);
    ref.get("name", p.picker, true);
    ref.get("portNumber", p.picker_port);
    ref.raw("group");
    ref.raw("kind");
    ref.get_enum("failureMode", p.failure_mode, modes);
    ref.finish();
  }
  spec.finish();
  out.inference_pools.push_back(std::move(p));
}

void decode_http_route(fields& doc, stack_config& out, const source_ref& src) {
  http_route r;
  r.source = src;
  read_meta(doc, r.meta);
  auto spec = doc.object("spec", true);
  for (auto& parent : spec.list("parentRefs")) {
    std::string name;
    parent.get("name", name, true);
    parent.raw("group");
    parent.raw("kind");
    parent.raw("namespace");
    parent.raw("sectionName");
    parent.raw("port");
    parent.finish();
    r.parents.push_back(name);
  }
  spec.get("hostnames", r.hostnames);
  for (auto& rule : spec.list("rules", true)) {
    route_rule rr;
    for (auto& match : rule.list("matches")) {
      route_match m;
      auto path = match.object("path");
      path.get_enum("type", m.path_type, {"Exact", "PathPrefix", "RegularExpression"});
      path.get("value", m.path_value);
      path.finish();
      for (auto& header : match.list("headers")) {
        route_header_match h;
        header.get_enum("type", h.type, {"Exact", "RegularExpression"});
        header.get("name", h.name, true);
        header.get("value", h.value, true);
        header.finish();
        m.headers.push_back(std::move(h));
      }
      match.raw("method");
      match.raw("queryParams");
      match.finish();
      rr.matches.push_back(std::move(m));
    }
    for (auto& backend : rule.list("backendRefs", true)) {
      route_backend b;
      backend.get("group", b.group);
      backend.get_enum("kind", b.kind, {"InferencePool", "Service"});
      backend.get("name", b.name, true);
      backend.get("namespace", b.namespace_);
      backend.get("port", b.port);
      backend.get("weight", b.weight);
      if (b.weight < 0) doc.diag().add(backend.path() + ".weight", "must not be negative");
      backend.finish();
      rr.backends.push_back(std::move(b));
    }
    auto timeouts = rule.object("timeouts");
    timeouts.get("request", rr.request_timeout);
    timeouts.raw("backendRequest");
    timeouts.finish();
    if (rule.has("filters"))
      doc.diag().add(rule.path() + ".filters", "route filters are not supported");
    rule.raw("filters");
    rule.raw("name");
    rule.finish();
    r.rules.push_back(std::move(rr));
  }
  spec.finish();
  out.http_routes.push_back(std::move(r));
}

void decode_picker_config(fields& doc, stack_config& out, const source_ref& src,
                          const std::string& api_version) {
  picker_config c;
  c.source = src;
  c.api_version = api_version;
  // EPP configs are files, not cluster objects: metadata is optional; the name ties the
  // config to the InferencePools whose endpointPickerRef names it.
  if (doc.has("metadata")) read_meta(doc, c.meta, false);
  doc.get("featureGates", c.feature_gates);
  for (auto& plugin : doc.list("plugins")) {
    picker_plugin_spec p;
    plugin.get("type", p.type, true);
    plugin.get("name", p.name);
    if (p.name.empty()) p.name = p.type;
    p.parameters.reset(plugin.raw("parameters"));
    p.path = plugin.path();
    plugin.finish();
    c.plugins.push_back(std::move(p));
  }
  for (auto& profile : doc.list("schedulingProfiles")) {
    picker_profile pr;
    profile.get("name", pr.name, true);
    for (auto& ref : profile.list("plugins", true)) {
      picker_profile_plugin pp;
      ref.get("pluginRef", pp.plugin_ref, true);
      if (ref.has("weight")) {
        double w = 0;
        ref.get("weight", w);
        pp.weight = w;
      }
      ref.finish();
      pr.plugins.push_back(std::move(pp));
    }
    profile.finish();
    c.profiles.push_back(std::move(pr));
  }
  // YAML::Node assignment copies into the target; reset() rebinds, which is what we want.
  c.data_layer.reset(doc.raw("dataLayer"));
  c.flow_control.reset(doc.raw("flowControl"));
  c.request_handler.reset(doc.raw("requestHandler"));
  c.saturation_detector.reset(doc.raw("saturationDetector"));
  out.picker_configs.push_back(std::move(c));
}

void decode_inference_objective(fields& doc, stack_config& out, const source_ref& src) {
  inference_objective o;
  o.source = src;
  read_meta(doc, o.meta);
  auto spec = doc.object("spec", true);
  spec.get("priority", o.priority);
  spec.get("sloTtftMs", o.slo_ttft_ms);
  spec.get("sloTpotMs", o.slo_tpot_ms);
  spec.get_enum("unattainableSloPolicy", o.unattainable_slo_policy,
                {"BestEffort", "Queue", "Reject"});
  if (o.slo_ttft_ms < 0 || o.slo_tpot_ms < 0)
    doc.diag().add(spec.child_path(o.slo_ttft_ms < 0 ? "sloTtftMs" : "sloTpotMs"),
                   "must not be negative");
  auto ref = spec.object("poolRef", true);
  ref.get("name", o.pool, true);
  ref.raw("group");
  ref.raw("kind");
  ref.finish();
  spec.finish();
  out.inference_objectives.push_back(std::move(o));
}

void decode_node_pool(fields& doc, stack_config& out, const source_ref& src) {
  node_pool p;
  p.source = src;
  read_meta(doc, p.meta);
  auto spec = doc.object("spec", true);
  spec.get("instanceType", p.instance_type, true);
  spec.get("gpusPerNode", p.gpus_per_node);
  spec.get("count", p.count);
  spec.get("maxCount", p.max_count);
  spec.get("provisionDelay", p.provision_delay);
  spec.get("labels", p.labels);
  spec.get_enum("capacityType", p.capacity_type, {"on-demand", "spot"});
  spec.get("reclaimNotice", p.reclaim_notice);
  spec.get("reclaimRate", p.reclaim_rate);
  spec.get("pricePerHour", p.price_per_hour);
  spec.finish();
  if (p.reclaim_rate < 0) doc.diag().add("spec.reclaimRate", "must not be negative");
  if (p.price_per_hour < 0) doc.diag().add("spec.pricePerHour", "must not be negative");
  if (p.reclaim_rate > 0 && p.capacity_type != "spot")
    doc.diag().add("spec.reclaimRate", "only spot nodes are reclaimed (capacityType: spot)");
  if (p.count < 0) doc.diag().add("spec.count", "must not be negative");
  if (p.max_count != 0 && p.max_count < p.count)
    doc.diag().add("spec.maxCount", "is below spec.count");
  out.node_pools.push_back(std::move(p));
}

void decode_model_preset(fields& doc, stack_config& out, const source_ref& src) {
  model_preset m;
  m.source = src;
  read_meta(doc, m.meta);
  auto spec = doc.object("spec", true);
  spec.get("servedModelName", m.served_model_name);
  spec.get("gpus", m.gpus);
  spec.get("loadTime", m.load_time);
  spec.get("warmLoadTime", m.warm_load_time);
  auto engine = spec.raw("engine");
  if (engine.IsDefined() && !engine.IsNull()) {
    if (!engine.IsMap()) {
      doc.diag().add("spec.engine", engine, "expected a mapping of engine options");
    } else {
      for (const auto& kv : engine) {
        if (kv.second.IsScalar())
          m.engine[kv.first.Scalar()] = kv.second.Scalar();
        else if (kv.second.IsSequence()) {
          std::string joined;
          for (const auto& item : kv.second)
            joined += (joined.empty() ? "" : ",") + (item.IsScalar() ? item.Scalar() : "");
          m.engine[kv.first.Scalar()] = joined;
        } else
          doc.diag().add("spec.engine." + kv.first.Scalar(), kv.second,
                         "expected a scalar or a list");
      }
    }
  }
  spec.finish();
  if (m.gpus < 0) doc.diag().add("spec.gpus", "must not be negative");
  if (m.served_model_name.empty()) m.served_model_name = m.meta.name;
  out.model_presets.push_back(std::move(m));
}

std::optional<scaling_rules> read_rules(fields parent, const std::string& key) {
  auto f = parent.object(key);
  if (!f.valid()) return std::nullopt;
  scaling_rules r;
  if (f.has("stabilizationWindowSeconds")) {
    int w = 0;
    f.get("stabilizationWindowSeconds", w);
    r.stabilization_window_seconds = w;
  }
  f.get_enum("selectPolicy", r.select_policy, {"Max", "Min", "Disabled"});
  for (auto& p : f.list("policies")) {
    scaling_policy sp;
    p.get_enum("type", sp.type, {"Pods", "Percent"}, true);
    p.get("value", sp.value, true);
    p.get("periodSeconds", sp.period_seconds, true);
    p.finish();
    r.policies.push_back(sp);
  }
  f.finish();
  return r;
}

void decode_scaled_object(fields& doc, stack_config& out, const source_ref& src) {
  scaled_object s;
  s.source = src;
  read_meta(doc, s.meta);
  auto spec = doc.object("spec", true);
  auto target = spec.object("scaleTargetRef", true);
  target.get("name", s.target_name, true);
  target.get("kind", s.target_kind);
  target.raw("apiVersion");
  target.finish();
  spec.get("pollingInterval", s.polling_interval);
  spec.get("cooldownPeriod", s.cooldown_period);
  spec.get("minReplicaCount", s.min_replicas);
  spec.get("maxReplicaCount", s.max_replicas);
  spec.raw("initialCooldownPeriod");
  if (spec.has("idleReplicaCount")) {
    int idle = 0;
    spec.get("idleReplicaCount", idle);
    s.idle_replicas = idle;
  }
  if (auto fb = spec.object("fallback"); fb.valid()) {
    scaled_object_fallback f;
    fb.get("failureThreshold", f.failure_threshold, true);
    fb.get("replicas", f.replicas, true);
    fb.get_enum("behavior", f.behavior,
                {"static", "currentReplicas", "currentReplicasIfHigher", "currentReplicasIfLower"});
    fb.finish();
    if (f.failure_threshold < 1)
      doc.diag().add("spec.fallback.failureThreshold", "must be at least 1");
    if (f.replicas < 0) doc.diag().add("spec.fallback.replicas", "must not be negative");
    s.fallback = f;
  }
  auto advanced = spec.object("advanced");
  auto hpa = advanced.object("horizontalPodAutoscalerConfig");
  hpa.raw("name");
  auto behavior = hpa.object("behavior");
  s.scale_up = read_rules(behavior, "scaleUp");
  s.scale_down = read_rules(behavior, "scaleDown");
  behavior.finish();
  hpa.finish();
  advanced.raw("restoreToOriginalReplicaCount");
  advanced.finish();
  auto triggers = spec.list("triggers", true);
  if (triggers.size() > 1) doc.diag().add("spec.triggers", "only one trigger is supported");
  for (auto& t : triggers) {
    t.get("type", s.trigger_type, true);
    t.get_enum("metricType", s.metric_type, {"AverageValue", "Value"});
    t.get("metadata", s.trigger_metadata, true);
    t.raw("name");
    t.finish();
  }
  spec.finish();
  if (s.min_replicas < 0) doc.diag().add("spec.minReplicaCount", "must not be negative");
  if (s.max_replicas < s.min_replicas)
    doc.diag().add("spec.maxReplicaCount", "is below minReplicaCount");
  // KEDA's own validation: idleReplicaCount is 0 (the only value it supports) and below
  // minReplicaCount; a fallback needs an AverageValue trigger.
  if (s.idle_replicas && *s.idle_replicas != 0)
    doc.diag().add("spec.idleReplicaCount", "only 0 is supported (as in KEDA)");
  else if (s.idle_replicas && s.min_replicas <= *s.idle_replicas)
    doc.diag().add("spec.idleReplicaCount", "must be below minReplicaCount");
  if (s.fallback && s.metric_type == "Value")
    doc.diag().add("spec.fallback", "needs a trigger with metricType AverageValue (as in KEDA)");
  out.scaled_objects.push_back(std::move(s));
}

void decode_model_server(fields& doc, stack_config& out, const source_ref& src) {
  model_server m;
  m.source = src;
  read_meta(doc, m.meta);
  auto spec = doc.object("spec", true);
  spec.get("url", m.url, true);
  spec.get("address", m.address);
  auto kv = spec.object("kvEvents");
  kv.get("endpoint", m.kv_events, kv.valid());
  kv.get("replayEndpoint", m.kv_replay);
  kv.finish();
  auto metrics = spec.object("metrics");
  metrics.get("scrape", m.scrape_metrics);
  metrics.get("path", m.metrics_path);
  metrics.finish();
  spec.finish();
  if (!m.url.empty() && m.url.rfind("http://", 0) != 0)
    doc.diag().add("spec.url", "expected http://host:port, got '" + m.url + "'");
  if (m.address.empty() && m.url.rfind("http://", 0) == 0) {
    auto rest = m.url.substr(7);
    m.address = rest.substr(0, rest.find('/'));
  }
  out.model_servers.push_back(std::move(m));
}

struct kind_entry {
  std::set<std::string> api_versions;
  std::function<void(fields&, stack_config&, const source_ref&, const std::string&)> decode;
};

const std::map<std::string, kind_entry>& kinds() {
  static const std::map<std::string, kind_entry> table{
      {"InferenceGateway",
       {{"inferstack.io/v1alpha1"},
        [](fields& d, stack_config& o, const source_ref& s, const std::string&) {
          decode_gateway(d, o, s);
        }}},
      {"APIKey",
       {{"kaito.sh/v1alpha1", "apikeys.kaito.sh/v1alpha1"},
        [](fields& d, stack_config& o, const source_ref& s, const std::string&) {
          decode_api_key(d, o, s);
        }}},
      {"InferenceSet",
       {{"kaito.sh/v1alpha1"},
        [](fields& d, stack_config& o, const source_ref& s, const std::string&) {
          decode_inference_set(d, o, s);
        }}},
      {"InferencePool",
       {{"inference.networking.k8s.io/v1", "inference.networking.x-k8s.io/v1alpha2"},
        decode_inference_pool}},
      {"HTTPRoute",
       {{"gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"},
        [](fields& d, stack_config& o, const source_ref& s, const std::string&) {
          decode_http_route(d, o, s);
        }}},
      {"InferenceObjective",
       {{"inference.networking.x-k8s.io/v1alpha2"},
        [](fields& d, stack_config& o, const source_ref& s, const std::string&) {
          decode_inference_objective(d, o, s);
        }}},
      {"EndpointPickerConfig",
       {{"inference.networking.x-k8s.io/v1alpha1", "llm-d.ai/v1alpha1"}, decode_picker_config}},
      {"NodePool",
       {{"inferstack.io/v1alpha1"},
        [](fields& d, stack_config& o, const source_ref& s, const std::string&) {
          decode_node_pool(d, o, s);
        }}},
      {"ModelPreset",
       {{"inferstack.io/v1alpha1"},
        [](fields& d, stack_config& o, const source_ref& s, const std::string&) {
          decode_model_preset(d, o, s);
        }}},
      {"ModelServer",
       {{"inferstack.io/v1alpha1"},
        [](fields& d, stack_config& o, const source_ref& s, const std::string&) {
          decode_model_server(d, o, s);
        }}},
      {"ScaledObject",
       {{"keda.sh/v1alpha1"},
        [](fields& d, stack_config& o, const source_ref& s, const std::string&) {
          decode_scaled_object(d, o, s);
        }}},
  };
  return table;
}

std::string object_label(const std::string& kind, const YAML::Node& doc) {
  std::string label = kind;
  const YAML::Node& d = doc;
  auto meta = d["metadata"];
  if (meta.IsDefined() && meta.IsMap()) {
    auto ns = meta["namespace"];
    auto name = meta["name"];
    label += " ";
    if (ns.IsDefined() && ns.IsScalar()) label += ns.Scalar() + "/";
    if (name.IsDefined() && name.IsScalar()) label += name.Scalar();
  }
  return label;
}

void set_path(YAML::Node node, const std::string& path, const std::string& value) {
  auto dot = path.find('.');
  auto head = path.substr(0, dot);
  if (dot == std::string::npos) {
    node[head] = YAML::Load(value);  // typed like YAML would type it
    return;
  }
  if (!node[head].IsDefined() || !node[head].IsMap()) node[head] = YAML::Node(YAML::NodeType::Map);
  set_path(node[head], path.substr(dot + 1), value);
}

void decode_document(YAML::Node doc, const std::string& file, int index, load_result& into,
                     const std::vector<override_spec>& overrides) {
  diagnostics diag(file, index);
  if (!doc.IsDefined() || doc.IsNull()) return;  // empty document (e.g. trailing ---)
  if (!doc.IsMap()) {
    diag.add("", doc, "a document must be a mapping with apiVersion and kind");
    into.problems.insert(into.problems.end(), diag.problems().begin(), diag.problems().end());
    return;
  }
  const YAML::Node& cdoc = doc;
  std::string kind =
      cdoc["kind"].IsDefined() && cdoc["kind"].IsScalar() ? cdoc["kind"].Scalar() : "";
  std::string api = cdoc["apiVersion"].IsDefined() && cdoc["apiVersion"].IsScalar()
                        ? cdoc["apiVersion"].Scalar()
                        : "";
  diag.set_object(object_label(kind.empty() ? "<no kind>" : kind, doc));
  for (const auto& o : overrides) {
    if (o.kind != kind) continue;
    auto meta = cdoc["metadata"];
    // (yaml-cpp throws on a subscript of a scalar: metadata may be anything here)
    auto name_node = meta.IsDefined() && meta.IsMap() ? meta["name"] : YAML::Node();
    std::string name = name_node.IsDefined() && name_node.IsScalar() ? name_node.Scalar() : "";
    if (!o.name.empty() && o.name != name) continue;
    // A value that is not YAML is the operator's mistake, reported like any other.
    try {
      set_path(doc, o.path, o.value);
    } catch (const YAML::Exception& e) {
      diag.add(o.path, "--set value '" + o.value + "' is not YAML: " + e.msg);
    }
  }
  fields top(doc, "", diag);
  std::string ignored;
  top.get("kind", ignored, true);
  top.get("apiVersion", ignored, true);
  auto entry = kinds().find(kind);
  if (!kind.empty() && entry == kinds().end()) {
    std::string all;
    for (const auto& [name, e] : kinds())
      all += (all.empty() ? "" : ", ") + name;
    diag.add("kind", cdoc["kind"], "unknown kind '" + kind + "' (known: " + all + ")");
  } else if (entry != kinds().end()) {
    if (!api.empty() && !entry->second.api_versions.count(api)) {
      std::string all;
      for (const auto& v : entry->second.api_versions)
        all += (all.empty() ? "" : ", ") + v;
      diag.add("apiVersion", cdoc["apiVersion"],
               "'" + api + "' is not an apiVersion of " + kind + " (expected " + all + ")");
    } else if (!api.empty()) {
      entry->second.decode(top, into.config, source_ref{file, index}, api);
      top.raw("status");  // kubectl output carries status: ignore it
      top.finish();
    }
  }
  into.problems.insert(into.problems.end(), diag.problems().begin(), diag.problems().end());
}

/// Sees each document start of a YAML text, and nothing else.
class document_starts : public YAML::EventHandler {
 public:
  YAML::Mark start;
  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

/// yaml-cpp 0.7 (Debian 12's) hands out the same empty document forever on some malformed
/// texts, so LoadAll never returns and grows without bound (found by tests/fuzz/manifests_fuzz;
/// fixed upstream by jbeder/yaml-cpp#1319). A first pass over the events, which builds
/// nothing, catches it: a document that starts where the one before it started. Throws on a
/// syntax error, as LoadAll does.
void check_documents_advance(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  document_starts handler;
  int previous = -1;
  while (parser.HandleNextDocument(handler)) {
    if (handler.start.pos == previous)
      throw YAML::ParserException(handler.start, "the parser does not get past this point");
    previous = handler.start.pos;
  }
}

void load_text_with(const std::string& text, const std::string& file, load_result& into,
                    const std::vector<override_spec>& overrides) {
  std::vector<YAML::Node> docs;
  try {
    check_documents_advance(text);
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    into.problems.push_back(
        problem{file, 0, "", "", e.mark.is_null() ? 0 : e.mark.line + 1, "YAML syntax: " + e.msg});
    return;
  }
  into.config.files.push_back(file);
  int index = 0;
  for (auto& doc : docs)
    decode_document(doc, file, ++index, into, overrides);
}

}  // namespace

void load_text(const std::string& text, const std::string& file, load_result& into) {
  load_text_with(text, file, into, {});
}

void load_text(const std::string& text, const std::string& file, load_result& into,
               const std::vector<override_spec>& overrides) {
  load_text_with(text, file, into, overrides);
}

load_result load_files(const std::vector<std::string>& paths,
                       const std::vector<override_spec>& overrides) {
  load_result result;
  for (const auto& path : paths) {
    std::ifstream in(path);
    if (!in) {
      result.problems.push_back(problem{path, 0, "", "", 0, "cannot read file"});
      continue;
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    load_text_with(buffer.str(), path, result, overrides);
  }
  for (const auto& o : overrides) {
    if (!kinds().count(o.kind))
      result.problems.push_back(problem{"--set", 0, o.kind, o.path, 0, "unknown kind"});
  }
  validate_references(result.config, result.problems);
  return result;
}

load_result load_files(const std::vector<std::string>& paths) {
  return load_files(paths, {});
}

std::optional<override_spec> parse_override(const std::string& text, std::string* error) {
  // Kind/name:path=value  or  Kind:path=value
  auto eq = text.find('=');
  auto colon = text.find(':');
  if (eq == std::string::npos || colon == std::string::npos || colon > eq) {
    if (error) *error = "expected Kind[/name]:field.path=value, got '" + text + "'";
    return std::nullopt;
  }
  override_spec o;
  auto target = text.substr(0, colon);
  auto slash = target.find('/');
  o.kind = target.substr(0, slash);
  if (slash != std::string::npos) o.name = target.substr(slash + 1);
  o.path = text.substr(colon + 1, eq - colon - 1);
  o.value = text.substr(eq + 1);
  if (o.kind.empty() || o.path.empty()) {
    if (error) *error = "expected Kind[/name]:field.path=value, got '" + text + "'";
    return std::nullopt;
  }
  return o;
}

void validate_references(const stack_config& config, std::vector<problem>& problems) {
  auto report = [&](const source_ref& src, const std::string& object, const std::string& field,
                    std::string message) {
    problems.push_back(problem{src.file, src.document, object, field, 0, std::move(message)});
  };
  // duplicates: same kind, namespace and name twice
  auto check_unique = [&](const auto& list, const char* kind) {
    std::map<std::pair<std::string, std::string>, source_ref> seen;
    for (const auto& item : list) {
      auto key = std::make_pair(item.meta.namespace_, item.meta.name);
      auto [it, fresh] = seen.emplace(key, item.source);
      if (!fresh)
        report(item.source, std::string(kind) + " " + key.first + "/" + key.second, "metadata.name",
               "duplicate: already defined in " + it->second.file + " document " +
                   std::to_string(it->second.document));
    }
  };
  check_unique(config.api_keys, "APIKey");
  check_unique(config.inference_sets, "InferenceSet");
  check_unique(config.inference_pools, "InferencePool");
  check_unique(config.inference_objectives, "InferenceObjective");
  for (const auto& o : config.inference_objectives) {
    bool found = false;
    for (const auto& pool : config.inference_pools)
      found |= pool.meta.name == o.pool && pool.meta.namespace_ == o.meta.namespace_;
    if (!found)
      report(o.source, "InferenceObjective " + o.meta.namespace_ + "/" + o.meta.name,
             "spec.poolRef.name", "no InferencePool " + o.meta.namespace_ + "/" + o.pool);
  }
  check_unique(config.http_routes, "HTTPRoute");
  check_unique(config.node_pools, "NodePool");
  check_unique(config.model_presets, "ModelPreset");
  check_unique(config.scaled_objects, "ScaledObject");
  check_unique(config.model_servers, "ModelServer");

  for (const auto& route : config.http_routes) {
    for (size_t r = 0; r < route.rules.size(); ++r) {
      for (size_t b = 0; b < route.rules[r].backends.size(); ++b) {
        const auto& backend = route.rules[r].backends[b];
        if (backend.kind != "InferencePool") continue;
        auto ns = backend.namespace_.empty() ? route.meta.namespace_ : backend.namespace_;
        bool found = false;
        for (const auto& pool : config.inference_pools)
          found |= pool.meta.name == backend.name && pool.meta.namespace_ == ns;
        if (!found)
          report(
              route.source, "HTTPRoute " + route.meta.namespace_ + "/" + route.meta.name,
              "spec.rules[" + std::to_string(r) + "].backendRefs[" + std::to_string(b) + "].name",
              "no InferencePool " + ns + "/" + backend.name);
      }
    }
  }
  // With NodePools configured, a set whose pods no pool can ever hold would stay Pending.
  if (!config.node_pools.empty()) {
    for (const auto& set : config.inference_sets) {
      int gpus = 1;
      for (const auto& p : config.model_presets)
        if (p.meta.name == set.preset) gpus = p.gpus;
      bool type_found = false, fits = false;
      for (const auto& pool : config.node_pools) {
        if (pool.instance_type != set.instance_type) continue;
        type_found = true;
        // A preset bigger than a node becomes a group of pods, a node each (LeaderWorkerSet);
        // with an explicit size, each member's share must fit a node.
        int member = set.group_size > 0 ? (gpus + set.group_size - 1) / set.group_size : 0;
        fits |= pool.gpus_per_node <= 0 || set.group_size == 0 || pool.gpus_per_node >= member;
      }
      auto object = "InferenceSet " + set.meta.namespace_ + "/" + set.meta.name;
      if (!type_found)
        report(
            set.source, object, "spec.template.resource.instanceType",
            "no NodePool has instance type " + set.instance_type + ": its pods would stay Pending");
      else if (!fits && set.leader_gpus == 0 && set.worker_gpus == 0)
        report(set.source, object, "spec.template.resource.instanceType",
               "its preset needs " + std::to_string(gpus) + " GPUs over " +
                   std::to_string(set.group_size) + " pods (spec.leaderWorkerSet.size): more " +
                   "per pod than any " + set.instance_type + " node has");
      // A member template's own GPUs and instance type must fit some node of that type.
      auto check_member = [&](const std::string& name, int member_gpus,
                              const std::string& instance_type) {
        if (set.group_size < 1 || (name == "workerTemplate" && set.group_size < 2)) return;
        auto type = instance_type.empty() ? set.instance_type : instance_type;
        auto field = "spec.leaderWorkerTemplate." + name + ".resource.";
        int largest = -1;
        for (const auto& pool : config.node_pools)
          if (pool.instance_type == type)
            largest = std::max(
                largest, pool.gpus_per_node > 0 ? pool.gpus_per_node : 1 << 30);  // 0: not limited
        if (largest < 0 && type != set.instance_type)
          report(set.source, object, field + "instanceType",
                 "no NodePool has instance type " + type + ": the group would stay Pending");
        else if (member_gpus > 0 && largest >= 0 && member_gpus > largest)
          report(set.source, object, field + "gpus",
                 std::to_string(member_gpus) + " nvidia.com/gpu per pod: more than any " + type +
                     " node has (" + std::to_string(largest) + ")");
      };
      check_member("leaderTemplate", set.leader_gpus, set.leader_instance_type);
      check_member("workerTemplate", set.worker_gpus, set.worker_instance_type);
    }
  }
  for (const auto& set : config.scaled_objects) {
    bool found = false;
    for (const auto& s : config.inference_sets)
      found |= s.meta.name == set.target_name && s.meta.namespace_ == set.meta.namespace_;
    if (!found)
      report(set.source, "ScaledObject " + set.meta.namespace_ + "/" + set.meta.name,
             "spec.scaleTargetRef.name",
             "no InferenceSet " + set.meta.namespace_ + "/" + set.target_name);
  }
}

std::vector<std::string> known_kinds() {
  std::vector<std::string> out;
  for (const auto& [kind, entry] : kinds())
    for (const auto& api : entry.api_versions)
      out.push_back(api + " " + kind);
  return out;
}

}  // namespace inferstack::config
