// The pod's span of a generation; see generate_trace.hpp.
#include "actors/pod/generate_trace.hpp"

#include <algorithm>
#include <string>

namespace inferstack::actors::pod {

namespace {

uint64_t after(uint64_t start, int64_t ns) {
  return start + static_cast<uint64_t>(std::max<int64_t>(0, ns));
}

double seconds(int64_t ns) {
  return static_cast<double>(std::max<int64_t>(0, ns)) / 1e9;
}

}  // namespace

void describe_generation(tracing::span& s, const generate_result& r) {
  using tracing::add;
  auto& a = s.attributes;
  a.reserve(a.size() + 12);  // one allocation (the request id is the gateway span's)
  add(a, "inferstack.pod", r.pod);
  add(a, "gen_ai.usage.input_tokens", r.prompt_tokens);
  add(a, "inferstack.usage.cached_tokens", r.cached_tokens);
  add(a, "gen_ai.usage.output_tokens", r.completion_tokens);
  // Arrival -> admission -> first token -> last token.
  const bool first_token = r.ttft_ns > 0;
  add(a, "inferstack.queue_seconds", seconds(r.queue_ns));
  if (first_token) {
    add(a, "inferstack.prefill_seconds", seconds(r.ttft_ns - r.queue_ns));
    add(a, "inferstack.decode_seconds", seconds(r.e2e_ns - r.ttft_ns));
  }
  std::string reasons;  // one per choice, as OpenTelemetry's GenAI convention lists them
  for (const auto& c : r.choices) {
    if (!reasons.empty()) reasons += ',';
    reasons += c.finish_reason;
  }
  add(a, "gen_ai.response.finish_reasons", reasons);
  add(a, "inferstack.outcome", "ok");
  s.end_unix_nano = after(s.start_unix_nano, r.e2e_ns);
}

void describe_failed_generation(tracing::span& s, std::string_view pod, std::string_view outcome,
                                std::string_view message, bool server_error,
                                uint64_t end_unix_nano) {
  using tracing::add;
  auto& a = s.attributes;
  add(a, "inferstack.pod", pod);
  add(a, "inferstack.outcome", outcome);
  if (!message.empty()) add(a, "inferstack.reason", message);
  if (server_error) {
    s.status = tracing::status_code::error;
    s.status_message = std::string(message);
  }
  s.end_unix_nano = std::max(end_unix_nano, s.start_unix_nano);
}

}  // namespace inferstack::actors::pod
