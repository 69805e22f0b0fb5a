// All the timeouts of one connection on one timer, where setting a deadline is a store and not
// a timer operation. Beast's tcp_stream cancels and re-arms its timer around every read and
// write, and each cancel also runs the cancelled wait's handler: on a proxy that is a visible
// share of the CPU per request. Here the timer wakes at most every `tick`, and on waking either
// acts (the deadline passed), sleeps again until the deadline or the next tick (it moved), or
// stops (none is set). A deadline still fires on time: the last sleep ends at it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace inferstack::http {

class connection_deadline {
 public:
  using clock = std::chrono::steady_clock;

  /// `executor`: the connection's (its handlers and the timer's run there, one at a time).
  /// `tick`: the longest sleep; no shorter than the timeouts the hot path sets, so that those
  /// never need the timer moved.
  connection_deadline(const boost::asio::any_io_executor& executor, clock::duration tick)
      : timer_(executor), tick_(std::max<clock::duration>(tick, std::chrono::milliseconds(1))) {}

  /// `owner` keeps this object alive (the timer's handler checks it before touching anything);
  /// `on_expired` runs on the executor when a deadline passes. Call once, before the first
  /// expires_after.
  void watch(std::weak_ptr<void> owner, std::function<void()> on_expired) {
    owner_ = std::move(owner);
    on_expired_ = std::move(on_expired);
  }

  void expires_after(clock::duration timeout) {
    auto now = clock::now();
    deadline_ = now + timeout;
    // Earlier than the timer's next wake: only when `timeout` is shorter than the tick.
    if (!armed_ || deadline_ < wake_at_) arm(std::min(deadline_, now + tick_));
  }

  void expires_never() { deadline_ = clock::time_point::max(); }

 private:
  void arm(clock::time_point at) {
    armed_ = true;
    wake_at_ = at;
    auto generation = ++generation_;
    timer_.expires_at(at);  // cancels a wait already pending: its handler sees a newer generation
    timer_.async_wait([this, owner = owner_, generation](const boost::system::error_code&) {
      auto alive = owner.lock();
      if (!alive || generation != generation_) return;
      armed_ = false;
      woke();
    });
  }

  void woke() {
    if (deadline_ == clock::time_point::max()) return;  // none set: sleep until one is
    auto now = clock::now();
    if (now < deadline_) return arm(std::min(deadline_, now + tick_));
    deadline_ = clock::time_point::max();
    if (on_expired_) on_expired_();
  }

  boost::asio::steady_timer timer_;
  clock::duration tick_;
  std::weak_ptr<void> owner_;
  std::function<void()> on_expired_;
  clock::time_point deadline_ = clock::time_point::max();
  clock::time_point wake_at_{};
  bool armed_ = false;
  uint64_t generation_ = 0;
};

}  // namespace inferstack::http
