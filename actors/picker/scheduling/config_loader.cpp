#include "actors/picker/scheduling/config_loader.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "actors/picker/scheduling/pickers.hpp"
#include "actors/picker/scheduling/plugin_registry.hpp"
#include "actors/picker/scheduling/producers.hpp"
#include "actors/picker/scheduling/profile_handlers.hpp"
#include "actors/picker/scheduling/saturation.hpp"
#include "actors/picker/scheduling/scorers.hpp"

namespace inferstack::actors::picker {

namespace {

using config::diagnostics;
using config::fields;
using config::picker_config;
using config::picker_plugin_spec;

constexpr const char* feature_gate_names[] = {"flowControl", "dataLayer", "prepareDataPlugins"};

class builder : public plugin_builder {
 public:
  builder(const picker_config& cfg, picker_options options)
      : cfg_(cfg),
        diag_(cfg.source.file, cfg.source.document),
        picker_(std::make_unique<endpoint_picker>(std::move(options))) {
    diag_.set_object("EndpointPickerConfig" + (cfg.meta.name.empty() ? "" : " " + cfg.meta.name));
  }

  build_result run();

  // -- plugin_builder: used by the factories -----------------------------------------------------
  endpoint_picker& picker() override { return *picker_; }
  void add_plugin(std::unique_ptr<plugin> p, const picker_plugin_spec* spec) override {
    plugin* raw = p.get();
    picker_->add_plugin(std::move(p));
    if (spec) by_name_[spec->name] = raw;
  }
  void later(std::function<void()> f) override { later_.push_back(std::move(f)); }
  plugin* named(const std::string& name) const override {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
  }
  int producer_ref(const std::string& name, const std::string& field) override {
    return name.empty() ? default_producer() : producer_named(name, field);
  }
  void problem(const std::string& field, std::string message) override {
    diag_.add(field, std::move(message));
  }
  void add_detector(saturation_detector* d) override { declared_detectors_.push_back(d); }

 private:
  /// The default prefix producer (the first approx producer, created when there is none).
  int default_producer();
  /// A prefix producer by plugin name; reports a problem at `field` when there is none.
  int producer_named(const std::string& name, const std::string& field);
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

std::string param_path(const picker_plugin_spec& spec) {
  return (spec.path.empty() ? std::string("plugins") : spec.path) + ".parameters";
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
    const plugin_factory* factory = find_plugin_factory(spec.type);
    size_t before = diag_.problems().size();
    if (!factory) {
      problem(where + ".type", "unknown plugin type '" + spec.type + "'");
    } else if (spec.parameters.IsDefined() && !spec.parameters.IsNull() &&
               !spec.parameters.IsMap()) {
      problem(param_path(spec), "parameters must be a mapping");
    } else {
      fields params(spec.parameters.IsDefined() && spec.parameters.IsMap()
                        ? spec.parameters
                        : YAML::Node(YAML::NodeType::Undefined),
                    param_path(spec), diag_);
      factory->make(*this, spec, params);
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
      read_utilization_thresholds(f, st);
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
  for (const auto& f : plugin_factories())
    out.emplace_back(f.type);
  std::sort(out.begin(), out.end());
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
