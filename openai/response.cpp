#include "openai/response.hpp"

#include "openai/logprobs.hpp"
#include "runtime/json_escape.hpp"
#include "runtime/tokenizer.hpp"

namespace inferstack::openai {

using runtime::append_json_int;
using runtime::append_json_string;

namespace {

constexpr std::string_view chat_object = "chat.completion.chunk";
constexpr std::string_view completion_object = "text_completion";

std::string_view chunk_object(endpoint kind) {
  return kind == endpoint::chat_completions ? chat_object : completion_object;
}

// The three usage layouts vLLM produces (pydantic field order: prompt, total, completion).
enum class usage_layout {
  full,          // model_dump(): details object or null
  skip_none,     // exclude_none: details only when set (usage chunks)
  unset_only,    // exclude_unset on a fresh UsageInfo: no details key (chat continuous)
  details_null,  // exclude_unset=False on a fresh UsageInfo: details null (completion continuous)
};

void append_usage_object(std::string& out, const usage& use, usage_layout layout) {
  out += R"({"prompt_tokens":)";
  append_json_int(out, use.prompt_tokens);
  out += R"(,"total_tokens":)";
  append_json_int(out, use.total_tokens());
  out += R"(,"completion_tokens":)";
  append_json_int(out, use.completion_tokens);
  switch (layout) {
    case usage_layout::full:
      if (use.cached_tokens) {
        out += R"(,"prompt_tokens_details":{"cached_tokens":)";
        append_json_int(out, *use.cached_tokens);
        out += '}';
      } else {
        out += R"(,"prompt_tokens_details":null)";
      }
      break;
    case usage_layout::skip_none:
      if (use.cached_tokens) {
        out += R"(,"prompt_tokens_details":{"cached_tokens":)";
        append_json_int(out, *use.cached_tokens);
        out += '}';
      }
      break;
    case usage_layout::unset_only:
      break;
    case usage_layout::details_null:
      out += R"(,"prompt_tokens_details":null)";
      break;
  }
  out += '}';
}

void append_head(std::string& out, std::string_view object, const response_meta& meta) {
  out += R"(data: {"id":)";
  append_json_string(out, meta.id);
  out += R"(,"object":")";
  out += object;
  out += R"(","created":)";
  append_json_int(out, meta.created);
  out += R"(,"model":)";
  append_json_string(out, meta.model);
  out += R"(,"choices":[)";
}

void append_finish_reason(std::string& out, std::string_view reason) {
  if (reason.empty()) {
    out += "null";
  } else {
    append_json_string(out, reason);
  }
}

void append_logprobs_field(std::string& out, std::string_view logprobs) {
  out += R"("logprobs":)";
  if (logprobs.empty())
    out += "null";
  else
    out += logprobs;
}

// Chat chunks: ChatCompletionStreamResponse.model_dump_json(exclude_unset=True). `logprobs` is
// the choice's logprobs object, empty for null.
void append_chat_tail(std::string& out, int index, std::string_view delta_json_fields,
                      std::string_view text, std::optional<std::string_view> finish_reason,
                      const std::optional<usage>& continuous, std::string_view logprobs = {}) {
  out += R"({"index":)";
  append_json_int(out, index);
  out += R"(,"delta":{)";
  out += delta_json_fields;
  out += R"("content":)";
  append_json_string(out, text);
  out += "},";
  append_logprobs_field(out, logprobs);
  out += R"(,"finish_reason":)";
  if (finish_reason) {
    append_finish_reason(out, *finish_reason);
    out += R"(,"stop_reason":null)";
  } else {
    out += "null";
  }
  out += "}]";
  if (continuous) {
    out += R"(,"usage":)";
    append_usage_object(out, *continuous, usage_layout::unset_only);
  }
  out += "}\n\n";
}

// Completion chunks: CompletionStreamResponse.model_dump_json(exclude_unset=False).
void append_completion_tail(std::string& out, int index, std::string_view text,
                            std::optional<std::string_view> finish_reason,
                            const std::optional<usage>& continuous,
                            std::string_view logprobs = {}) {
  out += R"({"index":)";
  append_json_int(out, index);
  out += R"(,"text":)";
  append_json_string(out, text);
  out += ',';
  append_logprobs_field(out, logprobs);
  out += R"(,"finish_reason":)";
  if (finish_reason) {
    append_finish_reason(out, *finish_reason);
  } else {
    out += "null";
  }
  out += R"(,"stop_reason":null}],"usage":)";
  if (continuous) {
    append_usage_object(out, *continuous, usage_layout::details_null);
  } else {
    out += "null";
  }
  out += "}\n\n";
}

// Usage chunk: model_dump_json(exclude_unset=True, exclude_none=True), choices [].
void append_usage_tail(std::string& out, const usage& use) {
  out += R"(],"usage":)";
  append_usage_object(out, use, usage_layout::skip_none);
  out += "}\n\n";
}

void append_response_head(std::string& out, std::string_view object, const response_meta& meta) {
  out += R"({"id":)";
  append_json_string(out, meta.id);
  out += R"(,"object":")";
  out += object;
  out += R"(","created":)";
  append_json_int(out, meta.created);
  out += R"(,"model":)";
  append_json_string(out, meta.model);
  out += R"(,"choices":[)";
}

// "logprobs": of a whole choice (its text split into the tokenizer's tokens), or null.
void append_choice_logprobs(std::string& out, const choice_result& c, endpoint kind) {
  out += R"("logprobs":)";
  if (!c.logprobs) {
    out += "null";
    return;
  }
  const auto tokens = runtime::split_tokens(c.text);
  if (kind == endpoint::chat_completions)
    append_chat_logprobs(out, tokens, 0, *c.logprobs);
  else
    append_completion_logprobs(out, tokens, 0, *c.logprobs);
}

size_t text_size(const std::vector<choice_result>& choices) {
  size_t n = 0;
  for (const auto& c : choices)
    n += c.text.size();
  return n;
}

}  // namespace

std::string chat_response_json(const response_meta& meta, const std::vector<choice_result>& choices,
                               const usage& use) {
  // ChatCompletionResponse.model_dump(): every field, nulls included.
  std::string out;
  out.reserve(384 + text_size(choices) + choices.size() * 192);
  append_response_head(out, "chat.completion", meta);
  bool first = true;
  for (const auto& c : choices) {
    if (!first) out += ',';
    first = false;
    out += R"({"index":)";
    append_json_int(out, c.index);
    out += R"(,"message":{"role":"assistant","content":)";
    if (c.tool_calls_json.empty()) {
      append_json_string(out, c.text);
    } else {
      out += "null";
    }
    out += R"(,"refusal":null,"annotations":null,"audio":null,"function_call":null,)"
           R"("tool_calls":)";
    out += c.tool_calls_json.empty() ? std::string_view("[]") : c.tool_calls_json;
    out += R"(,"reasoning_content":null},)";
    append_choice_logprobs(out, c, endpoint::chat_completions);
    out += R"(,"finish_reason":)";
    append_finish_reason(out, c.finish_reason);
    out += R"(,"stop_reason":null})";
  }
  out += R"(],"service_tier":null,"system_fingerprint":null,"usage":)";
  append_usage_object(out, use, usage_layout::full);
  out += R"(,"prompt_logprobs":null,"kv_transfer_params":)";
  out += meta.kv_transfer_params.empty() ? std::string_view("null") : meta.kv_transfer_params;
  out += '}';
  return out;
}

std::string completion_response_json(const response_meta& meta,
                                     const std::vector<choice_result>& choices, const usage& use) {
  // CompletionResponse.model_dump().
  std::string out;
  out.reserve(320 + text_size(choices) + choices.size() * 128);
  append_response_head(out, "text_completion", meta);
  bool first = true;
  for (const auto& c : choices) {
    if (!first) out += ',';
    first = false;
    out += R"({"index":)";
    append_json_int(out, c.index);
    out += R"(,"text":)";
    append_json_string(out, c.text);
    out += ',';
    append_choice_logprobs(out, c, endpoint::completions);
    out += R"(,"finish_reason":)";
    append_finish_reason(out, c.finish_reason);
    out += R"(,"stop_reason":null,"prompt_logprobs":null})";
  }
  out += R"(],"service_tier":null,"system_fingerprint":null,"usage":)";
  append_usage_object(out, use, usage_layout::full);
  out += R"(,"kv_transfer_params":)";
  out += meta.kv_transfer_params.empty() ? std::string_view("null") : meta.kv_transfer_params;
  out += '}';
  return out;
}

std::string sse_chat_role_chunk(const response_meta& meta, int index,
                                const std::optional<usage>& continuous) {
  std::string out;
  out.reserve(192 + meta.id.size() + meta.model.size());
  append_head(out, chat_object, meta);
  append_chat_tail(out, index, R"("role":"assistant",)", {}, std::nullopt, continuous);
  return out;
}

std::string sse_chat_content_chunk(const response_meta& meta, int index, std::string_view text,
                                   const std::optional<usage>& continuous) {
  std::string out;
  out.reserve(176 + meta.id.size() + meta.model.size() + text.size());
  append_head(out, chat_object, meta);
  append_chat_tail(out, index, {}, text, std::nullopt, continuous);
  return out;
}

std::string sse_chat_finish_chunk(const response_meta& meta, int index,
                                  std::string_view finish_reason, std::string_view text,
                                  const std::optional<usage>& continuous) {
  std::string out;
  out.reserve(208 + meta.id.size() + meta.model.size() + text.size());
  append_head(out, chat_object, meta);
  append_chat_tail(out, index, {}, text, finish_reason, continuous);
  return out;
}

std::string sse_usage_chunk(const response_meta& meta, endpoint kind, const usage& use) {
  std::string out;
  out.reserve(224 + meta.id.size() + meta.model.size());
  append_head(out, chunk_object(kind), meta);
  append_usage_tail(out, use);
  return out;
}

std::string sse_completion_chunk(const response_meta& meta, int index, std::string_view text,
                                 std::optional<std::string_view> finish_reason,
                                 const std::optional<usage>& continuous) {
  std::string out;
  out.reserve(192 + meta.id.size() + meta.model.size() + text.size());
  append_head(out, completion_object, meta);
  append_completion_tail(out, index, text, finish_reason, continuous);
  return out;
}

std::string sse_error_event(const api_error& err, error_style style) {
  std::string out = "data: ";
  out += error_json(err, style);
  out += "\n\n";
  return out;
}

std::string sse_done() {
  return "data: [DONE]\n\n";
}

stream_encoder::stream_encoder(endpoint kind, const response_meta& meta, stream_style style)
    : kind_(kind), style_(style) {
  append_head(head_, chunk_object(kind), meta);
}

void stream_encoder::append_tokens(std::string& out, int index, std::string_view text,
                                   std::string_view finish_reason, size_t position) const {
  std::string logprobs;
  if (style_.logprobs && !text.empty()) {
    const auto tokens = runtime::split_tokens(text);
    if (kind_ == endpoint::chat_completions)
      append_chat_logprobs(logprobs, tokens, position, *style_.logprobs);
    else
      append_completion_logprobs(logprobs, tokens, position, *style_.logprobs);
  }
  const bool chat = kind_ == endpoint::chat_completions;
  // The simulator's layout: the text first, then a chunk of the finish reason alone.
  const bool apart = style_.finish_apart && !finish_reason.empty();
  if (apart && !text.empty()) {
    out += head_;
    if (chat)
      append_chat_tail(out, index, {}, text, std::nullopt, std::nullopt, logprobs);
    else
      append_completion_tail(out, index, text, std::nullopt, std::nullopt, logprobs);
  }
  if (apart) {
    text = {};
    logprobs.clear();
  }
  std::optional<std::string_view> reason;
  if (!finish_reason.empty()) reason = finish_reason;
  out += head_;
  if (chat)
    append_chat_tail(out, index, {}, text, reason, std::nullopt, logprobs);
  else
    append_completion_tail(out, index, text, reason, std::nullopt, logprobs);
}

void stream_encoder::append_role(std::string& out, int index,
                                 const std::optional<usage>& continuous) const {
  out += head_;
  append_chat_tail(out, index, R"("role":"assistant",)", {}, std::nullopt, continuous);
}

void stream_encoder::append_content(std::string& out, int index, std::string_view text,
                                    const std::optional<usage>& continuous) const {
  out += head_;
  append_chat_tail(out, index, {}, text, std::nullopt, continuous);
}

void stream_encoder::append_finish(std::string& out, int index, std::string_view finish_reason,
                                   std::string_view text,
                                   const std::optional<usage>& continuous) const {
  out += head_;
  append_chat_tail(out, index, {}, text, finish_reason, continuous);
}

void stream_encoder::append_completion(std::string& out, int index, std::string_view text,
                                       std::optional<std::string_view> finish_reason,
                                       const std::optional<usage>& continuous) const {
  out += head_;
  append_completion_tail(out, index, text, finish_reason, continuous);
}

void stream_encoder::append_usage(std::string& out, const usage& use) const {
  out += head_;
  append_usage_tail(out, use);
}

void stream_encoder::append_tool_call(std::string& out, int index, int call_index,
                                      std::string_view id, std::string_view name,
                                      std::string_view arguments,
                                      std::string_view finish_reason) const {
  out += head_;
  out += R"({"index":)";
  append_json_int(out, index);
  out += R"(,"delta":{"tool_calls":[{"index":)";
  append_json_int(out, call_index);
  out += R"(,"id":)";
  append_json_string(out, id);
  out += R"(,"type":"function","function":{)";
  if (!name.empty()) {
    out += R"("name":)";
    append_json_string(out, name);
    out += ',';
  }
  out += R"("arguments":)";
  append_json_string(out, arguments);
  out += R"(}}]},"logprobs":null,"finish_reason":)";
  if (finish_reason.empty()) {
    out += "null";
  } else {
    append_json_string(out, finish_reason);
    out += R"(,"stop_reason":null)";
  }
  out += "}]}\n\n";
}

std::string models_list_json(const std::vector<model_card>& models) {
  std::string out = R"({"object":"list","data":[)";
  bool first = true;
  for (const auto& m : models) {
    if (!first) out += ',';
    first = false;
    out += model_card_json(m);
  }
  out += "]}";
  return out;
}

std::string model_card_json(const model_card& m) {
  std::string out = R"({"id":)";
  append_json_string(out, m.id);
  out += R"(,"object":"model","created":)";
  append_json_int(out, m.created);
  out += R"(,"owned_by":)";
  append_json_string(out, m.owned_by);
  auto nullable = [&out](const std::optional<std::string>& v) {
    if (v) {
      append_json_string(out, *v);
    } else {
      out += "null";
    }
  };
  out += R"(,"root":)";
  nullable(m.root);
  out += R"(,"parent":)";
  nullable(m.parent);
  out += R"(,"max_model_len":)";
  if (m.max_model_len) {
    append_json_int(out, *m.max_model_len);
  } else {
    out += "null";
  }
  if (m.permission_id) {
    // vLLM's ModelPermission defaults, in field order.
    out += R"(,"permission":[{"id":)";
    append_json_string(out, *m.permission_id);
    out += R"(,"object":"model_permission","created":)";
    append_json_int(out, m.created);
    out += R"(,"allow_create_engine":false,"allow_sampling":true,"allow_logprobs":true,)"
           R"("allow_search_indices":false,"allow_view":true,"allow_fine_tuning":false,)"
           R"("organization":"*","group":null,"is_blocking":false}])";
  }
  out += '}';
  return out;
}

}  // namespace inferstack::openai
