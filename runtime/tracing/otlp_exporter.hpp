// Sends finished spans to an OpenTelemetry collector over OTLP/HTTP with the JSON encoding
// (POST {endpoint}/v1/traces). A request only hands its span over: the span goes into a bounded
// buffer under a brief lock, and the exporter's own thread sends batches (at most max_batch
// spans, at latest max_delay after the oldest arrived) on a kept-alive connection, retrying a
// failed batch a bounded number of times. When the buffer is full a span is dropped and counted,
// never waited for.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/brief_mutex.hpp"
#include "runtime/tracing/collector_endpoint.hpp"
#include "runtime/tracing/span.hpp"

namespace prometheus {
class Counter;
class Registry;
}  // namespace prometheus

namespace inferstack::tracing {

/// A fixed number of spans waiting for export; a span that finds it full is dropped and counted.
class span_buffer {
 public:
  span_buffer(size_t capacity, prometheus::Counter& dropped);

  /// False, and the span counted as dropped, when full. `size_after`: the spans held after.
  bool push(span&& s, size_t* size_after = nullptr);
  /// Moves at most `max` of the oldest spans into `out` (cleared first; its capacity is given
  /// back to the buffer when all are taken).
  void take(std::vector<span>& out, size_t max);
  size_t size() const;

 private:
  mutable runtime::brief_mutex mutex_;  ///< request threads push at once: a spin before a sleep
  /// Oldest first. A vector rather than a deque: a deque allocated and freed a block every
  /// other span (a span is some 200 bytes); take() swaps the whole vector out when it fits.
  std::vector<span> spans_;
  size_t capacity_;
  prometheus::Counter& dropped_;
};

struct exporter_settings {
  std::string endpoint;     ///< http://host:port of the collector (e.g. port 4318)
  attribute_list resource;  ///< the Resource's attributes: service.name at least
  size_t max_queue = 2048;
  size_t max_batch = 512;
  std::chrono::milliseconds max_delay{1000};
  std::chrono::milliseconds timeout{5000};       ///< per attempt: connect, send, answer
  int max_attempts = 3;                          ///< of one batch, the first included
  std::chrono::milliseconds retry_backoff{200};  ///< doubled after each failed attempt
};

class otlp_exporter {
 public:
  /// Counts in `registry`: inferstack_trace_spans_exported_total and
  /// inferstack_trace_spans_dropped_total{reason="queue_full"|"export_failed"}. Throws
  /// std::invalid_argument for an endpoint parse_collector_endpoint refuses.
  otlp_exporter(exporter_settings settings, prometheus::Registry& registry);
  /// Sends what is buffered (bounded by one attempt's timeout), then stops the thread.
  ~otlp_exporter();

  otlp_exporter(const otlp_exporter&) = delete;
  otlp_exporter& operator=(const otlp_exporter&) = delete;

  /// Hands a finished span over from any thread; never blocks on the network. False when the
  /// buffer was full (the span is dropped and counted).
  bool submit(span&& s);

  double spans_exported() const;
  double spans_dropped() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace inferstack::tracing
