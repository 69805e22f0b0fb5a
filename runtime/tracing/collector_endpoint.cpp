#include "runtime/tracing/collector_endpoint.hpp"

namespace inferstack::tracing {

std::optional<collector_address> parse_collector_endpoint(std::string_view endpoint,
                                                          std::string& error) {
  constexpr std::string_view scheme = "http://";
  if (endpoint.substr(0, scheme.size()) != scheme) {
    error = "'" + std::string(endpoint) +
            "' is not an http:// URL (OTLP/HTTP without TLS; use a collector next to the stack)";
    return std::nullopt;
  }
  auto rest = endpoint.substr(scheme.size());
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  std::string_view prefix = slash == std::string_view::npos ? "" : rest.substr(slash);
  while (!prefix.empty() && prefix.back() == '/')
    prefix.remove_suffix(1);
  collector_address out;
  auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    auto digits = authority.substr(colon + 1);
    unsigned port = 0;
    bool ok = !digits.empty() && digits.size() <= 5;
    for (char c : digits) {
      if (c < '0' || c > '9') ok = false;
      port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (!ok || port == 0 || port > 65535) {
      error = "'" + std::string(endpoint) + "' has no valid port";
      return std::nullopt;
    }
    out.port = static_cast<uint16_t>(port);
    authority = authority.substr(0, colon);
  }
  if (authority.size() > 2 && authority.front() == '[' && authority.back() == ']')
    authority = authority.substr(1, authority.size() - 2);  // an IPv6 literal
  if (authority.empty()) {
    error = "'" + std::string(endpoint) + "' names no host";
    return std::nullopt;
  }
  out.host = std::string(authority);
  out.path = std::string(prefix) + "/v1/traces";
  return out;
}

}  // namespace inferstack::tracing
