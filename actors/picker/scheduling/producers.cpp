#include "actors/picker/scheduling/producers.hpp"

#include <algorithm>

#include "actors/picker/scheduling/endpoint_picker.hpp"
#include "actors/picker/scheduling/plugin_registry.hpp"

namespace inferstack::actors::picker {

// -- approx-prefix-cache-producer -------------------------------------------------------------

approx_prefix_producer::approx_prefix_producer(std::string name, approx_prefix_settings settings)
    : prefix_producer("approx-prefix-cache-producer", std::move(name)), settings_(settings) {}

const runtime::kv_block_keys& approx_prefix_producer::keys_for(size_t block_size) {
  auto& k = keys_[block_size];
  if (!k) {
    k = std::make_unique<runtime::kv_block_keys>(block_size, "");
    memos_[block_size] = std::make_unique<block_key_memo>(
        block_size, std::max<size_t>(1, approx_key_memo_tokens / block_size));
  }
  return *k;
}

size_t approx_prefix_producer::block_size(const pool_state& pool,
                                          std::span<const uint32_t> endpoints) const {
  int bs = settings_.block_size_tokens;
  if (settings_.auto_tune && !endpoints.empty()) {
    const auto& first = pool.at(endpoints.front());
    if (first.load.block_size > 0) bs = first.load.block_size;
  }
  return static_cast<size_t>(std::max(bs, approx_min_block_size_tokens));
}

size_t approx_prefix_producer::max_blocks(size_t block_size) const {
  // llm-d resolveMaxBlocks: the token cap wins; a token cap below one block keys nothing.
  if (settings_.max_prefix_tokens > 0)
    return static_cast<size_t>(settings_.max_prefix_tokens) / block_size;
  if (settings_.max_prefix_blocks == 0) return block_key_cursor::unlimited;
  return static_cast<size_t>(settings_.max_prefix_blocks);
}

size_t approx_prefix_producer::lru_capacity(const endpoint_state& e) const {
  // llm-d makeserver: the pod's GPU block count wins under autoTune, then the configured size.
  if (settings_.auto_tune && e.load.num_gpu_blocks > 0)
    return static_cast<size_t>(e.load.num_gpu_blocks);
  if (settings_.lru_capacity_per_server > 0)
    return static_cast<size_t>(settings_.lru_capacity_per_server);
  return approx_default_lru_capacity;
}

void approx_prefix_producer::produce(cycle& c) {
  size_t bs = block_size(*c.pool, c.endpoints);
  auto& cursor = c.memo->cursors[producer_index];
  cursor.reset(&keys_for(bs), c.request->tokens, c.request->model, max_blocks(bs),
               memos_[bs].get());
  if (counts_.size() < c.pool->id_bound()) counts_.resize(c.pool->id_bound(), 0);
  // llm-d matchLongestPrefix: walk the blocks from the start, stop at the first block nobody
  // holds, and count every holder at every step (an approximation of the longest prefix).
  size_t total = cursor.total();
  uint64_t key = total > 0 ? cursor.at(0) : 0;
  index_.prefetch(key);
  for (size_t i = 0; i < total; ++i) {
    auto holders = index_.pods(key);
    if (holders.empty()) break;
    if (i + 1 < total) {  // hash the next block while this one's holders are counted
      key = cursor.at(i + 1);
      index_.prefetch(key);
    }
    for (uint32_t id : holders)
      if (id < counts_.size()) ++counts_[id];
  }
  auto& out = (*c.prefix)[producer_index];
  for (uint32_t id : c.endpoints) {
    uint32_t n = counts_[id];
    out[id] = prefix_match{n, static_cast<uint32_t>(total), static_cast<uint32_t>(bs),
                           static_cast<double>(n), true};
  }
  // Reset the counters we touched (holders outside the cycle's endpoints included).
  for (size_t i = 0; i < cursor.computed(); ++i)
    for (uint32_t id : index_.pods(cursor.at(i)))
      if (id < counts_.size()) counts_[id] = 0;
}

void approx_prefix_producer::pre_request(hook_context& h) {
  auto& cursor = h.memo->cursors[producer_index];
  if (cursor.keys() == nullptr || h.result == nullptr || !h.result->ok()) return;
  cursor.rebind(h.request->tokens);
  auto keys = cursor.all();
  if (keys.empty()) return;
  auto record = [&](uint32_t id) {
    if (!h.pool->live(id)) return;
    index_.add(keys, id, lru_capacity(h.pool->at(id)));
  };
  record(h.result->primary().id);
  if (h.result->prefill) record(h.result->prefill->id);
}

void approx_prefix_producer::endpoint_removed(uint32_t id, const endpoint_state&) {
  index_.remove_pod(id);
}

// -- precise-prefix-cache-producer ------------------------------------------------------------

precise_prefix_producer::precise_prefix_producer(std::string type, std::string name,
                                                 precise_prefix_settings settings)
    : prefix_producer(std::move(type), std::move(name)),
      settings_(std::move(settings)),
      index_(settings_.index) {}

void precise_prefix_producer::endpoint_added(uint32_t id, const endpoint_state& e) {
  // Events may name the pod by name or by address: both map to one index ordinal.
  auto by_name = index_.find_pod(e.name);
  auto by_address = e.address.empty() ? std::nullopt : index_.find_pod(e.address);
  uint32_t ordinal;
  if (by_name)
    ordinal = *by_name;
  else if (by_address)
    ordinal = *by_address;
  else
    ordinal = index_.intern(e.name);
  index_.bind(e.name, ordinal);
  if (!e.address.empty()) index_.bind(e.address, ordinal);
  if (ordinal_of_.size() <= id) ordinal_of_.resize(id + 1, UINT32_MAX);
  unbind(id);
  ordinal_of_[id] = ordinal;
  ++bound_ids_;
  if (ids_of_ordinal_.size() <= ordinal) {
    ids_of_ordinal_.resize(ordinal + 1, 0);
    id_of_ordinal_.resize(ordinal + 1, UINT32_MAX);
  }
  if (++ids_of_ordinal_[ordinal] == 2) ++shared_ordinals_;
  id_of_ordinal_[ordinal] = id;
}

void precise_prefix_producer::unbind(uint32_t id) {
  if (id >= ordinal_of_.size() || ordinal_of_[id] == UINT32_MAX) return;
  uint32_t ordinal = ordinal_of_[id];
  ordinal_of_[id] = UINT32_MAX;
  --bound_ids_;
  if (--ids_of_ordinal_[ordinal] == 1) {
    --shared_ordinals_;
    // The endpoint left of the two (rare: an alias goes): find it.
    for (uint32_t other = 0; other < ordinal_of_.size(); ++other)
      if (ordinal_of_[other] == ordinal) id_of_ordinal_[ordinal] = other;
  } else if (ids_of_ordinal_[ordinal] == 0) {
    id_of_ordinal_[ordinal] = UINT32_MAX;
  }
}

void precise_prefix_producer::endpoint_removed(uint32_t id, const endpoint_state&) {
  if (id < ordinal_of_.size() && ordinal_of_[id] != UINT32_MAX) {
    index_.clear_pod(ordinal_of_[id]);
    unbind(id);
  }
}

bool precise_prefix_producer::whole_pool(const cycle& c) const {
  // Candidates are distinct live endpoints; as many as the pool has means all of them.
  return shared_ordinals_ == 0 && c.endpoints.size() == c.pool->size() &&
         bound_ids_ == c.pool->size();
}

void precise_prefix_producer::produce(cycle& c) {
  index_.expire(c.now_ns);
  auto& cursor = c.memo->cursors[producer_index];
  cursor.reset(&index_.block_keys(), c.request->tokens, c.request->model,
               block_key_cursor::unlimited, index_.key_memo());
  matches_.clear();
  auto& out = (*c.prefix)[producer_index];
  auto total = static_cast<uint32_t>(cursor.total());
  auto bs = static_cast<uint32_t>(index_.block_keys().block_size());
  if (whole_pool(c)) {
    // Every endpoint counts: an ordinal counts when an endpoint is bound to it. No pass over the
    // pool but the blank results, then each match patched in through its one endpoint.
    index_.longest_prefix(
        cursor.total(), [&](size_t i) { return cursor.at(i); },
        [&](size_t i, uint64_t& key) { return cursor.try_at(i, key); },
        [&](uint32_t ordinal) {
          return ordinal < ids_of_ordinal_.size() && ids_of_ordinal_[ordinal] != 0;
        },
        matches_);
    for (uint32_t id : c.endpoints)  // (a named blank copied here stalled on store forwarding)
      out[id] = prefix_match{0, total, bs, 0.0, true};
    for (const auto& m : matches_) {
      auto& o = out[id_of_ordinal_[m.pod]];
      o.match_blocks = m.blocks;
      o.weighted = m.weighted;
    }
    return;
  }
  // Only the cycle's endpoints count (llm-d's candidate pod set).
  if (allowed_stamp_.size() < index_.pod_count()) allowed_stamp_.resize(index_.pod_count(), 0);
  if (++stamp_ == 0) {
    std::fill(allowed_stamp_.begin(), allowed_stamp_.end(), 0);
    stamp_ = 1;
  }
  for (uint32_t id : c.endpoints)
    if (id < ordinal_of_.size() && ordinal_of_[id] != UINT32_MAX)
      allowed_stamp_[ordinal_of_[id]] = stamp_;
  index_.longest_prefix(
      cursor.total(), [&](size_t i) { return cursor.at(i); },
      [&](size_t i, uint64_t& key) { return cursor.try_at(i, key); },
      [&](uint32_t ordinal) {
        return ordinal < allowed_stamp_.size() && allowed_stamp_[ordinal] == stamp_;
      },
      matches_);
  // Matches are per ordinal (several endpoints could share one only through aliases): mark each
  // matched ordinal with its match's position, then one pass over the endpoints.
  if (match_at_.size() < allowed_stamp_.size()) match_at_.resize(allowed_stamp_.size(), 0);
  for (size_t m = 0; m < matches_.size(); ++m)
    if (matches_[m].pod < match_at_.size()) match_at_[matches_[m].pod] = static_cast<uint32_t>(m);
  for (uint32_t id : c.endpoints) {
    out[id] = prefix_match{0, total, bs, 0.0, true};
    if (id >= ordinal_of_.size() || ordinal_of_[id] == UINT32_MAX) continue;
    uint32_t ordinal = ordinal_of_[id];
    if (matches_.empty() || ordinal >= match_at_.size()) continue;
    uint32_t m = match_at_[ordinal];  // stale from an earlier cycle unless it points back here
    if (m < matches_.size() && matches_[m].pod == ordinal) {
      out[id].match_blocks = matches_[m].blocks;
      out[id].weighted = matches_[m].weighted;
    }
  }
}

void precise_prefix_producer::pre_request(hook_context& h) {
  if (!settings_.speculative_indexing || h.result == nullptr || !h.result->ok()) return;
  auto& cursor = h.memo->cursors[producer_index];
  if (cursor.keys() == nullptr) return;
  cursor.rebind(h.request->tokens);
  auto keys = cursor.all();
  auto add = [&](uint32_t id) {
    if (id < ordinal_of_.size() && ordinal_of_[id] != UINT32_MAX)
      index_.add_speculative(keys, ordinal_of_[id], h.now_ns + settings_.speculative_ttl_ns);
  };
  add(h.result->primary().id);
  if (h.result->prefill) add(h.result->prefill->id);
}

// -- parameters and factories -----------------------------------------------------------------

namespace {

using config::fields;
using config::picker_plugin_spec;

std::vector<std::pair<std::string, double>> backend_weights(fields& f, const std::string& key) {
  std::vector<std::pair<std::string, double>> out;
  for (auto& item : f.list(key)) {
    std::string name;
    double weight = 1.0;
    item.get("name", name, true);
    item.get("weight", weight);
    item.finish();
    out.emplace_back(name, weight);
  }
  return out;
}

// Reads a Go time.Duration field of llm-d's JSON configs: an integer is nanoseconds
// (metricsLoggingInterval: 60000000000 is a minute), a string a duration like 1m.
std::chrono::nanoseconds go_duration(fields& f, const std::string& key) {
  std::chrono::nanoseconds out{};
  if (!f.has(key)) return out;
  const auto& v = f.node()[key];
  bool integer = v.IsScalar() && !v.Scalar().empty() &&
                 v.Scalar().find_first_not_of("0123456789") == std::string::npos;
  if (!integer) {
    f.get(key, out);
    return out;
  }
  int64_t ns = 0;
  f.get(key, ns);
  return std::chrono::nanoseconds(ns);
}

void token_processor(fields& f, kv_index_settings& s) {
  auto tp = f.object("tokenProcessorConfig");
  uint64_t block_size = s.block_size;
  tp.get("blockSize", block_size);
  tp.get("blockSizeTokens", block_size);
  if (tp.has("blockSize") || tp.has("blockSizeTokens")) {
    if (block_size == 0)
      tp.diag().add(tp.child_path("blockSize"), "must be positive");
    else
      s.block_size = block_size;
  }
  tp.get("hashSeed", s.hash_seed);
  tp.finish();
}

}  // namespace

approx_prefix_settings read_approx_params(plugin_builder& b, fields& p, bool legacy_char_sizes) {
  approx_prefix_settings s;
  p.get("autoTune", s.auto_tune);
  int block_size = 0;
  p.get("blockSize", block_size);  // deprecated: mapped onto blockSizeTokens, as llm-d does
  if (block_size > 0) s.block_size_tokens = block_size;
  if (legacy_char_sizes) {
    int hash_block_size = 0;  // GAIE v1.0: characters, ~4 per token
    p.get("hashBlockSize", hash_block_size);
    if (hash_block_size > 0) s.block_size_tokens = std::max(1, hash_block_size / 4);
  }
  p.get("blockSizeTokens", s.block_size_tokens);
  p.get("maxPrefixBlocksToMatch", s.max_prefix_blocks);
  p.get("maxPrefixTokensToMatch", s.max_prefix_tokens);
  p.get("lruCapacityPerServer", s.lru_capacity_per_server);
  if (!s.auto_tune && s.block_size_tokens <= 0)
    b.problem(p.child_path("blockSizeTokens"), "must be > 0 when autoTune is disabled");
  if (s.max_prefix_tokens < 0) b.problem(p.child_path("maxPrefixTokensToMatch"), "must be >= 0");
  if (s.max_prefix_blocks < 0) b.problem(p.child_path("maxPrefixBlocksToMatch"), "must be >= 0");
  if (s.lru_capacity_per_server < 0)
    b.problem(p.child_path("lruCapacityPerServer"), "must be >= 0");
  return s;
}

const std::vector<plugin_param>& approx_prefix_params() {
  static const std::vector<plugin_param> list = {
      {"autoTune", "true"},
      {"blockSize", "- (deprecated: blockSizeTokens)"},
      {"blockSizeTokens", "16"},
      {"maxPrefixBlocksToMatch", "0 (unlimited)"},
      {"maxPrefixTokensToMatch", "131072"},
      {"lruCapacityPerServer", "0 (31250)"},
  };
  return list;
}

precise_prefix_settings read_precise_params(plugin_builder& b, fields& p) {
  precise_prefix_settings s;
  token_processor(p, s.index);
  auto indexer = p.object("indexerConfig");
  if (indexer.valid()) {
    token_processor(indexer, s.index);  // llm-d v0.3 kept it here
    auto kv = indexer.object("kvBlockIndexConfig");
    // Accepted and ignored (type-checked): llm-d's index logs its counters every interval; ours
    // logs nothing periodically, and the picker always exports the indexer's size and hit ratio.
    bool metrics = false;
    kv.get("enableMetrics", metrics);
    go_duration(kv, "metricsLoggingInterval");
    auto mem = kv.object("inMemoryConfig");
    uint64_t size = s.index.max_keys, pods = s.index.pod_cache_size;
    mem.get("size", size);
    mem.get("podCacheSize", pods);
    if (mem.has("size")) s.index.max_keys = size;
    if (mem.has("podCacheSize")) {
      if (pods == 0 || pods > 64)
        mem.diag().add(mem.child_path("podCacheSize"), "must be between 1 and 64");
      else
        s.index.pod_cache_size = pods;
    }
    mem.finish();
    for (const char* other : {"costAwareMemoryConfig", "redisConfig", "valkeyConfig"}) {
      if (kv.has(other))
        b.problem(kv.child_path(other), "only the in-memory index (inMemoryConfig) is supported");
      kv.raw(other);
    }
    kv.finish();
    indexer.raw("tokenizersPoolConfig");  // tokens come with the request: unused
    indexer.get("speculativeIndexing", s.speculative_indexing);
    if (indexer.has("backendConfigs"))
      s.index.tier_weights = backend_weights(indexer, "backendConfigs");
    indexer.finish();
  }
  auto events = p.object("kvEventsConfig");
  if (events.valid()) {
    auto& e = s.events;
    events.get("zmqEndpoint", e.zmq_endpoint);
    events.get("topicFilter", e.topic_filter);
    events.get("concurrency", e.concurrency);
    events.get_enum("engineType", e.engine_type, {"vllm"});
    bool tracing = false;
    events.get("tracing", tracing);
    events.get("discoverPods", e.discover_pods);
    auto pd = events.object("podDiscoveryConfig");
    pd.get("podLabelSelector", e.pod_label_selector);
    pd.get("podNamespace", e.pod_namespace);
    pd.get("socketPort", e.socket_port);
    pd.get("replaySocketPort", e.replay_socket_port);
    pd.finish();
    events.finish();
  }
  p.get("speculativeIndexing", s.speculative_indexing);
  std::chrono::nanoseconds ttl{s.speculative_ttl_ns};
  p.get("speculativeTTL", ttl);
  if (ttl.count() > 0) s.speculative_ttl_ns = ttl.count();
  return s;
}

const std::vector<plugin_param>& precise_prefix_params() {
  static const std::vector<plugin_param> list = {
      {"tokenProcessorConfig.blockSize", "16"},
      {"tokenProcessorConfig.blockSizeTokens", "16 (alias of blockSize)"},
      {"tokenProcessorConfig.hashSeed", "\"\""},
      {"indexerConfig.tokenProcessorConfig.blockSize", "16 (llm-d v0.3 place)"},
      {"indexerConfig.tokenProcessorConfig.blockSizeTokens", "16"},
      {"indexerConfig.tokenProcessorConfig.hashSeed", "\"\""},
      {"indexerConfig.kvBlockIndexConfig.enableMetrics", "false (unused)"},
      {"indexerConfig.kvBlockIndexConfig.metricsLoggingInterval",
       "0 (unused; an integer is nanoseconds)"},
      {"indexerConfig.kvBlockIndexConfig.inMemoryConfig.size", "100000000"},
      {"indexerConfig.kvBlockIndexConfig.inMemoryConfig.podCacheSize", "10 (1..64)"},
      {"indexerConfig.kvBlockIndexConfig.costAwareMemoryConfig", "- (refused)"},
      {"indexerConfig.kvBlockIndexConfig.redisConfig", "- (refused)"},
      {"indexerConfig.kvBlockIndexConfig.valkeyConfig", "- (refused)"},
      {"indexerConfig.tokenizersPoolConfig", "- (unused)"},
      {"indexerConfig.speculativeIndexing", "false"},
      {"indexerConfig.backendConfigs", "[{name: gpu, weight: 1.0}, {name: cpu, weight: 0.8}]"},
      {"kvEventsConfig.zmqEndpoint", "\"\" (none)"},
      {"kvEventsConfig.topicFilter", "kv@"},
      {"kvEventsConfig.concurrency", "4"},
      {"kvEventsConfig.engineType", "vllm"},
      {"kvEventsConfig.tracing", "false (unused)"},
      {"kvEventsConfig.discoverPods", "true"},
      {"kvEventsConfig.podDiscoveryConfig.podLabelSelector", "llm-d.ai/inference-serving=true"},
      {"kvEventsConfig.podDiscoveryConfig.podNamespace", "\"\""},
      {"kvEventsConfig.podDiscoveryConfig.socketPort", "5557"},
      {"kvEventsConfig.podDiscoveryConfig.replaySocketPort", "0 (no replay)"},
      {"speculativeIndexing", "false"},
      {"speculativeTTL", "2s"},
  };
  return list;
}

const std::vector<plugin_factory>& producer_factories() {
  static const std::vector<plugin_factory> list = {
      {"approx-prefix-cache-producer", plugin_kind::producer, approx_prefix_params(),
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         auto* prod = b.add(
             std::make_unique<approx_prefix_producer>(s.name, read_approx_params(b, p, false)), &s);
         b.picker().add_producer(prod);
       }},
      {"precise-prefix-cache-producer", plugin_kind::producer, precise_prefix_params(),
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         auto* prod = b.add(std::make_unique<precise_prefix_producer>(
                                "precise-prefix-cache-producer", s.name, read_precise_params(b, p)),
                            &s);
         b.picker().add_producer(prod);
       }},
  };
  return list;
}

}  // namespace inferstack::actors::picker
