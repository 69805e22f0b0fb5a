// The scaler actor: KEDA/HPA-style metric autoscaling of InferenceSets. Per set a trigger metric
// (default: the sum of vllm:num_requests_waiting over its Ready pods) with a target, and one of
// two timings:
//   keda -- what users see today: KEDA polls for activation every pollingInterval (30 s) and
//           the HPA syncs every 15 s;
//   fast -- every `fast_window` (500 ms) from the load reports the pods push.
// Decisions go to the controller as scale_set; the gateway's activate_pool scales a set at zero
// to one replica. Exports the trigger value, the desired replicas and every decision; answers
// the pods' latest load reports (pod_loads_query) for the live console.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <caf/fwd.hpp>

#include "actors/controller/controller_protocol.hpp"
#include "actors/pod/pod_protocol.hpp"
#include "actors/scaler/scaler_protocol.hpp"
#include "actors/scaler/scaling_policy.hpp"

namespace inferstack::actors::scaler {

enum class timing { keda, fast };

struct scaling_target {
  std::string ns;
  std::string set;
  std::vector<std::string> pools;  ///< "<ns>/<pool>" InferencePools the set serves
  std::string metric = "vllm:num_requests_waiting";
  timing mode = timing::keda;
  std::chrono::nanoseconds polling_interval = std::chrono::seconds(30);  ///< KEDA
  std::chrono::nanoseconds sync_period = std::chrono::seconds(15);       ///< HPA
  std::chrono::nanoseconds fast_window = std::chrono::milliseconds(500);
  autoscaler_spec policy;
  std::string source;  ///< "ScaledObject ns/name" or "InferenceSet ns/name annotations"
};

struct scaler_settings {
  std::vector<scaling_target> targets;
  /// A pod's load report older than this (default: one KEDA polling interval; pods push one
  /// every 500 ms) is no reading of its metric. When no Ready pod of a set has a reading, the
  /// set's metric read failed: no scaling, or KEDA's fallback once it applies.
  std::chrono::nanoseconds metric_staleness = std::chrono::seconds(30);
};

struct scaler_dependencies {
  controller::controller_actor controller;
  /// Metrics the load reports do not carry: `metric` of `pod` (its /metrics), if known.
  std::function<std::optional<double>(const std::string& pod, const std::string& metric)>
      read_metric;
  std::shared_ptr<prometheus::Registry> registry;  ///< may be null
  std::shared_ptr<spdlog::logger> log;             ///< may be null
};

/// Metrics the pods' load reports carry (the rest need read_metric).
bool from_load_reports(const std::string& metric);

using scaler_impl_actor =
    scaler_actor::extend<caf::reacts_to<controller::set_status>, caf::reacts_to<pod::load_report>,
                         caf::reacts_to<scaler_tick>>;

scaler_impl_actor spawn_scaler(caf::actor_system& sys, scaler_settings settings,
                               scaler_dependencies deps);

}  // namespace inferstack::actors::scaler
