#include "runtime/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

#include <prometheus/text_serializer.h>

#include "runtime/metric_aliases.hpp"

namespace inferstack::runtime {

decision_counters::decision_counters(prometheus::Registry& registry, const std::string& name,
                                     const std::string& help)
    : family_(prometheus::BuildCounter().Name(name).Help(help).Register(registry)) {}

void decision_counters::count(std::string_view ns, std::string_view result) {
  std::lock_guard guard{mutex_};
  auto by_ns = capped_entry(counters_, ns);
  auto it = capped_entry(by_ns->second, result);
  if (!it->second) it->second = &family_.Add({{"namespace", by_ns->first}, {"result", it->first}});
  it->second->Increment();
}

std::string go_float(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto end = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific).ptr;
  std::string sci(buf, end);  // shortest digits: d[.ddd]e±XX
  auto e = sci.find('e');
  int exponent = std::stoi(sci.substr(e + 1));
  // Go's %e threshold with the shortest digits: below 1e-4, or from 1e+06.
  if (exponent < -4 || exponent >= 6) return sci;
  end = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed).ptr;
  return std::string(buf, end);
}

std::string render_metrics(prometheus::Registry& registry, bool go_style) {
  prometheus::TextSerializer serializer;
  auto families = registry.Collect();
  add_metric_aliases(families);  // llm-d-router's llm_d_epp_* names beside the old ones
  if (!go_style) return serializer.Serialize(families);
  families.erase(std::remove_if(families.begin(), families.end(),
                                [](const auto& f) { return f.metric.empty(); }),
                 families.end());
  auto text = serializer.Serialize(families);
  std::string out;
  out.reserve(text.size());
  size_t from = 0;
  while (from < text.size()) {
    auto eol = text.find('\n', from);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + from, eol - from);
    auto space = line.rfind(' ');
    if (!line.empty() && line[0] != '#' && space != std::string_view::npos) {
      double v = 0;
      auto value = line.substr(space + 1);
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec == std::errc() && p == value.data() + value.size()) {
        out.append(line.substr(0, space + 1));
        out += go_float(v);
      } else {
        out.append(line);
      }
    } else {
      out.append(line);
    }
    out += '\n';
    from = eol + 1;
  }
  return out;
}

}  // namespace inferstack::runtime
