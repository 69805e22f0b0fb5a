// How a plugin type is made from an EndpointPickerConfig entry (llm-d's plugin factories): its
// type name, its kind, its parameters with their defaults (data, for PLUGINS.md and its test)
// and the function that reads them and adds the plugin. Each family file (filters.cpp,
// scorers.cpp, ...) lists its types beside its classes; plugin_registry.cpp joins the lists.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "actors/picker/scheduling/plugin.hpp"
#include "runtime/config/manifests.hpp"
#include "runtime/config/yaml_fields.hpp"

namespace inferstack::actors::picker {

class endpoint_picker;
class saturation_detector;

/// What the loader offers a factory: the picker being built and the plugins named so far.
class plugin_builder {
 public:
  virtual ~plugin_builder() = default;

  virtual endpoint_picker& picker() = 0;
  /// Adds `p` to the picker; `spec` (null for plugins the loader creates) names it.
  virtual void add_plugin(std::unique_ptr<plugin> p, const config::picker_plugin_spec* spec) = 0;
  template <class P>
  P* add(std::unique_ptr<P> p, const config::picker_plugin_spec* spec) {
    P* raw = p.get();
    add_plugin(std::move(p), spec);
    return raw;
  }
  /// Runs after every plugin exists (references between plugins).
  virtual void later(std::function<void()> f) = 0;
  virtual plugin* named(const std::string& name) const = 0;
  /// Resolves a prefix producer reference: named when given, else the default producer
  /// (created when there is none); reports a problem at `field` when it names none.
  virtual int producer_ref(const std::string& name, const std::string& field) = 0;
  virtual void problem(const std::string& field, std::string message) = 0;
  /// A declared saturation detector (the first is used unless the config names one).
  virtual void add_detector(saturation_detector* d) = 0;
};

/// kind_name() names them, in this order.
enum class plugin_kind {
  filter,
  scorer,
  picker,
  profile_handler,
  decider,
  producer,
  saturation_detector,
  passive,  ///< accepted for compatibility; its work happens elsewhere in the stack
};

const char* kind_name(plugin_kind kind);

/// One parameter: its name (nested ones dotted: indexerConfig.speculativeIndexing) and its
/// default as written in PLUGINS.md ("-": none). The name "*" stands for any parameter.
struct plugin_param {
  std::string_view name;
  std::string_view default_value;
};

struct plugin_factory {
  std::string_view type;
  plugin_kind kind;
  std::vector<plugin_param> params;
  /// Reads the parameters (problems go to the builder, or to `p`'s diagnostics) and adds the
  /// plugin. The loader reports the parameters nobody read as unknown.
  void (*make)(plugin_builder& b, const config::picker_plugin_spec& s, config::fields& p);
};

/// A type without parameters whose class is made from the plugin's name alone.
template <class P>
plugin_factory without_parameters(std::string_view type, plugin_kind kind) {
  return {
      type, kind, {}, [](plugin_builder& b, const config::picker_plugin_spec& s, config::fields&) {
        b.add(std::make_unique<P>(s.name), &s);
      }};
}

/// Reports a problem at `key` when it is given and `value` lies outside [lo, hi].
inline void check_range(plugin_builder& b, config::fields& f, const std::string& key, double value,
                        double lo, double hi, const char* what) {
  if (f.has(key) && (value < lo || value > hi)) b.problem(f.child_path(key), what);
}

}  // namespace inferstack::actors::picker
