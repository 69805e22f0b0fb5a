// Parsing of OpenAI chat-completions and completions request bodies into typed structs, with
// the validation vLLM and llm-d-inference-sim apply (messages and params listed in
// VLLM_WIRE_FORMAT.md). The body is parsed once; the parsed object is kept in `raw` so the
// gateway can pass the request on without re-reading it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "openai/api_error.hpp"
#include "openai/endpoint.hpp"
#include "openai/tool_calls.hpp"

namespace inferstack::openai {

/// One entry of an assistant message's `tool_calls` (strings left empty when absent).
struct tool_call {
  std::string id;
  std::string name;       ///< function.name
  std::string arguments;  ///< function.arguments (a JSON text, as sent)
};

struct chat_message {
  std::string role;
  /// The text of the message: a string content as is, or the text parts of an array content
  /// joined with "\n" (what vLLM does for string-format chat templates). Empty when null.
  std::string content;
  /// Non-text content parts (image_url, input_audio, video_url, audio_url, image_embeds, file):
  /// accepted, not part of `content`, counted here.
  size_t media_parts = 0;
  /// llm-d-inference-sim's plain text of an array content holding images: the text parts and
  /// "image: <url>" lines in order, joined with "\n" (what its echo mode answers); else unset.
  std::optional<std::string> plain_text;
  std::optional<std::string> name;
  std::optional<std::string> tool_call_id;
  std::vector<tool_call> tool_calls;
};

using token_ids = std::vector<uint32_t>;

/// A completions prompt: a string, strings, one token array, or token arrays. Chat requests
/// leave it std::monostate.
using prompt_input = std::variant<std::monostate, std::string, std::vector<std::string>, token_ids,
                                  std::vector<token_ids>>;

/// Number of prompts in `p` (each string / token array is one sub-request, as in vLLM).
size_t prompt_count(const prompt_input& p);

/// vLLM's default `max_tokens` for /v1/completions when the request gives none (chat has no
/// default: it generates up to the context length). Not applied by parse_request.
inline constexpr int64_t vllm_completions_default_max_tokens = 16;

/// vLLM's default max_logprobs: the most top_logprobs (chat) or logprobs (completions) a
/// request may ask for.
inline constexpr int64_t max_logprobs = 20;

struct completion_request {
  endpoint kind = endpoint::chat_completions;
  std::string model;
  std::vector<chat_message> messages;  ///< chat only
  prompt_input prompt;                 ///< completions only
  bool stream = false;
  /// stream_options.include_usage, as vLLM reads it: when streaming, true if stream_options is
  /// an object whose include_usage is absent (vLLM's default) or true.
  bool include_usage = false;
  /// stream_options.continuous_usage_stats, only when include_usage holds (as in vLLM).
  bool continuous_usage_stats = false;
  std::optional<int64_t> max_tokens;
  std::optional<int64_t> max_completion_tokens;  ///< chat only (ignored on completions)
  bool ignore_eos = false;
  /// kv_transfer_params (vLLM's disaggregated prefill/decode): the prompt's KV comes from a
  /// prefill pod (do_remote_prefill), or this pod only prefills (do_remote_decode).
  bool remote_prefill = false;
  bool remote_decode = false;
  int n = 1;
  std::optional<int64_t> seed;
  std::optional<double> temperature;  ///< accepted, unused by the simulator
  std::optional<double> top_p;        ///< accepted, unused by the simulator
  bool echo = false;
  /// Chat's `logprobs` (completions ask with `logprobs` = top_logprobs alone).
  bool logprobs = false;
  /// Chat's `top_logprobs`, completions' `logprobs`: alternatives per token.
  std::optional<int64_t> top_logprobs;
  std::optional<std::string> user;
  /// llm-d-inference-sim's cache_hit_threshold (a number; the pod reads its range).
  std::optional<double> cache_hit_threshold;
  /// Chat only: `tools` and `tool_choice` (openai/tool_calls.hpp), and `response_format`.
  tools_request tools;
  response_format format;
  /// The whole request object as parsed, unknown fields included.
  nlohmann::json raw;

  /// max_completion_tokens if set, else max_tokens (vLLM's and the sim's rule).
  std::optional<int64_t> effective_max_tokens() const {
    return max_completion_tokens ? max_completion_tokens : max_tokens;
  }
};

class parse_result {
 public:
  parse_result(completion_request req) : value_(std::move(req)) {}
  parse_result(api_error err) : value_(std::move(err)) {}

  bool ok() const noexcept { return value_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  completion_request& request() & { return std::get<0>(value_); }
  const completion_request& request() const& { return std::get<0>(value_); }
  completion_request&& request() && { return std::get<0>(std::move(value_)); }
  const api_error& error() const { return std::get<1>(value_); }

 private:
  std::variant<completion_request, api_error> value_;
};

/// What a chat content part's "type" names: text (text, input_text, output_text), a refusal,
/// media (images, audio, video, files: no text), or a type vLLM refuses.
enum class part_kind { text, refusal, media, unknown };
part_kind classify_part(std::string_view type);

/// Whose request rules apply where vLLM and llm-d-inference-sim differ.
struct parse_rules {
  /// llm-d-inference-sim's: stream_options without stream is accepted (and ignored), and the
  /// completions prompt errors have its texts.
  bool simulator = false;
};

/// A JSON value's type as OpenAI's "expected X, but got Y instead" messages word it ("null",
/// "a boolean", "an integer", "a decimal", "a string", "an array", "an object").
std::string_view type_phrase(const nlohmann::json& v);

/// `obj`'s member `key`, with null taken as absent (pydantic's Optional[...] = default), as
/// OpenAI's readers take it; null when absent or when `obj` is not an object.
const nlohmann::json* find_field(const nlohmann::json& obj, const char* key);

/// Parses and validates a request body for `kind`. Errors are 400s whose message and `param`
/// name the offending field; unknown fields are accepted (OpenAI SDKs send many).
parse_result parse_request(endpoint kind, std::string_view body, parse_rules rules = {});

/// Validates an already parsed body (takes ownership: it becomes `raw`).
parse_result validate_request(endpoint kind, nlohmann::json body, parse_rules rules = {});

/// The 400 for a body that is not JSON: "We could not parse the JSON body of your request.
/// (<parser detail>)", param null.
api_error invalid_json_error(std::string_view detail);

}  // namespace inferstack::openai
