// The faults file: checks each entry (one workload_error naming file, line and field for the
// first problem), then lists the faults, with the ends of those that have a `for`, in time order.
#include "simulate/faults.hpp"
#include "simulate/workload/yaml_document.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string_view>

namespace inferstack::simulate {
namespace {

size_t line_of(const YAML::Node& node) {
  if (!node.IsDefined()) return 0;
  auto mark = node.Mark();
  return mark.is_null() ? 0 : static_cast<size_t>(mark.line) + 1;
}

/// The keys that name an action, in the file's spelling.
constexpr std::string_view action_keys[] = {"kill_pod",    "lose_node",    "cut_kv_events",
                                            "freeze_pod",  "set_replicas", "reclaim_node",
                                            "cordon_node", "uncordon_node"};

class reader {
 public:
  explicit reader(std::string file) : file_(std::move(file)) {}

  const std::string& file() const { return file_; }

  [[noreturn]] void fail(const YAML::Node& at, const std::string& field,
                         const std::string& problem) const {
    throw workload_error(file_, line_of(at), field, problem);
  }

  /// "60s", "1.5s", "500ms", "2m": a duration, never negative.
  std::chrono::nanoseconds duration(const YAML::Node& node, const std::string& field) const {
    if (!node.IsScalar()) fail(node, field, "wrong type: expected a duration such as 60s or 500ms");
    std::string_view text = node.Scalar();
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    std::string_view unit(end, text.data() + text.size() - end);
    if (ec != std::errc() || !std::isfinite(value))
      fail(node, field, "bad duration '" + node.Scalar() + "' (e.g. 60s, 1.5s, 500ms, 2m)");
    if (value < 0) fail(node, field, "must not be negative");
    double unit_ns = unit == "ms" ? 1e6 : unit == "s" ? 1e9 : unit == "m" ? 60e9 : 0;
    if (unit_ns == 0)
      fail(node, field,
           unit.empty() ? "bad duration '" + node.Scalar() + "': give a unit (ms, s, m), e.g. 60s"
                        : "bad duration '" + node.Scalar() + "': unknown unit '" +
                              std::string(unit) + "' (ms, s, m)");
    return std::chrono::nanoseconds(std::llround(value * unit_ns));
  }

  std::string text(const YAML::Node& node, const std::string& field) const {
    if (!node.IsScalar() || node.Scalar().empty()) fail(node, field, "wrong type: expected a name");
    return node.Scalar();
  }

  /// "<namespace>/<name>": a pod or an InferenceSet.
  std::string namespaced(const YAML::Node& node, const std::string& field,
                         const std::string& what) const {
    auto name = text(node, field);
    auto slash = name.find('/');
    if (slash == 0 || slash == std::string::npos || slash + 1 == name.size() ||
        name.find('/', slash + 1) != std::string::npos)
      fail(node, field, "'" + name + "' is no " + what + " name: expected <namespace>/<name>");
    return name;
  }

 private:
  std::string file_;
};

struct entry_read {
  fault start;
  std::optional<std::chrono::nanoseconds> lasts;  ///< its `for`
};

entry_read read_entry(const reader& r, const YAML::Node& entry, size_t index) {
  auto path = "faults[" + std::to_string(index) + "]";
  if (!entry.IsMap()) r.fail(entry, path, "wrong type: expected a mapping (at, and one action)");
  fault f;
  f.entry = index;
  std::optional<YAML::Node> at, action, replicas, for_;
  std::string action_key;
  for (const auto& kv : entry) {
    std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
    auto field = path + "." + key;
    if (kv.second.IsNull())  // at its key: an empty value's own mark is the next line's
      throw workload_error(r.file(), line_of(kv.first), field, "no value");
    if (key == "at") {
      at = kv.second;
    } else if (key == "for") {
      for_ = kv.second;
    } else if (key == "replicas") {
      replicas = kv.second;
    } else if (std::find(std::begin(action_keys), std::end(action_keys), key) !=
               std::end(action_keys)) {
      if (action)
        throw workload_error(r.file(), line_of(kv.first), field,
                             "one action per entry: this one has " + action_key + " too");
      action = kv.second;
      action_key = key;
    } else {
      throw workload_error(r.file(), line_of(kv.first), field,
                           "unknown field (at, for, replicas, and one action: kill_pod, "
                           "lose_node, reclaim_node, cordon_node, uncordon_node, cut_kv_events, "
                           "freeze_pod, set_replicas)");
    }
  }
  if (!at) r.fail(entry, path + ".at", "missing field");
  if (!action)
    r.fail(entry, path,
           "no action (kill_pod, lose_node, reclaim_node, cordon_node, uncordon_node, "
           "cut_kv_events, freeze_pod, set_replicas)");
  f.at = r.duration(*at, path + ".at");
  auto target = path + "." + action_key;
  if (action_key == "kill_pod") {
    f.action = fault::kind::kill_pod;
    f.target = r.namespaced(*action, target, "pod");
  } else if (action_key == "lose_node") {
    f.action = fault::kind::lose_node;
    f.target = r.text(*action, target);
  } else if (action_key == "reclaim_node" || action_key == "cordon_node" ||
             action_key == "uncordon_node") {
    f.action = action_key == "reclaim_node"  ? fault::kind::reclaim_node
               : action_key == "cordon_node" ? fault::kind::cordon_node
                                             : fault::kind::uncordon_node;
    f.target = r.text(*action, target);
  } else if (action_key == "cut_kv_events") {
    f.action = fault::kind::cut_kv_events;
    f.target = r.namespaced(*action, target, "pod");
  } else if (action_key == "freeze_pod") {
    f.action = fault::kind::freeze_pod;
    f.target = r.namespaced(*action, target, "pod");
  } else {
    f.action = fault::kind::set_replicas;
    f.target = r.namespaced(*action, target, "InferenceSet");
    if (!replicas) r.fail(entry, path + ".replicas", "missing field (set_replicas needs it)");
    int64_t n = 0;
    if (!replicas->IsScalar() || !YAML::convert<int64_t>::decode(*replicas, n))
      r.fail(*replicas, path + ".replicas", "wrong type: expected an integer");
    if (n < 0) r.fail(*replicas, path + ".replicas", "must not be negative");
    if (n > std::numeric_limits<int32_t>::max()) r.fail(*replicas, path + ".replicas", "too large");
    f.replicas = static_cast<int32_t>(n);
  }
  if (replicas && f.action != fault::kind::set_replicas)
    r.fail(*replicas, path + ".replicas", "only set_replicas takes replicas");
  std::optional<std::chrono::nanoseconds> lasts;
  if (for_) {
    if (f.action != fault::kind::cut_kv_events && f.action != fault::kind::freeze_pod)
      r.fail(*for_, path + ".for",
             "only cut_kv_events and freeze_pod end: " + action_key + " takes no for");
    lasts = r.duration(*for_, path + ".for");
    if (lasts->count() == 0) r.fail(*for_, path + ".for", "must be positive");
  }
  return {f, lasts};
}

}  // namespace

const char* to_string(fault::kind k) {
  switch (k) {
    case fault::kind::kill_pod:
      return "kill_pod";
    case fault::kind::lose_node:
      return "lose_node";
    case fault::kind::cut_kv_events:
      return "cut_kv_events";
    case fault::kind::restore_kv_events:
      return "restore_kv_events";
    case fault::kind::freeze_pod:
      return "freeze_pod";
    case fault::kind::unfreeze_pod:
      return "unfreeze_pod";
    case fault::kind::set_replicas:
      return "set_replicas";
    case fault::kind::reclaim_node:
      return "reclaim_node";
    case fault::kind::cordon_node:
      return "cordon_node";
    case fault::kind::uncordon_node:
      return "uncordon_node";
  }
  return "unknown";
}

std::string describe(const fault& f) {
  char at[32];
  std::snprintf(at, sizeof at, "%.3f s", static_cast<double>(f.at.count()) / 1e9);
  std::string out = std::string(at) + ": " + to_string(f.action) + " " + f.target;
  if (f.action == fault::kind::set_replicas) out += " to " + std::to_string(f.replicas);
  return out;
}

std::vector<fault> load_faults_text(const std::string& text, const std::string& file) {
  YAML::Node root = parse_yaml_document(text, file);
  reader r(file);
  if (!root.IsMap()) r.fail(root, "", "wrong type: expected a mapping with a list 'faults'");
  for (const auto& kv : root) {
    std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
    if (key != "faults") throw workload_error(file, line_of(kv.first), key, "unknown field");
  }
  auto list = root["faults"];
  if (!list.IsDefined()) r.fail(root, "faults", "missing field");
  if (list.IsNull()) return {};  // "faults:" with nothing: no faults
  if (!list.IsSequence()) r.fail(list, "faults", "wrong type: expected a list");

  std::vector<fault> out;
  for (size_t i = 0; i < list.size(); ++i) {
    auto [f, lasts] = read_entry(r, list[i], i);
    out.push_back(f);
    if (lasts) {  // right after its start: ties keep the file's order
      fault end = f;
      end.at = f.at + *lasts;
      end.action = f.action == fault::kind::cut_kv_events ? fault::kind::restore_kv_events
                                                          : fault::kind::unfreeze_pod;
      out.push_back(end);
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const fault& a, const fault& b) { return a.at < b.at; });
  return out;
}

std::vector<fault> load_faults(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw workload_error(path, 0, "", "cannot open the file");
  std::ostringstream text;
  text << in.rdbuf();
  return load_faults_text(text.str(), path);
}

}  // namespace inferstack::simulate
