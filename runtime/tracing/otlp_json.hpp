// Spans in OTLP's JSON encoding (ExportTraceServiceRequest, as POSTed to a collector's
// /v1/traces): ids as lower-case hex, times and 64-bit ints as decimal strings, enums as numbers,
// the protobuf JSON mapping OTLP/HTTP specifies.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "runtime/tracing/span.hpp"

namespace inferstack::tracing {

inline constexpr const char* scope_name = "inferstack";

/// One request body: a resourceSpans entry with `resource` (service.name among them), one
/// scopeSpans entry (scope `inferstack`) holding `spans`.
std::string encode_otlp_json(const attribute_list& resource, const std::vector<span>& spans);
/// The same, appended to `out`.
void append_otlp_json(std::string& out, const attribute_list& resource,
                      const std::vector<span>& spans);

/// The pieces of that body, for an exporter that encodes each span where it ends and sends
/// them joined by commas between the envelope's opening (`resource` and the scope, up to the
/// spans' '[') and its closing.
std::string otlp_json_opening(const attribute_list& resource);
inline constexpr std::string_view otlp_json_closing = "]}]}]}";
/// One span's JSON object, appended to `out`.
void append_span_json(std::string& out, const span& s);
/// The same written at `p`, which has room for span_json_bound(s) characters; returns its end.
/// (The exporter encodes into room of its own: no std::string, no capacity check per piece.)
char* write_span_json(char* p, const span& s);
/// At least as many characters as write_span_json writes for `s` (every string escaped at
/// worst).
size_t span_json_bound(const span& s);

}  // namespace inferstack::tracing
