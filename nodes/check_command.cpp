#include <iostream>

#include "nodes/commands.hpp"
#include "nodes/roles/picker_role.hpp"
#include "nodes/scaling_targets.hpp"

namespace inferstack::nodes {

int run_check(const std::vector<std::string>& files, const common_options& common,
              bool list_pools) {
  if (files.empty()) {
    std::cerr << "inferstack check: give at least one manifest with -f FILE\n";
    return 2;
  }
  std::vector<config::override_spec> overrides;
  size_t problems = 0;
  for (const auto& text : common.sets) {
    std::string error;
    if (auto o = config::parse_override(text, &error)) {
      overrides.push_back(*o);
    } else {
      std::cerr << "--set: " << error << "\n";
      ++problems;
    }
  }
  auto result = config::load_files(files, overrides);
  for (const auto& p : result.problems)
    std::cout << p.to_string() << "\n";
  problems += result.problems.size();
  if (result.problems.empty()) {
    // What the scaler would make of ScaledObjects and the KAITO autoscaling annotations.
    std::vector<std::string> scaling;
    scaling_targets(result.config, scaling);
    for (const auto& p : scaling)
      std::cout << p << "\n";
    problems += scaling.size();
    std::vector<std::string> replicas;  // the pools' picker replicas (annotation)
    for (const auto& pool : result.config.inference_pools)
      picker_replicas_of(pool, &replicas);
    for (const auto& p : replicas)
      std::cout << p << "\n";
    problems += replicas.size();
  }
  if (problems > 0) {
    std::cout << problems << (problems == 1 ? " problem" : " problems") << " found\n";
    return 2;
  }
  const auto& c = result.config;
  if (list_pools) {  // for tools/stack-up: a picker process per pool and replica
    for (const auto& p : c.inference_pools)
      std::cout << p.meta.namespace_ << "/" << p.meta.name << " " << picker_replicas_of(p, nullptr)
                << "\n";
    return 0;
  }
  std::cout << "ok: " << c.files.size() << " file(s); " << c.api_keys.size() << " APIKey, "
            << c.inference_sets.size() << " InferenceSet, " << c.inference_pools.size()
            << " InferencePool, " << c.http_routes.size() << " HTTPRoute, "
            << c.picker_configs.size() << " EndpointPickerConfig, " << c.node_pools.size()
            << " NodePool, " << c.model_presets.size() << " ModelPreset, "
            << c.scaled_objects.size() << " ScaledObject, " << (c.gateway ? 1 : 0)
            << " InferenceGateway\n";
  return 0;
}

}  // namespace inferstack::nodes
