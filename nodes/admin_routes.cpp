#include "nodes/admin_routes.hpp"

#include "runtime/metrics.hpp"

namespace inferstack::nodes {

bool is_health_path(std::string_view path) {
  return path == "/healthz" || path == "/health" || path == "/readyz" || path == "/health/ready";
}

bool serve_admin(const std::shared_ptr<http::exchange>& ex, prometheus::Registry& registry,
                 const std::atomic<bool>& ready) {
  auto target = http::to_std(ex->req().target());
  auto path = target.substr(0, target.find('?'));
  if (path == "/metrics") {
    ex->respond(http::status::ok, runtime::render_metrics(registry), runtime::metrics_content_type);
    return true;
  }
  if (path == "/healthz" || path == "/health") {
    ex->respond(http::status::ok, R"({"status":"ok"})", "application/json");
    return true;
  }
  if (path == "/readyz" || path == "/health/ready") {
    if (ready)
      ex->respond(http::status::ok, R"({"status":"ready"})", "application/json");
    else
      ex->respond(http::status::service_unavailable, R"({"status":"starting"})",
                  "application/json");
    return true;
  }
  return false;
}

}  // namespace inferstack::nodes
