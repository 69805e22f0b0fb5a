#include "openai/upstream.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

namespace inferstack::openai {

namespace {

using json = nlohmann::json;

// Where in the payload a SAX event is: only the paths the gateway needs are tracked.
enum class ctx : uint8_t { root, choices, choice, delta, use, details, error, ignored };

enum class key_id : uint8_t {
  other,
  object,
  choices,
  usage,
  error,
  message,
  type,
  param,
  code,
  index,
  finish_reason,
  text,
  delta,
  content,
  role,
  prompt_tokens,
  completion_tokens,
  prompt_tokens_details,
  cached_tokens,
};

key_id classify(ctx c, std::string_view k) {
  switch (c) {
    case ctx::root:
      if (k == "object") return key_id::object;
      if (k == "choices") return key_id::choices;
      if (k == "usage") return key_id::usage;
      if (k == "error") return key_id::error;
      [[fallthrough]];  // older vLLM errors are flat: {"object":"error","message",...}
    case ctx::error:
      if (k == "message") return key_id::message;
      if (k == "type") return key_id::type;
      if (k == "param") return key_id::param;
      if (k == "code") return key_id::code;
      return key_id::other;
    case ctx::choice:
      if (k == "index") return key_id::index;
      if (k == "finish_reason") return key_id::finish_reason;
      if (k == "text") return key_id::text;
      if (k == "delta" || k == "message") return key_id::delta;
      return key_id::other;
    case ctx::delta:
      if (k == "content") return key_id::content;
      if (k == "role") return key_id::role;
      return key_id::other;
    case ctx::use:
      if (k == "prompt_tokens") return key_id::prompt_tokens;
      if (k == "completion_tokens") return key_id::completion_tokens;
      if (k == "prompt_tokens_details") return key_id::prompt_tokens_details;
      return key_id::other;
    case ctx::details:
      return k == "cached_tokens" ? key_id::cached_tokens : key_id::other;
    default:
      return key_id::other;
  }
}

struct error_fields {
  std::optional<std::string> message, type, param, code;
  std::optional<int64_t> numeric_code;
  bool any = false;
};

class inspector : public nlohmann::json_sax<json> {
 public:
  payload_info info;
  bool top_is_object = false;

  bool null() override { return scalar_null(); }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t v) override { return integer(v); }
  bool number_unsigned(number_unsigned_t v) override {
    return integer(v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                       ? std::numeric_limits<int64_t>::max()
                       : static_cast<int64_t>(v));
  }
  bool number_float(number_float_t v, const string_t&) override {
    if (std::floor(v) == v && std::abs(v) < 9.0e18) return integer(static_cast<int64_t>(v));
    return true;
  }
  bool string(string_t& s) override {
    if (stack_.empty()) return false;  // top level is not an object
    const frame& f = stack_.back();
    switch (f.c) {
      case ctx::root:
        if (f.key == key_id::object) {
          info.object = s;
        } else if (f.key == key_id::error) {
          // Some servers send {"error": "text"}.
          error_ = error_fields{};
          error_.message = s;
          error_.any = true;
        } else {
          store_error_string(root_error_, f.key, s);
        }
        break;
      case ctx::error:
        store_error_string(error_, f.key, s);
        break;
      case ctx::choice:
        if (f.key == key_id::finish_reason) {
          current_choice().finish_reason = s;
        } else if (f.key == key_id::text) {
          current_choice().text = s;
        }
        break;
      case ctx::delta:
        if (f.key == key_id::content) {
          current_choice().text = s;
        } else if (f.key == key_id::role) {
          current_choice().role = s;
        }
        break;
      default:
        break;
    }
    return true;
  }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    if (stack_.empty()) {
      top_is_object = true;
      stack_.push_back({ctx::root, key_id::other});
      return true;
    }
    const frame& parent = stack_.back();
    ctx c = ctx::ignored;
    if (parent.c == ctx::root && parent.key == key_id::usage) {
      c = ctx::use;
      info.usage.emplace();
      info.usage->cached_tokens.reset();
    } else if (parent.c == ctx::root && parent.key == key_id::error) {
      c = ctx::error;
      error_ = error_fields{};
      error_.any = true;
    } else if (parent.c == ctx::choices) {
      c = ctx::choice;
      info.choices.emplace_back();
    } else if (parent.c == ctx::choice && parent.key == key_id::delta) {
      c = ctx::delta;
    } else if (parent.c == ctx::use && parent.key == key_id::prompt_tokens_details) {
      c = ctx::details;
    }
    stack_.push_back({c, key_id::other});
    return true;
  }
  bool key(string_t& k) override {
    frame& f = stack_.back();
    f.key = classify(f.c, k);
    return true;
  }
  bool end_object() override {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    if (stack_.empty()) return false;
    const frame& parent = stack_.back();
    const bool choices = parent.c == ctx::root && parent.key == key_id::choices;
    stack_.push_back({choices ? ctx::choices : ctx::ignored, key_id::other});
    return true;
  }
  bool end_array() override {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

  void finish() {
    if (error_.any) {
      info.error = to_error(error_);
    } else if (info.object == "error" && root_error_.any) {
      info.error = to_error(root_error_);
    }
  }

 private:
  struct frame {
    ctx c;
    key_id key;
  };

  choice_info& current_choice() { return info.choices.back(); }

  bool scalar_null() {
    if (stack_.empty()) return false;
    const frame& f = stack_.back();
    // "usage": null means no usage; an earlier object under a duplicate key is dropped too.
    if (f.c == ctx::root && f.key == key_id::usage) info.usage.reset();
    if (f.c == ctx::use && f.key == key_id::prompt_tokens_details) {
      info.usage->cached_tokens.reset();
    }
    return true;
  }

  bool integer(int64_t v) {
    if (stack_.empty()) return false;
    const frame& f = stack_.back();
    switch (f.c) {
      case ctx::root:
        if (f.key == key_id::code) {
          root_error_.numeric_code = v;
          root_error_.any = true;
        }
        break;
      case ctx::error:
        if (f.key == key_id::code) error_.numeric_code = v;
        break;
      case ctx::choice:
        if (f.key == key_id::index) current_choice().index = v;
        break;
      case ctx::use:
        if (f.key == key_id::prompt_tokens) info.usage->prompt_tokens = v;
        if (f.key == key_id::completion_tokens) info.usage->completion_tokens = v;
        break;
      case ctx::details:
        if (f.key == key_id::cached_tokens) info.usage->cached_tokens = v;
        break;
      default:
        break;
    }
    return true;
  }

  static void store_error_string(error_fields& e, key_id key, const std::string& s) {
    switch (key) {
      case key_id::message:
        e.message = s;
        break;
      case key_id::type:
        e.type = s;
        break;
      case key_id::param:
        e.param = s;
        break;
      case key_id::code:
        e.code = s;
        break;
      default:
        return;
    }
    e.any = true;
  }

  static api_error to_error(const error_fields& e) {
    api_error err;
    err.status = e.numeric_code ? static_cast<int>(*e.numeric_code) : 0;
    err.message = e.message.value_or("");
    err.type = e.type.value_or("");
    err.param = e.param;
    err.code = e.code.value_or("");
    return err;
  }

  std::vector<frame> stack_;
  error_fields error_;
  error_fields root_error_;
};

}  // namespace

std::optional<payload_info> inspect_payload(std::string_view json_text) {
  inspector handler;
  if (!json::sax_parse(json_text, &handler) || !handler.top_is_object) return std::nullopt;
  handler.finish();
  return std::move(handler.info);
}

std::optional<usage> parse_usage(std::string_view response_json) {
  auto info = inspect_payload(response_json);
  if (!info) return std::nullopt;
  return info->usage;
}

// --- sse_reader ----------------------------------------------------------------------------

void sse_reader::feed(std::string_view bytes) {
  if (failed_) return;
  buffer_.append(bytes.data(), bytes.size());
  if (!bom_checked_) {
    constexpr std::string_view bom = "\xEF\xBB\xBF";
    const std::string_view head = std::string_view(buffer_).substr(scan_, 3);
    if (head.size() < 3 && bom.substr(0, head.size()) == head) return;  // undecided yet
    if (head == bom) scan_ += 3;
    bom_checked_ = true;
  }
  std::string_view line;
  while (take_line(line))
    process_line(line);
  buffer_.erase(0, scan_);
  searched_ = searched_ > scan_ ? searched_ - scan_ : 0;
  scan_ = 0;
  if (buffer_.size() + data_.size() > max_buffer_) {
    failed_ = true;
    buffer_.clear();
    data_.clear();
  }
}

bool sse_reader::take_line(std::string_view& line) {
  if (skip_lf_) {
    if (scan_ >= buffer_.size()) return false;
    if (buffer_[scan_] == '\n') ++scan_;
    skip_lf_ = false;
  }
  // Resume where the last search stopped: a long line fed in small pieces stays linear.
  const size_t end = buffer_.find_first_of("\r\n", std::max(scan_, searched_));
  if (end == std::string::npos) {
    searched_ = buffer_.size();
    return false;
  }
  line = std::string_view(buffer_).substr(scan_, end - scan_);
  if (buffer_[end] == '\r') {
    if (end + 1 < buffer_.size()) {
      scan_ = buffer_[end + 1] == '\n' ? end + 2 : end + 1;
    } else {
      scan_ = end + 1;
      skip_lf_ = true;  // the LF of a CRLF may arrive with the next feed
    }
  } else {
    scan_ = end + 1;
  }
  return true;
}

void sse_reader::process_line(std::string_view line) {
  if (line.empty()) {
    if (has_data_) {
      ready_.push_back(sse_event{std::move(event_), std::move(data_)});
    }
    event_.clear();
    data_.clear();
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // comment (keep-alive)
  std::string_view field = line;
  std::string_view value;
  if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_ += '\n';
    data_.append(value.data(), value.size());
    has_data_ = true;
  } else if (field == "event") {
    event_.assign(value.data(), value.size());
  }
  // "id" and "retry" do not matter to the gateway.
}

std::optional<sse_event> sse_reader::next() {
  if (ready_pos_ >= ready_.size()) {
    ready_.clear();
    ready_pos_ = 0;
    return std::nullopt;
  }
  sse_event ev = std::move(ready_[ready_pos_++]);
  if (ready_pos_ == ready_.size()) {
    ready_.clear();
    ready_pos_ = 0;
  }
  if (ev.is_done()) done_ = true;
  return ev;
}

}  // namespace inferstack::openai
