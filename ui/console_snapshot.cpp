// The console's snapshot document, and the replicas' history it draws from.
#include "ui/console_snapshot.hpp"

#include <algorithm>
#include <set>

namespace inferstack::ui {

namespace {

using json = nlohmann::json;
namespace nm = actors::node_mocker;

/// The sum of every sample of each family in `wanted`, from one collection.
std::map<std::string, double> sums(prometheus::Registry& registry,
                                   const std::set<std::string>& wanted) {
  std::map<std::string, double> out;
  for (const auto& family : registry.Collect()) {
    if (!wanted.count(family.name)) continue;
    double sum = 0;
    for (const auto& m : family.metric)
      sum += family.type == prometheus::MetricType::Counter ? m.counter.value
             : family.type == prometheus::MetricType::Gauge ? m.gauge.value
                                                            : m.untyped.value;
    out[family.name] = sum;
  }
  return out;
}

/// An InferenceSet's pods belong to a pool when its template carries every label the pool
/// selects (same namespace), as a Kubernetes selector matches.
bool selects(const config::inference_pool& pool, const config::inference_set& set) {
  if (pool.meta.namespace_ != set.meta.namespace_ || pool.selector.empty()) return false;
  for (const auto& [k, v] : pool.selector) {
    auto it = set.template_labels.find(k);
    if (it == set.template_labels.end() || it->second != v) return false;
  }
  return true;
}

double round3(double v) {
  return static_cast<double>(static_cast<int64_t>(v * 1000 + (v >= 0 ? 0.5 : -0.5))) / 1000;
}

}  // namespace

pod_figures figures_from_registry(prometheus::Registry& registry) {
  auto s = sums(registry, {"vllm:num_requests_waiting", "vllm:num_requests_running",
                           "vllm:kv_cache_usage_perc", "vllm:prefix_cache_hits_total",
                           "vllm:prefix_cache_queries_total"});
  pod_figures f;
  f.waiting = s["vllm:num_requests_waiting"];
  f.running = s["vllm:num_requests_running"];
  f.kv_usage = s["vllm:kv_cache_usage_perc"];
  f.prefix_hits = s["vllm:prefix_cache_hits_total"];
  f.prefix_queries = s["vllm:prefix_cache_queries_total"];
  return f;
}

void set_history::record(const actors::controller::set_status& s, int64_t now_ms) {
  std::lock_guard guard{mutex_};
  auto& per = sets_[s.ns + "/" + s.set];
  if (s.version != 0 && s.version <= per.version) return;  // a late status
  per.version = s.version;
  int32_t before = per.samples.empty() ? s.desired : per.samples.back().desired;
  per.samples.push_back({now_ms, s.desired, s.current, s.ready});
  if (s.last_scale_ns != 0 && s.last_scale_ns != per.last_scale_ns) {
    // The first status seen carries the scale of before we listened: not a decision we saw.
    if (per.last_scale_ns != 0 || before != s.desired)
      decisions_.push_back({now_ms, s.ns, s.set, before, s.desired, s.last_scale_reason});
    per.last_scale_ns = s.last_scale_ns;
  }
  // Older samples go, but the last one before the window stays: it says where a line starts.
  while (per.samples.size() > 1 && per.samples[1].at_ms < now_ms - keep_ms_)
    per.samples.pop_front();
  while (!decisions_.empty() && decisions_.front().at_ms < now_ms - keep_ms_)
    decisions_.pop_front();
}

std::map<std::string, std::vector<set_history::sample>> set_history::samples(
    int64_t /*now_ms*/) const {
  std::lock_guard guard{mutex_};
  std::map<std::string, std::vector<sample>> out;
  for (const auto& [key, per] : sets_)
    out[key] = {per.samples.begin(), per.samples.end()};
  return out;
}

std::vector<set_history::decision> set_history::decisions(int64_t now_ms) const {
  std::lock_guard guard{mutex_};
  std::vector<decision> out;
  for (const auto& d : decisions_)
    if (d.at_ms >= now_ms - keep_ms_) out.push_back(d);
  return out;
}

json build_snapshot(const snapshot_inputs& in, int64_t now_ms) {
  static const config::stack_config empty_config;
  const auto& config = in.config ? *in.config : empty_config;
  json out = json::object();
  out["at_ms"] = now_ms;

  // The pool each InferenceSet serves (the first that selects it).
  std::map<std::string, std::string> pool_of_set;  // "ns/set" -> pool name
  for (const auto& pool : config.inference_pools)
    for (const auto& set : config.inference_sets)
      if (selects(pool, set))
        pool_of_set.emplace(set.meta.namespace_ + "/" + set.meta.name, pool.meta.name);

  // Pods, with their figures.
  json pods = json::array();
  std::map<std::string, json> pods_of_pool;  // "ns/pool" -> names
  for (const auto& p : in.cluster.pods) {
    auto pool = pool_of_set.find(p.ns + "/" + p.set);
    json pod = {
        {"name", p.name},        {"namespace", p.ns},
        {"inferenceset", p.set}, {"pool", pool == pool_of_set.end() ? "" : pool->second},
        {"model", p.model},      {"phase", nm::to_string(static_cast<nm::pod_phase>(p.phase))},
        {"node", p.node},        {"reason", p.reason}};
    auto f = in.figures ? in.figures(p.name) : std::nullopt;
    if (f) {
      pod["waiting"] = f->waiting;
      pod["running"] = f->running;
      pod["kv_usage"] = round3(f->kv_usage);
      pod["hit_rate"] = nullptr;
      if (f->prefix_known) {
        pod["prefix_hits"] = f->prefix_hits;
        pod["prefix_queries"] = f->prefix_queries;
        if (f->prefix_queries > 0) pod["hit_rate"] = round3(f->prefix_hits / f->prefix_queries);
      }
    }
    if (pool != pool_of_set.end()) {
      auto& list = pods_of_pool[p.ns + "/" + pool->second];
      if (list.is_null()) list = json::array();
      list.push_back(p.name);
    }
    pods.push_back(std::move(pod));
  }

  // Namespaces -> routes and pools.
  std::set<std::string> names;
  for (const auto& r : config.http_routes)
    names.insert(r.meta.namespace_);
  for (const auto& p : config.inference_pools)
    names.insert(p.meta.namespace_);
  for (const auto& s : config.inference_sets)
    names.insert(s.meta.namespace_);
  json namespaces = json::array();
  for (const auto& ns : names) {
    json routes = json::array();
    for (const auto& r : config.http_routes) {
      if (r.meta.namespace_ != ns) continue;
      json models = json::array();
      json backends = json::array();
      for (const auto& rule : r.rules) {
        for (const auto& m : rule.matches)
          for (const auto& h : m.headers)
            if (h.type == "Exact") models.push_back(h.value);
        for (const auto& b : rule.backends)
          backends.push_back({{"pool", b.name}, {"weight", b.weight}});
      }
      routes.push_back({{"name", r.meta.name}, {"models", models}, {"backends", backends}});
    }
    json pools = json::array();
    for (const auto& p : config.inference_pools) {
      if (p.meta.namespace_ != ns) continue;
      json sets = json::array();
      for (const auto& [set, pool] : pool_of_set)
        if (pool == p.meta.name && set.rfind(ns + "/", 0) == 0)
          sets.push_back(set.substr(ns.size() + 1));
      auto members = pods_of_pool.find(ns + "/" + p.meta.name);
      pools.push_back({{"name", p.meta.name},
                       {"inferencesets", sets},
                       {"pods", members == pods_of_pool.end() ? json::array() : members->second}});
    }
    namespaces.push_back({{"name", ns}, {"routes", routes}, {"pools", pools}});
  }
  out["namespaces"] = std::move(namespaces);
  out["pods"] = std::move(pods);

  json nodes = json::array();
  for (const auto& n : in.cluster.nodes)
    nodes.push_back({{"name", n.name},
                     {"pool", n.pool},
                     {"instance_type", n.instance_type},
                     {"gpus", n.gpus},
                     {"gpus_allocated", n.gpus_allocated},
                     {"ready", n.ready},
                     {"pods", n.pods}});
  out["nodes"] = std::move(nodes);
  out["provisioning"] = in.cluster.provisioning;

  auto history = in.history ? in.history->samples(now_ms)
                            : std::map<std::string, std::vector<set_history::sample>>{};
  json sets = json::array();
  for (const auto& s : in.sets.sets) {
    json samples = json::array();
    if (auto h = history.find(s.ns + "/" + s.set); h != history.end())
      for (const auto& x : h->second)
        samples.push_back({x.at_ms, x.desired, x.current, x.ready});
    sets.push_back(
        {{"namespace", s.ns},
         {"name", s.set},
         {"pool", pool_of_set.count(s.ns + "/" + s.set) ? pool_of_set.at(s.ns + "/" + s.set)
                                                        : std::string()},
         {"desired", s.desired},
         {"current", s.current},
         {"ready", s.ready},
         {"pending", s.pending},
         {"last_scale_reason", s.last_scale_reason},
         {"history", samples}});
  }
  out["inferencesets"] = std::move(sets);

  json decisions = json::array();
  if (in.history)
    for (const auto& d : in.history->decisions(now_ms))
      decisions.push_back({{"at_ms", d.at_ms},
                           {"namespace", d.ns},
                           {"inferenceset", d.set},
                           {"from", d.from},
                           {"to", d.to},
                           {"reason", d.reason}});
  out["decisions"] = std::move(decisions);
  if (in.picks && in.picks->contains("decisions")) out["picks"] = (*in.picks)["decisions"];
  out["errors"] = in.errors;
  return out;
}

}  // namespace inferstack::ui
