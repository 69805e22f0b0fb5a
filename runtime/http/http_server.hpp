// A small asynchronous HTTP/1.1 server on Boost.Beast, shared by the gateway, the pods' own
// OpenAI listeners and the admin endpoints (/metrics, health).
//
// A session never blocks: it reads a request (body limit, header timeout, idle timeout for
// keep-alive), hands an `exchange` to the handler, and goes on when the handler answers --
// from any thread, at any later time. Streams (SSE) are written as HTTP chunks (to an HTTP/1.0
// client, which has no chunks: raw, ended by closing the connection); every chunk reports when
// it reached the socket, so producers can pace themselves (backpressure) instead of the server
// buffering without bound. A failing accept (out of file descriptors) is retried after a
// growing pause, not at once: open connections keep their share of the CPU.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

namespace inferstack::runtime {
class io_threads;
}
namespace prometheus {
class Registry;
}
namespace spdlog {
class logger;
}

namespace inferstack::http {

class tls_credentials;

using request = boost::beast::http::request<boost::beast::http::string_body>;
using status = boost::beast::http::status;
using header_list = std::vector<std::pair<std::string, std::string>>;
using header_view = std::pair<std::string_view, std::string_view>;

struct server_settings {
  std::string address = "127.0.0.1";
  uint16_t port = 0;   ///< 0: pick a free port (see server::port())
  int io_threads = 1;  ///< one io_context each; connections are spread over them
  /// When set, connections go on these threads (the actor system's, see runtime/io_scheduler)
  /// and `io_threads` is ignored: the server starts no thread of its own.
  runtime::io_threads* shared_threads = nullptr;
  uint64_t body_limit = 4 * 1024 * 1024;
  std::chrono::nanoseconds header_timeout = std::chrono::seconds(10);  ///< whole request
  std::chrono::nanoseconds idle_timeout = std::chrono::seconds(60);    ///< between requests
  std::chrono::nanoseconds write_timeout = std::chrono::seconds(60);   ///< per write
  std::string server_name = "inferstack";
  /// Body of the errors the server itself answers (400, 413, 431, 500, 503), given by the layer
  /// above (openai::error_body, the OpenAI error JSON). Required: the server refuses to be built
  /// without it.
  std::function<std::string(int status, const std::string& message)> error_body;
  /// Where the server reports trouble of its own (failing accepts); none: it says nothing.
  std::shared_ptr<spdlog::logger> log;
  /// When set, failing accepts are counted there: inferstack_http_accept_errors_total{listener}.
  std::shared_ptr<prometheus::Registry> registry;
  /// When set, every connection speaks HTTPS with these credentials (runtime/http/tls.hpp);
  /// none: plain HTTP, the same code path with no TLS work at all.
  std::shared_ptr<tls_credentials> tls;
  /// When set (plain HTTP only), a new connection whose first bytes are HTTP/2's preface (gRPC,
  /// as llm-d-inference-sim serves it on its HTTP port) is handed over: its file descriptor goes
  /// to this callback, which owns it from then on; every other connection is HTTP/1 as always.
  std::function<void(int fd)> http2_connections;
};

/// One request and its response. Thread-safe: call from any thread; only the first answer
/// (respond or start_stream) counts.
class exchange {
 public:
  virtual ~exchange() = default;

  virtual const request& req() const = 0;
  virtual std::string remote_address() const = 0;
  /// The I/O thread of this exchange's connection: work done there for this exchange (e.g. an
  /// upstream request) needs no thread hop to reach the client.
  virtual boost::asio::any_io_executor executor() const = 0;

  /// Sends a complete response.
  virtual void respond(status code, std::string body, std::string content_type,
                       header_list extra = {}) = 0;

  /// respond() from views. On this exchange's own I/O thread (see executor()) the response is
  /// written at once and nothing is copied on the way; elsewhere it is copied and respond()
  /// takes it there.
  virtual void respond_now(status code, std::string_view body, std::string_view content_type,
                           std::initializer_list<header_view> extra) = 0;

  /// Starts a chunked response (the status line and headers go out now); to an HTTP/1.0
  /// client the body goes unchunked and the connection closes after it.
  virtual void start_stream(status code, std::string content_type, header_list extra = {}) = 0;

  /// Queues one chunk; `on_written` runs on an I/O thread once it reached the socket (or the
  /// connection failed). Returns false if the exchange is already finished or aborted.
  virtual bool write(std::string chunk, std::function<void()> on_written = {}) = 0;

  /// Ends the stream (after any queued chunks).
  virtual void finish() = 0;

  /// Closes the connection at once, unfinished: the client sees a truncated response (used when
  /// an upstream dies mid-body and the body format has no way to say so).
  virtual void abort() = 0;

  /// Called once if the client goes away or a write fails before the exchange finished.
  virtual void on_abort(std::function<void()> callback) = 0;

  virtual bool aborted() const = 0;

  /// Watches the connection until the response ends: nothing is read from it meanwhile, so
  /// without this a client that hangs up is noticed only when its response is written. With
  /// it, its hang-up (end of stream, reset) fires on_abort at once -- for requests that may
  /// wait long before an answer or between chunks (a picker's queue, a pod's prefill, a
  /// stream's pauses). Bytes the client sends meanwhile (a
  /// pipelined request) end the watch. Once per exchange; later calls do nothing.
  virtual void watch_hangup() {}

  /// Bytes queued but not yet written to the socket.
  virtual size_t queued_bytes() const = 0;
};

using handler = std::function<void(std::shared_ptr<exchange>)>;

class server {
 public:
  /// Throws std::invalid_argument if settings.error_body is not set.
  server(server_settings settings, handler on_request);
  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds, listens and starts the I/O threads. Throws if the address cannot be bound.
  void start();

  /// The bound port (after start()).
  uint16_t port() const;

  /// Stops accepting, lets exchanges in flight finish until `grace` has passed, then closes
  /// everything and joins the I/O threads. Idempotent.
  void stop(std::chrono::nanoseconds grace = std::chrono::seconds(0));

  /// Exchanges answered or streaming right now.
  size_t active_exchanges() const;

  /// Connections open right now.
  size_t open_connections() const;

  /// Accepts that failed (e.g. out of file descriptors) since start().
  uint64_t accept_errors() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

/// Beast in Boost 1.74 uses boost::string_view; the rest of the code uses std's.
inline std::string_view to_std(boost::beast::string_view s) {
  return {s.data(), s.size()};
}

}  // namespace inferstack::http
