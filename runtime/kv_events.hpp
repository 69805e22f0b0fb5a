// vLLM KV-cache events (vllm/distributed/kv_events.py) and their msgpack wire forms.
//
// Pods publish these so that an indexer (our picker, or llm-d's) can track which KV blocks each
// pod holds; our picker also consumes them from real vLLM pods and llm-d-inference-sim. The
// encoder writes the two layouts producers use today; the decoder accepts everything we have
// seen real producers send (see decode_batch).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace inferstack::runtime {

/// Blocks newly stored under their keys (one event may cover several consecutive blocks).
struct block_stored {
  std::vector<uint64_t> block_hashes;
  std::optional<uint64_t> parent_block_hash;  ///< key of the block before the first one; none
  std::vector<uint32_t> token_ids;            ///< the blocks' tokens, concatenated
  uint32_t block_size = 16;
  std::optional<int64_t> lora_id;
  std::string medium = "GPU";
  std::optional<std::string> lora_name;

  bool operator==(const block_stored&) const = default;
};

/// Blocks evicted from the cache.
struct block_removed {
  std::vector<uint64_t> block_hashes;
  std::string medium = "GPU";

  bool operator==(const block_removed&) const = default;
};

/// Every block of the producer is gone (reset of the prefix cache, sleep).
struct all_blocks_cleared {
  bool operator==(const all_blocks_cleared&) const = default;
};

using kv_event = std::variant<block_stored, block_removed, all_blocks_cleared>;

/// vLLM's EventBatch.
struct event_batch {
  double ts = 0;  ///< seconds since the epoch (of the producer's clock)
  std::vector<kv_event> events;
  std::optional<int> data_parallel_rank;

  bool operator==(const event_batch&) const = default;
};

enum class event_format {
  /// Positional arrays, llm-d-inference-sim's default ("legacy") layout and vLLM's before
  /// PR #42892: BlockStored is always written with 9 slots
  /// [tag, hashes, parent|0, tokens, block_size, lora_id|nil, medium, lora_name|nil, nil].
  array,
  /// vLLM >= PR #42892 (and the simulator's --use-vllm-map-event-format): each event is a map
  /// with the tag under "type"; lora_id / lora_name are left out when absent.
  map,
};

/// The msgpack payload of one ZeroMQ KV-event message: the batch is always the positional array
/// [ts, [events...], dp_rank] (the rank is left out when it has no value, as vLLM's omit_defaults
/// does). Integers use msgpack's smallest encoding, as vLLM (msgspec) writes them.
std::string encode_batch(const event_batch& batch, event_format format = event_format::array);

/// Decodes a payload from any producer we know of. Accepts:
/// - the batch as [ts, events] or [ts, events, dp_rank|nil] (extra trailing slots ignored) or as
///   a map {"ts", "events", "data_parallel_rank"};
/// - events as tagged arrays or as maps with "type"; trailing array slots may be missing and
///   unknown map keys or extra slots are ignored; events of unknown type are skipped;
/// - hashes as uint64, int64 (two's complement) or bytes (the last 8 bytes big-endian, vLLM's
///   convention for int hashes);
/// - a parent hash of nil or 0 meaning "none".
/// Never throws; on malformed input returns nullopt and, when `error` is given, says why.
std::optional<event_batch> decode_batch(std::string_view bytes, std::string* error = nullptr);

std::string_view event_type_name(const kv_event& event);

}  // namespace inferstack::runtime
