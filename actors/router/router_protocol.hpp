// Messages of the router: body-based routing (the JSON body's "model" is the routing key, as
// X-Gateway-Model-Name) and the namespace's HTTPRoutes mapping it to an InferencePool.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "protocol/type_ids.hpp"
#include "runtime/message_fields.hpp"

namespace inferstack::actors::router {

struct route_backend_entry {
  std::string pool_ns;
  std::string pool;
  uint32_t weight = 1;
  INFERSTACK_FIELDS(route_backend_entry, pool_ns, pool, weight)
};

/// One HTTPRoute rule match, flattened: requests of namespace `ns` whose model equals
/// `model_exact` (or matches `model_regex`; both empty: any model) and whose path matches go to
/// one of `backends`, chosen by weight.
struct route_entry {
  std::string ns;
  std::string route;  ///< HTTPRoute name, for logs
  std::string model_exact;
  std::string model_regex;
  std::string path_type;  ///< "", Exact, PathPrefix, RegularExpression
  std::string path;
  std::vector<route_backend_entry> backends;
  INFERSTACK_FIELDS(route_entry, ns, route, model_exact, model_regex, path_type, path, backends)
};

/// The whole routing table; replaces the previous one.
struct route_set {
  std::vector<route_entry> routes;
  INFERSTACK_FIELDS(route_set, routes)
};

struct route_set_applied {
  uint32_t routes = 0;
  INFERSTACK_FIELDS(route_set_applied, routes)
};

struct route_request {
  std::string ns;
  std::string path;
  std::string body;
  std::string request_id;
  INFERSTACK_FIELDS(route_request, ns, path, body, request_id)
};

struct route_decision {
  std::string model;  ///< the routing key, forwarded upstream as X-Gateway-Model-Name
  std::string pool_ns;
  std::string pool;
  INFERSTACK_FIELDS(route_decision, model, pool_ns, pool)
};

struct models_request {
  std::string ns;
  INFERSTACK_FIELDS(models_request, ns)
};

struct model_list {
  std::vector<std::string> models;
  INFERSTACK_FIELDS(model_list, models)
};

/// Router failures (CAF error category "router"); the context is the offending model or a
/// parse message.
enum class router_errc : uint8_t {
  invalid_json = 1,     ///< 400
  missing_model = 2,    ///< 400
  model_not_found = 3,  ///< 404 model_not_found
  no_backend = 4,       ///< 500: every backend of the matching rule has weight 0
};

inline std::string to_string(router_errc x) {
  switch (x) {
    case router_errc::invalid_json:
      return "invalid_json";
    case router_errc::missing_model:
      return "missing_model";
    case router_errc::model_not_found:
      return "model_not_found";
    case router_errc::no_backend:
      return "no_backend";
  }
  return "unknown";
}

using router_actor = caf::typed_actor<caf::replies_to<route_request>::with<route_decision>,
                                      caf::replies_to<models_request>::with<model_list>,
                                      caf::replies_to<route_set>::with<route_set_applied>>;

}  // namespace inferstack::actors::router

CAF_ERROR_CODE_ENUM(inferstack::actors::router::router_errc, "router")
