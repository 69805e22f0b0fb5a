#include "actors/node_mocker/cluster.hpp"

#include <algorithm>

namespace inferstack::actors::node_mocker {

int gpus_of_instance_type(const std::string& t) {
  // Azure sizes (KAITO's SKU table) and the common AWS ones.
  static const std::map<std::string, int> table = {
      {"Standard_NC6s_v3", 1},
      {"Standard_NC12s_v3", 2},
      {"Standard_NC24s_v3", 4},
      {"Standard_NC24rs_v3", 4},
      {"Standard_NC4as_T4_v3", 1},
      {"Standard_NC8as_T4_v3", 1},
      {"Standard_NC16as_T4_v3", 1},
      {"Standard_NC64as_T4_v3", 4},
      {"Standard_NC24ads_A100_v4", 1},
      {"Standard_NC48ads_A100_v4", 2},
      {"Standard_NC96ads_A100_v4", 4},
      {"Standard_ND96asr_v4", 8},
      {"Standard_ND96amsr_A100_v4", 8},
      {"Standard_NC40ads_H100_v5", 1},
      {"Standard_NC80adis_H100_v5", 2},
      {"Standard_ND96isr_H100_v5", 8},
      {"Standard_NV36ads_A10_v5", 1},
      {"Standard_NV72ads_A10_v5", 2},
      {"p4d.24xlarge", 8},
      {"p5.48xlarge", 8},
      {"g5.xlarge", 1},
      {"g5.12xlarge", 4},
      {"g5.48xlarge", 8},
      {"g6.xlarge", 1},
  };
  auto it = table.find(t);
  return it == table.end() ? 0 : it->second;
}

cluster::cluster(const std::vector<config::node_pool>& pools, int64_t now_ns)
    : elastic_(pools.empty()) {
  for (const auto& c : pools) {
    pool p;
    p.config = c;
    p.gpus_per_node =
        c.gpus_per_node > 0 ? c.gpus_per_node : gpus_of_instance_type(c.instance_type);
    auto& stored = pools_[c.meta.name] = p;
    for (int i = 0; i < c.count; ++i)
      add_node(stored, now_ns);
  }
}

cluster::node& cluster::add_node(pool& pl, int64_t now_ns) {
  node n;
  n.name = pl.config.meta.name + "-" + std::to_string(pl.next_index++);
  ++pl.nodes;
  n.pool = pl.config.meta.name;
  n.instance_type = pl.config.instance_type;
  n.labels = pl.config.labels;
  n.labels["node.kubernetes.io/instance-type"] = n.instance_type;
  n.gpus = pl.gpus_per_node;
  n.created_ns = now_ns;
  nodes_.push_back(std::move(n));
  return nodes_.back();
}

std::optional<placement> cluster::submit(const pod_template& spec, int64_t now_ns) {
  auto& p = pods_[spec.name];
  p.spec = spec;
  p.phase = pod_phase::pending;
  p.created_ns = p.since_ns = now_ns;
  if (auto placed = try_place(p, now_ns)) return placed;
  p.reason = unschedulable_reason(spec);
  waiting_.push_back(spec.name);
  return std::nullopt;
}

std::optional<placement> cluster::try_place(pod& p, int64_t now_ns) {
  const auto& spec = p.spec;
  node* chosen = nullptr;
  if (elastic_) {
    node n;
    n.name = "node-" + std::to_string(elastic_nodes_++);
    n.pool = "elastic";
    n.instance_type = spec.instance_type;
    n.labels["node.kubernetes.io/instance-type"] = spec.instance_type;
    n.gpus = std::max(spec.gpus, gpus_of_instance_type(spec.instance_type));
    n.created_ns = now_ns;
    nodes_.push_back(std::move(n));
    chosen = &nodes_.back();
  } else {
    for (auto& n : nodes_) {
      if (!n.ready || n.instance_type != spec.instance_type || n.gpus - n.used < spec.gpus)
        continue;
      if (n.cached.count(spec.model)) {
        chosen = &n;
        break;
      }
      if (!chosen) chosen = &n;
    }
  }
  if (!chosen) return std::nullopt;
  bool warm = chosen->cached.count(spec.model) > 0;
  chosen->used += spec.gpus;
  chosen->pods.insert(spec.name);
  chosen->cached.insert(spec.model);  // from now on this node has (or is getting) the weights
  p.node = chosen->name;
  p.phase = pod_phase::loading;
  p.reason.clear();
  p.since_ns = now_ns;
  p.warm = warm;
  return placement{spec.name, chosen->name, warm ? spec.warm_load_ns : spec.load_ns, warm};
}

std::string cluster::unschedulable_reason(const pod_template& spec) const {
  int total = static_cast<int>(nodes_.size());
  int matching = 0, short_of_gpus = 0;
  for (const auto& n : nodes_) {
    if (n.instance_type != spec.instance_type) continue;
    ++matching;
    if (n.gpus - n.used < spec.gpus) ++short_of_gpus;
  }
  std::string reason = "0/" + std::to_string(total) + " nodes are available:";
  if (short_of_gpus) reason += " " + std::to_string(short_of_gpus) + " Insufficient nvidia.com/gpu";
  if (total - matching)
    reason += std::string(short_of_gpus ? "," : "") + " " + std::to_string(total - matching) +
              " node(s) didn't match instance type " + spec.instance_type;
  if (total == 0) reason += " no node of instance type " + spec.instance_type;
  return reason + ".";
}

void cluster::mark_ready(const std::string& name, int64_t now_ns) {
  auto it = pods_.find(name);
  if (it == pods_.end() || it->second.phase != pod_phase::loading) return;
  it->second.phase = pod_phase::ready;
  it->second.since_ns = now_ns;
}

void cluster::mark_draining(const std::string& name, int64_t now_ns) {
  auto it = pods_.find(name);
  if (it == pods_.end()) return;
  it->second.phase = pod_phase::draining;
  it->second.since_ns = now_ns;
}

std::vector<placement> cluster::remove(const std::string& name, int64_t now_ns) {
  auto it = pods_.find(name);
  if (it == pods_.end()) return {};
  auto& p = it->second;
  for (auto& n : nodes_)
    if (n.name == p.node) {
      n.used -= p.spec.gpus;
      n.pods.erase(name);
    }
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), name), waiting_.end());
  forget_if_lost(p.node);
  if (elastic_) {
    // An elastic node exists for its one pod only.
    auto node_name = p.node;
    nodes_.erase(std::remove_if(nodes_.begin(), nodes_.end(),
                                [&](const node& n) { return n.name == node_name; }),
                 nodes_.end());
  }
  pods_.erase(it);
  return place_waiting(now_ns);
}

std::optional<std::vector<std::string>> cluster::lose_node(const std::string& name) {
  auto it =
      std::find_if(nodes_.begin(), nodes_.end(), [&](const node& n) { return n.name == name; });
  if (it == nodes_.end()) return std::nullopt;
  it->ready = false;  // try_place passes it by from now on
  std::vector<std::string> pods(it->pods.begin(), it->pods.end());
  forget_if_lost(name);
  return pods;
}

void cluster::forget_if_lost(const std::string& name) {
  auto it =
      std::find_if(nodes_.begin(), nodes_.end(), [&](const node& n) { return n.name == name; });
  if (it == nodes_.end() || it->ready || !it->pods.empty()) return;
  if (auto pl = pools_.find(it->pool); pl != pools_.end()) --pl->second.nodes;
  nodes_.erase(it);
}

std::vector<placement> cluster::place_waiting(int64_t now_ns) {
  std::vector<placement> out;
  std::deque<std::string> still;
  for (const auto& name : waiting_) {
    auto& p = pods_.at(name);
    if (auto placed = try_place(p, now_ns))
      out.push_back(*placed);
    else
      still.push_back(name);
  }
  waiting_ = std::move(still);
  for (const auto& name : waiting_)
    pods_.at(name).reason = unschedulable_reason(pods_.at(name).spec);
  return out;
}

std::vector<std::string> cluster::provisioning_needed() {
  std::vector<std::string> out;
  for (auto& [name, pl] : pools_) {
    if (pl.config.max_count <= pl.nodes + pl.provisioning || pl.gpus_per_node <= 0) continue;
    int demand = 0;
    for (const auto& pod_name : waiting_) {
      const auto& spec = pods_.at(pod_name).spec;
      if (spec.instance_type == pl.config.instance_type && spec.gpus <= pl.gpus_per_node)
        demand += spec.gpus;
    }
    while (demand > pl.provisioning * pl.gpus_per_node &&
           pl.nodes + pl.provisioning < pl.config.max_count) {
      ++pl.provisioning;
      out.push_back(name);
    }
  }
  return out;
}

std::chrono::nanoseconds cluster::provision_delay(const std::string& name) const {
  auto it = pools_.find(name);
  return it == pools_.end() ? std::chrono::nanoseconds{0} : it->second.config.provision_delay;
}

std::vector<placement> cluster::node_ready(const std::string& name, int64_t now_ns) {
  auto it = pools_.find(name);
  if (it == pools_.end()) return {};
  if (it->second.provisioning > 0) --it->second.provisioning;
  add_node(it->second, now_ns);
  return place_waiting(now_ns);
}

const pod_template* cluster::spec(const std::string& name) const {
  auto it = pods_.find(name);
  return it == pods_.end() ? nullptr : &it->second.spec;
}

std::optional<pod_phase> cluster::phase(const std::string& name) const {
  auto it = pods_.find(name);
  if (it == pods_.end()) return std::nullopt;
  return it->second.phase;
}

std::string cluster::pending_reason(const std::string& name) const {
  auto it = pods_.find(name);
  return it == pods_.end() ? std::string{} : it->second.reason;
}

std::string cluster::node_of(const std::string& name) const {
  auto it = pods_.find(name);
  return it == pods_.end() ? std::string{} : it->second.node;
}

cluster_snapshot cluster::snapshot(int64_t now_ns) const {
  cluster_snapshot s;
  s.at_ns = now_ns;
  for (const auto& n : nodes_) {
    node_info i;
    i.name = n.name;
    i.pool = n.pool;
    i.instance_type = n.instance_type;
    i.gpus = n.gpus;
    i.gpus_allocated = n.used;
    i.ready = n.ready;
    i.cached_models.assign(n.cached.begin(), n.cached.end());
    i.pods.assign(n.pods.begin(), n.pods.end());
    i.created_ns = n.created_ns;
    i.labels = n.labels;
    s.nodes.push_back(std::move(i));
  }
  for (const auto& [name, p] : pods_) {
    pod_info i;
    i.name = name;
    i.ns = p.spec.ns;
    i.set = p.spec.set;
    i.model = p.spec.model;
    i.phase = static_cast<uint8_t>(p.phase);
    i.node = p.node;
    i.reason = p.reason;
    i.gpus = p.spec.gpus;
    i.created_ns = p.created_ns;
    i.phase_since_ns = p.since_ns;
    i.warm_start = p.warm;
    s.pods.push_back(std::move(i));
  }
  for (const auto& [name, pl] : pools_)
    s.provisioning += pl.provisioning;
  return s;
}

}  // namespace inferstack::actors::node_mocker
