#include "openai/picking_prompt.hpp"

#include <cstdint>
#include <limits>
#include <utility>

#include <simdjson.h>

namespace inferstack::openai {

namespace {

namespace od = simdjson::ondemand;

// Each reader accepts only what parse_request accepts, and reads it the same way: the last of
// duplicate keys wins, a JSON null reads as an absent field. Anything else: false, and the
// caller falls back to the full parse.

bool is_null(od::value& v) {
  od::json_type type;
  return !v.type().get(type) && type == od::json_type::null;
}

bool read_token(od::value& v, uint32_t& out) {
  od::json_type type;
  if (v.type().get(type) || type != od::json_type::number) return false;
  od::number_type kind;
  if (v.get_number_type().get(kind) || kind == od::number_type::floating_point_number) return false;
  int64_t id = 0;
  if (v.get_int64().get(id) || id < 0 || id > std::numeric_limits<uint32_t>::max()) return false;
  out = static_cast<uint32_t>(id);
  return true;
}

bool read_token_list(od::array list, token_ids& out, bool keep) {
  size_t n = 0;
  for (auto element : list) {
    od::value v;
    uint32_t id = 0;
    if (std::move(element).get(v) || !read_token(v, id)) return false;
    if (keep) out.push_back(id);
    ++n;
  }
  return n > 0;
}

/// "prompt": a non-empty string, or a non-empty list of non-empty strings, of token ids, or
/// of non-empty token id lists. The first prompt is kept.
bool read_prompt(od::value& v, picking_prompt& out) {
  out.text.clear();
  out.ids.clear();
  out.has_ids = false;
  od::json_type type;
  if (v.type().get(type)) return false;
  if (type == od::json_type::string) {
    std::string_view s;
    if (v.get_string().get(s) || s.empty()) return false;
    out.text = s;
    return true;
  }
  if (type != od::json_type::array) return false;
  od::array list;
  if (v.get_array().get(list)) return false;
  std::optional<od::json_type> first;
  size_t n = 0;
  for (auto element : list) {
    od::value e;
    od::json_type t;
    if (std::move(element).get(e) || e.type().get(t)) return false;
    if (!first) first = t;
    if (t != *first) return false;
    if (t == od::json_type::string) {
      std::string_view s;
      if (e.get_string().get(s) || s.empty()) return false;
      if (n == 0) out.text = s;
    } else if (t == od::json_type::number) {
      uint32_t id = 0;
      if (!read_token(e, id)) return false;
      out.ids.push_back(id);
      out.has_ids = true;
    } else if (t == od::json_type::array) {
      od::array batch;
      if (e.get_array().get(batch) || !read_token_list(batch, out.ids, n == 0)) return false;
      out.has_ids = true;
    } else {
      return false;
    }
    ++n;
  }
  return n > 0;
}

/// One content part: its text (or refusal) appended, media skipped.
bool read_part(od::value& v, std::string& content, bool& first_text) {
  od::object part;
  if (v.get_object().get(part)) return false;
  std::optional<std::string> type, text, refusal;
  bool has_text_key = false, type_bad = false, text_bad = false, refusal_bad = false;
  for (auto field_result : part) {
    od::field field;
    std::string_view key;
    if (std::move(field_result).get(field) || field.unescaped_key().get(key)) return false;
    od::value value = field.value();
    if (key != "type" && key != "text" && key != "refusal") continue;
    od::json_type t;
    if (value.type().get(t)) return false;
    std::string_view s;
    bool is_string = t == od::json_type::string;
    if (is_string && value.get_string().get(s)) return false;
    if (key == "type") {
      type_bad = t != od::json_type::null && !is_string;
      if (is_string)
        type = std::string(s);
      else
        type.reset();
    } else if (key == "text") {
      has_text_key = true;
      text_bad = !is_string;
      if (is_string)
        text = std::string(s);
      else
        text.reset();
    } else {
      refusal_bad = !is_string;
      if (is_string)
        refusal = std::string(s);
      else
        refusal.reset();
    }
  }
  if (type_bad) return false;
  std::string_view kind;
  if (type) {
    kind = *type;
  } else if (has_text_key) {
    kind = "text";  // vLLM accepts a bare {"text": ...} part
  } else {
    return false;
  }
  const std::optional<std::string>* piece = nullptr;
  bool bad = false;
  switch (classify_part(kind)) {
    case part_kind::text:
      piece = &text;
      bad = text_bad;
      break;
    case part_kind::refusal:
      piece = &refusal;
      bad = refusal_bad;
      break;
    case part_kind::media:
      return true;  // no text
    case part_kind::unknown:
      return false;
  }
  if (bad || !*piece) return false;
  if (!first_text) content += '\n';
  content += **piece;
  first_text = false;
  return true;
}

/// One message: a string role, and a content that is a string, null or a list of parts.
bool read_message(od::value& v, std::pair<std::string, std::string>& out) {
  od::object message;
  if (v.get_object().get(message)) return false;
  std::optional<std::string> role;
  std::string content;
  bool content_bad = false;
  for (auto field_result : message) {
    od::field field;
    std::string_view key;
    if (std::move(field_result).get(field) || field.unescaped_key().get(key)) return false;
    od::value value = field.value();
    if (key == "role") {
      std::string_view s;
      if (value.get_string().get(s))
        role.reset();  // not a string (null too): refused, unless a later "role" is one
      else
        role = std::string(s);
    } else if (key == "content") {
      content.clear();
      content_bad = false;
      od::json_type t;
      if (value.type().get(t)) return false;
      if (t == od::json_type::string) {
        std::string_view s;
        if (value.get_string().get(s)) return false;
        content = s;
      } else if (t == od::json_type::array) {
        od::array parts;
        if (value.get_array().get(parts)) return false;
        bool first_text = true;
        for (auto part_result : parts) {
          od::value part;
          if (std::move(part_result).get(part) || !read_part(part, content, first_text)) {
            content_bad = true;
            break;
          }
        }
      } else if (t != od::json_type::null) {
        content_bad = true;
      }
    }
  }
  if (!role || content_bad) return false;
  out = {std::move(*role), std::move(content)};
  return true;
}

bool read_messages(od::value& v, picking_prompt& out) {
  out.turns.clear();
  od::array list;
  if (v.get_array().get(list)) return false;
  for (auto element : list) {
    od::value m;
    std::pair<std::string, std::string> turn;
    if (std::move(element).get(m) || !read_message(m, turn)) return false;
    out.turns.push_back(std::move(turn));
  }
  return !out.turns.empty();
}

}  // namespace

std::optional<picking_prompt> extract_picking_prompt(endpoint kind, std::string_view body) {
  // simdjson reads up to SIMDJSON_PADDING bytes past the end: the body goes into a per-thread
  // buffer with that much room. The parser, with its buffers, is kept per thread too.
  thread_local std::string padded;
  thread_local od::parser parser;
  // The full parse (nlohmann) reads a NUL byte between tokens as the end of input and ignores
  // what follows; read the same body. (A NUL inside a string is invalid for both.)
  body = body.substr(0, body.find('\0'));
  // ... and skips a UTF-8 byte-order mark at the start, which simdjson 3.0 refuses.
  if (body.starts_with("\xEF\xBB\xBF")) body.remove_prefix(3);
  padded.assign(body);
  padded.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  od::document doc;
  if (parser.iterate(simdjson::padded_string_view(padded.data(), padded.size(), padded.capacity()))
          .get(doc))
    return std::nullopt;
  od::object top;
  if (doc.get_object().get(top)) return std::nullopt;
  const bool chat = kind == endpoint::chat_completions;
  const std::string_view wanted = chat ? "messages" : "prompt";
  picking_prompt out;
  bool found = false;
  for (auto field_result : top) {
    od::field field;
    std::string_view key;
    if (std::move(field_result).get(field) || field.unescaped_key().get(key)) return std::nullopt;
    if (key != wanted) continue;
    // The last of duplicate keys wins: each one replaces what an earlier one gave.
    od::value value = field.value();
    found = !is_null(value) && (chat ? read_messages(value, out) : read_prompt(value, out));
  }
  if (!found) return std::nullopt;
  return out;
}

}  // namespace inferstack::openai
