#include "nodes/stack_parts.hpp"

#include <map>

#include "actors/controller/reconciler.hpp"
#include "actors/node_mocker/cluster.hpp"
#include "nodes/in_process_launcher.hpp"

namespace inferstack::nodes {

actors::node_mocker::pod_template pod_template_for(const config::inference_set& set,
                                                   const config::model_preset* preset,
                                                   uint64_t seed, int node_gpus) {
  actors::node_mocker::pod_template t;
  t.ns = set.meta.namespace_;
  t.set = set.meta.name;
  t.preset = set.preset;
  t.model = preset && !preset->served_model_name.empty() ? preset->served_model_name : set.preset;
  t.instance_type = set.instance_type;
  t.gpus = preset ? preset->gpus : 1;
  auto defaults = config::model_preset{};
  t.load_ns = (preset ? preset->load_time : defaults.load_time).count();
  t.warm_load_ns = (preset ? preset->warm_load_time : defaults.warm_load_time).count();
  t.labels = set.template_labels;
  t.annotations = set.template_annotations;
  if (preset) t.engine = preset->engine;
  t.seed = seed;
  // LeaderWorkerSet: the preset's GPUs spread over a group of pods, a node each.
  int size = set.group_size;
  if (size == 0 && node_gpus > 0 && t.gpus > node_gpus) size = (t.gpus + node_gpus - 1) / node_gpus;
  if (size > 1) {
    t.group_size = size;
    t.gpus = (t.gpus + size - 1) / size;
    // leaderWorkerTemplate: the workers' own GPUs and instance type (the leader's is the set's).
    t.worker_gpus = set.worker_gpus > 0 ? set.worker_gpus : t.gpus;
    if (set.worker_instance_type != set.instance_type)
      t.worker_instance_type = set.worker_instance_type;
  }
  if (set.leader_gpus > 0) t.gpus = set.leader_gpus;
  return t;
}

int node_gpus_for(const config::stack_config& config, const std::string& instance_type) {
  for (const auto& pool : config.node_pools)
    if (pool.instance_type == instance_type && pool.gpus_per_node > 0) return pool.gpus_per_node;
  return actors::node_mocker::gpus_of_instance_type(instance_type);
}

actors::picker::picker_settings picker_settings_for(const config::stack_config& config,
                                                    const config::inference_pool& pool,
                                                    uint64_t seed) {
  actors::picker::picker_settings ps;
  ps.pool = pool.meta.namespace_ + "/" + pool.meta.name;
  ps.pool_name = pool.meta.name;
  for (const auto& c : config.picker_configs)
    if (c.meta.name == pool.picker &&
        (c.meta.namespace_ == pool.meta.namespace_ || c.meta.namespace_ == "default"))
      ps.config = std::make_shared<config::picker_config>(c);
  ps.seed = seed ^ std::hash<std::string>{}(ps.pool);
  for (const auto& o : config.inference_objectives)
    if (o.pool == pool.meta.name && o.meta.namespace_ == pool.meta.namespace_) {
      ps.objective_priorities[o.meta.name] = o.priority;
      if (o.slo_ttft_ms > 0 || o.slo_tpot_ms > 0)
        ps.objective_slos[o.meta.name] = {o.slo_ttft_ms, o.slo_tpot_ms};
      if (!o.unattainable_slo_policy.empty())
        ps.objective_slo_policies[o.meta.name] =
            o.unattainable_slo_policy == "Queue"    ? actors::picker::slo_policy::queue
            : o.unattainable_slo_policy == "Reject" ? actors::picker::slo_policy::reject
                                                    : actors::picker::slo_policy::best_effort;
    }
  return ps;
}

std::vector<actors::picker::pool_member> model_servers_of(const config::stack_config& config,
                                                          const config::inference_pool& pool) {
  std::vector<actors::picker::pool_member> out;
  for (const auto& m : config.model_servers) {
    if (m.meta.namespace_ != pool.meta.namespace_ ||
        !actors::controller::selects(pool.selector, m.meta.labels))
      continue;
    actors::picker::pool_member member;
    member.pod = m.meta.namespace_ + "/" + m.meta.name;
    member.endpoint = m.url;
    member.address = m.address;
    member.labels = m.meta.labels;
    member.kv_events = m.kv_events;
    member.kv_replay = m.kv_replay;
    out.push_back(std::move(member));
  }
  return out;
}

actors::controller::controller_settings controller_settings_for(
    const config::stack_config& config, const std::string& profiles_dir, uint64_t seed,
    bool adopt_initial, std::vector<std::string>& problems) {
  std::map<std::string, const config::model_preset*> presets;
  for (const auto& p : config.model_presets)
    presets[p.meta.name] = &p;
  actors::controller::controller_settings cs;
  cs.adopt_initial = adopt_initial;
  for (const auto& set : config.inference_sets) {
    auto preset_it = presets.find(set.preset);
    const auto* preset = preset_it == presets.end() ? nullptr : preset_it->second;
    actors::controller::set_spec spec;
    spec.ns = set.meta.namespace_;
    spec.name = set.meta.name;
    spec.replicas = set.replicas;
    spec.prototype = pod_template_for(set, preset, seed, node_gpus_for(config, set.instance_type));
    auto sample = spec.prototype;
    sample.name = spec.ns + "/" + spec.name + "-0";
    pod_settings_from(sample, profiles_dir, problems);
    cs.sets.push_back(std::move(spec));
  }
  for (const auto& pool : config.inference_pools)
    cs.pools.push_back(
        {pool.meta.namespace_, pool.meta.name, pool.selector, model_servers_of(config, pool)});
  return cs;
}

gateway::gateway_settings gateway_settings_for(const config::stack_config& config,
                                               const std::string& listen) {
  auto gw = config.gateway.value_or(config::gateway_settings{});
  if (!listen.empty()) gw.listen = listen;
  gateway::gateway_settings gs;
  auto colon = gw.listen.rfind(':');
  gs.address = gw.listen.substr(0, colon);
  gs.port = static_cast<uint16_t>(std::stoi(gw.listen.substr(colon + 1)));
  gs.io_threads = gw.io_threads;
  gs.default_namespace = gw.default_namespace;
  gs.max_body_bytes = gw.max_body_bytes;
  gs.header_timeout = gw.header_timeout;
  gs.idle_timeout = gw.idle_timeout;
  gs.upstream_timeout = gw.upstream_timeout;
  gs.activation_timeout = gw.activation_timeout;
  gs.activation_queue = gw.activation_queue;
  gs.forward_fault_injection = gw.forward_fault_injection;
  gs.access_log = gw.access_log;
  return gs;
}

std::vector<std::string> pool_names(const config::stack_config& config) {
  std::vector<std::string> out;
  for (const auto& p : config.inference_pools)
    out.push_back(p.meta.namespace_ + "/" + p.meta.name);
  return out;
}

}  // namespace inferstack::nodes
