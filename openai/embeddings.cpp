// POST /v1/embeddings; see embeddings.hpp.
#include "openai/embeddings.hpp"

#include <cstring>
#include <optional>

#include <nlohmann/json.hpp>

#include "openai/api_error.hpp"
#include "runtime/base64.hpp"
#include "runtime/tokenizer.hpp"

namespace inferstack::openai {

namespace {

using json = nlohmann::json;

embeddings_answer bad_request_answer(std::string message) {
  auto err = bad_request(std::move(message));
  return {err.status, error_json(err)};
}

/// The simulator's reply to a body that is not the JSON it expects.
embeddings_answer unreadable_body(const std::string& detail) {
  return bad_request_answer("Failed to read and parse request body, " + detail);
}

/// `input` as the simulator reads it: texts, or token-id sequences; neither when the shape is
/// not one of OpenAI's four (the caller then answers "input is required").
struct embedding_input {
  std::vector<std::string> texts;
  std::vector<std::vector<uint32_t>> tokens;
};

std::optional<std::vector<uint32_t>> token_ids_of(const json& arr) {
  std::vector<uint32_t> out;
  for (const auto& v : arr) {
    if (!v.is_number()) return std::nullopt;
    // Negative ids count as 0, as in the simulator; fractions are cut as Go's int64() cuts.
    auto id = static_cast<int64_t>(v.get<double>());
    out.push_back(static_cast<uint32_t>(id < 0 ? 0 : id));
  }
  return out;
}

embedding_input read_embedding_input(const json& input) {
  embedding_input in;
  if (input.is_string()) {
    in.texts.push_back(input.get<std::string>());
    return in;
  }
  if (!input.is_array() || input.empty()) return in;
  const auto& first = input.front();
  if (first.is_string()) {
    for (const auto& v : input) {
      if (!v.is_string()) return {};
      in.texts.push_back(v.get<std::string>());
    }
  } else if (first.is_number()) {
    auto ids = token_ids_of(input);
    if (ids) in.tokens.push_back(std::move(*ids));
  } else if (first.is_array()) {
    for (const auto& v : input) {
      auto ids = v.is_array() ? token_ids_of(v) : std::nullopt;
      if (!ids) return {};
      in.tokens.push_back(std::move(*ids));
    }
  }
  return in;
}

}  // namespace

std::vector<float> stub_embedding(const std::vector<uint32_t>& tokens, uint32_t dimensions) {
  std::vector<float> out(dimensions, 0.0F);
  if (tokens.empty()) return out;
  for (uint32_t i = 0; i < dimensions; ++i) {
    if (i < tokens.size())
      out[i] = 2 * static_cast<float>(tokens[i] % 1024) / 1024 - 1;
    else
      out[i] = 2 * static_cast<float>(tokens[i % tokens.size()] % 256) / 256 - 1;
  }
  return out;
}

std::string embedding_base64(const std::vector<float>& embedding) {
  std::string bytes;
  bytes.reserve(embedding.size() * 4);
  for (float f : embedding) {
    uint32_t bits = 0;
    std::memcpy(&bits, &f, sizeof bits);
    for (int b = 0; b < 4; ++b)
      bytes.push_back(static_cast<char>((bits >> (8 * b)) & 0xff));
  }
  return runtime::base64_encode(bytes);
}

embeddings_answer embeddings_response(std::string_view body_text, std::string_view default_model,
                                      uint32_t default_dimensions) {
  auto body = json::parse(body_text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return unreadable_body("expected a JSON object");
  if (body.contains("model") && !body["model"].is_string() && !body["model"].is_null())
    return unreadable_body("model must be a string");
  int64_t dimensions = default_dimensions;
  if (body.contains("dimensions") && !body["dimensions"].is_null()) {
    if (!body["dimensions"].is_number_integer())
      return unreadable_body("dimensions must be an integer");
    dimensions = body["dimensions"].get<int64_t>();
    if (dimensions < 1) return bad_request_answer("dimensions must be at least 1");
    if (dimensions > max_embedding_dimensions)
      return bad_request_answer("dimensions must be at most " +
                                std::to_string(max_embedding_dimensions));
  }
  std::string format = "float";
  if (body.contains("encoding_format") && body["encoding_format"].is_string())
    format = body["encoding_format"].get<std::string>();
  auto in = read_embedding_input(body.contains("input") ? body["input"] : json());
  if (in.texts.empty() && in.tokens.empty())
    return bad_request_answer("input is required and must be a non-empty string or array");
  if (!in.texts.empty()) {
    for (const auto& t : in.texts) {
      if (t.empty()) return bad_request_answer("input cannot be an empty string");
      in.tokens.push_back(runtime::tokenize(t));
    }
  }
  // Ordered, as the simulator writes these objects (OpenAI's order).
  auto data = nlohmann::ordered_json::array();
  size_t total = 0;
  for (size_t i = 0; i < in.tokens.size(); ++i) {
    total += in.tokens[i].size();
    auto v = stub_embedding(in.tokens[i], static_cast<uint32_t>(dimensions));
    nlohmann::ordered_json item{{"object", "embedding"}, {"index", i}};
    if (format == "base64") {
      item["embedding"] = embedding_base64(v);
    } else {
      auto values = nlohmann::ordered_json::array();
      for (float f : v)
        values.push_back(static_cast<double>(f));
      item["embedding"] = std::move(values);
    }
    data.push_back(std::move(item));
  }
  std::string model = body.contains("model") && body["model"].is_string()
                          ? body["model"].get<std::string>()
                          : std::string();
  if (model.empty()) model = default_model;
  nlohmann::ordered_json out{{"object", "list"},
                             {"data", std::move(data)},
                             {"model", model},
                             {"usage", {{"prompt_tokens", total}, {"total_tokens", total}}}};
  return {200, out.dump()};
}

}  // namespace inferstack::openai
