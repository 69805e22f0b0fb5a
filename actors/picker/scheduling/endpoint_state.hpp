// What the picker knows about each pod of its pool: identity and labels (from the controller),
// live load (pushed by the pod), and the picker's own accounting of the work it sent there.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace inferstack::actors::picker {

/// llm-d's role label; values prefill | decode | both | prefill-decode | encode | ...
inline constexpr std::string_view role_label = "llm-d.ai/role";

/// A pod as pool membership reports it.
struct endpoint_info {
  std::string name;     ///< pod name: identity in results, metrics and KV-event topics
  std::string address;  ///< host:port requests are forwarded to (also accepted as KV-event id)
  std::map<std::string, std::string> labels;
};

/// The linear terms of a pod's step-cost profile (a simulated pod reports them; 0: unknown),
/// which SLO-aware routing predicts latency from (latency_predictor.hpp).
struct step_cost {
  double step_overhead_ns = 0;
  double prefill_overhead_ns = 0;
  double prefill_ns_per_token = 0;
  double decode_ns_per_sequence = 0;  ///< decodePerSequence + perSequence
  double attention_ns_per_kv_token = 0;
  bool known() const { return step_overhead_ns > 0 || prefill_ns_per_token > 0; }
};

/// A pod's load report (the pushed equivalent of the vllm:* metrics llm-d scrapes).
struct load_report {
  int waiting = 0;                         ///< vllm:num_requests_waiting
  int running = 0;                         ///< vllm:num_requests_running
  double kv_usage = 0;                     ///< vllm:kv_cache_usage_perc, in [0,1]
  int64_t in_flight_tokens = 0;            ///< tokens the pod still has to process
  int max_num_seqs = 0;                    ///< 0: unknown
  int block_size = 0;                      ///< vllm:cache_config_info block_size; 0: unknown
  int num_gpu_blocks = 0;                  ///< vllm:cache_config_info num_gpu_blocks; 0: unknown
  int max_loras = 0;                       ///< vllm:lora_requests_info max_lora
  std::vector<std::string> active_loras;   ///< running_lora_adapters
  std::vector<std::string> waiting_loras;  ///< waiting_lora_adapters
  /// LoRA residency (vLLM's vllm:lora_adapter_loaded, or a simulated pod's report): adapters in
  /// GPU slots and in the CPU cache. Unknown for servers that report only lora_requests_info.
  bool lora_residency = false;
  std::vector<std::string> gpu_loras;
  std::vector<std::string> cpu_loras;
  std::string base_model;  ///< the pod's served model, when reported
  step_cost step;          ///< the pod's step profile, when it has one
};

// Field order matters: what every pick reads for every candidate (flags, report time,
// accounting, queue and KV usage) sits in the first cache line; names and labels come after.
struct alignas(64) endpoint_state {
  uint32_t id = 0;  ///< dense slot index; reused after removal
  bool ready = true;
  bool draining = false;   ///< finishing in-flight work: never a candidate
  int64_t updated_ns = 0;  ///< time of the last load report; 0: never reported

  // Picker-local accounting: work this picker assigned that has not completed yet.
  int64_t assigned_requests = 0;
  int64_t assigned_tokens = 0;  ///< uncached prompt tokens of those requests
  /// Requests this picker sent since the pod's last load report, which that report cannot show
  /// yet; zeroed by the next report.
  int64_t picked_since_report = 0;
  /// Requests of this picker that finished since the pod's last load report (the response came
  /// back, or the gateway said it is done), which that report still shows; zeroed by the next
  /// report. A finished request frees its slot at once, as llm-d's in-flight tracking sees it.
  int64_t done_since_report = 0;

  load_report load;

  std::string name;
  std::string address;
  std::map<std::string, std::string> labels;

  bool has_metrics() const { return updated_ns != 0; }
  /// The queue the load scorers see: the reported one plus the requests sent since the report.
  /// Without the latter, every pick of a burst between two reports saw the same queues and
  /// went to the same pod (the herd a burst of simultaneous requests made).
  int64_t queue_estimate() const { return load.waiting + picked_since_report; }
  /// The pod's waiting queue now: the reported one, plus what this picker sent since the
  /// report, less what finished since (each completion lets a waiting request run).
  int64_t waiting_estimate() const {
    int64_t w = load.waiting + picked_since_report - done_since_report;
    return w > 0 ? w : 0;
  }
  const std::string* label(std::string_view key) const;
};

/// The pool's endpoints. Ids are dense (vector slots) so per-request scratch arrays can be
/// indexed by id; a removed endpoint's id is reused by a later add.
class pool_state {
 public:
  /// `staleness_ns`: a pod whose last load report is older than this (or that never reported)
  /// counts as saturated. 0 disables staleness.
  explicit pool_state(int64_t staleness_ns = 2'000'000'000) : staleness_ns_(staleness_ns) {}

  /// Adds a pod, or updates identity and labels of the pod with the same name. Returns its id.
  uint32_t add(endpoint_info info);
  /// Forgets a pod. Returns its former id.
  std::optional<uint32_t> remove(std::string_view name);

  bool update_load(std::string_view name, const load_report& report, int64_t now_ns);
  bool set_ready(std::string_view name, bool ready);
  bool set_draining(std::string_view name, bool draining);

  /// By name, or by address when no name matches (KV-event topics may carry either).
  endpoint_state* find(std::string_view name_or_address);
  const endpoint_state* find(std::string_view name_or_address) const;

  endpoint_state& at(uint32_t id) { return slots_[id]; }
  const endpoint_state& at(uint32_t id) const { return slots_[id]; }
  bool live(uint32_t id) const { return id < live_.size() && live_[id]; }

  /// Live ids in insertion order.
  std::span<const uint32_t> ids() const { return order_; }
  size_t size() const { return order_.size(); }
  /// One past the largest id ever handed out (size for per-id scratch arrays).
  size_t id_bound() const { return slots_.size(); }

  /// A candidate for new work: live, ready and not draining (stale pods still are).
  bool schedulable(const endpoint_state& e) const { return e.ready && !e.draining; }
  /// Silent for longer than the staleness bound (or never reported).
  bool stale(const endpoint_state& e, int64_t now_ns) const {
    if (staleness_ns_ <= 0) return false;
    return e.updated_ns == 0 || now_ns - e.updated_ns > staleness_ns_;
  }
  int64_t staleness_ns() const { return staleness_ns_; }
  void set_staleness_ns(int64_t ns) { staleness_ns_ = ns; }

 private:
  int64_t staleness_ns_;
  std::vector<endpoint_state> slots_;
  std::vector<uint8_t> live_;
  std::vector<uint32_t> free_;
  std::vector<uint32_t> order_;
  std::unordered_map<std::string, uint32_t> by_name_;
  std::unordered_map<std::string, uint32_t> by_address_;
};

}  // namespace inferstack::actors::picker
