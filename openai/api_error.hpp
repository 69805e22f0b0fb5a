// OpenAI-style error values and their JSON bodies. An api_error carries the OpenAI view of a
// failure (string `type` and `code`); error_json() renders it either the way OpenAI does or the
// way vLLM and llm-d-inference-sim do (`type` from the status, `code` the integer status).
// See VLLM_WIRE_FORMAT.md beside this file for the sources.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace inferstack::openai {

struct api_error {
  int status = 400;                  ///< HTTP status
  std::string message;               ///< human-readable text
  std::string type;                  ///< OpenAI type, e.g. "invalid_request_error"
  std::optional<std::string> param;  ///< offending request field, null when none
  std::string code;                  ///< OpenAI code, e.g. "model_not_found"; empty renders as null

  friend bool operator==(const api_error&, const api_error&) = default;
};

enum class error_style {
  /// {"error":{"message","type":"invalid_request_error","param","code":"model_not_found"|null}}
  openai,
  /// llm-d-inference-sim and newer vLLM: {"error":{"message","type":"NotFoundError",
  /// "param","code":404}}, the type derived from the status (sim_error_type()).
  sim,
};

/// `{"error":{"message":...,"type":...,"param":...|null,"code":...}}` (compact, no newline).
std::string error_json(const api_error& err, error_style style = error_style::openai);

/// The `type` llm-d-inference-sim (and vLLM) report for an HTTP status: 400 BadRequestError,
/// 401 AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError, 422
/// UnprocessableEntityError, 429 RateLimitError, >= 500 InternalServerError, else
/// APIConnectionError.
std::string_view sim_error_type(int status);

// --- the standard errors -------------------------------------------------------------------

/// 400 invalid_request_error, code null.
api_error bad_request(std::string message, std::optional<std::string> param = std::nullopt);

/// 400 "Missing required parameter: '<param>'.", code missing_required_parameter (OpenAI's).
api_error missing_parameter(std::string param);

/// 400 "Invalid type for '<param>': expected <expected>, but got <got> instead.", code
/// invalid_type (OpenAI's wording, e.g. expected "a string", got "an integer").
api_error invalid_type(std::string param, std::string_view expected, std::string_view got);

/// 400 "Invalid type for the request body: expected an object, but got <got> instead.".
api_error invalid_body_type(std::string_view got);

/// 404 ``The model `<m>` does not exist.``, param "model", code "model_not_found" (vLLM's text).
api_error model_not_found(std::string_view model);

/// 400, vLLM's (0.10-era) text: "This model's maximum context length is M tokens. However, you
/// requested P+C tokens (P in the messages, C in the completion). Please reduce the length of
/// the messages or completion."; param "messages", code "context_length_exceeded" as OpenAI
/// sends (vLLM itself sends type BadRequestError, code 400, param null).
api_error context_length_exceeded(int64_t max_model_len, int64_t prompt_tokens,
                                  int64_t completion_tokens);

/// 429 "Failed to enqueue request, waiting requests queue is full" (the sim's text),
/// type rate_limit_error, code rate_limit_exceeded.
api_error queue_full();

/// 401 "Incorrect API key provided.", invalid_request_error, code invalid_api_key (OpenAI).
api_error invalid_api_key();

/// 503 service_unavailable_error / service_unavailable, e.g. no ready pod in the pool.
api_error service_unavailable(std::string message);

/// 500 server_error / internal_error.
api_error internal_error(std::string message);

/// An error for any status, with the type and code the project answers it with: 400
/// bad_request, 401 authentication_error/invalid_api_key, 404 not_found, 405
/// method_not_allowed, 413 request_too_large, 429 rate_limit_error/rate_limit_exceeded, 431
/// request_header_fields_too_large, 503 service_unavailable_error, other 5xx server_error.
api_error error_for_status(int status, std::string message);

/// error_json(error_for_status(status, message)): the body of the errors the HTTP servers answer
/// themselves (http::server_settings::error_body) and of the admin listeners' refusals.
std::string error_body(int status, const std::string& message);

// --- llm-d-inference-sim failure injection (failure-types) ---------------------------------

enum class injected_failure {
  rate_limit,       ///< 429 "Rate limit reached for <model> in organization org-xxx on ..."
  invalid_api_key,  ///< 401 "Incorrect API key provided."
  context_length,   ///< 400 "...maximum context length is 4096 tokens...", param messages
  server_error,     ///< 503 "The server is overloaded or not ready yet."
  invalid_request,  ///< 400 "Invalid request: missing required parameter 'model'.", param model
  model_not_found,  ///< 404 "The model '<model>-nonexistent' does not exist", param model
};

/// The sim's failure-type names: "rate_limit", "invalid_api_key", "context_length",
/// "server_error", "invalid_request", "model_not_found".
std::string_view to_string(injected_failure f);
std::optional<injected_failure> parse_injected_failure(std::string_view name);

/// The error the sim injects for `f` (texts from llm-d-inference-sim failures.go); `model` fills
/// the rate-limit and model-not-found texts.
api_error injected_failure_error(injected_failure f, std::string_view model);

}  // namespace inferstack::openai
