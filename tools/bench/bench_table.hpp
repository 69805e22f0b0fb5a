// Shared output of the benchmarks: a table for people, one flat JSON object for machines, and
// medians over repeated runs (machines are shared and noisy).
#pragma once

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace inferstack::bench {

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

/// A flat JSON object with numbers and strings, written in insertion order.
class json_report {
 public:
  void number(const std::string& key, double value) { items_.push_back({key, fmt(value), false}); }
  void text(const std::string& key, const std::string& value) {
    items_.push_back({key, value, true});
  }
  bool write(const std::string& path) const {
    std::ofstream out(path);
    if (!out) return false;
    out << "{";
    for (size_t i = 0; i < items_.size(); ++i) {
      out << (i ? "," : "") << "\n  \"" << items_[i].key << "\": ";
      if (items_[i].quoted)
        out << "\"" << items_[i].value << "\"";
      else
        out << items_[i].value;
    }
    out << "\n}\n";
    return true;
  }

 private:
  static std::string fmt(double v) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.6g", v);
    return buf;
  }
  struct item {
    std::string key, value;
    bool quoted;
  };
  std::vector<item> items_;
};

}  // namespace inferstack::bench
