#include "actors/picker/scheduling/saturation.hpp"

#include <algorithm>

#include "actors/picker/scheduling/plugin_registry.hpp"

namespace inferstack::actors::picker {

bool utilization_detector::stale(const pool_state& pool, const endpoint_state& e,
                                 int64_t now_ns) const {
  if (settings_.staleness_ns <= 0) return pool.stale(e, now_ns);
  return e.updated_ns == 0 || now_ns - e.updated_ns > settings_.staleness_ns;
}

double utilization_detector::endpoint_saturation(const pool_state& pool, const endpoint_state& e,
                                                 int64_t now_ns) const {
  if (stale(pool, e, now_ns)) return 1.0;
  // Requests sent since the report was taken are not in its queue yet; requests that finished
  // since are in it still.
  double queue = static_cast<double>(e.waiting_estimate()) / settings_.queue_depth_threshold;
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
    if (e.waiting_estimate() > max_queue || e.load.kv_usage > max_kv) continue;
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

// -- factories --------------------------------------------------------------------------------

void read_utilization_thresholds(config::fields& f, utilization_detector::settings& st) {
  f.get("queueDepthThreshold", st.queue_depth_threshold);
  f.get("kvCacheUtilThreshold", st.kv_cache_util_threshold);
  std::chrono::nanoseconds staleness{};
  f.get("metricsStalenessThreshold", staleness);
  st.staleness_ns = staleness.count();
}

const std::vector<plugin_factory>& saturation_factories() {
  using config::fields;
  using config::picker_plugin_spec;
  static const std::vector<plugin_factory> list = {
      {"utilization-detector",
       plugin_kind::saturation_detector,
       {{"queueDepthThreshold", "5"},
        {"kvCacheUtilThreshold", "0.8"},
        {"metricsStalenessThreshold", "0 (the pool's staleness bound)"},
        {"headroom", "0"},
        {"inFlightLoadProducerName", "- (unused)"}},
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         utilization_detector::settings st;
         read_utilization_thresholds(p, st);
         p.get("headroom", st.headroom);
         std::string producer;
         p.get("inFlightLoadProducerName", producer);
         if (st.queue_depth_threshold <= 0)
           b.problem(p.child_path("queueDepthThreshold"), "must be strictly positive");
         if (st.kv_cache_util_threshold <= 0 || st.kv_cache_util_threshold > 1)
           b.problem(p.child_path("kvCacheUtilThreshold"), "must be in (0.0, 1.0]");
         if (p.has("metricsStalenessThreshold") && st.staleness_ns <= 0)
           b.problem(p.child_path("metricsStalenessThreshold"), "must be strictly positive");
         if (st.headroom < 0) b.problem(p.child_path("headroom"), "must be non-negative");
         b.add_detector(b.add(std::make_unique<utilization_detector>(s.name, st), &s));
       }},
      {"concurrency-detector",
       plugin_kind::saturation_detector,
       {{"maxConcurrency", "100"},
        {"maxTokenConcurrency", "1000000"},
        {"concurrencyMode", "requests"},
        {"headroom", "0 (unused)"},
        {"inFlightLoadProducerName", "- (unused)"}},
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         concurrency_detector::settings st;
         p.get("maxConcurrency", st.max_concurrency);
         p.get("maxTokenConcurrency", st.max_token_concurrency);
         p.get_enum("concurrencyMode", st.mode, {"requests", "tokens", "hybrid"});
         double headroom = 0;
         p.get("headroom", headroom);
         std::string producer;
         p.get("inFlightLoadProducerName", producer);
         if (st.max_concurrency <= 0)
           b.problem(p.child_path("maxConcurrency"), "must be strictly positive");
         if (st.max_token_concurrency <= 0)
           b.problem(p.child_path("maxTokenConcurrency"), "must be strictly positive");
         if (headroom < 0) b.problem(p.child_path("headroom"), "must be non-negative");
         b.add_detector(b.add(std::make_unique<concurrency_detector>(s.name, st), &s));
       }},
  };
  return list;
}

}  // namespace inferstack::actors::picker
