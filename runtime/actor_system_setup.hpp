#pragma once

#include <cstddef>

#include <string>

#include <caf/actor_system_config.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/message.hpp>

namespace inferstack::runtime {

/// How the actor system schedules: CAF's work-stealing threads; actors on asio I/O threads that
/// the servers share (runtime/io_scheduler, what the nodes run); or CAF's deterministic test
/// coordinator (virtual time; used by tests and for deterministic simulation).
enum class scheduling { threads, io_threads, deterministic };

/// Renders errors of one category as "<category>: <code name>: <context>" when the context is
/// a message string (the code's name from `to_string(Enum)`, found beside the enum).
template <class Enum>
caf::actor_system_config::error_renderer render_errors_of(const char* category) {
  return [category](uint8_t code, caf::atom_value, const caf::message& context) {
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

/// What the layer above adds to every actor system: its message types and error categories
/// (protocol::register_messages for inferstack's catalogue).
using message_registration = void (*)(caf::actor_system_config&);

/// The one actor-system configuration every node and test uses: the messages that
/// `add_messages` adds, the transport's error category, CAF's own logging quiet (we log through
/// spdlog).
class system_config : public caf::actor_system_config {
 public:
  explicit system_config(message_registration add_messages, scheduling mode = scheduling::threads,
                         std::size_t worker_threads = 0);
};

}  // namespace inferstack::runtime
