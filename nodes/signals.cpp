#include "nodes/signals.hpp"

#include <csignal>
#include <ctime>

#include <pthread.h>

namespace inferstack::nodes {

namespace {
sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}
}  // namespace

void block_signals() {
  auto set = handled_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client hanging up is an error code, not a crash
}

int wait_signal(std::chrono::milliseconds timeout) {
  auto set = handled_signals();
  if (timeout.count() == 0) {
    int sig = 0;
    return sigwait(&set, &sig) == 0 ? sig : 0;
  }
  timespec ts{static_cast<time_t>(timeout.count() / 1000),
              static_cast<long>((timeout.count() % 1000) * 1000000)};
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

}  // namespace inferstack::nodes
