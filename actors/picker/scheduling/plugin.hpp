// The plugin model of llm-d's scheduling framework: profile handler, filters, weighted scorers,
// pickers, and the data producers and request hooks around them. Plugins are plain objects; the
// scheduler drives them with a per-cycle context.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "actors/picker/scheduling/endpoint_state.hpp"
#include "actors/picker/scheduling/pick_types.hpp"

namespace inferstack::actors::picker {

class plugin;
class filter_plugin;
class scorer_plugin;
class picker_plugin;

enum class scorer_category : uint8_t { affinity, distribution, balance };

/// A scheduling profile: filters in order, weighted scorers, one picker.
struct profile_def {
  std::string name;
  std::vector<filter_plugin*> filters;
  std::vector<scorer_plugin*> scorers;
  std::vector<double> weights;  ///< per scorer
  picker_plugin* picker = nullptr;
};

enum class run_state : uint8_t { pending, skipped, ok, failed };

/// Everything a plugin may look at during one scheduling cycle.
struct cycle {
  const pick_request* request = nullptr;
  int64_t now_ns = 0;
  const pool_state* pool = nullptr;
  std::mt19937_64* rng = nullptr;
  std::span<const uint32_t> endpoints;  ///< the cycle's candidates before any filter

  /// Per prefix producer, indexed by endpoint id.
  std::vector<std::vector<prefix_match>>* prefix = nullptr;
  request_memo* memo = nullptr;

  // Profile loop state, indexed like the scheduler's profiles.
  const std::vector<profile_def>* profiles = nullptr;
  std::vector<run_state>* states = nullptr;
  schedule_result* out = nullptr;
  const std::vector<int>* run_slot = nullptr;  ///< profile -> index in out->runs (-1: not run)

  const profile_run* run_of(int profile) const {
    int slot = profile < 0 ? -1 : (*run_slot)[profile];
    return slot < 0 ? nullptr : &out->runs[slot];
  }

  const endpoint_state& endpoint(uint32_t id) const { return pool->at(id); }
  bool stale(uint32_t id) const { return pool->stale(pool->at(id), now_ns); }
  /// Fresh metrics: reported, and recently enough.
  bool fresh(uint32_t id) const {
    const auto& e = pool->at(id);
    return e.has_metrics() && !pool->stale(e, now_ns);
  }
  const prefix_match& match(int producer, uint32_t id) const { return (*prefix)[producer][id]; }
  int profile_index(std::string_view name) const;
};

/// Context of pre_request / response hooks.
struct hook_context {
  const pick_request* request = nullptr;
  const schedule_result* result = nullptr;
  int64_t now_ns = 0;
  pool_state* pool = nullptr;
  request_memo* memo = nullptr;
};

class plugin {
 public:
  plugin(std::string type, std::string name) : type_(std::move(type)), name_(std::move(name)) {}
  virtual ~plugin() = default;
  plugin(const plugin&) = delete;
  plugin& operator=(const plugin&) = delete;

  const std::string& type() const { return type_; }
  const std::string& name() const { return name_; }

  /// Slot in request_memo::plugin_state, assigned by the scheduler.
  int state_slot = -1;

  // Optional hooks (no-ops by default).
  virtual bool has_pre_request() const { return false; }
  virtual void pre_request(hook_context&) {}
  virtual bool has_response_complete() const { return false; }
  virtual void response_complete(std::string_view request_id, int64_t now_ns) {}
  /// The TTFT and mean ITL the gateway observed for a request (0: not observed).
  virtual void latency_observed(std::string_view request_id, int64_t ttft_ns, int64_t itl_ns) {}
  /// An endpoint joined the pool (or changed identity).
  virtual void endpoint_added(uint32_t id, const endpoint_state& e) {}
  /// An endpoint left the pool: drop what is kept about it.
  virtual void endpoint_removed(uint32_t id, const endpoint_state& e) {}

 private:
  std::string type_, name_;
};

class filter_plugin : public plugin {
 public:
  using plugin::plugin;
  /// Keeps the endpoints that pass, in order.
  virtual void filter(cycle& c, std::vector<uint32_t>& candidates) = 0;
};

class scorer_plugin : public plugin {
 public:
  using plugin::plugin;
  virtual scorer_category category() const = 0;
  /// Writes one score per candidate into `out` (pre-filled with 0, clamped to [0,1] later).
  virtual void score(cycle& c, std::span<const uint32_t> candidates, std::span<double> out) = 0;
};

class picker_plugin : public plugin {
 public:
  using plugin::plugin;
  /// Chooses targets (best first) from scored candidates.
  virtual void pick(cycle& c, std::span<const uint32_t> candidates, std::span<const double> totals,
                    std::vector<uint32_t>& targets) = 0;
};

class profile_handler_plugin : public plugin {
 public:
  using plugin::plugin;
  /// Profiles to run next (indices); empty when done. Called until it returns none.
  virtual void pick(cycle& c, std::vector<int>& to_run) = 0;
  /// Builds the result from the runs.
  virtual void process_results(cycle& c, schedule_result& out) = 0;
};

/// Runs once per cycle before the profiles (llm-d DataProducer), over the cycle's endpoints.
class producer_plugin : public plugin {
 public:
  using plugin::plugin;
  virtual void produce(cycle& c) = 0;
};

/// Prefix match producers (approx or precise) additionally own a producer index.
class prefix_producer : public producer_plugin {
 public:
  using producer_plugin::producer_plugin;
  int producer_index = -1;
};

/// P/D deciders consulted by disagg-profile-handler.
class decider_plugin : public plugin {
 public:
  using plugin::plugin;
  virtual bool disaggregate(cycle& c, uint32_t decode_endpoint) = 0;
};

}  // namespace inferstack::actors::picker
