// The picker actor: one per InferencePool. It adapts messages to the endpoint_picker (llm-d's
// scheduling framework in plain classes): pool membership from the controller, load reports and
// KV events pushed by the pods, picks for the gateway, completions for accounting. It exports the
// GAIE/llm-d metrics of its pool.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "actors/picker/picker_protocol.hpp"
#include "actors/picker/replication/replication_protocol.hpp"
#include "actors/picker/replication/replication_settings.hpp"
#include "actors/picker/scheduling/pick_types.hpp"
#include "actors/pod/pod_protocol.hpp"
#include "runtime/config/manifests.hpp"

namespace inferstack::tracing {
class tracer;
}  // namespace inferstack::tracing

namespace inferstack::actors::picker {

struct picker_settings {
  std::string pool;  ///< "<namespace>/<name>" of the InferencePool (metric label `name`)
  std::string pool_name;
  /// The pool's EndpointPickerConfig; null: llm-d's default (prefix 3, queue 2, kv 2).
  std::shared_ptr<const config::picker_config> config;
  uint64_t seed = 1;
  int64_t staleness_ns = 2'000'000'000;  ///< a silent pod counts as saturated after this
  int64_t metrics_interval_ns = 1'000'000'000;
  /// Refuse picks with picker_errc::not_ready until the first pool_membership arrives: a
  /// picker process restarted without its pool would otherwise answer "no ready endpoint".
  /// Off for pickers the stack of the same process feeds their membership at spawn.
  bool await_membership = false;
  /// Decisions kept for GET /debug/picks, the console and recent_picks (a ring). 0: none, and
  /// picks cost nothing more; x-inferstack-debug-pick still answers (that pick is recorded).
  /// The config's annotation inferstack.io/recent-picks overrides it.
  size_t recent_decisions = 256;
  /// The pool's InferenceObjectives: spec.priority by name. A request naming one
  /// (x-llm-d-inference-objective) gets its priority, its flow-control band; a request naming
  /// none keeps choose_pod::priority (x-inferstack-priority, else 0, as llm-d's unset objective).
  std::map<std::string, int> objective_priorities;
  /// The pool's InferenceObjectives' default latency objectives in ms (TTFT, TPOT; 0: none), by
  /// name: for a request naming one that carries no x-llm-d-slo-* header of its own.
  std::map<std::string, std::pair<double, double>> objective_slos;
  /// The pool's InferenceObjectives' spec.unattainableSloPolicy, by name (absent: unset).
  std::map<std::string, slo_policy> objective_slo_policies;
  /// One of several active-active replicas of the pool's picker (replication/): what it
  /// shares with its peers, how often; nullopt: the only picker of its pool.
  std::optional<replication_settings> replication;
};

/// The EndpointPickerConfig annotation setting how many decisions the picker keeps.
inline constexpr std::string_view recent_picks_annotation = "inferstack.io/recent-picks";

/// How many decisions the picker keeps: the config's annotation, else settings.recent_decisions.
/// Throws std::invalid_argument for an annotation that is not a whole number up to 1000000.
size_t recent_decisions_of(const picker_settings& settings);

/// What the picker also accepts: pushed events (load reports, KV-event messages), its own
/// metrics timer, flow-control TTL timer (timeout_atom) and replication timer (flush_atom),
/// recent_picks (its last decisions, newest first: GET /debug/picks, the console), and its
/// peer replicas' messages.
using picker_impl_actor =
    picker_actor::extend<caf::reacts_to<pod::load_report>, caf::reacts_to<pod::kv_event_message>,
                         caf::reacts_to<atoms::tick_atom>, caf::reacts_to<atoms::timeout_atom>,
                         caf::reacts_to<atoms::flush_atom>,
                         caf::replies_to<recent_picks>::with<pick_decisions>,
                         caf::reacts_to<replica_batch>,
                         caf::replies_to<replica_snapshot_request>::with<replica_snapshot>,
                         caf::reacts_to<replica_peers>>;

struct replication_stats;
class replica_link;

struct picker_dependencies;

/// The picker's scheduling, called on the caller's own thread by code of the same process (the
/// gateway's I/O threads): the actor and direct callers take turns under one lock, so a pick
/// costs no message round trip. Everything else (membership, load reports, KV events) still
/// reaches the picker as messages. Once the actor has ended the handle says so, and callers
/// fall back to asking the actor (which answers that it is gone).
class direct_picker {
 public:
  /// What the actor answers to choose_pod; nullopt once the actor has ended (or when the
  /// handle was never given to spawn_picker), and under flow control when the request must
  /// wait in the actor's queue (the pool is saturated, or others wait already): ask the actor.
  std::optional<caf::expected<chosen_pod>> choose(choose_pod req);
  /// As request_done sent to the actor; false once the actor has ended, and under flow control
  /// while picks wait in the actor's queue (this completion may let them go): send it the actor.
  bool done(const request_done& done);
  /// As recent_picks asked of the actor; nullopt once the actor has ended.
  std::optional<pick_decisions> recent(const recent_picks& ask);
  /// What replication did so far (benches, metrics); nullopt when the picker is no replica or
  /// has ended.
  std::optional<replication_stats> replication() const;
  /// The picker takes picks: not waiting for a peer's snapshot (a replica that starts late)
  /// nor for its pods' first KV replays (kv_first_replays_pending). False once the actor has
  /// ended.
  bool caught_up() const;

  struct core;  ///< the picker's state (picker_actor.cpp)

 private:
  friend picker_impl_actor spawn_picker(caf::actor_system&, picker_settings, picker_dependencies);
  std::shared_ptr<core> core_;  ///< set by spawn_picker
};

struct picker_dependencies {
  std::shared_ptr<prometheus::Registry> registry;
  std::shared_ptr<spdlog::logger> log;
  /// When given, spawn_picker connects it to the new picker.
  std::shared_ptr<direct_picker> direct;
  /// The process's tracer: a pick whose choose_pod carries a sampled traceparent is recorded
  /// as a child span (pick_trace.hpp). Null: no tracing, one branch a pick.
  std::shared_ptr<tracing::tracer> tracer;
  /// Replicas: how this one reaches its peers (needed when settings.replication is set).
  std::shared_ptr<replica_link> replicas;
  /// Pods in other processes whose KV events are still being replayed since this picker
  /// started (kv_subscriber's first replays): it takes its first pick only once, knowing its
  /// pool, none is left -- later pods are replayed while picks go on. Null: nothing to wait for.
  std::shared_ptr<const std::atomic<size_t>> kv_first_replays_pending;
};

/// Spawns the picker; throws std::invalid_argument listing the config's problems.
picker_impl_actor spawn_picker(caf::actor_system& sys, picker_settings settings,
                               picker_dependencies deps);

}  // namespace inferstack::actors::picker
