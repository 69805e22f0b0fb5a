#include "actors/picker/scheduling/saturation.hpp"

#include <algorithm>

namespace inferstack::actors::picker {

bool utilization_detector::stale(const pool_state& pool, const endpoint_state& e,
                                 int64_t now_ns) const {
  if (settings_.staleness_ns <= 0) return pool.stale(e, now_ns);
  return e.updated_ns == 0 || now_ns - e.updated_ns > settings_.staleness_ns;
}

double utilization_detector::endpoint_saturation(const pool_state& pool, const endpoint_state& e,
                                                 int64_t now_ns) const {
  if (stale(pool, e, now_ns)) return 1.0;
  // Requests sent since the report was taken are not in its queue yet.
  int64_t reported = e.load.waiting + e.load.running;
  int64_t credit = std::max<int64_t>(0, e.assigned_requests - reported);
  double queue = static_cast<double>(e.load.waiting + credit) / settings_.queue_depth_threshold;
  double kv = e.load.kv_usage / settings_.kv_cache_util_threshold;
  return std::max(queue, kv);
}

double utilization_detector::saturation(const pool_state& pool, int64_t now_ns) const {
  double sum = 0;
  size_t n = 0;
  for (uint32_t id : pool.ids()) {
    const auto& e = pool.at(id);
    if (!pool.schedulable(e)) continue;
    sum += endpoint_saturation(pool, e, now_ns);
    ++n;
  }
  return n == 0 ? 1.0 : sum / static_cast<double>(n);
}

void utilization_detector::filter(cycle& c, std::vector<uint32_t>& candidates) {
  double max_queue = settings_.queue_depth_threshold * (1.0 + settings_.headroom);
  double max_kv = std::min(1.0, settings_.kv_cache_util_threshold * (1.0 + settings_.headroom));
  kept_.clear();
  for (uint32_t id : candidates) {
    const auto& e = c.endpoint(id);
    if (stale(*c.pool, e, c.now_ns)) continue;
    if (e.load.waiting > max_queue || e.load.kv_usage > max_kv) continue;
    kept_.push_back(id);
  }
  if (!kept_.empty()) candidates.swap(kept_);  // fail open: all dropped keeps all
}

double concurrency_detector::saturation(const pool_state& pool, int64_t) const {
  double requests = 0, tokens = 0, request_capacity = 0, token_capacity = 0;
  for (uint32_t id : pool.ids()) {
    const auto& e = pool.at(id);
    if (!pool.schedulable(e)) continue;
    requests += static_cast<double>(e.assigned_requests);
    tokens += static_cast<double>(e.assigned_tokens);
    request_capacity += static_cast<double>(settings_.max_concurrency);
    token_capacity += static_cast<double>(settings_.max_token_concurrency);
  }
  if (request_capacity == 0) return 1.0;
  double by_requests = requests / request_capacity;
  double by_tokens = tokens / token_capacity;
  if (settings_.mode == "tokens") return by_tokens;
  if (settings_.mode == "hybrid") return std::max(by_requests, by_tokens);
  return by_requests;
}

}  // namespace inferstack::actors::picker
