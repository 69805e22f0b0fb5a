// CurveZMQ on the transport: key files, an allowed role talking, strangers refused (a plaintext
// peer and a CURVE client whose key is not on the allow-list), events over CURVE. Two or three
// nodes in one process on 127.0.0.1; every wait is bounded.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <random>

#include <caf/scoped_actor.hpp>

#include "actors/probe/probe_actor.hpp"
#include "protocol/registration.hpp"
#include "runtime/actor_system_setup.hpp"
#include "runtime/curve_keys.hpp"
#include "runtime/errors.hpp"
#include "runtime/zmq_transport.hpp"
#include "tests/runtime/zmq_test_node.hpp"

using namespace inferstack;
using namespace inferstack::runtime;
using namespace inferstack::actors::probe;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path =
      fs::temp_directory_path() / ("inferstack-curve-" + std::to_string(std::random_device{}()));
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string str() const { return path.string(); }
};

using testing::zmq_test_node;

/// Waits (bounded) until `done` holds; false if it never did.
template <class Predicate>
bool eventually(caf::scoped_actor& self, Predicate done, std::chrono::milliseconds limit = 5s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    self->receive(caf::after(10ms) >> [] {});
  }
  return true;
}

/// A CURVE server node "b" (the control role's keys) exposing a probe.
struct server_node {
  temp_dir keys;
  system_config cfg{protocol::register_messages};
  caf::actor_system sys{cfg};
  zmq_transport b{sys, zmq_test_node("b", 2, curve_settings_from_dir(keys.str(), "control"))};
  probe_actor probe = spawn_probe(sys, b.node_id());
  caf::scoped_actor self{sys};

  server_node() { b.expose("probe", caf::actor_cast<caf::actor>(probe)); }
  ~server_node() {
    b.stop();
    caf::anon_send_exit(probe, caf::exit_reason::user_shutdown);
  }

  /// Notes the probe got, asked locally (not over the wire).
  uint64_t notes_delivered() {
    uint64_t notes = 0;
    self->request(probe, 5s, probe_count_request{})
        .receive([&](probe_count& c) { notes = c.notes; },
                 [&](caf::error& err) { FAIL(sys.render(err)); });
    return notes;
  }

  /// Sends a note and a ping from `client`; both must go nowhere.
  void expect_refused(zmq_transport& client) {
    auto handle = client.lookup(b.listen_endpoint(), "probe");
    REQUIRE(handle);
    self->send(*handle, probe_note{1, "from a stranger"});
    bool answered = false;
    self->request(*handle, 2s, probe_ping{1, 0})
        .receive([&](probe_pong&) { answered = true; }, [](caf::error&) {});
    CHECK_FALSE(answered);
    CHECK(eventually(self, [&] { return b.stats().handshakes_failed >= 1; }));
    CHECK(b.stats().frames_received == 0);
    CHECK(notes_delivered() == 0);
  }
};

}  // namespace

TEST_CASE("zmq curve: key files are made once, the secret private, the allow-list the role keys") {
  temp_dir keys;
  auto first = curve_settings_from_dir(keys.str(), "gateway");
  auto again = curve_settings_from_dir(keys.str(), "gateway");
  CHECK(first.secret_key == again.secret_key);
  CHECK(first.server_secret_key == again.server_secret_key);
  CHECK(first.public_key != first.server_public_key);
  struct stat st {};
  REQUIRE(::stat((keys.path / "gateway.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat((keys.path / "stack.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // stack.pub is the server identity, not a client: it is not on the allow-list
  CHECK(read_allowed_curve_keys(keys.str()) == std::vector<std::string>{first.public_key});
  auto picker = curve_settings_from_dir(keys.str(), "picker");
  CHECK(picker.server_public_key == first.server_public_key);
  CHECK(read_allowed_curve_keys(keys.str()).size() == 2);
  CHECK(first.reload_allowed().size() == 2);
}

TEST_CASE("zmq curve: an allowed role's requests, replies and notes cross nodes encrypted") {
  server_node n;
  // The gateway's key is made after b started: b re-reads the allow-list when it knocks.
  zmq_transport a{n.sys, zmq_test_node("a", 1, curve_settings_from_dir(n.keys.str(), "gateway"))};
  auto handle = a.lookup(n.b.listen_endpoint(), "probe");
  REQUIRE(handle);
  n.self->send(*handle, probe_note{1, "n"});
  bool answered = false;
  n.self->request(*handle, 5s, probe_ping{7, 11})
      .receive([&](probe_pong& pong) { answered = pong.seq == 7; },
               [&](caf::error& err) { FAIL(n.sys.render(err)); });
  CHECK(answered);
  CHECK(n.notes_delivered() == 1);
  CHECK(n.b.stats().peers_refused == 0);
  CHECK(n.b.stats().handshakes_failed == 0);
  a.stop();
}

TEST_CASE("zmq curve: a plaintext peer is refused, nothing it sends is delivered") {
  server_node n;
  zmq_transport a{n.sys, zmq_test_node("a", 1, std::nullopt)};
  n.expect_refused(a);
  a.stop();
}

TEST_CASE("zmq curve: a CURVE client whose key is not on the allow-list is refused") {
  server_node n;
  // It knows the stack's server key (say, leaked) but its own key was never made by us.
  auto stranger = curve_settings_from_dir(n.keys.str(), "control");
  auto own = make_curve_keypair();
  stranger.public_key = own.public_key;
  stranger.secret_key = own.secret_key;
  zmq_transport a{n.sys, zmq_test_node("a", 1, stranger)};
  n.expect_refused(a);
  CHECK(n.b.stats().peers_refused >= 1);
  a.stop();
}

TEST_CASE("zmq curve: events flow over CURVE to an allowed subscriber, not to a stranger") {
  server_node n;
  zmq_transport a{n.sys, zmq_test_node("a", 1, curve_settings_from_dir(n.keys.str(), "picker"))};
  auto stranger_settings = curve_settings_from_dir(n.keys.str(), "picker");
  auto own = make_curve_keypair();
  stranger_settings.public_key = own.public_key;
  stranger_settings.secret_key = own.secret_key;
  zmq_transport stranger{n.sys, zmq_test_node("s", 3, stranger_settings)};
  caf::scoped_actor stranger_sink{n.sys};
  stranger.subscribe(n.b.events_endpoint(), "load@", caf::actor_cast<caf::actor>(stranger_sink));
  REQUIRE(eventually(n.self, [&] { return n.b.stats().peers_refused >= 1; }));

  a.subscribe(n.b.events_endpoint(), "load@", caf::actor_cast<caf::actor>(n.self));
  bool joined = false;  // PUB/SUB joins take a moment: publish until the first one arrives
  for (int i = 0; i < 100 && !joined; ++i) {
    n.b.publish("load@warmup", caf::make_message(probe_note{0, "warmup"}));
    n.self->receive([&](probe_note&) { joined = true; }, caf::after(20ms) >> [] {});
  }
  REQUIRE(joined);
  for (uint64_t i = 1; i <= 100; ++i)
    n.b.publish("load@pod-1", caf::make_message(probe_note{i, "e"}));
  uint64_t last = 0;
  n.self->receive_while([&] { return last < 100; })(
      [&](probe_note& note) { last = std::max(last, note.seq); },
      caf::after(5s) >> [&] { FAIL("events stopped at " << last); });
  CHECK(last == 100);
  CHECK(stranger.stats().frames_received == 0);
  bool stranger_heard = false;
  stranger_sink->receive([&](probe_note&) { stranger_heard = true; }, caf::after(0ms) >> [] {});
  CHECK_FALSE(stranger_heard);
  stranger.stop();
  a.stop();
}
