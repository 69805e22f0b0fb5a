// Strict reading of YAML mappings: every key must be known, every value of the right type.
// Problems are collected (not thrown) so `inferstack check` can print all of them at once,
// each naming file, document, object and field.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace inferstack::config {

struct problem {
  std::string file;
  int document = 0;    ///< 1-based index of the YAML document in its file (0: not in a file)
  std::string object;  ///< "Kind namespace/name" when known
  std::string field;   ///< dotted path, e.g. spec.template.resource.instanceType
  int line = 0;        ///< 1-based line, 0 when unknown
  std::string message;

  std::string to_string() const;
};

/// Collects problems for one document.
class diagnostics {
 public:
  diagnostics(std::string file, int document) : file_(std::move(file)), document_(document) {}

  void set_object(std::string object) { object_ = std::move(object); }
  void add(const std::string& field, const YAML::Node& at, std::string message);
  void add(const std::string& field, std::string message);

  const std::vector<problem>& problems() const { return problems_; }
  std::vector<problem>& problems() { return problems_; }
  const std::string& file() const { return file_; }
  int document() const { return document_; }

 private:
  std::string file_;
  int document_;
  std::string object_;
  std::vector<problem> problems_;
};

/// Parses Go-style durations ("250ms", "1.5s", "2m", "100us", "1h30m"); a bare number means
/// seconds. Returns nullopt on malformed input.
std::optional<std::chrono::nanoseconds> parse_duration(const std::string& text);

/// parse_duration without rounding to whole nanoseconds ("1.31ns" -> 1.31), for per-token and
/// per-byte costs that are fractions of a nanosecond.
std::optional<double> parse_duration_ns(const std::string& text);

/// Formats a duration the way parse_duration reads it back.
std::string format_duration(std::chrono::nanoseconds d);

/// A view over one YAML mapping that records which keys were read. finish() reports the
/// keys nobody asked for as unknown fields.
class fields {
 public:
  fields(const YAML::Node& node, std::string path, diagnostics& diag);

  bool valid() const { return valid_; }
  bool has(const std::string& key) const;
  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  diagnostics& diag() { return diag_; }

  // Scalars: leave `out` untouched when the key is absent; report a problem when present but
  // of the wrong type, or absent and `required`.
  void get(const std::string& key, std::string& out, bool required = false);
  void get(const std::string& key, bool& out, bool required = false);
  void get(const std::string& key, int64_t& out, bool required = false);
  void get(const std::string& key, int& out, bool required = false);
  void get(const std::string& key, uint32_t& out, bool required = false);
  void get(const std::string& key, uint64_t& out, bool required = false);
  void get(const std::string& key, double& out, bool required = false);
  void get(const std::string& key, std::chrono::nanoseconds& out, bool required = false);
  void get(const std::string& key, std::vector<std::string>& out, bool required = false);
  void get(const std::string& key, std::map<std::string, std::string>& out, bool required = false);

  /// A value that must be one of `allowed`.
  void get_enum(const std::string& key, std::string& out, const std::set<std::string>& allowed,
                bool required = false);

  /// A nested mapping (an invalid view when absent or not a mapping).
  fields object(const std::string& key, bool required = false);

  /// A sequence of mappings.
  std::vector<fields> list(const std::string& key, bool required = false);

  /// Takes a key without interpreting it (free-form parameters).
  YAML::Node raw(const std::string& key);

  /// Reports every key that no get/object/list/raw call consumed.
  void finish();

  std::string child_path(const std::string& key) const;

 private:
  YAML::Node lookup(const std::string& key, bool required);
  void wrong_type(const std::string& key, const YAML::Node& value, const char* expected);

  YAML::Node node_;
  std::string path_;
  diagnostics& diag_;
  bool valid_ = false;
  std::set<std::string> seen_;
};

}  // namespace inferstack::config
