// A mutex for short critical sections that the I/O threads share (a pick, a metrics series
// lookup): on contention it spins a little before it sleeps. With std::mutex a thread that
// finds the lock taken sleeps in the kernel and is woken by the holder: two system calls and
// two context switches, many times longer than the microsecond the holder needed. Under
// load that was one futex call every ten gateway requests.
#pragma once

#include <mutex>

namespace inferstack::runtime {

class brief_mutex {
 public:
  void lock() {
    for (int i = 0; i < spin_limit; ++i) {
      if (mutex_.try_lock()) return;
      relax();
    }
    mutex_.lock();  // the holder is slow (or not running): sleep
  }
  bool try_lock() { return mutex_.try_lock(); }
  void unlock() { mutex_.unlock(); }

 private:
  /// A few microseconds of waiting: longer than the sections this guards.
  static constexpr int spin_limit = 2000;

  static void relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  std::mutex mutex_;
};

}  // namespace inferstack::runtime
