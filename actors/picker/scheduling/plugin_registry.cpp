#include "actors/picker/scheduling/plugin_registry.hpp"

#include <algorithm>

namespace inferstack::actors::picker {

const char* kind_name(plugin_kind kind) {
  // In plugin_kind's order.
  static constexpr const char* names[] = {
      "filter", "scorer", "picker", "profile handler", "decider", "producer", "saturation detector",
      "passive"};
  return names[static_cast<size_t>(kind)];
}

const std::vector<plugin_factory>& plugin_factories() {
  static const std::vector<plugin_factory> all = [] {
    std::vector<plugin_factory> out;
    for (const auto* family :
         {&filter_factories(), &scorer_factories(), &session_scorer_factories(),
          &prefix_scorer_factories(), &picker_factories(), &profile_handler_factories(),
          &producer_factories(), &saturation_factories(), &passive_factories(), &slo_factories()})
      out.insert(out.end(), family->begin(), family->end());
    return out;
  }();
  return all;
}

const plugin_factory* find_plugin_factory(std::string_view type) {
  const auto& all = plugin_factories();
  auto it =
      std::find_if(all.begin(), all.end(), [&](const plugin_factory& f) { return f.type == type; });
  return it == all.end() ? nullptr : &*it;
}

}  // namespace inferstack::actors::picker
