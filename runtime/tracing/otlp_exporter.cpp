#include "runtime/tracing/otlp_exporter.hpp"

#include <stdexcept>
#include <thread>

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "runtime/tracing/otlp_json.hpp"

namespace inferstack::tracing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

span_buffer::span_buffer(size_t capacity, prometheus::Counter& dropped, std::string opening)
    : opening_(std::move(opening)), text_(opening_), capacity_(capacity), dropped_(dropped) {
  ends_.reserve(capacity_);
}

bool span_buffer::push(std::string_view span_json, size_t* size_after) {
  {
    std::lock_guard lock(mutex_);
    if (ends_.size() < capacity_) {
      if (!ends_.empty()) text_ += ',';
      text_ += span_json;
      ends_.push_back(text_.size());
      if (size_after) *size_after = ends_.size();
      return true;
    }
    if (size_after) *size_after = ends_.size();
  }
  dropped_.Increment();
  return false;
}

size_t span_buffer::take(std::string& body, size_t max) {
  std::lock_guard lock(mutex_);
  size_t n = ends_.size();
  if (n <= max) {  // the usual case: every span, none copied
    body.swap(text_);
    text_.assign(opening_);  // into the capacity of the body sent before
    ends_.clear();
    return n;
  }
  // A backlog (spans came while a batch was in flight): the oldest `max` stay where they are and
  // leave with the text; only what follows them is copied, into a new text. At 100 % sampling
  // and 30k requests/s this happens often (a batch fills while the one before is in flight) and
  // what follows is fewer spans than a batch: copying the batch out and moving the rest up (as
  // was done) copied the whole text under the lock.
  size_t cut = ends_[max - 1];
  body.swap(text_);
  text_.assign(opening_);                          // into the capacity of the body sent before
  text_.append(body, cut + 1, std::string::npos);  // after the comma that ended the batch
  body.resize(cut);
  size_t removed = cut + 1 - opening_.size();
  ends_.erase(ends_.begin(), ends_.begin() + static_cast<ptrdiff_t>(max));
  for (auto& end : ends_)
    end -= removed;
  return max;
}

size_t span_buffer::size() const {
  std::lock_guard lock(mutex_);
  return ends_.size();
}

namespace {

auto& counter_family(prometheus::Registry& registry, const std::string& name,
                     const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

}  // namespace

/// Everything below runs on the exporter's thread, except submit()'s buffer push and wake-up.
struct otlp_exporter::impl {
  impl(exporter_settings s, collector_address a, prometheus::Registry& registry)
      : settings(std::move(s)),
        address(std::move(a)),
        exported(counter_family(registry, "inferstack_trace_spans_exported_total",
                                "Spans the OTLP collector accepted")
                     .Add({})),
        dropped_family(counter_family(registry, "inferstack_trace_spans_dropped_total",
                                      "Spans not exported: the buffer was full (queue_full) or "
                                      "the collector refused or failed (export_failed)")),
        dropped_full(dropped_family.Add({{"reason", "queue_full"}})),
        dropped_failed(dropped_family.Add({{"reason", "export_failed"}})),
        buffer(settings.max_queue, dropped_full, otlp_json_opening(settings.resource)) {}

  exporter_settings settings;
  collector_address address;
  prometheus::Counter& exported;
  prometheus::Family<prometheus::Counter>& dropped_family;
  prometheus::Counter& dropped_full;
  prometheus::Counter& dropped_failed;
  span_buffer buffer;
  std::atomic<bool> wake_posted{false};  ///< one wake-up in the queue at a time

  net::io_context ioc;
  net::steady_timer tick{ioc};
  net::steady_timer retry_timer{ioc};
  net::steady_timer stop_deadline{ioc};
  beast::tcp_stream stream{ioc};
  tcp::resolver resolver{ioc};
  bool connected = false;
  bool in_flight = false;
  bool stopping = false;
  int attempt = 0;
  size_t batch_spans = 0;  ///< in the batch in flight
  /// The body to send, taken from the buffer; after each batch it goes back to the buffer for
  /// the spans to come (no regrowth of a string of a batch's size).
  std::string body;
  bhttp::request<bhttp::string_body> req;
  beast::flat_buffer read_buffer;
  std::optional<bhttp::response<bhttp::string_body>> res;
  std::thread thread;

  void wake() {
    if (!wake_posted.exchange(true)) net::post(ioc, [this] { export_now(); });
  }

  /// Every max_delay: what has waited goes out even when no batch is full.
  void arm_tick() {
    tick.expires_after(settings.max_delay);
    tick.async_wait([this](beast::error_code ec) {
      if (ec || stopping) return;
      export_now();
      arm_tick();
    });
  }

  void export_now() {
    wake_posted = false;
    if (in_flight) return;  // the batch in flight takes the next one when it is done
    body.clear();
    batch_spans = buffer.take(body, settings.max_batch);
    if (batch_spans == 0) {
      if (stopping) ioc.stop();
      return;
    }
    body += otlp_json_closing;
    in_flight = true;
    attempt = 1;
    req = {bhttp::verb::post, address.path, 11};
    req.set(bhttp::field::host, address.host);
    req.set(bhttp::field::content_type, "application/json");
    req.keep_alive(true);
    req.body() = std::move(body);
    req.prepare_payload();
    send();
  }

  void send() {
    if (connected)
      write(true);
    else
      connect();
  }

  void connect() {
    resolver.async_resolve(address.host, std::to_string(address.port),
                           [this](beast::error_code ec, tcp::resolver::results_type found) {
                             if (ec) return failed(true);
                             stream.expires_after(settings.timeout);
                             stream.async_connect(
                                 found, [this](beast::error_code ec, const tcp::endpoint&) {
                                   if (ec) return failed(true);
                                   connected = true;
                                   write(false);
                                 });
                           });
  }

  /// A `reused` connection may have been closed by the collector while idle: one fresh
  /// connection at once, not counted as an attempt.
  void write(bool reused) {
    stream.expires_after(settings.timeout);
    read_buffer.clear();
    res.emplace();
    bhttp::async_write(stream, req, [this, reused](beast::error_code ec, size_t) {
      if (ec) return reused ? reconnect() : failed(true);
      bhttp::async_read(stream, read_buffer, *res, [this, reused](beast::error_code ec, size_t) {
        if (ec) return reused ? reconnect() : failed(true);
        stream.expires_never();
        if (!res->keep_alive()) close();
        answered(res->result_int());
      });
    });
  }

  void reconnect() {
    close();
    connect();
  }

  void answered(unsigned status) {
    if (status >= 200 && status < 300) {
      exported.Increment(static_cast<double>(batch_spans));
      return done();
    }
    // OTLP/HTTP: 429, 502, 503 and 504 are worth another try; other answers are final.
    failed(status == 429 || status == 502 || status == 503 || status == 504);
  }

  void failed(bool retryable) {
    close();
    if (retryable && attempt < settings.max_attempts && !stopping) {
      auto pause = settings.retry_backoff * (1 << (attempt - 1));
      ++attempt;
      retry_timer.expires_after(pause);
      retry_timer.async_wait([this](beast::error_code ec) {
        if (!ec) send();
      });
      return;
    }
    dropped_failed.Increment(static_cast<double>(batch_spans));
    done();
  }

  void done() {
    in_flight = false;
    batch_spans = 0;
    body = std::move(req.body());
    // A full batch waiting, or the last ones at shutdown: at once, not at the next tick.
    if (stopping || buffer.size() >= settings.max_batch) export_now();
  }

  void close() {
    resolver.cancel();
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
    connected = false;
  }
};

otlp_exporter::otlp_exporter(exporter_settings settings, prometheus::Registry& registry) {
  std::string error;
  auto address = parse_collector_endpoint(settings.endpoint, error);
  if (!address) throw std::invalid_argument("OTLP endpoint " + error);
  if (settings.max_batch == 0) settings.max_batch = 1;
  if (settings.max_attempts < 1) settings.max_attempts = 1;
  impl_ = std::make_shared<impl>(std::move(settings), std::move(*address), registry);
  impl_->arm_tick();
  impl_->thread = std::thread([i = impl_.get()] { i->ioc.run(); });
}

otlp_exporter::~otlp_exporter() {
  auto* i = impl_.get();
  net::post(i->ioc, [i] {
    i->stopping = true;
    i->tick.cancel();
    // The last batches (and a retry under way) get one attempt's time; then the thread ends
    // regardless.
    i->stop_deadline.expires_after(i->settings.timeout);
    i->stop_deadline.async_wait([i](beast::error_code ec) {
      if (!ec) i->ioc.stop();
    });
    if (!i->in_flight) i->export_now();
  });
  i->thread.join();
}

bool otlp_exporter::submit(const span& s) {
  // Encoded here, on the caller's thread, into room each thread keeps (no allocation once it
  // has grown to a span's size); the buffer copies it in. Not encoded straight into the
  // buffer's tail under its lock: measured, that cost more (the request threads ending spans at
  // once spun on the lock for an encoding's time, +7.3 us CPU a traced request against +4.9).
  thread_local std::string room;
  size_t bound = span_json_bound(s);
  if (room.size() < bound) room.resize(bound);
  char* end = write_span_json(room.data(), s);
  size_t held = 0;
  if (!impl_->buffer.push({room.data(), static_cast<size_t>(end - room.data())}, &held))
    return false;
  // Only the span that fills a batch wakes the exporter: while a batch is in flight the
  // buffer may stay above max_batch, and a wake-up per span (a post to the exporter's
  // io_context from the request's thread) cost more than the span. done() takes those.
  if (held == impl_->settings.max_batch) impl_->wake();
  return true;
}

double otlp_exporter::spans_exported() const {
  return impl_->exported.Value();
}
double otlp_exporter::spans_dropped() const {
  return impl_->dropped_full.Value() + impl_->dropped_failed.Value();
}

}  // namespace inferstack::tracing
