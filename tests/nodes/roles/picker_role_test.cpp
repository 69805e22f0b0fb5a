// The picker role: a picker per pool, or in a picker process only its pool's, reachable by the
// other processes and ready once the control process has told it the pool's members.
#include <catch2/catch.hpp>

#include <caf/send.hpp>

#include "tests/nodes/roles/role_fixture.hpp"

using namespace inferstack;

TEST_CASE_METHOD(testing::role_fixture,
                 "picker role: every pool gets a picker, told its members by this process") {
  auto role = start_pickers("");
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

TEST_CASE_METHOD(testing::role_fixture,
                 "picker role: a picker process serves its pool and is ready once told it") {
  auto role = start_pickers("ns/b");
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
