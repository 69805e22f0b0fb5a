// Deadlines of the picks in flight. One periodic sweep finds the expired ones, instead of one
// CAF request timer per request: each of those costs the actor clock's thread two events (set
// and cancel), a wake-up apiece, on the hot path of every request.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_clock.hpp>

namespace inferstack::gateway {

class deadline_board {
 public:
  using time_point = caf::actor_clock::time_point;

  /// Registers `who` to be told when `deadline` passes; returns the entry's id.
  uint64_t add(time_point deadline, caf::actor who) {
    std::lock_guard guard{mutex_};
    auto id = next_id_++;
    entries_.emplace(std::make_pair(deadline, id), std::move(who));
    deadlines_.emplace(id, deadline);
    return id;
  }

  /// The deadline no longer matters (the answer came).
  void remove(uint64_t id) {
    std::lock_guard guard{mutex_};
    auto it = deadlines_.find(id);
    if (it == deadlines_.end()) return;
    entries_.erase({it->second, id});
    deadlines_.erase(it);
  }

  /// Removes and returns everyone whose deadline is at or before `now`. Entries are kept in
  /// deadline order (a pick's short per-replica attempt beside longer ones), so the scan stops
  /// at the first one still pending.
  std::vector<caf::actor> expire(time_point now) {
    std::vector<caf::actor> out;
    std::lock_guard guard{mutex_};
    for (auto it = entries_.begin(); it != entries_.end() && it->first.first <= now;) {
      out.push_back(std::move(it->second));
      deadlines_.erase(it->first.second);
      it = entries_.erase(it);
    }
    return out;
  }

  size_t size() const {
    std::lock_guard guard{mutex_};
    return entries_.size();
  }

 private:
  mutable std::mutex mutex_;
  uint64_t next_id_ = 1;
  std::map<std::pair<time_point, uint64_t>, caf::actor> entries_;
  std::unordered_map<uint64_t, time_point> deadlines_;
};

}  // namespace inferstack::gateway
