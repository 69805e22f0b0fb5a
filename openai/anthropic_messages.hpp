// Anthropic's Messages API (POST /v1/messages), as llm-d-inference-sim and vLLM serve it: the
// request is read into the OpenAI chat body it stands for (system prompt first, text and image
// blocks as content parts, tool_use blocks as tool_calls, tool_result blocks as "tool"
// messages, tools and tool_choice in OpenAI's shape) and generated as a chat request; the answer
// is rendered in Anthropic's shapes -- the message object, its streamed events (message_start,
// content_block_start, ping, content_block_delta, content_block_stop, message_delta,
// message_stop) and its error body.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "openai/api_error.hpp"

namespace inferstack::openai {

/// The OpenAI chat-completions body a Messages request stands for, or the simulator's 400:
/// a body that is not a Messages object, an image block without `source`, a tool_choice of
/// type "tool" without a name, no messages, no max_tokens. The chat body is then validated as
/// any chat request (model, roles, max_tokens >= 1, ...).
std::variant<nlohmann::json, api_error> messages_to_chat(std::string_view body);

/// Anthropic's stop_reason for an OpenAI finish reason: length -> max_tokens, tool_calls ->
/// tool_use, anything else end_turn.
std::string_view messages_stop_reason(std::string_view finish_reason);

/// What every rendering of one answer repeats.
struct messages_meta {
  std::string id;  ///< "msg_<request id>"
  std::string model;
};

/// The non-streamed answer: {"id","type":"message","role":"assistant","content":[{"type":
/// "text","text"}],"model","stop_reason","stop_sequence":null,"usage":{...}}.
std::string messages_response_json(const messages_meta& meta, std::string_view text,
                                   std::string_view finish_reason, int64_t input_tokens,
                                   int64_t output_tokens);

/// One streamed answer's SSE events ("event: <name>\ndata: <json>\n\n"), in Anthropic's order.
class messages_stream {
 public:
  explicit messages_stream(messages_meta meta) : meta_(std::move(meta)) {}

  /// message_start (input tokens known, nothing generated), content_block_start of the text
  /// block, ping -- once, before the first text.
  void append_start(std::string& out, int64_t input_tokens);
  /// content_block_delta with a text_delta (nothing for empty text).
  void append_text(std::string& out, std::string_view text);
  /// content_block_stop, message_delta (stop_reason, output tokens), message_stop.
  void append_finish(std::string& out, std::string_view finish_reason, int64_t input_tokens,
                     int64_t output_tokens);
  bool started() const { return started_; }

 private:
  messages_meta meta_;
  bool started_ = false;
};

/// Anthropic's error body: {"type":"error","error":{"type":<anthropic type>,"message"}}; the
/// type from the status (400 invalid_request_error, 401 authentication_error, 403
/// permission_error, 404 not_found_error, 413 request_too_large, 429 rate_limit_error, 503 and
/// 529 overloaded_error, other 5xx api_error).
std::string messages_error_json(const api_error& err);

/// The same error as a streamed `event: error`.
std::string messages_error_event(const api_error& err);

}  // namespace inferstack::openai
