#include "openai/request.hpp"

#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include <simdjson.h>

namespace inferstack::openai {

using json = nlohmann::json;

std::string_view to_string(endpoint e) {
  if (e == endpoint::responses) return "responses";
  return e == endpoint::chat_completions ? "chat_completions" : "completions";
}

size_t prompt_count(const prompt_input& p) {
  struct visitor {
    size_t operator()(const std::monostate&) const { return 0; }
    size_t operator()(const std::string&) const { return 1; }
    size_t operator()(const std::vector<std::string>& v) const { return v.size(); }
    size_t operator()(const token_ids&) const { return 1; }
    size_t operator()(const std::vector<token_ids>& v) const { return v.size(); }
  };
  return std::visit(visitor{}, p);
}

api_error invalid_json_error(std::string_view detail) {
  std::string m = "We could not parse the JSON body of your request.";
  if (!detail.empty()) {
    m += " (";
    m += detail;
    m += ')';
  }
  return bad_request(std::move(m));
}

part_kind classify_part(std::string_view type) {
  if (type == "text" || type == "input_text" || type == "output_text") return part_kind::text;
  if (type == "refusal") return part_kind::refusal;
  if (type == "image_url" || type == "input_image" || type == "image_embeds" ||
      type == "audio_url" || type == "input_audio" || type == "video_url" || type == "file") {
    return part_kind::media;
  }
  return part_kind::unknown;
}

namespace {

api_error error_with_code(std::string message, std::string param, std::string code) {
  auto err = bad_request(std::move(message), std::move(param));
  err.code = std::move(code);
  return err;
}

api_error missing(const std::string& param) {
  return missing_parameter(param);
}

api_error wrong_type(const std::string& param, std::string_view expected, const json& got) {
  return invalid_type(param, expected, type_phrase(got));
}

api_error out_of_range(const std::string& param) {
  return error_with_code("Invalid value for '" + param + "': integer out of range.", param,
                         "invalid_value");
}

enum class int_read { ok, wrong_type, out_of_range };

// Integers, and decimals with an integral value (pydantic's lax int), within int64.
int_read read_int64(const json& v, int64_t& out) {
  switch (v.type()) {
    case json::value_t::number_integer:
      out = v.get<int64_t>();
      return int_read::ok;
    case json::value_t::number_unsigned: {
      const auto u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return int_read::out_of_range;
      }
      out = static_cast<int64_t>(u);
      return int_read::ok;
    }
    case json::value_t::number_float: {
      const double d = v.get<double>();
      if (std::floor(d) != d) return int_read::wrong_type;
      // 2^63 is exactly representable; anything at or beyond it does not fit.
      if (d >= 9223372036854775808.0 || d < -9223372036854775808.0) return int_read::out_of_range;
      out = static_cast<int64_t>(d);
      return int_read::ok;
    }
    default:
      return int_read::wrong_type;
  }
}

// Reads an optional integer field; returns an error when present with the wrong type.
std::optional<api_error> optional_int(const json& obj, const char* key,
                                      std::optional<int64_t>& out) {
  const json* v = find_field(obj, key);
  if (!v) return std::nullopt;
  int64_t value = 0;
  switch (read_int64(*v, value)) {
    case int_read::ok:
      out = value;
      return std::nullopt;
    case int_read::wrong_type:
      return wrong_type(key, "an integer", *v);
    case int_read::out_of_range:
      return out_of_range(key);
  }
  return std::nullopt;
}

std::optional<api_error> optional_bool(const json& obj, const char* key, bool& out) {
  const json* v = find_field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) return wrong_type(key, "a boolean", *v);
  out = v->get<bool>();
  return std::nullopt;
}

std::optional<api_error> optional_number(const json& obj, const char* key,
                                         std::optional<double>& out) {
  const json* v = find_field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) return wrong_type(key, "a number", *v);
  out = v->get<double>();
  return std::nullopt;
}

// The JSON path of a field, e.g. "messages[2].content[0].text"; built only for error messages.
std::string indexed(std::string_view base, size_t i, std::string_view suffix = {}) {
  std::string p(base);
  p += '[';
  p += std::to_string(i);
  p += ']';
  p += suffix;
  return p;
}

// `path(key)` names the field in the error when it is present with the wrong type.
template <class PathFn>
std::optional<api_error> optional_string(const json& obj, const char* key,
                                         std::optional<std::string>& out, PathFn&& path) {
  const json* v = find_field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) return wrong_type(path(key), "a string", *v);
  out = v->get<std::string>();
  return std::nullopt;
}

// Content of messages[i]: a string, or an array of parts.
std::optional<api_error> parse_content(const json& content, size_t i, chat_message& msg) {
  if (content.is_string()) {
    msg.content = content.get<std::string>();
    return std::nullopt;
  }
  const std::string base = indexed("messages", i, ".content");
  if (!content.is_array()) {
    return wrong_type(base, "one of a string or array of objects", content);
  }
  bool first_text = true;
  // The simulator's plain text of the parts (what its echo mode answers): text parts and
  // "image: <url>" lines, joined with newlines. Kept only when an image is in it.
  std::string plain;
  size_t plain_parts = 0;
  bool image = false;
  auto add_plain = [&](std::string_view line) {
    if (plain_parts++) plain += '\n';
    plain += line;
  };
  for (size_t j = 0; j < content.size(); ++j) {
    const json& part = content[j];
    auto part_path = [&](std::string_view suffix = {}) { return indexed(base, j, suffix); };
    if (!part.is_object()) return wrong_type(part_path(), "an object", part);
    const json* type = find_field(part, "type");
    part_kind kind;
    std::string_view type_name;
    if (type) {
      if (!type->is_string()) return wrong_type(part_path(".type"), "a string", *type);
      type_name = type->get_ref<const std::string&>();
      kind = classify_part(type_name);
    } else if (part.contains("text")) {
      kind = part_kind::text;  // vLLM accepts a bare {"text": ...} part
    } else {
      return missing(part_path(".type"));
    }
    if (kind == part_kind::unknown) {
      return error_with_code("Invalid value for '" + part_path(".type") +
                                 "': unknown content part type '" + std::string(type_name) + "'.",
                             part_path(".type"), "invalid_value");
    }
    if (kind == part_kind::media) {
      ++msg.media_parts;
      const json* img = type_name == "image_url" ? find_field(part, "image_url") : nullptr;
      const json* url = img && img->is_object() ? find_field(*img, "url") : nullptr;
      if (url && url->is_string()) {
        add_plain("image: " + url->get<std::string>());
        image = true;
      }
      continue;
    }
    const char* key = kind == part_kind::text ? "text" : "refusal";
    const json* text = find_field(part, key);
    if (!text) return missing(part_path(std::string(".") + key));
    if (!text->is_string()) return wrong_type(part_path(std::string(".") + key), "a string", *text);
    if (!first_text) msg.content += '\n';
    msg.content += text->get_ref<const std::string&>();
    add_plain(text->get_ref<const std::string&>());
    first_text = false;
  }
  if (image) msg.plain_text = std::move(plain);
  return std::nullopt;
}

// tool_calls of messages[i]; lenient inside each call (ids and arguments are informational).
std::optional<api_error> parse_tool_calls(const json& calls, size_t i, chat_message& msg) {
  if (!calls.is_array()) {
    return wrong_type(indexed("messages", i, ".tool_calls"), "an array", calls);
  }
  msg.tool_calls.reserve(calls.size());
  for (size_t k = 0; k < calls.size(); ++k) {
    const json& call = calls[k];
    if (!call.is_object()) {
      return wrong_type(indexed(indexed("messages", i, ".tool_calls"), k), "an object", call);
    }
    tool_call tc;
    if (const json* id = find_field(call, "id"); id && id->is_string()) {
      tc.id = id->get<std::string>();
    }
    if (const json* fn = find_field(call, "function"); fn && fn->is_object()) {
      if (const json* name = find_field(*fn, "name"); name && name->is_string()) {
        tc.name = name->get<std::string>();
      }
      if (const json* args = find_field(*fn, "arguments")) {
        // OpenAI sends a JSON text; some clients send the object itself.
        tc.arguments = args->is_string() ? args->get<std::string>() : args->dump();
      }
    }
    msg.tool_calls.push_back(std::move(tc));
  }
  return std::nullopt;
}

std::optional<api_error> parse_messages(const json& body, completion_request& req) {
  const json* messages = find_field(body, "messages");
  if (!messages) return missing("messages");
  if (!messages->is_array()) return wrong_type("messages", "an array", *messages);
  if (messages->empty()) {
    return error_with_code(
        "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
        "empty array instead.",
        "messages", "empty_array");
  }
  req.messages.reserve(messages->size());
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    auto path = [i](std::string_view field = {}) {
      return indexed("messages", i, field.empty() ? std::string() : "." + std::string(field));
    };
    if (!m.is_object()) return wrong_type(path(), "an object", m);
    chat_message msg;
    const json* role = find_field(m, "role");
    if (!role) return missing(path("role"));
    if (!role->is_string()) return wrong_type(path("role"), "a string", *role);
    msg.role = role->get<std::string>();
    if (const json* content = find_field(m, "content")) {
      if (auto err = parse_content(*content, i, msg)) return err;
    }
    if (auto err = optional_string(m, "name", msg.name, path)) return err;
    if (auto err = optional_string(m, "tool_call_id", msg.tool_call_id, path)) return err;
    if (const json* calls = find_field(m, "tool_calls")) {
      if (auto err = parse_tool_calls(*calls, i, msg)) return err;
    }
    req.messages.push_back(std::move(msg));
  }
  return std::nullopt;
}

api_error bad_prompt_shape(const parse_rules& rules) {
  return error_with_code(
      rules.simulator ? "prompt must be a string, an array of strings, an array of token ids, or "
                        "an array of arrays of token ids"
                      : "prompt must be a string, array of strings, array of tokens, or array of "
                        "token arrays",
      "prompt", "invalid_type");
}

// `tokens`: the empty prompt is a token array (the simulator words the two apart).
api_error empty_prompt(const parse_rules& rules, bool tokens) {
  if (rules.simulator)
    return error_with_code(tokens ? "prompt must not contain an empty token-id array"
                                  : "prompt must not contain an empty string",
                           "prompt", "invalid_value");
  // vLLM's engine-side text for an empty token prompt; the sim rejects empty strings as well.
  return error_with_code("The decoder prompt cannot be empty", "prompt", "invalid_value");
}

// A token array: every element an integer token id in [0, 2^32).
bool read_tokens(const json& arr, token_ids& out) {
  out.reserve(arr.size());
  for (const json& t : arr) {
    int64_t id = 0;
    if (!t.is_number_integer() || read_int64(t, id) != int_read::ok || id < 0 ||
        id > static_cast<int64_t>(std::numeric_limits<uint32_t>::max())) {
      return false;
    }
    out.push_back(static_cast<uint32_t>(id));
  }
  return true;
}

std::optional<api_error> parse_prompt(const json& body, completion_request& req,
                                      const parse_rules& rules) {
  const json* prompt = find_field(body, "prompt");
  if (!prompt) {
    return error_with_code("At least one of `prompt` or `prompt_embeds` must be set.", "prompt",
                           "missing_required_parameter");
  }
  if (prompt->is_string()) {
    if (prompt->get_ref<const std::string&>().empty()) return empty_prompt(rules, false);
    req.prompt = prompt->get<std::string>();
    return std::nullopt;
  }
  if (!prompt->is_array()) return bad_prompt_shape(rules);
  if (prompt->empty()) {
    return error_with_code(rules.simulator ? "prompt array must contain at least one prompt"
                                           : "please provide at least one prompt",
                           "prompt", "empty_array");
  }
  const json& first = prompt->front();
  if (first.is_string()) {
    std::vector<std::string> prompts;
    prompts.reserve(prompt->size());
    for (const json& p : *prompt) {
      if (!p.is_string()) return bad_prompt_shape(rules);
      if (p.get_ref<const std::string&>().empty()) return empty_prompt(rules, false);
      prompts.push_back(p.get<std::string>());
    }
    req.prompt = std::move(prompts);
    return std::nullopt;
  }
  if (first.is_number()) {
    token_ids tokens;
    if (!read_tokens(*prompt, tokens)) return bad_prompt_shape(rules);
    req.prompt = std::move(tokens);
    return std::nullopt;
  }
  if (first.is_array()) {
    std::vector<token_ids> batches;
    batches.reserve(prompt->size());
    for (const json& p : *prompt) {
      if (!p.is_array()) return bad_prompt_shape(rules);
      token_ids tokens;
      if (!read_tokens(p, tokens)) return bad_prompt_shape(rules);
      if (tokens.empty()) return empty_prompt(rules, true);
      batches.push_back(std::move(tokens));
    }
    req.prompt = std::move(batches);
    return std::nullopt;
  }
  return bad_prompt_shape(rules);
}

/// kv_transfer_params, as vLLM and llm-d-inference-sim read it: an object (null: none) whose
/// do_remote_prefill and do_remote_decode are booleans; its other fields are the connector's.
std::optional<api_error> parse_kv_transfer_params(const json& body, completion_request& req) {
  const json* p = find_field(body, "kv_transfer_params");
  if (!p || p->is_null()) return std::nullopt;
  if (!p->is_object()) return wrong_type("kv_transfer_params", "an object", *p);
  if (auto err = optional_bool(*p, "do_remote_prefill", req.remote_prefill)) return err;
  return optional_bool(*p, "do_remote_decode", req.remote_decode);
}

std::optional<api_error> parse_stream_options(const json& body, completion_request& req,
                                              const parse_rules& rules) {
  const json* options = find_field(body, "stream_options");
  if (!options) return std::nullopt;
  if (!options->is_object()) return wrong_type("stream_options", "an object", *options);
  // vLLM tests `data.get("stream_options") and not data.get("stream")`: an empty object is
  // falsy in Python and passes. The simulator ignores stream_options when not streaming.
  if (!options->empty() && !req.stream && !rules.simulator) {
    return bad_request("Stream options can only be defined when `stream=True`.", "stream_options");
  }
  bool include_usage = true;  // vLLM's StreamOptions default
  if (auto it = options->find("include_usage"); it != options->end()) {
    if (it->is_null()) {
      include_usage = false;
    } else if (it->is_boolean()) {
      include_usage = it->get<bool>();
    } else {
      return wrong_type("stream_options.include_usage", "a boolean", *it);
    }
  }
  bool continuous = false;
  if (const json* c = find_field(*options, "continuous_usage_stats")) {
    if (!c->is_boolean()) {
      return wrong_type("stream_options.continuous_usage_stats", "a boolean", *c);
    }
    continuous = c->get<bool>();
  }
  if (req.stream) {
    req.include_usage = include_usage;
    req.continuous_usage_stats = include_usage && continuous;
  }
  return std::nullopt;
}

std::optional<api_error> validate(endpoint kind, const json& body, completion_request& req,
                                  const parse_rules& rules) {
  if (!body.is_object()) return invalid_body_type(type_phrase(body));
  const json* model = find_field(body, "model");
  if (!model) return missing("model");
  if (!model->is_string()) return wrong_type("model", "a string", *model);
  req.model = model->get<std::string>();

  if (kind == endpoint::chat_completions) {
    if (auto err = parse_messages(body, req)) return err;
  } else {
    if (auto err = parse_prompt(body, req, rules)) return err;
  }

  if (auto err = optional_bool(body, "stream", req.stream)) return err;
  if (auto err = optional_bool(body, "ignore_eos", req.ignore_eos)) return err;
  if (auto err = parse_kv_transfer_params(body, req)) return err;
  if (auto err = optional_bool(body, "echo", req.echo)) return err;
  std::optional<int64_t> n;
  if (auto err = optional_int(body, "n", n)) return err;
  if (auto err = optional_int(body, "max_tokens", req.max_tokens)) return err;
  if (kind == endpoint::chat_completions) {
    if (auto err = optional_int(body, "max_completion_tokens", req.max_completion_tokens)) {
      return err;
    }
  }
  if (auto err = optional_int(body, "seed", req.seed)) return err;
  if (auto err = optional_number(body, "temperature", req.temperature)) return err;
  if (auto err = optional_number(body, "top_p", req.top_p)) return err;
  if (auto err =
          optional_string(body, "user", req.user, [](const char* k) { return std::string(k); })) {
    return err;
  }
  if (auto err = parse_stream_options(body, req, rules)) return err;
  if (kind == endpoint::chat_completions) {
    if (auto err = parse_tools(body, req.tools)) return err;
    if (auto err = parse_response_format(body, req.format)) return err;
  }
  // The count is checked as vLLM checks it (max_logprobs 20): chat's top_logprobs,
  // completions' logprobs.
  if (kind == endpoint::chat_completions) {
    if (auto err = optional_bool(body, "logprobs", req.logprobs)) return err;
  }
  std::optional<int64_t>& logprobs = req.top_logprobs;
  const char* logprobs_key = kind == endpoint::chat_completions ? "top_logprobs" : "logprobs";
  if (auto err = optional_int(body, logprobs_key, logprobs)) return err;
  if (logprobs && *logprobs < 0)
    return bad_request(std::string("`") + logprobs_key + "` must be a positive value.",
                       std::string(logprobs_key));
  if (logprobs && *logprobs > max_logprobs)
    return bad_request("Requested sample logprobs of " + std::to_string(*logprobs) +
                           ", which is greater than max allowed: " + std::to_string(max_logprobs),
                       std::string(logprobs_key));

  if (n) {
    if (*n < 1) {
      return bad_request("n must be at least 1, got " + std::to_string(*n) + ".", "n");
    }
    if (*n > std::numeric_limits<int>::max()) return out_of_range("n");
    req.n = static_cast<int>(*n);
  }
  // vLLM's SamplingParams text; the value checked is the one the request sent.
  if (req.max_tokens && *req.max_tokens < 1) {
    return bad_request(
        "max_tokens must be at least 1, got " + std::to_string(*req.max_tokens) + ".",
        "max_tokens");
  }
  if (req.max_completion_tokens && *req.max_completion_tokens < 1) {
    return bad_request(
        "max_tokens must be at least 1, got " + std::to_string(*req.max_completion_tokens) + ".",
        "max_completion_tokens");
  }
  if (req.ignore_eos && !req.effective_max_tokens()) {
    return bad_request("Ignore_eos is true but max_completion_tokens (or max_tokens) is not set");
  }
  return std::nullopt;
}

// Collects the parser's message without exceptions (only used once a parse has failed).
struct error_collector : nlohmann::json_sax<json> {
  std::string message;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    message = ex.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix.
    if (auto pos = message.find("] ");
        message.rfind("[json.exception.", 0) == 0 && pos != std::string::npos) {
      message.erase(0, pos + 2);
    }
    return false;
  }
};

}  // namespace

parse_result validate_request(endpoint kind, json body, parse_rules rules) {
  completion_request req;
  req.kind = kind;
  if (auto err = validate(kind, body, req, rules)) return *err;
  req.raw = std::move(body);
  return req;
}

namespace {

json tree_of(simdjson::dom::element e) {
  using type = simdjson::dom::element_type;
  switch (e.type()) {
    case type::ARRAY: {
      json out = json::array();
      simdjson::dom::array items;
      if (e.get(items)) break;
      for (auto item : items)
        out.push_back(tree_of(item));
      return out;
    }
    case type::OBJECT: {
      json out = json::object();
      simdjson::dom::object fields;
      if (e.get(fields)) break;
      for (auto [key, value] : fields)
        out[std::string(key)] = tree_of(value);  // a repeated key: the last wins, as nlohmann's
      return out;
    }
    case type::INT64: {  // nlohmann keeps non-negative integers unsigned
      int64_t v = 0;
      if (e.get(v)) break;
      return v >= 0 ? json(static_cast<uint64_t>(v)) : json(v);
    }
    case type::UINT64: {
      uint64_t v = 0;
      if (e.get(v)) break;
      return json(v);
    }
    case type::DOUBLE: {
      double v = 0;
      if (e.get(v)) break;
      return json(v);
    }
    case type::STRING: {
      std::string_view v;
      if (e.get(v)) break;
      return json(std::string(v));
    }
    case type::BOOL: {
      bool v = false;
      if (e.get(v)) break;
      return json(v);
    }
    case type::NULL_VALUE:
      break;
  }
  return json(nullptr);
}

/// The body as nlohmann's tree, read by simdjson: nlohmann's own lexer takes a character at a
/// time, and a long prompt made it most of a request's parse. Whatever simdjson refuses (bad
/// JSON, but also integers beyond 64 bits or a byte-order mark, which nlohmann reads) is left
/// to nlohmann, so the outcome and every error message stay nlohmann's.
std::optional<json> parse_fast(std::string_view body) {
  thread_local std::string padded;
  thread_local simdjson::dom::parser parser;
  // nlohmann reads a NUL byte between tokens as the end of input: the same body here.
  body = body.substr(0, body.find('\0'));
  padded.assign(body);
  padded.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  simdjson::dom::element root;
  if (parser.parse(padded.data(), padded.size(), false).get(root)) return std::nullopt;
  return tree_of(root);
}

}  // namespace

parse_result parse_request(endpoint kind, std::string_view body, parse_rules rules) {
  if (auto fast = parse_fast(body)) return validate_request(kind, std::move(*fast), rules);
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    error_collector collector;
    json::sax_parse(body, &collector);
    return invalid_json_error(collector.message);
  }
  return validate_request(kind, std::move(parsed), rules);
}

const json* find_field(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string_view type_phrase(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a decimal";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "an unsupported value";
  }
}

}  // namespace inferstack::openai
