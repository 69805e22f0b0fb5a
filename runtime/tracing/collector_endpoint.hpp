// The address of an OpenTelemetry collector's OTLP/HTTP receiver, from its endpoint URL. Apart
// from the exporter so that the config check links it without Boost.Asio.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace inferstack::tracing {

/// Where a collector listens, from an `http://host[:port][/prefix]` endpoint.
struct collector_address {
  std::string host;
  uint16_t port = 80;
  std::string path;  ///< the prefix and /v1/traces
};

/// Nothing, and `error` says why, for an endpoint that is not an http:// URL with a host.
std::optional<collector_address> parse_collector_endpoint(std::string_view endpoint,
                                                          std::string& error);

}  // namespace inferstack::tracing
