// Runs actors on CAF's deterministic test coordinator inside Catch2 test cases: nothing
// happens until the test says run(), and time moves only by advance_time(). (CAF's own test
// DSL needs CAF's test engine, so it cannot be used from Catch2; this is the part we need.)
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include "runtime/actor_system_setup.hpp"
#include "runtime/catalogue.hpp"

namespace inferstack::testing {

class caf_fixture {
 public:
  caf_fixture()
      : cfg(runtime::scheduling::deterministic),
        sys(cfg),
        sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())),
        self(sys, true) {
    // Start the virtual clock away from zero, as real clocks are.
    sched.clock().current_time += std::chrono::hours(1);
    // Actors a test leaves running must not make the system's destructor wait for them: the
    // deterministic scheduler only runs when the test says so.
    sys.await_actors_before_shutdown(false);
  }

  virtual ~caf_fixture() {
    run();
    // Actors with periodic timers would keep the scheduler's shutdown busy forever: drop every
    // pending timer first.
    sched.clock().cancel_all();
    run();
  }

  /// Runs every job until no actor has work left (timers are not fired).
  size_t run() {
    size_t n = 0;
    while (sched.try_run_once())
      ++n;
    return n;
  }

  /// Moves virtual time forward by `d`, firing in order every timer that falls due on the way
  /// (including timers set by what the earlier ones caused) and running what they cause.
  size_t advance_time(caf::timespan d) {
    auto target = now() + d;
    size_t fired = 0;
    run();
    while (next_timer_due(target)) {
      sched.clock().trigger_timeout();  // jumps the clock to that timer
      ++fired;
      run();
    }
    if (now() < target) sched.clock().current_time = target;
    return fired;
  }

  /// Runs the simulation, timer by timer, until `predicate` holds or `limit` of virtual time
  /// has passed; returns whether it held.
  template <class Predicate>
  bool advance_until(Predicate predicate, caf::timespan limit) {
    auto deadline = now() + limit;
    run();
    while (!predicate()) {
      if (!next_timer_due(deadline)) return predicate();
      sched.clock().trigger_timeout();
      run();
    }
    return true;
  }

  /// True if a timer is pending at or before `t`.
  bool next_timer_due(caf::actor_clock::time_point t) {
    const auto& schedule = sched.clock().schedule();
    return !schedule.empty() && schedule.begin()->first <= t;
  }

  caf::actor_clock::time_point now() const { return sched.clock().now(); }

  /// Sends a request from the test's scoped actor and runs the system until the answer is in.
  template <class T, class Handle, class... Ts>
  caf::expected<T> request(const Handle& dest, Ts&&... xs) {
    self->send(dest, std::forward<Ts>(xs)...);
    return take_response<T>();
  }

  /// Takes the next message of type T from the test's mailbox after running the system.
  template <class T>
  std::optional<T> received() {
    run();
    std::optional<T> out;
    bool again = true;
    while (again && !out) {
      again = false;
      self->receive([&](T& x) { out = std::move(x); },
                    [&](caf::message&) { again = true; },  // skip others
                    caf::after(std::chrono::seconds(0)) >> [] {});
    }
    return out;
  }

  runtime::system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  caf::scoped_actor self;

 private:
  template <class T>
  caf::expected<T> take_response() {
    run();
    caf::expected<T> out = caf::make_error(caf::sec::request_timeout);
    self->receive([&](T& x) { out = std::move(x); }, [&](caf::error& err) { out = err; },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    return out;
  }
};

/// An actor that keeps every message it gets, for tests to inspect.
struct message_log {
  std::vector<caf::message> messages;

  template <class T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& m : messages)
      if (m.match_elements<T>()) out.push_back(m.get_as<T>(0));
    return out;
  }
};

inline caf::actor spawn_recorder(caf::actor_system& sys, std::shared_ptr<message_log> log) {
  return sys.spawn([log](caf::event_based_actor* self) -> caf::behavior {
    self->set_default_handler(
        [log](caf::scheduled_actor*, caf::message_view& view) -> caf::result<caf::message> {
          log->messages.push_back(view.move_content_to_message());
          return caf::message{};
        });
    return {[](caf::exit_msg&) {}};
  });
}

}  // namespace inferstack::testing
