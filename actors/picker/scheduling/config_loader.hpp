// EndpointPickerConfig -> endpoint_picker, with llm-d's defaulting rules (GAIE/llm-d
// pkg/epp/config/loader). Each plugin type reads its own parameters (its factory sits beside its
// class; plugin_registry.hpp lists them, PLUGINS.md tables them); this file reads the rest:
//   - a plugin's name defaults to its type; names are unique;
//   - no schedulingProfiles: one "default" profile with every filter, scorer and picker;
//   - a scorer's weight defaults to 1; a profile without picker gets max-score-picker;
//   - one profile and no profile handler: single-profile-handler;
//   - consumers of prefix match information (prefix-cache-scorer, prefix-cache-affinity-filter,
//     prefix-based-pd-decider, pd-profile-handler, no-hit-lru-scorer) without a producer get an
//     approx-prefix-cache-producer with defaults (llm-d auto-creates it too).
// Every problem is collected (unknown plugin type, unknown or mistyped parameter, a pluginRef
// to an undefined plugin, ...), each naming file, document, field path and plugin.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "actors/picker/scheduling/endpoint_picker.hpp"
#include "runtime/config/manifests.hpp"

namespace inferstack::actors::picker {

struct build_result {
  std::unique_ptr<endpoint_picker> picker;  ///< null when there are problems
  std::vector<config::problem> problems;
  bool ok() const { return picker != nullptr && problems.empty(); }
  /// Every problem on its own line.
  std::string error_text() const;
};

/// Builds a picker from an EndpointPickerConfig; nullptr gives the default configuration
/// (prefix-cache-scorer 3, queue-scorer 2, kv-cache-utilization-scorer 2, max-score-picker).
build_result build_endpoint_picker(const config::picker_config* cfg, picker_options options = {});

/// Parses one YAML text holding an EndpointPickerConfig (through config::load_text) and builds
/// it. Problems of the YAML loader and of the picker are reported alike.
build_result build_endpoint_picker_from_yaml(std::string_view yaml, picker_options options = {},
                                             std::string file = "<text>");

/// The configuration used when none is given.
config::picker_config default_picker_config();

/// Every plugin type the loader accepts, sorted.
std::vector<std::string> known_plugin_types();

/// "profile: filter1 -> filter2 | scorer*w + ... | picker" per profile, plus the handler, for
/// logs and tests (e.g. "handler=single-profile-handler; default: | prefix-cache-scorer*3 ...").
std::string describe_chain(const endpoint_picker& picker);

}  // namespace inferstack::actors::picker
