// session-affinity-scorer (llm-d): a session sticks to the pod that served it, through an
// encoded endpoint header or a server-side binding of session ids; with the base64 it needs.
#include <algorithm>
#include <cctype>
#include <climits>

#include "actors/picker/scheduling/plugin_registry.hpp"
#include "actors/picker/scheduling/scorers.hpp"

namespace inferstack::actors::picker {

// -- session affinity -------------------------------------------------------------------------

session_affinity_scorer::session_affinity_scorer(std::string name, settings s)
    : scorer_plugin("session-affinity-scorer", std::move(name)), settings_(std::move(s)) {}

std::string session_affinity_scorer::response_token(std::string_view pod) const {
  if (settings_.algorithm != "encoded_endpoint_header") return {};
  return base64_encode(pod);
}

void session_affinity_scorer::sweep(int64_t now_ns) {
  if (settings_.ttl_ns <= 0) return;
  for (auto it = bindings_.begin(); it != bindings_.end();) {
    if (now_ns - it->second.last_seen_ns > settings_.ttl_ns) {
      auto pc = pod_sessions_.find(it->second.pod);
      if (pc != pod_sessions_.end() && --pc->second <= 0) pod_sessions_.erase(pc);
      it = bindings_.erase(it);
    } else {
      ++it;
    }
  }
}

uint32_t session_affinity_scorer::least_loaded(cycle& c, std::span<const uint32_t> cand) {
  // Fewest bound sessions; ties rotate (llm-d's round-robin cursor) over names in sorted order
  // so the choice does not depend on candidate order.
  std::vector<uint32_t> sorted(cand.begin(), cand.end());
  std::sort(sorted.begin(), sorted.end(),
            [&](uint32_t a, uint32_t b) { return c.endpoint(a).name < c.endpoint(b).name; });
  int best = INT_MAX;
  std::vector<uint32_t> ties;
  for (uint32_t id : sorted) {
    auto it = pod_sessions_.find(c.endpoint(id).name);
    int n = it == pod_sessions_.end() ? 0 : it->second;
    if (n < best) {
      best = n;
      ties.assign(1, id);
    } else if (n == best) {
      ties.push_back(id);
    }
  }
  ++cursor_;
  return ties[cursor_ % ties.size()];
}

void session_affinity_scorer::score(cycle& c, std::span<const uint32_t> cand,
                                    std::span<double> out) {
  auto token = c.request->header(settings_.header);
  if (settings_.algorithm == "encoded_endpoint_header") {
    if (token.empty()) return;
    auto pod = base64_decode(token);
    if (!pod) return;
    for (size_t i = 0; i < cand.size(); ++i)
      if (c.endpoint(cand[i]).name == *pod) out[i] = 1.0;
    return;
  }
  // session_id_header
  if (cand.empty()) return;
  if (c.now_ns - last_sweep_ns_ > 1'000'000'000) {
    sweep(c.now_ns);
    last_sweep_ns_ = c.now_ns;
  }
  size_t target = cand.size();
  if (!token.empty()) {
    auto it = bindings_.find(std::string(token));
    if (it != bindings_.end()) {
      for (size_t i = 0; i < cand.size(); ++i)
        if (c.endpoint(cand[i]).name == it->second.pod) target = i;
    }
  }
  if (target == cand.size()) {
    uint32_t id = least_loaded(c, cand);
    target = static_cast<size_t>(std::find(cand.begin(), cand.end(), id) - cand.begin());
  }
  out[target] = 1.0;
}

void session_affinity_scorer::pre_request(hook_context& h) {
  if (settings_.algorithm != "session_id_header" || !h.result || !h.result->ok()) return;
  auto token = h.request->header(settings_.header);
  if (token.empty()) return;
  const pick_target* picked = nullptr;
  if (settings_.profile.empty() || settings_.profile == h.result->primary_profile)
    picked = &h.result->primary();
  else if (h.result->prefill && settings_.profile != h.result->primary_profile)
    picked = &*h.result->prefill;
  if (!picked) return;
  auto [it, inserted] = bindings_.try_emplace(std::string(token));
  auto& b = it->second;
  if (!inserted && b.pod == picked->name) {
    b.last_seen_ns = h.now_ns;
    b.misses = 0;
    return;
  }
  // A bound session moves only after its pod missed the candidate set missThreshold times.
  if (!inserted && pod_sessions_.count(b.pod) && ++b.misses < settings_.miss_threshold) {
    b.last_seen_ns = h.now_ns;
    return;
  }
  if (!inserted) {
    auto pc = pod_sessions_.find(b.pod);
    if (pc != pod_sessions_.end() && --pc->second <= 0) pod_sessions_.erase(pc);
  }
  b.pod = picked->name;
  b.last_seen_ns = h.now_ns;
  b.misses = 0;
  ++pod_sessions_[b.pod];
}

void session_affinity_scorer::endpoint_removed(uint32_t, const endpoint_state& e) {
  // Sessions on a removed pod are free to move at once.
  pod_sessions_.erase(e.name);
}

// -- factories --------------------------------------------------------------------------------

namespace {

using config::fields;
using config::picker_plugin_spec;

void make_session_affinity(plugin_builder& b, const picker_plugin_spec& s, fields& p) {
  session_affinity_scorer::settings st;
  p.get_enum("algorithm", st.algorithm, {"encoded_endpoint_header", "session_id_header"});
  p.get("headerName", st.header);
  // llm-d-router v0.10's names: strategy for algorithm, encodedEndpointHeaderConfig.header for
  // headerName. Its session_id strategy (ids from sessionIdConfig.sources, an unbound session
  // left to the other scorers) is not this scorer's session_id_header: refused.
  std::string strategy;
  p.get_enum("strategy", strategy, {"encoded_endpoint_header", "session_id"});
  if (strategy == "session_id")
    b.problem(p.child_path("strategy"),
              "session_id is not supported (algorithm session_id_header binds session ids "
              "server-side)");
  else if (!strategy.empty())
    st.algorithm = strategy;
  if (auto encoded = p.object("encodedEndpointHeaderConfig"); encoded.valid()) {
    encoded.get("header", st.header);
    encoded.finish();
  }
  p.raw("sessionIdConfig");  // read by the session_id strategy only
  for (auto& ch : st.header)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  p.get("profileName", st.profile);
  double ttl = 600, sweep = 30;
  p.get("evictionTtlSeconds", ttl);
  p.get("evictionSweepSeconds", sweep);
  st.ttl_ns = static_cast<int64_t>(ttl * 1e9);
  p.get("missThreshold", st.miss_threshold);
  b.add(std::make_unique<session_affinity_scorer>(s.name, st), &s);
}

}  // namespace

const std::vector<plugin_factory>& session_scorer_factories() {
  static const std::vector<plugin_factory> list = {
      {"session-affinity-scorer",
       plugin_kind::scorer,
       {{"algorithm", "encoded_endpoint_header"},
        {"headerName", "x-session-token"},
        {"profileName", "\"\" (the primary profile)"},
        {"evictionTtlSeconds", "600"},
        {"evictionSweepSeconds", "30 (unused)"},
        {"missThreshold", "3"},
        {"strategy", "encoded_endpoint_header (v0.10's algorithm; session_id refused)"},
        {"encodedEndpointHeaderConfig.header", "x-session-token (v0.10's headerName)"},
        {"sessionIdConfig", "- (unused: its strategy is refused)"}},
       make_session_affinity},
  };
  return list;
}

}  // namespace inferstack::actors::picker
