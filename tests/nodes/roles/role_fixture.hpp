// What the role tests build roles from: two InferencePools (ns/a and ns/b, default pickers), a
// local transport and a registry, on CAF's deterministic scheduler.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <catch2/catch.hpp>

#include "nodes/roles/picker_role.hpp"
#include "runtime/local_transport.hpp"
#include "tests/support/caf_fixture.hpp"

namespace inferstack::testing {

inline config::stack_config two_pools() {
  std::string text;
  for (std::string name : {"a", "b"})
    text += "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: " +
            name + ", namespace: ns}\nspec: {selector: {matchLabels: {app: " + name +
            "}}, targetPorts: [{number: 8000}], endpointPickerRef: {name: " + name +
            "-epp}}\n---\n";
  config::load_result result;
  config::load_text(text, "pools.yaml", result);
  REQUIRE(result.ok());
  return result.config;
}

struct role_fixture : caf_fixture {
  config::stack_config config = two_pools();
  runtime::local_transport transport{"test"};
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();

  /// The actors' last messages (their start, their exit) while what they use is still here.
  ~role_fixture() { run(); }

  nodes::role_context context() {
    return {sys, transport, config, std::make_shared<spdlog::logger>("test"), registry, 1};
  }

  /// The picker role, started: every pool's pickers, or only `only_pool`'s.
  std::unique_ptr<nodes::picker_role> start_pickers(const std::string& only_pool) {
    auto role =
        std::make_unique<nodes::picker_role>(context(), nodes::picker_role_settings{only_pool, {}});
    std::vector<std::string> problems;
    role->start(problems);
    CHECK(problems.empty());
    return role;
  }
};

}  // namespace inferstack::testing
