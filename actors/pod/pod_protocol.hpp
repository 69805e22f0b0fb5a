// Messages of a pod (a simulated vLLM engine): generation requests and the stream of tokens
// they produce, with credit-based flow control, plus the events a pod publishes (load reports,
// KV-cache event batches in vLLM's wire format) and its lifecycle controls.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "protocol/type_ids.hpp"
#include "runtime/message_fields.hpp"

namespace inferstack::actors::pod {

/// Which OpenAI endpoint a request came through (decides echo text and response shape).
enum class api_kind : uint8_t { chat = 0, completions = 1 };

/// A generation request. Tokens stream back to the sender as token_chunk messages when
/// `stream` is set; the reply (generate_result) always comes last.
struct generate_request {
  std::string request_id;
  std::string model;  ///< served model name or a loaded LoRA adapter
  uint8_t api = 0;    ///< api_kind
  /// One token list per prompt (chat: one; completions with a list of prompts: several).
  std::vector<std::vector<uint32_t>> prompts;
  /// Per prompt, the text echo mode returns (chat: last message; completions: the prompt).
  std::vector<std::string> echo_texts;
  uint32_t n = 1;           ///< choices per prompt
  int64_t max_tokens = -1;  ///< -1: not given
  bool ignore_eos = false;
  bool stream = false;
  uint32_t stream_window = 64;  ///< token_chunks in flight before the sender must ack
  /// llm-d-inference-sim's X-Return-Error: answer with this HTTP status at once (0: no).
  uint32_t return_error = 0;
  /// P/D: this pod decodes; the prompt's KV comes from a prefill pod.
  bool remote_prefill = false;
  /// P/D: this pod only prefills (answers with finish_reason remote_decode, no tokens).
  bool remote_decode = false;
  /// Chat: the request's tools and tool_choice (openai::tools_wire_json), empty when none; the
  /// pod answers with tool calls when the simulator would.
  std::string tools;
  /// Chat: response_format (openai::response_format_wire_json), empty for text.
  std::string response_format;
  /// llm-d-inference-sim's X-Cache-Threshold-Finish-Reason: answer at once with finish_reason
  /// cache_threshold and no tokens.
  bool cache_threshold_finish = false;
  /// The request's cache_hit_threshold (llm-d-inference-sim's field, 0-1): answered at once with
  /// finish_reason cache_threshold when less of its prompt is cached; negative: not given.
  double cache_hit_threshold = -1;
  /// W3C traceparent of the caller's span when its request is traced (sampled): the pod records
  /// the generation as a child span. Empty: not traced (and from peers that predate it).
  std::string traceparent;
  /// The W3C tracestate that goes with traceparent (the caller's, passed on unchanged): the
  /// generate span keeps it. Empty: none (and from peers that predate it).
  std::string tracestate;
  INFERSTACK_FIELDS(generate_request, request_id, model, api, prompts, echo_texts, n, max_tokens,
                    ignore_eos, stream, stream_window, return_error, remote_prefill, remote_decode,
                    tools, response_format, cache_threshold_finish, cache_hit_threshold,
                    traceparent, tracestate)
};

/// Tokens of one choice, in order. `first` marks the chunk holding the first token; a chunk
/// that ends its choice carries the finish reason (vLLM sends the last token's text together
/// with finish_reason in one SSE chunk).
struct token_chunk {
  std::string request_id;
  uint32_t choice = 0;
  std::string text;
  uint32_t tokens = 0;
  bool first = false;
  std::string finish_reason;
  /// The first chunk of a choice answered with tool calls: the calls (openai::tool_calls_json);
  /// the choice's text is then their arguments, one after the other.
  std::string tool_calls;
  INFERSTACK_FIELDS(token_chunk, request_id, choice, text, tokens, first, finish_reason, tool_calls)
};

/// The consumer wrote `chunks` more token_chunks to its client: the pod may send as many more.
struct stream_ack {
  std::string request_id;
  uint32_t chunks = 0;
  INFERSTACK_FIELDS(stream_ack, request_id, chunks)
};

/// The client went away: stop generating and free the request's KV blocks.
struct cancel_request {
  std::string request_id;
  INFERSTACK_FIELDS(cancel_request, request_id)
};

struct choice_result {
  uint32_t index = 0;
  std::string text;           ///< empty when streamed (the text went out in token_chunks)
  std::string finish_reason;  ///< stop | length | remote_decode
  uint32_t completion_tokens = 0;
  /// The choice's tool calls (openai::tool_calls_json), empty when it answered with text.
  std::string tool_calls;
  INFERSTACK_FIELDS(choice_result, index, text, finish_reason, completion_tokens, tool_calls)
};

struct generate_result {
  std::string request_id;
  std::string pod;    ///< which pod served it
  std::string model;  ///< the model name to report
  std::vector<choice_result> choices;
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  uint32_t cached_tokens = 0;
  int64_t queue_ns = 0;  ///< arrival to admission (longest over the choices)
  int64_t ttft_ns = 0;   ///< arrival to first token
  int64_t e2e_ns = 0;    ///< arrival to last token
  INFERSTACK_FIELDS(generate_result, request_id, pod, model, choices, prompt_tokens,
                    completion_tokens, cached_tokens, queue_ns, ttft_ns, e2e_ns)
};

/// Pushed to subscribers (topic "load@<pod>") on change, at most every report interval.
struct load_report {
  std::string pod;
  std::string model;
  uint64_t seq = 0;
  int64_t at_ns = 0;  ///< the pod's clock
  uint32_t running = 0;
  uint32_t waiting = 0;
  double kv_usage = 0;
  uint64_t inflight_tokens = 0;
  uint32_t max_num_seqs = 0;
  uint32_t block_size = 0;
  uint32_t num_gpu_blocks = 0;
  std::vector<std::string> running_loras;
  std::vector<std::string> waiting_loras;
  uint32_t max_loras = 0;
  /// Adapters resident in GPU slots and in the CPU cache (sorted), when lora_residency; an old
  /// pod sends none of these and the picker knows only running_loras and waiting_loras.
  bool lora_residency = false;
  std::vector<std::string> gpu_loras;
  std::vector<std::string> cpu_loras;
  bool ready = false;
  bool draining = false;
  /// The linear terms of the pod's step-cost profile (0 for a pod without one), from which an
  /// SLO-aware picker predicts its latency.
  double step_overhead_ns = 0;
  double prefill_overhead_ns = 0;
  double prefill_ns_per_token = 0;
  double decode_ns_per_sequence = 0;  ///< decodePerSequence + perSequence
  double attention_ns_per_kv_token = 0;
  INFERSTACK_FIELDS(load_report, pod, model, seq, at_ns, running, waiting, kv_usage,
                    inflight_tokens, max_num_seqs, block_size, num_gpu_blocks, running_loras,
                    waiting_loras, max_loras, ready, draining, step_overhead_ns,
                    prefill_overhead_ns, prefill_ns_per_token, decode_ns_per_sequence,
                    attention_ns_per_kv_token, lora_residency, gpu_loras, cpu_loras)
};

/// One vLLM KV-event message, as it goes over ZeroMQ: topic "kv@<pod>@<model>", a sequence
/// number and the msgpack EventBatch payload (runtime/kv_events.hpp decodes it).
struct kv_event_message {
  std::string topic;
  uint64_t seq = 0;
  std::string payload;
  INFERSTACK_FIELDS(kv_event_message, topic, seq, payload)
};

/// Model loading finished (or was declared finished): the pod starts admitting requests --
/// also after a drain (a pod process the control plane reuses for a new replica). `pod_name`,
/// when set, is the name the control plane gave that replica: the pod reports under it.
struct mark_ready {
  std::string pod_name;
  INFERSTACK_FIELDS(mark_ready, pod_name)
};

/// Stop admitting new requests; reply drain_done once every admitted one has finished.
struct drain_request {
  INFERSTACK_NO_FIELDS(drain_request)
};

struct drain_done {
  std::string pod;
  uint32_t completed = 0;  ///< requests that finished while draining
  INFERSTACK_FIELDS(drain_done, pod, completed)
};

struct status_request {
  INFERSTACK_NO_FIELDS(status_request)
};

/// Freeze the pod as SIGSTOP freezes a process (a fault of `inferstack simulate`): it handles
/// nothing -- no steps, no tokens, no load reports, no new requests -- until unfrozen, then
/// carries on with everything that waited, its requests still there.
struct freeze_pod {
  bool frozen = true;  ///< false: unfreeze
  INFERSTACK_FIELDS(freeze_pod, frozen)
};

struct lora_change {
  std::string lora_name;
  std::string lora_path;
  bool load = true;  ///< false: unload
  INFERSTACK_FIELDS(lora_change, lora_name, lora_path, load)
};

struct lora_change_result {
  bool ok = false;
  std::string error;
  INFERSTACK_FIELDS(lora_change_result, ok, error)
};

/// Run-time configuration (llm-d-inference-sim's POST /admin/config): options by their flag
/// names with their values as text, applied in order to the pod's settings. Latencies take
/// effect for what the engine plans after it, failure injection for requests arriving after it.
struct apply_options {
  std::vector<std::string> keys;
  std::vector<std::string> values;  ///< one per key
  INFERSTACK_FIELDS(apply_options, keys, values)
};

/// What applying the options found wrong (nothing applied then); empty: all applied.
struct options_applied {
  std::vector<std::string> problems;
  INFERSTACK_FIELDS(options_applied, problems)
};

/// vLLM's sleep mode, as llm-d-inference-sim has it (/sleep, /wake_up): asleep, the pod's KV
/// cache is discarded (AllBlocksCleared) and holds no prefix until it wakes with the kv_cache
/// tag; requests are still served.
struct sleep_control {
  bool sleep = true;     ///< false: wake up
  bool kv_cache = true;  ///< on waking: the KV cache wakes too (no tags, or tags=kv_cache)
  INFERSTACK_FIELDS(sleep_control, sleep, kv_cache)
};

/// Pod failures (CAF error category "pod"); the context is the OpenAI error message.
enum class pod_errc : uint8_t {
  queue_full = 1,                 ///< 429
  context_length = 2,             ///< 400 context_length_exceeded
  model_not_found = 3,            ///< 404
  bad_request = 4,                ///< 400
  not_ready = 5,                  ///< 503: model still loading
  draining = 6,                   ///< 503: the pod is being removed
  injected_rate_limit = 10,       ///< failure injection: 429
  injected_invalid_api_key = 11,  ///< 401
  injected_context_length = 12,   ///< 400
  injected_server_error = 13,     ///< 503
  injected_invalid_request = 14,  ///< 400
  injected_model_not_found = 15,  ///< 404
  returned_error = 16,            ///< X-Return-Error: the status is in the context
  internal = 20,                  ///< 500
};

inline std::string to_string(pod_errc x) {
  switch (x) {
    case pod_errc::queue_full:
      return "queue_full";
    case pod_errc::context_length:
      return "context_length";
    case pod_errc::model_not_found:
      return "model_not_found";
    case pod_errc::bad_request:
      return "bad_request";
    case pod_errc::not_ready:
      return "not_ready";
    case pod_errc::draining:
      return "draining";
    case pod_errc::injected_rate_limit:
      return "injected_rate_limit";
    case pod_errc::injected_invalid_api_key:
      return "injected_invalid_api_key";
    case pod_errc::injected_context_length:
      return "injected_context_length";
    case pod_errc::injected_server_error:
      return "injected_server_error";
    case pod_errc::injected_invalid_request:
      return "injected_invalid_request";
    case pod_errc::injected_model_not_found:
      return "injected_model_not_found";
    case pod_errc::returned_error:
      return "returned_error";
    case pod_errc::internal:
      return "internal";
  }
  return "unknown";
}

using pod_actor = caf::typed_actor<
    caf::replies_to<generate_request>::with<generate_result>, caf::reacts_to<stream_ack>,
    caf::reacts_to<cancel_request>, caf::reacts_to<mark_ready>,
    caf::replies_to<drain_request>::with<drain_done>,
    caf::replies_to<status_request>::with<load_report>,
    caf::replies_to<lora_change>::with<lora_change_result>, caf::reacts_to<freeze_pod>,
    caf::replies_to<apply_options>::with<options_applied>, caf::reacts_to<sleep_control>>;

}  // namespace inferstack::actors::pod

CAF_ERROR_CODE_ENUM(inferstack::actors::pod::pod_errc, "pod")
