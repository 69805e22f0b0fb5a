// The approximate prefix index (llm-d's approx-prefix-cache-producer indexer): which pods this
// picker recently sent which prompt blocks to. Each pod has an LRU of block keys with a bounded
// capacity (its GPU block count when known); a key evicted from a pod's LRU leaves that pod's
// entry in the key -> pods table.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "actors/picker/scheduling/flat_map.hpp"

namespace inferstack::actors::picker {

class approx_prefix_index {
 public:
  /// Records that `pod` (an endpoint id) now holds `keys`; the pod's LRU has `capacity` entries
  /// (fixed when the pod is first seen, like llm-d's per-pod golang-lru).
  void add(std::span<const uint64_t> keys, uint32_t pod, size_t capacity);

  /// As add(), for a decision another picker replica made: the add observer is not told (it
  /// tells the peers of this replica's own decisions only).
  void apply(std::span<const uint64_t> keys, uint32_t pod, size_t capacity);

  /// Told of every add() (picker replication journals this picker's decisions); empty: none.
  using add_observer = std::function<void(std::span<const uint64_t> keys, uint32_t pod)>;
  void observe_adds(add_observer observer) { observer_ = std::move(observer); }

  /// The keys `pod` holds, least recently used first (a snapshot replayed through apply() in
  /// this order leaves the same LRU order).
  std::vector<uint64_t> keys_of(uint32_t pod) const;

  /// Pods holding `key` (endpoint ids), or an empty span.
  std::span<const uint32_t> pods(uint64_t key) const;

  void prefetch(uint64_t key) const { holders_.prefetch(key); }

  void remove_pod(uint32_t pod);

  size_t size() const;  ///< (pod, key) entries: prefix_indexer_size
  size_t keys() const { return holders_.size(); }
  size_t pod_size(uint32_t pod) const;
  size_t memory_bytes() const;

 private:
  struct holder_list {
    uint32_t inline_[3];
    uint32_t n;  // entries; past 3 they live in spill_[spill index stored in inline_[0]]
  };
  struct node {
    uint64_t key;
    uint32_t prev, next;
  };
  struct pod_lru {
    bool used = false;
    size_t capacity = 0;
    size_t size = 0;
    uint32_t head = nil, tail = nil;  // head: most recent
    flat_map64<uint32_t> where;       // key -> node
  };
  static constexpr uint32_t nil = 0xffffffffu;

  void holder_add(uint64_t key, uint32_t pod);
  void holder_remove(uint64_t key, uint32_t pod);
  uint32_t new_node();
  void unlink(pod_lru& lru, uint32_t n);
  void push_front(pod_lru& lru, uint32_t n);

  flat_map64<holder_list> holders_;
  std::vector<std::vector<uint32_t>> spill_;  // holder lists longer than 3
  std::vector<uint32_t> spill_free_;
  std::vector<pod_lru> pods_;
  std::vector<node> nodes_;
  std::vector<uint32_t> free_nodes_;
  size_t entries_ = 0;
  add_observer observer_;
};

}  // namespace inferstack::actors::picker
