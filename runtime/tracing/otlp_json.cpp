#include "runtime/tracing/otlp_json.hpp"

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
  out += quoted_key;
  out += '"';
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, end);
  out += '"';
}

/// An id's lower-case hex written in place (to_hex's, without a string per id).
template <size_t N>
void append_hex(std::string& out, const std::array<uint8_t, N>& bytes) {
  constexpr char digits[] = "0123456789abcdef";
  char buf[2 * N];
  for (size_t i = 0; i < N; ++i) {
    buf[2 * i] = digits[bytes[i] >> 4];
    buf[2 * i + 1] = digits[bytes[i] & 0x0f];
  }
  out.append(buf, sizeof(buf));
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

/// AnyValue.
void append_value(std::string& out, const attribute_value& value) {
  if (auto* s = std::get_if<std::string>(&value)) {
    out += "{\"stringValue\":";
    append_json_string(out, *s);
  } else if (auto* i = std::get_if<int64_t>(&value)) {
    out += "{\"intValue\":\"";
    append_json_int(out, *i);
    out += '"';
  } else if (auto* d = std::get_if<double>(&value)) {
    out += "{\"doubleValue\":";
    append_double(out, *d);
  } else {
    out += "{\"boolValue\":";
    out += std::get<bool>(value) ? "true" : "false";
  }
  out += '}';
}

void append_attributes(std::string& out, const attribute_list& list) {
  out += "\"attributes\":[";
  for (size_t i = 0; i < list.size(); ++i) {
    if (i) out += ',';
    out += "{\"key\":";
    // A literal name needs no escaping (the stack's are OpenTelemetry's dotted names): copied.
    const auto& key = list[i].key;
    if (key.is_literal()) {
      out += '"';
      out += key.view();
      out += '"';
    } else {
      append_json_string(out, key.view());
    }
    out += ",\"value\":";
    append_value(out, list[i].value);
    out += '}';
  }
  out += ']';
}

}  // namespace

void append_span_json(std::string& out, const span& s) {
  out += "{\"traceId\":\"";
  append_hex(out, s.trace);
  out += "\",\"spanId\":\"";
  append_hex(out, s.id);
  out += '"';
  // Default values are left out, as protobuf's JSON mapping does: a root has no parent.
  if (!is_zero(s.parent)) {
    out += ",\"parentSpanId\":\"";
    append_hex(out, s.parent);
    out += '"';
  }
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
