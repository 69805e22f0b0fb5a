#include "gateway/upstream_client.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <tuple>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include "runtime/brief_mutex.hpp"
#include "runtime/http/connection_deadline.hpp"
#include "runtime/http/write_now.hpp"

namespace inferstack::gateway {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

bool parse_upstream_url(const std::string& url, upstream_target& out) {
  static const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return false;
  auto rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  auto hostport = rest.substr(0, slash);
  out.base_path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!out.base_path.empty() && out.base_path.back() == '/')
    out.base_path.pop_back();
  auto colon = hostport.rfind(':');
  if (colon == std::string::npos) {
    out.host = hostport;
    out.port = 80;
  } else {
    out.host = hostport.substr(0, colon);
    try {
      int port = std::stoi(hostport.substr(colon + 1));
      if (port < 1 || port > 65535) return false;
      out.port = static_cast<uint16_t>(port);
    } catch (const std::exception&) {
      return false;
    }
  }
  return !out.host.empty();
}

namespace {

class connection;

}  // namespace

struct upstream_pool::impl : std::enable_shared_from_this<upstream_pool::impl> {
  explicit impl(int threads, size_t max_idle)
      : ioc(std::max(1, threads)), guard(net::make_work_guard(ioc)), max_idle(max_idle) {}

  net::io_context ioc;  ///< for callers that bring no executor of their own
  net::executor_work_guard<net::io_context::executor_type> guard;
  std::vector<std::thread> threads;
  size_t max_idle;
  mutable runtime::brief_mutex mutex;
  bool stopped = false;  ///< no more idle connections are kept
  /// Idle connections by I/O context and upstream: a connection stays on the thread it was
  /// made on, so a request reuses one only from its own thread.
  using idle_key = std::tuple<const void*, std::string, uint16_t>;
  std::map<idle_key, std::deque<std::shared_ptr<connection>>> idle;

  std::shared_ptr<connection> take_idle(const net::any_io_executor& ex, const upstream_target& t);
  void give_back(const upstream_target& t, std::shared_ptr<connection> c);
};

namespace {

const void* context_of(const net::any_io_executor& ex) {
  return &net::query(ex, net::execution::context);
}

class connection : public std::enable_shared_from_this<connection> {
 public:
  /// `tick`: how often an exchange's timer looks at its deadline (see connection_deadline).
  connection(net::any_io_executor ex, std::chrono::nanoseconds tick)
      : socket(ex), deadline(ex, tick) {}

  /// Watches the deadline: call once, right after make_shared.
  void start_watch() {
    deadline.watch(weak_from_this(), [this] {
      boost::system::error_code ignored;
      socket.close(ignored);  // the read or write waiting on it ends with an error
    });
  }

  const void* context() { return context_of(socket.get_executor()); }
  tcp::socket socket;
  http::connection_deadline deadline;
  bool connected = false;
  /// The read buffer, kept with the connection so a request does not allocate it afresh.
  beast::flat_buffer buffer;
};

std::shared_ptr<connection> make_connection(net::any_io_executor ex,
                                            std::chrono::nanoseconds tick) {
  auto c = std::make_shared<connection>(std::move(ex), tick);
  c->start_watch();
  return c;
}

/// Parses an upstream's response keeping only what the gateway uses of its head (the status,
/// Content-Type, whether the connection stays open) and appending the body to a string:
/// Beast's response_parser would build a field container, an allocation per field, for every
/// response.
class response_reader : public bhttp::basic_parser<false> {
 public:
  int status = 0;
  std::string content_type;
  std::string body;  ///< body bytes parsed and not yet taken

 private:
  void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int,
                       beast::error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override {
    status = code;
  }
  void on_field_impl(bhttp::field name, beast::string_view, beast::string_view value,
                     beast::error_code&) override {
    if (name == bhttp::field::content_type && content_type.empty())
      content_type.assign(value.data(), value.size());
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code&) override {
    if (length) body.reserve(std::min<std::uint64_t>(*length, 1 << 20));
  }
  size_t on_body_impl(beast::string_view data, beast::error_code&) override {
    body.append(data.data(), data.size());
    return data.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast::string_view data, beast::error_code&) override {
    body.append(data.data(), data.size());
    return data.size();
  }
  void on_finish_impl(beast::error_code&) override {}
};

/// One request/response on a connection; owns the response parser.
class exchange_op : public std::enable_shared_from_this<exchange_op> {
 public:
  exchange_op(std::shared_ptr<upstream_pool::impl> pool, net::any_io_executor executor,
              upstream_target target, std::string wire, std::chrono::nanoseconds timeout,
              upstream_handler handler)
      : pool_(std::move(pool)),
        executor_(std::move(executor)),
        target_(std::move(target)),
        wire_(std::move(wire)),
        timeout_(timeout),
        handler_(std::move(handler)) {}

  void start() {
    if (abandoned_) return;
    conn_ = pool_->take_idle(executor_, target_);
    reused_ = conn_ != nullptr;
    if (!conn_) conn_ = make_connection(executor_, timeout_);
    net::dispatch(conn_->socket.get_executor(), [self = shared_from_this()] {
      if (self->abandoned_) return;
      if (self->conn_->connected)
        self->write();
      else
        self->connect();
    });
  }

  /// The client went away: the connection is closed (the upstream sees its request aborted)
  /// and the exchange ends without a word to the handler. On the exchange's thread.
  void abandon() {
    if (abandoned_ || done_) return;
    abandoned_ = true;
    if (!conn_) return;
    conn_->deadline.expires_never();
    beast::error_code ignored;
    conn_->socket.close(ignored);  // a pending connect, write or read ends with an error
  }

 private:
  void connect() {
    auto resolver = std::make_shared<tcp::resolver>(conn_->socket.get_executor());
    resolver->async_resolve(
        target_.host, std::to_string(target_.port),
        [self = shared_from_this(), resolver](beast::error_code ec, tcp::resolver::results_type r) {
          if (self->abandoned_) return;
          if (ec) return self->fail("cannot resolve " + self->target_.host + ": " + ec.message());
          self->conn_->deadline.expires_after(self->timeout_);
          net::async_connect(
              self->conn_->socket, r, [self](beast::error_code ec, const tcp::endpoint&) {
                if (ec)
                  return self->fail("cannot connect to " + self->target_.host + ":" +
                                    std::to_string(self->target_.port) + ": " + ec.message());
                self->conn_->connected = true;
                boost::system::error_code ignored;
                self->conn_->socket.set_option(tcp::no_delay(true), ignored);
                // write()'s direct write must never block the thread.
                self->conn_->socket.non_blocking(true, ignored);
                self->write();
              });
        });
  }

  void write() {
    // Usually all of it goes now (see write_now); what does not fit goes async.
    boost::system::error_code ec;
    size_t sent = http::write_now(conn_->socket, net::buffer(wire_), ec);
    if (ec) return retry_or_fail("write: " + ec.message());
    if (sent == wire_.size()) return start_response();
    conn_->deadline.expires_after(timeout_);
    net::async_write(conn_->socket, net::buffer(wire_) + sent,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->retry_or_fail("write: " + ec.message());
                       self->start_response();
                     });
  }

  void start_response() {
    // Bytes left from an earlier response on this connection are not part of this one.
    conn_->buffer.consume(conn_->buffer.size());
    reader_.emplace();
    reader_->body_limit(std::uint64_t{1} << 40);  // responses are streamed through, not held
    reader_->eager(true);  // the body that came with the head is parsed with it
    read_more();
  }

  /// The next bytes from the upstream; the timeout bounds the wait for each read.
  void read_more() {
    conn_->deadline.expires_after(timeout_);
    // Room for a whole small response, so status, headers and body come in one read.
    conn_->socket.async_read_some(conn_->buffer.prepare(16384),
                                  [self = shared_from_this()](beast::error_code ec, size_t n) {
                                    self->conn_->buffer.commit(n);
                                    self->on_bytes(ec);
                                  });
  }

  void on_bytes(beast::error_code read_error) {
    if (abandoned_) return;
    auto& reader = *reader_;
    beast::error_code ec;
    while (conn_->buffer.size() > 0 && !reader.is_done()) {
      auto used = reader.put(conn_->buffer.data(), ec);
      conn_->buffer.consume(used);
      if (ec == bhttp::error::need_more) {
        ec = {};
        break;
      }
      if (ec || used == 0) break;
    }
    // A body that ends with the connection (no length, not chunked) ends at end of stream.
    if (!ec && read_error == net::error::eof && !reader.is_done() && reader.got_some()) {
      reader.put_eof(ec);
      read_error = {};
    }
    if (!ec && read_error && !reader.is_done()) ec = read_error;
    if (!reader.is_header_done()) {
      if (ec) return retry_or_fail("no response: " + ec.message());
      return read_more();
    }
    if (ec) return fail("response body: " + ec.message());
    if (!head_handled_) {
      head_handled_ = true;
      whole_ = handler_.on_complete && reader.content_length().has_value() &&
               reader.content_type.rfind("text/event-stream", 0) != 0;
      if (!whole_) {
        head_seen_ = true;
        if (handler_.on_head) handler_.on_head(reader.status, reader.content_type);
      }
    }
    if (whole_) {
      // A bounded, non-streamed body: collected, handed over at once.
      if (!reader.is_done()) return read_more();
      head_seen_ = true;
      handler_.on_complete(reader.status, reader.content_type, std::move(reader.body));
      return finish_connection();
    }
    if (reader.body.empty()) return reader.is_done() ? end() : read_more();
    std::string piece = std::move(reader.body);
    reader.body.clear();
    if (reader.is_done()) {
      // The last piece: nothing more to read, so no need to wait for the client to take it
      // before the exchange ends.
      if (handler_.on_data) handler_.on_data(std::move(piece), [] {});
      return end();
    }
    // Backpressure: the next piece is read once the client has taken this one.
    auto resume = [self = shared_from_this()] {
      net::post(self->conn_->socket.get_executor(), [self] { self->read_more(); });
    };
    if (handler_.on_data)
      handler_.on_data(std::move(piece), resume);
    else
      resume();
  }

  void finish_connection() {
    done_ = true;
    bool keep = reader_->keep_alive();
    conn_->deadline.expires_never();
    if (keep) pool_->give_back(target_, conn_);
  }

  void end() {
    if (handler_.on_end) handler_.on_end();
    finish_connection();
  }

  /// A kept-alive connection the server closed meanwhile fails before any byte: one fresh try.
  void retry_or_fail(const std::string& error) {
    if (abandoned_) return;
    if (reused_ && !head_seen_) {
      reused_ = false;
      conn_ = make_connection(executor_, timeout_);
      net::dispatch(conn_->socket.get_executor(), [self = shared_from_this()] { self->connect(); });
      return;
    }
    fail(error);
  }

  void fail(const std::string& error) {
    done_ = true;
    beast::error_code ignored;
    conn_->socket.close(ignored);
    if (abandoned_) return;
    if (handler_.on_error) handler_.on_error(error, !head_seen_);
  }

  std::shared_ptr<upstream_pool::impl> pool_;
  net::any_io_executor executor_;
  upstream_target target_;
  std::string wire_;  ///< the whole request as it goes out
  std::chrono::nanoseconds timeout_;
  upstream_handler handler_;
  std::shared_ptr<connection> conn_;
  bool reused_ = false;
  bool head_seen_ = false;     ///< the handler has heard of the response (no retry after)
  bool head_handled_ = false;  ///< the head is parsed and the way to deliver the body chosen
  bool whole_ = false;         ///< the body goes to on_complete in one piece
  bool abandoned_ = false;     ///< see abandon()
  bool done_ = false;          ///< the response was taken, or the exchange failed
  std::optional<response_reader> reader_;
};

}  // namespace

std::shared_ptr<connection> upstream_pool::impl::take_idle(const net::any_io_executor& ex,
                                                           const upstream_target& t) {
  std::lock_guard guard{mutex};
  auto it = idle.find({context_of(ex), t.host, t.port});
  if (it == idle.end() || it->second.empty()) return nullptr;
  auto c = std::move(it->second.back());
  it->second.pop_back();
  return c;
}

void upstream_pool::impl::give_back(const upstream_target& t, std::shared_ptr<connection> c) {
  std::lock_guard guard{mutex};
  if (stopped) return;  // closed here, while its exchange still keeps the I/O context alive
  auto& list = idle[{c->context(), t.host, t.port}];
  if (list.size() < max_idle) list.push_back(std::move(c));
}

upstream_pool::upstream_pool(int io_threads, size_t max_idle_per_upstream)
    : impl_(std::make_shared<impl>(io_threads, max_idle_per_upstream)) {
  for (int i = 0; i < std::max(1, io_threads); ++i)
    impl_->threads.emplace_back([i = impl_] { i->ioc.run(); });
}

upstream_pool::~upstream_pool() {
  stop();
}

std::function<void()> upstream_pool::send(const upstream_target& target, upstream_request request,
                                          std::chrono::nanoseconds timeout,
                                          upstream_handler handler,
                                          std::optional<boost::asio::any_io_executor> executor) {
  // Written out by hand: one buffer, no field container to build and walk for every request.
  using namespace std::string_view_literals;
  std::string wire;
  wire.reserve(256 + request.body.size());
  wire += request.method;
  wire += ' ';
  wire += request.target;
  wire += " HTTP/1.1\r\nHost: "sv;
  wire += target.host;
  wire += ':';
  wire += std::to_string(target.port);
  wire += "\r\nConnection: keep-alive\r\n"sv;
  auto has_line_break = [](std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n'; });
  };
  for (const auto& [name, value] : request.headers) {
    // A CR or LF (e.g. from a model name in the body) must not start a header of its own.
    if (has_line_break(name) || has_line_break(value)) continue;
    wire += name;
    wire += ": "sv;
    wire += value;
    wire += "\r\n"sv;
  }
  wire += "Content-Length: "sv;
  wire += std::to_string(request.body.size());
  wire += "\r\n\r\n"sv;
  wire += request.body;
  auto ex = executor ? *executor : net::any_io_executor(net::make_strand(impl_->ioc));
  auto op = std::make_shared<exchange_op>(impl_, ex, target, std::move(wire), timeout,
                                          std::move(handler));
  op->start();
  // The exchange's thread: the executor given (a strand's, or the client connection's own).
  return [ex, weak = std::weak_ptr<exchange_op>(op)] {
    net::dispatch(ex, [weak] {
      if (auto op = weak.lock()) op->abandon();
    });
  };
}

size_t upstream_pool::idle_connections() const {
  std::lock_guard guard{impl_->mutex};
  size_t n = 0;
  for (auto& [k, v] : impl_->idle)
    n += v.size();
  return n;
}

void upstream_pool::stop() {
  {
    // Idle connections may live on the I/O contexts of a client-facing server: they must go
    // before that server does.
    std::lock_guard guard{impl_->mutex};
    impl_->stopped = true;
    impl_->idle.clear();
  }
  if (impl_->threads.empty()) return;
  impl_->guard.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->threads.clear();
}

}  // namespace inferstack::gateway
