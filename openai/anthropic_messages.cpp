// Anthropic's Messages API read as a chat request and answered in its shapes; see
// anthropic_messages.hpp.
#include "openai/anthropic_messages.hpp"

namespace inferstack::openai {

namespace {

using json = nlohmann::json;
using ordered = nlohmann::ordered_json;

/// The simulator's 400 for a body its JSON decoder refuses.
api_error unreadable(const std::string& detail) {
  return bad_request("Failed to read and parse request body, " + detail);
}

/// The text of a string content, or of the text blocks of a block list, joined with "\n".
std::string plain_text(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (!content.is_array()) return out;
  bool first = true;
  for (const auto& b : content) {
    if (!b.is_object() || b.value("type", "") != "text") continue;
    if (!first) out += "\n";
    first = false;
    out += b.value("text", "");
  }
  return out;
}

/// One Anthropic message as the chat messages it makes (a user message with tool_result blocks
/// makes one "tool" message per result, after its own content).
std::optional<api_error> add_message(const json& m, json& out) {
  if (!m.is_object()) return unreadable("a message must be an object");
  std::string role =
      m.contains("role") && m["role"].is_string() ? m["role"].get<std::string>() : "";
  const json& content = m.contains("content") ? m["content"] : json();
  if (content.is_string()) {
    out.push_back({{"role", role}, {"content", content}});
    return std::nullopt;
  }
  if (!content.is_array() && !content.is_null()) return unreadable("content format not supported");
  json parts = json::array(), tool_calls = json::array(), results = json::array();
  for (const auto& b : content.is_array() ? content : json::array()) {
    if (!b.is_object()) return unreadable("content format not supported");
    std::string type = b.value("type", "");
    if (type == "text") {
      parts.push_back({{"type", "text"}, {"text", b.value("text", "")}});
    } else if (type == "image") {
      const json* source = b.contains("source") && b["source"].is_object() ? &b["source"] : nullptr;
      if (!source) return bad_request("image content block is missing required 'source' field");
      std::string url =
          source->value("type", "") == "base64"
              ? "data:" + source->value("media_type", "") + ";base64," + source->value("data", "")
              : source->value("url", "");
      parts.push_back({{"type", "image_url"}, {"image_url", {{"url", url}}}});
    } else if (type == "tool_use") {
      json input = b.contains("input") && b["input"].is_object() ? b["input"] : json::object();
      tool_calls.push_back(
          {{"id", b.value("id", "")},
           {"type", "function"},
           {"function", {{"name", b.value("name", "")}, {"arguments", input.dump()}}}});
    } else if (type == "tool_result") {
      results.push_back({{"role", "tool"},
                         {"tool_call_id", b.value("tool_use_id", "")},
                         {"content", plain_text(b.contains("content") ? b["content"] : json())}});
    }
    // Other block types (document, thinking, ...) are skipped, as the simulator skips them.
  }
  if (!parts.empty() || !tool_calls.empty()) {
    json msg{{"role", role}};
    msg["content"] = parts.empty() ? json() : parts;
    if (!tool_calls.empty()) msg["tool_calls"] = tool_calls;
    out.push_back(std::move(msg));
  }
  for (auto& r : results)
    out.push_back(std::move(r));
  return std::nullopt;
}

std::string_view anthropic_error_type(int status) {
  switch (status) {
    case 400:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

void append_event(std::string& out, std::string_view name, const ordered& data) {
  out += "event: ";
  out += name;
  out += "\ndata: ";
  out += data.dump();
  out += "\n\n";
}

ordered message_object(const messages_meta& meta, ordered content, const json& stop_reason,
                       int64_t input_tokens, int64_t output_tokens) {
  return ordered{{"id", meta.id},
                 {"type", "message"},
                 {"role", "assistant"},
                 {"content", std::move(content)},
                 {"model", meta.model},
                 {"stop_reason", stop_reason},
                 {"stop_sequence", nullptr},
                 {"usage",
                  {{"input_tokens", input_tokens},
                   {"cache_creation_input_tokens", 0},
                   {"cache_read_input_tokens", 0},
                   {"output_tokens", output_tokens}}}};
}

ordered tool_use_block(const messages_tool_use& t, bool with_input) {
  auto input = json::parse(t.arguments, nullptr, false);
  if (!with_input || input.is_discarded() || !input.is_object()) input = json::object();
  return ordered{{"type", "tool_use"}, {"id", t.id}, {"name", t.name}, {"input", input}};
}

}  // namespace

std::vector<messages_tool_use> messages_tool_uses(std::string_view text) {
  std::vector<messages_tool_use> out;
  auto calls = json::parse(text, nullptr, false);
  if (!calls.is_array()) return out;
  for (const auto& c : calls) {
    if (!c.is_object() || !c.contains("function") || !c["function"].is_object()) return {};
    messages_tool_use t;
    std::string id = c.value("id", "");
    constexpr std::string_view chat_prefix = "chatcmpl-tool-";
    if (id.rfind(chat_prefix, 0) == 0) id = "toolu_" + id.substr(chat_prefix.size());
    t.id = std::move(id);
    t.name = c["function"].value("name", "");
    t.arguments = c["function"].value("arguments", "");
    out.push_back(std::move(t));
  }
  return out;
}

std::variant<nlohmann::json, api_error> messages_to_chat(std::string_view text) {
  auto body = json::parse(text, nullptr, false);
  if (body.is_discarded()) return unreadable("invalid JSON");
  if (!body.is_object()) return unreadable("expected a JSON object");
  json chat = json::object();
  if (body.contains("model")) chat["model"] = body["model"];
  json messages = json::array();
  if (body.contains("system") && !body["system"].is_null()) {
    // A string, or (Anthropic allows it) a list of text blocks.
    auto system = plain_text(body["system"]);
    if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
  }
  const json& given = body.contains("messages") ? body["messages"] : json();
  if (!given.is_null() && !given.is_array()) return unreadable("messages must be an array");
  for (const auto& m : given.is_array() ? given : json::array())
    if (auto err = add_message(m, messages)) return *err;
  // The simulator's own checks, before the chat request's.
  if (body.contains("tool_choice") && body["tool_choice"].is_object() &&
      body["tool_choice"].value("type", "") == "tool" &&
      body["tool_choice"].value("name", "").empty())
    return bad_request("tool_choice of type 'tool' requires a non-empty 'name'");
  if (messages.empty())  // the system prompt counts, as in the simulator
    return bad_request("messages must not be empty");
  if (!body.contains("max_tokens") || body["max_tokens"].is_null())
    return bad_request("max_tokens is required");
  chat["messages"] = std::move(messages);
  chat["max_completion_tokens"] = body["max_tokens"];
  if (body.contains("stream")) chat["stream"] = body["stream"];
  if (body.contains("stop_sequences")) chat["stop"] = body["stop_sequences"];
  for (const char* key : {"temperature", "top_p", "top_k", "ignore_eos", "kv_transfer_params"})
    if (body.contains(key)) chat[key] = body[key];
  if (body.contains("tools") && body["tools"].is_array()) {
    json tools = json::array();
    for (const auto& t : body["tools"]) {
      if (!t.is_object()) continue;
      json function{{"name", t.value("name", "")}};
      if (t.contains("description")) function["description"] = t["description"];
      function["parameters"] = t.contains("input_schema") ? t["input_schema"] : json::object();
      tools.push_back({{"type", "function"}, {"function", std::move(function)}});
    }
    chat["tools"] = std::move(tools);
  }
  if (body.contains("tool_choice") && body["tool_choice"].is_object()) {
    std::string type = body["tool_choice"].value("type", "");
    if (type == "any")
      chat["tool_choice"] = "required";
    else if (type == "none")
      chat["tool_choice"] = "none";
    else if (type == "auto")
      chat["tool_choice"] = "auto";
    else if (type == "tool")
      chat["tool_choice"] = {{"type", "function"},
                             {"function", {{"name", body["tool_choice"].value("name", "")}}}};
  }
  return chat;
}

std::string_view messages_stop_reason(std::string_view finish_reason) {
  if (finish_reason == "length") return "max_tokens";
  if (finish_reason == "tool_calls") return "tool_use";
  return "end_turn";
}

std::string messages_response_json(const messages_meta& meta, std::string_view text,
                                   std::string_view finish_reason, int64_t input_tokens,
                                   int64_t output_tokens,
                                   const std::vector<messages_tool_use>& tools) {
  ordered content = ordered::array();
  for (const auto& t : tools)
    content.push_back(tool_use_block(t, true));
  if (tools.empty()) content.push_back(ordered{{"type", "text"}, {"text", text}});
  return message_object(meta, std::move(content), messages_stop_reason(finish_reason), input_tokens,
                        output_tokens)
      .dump();
}

void messages_stream::append_start(std::string& out, int64_t input_tokens) {
  if (started_) return;
  started_ = true;
  append_event(
      out, "message_start",
      ordered{{"type", "message_start"},
              {"message", message_object(meta_, ordered::array(), nullptr, input_tokens, 0)}});
  if (!tools_.empty()) {  // each tool_use block opens with its call's first characters
    append_event(out, "ping", ordered{{"type", "ping"}});
    return;
  }
  append_event(out, "content_block_start",
               ordered{{"type", "content_block_start"},
                       {"index", 0},
                       {"content_block", {{"type", "text"}, {"text", ""}}}});
  append_event(out, "ping", ordered{{"type", "ping"}});
}

void messages_stream::append_text(std::string& out, std::string_view text) {
  while (!text.empty() && tool_ < tools_.size()) {
    const auto& call = tools_[tool_];
    if (offset_ == 0) {
      if (blocks_ > 0)
        append_event(out, "content_block_stop",
                     ordered{{"type", "content_block_stop"}, {"index", blocks_ - 1}});
      append_event(out, "content_block_start",
                   ordered{{"type", "content_block_start"},
                           {"index", blocks_},
                           {"content_block", tool_use_block(call, false)}});
      ++blocks_;
    }
    size_t take = std::min(text.size(), call.arguments.size() - offset_);
    append_event(
        out, "content_block_delta",
        ordered{{"type", "content_block_delta"},
                {"index", blocks_ - 1},
                {"delta", {{"type", "input_json_delta"}, {"partial_json", text.substr(0, take)}}}});
    text.remove_prefix(take);
    offset_ += take;
    if (offset_ == call.arguments.size()) {
      ++tool_;
      offset_ = 0;
    }
  }
  if (!tools_.empty() || text.empty()) return;
  append_event(out, "content_block_delta",
               ordered{{"type", "content_block_delta"},
                       {"index", 0},
                       {"delta", {{"type", "text_delta"}, {"text", text}}}});
}

void messages_stream::append_finish(std::string& out, std::string_view finish_reason,
                                    int64_t input_tokens, int64_t output_tokens) {
  append_start(out, input_tokens);  // nothing was generated: the block still opens and closes
  size_t last = blocks_ > 0 ? blocks_ - 1 : 0;
  append_event(out, "content_block_stop", ordered{{"type", "content_block_stop"}, {"index", last}});
  append_event(
      out, "message_delta",
      ordered{{"type", "message_delta"},
              {"delta",
               {{"stop_reason", messages_stop_reason(finish_reason)}, {"stop_sequence", nullptr}}},
              {"usage", {{"output_tokens", output_tokens}}}});
  append_event(out, "message_stop", ordered{{"type", "message_stop"}});
}

std::string messages_error_json(const api_error& err) {
  return ordered{{"type", "error"},
                 {"error", {{"type", anthropic_error_type(err.status)}, {"message", err.message}}}}
      .dump();
}

std::string messages_error_event(const api_error& err) {
  return "event: error\ndata: " + messages_error_json(err) + "\n\n";
}

}  // namespace inferstack::openai
