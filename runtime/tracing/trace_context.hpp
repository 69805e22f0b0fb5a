// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` and `tracestate`
// headers that carry one request's trace from hop to hop, and the ids a new span or trace needs.
// No CAF here: the gateway, the actors and the tests include it freely.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace inferstack::tracing {

using trace_id = std::array<uint8_t, 16>;
using span_id = std::array<uint8_t, 8>;

/// Lower-case hex, as both the header and OTLP's JSON encoding write ids.
std::string to_hex(const trace_id& id);
std::string to_hex(const span_id& id);
bool is_zero(const trace_id& id);
bool is_zero(const span_id& id);

/// The sampled bit of trace-flags (the only flag of version 00).
inline constexpr uint8_t sampled_flag = 0x01;

/// What an incoming `traceparent` (and its `tracestate`) said: the caller's trace and span.
struct trace_context {
  trace_id trace{};
  span_id parent{};  ///< the caller's span: the parent of the span we record
  uint8_t flags = 0;
  std::string tracestate;  ///< passed on unchanged (see bounded_tracestate)

  bool sampled() const { return (flags & sampled_flag) != 0; }
};

/// Parses a `traceparent` header. Nothing when it is invalid -- wrong length or separators,
/// version ff, hex that is not lower-case, an all-zero trace or parent id -- and the spec then
/// says: start a new trace (and ignore `tracestate`). A version above 00 is read as 00 when its
/// first 55 characters are (what follows them must start with '-'), as the spec asks.
std::optional<trace_context> parse_traceparent(std::string_view header);

/// `00-<trace>-<span>-<flags>`, for the next hop (our span as its parent).
std::string format_traceparent(const trace_id& trace, const span_id& span, uint8_t flags);

/// The longest `tracestate` passed on; the spec asks for at least 512 characters.
inline constexpr size_t max_tracestate_length = 512;

/// `tracestate` to pass on: unchanged when it is at most max_tracestate_length characters;
/// longer, whole list members are dropped from the end (the spec's truncation) until it fits.
/// Empty when it holds a character outside printable ASCII (no header smuggling).
std::string bounded_tracestate(std::string_view header);

/// New trace and span ids from a seed the caller gives (no hidden global generator): splitmix64
/// on an atomic counter, so many threads may draw at once. Never an all-zero id.
class id_generator {
 public:
  explicit id_generator(uint64_t seed) : state_(seed) {}

  trace_id new_trace_id();
  span_id new_span_id();

 private:
  uint64_t next();

  std::atomic<uint64_t> state_;
};

}  // namespace inferstack::tracing
