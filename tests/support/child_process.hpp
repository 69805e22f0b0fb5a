// Starts other programs for multi-process tests: stdout captured line by line, every wait
// bounded, and the child killed when the handle goes away so no test leaves processes behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace inferstack::testing {

class child_process {
 public:
  /// Starts `argv[0]` with `argv`; stderr goes to the test's stderr unless `quiet`.
  explicit child_process(std::vector<std::string> argv, bool quiet = false);
  ~child_process();

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }

  /// Reads stdout until a line containing `needle` arrives; nullopt after `timeout` or EOF.
  std::optional<std::string> wait_for_line(const std::string& needle,
                                           std::chrono::milliseconds timeout);

  /// Everything the child wrote to stdout so far (reads what is available).
  const std::string& output();

  /// Waits for exit; returns the exit code (128+signal if killed), nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);

  /// Sends a signal (SIGTERM by default).
  void signal(int sig);

  /// SIGKILL and reap.
  void kill();

  bool running();

 private:
  void pump(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  size_t scanned_ = 0;
  std::optional<int> exit_code_;
};

/// A free TCP port on 127.0.0.1 (bound then released; good enough for tests).
int free_port();

/// True if `port` on 127.0.0.1 can be bound right now.
bool port_is_free(int port);

}  // namespace inferstack::testing
