// How the HTTP server reads a request: Beast's parser with the server's limits, fed from the
// connection's buffer, the answer to a request that cannot be read, and the check of its Host
// before any handler sees it. Free functions so the server and its fuzz target
// (tests/fuzz/http_request_fuzz.cpp) run the same code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

namespace inferstack::http {

using request_parser = boost::beast::http::request_parser<boost::beast::http::string_body>;

/// The request line and headers together may not be larger than this (431 beyond).
inline constexpr uint32_t request_header_limit = 64 * 1024;

/// Sets the server's limits on a fresh parser.
void limit_request(request_parser& parser, uint64_t body_limit);

/// Parses what `buffer` holds (consuming it) until the request is done, the parser needs more
/// bytes or the request is malformed; the error, if any (never need_more).
boost::beast::error_code parse_buffered(request_parser& parser, boost::beast::flat_buffer& buffer);

/// The server's answer to a request it could not read, before it closes the connection; none
/// when it just closes (the client went away, a timeout, a socket error).
struct read_refusal {
  boost::beast::http::status code;
  std::string message;
};
std::optional<read_refusal> refusal_for(boost::beast::error_code ec, uint64_t body_limit);

/// Why the server refuses a request's Host (RFC 9112 section 3.2: more than one, or an invalid
/// value), or null. Refused before any handler sees it: a handler reads only the first.
const char* host_problem(const boost::beast::http::request<boost::beast::http::string_body>& req);

}  // namespace inferstack::http
