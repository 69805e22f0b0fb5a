// The Responses API codec; see responses_api.hpp.
#include "openai/responses_api.hpp"

#include "openai/request.hpp"

#include "openai/logprobs.hpp"
#include "runtime/tokenizer.hpp"

namespace inferstack::openai {

namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

/// The simulator reads a body it cannot take apart as "Failed to read and parse request body,
/// <why>" (400); clients look for its words.
api_error unreadable(const std::string& why, std::optional<std::string> param = std::nullopt) {
  return bad_request("Failed to read and parse request body, " + why, std::move(param));
}

std::string string_field(const json& obj, const char* key) {
  const json* v = find_field(obj, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

/// A string member, when present, must be a string.
std::optional<api_error> check_string(const json& obj, const char* key, const std::string& where) {
  const json* v = find_field(obj, key);
  if (v && !v->is_string()) return invalid_type(where, "a string", type_phrase(*v));
  return std::nullopt;
}

/// One message item's content parts: the chat text (text parts joined by "\n"), the echo text
/// (the simulator's plain text: images and audio named too) and the count of media parts.
struct message_text {
  std::string text;
  std::string plain;
  size_t media = 0;
};

std::variant<message_text, api_error> read_content(const json& content, const std::string& where) {
  message_text out;
  if (content.is_null()) return out;
  if (content.is_string()) {
    out.text = out.plain = content.get<std::string>();
    return out;
  }
  if (!content.is_array()) return invalid_type(where, "a string or an array", type_phrase(content));
  std::vector<std::string> texts, plains;
  for (size_t i = 0; i < content.size(); ++i) {
    const auto& part = content[i];
    auto at = where + "[" + std::to_string(i) + "]";
    if (!part.is_object()) return invalid_type(at, "an object", type_phrase(part));
    if (auto err = check_string(part, "type", at + ".type")) return *err;
    auto type = string_field(part, "type");
    if (type.empty() || type == "input_text" || type == "output_text") {
      if (auto err = check_string(part, "text", at + ".text")) return *err;
      texts.push_back(string_field(part, "text"));
      plains.push_back(texts.back());
    } else if (type == "input_image") {
      // OpenAI's image_url is a string (a URL or a data URL); a file_id may stand instead.
      if (auto err = check_string(part, "image_url", at + ".image_url")) return *err;
      plains.push_back("image: " + string_field(part, "image_url"));
      ++out.media;
    } else if (type == "input_audio") {
      if (auto err = check_string(part, "format", at + ".format")) return *err;
      plains.push_back("audio: " + string_field(part, "format"));
      ++out.media;
    } else if (type == "input_file") {
      // OpenAI's file part (a file_id, file_url or file_data): accepted as media, no text.
      ++out.media;
    } else {
      return unreadable("unsupported input content type \"" + type + "\"", at + ".type");
    }
  }
  for (size_t i = 0; i < texts.size(); ++i)
    out.text += (i ? "\n" : "") + texts[i];
  for (size_t i = 0; i < plains.size(); ++i)
    out.plain += (i ? "\n" : "") + plains[i];
  return out;
}

/// A function_call_output's output: a string, or (OpenAI) an array of text parts.
std::string output_text(const json& output) {
  if (output.is_string()) return output.get<std::string>();
  std::string text;
  if (output.is_array())
    for (const auto& part : output)
      if (part.is_object()) text += string_field(part, "text");
  return text;
}

std::optional<api_error> read_input(const json& input, responses_request& out) {
  auto& messages = out.chat.messages;
  if (input.is_string()) {
    chat_message m;
    m.role = "user";
    m.content = input.get<std::string>();
    out.echo_text = m.content;
    messages.push_back(std::move(m));
    return std::nullopt;
  }
  if (!input.is_array()) return unreadable("input must be a string or array", "input");
  for (size_t i = 0; i < input.size(); ++i) {
    const auto& item = input[i];
    auto at = "input[" + std::to_string(i) + "]";
    if (!item.is_object()) return invalid_type(at, "an object", type_phrase(item));
    if (auto err = check_string(item, "type", at + ".type")) return *err;
    auto type = string_field(item, "type");
    chat_message m;
    if (type.empty() || type == "message") {
      if (auto err = check_string(item, "role", at + ".role")) return *err;
      m.role = string_field(item, "role");
      const json* content = find_field(item, "content");
      auto read = read_content(content ? *content : json(), at + ".content");
      if (auto* err = std::get_if<api_error>(&read)) return *err;
      auto& parts = std::get<message_text>(read);
      m.content = std::move(parts.text);
      m.media_parts = parts.media;
      out.echo_text = std::move(parts.plain);
    } else if (type == "function_call") {
      for (const char* key : {"id", "call_id", "name", "arguments"})
        if (auto err = check_string(item, key, at + "." + key)) return *err;
      responses_function_call call{string_field(item, "call_id"), string_field(item, "name"),
                                   string_field(item, "arguments")};
      if (call.call_id.empty()) call.call_id = string_field(item, "id");
      // An assistant turn whose text is the call, so it counts toward the prompt's tokens.
      m.role = "assistant";
      m.content = call.name + "(" + call.arguments + ")";
      m.tool_calls.push_back({call.call_id, call.name, call.arguments});
      out.echo_text = m.content;
      out.function_calls.push_back(std::move(call));
    } else if (type == "function_call_output") {
      if (auto err = check_string(item, "call_id", at + ".call_id")) return *err;
      m.role = "tool";
      m.tool_call_id = string_field(item, "call_id");
      const json* output = find_field(item, "output");
      m.content = output ? output_text(*output) : std::string();
      out.echo_text = m.content;
      out.has_function_call_output = true;
    } else {
      return unreadable("unsupported input item type \"" + type + "\"", at + ".type");
    }
    messages.push_back(std::move(m));
  }
  return std::nullopt;
}

/// text.format, the Responses' response_format: {"type":"text"|"json_object"} or
/// {"type":"json_schema","name","schema","strict"}, read as chat's response_format is.
std::optional<api_error> read_text_format(const json& body, responses_request& out) {
  const json* text = find_field(body, "text");
  if (!text) return std::nullopt;
  if (!text->is_object()) return invalid_type("text", "an object", type_phrase(*text));
  const json* format = find_field(*text, "format");
  if (!format) return std::nullopt;
  json rf = *format;
  if (rf.is_object() && rf.value("type", json()) == "json_schema") {
    json spec = json::object();
    for (const char* key : {"name", "schema", "strict", "description"})
      if (const json* v = find_field(rf, key)) spec[key] = *v;
    rf = {{"type", "json_schema"}, {"json_schema", std::move(spec)}};
  }
  if (auto err = parse_response_format(json{{"response_format", rf}}, out.chat.format)) {
    // Named as the Responses body names it.
    if (err->param && err->param->rfind("response_format", 0) == 0)
      err->param = "text.format" + err->param->substr(15);
    return err;
  }
  out.text_format = *format;
  return std::nullopt;
}

std::optional<api_error> read_body(const json& body, responses_request& out) {
  if (!body.is_object()) return invalid_body_type(type_phrase(body));
  auto& chat = out.chat;
  chat.kind = endpoint::responses;
  const json* model = find_field(body, "model");
  if (!model) return missing_parameter("model");
  if (!model->is_string()) return invalid_type("model", "a string", type_phrase(*model));
  chat.model = model->get<std::string>();

  const json* input = find_field(body, "input");
  if (!input) return unreadable("input is required", "input");
  if (auto err = read_input(*input, out)) return err;

  if (const json* v = find_field(body, "instructions")) {
    if (!v->is_string()) return invalid_type("instructions", "a string", type_phrase(*v));
    if (!v->get<std::string>().empty()) out.instructions = v->get<std::string>();
  }
  if (const json* v = find_field(body, "stream")) {
    if (!v->is_boolean()) return invalid_type("stream", "a boolean", type_phrase(*v));
    chat.stream = v->get<bool>();
  }
  if (const json* v = find_field(body, "max_output_tokens")) {
    if (!v->is_number_integer())
      return invalid_type("max_output_tokens", "an integer", type_phrase(*v));
    chat.max_completion_tokens = v->get<int64_t>();
    if (*chat.max_completion_tokens < 1)
      return bad_request("Max completion tokens and max tokens should be positive",
                         std::string("max_output_tokens"));
  }
  for (const char* key : {"temperature", "top_p"}) {
    const json* v = find_field(body, key);
    if (v && !v->is_number()) return invalid_type(key, "a number", type_phrase(*v));
    if (v) (std::string_view(key) == "top_p" ? chat.top_p : chat.temperature) = v->get<double>();
  }
  bool want_logprobs = false;
  if (const json* v = find_field(body, "include")) {
    if (!v->is_array()) return invalid_type("include", "an array", type_phrase(*v));
    for (const auto& entry : *v) {
      if (!entry.is_string()) return invalid_type("include[]", "a string", type_phrase(entry));
      if (entry.get<std::string>() == responses_logprobs_include) want_logprobs = true;
    }
  }
  int64_t top = 0;
  if (const json* v = find_field(body, "top_logprobs")) {
    if (!v->is_number_integer()) return invalid_type("top_logprobs", "an integer", type_phrase(*v));
    top = v->get<int64_t>();
    if (top < 0 || top > max_logprobs)
      return bad_request("top_logprobs must be between 0 and " + std::to_string(max_logprobs) +
                             ", got " + std::to_string(top) + ".",
                         std::string("top_logprobs"));
  }
  if (want_logprobs) out.top_logprobs = static_cast<int>(top);
  // Responses are not stored, so there is no earlier one to continue from.
  if (find_field(body, "previous_response_id"))
    return bad_request(
        "previous_response_id is not supported: responses are not stored; send the whole "
        "conversation in input",
        std::string("previous_response_id"));
  if (auto err = read_text_format(body, out)) return err;
  auto& tools = chat.tools;
  if (auto err = parse_tools(body, tools)) return err;
  // The simulator's Responses rules (see responses_request::chat).
  if (!find_field(body, "parallel_tool_calls")) tools.parallel_calls = false;
  const json* choice = find_field(body, "tool_choice");
  if (!choice || *choice == "auto") tools.choice.mode = tool_choice_mode::required;
  if (out.has_function_call_output) tools.choice.mode = tool_choice_mode::none;
  return std::nullopt;
}

ojson usage_json(const usage& use) {
  ojson u;
  u["input_tokens"] = use.prompt_tokens;
  u["input_tokens_details"] = {{"cached_tokens", use.cached_tokens.value_or(0)}};
  u["output_tokens"] = use.completion_tokens;
  u["output_tokens_details"] = {{"reasoning_tokens", 0}};
  u["total_tokens"] = use.total_tokens();
  return u;
}

/// The output_text part; its logprobs key only when they were asked for.
ojson text_part(std::string_view text, const std::optional<ojson>& logprobs) {
  ojson part;
  part["type"] = "output_text";
  part["text"] = text;
  part["annotations"] = ojson::array();
  if (logprobs) part["logprobs"] = *logprobs;
  return part;
}

ojson message_item(const responses_meta& meta, std::string_view status, ojson content) {
  ojson item;
  item["id"] = meta.item_id;
  item["type"] = "message";
  item["status"] = status;
  item["role"] = "assistant";
  item["content"] = std::move(content);
  return item;
}

ojson call_item(const responses_call_output& call, std::string_view status,
                std::string_view arguments) {
  ojson item;
  item["id"] = call.id;
  item["type"] = "function_call";
  item["status"] = status;
  item["call_id"] = call.call_id;
  item["name"] = call.name;
  item["arguments"] = arguments;
  return item;
}

/// The response object; `use` null while in progress.
ojson response_object(const responses_meta& meta, std::string_view status, ojson output,
                      const usage* use) {
  ojson r;
  r["id"] = meta.id;
  r["object"] = "response";
  r["created_at"] = meta.created_at;
  r["status"] = status;
  r["error"] = nullptr;
  r["incomplete_details"] = nullptr;
  r["instructions"] = meta.instructions ? ojson(*meta.instructions) : ojson();
  r["max_output_tokens"] = meta.max_output_tokens ? ojson(*meta.max_output_tokens) : ojson();
  r["model"] = meta.model;
  r["output"] = std::move(output);
  r["parallel_tool_calls"] = meta.parallel_tool_calls;
  r["previous_response_id"] = nullptr;
  r["text"] = {{"format", meta.text_format.is_null() ? ojson{{"type", "text"}}
                                                     : ojson::parse(meta.text_format.dump())}};
  r["usage"] = use ? usage_json(*use) : ojson();
  return r;
}

}  // namespace

std::variant<responses_request, api_error> parse_responses(std::string_view body) {
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) return invalid_json_error("the body is not valid JSON");
  responses_request out;
  if (auto err = read_body(parsed, out)) return *err;
  out.chat.raw = std::move(parsed);
  return out;
}

ojson responses_logprobs(std::string_view text, size_t first_position, int top_logprobs) {
  auto entry = [](std::string_view token, double logprob) {
    ojson e;
    e["token"] = token;
    e["logprob"] = logprob;
    ojson bytes = ojson::array();
    for (unsigned char c : token)
      bytes.push_back(static_cast<int>(c));
    e["bytes"] = std::move(bytes);
    return e;
  };
  ojson out = ojson::array();
  size_t position = first_position;
  for (auto token : runtime::split_tokens(text)) {
    double main = synthetic_logprob(position, 0);
    ojson lp = entry(token, main);
    ojson top = ojson::array();
    for (int j = 0; j < top_logprobs; ++j)
      top.push_back(j == 0 ? entry(token, main)
                           : entry(std::string(token) + "_" + std::to_string(j),
                                   synthetic_logprob(position, j)));
    lp["top_logprobs"] = std::move(top);
    out.push_back(std::move(lp));
    ++position;
  }
  return out;
}

responses_call_output responses_call_of(const generated_call& call) {
  auto dash = call.id.rfind('-');
  std::string digits = dash == std::string::npos ? call.id : call.id.substr(dash + 1);
  return {"fc_" + digits, "call_" + digits, call.name, call.arguments};
}

std::string responses_json(const responses_meta& meta, std::string_view text, const usage& use,
                           const std::vector<responses_call_output>& calls) {
  ojson output = ojson::array();
  if (!calls.empty()) {
    for (const auto& call : calls)
      output.push_back(call_item(call, "completed", call.arguments));
  } else {
    std::optional<ojson> logprobs;
    if (meta.top_logprobs) logprobs = responses_logprobs(text, 0, *meta.top_logprobs);
    output.push_back(message_item(meta, "completed", ojson::array({text_part(text, logprobs)})));
  }
  return response_object(meta, "completed", std::move(output), &use).dump();
}

void responses_stream::event(std::string& out, std::string_view type, ojson body) {
  ojson e;
  e["type"] = type;
  e["sequence_number"] = sequence_++;
  for (auto it = body.begin(); it != body.end(); ++it)
    e[it.key()] = std::move(it.value());
  out += "event: ";
  out += type;
  out += "\ndata: ";
  out += e.dump();
  out += "\n\n";
}

void responses_stream::append_start(std::string& out) {
  if (started_) return;
  started_ = true;
  auto r = response_object(meta_, "in_progress", ojson::array(), nullptr);
  event(out, "response.created", {{"response", r}});
  event(out, "response.in_progress", {{"response", std::move(r)}});
}

void responses_stream::open_message(std::string& out) {
  append_start(out);
  if (message_open_) return;
  message_open_ = true;
  const auto output_index = calls_.size();
  event(out, "response.output_item.added",
        {{"output_index", output_index},
         {"item", message_item(meta_, "in_progress", ojson::array())}});
  std::optional<ojson> none_yet;
  if (meta_.top_logprobs) none_yet = ojson::array();
  event(out, "response.content_part.added",
        {{"item_id", meta_.item_id},
         {"output_index", output_index},
         {"content_index", 0},
         {"part", text_part("", none_yet)}});
}

void responses_stream::append_text(std::string& out, std::string_view text) {
  append_start(out);
  if (!pending_.empty()) return call_text(out, text);
  open_message(out);
  if (text.empty()) return;
  ojson body = {{"item_id", meta_.item_id},
                {"output_index", calls_.size()},
                {"content_index", 0},
                {"delta", text}};
  if (meta_.top_logprobs) {
    auto lps = responses_logprobs(text, tokens_, *meta_.top_logprobs);
    tokens_ += lps.size();
    for (const auto& lp : lps)
      logprobs_.push_back(lp);
    body["logprobs"] = std::move(lps);
  }
  text_ += text;
  event(out, "response.output_text.delta", std::move(body));
}

void responses_stream::append_call(std::string& out, const responses_call_output& call) {
  expect_calls({call});
  append_text(out, call.arguments);
  close_call(out);  // even with empty arguments
}

void responses_stream::expect_calls(std::vector<responses_call_output> calls) {
  for (auto& call : calls)
    pending_.push_back(std::move(call));
}

void responses_stream::open_call(std::string& out) {
  if (call_open_) return;
  call_open_ = true;
  arguments_.clear();
  event(
      out, "response.output_item.added",
      {{"output_index", calls_.size()}, {"item", call_item(pending_.front(), "in_progress", "")}});
}

void responses_stream::call_text(std::string& out, std::string_view text) {
  while (!pending_.empty()) {
    open_call(out);
    const auto& call = pending_.front();
    size_t left = call.arguments.size() - std::min(call.arguments.size(), arguments_.size());
    size_t take = std::min(text.size(), left);
    if (take > 0) {
      arguments_.append(text.substr(0, take));
      event(
          out, "response.function_call_arguments.delta",
          {{"item_id", call.id}, {"output_index", calls_.size()}, {"delta", text.substr(0, take)}});
      text.remove_prefix(take);
    }
    if (take < left) return;  // more of it to come
    close_call(out);
    if (text.empty()) return;
  }
}

void responses_stream::close_call(std::string& out) {
  if (pending_.empty()) return;
  open_call(out);
  auto call = std::move(pending_.front());
  pending_.erase(pending_.begin());
  call_open_ = false;
  call.arguments = std::move(arguments_);
  arguments_.clear();
  const auto output_index = calls_.size();
  event(out, "response.function_call_arguments.done",
        {{"item_id", call.id},
         {"output_index", output_index},
         {"name", call.name},
         {"arguments", call.arguments}});
  event(out, "response.output_item.done",
        {{"output_index", output_index}, {"item", call_item(call, "completed", call.arguments)}});
  calls_.push_back(std::move(call));
}

void responses_stream::append_finish(std::string& out, const usage& use) {
  append_start(out);
  while (!pending_.empty())  // calls the stream cut short end with what they got
    close_call(out);
  ojson output = ojson::array();
  for (const auto& call : calls_)
    output.push_back(call_item(call, "completed", call.arguments));
  if (calls_.empty()) open_message(out);  // a response always says something
  if (message_open_) {
    const auto output_index = calls_.size();
    // Per-token entries went out with the deltas: the done events say [] and null.
    ojson done = {{"item_id", meta_.item_id},
                  {"output_index", output_index},
                  {"content_index", 0},
                  {"text", text_}};
    if (meta_.top_logprobs) done["logprobs"] = ojson::array();
    event(out, "response.output_text.done", std::move(done));
    std::optional<ojson> streamed;
    if (meta_.top_logprobs) streamed = ojson();
    event(out, "response.content_part.done",
          {{"item_id", meta_.item_id},
           {"output_index", output_index},
           {"content_index", 0},
           {"part", text_part(text_, streamed)}});
    event(out, "response.output_item.done",
          {{"output_index", output_index},
           {"item", message_item(meta_, "completed", ojson::array({text_part(text_, streamed)}))}});
    std::optional<ojson> all;
    if (meta_.top_logprobs) all = logprobs_;
    output.push_back(message_item(meta_, "completed", ojson::array({text_part(text_, all)})));
  }
  event(out, "response.completed",
        {{"response", response_object(meta_, "completed", std::move(output), &use)}});
}

void responses_stream::append_error(std::string& out, const api_error& err) {
  append_start(out);
  event(out, "error",
        {{"code", err.code.empty() ? ojson(err.type) : ojson(err.code)},
         {"message", err.message},
         {"param", err.param ? ojson(*err.param) : ojson()}});
}

}  // namespace inferstack::openai
