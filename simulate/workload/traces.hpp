// Trace files as workloads: the Azure LLM inference CSV, the Mooncake JSONL and a plain JSONL of
// our own; and the shaping a simulation applies to any workload (time window, speedup, rate).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "simulate/workload/workload.hpp"

namespace inferstack::simulate {

/// Azure LLM inference trace (2023/2024): a header line `TIMESTAMP,ContextTokens,GeneratedTokens`,
/// then one row per request: `2023-11-16 18:15:46.6805900,374,44` (UTC date and time, up to nine
/// fraction digits). Arrival: the offset from the first row's time. ContextTokens ->
/// prompt_tokens, GeneratedTokens -> max_tokens (both positive). CRLF line ends are accepted.
/// Requests are streamed with ignore_eos (exactly the trace's output), as benchmark clients
/// replay traces; so are Mooncake's.
workload load_azure_csv(const std::string& path);

/// Mooncake trace: one JSON object a line, `{"timestamp": ms, "input_length": n,
/// "output_length": n, "hash_ids": [...]}`. timestamp (milliseconds since the trace's start,
/// >= 0) -> arrival; input_length -> prompt_tokens; output_length -> max_tokens; hash_ids ->
/// prefix_blocks of 512 tokens each (equal ids: equal prefix blocks). Other keys are ignored.
workload load_mooncake_jsonl(const std::string& path);

/// Our plain JSONL: one JSON object a line; unknown keys are refused (a misspelt key must not be
/// dropped silently). Keys:
///   arrival_ms     number >= 0, required: milliseconds since the workload's start (fractions
///                  allowed, kept to the nanosecond)
///   prompt         string: the prompt's text        } exactly one of the two
///   prompt_tokens  integer > 0: the prompt's length  }
///   max_tokens     integer > 0, required: output tokens asked for
///   namespace      string: the Host's subdomain (absent: the default namespace)
///   model          string (absent: the scenario's default model)
///   shared_prefix  string: requests with the same id share their prompt's prefix
///   session        string: session id, for session affinity
///   stream         bool (absent: false)
///   chat           bool: /v1/chat/completions, else /v1/completions (absent: false)
///   ignore_eos     bool: generate exactly max_tokens (absent: false)
///   headers        object of header names and string values the client sends: a tenant's
///                  x-llm-d-inference-fairness-id, x-llm-d-inference-objective,
///                  x-llm-d-slo-ttft-ms, ... (copies made by rate_scale keep them)
///   cancel_after_ms number > 0: the client hangs up this long after sending (absent: never);
///                  the request's outcome is then "cancelled"
/// Example: {"arrival_ms": 250.5, "model": "llama", "prompt_tokens": 900, "max_tokens": 64}
workload load_plain_jsonl(const std::string& path);

/// Any of the three, chosen by content: a first line starting `TIMESTAMP,` (or a .csv name) is
/// Azure; a JSON object with `timestamp`/`input_length`/`output_length`/`hash_ids` is Mooncake;
/// one with `arrival_ms` is ours; anything else is an unknown trace format (workload_error).
workload load_trace(const std::string& path);

/// A duration on the command line: a number with a unit, ms, s, m or h ("90s", "1.5m",
/// "500ms"). Throws std::invalid_argument naming `what` (e.g. "--from").
std::chrono::nanoseconds parse_duration(const std::string& text, const std::string& what);

/// The command line's --from/--to, --speedup and --rate-scale.
struct shaping {
  double speedup = 1;     ///< > 0: arrivals come this many times sooner
  double rate_scale = 1;  ///< in [0.000001, 1000]: this many times the requests (see below)
  std::optional<std::chrono::nanoseconds> from{}, to{};  ///< the window, in the trace's own time
};

/// Shapes w in place, in this order:
/// 1. Window: keeps the requests arriving in [from, to) (absent from: 0; absent to: no end) and
///    re-bases them to the window's start: arrival - from, so the time from the window's start to
///    the first request stays as in the trace.
/// 2. Speedup: every arrival is divided by speedup (rounded to the nanosecond).
/// 3. Rate scale r (taken to six decimals): the i-th request (0-based, in arrival order) is sent
///    c_i = floor((i+1)·r) - floor(i·r) times, so floor(n·r) requests in all, with no randomness:
///    - r < 1 thins: c_i is 0 or 1, a kept request keeps its arrival; r = 1/k with at most six
///      decimals (0.5, 0.25, 0.1, ...) keeps exactly every k-th request (i = k-1, 2k-1, ...).
///    - r > 1 replicates: copy j of c_i arrives at arrival_i + j·gap_i/c_i, gap_i being the time to
///      the next request (0 after the last one), so copies fill the request's own interval and
///      the trace's order and bursts stay. Copy j >= 1 plays another user: its session and
///      shared_prefix get the suffix "#j" and its prefix block ids move by j·(largest id + 1),
///      so copy j shares prefixes with the other j-th copies as the originals share among
///      themselves, not with the originals (else scaling up would inflate prefix-cache hits).
///      A prompt's text is copied as it is.
/// Throws std::invalid_argument for a speedup <= 0, a rate_scale out of range, a negative from
/// or to, or from >= to.
void shape_workload(workload& w, const shaping& s);

}  // namespace inferstack::simulate
