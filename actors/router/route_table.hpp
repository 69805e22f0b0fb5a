// Route resolution without actors: HTTPRoutes flattened into entries, matched in order, exact
// model matches before catch-alls, weighted backends chosen with the caller's generator.
#pragma once

#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "actors/router/route_rng.hpp"
#include "actors/router/router_protocol.hpp"
#include "runtime/config/manifests.hpp"

namespace inferstack::actors::router {

/// Flattens the HTTPRoutes of a stack into route entries (regexes are checked here: a bad one
/// is a problem naming the route).
route_set build_route_set(const config::stack_config& stack, std::vector<std::string>& problems);

class route_table {
 public:
  route_table() = default;
  explicit route_table(route_set routes);

  struct match {
    const route_entry* entry = nullptr;
    const route_backend_entry* backend = nullptr;  ///< null: all weights are 0
  };

  /// The rule serving `model` at `path` in `ns`, and the backend drawn for this request.
  std::optional<match> resolve(std::string_view ns, std::string_view model, std::string_view path,
                               route_rng& rng) const;

  /// Models routed by exact name in `ns`, sorted (what GET /v1/models lists).
  std::vector<std::string> models(std::string_view ns) const;

  size_t size() const { return routes_.routes.size(); }

 private:
  static bool path_matches(const route_entry& e, std::string_view path);
  route_set routes_;
  std::vector<std::optional<std::regex>> model_regex_;  ///< compiled, per entry
  std::vector<std::optional<std::regex>> path_regex_;
};

}  // namespace inferstack::actors::router
