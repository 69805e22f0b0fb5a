// A value one actor owns and other threads read: the owner publishes immutable versions, a
// reader takes whichever is current. Lets a decision that only reads the owner's state (a key
// check, a route lookup) run on the caller's thread instead of as a message round trip, while
// changes still go through the owner alone.
#pragma once

#include <memory>
#include <mutex>

#include "runtime/brief_mutex.hpp"

namespace inferstack::runtime {

template <class T>
class published {
 public:
  void publish(std::shared_ptr<const T> value) {
    std::lock_guard guard{mutex_};
    value_ = std::move(value);
  }

  /// The owner is gone: readers fall back to asking it, and hear that it is gone.
  void withdraw() { publish(nullptr); }

  /// The current version, or null when none is published.
  std::shared_ptr<const T> current() const {
    std::lock_guard guard{mutex_};
    return value_;
  }

 private:
  mutable brief_mutex mutex_;  ///< every request reads: contention spins, not sleeps
  std::shared_ptr<const T> value_;
};

}  // namespace inferstack::runtime
