// Serialisation of responses, streaming chunks and model lists exactly as vLLM lays them out
// (field set, field order, nulls; see VLLM_WIRE_FORMAT.md beside this file for the source of
// each rule). Chunks are on the hot path: they are appended straight into strings, never built
// as nlohmann objects; the tests check each against the nlohmann-built equivalent.
//
// Every sse_* function returns one complete SSE frame "data: <json>\n\n".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "openai/api_error.hpp"
#include "openai/endpoint.hpp"

namespace inferstack::openai {

/// What every response and chunk of one request repeats. The caller supplies the id
/// ("chatcmpl-..." / "cmpl-...") and the creation time in unix seconds.
struct response_meta {
  std::string id;
  int64_t created = 0;
  std::string model;
  /// P/D: a prefill-only request's kv_transfer_params for the decoder, a JSON object's text
  /// (non-streamed bodies); empty renders null.
  std::string kv_transfer_params;
};

struct choice_result {
  int index = 0;
  std::string text;
  std::string finish_reason;  ///< "stop", "length", ...; empty renders as null
  /// The request asked for logprobs: each token of `text` gets synthetic ones (logprobs.hpp)
  /// with this many alternatives; nullopt renders "logprobs":null.
  std::optional<int> logprobs;
  /// Chat: the message's tool calls as a JSON array (openai::tool_calls_json); when set the
  /// message's content is null, as vLLM answers a tool call.
  std::string tool_calls_json;
};

struct usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  /// prompt_tokens_details.cached_tokens. vLLM only reports it with
  /// --enable-prompt-tokens-details; we report it by default. nullopt leaves the details out
  /// (null in non-streamed bodies, absent from usage chunks), as vLLM does without the flag.
  std::optional<int64_t> cached_tokens = 0;

  int64_t total_tokens() const { return prompt_tokens + completion_tokens; }
  friend bool operator==(const usage&, const usage&) = default;
};

/// Non-streamed POST /v1/chat/completions body (object "chat.completion").
std::string chat_response_json(const response_meta& meta, const std::vector<choice_result>& choices,
                               const usage& use);

/// Non-streamed POST /v1/completions body (object "text_completion").
std::string completion_response_json(const response_meta& meta,
                                     const std::vector<choice_result>& choices, const usage& use);

// --- streaming -----------------------------------------------------------------------------
// `continuous` is the running usage to attach when the request asked for
// stream_options.continuous_usage_stats (vLLM adds it to every chunk then).

/// First chunk of each chat choice: delta {"role":"assistant","content":""}.
std::string sse_chat_role_chunk(const response_meta& meta, int index,
                                const std::optional<usage>& continuous = std::nullopt);

/// A chat content chunk: delta {"content": text}, finish_reason null.
std::string sse_chat_content_chunk(const response_meta& meta, int index, std::string_view text,
                                   const std::optional<usage>& continuous = std::nullopt);

/// The last chunk of a chat choice. vLLM sends the final token's text together with the finish
/// reason (delta {"content": text}, "finish_reason", "stop_reason": null); pass that text here,
/// or leave it empty for a delta of {"content":""}.
std::string sse_chat_finish_chunk(const response_meta& meta, int index,
                                  std::string_view finish_reason, std::string_view text = {},
                                  const std::optional<usage>& continuous = std::nullopt);

/// The stream_options.include_usage chunk: "choices":[] and the usage of the whole request.
std::string sse_usage_chunk(const response_meta& meta, endpoint kind, const usage& use);

/// A text-completion chunk (object "text_completion"); finish_reason nullopt renders null.
std::string sse_completion_chunk(const response_meta& meta, int index, std::string_view text,
                                 std::optional<std::string_view> finish_reason = std::nullopt,
                                 const std::optional<usage>& continuous = std::nullopt);

/// A terminal in-stream error: data: {"error":{...}}. vLLM follows it with data: [DONE].
std::string sse_error_event(const api_error& err, error_style style = error_style::openai);

/// data: [DONE]
std::string sse_done();

/// How a stream lays out its token chunks beyond the fixed frames.
struct stream_style {
  /// llm-d-inference-sim sends a choice's last text in a content chunk of its own and the
  /// finish reason in a chunk with no text after it; vLLM sends both in one chunk.
  bool finish_apart = false;
  /// Synthetic logprobs per token of each content chunk, with this many alternatives
  /// (logprobs.hpp); nullopt: "logprobs":null.
  std::optional<int> logprobs;
};

/// Builds the chunks of one stream into caller buffers, with the constant head of every chunk
/// ("data: {\"id\":...,\"object\":...,\"created\":...,\"model\":...,\"choices\":[") escaped
/// once. Appends only; several chunks may go into one buffer for one socket write.
class stream_encoder {
 public:
  stream_encoder(endpoint kind, const response_meta& meta, stream_style style = {});

  /// A token chunk of choice `index` as the style lays it out: chat content (or, with a finish
  /// reason, the last chunk), or a completion chunk. `position` is the index in its choice of
  /// the chunk's first token (for logprobs). The chat role chunk is the caller's.
  void append_tokens(std::string& out, int index, std::string_view text,
                     std::string_view finish_reason, size_t position) const;

  endpoint kind() const { return kind_; }

  void append_role(std::string& out, int index,
                   const std::optional<usage>& continuous = std::nullopt) const;
  void append_content(std::string& out, int index, std::string_view text,
                      const std::optional<usage>& continuous = std::nullopt) const;
  void append_finish(std::string& out, int index, std::string_view finish_reason,
                     std::string_view text = {},
                     const std::optional<usage>& continuous = std::nullopt) const;
  void append_completion(std::string& out, int index, std::string_view text,
                         std::optional<std::string_view> finish_reason = std::nullopt,
                         const std::optional<usage>& continuous = std::nullopt) const;
  void append_usage(std::string& out, const usage& use) const;
  /// A chat chunk with one tool-call delta: {"tool_calls":[{"index","id","type":"function",
  /// "function":{"name"?,"arguments"}}]}. The name goes with a call's first delta only; id and
  /// type with every one, as llm-d-inference-sim sends them (vLLM sends them with the first;
  /// clients merge deltas by index either way). A non-empty finish_reason ends the choice.
  void append_tool_call(std::string& out, int index, int call_index, std::string_view id,
                        std::string_view name, std::string_view arguments,
                        std::string_view finish_reason = {}) const;

 private:
  endpoint kind_;
  stream_style style_;
  std::string head_;
};

// --- GET /v1/models --------------------------------------------------------------------------

struct model_card {
  std::string id;
  int64_t created = 0;
  std::string owned_by = "vllm";
  std::optional<std::string> root;    ///< null when absent
  std::optional<std::string> parent;  ///< null when absent (LoRA cards name their base model)
  std::optional<int64_t> max_model_len;
  /// vLLM also lists a "permission" array with one ModelPermission ("modelperm-<uuid>"); the sim
  /// does not. Set an id to emit vLLM's entry.
  std::optional<std::string> permission_id;
};

/// {"object":"list","data":[{"id","object":"model","created","owned_by","root","parent",
/// "max_model_len"(, "permission")}, ...]}
std::string models_list_json(const std::vector<model_card>& models);

/// One card, as GET /v1/models/{id} answers it (the list's entry on its own).
std::string model_card_json(const model_card& model);

}  // namespace inferstack::openai
