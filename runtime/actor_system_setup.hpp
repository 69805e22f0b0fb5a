#pragma once

#include <cstddef>

#include <caf/actor_system_config.hpp>

namespace inferstack::runtime {

/// How the actor system schedules: CAF's work-stealing threads; actors on asio I/O threads that
/// the servers share (runtime/io_scheduler, what the nodes run); or CAF's deterministic test
/// coordinator (virtual time; used by tests and for deterministic simulation).
enum class scheduling { threads, io_threads, deterministic };

/// The one actor-system configuration every node and test uses: the message catalogue and
/// error categories loaded, CAF's own logging quiet (we log through spdlog).
class system_config : public caf::actor_system_config {
 public:
  explicit system_config(scheduling mode = scheduling::threads, std::size_t worker_threads = 0);
};

}  // namespace inferstack::runtime
