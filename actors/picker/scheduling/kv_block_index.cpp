#include "actors/picker/scheduling/kv_block_index.hpp"

#include <algorithm>
#include <cctype>

namespace inferstack::actors::picker {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct heap_later {
  template <class T>
  bool operator()(const T& a, const T& b) const {
    return a.expires_ns > b.expires_ns;
  }
};

}  // namespace

kv_block_index::kv_block_index(kv_index_settings settings)
    : settings_(std::move(settings)), keys_(settings_.block_size, settings_.hash_seed) {
  settings_.block_size = keys_.block_size();
  settings_.pod_cache_size = std::clamp<size_t>(settings_.pod_cache_size, 1, max_pod_cache);
  chunk_ = std::max<size_t>(settings_.pod_cache_size, 4);
  if (settings_.max_keys == 0) settings_.max_keys = 100'000'000;
  if (settings_.key_memo_tokens > 0)
    memo_ = std::make_unique<block_key_memo>(
        keys_.block_size(), std::max<size_t>(1, settings_.key_memo_tokens / keys_.block_size()));
  gpu_tier_ = tier_index("gpu");
}

uint32_t kv_block_index::tier_index(std::string_view tier) {
  for (uint32_t i = 0; i < tiers_.size(); ++i)
    if (tiers_[i] == tier) return i;
  double w = 1.0;
  for (const auto& [name, weight] : settings_.tier_weights)
    if (name == tier) w = weight;
  tiers_.emplace_back(tier);
  tier_weights_.push_back(w);
  return static_cast<uint32_t>(tiers_.size() - 1);
}

double kv_block_index::tier_weight(std::string_view tier) const {
  for (const auto& [name, weight] : settings_.tier_weights)
    if (name == tier) return weight;
  return 1.0;
}

uint32_t kv_block_index::intern(std::string_view pod) {
  auto it = pod_ids_.find(std::string(pod));
  if (it != pod_ids_.end()) return it->second;
  auto ordinal = static_cast<uint32_t>(pod_names_.size());
  pod_names_.emplace_back(pod);
  pod_ids_.emplace(std::string(pod), ordinal);
  return ordinal;
}

std::optional<uint32_t> kv_block_index::find_pod(std::string_view pod) const {
  auto it = pod_ids_.find(std::string(pod));
  if (it == pod_ids_.end()) return std::nullopt;
  return it->second;
}

bool kv_block_index::bind(std::string_view alias, uint32_t ordinal) {
  auto [it, inserted] = pod_ids_.emplace(std::string(alias), ordinal);
  return inserted || it->second == ordinal;
}

// -- pod lists --------------------------------------------------------------------------------

size_t kv_block_index::load(const pod_list& list, uint32_t* out) const {
  auto entries = view(list);
  std::copy(entries.begin(), entries.end(), out);
  return entries.size();
}

void kv_block_index::store(pod_list& list, const uint32_t* entries, size_t n) {
  if (n <= 3) {
    release(list);
    std::copy(entries, entries + n, list.inline_);
  } else {
    if (list.n <= 3) {
      uint32_t slot;
      if (!spill_free_.empty()) {
        slot = spill_free_.back();
        spill_free_.pop_back();
      } else {
        slot = static_cast<uint32_t>(spill_.size() / chunk_);
        spill_.resize(spill_.size() + chunk_);
      }
      list.inline_[0] = slot;
    }
    std::copy(entries, entries + n, spill_.data() + size_t{list.inline_[0]} * chunk_);
  }
  list.n = static_cast<uint16_t>(n);
}

void kv_block_index::release(pod_list& list) {
  if (list.n > 3) spill_free_.push_back(list.inline_[0]);
  list.n = 0;
}

void kv_block_index::add_entries(uint64_t request_key, const uint32_t* records, size_t count) {
  bool inserted = false;
  pod_list& list = requests_.get_or_insert(request_key, &inserted);
  uint32_t entries[max_pod_cache + 1];
  if (inserted) list.n = 0;
  size_t n = load(list, entries);
  // PodCache.addAll: an existing entry moves to the back (most recent), a new one appends, and
  // a full cache drops its least recent entry.
  for (size_t r = 0; r < count; ++r) {
    uint32_t rec = records[r];
    size_t found = n;
    for (size_t i = 0; i < n; ++i)
      if (entries[i] == rec) found = i;
    if (found < n) {
      std::copy(entries + found + 1, entries + n, entries + found);
      entries[n - 1] = rec;
      continue;
    }
    if (n >= settings_.pod_cache_size) {
      std::copy(entries + 1, entries + n, entries);
      entries[n - 1] = rec;
      continue;
    }
    entries[n++] = rec;
  }
  store(list, entries, n);
  list.touched = 1;
  if (inserted) enforce_capacity();
}

bool kv_block_index::remove_entry(uint64_t request_key, uint32_t record) {
  pod_list* list = requests_.find(request_key);
  if (!list) return false;
  uint32_t entries[max_pod_cache];
  size_t n = load(*list, entries);
  size_t out = 0;
  bool removed = false;
  for (size_t i = 0; i < n; ++i) {
    if (!removed && entries[i] == record) {
      removed = true;
      continue;
    }
    entries[out++] = entries[i];
  }
  if (!removed) return false;
  if (out == 0) {
    release(*list);
    requests_.erase(request_key);
    return true;
  }
  store(*list, entries, out);
  return false;
}

void kv_block_index::set_engine(uint64_t engine_key, const uint64_t* request_keys, size_t n) {
  bool inserted = false;
  engine_.get_or_insert(engine_key, &inserted) = request_keys[n - 1];
  if (n > 1)
    engine_multi_[engine_key].assign(request_keys, request_keys + n);
  else if (!engine_multi_.empty())
    engine_multi_.erase(engine_key);
  if (inserted && engine_.size() > settings_.max_keys) {
    // Engine keys have no recency bit: the sweep drops whatever the hand points at.
    while (engine_.size() > settings_.max_keys) {
      engine_hand_ &= engine_.capacity() - 1;
      if (engine_.slot_used(engine_hand_)) {
        uint64_t k = engine_.slot_at(engine_hand_).key;
        if (k != engine_key) {
          engine_multi_.erase(k);
          engine_.erase_at(engine_hand_);
          continue;
        }
      }
      ++engine_hand_;
    }
  }
}

std::optional<uint64_t> kv_block_index::request_key(uint64_t engine_key) const {
  const uint64_t* rk = engine_.find(engine_key);
  if (!rk) return std::nullopt;
  return *rk;
}

void kv_block_index::enforce_capacity() {
  while (requests_.size() > settings_.max_keys) {
    request_hand_ &= requests_.capacity() - 1;
    if (requests_.slot_used(request_hand_)) {
      auto& s = requests_.slot_at(request_hand_);
      if (s.value.touched) {
        s.value.touched = 0;  // second chance
      } else {
        drop_request_key_at(request_hand_);
        continue;  // the slot now holds a shifted entry (or is empty)
      }
    }
    ++request_hand_;
  }
}

void kv_block_index::drop_request_key_at(size_t slot) {
  release(requests_.slot_at(slot).value);
  requests_.erase_at(slot);
}

void kv_block_index::evict_engine_key(uint64_t engine_key, uint32_t record) {
  const uint64_t* last = engine_.find(engine_key);
  if (!last) return;  // unknown engine key: nothing to evict
  auto multi = engine_multi_.empty() ? engine_multi_.end() : engine_multi_.find(engine_key);
  bool all_empty = true;
  if (multi != engine_multi_.end()) {
    for (uint64_t rk : multi->second)
      remove_entry(rk, record);
    for (uint64_t rk : multi->second)
      if (requests_.find(rk)) all_empty = false;
  } else {
    uint64_t rk = *last;
    remove_entry(rk, record);
    all_empty = requests_.find(rk) == nullptr;
  }
  if (all_empty) {
    if (multi != engine_multi_.end()) engine_multi_.erase(multi);
    engine_.erase(engine_key);
  }
}

// -- events -----------------------------------------------------------------------------------

std::vector<uint64_t> kv_block_index::request_keys(std::span<const uint32_t> tokens,
                                                   std::string_view model, uint64_t parent) {
  if (!memo_) return keys_.keys(tokens, model, parent);
  // Same chain as kv_block_keys::keys, through the memo.
  std::vector<uint64_t> out;
  size_t bs = keys_.block_size(), full = tokens.size() / bs;
  out.reserve(full);
  uint64_t prev = parent != 0 ? parent : keys_.root(model);
  for (size_t i = 0; i < full; ++i) {
    prev = memo_->key(keys_, prev, tokens.subspan(i * bs, bs));
    out.push_back(prev);
  }
  return out;
}

kv_apply_stats kv_block_index::apply(std::string_view pod, std::string_view model,
                                     const runtime::event_batch& batch) {
  uint32_t ordinal = intern(pod);
  kv_apply_stats total;
  for (const auto& event : batch.events) {
    auto s = apply(ordinal, model, event);
    total.stored_events += s.stored_events;
    total.stored_blocks += s.stored_blocks;
    total.skipped_events += s.skipped_events;
    total.removed_blocks += s.removed_blocks;
    total.cleared += s.cleared;
  }
  return total;
}

kv_apply_stats kv_block_index::apply(uint32_t pod, std::string_view model,
                                     const runtime::kv_event& event) {
  kv_apply_stats stats;
  if (const auto* stored = std::get_if<runtime::block_stored>(&event)) {
    std::string tier = stored->medium.empty() ? std::string("gpu") : lower(stored->medium);
    uint32_t record = encode(pod, tier_index(tier), false);
    std::string_view effective_model = model;
    if (stored->lora_name && !stored->lora_name->empty()) effective_model = *stored->lora_name;

    uint64_t parent_request_key = 0;  // 0: start at the model's root
    if (stored->parent_block_hash && *stored->parent_block_hash != 0) {
      const uint64_t* parent = engine_.find(*stored->parent_block_hash);
      if (!parent) {
        ++stats.skipped_events;  // llm-d skips the store: the chain cannot be anchored
        return stats;
      }
      parent_request_key = *parent;
    }
    auto request_keys = this->request_keys(stored->token_ids, effective_model, parent_request_key);
    const auto& engine_keys = stored->block_hashes;
    if (request_keys.empty()) {
      // A tier move (no tokens): the engine keys name blocks the index already knows.
      if (!stored->token_ids.empty() || engine_keys.empty()) {
        ++stats.skipped_events;
        return stats;
      }
      std::vector<uint64_t> resolved;
      for (uint64_t ek : engine_keys) {
        auto multi = engine_multi_.find(ek);
        if (multi != engine_multi_.end()) {
          for (uint64_t rk : multi->second)
            if (std::find(resolved.begin(), resolved.end(), rk) == resolved.end())
              resolved.push_back(rk);
        } else if (const uint64_t* rk = engine_.find(ek)) {
          if (std::find(resolved.begin(), resolved.end(), *rk) == resolved.end())
            resolved.push_back(*rk);
        }
      }
      if (resolved.empty()) {
        ++stats.skipped_events;
        return stats;
      }
      for (uint64_t rk : resolved)
        add_entries(rk, &record, 1);
    } else {
      // Engine -> request mapping by proportion of lengths: 1:1, many:1 or 1:many.
      if (!engine_keys.empty()) {
        size_t ne = engine_keys.size(), nr = request_keys.size(), n = std::max(ne, nr);
        if (ne == nr) {
          for (size_t i = 0; i < n; ++i)
            set_engine(engine_keys[i], &request_keys[i], 1);
        } else {
          std::vector<uint64_t> mapped;
          for (size_t i = 0; i < n;) {
            uint64_t ek = engine_keys[i * ne / n];
            mapped.clear();
            while (i < n && engine_keys[i * ne / n] == ek) {
              uint64_t rk = request_keys[i * nr / n];
              if (mapped.empty() || mapped.back() != rk) mapped.push_back(rk);
              ++i;
            }
            set_engine(ek, mapped.data(), mapped.size());
          }
        }
      }
      for (uint64_t rk : request_keys)
        add_entries(rk, &record, 1);
      stats.stored_blocks += request_keys.size();
    }
    ++stats.stored_events;
    auto& bucket = refs_[(uint64_t{pod} << 32) | entry_tier(record)];
    for (uint64_t ek : engine_keys)
      ++bucket.get_or_insert(ek);
    return stats;
  }
  if (const auto* removed = std::get_if<runtime::block_removed>(&event)) {
    std::string tier = removed->medium.empty() ? std::string("gpu") : lower(removed->medium);
    uint32_t record = encode(pod, tier_index(tier), false);
    auto bucket_it = refs_.find((uint64_t{pod} << 32) | entry_tier(record));
    for (uint64_t ek : removed->block_hashes) {
      if (bucket_it != refs_.end()) {
        uint32_t* count = bucket_it->second.find(ek);
        if (count && *count > 0) {
          if (--*count > 0) continue;  // another announcement still holds the block
          bucket_it->second.erase(ek);
        }
      }
      evict_engine_key(ek, record);
      ++stats.removed_blocks;
    }
    if (bucket_it != refs_.end() && bucket_it->second.empty()) refs_.erase(bucket_it);
    return stats;
  }
  clear_pod(pod);
  ++stats.cleared;
  return stats;
}

void kv_block_index::clear_pod(std::string_view pod) {
  if (auto ordinal = find_pod(pod)) clear_pod(*ordinal);
}

void kv_block_index::clear_pod(uint32_t pod) {
  // O(index): rare (pod reset, sequence gap, pod removal), as in llm-d's Index.Clear.
  requests_.erase_if([&](uint64_t key, pod_list& list) {
    uint32_t entries[max_pod_cache];
    size_t n = load(list, entries);
    size_t out = 0;
    for (size_t i = 0; i < n; ++i)
      if (entry_pod(entries[i]) != pod) entries[out++] = entries[i];
    if (out == n) return false;
    if (out == 0) {
      release(list);
      return true;
    }
    store(list, entries, out);
    return false;
  });
  for (auto it = refs_.begin(); it != refs_.end();) {
    if ((it->first >> 32) == pod)
      it = refs_.erase(it);
    else
      ++it;
  }
}

// -- speculation ------------------------------------------------------------------------------

void kv_block_index::add_speculative(std::span<const uint64_t> keys, uint32_t pod,
                                     int64_t expires_ns) {
  if (keys.empty()) return;
  uint32_t record = encode(pod, gpu_tier_, true);
  for (uint64_t k : keys)
    add_entries(k, &record, 1);
  speculative_.push_back(speculation{expires_ns, pod, {keys.begin(), keys.end()}});
  std::push_heap(speculative_.begin(), speculative_.end(), heap_later{});
}

void kv_block_index::expire(int64_t now_ns) {
  while (!speculative_.empty() && speculative_.front().expires_ns <= now_ns) {
    std::pop_heap(speculative_.begin(), speculative_.end(), heap_later{});
    auto& s = speculative_.back();
    uint32_t record = encode(s.pod, gpu_tier_, true);
    for (uint64_t k : s.keys)
      remove_entry(k, record);
    speculative_.pop_back();
  }
}

// -- introspection ----------------------------------------------------------------------------

std::vector<kv_pod_entry> kv_block_index::entries(uint64_t request_key) const {
  std::vector<kv_pod_entry> out;
  const pod_list* list = requests_.find(request_key);
  if (!list) return out;
  uint32_t raw[max_pod_cache];
  size_t n = load(*list, raw);
  for (size_t i = 0; i < n; ++i)
    out.push_back(
        kv_pod_entry{entry_pod(raw[i]), tiers_[entry_tier(raw[i])], (raw[i] & spec_bit) != 0});
  return out;
}

size_t kv_block_index::memory_bytes() const {
  size_t bytes = requests_.memory_bytes() + engine_.memory_bytes();
  bytes += spill_.capacity() * sizeof(uint32_t) + spill_free_.capacity() * sizeof(uint32_t);
  if (memo_) bytes += memo_->memory_bytes();
  for (const auto& [k, v] : refs_)
    bytes += v.memory_bytes();
  return bytes;
}

}  // namespace inferstack::actors::picker
