// The HTTP server's request reading, shared with its fuzz target (see request_reading.hpp).
#include "runtime/http/request_reading.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include "runtime/http/http_server.hpp"

namespace inferstack::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace {

/// A Host value as RFC 9112 (section 3.2) allows: uri-host [":" port] of RFC 3986 -- an IP
/// literal in brackets, or a reg-name / IPv4 address; empty is allowed (no authority).
bool valid_host(std::string_view host) {
  auto is_hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    for (char c : host.substr(1, close - 1))
      if (!is_hex(c) && c != ':' && c != '.') return false;
    port = host.substr(close + 1);
  } else {
    auto colon = host.find(':');
    auto name = host.substr(0, colon);
    if (colon != std::string_view::npos) port = host.substr(colon);
    for (size_t i = 0; i < name.size(); ++i) {
      char c = name[i];
      if (c == '%') {  // pct-encoded
        if (i + 2 >= name.size() || !is_hex(name[i + 1]) || !is_hex(name[i + 2])) return false;
        i += 2;
      } else if (!std::isalnum(static_cast<unsigned char>(c)) &&
                 std::string_view("-._~!$&'()*+,;=").find(c) == std::string_view::npos) {
        return false;
      }
    }
  }
  if (port.empty()) return true;
  if (port.front() != ':') return false;
  return std::all_of(port.begin() + 1, port.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

}  // namespace

void limit_request(request_parser& parser, uint64_t body_limit) {
  parser.body_limit(body_limit);
  parser.header_limit(request_header_limit);
}

beast::error_code parse_buffered(request_parser& parser, beast::flat_buffer& buffer) {
  beast::error_code ec;
  while (buffer.size() > 0 && !parser.is_done()) {
    auto used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == bhttp::error::need_more) ec = {};
    if (ec || used == 0) break;
  }
  return ec;
}

std::optional<read_refusal> refusal_for(beast::error_code ec, uint64_t body_limit) {
  if (ec == bhttp::error::end_of_stream || ec == boost::asio::error::eof) return std::nullopt;
  if (ec == bhttp::error::body_limit)
    return read_refusal{bhttp::status::payload_too_large,
                        "request body larger than " + std::to_string(body_limit) + " bytes"};
  if (ec == bhttp::error::header_limit)
    return read_refusal{bhttp::status::request_header_fields_too_large,
                        "request headers too large"};
  if (ec == beast::error::timeout || ec == boost::asio::error::operation_aborted)
    return std::nullopt;
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category())
    return read_refusal{bhttp::status::bad_request, "malformed HTTP request: " + ec.message()};
  return std::nullopt;
}

const char* host_problem(const request& req) {
  auto count = req.count(bhttp::field::host);
  if (count > 1) return "the request has more than one Host header";
  if (count == 1 && !valid_host(to_std(req[bhttp::field::host]))) return "invalid Host header";
  return nullptr;
}

}  // namespace inferstack::http
