// GET /debug/picks on a stack process's admin listener (`dev --admin-listen`, `run picker
// --http`): the recent decisions of the pickers of this process -- why each request went to its
// pod -- newest first, as JSON. Behind the admin listener's token check (a read token will do).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "actors/picker/picker_protocol.hpp"
#include "nodes/roles/picker_role.hpp"
#include "runtime/http/http_server.hpp"

namespace inferstack::nodes {

/// The query of GET /debug/picks.
struct recent_picks_query {
  size_t limit = 50;       ///< ?limit=N (0: every decision kept)
  std::string request_id;  ///< ?request_id=ID: only this request's decisions
  std::string pool;        ///< ?pool=NS/NAME: only this pool's
};

/// Reads the query string (after '?'); false with `error` set when a value does not parse.
bool parse_recent_picks_query(std::string_view query, recent_picks_query& out, std::string& error);

/// {"decisions":[...]}: `all` newest first (across pools: each picker numbers its own), at most
/// `limit` of them (0: all).
std::string decisions_json(std::vector<actors::picker::pick_decision> all, size_t limit);

/// {"decisions":[...]}: the pickers' decisions matching `q`, newest first, at most q.limit.
std::string recent_picks_json(const std::map<std::string, local_picker>& pickers,
                              const recent_picks_query& q);

/// Answers GET /debug/picks (400 for a bad query, 405 for another method).
void serve_recent_picks(const std::shared_ptr<http::exchange>& ex,
                        const std::map<std::string, local_picker>& pickers);

}  // namespace inferstack::nodes
