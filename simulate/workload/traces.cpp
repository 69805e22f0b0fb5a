// Trace loaders (Azure CSV, Mooncake JSONL, our plain JSONL) and workload shaping; see traces.hpp
// for the formats and the shaping rules.
#include "simulate/workload/traces.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string_view>

namespace inferstack::simulate {
namespace {

using nlohmann::json;
using std::chrono::nanoseconds;

constexpr uint32_t mooncake_block_tokens = 512;
constexpr int64_t ns_per_ms = 1'000'000;
constexpr std::string_view azure_header = "TIMESTAMP,ContextTokens,GeneratedTokens";

/// A file's lines, numbered from 1, with CR line ends and a leading UTF-8 BOM dropped;
/// lines of blanks only are passed over (a trailing newline is no request).
class line_reader {
 public:
  explicit line_reader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_)
      throw workload_error(path, 0, "", std::string("cannot open: ") + std::strerror(errno));
  }

  bool next(std::string& line) {
    while (std::getline(in_, line)) {
      ++number_;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (number_ == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
      if (line.find_first_not_of(" \t") != std::string::npos) return true;
    }
    if (in_.bad()) throw workload_error(path_, number_, "", "read error");
    return false;
  }

  size_t number() const { return number_; }

 private:
  std::string path_;
  std::ifstream in_;
  size_t number_ = 0;
};

/// Refuses an arrival earlier than the previous request's.
class arrival_order {
 public:
  explicit arrival_order(const std::string& path) : path_(path) {}

  void check(nanoseconds arrival, size_t line, const std::string& field) {
    if (any_ && arrival < previous_)
      throw workload_error(path_, line, field,
                           "unsorted trace: earlier than the previous request's (" +
                               std::to_string(arrival.count()) + " ns < " +
                               std::to_string(previous_.count()) + " ns)");
    previous_ = arrival;
    any_ = true;
  }

 private:
  std::string path_;
  nanoseconds previous_{0};
  bool any_ = false;
};

workload finished(workload w, const std::string& path) {
  if (w.requests.empty()) throw workload_error(path, 0, "", "empty file: no requests");
  return w;
}

// --- JSON fields ---------------------------------------------------------------------------------

struct json_line {
  const std::string& path;
  size_t line;
  json object;

  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    throw workload_error(path, line, field, problem);
  }

  const json* find(const char* key) const {
    auto it = object.find(key);
    return it == object.end() ? nullptr : &*it;
  }

  const json& require(const char* key) const {
    const json* value = find(key);
    if (!value) fail(key, "missing field");
    return *value;
  }

  /// Milliseconds (integer or fraction, >= 0) as nanoseconds.
  nanoseconds milliseconds(const char* key) const {
    const json& value = require(key);
    if (!value.is_number())
      fail(key, std::string("wrong type: expected a number, got ") + value.type_name());
    constexpr int64_t max_ms = std::numeric_limits<int64_t>::max() / ns_per_ms;
    if (value.is_number_unsigned()) {
      auto ms = value.get<uint64_t>();
      if (ms > static_cast<uint64_t>(max_ms)) fail(key, "too large");
      return nanoseconds(static_cast<int64_t>(ms) * ns_per_ms);
    }
    if (value.is_number_integer()) fail(key, "negative: must be >= 0");
    double ms = value.get<double>();
    if (ms < 0) fail(key, "negative: must be >= 0");
    if (!(ms <= static_cast<double>(max_ms))) fail(key, "too large");
    return nanoseconds(std::llround(ms * ns_per_ms));
  }

  uint32_t positive(const json& value, const char* key) const {
    if (!value.is_number_integer())
      fail(key, std::string("wrong type: expected an integer, got ") + value.type_name());
    if (!value.is_number_unsigned() || value.get<uint64_t>() == 0) fail(key, "must be > 0");
    if (value.get<uint64_t>() > std::numeric_limits<uint32_t>::max()) fail(key, "too large");
    return static_cast<uint32_t>(value.get<uint64_t>());
  }

  uint32_t positive(const char* key) const { return positive(require(key), key); }

  std::string text(const char* key) const {
    const json* value = find(key);
    if (!value) return {};
    if (!value->is_string())
      fail(key, std::string("wrong type: expected a string, got ") + value->type_name());
    return value->get<std::string>();
  }

  bool flag(const char* key) const {
    const json* value = find(key);
    if (!value) return false;
    if (!value->is_boolean())
      fail(key, std::string("wrong type: expected a boolean, got ") + value->type_name());
    return value->get<bool>();
  }
};

json_line parse_json_line(const std::string& path, size_t line, const std::string& text) {
  json_line parsed{path, line, json::parse(text, nullptr, /*allow_exceptions=*/false)};
  if (parsed.object.is_discarded()) parsed.fail("", "not valid JSON");
  if (!parsed.object.is_object()) parsed.fail("", "expected a JSON object");
  return parsed;
}

/// A trace's request is replayed as benchmark clients replay traces (vLLM's benchmark_serving,
/// inference-perf): streamed, so its time to first token is seen, and with exactly the trace's
/// output length.
void replayed(workload_request& r) {
  r.stream = true;
  r.ignore_eos = true;
}

workload_request mooncake_request(const json_line& in) {
  workload_request r;
  r.arrival = in.milliseconds("timestamp");
  r.prompt_tokens = in.positive("input_length");
  r.max_tokens = in.positive("output_length");
  replayed(r);
  const json& ids = in.require("hash_ids");
  if (!ids.is_array())
    in.fail("hash_ids", std::string("wrong type: expected an array, got ") + ids.type_name());
  for (const json& id : ids) {
    if (!id.is_number_unsigned())
      in.fail("hash_ids", std::string("wrong type: expected integers >= 0, got ") + id.dump());
    r.prefix_blocks.push_back(id.get<uint64_t>());
  }
  r.prefix_block_tokens = mooncake_block_tokens;
  return r;
}

workload_request plain_request(const json_line& in) {
  static const std::set<std::string> known = {
      "arrival_ms", "prompt",        "prompt_tokens",  "max_tokens", "namespace",
      "model",      "shared_prefix", "session",        "stream",     "chat",
      "ignore_eos", "headers",       "cancel_after_ms"};
  for (const auto& item : in.object.items())
    if (!known.contains(item.key()))
      in.fail(item.key(),
              "unknown field (known: arrival_ms, prompt, prompt_tokens, max_tokens, namespace, "
              "model, shared_prefix, session, stream, chat, ignore_eos, headers, "
              "cancel_after_ms)");
  workload_request r;
  r.arrival = in.milliseconds("arrival_ms");
  const json* prompt = in.find("prompt");
  const json* tokens = in.find("prompt_tokens");
  if (prompt && tokens) in.fail("prompt_tokens", "give prompt or prompt_tokens, not both");
  if (!prompt && !tokens) in.fail("prompt", "missing field (or prompt_tokens)");
  if (prompt) r.prompt = in.text("prompt");
  if (tokens) r.prompt_tokens = in.positive(*tokens, "prompt_tokens");
  r.max_tokens = in.positive("max_tokens");
  r.ns = in.text("namespace");
  r.model = in.text("model");
  r.shared_prefix = in.text("shared_prefix");
  r.session = in.text("session");
  r.stream = in.flag("stream");
  r.chat = in.flag("chat");
  r.ignore_eos = in.flag("ignore_eos");
  if (in.find("cancel_after_ms")) {
    r.cancel_after = in.milliseconds("cancel_after_ms");
    if (r.cancel_after.count() == 0) in.fail("cancel_after_ms", "must be > 0 (absent: never)");
  }
  if (const json* headers = in.find("headers")) {
    if (!headers->is_object())
      in.fail("headers", std::string("wrong type: expected an object of header names and string "
                                     "values, got ") +
                             headers->type_name());
    for (const auto& [name, value] : headers->items()) {
      bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                                      std::string_view::npos;
      });
      if (!token) in.fail("headers", "'" + name + "' is not a header name");
      if (!value.is_string())
        in.fail("headers", "'" + name + "': wrong type: expected a string, got " +
                               std::string(value.type_name()));
      auto text = value.get<std::string>();
      if (text.find_first_of("\r\n") != std::string::npos)
        in.fail("headers", "'" + name + "': a value may not hold a line break");
      r.headers.emplace_back(name, std::move(text));
    }
  }
  return r;
}

workload load_jsonl(const std::string& path, const char* arrival_field,
                    workload_request (*make)(const json_line&)) {
  line_reader lines(path);
  arrival_order order(path);
  workload w;
  std::string text;
  while (lines.next(text)) {
    workload_request r = make(parse_json_line(path, lines.number(), text));
    order.check(r.arrival, lines.number(), arrival_field);
    w.requests.push_back(std::move(r));
  }
  return finished(std::move(w), path);
}

// --- CSV -----------------------------------------------------------------------------------------
// No CSV library: Debian offers none among our packages, and the Azure format is three plain
// columns (a date-time and two counts) with no quoting, so splitting on commas is exact.

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_commas(std::string_view line) {
  std::vector<std::string_view> fields;
  for (size_t start = 0;;) {
    size_t comma = line.find(',', start);
    fields.push_back(trim(line.substr(start, comma - start)));
    if (comma == std::string_view::npos) return fields;
    start = comma + 1;
  }
}

/// Digits only, as an unsigned number; nullopt for anything else.
std::optional<uint64_t> digits(std::string_view s) {
  uint64_t value = 0;
  if (s.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

/// "YYYY-MM-DD HH:MM:SS[.fraction]" (or a 'T' between), UTC, as nanoseconds since 1970.
std::optional<nanoseconds> parse_datetime(std::string_view s) {
  auto number = [&](size_t at, size_t width) -> std::optional<unsigned> {
    if (at + width > s.size()) return std::nullopt;
    for (size_t i = at; i < at + width; ++i)
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
    auto value = digits(s.substr(at, width));
    return value ? std::optional<unsigned>(static_cast<unsigned>(*value)) : std::nullopt;
  };
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') ||
      s[13] != ':' || s[16] != ':')
    return std::nullopt;
  auto year = number(0, 4), month = number(5, 2), day = number(8, 2);
  auto hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  std::chrono::year_month_day date{std::chrono::year(static_cast<int>(*year)),
                                   std::chrono::month(*month), std::chrono::day(*day)};
  if (!date.ok() || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  int64_t fraction_ns = 0;
  if (s.size() > 19) {
    std::string_view fraction = s.substr(20);
    if (s[19] != '.' || fraction.empty() || fraction.size() > 9) return std::nullopt;
    auto value = number(20, fraction.size());
    if (!value) return std::nullopt;
    fraction_ns = *value;
    for (size_t i = fraction.size(); i < 9; ++i)
      fraction_ns *= 10;
  }
  auto days = std::chrono::sys_days(date).time_since_epoch();
  return std::chrono::duration_cast<nanoseconds>(days + std::chrono::hours(*hour) +
                                                 std::chrono::minutes(*minute) +
                                                 std::chrono::seconds(*second)) +
         nanoseconds(fraction_ns);
}

bool ends_with_csv(const std::string& path) {
  if (path.size() < 4) return false;
  std::string tail = path.substr(path.size() - 4);
  std::transform(tail.begin(), tail.end(), tail.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return tail == ".csv";
}

}  // namespace

workload load_azure_csv(const std::string& path) {
  line_reader lines(path);
  std::string text;
  if (!lines.next(text)) throw workload_error(path, 0, "", "empty file: no requests");
  if (text != azure_header)
    throw workload_error(path, lines.number(), "header",
                         "expected \"" + std::string(azure_header) + "\", got \"" + text + "\"");
  static const char* const columns[] = {"TIMESTAMP", "ContextTokens", "GeneratedTokens"};
  arrival_order order(path);
  std::optional<nanoseconds> first;
  workload w;
  while (lines.next(text)) {
    size_t line = lines.number();
    auto fields = split_commas(text);
    if (fields.size() < 3)
      throw workload_error(path, line, columns[fields.size()], "missing field");
    if (fields.size() > 3) throw workload_error(path, line, "", "more than 3 columns");
    auto time = parse_datetime(fields[0]);
    if (!time)
      throw workload_error(path, line, columns[0],
                           "unparsable time \"" + std::string(fields[0]) +
                               "\" (expected YYYY-MM-DD HH:MM:SS[.fraction])");
    auto count = [&](size_t column) -> uint32_t {
      auto value = digits(fields[column]);
      if (!value || *value == 0 || *value > std::numeric_limits<uint32_t>::max())
        throw workload_error(
            path, line, columns[column],
            "expected an integer > 0, got \"" + std::string(fields[column]) + "\"");
      return static_cast<uint32_t>(*value);
    };
    workload_request r;
    if (!first) first = *time;
    r.arrival = *time - *first;
    order.check(r.arrival, line, columns[0]);
    r.prompt_tokens = count(1);
    r.max_tokens = count(2);
    replayed(r);
    w.requests.push_back(std::move(r));
  }
  return finished(std::move(w), path);
}

workload load_mooncake_jsonl(const std::string& path) {
  return load_jsonl(path, "timestamp", mooncake_request);
}

workload load_plain_jsonl(const std::string& path) {
  return load_jsonl(path, "arrival_ms", plain_request);
}

workload load_trace(const std::string& path) {
  if (ends_with_csv(path)) return load_azure_csv(path);
  line_reader lines(path);
  std::string text;
  if (!lines.next(text)) throw workload_error(path, 0, "", "empty file: no requests");
  if (text.starts_with("TIMESTAMP,")) return load_azure_csv(path);
  auto first = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (first.is_object()) {
    if (first.contains("arrival_ms")) return load_plain_jsonl(path);
    for (const char* key : {"timestamp", "input_length", "output_length", "hash_ids"})
      if (first.contains(key)) return load_mooncake_jsonl(path);
  }
  throw workload_error(
      path, lines.number(), "",
      "unknown trace format: expected the Azure CSV header (" + std::string(azure_header) +
          "), a Mooncake JSON line (timestamp, input_length, output_length, hash_ids) "
          "or a plain JSON line (arrival_ms, ...)");
}

void shape_workload(workload& w, const shaping& s) {
  if (!(s.speedup > 0) || !std::isfinite(s.speedup))
    throw std::invalid_argument("speedup must be > 0");
  if (!(s.rate_scale >= 1e-6 && s.rate_scale <= 1000))
    throw std::invalid_argument("rate scale must be between 0.000001 and 1000");
  if ((s.from && s.from->count() < 0) || (s.to && s.to->count() < 0))
    throw std::invalid_argument("the window's from and to must be >= 0");
  if (s.from && s.to && *s.from >= *s.to)
    throw std::invalid_argument("the window's from must be before its to");

  // 1. The window, re-based to its start.
  nanoseconds from = s.from.value_or(nanoseconds(0));
  std::erase_if(w.requests, [&](const workload_request& r) {
    return r.arrival < from || (s.to && r.arrival >= *s.to);
  });
  for (auto& r : w.requests)
    r.arrival -= from;

  // 2. Speedup; rounding is monotonic, so the order stays.
  if (s.speedup != 1)
    for (auto& r : w.requests)
      r.arrival = nanoseconds(std::llround(static_cast<double>(r.arrival.count()) / s.speedup));

  // 3. Rate scale, in millionths so that the rule is exact integer arithmetic.
  constexpr int64_t unit = 1'000'000;
  const int64_t scale = std::llround(s.rate_scale * unit);
  if (scale == unit) return;
  uint64_t largest_block = 0;
  for (const auto& r : w.requests)
    for (uint64_t block : r.prefix_blocks)
      largest_block = std::max(largest_block, block);
  const uint64_t max_copies = static_cast<uint64_t>(scale / unit) + 1;
  if (largest_block >= std::numeric_limits<uint64_t>::max() / (max_copies + 1))
    throw std::invalid_argument("prefix block ids too large to replicate");
  const uint64_t stride = largest_block + 1;
  uint64_t largest_prompt_id = 0;
  for (const auto& r : w.requests)
    largest_prompt_id = std::max(largest_prompt_id, r.prompt_id);
  std::vector<workload_request> scaled;
  const auto n = static_cast<int64_t>(w.requests.size());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t copies = (i + 1) * scale / unit - i * scale / unit;
    const auto& original = w.requests[static_cast<size_t>(i)];
    const int64_t gap =
        i + 1 < n ? (w.requests[static_cast<size_t>(i + 1)].arrival - original.arrival).count() : 0;
    for (int64_t j = 0; j < copies; ++j) {
      workload_request copy = original;
      copy.arrival +=
          nanoseconds(gap / copies * j + gap % copies * j / copies);  // gap·j/copies, no overflow
      if (j > 0) {
        std::string suffix("#");
        suffix += std::to_string(j);
        if (!copy.session.empty()) copy.session += suffix;
        if (!copy.shared_prefix.empty()) copy.shared_prefix += suffix;
        for (auto& block : copy.prefix_blocks)
          block += static_cast<uint64_t>(j) * stride;
        if (copy.prompt_id) copy.prompt_id += static_cast<uint64_t>(j) * (largest_prompt_id + 1);
      }
      scaled.push_back(std::move(copy));
    }
  }
  w.requests = std::move(scaled);
}

std::chrono::nanoseconds parse_duration(const std::string& text, const std::string& what) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  auto unit = text.substr(used);
  double scale = unit == "ms"  ? 1e6
                 : unit == "s" ? 1e9
                 : unit == "m" ? 60e9
                 : unit == "h" ? 3600e9
                               : 0;
  if (used == 0 || scale == 0 || !(value >= 0))
    throw std::invalid_argument(what + " " + text +
                                ": expected a duration >= 0 with a unit (500ms, 90s, 1.5m, 1h)");
  return std::chrono::nanoseconds(std::llround(value * scale));
}

}  // namespace inferstack::simulate
