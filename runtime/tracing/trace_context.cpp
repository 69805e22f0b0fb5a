#include "runtime/tracing/trace_context.hpp"

namespace inferstack::tracing {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

template <size_t N>
std::string hex_of(const std::array<uint8_t, N>& bytes) {
  std::string out(2 * N, '0');
  for (size_t i = 0; i < N; ++i) {
    out[2 * i] = hex_digits[bytes[i] >> 4];
    out[2 * i + 1] = hex_digits[bytes[i] & 0x0f];
  }
  return out;
}

/// Each character's value as a lower-case hex digit (the spec's HEXDIGLC), 0xff for any other:
/// a table, as every traced hop parses its caller's traceparent.
constexpr std::array<uint8_t, 256> make_hex_table() {
  std::array<uint8_t, 256> table{};
  for (auto& v : table)
    v = 0xff;
  for (int c = '0'; c <= '9'; ++c)
    table[c] = static_cast<uint8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c)
    table[c] = static_cast<uint8_t>(c - 'a' + 10);
  return table;
}

constexpr auto hex_table = make_hex_table();

template <size_t N>
bool parse_hex(std::string_view text, std::array<uint8_t, N>& out) {
  if (text.size() != 2 * N) return false;
  uint8_t invalid = 0;  // any digit's 0xff shows in its high bit: one test at the end
  for (size_t i = 0; i < N; ++i) {
    uint8_t high = hex_table[static_cast<unsigned char>(text[2 * i])];
    uint8_t low = hex_table[static_cast<unsigned char>(text[2 * i + 1])];
    invalid |= high | low;
    out[i] = static_cast<uint8_t>(high << 4 | (low & 0x0f));
  }
  return (invalid & 0x80) == 0;
}

template <size_t N>
bool all_zero(const std::array<uint8_t, N>& bytes) {
  for (auto b : bytes)
    if (b != 0) return false;
  return true;
}

}  // namespace

std::string to_hex(const trace_id& id) {
  return hex_of(id);
}
std::string to_hex(const span_id& id) {
  return hex_of(id);
}
bool is_zero(const trace_id& id) {
  return all_zero(id);
}
bool is_zero(const span_id& id) {
  return all_zero(id);
}

std::optional<trace_context> parse_traceparent(std::string_view header) {
  // version "-" trace-id "-" parent-id "-" trace-flags: 2 + 1 + 32 + 1 + 16 + 1 + 2.
  constexpr size_t v00_length = 55;
  if (header.size() < v00_length) return std::nullopt;
  std::array<uint8_t, 1> version{};
  if (!parse_hex(header.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
  // Version 00 is exactly 55 characters; a later version may append fields after a '-'.
  if (version[0] == 0 ? header.size() != v00_length
                      : header.size() > v00_length && header[v00_length] != '-')
    return std::nullopt;
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
  trace_context ctx;
  std::array<uint8_t, 1> flags{};
  if (!parse_hex(header.substr(3, 32), ctx.trace) ||
      !parse_hex(header.substr(36, 16), ctx.parent) || !parse_hex(header.substr(53, 2), flags))
    return std::nullopt;
  if (is_zero(ctx.trace) || is_zero(ctx.parent)) return std::nullopt;
  // Version 00 knows the sampled flag only; the others are not passed on.
  ctx.flags = flags[0] & sampled_flag;
  return ctx;
}

std::string format_traceparent(const trace_id& trace, const span_id& span, uint8_t flags) {
  // Written in place: one string per request, not one per id as well.
  std::string out(55, '-');
  out[0] = out[1] = '0';
  for (size_t i = 0; i < trace.size(); ++i) {
    out[3 + 2 * i] = hex_digits[trace[i] >> 4];
    out[4 + 2 * i] = hex_digits[trace[i] & 0x0f];
  }
  for (size_t i = 0; i < span.size(); ++i) {
    out[36 + 2 * i] = hex_digits[span[i] >> 4];
    out[37 + 2 * i] = hex_digits[span[i] & 0x0f];
  }
  out[53] = hex_digits[flags >> 4];
  out[54] = hex_digits[flags & 0x0f];
  return out;
}

std::string bounded_tracestate(std::string_view header) {
  for (char c : header)
    if (c < 0x20 || c > 0x7e) return {};
  while (header.size() > max_tracestate_length) {
    auto comma = header.rfind(',');
    if (comma == std::string_view::npos) return {};
    header = header.substr(0, comma);
  }
  // A list may end in blanks or an empty member after a cut: trim them.
  while (!header.empty() && (header.back() == ' ' || header.back() == '\t' || header.back() == ','))
    header.remove_suffix(1);
  return std::string(header);
}

uint64_t id_generator::next() {
  // splitmix64 (Steele, Lea, Flood): a counter step, then a mix of its bits.
  uint64_t z =
      state_.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed) + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

trace_id id_generator::new_trace_id() {
  trace_id id{};
  do {
    uint64_t high = next(), low = next();
    for (int i = 0; i < 8; ++i) {
      id[i] = static_cast<uint8_t>(high >> (56 - 8 * i));
      id[8 + i] = static_cast<uint8_t>(low >> (56 - 8 * i));
    }
  } while (is_zero(id));
  return id;
}

span_id id_generator::new_span_id() {
  span_id id{};
  do {
    uint64_t bits = next();
    for (int i = 0; i < 8; ++i)
      id[i] = static_cast<uint8_t>(bits >> (56 - 8 * i));
  } while (is_zero(id));
  return id;
}

}  // namespace inferstack::tracing
