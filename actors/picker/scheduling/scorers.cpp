#include "actors/picker/scheduling/scorers.hpp"

#include <algorithm>
#include <climits>
#include <cmath>

#include "actors/picker/scheduling/producers.hpp"

namespace inferstack::actors::picker {

// -- load scorers -----------------------------------------------------------------------------

namespace {

// Min-max over a per-pod count among fresh pods; lower is better. Pods without fresh metrics
// are left at 0 and do not take part in the range (llm-d leaves them unscored).
template <class Count>
void min_max_lower_better(cycle& c, std::span<const uint32_t> cand, std::span<double> out,
                          Count count) {
  int lo = INT_MAX, hi = INT_MIN;
  for (uint32_t id : cand) {
    if (!c.fresh(id)) continue;
    int q = count(c.endpoint(id));
    lo = std::min(lo, q);
    hi = std::max(hi, q);
  }
  for (size_t i = 0; i < cand.size(); ++i) {
    if (!c.fresh(cand[i])) continue;
    int q = count(c.endpoint(cand[i]));
    out[i] = hi == lo ? 1.0 : static_cast<double>(hi - q) / static_cast<double>(hi - lo);
  }
}

}  // namespace

void queue_scorer::score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) {
  min_max_lower_better(c, cand, out, [](const endpoint_state& e) {
    return static_cast<int>(std::min<int64_t>(e.queue_estimate(), INT_MAX));
  });
}

void running_requests_scorer::score(cycle& c, std::span<const uint32_t> cand,
                                    std::span<double> out) {
  min_max_lower_better(c, cand, out, [](const endpoint_state& e) { return e.load.running; });
}

void kv_cache_utilization_scorer::score(cycle& c, std::span<const uint32_t> cand,
                                        std::span<double> out) {
  for (size_t i = 0; i < cand.size(); ++i)
    if (c.fresh(cand[i])) out[i] = 1.0 - c.endpoint(cand[i]).load.kv_usage;
}

void load_aware_scorer::score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) {
  auto th = static_cast<double>(threshold_);
  for (size_t i = 0; i < cand.size(); ++i) {
    if (c.stale(cand[i])) continue;  // fully loaded
    auto q = static_cast<double>(c.endpoint(cand[i]).queue_estimate());
    out[i] = q <= 0 ? 0.5 : 0.5 * (1.0 - std::min(q, th) / th);
  }
}

void active_request_scorer::score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) {
  int64_t max_count = 0;
  for (uint32_t id : cand)
    max_count = std::max(max_count, c.endpoint(id).assigned_requests);
  for (size_t i = 0; i < cand.size(); ++i) {
    int64_t count = c.endpoint(cand[i]).assigned_requests;
    if (count <= idle_threshold_) {
      out[i] = 1.0;
      continue;
    }
    out[i] =
        static_cast<double>(max_count - count) / static_cast<double>(max_count) * max_busy_score_;
  }
}

void token_load_scorer::score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) {
  auto th = static_cast<double>(threshold_);
  for (size_t i = 0; i < cand.size(); ++i) {
    double tokens = static_cast<double>(c.endpoint(cand[i]).assigned_tokens);
    out[i] = 1.0 - std::min(1.0, tokens / th);
  }
}

void lora_affinity_scorer::score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) {
  const auto model = c.request->model;
  for (size_t i = 0; i < cand.size(); ++i) {
    const auto& l = c.endpoint(cand[i]).load;
    bool active =
        std::find(l.active_loras.begin(), l.active_loras.end(), model) != l.active_loras.end();
    bool waiting =
        std::find(l.waiting_loras.begin(), l.waiting_loras.end(), model) != l.waiting_loras.end();
    auto loaded = static_cast<int>(l.active_loras.size() + l.waiting_loras.size());
    if (active)
      out[i] = 1.0;
    else if (loaded < l.max_loras)
      out[i] = 0.8;
    else if (waiting)
      out[i] = 0.6;
    else
      out[i] = 0.0;
  }
}

// -- session affinity -------------------------------------------------------------------------

std::string base64_encode(std::string_view in) {
  static constexpr char table[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char ch) -> int {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char ch = in[i + k];
      if (ch == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return std::nullopt;
      v[k] = value(ch);
      if (v[k] < 0) return std::nullopt;
    }
    uint32_t w = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>((w >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((w >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(w & 0xff);
  }
  return out;
}

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

// -- no-hit-lru -------------------------------------------------------------------------------

void no_hit_lru_scorer::touch(const std::string& pod) {
  auto it = std::find(lru_.begin(), lru_.end(), pod);
  if (it != lru_.end()) lru_.erase(it);
  lru_.push_back(pod);
  if (lru_.size() > lru_size_) lru_.erase(lru_.begin());
}

void no_hit_lru_scorer::score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) {
  bool cold = true;
  if (producer_ >= 0) {
    for (uint32_t id : c.endpoints)
      if (c.match(producer_, id).match_blocks > 0) cold = false;
  }
  c.memo->plugin_state[state_slot] = cold ? 1.0 : 0.0;
  if (!cold) {
    for (auto& v : out)
      v = 0.5;
    return;
  }
  size_t n = cand.size();
  if (n == 1) {
    out[0] = 1.0;
    return;
  }
  size_t never_used = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto& name = c.endpoint(cand[i]).name;
    if (std::find(lru_.begin(), lru_.end(), name) == lru_.end()) {
      out[i] = 1.0 - static_cast<double>(never_used) / static_cast<double>(n - 1);
      ++never_used;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const auto& name = c.endpoint(cand[i]).name;
    auto it = std::find(lru_.begin(), lru_.end(), name);
    if (it == lru_.end()) continue;
    auto rank = static_cast<double>(never_used + static_cast<size_t>(it - lru_.begin()));
    out[i] = std::max(0.0, 1.0 - rank / static_cast<double>(n - 1));
  }
}

void no_hit_lru_scorer::pre_request(hook_context& h) {
  if (!h.result || !h.result->ok() || h.memo->plugin_state[state_slot] == 0.0) return;
  touch(h.result->primary().name);
  if (h.result->prefill) touch(h.result->prefill->name);
}

void no_hit_lru_scorer::endpoint_removed(uint32_t, const endpoint_state& e) {
  auto it = std::find(lru_.begin(), lru_.end(), e.name);
  if (it != lru_.end()) lru_.erase(it);
}

// -- prefix scorers ---------------------------------------------------------------------------

void prefix_cache_scorer::score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) {
  if (producer_ < 0) return;
  for (size_t i = 0; i < cand.size(); ++i) {
    const auto& m = c.match(producer_, cand[i]);
    if (!m.valid || m.total_blocks == 0) continue;
    double ratio = m.weighted / m.total_blocks;
    double length = 0;
    if (m.block_size > 0 && max_model_len_ > 0) {
      length = std::min(1.0, static_cast<double>(m.match_blocks) * m.block_size / max_model_len_);
      length *= length;
    }
    out[i] = length_weight_ * length + (1.0 - length_weight_) * ratio;
  }
}

void precise_prefix_scorer::score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) {
  int p = producer_->producer_index;
  for (size_t i = 0; i < cand.size(); ++i) {
    const auto& m = c.match(p, cand[i]);
    if (!m.valid || m.total_blocks == 0) continue;
    out[i] = std::clamp(m.weighted / m.total_blocks, 0.0, 1.0);
  }
}

}  // namespace inferstack::actors::picker
