// The picker role: a picker per pool, or in a picker process only its pool's, reachable by the
// other processes and ready once the control process has told it the pool's members.
#include <catch2/catch.hpp>

#include <caf/send.hpp>

#include "nodes/roles/picker_role.hpp"
#include "runtime/local_transport.hpp"
#include "tests/support/caf_fixture.hpp"

using namespace inferstack;

namespace {

/// Two InferencePools, ns/a and ns/b, with the default picker.
config::stack_config two_pools() {
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

struct picker_role_fixture : testing::caf_fixture {
  config::stack_config config = two_pools();
  runtime::local_transport transport{"test"};
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();

  std::unique_ptr<nodes::picker_role> start(const std::string& only_pool) {
    nodes::role_context context{
        sys, transport, config, std::make_shared<spdlog::logger>("test"), registry, 1};
    auto role =
        std::make_unique<nodes::picker_role>(context, nodes::picker_role_settings{only_pool, {}});
    std::vector<std::string> problems;
    role->start(problems);
    CHECK(problems.empty());
    return role;
  }
};

}  // namespace

TEST_CASE_METHOD(picker_role_fixture,
                 "picker role: every pool gets a picker, told its members by this process") {
  auto role = start("");
  REQUIRE(role->pickers().size() == 2);
  CHECK(role->pickers().count("ns/a") == 1);
  CHECK(role->pickers().count("ns/b") == 1);
  CHECK(role->on_membership("ns/a", {}));
  CHECK_FALSE(role->on_membership("ns/elsewhere", {}));
  // Nothing to find by address: the gateway of this process uses the pickers directly.
  CHECK_FALSE(transport.lookup("", "picker"));
  CHECK_FALSE(transport.lookup("", "pool"));
  role->stop();
  CHECK(role->pickers().empty());
}

TEST_CASE_METHOD(picker_role_fixture,
                 "picker role: a picker process serves its pool and is ready once told it") {
  auto role = start("ns/b");
  REQUIRE(role->pickers().size() == 1);
  CHECK(role->pickers().count("ns/b") == 1);
  REQUIRE(transport.lookup("", "picker"));
  auto relay = transport.lookup("", "pool");
  REQUIRE(relay);
  run();
  CHECK_FALSE(role->has_membership());
  caf::anon_send(*relay, actors::picker::pool_membership{"ns/b", {}});
  run();
  CHECK(role->has_membership());
}
