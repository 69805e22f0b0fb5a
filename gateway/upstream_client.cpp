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
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

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
  mutable std::mutex mutex;
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
  explicit connection(net::any_io_executor ex) : stream_(std::move(ex)) {}

  beast::tcp_stream& stream() { return stream_; }
  const void* context() { return context_of(stream_.get_executor()); }
  bool connected = false;
  /// Read buffers, kept with the connection so a request does not allocate them afresh.
  beast::flat_buffer buffer;
  char body_buffer[16384];

 private:
  beast::tcp_stream stream_;
};

/// One request/response on a connection; owns the parser and the body buffer.
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
    conn_ = pool_->take_idle(executor_, target_);
    reused_ = conn_ != nullptr;
    if (!conn_) conn_ = std::make_shared<connection>(executor_);
    net::dispatch(conn_->stream().get_executor(), [self = shared_from_this()] {
      if (self->conn_->connected)
        self->write();
      else
        self->connect();
    });
  }

 private:
  void connect() {
    auto resolver = std::make_shared<tcp::resolver>(conn_->stream().get_executor());
    resolver->async_resolve(
        target_.host, std::to_string(target_.port),
        [self = shared_from_this(), resolver](beast::error_code ec, tcp::resolver::results_type r) {
          if (ec) return self->fail("cannot resolve " + self->target_.host + ": " + ec.message());
          self->conn_->stream().expires_after(self->timeout_);
          self->conn_->stream().async_connect(
              r, [self](beast::error_code ec, const tcp::endpoint&) {
                if (ec)
                  return self->fail("cannot connect to " + self->target_.host + ":" +
                                    std::to_string(self->target_.port) + ": " + ec.message());
                self->conn_->connected = true;
                self->conn_->stream().socket().set_option(tcp::no_delay(true));
                self->write();
              });
        });
  }

  void write() {
    conn_->stream().expires_after(timeout_);
    net::async_write(conn_->stream(), net::buffer(wire_),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->retry_or_fail("write: " + ec.message());
                       self->read_head();
                     });
  }

  void read_head() {
    // Room for a whole small response, so status, headers and body come in one read. Bytes
    // left from an earlier response on this connection are not part of this one.
    conn_->buffer.consume(conn_->buffer.size());
    conn_->buffer.reserve(8192);
    parser_.emplace();
    parser_->body_limit(std::uint64_t{1} << 40);  // responses are streamed through, not held
    conn_->stream().expires_after(timeout_);
    bhttp::async_read_header(conn_->stream(), conn_->buffer, *parser_,
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               if (ec) return self->retry_or_fail("no response: " + ec.message());
                               const auto& res = self->parser_->get();
                               std::string type;
                               auto it = res.find(bhttp::field::content_type);
                               if (it != res.end()) type = std::string(it->value());
                               bool whole = self->handler_.on_complete &&
                                            self->parser_->content_length().has_value() &&
                                            type.rfind("text/event-stream", 0) != 0;
                               if (whole) return self->read_whole(res.result_int(), type);
                               self->head_seen_ = true;
                               if (self->handler_.on_head)
                                 self->handler_.on_head(res.result_int(), type);
                               self->read_body();
                             });
  }

  /// A bounded, non-streamed body: collect it, hand it over at once.
  void read_whole(int status, std::string type) {
    // What already came with the head is parsed here (usually the whole body): async_read
    // would complete through one more trip round the io_context queue.
    parser_->eager(true);
    if (whole_.empty())
      whole_.reserve(std::min<std::uint64_t>(parser_->content_length().value_or(0), 1 << 20));
    while (!parser_->is_done() && conn_->buffer.size() > 0) {
      parser_->get().body().data = conn_->body_buffer;
      parser_->get().body().size = sizeof(conn_->body_buffer);
      beast::error_code ec;
      auto used = parser_->put(conn_->buffer.data(), ec);
      conn_->buffer.consume(used);
      if (ec == bhttp::error::need_buffer || ec == bhttp::error::need_more) ec = {};
      if (ec) return fail("response body: " + ec.message());
      whole_.append(conn_->body_buffer, sizeof(conn_->body_buffer) - parser_->get().body().size);
      if (used == 0) break;
    }
    if (parser_->is_done()) {
      head_seen_ = true;
      handler_.on_complete(status, type, std::move(whole_));
      return finish_connection();
    }
    parser_->get().body().data = conn_->body_buffer;
    parser_->get().body().size = sizeof(conn_->body_buffer);
    conn_->stream().expires_after(timeout_);
    bhttp::async_read(conn_->stream(), conn_->buffer, *parser_,
                      [self = shared_from_this(), status, type](beast::error_code ec, size_t) {
                        if (ec == bhttp::error::need_buffer) ec = {};
                        if (ec) return self->fail("response body: " + ec.message());
                        auto got =
                            sizeof(self->conn_->body_buffer) - self->parser_->get().body().size;
                        self->whole_.append(self->conn_->body_buffer, got);
                        self->read_whole(status, type);
                      });
  }

  void finish_connection() {
    bool keep = parser_->keep_alive();
    conn_->stream().expires_never();
    if (keep) pool_->give_back(target_, conn_);
  }

  void read_body() {
    if (parser_->is_done()) return end();
    parser_->get().body().data = conn_->body_buffer;
    parser_->get().body().size = sizeof(conn_->body_buffer);
    conn_->stream().expires_after(timeout_);
    bhttp::async_read(
        conn_->stream(), conn_->buffer, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) {
          if (ec == bhttp::error::need_buffer) ec = {};
          if (ec) return self->fail("response body: " + ec.message());
          auto got = sizeof(self->conn_->body_buffer) - self->parser_->get().body().size;
          if (got == 0) return self->read_body();
          std::string piece(self->conn_->body_buffer, got);
          if (self->parser_->is_done()) {
            // The last piece: nothing more to read, so no need to wait for the
            // client to take it before the exchange ends.
            if (self->handler_.on_data) self->handler_.on_data(std::move(piece), [] {});
            return self->end();
          }
          auto resume = [self] {
            net::post(self->conn_->stream().get_executor(), [self] { self->read_body(); });
          };
          if (self->handler_.on_data)
            self->handler_.on_data(std::move(piece), resume);
          else
            resume();
        });
  }

  void end() {
    if (handler_.on_end) handler_.on_end();
    finish_connection();
  }

  /// A kept-alive connection the server closed meanwhile fails before any byte: one fresh try.
  void retry_or_fail(const std::string& error) {
    if (reused_ && !head_seen_) {
      reused_ = false;
      conn_ = std::make_shared<connection>(executor_);
      net::dispatch(conn_->stream().get_executor(),
                    [self = shared_from_this()] { self->connect(); });
      return;
    }
    fail(error);
  }

  void fail(const std::string& error) {
    beast::error_code ignored;
    conn_->stream().socket().close(ignored);
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
  bool head_seen_ = false;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> parser_;
  std::string whole_;
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

void upstream_pool::send(const upstream_target& target, upstream_request request,
                         std::chrono::nanoseconds timeout, upstream_handler handler,
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
  std::make_shared<exchange_op>(impl_, std::move(ex), target, std::move(wire), timeout,
                                std::move(handler))
      ->start();
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
