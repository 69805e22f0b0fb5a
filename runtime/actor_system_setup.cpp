#include "runtime/actor_system_setup.hpp"

#include <algorithm>
#include <thread>

#include <caf/atom.hpp>

#include "runtime/errors.hpp"
#include "runtime/io_scheduler.hpp"

namespace inferstack::runtime {

system_config::system_config(message_registration add_messages, scheduling mode,
                             std::size_t worker_threads) {
  add_messages(*this);
  add_error_category(caf::atom("transport"), render_errors_of<transport_errc>("transport"));
  set("logger.file-verbosity", caf::atom("quiet"));
  set("logger.console-verbosity", caf::atom("quiet"));
  if (mode == scheduling::deterministic) {
    set("scheduler.policy", caf::atom("testing"));
    set("logger.inline-output", true);
  } else {
    // CAF's default is at least 4 workers; more workers than cores only adds wake-ups.
    auto cores = std::max(1u, std::thread::hardware_concurrency());
    set("scheduler.max-threads", worker_threads > 0 ? worker_threads : size_t{cores});
    // An idle worker goes from a short spin straight to its condition variable (woken by the
    // next enqueue) instead of the moderate phase's 50 us sleeps: those add their length to
    // the latency of every message that finds the worker asleep, and burn CPU meanwhile.
    set("work-stealing.moderate-poll-attempts", size_t{0});
    if (mode == scheduling::io_threads) {
      use_io_scheduler(*this);
      // An actor with a full mailbox yields its I/O thread to the sockets every 64 messages.
      set("scheduler.max-throughput", size_t{64});
    }
  }
}

}  // namespace inferstack::runtime
