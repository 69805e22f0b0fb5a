#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "actors/pod/engine/engine.hpp"

using namespace inferstack::actors::pod::engine;
using inferstack::runtime::block_removed;
using inferstack::runtime::block_stored;
using inferstack::runtime::kv_event;

namespace {

constexpr int64_t ms = 1'000'000;

std::string profiles_dir() {
  return std::string(INFERSTACK_SOURCE_DIR) + "/config/profiles";
}

std::unique_ptr<latency_model> step_model(const std::string& name, double jitter = 0) {
  auto p = load_named_step_profile(profiles_dir(), name);
  p.jitter = jitter;
  return std::make_unique<step_latency_model>(p);
}

std::unique_ptr<latency_model> sim_model(sim_latency_params p) {
  return std::make_unique<sim_latency_model>(sim_latency(p));
}

std::vector<uint32_t> prompt_of(uint32_t n, uint32_t seed) {
  std::vector<uint32_t> t(n);
  for (uint32_t i = 0; i < n; ++i)
    t[i] = seed * 100000 + i;
  return t;
}

std::vector<uint32_t> expected_output(uint64_t id, uint32_t n) {
  std::vector<uint32_t> t(n);
  for (uint32_t i = 0; i < n; ++i)
    t[i] = static_cast<uint32_t>(id * 1000 + i);
  return t;
}

sequence_spec request(uint64_t id, std::vector<uint32_t> prompt, uint32_t output,
                      int64_t arrival = 0, std::string lora = "") {
  sequence_spec s;
  s.id = id;
  s.prompt = std::move(prompt);
  s.output_tokens = output;
  s.output_token_ids = expected_output(id, output);
  s.model = "test-model";
  s.lora = std::move(lora);
  s.arrival_ns = arrival;
  return s;
}

// What a run produced, per sequence.
struct trace {
  std::map<uint64_t, std::vector<uint32_t>> tokens;
  std::map<uint64_t, std::vector<int64_t>> token_times;
  std::map<uint64_t, int64_t> arrival;
  std::map<uint64_t, sequence_output> started;
  std::map<uint64_t, int> first_flags;
  std::set<uint64_t> finished;
  std::vector<kv_event> events;
  std::vector<step_plan> plans;
  uint32_t max_running = 0;
  uint32_t max_distinct_loras = 0;
  uint64_t steps = 0;

  int64_t ttft(uint64_t id) const { return token_times.at(id).front() - arrival.at(id); }
  int64_t itl(uint64_t id, size_t k) const {
    const auto& t = token_times.at(id);
    return t.at(k + 1) - t.at(k);
  }
};

// Drives an engine in virtual time: submits each request at its arrival, runs steps back to back
// and, for per-request models, cuts a step short when a request arrives during it.
class driver {
 public:
  explicit driver(engine& e) : engine_(e) {}

  void add(sequence_spec spec) {
    result_.arrival[spec.id] = spec.arrival_ns;
    pending_.insert({spec.arrival_ns, pending_.size()});
    specs_.push_back(std::move(spec));
  }

  trace run(bool keep_plans = true, uint64_t max_steps = 1'000'000) {
    while (true) {
      while (!pending_.empty() && pending_.begin()->first <= now_) {
        auto& spec = specs_[pending_.begin()->second];
        pending_.erase(pending_.begin());
        REQUIRE(engine_.submit(std::move(spec)) == submit_status::accepted);
      }
      if (!engine_.has_work()) {
        if (pending_.empty()) break;
        now_ = pending_.begin()->first;
        continue;
      }
      REQUIRE(result_.steps < max_steps);
      ++result_.steps;
      auto plan = engine_.begin_step(now_);
      auto snap = engine_.snapshot();
      result_.max_running = std::max(result_.max_running, snap.running);
      result_.max_distinct_loras = std::max(result_.max_distinct_loras,
                                            static_cast<uint32_t>(engine_.loras().running.size()));
      int64_t end = plan.end_ns();
      if (plan.interruptible && !pending_.empty() && pending_.begin()->first < end)
        end = std::max(now_, pending_.begin()->first);
      auto out = engine_.end_step(end);
      now_ = end;
      for (const auto& o : out.sequences) {
        if (o.started) {
          CHECK_FALSE(result_.started.count(o.id));
          result_.started[o.id] = o;
        }
        if (o.new_tokens == 1) {
          result_.tokens[o.id].push_back(o.token_id);
          result_.token_times[o.id].push_back(now_);
          CHECK(o.generated == result_.tokens[o.id].size());
        }
        if (o.first_token) ++result_.first_flags[o.id];
        if (o.finished) CHECK(result_.finished.insert(o.id).second);
      }
      for (auto& e : engine_.drain_kv_events())
        result_.events.push_back(std::move(e));
      if (keep_plans) result_.plans.push_back(std::move(plan));
    }
    return std::move(result_);
  }

  int64_t now() const { return now_; }

 private:
  engine& engine_;
  int64_t now_ = 0;
  std::multimap<int64_t, size_t> pending_;
  std::vector<sequence_spec> specs_;
  trace result_;
};

// Stored before removed for every key, never stored twice while held, never removed unknown.
void check_event_order(const std::vector<kv_event>& events) {
  std::set<uint64_t> held;
  size_t stored = 0, removed = 0;
  for (const auto& e : events) {
    if (const auto* s = std::get_if<block_stored>(&e)) {
      for (uint64_t h : s->block_hashes) {
        CHECK(held.insert(h).second);
        ++stored;
      }
    } else if (const auto* r = std::get_if<block_removed>(&e)) {
      for (uint64_t h : r->block_hashes) {
        CHECK(held.erase(h) == 1);
        ++removed;
      }
    } else {
      held.clear();
    }
  }
  CHECK(stored >= removed);
}

void check_all_complete(const trace& t, const std::map<uint64_t, uint32_t>& outputs) {
  CHECK(t.finished.size() == outputs.size());
  for (const auto& [id, n] : outputs) {
    INFO("sequence " << id);
    CHECK(t.finished.count(id));
    CHECK(t.tokens.at(id) == expected_output(id, n));  // exactly its tokens, in order, once
    CHECK(t.first_flags.at(id) == 1);
    CHECK(t.started.count(id));
  }
}

engine_config base_config() {
  engine_config c;
  c.kv.num_gpu_blocks = 4096;
  c.seed = 1;
  return c;
}

}  // namespace

// -- admission ------------------------------------------------------------------------------------

TEST_CASE("submit rejects what vLLM rejects") {
  auto c = base_config();
  c.max_model_len = 200;
  c.kv.num_gpu_blocks = 8;  // 128 tokens of KV
  engine e(c, step_model("zero"));
  CHECK(e.submit(request(1, prompt_of(150, 1), 51)) == submit_status::too_long);
  CHECK(e.submit(request(1, prompt_of(100, 1), 29)) == submit_status::accepted);  // 128 slots
  CHECK(e.submit(request(2, prompt_of(100, 1), 30)) == submit_status::exceeds_kv_cache);
  CHECK(e.submit(request(1, prompt_of(10, 1), 5)) == submit_status::duplicate_id);
  CHECK(e.submit(request(3, {}, 5)) == submit_status::invalid);
  CHECK(e.submit(request(3, prompt_of(10, 1), 0)) == submit_status::invalid);
  auto wrong = request(3, prompt_of(10, 1), 5);
  wrong.output_token_ids.pop_back();
  CHECK(e.submit(wrong) == submit_status::invalid);
  CHECK(to_string(submit_status::queue_full) == "queue_full");

  auto strict = base_config();
  strict.enable_chunked_prefill = false;
  strict.max_num_batched_tokens = 64;
  engine no_chunks(strict, step_model("zero"));
  CHECK(no_chunks.submit(request(1, prompt_of(65, 1), 1)) == submit_status::too_long);
  CHECK(no_chunks.submit(request(2, prompt_of(60, 1), 5)) == submit_status::accepted);
  CHECK(no_chunks.submit(request(3, prompt_of(60, 1), 6)) == submit_status::too_long);
}

TEST_CASE("the waiting queue holds max_waiting beyond the free running slots") {
  auto c = base_config();
  c.max_num_seqs = 2;
  c.max_waiting = 3;
  engine e(c, step_model("zero"));
  for (uint64_t id = 1; id <= 5; ++id)
    CHECK(e.submit(request(id, prompt_of(8, id), 2)) == submit_status::accepted);
  CHECK(e.submit(request(6, prompt_of(8, 6), 2)) == submit_status::queue_full);
  e.begin_step(0);
  CHECK(e.snapshot().running == 2);
  CHECK(e.snapshot().waiting == 3);
  CHECK(e.submit(request(6, prompt_of(8, 6), 2)) == submit_status::queue_full);
  e.end_step(0);
  // Two steps finish the two running ones (prefill+token 1, then token 2).
  e.begin_step(0);
  e.end_step(0);
  CHECK(e.snapshot().running == 0);
  CHECK(e.submit(request(6, prompt_of(8, 6), 2)) == submit_status::accepted);

  auto unlimited = c;
  unlimited.max_waiting = 0;
  engine u(unlimited, step_model("zero"));
  for (uint64_t id = 1; id <= 5000; ++id)
    REQUIRE(u.submit(request(id, prompt_of(4, 1), 1)) == submit_status::accepted);
}

TEST_CASE("engine config is validated") {
  auto c = base_config();
  c.max_num_seqs = 0;
  CHECK_THROWS_AS(engine(c, step_model("zero")), std::invalid_argument);
  CHECK_THROWS_AS(engine(base_config(), nullptr), std::invalid_argument);
  CHECK(base_config().validate().empty());
}

// -- timing with the step model -------------------------------------------------------------------

TEST_CASE("a lone request: TTFT is one prefill step, then one token per decode step") {
  engine e(base_config(), step_model("8b-h100"));
  driver d(e);
  d.add(request(1, prompt_of(1000, 1), 5));
  auto t = d.run();
  check_all_complete(t, {{1, 5}});
  // 30 ms + 0.25 ms per prompt token (+75 ns attention per token).
  CHECK(static_cast<double>(t.ttft(1)) == Approx(280.0 * ms).epsilon(0.001));
  for (size_t k = 0; k < 4; ++k)
    CHECK(static_cast<double>(t.itl(1, k)) == Approx(11.93 * ms).epsilon(0.01));
  CHECK(t.started.at(1).cached_tokens == 0);
  CHECK(t.started.at(1).queue_ns == 0);
  REQUIRE(t.plans.size() == 5);
  CHECK(t.plans[0].batch.prefill_tokens == 1000);
  CHECK(t.plans[1].batch.decode_seqs == 1);
  CHECK(t.plans[1].batch.kv_tokens == 1001);
}

TEST_CASE("TTFT grows with queue depth") {
  auto c = base_config();
  c.max_num_seqs = 2;
  engine e(c, step_model("8b-h100"));
  driver d(e);
  for (uint64_t id = 1; id <= 8; ++id)
    d.add(request(id, prompt_of(200, static_cast<uint32_t>(id)), 20));
  auto t = d.run();
  std::map<uint64_t, uint32_t> outputs;
  for (uint64_t id = 1; id <= 8; ++id)
    outputs[id] = 20;
  check_all_complete(t, outputs);
  CHECK(t.max_running == 2);
  // Each pair waits for the pairs before it.
  for (uint64_t id = 3; id <= 8; ++id)
    CHECK(t.ttft(id) > t.ttft(id - 2));
  CHECK(t.ttft(8) > 3 * t.ttft(1));
  CHECK(t.started.at(8).queue_ns > t.started.at(4).queue_ns);
  CHECK(t.started.at(1).queue_ns == 0);
}

TEST_CASE("TTFT and ITL grow with batch size") {
  auto run_batch = [](uint32_t n) {
    engine e(base_config(), step_model("8b-h100"));
    driver d(e);
    for (uint64_t id = 1; id <= n; ++id)
      d.add(request(id, prompt_of(100, static_cast<uint32_t>(id)), 10));
    auto t = d.run();
    std::map<uint64_t, uint32_t> outputs;
    for (uint64_t id = 1; id <= n; ++id)
      outputs[id] = 10;
    check_all_complete(t, outputs);
    return t;
  };
  auto one = run_batch(1), eight = run_batch(8), many = run_batch(64);
  CHECK(one.ttft(1) < eight.ttft(1));
  CHECK(eight.ttft(1) < many.ttft(1));
  CHECK(one.itl(1, 3) < eight.itl(1, 3));
  CHECK(eight.itl(1, 3) < many.itl(1, 3));
  // 64 sequences of ~100-token contexts: 11.8 + 64 * 0.05 + 64 * 105 * 75 ns ms.
  CHECK(static_cast<double>(many.itl(1, 3)) == Approx(15.5 * ms).epsilon(0.01));
}

TEST_CASE("a repeated prompt hits the prefix cache: lower TTFT, cached tokens = full blocks") {
  engine e(base_config(), step_model("8b-h100"));
  driver d(e);
  d.add(request(1, prompt_of(100, 7), 4));
  d.add(request(2, prompt_of(100, 7), 4, 10 * 1000 * ms));  // long after the first is done
  d.add(request(3, prompt_of(64, 9), 2, 0));
  d.add(request(4, prompt_of(64, 9), 2, 10 * 1000 * ms));
  auto t = d.run();
  check_all_complete(t, {{1, 4}, {2, 4}, {3, 2}, {4, 2}});
  CHECK(t.started.at(1).cached_tokens == 0);
  CHECK(t.started.at(2).cached_tokens == 96);  // 6 full blocks of 16
  CHECK(t.ttft(2) < t.ttft(1));
  // 64 tokens are 4 full blocks, but the last token is always recomputed: 3 blocks.
  CHECK(t.started.at(4).cached_tokens == 48);
  auto snap = e.snapshot();
  CHECK(snap.prefix_cache_queries == 100 + 100 + 64 + 64);
  CHECK(snap.prefix_cache_hits == 96 + 48);
  CHECK(snap.in_flight_tokens == 0);
  CHECK(snap.running == 0);
  CHECK(snap.waiting == 0);
  CHECK(snap.kv_usage == 0);
  check_event_order(t.events);
}

TEST_CASE("chunked prefill respects max_num_batched_tokens") {
  auto c = base_config();
  c.max_num_batched_tokens = 64;
  engine e(c, step_model("8b-h100"));
  driver d(e);
  d.add(request(1, prompt_of(200, 1), 5));
  d.add(request(2, prompt_of(50, 2), 5));
  d.add(request(3, prompt_of(10, 3), 5, 100 * ms));
  auto t = d.run();
  check_all_complete(t, {{1, 5}, {2, 5}, {3, 5}});
  uint32_t chunked_steps = 0;
  for (const auto& p : t.plans) {
    uint32_t total = 0;
    for (const auto& s : p.sequences)
      total += s.num_tokens;
    CHECK(total <= 64);
    CHECK(total == p.batch.prefill_tokens + p.batch.decode_seqs);
    if (p.batch.prefill_tokens == 64) ++chunked_steps;
  }
  CHECK(chunked_steps >= 3);
  // 200 tokens in chunks of at most 64: the first token comes with the fourth chunk.
  CHECK(t.plans[0].sequences.size() == 1);
  CHECK(t.plans[0].sequences[0].num_tokens == 64);
  CHECK(t.token_times.at(1).front() == t.plans[3].end_ns());
}

TEST_CASE("chunked prefill attends to the earlier chunks: causal pairs add up to the prompt's") {
  auto c = base_config();
  c.max_num_batched_tokens = 64;
  engine e(c, step_model("8b-h100"));
  driver d(e);
  d.add(request(1, prompt_of(200, 1), 2));
  auto t = d.run();
  check_all_complete(t, {{1, 2}});
  // Chunks of 64, 64, 64, 8: chunk k's n tokens follow c computed ones, n*c + n(n+1)/2 pairs.
  REQUIRE(t.plans.size() >= 4);
  CHECK(t.plans[0].batch.prefill_pairs == 64 * 65 / 2);
  CHECK(t.plans[1].batch.prefill_pairs == 64 * 64 + 64 * 65 / 2);
  uint64_t pairs = 0;
  for (const auto& p : t.plans)
    pairs += p.batch.prefill_pairs;
  CHECK(pairs == 200 * 201 / 2);  // decode steps add none
}

TEST_CASE("without chunked prefill a prompt waits for a step it fits in whole") {
  auto c = base_config();
  c.enable_chunked_prefill = false;
  c.max_num_batched_tokens = 100;
  engine e(c, step_model("zero"));
  driver d(e);
  d.add(request(1, prompt_of(60, 1), 3));
  d.add(request(2, prompt_of(60, 2), 3));
  auto t = d.run();
  check_all_complete(t, {{1, 3}, {2, 3}});
  for (const auto& p : t.plans)
    for (const auto& s : p.sequences)
      if (s.prefill) CHECK(s.num_tokens == 60);
  CHECK(t.plans[0].sequences.size() == 1);
}

TEST_CASE("the running set never exceeds max_num_seqs") {
  auto c = base_config();
  c.max_num_seqs = 5;
  engine e(c, step_model("small-l40s", 0.05));
  driver d(e);
  std::map<uint64_t, uint32_t> outputs;
  for (uint64_t id = 1; id <= 40; ++id) {
    outputs[id] = 3 + static_cast<uint32_t>(id % 7);
    d.add(request(id, prompt_of(20 + static_cast<uint32_t>(id), 1), outputs[id],
                  static_cast<int64_t>(id) * 7 * ms));
  }
  auto t = d.run();
  check_all_complete(t, outputs);
  CHECK(t.max_running == 5);
  for (const auto& p : t.plans)
    CHECK(p.sequences.size() <= 5);
}

// -- KV pressure ----------------------------------------------------------------------------------

TEST_CASE("a KV cache smaller than the working set evicts and preempts, yet all complete") {
  auto c = base_config();
  c.kv.num_gpu_blocks = 40;  // 640 tokens for a working set of ~3000
  engine e(c, step_model("8b-h100", 0.05));
  driver d(e);
  std::map<uint64_t, uint32_t> outputs;
  for (uint64_t id = 1; id <= 20; ++id) {
    outputs[id] = 50;
    // Two prompt families so prefixes are shared, hit and evicted.
    d.add(request(id, prompt_of(100, static_cast<uint32_t>(id % 2)), 50,
                  static_cast<int64_t>(id) * ms));
  }
  auto t = d.run();
  check_all_complete(t, outputs);
  auto snap = e.snapshot();
  CHECK(snap.preemptions > 0);
  CHECK(snap.running == 0);
  CHECK(snap.used_blocks == 0);
  size_t removals = 0;
  for (const auto& ev : t.events)
    if (std::holds_alternative<block_removed>(ev)) ++removals;
  CHECK(removals > 0);
  check_event_order(t.events);
}

TEST_CASE("a preempted sequence recomputes its prompt and output: its causal pairs again") {
  // The same requests with a cache that holds them all and with one that forces preemptions
  // (no prefix caching, so a resumed sequence recomputes everything, as vLLM V1 does).
  auto run = [](uint32_t blocks) {
    auto c = base_config();
    c.kv.num_gpu_blocks = blocks;
    c.enable_prefix_caching = false;
    engine e(c, step_model("8b-h100"));
    driver d(e);
    std::map<uint64_t, uint32_t> outputs;
    for (uint64_t id = 1; id <= 12; ++id) {
      outputs[id] = 40;
      d.add(request(id, prompt_of(100, static_cast<uint32_t>(id)), 40, 0));
    }
    auto t = d.run();
    check_all_complete(t, outputs);
    uint64_t pairs = 0;
    for (const auto& p : t.plans)
      pairs += p.batch.prefill_pairs;
    return std::make_pair(pairs, e.snapshot().preemptions);
  };
  auto [roomy_pairs, roomy_preemptions] = run(4096);
  auto [tight_pairs, tight_preemptions] = run(40);  // 640 tokens for 12 x 140
  CHECK(roomy_preemptions == 0);
  CHECK(roomy_pairs == 12 * (100 * 101 / 2));
  CHECK(tight_preemptions > 0);
  CHECK(tight_pairs > roomy_pairs);
}

TEST_CASE("a request needing most of the cache completes next to small ones") {
  auto c = base_config();
  c.kv.num_gpu_blocks = 32;  // 512 tokens
  c.max_num_batched_tokens = 128;
  engine e(c, step_model("8b-h100"));
  driver d(e);
  std::map<uint64_t, uint32_t> outputs{{1, 100}};
  for (uint64_t id = 2; id <= 30; ++id)
    outputs[id] = 30;
  for (uint64_t id = 2; id <= 15; ++id)
    d.add(request(id, prompt_of(40, static_cast<uint32_t>(id)), 30));
  d.add(request(1, prompt_of(400, 99), 100));  // 499 slots: 32 blocks, the whole cache
  for (uint64_t id = 16; id <= 30; ++id)
    d.add(request(id, prompt_of(40, static_cast<uint32_t>(id)), 30, 1));
  auto t = d.run(true, 200000);
  check_all_complete(t, outputs);
  CHECK(e.snapshot().preemptions > 0);
  check_event_order(t.events);
}

TEST_CASE("cancel frees a sequence wherever it is") {
  auto c = base_config();
  c.max_num_seqs = 1;
  engine e(c, step_model("zero"));
  REQUIRE(e.submit(request(1, prompt_of(40, 1), 10)) == submit_status::accepted);
  REQUIRE(e.submit(request(2, prompt_of(40, 2), 10)) == submit_status::accepted);
  e.begin_step(0);
  auto used = e.snapshot().used_blocks;
  CHECK(used == 3);
  CHECK(e.cancel(1));  // running, inside a step
  CHECK(e.snapshot().used_blocks == 0);
  auto out = e.end_step(0);
  CHECK(out.sequences.empty());
  CHECK(e.cancel(2));  // waiting
  CHECK_FALSE(e.cancel(2));
  CHECK_FALSE(e.has_work());
  auto snap = e.snapshot();
  CHECK(snap.running == 0);
  CHECK(snap.waiting == 0);
  CHECK(snap.in_flight_tokens == 0);
  // The ids are free again, and the engine still runs.
  driver d(e);
  d.add(request(1, prompt_of(40, 1), 3));
  check_all_complete(d.run(), {{1, 3}});
}

TEST_CASE(
    "an aborted sequence's prompt blocks stay cached as free blocks, as vLLM's abort leaves them") {
  engine e(base_config(), step_model("zero"));
  REQUIRE(e.submit(request(1, prompt_of(100, 7), 50)) == submit_status::accepted);
  e.begin_step(0);
  e.end_step(0);  // prefilled: its 6 full blocks are cached
  CHECK(e.snapshot().used_blocks == 7);
  CHECK(e.cancel(1));
  auto snap = e.snapshot();
  CHECK(snap.used_blocks == 0);
  CHECK(snap.kv_usage == 0);
  CHECK(snap.cached_blocks == 6);  // free, and still holding their prefix
  driver d(e);
  d.add(request(2, prompt_of(100, 7), 2));
  auto t = d.run();
  check_all_complete(t, {{2, 2}});
  CHECK(t.started.at(2).cached_tokens == 96);
}

// -- LoRA -----------------------------------------------------------------------------------------

TEST_CASE("at most max_loras adapters run at once but base-model requests are not limited") {
  auto c = base_config();
  c.max_loras = 1;
  engine e(c, step_model("zero"));
  driver d(e);
  std::map<uint64_t, uint32_t> outputs;
  for (uint64_t id = 1; id <= 12; ++id) {
    outputs[id] = 4;
    std::string lora = id % 3 == 0 ? "" : (id % 3 == 1 ? "a" : "b");
    d.add(request(id, prompt_of(16, 1), 4, 0, lora));
  }
  auto t = d.run();
  check_all_complete(t, outputs);
  CHECK(t.max_distinct_loras == 1);
  // The adapters' blocks are keyed apart from the base model's and named in events.
  std::set<std::string> names;
  for (const auto& ev : t.events)
    if (const auto* s = std::get_if<block_stored>(&ev))
      if (s->lora_name) names.insert(*s->lora_name);
  CHECK(names == std::set<std::string>{"a", "b"});

  auto two = base_config();
  two.max_loras = 2;
  engine e2(two, step_model("zero"));
  driver d2(e2);
  for (uint64_t id = 1; id <= 9; ++id)
    d2.add(request(id, prompt_of(16, 1), 4, 0, std::to_string(id % 3).insert(0, 1, 'l')));
  auto t2 = d2.run();
  CHECK(t2.finished.size() == 9);
  CHECK(t2.max_distinct_loras == 2);
}

TEST_CASE("lora state lists running and waiting adapters") {
  auto c = base_config();
  c.max_loras = 1;
  engine e(c, step_model("zero"));
  REQUIRE(e.submit(request(1, prompt_of(8, 1), 3, 0, "a")) == submit_status::accepted);
  REQUIRE(e.submit(request(2, prompt_of(8, 1), 3, 0, "b")) == submit_status::accepted);
  e.begin_step(0);
  auto l = e.loras();
  CHECK(l.running == std::vector<std::string>{"a"});
  CHECK(l.waiting == std::vector<std::string>{"b"});
  e.end_step(0);
}

TEST_CASE("lora residency: adapters stay resident when idle and no more than max_loras are") {
  auto c = base_config();
  c.max_loras = 2;
  c.max_cpu_loras = 2;
  engine e(c, step_model("zero"));
  auto run_one = [&](uint64_t id, const std::string& lora, int64_t at) {
    REQUIRE(e.submit(request(id, prompt_of(8, static_cast<uint32_t>(id)), 1, at, lora)) ==
            submit_status::accepted);
    auto plan = e.begin_step(at);
    auto out = e.end_step(plan.end_ns());
    REQUIRE(out.sequences.size() == 1);
    CHECK(out.sequences[0].finished);
    return plan;
  };
  run_one(1, "a", 0);
  run_one(2, "b", 1);
  // Both idle, both resident.
  CHECK(e.loras().running.empty());
  CHECK(e.loras().resident == std::vector<std::string>{"a", "b"});
  CHECK(e.snapshot().lora_loads == 2);
  run_one(3, "a", 2);  // resident: no swap, and "a" becomes the most recently used
  CHECK(e.snapshot().lora_loads == 2);
  run_one(4, "c", 3);  // full: evicts the least recently used idle adapter, "b"
  CHECK(e.loras().resident == std::vector<std::string>{"a", "c"});
  CHECK(e.snapshot().lora_loads == 3);
  // The CPU cache (2) also dropped "b", the oldest adapter not on the GPU.
  CHECK(e.loras().cpu == std::vector<std::string>{"a", "c"});
}

TEST_CASE("lora residency: a swap-in lengthens the step, from disk more than from the CPU cache") {
  auto c = base_config();
  c.max_loras = 1;
  c.max_cpu_loras = 2;
  c.lora_load_ns = 40 * ms;
  c.lora_cpu_load_ns = 4 * ms;
  engine e(c, step_model("zero"));
  auto step_of = [&](uint64_t id, const std::string& lora, int64_t at) {
    REQUIRE(e.submit(request(id, prompt_of(8, static_cast<uint32_t>(id)), 1, at, lora)) ==
            submit_status::accepted);
    auto plan = e.begin_step(at);
    e.end_step(plan.end_ns());
    return plan.duration_ns;
  };
  const int64_t base = step_of(1, "", 0);              // the base model needs no adapter
  CHECK(step_of(2, "a", 10 * ms) == base + 40 * ms);   // from disk
  CHECK(step_of(3, "a", 100 * ms) == base);            // resident
  CHECK(step_of(4, "b", 200 * ms) == base + 40 * ms);  // evicts "a" from the GPU, not the CPU
  CHECK(step_of(5, "a", 300 * ms) == base + 4 * ms);   // back from the CPU cache
  CHECK(e.snapshot().lora_loads == 3);
  CHECK(e.snapshot().lora_disk_loads == 2);

  // Per-request models: the first token is later by the swap-in.
  sim_latency_params p;
  p.time_to_first_token_ns = 10 * ms;
  auto sc = base_config();
  sc.lora_load_ns = 30 * ms;
  engine s(sc, sim_model(p));
  driver d(s);
  d.add(request(1, prompt_of(8, 1), 2, 0, "a"));
  d.add(request(2, prompt_of(8, 2), 2, 100 * ms, "a"));
  auto t = d.run();
  CHECK(t.ttft(1) == 40 * ms);
  CHECK(t.ttft(2) == 10 * ms);
}

TEST_CASE("lora residency: a request of a non-resident adapter waits while every slot is busy") {
  auto c = base_config();
  c.max_loras = 1;
  engine e(c, step_model("zero"));
  REQUIRE(e.submit(request(1, prompt_of(8, 1), 3, 0, "a")) == submit_status::accepted);
  REQUIRE(e.submit(request(2, prompt_of(8, 2), 3, 0, "b")) == submit_status::accepted);
  REQUIRE(e.submit(request(3, prompt_of(8, 3), 3, 0, "a")) == submit_status::accepted);
  auto plan = e.begin_step(0);
  // "b" cannot join a batch holding "a"; the later "a" request can.
  std::set<uint64_t> ids;
  for (const auto& sq : plan.sequences)
    ids.insert(sq.id);
  CHECK(ids == std::set<uint64_t>{1, 3});
  CHECK(e.loras().resident == std::vector<std::string>{"a"});
  CHECK(e.loras().waiting == std::vector<std::string>{"b"});
  e.end_step(plan.end_ns());
}

// -- P/D ------------------------------------------------------------------------------------------

TEST_CASE("remote prefill: the prompt's KV arrives by transfer, only one token is computed") {
  engine e(base_config(), step_model("8b-h100"));
  driver d(e);
  auto r = request(1, prompt_of(1000, 1), 3);
  r.remote_prefill = true;
  d.add(std::move(r));
  auto t = d.run();
  check_all_complete(t, {{1, 3}});
  // 2 ms + 3 us per token for the transfer, then one step computing the last prompt token.
  const int64_t transfer = 2 * ms + 3 * ms;
  CHECK(t.ttft(1) > transfer);
  CHECK(t.ttft(1) < 40 * ms);  // a local prefill of 1000 tokens takes 280 ms
  REQUIRE(t.plans.size() >= 2);
  CHECK(t.plans[0].idle);
  CHECK(t.plans[0].duration_ns == transfer);
  CHECK(t.plans[1].batch.prefill_tokens == 1);
  CHECK(t.started.at(1).queue_ns == 0);
  // The transferred blocks are cached and reported like computed ones.
  size_t stored = 0;
  for (const auto& ev : t.events)
    if (const auto* s = std::get_if<block_stored>(&ev)) stored += s->block_hashes.size();
  CHECK(stored >= 1000 / 16);
}

// -- per-request timing (llm-d-inference-sim calculators) -----------------------------------------

TEST_CASE("sim model: TTFT then ITL per token, from admission") {
  sim_latency_params p;
  p.calculator = sim_calculator::constant;
  p.time_to_first_token_ns = 100 * ms;
  p.inter_token_latency_ns = 10 * ms;
  auto c = base_config();
  c.max_num_seqs = 1;
  engine e(c, sim_model(p));
  driver d(e);
  d.add(request(1, prompt_of(50, 1), 5));
  d.add(request(2, prompt_of(50, 2), 3));
  auto t = d.run();
  check_all_complete(t, {{1, 5}, {2, 3}});
  CHECK(t.token_times.at(1) ==
        std::vector<int64_t>{100 * ms, 110 * ms, 120 * ms, 130 * ms, 140 * ms});
  // The second waits for the only worker, then gets its own TTFT.
  CHECK(t.token_times.at(2) == std::vector<int64_t>{240 * ms, 250 * ms, 260 * ms});
  CHECK(t.started.at(2).queue_ns == 140 * ms);
}

TEST_CASE("sim model: an arrival starts at once when a slot is free and load stretches latency") {
  sim_latency_params p;
  p.calculator = sim_calculator::constant;
  p.time_to_first_token_ns = 100 * ms;
  p.inter_token_latency_ns = 10 * ms;
  p.time_factor_under_load = 2.0;
  auto c = base_config();
  c.max_num_seqs = 2;
  engine e(c, sim_model(p));
  driver d(e);
  d.add(request(1, prompt_of(50, 1), 4));
  d.add(request(2, prompt_of(50, 2), 4, 30 * ms));
  auto t = d.run();
  check_all_complete(t, {{1, 4}, {2, 4}});
  // Request 1 alone: TTFT 100 ms (L = 1). Request 2 arrives at 30 ms during request 1's step,
  // which is cut short: it starts at 30 ms with 2 running, L = 2: TTFT 200 ms.
  CHECK(t.ttft(1) == 100 * ms);
  CHECK(t.ttft(2) == 200 * ms);
  CHECK(t.started.at(2).queue_ns == 0);
  // Request 1's ITLs while both run: 20 ms.
  CHECK(t.itl(1, 0) == 20 * ms);
  // Request 2's after request 1 finished: back to 10 ms.
  CHECK(t.itl(2, 2) == 10 * ms);
}

TEST_CASE("sim model, per-token: cached prompt tokens shorten TTFT") {
  sim_latency_params p;
  p.calculator = sim_calculator::per_token;
  p.prefill_overhead_ns = 20 * ms;
  p.prefill_time_per_token_ns = 1 * ms;
  p.inter_token_latency_ns = 5 * ms;
  engine e(base_config(), sim_model(p));
  driver d(e);
  d.add(request(1, prompt_of(100, 3), 2));
  d.add(request(2, prompt_of(100, 3), 2, 1000 * ms));
  auto t = d.run();
  check_all_complete(t, {{1, 2}, {2, 2}});
  CHECK(t.ttft(1) == 120 * ms);
  CHECK(t.started.at(2).cached_tokens == 96);
  CHECK(t.ttft(2) == 24 * ms);
  check_event_order(t.events);
}

TEST_CASE("sim model under KV pressure still completes every request") {
  sim_latency_params p;
  p.calculator = sim_calculator::constant;
  p.time_to_first_token_ns = 10 * ms;
  p.inter_token_latency_ns = 2 * ms;
  p.inter_token_latency_std_dev_ns = 600 * 1000;
  auto c = base_config();
  c.kv.num_gpu_blocks = 24;
  c.max_num_seqs = 8;
  engine e(c, sim_model(p));
  driver d(e);
  std::map<uint64_t, uint32_t> outputs;
  for (uint64_t id = 1; id <= 16; ++id) {
    outputs[id] = 40;
    d.add(request(id, prompt_of(60, static_cast<uint32_t>(id % 3)), 40,
                  static_cast<int64_t>(id) * ms));
  }
  auto t = d.run();
  check_all_complete(t, outputs);
  CHECK(e.snapshot().preemptions > 0);
  check_event_order(t.events);
}

// -- scale and reproducibility --------------------------------------------------------------------

TEST_CASE("10,000 concurrent sequences with the zero profile complete") {
  auto c = base_config();
  c.max_num_seqs = 10000;
  c.max_num_batched_tokens = 1u << 20;
  c.max_waiting = 0;
  c.kv.num_gpu_blocks = 10000 * 3;
  engine e(c, step_model("zero"));
  driver d(e);
  for (uint64_t id = 1; id <= 10000; ++id) {
    auto prompt = prompt_of(32, static_cast<uint32_t>(id % 50));
    prompt.push_back(static_cast<uint32_t>(id));
    d.add(request(id, std::move(prompt), 8));
  }
  auto t = d.run(false);
  CHECK(t.finished.size() == 10000);
  CHECK(t.steps == 8);  // one prefill step with the first token, then seven decode steps
  CHECK(t.max_running == 10000);
  bool exact = true;
  for (const auto& [id, tokens] : t.tokens)
    exact = exact && tokens == expected_output(id, 8);
  CHECK(exact);
  CHECK(e.snapshot().in_flight_tokens == 0);
  CHECK_FALSE(e.has_work());
}

TEST_CASE("10,000 concurrent sequences with the simulator's per-request timing complete") {
  sim_latency_params p;
  p.calculator = sim_calculator::constant;
  p.time_to_first_token_ns = 20 * ms;
  p.time_to_first_token_std_dev_ns = 5 * ms;
  p.inter_token_latency_ns = 10 * ms;
  p.inter_token_latency_std_dev_ns = 3 * ms;
  p.time_factor_under_load = 1.5;
  auto c = base_config();
  c.max_num_seqs = 10000;
  c.max_waiting = 0;
  c.kv.num_gpu_blocks = 10000 * 3;
  engine e(c, sim_model(p));
  driver d(e);
  for (uint64_t id = 1; id <= 10000; ++id)
    d.add(request(id, prompt_of(32, static_cast<uint32_t>(id % 50)), 8,
                  static_cast<int64_t>(id % 10) * ms));  // all overlap
  auto t = d.run(false);
  CHECK(t.finished.size() == 10000);
  bool exact = true;
  for (const auto& [id, tokens] : t.tokens)
    exact = exact && tokens == expected_output(id, 8);
  CHECK(exact);
  CHECK(t.max_running == 10000);
}

TEST_CASE("10,000 queued sequences drain through 256 running slots") {
  auto c = base_config();
  c.max_waiting = 0;
  engine e(c, step_model("zero"));
  driver d(e);
  for (uint64_t id = 1; id <= 10000; ++id)
    d.add(request(id, prompt_of(24, static_cast<uint32_t>(id % 10)), 4));
  auto t = d.run(false);
  CHECK(t.finished.size() == 10000);
  CHECK(t.max_running == 256);
  CHECK(e.snapshot().prefix_cache_hits > 0);
}

TEST_CASE("a seed reproduces a run exactly and another seed does not") {
  auto run = [](uint64_t seed) {
    auto c = base_config();
    c.seed = seed;
    c.kv.num_gpu_blocks = 64;
    engine e(c, step_model("8b-h100", 0.05));
    driver d(e);
    for (uint64_t id = 1; id <= 30; ++id)
      d.add(request(id, prompt_of(50 + static_cast<uint32_t>(id), static_cast<uint32_t>(id % 4)),
                    10 + static_cast<uint32_t>(id % 5), static_cast<int64_t>(id) * 3 * ms));
    auto t = d.run();
    return std::make_pair(t.token_times, t.events.size());
  };
  auto a = run(7), b = run(7), other = run(8);
  CHECK(a == b);
  CHECK(a.first != other.first);
}

TEST_CASE("made-up output ids depend only on the prompt") {
  engine e(base_config(), step_model("zero"));
  driver d(e);
  for (uint64_t id = 1; id <= 3; ++id) {
    auto s = request(id, prompt_of(20, id == 3 ? 2 : 1), 6);
    s.output_token_ids.clear();  // let the engine make them up
    d.add(std::move(s));
  }
  auto t = d.run();
  CHECK(t.tokens.at(1) == t.tokens.at(2));
  CHECK(t.tokens.at(1) != t.tokens.at(3));
  CHECK(t.tokens.at(1).size() == 6);
}
