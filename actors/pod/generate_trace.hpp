// The pod's span of one generation: its times as the pod measured them (queue wait, prefill,
// decode, as attributes: events would cost as much again per span), its tokens (prompt, cached,
// output), its finish reasons and outcome. The span starts when the request arrives; its end is
// the start plus the pod's end-to-end time, so it agrees with the pod's own metrics.
#pragma once

#include <cstdint>
#include <string_view>

#include "actors/pod/pod_protocol.hpp"
#include "runtime/tracing/span.hpp"

namespace inferstack::actors::pod {

/// Describes a generation that was answered (`r`), and sets the span's end.
void describe_generation(tracing::span& s, const generate_result& r);

/// Describes a generation that was not answered: refused at admission or cancelled
/// (`outcome`, e.g. queue_full, cancelled), `message` why; it ended at `end_unix_nano`.
/// `server_error`: the pod's failure (a 5xx), the span's status is then an error.
void describe_failed_generation(tracing::span& s, std::string_view pod, std::string_view outcome,
                                std::string_view message, bool server_error,
                                uint64_t end_unix_nano);

}  // namespace inferstack::actors::pod
