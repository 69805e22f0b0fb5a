#include "actors/pod/engine/engine.hpp"

#include <algorithm>
#include <stdexcept>

namespace inferstack::actors::pod::engine {

std::string_view to_string(submit_status s) {
  switch (s) {
    case submit_status::accepted:
      return "accepted";
    case submit_status::queue_full:
      return "queue_full";
    case submit_status::too_long:
      return "too_long";
    case submit_status::exceeds_kv_cache:
      return "exceeds_kv_cache";
    case submit_status::duplicate_id:
      return "duplicate_id";
    case submit_status::invalid:
      return "invalid";
  }
  return "unknown";
}

std::vector<std::string> engine_config::validate() const {
  std::vector<std::string> errors;
  if (max_num_seqs == 0) errors.emplace_back("max_num_seqs must be at least 1");
  if (max_num_batched_tokens == 0) errors.emplace_back("max_num_batched_tokens must be at least 1");
  if (max_model_len == 0) errors.emplace_back("max_model_len must be at least 1");
  if (max_loras == 0) errors.emplace_back("max_loras must be at least 1");
  if (lora_load_ns < 0 || lora_cpu_load_ns < 0)
    errors.emplace_back("LoRA load times cannot be negative");
  if (kv.block_size == 0) errors.emplace_back("block_size must be at least 1");
  if (kv.num_gpu_blocks == 0 || kv.num_gpu_blocks == UINT32_MAX)
    errors.emplace_back("num_gpu_blocks must be at least 1");
  return errors;
}

namespace {

engine_config checked(engine_config c, const latency_model* latency) {
  auto errors = c.validate();
  if (latency == nullptr) errors.emplace_back("a latency model is required");
  if (!errors.empty()) {
    std::string all;
    for (const auto& e : errors) {
      if (!all.empty()) all += "; ";
      all += e;
    }
    throw std::invalid_argument("engine config: " + all);
  }
  c.kv.enable_prefix_caching = c.enable_prefix_caching;
  return c;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

engine::engine(engine_config config, std::unique_ptr<latency_model> latency)
    : config_(checked(std::move(config), latency.get())),
      latency_(std::move(latency)),
      kv_(config_.kv),
      rng_(config_.seed) {
  names_.emplace_back();
  lora_ids_.push_back(0);
  lora_running_.push_back(0);
}

engine::~engine() = default;

// -- bookkeeping ----------------------------------------------------------------------------------

engine::sequence* engine::live(seq_ref r) {
  auto& s = seqs_[r.slot];
  return s.gen == r.gen && s.state != seq_state::free ? &s : nullptr;
}

uint32_t engine::intern(const std::string& name) {
  if (auto it = name_index_.find(name); it != name_index_.end()) return it->second;
  auto index = static_cast<uint32_t>(names_.size());
  names_.push_back(name);
  name_index_.emplace(name, index);
  lora_ids_.push_back(0);
  lora_running_.push_back(0);
  return index;
}

kv_request_meta engine::meta_for(const sequence& s, bool count_stats) const {
  kv_request_meta m;
  m.hash_model = names_[s.hash_model];
  if (s.lora != 0) {
    m.lora_id = lora_ids_[s.lora];
    m.lora_name = names_[s.lora];
  }
  m.count_prefix_stats = count_stats;
  return m;
}

uint32_t engine::free_running_slots() const {
  return config_.max_num_seqs > running_count_ ? config_.max_num_seqs - running_count_ : 0;
}

void engine::lora_running_add(uint32_t lora) {
  if (lora == 0) return;
  if (lora_running_[lora]++ == 0) ++running_lora_kinds_;
}

void engine::lora_running_remove(uint32_t lora) {
  if (lora == 0) return;
  if (--lora_running_[lora] == 0) --running_lora_kinds_;
}

// Resident adapters include every running one, so a slot is free or idle exactly when fewer
// than max_loras adapters run.
bool engine::lora_admissible(uint32_t lora) const {
  return lora == 0 || lora_running_[lora] > 0 || running_lora_kinds_ < config_.max_loras;
}

int64_t engine::activate_lora(uint32_t lora) {
  if (lora == 0) return 0;
  auto touch = [](std::vector<uint32_t>& lru, std::vector<uint32_t>::iterator it) {
    std::rotate(it, it + 1, lru.end());  // most recently used last
  };
  if (auto it = std::find(gpu_loras_.begin(), gpu_loras_.end(), lora); it != gpu_loras_.end()) {
    touch(gpu_loras_, it);
    return 0;
  }
  if (gpu_loras_.size() >= config_.max_loras) {
    // lora_admissible held: some resident adapter is idle; evict the least recently used.
    auto idle = std::find_if(gpu_loras_.begin(), gpu_loras_.end(),
                             [&](uint32_t l) { return lora_running_[l] == 0; });
    gpu_loras_.erase(idle);
  }
  gpu_loras_.push_back(lora);
  ++lora_loads_;
  if (auto it = std::find(cpu_loras_.begin(), cpu_loras_.end(), lora); it != cpu_loras_.end()) {
    touch(cpu_loras_, it);
    return config_.lora_cpu_load_ns;
  }
  ++lora_disk_loads_;
  cpu_loras_.push_back(lora);
  const size_t cpu_cap = std::max(config_.max_cpu_loras, config_.max_loras);
  // The CPU cache holds every resident adapter, so it evicts the oldest one not on the GPU.
  for (auto it = cpu_loras_.begin(); cpu_loras_.size() > cpu_cap && it != cpu_loras_.end();) {
    if (std::find(gpu_loras_.begin(), gpu_loras_.end(), *it) == gpu_loras_.end())
      it = cpu_loras_.erase(it);
    else
      ++it;
  }
  return config_.lora_load_ns;
}

void engine::release(seq_ref ref) {
  auto& s = seqs_[ref.slot];
  index_.erase(s.id);
  s.state = seq_state::free;
  ++s.gen;
  s.tokens = std::vector<uint32_t>();  // a finished prompt's memory goes back at once
  free_slots_.push_back(ref.slot);
}

void engine::compact_running() {
  running_stale_ = 0;
  running_.erase(std::remove_if(running_.begin(), running_.end(),
                                [&](seq_ref r) {
                                  auto* s = live(r);
                                  return s == nullptr || s->state != seq_state::running;
                                }),
                 running_.end());
}

// -- submission -----------------------------------------------------------------------------------

submit_status engine::submit(sequence_spec spec) {
  if (spec.prompt.empty() || spec.output_tokens == 0) return submit_status::invalid;
  if (!spec.output_token_ids.empty() && spec.output_token_ids.size() != spec.output_tokens)
    return submit_status::invalid;
  if (index_.count(spec.id)) return submit_status::duplicate_id;
  const uint64_t prompt_len = spec.prompt.size();
  const uint64_t total = prompt_len + spec.output_tokens;
  if (total > config_.max_model_len) return submit_status::too_long;
  // The most a sequence ever holds: every token but the last generated one has KV.
  const uint64_t max_kv_tokens = total - 1;
  if (!config_.enable_chunked_prefill && max_kv_tokens > config_.max_num_batched_tokens)
    return submit_status::too_long;  // a recompute after preemption must fit one step
  if (kv_.blocks_for(max_kv_tokens) > kv_.num_blocks()) return submit_status::exceeds_kv_cache;
  if (config_.max_waiting > 0 &&
      static_cast<uint64_t>(waiting_count_) >=
          static_cast<uint64_t>(config_.max_waiting) + free_running_slots())
    return submit_status::queue_full;

  uint32_t slot = 0;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(seqs_.size());
    seqs_.emplace_back();
  }
  auto& s = seqs_[slot];
  const uint32_t gen = s.gen;
  s = sequence{};
  s.gen = gen;
  s.id = spec.id;
  s.state = seq_state::waiting;
  s.prompt_len = static_cast<uint32_t>(prompt_len);
  s.output_len = spec.output_tokens;
  s.tokens = std::move(spec.prompt);
  s.tokens.reserve(total);
  if (!spec.output_token_ids.empty()) {
    s.tokens.insert(s.tokens.end(), spec.output_token_ids.begin(), spec.output_token_ids.end());
  } else {
    // Greedy decoding is deterministic: derive the output from the prompt.
    uint64_t h = 14695981039346656037ull;
    for (uint32_t i = 0; i < s.prompt_len; ++i)
      h = (h ^ s.tokens[i]) * 1099511628211ull;
    for (uint32_t i = 0; i < spec.output_tokens; ++i)
      s.tokens.push_back(static_cast<uint32_t>(splitmix64(h + i) >> 32));
  }
  if (spec.lora.empty()) {
    s.hash_model = intern(spec.model);
  } else {
    s.lora = s.hash_model = intern(spec.lora);
    if (lora_ids_[s.lora] == 0) lora_ids_[s.lora] = next_lora_id_++;
  }
  s.arrival_ns = spec.arrival_ns;
  s.remote_prefill = spec.remote_prefill;

  index_.emplace(s.id, slot);
  waiting_.push_back(seq_ref{slot, s.gen});
  ++waiting_count_;
  in_flight_tokens_ += prompt_len;
  return submit_status::accepted;
}

bool engine::cancel(uint64_t id) {
  auto it = index_.find(id);
  if (it == index_.end()) return false;
  const uint32_t slot = it->second;
  auto& s = seqs_[slot];
  if (s.state == seq_state::running) {
    --running_count_;
    ++running_stale_;
    lora_running_remove(s.lora);
  } else {
    --waiting_count_;
  }
  kv_.free(s.id);
  in_flight_tokens_ -= s.known();
  release(seq_ref{slot, s.gen});
  return true;
}

// -- steps ----------------------------------------------------------------------------------------

bool engine::set_latency(std::unique_ptr<latency_model> latency) {
  if (!latency) return false;
  if (in_step_ && latency->mode() != latency_->mode()) return false;
  latency_ = std::move(latency);
  return true;
}

step_plan engine::begin_step(int64_t now_ns) {
  if (in_step_) throw std::logic_error("engine: begin_step before the previous end_step");
  in_step_ = true;
  step_start_ns_ = now_ns;
  ++steps_;
  batch_.clear();
  started_only_.clear();
  // Per-step planning walks running_ and needs it compact (that walk is O(running) anyway);
  // per-request steps may touch few sequences, so compaction is amortized there.
  if (latency_->mode() == timing::per_step || running_stale_ * 2 > running_.size())
    compact_running();
  step_plan plan;
  plan.start_ns = now_ns;
  step_load_ns_ = 0;
  if (latency_->mode() == timing::per_step)
    plan_per_step(now_ns, plan);
  else
    plan_per_request(now_ns, plan);
  return plan;
}

step_outputs engine::end_step(int64_t now_ns) {
  if (!in_step_) throw std::logic_error("engine: end_step without begin_step");
  in_step_ = false;
  step_outputs out;
  out.now_ns = now_ns;
  out.sequences.reserve(batch_.size() + started_only_.size());
  if (latency_->mode() == timing::per_step)
    end_per_step(now_ns, out);
  else
    end_per_request(now_ns, out);
  // Admitted without computing this step (a KV transfer started, or a per-request sequence not
  // yet due): report the start.
  for (seq_ref ref : started_only_) {
    auto* s = live(ref);
    if (s == nullptr || !s->report_start) continue;
    s->report_start = false;
    sequence_output o;
    o.id = s->id;
    o.generated = s->generated;
    o.started = true;
    o.cached_tokens = s->cached_tokens;
    o.queue_ns = step_start_ns_ - s->arrival_ns;
    out.sequences.push_back(o);
  }
  batch_.clear();
  started_only_.clear();
  return out;
}

void engine::mark_admitted(sequence& s, seq_ref ref, uint32_t cached_tokens) {
  if (s.admitted_once) return;
  s.admitted_once = true;
  s.report_start = true;
  s.cached_tokens = cached_tokens;
  started_only_.push_back(ref);  // reported there unless the batch reports it first
}

void engine::schedule(sequence& s, seq_ref ref, uint32_t num_tokens, step_plan& plan) {
  s.scheduled = num_tokens;
  batch_.push_back(ref);
  const uint32_t context = s.computed + num_tokens;
  // Decode: the step computes only the last sampled token.
  const bool decode = s.generated > 0 && num_tokens == 1 && context == s.known();
  plan.sequences.push_back(scheduled_sequence{s.id, num_tokens, context, !decode});
  if (decode) {
    ++plan.batch.decode_seqs;
  } else {
    ++plan.batch.prefill_seqs;
    plan.batch.prefill_tokens += num_tokens;
    // Each new token attends to everything computed before it and to itself.
    const uint64_t n = num_tokens;
    plan.batch.prefill_pairs += n * s.computed + n * (n + 1) / 2;
  }
  plan.batch.kv_tokens += context;
}

bool engine::pop_running_victim(seq_ref& victim) {
  while (!running_.empty()) {
    seq_ref r = running_.back();
    running_.pop_back();
    auto* s = live(r);
    if (s != nullptr && s->state == seq_state::running) {
      victim = r;
      return true;
    }
    if (running_stale_ > 0) --running_stale_;
  }
  return false;
}

void engine::preempt(seq_ref ref, step_plan* plan) {
  auto& s = seqs_[ref.slot];
  // Recompute mode: the KV is dropped; full blocks stay cached and may be hit on resumption.
  kv_.free(s.id);
  s.computed = 0;
  s.scheduled = 0;
  s.state = seq_state::waiting;
  s.remote_prefill = false;  // a preempted P/D request recomputes its prompt locally
  s.transfer_started = false;
  --running_count_;
  ++waiting_count_;
  lora_running_remove(s.lora);
  waiting_.push_front(ref);
  ++preemptions_;
  if (plan != nullptr) plan->preempted.push_back(s.id);
}

void engine::emit_token(sequence& s, seq_ref ref, sequence_output& o) {
  const uint32_t token = s.tokens[s.prompt_len + s.generated];
  ++s.generated;
  ++in_flight_tokens_;
  o.new_tokens = 1;
  o.token_id = token;
  o.first_token = s.generated == 1;
  o.generated = s.generated;
  if (s.generated < s.output_len) return;
  o.finished = true;
  kv_.free(s.id);
  --running_count_;
  ++running_stale_;
  lora_running_remove(s.lora);
  in_flight_tokens_ -= s.known();
  ++finished_;
  release(ref);
}

// Waiting requests in FIFO order (vLLM V1's scheduler): LoRA-blocked ones are skipped and keep
// their place; a request that does not get KV blocks stops admission, except that requests whose
// transferred KV has arrived (they need no new blocks) may still start, so blocks held by
// transfers can never starve the queue.
void engine::admit_waiting(int64_t now, uint32_t& budget, step_plan& plan) {
  auto& skipped = skipped_scratch_;
  skipped.clear();
  bool kv_blocked = false;
  const uint32_t bs = kv_.block_size();
  while (!waiting_.empty() && budget > 0 && running_count_ < config_.max_num_seqs) {
    const seq_ref ref = waiting_.front();
    waiting_.pop_front();
    auto* sp = live(ref);
    if (sp == nullptr || sp->state != seq_state::waiting) continue;  // cancelled
    auto& s = *sp;
    const bool transfer_done = s.transfer_started && s.ready_ns <= now;
    if ((s.transfer_started && !transfer_done) || (kv_blocked && !transfer_done) ||
        !lora_admissible(s.lora)) {
      skipped.push_back(ref);
      continue;
    }
    std::span<const uint32_t> known(s.tokens.data(), s.known());

    if (s.remote_prefill && !s.transfer_started) {
      // P/D: blocks for the whole prompt now; its KV arrives after the transfer time.
      auto match = kv_.find_cached_prefix(known, names_[s.hash_model]);
      const uint32_t cached = match.num_blocks() * bs;
      if (!kv_.allocate(s.id, known, s.prompt_len, meta_for(s, !s.admitted_once), &match)) {
        kv_blocked = true;
        skipped.push_back(ref);
        if (!transfer_ready(now)) break;  // nothing further back could start
        continue;
      }
      s.transfer_started = true;
      s.computed = s.prompt_len - 1;  // the last prompt token is computed here
      s.ready_ns = now + latency_->kv_transfer_ns(s.prompt_len, cached, rng_);
      transfers_.push(due_entry{s.ready_ns, ref.slot, ref.gen, s.epoch});
      mark_admitted(s, ref, cached);
      skipped.push_back(ref);
      continue;
    }

    uint32_t num_new = 0;
    if (transfer_done) {
      num_new = std::min(s.known() - s.computed, budget);
      if (!kv_.append_slots(s.id, known, s.computed + num_new)) {
        skipped.push_back(ref);
        continue;
      }
    } else {
      auto match = kv_.find_cached_prefix(known, names_[s.hash_model]);
      const uint32_t cached = match.num_blocks() * bs;
      num_new = s.known() - cached;
      if (!config_.enable_chunked_prefill && num_new > budget) {
        skipped.push_back(ref);  // the whole prefill must fit one step: wait for one
        break;
      }
      num_new = std::min(num_new, budget);
      if (!kv_.allocate(s.id, known, cached + num_new, meta_for(s, !s.admitted_once), &match)) {
        kv_blocked = true;
        skipped.push_back(ref);
        if (!transfer_ready(now)) break;  // nothing further back could start
        continue;
      }
      s.computed = cached;
      mark_admitted(s, ref, cached);
    }

    s.state = seq_state::running;
    --waiting_count_;
    ++running_count_;
    step_load_ns_ += activate_lora(s.lora);
    lora_running_add(s.lora);
    running_.push_back(ref);
    ++s.epoch;
    schedule(s, ref, num_new, plan);
    budget -= num_new;
  }
  for (auto it = skipped.rbegin(); it != skipped.rend(); ++it)
    waiting_.push_front(*it);
}

void engine::plan_per_step(int64_t now, step_plan& plan) {
  uint32_t budget = config_.max_num_batched_tokens;
  bool preempted_any = false;
  // Running sequences first, oldest first: a decode token each, or their next prefill chunk.
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    const seq_ref ref = running_[i];
    auto& s = seqs_[ref.slot];
    const uint32_t num_new = std::min(s.known() - s.computed, budget);
    std::span<const uint32_t> known(s.tokens.data(), s.known());
    bool preempted_self = false;
    while (!kv_.append_slots(s.id, known, s.computed + num_new)) {
      // Out of blocks: evict the most recently admitted sequence (possibly this one).
      seq_ref victim;
      if (!pop_running_victim(victim)) break;
      preempt(victim, &plan);
      preempted_any = true;
      if (victim.slot == ref.slot) {
        preempted_self = true;
        break;
      }
    }
    if (preempted_self) break;
    schedule(s, ref, num_new, plan);
    budget -= num_new;
  }
  // As vLLM: no new admissions in a step that had to preempt.
  if (!preempted_any) admit_waiting(now, budget, plan);

  if (!plan.batch.empty()) {
    // vLLM swaps the batch's adapters in before the forward pass.
    plan.duration_ns = latency_->step_ns(plan.batch, rng_) + step_load_ns_;
    return;
  }
  // Nothing to compute: wait for the earliest KV transfer, if any.
  plan.idle = true;
  if (const auto* t = next_transfer()) plan.duration_ns = std::max<int64_t>(0, t->due - now);
}

const engine::due_entry* engine::next_transfer() {
  while (!transfers_.empty()) {
    const auto& t = transfers_.top();
    auto* s = live(seq_ref{t.slot, t.gen});
    if (s != nullptr && s->state == seq_state::waiting && s->transfer_started &&
        s->ready_ns == t.due)
      return &t;
    transfers_.pop();  // admitted, preempted or cancelled since
  }
  return nullptr;
}

bool engine::transfer_ready(int64_t now) {
  const auto* t = next_transfer();
  return t != nullptr && t->due <= now;
}

void engine::end_per_step(int64_t, step_outputs& out) {
  for (seq_ref ref : batch_) {
    auto* sp = live(ref);
    if (sp == nullptr || sp->state != seq_state::running) continue;  // cancelled meanwhile
    auto& s = *sp;
    sequence_output o;
    o.id = s.id;
    s.computed += s.scheduled;
    s.scheduled = 0;
    if (s.report_start) {
      s.report_start = false;
      o.started = true;
      o.cached_tokens = s.cached_tokens;
      o.queue_ns = step_start_ns_ - s.arrival_ns;
    }
    o.generated = s.generated;
    // The step computed every known token: the model samples the next one.
    if (s.computed == s.known()) emit_token(s, ref, o);
    out.sequences.push_back(o);
  }
}

void engine::plan_per_request(int64_t now, step_plan& plan) {
  plan.interruptible = true;
  auto& skipped = skipped_scratch_;
  skipped.clear();
  // Admission: as the simulator's workers, FIFO up to max_num_seqs, LoRA-aware; the prefill is
  // part of the TTFT, so all known tokens get their KV now.
  while (!waiting_.empty() && running_count_ < config_.max_num_seqs) {
    const seq_ref ref = waiting_.front();
    waiting_.pop_front();
    auto* sp = live(ref);
    if (sp == nullptr || sp->state != seq_state::waiting) continue;
    auto& s = *sp;
    if (!lora_admissible(s.lora)) {
      skipped.push_back(ref);
      continue;
    }
    std::span<const uint32_t> known(s.tokens.data(), s.known());
    auto match = kv_.find_cached_prefix(known, names_[s.hash_model]);
    const uint32_t cached = match.num_blocks() * kv_.block_size();
    if (!kv_.allocate(s.id, known, s.known(), meta_for(s, !s.admitted_once), &match)) {
      skipped.push_back(ref);
      break;
    }
    s.computed = s.known();
    s.state = seq_state::running;
    --waiting_count_;
    ++running_count_;
    step_load_ns_ += activate_lora(s.lora);  // swaps are serial: later ones wait for earlier
    lora_running_add(s.lora);
    running_.push_back(ref);
    ++s.epoch;
    mark_admitted(s, ref, cached);
    first_token_query q;
    q.prompt_tokens = s.known();
    q.cached_tokens = cached;
    q.running = running_count_;
    q.max_num_seqs = config_.max_num_seqs;
    q.remote_prefill = s.remote_prefill;
    s.ready_ns = now + step_load_ns_ + latency_->first_token_ns(q, rng_);
    due_.push(due_entry{s.ready_ns, ref.slot, ref.gen, s.epoch});
  }
  for (auto it = skipped.rbegin(); it != skipped.rend(); ++it)
    waiting_.push_front(*it);

  // The step lasts until the earliest due token; it carries every token due by then.
  auto valid = [&](const due_entry& e) {
    auto* s = live(seq_ref{e.slot, e.gen});
    return s != nullptr && s->state == seq_state::running && s->epoch == e.epoch &&
           s->ready_ns == e.due;
  };
  while (!due_.empty() && !valid(due_.top()))
    due_.pop();
  if (due_.empty()) {
    plan.idle = true;
    return;
  }
  const int64_t end = std::max(now, due_.top().due);
  while (!due_.empty() && due_.top().due <= end) {
    const due_entry e = due_.top();
    due_.pop();
    if (!valid(e)) continue;
    const seq_ref ref{e.slot, e.gen};
    auto& s = seqs_[ref.slot];
    batch_.push_back(ref);
    const bool first = s.generated == 0;
    plan.sequences.push_back(scheduled_sequence{s.id, 1, s.known(), first});
    if (first) {
      ++plan.batch.prefill_seqs;
      plan.batch.prefill_tokens += s.known();
    } else {
      ++plan.batch.decode_seqs;
    }
    plan.batch.kv_tokens += s.known();
  }
  plan.duration_ns = end - now;
}

void engine::end_per_request(int64_t now, step_outputs& out) {
  for (seq_ref ref : batch_) {
    auto* sp = live(ref);
    if (sp == nullptr || sp->state != seq_state::running) continue;
    auto& s = *sp;
    if (s.ready_ns > now) {
      // The step was cut short: not due yet.
      due_.push(due_entry{s.ready_ns, ref.slot, ref.gen, s.epoch});
      continue;
    }
    sequence_output o;
    o.id = s.id;
    if (s.report_start) {
      s.report_start = false;
      o.started = true;
      o.cached_tokens = s.cached_tokens;
      o.queue_ns = step_start_ns_ - s.arrival_ns;
    }
    const int64_t due = s.ready_ns;
    emit_token(s, ref, o);
    if (!o.finished) {
      // The next token needs the KV of the one just emitted.
      std::span<const uint32_t> known(s.tokens.data(), s.known());
      bool keep = true;
      while (!kv_.append_slots(s.id, known, s.known())) {
        seq_ref victim;
        if (!pop_running_victim(victim)) break;
        preempt(victim, nullptr);
        if (victim.slot == ref.slot) {
          keep = false;
          break;
        }
      }
      if (keep) {
        s.computed = s.known();
        s.ready_ns = due + latency_->next_token_ns(running_count_, config_.max_num_seqs, rng_);
        due_.push(due_entry{s.ready_ns, ref.slot, ref.gen, s.epoch});
      }
    }
    out.sequences.push_back(o);
  }
}

// -- observation ----------------------------------------------------------------------------------

engine_snapshot engine::snapshot() const {
  engine_snapshot s;
  s.running = running_count_;
  s.waiting = waiting_count_;
  s.kv_usage = kv_.usage();
  s.in_flight_tokens = in_flight_tokens_;
  s.prefix_cache_queries = kv_.prefix_queries();
  s.prefix_cache_hits = kv_.prefix_hits();
  s.preemptions = preemptions_;
  s.steps = steps_;
  s.finished = finished_;
  s.num_gpu_blocks = kv_.num_blocks();
  s.used_blocks = kv_.num_used_blocks();
  s.cached_blocks = kv_.num_cached_blocks();
  s.lora_loads = lora_loads_;
  s.lora_disk_loads = lora_disk_loads_;
  return s;
}

lora_state engine::loras() const {
  lora_state out;
  for (uint32_t i = 1; i < names_.size(); ++i)
    if (lora_running_[i] > 0) out.running.push_back(names_[i]);
  std::vector<bool> seen(names_.size(), false);
  for (seq_ref r : waiting_) {
    const auto& s = seqs_[r.slot];
    if (s.gen != r.gen || s.state != seq_state::waiting || s.lora == 0 || seen[s.lora]) continue;
    seen[s.lora] = true;
    out.waiting.push_back(names_[s.lora]);
  }
  auto sorted_names = [&](const std::vector<uint32_t>& ids) {
    std::vector<std::string> v;
    for (uint32_t i : ids)
      v.push_back(names_[i]);
    std::sort(v.begin(), v.end());
    return v;
  };
  out.resident = sorted_names(gpu_loras_);
  out.cpu = sorted_names(cpu_loras_);
  return out;
}

}  // namespace inferstack::actors::pod::engine
