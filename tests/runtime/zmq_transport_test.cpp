// Two nodes in one process, talking over ZeroMQ on 127.0.0.1 exactly as two processes would.
// Real time, bounded: every wait has a timeout.
#include <catch2/catch.hpp>

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <zmq.hpp>

#include "actors/probe/probe_actor.hpp"
#include "protocol/registration.hpp"
#include "protocol/type_ids.hpp"
#include "runtime/actor_system_setup.hpp"
#include "runtime/errors.hpp"
#include "runtime/wire/envelope.hpp"
#include "runtime/zmq_transport.hpp"
#include "tests/runtime/zmq_test_node.hpp"

using namespace inferstack;
using namespace inferstack::runtime;
using namespace inferstack::actors::probe;
using namespace std::chrono_literals;

namespace {

zmq_transport_settings node(std::string name, uint64_t incarnation) {
  return testing::zmq_test_node(std::move(name), incarnation);
}

/// The schedulers a transport runs on: CAF's threads (its I/O thread reads the sockets), and
/// the io scheduler of the roles (its threads read them and run the actors).
scheduling any_scheduler() {
  return GENERATE(scheduling::threads, scheduling::io_threads);
}

struct two_nodes {
  explicit two_nodes(scheduling mode = scheduling::threads, size_t threads = 0,
                     zmq_transport_settings a_settings = node("a", 1))
      : cfg{protocol::register_messages, mode, threads}, a{sys, std::move(a_settings)} {
    b->expose("probe", caf::actor_cast<caf::actor>(probe_b));
  }
  system_config cfg;
  caf::actor_system sys{cfg};
  zmq_transport a;
  std::unique_ptr<zmq_transport> b = std::make_unique<zmq_transport>(sys, node("b", 2));
  probe_actor probe_b = spawn_probe(sys, b->node_id());
  caf::scoped_actor self{sys};

  ~two_nodes() {
    a.stop();
    if (b) b->stop();
    caf::anon_send_exit(probe_b, caf::exit_reason::user_shutdown);
  }

  probe_actor remote_probe() {
    auto handle = a.lookup(b->listen_endpoint(), "probe");
    REQUIRE(handle);
    return caf::actor_cast<probe_actor>(*handle);
  }
};

}  // namespace

TEST_CASE("zmq transport: requests and replies cross nodes") {
  two_nodes n{any_scheduler()};
  auto probe = n.remote_probe();
  bool answered = false;
  n.self->request(probe, 5s, probe_ping{7, 11})
      .receive(
          [&](probe_pong& pong) {
            answered = true;
            CHECK(pong.seq == 7);
            CHECK(pong.sent_ns == 11);
            CHECK(pong.node == n.b->node_id());
          },
          [&](caf::error& err) { FAIL(n.sys.render(err)); });
  CHECK(answered);
  n.self->request(probe, 5s, probe_echo{"ünïcode"})
      .receive([&](probe_echo& echo) { CHECK(echo.text == "ünïcode"); },
               [&](caf::error& err) { FAIL(n.sys.render(err)); });
}

TEST_CASE("zmq transport: on the io scheduler no frame crosses the transport's I/O thread") {
  // Requests leave from the requester's thread and arrive on the io thread that reads the
  // socket, which runs the probe and sends its answer: the I/O thread relays nothing. On
  // CAF's threads it reads every frame (heartbeats, answers) for the actors.
  auto mode = any_scheduler();
  two_nodes n{mode};
  auto probe = n.remote_probe();
  // 101 round trips: the probe counts an answer just after sending it, so only the answers
  // before the last are sure to be counted when the last one arrives here.
  for (uint64_t i = 0; i < 101; ++i)
    n.self->request(probe, 5s, probe_ping{i, 0})
        .receive([&](probe_pong& pong) { CHECK(pong.seq == i); },
                 [&](caf::error& err) { FAIL(n.sys.render(err)); });
  CHECK(n.a.stats().frames_sent >= 100);
  CHECK(n.b->stats().frames_sent >= 100);
  if (mode == scheduling::io_threads) {
    CHECK(n.a.stats().frames_via_io_thread == 0);
    CHECK(n.b->stats().frames_via_io_thread == 0);
  } else {
    CHECK(n.a.stats().frames_via_io_thread >= 100);
    CHECK(n.b->stats().frames_via_io_thread >= 100);
  }
}

TEST_CASE(
    "zmq transport: on the io scheduler an answer runs its requester on the thread that asked") {
  // Each io thread dials the peer on a lane of its own and reads that lane: the answer to a
  // request comes back to the thread it left from (a gateway's request stays on its HTTP
  // connection's thread). Eight requesters, spread over both threads.
  two_nodes n{scheduling::io_threads, 2};
  auto probe = n.remote_probe();
  constexpr int requesters = 8;
  std::vector<std::promise<bool>> same_thread(requesters);
  for (int i = 0; i < requesters; ++i)
    n.sys.spawn(
        [probe, i, &answer = same_thread[static_cast<size_t>(i)]](caf::event_based_actor* self) {
          auto asked_on = std::this_thread::get_id();
          self->request(probe, 5s, probe_ping{static_cast<uint64_t>(i), 0})
              .then([&answer, asked_on](
                        probe_pong&) { answer.set_value(std::this_thread::get_id() == asked_on); },
                    [&answer](caf::error&) { answer.set_value(false); });
        });
  int answered_where_asked = 0;
  for (auto& p : same_thread) {
    auto f = p.get_future();
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    answered_where_asked += f.get() ? 1 : 0;
  }
  CHECK(answered_where_asked == requesters);
}

TEST_CASE("zmq transport: senders that come and go leave nothing behind on either node") {
  // A gateway asks from a new actor per request. Node a must not keep each requester it
  // remembered for answers, nor node b a proxy for each: both tables follow the live actors.
  two_nodes n{any_scheduler()};
  auto probe = n.remote_probe();
  constexpr uint64_t requesters = 500;
  for (uint64_t i = 0; i < requesters; ++i) {
    caf::scoped_actor requester{n.sys};
    requester->request(probe, 5s, probe_ping{i, 0})
        .receive([&](probe_pong& pong) { CHECK(pong.seq == i); },
                 [&](caf::error& err) { FAIL(n.sys.render(err)); });
  }
  CHECK(n.a.stats().local_senders_known <= 128);
  CHECK(n.b->stats().remote_sender_proxies <= 128);
}

TEST_CASE("zmq transport: an unknown name is an error from the peer") {
  two_nodes n{any_scheduler()};
  auto handle = n.a.lookup(n.b->listen_endpoint(), "nobody");
  REQUIRE(handle);
  n.self->request(*handle, 5s, probe_ping{1, 0})
      .receive([&](probe_pong&) { FAIL("answered"); },
               [&](caf::error& err) {
                 CHECK(err == transport_errc::unknown_actor);
                 CHECK(n.sys.render(err).find("nobody") != std::string::npos);
               });
}

TEST_CASE("zmq transport: a stream of 10,000 messages arrives complete and in order") {
  two_nodes n{any_scheduler()};
  auto probe = n.remote_probe();
  n.self->send(probe, probe_stream_request{1, 10000, 32});
  uint64_t expected = 0;
  bool done = false;
  bool in_order = true;
  n.self->receive_while([&] { return !done; })(
      [&](probe_stream_item& item) {
        in_order &= item.seq == expected;
        ++expected;
      },
      [&](probe_stream_done& d) {
        done = true;
        CHECK(d.count == 10000);
      },
      caf::after(10s) >> [&] { done = true; });
  CHECK(in_order);
  CHECK(expected == 10000);
}

TEST_CASE("zmq transport: one-way messages keep their order with requests") {
  two_nodes n{any_scheduler()};
  auto probe = n.remote_probe();
  for (uint64_t i = 0; i < 1000; ++i)
    n.self->send(probe, probe_note{i, "n"});
  n.self->request(probe, 5s, probe_count_request{})
      .receive([&](probe_count& c) { CHECK(c.notes == 1000); },
               [&](caf::error& err) { FAIL(n.sys.render(err)); });
}

TEST_CASE("zmq transport: a node that stops still sends what was queued before stop()") {
  two_nodes n{any_scheduler()};
  // Node b learns a's actor (a sender proxy) from a first message, as a pod learns where a
  // request came from; what b sends it then leaves through b's ROUTER socket.
  auto learned = std::make_shared<std::promise<caf::strong_actor_ptr>>();
  auto catcher = n.sys.spawn([learned](caf::event_based_actor* self) -> caf::behavior {
    return {[self, learned](probe_note&) {
      learned->set_value(self->current_sender());
      self->quit();
    }};
  });
  n.b->expose("catcher", catcher);
  auto handle = n.a.lookup(n.b->listen_endpoint(), "catcher");
  REQUIRE(handle);
  n.self->send(*handle, probe_note{0, "hello"});
  auto sender = learned->get_future();
  REQUIRE(sender.wait_for(5s) == std::future_status::ready);
  auto back = caf::actor_cast<caf::actor>(sender.get());
  REQUIRE(back);
  // A drained pod's last messages: queued by the proxy on this thread, then the transport
  // stops at once, before its I/O thread has sent most of them.
  constexpr uint64_t count = 10000;
  for (uint64_t i = 0; i < count; ++i)
    caf::anon_send(back, probe_note{i, "last"});
  n.b->stop();
  uint64_t received = 0;
  bool silent = false;
  n.self->receive_while([&] { return !silent && received < count; })(
      [&](probe_note&) { ++received; }, caf::after(5s) >> [&] { silent = true; });
  CHECK(received == count);
}

TEST_CASE("zmq transport: a dead peer fails requests within the timeout, then recovers") {
  two_nodes n{any_scheduler()};
  auto endpoint = n.b->listen_endpoint();
  auto probe = n.remote_probe();
  n.self->request(probe, 5s, probe_ping{1, 0})
      .receive([](probe_pong&) {}, [&](caf::error& err) { FAIL(n.sys.render(err)); });
  // kill b
  n.b->stop();
  n.b.reset();
  auto started = std::chrono::steady_clock::now();
  bool failed = false;
  // Until the heartbeats notice, a request may time out on the requester's side; once they
  // do, it fails at once with peer_unreachable. Either way: an error, within its timeout.
  for (int attempt = 0; attempt < 5 && !failed; ++attempt) {
    n.self->request(probe, 1s, probe_ping{2, 0})
        .receive([&](probe_pong&) { FAIL("dead peer answered"); },
                 [&](caf::error& err) {
                   failed = err == transport_errc::peer_unreachable ||
                            err == transport_errc::peer_lost || err == caf::sec::request_timeout;
                 });
  }
  CHECK(failed);
  CHECK(std::chrono::steady_clock::now() - started < 3s);
  // once it is known dead, a request fails immediately
  auto t0 = std::chrono::steady_clock::now();
  n.self->request(probe, 5s, probe_ping{3, 0})
      .receive([&](probe_pong&) { FAIL("dead peer answered"); },
               [&](caf::error& err) { CHECK(err == transport_errc::peer_unreachable); });
  CHECK(std::chrono::steady_clock::now() - t0 < 500ms);

  // restart b on the same endpoint: the same proxy reaches it again
  auto restarted = node("b", 3);
  restarted.listen = endpoint;
  n.b = std::make_unique<zmq_transport>(n.sys, restarted);
  auto probe_b2 = spawn_probe(n.sys, n.b->node_id());
  n.b->expose("probe", caf::actor_cast<caf::actor>(probe_b2));
  bool recovered = false;
  for (int attempt = 0; attempt < 50 && !recovered; ++attempt) {
    n.self->request(probe, 200ms, probe_ping{4, 0})
        .receive([&](probe_pong& pong) { recovered = pong.node == n.b->node_id(); },
                 [&](caf::error&) { n.self->receive(caf::after(20ms) >> [] {}); });
  }
  CHECK(recovered);
  CHECK(n.a.peer_alive(endpoint));
  caf::anon_send_exit(probe_b2, caf::exit_reason::user_shutdown);
}

TEST_CASE("zmq transport: peer_silence says how long a peer has said nothing") {
  two_nodes n{any_scheduler()};
  auto endpoint = n.b->listen_endpoint();
  CHECK_FALSE(n.a.peer_silence(endpoint));  // never dialled
  auto probe = n.remote_probe();
  n.self->request(probe, 5s, probe_ping{1, 0})
      .receive([](probe_pong&) {}, [&](caf::error& err) { FAIL(n.sys.render(err)); });
  // Alive (its first heartbeat answered): heard at least every heartbeat (20 ms), far within
  // peer_timeout (300 ms).
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!n.a.peer_alive(endpoint) && std::chrono::steady_clock::now() < deadline)
    n.self->receive(caf::after(10ms) >> [] {});
  REQUIRE(n.a.peer_alive(endpoint));
  auto silence = n.a.peer_silence(endpoint);
  REQUIRE(silence);
  CHECK(*silence < 300ms);
  n.b->stop();
  n.b.reset();
  // Gone: once the heartbeats declare it down, it has been silent at least peer_timeout, and
  // the silence keeps growing.
  deadline = std::chrono::steady_clock::now() + 3s;
  while (n.a.peer_alive(endpoint) && std::chrono::steady_clock::now() < deadline)
    n.self->receive(caf::after(10ms) >> [] {});
  REQUIRE_FALSE(n.a.peer_alive(endpoint));
  auto down = n.a.peer_silence(endpoint);
  REQUIRE(down);
  CHECK(*down >= 300ms);
  n.self->receive(caf::after(50ms) >> [] {});
  CHECK(*n.a.peer_silence(endpoint) >= *down + 50ms);
}

TEST_CASE("zmq transport: a request to an address nobody listens on fails fast") {
  system_config cfg{protocol::register_messages};
  caf::actor_system sys{cfg};
  zmq_transport a{sys, node("a", 1)};
  caf::scoped_actor self{sys};
  auto handle = a.lookup("tcp://127.0.0.1:1", "probe");
  REQUIRE(handle);
  auto t0 = std::chrono::steady_clock::now();
  bool failed = false;
  self->request(*handle, 3s, probe_ping{1, 0})
      .receive([&](probe_pong&) { FAIL("answered"); },
               [&](caf::error& err) {
                 failed = err == transport_errc::peer_unreachable;
                 INFO(sys.render(err));
               });
  CHECK(failed);
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  a.stop();
}

TEST_CASE("zmq transport: events cross nodes in order") {
  two_nodes n{any_scheduler()};
  caf::actor sink = caf::actor_cast<caf::actor>(n.self);
  n.a.subscribe(n.b->events_endpoint(), "load@", sink);
  // PUB/SUB joins take a moment: publish until the first one arrives
  bool joined = false;
  for (int i = 0; i < 100 && !joined; ++i) {
    n.b->publish("load@warmup", caf::make_message(probe_note{0, "warmup"}));
    n.self->receive([&](probe_note&) { joined = true; }, caf::after(20ms) >> [] {});
  }
  REQUIRE(joined);
  bool drained = false;  // warm-up copies still in flight
  n.self->receive_while([&] { return !drained; })([](probe_note&) {},
                                                  caf::after(50ms) >> [&] { drained = true; });
  for (uint64_t i = 1; i <= 500; ++i)
    n.b->publish("load@pod-1", caf::make_message(probe_note{i, "e"}));
  n.b->publish("other@x", caf::make_message(probe_note{999, "filtered"}));
  uint64_t expected = 1;
  bool in_order = true;
  bool timed_out = false;
  n.self->receive_while([&] { return expected <= 500 && !timed_out; })(
      [&](probe_note& note) { in_order &= note.seq == expected++; },
      caf::after(5s) >> [&] { timed_out = true; });
  CHECK_FALSE(timed_out);
  CHECK(in_order);
  CHECK(n.a.stats().event_gaps == 0);
}

TEST_CASE("zmq transport: lazy one-way messages leave with the next frame on their lane") {
  // Notes of a lazy kind sent from an io thread wait in its lane (the delay here is far longer
  // than the test) and reach the probe just before the request that follows them, in order:
  // the count it answers includes every one of them.
  auto lazy = node("a", 1);
  lazy.lazy_kinds = {static_cast<uint16_t>(protocol::message_kind::probe_note)};
  lazy.lazy_delay = std::chrono::seconds(30);
  two_nodes n{scheduling::io_threads, 2, lazy};
  auto probe = n.remote_probe();
  // Held only once node b's heartbeat ack said it reads leading parts (see the next case).
  for (int i = 0; i < 500 && !n.a.peer_alive(n.b->listen_endpoint()); ++i)
    std::this_thread::sleep_for(10ms);
  REQUIRE(n.a.peer_alive(n.b->listen_endpoint()));
  std::promise<uint64_t> counted;
  n.sys.spawn([probe, &counted](caf::event_based_actor* self) {
    for (uint64_t i = 0; i < 5; ++i)
      self->send(probe, probe_note{i, "x"});
    self->request(probe, 5s, probe_count_request{})
        .then([&counted](probe_count& c) { counted.set_value(c.notes); },
              [&counted](caf::error&) { counted.set_value(0); });
  });
  auto f = counted.get_future();
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  CHECK(f.get() == 5);
  CHECK(n.a.stats().frames_held == 5);
  CHECK(n.a.stats().flushes_alone == 0);
  // They left as leading parts of the request's ZeroMQ message (one flush, one segment), and
  // node b took each part as a frame of its own.
  CHECK(n.b->stats().frames_batched_in == 5);
}

TEST_CASE("zmq transport: lazy messages to a peer of an older build leave one by one") {
  // A peer whose heartbeat ack does not say it reads leading parts (a build before them keeps
  // only a message's last part): nothing is held for it, every frame is a message of its own.
  zmq::context_t context{1};
  zmq::socket_t old_peer{context, zmq::socket_type::router};
  old_peer.set(zmq::sockopt::linger, 0);
  old_peer.bind("tcp://127.0.0.1:*");
  auto address = old_peer.get(zmq::sockopt::last_endpoint);
  wire::envelope ack;
  ack.type = wire::frame_type::heartbeat_ack;
  ack.sender = wire::actor_address{"old/1", 0, {}};
  auto ack_bytes = wire::encode(ack);  // an empty payload, as the older build sends
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::vector<size_t> parts;  // of each message that is not a heartbeat
  std::thread peer([&] {
    while (!stop) {
      zmq::pollitem_t item{old_peer.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, 20ms) <= 0) continue;
      zmq::message_t identity, body;
      if (!old_peer.recv(identity) || !old_peer.recv(body)) continue;
      size_t count = 1;
      bool heartbeat = false;
      if (auto env = wire::decode(body.to_string_view()))
        heartbeat = env.value->type == wire::frame_type::heartbeat;
      while (body.more() && old_peer.recv(body))
        ++count;
      if (heartbeat) {
        old_peer.send(identity, zmq::send_flags::sndmore);
        old_peer.send(zmq::buffer(ack_bytes), zmq::send_flags::none);
        continue;
      }
      std::lock_guard guard{mutex};
      parts.push_back(count);
    }
  });
  auto lazy = node("a", 1);
  lazy.lazy_kinds = {static_cast<uint16_t>(protocol::message_kind::probe_note)};
  lazy.lazy_delay = std::chrono::seconds(30);
  {
    two_nodes n{scheduling::io_threads, 2, lazy};
    auto handle = n.a.lookup(address, "probe");
    REQUIRE(handle);
    auto probe = caf::actor_cast<probe_actor>(*handle);
    for (int i = 0; i < 500 && !n.a.peer_alive(address); ++i)
      std::this_thread::sleep_for(10ms);
    REQUIRE(n.a.peer_alive(address));
    n.sys.spawn([probe](caf::event_based_actor* self) {
      for (uint64_t i = 0; i < 3; ++i)
        self->send(probe, probe_note{i, "x"});
      self->send(probe, probe_ping{1, 0});  // not lazy: held notes would lead it
    });
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard guard{mutex};
        if (parts.size() >= 4) break;
      }
      std::this_thread::sleep_for(10ms);
    }
    CHECK(n.a.stats().frames_held == 0);
  }
  stop = true;
  peer.join();
  std::lock_guard guard{mutex};
  CHECK(parts == std::vector<size_t>{1, 1, 1, 1});
}

TEST_CASE("zmq transport: a lazy message with no frame after it leaves when its delay ends") {
  auto lazy = node("a", 1);
  lazy.lazy_kinds = {static_cast<uint16_t>(protocol::message_kind::probe_note)};
  lazy.lazy_delay = std::chrono::milliseconds(20);
  // Heartbeats (which flush held frames too) far apart: node a's housekeeping runs when it
  // starts, then 5 s later; the note, sent in between, can only leave by its delay.
  lazy.heartbeat_interval = std::chrono::seconds(10);
  lazy.peer_timeout = std::chrono::seconds(30);
  two_nodes n{scheduling::io_threads, 2, lazy};
  auto probe = n.remote_probe();
  // Held once node b acked the heartbeat sent when node a dialled it.
  for (int i = 0; i < 500 && !n.a.peer_alive(n.b->listen_endpoint()); ++i)
    std::this_thread::sleep_for(10ms);
  REQUIRE(n.a.peer_alive(n.b->listen_endpoint()));
  n.sys.spawn([probe](caf::event_based_actor* self) { self->send(probe, probe_note{1, "x"}); });
  // Asked on the probe's own node: nothing from node a follows the note.
  uint64_t notes = 0;
  for (int i = 0; i < 200 && notes == 0; ++i) {
    n.self->request(n.probe_b, 5s, probe_count_request{})
        .receive([&](probe_count& c) { notes = c.notes; }, [](caf::error&) {});
    if (notes == 0) std::this_thread::sleep_for(10ms);
  }
  CHECK(notes == 1);
  CHECK(n.a.stats().frames_held == 1);
  CHECK(n.a.stats().flushes_alone == 1);
}

TEST_CASE("zmq transport: getpid is the calling process's, in a forked child too") {
  // The transport serves libzmq's getpid() from a cache (see zmq_transport.cpp).
  auto parent = ::getpid();
  CHECK(parent == static_cast<pid_t>(::syscall(SYS_getpid)));
  auto child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto own = ::getpid();
    ::_exit(own == static_cast<pid_t>(::syscall(SYS_getpid)) && own != parent ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(::getpid() == parent);
}
