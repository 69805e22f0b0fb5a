// The simulated vLLM V1 engine core: admission, continuous batching with chunked prefill,
// preemption by recomputation, a paged KV cache with prefix caching, and a latency model.
// A plain class: no actors, threads, clocks or I/O. The owner drives it with virtual time:
//
//   engine.submit(spec)                        // whenever a request arrives
//   while (engine.has_work()) {
//     auto plan = engine.begin_step(now);      // schedules the batch, says how long it takes
//     ... wait until plan.end_ns() (submits may arrive meanwhile; see step_plan::interruptible)
//     auto out = engine.end_step(plan.end_ns());  // tokens produced by the step
//     publish(engine.drain_kv_events());
//   }
//
// Timing. Per-step models (timing::per_step): a step computes its batch and takes
// step_ns(batch); its tokens are emitted by end_step, so a token's time is the end of the step
// that produced it. A sequence emits a token in a step iff the step computes its last known token:
// the step that finishes its prefill emits the first token, every later (decode) step one more.
// A sequence finishes in the step that emits its output_tokens-th token.
// Per-request models (timing::per_request, the simulator's calculators): a sequence's first token
// falls due TTFT after it starts running (admission), each next one ITL after the previous (L from
// the running count at that moment). A step lasts until the earliest due token; end_step emits
// the tokens due by its `now`. Such steps can be cut short (end_step earlier, then begin_step) to
// admit an arrival at once, as the simulator starts a request as soon as a worker is free.
// Per-request models have no token budget and no chunked prefill (the simulator has neither):
// admission is bounded by max_num_seqs, max_loras and KV blocks only.
//
// KV pressure: when a running sequence needs a block and none is free, the most recently
// admitted running sequence is preempted (recompute mode: its blocks are freed and it goes back
// to the front of the queue; resumed, it recomputes prompt + output so far, prefix hits
// included, and emits no token twice). A step that preempted admits nothing new. The oldest
// running sequence therefore always progresses, and a request that fits the cache completes.
//
// Cost: a step is O(batch + admitted) for per-step models (every running sequence is in the
// batch) and O(due tokens x log running) for per-request ones; nothing scans the waiting queue
// beyond what it admits or skips (LoRA-blocked, KV transfers in flight).
//
// LoRA residency (vLLM's LRUCacheWorkerLoRAManager): at most max_loras adapters sit in GPU
// slots and only requests of resident adapters run; a waiting request whose adapter is not
// resident starts when a slot is free or held by an idle adapter (the least recently used idle
// one is evicted). Swapping an adapter in costs lora_cpu_load_ns when it is in the CPU cache
// (max_cpu_loras adapters, LRU) and lora_load_ns when it comes from disk; the step that
// admits it is that much longer (per-request models: its first token is that much later).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actors/pod/engine/kv_cache.hpp"
#include "actors/pod/engine/latency.hpp"

namespace inferstack::actors::pod::engine {

struct engine_config {
  uint32_t max_num_seqs = 256;             ///< running sequences at most
  uint32_t max_num_batched_tokens = 8192;  ///< tokens computed per step at most
  uint32_t max_model_len = 8192;           ///< prompt + output tokens at most
  uint32_t max_waiting = 1000;             ///< waiting beyond the free running slots; 0: unlimited
  uint32_t max_loras = 1;                  ///< LoRA adapters resident on the GPU at most
  uint32_t max_cpu_loras = 0;    ///< adapters in the CPU cache; below max_loras: max_loras
  int64_t lora_load_ns = 0;      ///< swapping in an adapter from disk
  int64_t lora_cpu_load_ns = 0;  ///< swapping in an adapter from the CPU cache
  bool enable_chunked_prefill = true;
  bool enable_prefix_caching = true;  ///< overrides kv.enable_prefix_caching
  kv_cache_config kv;
  uint64_t seed = 0;  ///< the engine's random stream (latency draws)

  /// Problems with the values (empty when usable).
  std::vector<std::string> validate() const;
};

struct sequence_spec {
  uint64_t id = 0;
  std::vector<uint32_t> prompt;  ///< token ids
  uint32_t output_tokens = 1;    ///< exactly this many tokens are generated (>= 1)
  /// Ids of the tokens to generate (size output_tokens), e.g. the tokenized response the owner
  /// will send, so that decode blocks get the same keys a follow-up prompt will have. Empty:
  /// the engine makes up ids deterministically from the prompt (same prompt, same output).
  std::vector<uint32_t> output_token_ids;
  std::string model;  ///< served base model name
  std::string lora;   ///< LoRA adapter name; empty for the base model
  int64_t arrival_ns = 0;
  /// P/D decode side: the prompt's KV arrives from a prefill pod (transfer time from the
  /// latency model); only the last prompt token is computed locally.
  bool remote_prefill = false;
};

enum class submit_status {
  accepted,
  queue_full,        ///< waiting-queue capacity reached: answer 429
  too_long,          ///< prompt + output > max_model_len (or > the token budget when
                     ///< chunked prefill is off): context-length error
  exceeds_kv_cache,  ///< needs more KV blocks than the whole cache: context-length error
  duplicate_id,      ///< a live sequence already has this id
  invalid,           ///< empty prompt, zero output tokens, or output ids of the wrong size
};

std::string_view to_string(submit_status s);

struct scheduled_sequence {
  uint64_t id = 0;
  uint32_t num_tokens = 0;   ///< tokens computed this step (per-request models: 1)
  uint32_t context_len = 0;  ///< tokens with KV once the step is done
  bool prefill = false;
};

struct step_plan {
  int64_t start_ns = 0;
  int64_t duration_ns = 0;
  batch_stats batch;
  std::vector<scheduled_sequence> sequences;
  std::vector<uint64_t> preempted;  ///< sent back to the waiting queue while planning
  /// Nothing to compute yet: the step only waits (for a KV transfer, or for the next due token
  /// of a per-request model) until end_ns().
  bool idle = false;
  /// Per-request models: end_step may come before end_ns() (only tokens due by then are
  /// emitted), e.g. to admit an arrival at once. Per-step models: a step always runs to its end.
  bool interruptible = false;

  int64_t end_ns() const { return start_ns + duration_ns; }
};

struct sequence_output {
  uint64_t id = 0;
  uint32_t new_tokens = 0;  ///< 0 or 1
  uint32_t token_id = 0;    ///< the emitted token, when new_tokens == 1
  uint32_t generated = 0;   ///< tokens generated so far
  bool first_token = false;
  bool finished = false;  ///< output_tokens reached; the sequence is gone
  /// First admitted (scheduled, or its KV transfer started) in this step; then cached_tokens
  /// (matched prefix: full blocks x block size) and queue_ns (arrival to admission) are set.
  bool started = false;
  uint32_t cached_tokens = 0;
  int64_t queue_ns = 0;
};

struct step_outputs {
  int64_t now_ns = 0;
  std::vector<sequence_output> sequences;
};

struct engine_snapshot {
  uint32_t running = 0;
  uint32_t waiting = 0;           ///< includes P/D requests waiting for their KV
  double kv_usage = 0;            ///< referenced blocks / all blocks
  uint64_t in_flight_tokens = 0;  ///< prompt + generated tokens of running and waiting sequences
  uint64_t prefix_cache_queries = 0;  ///< tokens
  uint64_t prefix_cache_hits = 0;     ///< tokens
  uint64_t preemptions = 0;
  uint64_t steps = 0;
  uint64_t finished = 0;
  uint32_t num_gpu_blocks = 0;
  uint32_t used_blocks = 0;
  uint32_t cached_blocks = 0;
  uint64_t lora_loads = 0;       ///< adapters swapped into a GPU slot
  uint64_t lora_disk_loads = 0;  ///< of which read from disk (not in the CPU cache)
};

struct lora_state {
  std::vector<std::string> running;   ///< adapters with running sequences
  std::vector<std::string> waiting;   ///< adapters with waiting sequences
  std::vector<std::string> resident;  ///< adapters in GPU slots, sorted by name
  std::vector<std::string> cpu;       ///< adapters in the CPU cache (GPU ones too), sorted
};

class engine {
 public:
  /// Throws std::invalid_argument when config.validate() reports problems.
  engine(engine_config config, std::unique_ptr<latency_model> latency);
  ~engine();

  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  const engine_config& config() const { return config_; }
  const latency_model& latency() const { return *latency_; }
  const kv_cache& cache() const { return kv_; }

  submit_status submit(sequence_spec spec);
  /// Drops a sequence (waiting or running) and frees its blocks. False if unknown.
  bool cancel(uint64_t id);

  bool has_work() const { return running_count_ + waiting_count_ > 0; }
  bool in_step() const { return in_step_; }

  /// Plans one step at `now_ns`. Call end_step before the next begin_step.
  step_plan begin_step(int64_t now_ns);
  /// Completes the step begun last, at `now_ns` (normally the plan's end_ns()).
  step_outputs end_step(int64_t now_ns);

  engine_snapshot snapshot() const;
  lora_state loras() const;

  /// KV events since the last drain, in order.
  std::vector<runtime::kv_event> drain_kv_events() { return kv_.drain_events(); }
  /// Clears the prefix cache (vLLM reset_prefix_cache: only when no sequence holds blocks).
  bool reset_prefix_cache() { return kv_.clear(); }
  /// Run-time configuration: `latency` times what is planned from now on (tokens already due
  /// keep their times). False, nothing changed, when it times steps otherwise (per step vs per
  /// request) while a step is in flight.
  bool set_latency(std::unique_ptr<latency_model> latency);
  /// vLLM's sleep mode: the KV cache forgets every cached prefix and caches none until woken
  /// (kv_cache::sleep); blocks in use stay allocated.
  void sleep_kv_cache() { kv_.sleep(); }
  void wake_kv_cache() { kv_.wake(); }

 private:
  enum class seq_state : uint8_t { free, waiting, running };

  struct sequence {
    uint64_t id = 0;
    uint32_t gen = 0;  ///< bumped whenever the slot is released: stale references see it
    seq_state state = seq_state::free;
    std::vector<uint32_t> tokens;  ///< prompt + every output id; the first known() are known
    uint32_t prompt_len = 0;
    uint32_t output_len = 0;
    uint32_t generated = 0;
    uint32_t computed = 0;    ///< tokens with KV
    uint32_t scheduled = 0;   ///< tokens being computed by the step in flight
    uint32_t hash_model = 0;  ///< index into names_: model, or the adapter for LoRA
    uint32_t lora = 0;        ///< index into names_; 0: base model
    int64_t arrival_ns = 0;
    int64_t ready_ns = 0;  ///< KV transfer done (per-step) / next token due (per-request)
    uint32_t epoch = 0;    ///< bumped on every admission: stale due-heap entries see it
    uint32_t cached_tokens = 0;
    bool remote_prefill = false;
    bool transfer_started = false;
    bool admitted_once = false;
    bool report_start = false;

    uint32_t known() const { return prompt_len + generated; }
  };

  struct seq_ref {
    uint32_t slot = 0;
    uint32_t gen = 0;
  };

  struct due_entry {
    int64_t due = 0;
    uint32_t slot = 0;
    uint32_t gen = 0;
    uint32_t epoch = 0;
    bool operator>(const due_entry& o) const { return due != o.due ? due > o.due : slot > o.slot; }
  };

  sequence* live(seq_ref r);
  uint32_t intern(const std::string& name);
  kv_request_meta meta_for(const sequence& s, bool count_stats) const;
  uint32_t free_running_slots() const;

  void plan_per_step(int64_t now, step_plan& plan);
  void plan_per_request(int64_t now, step_plan& plan);
  void end_per_step(int64_t now, step_outputs& out);
  void end_per_request(int64_t now, step_outputs& out);

  void admit_waiting(int64_t now, uint32_t& budget, step_plan& plan);
  void mark_admitted(sequence& s, seq_ref ref, uint32_t cached_tokens);
  void schedule(sequence& s, seq_ref ref, uint32_t num_tokens, step_plan& plan);
  void preempt(seq_ref ref, step_plan* plan);
  bool pop_running_victim(seq_ref& victim);
  void emit_token(sequence& s, seq_ref ref, sequence_output& o);
  void release(seq_ref ref);
  void compact_running();
  const due_entry* next_transfer();  ///< earliest KV transfer still pending, if any
  bool transfer_ready(int64_t now);  ///< some transferred KV has arrived by `now`
  void lora_running_add(uint32_t lora);
  void lora_running_remove(uint32_t lora);
  bool lora_admissible(uint32_t lora) const;
  int64_t activate_lora(uint32_t lora);  ///< makes it resident; returns the swap-in time

  engine_config config_;
  std::unique_ptr<latency_model> latency_;
  kv_cache kv_;
  std::mt19937_64 rng_;

  std::vector<sequence> seqs_;
  std::vector<uint32_t> free_slots_;
  std::unordered_map<uint64_t, uint32_t> index_;  ///< id -> slot of live sequences
  std::deque<seq_ref> waiting_;                   ///< FIFO; may hold stale refs
  std::vector<seq_ref> running_;                  ///< admission order; may hold stale refs
  std::vector<seq_ref> batch_;                    ///< sequences of the step in flight
  std::vector<seq_ref> started_only_;             ///< admitted this step without computing
  std::priority_queue<due_entry, std::vector<due_entry>, std::greater<>> due_;  ///< per-request
  std::priority_queue<due_entry, std::vector<due_entry>, std::greater<>> transfers_;  ///< P/D
  std::vector<seq_ref> skipped_scratch_;

  std::vector<std::string> names_;  ///< [0] = ""
  std::unordered_map<std::string, uint32_t> name_index_;
  std::vector<int64_t> lora_ids_;       ///< per names_ index: the adapter's lora_id (1, 2, ...)
  std::vector<uint32_t> lora_running_;  ///< per names_ index: running sequences
  uint32_t running_lora_kinds_ = 0;     ///< distinct adapters with running sequences
  int64_t next_lora_id_ = 1;
  std::vector<uint32_t> gpu_loras_;  ///< resident adapters, least recently used first
  std::vector<uint32_t> cpu_loras_;  ///< CPU-cached adapters, least recently used first
  int64_t step_load_ns_ = 0;         ///< swap-in time of the step being planned
  uint64_t lora_loads_ = 0;
  uint64_t lora_disk_loads_ = 0;

  uint32_t running_count_ = 0;
  uint32_t running_stale_ = 0;  ///< finished/cancelled entries still in running_
  uint32_t waiting_count_ = 0;
  uint64_t in_flight_tokens_ = 0;
  uint64_t preemptions_ = 0;
  uint64_t steps_ = 0;
  uint64_t finished_ = 0;
  bool in_step_ = false;
  int64_t step_start_ns_ = 0;
};

}  // namespace inferstack::actors::pod::engine
