// A CAF scheduler whose workers are asio I/O threads: actors and sockets share the same threads.
//
// Why: with CAF's own workers beside separate I/O threads every request crosses threads several
// times (I/O thread -> actor -> I/O thread), and each crossing to a sleeping thread costs a futex
// wake and a context switch -- on a small machine more than the request's own work. Here an
// actor woken by a message sent from an I/O thread runs on that same thread, after the current
// handler: a request handled by one connection's thread stays on it end to end, as in nginx's
// event loop. Work from elsewhere (timers, the ZeroMQ transport) is spread round-robin.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <caf/fwd.hpp>

namespace inferstack::runtime {

/// The I/O threads of an actor system scheduled by the io scheduler: servers put their
/// connections on these contexts instead of starting threads of their own.
class io_threads {
 public:
  virtual ~io_threads() = default;
  virtual std::size_t size() const = 0;
  virtual boost::asio::io_context& context(std::size_t index) = 0;
  /// The index of the calling thread among these; size() if it is none of them.
  virtual std::size_t current_index() const = 0;
};

/// The io scheduler's threads, or null when `system` is scheduled otherwise (CAF's work
/// stealing, the deterministic test coordinator).
io_threads* io_threads_of(caf::actor_system& system);

/// Installs the io scheduler in a configuration (`scheduler.max-threads` threads).
void use_io_scheduler(caf::actor_system_config& config);

}  // namespace inferstack::runtime
