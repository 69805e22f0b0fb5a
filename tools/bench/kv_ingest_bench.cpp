// tools/bench/kv_ingest: KV-event ingestion of one picker -- block events per second of picker CPU
// through the real decode and index path, and index memory per stored block -- at 100 and 1,000
// pods.
//
// Workload: every pod is a vLLM-like prefix cache of `capacity` 16-token blocks (LRU; a chain's
// tail is evicted before its head, as vLLM frees blocks in reverse). Requests are a shared
// system prompt (one of 64, 96 blocks) + a conversation context (160 blocks): half continue one
// of 512 known conversations, half start a new one; 16 output blocks follow, one BlockStored per
// block as decode fills them. A conversation mostly returns to its last pod (70 %), otherwise
// goes to any pod of its system prompt's group (1/64 of the pool, at least 8 pods), so prefixes are
// shared across pods. The prefill stores the blocks the pod misses as one BlockStored (parent = the
// last cached block); a full cache evicts one block per BlockRemoved (as vLLM emits them); each pod
// resets its cache (AllBlocksCleared) with a chance of 1 in 2,000 per request. Pods batch 16 events
// per message (llm-d-inference-sim's event-batch-size) in the array or the map encoding.
//
// Timed (thread CPU time, one core): what the picker does per ZeroMQ message -- the subscriber's
// kv_event_message (topic and payload copies), the actor's topic split, sequence check,
// decode_batch and endpoint_picker::apply_kv_events under the picker's mutex. A block event is one
// block hash of a BlockStored or BlockRemoved (an AllBlocksCleared counts one). Baselines in the
// same run: decode_batch alone on the same payloads, and a std::unordered_map insert/erase of the
// same engine keys (the floor of any per-block index). Caches are filled before measuring. The
// full run (2,048 blocks per pod) takes many minutes at 1,000 pods: filling every cache is most
// of it; --capacity and --pods shorten it.
// Memory: the index's own accounting, checked against the heap (mallinfo2) freed when the picker
// is destroyed; per stored block = per (pod, block) residency, and per distinct request key.
#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <CLI/CLI.hpp>

#include "actors/picker/scheduling/config_loader.hpp"
#include "actors/picker/scheduling/kv_message_feed.hpp"
#include "actors/pod/pod_protocol.hpp"
#include "runtime/kv_events.hpp"
#include "tools/bench/bench_table.hpp"

using namespace inferstack;
using namespace inferstack::actors::picker;

namespace {

constexpr size_t block_tokens = 16;
constexpr size_t groups = 64;
constexpr size_t system_blocks = 96;
constexpr size_t context_blocks = 160;
constexpr size_t output_blocks = 16;
constexpr size_t conversations = 512;
constexpr size_t events_per_batch = 16;

const char* precise_yaml = R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: precise-prefix-cache-producer
  parameters: {tokenProcessorConfig: {blockSize: 16}}
- type: prefix-cache-scorer
  parameters: {prefixMatchInfoProducerName: precise-prefix-cache-producer}
- type: queue-scorer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - {pluginRef: prefix-cache-scorer, weight: 3}
  - {pluginRef: queue-scorer, weight: 2}
  - pluginRef: max-score-picker
)";

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

size_t heap_in_use() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

/// One block of content: its tokens and vLLM's engine hash (a chain over parent and tokens).
struct block {
  uint64_t engine = 0;
  std::vector<uint32_t> tokens;
};

std::vector<block> make_chain(std::mt19937_64& g, size_t n, uint64_t parent) {
  std::vector<block> out(n);
  for (auto& b : out) {
    b.tokens.resize(block_tokens);
    uint64_t h = parent ^ 0x51ed270b27ad43c1ull;
    for (auto& t : b.tokens) {
      t = static_cast<uint32_t>(g() >> 32);
      h = mix(h ^ t);
    }
    b.engine = h | 1;
    parent = b.engine;
  }
  return out;
}

/// A pod's prefix cache: LRU over `capacity` blocks, and the events it publishes.
struct pod_cache {
  struct slot {
    uint64_t engine = 0;
    uint32_t prev = 0, next = 0;  // LRU list (0 is the sentinel)
  };
  std::vector<slot> slots;  // [0] sentinel
  std::vector<uint32_t> free_slots;
  std::unordered_map<uint64_t, uint32_t> where;
  runtime::event_batch pending;
  size_t pending_events = 0;
  uint64_t seq = 0;
  std::string topic;

  explicit pod_cache(size_t capacity) : slots(capacity + 1) {
    for (uint32_t i = static_cast<uint32_t>(capacity); i >= 1; --i)
      free_slots.push_back(i);
    where.reserve(capacity * 2);
  }
  size_t size() const { return where.size(); }
  void unlink(uint32_t s) {
    slots[slots[s].prev].next = slots[s].next;
    slots[slots[s].next].prev = slots[s].prev;
  }
  void push_front(uint32_t s) {  // most recent
    slots[s].prev = 0;
    slots[s].next = slots[0].next;
    slots[slots[0].next].prev = s;
    slots[0].next = s;
  }
  void touch(uint64_t engine) {
    auto s = where.at(engine);
    unlink(s);
    push_front(s);
  }
};

struct stream_counts {
  size_t block_events = 0, messages = 0, events = 0, stored = 0, removed = 0, cleared = 0;
};

/// The message stream of a pool of simulated pods.
class pool_sim {
 public:
  pool_sim(size_t pods, size_t capacity, runtime::event_format format, size_t clear_every,
           uint64_t seed)
      : rng_(seed), format_(format), clear_every_(clear_every), capacity_(capacity) {
    for (size_t g = 0; g < groups; ++g)
      systems_.push_back(make_chain(rng_, system_blocks, 0));
    for (size_t c = 0; c < conversations; ++c)
      contexts_.push_back(make_chain(rng_, context_blocks, systems_[c % groups].back().engine));
    last_pod_.assign(conversations, SIZE_MAX);
    for (size_t p = 0; p < pods; ++p) {
      pods_.emplace_back(capacity);
      pods_.back().topic = "kv@pod-" + std::to_string(p) + "@bench-model";
    }
  }

  size_t pods() const { return pods_.size(); }
  const std::string& topic(size_t p) const { return pods_[p].topic; }
  /// (pod, block) residencies now.
  size_t stored_blocks() const {
    size_t n = 0;
    for (const auto& p : pods_)
      n += p.size();
    return n;
  }
  bool all_full() const {
    for (const auto& p : pods_)
      if (p.size() < capacity_) return false;
    return true;
  }

  /// Runs requests until at least `block_events` block events were emitted; appends the
  /// messages and the engine-key operations (+key stored, -key removed, 0 cleared).
  void run(size_t block_events, std::vector<actors::pod::kv_event_message>& out,
           std::vector<std::pair<int, uint64_t>>& ops, stream_counts& counts) {
    ops_ = &ops;
    counts_ = &counts;
    out_ = &out;
    size_t target = counts.block_events + block_events;
    while (counts.block_events < target)
      request();
    for (size_t p = 0; p < pods_.size(); ++p)
      flush(p);
  }

 private:
  void request() {
    size_t c = rng_() % conversations;
    size_t group = c % groups;
    bool known = rng_() % 2 == 0;
    size_t pod;
    if (known && last_pod_[c] != SIZE_MAX && rng_() % 10 < 7)
      pod = last_pod_[c];
    else  // any pod of the group's share of the pool (at least 8)
      pod = (group * pods_.size() / groups +
             rng_() % std::max<size_t>(8, (pods_.size() + groups - 1) / groups)) %
            pods_.size();
    if (known) last_pod_[c] = pod;
    auto& cache = pods_[pod];
    if (clear_every_ > 0 && rng_() % clear_every_ == 0) clear(pod);

    prompt_.clear();
    for (const auto& b : systems_[group])
      prompt_.push_back(&b);
    std::vector<block> fresh;
    if (known) {
      for (const auto& b : contexts_[c])
        prompt_.push_back(&b);
    } else {
      fresh = make_chain(rng_, context_blocks, systems_[group].back().engine);
      for (const auto& b : fresh)
        prompt_.push_back(&b);
    }
    auto output = make_chain(rng_, output_blocks, prompt_.back()->engine);

    // Prefill: the cached prefix is reused, the rest is stored as one event.
    size_t hit = 0;
    while (hit < prompt_.size() && cache.where.count(prompt_[hit]->engine))
      ++hit;
    // Touch tail-first so the head is the most recent (vLLM evicts a chain's tail first).
    for (size_t i = hit; i-- > 0;)
      cache.touch(prompt_[i]->engine);
    std::vector<const block*> missing(prompt_.begin() + static_cast<long>(hit), prompt_.end());
    store(pod, missing, hit > 0 ? prompt_[hit - 1]->engine : 0);
    // Decode: one block per event as it fills.
    uint64_t parent = prompt_.back()->engine;
    for (const auto& b : output) {
      store(pod, {&b}, parent);
      parent = b.engine;
    }
  }

  void store(size_t pod, const std::vector<const block*>& blocks, uint64_t parent) {
    if (blocks.empty()) return;
    auto& cache = pods_[pod];
    // Make room first (each eviction its own BlockRemoved, as vLLM emits them).
    while (cache.size() + blocks.size() > capacity_) {
      uint32_t victim = cache.slots[0].prev;
      uint64_t engine = cache.slots[victim].engine;
      cache.unlink(victim);
      cache.where.erase(engine);
      cache.free_slots.push_back(victim);
      runtime::block_removed r;
      r.block_hashes.push_back(engine);
      add(pod, std::move(r));
      ops_->push_back({-1, engine});
      counts_->block_events++;
      counts_->removed++;
    }
    runtime::block_stored s;
    s.parent_block_hash = parent ? std::optional<uint64_t>(parent) : std::nullopt;
    s.block_size = block_tokens;
    for (size_t i = blocks.size(); i-- > 0;) {  // tail first into the LRU
      uint32_t slot = cache.free_slots.back();
      cache.free_slots.pop_back();
      cache.slots[slot].engine = blocks[i]->engine;
      if (!cache.where.emplace(blocks[i]->engine, slot).second) {
        std::fputs("pod cache: a stored block was already cached\n", stderr);
        std::abort();
      }
      cache.push_front(slot);
    }
    for (const auto* b : blocks) {
      s.block_hashes.push_back(b->engine);
      s.token_ids.insert(s.token_ids.end(), b->tokens.begin(), b->tokens.end());
      ops_->push_back({1, b->engine});
    }
    counts_->block_events += blocks.size();
    counts_->stored += blocks.size();
    add(pod, std::move(s));
  }

  void clear(size_t pod) {
    auto& cache = pods_[pod];
    for (auto& [engine, slot] : cache.where) {
      cache.unlink(slot);
      cache.free_slots.push_back(slot);
    }
    cache.where.clear();
    add(pod, runtime::all_blocks_cleared{});
    ops_->push_back({0, pod});
    counts_->block_events++;
    counts_->cleared++;
  }

  void add(size_t pod, runtime::kv_event e) {
    auto& cache = pods_[pod];
    cache.pending.events.push_back(std::move(e));
    counts_->events++;
    if (cache.pending.events.size() >= events_per_batch) flush(pod);
  }

  void flush(size_t pod) {
    auto& cache = pods_[pod];
    if (cache.pending.events.empty()) return;
    cache.pending.ts = 1.7e9 + static_cast<double>(cache.seq) * 1e-3;
    cache.pending.data_parallel_rank = 0;
    out_->push_back({cache.topic, cache.seq++, runtime::encode_batch(cache.pending, format_)});
    cache.pending.events.clear();
    counts_->messages++;
  }

  std::mt19937_64 rng_;
  runtime::event_format format_;
  size_t clear_every_, capacity_;
  std::vector<std::vector<block>> systems_, contexts_;
  std::vector<size_t> last_pod_;
  std::vector<pod_cache> pods_;
  std::vector<const block*> prompt_;
  std::vector<std::pair<int, uint64_t>>* ops_ = nullptr;
  stream_counts* counts_ = nullptr;
  std::vector<actors::pod::kv_event_message>* out_ = nullptr;
};

/// What the picker process does with one KV message (kv_subscriber's frames -> the picker
/// actor's handler): the message's copies, then the actor's own path (decode_kv_message outside
/// the lock, kv_message_feed::apply under it).
struct picker_path {
  endpoint_picker& picker;
  std::mutex mutex;
  kv_message_feed feed;
  size_t bad = 0;

  void on_frames(const std::string& topic, uint64_t seq, const std::string& payload) {
    actors::pod::kv_event_message msg{std::string(topic), seq, std::string(payload)};
    auto message = decode_kv_message(msg.topic, msg.payload);
    if (!message) return;
    std::lock_guard lock{mutex};
    if (!feed.apply(picker, msg.topic, msg.seq, *message, 1'000'000'000).applied) ++bad;
  }
};

struct figures {
  double events_per_s = 0, decode_per_s = 0, floor_per_s = 0;
  double bytes_per_stored = 0, bytes_per_key = 0, heap_bytes_per_stored = 0;
  double stored_blocks = 0, request_keys = 0, index_mb = 0, heap_mb = 0;
  double blocks_per_event = 0, skipped = 0;
  stream_counts counts;
};

figures run_once(size_t pods, size_t capacity, runtime::event_format format, size_t measured,
                 uint64_t seed) {
  figures f;
  size_t heap_before = heap_in_use();
  picker_options opts;
  opts.seed = seed;
  auto built = std::make_unique<build_result>(build_endpoint_picker_from_yaml(precise_yaml, opts));
  if (!built->ok()) {
    std::cerr << built->error_text();
    std::exit(1);
  }
  auto& picker = *built->picker;
  for (size_t i = 0; i < pods; ++i)
    picker.add_endpoint(
        endpoint_info{"pod-" + std::to_string(i),
                      "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ":8000",
                      {}});
  picker_path path{picker, {}, {}, 0};
  pool_sim sim(pods, capacity, format, 2000, seed);

  std::vector<actors::pod::kv_event_message> msgs;
  std::vector<std::pair<int, uint64_t>> ops;
  std::unordered_map<uint64_t, uint32_t> floor_map;  // the floor: engine key -> pod
  size_t chunk = 200'000;                            // block events generated per round
  // Fill every cache (untimed apart from what it teaches the index), then measure.
  stream_counts fill_counts;
  for (int round = 0; !sim.all_full(); ++round) {
    if (round == 1000) {
      std::fputs("the pods' caches do not fill up\n", stderr);
      std::exit(1);
    }
    msgs.clear();
    ops.clear();
    sim.run(chunk, msgs, ops, fill_counts);
    for (const auto& m : msgs)
      path.on_frames(m.topic, m.seq, m.payload);
  }
  double t_apply = 0, t_decode = 0, t_floor = 0;
  size_t floor_ops = 0;
  size_t sink = 0;
  while (f.counts.block_events < measured) {
    msgs.clear();
    ops.clear();
    sim.run(std::min(chunk, measured - f.counts.block_events), msgs, ops, f.counts);
    double t0 = thread_cpu_s();
    for (const auto& m : msgs)
      path.on_frames(m.topic, m.seq, m.payload);
    double t1 = thread_cpu_s();
    for (const auto& m : msgs) {
      auto b = runtime::decode_batch(m.payload);
      sink += b ? b->events.size() : 0;
    }
    double t2 = thread_cpu_s();
    for (auto [op, key] : ops) {
      if (op > 0)
        floor_map[key] = 1;
      else if (op < 0)
        floor_map.erase(key);
      else
        floor_map.clear();  // a pod's reset: the floor keeps no pods, so forget everything
    }
    floor_ops += ops.size();
    double t3 = thread_cpu_s();
    t_apply += t1 - t0;
    t_decode += t2 - t1;
    t_floor += t3 - t2;
  }
  if (sink == 42) std::puts("");
  if (path.bad > 0) {
    std::cerr << path.bad << " KV batches failed to decode\n";
    std::exit(1);
  }
  auto n = static_cast<double>(f.counts.block_events);
  f.events_per_s = n / t_apply;
  f.decode_per_s = n / t_decode;
  f.floor_per_s = static_cast<double>(floor_ops) / t_floor;
  f.blocks_per_event = n / static_cast<double>(f.counts.events);
  auto m = picker.metrics(0);
  f.stored_blocks = static_cast<double>(sim.stored_blocks());
  f.request_keys = static_cast<double>(m.precise_prefix_keys);
  f.index_mb = static_cast<double>(m.prefix_index_bytes) / (1 << 20);
  f.bytes_per_stored = static_cast<double>(m.prefix_index_bytes) / f.stored_blocks;
  f.bytes_per_key = static_cast<double>(m.prefix_index_bytes) / f.request_keys;
  // The heap the picker holds: what destroying it gives back (the generator's state stays).
  msgs.clear();
  msgs.shrink_to_fit();
  ops.clear();
  ops.shrink_to_fit();
  path.feed = {};
  size_t with_picker = heap_in_use();
  built.reset();
  size_t without = heap_in_use();
  (void)heap_before;
  f.heap_mb = static_cast<double>(with_picker - without) / (1 << 20);
  f.heap_bytes_per_stored = static_cast<double>(with_picker - without) / f.stored_blocks;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"KV-event ingestion benchmark"};
  bool quick = false;
  std::string json_path;
  size_t capacity = 0;
  app.add_flag("--quick", quick, "small run (CI smoke test)");
  app.add_option("--json", json_path, "write the figures as one flat JSON object");
  app.add_option("--capacity", capacity, "blocks per pod's cache (default 2048; quick 512)");
  std::vector<size_t> pod_counts{100, 1000};
  app.add_option("--pods", pod_counts, "pool sizes (default 100 1000)");
  int repeats = 0;
  app.add_option("--repeats", repeats, "runs per row, the median is reported (default 3; quick 1)");
  CLI11_PARSE(app, argc, argv);
  if (capacity == 0) capacity = quick ? 512 : 2048;
  if (repeats <= 0) repeats = quick ? 1 : 3;
  size_t measured = quick ? 200'000 : 2'000'000;

  std::printf(
      "KV-event ingestion (%s, median of %d; %zu blocks per pod, %zu block events measured, "
      "picker CPU time)\n",
      quick ? "quick" : "full", repeats, capacity, measured);
  bench::json_report report;
  report.text("benchmark", "kv_ingest");
  report.text("mode", quick ? "quick" : "full");
  report.number("capacity_blocks_per_pod", static_cast<double>(capacity));
  std::printf("%-6s %5s %13s %13s %13s %7s %7s %9s %9s %8s %8s %8s %8s\n", "format", "pods",
              "events/s", "decode/s", "umap floor/s", "/floor", "blk/ev", "stored", "keys",
              "index MB", "B/stored", "B/key", "heap B/st");
  for (size_t pods : pod_counts) {
    for (auto format : {runtime::event_format::array, runtime::event_format::map}) {
      const char* fname = format == runtime::event_format::array ? "array" : "map";
      std::vector<double> rate, decode, floor;
      figures last;
      for (int r = 0; r < repeats; ++r) {
        last = run_once(pods, capacity, format, measured, 1000 + static_cast<uint64_t>(r));
        rate.push_back(last.events_per_s);
        decode.push_back(last.decode_per_s);
        floor.push_back(last.floor_per_s);
      }
      double ev = bench::median(rate), de = bench::median(decode), fl = bench::median(floor);
      std::printf(
          "%-6s %5zu %13.0f %13.0f %13.0f %7.2f %7.2f %9.0f %9.0f %8.1f %8.1f %8.1f %8.1f\n", fname,
          pods, ev, de, fl, ev / fl, last.blocks_per_event, last.stored_blocks, last.request_keys,
          last.index_mb, last.bytes_per_stored, last.bytes_per_key, last.heap_bytes_per_stored);
      std::fflush(stdout);
      std::string key = std::string(fname) + "_" + std::to_string(pods) + "_";
      report.number(key + "block_events_per_s", ev);
      report.number(key + "decode_block_events_per_s", de);
      report.number(key + "floor_ops_per_s", fl);
      report.number(key + "ratio_vs_floor", ev / fl);
      report.number(key + "blocks_per_event", last.blocks_per_event);
      report.number(key + "stored_blocks", last.stored_blocks);
      report.number(key + "request_keys", last.request_keys);
      report.number(key + "index_mb", last.index_mb);
      report.number(key + "index_bytes_per_stored_block", last.bytes_per_stored);
      report.number(key + "index_bytes_per_request_key", last.bytes_per_key);
      report.number(key + "heap_bytes_per_stored_block", last.heap_bytes_per_stored);
      report.number(key + "removed_share",
                    static_cast<double>(last.counts.removed) / last.counts.block_events);
      report.number(key + "clears", static_cast<double>(last.counts.cleared));
    }
  }
  if (!json_path.empty() && !report.write(json_path)) {
    std::cerr << "cannot write " << json_path << "\n";
    return 1;
  }
  return 0;
}
