// A small closed-loop HTTP/1.1 load generator for the benchmarks (Boost.Beast): N keep-alive
// connections, each sending the next request as soon as the previous response is complete.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace inferstack::bench {

struct load_options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string target = "/v1/completions";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  int connections = 16;
  int threads = 1;
  std::chrono::duration<double> duration{5.0};
  std::chrono::duration<double> warmup{0.5};  ///< not counted
};

struct load_result {
  uint64_t requests = 0;
  uint64_t errors = 0;             ///< non-2xx or transport failures
  uint64_t completion_tokens = 0;  ///< summed from the responses' usage
  uint64_t answered =
      0;  ///< 2xx answers, warm-up included: a server's CPU over the run per request
  double seconds = 0;
  std::vector<double> latencies_us;  ///< one per counted request

  double requests_per_s() const { return seconds > 0 ? requests / seconds : 0; }
  double tokens_per_s() const { return seconds > 0 ? completion_tokens / seconds : 0; }
};

load_result run_load(const load_options& options);

/// Opens `count` streaming requests and keeps them open (not reading) until close_streams().
class held_streams {
 public:
  held_streams(const std::string& host, uint16_t port, const std::string& target,
               const std::string& body, int count);
  ~held_streams();
  int opened() const { return opened_; }
  void close();

 private:
  std::vector<int> fds_;
  int opened_ = 0;
};

/// The floor of a server on this machine: answers every request on 127.0.0.1:`port` with the
/// same 200 and a `body_size`-byte body, on `threads` epoll loops (SO_REUSEPORT), doing nothing
/// else -- what is left of a request's cost is the kernel's TCP work. Runs until the process
/// ends; the benchmarks start it in a process of its own so its CPU is measured apart.
[[noreturn]] void run_canned_server(uint16_t port, size_t body_size, int threads);

/// A non-blocking TCP listener on 127.0.0.1:`port` and an epoll set watching it for the
/// benchmarks' own epoll servers; on failure prints `who` with the error and exits.
struct loopback_listener {
  int listener = -1;
  int poll = -1;
};
loopback_listener listen_on_loopback(uint16_t port, int backlog, bool reuse_port, const char* who);

/// Accepts every connection waiting at `l`'s listener (TCP_NODELAY, watched for input by its
/// epoll set) and hands each descriptor to `on_new` before the first read.
void accept_waiting(const loopback_listener& l, const std::function<void(int)>& on_new);

/// Resident set size of a process in KiB (VmRSS), 0 if unknown.
long rss_kib(int pid);

/// CPU time a process has used so far (user + system), in seconds; 0 if unknown.
/// A process's CPU time so far, in user space and in the kernel (its /proc stat).
struct cpu_times {
  double user = 0;
  double system = 0;
};
cpu_times cpu_split(int pid);

double cpu_seconds(int pid);
/// The same, with the process's live children (nginx's workers under its master).
double tree_cpu_seconds(int pid);

/// GET `path` on 127.0.0.1:`port` once: the body of a 200 answer, nullopt otherwise.
std::optional<std::string> http_get(uint16_t port, const std::string& path);

/// Polls GET `path` on 127.0.0.1:`port` until it answers 200 or `timeout` passes.
bool wait_http_ok(uint16_t port, const std::string& path, std::chrono::milliseconds timeout);

}  // namespace inferstack::bench
