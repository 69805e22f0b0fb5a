// JSON string escaping, the project's one escaper: for the OpenAI codec's hand-built response
// strings (the streaming hot path builds chunks directly instead of going through nlohmann
// objects), the JSON log lines and the other hand-written JSON bodies. The output matches what
// vLLM emits (pydantic / Python json with ensure_ascii=False) and what nlohmann's dump() emits:
// `"` `\` and control characters escaped (\b \f \n \r \t, others \u00xx, lowercase hex),
// everything else, non-ASCII included, written as raw UTF-8. Invalid UTF-8 is replaced by U+FFFD
// per maximal invalid subsequence (what nlohmann's error_handler_t::replace does), so the output
// is always valid JSON even when a tokenizer hands out a broken byte sequence.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace inferstack::runtime {

/// The escaped body of a JSON string, without the surrounding quotes.
std::string json_escape(std::string_view text);

/// Appends the escaped body of `text` (no quotes) to `out`.
void append_json_escaped(std::string& out, std::string_view text);

/// Appends `"<escaped text>"` to `out`.
void append_json_string(std::string& out, std::string_view text);

/// Appends the decimal form of `value` to `out`.
void append_json_int(std::string& out, int64_t value);

/// Length of the valid UTF-8 sequence starting at `s[0]`, or 0 if `s` does not start with one
/// (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
size_t utf8_sequence_length(std::string_view s);

/// True if all of `s` is well-formed UTF-8.
bool is_valid_utf8(std::string_view s);

}  // namespace inferstack::runtime
