// The snapshot printed as aligned columns.
#include "ui/top_table.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

namespace inferstack::ui {

namespace {

using json = nlohmann::json;
using rows = std::vector<std::vector<std::string>>;

std::string table(const rows& r) {
  std::vector<size_t> width;
  for (const auto& row : r)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  std::string out;
  for (const auto& row : r) {
    for (size_t i = 0; i < row.size(); ++i) {
      out += row[i];
      if (i + 1 < row.size()) out += std::string(width[i] - row[i].size() + 3, ' ');
    }
    out += "\n";
  }
  return out;
}

/// A number of requests, or "-" when the pod's figures are unknown.
std::string count(const json& pod, const char* key) {
  if (!pod.contains(key) || !pod[key].is_number()) return "-";
  return std::to_string(static_cast<long long>(pod[key].get<double>()));
}

std::string percent(const json& pod, const char* key) {
  if (!pod.contains(key) || !pod[key].is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", pod[key].get<double>() * 100);
  return buf;
}

std::string short_name(const std::string& name) {
  return name.substr(name.find('/') + 1);
}

std::string clock_time(int64_t at_ms) {
  std::time_t t = static_cast<std::time_t>(at_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

}  // namespace

std::string top_table(const json& s) {
  rows pods{{"NAMESPACE", "POOL", "POD", "STATUS", "NODE", "WAITING", "RUNNING", "KV", "HIT-RATE"}};
  for (const auto& p : s.value("pods", json::array()))
    pods.push_back(
        {p.value("namespace", ""), p.value("pool", ""), short_name(p.value("name", "")),
         p.value("phase", ""), p.value("node", "").empty() ? "<none>" : p.value("node", ""),
         count(p, "waiting"), count(p, "running"), percent(p, "kv_usage"), percent(p, "hit_rate")});
  rows sets{{"NAMESPACE", "INFERENCESET", "POOL", "READY", "DESIRED", "PENDING", "LAST-SCALE"}};
  for (const auto& x : s.value("inferencesets", json::array()))
    sets.push_back({x.value("namespace", ""), x.value("name", ""), x.value("pool", ""),
                    std::to_string(x.value("ready", 0)), std::to_string(x.value("desired", 0)),
                    std::to_string(x.value("pending", 0)), x.value("last_scale_reason", "")});
  std::string out = table(pods) + "\n" + table(sets);
  auto decisions = s.value("decisions", json::array());
  if (!decisions.empty()) {
    rows d{{"TIME (UTC)", "INFERENCESET", "REPLICAS", "REASON"}};
    // The last five, newest first.
    for (size_t i = decisions.size(), n = 0; i > 0 && n < 5; --i, ++n) {
      const auto& x = decisions[i - 1];
      d.push_back({clock_time(x.value("at_ms", int64_t{0})),
                   x.value("namespace", "") + "/" + x.value("inferenceset", ""),
                   std::to_string(x.value("from", 0)) + " -> " + std::to_string(x.value("to", 0)),
                   x.value("reason", "")});
    }
    out += "\n" + table(d);
  }
  auto picks = s.value("picks", json::array());
  if (!picks.empty()) {
    rows p{{"PICKED (UTC)", "POOL", "POD", "CANDIDATES (TOTAL SCORE)"}};
    for (size_t i = 0; i < picks.size() && i < 5; ++i) {  // newest first already
      const auto& d = picks[i];
      std::string candidates;
      for (const auto& profile : d.value("profiles", json::array()))
        for (const auto& c : profile.value("candidates", json::array())) {
          char total[32];
          std::snprintf(total, sizeof total, "%.2f", c.value("total", 0.0));
          candidates +=
              (candidates.empty() ? "" : "  ") + short_name(c.value("pod", "")) + " " + total;
        }
      auto at = d.value("unix_ms", int64_t{0});
      char millis[8];
      std::snprintf(millis, sizeof millis, ".%03d", static_cast<int>(at % 1000));
      p.push_back(
          {clock_time(at) + millis, short_name(d.value("pool", "")),
           d.value("status", "") == "ok" ? short_name(d.value("pod", "")) : d.value("status", ""),
           candidates});
    }
    out += "\n" + table(p);
  }
  for (const auto& e : s.value("errors", json::array()))
    out += "(" + e.get<std::string>() + ")\n";
  return out;
}

}  // namespace inferstack::ui
