// tools/bench/simulated_pool: what the virtual-time benches (routing, fairness, slo) share: a
// pool of simulated pods behind the real picker actor, and a driver that replays a list of
// arrivals through them (ask the picker, send the request to the pod chosen, tell the picker
// when it is done). Each bench passes in what differs: its picker configuration, its pods'
// options, how a pick is built from its request and what it records when one finishes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/picker/picker_actor.hpp"
#include "actors/pod/pod_actor.hpp"
#include "actors/pod/pod_settings.hpp"
#include "runtime/config/manifests.hpp"

namespace inferstack::bench {

/// A bench pod's settings: `options` (set_pod_option's names and values, in order) plus the
/// name bench/pod-<i>, address 10.0.0.<i+1>:8000 and engine seed `seed` + i.
actors::pod::pod_settings bench_pod_settings(
    const std::vector<std::pair<std::string, std::string>>& options, int i, uint64_t seed,
    const std::string& profiles);

/// A request the pod has finished, as the driver saw it.
struct finished_request {
  size_t index = 0;  ///< in the arrivals
  std::string pod;
  int64_t waited_ns = 0;       ///< from the arrival to the picker's answer
  int64_t since_start_ns = 0;  ///< virtual time of the finish, from the first tick's origin
  const actors::pod::generate_result* result = nullptr;
};

/// The arrivals to replay and the bench's parts of each request.
struct replay {
  size_t count = 0;
  std::function<int64_t(size_t index)> arrival_ns;  ///< from the replay's start
  /// Fills the pick's tokens (also the prompt sent to the pod) and what the bench routes on;
  /// request_id (req-<index>) and model are set already.
  std::function<void(size_t index, actors::picker::choose_pod&)> choose;
  std::function<int64_t(size_t index)> max_tokens;
  /// Records a finished request; may add what the client observed to the picker's request_done.
  std::function<void(const finished_request&, actors::picker::request_done&)> done;
};

/// The pool the replay runs on.
struct pool_spec {
  std::shared_ptr<const config::picker_config> picker_config;  ///< null: the default one
  uint64_t seed = 0;                                           ///< the picker's
  int pods = 0;
  std::function<actors::pod::pod_settings(int i)> pod_settings;
  bool kv_events = false;  ///< the pods' KV events reach the picker too
  /// Active-active picker replicas: each hears every pod, the arrivals go to them in turn
  /// (round robin) and a request's completion to the one that picked it. 1: one picker.
  int pickers = 1;
  /// Called before replica `i` is spawned: name it, make it share state (tools/bench/replicas).
  std::function<void(int i, actors::picker::picker_settings&, actors::picker::picker_dependencies&)>
      setup_picker;
  /// Called once every picker knows its pool, before the first arrival.
  std::function<void(const std::vector<actors::picker::picker_impl_actor>&)> pickers_started;
  /// Called after the last request finished, while the pickers still run (read their state).
  std::function<void()> replay_finished;
};

struct replay_result {
  size_t done = 0;
  uint64_t failed = 0;
};

/// Spawns the picker and `pool.pods` pods in a fresh simulation, replays `r` in virtual time
/// until every request has finished or failed, then stops them.
replay_result run_replay(const pool_spec& pool, const replay& r);

}  // namespace inferstack::bench
