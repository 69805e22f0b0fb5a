// A simulation run: a workload's virtual clients sending through the gateway's request
// pipeline (request_pipeline::handle, the seam the HTTP server uses) of a stack running on CAF's
// deterministic scheduler. The runner moves virtual time from arrival to arrival, applies the
// faults on their timeline, samples every pool once a second (from the pods' load reports and
// the InferenceSets' statuses, as the picker and the scaler hear them) and records what every
// client saw. It knows nothing of how the stack was composed: nodes/ builds it and hands it
// over as stack_handles.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>

#include "simulate/report/records.hpp"
#include "simulate/workload/workload.hpp"

namespace inferstack::runtime {
class simulation;
class transport;
}  // namespace inferstack::runtime

namespace inferstack::gateway {
class request_pipeline;
}  // namespace inferstack::gateway

namespace inferstack::simulate {

/// Something done to the stack at a moment of the run (a fault of the timeline): returns ""
/// or a problem, which the run notes and carries on.
struct timed_action {
  std::chrono::nanoseconds at{0};  ///< since the workload's start
  std::string what;                ///< for the notes
  std::function<std::string()> apply;
};

/// An InferenceSet as the report counts it.
struct set_facts {
  std::string pool;  ///< "<ns>/<pool>" its pods serve ("" when none selects them)
  int gpus_per_pod = 1;
};

/// The running stack, as the runner drives and watches it.
struct stack_handles {
  runtime::simulation* sim = nullptr;
  gateway::request_pipeline* pipeline = nullptr;
  runtime::transport* transport = nullptr;  ///< load reports and set statuses are heard here
  caf::actor controller;      ///< asked once for the sets' statuses (later ones are published)
  std::string default_ns;     ///< requests without a namespace
  std::string default_model;  ///< requests without a model
  std::string host_suffix = "gw.example.com";
  /// The namespace's API key ("" : none needed).
  std::function<std::string(const std::string& ns)> api_key;
  /// The pool a model of a namespace routes to ("" : none).
  std::function<std::string(const std::string& ns, const std::string& model)> pool_of_model;
  std::map<std::string, set_facts> sets;  ///< "<ns>/<set>" -> facts
};

struct run_settings {
  std::string label = "run";
  /// After the last arrival, requests still open may finish until this much virtual time has
  /// passed; then the run ends and they count as unfinished.
  std::chrono::nanoseconds drain = std::chrono::minutes(10);
  bool progress = true;  ///< a progress line on stderr
  /// Called after each second's sample with the seconds since the workload's start (the
  /// console's recording); it may run the simulation (its questions and their answers), not
  /// advance its time.
  std::function<void(int64_t second)> on_sample;
};

/// What a run found besides its records: problems met (a fault that could not be applied),
/// and how long it took.
struct run_outcome {
  variant_run run;
  std::vector<std::string> notes;
  double wall_seconds = 0;
  double virtual_seconds = 0;
  /// Pods' own counters summed at the end (vllm:num_preemptions_total ...), filled by the
  /// caller, which can read them.
  std::map<std::string, double> pod_counters;
};

/// Runs `w` through the stack, `actions` (sorted by time) at their moments. Returns when every
/// request has ended and every action is done, or when the drain time is over.
run_outcome run_workload(const workload& w, const std::vector<timed_action>& actions,
                         stack_handles& stack, const run_settings& settings);

/// The pod a request's pod name belongs to: "<ns>/<set>-<n>" -> "<ns>/<set>" (the longest set
/// name that fits), "" when none does.
std::string set_of_pod(const std::string& pod, const std::map<std::string, set_facts>& sets);

}  // namespace inferstack::simulate
