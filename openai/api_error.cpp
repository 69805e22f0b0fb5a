#include "openai/api_error.hpp"

#include <array>
#include <utility>

#include "runtime/json_escape.hpp"

namespace inferstack::openai {

using runtime::append_json_int;
using runtime::append_json_string;

namespace {

api_error make(int status, std::string message, std::string type, std::optional<std::string> param,
               std::string code) {
  return api_error{status, std::move(message), std::move(type), std::move(param), std::move(code)};
}

}  // namespace

std::string_view sim_error_type(int status) {
  switch (status) {
    case 400:
      return "BadRequestError";
    case 401:
      return "AuthenticationError";
    case 403:
      return "PermissionDeniedError";
    case 404:
      return "NotFoundError";
    case 422:
      return "UnprocessableEntityError";
    case 429:
      return "RateLimitError";
    default:
      return status >= 500 ? "InternalServerError" : "APIConnectionError";
  }
}

std::string error_json(const api_error& err, error_style style) {
  std::string out;
  out.reserve(64 + err.message.size());
  out += R"({"error":{"message":)";
  append_json_string(out, err.message);
  out += R"(,"type":)";
  if (style == error_style::sim) {
    append_json_string(out, sim_error_type(err.status));
  } else {
    append_json_string(out, err.type);
  }
  out += R"(,"param":)";
  if (err.param) {
    append_json_string(out, *err.param);
  } else {
    out += "null";
  }
  out += R"(,"code":)";
  if (style == error_style::sim) {
    append_json_int(out, err.status);
  } else if (err.code.empty()) {
    out += "null";
  } else {
    append_json_string(out, err.code);
  }
  out += "}}";
  return out;
}

api_error bad_request(std::string message, std::optional<std::string> param) {
  return make(400, std::move(message), "invalid_request_error", std::move(param), "");
}

api_error missing_parameter(std::string param) {
  std::string m = "Missing required parameter: '" + param + "'.";
  return make(400, std::move(m), "invalid_request_error", std::move(param),
              "missing_required_parameter");
}

api_error invalid_type(std::string param, std::string_view expected, std::string_view got) {
  std::string m = "Invalid type for '" + param + "': expected ";
  m += expected;
  m += ", but got ";
  m += got;
  m += " instead.";
  return make(400, std::move(m), "invalid_request_error", std::move(param), "invalid_type");
}

api_error invalid_body_type(std::string_view got) {
  std::string m = "Invalid type for the request body: expected an object, but got ";
  m += got;
  m += " instead.";
  return make(400, std::move(m), "invalid_request_error", std::nullopt, "invalid_type");
}

api_error model_not_found(std::string_view model) {
  std::string message = "The model `";
  message += model;
  message += "` does not exist.";
  return make(404, std::move(message), "invalid_request_error", "model", "model_not_found");
}

api_error context_length_exceeded(int64_t max_model_len, int64_t prompt_tokens,
                                  int64_t completion_tokens) {
  std::string m = "This model's maximum context length is ";
  m += std::to_string(max_model_len);
  m += " tokens. However, you requested ";
  m += std::to_string(prompt_tokens + completion_tokens);
  m += " tokens (";
  m += std::to_string(prompt_tokens);
  m += " in the messages, ";
  m += std::to_string(completion_tokens);
  m += " in the completion). Please reduce the length of the messages or completion.";
  return make(400, std::move(m), "invalid_request_error", "messages", "context_length_exceeded");
}

api_error queue_full() {
  return make(429, "Failed to enqueue request, waiting requests queue is full", "rate_limit_error",
              std::nullopt, "rate_limit_exceeded");
}

api_error invalid_api_key() {
  return make(401, "Incorrect API key provided.", "invalid_request_error", std::nullopt,
              "invalid_api_key");
}

api_error service_unavailable(std::string message) {
  return make(503, std::move(message), "service_unavailable_error", std::nullopt,
              "service_unavailable");
}

api_error internal_error(std::string message) {
  return make(500, std::move(message), "server_error", std::nullopt, "internal_error");
}

api_error error_for_status(int status, std::string message) {
  // The one table of the type and code each status is answered with.
  struct status_error {
    int status;
    std::string_view type;
    std::string_view code;
  };
  static constexpr status_error table[] = {
      {400, "invalid_request_error", "bad_request"},
      {401, "authentication_error", "invalid_api_key"},
      {404, "invalid_request_error", "not_found"},
      {405, "invalid_request_error", "method_not_allowed"},
      {413, "invalid_request_error", "request_too_large"},
      {429, "rate_limit_error", "rate_limit_exceeded"},
      {431, "invalid_request_error", "request_header_fields_too_large"},
      {503, "service_unavailable_error", "service_unavailable"},
  };
  for (const auto& row : table) {
    if (row.status == status)
      return make(status, std::move(message), std::string(row.type), std::nullopt,
                  std::string(row.code));
  }
  if (status >= 500)
    return make(status, std::move(message), "server_error", std::nullopt, "internal_error");
  return make(status, std::move(message), "invalid_request_error", std::nullopt, "invalid_request");
}

std::string error_body(int status, const std::string& message) {
  return error_json(error_for_status(status, message));
}

namespace {

constexpr std::array<std::pair<injected_failure, std::string_view>, 6> failure_names{{
    {injected_failure::rate_limit, "rate_limit"},
    {injected_failure::invalid_api_key, "invalid_api_key"},
    {injected_failure::context_length, "context_length"},
    {injected_failure::server_error, "server_error"},
    {injected_failure::invalid_request, "invalid_request"},
    {injected_failure::model_not_found, "model_not_found"},
}};

}  // namespace

std::string_view to_string(injected_failure f) {
  for (const auto& [value, name] : failure_names) {
    if (value == f) return name;
  }
  return "unknown";
}

std::optional<injected_failure> parse_injected_failure(std::string_view name) {
  for (const auto& [value, known] : failure_names) {
    if (known == name) return value;
  }
  return std::nullopt;
}

api_error injected_failure_error(injected_failure f, std::string_view model) {
  switch (f) {
    case injected_failure::rate_limit: {
      std::string m = "Rate limit reached for ";
      m += model;
      m += " in organization org-xxx on requests per min (RPM): Limit 3, Used 3, Requested 1.";
      return make(429, std::move(m), "rate_limit_error", std::nullopt, "rate_limit_exceeded");
    }
    case injected_failure::invalid_api_key:
      return invalid_api_key();
    case injected_failure::context_length:
      return make(400,
                  "This model's maximum context length is 4096 tokens. However, your messages "
                  "resulted in 4500 tokens.",
                  "invalid_request_error", "messages", "context_length_exceeded");
    case injected_failure::server_error:
      return service_unavailable("The server is overloaded or not ready yet.");
    case injected_failure::invalid_request:
      return make(400, "Invalid request: missing required parameter 'model'.",
                  "invalid_request_error", "model", "");
    case injected_failure::model_not_found: {
      std::string m = "The model '";
      m += model;
      m += "-nonexistent' does not exist";
      return make(404, std::move(m), "invalid_request_error", "model", "model_not_found");
    }
  }
  return internal_error("unknown injected failure");
}

}  // namespace inferstack::openai
