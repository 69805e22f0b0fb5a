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
#include <vector>

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

/// A tool call answered as Anthropic's tool_use block.
struct messages_tool_use {
  std::string id;  ///< Anthropic's toolu_ prefix
  std::string name;
  std::string arguments;  ///< JSON text: the block's `input`
};

/// The tool calls of a chat answer (OpenAI's tool_calls JSON, [{"id","type","function":
/// {"name","arguments"}}]) as tool_use blocks, their ids given Anthropic's toolu_ prefix (as the
/// simulator names them on this API). Malformed text: none.
std::vector<messages_tool_use> messages_tool_uses(std::string_view tool_calls_json);

/// What every rendering of one answer repeats.
struct messages_meta {
  std::string id;  ///< "msg_<request id>"
  std::string model;
};

/// The non-streamed answer: {"id","type":"message","role":"assistant","content":[{"type":
/// "text","text"}],"model","stop_reason","stop_sequence":null,"usage":{...}}; with tool calls,
/// the content is their tool_use blocks ({"type":"tool_use","id","name","input"}) instead.
std::string messages_response_json(const messages_meta& meta, std::string_view text,
                                   std::string_view finish_reason, int64_t input_tokens,
                                   int64_t output_tokens,
                                   const std::vector<messages_tool_use>& tools = {});

/// One streamed answer's SSE events ("event: <name>\ndata: <json>\n\n"), in Anthropic's order.
class messages_stream {
 public:
  explicit messages_stream(messages_meta meta) : meta_(std::move(meta)) {}

  /// The answer is these tool calls (before append_start): each becomes a tool_use block, and
  /// the text that streams is their arguments, one after the other.
  void use_tools(std::vector<messages_tool_use> tools) { tools_ = std::move(tools); }
  /// message_start (input tokens known, nothing generated), then content_block_start of the
  /// text block and ping, or (tool calls) ping alone -- once, before the first text.
  void append_start(std::string& out, int64_t input_tokens);
  /// content_block_delta with a text_delta (nothing for empty text); with tool calls, the text
  /// cut at each call's end into input_json_delta events, each call's block opened (and the
  /// previous one closed) at its first character.
  void append_text(std::string& out, std::string_view text);
  /// content_block_stop of the last block, message_delta (stop_reason, output tokens),
  /// message_stop.
  void append_finish(std::string& out, std::string_view finish_reason, int64_t input_tokens,
                     int64_t output_tokens);
  bool started() const { return started_; }

 private:
  messages_meta meta_;
  bool started_ = false;
  std::vector<messages_tool_use> tools_;
  size_t tool_ = 0;    ///< the call whose arguments stream now
  size_t offset_ = 0;  ///< of its arguments, streamed so far
  size_t blocks_ = 0;  ///< tool_use blocks opened
};

/// Anthropic's error body: {"type":"error","error":{"type":<anthropic type>,"message"}}; the
/// type from the status (400 invalid_request_error, 401 authentication_error, 403
/// permission_error, 404 not_found_error, 413 request_too_large, 429 rate_limit_error, 503 and
/// 529 overloaded_error, other 5xx api_error).
std::string messages_error_json(const api_error& err);

/// The same error as a streamed `event: error`.
std::string messages_error_event(const api_error& err);

}  // namespace inferstack::openai
