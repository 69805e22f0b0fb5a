#include "actors/picker/scheduling/config_loader.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "actors/picker/scheduling/filters.hpp"
#include "actors/picker/scheduling/pickers.hpp"
#include "actors/picker/scheduling/profile_handlers.hpp"
#include "actors/picker/scheduling/scorers.hpp"

namespace inferstack::actors::picker {

namespace {

using config::diagnostics;
using config::fields;
using config::picker_config;
using config::picker_plugin_spec;

constexpr const char* feature_gate_names[] = {"flowControl", "dataLayer", "prepareDataPlugins"};

class builder;
using factory = std::function<void(builder&, const picker_plugin_spec&, fields&)>;

/// Plugins declared but created by nothing but a type check (data layer, parsers, flow control
/// policies, header handlers): what our push-based stack does elsewhere.
class accepted_plugin : public passive_plugin {
 public:
  using passive_plugin::passive_plugin;
};

class builder {
 public:
  builder(const picker_config& cfg, picker_options options)
      : cfg_(cfg),
        diag_(cfg.source.file, cfg.source.document),
        picker_(std::make_unique<endpoint_picker>(std::move(options))) {
    diag_.set_object("EndpointPickerConfig" + (cfg.meta.name.empty() ? "" : " " + cfg.meta.name));
  }

  build_result run();

  // -- used by the factories --------------------------------------------------------------------
  endpoint_picker& picker() { return *picker_; }
  diagnostics& diag() { return diag_; }
  template <class P>
  P* add(std::unique_ptr<P> p, const picker_plugin_spec* spec) {
    P* raw = p.get();
    picker_->add_plugin(std::move(p));
    if (spec) by_name_[spec->name] = raw;
    return raw;
  }
  /// Runs after every plugin exists (references between plugins).
  void later(std::function<void()> f) { later_.push_back(std::move(f)); }
  plugin* named(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
  }
  /// The default prefix producer (the first approx producer, created when there is none).
  int default_producer();
  /// A prefix producer by plugin name; reports a problem at `field` when there is none.
  int producer_named(const std::string& name, const std::string& field);
  /// Resolves a producer reference: named when given, else the default producer.
  int producer_ref(const std::string& name, const std::string& field) {
    return name.empty() ? default_producer() : producer_named(name, field);
  }
  void problem(const std::string& field, std::string message) {
    diag_.add(field, std::move(message));
  }
  void set_detector_plugin(saturation_detector* d) { declared_detectors_.push_back(d); }

 private:
  void plugin_specs();
  void profiles();
  void handler();
  void detector();
  void sections();
  void check_ref(const YAML::Node& node, const std::string& path, const char* what);

  const picker_config& cfg_;
  diagnostics diag_;
  std::unique_ptr<endpoint_picker> picker_;
  std::map<std::string, plugin*> by_name_;
  std::vector<std::function<void()>> later_;
  std::vector<saturation_detector*> declared_detectors_;
  int default_producer_ = -1;
  picker_plugin* default_picker_ = nullptr;
};

// -- parameter helpers ----------------------------------------------------------------------------

std::string param_path(const picker_plugin_spec& spec) {
  return (spec.path.empty() ? std::string("plugins") : spec.path) + ".parameters";
}

void check_range(builder& b, fields& f, const std::string& key, double value, double lo, double hi,
                 const char* what) {
  if (f.has(key) && (value < lo || value > hi)) b.problem(f.child_path(key), what);
}

std::vector<std::pair<std::string, double>> backend_weights(builder& b, fields& f,
                                                            const std::string& key) {
  std::vector<std::pair<std::string, double>> out;
  for (auto& item : f.list(key)) {
    std::string name;
    double weight = 1.0;
    item.get("name", name, true);
    item.get("weight", weight);
    item.finish();
    out.emplace_back(name, weight);
  }
  return out;
}

void token_processor(fields& f, kv_index_settings& s) {
  auto tp = f.object("tokenProcessorConfig");
  uint64_t block_size = s.block_size;
  tp.get("blockSize", block_size);
  tp.get("blockSizeTokens", block_size);
  if (tp.has("blockSize") || tp.has("blockSizeTokens")) {
    if (block_size == 0)
      tp.diag().add(tp.child_path("blockSize"), "must be positive");
    else
      s.block_size = block_size;
  }
  tp.get("hashSeed", s.hash_seed);
  tp.finish();
}

precise_prefix_settings precise_params(builder& b, fields& p) {
  precise_prefix_settings s;
  token_processor(p, s.index);
  auto indexer = p.object("indexerConfig");
  if (indexer.valid()) {
    token_processor(indexer, s.index);  // llm-d v0.3 kept it here
    auto kv = indexer.object("kvBlockIndexConfig");
    bool metrics = false;
    kv.get("enableMetrics", metrics);
    std::chrono::nanoseconds interval{};
    kv.get("metricsLoggingInterval", interval);
    auto mem = kv.object("inMemoryConfig");
    uint64_t size = s.index.max_keys, pods = s.index.pod_cache_size;
    mem.get("size", size);
    mem.get("podCacheSize", pods);
    if (mem.has("size")) s.index.max_keys = size;
    if (mem.has("podCacheSize")) {
      if (pods == 0 || pods > 64)
        mem.diag().add(mem.child_path("podCacheSize"), "must be between 1 and 64");
      else
        s.index.pod_cache_size = pods;
    }
    mem.finish();
    for (const char* other : {"costAwareMemoryConfig", "redisConfig", "valkeyConfig"}) {
      if (kv.has(other))
        b.problem(kv.child_path(other), "only the in-memory index (inMemoryConfig) is supported");
      kv.raw(other);
    }
    kv.finish();
    indexer.raw("tokenizersPoolConfig");  // tokens come with the request: unused
    indexer.get("speculativeIndexing", s.speculative_indexing);
    if (indexer.has("backendConfigs"))
      s.index.tier_weights = backend_weights(b, indexer, "backendConfigs");
    indexer.finish();
  }
  auto events = p.object("kvEventsConfig");
  if (events.valid()) {
    auto& e = s.events;
    events.get("zmqEndpoint", e.zmq_endpoint);
    events.get("topicFilter", e.topic_filter);
    events.get("concurrency", e.concurrency);
    events.get_enum("engineType", e.engine_type, {"vllm"});
    bool tracing = false;
    events.get("tracing", tracing);
    events.get("discoverPods", e.discover_pods);
    auto pd = events.object("podDiscoveryConfig");
    pd.get("podLabelSelector", e.pod_label_selector);
    pd.get("podNamespace", e.pod_namespace);
    pd.get("socketPort", e.socket_port);
    pd.get("replaySocketPort", e.replay_socket_port);
    pd.finish();
    events.finish();
  }
  p.get("speculativeIndexing", s.speculative_indexing);
  std::chrono::nanoseconds ttl{s.speculative_ttl_ns};
  p.get("speculativeTTL", ttl);
  if (ttl.count() > 0) s.speculative_ttl_ns = ttl.count();
  return s;
}

approx_prefix_settings approx_params(builder& b, fields& p, bool legacy_char_sizes) {
  approx_prefix_settings s;
  p.get("autoTune", s.auto_tune);
  int block_size = 0;
  p.get("blockSize", block_size);  // deprecated: mapped onto blockSizeTokens, as llm-d does
  if (block_size > 0) s.block_size_tokens = block_size;
  if (legacy_char_sizes) {
    int hash_block_size = 0;  // GAIE v1.0: characters, ~4 per token
    p.get("hashBlockSize", hash_block_size);
    if (hash_block_size > 0) s.block_size_tokens = std::max(1, hash_block_size / 4);
  }
  p.get("blockSizeTokens", s.block_size_tokens);
  p.get("maxPrefixBlocksToMatch", s.max_prefix_blocks);
  p.get("maxPrefixTokensToMatch", s.max_prefix_tokens);
  p.get("lruCapacityPerServer", s.lru_capacity_per_server);
  if (!s.auto_tune && s.block_size_tokens <= 0)
    b.problem(p.child_path("blockSizeTokens"), "must be > 0 when autoTune is disabled");
  if (s.max_prefix_tokens < 0) b.problem(p.child_path("maxPrefixTokensToMatch"), "must be >= 0");
  if (s.max_prefix_blocks < 0) b.problem(p.child_path("maxPrefixBlocksToMatch"), "must be >= 0");
  if (s.lru_capacity_per_server < 0)
    b.problem(p.child_path("lruCapacityPerServer"), "must be >= 0");
  return s;
}

int max_endpoints(builder& b, fields& p) {
  int n = 1;
  p.get("maxNumOfEndpoints", n);
  return n;  // <= 0 falls back to 1, as llm-d does
}

// -- the plugin registry ----------------------------------------------------------------------

const std::map<std::string, factory>& registry() {
  static const std::map<std::string, factory> table = [] {
    std::map<std::string, factory> r;

    // Scorers.
    r["queue-scorer"] = [](builder& b, const picker_plugin_spec& s, fields&) {
      b.add(std::make_unique<queue_scorer>(s.name), &s);
    };
    r["kv-cache-utilization-scorer"] = [](builder& b, const picker_plugin_spec& s, fields&) {
      b.add(std::make_unique<kv_cache_utilization_scorer>(s.name), &s);
    };
    r["running-requests-size-scorer"] = [](builder& b, const picker_plugin_spec& s, fields&) {
      b.add(std::make_unique<running_requests_scorer>(s.name), &s);
    };
    r["lora-affinity-scorer"] = [](builder& b, const picker_plugin_spec& s, fields&) {
      b.add(std::make_unique<lora_affinity_scorer>(s.name), &s);
    };
    r["load-aware-scorer"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      int threshold = 128;
      p.get("threshold", threshold);
      b.add(std::make_unique<load_aware_scorer>(s.name, threshold), &s);
    };
    r["active-request-scorer"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      std::chrono::nanoseconds timeout{};
      p.get("requestTimeout", timeout);  // deprecated upstream; bounds in-flight accounting
      int idle = 0;
      p.get("idleThreshold", idle);
      double max_busy = 1.0;
      p.get("maxBusyScore", max_busy);
      check_range(b, p, "maxBusyScore", max_busy, 0.0, 1.0, "must be in [0, 1]");
      std::string producer;
      p.get("inFlightLoadProducerName", producer);
      b.add(std::make_unique<active_request_scorer>(s.name, std::max(idle, 0), max_busy), &s);
    };
    r["token-load-scorer"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      int64_t threshold = 4194304;
      p.get("queueThresholdTokens", threshold);
      if (threshold <= 0) b.problem(p.child_path("queueThresholdTokens"), "must be positive");
      std::string producer;
      p.get("inFlightLoadProducerName", producer);
      b.add(std::make_unique<token_load_scorer>(s.name, threshold > 0 ? threshold : 4194304), &s);
    };
    r["session-affinity-scorer"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      session_affinity_scorer::settings st;
      p.get_enum("algorithm", st.algorithm, {"encoded_endpoint_header", "session_id_header"});
      p.get("headerName", st.header);
      for (auto& ch : st.header)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      p.get("profileName", st.profile);
      double ttl = 600, sweep = 30;
      p.get("evictionTtlSeconds", ttl);
      p.get("evictionSweepSeconds", sweep);
      st.ttl_ns = static_cast<int64_t>(ttl * 1e9);
      p.get("missThreshold", st.miss_threshold);
      b.add(std::make_unique<session_affinity_scorer>(s.name, st), &s);
    };
    r["no-hit-lru-scorer"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      int lru = 1024;
      p.get("lruSize", lru);
      std::string ignored, producer;
      p.get("prefixPluginType", ignored);  // deprecated, never used upstream
      p.get("prefixPluginName", ignored);
      p.get("prefixMatchInfoProducerName", producer);
      auto* scorer =
          b.add(std::make_unique<no_hit_lru_scorer>(s.name, lru > 0 ? lru : 1024, -1), &s);
      auto path = p.child_path("prefixMatchInfoProducerName");
      b.later(
          [&b, scorer, producer, path] { scorer->set_producer(b.producer_ref(producer, path)); });
    };
    r["prefix-cache-scorer"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      std::string producer;
      p.get("prefixMatchInfoProducerName", producer);
      double weight = 0;
      int max_len = 0;
      p.get("prefixLengthWeight", weight);
      p.get("maxModelLen", max_len);
      p.get("matchLengthWeight", weight);  // the names llm-d's README uses elsewhere
      int scale = 8192;
      p.get("matchLengthScaleTokens", scale);
      if (p.has("matchLengthScaleTokens") || (p.has("matchLengthWeight") && !p.has("maxModelLen")))
        max_len = scale;
      check_range(b, p, "prefixLengthWeight", weight, 0.0, 1.0, "must be between 0.0 and 1.0");
      check_range(b, p, "matchLengthWeight", weight, 0.0, 1.0, "must be between 0.0 and 1.0");
      if (p.has("maxModelLen") && max_len <= 0)
        b.problem(p.child_path("maxModelLen"), "must be greater than 0");
      if (p.has("prefixLengthWeight") && weight > 0 && !p.has("maxModelLen"))
        b.problem(p.child_path("maxModelLen"),
                  "must be specified when prefixLengthWeight is greater than 0");
      // GAIE's single-plugin prefix-cache-scorer carried the indexer parameters itself: such a
      // scorer gets a private approximate producer configured by them.
      bool legacy = false;
      for (const char* k :
           {"autoTune", "blockSize", "blockSizeTokens", "hashBlockSize", "maxPrefixBlocksToMatch",
            "maxPrefixTokensToMatch", "lruCapacityPerServer"})
        legacy = legacy || p.has(k);
      auto* scorer = b.add(std::make_unique<prefix_cache_scorer>(s.name, -1, weight, max_len), &s);
      if (legacy) {
        auto settings = approx_params(b, p, true);
        auto* prod = b.add(std::make_unique<approx_prefix_producer>(s.name, settings), nullptr);
        b.picker().add_producer(prod);
        scorer->set_producer(prod->producer_index);
        if (!producer.empty())
          b.problem(p.child_path("prefixMatchInfoProducerName"),
                    "cannot be combined with the scorer's own indexer parameters");
        return;
      }
      auto path = p.child_path("prefixMatchInfoProducerName");
      b.later(
          [&b, scorer, producer, path] { scorer->set_producer(b.producer_ref(producer, path)); });
    };
    r["precise-prefix-cache-scorer"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      auto settings = precise_params(b, p);
      auto* prod = b.add(std::make_unique<precise_prefix_producer>("precise-prefix-cache-scorer",
                                                                   s.name, settings),
                         nullptr);
      b.picker().add_producer(prod);
      b.add(std::make_unique<precise_prefix_scorer>(s.name, prod), &s);
    };

    // Producers and the data layer.
    r["approx-prefix-cache-producer"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      auto* prod =
          b.add(std::make_unique<approx_prefix_producer>(s.name, approx_params(b, p, false)), &s);
      b.picker().add_producer(prod);
    };
    r["precise-prefix-cache-producer"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      auto* prod = b.add(std::make_unique<precise_prefix_producer>("precise-prefix-cache-producer",
                                                                   s.name, precise_params(b, p)),
                         &s);
      b.picker().add_producer(prod);
    };
    r["token-producer"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      std::string model, backend;
      p.get("modelName", model);
      p.raw("vllm");
      p.raw("estimate");
      b.add(std::make_unique<accepted_plugin>("token-producer", s.name), &s);
    };
    r["tokenizer"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      std::string model, dir;
      p.get("modelName", model);
      p.get("tokenizersCacheDir", dir);
      p.raw("udsTokenizerConfig");
      p.raw("hfTokenizerConfig");
      p.raw("localTokenizerConfig");
      b.add(std::make_unique<accepted_plugin>("tokenizer", s.name), &s);
    };
    r["inflight-load-producer"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      bool add_output = false;
      double ratio = 1.5;
      p.get("addEstimatedOutputTokens", add_output);
      p.get("outputRatio", ratio);
      if (ratio < 0) b.problem(p.child_path("outputRatio"), "must be >= 0");
      b.picker().set_inflight_options(add_output, ratio);
      b.add(std::make_unique<accepted_plugin>("inflight-load-producer", s.name), &s);
    };
    r["metrics-data-source"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
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
        b.problem(p.child_path("clientCertPath"), "clientCertPath and clientKeyPath go together");
      b.add(std::make_unique<accepted_plugin>("metrics-data-source", s.name), &s);
    };
    r["core-metrics-extractor"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      std::string label, engine;
      p.get("engineLabelKey", label);
      p.get("defaultEngine", engine);
      p.raw("engineConfigs");
      b.add(std::make_unique<accepted_plugin>("core-metrics-extractor", s.name), &s);
    };
    for (const char* t : {"endpoint-notification-source", "openai-parser", "anthropic-parser",
                          "vllmhttp-parser", "passthrough-parser"}) {
      std::string type = t;
      r[type] = [type](builder& b, const picker_plugin_spec& s, fields&) {
        b.add(std::make_unique<accepted_plugin>(type, s.name), &s);
      };
    }
    for (const char* t : {"prefill-header-handler", "disagg-headers-handler"}) {
      std::string type = t;
      r[type] = [type](builder& b, const picker_plugin_spec& s, fields& p) {
        std::string prefill, encode;
        p.get("prefillProfile", prefill);
        p.get("encodeProfile", encode);
        b.add(std::make_unique<accepted_plugin>(type, s.name), &s);
      };
    }
    // Flow Control policies: accepted (with their parameters unchecked) so configs with the
    // flowControl gate load; the actor owns queueing.
    for (const char* t :
         {"fcfs-ordering-policy", "edf-ordering-policy", "global-strict-fairness-policy",
          "round-robin-fairness-policy", "static-usage-limit-policy", "priority-holdback-policy"}) {
      std::string type = t;
      r[type] = [type](builder& b, const picker_plugin_spec& s, fields& p) {
        if (p.valid())
          for (const auto& kv : p.node())
            p.raw(kv.first.Scalar());
        b.add(std::make_unique<accepted_plugin>(type, s.name), &s);
      };
    }

    // Filters.
    r["decode-filter"] = [](builder& b, const picker_plugin_spec& s, fields&) {
      b.add(by_label_filter::decode(s.name), &s);
    };
    r["prefill-filter"] = [](builder& b, const picker_plugin_spec& s, fields&) {
      b.add(by_label_filter::prefill(s.name), &s);
    };
    r["encode-filter"] = [](builder& b, const picker_plugin_spec& s, fields&) {
      b.add(by_label_filter::encode(s.name), &s);
    };
    r["by-label"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      std::string label;
      std::vector<std::string> values;
      bool allows_no_label = false;
      p.get("label", label, true);
      p.get("validValues", values);
      p.get("allowsNoLabel", allows_no_label);
      b.add(std::make_unique<by_label_filter>("by-label", s.name, label,
                                              std::set<std::string>(values.begin(), values.end()),
                                              allows_no_label),
            &s);
    };
    auto selector = [](std::string type) {
      return [type](builder& b, const picker_plugin_spec& s, fields& p) {
        label_selector sel;
        std::map<std::string, std::string> labels;
        p.get("matchLabels", labels);
        sel.match_labels.assign(labels.begin(), labels.end());
        for (auto& e : p.list("matchExpressions")) {
          label_selector::requirement r;
          e.get("key", r.key, true);
          e.get_enum("operator", r.op, {"In", "NotIn", "Exists", "DoesNotExist"}, true);
          e.get("values", r.values);
          if ((r.op == "In" || r.op == "NotIn") && r.values.empty())
            b.problem(e.child_path("values"), "must not be empty for operator " + r.op);
          e.finish();
          sel.match_expressions.push_back(std::move(r));
        }
        b.add(std::make_unique<label_selector_filter>(type, s.name, std::move(sel)), &s);
      };
    };
    r["label-selector-filter"] = selector("label-selector-filter");
    r["by-label-selector"] = selector("by-label-selector");
    r["prefix-cache-affinity-filter"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      prefix_cache_affinity_filter::settings st;
      p.get("affinityThreshold", st.affinity_threshold);
      p.get("explorationProbability", st.exploration_probability);
      p.get("maxTTFTPenaltyMs", st.max_ttft_penalty_ms);
      std::string source = "prefillThroughput";
      p.get_enum("ttftSource", source, {"prefillThroughput", "latencyPredictor"});
      if (source == "latencyPredictor")
        b.problem(p.child_path("ttftSource"),
                  "latencyPredictor is not supported (no latency predictor in this stack)");
      p.get("peakPrefillThroughput", st.peak_prefill_throughput);
      std::string file, fingerprint, producer, unused;
      bool required = false;
      p.get("prefillCalibrationFile", file);
      p.get("prefillCalibrationFingerprint", fingerprint);
      p.get("prefillCalibrationRequired", required);
      // The picker reads no files: a calibration record cannot be applied. llm-d then keeps the
      // default unless the calibration is required.
      if (!file.empty() && required && !p.has("peakPrefillThroughput"))
        b.problem(p.child_path("prefillCalibrationFile"),
                  "calibration records are not read by this picker; set peakPrefillThroughput");
      p.get("prefixMatchInfoProducerName", producer);
      p.get("latencyPredictionInfoProducerName", unused);
      p.get("inFlightLoadProducerName", unused);
      check_range(b, p, "affinityThreshold", st.affinity_threshold, 0, 1, "must be in [0, 1]");
      check_range(b, p, "explorationProbability", st.exploration_probability, 0, 1,
                  "must be in [0, 1]");
      if (st.max_ttft_penalty_ms < 0) b.problem(p.child_path("maxTTFTPenaltyMs"), "must be >= 0");
      if (st.max_ttft_penalty_ms > 0 && st.peak_prefill_throughput <= 0)
        b.problem(p.child_path("peakPrefillThroughput"),
                  "must be > 0 when ttftSource is prefillThroughput");
      auto* f = b.add(std::make_unique<prefix_cache_affinity_filter>(s.name, st, -1), &s);
      auto path = p.child_path("prefixMatchInfoProducerName");
      b.later([&b, f, producer, path] { f->set_producer(b.producer_ref(producer, path)); });
    };

    // Pickers.
    r["max-score-picker"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      b.add(std::make_unique<max_score_picker>(s.name, max_endpoints(b, p)), &s);
    };
    r["random-picker"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      b.add(std::make_unique<random_picker>(s.name, max_endpoints(b, p)), &s);
    };
    r["weighted-random-picker"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      b.add(std::make_unique<weighted_random_picker>(s.name, max_endpoints(b, p)), &s);
    };
    r["round-robin-picker"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      b.add(std::make_unique<round_robin_picker>(s.name, max_endpoints(b, p)), &s);
    };

    // Profile handlers and deciders.
    r["single-profile-handler"] = [](builder& b, const picker_plugin_spec& s, fields&) {
      b.add(std::make_unique<single_profile_handler>(s.name), &s);
    };
    r["prefix-based-pd-decider"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      int non_cached = 0, prompt = 0;
      std::string producer;
      p.get("nonCachedTokens", non_cached);
      p.get("promptTokens", prompt);
      p.get("prefixMatchInfoProducerName", producer);
      if (non_cached < 0) b.problem(p.child_path("nonCachedTokens"), "cannot be negative");
      if (prompt < 0) b.problem(p.child_path("promptTokens"), "cannot be negative");
      auto* d = b.add(std::make_unique<prefix_based_pd_decider>(s.name, std::max(non_cached, 0),
                                                                std::max(prompt, 0), -1),
                      &s);
      auto path = p.child_path("prefixMatchInfoProducerName");
      b.later([&b, d, producer, path] { d->set_producer(b.producer_ref(producer, path)); });
    };
    r["always-disagg-pd-decider"] = [](builder& b, const picker_plugin_spec& s, fields&) {
      b.add(std::make_unique<constant_decider>("always-disagg-pd-decider", s.name, true), &s);
    };
    r["always-disagg-multimodal-decider"] = [](builder& b, const picker_plugin_spec& s, fields&) {
      b.add(std::make_unique<constant_decider>("always-disagg-multimodal-decider", s.name, false),
            &s);
    };
    r["disagg-profile-handler"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      disagg_profile_handler::settings st;
      std::string order;
      p.get("stageOrder", order);
      std::string norm;
      for (char ch : order)
        if (ch != '-' && ch != '_') norm += static_cast<char>(std::tolower(ch));
      if (norm == "prefillfirst" || norm == "prefill")
        st.prefill_first = true;
      else if (!(norm.empty() || norm == "decodefirst" || norm == "decode"))
        b.problem(p.child_path("stageOrder"),
                  "invalid stage order '" + order + "', must be decode-first or prefill-first");
      auto profiles = p.object("profiles");
      profiles.get("decode", st.decode);
      profiles.get("prefill", st.prefill);
      profiles.get("encode", st.encode);
      profiles.get("fallback", st.fallback);
      profiles.finish();
      auto deciders = p.object("deciders");
      std::string prefill_decider, encode_decider;
      deciders.get("prefill", prefill_decider);
      deciders.get("encode", encode_decider);
      auto prefill_path = deciders.child_path("prefill");
      auto encode_path = deciders.child_path("encode");
      deciders.finish();
      if (st.prefill_first && !prefill_decider.empty())
        b.problem(prefill_path, "a prefill decider is not supported in prefill-first stage order");
      if (!st.fallback.empty()) {
        if (st.prefill_first)
          b.problem(p.child_path("profiles.fallback"),
                    "aggregated fallback is only supported in decode-first stage order");
        if (st.fallback == st.decode || st.fallback == st.prefill || st.fallback == st.encode)
          b.problem(p.child_path("profiles.fallback"), "must differ from the other profiles");
      }
      auto* h = b.add(std::make_unique<disagg_profile_handler>(s.name, st), &s);
      b.later([&b, h, prefill_decider, encode_decider, prefill_path, encode_path] {
        auto resolve = [&](const std::string& name, const std::string& path) -> decider_plugin* {
          if (name.empty()) return nullptr;
          auto* d = dynamic_cast<decider_plugin*>(b.named(name));
          if (!d)
            b.problem(path, b.named(name) ? "plugin '" + name + "' is not a decider"
                                          : "no plugin named '" + name + "'");
          return d;
        };
        h->set_deciders(resolve(prefill_decider, prefill_path),
                        resolve(encode_decider, encode_path));
      });
    };
    r["pd-profile-handler"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      pd_profile_handler::settings st;
      std::string unused, decider, producer;
      int port = 0, hash_block_size = 0;
      p.get("threshold", st.threshold);
      p.get("decodeProfile", st.decode);
      p.get("prefillProfile", st.prefill);
      p.get("prefixPluginType", unused);
      p.get("prefixPluginName", unused);
      p.get("hashBlockSize", hash_block_size);
      p.get("primaryPort", port);
      p.get("deciderPluginName", decider);
      p.get("prefixMatchInfoProducerName", producer);
      if (st.threshold < 0) b.problem(p.child_path("threshold"), "cannot be negative");
      if (port != 0 && (port < 1 || port > 65535))
        b.problem(p.child_path("primaryPort"), "must be a port number");
      auto* h = b.add(std::make_unique<pd_profile_handler>(s.name, st), &s);
      auto decider_path = p.child_path("deciderPluginName");
      auto producer_path = p.child_path("prefixMatchInfoProducerName");
      b.later([&b, h, decider, producer, decider_path, producer_path] {
        if (!decider.empty()) {
          h->config().decider = dynamic_cast<decider_plugin*>(b.named(decider));
          if (!h->config().decider)
            b.problem(decider_path, b.named(decider) ? "plugin '" + decider + "' is not a decider"
                                                     : "no plugin named '" + decider + "'");
        } else if (h->config().threshold > 0) {
          h->config().producer = b.producer_ref(producer, producer_path);
        }
      });
    };

    // Saturation detectors.
    r["utilization-detector"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      utilization_detector::settings st;
      p.get("queueDepthThreshold", st.queue_depth_threshold);
      p.get("kvCacheUtilThreshold", st.kv_cache_util_threshold);
      std::chrono::nanoseconds staleness{};
      p.get("metricsStalenessThreshold", staleness);
      st.staleness_ns = staleness.count();
      p.get("headroom", st.headroom);
      std::string producer;
      p.get("inFlightLoadProducerName", producer);
      if (st.queue_depth_threshold <= 0)
        b.problem(p.child_path("queueDepthThreshold"), "must be strictly positive");
      if (st.kv_cache_util_threshold <= 0 || st.kv_cache_util_threshold > 1)
        b.problem(p.child_path("kvCacheUtilThreshold"), "must be in (0.0, 1.0]");
      if (p.has("metricsStalenessThreshold") && st.staleness_ns <= 0)
        b.problem(p.child_path("metricsStalenessThreshold"), "must be strictly positive");
      if (st.headroom < 0) b.problem(p.child_path("headroom"), "must be non-negative");
      auto* d = b.add(std::make_unique<utilization_detector>(s.name, st), &s);
      b.set_detector_plugin(d);
    };
    r["concurrency-detector"] = [](builder& b, const picker_plugin_spec& s, fields& p) {
      concurrency_detector::settings st;
      p.get("maxConcurrency", st.max_concurrency);
      p.get("maxTokenConcurrency", st.max_token_concurrency);
      p.get_enum("concurrencyMode", st.mode, {"requests", "tokens", "hybrid"});
      double headroom = 0;
      p.get("headroom", headroom);
      std::string producer;
      p.get("inFlightLoadProducerName", producer);
      if (st.max_concurrency <= 0)
        b.problem(p.child_path("maxConcurrency"), "must be strictly positive");
      if (st.max_token_concurrency <= 0)
        b.problem(p.child_path("maxTokenConcurrency"), "must be strictly positive");
      if (headroom < 0) b.problem(p.child_path("headroom"), "must be non-negative");
      auto* d = b.add(std::make_unique<concurrency_detector>(s.name, st), &s);
      b.set_detector_plugin(d);
    };
    return r;
  }();
  return table;
}

// -- builder ------------------------------------------------------------------------------------

int builder::default_producer() {
  if (default_producer_ >= 0) return default_producer_;
  for (auto* p : picker_->prefix_producers()) {
    // A scorer's private (legacy) producer is not the shared default.
    if (dynamic_cast<approx_prefix_producer*>(p) && by_name_.count(p->name()) &&
        by_name_[p->name()] == p) {
      default_producer_ = p->producer_index;
      return default_producer_;
    }
  }
  std::string name = "approx-prefix-cache-producer";
  while (by_name_.count(name))
    name += "-default";
  auto* prod =
      add(std::make_unique<approx_prefix_producer>(name, approx_prefix_settings{}), nullptr);
  picker_->add_producer(prod);
  default_producer_ = prod->producer_index;
  return default_producer_;
}

int builder::producer_named(const std::string& name, const std::string& field) {
  plugin* p = named(name);
  if (auto* prod = dynamic_cast<prefix_producer*>(p)) return prod->producer_index;
  if (auto* scorer = dynamic_cast<precise_prefix_scorer*>(p))
    return scorer->producer()->producer_index;
  problem(field, p ? "plugin '" + name + "' does not produce prefix match information"
                   : "no plugin named '" + name + "'");
  return -1;
}

void builder::plugin_specs() {
  std::set<std::string> seen;
  for (const auto& spec : cfg_.plugins) {
    std::string where = spec.path.empty() ? "plugins" : spec.path;
    if (!seen.insert(spec.name).second) {
      problem(where + ".name", "plugin name '" + spec.name + "' is used twice");
      continue;
    }
    const auto& table = registry();
    auto it = table.find(spec.type);
    size_t before = diag_.problems().size();
    if (it == table.end()) {
      problem(where + ".type", "unknown plugin type '" + spec.type + "'");
    } else if (spec.parameters.IsDefined() && !spec.parameters.IsNull() &&
               !spec.parameters.IsMap()) {
      problem(param_path(spec), "parameters must be a mapping");
    } else {
      fields params(spec.parameters.IsDefined() && spec.parameters.IsMap()
                        ? spec.parameters
                        : YAML::Node(YAML::NodeType::Undefined),
                    param_path(spec), diag_);
      it->second(*this, spec, params);
      params.finish();
    }
    // Name the plugin in every problem its parameters caused.
    auto& problems = diag_.problems();
    for (size_t i = before; i < problems.size(); ++i) {
      if (problems[i].message == "unknown field") problems[i].message = "unknown parameter";
      problems[i].message =
          "plugin '" + spec.name + "' (type " + spec.type + "): " + problems[i].message;
    }
  }
}

void builder::profiles() {
  std::vector<config::picker_profile> profiles = cfg_.profiles;
  if (profiles.empty()) {
    // llm-d: a "default" profile with every filter, scorer and picker, in declaration order.
    config::picker_profile def;
    def.name = "default";
    for (const auto& spec : cfg_.plugins) {
      plugin* p = named(spec.name);
      if (dynamic_cast<filter_plugin*>(p) || dynamic_cast<scorer_plugin*>(p) ||
          dynamic_cast<picker_plugin*>(p))
        def.plugins.push_back(config::picker_profile_plugin{spec.name, std::nullopt});
    }
    profiles.push_back(std::move(def));
  }
  std::set<std::string> names;
  for (size_t pi = 0; pi < profiles.size(); ++pi) {
    const auto& prof = profiles[pi];
    std::string where = "schedulingProfiles[" + std::to_string(pi) + "]";
    if (!names.insert(prof.name).second)
      problem(where + ".name", "profile name '" + prof.name + "' is used twice");
    profile_def def;
    def.name = prof.name;
    for (size_t k = 0; k < prof.plugins.size(); ++k) {
      const auto& ref = prof.plugins[k];
      std::string at = where + ".plugins[" + std::to_string(k) + "]";
      plugin* p = named(ref.plugin_ref);
      if (!p) {
        problem(at + ".pluginRef", "profile '" + prof.name + "': pluginRef '" + ref.plugin_ref +
                                       "' does not name a plugin");
        continue;
      }
      if (auto* s = dynamic_cast<scorer_plugin*>(p)) {
        double w = ref.weight.value_or(1.0);
        if (!std::isfinite(w) || w < 0)
          problem(at + ".weight", "profile '" + prof.name + "': weight must be >= 0");
        def.scorers.push_back(s);
        def.weights.push_back(w);
        continue;
      }
      if (ref.weight)
        problem(at + ".weight", "profile '" + prof.name + "': weight is only valid for scorers ('" +
                                    ref.plugin_ref + "' is a " + p->type() + ")");
      if (auto* f = dynamic_cast<filter_plugin*>(p)) {
        def.filters.push_back(f);
      } else if (auto* pk = dynamic_cast<picker_plugin*>(p)) {
        if (def.picker)
          problem(at + ".pluginRef", "profile '" + prof.name + "' has more than one picker ('" +
                                         def.picker->name() + "' and '" + pk->name() + "')");
        def.picker = pk;
      } else if (dynamic_cast<profile_handler_plugin*>(p) || dynamic_cast<decider_plugin*>(p)) {
        problem(at + ".pluginRef", "profile '" + prof.name + "': '" + ref.plugin_ref + "' (" +
                                       p->type() + ") cannot be part of a profile");
      }
      // Producers and data-layer plugins may be listed in a profile (llm-d's precise example
      // lists its tokenizer): they run once per request regardless.
    }
    if (!def.picker) {
      if (!default_picker_) {
        std::string name = "max-score-picker";
        while (named(name))
          name += "-default";
        default_picker_ = add(std::make_unique<max_score_picker>(name, 1), nullptr);
      }
      def.picker = default_picker_;
    }
    picker_->add_profile(std::move(def));
  }
}

void builder::handler() {
  std::vector<profile_handler_plugin*> handlers;
  for (const auto& p : picker_->plugins())
    if (auto* h = dynamic_cast<profile_handler_plugin*>(p.get())) handlers.push_back(h);
  const auto& profiles = picker_->profiles();
  if (handlers.size() > 1) {
    problem("plugins", "more than one profile handler ('" + handlers[0]->name() + "' and '" +
                           handlers[1]->name() + "')");
    return;
  }
  if (handlers.empty()) {
    if (profiles.size() != 1) {
      problem("schedulingProfiles",
              std::to_string(profiles.size()) + " profiles need a profile handler plugin");
      return;
    }
    handlers.push_back(
        add(std::make_unique<single_profile_handler>("single-profile-handler"), nullptr));
  }
  auto* h = handlers.front();
  auto has = [&](const std::string& name) {
    return std::any_of(profiles.begin(), profiles.end(),
                       [&](const profile_def& p) { return p.name == name; });
  };
  if (dynamic_cast<single_profile_handler*>(h) && profiles.size() != 1)
    problem("schedulingProfiles", "single-profile-handler needs exactly one profile, found " +
                                      std::to_string(profiles.size()));
  if (auto* d = dynamic_cast<disagg_profile_handler*>(h)) {
    const auto& st = d->config();
    if (!has(st.decode))
      problem("schedulingProfiles", "disagg-profile-handler '" + h->name() + "': decode profile '" +
                                        st.decode + "' is not defined");
    if (st.prefill_decider && !has(st.prefill))
      problem("schedulingProfiles", "disagg-profile-handler '" + h->name() +
                                        "': prefill profile '" + st.prefill + "' is not defined");
    if (!st.fallback.empty() && !has(st.fallback))
      problem("schedulingProfiles", "disagg-profile-handler '" + h->name() +
                                        "': fallback profile '" + st.fallback + "' is not defined");
  }
  if (auto* pd = dynamic_cast<pd_profile_handler*>(h)) {
    const auto& st = pd->config();
    if (!has(st.decode))
      problem("schedulingProfiles", "pd-profile-handler '" + h->name() + "': decode profile '" +
                                        st.decode + "' is not defined");
    if (!has(st.prefill))
      problem("schedulingProfiles", "pd-profile-handler '" + h->name() + "': prefill profile '" +
                                        st.prefill + "' is not defined");
  }
  picker_->set_profile_handler(h);
}

void builder::check_ref(const YAML::Node& node, const std::string& path, const char* what) {
  if (!node.IsDefined() || !node.IsMap()) {
    problem(path, std::string("expected a mapping with pluginRef"));
    return;
  }
  fields f(node, path, diag_);
  std::string ref;
  f.get("pluginRef", ref, true);
  f.finish();
  if (!ref.empty() && !named(ref))
    problem(path + ".pluginRef", std::string(what) + " '" + ref + "' does not name a plugin");
}

void builder::detector() {
  // GAIE v1.x: saturationDetector {queueDepthThreshold, kvCacheUtilThreshold,
  // metricsStalenessThreshold}; llm-d: a pluginRef (top level or under flowControl).
  saturation_detector* chosen = nullptr;
  auto by_ref = [&](const YAML::Node& node, const std::string& path) {
    fields f(node, path, diag_);
    std::string ref;
    f.get("pluginRef", ref, true);
    f.finish();
    if (ref.empty()) return;
    auto* d = dynamic_cast<saturation_detector*>(named(ref));
    if (!d)
      problem(path + ".pluginRef", named(ref) ? "plugin '" + ref + "' is not a saturation detector"
                                              : "no plugin named '" + ref + "'");
    else
      chosen = d;
  };
  const auto& sd = cfg_.saturation_detector;
  if (sd.IsDefined() && !sd.IsNull()) {
    if (!sd.IsMap()) {
      problem("saturationDetector", "expected a mapping");
    } else if (sd["pluginRef"].IsDefined()) {
      by_ref(sd, "saturationDetector");
    } else {
      fields f(sd, "saturationDetector", diag_);
      utilization_detector::settings st;
      f.get("queueDepthThreshold", st.queue_depth_threshold);
      f.get("kvCacheUtilThreshold", st.kv_cache_util_threshold);
      std::chrono::nanoseconds staleness{};
      f.get("metricsStalenessThreshold", staleness);
      st.staleness_ns = staleness.count();
      f.finish();
      auto* d = add(std::make_unique<utilization_detector>("saturation-detector", st), nullptr);
      chosen = d;
    }
  }
  const auto& fc = cfg_.flow_control;
  if (fc.IsDefined() && !fc.IsNull()) {
    if (!fc.IsMap()) {
      problem("flowControl", "expected a mapping");
    } else if (fc["saturationDetector"].IsDefined()) {
      by_ref(fc["saturationDetector"], "flowControl.saturationDetector");
    }
  }
  if (!chosen && !declared_detectors_.empty()) chosen = declared_detectors_.front();
  if (chosen) picker_->set_saturation_detector(chosen);
}

void builder::sections() {
  const auto& dl = cfg_.data_layer;
  if (dl.IsDefined() && !dl.IsNull()) {
    fields f(dl, "dataLayer", diag_);
    bool inject = true;
    f.get("injectDefaults", inject);
    for (auto& src : f.list("sources")) {
      std::string ref;
      src.get("pluginRef", ref, true);
      if (!ref.empty() && !named(ref))
        problem(src.child_path("pluginRef"), "data source '" + ref + "' does not name a plugin");
      for (auto& ex : src.list("extractors")) {
        std::string eref;
        ex.get("pluginRef", eref, true);
        if (!eref.empty() && !named(eref))
          problem(ex.child_path("pluginRef"), "extractor '" + eref + "' does not name a plugin");
        ex.finish();
      }
      src.finish();
    }
    f.raw("discovery");
    f.raw("peerDiscovery");
    f.raw("crossReplicaSyncerPluginRef");
    f.raw("crossReplicaSyncInterval");
    f.finish();
  }
  const auto& rh = cfg_.request_handler;
  if (rh.IsDefined() && !rh.IsNull()) {
    fields f(rh, "requestHandler", diag_);
    auto parsers = f.raw("parsers");
    if (parsers.IsDefined() && parsers.IsSequence()) {
      size_t i = 0;
      for (const auto& p : parsers)
        check_ref(p, "requestHandler.parsers[" + std::to_string(i++) + "]", "parser");
    }
    f.finish();
  }
}

build_result builder::run() {
  for (const auto& gate : cfg_.feature_gates) {
    if (std::find(std::begin(feature_gate_names), std::end(feature_gate_names), gate) ==
        std::end(feature_gate_names))
      problem("featureGates", "unknown feature gate '" + gate + "'");
  }
  picker_->set_feature_gates(cfg_.feature_gates);
  plugin_specs();
  profiles();  // before `later`: references see the default max-score-picker name taken
  for (auto& f : later_)
    f();
  handler();
  detector();
  sections();
  build_result result;
  result.problems = std::move(diag_.problems());
  if (result.problems.empty()) {
    picker_->finalize();
    result.picker = std::move(picker_);
  }
  return result;
}

}  // namespace

std::string build_result::error_text() const {
  std::string out;
  for (const auto& p : problems)
    out += p.to_string() + "\n";
  return out;
}

config::picker_config default_picker_config() {
  config::picker_config cfg;
  cfg.meta.name = "default";
  cfg.source.file = "<default EndpointPickerConfig>";
  for (const char* type : {"prefix-cache-scorer", "queue-scorer", "kv-cache-utilization-scorer"}) {
    config::picker_plugin_spec spec;
    spec.type = type;
    spec.name = type;
    cfg.plugins.push_back(spec);
  }
  cfg.plugins.push_back(config::picker_plugin_spec{"max-score-picker", "max-score-picker", {}, ""});
  config::picker_profile profile;
  profile.name = "default";
  profile.plugins = {{"prefix-cache-scorer", 3.0},
                     {"queue-scorer", 2.0},
                     {"kv-cache-utilization-scorer", 2.0},
                     {"max-score-picker", std::nullopt}};
  cfg.profiles.push_back(profile);
  return cfg;
}

build_result build_endpoint_picker(const config::picker_config* cfg, picker_options options) {
  if (cfg == nullptr) {
    auto def = default_picker_config();
    return builder(def, std::move(options)).run();
  }
  return builder(*cfg, std::move(options)).run();
}

build_result build_endpoint_picker_from_yaml(std::string_view yaml, picker_options options,
                                             std::string file) {
  config::load_result loaded;
  config::load_text(std::string(yaml), file, loaded);
  build_result result;
  result.problems = loaded.problems;
  if (loaded.config.picker_configs.size() != 1) {
    result.problems.push_back(
        config::problem{file, 0, "", "", 0,
                        "expected exactly one EndpointPickerConfig, found " +
                            std::to_string(loaded.config.picker_configs.size())});
  }
  if (!result.problems.empty()) return result;
  auto built = build_endpoint_picker(&loaded.config.picker_configs.front(), std::move(options));
  return built;
}

std::vector<std::string> known_plugin_types() {
  std::vector<std::string> out;
  for (const auto& [type, f] : registry())
    out.push_back(type);
  return out;
}

std::string describe_chain(const endpoint_picker& picker) {
  std::ostringstream out;
  const auto* h = picker.profile_handler();
  out << "handler: " << (h ? h->type() : "<none>") << "\n";
  for (const auto& p : picker.profiles()) {
    out << "profile " << p.name << ": filters=[";
    for (size_t i = 0; i < p.filters.size(); ++i)
      out << (i ? ", " : "") << p.filters[i]->name();
    out << "] scorers=[";
    for (size_t i = 0; i < p.scorers.size(); ++i)
      out << (i ? ", " : "") << p.scorers[i]->name() << "*" << p.weights[i];
    out << "] picker=" << (p.picker ? p.picker->name() : "<none>") << "\n";
  }
  out << "producers: [";
  const auto& producers = picker.prefix_producers();
  for (size_t i = 0; i < producers.size(); ++i)
    out << (i ? ", " : "") << producers[i]->type() << "(" << producers[i]->name() << ")";
  out << "]\n";
  return out.str();
}

}  // namespace inferstack::actors::picker
