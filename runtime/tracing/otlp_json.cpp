#include "runtime/tracing/otlp_json.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "runtime/json_escape.hpp"

namespace inferstack::tracing {

// Written directly with the project's escaper, not through nlohmann objects: at 100 % sampling
// every request's spans are encoded, and building a json tree cost 18 us a span (a 30k
// requests/s gateway spent half a core on it). And written through a raw pointer into room
// reserved once for the span's bound (span_json_bound), not appended piece by piece: each of a
// span's hundred appends checked capacity and called memcpy, which made the encoding a third of
// tracing's cost a request.

namespace {

/// A byte's worst case in a JSON string: \u00xx (an invalid UTF-8 byte becomes U+FFFD, 3).
constexpr size_t escaped_bound = 6;
/// An attribute's fixed text: `,{"key":"` `"` `,"value":{"stringValue":` `}}` and quotes.
constexpr size_t attribute_overhead = 48;
/// The largest number written (a double's shortest round trip, an int64, quotes included).
constexpr size_t number_bound = 40;

char* put(char* p, std::string_view text) {
  std::memcpy(p, text.data(), text.size());
  return p + text.size();
}

/// put() for text whose length is known only at run time (a key, a value) and usually short:
/// moved inline, two overlapping loads and stores, rather than by a call to memcpy per key and
/// per value (with plain_prefix, 8 % less time to encode a bench request's three spans).
[[gnu::always_inline]] inline char* put_short(char* p, const char* s, size_t n) {
  if (n > 32) {
    std::memcpy(p, s, n);
  } else if (n >= 16) {
    char head[16], tail[16];
    std::memcpy(head, s, 16);
    std::memcpy(tail, s + n - 16, 16);
    std::memcpy(p, head, 16);
    std::memcpy(p + n - 16, tail, 16);
  } else if (n >= 8) {
    uint64_t head, tail;
    std::memcpy(&head, s, 8);
    std::memcpy(&tail, s + n - 8, 8);
    std::memcpy(p, &head, 8);
    std::memcpy(p + n - 8, &tail, 8);
  } else if (n >= 4) {
    uint32_t head, tail;
    std::memcpy(&head, s, 4);
    std::memcpy(&tail, s + n - 4, 4);
    std::memcpy(p, &head, 4);
    std::memcpy(p + n - 4, &tail, 4);
  } else if (n > 0) {
    p[0] = s[0];
    p[n / 2] = s[n / 2];
    p[n - 1] = s[n - 1];
  }
  return p + n;
}

/// How many of `text`'s first bytes JSON takes as they are (printable ASCII other than a quote
/// or a backslash): eight at a time, each word tested at once for a byte that is not.
size_t plain_prefix(std::string_view text) {
  constexpr uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  const char* s = text.data();
  size_t n = text.size(), i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, s + i, 8);
    uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
    // A byte's high bit set: not ASCII; below 0x20 (w - 0x20.. borrows into it): a control
    // character; zero after the xor: a quote or a backslash. A word holding none of these has
    // no false alarm (a borrow only follows a true hit), so only a hit needs a closer look.
    uint64_t hit = w | ((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) |
                   ((backslash - ones) & ~backslash);
    if (hit & highs) break;
  }
  for (; i < n; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
  }
  return i;
}

size_t string_bound(std::string_view text) {
  return 2 + text.size() * escaped_bound;
}

/// `"<escaped text>"`: plain ASCII copied as it is; from the first byte that needs escaping or
/// is not ASCII on, the project's escaper (its UTF-8 checks and replacement) writes the rest.
char* put_escaped(char* p, std::string_view text) {
  size_t plain = plain_prefix(text);
  p = put_short(p, text.data(), plain);
  if (plain < text.size()) {
    thread_local std::string rest;
    rest.clear();
    runtime::append_json_escaped(rest, text.substr(plain));
    p = put(p, rest);
  }
  return p;
}

char* put_string(char* p, std::string_view text) {
  *p++ = '"';
  p = put_escaped(p, text);
  *p++ = '"';
  return p;
}

/// Four decimal digits of `group` (< 10000), zeros in front included.
char* put_four_digits(char* p, uint32_t group) {
  static constexpr char pairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  std::memcpy(p, pairs + 2 * (group / 100), 2);
  std::memcpy(p + 2, pairs + 2 * (group % 100), 2);
  return p + 4;
}

/// A time in unix nanoseconds in decimal, as std::to_chars writes it. Its seconds change once
/// a second: their digits are kept per thread; the nine digits of nanoseconds are written in
/// three independent groups. (std::to_chars's one chain of divisions over nineteen digits, for
/// the nine times of a request's three spans, was the encoder's largest cost: 14 % less time
/// to encode them without it.)
char* put_unix_nanos(char* p, uint64_t value) {
  constexpr uint64_t billion = 1'000'000'000;
  if (value < billion) return std::to_chars(p, p + 24, value).ptr;
  thread_local uint64_t seconds = 0;
  thread_local char seconds_digits[40];  // 20 digits at most; put_short reads within it
  thread_local size_t seconds_size = 0;
  uint64_t s = value / billion;
  auto nanos = static_cast<uint32_t>(value % billion);
  if (s != seconds || seconds_size == 0) {
    seconds = s;
    seconds_size = static_cast<size_t>(std::to_chars(seconds_digits, seconds_digits + 24, s).ptr -
                                       seconds_digits);
  }
  p = put_short(p, seconds_digits, seconds_size);
  *p++ = static_cast<char>('0' + nanos / 100'000'000);
  p = put_four_digits(p, nanos / 10'000 % 10'000);
  return put_four_digits(p, nanos % 10'000);
}

/// `<key>"<decimal>"`, the key given with its quotes and colon: 64-bit integers are strings in
/// protobuf's JSON mapping.
char* put_decimal_string(char* p, std::string_view quoted_key, uint64_t value) {
  p = put(p, quoted_key);
  *p++ = '"';
  p = put_unix_nanos(p, value);
  *p++ = '"';
  return p;
}

/// An id's lower-case hex written at `p` (to_hex's, without a string per id); returns its end.
template <size_t N>
char* put_hex(char* p, const std::array<uint8_t, N>& bytes) {
  constexpr char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < N; ++i) {
    *p++ = digits[bytes[i] >> 4];
    *p++ = digits[bytes[i] & 0x0f];
  }
  return p;
}

/// std::to_chars's shortest round trip of `d`, written faster when `d` is a whole number of
/// nanoseconds in seconds -- the spans' durations (a count of ns divided by 1e9) and plain
/// values such as 0.75 or 1. Then the decimal k * 10^-9 (k the nanoseconds, trailing zeros
/// cut) is that shortest text: it reads back as `d` (both round the same real number), and at
/// most 15 significant digits, no shorter or other text of as many digits does (two decimals
/// of 15 digits or fewer never round to one double). Written as to_chars chooses: fixed or
/// scientific, whichever is shorter, fixed on a tie. Nothing (nullptr) for any other value.
/// (libstdc++'s shortest formatting was 0.4 us of a traced request's ~5 at 100 % sampling.)
char* put_nanosecond_double(char* p, double d) {
  if (!(d > 0 && d < 1e6)) return nullptr;  // k below 1e15: 15 digits at most
  double scaled = d * 1e9;
  auto k = static_cast<uint64_t>(std::llround(scaled));
  if (k == 0 || static_cast<double>(k) / 1e9 != d) return nullptr;
  int exponent = -9;  // d = digits * 10^exponent
  while (k % 10 == 0) {
    k /= 10;
    ++exponent;
  }
  char digits[20];
  int n = static_cast<int>(std::to_chars(digits, digits + sizeof digits, k).ptr - digits);
  // Fixed: the digits with a point inside, or "0." and zeros in front, or zeros behind.
  int whole = n + exponent;  // digits before the point
  int fixed_size = exponent >= 0 ? n + exponent : whole > 0 ? n + 1 : 2 - whole + n;
  // Scientific as printf's %e: d[.ddd]e[+-]XX, two exponent digits at least.
  int sci_exponent = whole - 1;
  int magnitude = sci_exponent < 0 ? -sci_exponent : sci_exponent;
  int sci_size = n + (n > 1 ? 1 : 0) + 2 + (magnitude >= 100 ? 3 : 2);
  if (fixed_size <= sci_size) {
    if (exponent >= 0) {
      p = put_short(p, digits, static_cast<size_t>(n));
      std::memset(p, '0', static_cast<size_t>(exponent));
      return p + exponent;
    }
    if (whole > 0) {
      p = put_short(p, digits, static_cast<size_t>(whole));
      *p++ = '.';
      return put_short(p, digits + whole, static_cast<size_t>(n - whole));
    }
    *p++ = '0';
    *p++ = '.';
    std::memset(p, '0', static_cast<size_t>(-whole));
    p += -whole;
    return put_short(p, digits, static_cast<size_t>(n));
  }
  *p++ = digits[0];
  if (n > 1) {
    *p++ = '.';
    p = put_short(p, digits + 1, static_cast<size_t>(n - 1));
  }
  *p++ = 'e';
  *p++ = sci_exponent < 0 ? '-' : '+';
  if (magnitude >= 100) *p++ = static_cast<char>('0' + magnitude / 100);
  *p++ = static_cast<char>('0' + magnitude / 10 % 10);
  *p++ = static_cast<char>('0' + magnitude % 10);
  return p;
}

char* put_double(char* p, double d) {
  // JSON has no number for these; protobuf's JSON mapping writes them as strings.
  if (std::isnan(d)) return put(p, "\"NaN\"");
  if (std::isinf(d)) return put(p, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  if (char* end = put_nanosecond_double(p, d)) return end;
  return std::to_chars(p, p + 32, d).ptr;  // shortest round trip
}

size_t attributes_bound(const attribute_list& list) {
  return 16 + list.json().size();
}

/// `"attributes":[...]`: the list's text, written when each attribute was added, as it is.
char* put_attributes(char* p, const attribute_list& list) {
  p = put(p, "\"attributes\":[");
  p = put(p, list.json());
  *p++ = ']';
  return p;
}

/// `{"key":"<name>"`: a literal name needs no escaping (the stack's are OpenTelemetry's dotted
/// names): copied.
char* put_key(char* p, const attribute_key& key) {
  p = put(p, "{\"key\":");
  if (key.is_literal()) {
    *p++ = '"';
    p = put_short(p, key.view().data(), key.view().size());
    *p++ = '"';
    return p;
  }
  return put_string(p, key.view());
}

size_t key_bound(const attribute_key& key) {
  return attribute_overhead + string_bound(key.view());
}

/// Appends what `write` writes, given room for `bound` characters (the std::string path, for
/// the body's opening and the whole-body encoder; the exporter writes spans into its own room).
template <class Write>
void append_bounded(std::string& out, size_t bound, Write write) {
  size_t old = out.size();
  out.resize(old + bound);
  char* end = write(out.data() + old);
  out.resize(static_cast<size_t>(end - out.data()));
}

}  // namespace

attribute_list::attribute_list(const attribute_list& other)
    : size_(other.size_), capacity_(other.size_), count_(other.count_) {
  if (size_ > 0) {
    data_ = static_cast<char*>(std::malloc(size_));
    if (!data_) throw std::bad_alloc();
    std::memcpy(data_, other.data_, size_);
  } else {
    capacity_ = 0;
  }
}

attribute_list::~attribute_list() {
  std::free(data_);
}

void attribute_list::grow(size_t needed) {
  // At least a usual attribute's room at first, then doubling.
  size_t want = std::max<size_t>({needed, size_t{2} * capacity_, 128});
  if (want > UINT32_MAX) throw std::length_error("attribute_list: too long");
  auto* grown = static_cast<char*>(std::realloc(data_, want));
  if (!grown) throw std::bad_alloc();
  data_ = grown;
  capacity_ = static_cast<uint32_t>(want);
}

void attribute_list::reserve(size_t attributes) {
  // A usual attribute (a dotted name, a short value) is well under 96 characters.
  size_t want = attributes * 96;
  if (want > capacity_) grow(want);
}

char* attribute_list::next(size_t bound) {
  size_t needed = size_ + 1 + bound;
  if (needed > capacity_) grow(needed);
  char* p = data_ + size_;
  if (count_ > 0) *p++ = ',';
  return p;
}

void attribute_list::add_string(const attribute_key& key, std::string_view value) {
  add_string(key, std::initializer_list<std::string_view>{value});  // one piece: the same text
}

void attribute_list::add_string(const attribute_key& key,
                                std::initializer_list<std::string_view> pieces) {
  size_t bound = 2;
  for (auto piece : pieces)
    bound += piece.size() * escaped_bound;
  char* p = put_key(next(key_bound(key) + bound), key);
  p = put(p, ",\"value\":{\"stringValue\":\"");
  for (auto piece : pieces)
    p = put_escaped(p, piece);
  p = put(p, "\"}}");
  wrote(p);
}

void attribute_list::add_int(const attribute_key& key, int64_t value) {
  char* p = put_key(next(key_bound(key) + number_bound), key);
  p = put(p, ",\"value\":{\"intValue\":\"");
  p = std::to_chars(p, p + 24, value).ptr;
  p = put(p, "\"}}");
  wrote(p);
}

void attribute_list::add_double(const attribute_key& key, double value) {
  char* p = put_key(next(key_bound(key) + number_bound), key);
  p = put(p, ",\"value\":{\"doubleValue\":");
  p = put_double(p, value);
  *p++ = '}';
  *p++ = '}';
  wrote(p);
}

void attribute_list::add_bool(const attribute_key& key, bool value) {
  char* p = put_key(next(key_bound(key) + number_bound), key);
  p = put(p, value ? ",\"value\":{\"boolValue\":true}}" : ",\"value\":{\"boolValue\":false}}");
  wrote(p);
}

std::vector<attribute> attribute_list::decoded() const {
  std::vector<attribute> out;
  std::string text = "[";
  text.append(json());
  text += ']';
  for (const auto& a : nlohmann::json::parse(text)) {
    const auto& v = a.at("value");
    attribute_value value;
    if (v.contains("stringValue")) {
      value = v["stringValue"].get<std::string>();
    } else if (v.contains("intValue")) {
      value = static_cast<int64_t>(std::stoll(v["intValue"].get<std::string>()));
    } else if (v.contains("boolValue")) {
      value = v["boolValue"].get<bool>();
    } else {
      const auto& d = v.at("doubleValue");
      if (d.is_string()) {  // protobuf's JSON mapping: NaN and the infinities are strings
        auto word = d.get<std::string>();
        value = word == "NaN"        ? std::numeric_limits<double>::quiet_NaN()
                : word == "Infinity" ? std::numeric_limits<double>::infinity()
                                     : -std::numeric_limits<double>::infinity();
      } else {
        value = d.get<double>();
      }
    }
    out.push_back({attribute_key(a.at("key").get<std::string>()), std::move(value)});
  }
  return out;
}

attribute attribute_list::operator[](size_t i) const {
  return decoded().at(i);
}

size_t span_json_bound(const span& s) {
  size_t n = 400;  // the ids, times, kind, status and the fixed keys (under 300)
  n += string_bound(s.tracestate) + string_bound(s.name) + string_bound(s.status_message);
  n += attributes_bound(s.attributes);
  for (const auto& e : s.events)
    n += 64 + string_bound(e.name) + attributes_bound(e.attributes);
  return n;
}

char* write_span_json(char* p, const span& s) {
  p = put(p, "{\"traceId\":\"");
  p = put_hex(p, s.trace);
  p = put(p, "\",\"spanId\":\"");
  p = put_hex(p, s.id);
  // Default values are left out, as protobuf's JSON mapping does: a root has no parent.
  if (!is_zero(s.parent)) {
    p = put(p, "\",\"parentSpanId\":\"");
    p = put_hex(p, s.parent);
  }
  *p++ = '"';
  if (!s.tracestate.empty()) {
    p = put(p, ",\"traceState\":");
    p = put_string(p, s.tracestate);
  }
  p = put(p, ",\"name\":");
  p = put_string(p, s.name);
  p = put(p, ",\"kind\":");
  p = std::to_chars(p, p + 12, static_cast<int>(s.kind)).ptr;
  p = put_decimal_string(p, ",\"startTimeUnixNano\":", s.start_unix_nano);
  p = put_decimal_string(p, ",\"endTimeUnixNano\":", s.end_unix_nano);
  *p++ = ',';
  p = put_attributes(p, s.attributes);
  if (!s.events.empty()) {
    p = put(p, ",\"events\":[");
    for (size_t i = 0; i < s.events.size(); ++i) {
      const auto& e = s.events[i];
      if (i) *p++ = ',';
      p = put(p, "{\"name\":");
      p = put_string(p, e.name);
      p = put_decimal_string(p, ",\"timeUnixNano\":", e.time_unix_nano);
      *p++ = ',';
      p = put_attributes(p, e.attributes);
      *p++ = '}';
    }
    *p++ = ']';
  }
  p = put(p, ",\"status\":{");
  if (s.status != status_code::unset) {
    p = put(p, "\"code\":");
    p = std::to_chars(p, p + 12, static_cast<int>(s.status)).ptr;
  }
  if (!s.status_message.empty()) {
    if (s.status != status_code::unset) *p++ = ',';
    p = put(p, "\"message\":");
    p = put_string(p, s.status_message);
  }
  *p++ = '}';
  *p++ = '}';
  return p;
}

void append_span_json(std::string& out, const span& s) {
  append_bounded(out, span_json_bound(s), [&](char* p) { return write_span_json(p, s); });
}

std::string encode_otlp_json(const attribute_list& resource, const std::vector<span>& spans) {
  std::string out;
  append_otlp_json(out, resource, spans);
  return out;
}

std::string otlp_json_opening(const attribute_list& resource) {
  std::string out = "{\"resourceSpans\":[{\"resource\":{";
  append_bounded(out, attributes_bound(resource),
                 [&](char* p) { return put_attributes(p, resource); });
  out += "},\"scopeSpans\":[{\"scope\":{\"name\":";
  runtime::append_json_string(out, scope_name);
  out += "},\"spans\":[";
  return out;
}

void append_otlp_json(std::string& out, const attribute_list& resource,
                      const std::vector<span>& spans) {
  out.reserve(out.size() + 256 + spans.size() * 1600);  // a gateway span is about 1.5 kB
  out += otlp_json_opening(resource);
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i) out += ',';
    append_span_json(out, spans[i]);
  }
  out += otlp_json_closing;
}

}  // namespace inferstack::tracing
