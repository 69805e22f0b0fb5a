// What a KV subscriber under test heard, in order, with bounded waits (tests of
// actors/picker/kv_subscriber over real sockets).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "actors/picker/kv_subscriber.hpp"

namespace inferstack::testing {

struct kv_heard {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<uint64_t> seqs;

  actors::picker::kv_subscriber::sink sink() {
    return [this](actors::pod::kv_event_message m) {
      std::lock_guard guard{mutex};
      seqs.push_back(m.seq);
      cv.notify_all();
    };
  }
  size_t count() {
    std::lock_guard guard{mutex};
    return seqs.size();
  }
  std::vector<uint64_t> all() {
    std::lock_guard guard{mutex};
    return seqs;
  }
  /// Whether `n` have been heard within `limit`.
  bool wait_for(size_t n, std::chrono::milliseconds limit) {
    std::unique_lock lock{mutex};
    return cv.wait_for(lock, limit, [&] { return seqs.size() >= n; });
  }
};

}  // namespace inferstack::testing
