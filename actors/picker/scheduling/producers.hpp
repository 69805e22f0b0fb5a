// Data producers: prefix match information per endpoint, computed once per cycle before the
// profiles run (llm-d's approx-prefix-cache-producer and precise-prefix-cache-producer).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/picker/scheduling/approx_prefix_index.hpp"
#include "actors/picker/scheduling/kv_block_index.hpp"
#include "actors/picker/scheduling/plugin.hpp"
#include "actors/picker/scheduling/plugin_factory.hpp"

namespace inferstack::actors::picker {

/// llm-d approx-prefix-cache-producer parameters (HEAD names; legacy GAIE names map onto them).
struct approx_prefix_settings {
  bool auto_tune = true;            ///< autoTune: block size and LRU capacity from load reports
  int block_size_tokens = 16;       ///< blockSizeTokens (floored to 64, llm-d issue #1158)
  int max_prefix_blocks = 0;        ///< maxPrefixBlocksToMatch (0: unlimited)
  int max_prefix_tokens = 131072;   ///< maxPrefixTokensToMatch (wins when > 0)
  int lru_capacity_per_server = 0;  ///< lruCapacityPerServer (0: 31250)
};

inline constexpr int approx_min_block_size_tokens = 64;
inline constexpr int approx_default_lru_capacity = 31250;
/// Tokens of distinct block content whose keys the approximate producer memoises.
inline constexpr size_t approx_key_memo_tokens = 1 << 20;

class approx_prefix_producer : public prefix_producer {
 public:
  approx_prefix_producer(std::string name, approx_prefix_settings settings);

  void produce(cycle& c) override;
  bool has_pre_request() const override { return true; }
  void pre_request(hook_context& h) override;
  void endpoint_removed(uint32_t id, const endpoint_state& e) override;

  /// The block size a cycle over `endpoints` uses (autotuned from the first endpoint).
  size_t block_size(const pool_state& pool, std::span<const uint32_t> endpoints) const;
  size_t max_blocks(size_t block_size) const;
  size_t lru_capacity(const endpoint_state& e) const;

  const approx_prefix_settings& settings() const { return settings_; }
  approx_prefix_index& index() { return index_; }
  const approx_prefix_index& index() const { return index_; }

 private:
  const runtime::kv_block_keys& keys_for(size_t block_size);

  approx_prefix_settings settings_;
  approx_prefix_index index_;
  std::map<size_t, std::unique_ptr<runtime::kv_block_keys>> keys_;
  std::map<size_t, std::unique_ptr<block_key_memo>> memos_;
  std::vector<uint32_t> counts_;
};

/// Where the actor should get KV events (llm-d kvEventsConfig); the picker itself does no I/O.
struct kv_events_settings {
  std::string zmq_endpoint;  ///< zmqEndpoint: a central SUB socket to bind ("" : none)
  std::string topic_filter = "kv@";
  int concurrency = 4;
  bool discover_pods = true;  ///< subscribe to each pod at tcp://<pod ip>:<socket_port>
  int socket_port = 5557;
  int replay_socket_port = 0;  ///< 0: replay disabled
  std::string pod_label_selector = "llm-d.ai/inference-serving=true";
  std::string pod_namespace;
  std::string engine_type = "vllm";
};

struct precise_prefix_settings {
  kv_index_settings index;
  bool speculative_indexing = false;
  int64_t speculative_ttl_ns = 2'000'000'000;
  kv_events_settings events;
};

class precise_prefix_producer : public prefix_producer {
 public:
  precise_prefix_producer(std::string type, std::string name, precise_prefix_settings settings);

  void produce(cycle& c) override;
  bool has_pre_request() const override { return settings_.speculative_indexing; }
  void pre_request(hook_context& h) override;
  void endpoint_added(uint32_t id, const endpoint_state& e) override;
  void endpoint_removed(uint32_t id, const endpoint_state& e) override;

  const precise_prefix_settings& settings() const { return settings_; }
  kv_block_index& index() { return index_; }
  const kv_block_index& index() const { return index_; }

 private:
  precise_prefix_settings settings_;
  kv_block_index index_;
  void unbind(uint32_t id);
  /// Every live endpoint is a candidate and has an ordinal of its own: produce() needs no
  /// per-endpoint pass to know which ordinals count, and patches only the matched ones.
  bool whole_pool(const cycle& c) const;

  std::vector<uint32_t> ordinal_of_;  // endpoint id -> index ordinal (or none)
  // Ordinal -> the endpoint ids bound to it (how many; the id when one), and how many ordinals
  // more than one endpoint shares (aliases: one pod known by two endpoints).
  std::vector<uint32_t> ids_of_ordinal_, id_of_ordinal_;
  size_t bound_ids_ = 0, shared_ordinals_ = 0;
  std::vector<uint32_t> allowed_stamp_;
  uint32_t stamp_ = 0;
  std::vector<kv_pod_match> matches_;
  std::vector<uint32_t> match_at_;  // index ordinal -> position in matches_ (when matched)
};

/// Producers accepted for compatibility with llm-d configs whose work happens elsewhere in our
/// stack (tokens come with the request, load is pushed, requests are parsed by the gateway):
/// they validate their parameters and do nothing per request.
class passive_plugin : public plugin {
 public:
  using plugin::plugin;
};

/// The parameters of approx-prefix-cache-producer, also those of a prefix-cache-scorer that
/// carries its own indexer (GAIE v1.0, where hashBlockSize in characters is read too).
approx_prefix_settings read_approx_params(plugin_builder& b, config::fields& p,
                                          bool legacy_char_sizes);
const std::vector<plugin_param>& approx_prefix_params();

/// The parameters of precise-prefix-cache-producer and precise-prefix-cache-scorer.
precise_prefix_settings read_precise_params(plugin_builder& b, config::fields& p);
const std::vector<plugin_param>& precise_prefix_params();

}  // namespace inferstack::actors::picker
