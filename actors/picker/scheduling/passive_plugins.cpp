// Plugin types accepted so that llm-d and GAIE configs load, whose work happens elsewhere in
// this stack (tokens come with the request, load is pushed, the gateway parses requests, the
// actor owns queueing): each checks its parameters and adds a passive plugin. The in-flight
// load options are the one thing read from them.
#include <chrono>
#include <string>
#include <vector>

#include "actors/picker/scheduling/endpoint_picker.hpp"
#include "actors/picker/scheduling/plugin_registry.hpp"
#include "actors/picker/scheduling/producers.hpp"

namespace inferstack::actors::picker {

namespace {

using config::fields;
using config::picker_plugin_spec;

void add_passive(plugin_builder& b, const picker_plugin_spec& s) {
  b.add(std::make_unique<passive_plugin>(s.type, s.name), &s);
}

void make_without_parameters(plugin_builder& b, const picker_plugin_spec& s, fields&) {
  add_passive(b, s);
}

void make_header_handler(plugin_builder& b, const picker_plugin_spec& s, fields& p) {
  std::string prefill, encode;
  p.get("prefillProfile", prefill);
  p.get("encodeProfile", encode);
  add_passive(b, s);
}

plugin_factory header_handler(std::string_view type) {
  return {type,
          plugin_kind::passive,
          {{"prefillProfile", "-"}, {"encodeProfile", "-"}},
          make_header_handler};
}

/// Flow Control policies: accepted with their parameters unchecked so configs with the
/// flowControl gate load.
void make_flow_control_policy(plugin_builder& b, const picker_plugin_spec& s, fields& p) {
  if (p.valid())
    for (const auto& kv : p.node())
      p.raw(kv.first.Scalar());
  add_passive(b, s);
}

plugin_factory flow_control_policy(std::string_view type) {
  return {type, plugin_kind::passive, {{"*", "- (any, unchecked)"}}, make_flow_control_policy};
}

}  // namespace

const std::vector<plugin_factory>& passive_factories() {
  static const std::vector<plugin_factory> list = {
      {"token-producer",
       plugin_kind::passive,
       {{"modelName", "\"\""}, {"vllm", "-"}, {"estimate", "-"}},
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         std::string model;
         p.get("modelName", model);
         p.raw("vllm");
         p.raw("estimate");
         add_passive(b, s);
       }},
      {"tokenizer",
       plugin_kind::passive,
       {{"modelName", "\"\""},
        {"tokenizersCacheDir", "\"\""},
        {"udsTokenizerConfig", "-"},
        {"hfTokenizerConfig", "-"},
        {"localTokenizerConfig", "-"}},
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         std::string model, dir;
         p.get("modelName", model);
         p.get("tokenizersCacheDir", dir);
         p.raw("udsTokenizerConfig");
         p.raw("hfTokenizerConfig");
         p.raw("localTokenizerConfig");
         add_passive(b, s);
       }},
      {"inflight-load-producer",
       plugin_kind::passive,
       {{"addEstimatedOutputTokens", "false"},
        {"outputRatio", "1.5"},
        {"maxEstimatedOutputTokens", "- (no cap)"},
        {"prefixMatchInfoProducerName", "the default producer"},
        {"syncCrossReplicaState", "true (unused: no cross-replica syncer)"}},
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         bool add_output = false, sync = true;
         double ratio = 1.5;
         int64_t max_output = -1;
         std::string producer;
         p.get("addEstimatedOutputTokens", add_output);
         p.get("outputRatio", ratio);
         p.get("maxEstimatedOutputTokens", max_output);
         p.get("prefixMatchInfoProducerName", producer);
         p.get("syncCrossReplicaState", sync);
         if (ratio < 0) b.problem(p.child_path("outputRatio"), "must be >= 0");
         if (p.has("maxEstimatedOutputTokens") && max_output < 0)
           b.problem(p.child_path("maxEstimatedOutputTokens"), "must be >= 0");
         b.picker().set_inflight_options(add_output, ratio, max_output);
         if (!producer.empty()) {
           auto path = p.child_path("prefixMatchInfoProducerName");
           b.later([&b, producer, path] {
             b.picker().set_inflight_producer(b.producer_ref(producer, path));
           });
         }
         add_passive(b, s);
       }},
      {"metrics-data-source",
       plugin_kind::passive,
       {{"scheme", "-"},
        {"path", "-"},
        {"insecureSkipVerify", "true"},
        {"caCertPath", "-"},
        {"clientCertPath", "- (with clientKeyPath)"},
        {"clientKeyPath", "- (with clientCertPath)"},
        {"interval", "-"},
        {"families", "-"}},
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         std::string scheme, path, ca, cert, key;
         p.get_enum("scheme", scheme, {"http", "https"});
         p.get("path", path);
         bool insecure = true;
         p.get("insecureSkipVerify", insecure);
         p.get("caCertPath", ca);
         p.get("clientCertPath", cert);
         p.get("clientKeyPath", key);
         std::chrono::nanoseconds interval{};
         p.get("interval", interval);
         std::vector<std::string> families;
         p.get("families", families);
         if (cert.empty() != key.empty())
           b.problem(p.child_path("clientCertPath"),
                     "clientCertPath and clientKeyPath go together");
         add_passive(b, s);
       }},
      {"core-metrics-extractor",
       plugin_kind::passive,
       {{"engineLabelKey", "-"}, {"defaultEngine", "-"}, {"engineConfigs", "-"}},
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         std::string label, engine;
         p.get("engineLabelKey", label);
         p.get("defaultEngine", engine);
         p.raw("engineConfigs");
         add_passive(b, s);
       }},
      {"endpoint-notification-source", plugin_kind::passive, {}, make_without_parameters},
      {"openai-parser", plugin_kind::passive, {}, make_without_parameters},
      {"anthropic-parser", plugin_kind::passive, {}, make_without_parameters},
      {"vllmhttp-parser", plugin_kind::passive, {}, make_without_parameters},
      {"passthrough-parser", plugin_kind::passive, {}, make_without_parameters},
      header_handler("prefill-header-handler"),
      header_handler("disagg-headers-handler"),
      flow_control_policy("fcfs-ordering-policy"),
      flow_control_policy("edf-ordering-policy"),
      flow_control_policy("global-strict-fairness-policy"),
      flow_control_policy("round-robin-fairness-policy"),
      flow_control_policy("static-usage-limit-policy"),
      flow_control_policy("priority-holdback-policy"),
      // inferstack's usage limit: flows over their fair share stop at `ceiling` saturation; the
      // flow-control layer reads it.
      {"fair-share-ceiling-policy",
       plugin_kind::passive,
       {{"ceiling", "0.95"}},
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         double ceiling = 0.95;
         p.get("ceiling", ceiling);
         if (!(ceiling > 0 && ceiling <= 1))
           b.problem(p.child_path("ceiling"), "must be in (0, 1]");
         add_passive(b, s);
       }},
      // inferstack's token-weighted fairness (VTC); the flow-control layer reads the weights.
      {"vtc-fairness-policy",
       plugin_kind::passive,
       {{"inputTokenWeight", "1"}, {"outputTokenWeight", "2"}},
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         double input = 1, output = 2;
         p.get("inputTokenWeight", input);
         p.get("outputTokenWeight", output);
         if (input < 0) b.problem(p.child_path("inputTokenWeight"), "must be non-negative");
         if (output < 0) b.problem(p.child_path("outputTokenWeight"), "must be non-negative");
         add_passive(b, s);
       }},
  };
  return list;
}

}  // namespace inferstack::actors::picker
