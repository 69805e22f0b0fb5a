// The actors' settings as the roles read them from the configuration (the manifests), the same
// in `inferstack dev` (every role in one process) and in each `inferstack run <role>` process.
#pragma once

#include <string>
#include <vector>

#include "actors/controller/controller_actor.hpp"
#include "actors/node_mocker/node_mocker_actor.hpp"
#include "actors/picker/picker_actor.hpp"
#include "gateway/gateway.hpp"
#include "runtime/config/manifests.hpp"

namespace inferstack::nodes {

/// The template every replica of `set` is made from: its preset's model, GPUs, load times and
/// engine options, the set's labels and annotations. A preset that needs more GPUs than a node
/// has (`node_gpus`, 0: unknown), or a set with spec.leaderWorkerSet, makes every replica a
/// group of pods on as many nodes, the GPUs shared evenly among them.
actors::node_mocker::pod_template pod_template_for(const config::inference_set& set,
                                                   const config::model_preset* preset,
                                                   uint64_t seed, int node_gpus = 0);

/// GPUs of one node of `instance_type`: its NodePool's gpusPerNode, else the instance type's.
int node_gpus_for(const config::stack_config& config, const std::string& instance_type);

/// The picker of `pool`: its EndpointPickerConfig (same namespace, or "default"), if any.
actors::picker::picker_settings picker_settings_for(const config::stack_config& config,
                                                    const config::inference_pool& pool,
                                                    uint64_t seed);

/// The ModelServers `pool` selects: members reached over HTTP, with their KV-event endpoints.
std::vector<actors::picker::pool_member> model_servers_of(const config::stack_config& config,
                                                          const config::inference_pool& pool);

/// Every InferenceSet as the controller reconciles it (the pod template of its replicas; the
/// engine options are checked now, problems appended) and every InferencePool with its model
/// servers.
actors::controller::controller_settings controller_settings_for(const config::stack_config& config,
                                                                const std::string& profiles_dir,
                                                                uint64_t seed, bool adopt_initial,
                                                                std::vector<std::string>& problems);

/// The gateway's listener and timeouts from the InferenceGateway manifest; `listen` overrides
/// spec.listen when not empty.
gateway::gateway_settings gateway_settings_for(const config::stack_config& config,
                                               const std::string& listen);

/// "ns/name" of every InferencePool, in configuration order.
std::vector<std::string> pool_names(const config::stack_config& config);

}  // namespace inferstack::nodes
