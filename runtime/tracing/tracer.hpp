// What a server does with traces, in one place: read the caller's `traceparent`, decide whether
// the request is recorded (the sampler), give it a span id, tell the next hop, and hand the
// ended span to the exporter. Everything it uses is passed in: the sampler, the id seed, the
// clock and where ended spans go.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/tracing/span.hpp"
#include "runtime/tracing/trace_context.hpp"

namespace inferstack::tracing {

/// One request's part in its trace.
struct request_trace {
  /// For the next hop: this server's span as its parent, with the sampled flag as decided.
  /// Empty when tracing is off.
  std::string traceparent;
  std::string tracestate;  ///< the caller's, passed on unchanged (bounded)
  /// Sampled: the span being recorded, its ids and start time set; the caller adds attributes
  /// and ends it with tracer::end.
  std::optional<span> recorded;
};

class tracer {
 public:
  /// Where an ended span goes (the exporter's submit); must not block.
  using sink = std::function<void(span&&)>;

  tracer(ratio_sampler sampler, uint64_t seed, unix_clock clock, sink ended);

  /// A request arrives with these headers (empty when absent): it continues the caller's trace
  /// when `traceparent` is valid, else starts a new one (and ignores `tracestate`).
  request_trace begin(std::string_view traceparent, std::string_view tracestate, std::string name,
                      span_kind kind = span_kind::server);

  /// A hop inside the stack (a picker, a pod) handling a message its caller stamped with a
  /// `traceparent` (and the `tracestate` that goes with it): a span as the caller's child when
  /// that is valid and sampled, else nothing -- such a hop never starts a trace of its own, and
  /// records only what its caller records. The span keeps the tracestate (bounded).
  std::optional<span> child(std::string_view traceparent, std::string_view tracestate,
                            std::string name, span_kind kind = span_kind::server);

  /// Stamps the end time and hands the span over.
  void end(span&& s);
  /// Hands over a span whose end time is already set (measured by the caller).
  void submit(span&& s) { ended_(std::move(s)); }

  uint64_t now() const { return clock_(); }
  double sampling_ratio() const { return sampler_.ratio(); }

 private:
  ratio_sampler sampler_;
  id_generator ids_;
  unix_clock clock_;
  sink ended_;
};

}  // namespace inferstack::tracing
