// Reading what an upstream (a pod, or a real vLLM) sends back, for the gateway: an incremental
// SSE parser fed arbitrary byte pieces, and a SAX-based inspector that pulls content text,
// finish reasons, usage and errors out of a chunk or a whole response without building a DOM.
// The gateway forwards the original bytes untouched; these only observe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "openai/api_error.hpp"
#include "openai/response.hpp"

namespace inferstack::openai {

/// What one choice of a chunk or response carries.
struct choice_info {
  int64_t index = 0;
  /// Chat: delta.content (chunks) or message.content (responses); completions: text. Empty
  /// when absent or null.
  std::string text;
  std::optional<std::string> finish_reason;  ///< present and non-null
  std::optional<std::string> role;           ///< delta.role / message.role
};

struct payload_info {
  std::string object;  ///< "chat.completion.chunk", "text_completion", ... (may be empty)
  std::vector<choice_info> choices;
  std::optional<openai::usage>
      usage;  ///< present and an object (cached_tokens nullopt if not given)
  /// {"error":{...}} (OpenAI, the sim, newer vLLM), {"error":"text"}, or older vLLM's flat
  /// {"object":"error","message",...}.
  /// status is the integer code when the code is one, else 0; type/code kept as sent.
  std::optional<api_error> error;
};

/// Inspects one JSON payload: an SSE chunk's data, or a whole non-streamed response.
/// nullopt if it is not valid JSON (or not an object).
std::optional<payload_info> inspect_payload(std::string_view json_text);

/// The top-level "usage" of a response (or chunk); nullopt when absent, null, or not JSON.
std::optional<usage> parse_usage(std::string_view response_json);

struct sse_event {
  std::string event;  ///< the "event:" field, empty when none
  std::string data;   ///< "data:" lines joined with "\n"
  bool is_done() const { return data == "[DONE]"; }
};

/// Incremental text/event-stream parser (WHATWG rules: LF, CRLF or CR line ends; ':' comment
/// lines; "data:" with one optional leading space; events dispatched on a blank line; events
/// without data dropped; a leading BOM ignored). Frames may be split anywhere between feeds.
class sse_reader {
 public:
  /// `max_buffer` caps the bytes held for one unfinished event; past it the reader fails.
  explicit sse_reader(size_t max_buffer = 16 * 1024 * 1024) : max_buffer_(max_buffer) {}

  /// Adds bytes from the stream.
  void feed(std::string_view bytes);

  /// The next complete event, if one is ready.
  std::optional<sse_event> next();

  /// A "data: [DONE]" event has been returned by next().
  bool done() const { return done_; }

  /// An event grew past max_buffer; the reader takes no more input.
  bool failed() const { return failed_; }

  /// Bytes received but not yet part of a returned event.
  size_t pending_bytes() const { return buffer_.size() - scan_ + data_.size(); }

 private:
  bool take_line(std::string_view& line);
  void process_line(std::string_view line);

  size_t max_buffer_;
  std::string buffer_;  // unconsumed input; scan_ is the start of the next line
  size_t scan_ = 0;
  size_t searched_ = 0;   // buffer_[scan_, searched_) holds no line end
  bool skip_lf_ = false;  // a CR ended the last line: a following LF belongs to it
  bool bom_checked_ = false;
  std::string event_;
  std::string data_;
  bool has_data_ = false;
  std::vector<sse_event> ready_;
  size_t ready_pos_ = 0;
  bool done_ = false;
  bool failed_ = false;
};

}  // namespace inferstack::openai
