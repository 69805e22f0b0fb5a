#include "runtime/tracing/tracer.hpp"

namespace inferstack::tracing {

tracer::tracer(ratio_sampler sampler, uint64_t seed, unix_clock clock, sink ended)
    : sampler_(sampler), ids_(seed), clock_(std::move(clock)), ended_(std::move(ended)) {}

request_trace tracer::begin(std::string_view traceparent, std::string_view tracestate,
                            std::string name, span_kind kind) {
  request_trace out;
  auto incoming = traceparent.empty() ? std::nullopt : parse_traceparent(traceparent);
  trace_id trace = incoming ? incoming->trace : ids_.new_trace_id();
  span_id id = ids_.new_span_id();
  bool sampled = sampler_.sample(trace, incoming ? &*incoming : nullptr);
  out.traceparent = format_traceparent(trace, id, sampled ? sampled_flag : 0);
  if (incoming) out.tracestate = bounded_tracestate(tracestate);
  if (sampled) {
    span& s = out.recorded.emplace();
    s.trace = trace;
    s.id = id;
    if (incoming) s.parent = incoming->parent;
    s.tracestate = out.tracestate;
    s.name = std::move(name);
    s.kind = kind;
    s.start_unix_nano = clock_();
  }
  return out;
}

std::optional<span> tracer::child(std::string_view traceparent, std::string_view tracestate,
                                  std::string name, span_kind kind) {
  auto incoming = parse_traceparent(traceparent);
  if (!incoming || !incoming->sampled()) return std::nullopt;
  std::optional<span> out;
  span& s = out.emplace();
  s.trace = incoming->trace;
  s.id = ids_.new_span_id();
  s.parent = incoming->parent;
  if (!tracestate.empty()) s.tracestate = bounded_tracestate(tracestate);
  s.name = std::move(name);
  s.kind = kind;
  s.start_unix_nano = clock_();
  return out;
}

void tracer::end(span&& s) {
  s.end_unix_nano = clock_();
  ended_(std::move(s));
}

}  // namespace inferstack::tracing
