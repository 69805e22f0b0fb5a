#include "runtime/http/http_server.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <deque>
#include <iterator>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include "runtime/http/connection_deadline.hpp"
#include "runtime/http/request_reading.hpp"
#include "runtime/http/tls.hpp"
#include "runtime/http/write_now.hpp"
#include "runtime/io_scheduler.hpp"
#include "runtime/logging.hpp"

namespace inferstack::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

class session;
class exchange_impl;
/// HTTPS: TLS over the session's own socket.
using tls_stream = net::ssl::stream<tcp::socket&>;

/// A whole response as the bytes on the wire, written into `out` (cleared first; a session
/// reuses one buffer, so a response allocates nothing once it has grown). Written by hand
/// rather than through Beast's serializer, whose buffer sequences were a visible share of the
/// gateway's CPU per request. Same bytes as a Beast response with set() for each header (a
/// later header of the same name replaces an earlier one and goes last), keep_alive() and
/// prepare_payload() -- except that a 1xx, 204 or 304 carries no Content-Length, as RFC 9110
/// (section 8.6) asks. `Headers`: pairs whose members convert to string_view.
template <class Headers>
void serialize_whole(std::string& out, status code, unsigned version, std::string_view server,
                     std::string_view content_type, const Headers& extra, std::string_view body,
                     bool keep_alive) {
  using namespace std::string_view_literals;
  auto same_name = [](std::string_view a, std::string_view b) {
    return beast::iequals(beast::string_view(a.data(), a.size()),
                          beast::string_view(b.data(), b.size()));
  };
  // A field goes out unless a later one has its name (as Beast's set(): the later replaces).
  auto replaced_later = [&](std::string_view name, auto from) {
    for (auto it = from; it != std::end(extra); ++it)
      if (same_name(name, it->first)) return true;
    return false;
  };
  auto n = static_cast<unsigned>(code);
  bool bodiless = (n >= 100 && n < 200) || n == 204 || n == 304;
  auto reason = bhttp::obsolete_reason(code);
  size_t size =
      96 + reason.size() + server.size() + content_type.size() + (bodiless ? 0 : body.size());
  for (const auto& [name, value] : extra)
    size += std::string_view(name).size() + std::string_view(value).size() + 4;
  out.clear();
  out.reserve(size);
  out += version == 10 ? "HTTP/1.0 "sv : "HTTP/1.1 "sv;
  char digits[24];
  auto digits_of = [&digits](size_t v) {
    auto end = std::to_chars(digits, digits + sizeof(digits), v).ptr;
    return std::string_view(digits, static_cast<size_t>(end - digits));
  };
  out += digits_of(n);
  out += ' ';
  out.append(reason.data(), reason.size());
  out += "\r\n"sv;
  auto field = [&out](std::string_view name, std::string_view value) {
    out += name;
    out += ": "sv;
    out += value;
    out += "\r\n"sv;
  };
  if (!replaced_later("Server", std::begin(extra))) field("Server", server);
  if (!replaced_later("Content-Type", std::begin(extra))) field("Content-Type", content_type);
  for (auto it = std::begin(extra); it != std::end(extra); ++it)
    if (!replaced_later(it->first, std::next(it))) field(it->first, it->second);
  if (version == 10 && keep_alive) out += "Connection: keep-alive\r\n"sv;
  if (version != 10 && !keep_alive) out += "Connection: close\r\n"sv;
  if (!bodiless) {
    out += "Content-Length: "sv;
    out += digits_of(body.size());
    out += "\r\n\r\n"sv;
    out += body;
  } else {
    out += "\r\n"sv;
  }
}

}  // namespace

struct server::impl : std::enable_shared_from_this<server::impl> {
  impl(server_settings s, handler h) : settings(std::move(s)), on_request(std::move(h)) {
    // The error bodies are the protocol layer's (the OpenAI error JSON): no guess made here.
    if (!settings.error_body)
      throw std::invalid_argument("http::server: server_settings.error_body is not set");
    // One io_context per thread: a connection lives on one thread for its whole life, so its
    // handlers never hop threads and the contexts never wake each other.
    if (auto* shared = settings.shared_threads) {
      for (size_t i = 0; i < shared->size(); ++i)
        contexts.push_back(&shared->context(i));
      return;
    }
    for (int i = 0; i < std::max(1, settings.io_threads); ++i) {
      owned_contexts.push_back(std::make_unique<net::io_context>(1));
      contexts.push_back(owned_contexts.back().get());
      work.emplace_back(contexts.back()->get_executor());
    }
  }

  net::io_context& next_context() { return *contexts[next_index++ % contexts.size()]; }
  bool owns_threads() const { return !owned_contexts.empty(); }

  server_settings settings;
  handler on_request;
  std::vector<std::unique_ptr<net::io_context>> owned_contexts;  ///< empty on shared threads
  std::vector<net::io_context*> contexts;
  /// Keep the I/O threads running while a handler holds an exchange and nothing else is
  /// pending (during a drain the acceptor is closed: without this, run() would return).
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
  std::atomic<size_t> next_index{0};
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::atomic<int> running_threads{0};
  std::atomic<size_t> active{0};
  std::atomic<size_t> connections{0};
  std::atomic<bool> accepting{false};
  std::atomic<bool> stopped{false};
  uint16_t bound_port = 0;

  // A failing accept waits before the next (see accept_failed); these live on the acceptor's
  // thread, except the count.
  std::optional<net::steady_timer> accept_timer;
  std::chrono::milliseconds accept_pause{0};  ///< the last pause; 0 after an accept succeeded
  std::chrono::steady_clock::time_point accept_error_logged;
  uint64_t accept_errors_unlogged = 0;
  std::atomic<uint64_t> accept_errors{0};
  prometheus::Counter* accept_error_counter = nullptr;

  std::mutex sessions_mutex;
  std::vector<std::weak_ptr<session>> sessions;

  void do_accept();
  void accept_failed(const boost::system::error_code& ec);
  void open_session(tcp::socket socket);
  /// settings.http2_connections: reads the connection's first bytes without taking them.
  void sniff(std::shared_ptr<tcp::socket> socket, int tries);
};

namespace {

// One connection: reads requests one after another, answers each through an exchange.
class session : public std::enable_shared_from_this<session> {
 public:
  /// `tls`: the context of an HTTPS connection; null for plain HTTP.
  session(tcp::socket&& socket, std::shared_ptr<server::impl> owner,
          std::shared_ptr<net::ssl::context> tls)
      : socket_(std::move(socket)),
        tls_context_(std::move(tls)),
        tls_(tls_context_ ? std::make_unique<tls_stream>(socket_, *tls_context_) : nullptr),
        owner_(std::move(owner)),
        io_executor_(static_cast<net::io_context&>(
                         net::query(socket_.get_executor(), net::execution::context))
                         .get_executor()),
        deadline_(socket_.get_executor(), shortest_timeout(owner_->settings)) {
    owner_->connections++;
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);  // send_out's direct write must never block the thread
    auto ep = socket_.remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  ~session() { owner_->connections--; }

  void start() {
    // A timeout closes the socket: the read or write waiting on it ends with an error.
    deadline_.watch(weak_from_this(), [this] { close_socket(); });
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      if (self->tls_) return self->handshake();
      self->read_request(owner_header_timeout(*self));
    });
  }

  void close() {
    net::post(socket_.get_executor(), [self = shared_from_this()] {
      boost::system::error_code ec;
      self->socket_.shutdown(tcp::socket::shutdown_both, ec);
      self->close_socket();
    });
  }

  bool busy() const { return busy_; }

  // -- called by exchanges, always on the strand ------------------------------------------------
  using executor = tcp::socket::executor_type;
  executor get_executor() { return socket_.get_executor(); }

  /// The buffer a whole response is serialized into (serialize_whole), reused: a session
  /// writes one response at a time, and reads the next request only once it is written.
  std::string& out() { return out_; }

  /// Writes out(): one write of one buffer.
  /// `linger`: the request was not read to its end (a refused body): after the response, read
  /// and drop what the client still sends before closing, so the close does not reset the
  /// connection under the client's feet before it has read the answer (nginx's lingering close).
  void send_out(bool keep_alive, bool linger = false) {
    // Usually all of it goes now (see write_now); what does not fit goes async.
    // (Not over TLS: the record layer writes, so all of it goes async.)
    boost::system::error_code ec;
    size_t sent = tls_ ? 0 : write_now(socket_, net::buffer(out_), ec);
    if (ec || sent == out_.size()) return sent_out(ec, keep_alive, linger);
    deadline_.expires_after(owner_->settings.write_timeout);
    auto written = [self = shared_from_this(), keep_alive, linger](beast::error_code ec, size_t) {
      self->sent_out(ec, keep_alive, linger);
    };
    on_stream([&](auto& stream) {
      net::async_write(stream, net::buffer(out_) + sent, std::move(written));
    });
  }

  /// True on the connection's own I/O thread.
  bool on_own_thread() const { return io_executor_.running_in_this_thread(); }

  /// A Beast response, for the one answer not serialized by hand (see ~exchange_impl).
  void send_response(std::shared_ptr<bhttp::response<bhttp::string_body>> res) {
    deadline_.expires_after(owner_->settings.write_timeout);
    auto written = [self = shared_from_this(), res](beast::error_code, size_t) {
      self->exchange_done();
      self->shutdown();
    };
    on_stream([&](auto& stream) { bhttp::async_write(stream, *res, std::move(written)); });
  }

  void send_stream_header(std::shared_ptr<bhttp::response<bhttp::empty_body>> res,
                          std::function<void(bool ok)> done) {
    auto sr = std::make_shared<bhttp::response_serializer<bhttp::empty_body>>(*res);
    deadline_.expires_after(owner_->settings.write_timeout);
    auto written = [self = shared_from_this(), res, sr, done](beast::error_code ec, size_t) {
      done(!ec);
    };
    on_stream([&](auto& stream) { bhttp::async_write_header(stream, *sr, std::move(written)); });
  }

  /// A part of a stream's body, already framed: what the socket takes goes now (see
  /// write_now), the rest asynchronously; `done` then hears the outcome.
  void send_stream_part(std::shared_ptr<std::string> data,
                        std::function<void(beast::error_code)> done) {
    boost::system::error_code ec;
    size_t sent = tls_ ? 0 : write_now(socket_, net::buffer(*data), ec);
    if (ec || sent == data->size()) return done(ec);
    deadline_.expires_after(owner_->settings.write_timeout);
    auto written = [data, done = std::move(done)](beast::error_code ec, size_t) { done(ec); };
    on_stream([&](auto& stream) {
      net::async_write(stream, net::buffer(*data) + sent, std::move(written));
    });
  }

  /// A stream's last bytes are written: the connection ends or waits for the next request.
  void stream_ended(beast::error_code ec, bool keep_alive) { sent_out(ec, keep_alive, false); }

  /// Aborts `ex` when its client hangs up before its response ends (exchange::watch_hangup).
  void watch_hangup(const std::shared_ptr<exchange_impl>& ex);

  void exchange_aborted() {
    exchange_done();
    shutdown();
  }

  const std::string& remote() const { return remote_; }
  server::impl& owner() { return *owner_; }

 private:
  static std::chrono::nanoseconds owner_header_timeout(session& s) {
    return s.owner_->settings.header_timeout;
  }

  /// Runs `f` on the stream requests and responses travel through: the TLS stream over the
  /// socket (HTTPS), or the socket itself. One branch per I/O operation is all plain HTTP pays.
  template <class F>
  void on_stream(F&& f) {
    if (tls_)
      f(*tls_);
    else
      f(socket_);
  }

  /// HTTPS: the TLS handshake, within the header timeout, before the first request.
  void handshake() {
    deadline_.expires_after(owner_->settings.header_timeout);
    tls_->async_handshake(net::ssl::stream_base::server,
                          [self = shared_from_this()](beast::error_code ec) {
                            if (ec) return self->close_socket();
                            self->read_request(self->owner_->settings.header_timeout);
                          });
  }

  void exchange_done() {
    if (busy_) {
      busy_ = false;
      owner_->active--;
    }
  }

  /// A whole response (or a stream's last chunk) is written: the connection ends or waits for
  /// the next request.
  void sent_out(beast::error_code ec, bool keep_alive, bool linger) {
    exchange_done();
    if (!ec && linger) return linger_close();
    if (ec || !keep_alive || owner_->stopped) return shutdown();
    // A pipelined request is taken up from the I/O queue: answering it at once here could
    // recurse once per request the client sent ahead.
    if (buffer_.size() > 0)
      return net::post(socket_.get_executor(),
                       [self = shared_from_this()] { self->wait_for_next(); });
    wait_for_next();
  }

  // Keep-alive: wait up to idle_timeout for the next request's first bytes, then give the
  // whole request header_timeout (a slow-loris client cannot hold the connection).
  void wait_for_next() {
    if (buffer_.size() > 0) return read_request(owner_->settings.header_timeout);
    deadline_.expires_after(owner_->settings.idle_timeout);
    auto arrived = [self = shared_from_this()](beast::error_code ec, size_t n) {
      if (ec) return self->shutdown();
      self->buffer_.commit(n);
      self->read_request(self->owner_->settings.header_timeout);
    };
    on_stream(
        [&](auto& stream) { stream.async_read_some(buffer_.prepare(4096), std::move(arrived)); });
  }

  void read_request(std::chrono::nanoseconds timeout) {
    if (owner_->stopped) return shutdown();
    parser_.emplace();
    limit_request(*parser_, owner_->settings.body_limit);
    // A request already buffered whole (usual for a small one: it came in one segment) is
    // parsed here: async_read would complete through one more trip round the io_context queue,
    // with a poll of the reactor on the way.
    if (buffer_.size() > 0) {
      parser_->eager(true);
      auto ec = parse_buffered(*parser_, buffer_);
      if (ec || parser_->is_done()) return on_read(ec);
    }
    deadline_.expires_after(timeout);
    auto read = [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); };
    on_stream([&](auto& stream) { bhttp::async_read(stream, buffer_, *parser_, std::move(read)); });
  }

  void reject(status code, const std::string& message) {
    serialize_whole(out_, code, 11, owner_->settings.server_name, "application/json", header_list{},
                    owner_->settings.error_body(static_cast<int>(code), message), false);
    busy_ = true;
    owner_->active++;
    send_out(false, true);
  }

  void linger_close() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    deadline_.expires_after(std::chrono::seconds(2));
    buffer_.consume(buffer_.size());
    drain_input(0);
  }

  // (Over TLS too the raw socket is read: what comes is dropped undeciphered.)
  void drain_input(size_t drained) {
    static constexpr size_t drain_limit = 64 * 1024 * 1024;
    socket_.async_read_some(buffer_.prepare(64 * 1024),
                            [self = shared_from_this(), drained](beast::error_code ec, size_t n) {
                              self->buffer_.consume(self->buffer_.size());
                              if (ec || drained + n > drain_limit) return self->close_socket();
                              self->drain_input(drained + n);
                            });
  }

  void on_read(beast::error_code ec);

  void shutdown() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    close_socket();
  }

  void close_socket() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  static std::chrono::nanoseconds shortest_timeout(const server_settings& s) {
    return std::min({s.header_timeout, s.idle_timeout, s.write_timeout});
  }

  tcp::socket socket_;
  std::shared_ptr<net::ssl::context> tls_context_;  ///< HTTPS: kept while tls_ uses it
  std::unique_ptr<tls_stream> tls_;                 ///< HTTPS only; null for plain HTTP
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<server::impl> owner_;
  net::io_context::executor_type io_executor_;  ///< socket_'s, unerased: on_own_thread()
  connection_deadline deadline_;                ///< header, idle and write timeouts
  std::string out_;                             ///< see out()
  std::string remote_;
  bool busy_ = false;
};

// The exchange: marshals every call onto the session's strand.
class exchange_impl : public exchange, public std::enable_shared_from_this<exchange_impl> {
 public:
  exchange_impl(std::shared_ptr<session> s, request req)
      : session_(std::move(s)),
        req_(std::move(req)),
        keep_alive_(req_.keep_alive()),
        chunked_(req_.version() >= 11) {}

  ~exchange_impl() override {
    // A handler that dropped the exchange without answering must not leave the client hanging.
    if (state_ == state::waiting && session_) {
      auto s = session_;
      auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
          status::internal_server_error, req_.version());
      res->set(bhttp::field::content_type, "application/json");
      res->body() = s->owner().settings.error_body(500, "request dropped without a response");
      res->prepare_payload();
      net::post(s->get_executor(), [s, res] { s->send_response(res); });
    }
  }

  const request& req() const override { return req_; }
  std::string remote_address() const override { return session_->remote(); }
  boost::asio::any_io_executor executor() const override { return session_->get_executor(); }

  void respond(status code, std::string body, std::string content_type,
               header_list extra) override {
    // dispatch: on the connection's own thread (an upstream's answer, an actor on the I/O
    // threads) the response goes out at once instead of queueing behind other handlers.
    net::dispatch(session_->get_executor(),
                  [self = shared_from_this(), code, body = std::move(body),
                   content_type = std::move(content_type), extra = std::move(extra)]() mutable {
                    self->respond_here(code, body, content_type, extra);
                  });
  }

  void respond_now(status code, std::string_view body, std::string_view content_type,
                   std::initializer_list<header_view> extra) override {
    if (!session_->on_own_thread())
      return respond(code, std::string(body), std::string(content_type),
                     header_list(extra.begin(), extra.end()));
    respond_here(code, body, content_type, extra);
  }

  void start_stream(status code, std::string content_type, header_list extra) override {
    net::post(session_->get_executor(), [self = shared_from_this(), code,
                                         content_type = std::move(content_type),
                                         extra = std::move(extra)]() mutable {
      if (self->state_ != state::waiting) return;
      self->state_ = state::streaming;
      auto res = std::make_shared<bhttp::response<bhttp::empty_body>>(code, self->req_.version());
      res->set(bhttp::field::server, self->session_->owner().settings.server_name);
      res->set(bhttp::field::content_type, content_type);
      res->set(bhttp::field::cache_control, "no-cache");
      for (auto& [name, value] : extra)
        res->set(name, value);
      if (self->chunked_) {
        res->keep_alive(self->keep_alive_);
        res->chunked(true);
      } else {
        // HTTP/1.0 has no chunked coding: the body's end is the connection's.
        self->keep_alive_ = false;
        res->keep_alive(false);
        res->set(bhttp::field::connection, "close");
      }
      self->writing_ = true;
      self->session_->send_stream_header(res, [self](bool ok) {
        self->writing_ = false;
        if (!ok) return self->do_abort();
        self->pump();
      });
    });
  }

  // Chunks wait in an inbox; only the first of a run posts a drain to the connection's thread,
  // so a burst of tokens costs one wake-up rather than one per token.
  bool write(std::string chunk, std::function<void()> on_written) override {
    if (aborted_ || finishing_) return false;
    queued_ += chunk.size();
    bool post_drain = false;
    {
      std::lock_guard guard{inbox_mutex_};
      inbox_.push_back({std::move(chunk), std::move(on_written)});
      post_drain = !drain_posted_;
      drain_posted_ = true;
    }
    if (post_drain)
      net::post(session_->get_executor(), [self = shared_from_this()] {
        self->drain_inbox();
        self->pump();
      });
    return true;
  }

  void finish() override {
    finishing_ = true;
    net::post(session_->get_executor(), [self = shared_from_this()] {
      self->drain_inbox();  // every write came before finish(): none is left behind
      self->finish_requested_ = true;
      self->pump();
    });
  }

  // No hop to the I/O thread: registering is a lock, not a wake-up of the connection's thread.
  void on_abort(std::function<void()> callback) override {
    {
      std::lock_guard guard{abort_mutex_};
      if (!abort_fired_) {
        abort_callback_ = std::move(callback);
        return;
      }
    }
    if (callback) callback();
  }

  bool aborted() const override { return aborted_; }

  void watch_hangup() override {
    if (hangup_watched_.exchange(true)) return;
    net::dispatch(session_->get_executor(),
                  [self = shared_from_this()] { self->session_->watch_hangup(self); });
  }

  /// On the session's thread: the response has not ended (it may be streaming).
  bool unanswered() const { return state_ != state::done && !aborted_; }
  size_t queued_bytes() const override { return queued_; }

  void abort() override {
    net::post(session_->get_executor(), [self = shared_from_this()] { self->do_abort(); });
  }

 private:
  enum class state { waiting, streaming, done };

  /// On the session's thread: the response goes out now.
  template <class Headers>
  void respond_here(status code, std::string_view body, std::string_view content_type,
                    const Headers& extra) {
    if (state_ != state::waiting) return;
    state_ = state::done;
    serialize_whole(session_->out(), code, req_.version(), session_->owner().settings.server_name,
                    content_type, extra, body, keep_alive_);
    session_->send_out(keep_alive_);
  }
  struct pending_chunk {
    std::string data;
    std::function<void()> on_written;
  };

  /// On the session's thread: the inbox's chunks join the queue (or, once the stream is over,
  /// are dropped with their callbacks run).
  void drain_inbox() {
    std::vector<pending_chunk> taken;
    {
      std::lock_guard guard{inbox_mutex_};
      taken.swap(inbox_);
      drain_posted_ = false;
    }
    for (auto& c : taken) {
      if (state_ == state::done || aborted_) {
        queued_ -= c.data.size();
        if (c.on_written) c.on_written();
        continue;
      }
      chunks_.push_back(std::move(c));
    }
  }

  /// One write at a time, of everything queued: the chunks waiting go out together as one
  /// HTTP chunk (one syscall, one read for the client), with the terminating chunk when the
  /// stream is finished.
  void pump() {
    if (state_ != state::streaming || writing_ || aborted_) return;
    if (chunks_.empty() && !finish_requested_) return;
    size_t bytes = 0;
    for (const auto& c : chunks_)
      bytes += c.data.size();
    auto out = std::make_shared<std::string>();
    out->reserve(bytes + 16);
    if (bytes > 0 && chunked_) {
      char digits[16];
      auto end = std::to_chars(digits, digits + sizeof(digits), bytes, 16).ptr;
      out->append(digits, end);
      out->append("\r\n");
    }
    std::vector<std::function<void()>> callbacks;
    callbacks.reserve(chunks_.size());
    for (auto& c : chunks_) {
      out->append(c.data);
      if (c.on_written) callbacks.push_back(std::move(c.on_written));
    }
    chunks_.clear();
    if (bytes > 0 && chunked_) out->append("\r\n");
    const bool last = finish_requested_;
    if (last) {
      state_ = state::done;
      if (chunked_) out->append("0\r\n\r\n");
    }
    writing_ = true;
    session_->send_stream_part(out, [self = shared_from_this(), bytes, last,
                                     callbacks = std::move(callbacks)](beast::error_code ec) {
      self->writing_ = false;
      self->queued_ -= bytes;
      for (auto& written : callbacks)
        written();
      // HTTP/1.0: the body's end is the connection's close.
      if (last) return self->session_->stream_ended(ec, self->keep_alive_ && self->chunked_);
      if (ec) return self->do_abort();
      self->pump();
    });
  }

  void do_abort() {
    if (aborted_) return;
    aborted_ = true;
    state_ = state::done;
    drain_inbox();  // state_ is done: the inbox's callbacks run
    for (auto& c : chunks_) {
      queued_ -= c.data.size();
      if (c.on_written) c.on_written();
    }
    chunks_.clear();
    std::function<void()> callback;
    {
      std::lock_guard guard{abort_mutex_};
      abort_fired_ = true;
      callback = std::move(abort_callback_);
    }
    if (callback) callback();
    session_->exchange_aborted();
  }

  std::shared_ptr<session> session_;
  request req_;
  bool keep_alive_;
  bool chunked_;  ///< a stream's body goes in chunks: not to an HTTP/1.0 client
  state state_ = state::waiting;
  bool writing_ = false;
  bool finish_requested_ = false;
  std::atomic<bool> aborted_{false};
  std::atomic<bool> finishing_{false};
  std::atomic<bool> hangup_watched_{false};
  std::atomic<size_t> queued_{0};
  std::deque<pending_chunk> chunks_;
  std::mutex inbox_mutex_;
  std::vector<pending_chunk> inbox_;  ///< written, not yet on the session's thread
  bool drain_posted_ = false;         ///< guarded by inbox_mutex_
  std::mutex abort_mutex_;
  bool abort_fired_ = false;
  std::function<void()> abort_callback_;
};

void session::watch_hangup(const std::shared_ptr<exchange_impl>& ex) {
  std::weak_ptr<exchange_impl> weak = ex;
  socket_.async_wait(
      tcp::socket::wait_read, [self = shared_from_this(), weak](beast::error_code ec) {
        auto x = weak.lock();
        if (ec || !x || !x->unanswered()) return;  // closed, or answered meanwhile
        char byte;
        boost::system::error_code peek;
        auto n = self->socket_.receive(net::buffer(&byte, 1), tcp::socket::message_peek, peek);
        if (peek == net::error::would_block || peek == net::error::try_again)
          return self->watch_hangup(x);
        if (peek || n == 0) x->abort();  // hung up; bytes instead: a next request, left to wait
      });
}

void session::on_read(beast::error_code ec) {
  if (ec) {
    if (auto refusal = refusal_for(ec, owner_->settings.body_limit))
      return reject(refusal->code, refusal->message);
    return shutdown();
  }
  if (auto problem = host_problem(parser_->get())) return reject(status::bad_request, problem);
  deadline_.expires_never();
  busy_ = true;
  owner_->active++;
  auto ex = std::make_shared<exchange_impl>(shared_from_this(), parser_->release());
  if (owner_->stopped) {
    ex->respond(status::service_unavailable,
                owner_->settings.error_body(503, "server is shutting down"), "application/json",
                {{"Connection", "close"}});
    return;
  }
  try {
    owner_->on_request(ex);
  } catch (const std::exception& e) {
    ex->respond(status::internal_server_error, owner_->settings.error_body(500, e.what()),
                "application/json", {});
  }
}

}  // namespace

void server::impl::do_accept() {
  auto& context = next_context();
  acceptor->async_accept(context,
                         [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                           if (!self->accepting) return;
                           if (ec) return self->accept_failed(ec);
                           self->accept_pause = {};
                           boost::system::error_code ignored;
                           socket.set_option(tcp::no_delay(true), ignored);
                           if (self->settings.http2_connections && !self->settings.tls)
                             self->sniff(std::make_shared<tcp::socket>(std::move(socket)), 0);
                           else
                             self->open_session(std::move(socket));
                           self->do_accept();
                         });
}

void server::impl::open_session(tcp::socket socket) {
  // HTTPS: the credentials as they are now (renewed files apply to new connections).
  auto tls = settings.tls ? settings.tls->current() : nullptr;
  auto s = std::make_shared<session>(std::move(socket), shared_from_this(), std::move(tls));
  {
    std::lock_guard guard{sessions_mutex};
    std::erase_if(sessions, [](auto& w) { return w.expired(); });
    sessions.push_back(s);
  }
  s->start();
}

// The client speaks first in both protocols: once readable, a peek at its first 24 bytes tells
// HTTP/2's preface from an HTTP/1 request line. A preface cut short is looked at again shortly
// (the peeked bytes keep the socket readable), for at most a second.
void server::impl::sniff(std::shared_ptr<tcp::socket> socket, int tries) {
  socket->async_wait(tcp::socket::wait_read, [self = shared_from_this(), socket,
                                              tries](const boost::system::error_code& ec) {
    if (ec || !self->accepting) return;  // the socket closes with its last owner
    static constexpr std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    char head[preface.size()];
    auto n = ::recv(socket->native_handle(), head, sizeof head, MSG_PEEK);
    std::string_view got(head, n > 0 ? static_cast<size_t>(n) : 0);
    if (got == preface) {
      boost::system::error_code release_ec;
      int fd = socket->release(release_ec);
      if (!release_ec) self->settings.http2_connections(fd);
      return;
    }
    if (n > 0 && got.size() < preface.size() && preface.starts_with(got) && tries < 200) {
      auto timer =
          std::make_shared<net::steady_timer>(socket->get_executor(), std::chrono::milliseconds(5));
      timer->async_wait([self, socket, tries, timer](const boost::system::error_code&) {
        self->sniff(socket, tries + 1);
      });
      return;
    }
    self->open_session(std::move(*socket));
  });
}

// The failed connection stays queued and the listening socket readable, so accepting again at
// once fails again at once (out of file descriptors: EMFILE, ENFILE; or of memory): a loop
// burning a whole core, starving the open connections. Pause instead, longer each time in a
// row (50 ms, doubling up to 1 s), and say so in the log at most once per interval.
void server::impl::accept_failed(const boost::system::error_code& ec) {
  using namespace std::chrono_literals;
  static constexpr auto log_interval = 10s;
  accept_errors++;
  if (accept_error_counter) accept_error_counter->Increment();
  accept_pause =
      std::clamp(accept_pause * 2, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
  ++accept_errors_unlogged;
  auto now = std::chrono::steady_clock::now();
  bool never_logged = accept_error_logged == std::chrono::steady_clock::time_point{};
  if (settings.log && (never_logged || now - accept_error_logged >= log_interval)) {
    settings.log->warn(
        "http server on {}:{} cannot accept connections: {} ({} failed accepts since the last "
        "report); retrying in {} ms",
        settings.address, bound_port, ec.message(), accept_errors_unlogged, accept_pause.count());
    accept_error_logged = now;
    accept_errors_unlogged = 0;
  }
  accept_timer->expires_after(accept_pause);
  accept_timer->async_wait([self = shared_from_this()](const boost::system::error_code&) {
    if (self->accepting) self->do_accept();
  });
}

server::server(server_settings settings, handler on_request)
    : impl_(std::make_shared<impl>(std::move(settings), std::move(on_request))) {}

server::~server() {
  stop();
}

void server::start() {
  auto& s = impl_->settings;
  tcp::endpoint endpoint{net::ip::make_address(s.address), s.port};
  impl_->acceptor.emplace(*impl_->contexts.front());
  impl_->acceptor->open(endpoint.protocol());
  impl_->acceptor->set_option(net::socket_base::reuse_address(true));
  boost::system::error_code ec;
  impl_->acceptor->bind(endpoint, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + s.address + ":" + std::to_string(s.port) + ": " +
                             ec.message());
  impl_->acceptor->listen(net::socket_base::max_listen_connections);
  impl_->bound_port = impl_->acceptor->local_endpoint().port();
  impl_->accept_timer.emplace(*impl_->contexts.front());
  if (s.registry)
    impl_->accept_error_counter =
        &prometheus::BuildCounter()
             .Name("inferstack_http_accept_errors_total")
             .Help("Connections the HTTP server failed to accept (e.g. out of file descriptors)")
             .Register(*s.registry)
             .Add({{"listener", s.address + ":" + std::to_string(impl_->bound_port)}});
  impl_->accepting = true;
  impl_->do_accept();
  for (auto& context : impl_->owned_contexts) {
    impl_->running_threads++;
    impl_->threads.emplace_back([self = impl_, ioc = context.get()] {
      ioc->run();
      self->running_threads--;
    });
  }
}

uint16_t server::port() const {
  return impl_->bound_port;
}

void server::stop(std::chrono::nanoseconds grace) {
  if (impl_->stopped.exchange(true)) return;
  impl_->accepting = false;
  net::post(*impl_->contexts.front(), [self = impl_] {
    boost::system::error_code ignored;
    if (self->acceptor) self->acceptor->close(ignored);
    if (self->accept_timer) self->accept_timer->cancel();
  });
  // Graceful drain: exchanges in flight may finish until the grace period ends.
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (impl_->active > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  {
    std::lock_guard guard{impl_->sessions_mutex};
    for (auto& w : impl_->sessions)
      if (auto s = w.lock()) s->close();
  }
  if (!impl_->owns_threads()) {
    // Shared threads keep running for others: wait (bounded) for our connections to close.
    auto close_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (impl_->connections > 0 && std::chrono::steady_clock::now() < close_deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return;
  }
  // Let the closes run and the sessions' handlers finish; then stop whatever is left.
  impl_->work.clear();
  auto close_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (impl_->running_threads > 0 && std::chrono::steady_clock::now() < close_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (auto& context : impl_->owned_contexts)
    context->stop();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->threads.clear();
}

size_t server::active_exchanges() const {
  return impl_->active;
}
size_t server::open_connections() const {
  return impl_->connections;
}
uint64_t server::accept_errors() const {
  return impl_->accept_errors;
}

}  // namespace inferstack::http
