#include "actors/picker/scheduling/approx_prefix_index.hpp"

#include <algorithm>

namespace inferstack::actors::picker {

std::span<const uint32_t> approx_prefix_index::pods(uint64_t key) const {
  const holder_list* h = holders_.find(key);
  if (!h) return {};
  if (h->n <= 3) return std::span<const uint32_t>(h->inline_, h->n);
  return spill_[h->inline_[0]];
}

void approx_prefix_index::holder_add(uint64_t key, uint32_t pod) {
  bool inserted = false;
  holder_list& h = holders_.get_or_insert(key, &inserted);
  if (h.n < 3) {
    for (uint32_t i = 0; i < h.n; ++i)
      if (h.inline_[i] == pod) return;
    h.inline_[h.n++] = pod;
    return;
  }
  if (h.n == 3) {
    for (uint32_t i = 0; i < 3; ++i)
      if (h.inline_[i] == pod) return;
    uint32_t slot;
    if (!spill_free_.empty()) {
      slot = spill_free_.back();
      spill_free_.pop_back();
    } else {
      slot = static_cast<uint32_t>(spill_.size());
      spill_.emplace_back();
    }
    spill_[slot].assign(h.inline_, h.inline_ + 3);
    spill_[slot].push_back(pod);
    h.inline_[0] = slot;
    h.n = 4;
    return;
  }
  auto& v = spill_[h.inline_[0]];
  if (std::find(v.begin(), v.end(), pod) != v.end()) return;
  v.push_back(pod);
  ++h.n;
}

void approx_prefix_index::holder_remove(uint64_t key, uint32_t pod) {
  holder_list* h = holders_.find(key);
  if (!h) return;
  if (h->n <= 3) {
    for (uint32_t i = 0; i < h->n; ++i) {
      if (h->inline_[i] == pod) {
        h->inline_[i] = h->inline_[h->n - 1];
        if (--h->n == 0) holders_.erase(key);
        return;
      }
    }
    return;
  }
  uint32_t slot = h->inline_[0];
  auto& v = spill_[slot];
  auto it = std::find(v.begin(), v.end(), pod);
  if (it == v.end()) return;
  *it = v.back();
  v.pop_back();
  --h->n;
  if (h->n == 3) {
    std::copy(v.begin(), v.end(), h->inline_);
    v.clear();
    spill_free_.push_back(slot);
  }
}

uint32_t approx_prefix_index::new_node() {
  if (!free_nodes_.empty()) {
    uint32_t n = free_nodes_.back();
    free_nodes_.pop_back();
    return n;
  }
  nodes_.push_back(node{});
  return static_cast<uint32_t>(nodes_.size() - 1);
}

void approx_prefix_index::unlink(pod_lru& lru, uint32_t n) {
  auto& nd = nodes_[n];
  if (nd.prev != nil)
    nodes_[nd.prev].next = nd.next;
  else
    lru.head = nd.next;
  if (nd.next != nil)
    nodes_[nd.next].prev = nd.prev;
  else
    lru.tail = nd.prev;
}

void approx_prefix_index::push_front(pod_lru& lru, uint32_t n) {
  auto& nd = nodes_[n];
  nd.prev = nil;
  nd.next = lru.head;
  if (lru.head != nil) nodes_[lru.head].prev = n;
  lru.head = n;
  if (lru.tail == nil) lru.tail = n;
}

void approx_prefix_index::add(std::span<const uint64_t> keys, uint32_t pod, size_t capacity) {
  apply(keys, pod, capacity);
  if (observer_) observer_(keys, pod);
}

std::vector<uint64_t> approx_prefix_index::keys_of(uint32_t pod) const {
  std::vector<uint64_t> out;
  if (pod >= pods_.size() || !pods_[pod].used) return out;
  out.reserve(pods_[pod].size);
  for (uint32_t n = pods_[pod].tail; n != nil; n = nodes_[n].prev)
    out.push_back(nodes_[n].key);
  return out;
}

void approx_prefix_index::apply(std::span<const uint64_t> keys, uint32_t pod, size_t capacity) {
  if (pods_.size() <= pod) pods_.resize(pod + 1);
  auto& lru = pods_[pod];
  if (!lru.used) {
    lru.used = true;
    lru.capacity = std::max<size_t>(capacity, 1);
  }
  // golang-lru Add: a present key moves to the front; a new key may evict the oldest.
  for (uint64_t key : keys) {
    bool inserted = false;
    uint32_t& where = lru.where.get_or_insert(key, &inserted);
    if (!inserted) {
      unlink(lru, where);
      push_front(lru, where);
      continue;
    }
    uint32_t n = new_node();
    where = n;
    nodes_[n].key = key;
    push_front(lru, n);
    ++lru.size;
    ++entries_;
    holder_add(key, pod);
    if (lru.size > lru.capacity) {
      uint32_t victim = lru.tail;
      uint64_t victim_key = nodes_[victim].key;
      unlink(lru, victim);
      lru.where.erase(victim_key);
      free_nodes_.push_back(victim);
      --lru.size;
      --entries_;
      holder_remove(victim_key, pod);
    }
  }
}

void approx_prefix_index::remove_pod(uint32_t pod) {
  if (pod >= pods_.size() || !pods_[pod].used) return;
  auto& lru = pods_[pod];
  for (uint32_t n = lru.head; n != nil;) {
    uint32_t next = nodes_[n].next;
    holder_remove(nodes_[n].key, pod);
    free_nodes_.push_back(n);
    n = next;
  }
  entries_ -= lru.size;
  lru = pod_lru{};
}

size_t approx_prefix_index::size() const {
  return entries_;
}

size_t approx_prefix_index::pod_size(uint32_t pod) const {
  return pod < pods_.size() ? pods_[pod].size : 0;
}

size_t approx_prefix_index::memory_bytes() const {
  size_t bytes = holders_.memory_bytes() + nodes_.capacity() * sizeof(node);
  for (const auto& p : pods_)
    bytes += p.where.memory_bytes();
  for (const auto& s : spill_)
    bytes += s.capacity() * sizeof(uint32_t) + sizeof(s);
  return bytes;
}

}  // namespace inferstack::actors::picker
