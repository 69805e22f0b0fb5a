#include <catch2/catch.hpp>

#include "actors/probe/probe_actor.hpp"
#include "runtime/errors.hpp"
#include "runtime/local_transport.hpp"
#include "tests/support/caf_fixture.hpp"

using namespace inferstack;
using namespace inferstack::runtime;
using namespace inferstack::actors::probe;

TEST_CASE_METHOD(testing::caf_fixture, "local transport: names resolve to the actors themselves") {
  local_transport transport{"dev"};
  auto probe = spawn_probe(sys, transport.node_id());
  transport.expose("probe", caf::actor_cast<caf::actor>(probe));
  auto found = transport.lookup("", "probe");
  REQUIRE(found);
  CHECK(*found == caf::actor_cast<caf::actor>(probe));
  auto pong = request<probe_pong>(caf::actor_cast<probe_actor>(*found), probe_ping{3, 4});
  REQUIRE(pong);
  CHECK(pong->seq == 3);
  CHECK(pong->node == "dev");

  auto missing = transport.lookup("", "nobody");
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == transport_errc::unknown_actor);
  CHECK_FALSE(transport.lookup("elsewhere", "probe"));
  transport.withdraw("probe");
  CHECK_FALSE(transport.lookup("", "probe"));
}

TEST_CASE_METHOD(testing::caf_fixture, "local transport: events reach subscribers by prefix") {
  local_transport transport;
  auto log_a = std::make_shared<testing::message_log>();
  auto log_b = std::make_shared<testing::message_log>();
  auto a = testing::spawn_recorder(sys, log_a);
  auto b = testing::spawn_recorder(sys, log_b);
  transport.subscribe("", "load@", a);
  transport.subscribe("", "load@pod-1", b);
  transport.publish("load@pod-1", caf::make_message(probe_note{1, "x"}));
  transport.publish("load@pod-2", caf::make_message(probe_note{2, "y"}));
  transport.publish("kv@pod-1", caf::make_message(probe_note{3, "z"}));
  run();
  CHECK(log_a->all<probe_note>().size() == 2);
  REQUIRE(log_b->all<probe_note>().size() == 1);
  CHECK(log_b->all<probe_note>()[0].seq == 1);
  transport.unsubscribe(a);
  transport.publish("load@pod-1", caf::make_message(probe_note{4, "w"}));
  run();
  CHECK(log_a->all<probe_note>().size() == 2);
  CHECK(log_b->all<probe_note>().size() == 2);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(testing::caf_fixture, "the fixture runs actors in virtual time") {
  auto log = std::make_shared<testing::message_log>();
  auto recorder = testing::spawn_recorder(sys, log);
  auto start = now();
  auto timer = sys.spawn([recorder](caf::event_based_actor* self) -> caf::behavior {
    self->delayed_send(recorder, std::chrono::seconds(30), probe_note{1, "later"});
    return {[](caf::exit_msg&) {}};
  });
  run();
  CHECK(log->messages.empty());
  advance_time(std::chrono::seconds(29));
  CHECK(log->messages.empty());
  advance_time(std::chrono::seconds(1));
  CHECK(log->all<probe_note>().size() == 1);
  CHECK(now() - start == std::chrono::seconds(30));
  caf::anon_send_exit(recorder, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(timer, caf::exit_reason::user_shutdown);
}
