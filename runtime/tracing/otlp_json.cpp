#include "runtime/tracing/otlp_json.hpp"

#include <cmath>

#include <nlohmann/json.hpp>

namespace inferstack::tracing {

namespace {

using json = nlohmann::json;

/// AnyValue: int64 is a string in protobuf's JSON mapping, and so are the doubles JSON has no
/// number for.
json any_value(const attribute_value& value) {
  struct visitor {
    json operator()(const std::string& s) const { return {{"stringValue", s}}; }
    json operator()(int64_t i) const { return {{"intValue", std::to_string(i)}}; }
    json operator()(bool b) const { return {{"boolValue", b}}; }
    json operator()(double d) const {
      if (std::isnan(d)) return {{"doubleValue", "NaN"}};
      if (std::isinf(d)) return {{"doubleValue", d > 0 ? "Infinity" : "-Infinity"}};
      return {{"doubleValue", d}};
    }
  };
  return std::visit(visitor{}, value);
}

json attributes(const attribute_list& list) {
  json out = json::array();
  for (const auto& a : list)
    out.push_back({{"key", a.key}, {"value", any_value(a.value)}});
  return out;
}

json encode_span(const span& s) {
  json out = {
      {"traceId", to_hex(s.trace)},
      {"spanId", to_hex(s.id)},
      {"name", s.name},
      {"kind", static_cast<int>(s.kind)},
      {"startTimeUnixNano", std::to_string(s.start_unix_nano)},
      {"endTimeUnixNano", std::to_string(s.end_unix_nano)},
      {"attributes", attributes(s.attributes)},
  };
  // Default values are left out, as protobuf's JSON mapping does: a root has no parent.
  if (!is_zero(s.parent)) out["parentSpanId"] = to_hex(s.parent);
  if (!s.tracestate.empty()) out["traceState"] = s.tracestate;
  if (!s.events.empty()) {
    json events = json::array();
    for (const auto& e : s.events)
      events.push_back({{"name", e.name},
                        {"timeUnixNano", std::to_string(e.time_unix_nano)},
                        {"attributes", attributes(e.attributes)}});
    out["events"] = std::move(events);
  }
  json status = json::object();
  if (s.status != status_code::unset) status["code"] = static_cast<int>(s.status);
  if (!s.status_message.empty()) status["message"] = s.status_message;
  out["status"] = std::move(status);
  return out;
}

}  // namespace

std::string encode_otlp_json(const attribute_list& resource, const std::vector<span>& spans) {
  json encoded = json::array();
  for (const auto& s : spans)
    encoded.push_back(encode_span(s));
  json body = {{"resourceSpans",
                json::array({{{"resource", {{"attributes", attributes(resource)}}},
                              {"scopeSpans", json::array({{{"scope", {{"name", scope_name}}},
                                                           {"spans", std::move(encoded)}}})}}})}};
  // Attribute values come from requests: invalid UTF-8 is replaced, never thrown on.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace inferstack::tracing
