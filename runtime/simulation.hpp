// Actors in deterministic virtual time: CAF's test coordinator as the scheduler, so nothing runs
// until run() says so and time moves only when the simulation advances it -- timer by timer, as
// fast as the machine allows. Tests, the benchmarks that replay workloads (tools/bench/routing,
// tools/bench/autoscale) and anything else that wants reproducible runs use it.
#pragma once

#include <chrono>

#include <caf/actor_system.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "runtime/actor_system_setup.hpp"

namespace inferstack::runtime {

class simulation {
 public:
  /// `add_messages` registers the messages the simulated actors exchange
  /// (protocol::register_messages for inferstack's).
  explicit simulation(message_registration add_messages)
      : cfg(add_messages, scheduling::deterministic),
        sys(cfg),
        sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
    // Start the virtual clock away from zero, as real clocks are.
    sched.clock().current_time += std::chrono::hours(1);
    // Actors left running must not make the system's destructor wait for them: the
    // deterministic scheduler only runs when told to.
    sys.await_actors_before_shutdown(false);
  }

  virtual ~simulation() {
    run();
    // Actors with periodic timers would keep the scheduler's shutdown busy forever: drop every
    // pending timer first.
    sched.clock().cancel_all();
    run();
  }

  simulation(const simulation&) = delete;
  simulation& operator=(const simulation&) = delete;

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

  system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
};

}  // namespace inferstack::runtime
