// An open-addressing hash map from 64-bit keys (block hashes) to small trivially copyable values:
// linear probing, backward-shift deletion (no tombstones), one flat array where key 0 marks an
// empty slot (a real key 0 lives aside), so a probe touches one cache line. The prefix indexes
// hold millions of keys; a node-based map would spend more on bookkeeping than on the data.
#pragma once

#include <sys/mman.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace inferstack::actors::picker {

/// Allocates arrays of 2 MB and more on transparent huge pages (madvise; the kernel may decline).
/// The prefix indexes are tens of MB probed at random: with 4 KB pages nearly every probe also
/// misses the TLB, and under a hypervisor a page walk costs several memory accesses.
template <class T>
struct huge_page_allocator {
  using value_type = T;
  static constexpr size_t huge_page_bytes = size_t{2} << 20;

  huge_page_allocator() = default;
  template <class U>
  huge_page_allocator(const huge_page_allocator<U>&) {}

  T* allocate(size_t n) {
    size_t bytes = n * sizeof(T);
    if (bytes < huge_page_bytes) return std::allocator<T>().allocate(n);
    size_t rounded = (bytes + huge_page_bytes - 1) & ~(huge_page_bytes - 1);
    void* p = std::aligned_alloc(huge_page_bytes, rounded);
    if (!p) throw std::bad_alloc();
    ::madvise(p, rounded, MADV_HUGEPAGE);  // before the first touch: faults then map 2 MB
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) {
    if (n * sizeof(T) < huge_page_bytes)
      std::allocator<T>().deallocate(p, n);
    else
      std::free(p);
  }
  template <class U>
  bool operator==(const huge_page_allocator<U>&) const {
    return true;
  }
};

template <class T>
using huge_page_vector = std::vector<T, huge_page_allocator<T>>;

template <class V>
class flat_map64 {
  static_assert(std::is_trivially_copyable_v<V>);

 public:
  struct slot {
    uint64_t key;
    V value;
  };

  flat_map64() = default;

  size_t size() const { return size_ + (has_zero_ ? 1 : 0); }
  bool empty() const { return size() == 0; }
  size_t capacity() const { return slots_.size(); }
  size_t memory_bytes() const { return slots_.size() * sizeof(slot); }

  /// Starts loading `key`'s home slot (lookups of chained keys overlap memory with hashing).
  void prefetch(uint64_t key) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[home(key)]);
  }

  V* find(uint64_t key) {
    if (key == 0) return has_zero_ ? &zero_value_ : nullptr;
    if (size_ == 0) return nullptr;  // also covers "no slots yet"
    for (size_t i = home(key);; i = next(i)) {
      if (slots_[i].key == key) return &slots_[i].value;
      if (slots_[i].key == 0) return nullptr;
    }
  }
  const V* find(uint64_t key) const { return const_cast<flat_map64*>(this)->find(key); }

  /// The value under `key`, value-initialised when new; `inserted` says which.
  V& get_or_insert(uint64_t key, bool* inserted = nullptr) {
    if (key == 0) {
      if (inserted) *inserted = !has_zero_;
      if (!has_zero_) zero_value_ = V{};
      has_zero_ = true;
      return zero_value_;
    }
    if ((size_ + 1) * 8 > slots_.size() * 7) grow();
    size_t i = home(key);
    for (; slots_[i].key != 0; i = next(i)) {
      if (slots_[i].key == key) {
        if (inserted) *inserted = false;
        return slots_[i].value;
      }
    }
    slots_[i].key = key;
    slots_[i].value = V{};
    ++size_;
    if (inserted) *inserted = true;
    return slots_[i].value;
  }

  bool erase(uint64_t key) {
    if (key == 0) {
      bool had = has_zero_;
      has_zero_ = false;
      return had;
    }
    if (size_ == 0) return false;
    size_t i = home(key);
    for (;; i = next(i)) {
      if (slots_[i].key == key) break;
      if (slots_[i].key == 0) return false;
    }
    erase_slot(i);
    return true;
  }

  void clear() {
    slots_.clear();
    size_ = 0;
    has_zero_ = false;
    mask_ = 0;
  }

  /// Calls f(key, value&) for every entry; f returns true to erase the entry. Entries moved by
  /// backward shifting are visited exactly once.
  template <class F>
  void erase_if(F&& f) {
    if (has_zero_ && f(uint64_t{0}, zero_value_)) has_zero_ = false;
    if (size_ == 0) return;
    // Start right after an empty slot so no cluster wraps around the scan's start.
    size_t start = 0;
    while (slots_[start].key != 0)
      ++start;
    size_t n = slots_.size();
    for (size_t step = 0; step < n;) {
      size_t i = (start + step) & mask_;
      if (slots_[i].key != 0 && f(slots_[i].key, slots_[i].value)) {
        erase_slot(i);  // slot i now holds the next entry of the cluster (or is empty)
        continue;
      }
      ++step;
    }
  }

  template <class F>
  void for_each(F&& f) const {
    if (has_zero_) f(uint64_t{0}, zero_value_);
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].key != 0) f(slots_[i].key, slots_[i].value);
  }

  /// Slot access for clock-style sweeps (index in [0, capacity)).
  bool slot_used(size_t i) const { return slots_[i].key != 0; }
  slot& slot_at(size_t i) { return slots_[i]; }
  void erase_at(size_t i) { erase_slot(i); }

 private:
  static uint64_t mix(uint64_t k) {
    // Keys are already hashes, but sequential test keys must not cluster.
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
  }
  size_t home(uint64_t key) const { return static_cast<size_t>(mix(key)) & mask_; }
  size_t next(size_t i) const { return (i + 1) & mask_; }

  void erase_slot(size_t i) {
    // Backward shift: pull later members of the cluster into the hole when that keeps them
    // reachable from their home slot.
    size_t hole = i;
    for (size_t j = next(i);; j = next(j)) {
      if (slots_[j].key == 0) break;
      size_t h = home(slots_[j].key);
      bool movable = hole <= j ? (h <= hole || h > j) : (h <= hole && h > j);
      if (movable) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole].key = 0;
    --size_;
  }

  void grow() {
    size_t n = slots_.empty() ? 16 : slots_.size() * 2;
    huge_page_vector<slot> old_slots(n);  // value-initialised: every key 0, i.e. empty
    old_slots.swap(slots_);
    mask_ = n - 1;
    size_ = 0;
    for (size_t i = 0; i < old_slots.size(); ++i) {
      if (old_slots[i].key == 0) continue;
      size_t j = home(old_slots[i].key);
      while (slots_[j].key != 0)
        j = next(j);
      slots_[j] = old_slots[i];
      ++size_;
    }
  }

  huge_page_vector<slot> slots_;
  size_t size_ = 0;
  size_t mask_ = 0;
  bool has_zero_ = false;
  V zero_value_{};
};

}  // namespace inferstack::actors::picker
