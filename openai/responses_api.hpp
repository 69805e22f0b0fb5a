// OpenAI's Responses API (POST /v1/responses) over the chat request the pods already serve:
// the body is read into a completion_request (input items become chat messages,
// max_output_tokens the max tokens), and the pod's text comes back as a response object or as
// the Responses stream's named events. Shapes follow OpenAI's and llm-d-inference-sim's (its
// texts for refused bodies, its logprob values, its echo of the last input item).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "openai/api_error.hpp"
#include "openai/request.hpp"
#include "openai/response.hpp"
#include "openai/tool_calls.hpp"

namespace inferstack::openai {

/// The `include` entry that asks for per-token logprobs of the output text.
inline constexpr std::string_view responses_logprobs_include = "message.output_text.logprobs";

/// A function the model called earlier, as an input item echoes it back.
struct responses_function_call {
  std::string call_id;
  std::string name;
  std::string arguments;
};

struct responses_request {
  /// kind endpoint::responses; one message per input item (function_call items as assistant
  /// turns "name(arguments)", function_call_output items as tool turns), max_completion_tokens
  /// from max_output_tokens. Its `tools` follow the simulator's Responses rules: one call
  /// (unless parallel_tool_calls says otherwise), "auto" or no tool_choice made "required" (a
  /// deterministic first tool turn), and no call once a function_call_output is in the input.
  completion_request chat;
  std::optional<std::string> instructions;  ///< absent when not given or empty
  /// Set when `include` holds message.output_text.logprobs: how many alternatives per token.
  std::optional<int> top_logprobs;
  /// What echo mode answers: the last input item's text as the simulator renders it (a
  /// message's parts joined by "\n", images as "image: <url>", audio as "audio: <format>"; a
  /// function_call_output's output; a function_call as "name(arguments)").
  std::string echo_text;
  bool has_function_call_output = false;
  std::vector<responses_function_call> function_calls;
  /// text.format as sent (chat.format holds it read), the response repeats it; null: text.
  nlohmann::json text_format;
};

/// Parses and validates a Responses body. Bodies the simulator cannot read are refused with its
/// text ("Failed to read and parse request body, <why>"), e.g. an unsupported content part
/// (`unsupported input content type "input_video"`); other 400s name the field in `param`.
std::variant<responses_request, api_error> parse_responses(std::string_view body);

/// One function call the response answers with (an output item of type function_call).
struct responses_call_output {
  std::string id;       ///< "fc_..."
  std::string call_id;  ///< "call_..."
  std::string name;
  std::string arguments;
};

/// A call the pod made (openai::generated_call, id "<prefix>-<digits>") as a Responses output
/// item: id "fc_<digits>", call_id "call_<digits>".
responses_call_output responses_call_of(const generated_call& call);

/// What every rendering of one response repeats.
struct responses_meta {
  std::string id;       ///< "resp_<request id>"
  std::string item_id;  ///< the message output item's id, "msg_<request id>"
  int64_t created_at = 0;
  std::string model;
  std::optional<std::string> instructions;
  std::optional<int64_t> max_output_tokens;
  std::optional<int> top_logprobs;  ///< logprobs asked for (see responses_request)
  nlohmann::json text_format;       ///< the response's text.format; null: {"type":"text"}
  bool parallel_tool_calls = true;
};

/// The logprob entries of `text`'s tokens (the simulator's values: -1 - 0.1 * (position % 3),
/// alternatives "<token>_<j>" each 0.5 lower), positions counted from `first_position`.
nlohmann::ordered_json responses_logprobs(std::string_view text, size_t first_position,
                                          int top_logprobs);

/// The non-streamed response object: a message with one output_text part, or (when `calls`
/// is not empty) the function_call items instead.
std::string responses_json(const responses_meta& meta, std::string_view text, const usage& use,
                           const std::vector<responses_call_output>& calls = {});

/// The Responses stream of one request, event by event ("event: <type>\ndata: <json>\n\n",
/// each with its sequence_number). Keeps the text and logprobs sent so far for the final events.
class responses_stream {
 public:
  explicit responses_stream(responses_meta meta) : meta_(std::move(meta)) {}

  const responses_meta& meta() const { return meta_; }

  /// response.created and response.in_progress (once).
  void append_start(std::string& out);
  /// The pod answers with these calls: the text that follows is their arguments, one after the
  /// other (as the pod streams them), and goes out as function_call events.
  void expect_calls(std::vector<responses_call_output> calls);
  /// Text of the answer: with calls expected, their arguments (each call's output_item.added,
  /// function_call_arguments.delta, and .done with output_item.done at its end); else the
  /// message's output_item.added and content_part.added (once), then an output_text.delta.
  void append_text(std::string& out, std::string_view text);
  /// A whole function call: output_item.added, function_call_arguments.delta and .done,
  /// output_item.done.
  void append_call(std::string& out, const responses_call_output& call);
  /// The done events of a call cut short, or of the message (when it began, or when nothing
  /// else was said), then response.completed with `use`.
  void append_finish(std::string& out, const usage& use);
  /// The stream broke off: an `error` event (code, message, param), as OpenAI ends a stream
  /// that failed; no response.completed follows.
  void append_error(std::string& out, const api_error& err);

 private:
  void event(std::string& out, std::string_view type, nlohmann::ordered_json body);
  void open_message(std::string& out);
  void open_call(std::string& out);
  void call_text(std::string& out, std::string_view text);
  void close_call(std::string& out);

  responses_meta meta_;
  int64_t sequence_ = 0;
  bool started_ = false;
  bool message_open_ = false;
  std::string text_;
  size_t tokens_ = 0;
  nlohmann::ordered_json logprobs_ = nlohmann::ordered_json::array();
  std::vector<responses_call_output> calls_;    ///< calls done
  std::vector<responses_call_output> pending_;  ///< calls expected, not done; the first is open
  bool call_open_ = false;
  std::string arguments_;  ///< of the open call, so far
};

}  // namespace inferstack::openai
