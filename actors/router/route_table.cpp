#include "actors/router/route_table.hpp"

#include <algorithm>
#include <random>
#include <set>

namespace inferstack::actors::router {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

constexpr std::string_view model_header = "X-Gateway-Model-Name";

}  // namespace

route_set build_route_set(const config::stack_config& stack, std::vector<std::string>& problems) {
  route_set out;
  std::vector<route_entry> catch_alls;
  for (const auto& route : stack.http_routes) {
    auto where = "HTTPRoute " + route.meta.namespace_ + "/" + route.meta.name;
    for (const auto& rule : route.rules) {
      std::vector<route_backend_entry> backends;
      for (const auto& b : rule.backends) {
        if (b.kind != "InferencePool") {
          problems.push_back(where + ": backend kind " + b.kind + " is not supported");
          continue;
        }
        backends.push_back({b.namespace_.empty() ? route.meta.namespace_ : b.namespace_, b.name,
                            static_cast<uint32_t>(std::max(0, b.weight))});
      }
      // A rule without matches matches everything (Gateway API semantics).
      std::vector<config::route_match> matches = rule.matches;
      if (matches.empty()) matches.emplace_back();
      for (const auto& m : matches) {
        route_entry e;
        e.ns = route.meta.namespace_;
        e.route = route.meta.name;
        e.path_type = m.path_type;
        e.path = m.path_value;
        e.backends = backends;
        bool usable = true;
        for (const auto& h : m.headers) {
          if (!iequals(h.name, model_header)) {
            problems.push_back(where + ": header match on " + h.name + " is not supported (only " +
                               std::string(model_header) + ")");
            usable = false;
            continue;
          }
          if (h.type == "RegularExpression") {
            try {
              std::regex check(h.value);
            } catch (const std::regex_error& err) {
              problems.push_back(where + ": invalid regular expression '" + h.value +
                                 "': " + err.what());
              usable = false;
            }
            e.model_regex = h.value;
          } else {
            e.model_exact = h.value;
          }
        }
        if (!usable) continue;
        bool catch_all = e.model_exact.empty() && e.model_regex.empty();
        (catch_all ? catch_alls : out.routes).push_back(std::move(e));
      }
    }
  }
  // Specific model routes win over catch-alls regardless of file order.
  for (auto& e : catch_alls)
    out.routes.push_back(std::move(e));
  return out;
}

route_table::route_table(route_set routes) : routes_(std::move(routes)) {
  for (const auto& e : routes_.routes) {
    std::optional<std::regex> model, path;
    try {
      if (!e.model_regex.empty()) model.emplace(e.model_regex);
      if (e.path_type == "RegularExpression") path.emplace(e.path);
    } catch (const std::regex_error&) {
      // build_route_set reported it; an unparsable pattern simply never matches
    }
    model_regex_.push_back(std::move(model));
    path_regex_.push_back(std::move(path));
  }
}

bool route_table::path_matches(const route_entry& e, std::string_view path) {
  if (e.path_type.empty()) return true;
  if (e.path_type == "Exact") return path == e.path;
  if (e.path_type == "PathPrefix") {
    // Prefix on path-segment boundaries: /v1 matches /v1 and /v1/x, not /v10.
    std::string_view prefix = e.path;
    while (prefix.size() > 1 && prefix.back() == '/')
      prefix.remove_suffix(1);
    if (prefix == "/" || prefix.empty()) return true;
    return path.substr(0, prefix.size()) == prefix &&
           (path.size() == prefix.size() || path[prefix.size()] == '/');
  }
  return false;  // RegularExpression handled by the caller
}

std::optional<route_table::match> route_table::resolve(std::string_view ns, std::string_view model,
                                                       std::string_view path,
                                                       route_rng& rng) const {
  for (size_t i = 0; i < routes_.routes.size(); ++i) {
    const auto& e = routes_.routes[i];
    if (e.ns != ns) continue;
    if (!e.model_exact.empty() && e.model_exact != model) continue;
    if (!e.model_regex.empty() &&
        (!model_regex_[i] || !std::regex_match(model.begin(), model.end(), *model_regex_[i])))
      continue;
    if (e.path_type == "RegularExpression") {
      if (!path_regex_[i] || !std::regex_match(path.begin(), path.end(), *path_regex_[i])) continue;
    } else if (!path_matches(e, path)) {
      continue;
    }
    uint64_t total = 0;
    for (const auto& b : e.backends)
      total += b.weight;
    if (total == 0) return match{&e, nullptr};
    uint64_t draw = std::uniform_int_distribution<uint64_t>(0, total - 1)(rng);
    for (const auto& b : e.backends) {
      if (draw < b.weight) return match{&e, &b};
      draw -= b.weight;
    }
  }
  return std::nullopt;
}

std::vector<std::string> route_table::models(std::string_view ns) const {
  std::set<std::string> names;
  for (const auto& e : routes_.routes)
    if (e.ns == ns && !e.model_exact.empty()) names.insert(e.model_exact);
  return {names.begin(), names.end()};
}

}  // namespace inferstack::actors::router
