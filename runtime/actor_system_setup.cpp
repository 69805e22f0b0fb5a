#include "runtime/actor_system_setup.hpp"

#include <algorithm>
#include <caf/atom.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/message.hpp>
#include <thread>

#include "runtime/catalogue.hpp"
#include "runtime/errors.hpp"
#include "runtime/io_scheduler.hpp"

namespace inferstack::runtime {

namespace {

// "<category>: <code name>: <context>" for errors whose context is a message string.
template <class Enum>
caf::actor_system_config::error_renderer render_with(const char* category) {
  return [category](uint8_t code, caf::atom_value, const caf::message& context) {
    using inferstack::runtime::to_string;
    using inferstack::actors::router::to_string;
    using inferstack::actors::pod::to_string;
    using inferstack::actors::picker::to_string;
    std::string text = category;
    text += ": ";
    text += to_string(static_cast<Enum>(code));
    if (context.match_elements<std::string>())
      text += ": " + context.get_as<std::string>(0);
    else if (!context.empty())
      text += " " + caf::deep_to_string(context);
    return text;
  };
}

}  // namespace

system_config::system_config(scheduling mode, std::size_t worker_threads) {
  add_message_types<caf::id_block::inferstack>();
  add_error_category(caf::atom("transport"), render_with<transport_errc>("transport"));
  add_error_category(caf::atom("router"), render_with<actors::router::router_errc>("router"));
  add_error_category(caf::atom("pod"), render_with<actors::pod::pod_errc>("pod"));
  add_error_category(caf::atom("picker"), render_with<actors::picker::picker_errc>("picker"));
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
