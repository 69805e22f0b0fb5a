// GET /debug/picks; see debug_picks.hpp.
#include "nodes/debug_picks.hpp"

#include <algorithm>
#include <charconv>
#include <vector>

#include "actors/picker/pick_decision.hpp"
#include "openai/api_error.hpp"

namespace inferstack::nodes {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// A query value as sent: %XX escapes and '+' for a space.
std::string url_decode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
               hex_value(in[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

}  // namespace

bool parse_recent_picks_query(std::string_view query, recent_picks_query& out, std::string& error) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = pair.find('=');
    auto key = pair.substr(0, eq);
    auto value =
        url_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (key == "limit") {
      size_t n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() || value.empty()) {
        error = "limit must be a whole number (0: every decision kept), not '" + value + "'";
        return false;
      }
      out.limit = n;
    } else if (key == "request_id") {
      out.request_id = value;
    } else if (key == "pool") {
      out.pool = value;
    }
  }
  return true;
}

std::string recent_picks_json(const std::map<std::string, local_picker>& pickers,
                              const recent_picks_query& q) {
  std::vector<actors::picker::pick_decision> all;
  actors::picker::recent_picks ask{static_cast<uint32_t>(std::min<size_t>(q.limit, UINT32_MAX)),
                                   q.request_id};
  for (const auto& [pool, p] : pickers) {
    if (!q.pool.empty() && pool != q.pool) continue;
    if (!p.direct) continue;
    auto got = p.direct->recent(ask);
    if (!got) continue;  // the picker has ended
    for (auto& d : got->decisions)
      all.push_back(std::move(d));
  }
  return decisions_json(std::move(all), q.limit);
}

std::string decisions_json(std::vector<actors::picker::pick_decision> all, size_t limit) {
  // Newest first across pools (each picker numbers its own decisions).
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.unix_ms != b.unix_ms ? a.unix_ms > b.unix_ms : a.seq > b.seq;
  });
  if (limit != 0 && all.size() > limit) all.resize(limit);
  std::string out = "{\"decisions\":[";
  for (size_t i = 0; i < all.size(); ++i) {
    if (i) out += ',';
    actors::picker::append_json(out, all[i]);
  }
  out += "]}";
  return out;
}

void serve_recent_picks(const std::shared_ptr<http::exchange>& ex,
                        const std::map<std::string, local_picker>& pickers) {
  namespace bhttp = boost::beast::http;
  if (ex->req().method() != bhttp::verb::get) {
    ex->respond(http::status::method_not_allowed,
                openai::error_body(405, "/debug/picks answers GET only"), "application/json",
                {{"allow", "GET"}});
    return;
  }
  auto target = http::to_std(ex->req().target());
  auto mark = target.find('?');
  recent_picks_query q;
  std::string error;
  if (mark != std::string_view::npos &&
      !parse_recent_picks_query(target.substr(mark + 1), q, error)) {
    ex->respond(http::status::bad_request, openai::error_body(400, error), "application/json");
    return;
  }
  ex->respond(http::status::ok, recent_picks_json(pickers, q), "application/json");
}

}  // namespace inferstack::nodes
