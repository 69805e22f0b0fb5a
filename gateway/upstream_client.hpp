// HTTP/1.1 to model servers in other processes (an `inferstack run pod`, llm-d-inference-sim, a
// real vLLM): pooled keep-alive connections per upstream, responses streamed through piece by
// piece -- the next piece is read only after the previous one reached the client (backpressure)
// -- and a timeout on every step.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/http/http_server.hpp"

namespace inferstack::gateway {

struct upstream_target {
  std::string host;
  uint16_t port = 0;
  std::string base_path;  ///< prefix of the upstream's API paths ("" or e.g. "/vllm")
};

/// Parses "http://host:port[/base]"; false when it is not such a URL.
bool parse_upstream_url(const std::string& url, upstream_target& out);

/// One request to an upstream. Host, Connection and Content-Length are added by send().
struct upstream_request {
  std::string method = "POST";
  std::string target;  ///< path and query
  /// Views, like the body: copied into the request's wire bytes before send() returns.
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  std::string_view body;
};

/// Callbacks of one upstream exchange; all run on the exchange's I/O thread.
struct upstream_handler {
  /// Status line and headers arrived: the first byte.
  std::function<void(int status, const std::string& content_type)> on_head;
  /// A piece of the body; call `resume` once it is consumed to get the next one.
  std::function<void(std::string data, std::function<void()> resume)> on_data;
  /// The body is complete.
  std::function<void()> on_end;
  /// Optional: a response with a Content-Length that is not an event stream is read whole and
  /// handed over in one call instead of on_head/on_data/on_end (one write to the client).
  std::function<void(int status, const std::string& content_type, std::string body)> on_complete;
  /// Failure; `before_first_byte` tells whether on_head was called.
  std::function<void(const std::string& error, bool before_first_byte)> on_error;
};

class upstream_pool {
 public:
  upstream_pool(int io_threads, size_t max_idle_per_upstream = 64);
  ~upstream_pool();

  upstream_pool(const upstream_pool&) = delete;
  upstream_pool& operator=(const upstream_pool&) = delete;

  /// Sends `request` to `target`. `timeout` bounds
  /// the wait for the first byte and every later read. With an `executor` (the client
  /// connection's, see http::exchange::executor) the exchange and its callbacks run on that
  /// I/O thread, with connections pooled per thread; without, on the pool's own threads.
  /// Returns what abandons the exchange (its client went away): the upstream connection is
  /// closed, as a client of vLLM hanging up aborts its request there, and no callback runs
  /// after. Callable from any thread, any number of times; harmless once the exchange is over.
  /// It runs on `executor`'s thread: give one (as the gateway does) to abandon exchanges.
  std::function<void()> send(const upstream_target& target, upstream_request request,
                             std::chrono::nanoseconds timeout, upstream_handler handler,
                             std::optional<boost::asio::any_io_executor> executor = std::nullopt);

  /// Idle connections kept right now (for tests).
  size_t idle_connections() const;

  void stop();

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace inferstack::gateway
