// The stack's own failures, in the KAITO stack's envelope: an OpenAI-shaped error whose code
// names the failure, and the header x-kaito-error-source naming the failing layer. Errors that
// come from a pod (a genuine vLLM error) are passed through unchanged instead.
#pragma once

#include <string>

#include "runtime/http/http_server.hpp"

namespace inferstack::gateway {

struct stack_error {
  int status = 500;
  std::string code;    ///< ext_authz_unavailable, bbr_unavailable, ...
  std::string source;  ///< authz | bbr | gateway
  std::string message;
};

stack_error authorizer_unavailable(std::string detail);  ///< 502 ext_authz_unavailable / authz
stack_error router_unavailable(std::string detail);      ///< 502 bbr_unavailable / bbr
stack_error no_healthy_pod(std::string detail);          ///< 502 gateway_dataplane_unhealthy
stack_error not_programmed(std::string detail);          ///< 503 gateway_not_programmed
stack_error internal_failure(int status, std::string detail);  ///< gateway_internal_error

std::string stack_error_json(const stack_error& err);
http::header_list stack_error_headers(const stack_error& err);

}  // namespace inferstack::gateway
