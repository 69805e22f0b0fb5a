#include "gateway/openai/picking_prompt.hpp"

#include <cstdint>
#include <limits>

#include <nlohmann/json.hpp>

namespace inferstack::openai {

namespace {

using json = nlohmann::json;

/// What a container is, by where it sits in the body.
enum class role {
  top,           ///< the request object
  prompt_list,   ///< "prompt": [...]
  prompt_batch,  ///< "prompt": [[...], ...] -- an inner token list
  messages,      ///< "messages": [...]
  message,       ///< one of the messages
  parts,         ///< a message's "content": [...]
  part,          ///< one content part
  other,         ///< anything else: read past
};

struct frame {
  role what;
  std::string key;      ///< objects: the key whose value comes next
  size_t elements = 0;  ///< arrays: values seen so far
};

/// One content part, its fields as they came (in any order; the last duplicate wins).
struct part_fields {
  std::optional<std::string> type, text, refusal;
  bool type_not_string = false, text_present = false, text_not_string = false,
       refusal_not_string = false;
};

/// One message being read.
struct message_fields {
  std::optional<std::string> role_name;
  bool role_not_string = false;
  std::string content;
  bool first_text = true;
};

enum class prompt_shape { none, text, strings, ids, batches };

// Accepts only what parse_request accepts and reads it the same way; anything else (including
// JSON nulls where a value matters) ends the parse with `bad_`, and the caller falls back.
class picking_sax {
 public:
  explicit picking_sax(endpoint kind) : chat_(kind == endpoint::chat_completions) {}

  bool null() { return value_scalar(scalar::null); }
  bool boolean(bool) { return value_scalar(scalar::other); }
  bool number_integer(json::number_integer_t v) {
    if (v < 0) return value_scalar(scalar::other);
    return number_unsigned(static_cast<json::number_unsigned_t>(v));
  }
  bool number_unsigned(json::number_unsigned_t v) {
    if (v > std::numeric_limits<uint32_t>::max()) return value_scalar(scalar::other);
    token_ = static_cast<uint32_t>(v);
    return value_scalar(scalar::token);
  }
  bool number_float(json::number_float_t, const json::string_t&) {
    return value_scalar(scalar::other);
  }
  bool binary(json::binary_t&) { return value_scalar(scalar::other); }
  bool string(json::string_t& s) {
    string_ = &s;
    return value_scalar(scalar::string);
  }

  bool key(json::string_t& k) {
    auto& f = frames_.back();
    f.key = k;
    if (f.what == role::top) {
      if (!chat_ && k == "prompt") reset_prompt();
      if (chat_ && k == "messages") {
        turns_.clear();
        saw_messages_ = false;
      }
    } else if (f.what == role::message) {
      // The last of duplicate keys wins, as in the DOM; a value that is not a string leaves
      // the field marked so.
      if (k == "content") {
        message_.content.clear();
        message_.first_text = true;
      } else if (k == "role") {
        message_.role_name.reset();
        message_.role_not_string = true;
      }
    } else if (f.what == role::part) {
      if (k == "type") {
        part_.type.reset();
        part_.type_not_string = true;
      } else if (k == "text") {
        part_.text_present = true;
        part_.text.reset();
        part_.text_not_string = true;
      } else if (k == "refusal") {
        part_.refusal.reset();
        part_.refusal_not_string = true;
      }
    }
    return true;
  }

  bool start_object(std::size_t) {
    if (frames_.empty()) {
      frames_.push_back({role::top, {}, 0});
      return true;
    }
    auto parent = open_value();
    role what = role::other;
    if (parent == role::messages) {
      what = role::message;
      message_ = message_fields{};
    } else if (parent == role::parts) {
      what = role::part;
      part_ = part_fields{};
    } else if (parent == role::top && key_is("prompt", "messages")) {
      return bad();
    } else if (parent == role::prompt_list || parent == role::prompt_batch) {
      return bad();
    } else if (parent == role::message && frames_.back().key == "content") {
      return bad();
    } else if (parent == role::part && key_is_part_field()) {
      return bad();
    }
    frames_.push_back({what, {}, 0});
    return true;
  }

  bool end_object() {
    auto what = frames_.back().what;
    frames_.pop_back();
    if (what == role::message) return finish_message();
    if (what == role::part) return finish_part();
    return true;
  }

  bool start_array(std::size_t) {
    if (frames_.empty()) return bad();  // the top level must be an object
    auto parent = open_value();
    role what = role::other;
    if (parent == role::top && !chat_ && frames_.back().key == "prompt") {
      what = role::prompt_list;
    } else if (parent == role::top && chat_ && frames_.back().key == "messages") {
      what = role::messages;
      saw_messages_ = true;
    } else if (parent == role::prompt_list) {
      // An inner list: the prompt is a batch of token lists (only the first one is kept).
      if (!element_kind(prompt_shape::batches)) return bad();
      what = role::prompt_batch;
    } else if (parent == role::message && frames_.back().key == "content") {
      what = role::parts;
    } else if (parent == role::messages || parent == role::parts || parent == role::prompt_batch ||
               (parent == role::message && frames_.back().key == "role") ||
               (parent == role::part && key_is_part_field())) {
      return bad();
    }
    frames_.push_back({what, {}, 0});
    return true;
  }

  bool end_array() {
    auto f = frames_.back();
    frames_.pop_back();
    if (f.what == role::prompt_list && f.elements == 0) return bad();  // parse_request: empty
    if (f.what == role::messages && f.elements == 0) return bad();
    if (f.what == role::prompt_batch) {
      if (f.elements == 0) return bad();
      batch_done_ = true;
    }
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return bad();
  }

  std::optional<picking_prompt> result() {
    if (bad_ || !frames_.empty()) return std::nullopt;
    picking_prompt out;
    if (chat_) {
      if (!saw_messages_) return std::nullopt;
      out.turns = std::move(turns_);
      return out;
    }
    switch (shape_) {
      case prompt_shape::none:
        return std::nullopt;
      case prompt_shape::text:
      case prompt_shape::strings:
        out.text = std::move(text_);
        break;
      case prompt_shape::ids:
      case prompt_shape::batches:
        out.ids = std::move(ids_);
        out.has_ids = true;
        break;
    }
    return out;
  }

 private:
  enum class scalar { null, string, token, other };

  bool bad() {
    bad_ = true;
    return false;
  }

  bool key_is(std::string_view a, std::string_view b) const {
    const auto& k = frames_.back().key;
    return chat_ ? k == b : k == a;
  }

  bool key_is_part_field() const {
    const auto& k = frames_.back().key;
    return k == "type" || k == "text" || k == "refusal";
  }

  /// A value starts inside the innermost container: count it and say what that container is.
  role open_value() {
    auto& f = frames_.back();
    ++f.elements;
    return f.what;
  }

  void reset_prompt() {
    shape_ = prompt_shape::none;
    text_.clear();
    ids_.clear();
    batch_done_ = false;
  }

  /// Every element of a prompt list must be of the kind its first element set.
  bool element_kind(prompt_shape kind) {
    auto& list = frames_.back();
    if (list.elements == 1) {
      shape_ = kind;
      return true;
    }
    return shape_ == kind;
  }

  bool value_scalar(scalar kind) {
    if (frames_.empty()) return bad();  // the top level must be an object
    auto parent = open_value();
    auto& f = frames_.back();
    switch (parent) {
      case role::top:
        if (!chat_ && f.key == "prompt") {
          // A string, non-empty (null and other scalars: parse_request refuses them).
          if (kind != scalar::string || string_->empty()) return bad();
          shape_ = prompt_shape::text;
          text_ = std::move(*string_);
        } else if (chat_ && f.key == "messages") {
          return bad();
        }
        return true;
      case role::prompt_list:
        if (kind == scalar::string) {
          if (!element_kind(prompt_shape::strings) || string_->empty()) return bad();
          if (f.elements == 1) text_ = std::move(*string_);
          return true;
        }
        if (kind == scalar::token) {
          if (!element_kind(prompt_shape::ids)) return bad();
          ids_.push_back(token_);
          return true;
        }
        return bad();
      case role::prompt_batch:
        if (kind != scalar::token) return bad();
        if (!batch_done_) ids_.push_back(token_);
        return true;
      case role::messages:
      case role::parts:
        return bad();  // elements must be objects
      case role::message:
        if (f.key == "role") {
          if (kind != scalar::string) return bad();
          message_.role_name = std::move(*string_);
          message_.role_not_string = false;
        } else if (f.key == "content") {
          if (kind == scalar::string) {
            message_.content = std::move(*string_);
          } else if (kind != scalar::null) {
            return bad();
          }
        }
        return true;
      case role::part:
        if (f.key == "type") {
          // null reads as absent, as find_field has it
          part_.type_not_string = kind != scalar::string && kind != scalar::null;
          if (kind == scalar::string) part_.type = std::move(*string_);
        } else if (f.key == "text") {
          part_.text_not_string = kind != scalar::string;
          if (kind == scalar::string) part_.text = std::move(*string_);
        } else if (f.key == "refusal") {
          part_.refusal_not_string = kind != scalar::string;
          if (kind == scalar::string) part_.refusal = std::move(*string_);
        }
        return true;
      case role::other:
        return true;
    }
    return true;
  }

  bool finish_message() {
    if (!message_.role_name || message_.role_not_string) return bad();
    turns_.emplace_back(std::move(*message_.role_name), std::move(message_.content));
    return true;
  }

  bool finish_part() {
    if (part_.type_not_string) return bad();
    std::string_view type;
    if (part_.type) {
      type = *part_.type;
    } else if (part_.text_present) {
      type = "text";  // vLLM accepts a bare {"text": ...} part
    } else {
      return bad();
    }
    const std::optional<std::string>* text = nullptr;
    bool not_string = false;
    if (type == "text" || type == "input_text" || type == "output_text") {
      text = &part_.text;
      not_string = part_.text_not_string;
    } else if (type == "refusal") {
      text = &part_.refusal;
      not_string = part_.refusal_not_string;
    } else if (type == "image_url" || type == "input_image" || type == "image_embeds" ||
               type == "audio_url" || type == "input_audio" || type == "video_url" ||
               type == "file") {
      return true;  // media: no text
    } else {
      return bad();
    }
    if (not_string || !*text) return bad();
    if (!message_.first_text) message_.content += '\n';
    message_.content += **text;
    message_.first_text = false;
    return true;
  }

  bool chat_;
  bool bad_ = false;
  std::vector<frame> frames_;
  json::string_t* string_ = nullptr;
  uint32_t token_ = 0;

  prompt_shape shape_ = prompt_shape::none;
  std::string text_;
  token_ids ids_;
  bool batch_done_ = false;

  bool saw_messages_ = false;
  std::vector<std::pair<std::string, std::string>> turns_;
  message_fields message_;
  part_fields part_;
};

}  // namespace

std::optional<picking_prompt> extract_picking_prompt(endpoint kind, std::string_view body) {
  picking_sax sax(kind);
  if (!json::sax_parse(body.begin(), body.end(), &sax)) return std::nullopt;
  return sax.result();
}

}  // namespace inferstack::openai
