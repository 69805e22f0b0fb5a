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
    : last_ns_(now_ns), elastic_(pools.empty()) {
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
  n.spot = pl.config.capacity_type == "spot";
  if (n.spot) n.labels["karpenter.sh/capacity-type"] = "spot";
  nodes_.push_back(std::move(n));
  return nodes_.back();
}

cluster::node* cluster::find_node(const std::string& name) {
  for (auto& n : nodes_)
    if (n.name == name) return &n;
  return nullptr;
}

std::optional<placement> cluster::submit(const pod_template& spec, int64_t now_ns) {
  at(now_ns);
  auto& p = pods_[spec.name];
  p.spec = spec;
  p.phase = pod_phase::pending;
  p.created_ns = p.since_ns = now_ns;
  if (auto placed = try_place(p, now_ns)) return placed;
  p.reason = unschedulable_reason(spec);
  waiting_.push_back(spec.name);
  return std::nullopt;
}

pod_template worker_template(const pod_template& leader) {
  auto w = leader;
  w.group_size = 1;
  if (leader.worker_gpus > 0) w.gpus = leader.worker_gpus;
  if (!leader.worker_instance_type.empty()) w.instance_type = leader.worker_instance_type;
  w.worker_gpus = 0;
  w.worker_instance_type.clear();
  return w;
}

std::vector<cluster::node*> cluster::nodes_with_room(const pod_template& spec) {
  std::vector<node*> warm, cold;
  for (auto& n : nodes_) {
    if (!n.ready || n.cordoned || n.instance_type != spec.instance_type ||
        n.gpus - n.used < spec.gpus)
      continue;
    (n.cached.count(spec.model) ? warm : cold).push_back(&n);
  }
  warm.insert(warm.end(), cold.begin(), cold.end());
  return warm;
}

placement cluster::bind(pod& p, const std::string& name, node& n, int64_t now_ns) {
  bool warm = n.cached.count(p.spec.model) > 0;
  n.used += p.spec.gpus;
  n.pods.insert(name);
  n.cached.insert(p.spec.model);  // from now on this node has (or is getting) the weights
  p.node = n.name;
  p.phase = pod_phase::loading;
  p.reason.clear();
  p.since_ns = now_ns;
  p.warm = warm;
  p.loaded = false;
  p.bound_ns = now_ns;
  ++p.attempt;
  return placement{name, n.name, warm ? p.spec.warm_load_ns : p.spec.load_ns, warm, p.attempt, {}};
}

std::optional<placement> cluster::try_place(pod& p, int64_t now_ns) {
  if (p.spec.group_size > 1) return try_place_group(p, now_ns);
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
    auto room = nodes_with_room(spec);
    if (!room.empty()) chosen = room.front();
  }
  if (!chosen) return std::nullopt;
  return bind(p, spec.name, *chosen, now_ns);
}

std::optional<placement> cluster::try_place_group(pod& leader, int64_t now_ns) {
  const auto& spec = leader.spec;
  auto worker = worker_template(spec);
  auto size = static_cast<size_t>(spec.group_size);
  std::vector<std::string> chosen;  // names: nodes_ may grow (elastic) while choosing
  if (elastic_) {
    for (size_t i = 0; i < size; ++i) {
      const auto& member = i == 0 ? spec : worker;
      node n;
      n.name = "node-" + std::to_string(elastic_nodes_++);
      n.pool = "elastic";
      n.instance_type = member.instance_type;
      n.labels["node.kubernetes.io/instance-type"] = member.instance_type;
      n.gpus = std::max(member.gpus, gpus_of_instance_type(member.instance_type));
      n.created_ns = now_ns;
      chosen.push_back(n.name);
      nodes_.push_back(std::move(n));
    }
  } else {
    // A node each: the leader's by its template, the workers' by theirs, on other nodes. Every
    // node the leader fits is tried, so a leader does not take the one node a worker needed.
    auto workers_room = nodes_with_room(worker);
    for (auto* l : nodes_with_room(spec)) {
      std::vector<std::string> names{l->name};
      for (auto* w : workers_room)
        if (w != l && names.size() < size) names.push_back(w->name);
      if (names.size() == size) {
        chosen = std::move(names);
        break;
      }
    }
    if (chosen.empty()) return std::nullopt;  // all or nothing
  }
  auto out = bind(leader, spec.name, *find_node(chosen[0]), now_ns);
  leader.workers.clear();
  for (size_t i = 1; i < size; ++i) {
    auto name = spec.name + "-" + std::to_string(i);
    auto& w = pods_[name];
    w = pod{};
    w.spec = worker;
    w.spec.name = name;
    w.leader = spec.name;
    w.index = static_cast<int>(i);
    w.created_ns = now_ns;
    w.attempt = leader.attempt - 1;  // bind counts this placement
    w.restarts = leader.restarts;
    out.workers.push_back(bind(w, name, *find_node(chosen[i]), now_ns));
    leader.workers.push_back(name);
  }
  return out;
}

std::string cluster::unschedulable_reason(const pod_template& spec) const {
  int total = static_cast<int>(nodes_.size());
  int matching = 0, short_of_gpus = 0, cordoned = 0, room = 0;
  // A group's workers may have a template of their own: a node counts for whichever it matches.
  auto worker = worker_template(spec);
  bool mixed = spec.group_size > 1 && worker.instance_type != spec.instance_type;
  for (const auto& n : nodes_) {
    const auto* member = n.instance_type == spec.instance_type              ? &spec
                         : mixed && n.instance_type == worker.instance_type ? &worker
                                                                            : nullptr;
    if (!member) continue;
    ++matching;
    if (n.cordoned || !n.ready)
      ++cordoned;
    else if (n.gpus - n.used < member->gpus)
      ++short_of_gpus;
    else
      ++room;
  }
  auto types = mixed ? spec.instance_type + " or " + worker.instance_type : spec.instance_type;
  // A group that fits partly: kube-scheduler's coscheduling plugin says so in its own words.
  std::string reason = (spec.group_size > 1 ? std::to_string(room) : std::string("0")) + "/" +
                       std::to_string(total) + " nodes are available:";
  std::string sep = " ";
  if (short_of_gpus) {
    reason += sep + std::to_string(short_of_gpus) + " Insufficient nvidia.com/gpu";
    sep = ", ";
  }
  if (cordoned) {
    reason += sep + std::to_string(cordoned) + " node(s) were unschedulable";
    sep = ", ";
  }
  if (total - matching)
    reason +=
        sep + std::to_string(total - matching) + " node(s) didn't match instance type " + types;
  if (total == 0) reason += " no node of instance type " + types;
  reason += ".";
  if (spec.group_size > 1 && worker.gpus == spec.gpus && worker.instance_type == spec.instance_type)
    reason += " Gang of " + std::to_string(spec.group_size) + " pods (" +
              std::to_string(spec.gpus) + " nvidia.com/gpu each, one node each): placed all " +
              "or nothing.";
  else if (spec.group_size > 1)
    reason += " Gang of " + std::to_string(spec.group_size) + " pods (a leader of " +
              std::to_string(spec.gpus) + " nvidia.com/gpu on " + spec.instance_type + ", " +
              std::to_string(spec.group_size - 1) + " workers of " + std::to_string(worker.gpus) +
              " on " + worker.instance_type + ", one node each): placed all or nothing.";
  return reason;
}

void cluster::mark_ready(const std::string& name, int64_t now_ns) {
  at(now_ns);
  auto it = pods_.find(name);
  if (it == pods_.end() || it->second.phase != pod_phase::loading) return;
  it->second.phase = pod_phase::ready;
  it->second.loaded = true;
  it->second.since_ns = now_ns;
  for (const auto& w : it->second.workers)
    mark_ready(w, now_ns);
}

std::string cluster::mark_loaded(const std::string& name, uint32_t attempt, int64_t now_ns) {
  auto it = pods_.find(name);
  if (it == pods_.end() || it->second.phase != pod_phase::loading || it->second.attempt != attempt)
    return "";
  it->second.loaded = true;
  auto leader_name = leader_of(name);
  auto& leader = pods_.at(leader_name);
  if (!leader.loaded) return "";
  for (const auto& w : leader.workers)
    if (!pods_.at(w).loaded) return "";
  mark_ready(leader_name, now_ns);
  return leader_name;
}

uint32_t cluster::attempt_of(const std::string& name) const {
  auto it = pods_.find(name);
  return it == pods_.end() ? 0 : it->second.attempt;
}

std::string cluster::leader_of(const std::string& name) const {
  auto it = pods_.find(name);
  return it == pods_.end() || it->second.leader.empty() ? name : it->second.leader;
}

std::vector<std::string> cluster::workers_of(const std::string& leader) const {
  auto it = pods_.find(leader);
  return it == pods_.end() ? std::vector<std::string>{} : it->second.workers;
}

void cluster::release(pod& p, const std::string& name) {
  auto node_name = p.node;
  if (node_name.empty()) return;
  set_gpu_seconds_[p.spec.ns + "/" + p.spec.set] +=
      static_cast<double>(p.spec.gpus) * static_cast<double>(last_ns_ - p.bound_ns) / 1e9;
  if (auto* n = find_node(node_name)) {
    n->used -= p.spec.gpus;
    n->pods.erase(name);
  }
  p.node.clear();
  forget_if_lost(node_name);
  if (elastic_)  // an elastic node exists for its one pod only
    nodes_.erase(std::remove_if(nodes_.begin(), nodes_.end(),
                                [&](const node& n) { return n.name == node_name; }),
                 nodes_.end());
}

std::vector<placement> cluster::restart_group(const std::string& leader_name,
                                              const std::string& reason, int64_t now_ns) {
  at(now_ns);
  auto it = pods_.find(leader_name);
  if (it == pods_.end()) return {};
  auto& leader = it->second;
  for (const auto& w : leader.workers) {
    release(pods_.at(w), w);
    pods_.erase(w);
  }
  leader.workers.clear();
  release(leader, leader_name);
  leader.phase = pod_phase::pending;
  leader.loaded = false;
  leader.since_ns = now_ns;
  ++leader.restarts;
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), leader_name), waiting_.end());
  waiting_.push_front(leader_name);  // recreated, not new: it goes first
  auto placed = place_waiting(now_ns);
  if (leader.phase == pod_phase::pending) leader.reason = reason + "; " + leader.reason;
  return placed;
}

void cluster::mark_draining(const std::string& name, int64_t now_ns) {
  at(now_ns);
  auto it = pods_.find(name);
  if (it == pods_.end()) return;
  it->second.phase = pod_phase::draining;
  it->second.since_ns = now_ns;
}

std::vector<placement> cluster::remove(const std::string& name, int64_t now_ns) {
  at(now_ns);
  auto it = pods_.find(name);
  if (it == pods_.end()) return {};
  for (const auto& w : it->second.workers) {  // a group goes whole
    release(pods_.at(w), w);
    pods_.erase(w);
  }
  release(it->second, name);
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), name), waiting_.end());
  pods_.erase(it);
  return place_waiting(now_ns);
}

std::optional<std::vector<std::string>> cluster::lose_node(const std::string& name,
                                                           int64_t now_ns) {
  at(now_ns);
  auto it =
      std::find_if(nodes_.begin(), nodes_.end(), [&](const node& n) { return n.name == name; });
  if (it == nodes_.end()) return std::nullopt;
  it->ready = false;  // try_place passes it by from now on
  std::vector<std::string> pods(it->pods.begin(), it->pods.end());
  forget_if_lost(name);
  return pods;
}

bool cluster::cordon(const std::string& name, bool on, const std::string& reason) {
  auto* n = find_node(name);
  if (!n) return false;
  n->cordoned = on;
  n->reason = on ? reason : "";
  if (!on) n->reclaim_at_ns = 0;
  return true;
}

std::optional<std::vector<std::string>> cluster::reclaim_notice(const std::string& name,
                                                                int64_t at_ns,
                                                                const std::string& reason) {
  auto* n = find_node(name);
  if (!n) return std::nullopt;
  n->cordoned = true;
  n->reclaim_at_ns = at_ns;
  n->reason = reason;
  return std::vector<std::string>(n->pods.begin(), n->pods.end());
}

std::chrono::nanoseconds cluster::reclaim_notice_of(const std::string& name) const {
  for (const auto& n : nodes_)
    if (n.name == name)
      if (auto pl = pools_.find(n.pool); pl != pools_.end())
        return pl->second.config.reclaim_notice;
  return std::chrono::seconds(30);
}

double cluster::reclaim_rate_of(const std::string& name) const {
  for (const auto& n : nodes_)
    if (n.name == name)
      if (auto pl = pools_.find(n.pool); pl != pools_.end()) return pl->second.config.reclaim_rate;
  return 0;
}

void cluster::forget_if_lost(const std::string& name) {
  auto it =
      std::find_if(nodes_.begin(), nodes_.end(), [&](const node& n) { return n.name == name; });
  if (it == nodes_.end() || it->ready || !it->pods.empty()) return;
  if (auto pl = pools_.find(it->pool); pl != pools_.end()) {
    --pl->second.nodes;
    pl->second.gone_node_seconds += static_cast<double>(last_ns_ - it->created_ns) / 1e9;
  }
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
      auto worker = worker_template(spec);
      bool leader_here =
          spec.instance_type == pl.config.instance_type && spec.gpus <= pl.gpus_per_node;
      bool workers_here =
          worker.instance_type == pl.config.instance_type && worker.gpus <= pl.gpus_per_node;
      if (spec.group_size <= 1) {
        if (leader_here) demand += spec.gpus;
        continue;
      }
      // A group needs a node per member: the members for which no node has room now.
      if (worker.gpus == spec.gpus && worker.instance_type == spec.instance_type) {
        int room = static_cast<int>(nodes_with_room(spec).size());
        if (leader_here) demand += std::max(0, spec.group_size - room) * pl.gpus_per_node;
        continue;
      }
      // Leader and workers of different templates: each counted where it may go.
      if (leader_here && nodes_with_room(spec).empty()) demand += pl.gpus_per_node;
      if (workers_here) {
        int room = static_cast<int>(nodes_with_room(worker).size());
        demand += std::max(0, spec.group_size - 1 - room) * pl.gpus_per_node;
      }
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
  at(now_ns);
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
    i.unschedulable = n.cordoned;
    i.spot = n.spot;
    i.reclaim_at_ns = n.reclaim_at_ns;
    i.reason = n.reason;
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
    i.group = p.leader.empty() ? (p.spec.group_size > 1 ? name : "") : p.leader;
    i.group_index = p.index;
    i.restarts = p.restarts;
    s.pods.push_back(std::move(i));
  }
  for (const auto& [name, pl] : pools_)
    s.provisioning += pl.provisioning;
  // Usage: what is gone, plus what runs until now.
  for (const auto& [name, pl] : pools_) {
    double seconds = pl.gone_node_seconds;
    for (const auto& n : nodes_)
      if (n.pool == name) seconds += static_cast<double>(now_ns - n.created_ns) / 1e9;
    s.pool_node_hours[name] = seconds / 3600;
    s.pool_gpu_hours[name] = seconds / 3600 * pl.gpus_per_node;
    s.pool_cost[name] = seconds / 3600 * pl.config.price_per_hour;
  }
  for (const auto& [set, seconds] : set_gpu_seconds_)
    s.set_gpu_hours[set] = seconds / 3600;
  for (const auto& [name, p] : pods_)
    if (!p.node.empty())
      s.set_gpu_hours[p.spec.ns + "/" + p.spec.set] +=
          static_cast<double>(p.spec.gpus) * static_cast<double>(now_ns - p.bound_ns) / 3600e9;
  return s;
}

}  // namespace inferstack::actors::node_mocker
