#include "runtime/tracing/otlp_json.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

#include "runtime/json_escape.hpp"

namespace inferstack::tracing {

// Written directly with the project's escaper, not through nlohmann objects: at 100 % sampling
// every request's span is encoded, and building a json tree cost 18 us a span (a 30k requests/s
// gateway spent half a core on it); appending costs a tenth of that.

namespace {

using runtime::append_json_int;
using runtime::append_json_string;

/// `<key>"<decimal>"`, the key given with its quotes and colon: 64-bit integers are strings in
/// protobuf's JSON mapping.
void append_decimal_string(std::string& out, std::string_view quoted_key, uint64_t value) {
  // Assembled on the stack, appended once: one capacity check instead of four.
  char buf[64];
  size_t n = quoted_key.size() < 32 ? quoted_key.size() : 0;
  if (n == 0) out += quoted_key;  // not one of this file's short keys
  std::copy(quoted_key.data(), quoted_key.data() + n, buf);
  buf[n++] = '"';
  auto [end, ec] = std::to_chars(buf + n, buf + sizeof(buf) - 1, value);
  *end++ = '"';
  out.append(buf, end);
}

/// An id's lower-case hex written at `p` (to_hex's, without a string per id); returns its end.
template <size_t N>
char* write_hex(char* p, const std::array<uint8_t, N>& bytes) {
  constexpr char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < N; ++i) {
    *p++ = digits[bytes[i] >> 4];
    *p++ = digits[bytes[i] & 0x0f];
  }
  return p;
}

void append_double(std::string& out, double d) {
  // JSON has no number for these; protobuf's JSON mapping writes them as strings.
  if (std::isnan(d)) {
    out += "\"NaN\"";
  } else if (std::isinf(d)) {
    out += d > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);  // shortest round trip
    out.append(buf, end);
  }
}

/// `,"value":` and the AnyValue, closing the attribute's object: each type's opening is one
/// literal (a dozen attributes a span, so fewer appends count).
void append_value(std::string& out, const attribute_value& value) {
  if (auto* s = std::get_if<std::string>(&value)) {
    out += ",\"value\":{\"stringValue\":";
    append_json_string(out, *s);
  } else if (auto* i = std::get_if<int64_t>(&value)) {
    char buf[24];
    buf[0] = '"';
    auto [end, ec] = std::to_chars(buf + 1, buf + sizeof(buf) - 1, *i);
    *end++ = '"';
    out += ",\"value\":{\"intValue\":";
    out.append(buf, end);
  } else if (auto* d = std::get_if<double>(&value)) {
    out += ",\"value\":{\"doubleValue\":";
    append_double(out, *d);
  } else {
    out += std::get<bool>(value) ? ",\"value\":{\"boolValue\":true"
                                 : ",\"value\":{\"boolValue\":false";
  }
  out += "}}";
}

void append_attributes(std::string& out, const attribute_list& list) {
  out += "\"attributes\":[";
  for (size_t i = 0; i < list.size(); ++i) {
    // A literal name needs no escaping (the stack's are OpenTelemetry's dotted names): copied.
    const auto& key = list[i].key;
    if (key.is_literal()) {
      out += i ? ",{\"key\":\"" : "{\"key\":\"";
      out += key.view();
      out += '"';
    } else {
      out += i ? ",{\"key\":" : "{\"key\":";
      append_json_string(out, key.view());
    }
    append_value(out, list[i].value);
  }
  out += ']';
}

}  // namespace

void append_span_json(std::string& out, const span& s) {
  // The ids' part has a fixed shape: assembled on the stack, appended once.
  constexpr std::string_view trace_key = "{\"traceId\":\"", span_key = "\",\"spanId\":\"",
                             parent_key = "\",\"parentSpanId\":\"";
  char buf[trace_key.size() + 32 + span_key.size() + 16 + parent_key.size() + 16 + 1];
  char* p = std::copy(trace_key.begin(), trace_key.end(), buf);
  p = write_hex(p, s.trace);
  p = std::copy(span_key.begin(), span_key.end(), p);
  p = write_hex(p, s.id);
  // Default values are left out, as protobuf's JSON mapping does: a root has no parent.
  if (!is_zero(s.parent)) {
    p = std::copy(parent_key.begin(), parent_key.end(), p);
    p = write_hex(p, s.parent);
  }
  *p++ = '"';
  out.append(buf, p);
  if (!s.tracestate.empty()) {
    out += ",\"traceState\":";
    append_json_string(out, s.tracestate);
  }
  out += ",\"name\":";
  append_json_string(out, s.name);
  out += ",\"kind\":";
  append_json_int(out, static_cast<int>(s.kind));
  append_decimal_string(out, ",\"startTimeUnixNano\":", s.start_unix_nano);
  append_decimal_string(out, ",\"endTimeUnixNano\":", s.end_unix_nano);
  out += ',';
  append_attributes(out, s.attributes);
  if (!s.events.empty()) {
    out += ",\"events\":[";
    for (size_t i = 0; i < s.events.size(); ++i) {
      const auto& e = s.events[i];
      if (i) out += ',';
      out += "{\"name\":";
      append_json_string(out, e.name);
      out += ',';
      append_decimal_string(out, "\"timeUnixNano\":", e.time_unix_nano);
      out += ',';
      append_attributes(out, e.attributes);
      out += '}';
    }
    out += ']';
  }
  out += ",\"status\":{";
  if (s.status != status_code::unset) {
    out += "\"code\":";
    append_json_int(out, static_cast<int>(s.status));
  }
  if (!s.status_message.empty()) {
    if (s.status != status_code::unset) out += ',';
    out += "\"message\":";
    append_json_string(out, s.status_message);
  }
  out += "}}";
}

std::string encode_otlp_json(const attribute_list& resource, const std::vector<span>& spans) {
  std::string out;
  append_otlp_json(out, resource, spans);
  return out;
}

std::string otlp_json_opening(const attribute_list& resource) {
  std::string out = "{\"resourceSpans\":[{\"resource\":{";
  append_attributes(out, resource);
  out += "},\"scopeSpans\":[{\"scope\":{\"name\":";
  append_json_string(out, scope_name);
  out += "},\"spans\":[";
  return out;
}

void append_otlp_json(std::string& out, const attribute_list& resource,
                      const std::vector<span>& spans) {
  out.reserve(out.size() + 256 + spans.size() * 1600);  // a gateway span is about 1.5 kB
  out += otlp_json_opening(resource);
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i) out += ',';
    append_span_json(out, spans[i]);
  }
  out += otlp_json_closing;
}

}  // namespace inferstack::tracing
