#include "runtime/config/yaml_fields.hpp"

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace inferstack::config {

std::string problem::to_string() const {
  std::ostringstream out;
  out << (file.empty() ? "<input>" : file);
  if (line > 0) out << ":" << line;
  if (document > 0) out << ": document " << document;
  if (!object.empty()) out << " (" << object << ")";
  if (!field.empty()) out << ": field '" << field << "'";
  out << ": " << message;
  return out.str();
}

void diagnostics::add(const std::string& field, const YAML::Node& at, std::string message) {
  int line = 0;
  if (at.IsDefined() && !at.Mark().is_null()) line = at.Mark().line + 1;
  problems_.push_back(problem{file_, document_, object_, field, line, std::move(message)});
}

void diagnostics::add(const std::string& field, std::string message) {
  problems_.push_back(problem{file_, document_, object_, field, 0, std::move(message)});
}

std::optional<std::chrono::nanoseconds> parse_duration(const std::string& text) {
  auto ns = parse_duration_ns(text);
  if (!ns) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(*ns)));
}

std::optional<double> parse_duration_ns(const std::string& text) {
  if (text.empty()) return std::nullopt;
  // A bare number is seconds.
  char* end = nullptr;
  double bare = std::strtod(text.c_str(), &end);
  if (end != nullptr && *end == '\0') {
    if (bare < 0 || !std::isfinite(bare)) return std::nullopt;
    return bare * 1e9;
  }
  double total_ns = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    if (i == start) return std::nullopt;
    double value = std::strtod(text.substr(start, i - start).c_str(), nullptr);
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i])))
      ++i;
    auto unit = text.substr(unit_start, i - unit_start);
    double scale = 0;
    if (unit == "ns")
      scale = 1;
    else if (unit == "us" || unit == "µs")
      scale = 1e3;
    else if (unit == "ms")
      scale = 1e6;
    else if (unit == "s")
      scale = 1e9;
    else if (unit == "m")
      scale = 60e9;
    else if (unit == "h")
      scale = 3600e9;
    else
      return std::nullopt;
    total_ns += value * scale;
  }
  if (!std::isfinite(total_ns)) return std::nullopt;
  return total_ns;
}

std::string format_duration(std::chrono::nanoseconds d) {
  auto ns = d.count();
  if (ns == 0) return "0s";
  if (ns % 1000000000 == 0) return std::to_string(ns / 1000000000) + "s";
  if (ns % 1000000 == 0) return std::to_string(ns / 1000000) + "ms";
  if (ns % 1000 == 0) return std::to_string(ns / 1000) + "us";
  return std::to_string(ns) + "ns";
}

namespace {

const char* type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

std::string show(const YAML::Node& n) {
  if (n.IsScalar()) return "'" + n.Scalar() + "'";
  return type_name(n);
}

}  // namespace

fields::fields(const YAML::Node& node, std::string path, diagnostics& diag)
    : node_(node), path_(std::move(path)), diag_(diag) {
  valid_ = node_.IsDefined() && node_.IsMap();
}

bool fields::has(const std::string& key) const {
  return valid_ && node_[key].IsDefined();
}

std::string fields::child_path(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

YAML::Node fields::lookup(const std::string& key, bool required) {
  seen_.insert(key);
  if (!valid_) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node& map = node_;  // const access: never inserts the key
  YAML::Node value = map[key];
  if (!value.IsDefined() || value.IsNull()) {
    if (required) diag_.add(child_path(key), node_, "required field is missing");
    return YAML::Node(YAML::NodeType::Undefined);
  }
  return value;
}

void fields::wrong_type(const std::string& key, const YAML::Node& value, const char* expected) {
  diag_.add(child_path(key), value, std::string("expected ") + expected + ", got " + show(value));
}

void fields::get(const std::string& key, std::string& out, bool required) {
  auto v = lookup(key, required);
  if (!v.IsDefined()) return;
  if (!v.IsScalar()) return wrong_type(key, v, "a string");
  out = v.Scalar();
}

void fields::get(const std::string& key, bool& out, bool required) {
  auto v = lookup(key, required);
  if (!v.IsDefined()) return;
  bool value = false;
  if (!v.IsScalar() || !YAML::convert<bool>::decode(v, value))
    return wrong_type(key, v, "true or false");
  out = value;
}

void fields::get(const std::string& key, int64_t& out, bool required) {
  auto v = lookup(key, required);
  if (!v.IsDefined()) return;
  if (!v.IsScalar()) return wrong_type(key, v, "an integer");
  const auto& s = v.Scalar();
  char* end = nullptr;
  errno = 0;
  long long value = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0) return wrong_type(key, v, "an integer");
  out = value;
}

void fields::get(const std::string& key, int& out, bool required) {
  int64_t value = out;
  size_t before = diag_.problems().size();
  get(key, value, required);
  if (diag_.problems().size() != before) return;
  if (value < INT32_MIN || value > INT32_MAX) {
    diag_.add(child_path(key), raw(key), "integer out of range");
    return;
  }
  out = static_cast<int>(value);
}

void fields::get(const std::string& key, uint32_t& out, bool required) {
  int64_t value = out;
  size_t before = diag_.problems().size();
  get(key, value, required);
  if (diag_.problems().size() != before) return;
  if (value < 0 || value > UINT32_MAX) {
    diag_.add(child_path(key), raw(key), "expected a non-negative integer");
    return;
  }
  out = static_cast<uint32_t>(value);
}

void fields::get(const std::string& key, uint64_t& out, bool required) {
  int64_t value = static_cast<int64_t>(out);
  size_t before = diag_.problems().size();
  get(key, value, required);
  if (diag_.problems().size() != before) return;
  if (value < 0) {
    diag_.add(child_path(key), raw(key), "expected a non-negative integer");
    return;
  }
  out = static_cast<uint64_t>(value);
}

void fields::get(const std::string& key, double& out, bool required) {
  auto v = lookup(key, required);
  if (!v.IsDefined()) return;
  if (!v.IsScalar()) return wrong_type(key, v, "a number");
  const auto& s = v.Scalar();
  char* end = nullptr;
  double value = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !std::isfinite(value)) return wrong_type(key, v, "a number");
  out = value;
}

void fields::get(const std::string& key, std::chrono::nanoseconds& out, bool required) {
  auto v = lookup(key, required);
  if (!v.IsDefined()) return;
  if (!v.IsScalar()) return wrong_type(key, v, "a duration like 250ms or 30s");
  auto d = parse_duration(v.Scalar());
  if (!d) return wrong_type(key, v, "a duration like 250ms or 30s");
  out = *d;
}

void fields::get(const std::string& key, std::vector<std::string>& out, bool required) {
  auto v = lookup(key, required);
  if (!v.IsDefined()) return;
  if (!v.IsSequence()) return wrong_type(key, v, "a list of strings");
  std::vector<std::string> values;
  for (const auto& item : v) {
    if (!item.IsScalar()) return wrong_type(key, item, "a list of strings");
    values.push_back(item.Scalar());
  }
  out = std::move(values);
}

void fields::get(const std::string& key, std::map<std::string, std::string>& out, bool required) {
  auto v = lookup(key, required);
  if (!v.IsDefined()) return;
  if (!v.IsMap()) return wrong_type(key, v, "a mapping of strings");
  std::map<std::string, std::string> values;
  for (const auto& kv : v) {
    if (!kv.second.IsScalar()) {
      diag_.add(child_path(key) + "." + kv.first.Scalar(), kv.second,
                std::string("expected a string, got ") + show(kv.second));
      continue;
    }
    values[kv.first.Scalar()] = kv.second.Scalar();
  }
  out = std::move(values);
}

void fields::get_enum(const std::string& key, std::string& out,
                      const std::set<std::string>& allowed, bool required) {
  std::string value;
  bool present = has(key);
  get(key, value, required);
  if (!present) return;
  if (!allowed.count(value)) {
    std::string options;
    for (const auto& a : allowed)
      options += (options.empty() ? "" : ", ") + a;
    diag_.add(child_path(key), raw(key), "'" + value + "' is not one of: " + options);
    return;
  }
  out = value;
}

fields fields::object(const std::string& key, bool required) {
  auto v = lookup(key, required);
  if (v.IsDefined() && !v.IsMap()) wrong_type(key, v, "a mapping");
  return fields(v.IsDefined() && v.IsMap() ? v : YAML::Node(YAML::NodeType::Undefined),
                child_path(key), diag_);
}

std::vector<fields> fields::list(const std::string& key, bool required) {
  std::vector<fields> out;
  auto v = lookup(key, required);
  if (!v.IsDefined()) return out;
  if (!v.IsSequence()) {
    wrong_type(key, v, "a list");
    return out;
  }
  size_t index = 0;
  for (const auto& item : v) {
    auto path = child_path(key) + "[" + std::to_string(index++) + "]";
    if (!item.IsMap()) {
      diag_.add(path, item, std::string("expected a mapping, got ") + show(item));
      continue;
    }
    out.emplace_back(item, path, diag_);
  }
  return out;
}

YAML::Node fields::raw(const std::string& key) {
  seen_.insert(key);
  if (!valid_) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node& map = node_;
  YAML::Node value = map[key];
  // A missing key gives a "zombie" node that throws on most uses: hand out a plain undefined one.
  if (!value.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
  return value;
}

void fields::finish() {
  if (!valid_) return;
  for (const auto& kv : node_) {
    auto key = kv.first.Scalar();
    if (!seen_.count(key)) diag_.add(child_path(key), kv.first, "unknown field");
  }
}

}  // namespace inferstack::config
