// Sends finished spans to an OpenTelemetry collector over OTLP/HTTP with the JSON encoding
// (POST {endpoint}/v1/traces). A request only hands its span over: the span is encoded on the
// request's thread and its JSON goes into a bounded buffer under a brief lock; the exporter's
// own thread sends batches (at most max_batch spans, at latest max_delay after the oldest
// arrived) on a kept-alive connection, retrying a failed batch a bounded number of times. When
// the buffer is full a span is dropped and counted, never waited for.
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

/// A fixed number of spans waiting for export, already in OTLP JSON: the request's thread
/// encodes its span where it ends (and frees it there, where it was allocated), so a span costs
/// the exporter's thread nothing but its share of the POST. The buffer is one request body in
/// the making: the envelope's opening, then the spans' JSON joined by commas. A span that finds
/// it full is dropped and counted.
class span_buffer {
 public:
  /// `opening`: what every body starts with (otlp_json_opening).
  span_buffer(size_t capacity, prometheus::Counter& dropped, std::string opening = {});

  /// Appends one span's JSON object (append_span_json's). False, and the span counted as
  /// dropped, when full. `size_after`: the spans held after.
  bool push(std::string_view span_json, size_t* size_after = nullptr);
  /// Moves the opening and at most `max` of the oldest spans, joined by commas, into `body`
  /// (its old content dropped; its capacity is kept by the buffer when all are taken, so that
  /// batch after batch the same two strings go back and forth). Returns how many spans.
  size_t take(std::string& body, size_t max);
  size_t size() const;

 private:
  mutable runtime::brief_mutex mutex_;  ///< request threads push at once: a spin before a sleep
  std::string opening_;
  std::string text_;          ///< opening_, then the spans' JSON joined by commas, oldest first
  std::vector<size_t> ends_;  ///< where each span's JSON ends in text_
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

  /// Hands a finished span over from any thread: encoded there, into the buffer; never blocks
  /// on the network. False when the buffer was full (the span is dropped and counted). The
  /// span itself stays the caller's, to be freed on its thread.
  bool submit(const span& s);

  double spans_exported() const;
  double spans_dropped() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace inferstack::tracing
