// libFuzzer target: the HTTP server's request reading (runtime/http/request_reading.hpp), which
// takes bytes from any client. The input is what a client sends on one connection; it is read
// as a session reads it -- parse what is buffered, read more, and after a request the client
// keeps alive, parse the next one (pipelining). Beyond "does not crash" it checks what the
// server and the gateway rely on, trapping when one fails:
//  - the requests read are the same whether the bytes arrive at once or in pieces (the server
//    parses both ways: a whole buffered request, and one that comes in over several reads);
//  - a request that cannot be read is answered 400, 413 or 431, or the connection just closes;
//    so is one with two Host headers or an invalid one (host_problem), before any handler;
//  - a request's target, header names and values hold no CR, LF or NUL: the gateway routes on
//    the target, takes the namespace from Host, and echoes x-request-id into its response
//    headers and logs;
//  - a body is never larger than the body limit.
// Both with the server's default body limit and with a small one, so that 413 is reached.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/field.hpp>

#include "runtime/http/http_server.hpp"
#include "runtime/http/request_reading.hpp"

namespace {

namespace bhttp = boost::beast::http;
using inferstack::http::to_std;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

bool clean(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

/// One request as the gateway sees it, checked, written out for comparison.
std::string describe(const inferstack::http::request& req, uint64_t body_limit) {
  auto target = to_std(req.target());
  require(!target.empty() && clean(target));
  require(req.version() == 10 || req.version() == 11);
  require(req.body().size() <= body_limit);
  std::string out = std::string(to_std(req.method_string())) + " " + std::string(target) + " " +
                    std::to_string(req.version()) + (req.keep_alive() ? " keep-alive\n" : "\n");
  for (const auto& f : req) {
    auto name = to_std(f.name_string());
    auto value = to_std(f.value());
    require(!name.empty() && clean(name) && clean(value));
    out.append(name).append(": ").append(value).append("\n");
  }
  // What the gateway reads: the path it routes on and the Host its namespace comes from, which
  // the server has let through only alone and well-formed.
  auto path = target.substr(0, target.find('?'));
  require(path.size() <= target.size());
  require(req.count(bhttp::field::host) <= 1);
  auto host = req.find(bhttp::field::host);
  if (host != req.end()) {
    auto value = to_std(host->value());
    require(clean(value) && value.find_first_of(" /?#@\"<>") == std::string_view::npos);
  }
  out.append("body ").append(std::to_string(req.body().size())).append(": ").append(req.body());
  return out;
}

/// The requests a session reads from `bytes` arriving `piece` bytes at a time, and how the
/// connection ends: the server's refusal, a close, or bytes left waiting for more.
std::vector<std::string> read_connection(std::string_view bytes, size_t piece,
                                         uint64_t body_limit) {
  std::vector<std::string> log;
  boost::beast::flat_buffer buffer;
  size_t offset = 0;
  auto arrive = [&] {
    size_t n = std::min(piece, bytes.size() - offset);
    if (n == 0) return false;
    auto space = buffer.prepare(n);
    std::copy_n(bytes.data() + offset, n, static_cast<char*>(space.data()));
    buffer.commit(n);
    offset += n;
    return true;
  };
  arrive();
  for (;;) {
    inferstack::http::request_parser parser;
    inferstack::http::limit_request(parser, body_limit);
    parser.eager(true);
    boost::beast::error_code ec;
    for (;;) {
      ec = inferstack::http::parse_buffered(parser, buffer);
      if (ec || parser.is_done() || !arrive()) break;
    }
    if (ec) {
      auto refusal = inferstack::http::refusal_for(ec, body_limit);
      if (!refusal) {
        log.push_back("close: " + ec.message());
        return log;
      }
      auto code = static_cast<unsigned>(refusal->code);
      require(code == 400 || code == 413 || code == 431);
      require(!refusal->message.empty());
      log.push_back("refused " + std::to_string(code) + ": " + refusal->message);
      return log;
    }
    if (!parser.is_done()) {
      log.push_back("waiting");
      return log;
    }
    // Refused before any handler sees it, as the session does.
    if (auto problem = inferstack::http::host_problem(parser.get())) {
      log.push_back(std::string("refused 400: ") + problem);
      return log;
    }
    auto req = parser.release();
    log.push_back(describe(req, body_limit));
    if (!req.keep_alive()) return log;
    if (buffer.size() == 0 && !arrive()) return log;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const inferstack::http::server_settings defaults;
  for (uint64_t body_limit : {defaults.body_limit, uint64_t{64}}) {
    auto whole = read_connection(bytes, bytes.size() + 1, body_limit);
    auto pieces = read_connection(bytes, 1 + size % 13, body_limit);
    // Every request is read the same. How a malformed one ends may differ: Beast checks a
    // request line as soon as one buffer holds it, but one that came in pieces only once the
    // header has ended (refused later: still waiting here); and Beast 1.74 charges a chunk's
    // size to the body limit again each time it re-reads the chunk's header, so a malformed
    // chunk extension that spans reads may be refused 413 instead of 400.
    require(whole.size() == pieces.size());
    for (size_t i = 0; i + 1 < whole.size(); ++i)
      require(whole[i] == pieces[i]);
    auto not_a_request = [](const std::string& e) {
      return e == "waiting" || e.rfind("refused ", 0) == 0 || e.rfind("close: ", 0) == 0;
    };
    require(whole.back() == pieces.back() ||
            (not_a_request(whole.back()) && not_a_request(pieces.back())));
  }
  return 0;
}
