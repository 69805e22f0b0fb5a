#include "runtime/http/metrics_scraper.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace inferstack::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

bool parse_sample(std::string_view line, std::string_view& name, std::string_view& labels,
                  double& value) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
    line.remove_suffix(1);
  if (line.empty() || line.front() == '#') return false;
  size_t pos = line.find_first_of("{ ");
  if (pos == std::string_view::npos) return false;
  name = line.substr(0, pos);
  labels = {};
  if (line[pos] == '{') {
    // The closing brace outside quotes ends the labels.
    bool quoted = false;
    size_t i = pos + 1;
    for (; i < line.size(); ++i) {
      char c = line[i];
      if (quoted && c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = !quoted;
      } else if (!quoted && c == '}') {
        break;
      }
    }
    if (i >= line.size()) return false;
    labels = line.substr(pos + 1, i - pos - 1);
    pos = i + 1;
  }
  auto start = line.find_first_not_of(' ', pos);
  if (start == std::string_view::npos || name.empty()) return false;
  auto end = line.find(' ', start);  // a timestamp may follow
  auto text = std::string(line.substr(start, end == std::string_view::npos ? end : end - start));
  try {
    size_t used = 0;
    value = std::stod(text, &used);
    return used == text.size();
  } catch (const std::exception&) {
    return false;
  }
}

void for_each_sample(std::string_view text,
                     const std::function<void(std::string_view, std::string_view, double)>& each) {
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view name, labels;
    double value = 0;
    if (parse_sample(text.substr(start, end - start), name, labels, value))
      each(name, labels, value);
    start = end + 1;
  }
}

namespace {

/// One target's scrapes: a kept-alive connection (opened again after any failure), its
/// resolved address, and at most one scrape in flight.
struct scrape_session : std::enable_shared_from_this<scrape_session> {
  scrape_session(net::io_context& io, scrape_target t, std::chrono::milliseconds timeout,
                 metrics_scraper::sink& deliver)
      : target(std::move(t)), stream(io), resolver(io), timeout(timeout), deliver(deliver) {
    // Beast reads as much as the buffer has room for: without room a 26 kB vLLM metrics page
    // came in 512-byte reads, each a syscall and a trip round the reactor.
    buffer.reserve(64 * 1024);
  }

  scrape_target target;
  beast::tcp_stream stream;
  tcp::resolver resolver;
  std::chrono::milliseconds timeout;
  metrics_scraper::sink& deliver;
  bool connected = false;
  bool busy = false;     ///< a scrape is in flight: the next round skips this server
  bool removed = false;  ///< no longer a target: finish quietly
  beast::flat_buffer buffer;
  bhttp::request<bhttp::empty_body> req;
  std::optional<bhttp::response<bhttp::string_body>> res;

  void scrape() {
    if (busy || removed) return;
    busy = true;
    if (connected)
      send(true);
    else
      connect();
  }

  void connect() {
    resolver.async_resolve(
        target.host, std::to_string(target.port),
        [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type found) {
          if (ec || self->removed) return self->failed();
          self->stream.expires_after(self->timeout);
          self->stream.async_connect(found, [self](beast::error_code ec, const tcp::endpoint&) {
            if (ec) return self->failed();
            self->connected = true;
            self->send(false);
          });
        });
  }

  /// On a `reused` connection the server may have closed meanwhile: one fresh try at once.
  void send(bool reused) {
    req = {bhttp::verb::get, target.path, 11};
    req.set(bhttp::field::host, target.host);
    req.keep_alive(true);
    res.emplace();
    buffer.clear();
    stream.expires_after(timeout);
    auto retry_or_fail = [self = shared_from_this(), reused] {
      if (!reused || self->removed) return self->failed();
      self->close();
      self->connect();
    };
    bhttp::async_write(stream, req,
                       [self = shared_from_this(), retry_or_fail](beast::error_code ec, size_t) {
                         if (ec) return retry_or_fail();
                         bhttp::async_read(self->stream, self->buffer, *self->res,
                                           [self, retry_or_fail](beast::error_code ec, size_t) {
                                             if (ec) return retry_or_fail();
                                             self->stream.expires_never();
                                             if (!self->res->keep_alive()) self->close();
                                             self->busy = false;
                                             if (self->removed || self->res->result_int() != 200)
                                               return;
                                             self->deliver(self->target.name, self->res->body());
                                           });
                       });
  }

  /// No report this round: the picker's staleness bound turns a silent server into a saturated
  /// one. The next round connects afresh.
  void failed() {
    close();
    busy = false;
  }

  void close() {
    resolver.cancel();
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
    connected = false;
  }
};

}  // namespace

struct metrics_scraper::impl {
  std::chrono::milliseconds interval;
  sink deliver;
  net::io_context ioc;
  net::steady_timer tick{ioc};
  std::map<std::string, std::shared_ptr<scrape_session>> sessions;  ///< on the I/O thread only
  std::thread thread;

  bool stopping = false;  ///< on the I/O thread only

  void round() {
    // A tick that expired just before the cancel still arrives without an error: the flag, not
    // the error code, ends the loop.
    if (stopping) return;
    for (auto& [pod, session] : sessions)
      session->scrape();
    tick.expires_after(interval);
    tick.async_wait([this](beast::error_code ec) {
      if (!ec) round();
    });
  }
};

metrics_scraper::metrics_scraper(std::chrono::milliseconds interval, sink deliver)
    : impl_(std::make_shared<impl>()) {
  impl_->interval = interval;
  impl_->deliver = std::move(deliver);
  net::post(impl_->ioc, [i = impl_.get()] { i->round(); });
  impl_->thread = std::thread([i = impl_] { i->ioc.run(); });
}

metrics_scraper::~metrics_scraper() {
  // Closing every connection and the timer aborts what is pending; then the loop runs out of work.
  net::post(impl_->ioc, [i = impl_.get()] {
    i->stopping = true;
    i->tick.cancel();
    for (auto& [pod, session] : i->sessions) {
      session->removed = true;
      session->close();
    }
    i->sessions.clear();
  });
  if (impl_->thread.joinable()) impl_->thread.join();
}

void metrics_scraper::add(scrape_target target) {
  net::post(impl_->ioc, [i = impl_.get(), target = std::move(target)]() mutable {
    auto pod = target.name;
    if (auto old = i->sessions.find(pod); old != i->sessions.end()) {
      old->second->removed = true;
      old->second->close();
    }
    // A scrape is at most one interval per server late; beyond a few, the server is slow.
    auto timeout = std::max(i->interval * 5, std::chrono::milliseconds(500));
    i->sessions[pod] =
        std::make_shared<scrape_session>(i->ioc, std::move(target), timeout, i->deliver);
  });
}

void metrics_scraper::remove(const std::string& pod) {
  net::post(impl_->ioc, [i = impl_.get(), pod] {
    auto it = i->sessions.find(pod);
    if (it == i->sessions.end()) return;
    it->second->removed = true;
    it->second->close();
    i->sessions.erase(it);
  });
}

}  // namespace inferstack::http
