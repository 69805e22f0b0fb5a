#include "gateway/stack_errors.hpp"

#include "runtime/json_escape.hpp"

namespace inferstack::gateway {

stack_error authorizer_unavailable(std::string detail) {
  return {502, "ext_authz_unavailable", "authz",
          "The authorization service is unavailable: " + detail};
}

stack_error router_unavailable(std::string detail) {
  return {502, "bbr_unavailable", "bbr", "The body-based router is unavailable: " + detail};
}

stack_error no_healthy_pod(std::string detail) {
  return {502, "gateway_dataplane_unhealthy", "gateway",
          "No healthy model server is available: " + detail};
}

stack_error not_programmed(std::string detail) {
  return {503, "gateway_not_programmed", "gateway", "The gateway is not ready yet: " + detail};
}

stack_error internal_failure(int status, std::string detail) {
  return {status, "gateway_internal_error", "gateway", std::move(detail)};
}

std::string stack_error_json(const stack_error& err) {
  std::string out = R"({"error":{"message":")";
  out += runtime::json_escape(err.message);
  out += R"(","type":"gateway_error","param":null,"code":")";
  out += err.code;
  out += R"("}})";
  return out;
}

http::header_list stack_error_headers(const stack_error& err) {
  return {{"x-kaito-error-source", err.source}};
}

}  // namespace inferstack::gateway
