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
  runtime::system_config cfg{runtime::scheduling::io_threads, 2};
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
  runtime::system_config cfg{runtime::scheduling::io_threads, 2};
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
  runtime::system_config cfg{runtime::scheduling::io_threads, 2};
  caf::actor_system system{cfg};
  http::server_settings s;
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
  runtime::system_config cfg{runtime::scheduling::io_threads, 1};
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
