#include "actors/pod/engine/kv_cache.hpp"

#include <algorithm>
#include <stdexcept>

namespace inferstack::actors::pod::engine {

kv_cache::kv_cache(kv_cache_config config)
    : config_(std::move(config)), keys_(config_.block_size, config_.hash_seed) {
  if (config_.block_size == 0) throw std::invalid_argument("kv cache: block size must be > 0");
  if (config_.num_gpu_blocks == 0 || config_.num_gpu_blocks == none)
    throw std::invalid_argument("kv cache: number of GPU blocks must be > 0");
  blocks_.resize(config_.num_gpu_blocks);
  for (uint32_t b = 0; b < config_.num_gpu_blocks; ++b)
    push_free_back(b);
  names_.emplace_back();
}

double kv_cache::usage() const {
  return static_cast<double>(num_used_blocks()) / static_cast<double>(config_.num_gpu_blocks);
}

uint32_t kv_cache::blocks_for(uint64_t num_tokens) const {
  return static_cast<uint32_t>((num_tokens + config_.block_size - 1) / config_.block_size);
}

// -- free queue: an intrusive doubly linked list over blocks_ -------------------------------------

void kv_cache::push_free_back(uint32_t b) {
  auto& blk = blocks_[b];
  blk.prev = free_tail_;
  blk.next = none;
  blk.in_free = true;
  if (free_tail_ != none)
    blocks_[free_tail_].next = b;
  else
    free_head_ = b;
  free_tail_ = b;
  ++num_free_;
}

void kv_cache::remove_free(uint32_t b) {
  auto& blk = blocks_[b];
  if (blk.prev != none)
    blocks_[blk.prev].next = blk.next;
  else
    free_head_ = blk.next;
  if (blk.next != none)
    blocks_[blk.next].prev = blk.prev;
  else
    free_tail_ = blk.prev;
  blk.prev = blk.next = none;
  blk.in_free = false;
  --num_free_;
}

uint32_t kv_cache::pop_free_front(std::vector<uint64_t>& evicted) {
  uint32_t b = free_head_;
  remove_free(b);
  auto& blk = blocks_[b];
  if (blk.cached) {
    cached_.erase(blk.key);
    blk.cached = false;
    evicted.push_back(blk.key);
  }
  return b;
}

void kv_cache::take_blocks(request& r, uint32_t n) {
  evicted_scratch_.clear();
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t b = pop_free_front(evicted_scratch_);
    blocks_[b].ref = 1;
    r.blocks.push_back(b);
  }
  if (config_.enable_events && !evicted_scratch_.empty())
    events_.emplace_back(std::in_place_type<runtime::block_removed>, evicted_scratch_, "GPU");
}

uint32_t kv_cache::intern(std::string_view name) {
  if (name.empty()) return 0;
  if (auto it = name_index_.find(name); it != name_index_.end()) return it->second;
  auto index = static_cast<uint32_t>(names_.size());
  names_.emplace_back(name);
  name_index_.emplace(std::string(name), index);
  return index;
}

// -- lookups and allocation -----------------------------------------------------------------------

prefix_match kv_cache::find_cached_prefix(std::span<const uint32_t> tokens,
                                          std::string_view model) const {
  prefix_match m;
  if (!config_.enable_prefix_caching || asleep_ || tokens.empty()) return m;
  const size_t bs = config_.block_size;
  uint64_t parent = keys_.root(model);
  // Keep at least the last token out of the match, so prefill always has work (as vLLM does).
  size_t max_blocks = (tokens.size() - 1) / bs;
  for (size_t i = 0; i < max_blocks; ++i) {
    uint64_t key = keys_.block_key(parent, tokens.subspan(i * bs, bs));
    auto it = cached_.find(key);
    if (it == cached_.end()) break;
    m.blocks.push_back(it->second);
    parent = key;
  }
  m.last_key = parent;
  return m;
}

bool kv_cache::allocate(uint64_t seq, std::span<const uint32_t> tokens, uint32_t num_slots,
                        const kv_request_meta& meta, const prefix_match* prefix) {
  if (requests_.count(seq)) return false;
  prefix_match looked_up;
  if (prefix == nullptr) {
    looked_up = find_cached_prefix(tokens, meta.hash_model);
    prefix = &looked_up;
  }
  const uint32_t prefix_tokens = prefix->num_blocks() * config_.block_size;
  num_slots = std::max(num_slots, prefix_tokens);
  const uint32_t total = blocks_for(num_slots);
  const uint32_t need = total - prefix->num_blocks();
  // Prefix blocks waiting in the free queue leave it when touched: they are not available.
  uint32_t evictable_hits = 0;
  for (uint32_t b : prefix->blocks)
    if (blocks_[b].ref == 0) ++evictable_hits;
  if (static_cast<uint64_t>(need) + evictable_hits > num_free_) return false;

  request r;
  r.blocks.reserve(total);
  r.lora_id = meta.lora_id;
  r.lora_name = intern(meta.lora_name);
  for (uint32_t b : prefix->blocks) {
    if (blocks_[b].ref == 0) remove_free(b);
    ++blocks_[b].ref;
    r.blocks.push_back(b);
  }
  r.num_hashed = prefix->num_blocks();
  if (config_.enable_prefix_caching)
    r.last_key = r.num_hashed > 0 ? prefix->last_key : keys_.root(meta.hash_model);
  take_blocks(r, need);
  cache_full_blocks(r, tokens, num_slots);
  if (meta.count_prefix_stats && config_.enable_prefix_caching && !asleep_) {
    prefix_queries_ += tokens.size();
    prefix_hits_ += prefix_tokens;
  }
  requests_.emplace(seq, std::move(r));
  return true;
}

bool kv_cache::append_slots(uint64_t seq, std::span<const uint32_t> tokens, uint32_t num_slots) {
  auto it = requests_.find(seq);
  if (it == requests_.end()) return false;
  auto& r = it->second;
  const uint32_t total = blocks_for(num_slots);
  const auto have = static_cast<uint32_t>(r.blocks.size());
  if (total > have) {
    if (total - have > num_free_) return false;
    take_blocks(r, total - have);
  }
  cache_full_blocks(r, tokens, num_slots);
  return true;
}

void kv_cache::cache_full_blocks(request& r, std::span<const uint32_t> tokens, uint32_t num_slots) {
  if (!config_.enable_prefix_caching || asleep_) return;
  const size_t bs = config_.block_size;
  size_t full = std::min<size_t>(num_slots, tokens.size()) / bs;
  full = std::min(full, r.blocks.size());
  if (full <= r.num_hashed) return;
  runtime::block_stored* event = nullptr;  // the run of consecutive new blocks being reported
  for (size_t i = r.num_hashed; i < full; ++i) {
    auto block_tokens = tokens.subspan(i * bs, bs);
    uint64_t key = keys_.block_key(r.last_key, block_tokens);
    uint32_t b = r.blocks[i];
    auto [it, inserted] = cached_.try_emplace(key, b);
    if (!inserted) {
      // Another block already holds this key (computed concurrently): this one stays uncached.
      event = nullptr;
    } else {
      blocks_[b].cached = true;
      blocks_[b].key = key;
      if (config_.enable_events) {
        if (event == nullptr) {
          runtime::block_stored s;
          if (i > 0) s.parent_block_hash = r.last_key;
          s.block_size = config_.block_size;
          s.lora_id = r.lora_id;
          if (r.lora_name != 0) s.lora_name = names_[r.lora_name];
          s.block_hashes.reserve(full - i);
          s.token_ids.reserve((full - i) * bs);
          events_.emplace_back(std::move(s));
          event = &std::get<runtime::block_stored>(events_.back());
        }
        event->block_hashes.push_back(key);
        event->token_ids.insert(event->token_ids.end(), block_tokens.begin(), block_tokens.end());
      }
    }
    r.last_key = key;
  }
  r.num_hashed = static_cast<uint32_t>(full);
}

void kv_cache::free(uint64_t seq) {
  auto it = requests_.find(seq);
  if (it == requests_.end()) return;
  const auto& blocks = it->second.blocks;
  // Tail first: the request's last blocks are evicted before its prefix.
  for (auto b = blocks.rbegin(); b != blocks.rend(); ++b) {
    if (--blocks_[*b].ref == 0) push_free_back(*b);
  }
  requests_.erase(it);
}

std::span<const uint32_t> kv_cache::block_table(uint64_t seq) const {
  auto it = requests_.find(seq);
  if (it == requests_.end()) return {};
  return it->second.blocks;
}

bool kv_cache::clear() {
  if (num_free_ != config_.num_gpu_blocks) return false;
  for (const auto& [key, b] : cached_)
    blocks_[b].cached = false;
  cached_.clear();
  if (config_.enable_events) events_.emplace_back(runtime::all_blocks_cleared{});
  return true;
}

void kv_cache::sleep() {
  for (const auto& [key, b] : cached_)
    blocks_[b].cached = false;
  cached_.clear();
  asleep_ = true;
  if (config_.enable_events) events_.emplace_back(runtime::all_blocks_cleared{});
}

std::vector<runtime::kv_event> kv_cache::drain_events() {
  std::vector<runtime::kv_event> out;
  out.swap(events_);
  return out;
}

}  // namespace inferstack::actors::pod::engine
