// One recorded span, shaped like OTLP's Span: ids, name, kind, start and end in unix
// nanoseconds from a clock the caller passes in, typed attributes, a status and optional
// events. Plus the parent-based ratio sampler that decides whether a trace is recorded.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "runtime/tracing/trace_context.hpp"

namespace inferstack::tracing {

/// OTLP's SpanKind, with its enum numbers (the JSON encoding writes the number).
enum class span_kind : int { unspecified = 0, internal = 1, server = 2, client = 3 };

/// OTLP's Status.StatusCode.
enum class status_code : int { unset = 0, ok = 1, error = 2 };

using attribute_value = std::variant<std::string, int64_t, double, bool>;

/// An attribute's name. The names the stack records are string literals: one is kept as a view
/// (at 100 % sampling a copy per attribute was a dozen allocations a request, and as many frees
/// on the exporter's thread) and written to the OTLP JSON as it is, unescaped -- so a literal is
/// checked when it is compiled: one holding a quote, a backslash or a control character does not
/// compile (OpenTelemetry's dotted names hold none). Any other name, given as a string, is
/// copied and escaped. A char array given as a name must be a constant that outlives the span,
/// as a literal does (a `const char*` does not compile: wrap it in a std::string). Implicit, so
/// that add(list, "name", value) reads as before.
class attribute_key {
 public:
  template <size_t N>
  consteval attribute_key(const char (&literal)[N]) : view_(literal, N - 1) {
    for (char c : view_)
      if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
        throw "an attribute name literal must need no JSON escaping";  // a compile error
  }
  attribute_key(std::string name) : owned_(new std::string(std::move(name))), view_(*owned_) {}
  attribute_key(std::string_view name) : attribute_key(std::string(name)) {}
  // A literal is a view; a copied name is owned through a plain pointer (null for a literal),
  // which keeps the consteval constructor's result a constant.
  attribute_key(const attribute_key& other)
      : owned_(other.owned_ ? new std::string(*other.owned_) : nullptr),
        view_(owned_ ? std::string_view(*owned_) : other.view_) {}
  attribute_key(attribute_key&& other) noexcept : owned_(other.owned_), view_(other.view_) {
    other.owned_ = nullptr;
    other.view_ = {};
  }
  attribute_key& operator=(attribute_key other) noexcept {
    std::swap(owned_, other.owned_);
    std::swap(view_, other.view_);
    return *this;
  }
  constexpr ~attribute_key() { delete owned_; }

  std::string_view view() const { return view_; }
  /// A literal (checked at compile time): written to JSON without escaping.
  bool is_literal() const { return owned_ == nullptr; }
  operator std::string_view() const { return view_; }
  friend bool operator==(const attribute_key& a, std::string_view b) { return a.view_ == b; }

 private:
  std::string* owned_ = nullptr;
  std::string_view view_;
};

/// An attribute read back from its JSON (attribute_list::decoded): for tests and tools.
struct attribute {
  attribute_key key;
  attribute_value value;
};

/// A span's (or an event's, or the Resource's) attributes, kept as their OTLP JSON: each added
/// attribute is written at once as its `{"key":...,"value":{...}}` object, joined by commas, into
/// one buffer of the list's own -- the way it leaves. Built as a vector of key/value pairs and
/// encoded at the end (as it was), a request's three spans cost two dozen string copies and
/// allocations, the vector's, and a second pass over every attribute on the way out; now the
/// span's encoder copies this text as it is. Reading them back (decoded) parses the text.
class attribute_list {
 public:
  attribute_list() = default;
  attribute_list(const attribute_list& other);
  attribute_list(attribute_list&& other) noexcept
      : data_(other.data_), size_(other.size_), capacity_(other.capacity_), count_(other.count_) {
    other.data_ = nullptr;
    other.size_ = other.capacity_ = other.count_ = 0;
  }
  attribute_list& operator=(attribute_list other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
    std::swap(count_, other.count_);
    return *this;
  }
  ~attribute_list();

  /// Room for about `attributes` attributes in all (of the usual size): one allocation, not a
  /// few regrowths.
  void reserve(size_t attributes);
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  /// The attributes' JSON objects joined by commas (no brackets): what an OTLP `attributes`
  /// array holds.
  std::string_view json() const { return {data_, size_}; }
  /// The attributes as they were added (their JSON parsed back: a string as its valid UTF-8,
  /// every number as the same value).
  std::vector<attribute> decoded() const;
  attribute operator[](size_t i) const;

  void add_string(const attribute_key& key, std::string_view value);
  /// A string value given in pieces (a namespace, "/", a name): written one after the other,
  /// with no string joined first. The same text as add_string of the joined pieces when they
  /// meet at ASCII (a "/" between them): each piece's invalid UTF-8 is replaced alike.
  void add_string(const attribute_key& key, std::initializer_list<std::string_view> pieces);
  void add_int(const attribute_key& key, int64_t value);
  void add_double(const attribute_key& key, double value);
  void add_bool(const attribute_key& key, bool value);

 private:
  /// Where the next attribute goes, with room for `bound` characters; its leading comma (after
  /// the first) already written.
  char* next(size_t bound);
  void grow(size_t needed);
  void wrote(char* end) {
    size_ = static_cast<uint32_t>(end - data_);
    ++count_;
  }

  char* data_ = nullptr;
  uint32_t size_ = 0, capacity_ = 0, count_ = 0;
};

/// `key` = `first` + `separator` + `second` (a namespace and a name), without a joined copy.
inline void add_joined(attribute_list& list, const attribute_key& key, std::string_view first,
                       std::string_view separator, std::string_view second) {
  list.add_string(key, {first, separator, second});
}

/// Appends one attribute; the overloads pick the OTLP type (a `const char*` is a string, not a
/// bool; any integer is an int).
inline void add(attribute_list& list, const attribute_key& key, std::string_view value) {
  list.add_string(key, value);
}
inline void add(attribute_list& list, const attribute_key& key, const std::string& value) {
  list.add_string(key, value);
}
inline void add(attribute_list& list, const attribute_key& key, const char* value) {
  list.add_string(key, value);
}
inline void add(attribute_list& list, const attribute_key& key, bool value) {
  list.add_bool(key, value);
}
inline void add(attribute_list& list, const attribute_key& key, double value) {
  list.add_double(key, value);
}
template <class Int,
          std::enable_if_t<std::is_integral_v<Int> && !std::is_same_v<Int, bool>, int> = 0>
void add(attribute_list& list, const attribute_key& key, Int value) {
  list.add_int(key, static_cast<int64_t>(value));
}

struct span_event {
  std::string name;
  uint64_t time_unix_nano = 0;
  attribute_list attributes;
};

struct span {
  trace_id trace{};
  span_id id{};
  span_id parent{};  ///< all zero: a root span
  std::string tracestate;
  std::string name;
  span_kind kind = span_kind::internal;
  uint64_t start_unix_nano = 0;
  uint64_t end_unix_nano = 0;
  attribute_list attributes;
  std::vector<span_event> events;
  status_code status = status_code::unset;
  std::string status_message;
};

/// Unix nanoseconds now. Passed in wherever spans are timed, so tests set the time.
using unix_clock = std::function<uint64_t()>;
/// The system clock's.
uint64_t system_unix_nanos();

/// Parent-based sampling: a request that arrives with a valid `traceparent` is recorded exactly
/// when its sampled flag is set (the caller decided); a new trace is recorded for a `ratio` of
/// trace ids, decided from the id's random low 56 bits, so every hop that sees the id agrees.
class ratio_sampler {
 public:
  explicit ratio_sampler(double ratio);

  bool sample(const trace_id& trace, const trace_context* incoming) const;
  double ratio() const { return ratio_; }

 private:
  double ratio_;
  uint64_t bound_;  ///< ids whose low 56 bits are below this are sampled
};

}  // namespace inferstack::tracing
