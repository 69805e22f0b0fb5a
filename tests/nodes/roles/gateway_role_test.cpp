// The gateway role's pools: each served by a picker of this process or of a picker process at a
// given address, and a control plane elsewhere needs its address too; start-up names each one
// missing.
#include <catch2/catch.hpp>

#include <atomic>

#include "nodes/roles/gateway_role.hpp"
#include "tests/nodes/roles/role_fixture.hpp"

using namespace inferstack;

namespace {

/// ns/a's picker of this process (from a started picker role).
std::map<std::string, nodes::local_picker> picker_of_a(const nodes::picker_role& pickers) {
  return {{"ns/a", pickers.pickers().at("ns/a")}};
}

}  // namespace

TEST_CASE_METHOD(testing::role_fixture,
                 "gateway role: a pool without a picker here or an address stops start-up") {
  auto pickers = start_pickers("");
  std::atomic<bool> ready{false};
  nodes::gateway_role gateway{context(), {}, ready};
  std::vector<std::string> problems;
  gateway.prepare(problems);
  CHECK(problems.empty());
  auto activator = gateway.register_pools(picker_of_a(*pickers), problems);
  CHECK_FALSE(activator);  // the control plane runs here: it gives the activator
  REQUIRE(problems.size() == 1);
  CHECK(problems.front() ==
        "InferencePool ns/b: no picker (give its address: --picker ns/b=tcp://HOST:PORT)");
}

TEST_CASE_METHOD(testing::role_fixture,
                 "gateway role: pickers and the control process elsewhere are found by address") {
  auto pickers = start_pickers("");
  nodes::gateway_role_settings settings;
  settings.control_elsewhere = true;
  settings.peers.pickers["ns/b"] = {"tcp://127.0.0.1:1"};  // not reachable over a local transport
  std::atomic<bool> ready{false};
  nodes::gateway_role gateway{context(), settings, ready};
  std::vector<std::string> problems;
  gateway.prepare(problems);
  auto activator = gateway.register_pools(picker_of_a(*pickers), problems);
  CHECK_FALSE(activator);
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].rfind("InferencePool ns/b: picker at tcp://127.0.0.1:1: ", 0) == 0);
  CHECK(problems[1] == "no control process (give its address: --control tcp://HOST:PORT)");
}

TEST_CASE_METHOD(testing::role_fixture,
                 "gateway role: each replica of a pool's picker is looked up at its own address") {
  auto pickers = start_pickers("");
  nodes::gateway_role_settings settings;
  settings.control_elsewhere = true;
  settings.peers.control = "tcp://127.0.0.1:3";
  // Not reachable over a local transport: each one is named.
  settings.peers.pickers["ns/b"] = {"tcp://127.0.0.1:1", "tcp://127.0.0.1:2"};
  std::atomic<bool> ready{false};
  nodes::gateway_role gateway{context(), settings, ready};
  std::vector<std::string> problems;
  gateway.prepare(problems);
  gateway.register_pools(picker_of_a(*pickers), problems);
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].rfind("InferencePool ns/b: picker at tcp://127.0.0.1:1: ", 0) == 0);
  CHECK(problems[1].rfind("InferencePool ns/b: picker at tcp://127.0.0.1:2: ", 0) == 0);
}
