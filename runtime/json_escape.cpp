#include "runtime/json_escape.hpp"

#include <array>
#include <charconv>

namespace inferstack::runtime {

namespace {

// 0: copy as is; 1: needs an escape; 2: start of a multi-byte (or invalid) UTF-8 sequence.
constexpr std::array<uint8_t, 256> make_class_table() {
  std::array<uint8_t, 256> table{};
  for (int c = 0; c < 0x20; ++c)
    table[c] = 1;
  table['"'] = 1;
  table['\\'] = 1;
  for (int c = 0x80; c < 0x100; ++c)
    table[c] = 2;
  return table;
}

constexpr auto class_table = make_class_table();

constexpr std::string_view replacement_character = "\xEF\xBF\xBD";

void append_control_escape(std::string& out, unsigned char c) {
  switch (c) {
    case '"':
      out += "\\\"";
      return;
    case '\\':
      out += "\\\\";
      return;
    case '\b':
      out += "\\b";
      return;
    case '\f':
      out += "\\f";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default: {
      static constexpr char hex[] = "0123456789abcdef";
      const char buf[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
      out.append(buf, sizeof buf);
    }
  }
}

}  // namespace

size_t utf8_sequence_length(std::string_view s) {
  if (s.empty()) return 0;
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return 1;
  auto cont = [&](size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    if (i >= s.size()) return false;
    const auto b = static_cast<unsigned char>(s[i]);
    return b >= lo && b <= hi;
  };
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
  if (b0 == 0xE0) return cont(1, 0xA0, 0xBF) && cont(2) ? 3 : 0;
  if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (b0 == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;  // no surrogates
  if (b0 == 0xF0) return cont(1, 0x90, 0xBF) && cont(2) && cont(3) ? 4 : 0;
  if (b0 >= 0xF1 && b0 <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b0 == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

namespace {

// Length of the maximal subpart of an ill-formed sequence at s[0] (Unicode 15, 3.9 U+FFFD
// substitution): the bytes that could still start a valid sequence, at least 1.
size_t maximal_subpart_length(std::string_view s) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  unsigned char lo = 0x80, hi = 0xBF;
  size_t need;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 1;  // never a lead byte
  }
  size_t n = 1;
  for (size_t k = 0; k < need && n < s.size(); ++k, ++n) {
    const auto b = static_cast<unsigned char>(s[n]);
    if (k == 0 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
  }
  return n;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = utf8_sequence_length(s.substr(i));
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void append_json_escaped(std::string& out, std::string_view text) {
  const char* data = text.data();
  const size_t size = text.size();
  size_t run_start = 0;
  size_t i = 0;
  while (i < size) {
    const auto c = static_cast<unsigned char>(data[i]);
    const uint8_t cls = class_table[c];
    if (cls == 0) {
      ++i;
      continue;
    }
    if (cls == 2) {
      const size_t n = utf8_sequence_length(text.substr(i));
      if (n != 0) {
        i += n;  // valid multi-byte sequence: part of the copied run
        continue;
      }
      out.append(data + run_start, i - run_start);
      out += replacement_character;
      i += maximal_subpart_length(text.substr(i));
      run_start = i;
      continue;
    }
    out.append(data + run_start, i - run_start);
    append_control_escape(out, c);
    ++i;
    run_start = i;
  }
  out.append(data + run_start, size - run_start);
}

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8 + 2);
  append_json_escaped(out, text);
  return out;
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  append_json_escaped(out, text);
  out += '"';
}

void append_json_int(std::string& out, int64_t value) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

}  // namespace inferstack::runtime
