#include "openai/extract_model.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <system_error>

#include "openai/request.hpp"
#include "runtime/json_escape.hpp"

namespace inferstack::openai {

namespace {

// What the scanner does with the bytes of a string: 0 plain, 1 stop (quote, backslash,
// control character), 2 non-ASCII (UTF-8 check).
constexpr std::array<uint8_t, 256> make_string_table() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c)
    t[c] = 1;
  t['"'] = 1;
  t['\\'] = 1;
  for (int c = 0x80; c < 0x100; ++c)
    t[c] = 2;
  return t;
}

constexpr auto string_table = make_string_table();

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class scanner {
 public:
  explicit scanner(std::string_view text) : s_(text) {}

  model_lookup run() {
    model_lookup result;
    if (s_.size() >= 1 && static_cast<unsigned char>(s_[0]) == 0xEF) {
      // nlohmann skips a UTF-8 byte order mark at the very start.
      if (s_.size() < 3 || static_cast<unsigned char>(s_[1]) != 0xBB ||
          static_cast<unsigned char>(s_[2]) != 0xBF) {
        return fail(result, 0);
      }
      pos_ = 3;
    }
    skip_ws();
    if (pos_ >= s_.size()) return fail(result, pos_);
    const bool top_is_object = s_[pos_] == '{';
    std::string_view top_type;
    bool saw_model = false;
    bool model_is_string = false;
    std::string_view model_type;
    bool expect_model_value = false;
    bool first_value = true;

    for (;;) {
      // Parse one value at pos_.
      skip_ws();
      if (pos_ >= s_.size()) return fail(result, pos_);
      const char c = s_[pos_];
      const bool is_model_value = expect_model_value;
      expect_model_value = false;
      std::string_view kind;
      if (c == '{' || c == '[') {
        kind = c == '{' ? "an object" : "an array";
        if (first_value) top_type = kind;
        first_value = false;
        if (is_model_value) note_model(saw_model, model_is_string, model_type, kind);
        stack_.push_back(c);
        ++pos_;
        skip_ws();
        if (pos_ >= s_.size() || s_[pos_] != (c == '{' ? '}' : ']')) {
          if (c == '{') {
            bool is_model = false;
            if (!read_key(is_model)) return fail(result, pos_);
            expect_model_value = is_model;
          }
          continue;  // parse the first member / element
        }
        ++pos_;  // empty container: a complete value
        stack_.pop_back();
      } else if (c == '"') {
        kind = "a string";
        if (is_model_value) {
          result.model.clear();
          if (!scan_string(&result.model)) return fail(result, pos_);
        } else if (!scan_string(nullptr)) {
          return fail(result, pos_);
        }
      } else if (c == 't' || c == 'f' || c == 'n') {
        std::string_view lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
        if (s_.substr(pos_, lit.size()) != lit) return fail(result, pos_);
        pos_ += lit.size();
        kind = c == 'n' ? "null" : "a boolean";
      } else if (c == '-' || (c >= '0' && c <= '9')) {
        bool integral = false;
        if (!scan_number(integral)) return fail(result, pos_);
        kind = integral ? "an integer" : "a decimal";
      } else {
        return fail(result, pos_);
      }
      if (c != '{' && c != '[') {
        if (first_value) top_type = kind;
        first_value = false;
        if (is_model_value) note_model(saw_model, model_is_string, model_type, kind);
      }

      // After a value: close containers or move to the next element.
      for (;;) {
        skip_ws();
        if (stack_.empty()) {
          // nlohmann's lexer reads a NUL byte as the end of input: whatever follows is ignored.
          if (pos_ != s_.size() && s_[pos_] != '\0') return fail(result, pos_);
          if (!top_is_object) {
            result.status = model_status::not_an_object;
            result.value_type = top_type;
            result.model.clear();
          } else if (!saw_model) {
            result.status = model_status::missing;
            result.model.clear();
          } else if (!model_is_string) {
            result.status = model_status::not_a_string;
            result.value_type = model_type;
            result.model.clear();
          } else {
            result.status = model_status::found;
          }
          return result;
        }
        if (pos_ >= s_.size()) return fail(result, pos_);
        const char top = stack_.back();
        const char d = s_[pos_];
        if (d == ',') {
          ++pos_;
          if (top == '{') {
            skip_ws();
            bool is_model = false;
            if (!read_key(is_model)) return fail(result, pos_);
            expect_model_value = is_model;
          }
          break;  // parse the next value
        }
        if ((top == '{' && d == '}') || (top == '[' && d == ']')) {
          ++pos_;
          stack_.pop_back();
          continue;
        }
        return fail(result, pos_);
      }
    }
  }

 private:
  model_lookup& fail(model_lookup& r, size_t at) {
    r.status = model_status::invalid_json;
    r.model.clear();
    r.error_offset = at;
    return r;
  }

  void note_model(bool& saw, bool& is_string, std::string_view& type, std::string_view kind) {
    // The last occurrence wins; null counts as absent (as parse_request treats it).
    if (kind == "null") {
      saw = false;
      return;
    }
    saw = true;
    is_string = kind == "a string";
    type = kind;
  }

  void skip_ws() {
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
      ++pos_;
    }
  }

  // At a key (after '{' or ','): reads `"key"` and the ':'. Sets is_model for a top-level
  // "model" key.
  bool read_key(bool& is_model) {
    if (pos_ >= s_.size() || s_[pos_] != '"') return false;
    const size_t start = pos_ + 1;
    const bool top_level = stack_.size() == 1;
    if (top_level) {
      key_.clear();
      if (!scan_string(&key_, /*raw_ok=*/true)) return false;
      // scan_string leaves key_ empty when the raw bytes had no escape: compare those.
      if (key_raw_) {
        is_model = s_.substr(start, pos_ - 1 - start) == "model";
      } else {
        is_model = key_ == "model";
      }
    } else if (!scan_string(nullptr)) {
      return false;
    }
    skip_ws();
    if (pos_ >= s_.size() || s_[pos_] != ':') return false;
    ++pos_;
    return true;
  }

  // At an opening quote. Validates the string as nlohmann does (no raw control characters,
  // valid escapes, paired surrogates, well-formed UTF-8). With `out`, also decodes it; with
  // raw_ok, leaves `out` untouched and sets key_raw_ when there was no escape to decode.
  bool scan_string(std::string* out, bool raw_ok = false) {
    ++pos_;
    bool escaped = false;
    size_t run = pos_;
    key_raw_ = false;
    while (pos_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[pos_]);
      const uint8_t cls = string_table[c];
      if (cls == 0) {
        ++pos_;
        continue;
      }
      if (cls == 2) {
        const size_t n = runtime::utf8_sequence_length(s_.substr(pos_));
        if (n == 0) return false;
        pos_ += n;
        continue;
      }
      if (c == '"') {
        if (out) {
          if (!escaped && raw_ok) {
            key_raw_ = true;
          } else {
            out->append(s_.data() + run, pos_ - run);
          }
        }
        ++pos_;
        return true;
      }
      if (c != '\\') return false;  // control character
      if (out) out->append(s_.data() + run, pos_ - run);
      escaped = true;
      if (++pos_ >= s_.size()) return false;
      const char e = s_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          if (out) *out += e;
          break;
        case 'b':
          if (out) *out += '\b';
          break;
        case 'f':
          if (out) *out += '\f';
          break;
        case 'n':
          if (out) *out += '\n';
          break;
        case 'r':
          if (out) *out += '\r';
          break;
        case 't':
          if (out) *out += '\t';
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!read_hex4(cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // low surrogate first
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (pos_ + 1 >= s_.size() || s_[pos_] != '\\' || s_[pos_ + 1] != 'u') return false;
            pos_ += 2;
            uint32_t low = 0;
            if (!read_hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          if (out) append_utf8(*out, cp);
          break;
        }
        default:
          return false;
      }
      run = pos_;
    }
    return false;  // unterminated
  }

  bool read_hex4(uint32_t& cp) {
    if (pos_ + 4 > s_.size()) return false;
    cp = 0;
    for (int k = 0; k < 4; ++k) {
      const int h = hex_value(s_[pos_ + k]);
      if (h < 0) return false;
      cp = (cp << 4) | static_cast<uint32_t>(h);
    }
    pos_ += 4;
    return true;
  }

  // JSON number grammar, then nlohmann's extra rule: a number that only fits a double must be
  // finite ("number overflow" otherwise; underflow to 0 is fine).
  bool scan_number(bool& integral) {
    const size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    if (pos_ >= s_.size()) return false;
    const size_t int_begin = pos_;
    if (s_[pos_] == '0') {
      ++pos_;
    } else if (s_[pos_] >= '1' && s_[pos_] <= '9') {
      while (pos_ < s_.size() && is_digit(s_[pos_]))
        ++pos_;
    } else {
      return false;
    }
    const size_t int_end = pos_;
    size_t frac_begin = pos_, frac_end = pos_;
    bool has_frac = false, has_exp = false;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      frac_begin = pos_;
      if (pos_ >= s_.size() || !is_digit(s_[pos_])) return false;
      while (pos_ < s_.size() && is_digit(s_[pos_]))
        ++pos_;
      frac_end = pos_;
      has_frac = true;
    }
    int64_t exp_value = 0;
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      bool negative = false;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) negative = s_[pos_++] == '-';
      if (pos_ >= s_.size() || !is_digit(s_[pos_])) return false;
      while (pos_ < s_.size() && is_digit(s_[pos_])) {
        if (exp_value < 1000000000) exp_value = exp_value * 10 + (s_[pos_] - '0');
        ++pos_;
      }
      if (negative) exp_value = -exp_value;
      has_exp = true;
    }
    const std::string_view token = s_.substr(start, pos_ - start);
    integral = false;
    if (!has_frac && !has_exp) {
      // nlohmann keeps it an integer when it fits int64 (negative) or uint64.
      if (token[0] == '-') {
        int64_t v;
        auto r = std::from_chars(token.data(), token.data() + token.size(), v);
        integral = r.ec == std::errc{};
      } else {
        uint64_t v;
        auto r = std::from_chars(token.data(), token.data() + token.size(), v);
        integral = r.ec == std::errc{};
      }
      if (integral || token.size() < 300) return true;  // < 10^299: a finite double
    }
    if (!has_exp && token.size() < 300) return true;
    double d;
    auto r = std::from_chars(token.data(), token.data() + token.size(), d);
    if (r.ec == std::errc{}) return true;
    if (r.ec != std::errc::result_out_of_range) return false;
    // Out of range: overflow (rejected) or underflow (nlohmann gets 0 or a denormal: fine).
    int64_t magnitude;
    size_t k = int_begin;
    while (k < int_end && s_[k] == '0')
      ++k;
    if (k < int_end) {
      magnitude = static_cast<int64_t>(int_end - k) - 1;
    } else {
      size_t f = frac_begin;
      while (f < frac_end && s_[f] == '0')
        ++f;
      magnitude = -static_cast<int64_t>(f - frac_begin) - 1;
    }
    return magnitude + exp_value <= 0;
  }

  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  std::string_view s_;
  size_t pos_ = 0;
  std::string stack_;  // '{' / '[' of the open containers
  std::string key_;
  bool key_raw_ = false;
};

}  // namespace

model_lookup extract_model(std::string_view body) {
  return scanner(body).run();
}

std::optional<api_error> model_lookup_error(const model_lookup& lookup) {
  switch (lookup.status) {
    case model_status::found:
      return std::nullopt;
    case model_status::missing:
      return missing_parameter("model");
    case model_status::not_a_string:
      return invalid_type("model", "a string", lookup.value_type);
    case model_status::not_an_object:
      return invalid_body_type(lookup.value_type);
    case model_status::invalid_json:
      return invalid_json_error("syntax error at byte " + std::to_string(lookup.error_offset));
  }
  return std::nullopt;
}

}  // namespace inferstack::openai
