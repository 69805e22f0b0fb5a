// One timer for all of a connection's timeouts (runtime/http/connection_deadline): a deadline
// moved on before it passes never fires, the last one set fires once and not before it, and
// one that is cleared does not fire at all. Real time on an io_context of the test's own,
// bounded by run_for.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "runtime/http/connection_deadline.hpp"

using namespace std::chrono_literals;
using inferstack::http::connection_deadline;
using steady = std::chrono::steady_clock;

namespace {

/// A connection_deadline with its owner, as a connection would hold it.
struct watched {
  explicit watched(boost::asio::io_context& io, steady::duration tick)
      : deadline(io.get_executor(), tick) {}
  connection_deadline deadline;
  std::vector<steady::time_point> expired;
};

std::shared_ptr<watched> make_watched(boost::asio::io_context& io, steady::duration tick) {
  auto w = std::make_shared<watched>(io, tick);
  w->deadline.watch(w, [raw = w.get()] { raw->expired.push_back(steady::now()); });
  return w;
}

}  // namespace

TEST_CASE(
    "a deadline moved on before it passes never fires, and the last one fires once, on time") {
  boost::asio::io_context io;
  auto w = make_watched(io, 20ms);  // wakes every 20 ms while a 100 ms deadline is set
  boost::asio::steady_timer again(io);
  int sets = 0;
  steady::time_point last_set;
  std::function<void()> set_again = [&] {
    w->deadline.expires_after(100ms);
    last_set = steady::now();
    if (++sets == 8) return;  // then no more: the last deadline is left to pass
    again.expires_after(40ms);
    again.async_wait([&](const boost::system::error_code&) { set_again(); });
  };
  set_again();
  io.run_for(1s);
  REQUIRE(sets == 8);
  REQUIRE(w->expired.size() == 1);
  CHECK(w->expired[0] >= last_set + 100ms);
  CHECK(w->expired[0] < last_set + 600ms);  // bounded, not a speed check: it did fire
}

TEST_CASE("a deadline shorter than the tick still fires on time, and a cleared one never") {
  boost::asio::io_context io;
  auto w = make_watched(io, 10s);
  auto began = steady::now();
  w->deadline.expires_after(30ms);
  io.run_for(300ms);
  REQUIRE(w->expired.size() == 1);
  CHECK(w->expired[0] >= began + 30ms);

  io.restart();
  w->deadline.expires_after(30ms);
  w->deadline.expires_never();
  io.run_for(200ms);
  CHECK(w->expired.size() == 1);
}

TEST_CASE("a connection_deadline whose owner has gone does nothing when its timer ends") {
  boost::asio::io_context io;
  bool fired = false;
  {
    auto owner = std::make_shared<int>(0);
    auto deadline = std::make_unique<connection_deadline>(io.get_executor(), 1s);
    deadline->watch(owner, [&] { fired = true; });
    deadline->expires_after(20ms);
    owner.reset();  // the connection is gone: its deadline goes with it
    deadline.reset();
  }
  io.run_for(100ms);  // the cancelled wait's handler runs and must touch nothing
  CHECK_FALSE(fired);
}
