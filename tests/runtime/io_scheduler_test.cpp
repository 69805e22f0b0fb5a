// The io scheduler: CAF actors on asio I/O threads. Messages, requests, timers and spawns work
// as under CAF's own scheduler; work made ready on an I/O thread stays on it; an HTTP server
// shares the threads; shutdown with work still queued ends cleanly. Every wait is bounded.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <boost/asio/post.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "protocol/registration.hpp"
#include "runtime/actor_system_setup.hpp"
#include "runtime/http/http_server.hpp"
#include "runtime/io_scheduler.hpp"

using namespace inferstack;
using namespace std::chrono_literals;

namespace {

caf::behavior adder(caf::event_based_actor*) {
  return {[](int a, int b) { return a + b; }};
}

/// Counts to `target` by messaging itself, then tells `done`.
caf::behavior counter(caf::event_based_actor* self, int target, caf::actor done) {
  self->send(self, 0);
  return {[=](int n) {
    if (n + 1 == target) {
      self->send(done, n + 1);
      self->quit();
      return;
    }
    self->send(self, n + 1);
  }};
}

struct waiter {
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  void set() {
    std::lock_guard guard{mutex};
    done = true;
    cv.notify_all();
  }
  bool wait() {
    std::unique_lock lock{mutex};
    return cv.wait_for(lock, 10s, [this] { return done; });
  }
};

}  // namespace

TEST_CASE("actors on the io scheduler: messages, requests and timers", "[io_scheduler]") {
  runtime::system_config cfg{protocol::register_messages, runtime::scheduling::io_threads, 2};
  caf::actor_system system{cfg};
  auto* threads = runtime::io_threads_of(system);
  REQUIRE(threads != nullptr);
  CHECK(threads->size() == 2);

  caf::scoped_actor self{system};
  auto add = system.spawn(adder);
  int sum = 0;
  self->request(add, 5s, 2, 3).receive([&](int r) { sum = r; }, [](caf::error&) {});
  CHECK(sum == 5);

  // 10,000 self-sends in each of several actors at once: mailboxes over the throughput bound
  // go back to the queue and all finish.
  for (int i = 0; i < 4; ++i)
    system.spawn(counter, 10000, caf::actor{self});
  int finished = 0;
  self->receive_for(finished, 4)([](int n) { CHECK(n == 10000); });
  CHECK(finished == 4);

  auto start = std::chrono::steady_clock::now();
  self->delayed_send(self, 30ms, std::string("tick"));
  std::string got;
  self->receive([&](std::string& s) { got = s; }, caf::after(5s) >> [] {});
  CHECK(got == "tick");
  CHECK(std::chrono::steady_clock::now() - start >= 30ms);
  caf::anon_send_exit(add, caf::exit_reason::user_shutdown);
}

TEST_CASE("an actor spawned on an I/O thread runs on that thread", "[io_scheduler]") {
  runtime::system_config cfg{protocol::register_messages, runtime::scheduling::io_threads, 2};
  caf::actor_system system{cfg};
  auto* threads = runtime::io_threads_of(system);
  REQUIRE(threads != nullptr);
  for (size_t i = 0; i < threads->size(); ++i) {
    waiter w;
    std::thread::id io_thread, actor_thread;
    boost::asio::post(threads->context(i), [&] {
      io_thread = std::this_thread::get_id();
      system.spawn([&](caf::event_based_actor* self) {
        actor_thread = std::this_thread::get_id();
        self->quit();
        w.set();
      });
    });
    REQUIRE(w.wait());
    CHECK(io_thread == actor_thread);
  }
}

TEST_CASE("an HTTP server on the io scheduler's threads starts no thread of its own and stops",
          "[io_scheduler]") {
  runtime::system_config cfg{protocol::register_messages, runtime::scheduling::io_threads, 2};
  caf::actor_system system{cfg};
  http::server_settings s;
  s.error_body = [](int, const std::string& message) { return message; };  // not looked at here
  s.shared_threads = runtime::io_threads_of(system);
  std::set<std::thread::id> handler_threads;
  std::mutex mutex;
  http::server server{s, [&](std::shared_ptr<http::exchange> ex) {
                        {
                          std::lock_guard guard{mutex};
                          handler_threads.insert(std::this_thread::get_id());
                        }
                        ex->respond(http::status::ok, "ok", "text/plain");
                      }};
  server.start();
  REQUIRE(server.port() != 0);
  // One request over a plain socket: answered on one of the scheduler's threads.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server.port());
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  std::string req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string answer;
  char buf[1024];
  for (int i = 0; i < 100; ++i) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
  {
    std::lock_guard guard{mutex};
    CHECK(handler_threads.size() == 1);
  }
  server.stop(100ms);
  CHECK(server.open_connections() == 0);
}

TEST_CASE("the io scheduler shuts down with work still queued", "[io_scheduler]") {
  runtime::system_config cfg{protocol::register_messages, runtime::scheduling::io_threads, 1};
  caf::actor_system system{cfg};
  caf::scoped_actor self{system};
  // Busy actors that would not finish on their own, told to exit while their self-sends are
  // still queued: the system's shutdown waits for them and drops what is left.
  std::vector<caf::actor> busy;
  for (int i = 0; i < 8; ++i)
    busy.push_back(system.spawn(counter, 1 << 30, caf::actor{self}));
  for (auto& a : busy)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

namespace {

/// Sends `n - 1` to `peer` for each `n` it gets, until 0; counts what it handled.
caf::behavior ping_pong(caf::event_based_actor* self, std::shared_ptr<std::atomic<int>> handled) {
  return {[=](int n, caf::actor peer) {
    ++*handled;
    if (n > 0) self->send(peer, n - 1, caf::actor_cast<caf::actor>(self));
  }};
}

}  // namespace

TEST_CASE("actors that keep each other busy on an I/O thread leave its other handlers room",
          "[io_scheduler]") {
  // Two actors passing a message back and forth are made ready on the I/O thread, one after
  // the other, without end: a handler posted meanwhile (a socket's, say) still gets its turn.
  runtime::system_config cfg{protocol::register_messages, runtime::scheduling::io_threads, 1};
  caf::actor_system system{cfg};
  auto* threads = runtime::io_threads_of(system);
  REQUIRE(threads != nullptr);
  auto handled = std::make_shared<std::atomic<int>>(0);
  auto a = system.spawn(ping_pong, handled);
  auto b = system.spawn(ping_pong, handled);
  constexpr int rounds = 1 << 30;
  caf::anon_send(a, rounds, b);
  // Wait (bounded) until the exchange is under way, then post a handler behind it.
  for (int i = 0; i < 1000 && handled->load() < 1000; ++i)
    std::this_thread::sleep_for(1ms);
  REQUIRE(handled->load() >= 1000);
  waiter w;
  boost::asio::post(threads->context(0), [&] { w.set(); });
  CHECK(w.wait());
  CHECK(handled->load() < rounds);  // it ran while the two were still at it
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
}

TEST_CASE("messages between actors on one I/O thread arrive in the order they were sent",
          "[io_scheduler]") {
  runtime::system_config cfg{protocol::register_messages, runtime::scheduling::io_threads, 1};
  caf::actor_system system{cfg};
  caf::scoped_actor self{system};
  // Counts what arrives and whether each number was the one expected next.
  auto collector = system.spawn([](caf::event_based_actor*) -> caf::behavior {
    auto count = std::make_shared<int>(0);
    auto in_order = std::make_shared<bool>(true);
    return {[=](int n) {
              if (n != *count) *in_order = false;
              ++*count;
            },
            [=](caf::atom_value) { return caf::make_message(*count, *in_order); }};
  });
  // A sender on the I/O thread: its sends are queued locally there, behind each other.
  system.spawn([collector](caf::event_based_actor* me) -> caf::behavior {
    for (int i = 0; i < 500; ++i)
      me->send(collector, i);
    me->quit();
    return {};
  });
  int count = 0;
  bool in_order = false;
  for (int i = 0; i < 200 && count < 500; ++i) {
    self->request(collector, 5s, caf::atom("get"))
        .receive(
            [&](int c, bool ok) {
              count = c;
              in_order = ok;
            },
            [](caf::error&) {});
    if (count < 500) std::this_thread::sleep_for(5ms);
  }
  CHECK(count == 500);
  CHECK(in_order);
  caf::anon_send_exit(collector, caf::exit_reason::user_shutdown);
}

TEST_CASE(
    "the io scheduler's clock: a near timer set after a far one fires first, requests with "
    "long timeouts get their answers, an unanswered one times out on time",
    "[io_scheduler]") {
  // The clock thread sleeps until its earliest timer and is woken only when a timer earlier than
  // that is set: a far timer set first must not hide a near one set after it.
  runtime::system_config cfg{protocol::register_messages, runtime::scheduling::io_threads, 2};
  caf::actor_system system{cfg};
  caf::scoped_actor self{system};
  self->delayed_send(self, 1h, std::string("far"));
  self->delayed_send(self, 20ms, std::string("near"));
  std::string first;
  self->receive([&](const std::string& s) { first = s; },
                caf::after(5s) >> [&] { first = "nothing"; });
  CHECK(first == "near");
  // Many answered requests with long timeouts (each sets a timer the clock is not woken for).
  auto adder_actor = system.spawn(adder);
  for (int i = 0; i < 200; ++i) {
    int sum = 0;
    self->request(adder_actor, 10min, i, 1).receive([&](int s) { sum = s; }, [](caf::error&) {});
    CHECK(sum == i + 1);
  }
  // A request to an actor that never answers ends with a timeout, on time.
  auto silent = system.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](int, int) -> caf::result<int> { return caf::delegated<int>{}; }};
  });
  auto t0 = std::chrono::steady_clock::now();
  caf::error timed_out;
  self->request(silent, 50ms, 1, 2).receive([](int) {}, [&](caf::error& e) { timed_out = e; });
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(timed_out == caf::sec::request_timeout);
  CHECK(waited >= 50ms);
  CHECK(waited < 5s);
  caf::anon_send_exit(adder_actor, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(silent, caf::exit_reason::user_shutdown);
}
