// The one registration list of plugin types: each family's factories, defined beside the
// family's classes, joined in plugin_registry.cpp. PLUGINS.md is the table of them.
#pragma once

#include <string_view>
#include <vector>

#include "actors/picker/scheduling/plugin_factory.hpp"

namespace inferstack::actors::picker {

const std::vector<plugin_factory>& filter_factories();           // filters.cpp
const std::vector<plugin_factory>& scorer_factories();           // scorers.cpp
const std::vector<plugin_factory>& session_scorer_factories();   // session_affinity_scorer.cpp
const std::vector<plugin_factory>& prefix_scorer_factories();    // prefix_scorers.cpp
const std::vector<plugin_factory>& picker_factories();           // pickers.cpp
const std::vector<plugin_factory>& profile_handler_factories();  // profile_handlers.cpp
const std::vector<plugin_factory>& producer_factories();         // producers.cpp
const std::vector<plugin_factory>& saturation_factories();       // saturation.cpp
const std::vector<plugin_factory>& passive_factories();          // passive_plugins.cpp
const std::vector<plugin_factory>& slo_factories();              // slo_plugins.cpp

/// Every plugin type the loader accepts, family by family.
const std::vector<plugin_factory>& plugin_factories();

/// The factory of `type`; nullptr when unknown.
const plugin_factory* find_plugin_factory(std::string_view type);

}  // namespace inferstack::actors::picker
