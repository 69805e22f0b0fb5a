#include "actors/picker/scheduling/endpoint_state.hpp"

#include <algorithm>

namespace inferstack::actors::picker {

const std::string* endpoint_state::label(std::string_view key) const {
  auto it = labels.find(std::string(key));
  return it == labels.end() ? nullptr : &it->second;
}

uint32_t pool_state::add(endpoint_info info) {
  auto existing = by_name_.find(info.name);
  if (existing != by_name_.end()) {
    auto& e = slots_[existing->second];
    if (e.address != info.address) {
      if (!e.address.empty()) by_address_.erase(e.address);
      if (!info.address.empty()) by_address_[info.address] = e.id;
      e.address = std::move(info.address);
    }
    e.labels = std::move(info.labels);
    return e.id;
  }
  uint32_t id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    id = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
    live_.push_back(0);
  }
  endpoint_state fresh;
  fresh.id = id;
  fresh.name = std::move(info.name);
  fresh.address = std::move(info.address);
  fresh.labels = std::move(info.labels);
  slots_[id] = std::move(fresh);
  live_[id] = 1;
  order_.push_back(id);
  by_name_[slots_[id].name] = id;
  if (!slots_[id].address.empty()) by_address_[slots_[id].address] = id;
  return id;
}

std::optional<uint32_t> pool_state::remove(std::string_view name) {
  auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) return std::nullopt;
  uint32_t id = it->second;
  by_name_.erase(it);
  auto& e = slots_[id];
  auto addr = by_address_.find(e.address);
  if (addr != by_address_.end() && addr->second == id) by_address_.erase(addr);
  live_[id] = 0;
  order_.erase(std::find(order_.begin(), order_.end(), id));
  slots_[id] = endpoint_state{};
  slots_[id].id = id;
  free_.push_back(id);
  return id;
}

endpoint_state* pool_state::find(std::string_view key) {
  std::string k(key);
  auto it = by_name_.find(k);
  if (it != by_name_.end()) return &slots_[it->second];
  it = by_address_.find(k);
  if (it != by_address_.end()) return &slots_[it->second];
  return nullptr;
}

const endpoint_state* pool_state::find(std::string_view key) const {
  return const_cast<pool_state*>(this)->find(key);
}

bool pool_state::update_load(std::string_view name, const load_report& report, int64_t now_ns) {
  auto* e = find(name);
  if (!e) return false;
  e->load = report;
  e->picked_since_report = 0;  // the report counts what reached the pod by now
  e->done_since_report = 0;    // and no longer what finished
  // A report at time 0 (virtual clocks start there) must still count as "reported".
  e->updated_ns = now_ns != 0 ? now_ns : 1;
  return true;
}

bool pool_state::set_ready(std::string_view name, bool ready) {
  auto* e = find(name);
  if (!e) return false;
  e->ready = ready;
  return true;
}

bool pool_state::set_draining(std::string_view name, bool draining) {
  auto* e = find(name);
  if (!e) return false;
  e->draining = draining;
  return true;
}

}  // namespace inferstack::actors::picker
