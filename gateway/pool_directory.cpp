#include "gateway/pool_directory.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <mutex>

#include "runtime/errors.hpp"

namespace inferstack::gateway {

namespace {

void parse_targets(pool_entry& entry) {
  entry.http_targets.clear();
  for (const auto& m : entry.members) {
    upstream_target t;
    if (parse_upstream_url(m.endpoint, t)) entry.http_targets.emplace(m.endpoint, std::move(t));
  }
}

}  // namespace

replica_set::replica_set(std::vector<picker_replica> replicas, replica_policy policy,
                         silence_probe silence)
    : replicas_(replicas.size()), policy_(policy), silence_(std::move(silence)) {
  for (size_t i = 0; i < replicas.size(); ++i)
    replicas_[i].replica = std::move(replicas[i]);
}

bool replica_set::silent(size_t i) const {
  const auto& address = replicas_[i].replica.address;
  if (address.empty() || !silence_) return false;  // in this process: never silent
  auto quiet = silence_(address);
  return quiet && *quiet >= policy_.silence_limit;
}

bool replica_set::healthy(size_t i, int64_t now_ns) const {
  return now_ns >= replicas_[i].suspended_until.load() && !silent(i);
}

std::optional<size_t> replica_set::choose(int64_t now_ns, uint64_t tried) {
  size_t n = replicas_.size();
  if (n == 0) return std::nullopt;
  if (n == 1) {  // nowhere else to go: the one replica, whatever its health
    if (was_tried(tried, 0)) return std::nullopt;
    replicas_[0].outstanding++;
    replicas_[0].picks++;
    return 0;
  }
  // The healthy replicas with the fewest picks outstanding; among them, in turn.
  std::array<size_t, 64> ties;
  size_t count = 0;
  int best_load = std::numeric_limits<int>::max();
  for (size_t i = 0; i < std::min<size_t>(n, ties.size()); ++i) {
    if (was_tried(tried, i) || !healthy(i, now_ns)) continue;
    int load = replicas_[i].outstanding.load();
    if (load > best_load) continue;
    if (load < best_load) count = 0;
    best_load = load;
    ties[count++] = i;
  }
  std::optional<size_t> best;
  if (count > 0) best = ties[turn_.fetch_add(1) % count];
  if (!best) {
    // None healthy: probe the one whose suspension ends first, unless its transport says it
    // is silent (a dead replica is not worth an attempt's timeout).
    int64_t soonest = std::numeric_limits<int64_t>::max();
    for (size_t i = 0; i < std::min<size_t>(n, 64); ++i) {
      if (was_tried(tried, i) || silent(i)) continue;
      if (auto until = replicas_[i].suspended_until.load(); until < soonest) {
        best = i;
        soonest = until;
      }
    }
  }
  if (!best) return std::nullopt;
  replicas_[*best].outstanding++;
  replicas_[*best].picks++;
  return best;
}

void replica_set::answered(size_t i) {
  replicas_[i].outstanding--;
  replicas_[i].suspended_until = 0;
}

void replica_set::failed(size_t i, int64_t now_ns) {
  replicas_[i].outstanding--;
  replicas_[i].suspended_until =
      now_ns + std::chrono::duration_cast<std::chrono::nanoseconds>(policy_.suspension).count();
}

std::shared_ptr<replica_set> single_replica(actors::picker::picker_actor picker,
                                            std::string address) {
  std::vector<picker_replica> one;
  one.push_back({std::move(picker), std::move(address)});
  return std::make_shared<replica_set>(std::move(one));
}

bool replica_unavailable(const caf::error& err) {
  if (err.category() == caf::atom("transport")) return true;
  if (err == caf::sec::request_timeout || err == caf::sec::request_receiver_down) return true;
  return err.category() == caf::atom("picker") &&
         err.code() == static_cast<uint8_t>(actors::picker::picker_errc::not_ready);
}

bool pool_entry::http_target(const std::string& endpoint, upstream_target& out) const {
  auto it = http_targets.find(endpoint);
  if (it == http_targets.end()) return parse_upstream_url(endpoint, out);
  out = it->second;
  return true;
}

void pool_directory::set(pool_entry entry) {
  parse_targets(entry);
  std::unique_lock lock{mutex_};
  auto key = std::make_pair(entry.ns, entry.name);
  pools_[key] = std::make_shared<const pool_entry>(std::move(entry));
}

void pool_directory::remove(const std::string& ns, const std::string& name) {
  std::unique_lock lock{mutex_};
  pools_.erase({ns, name});
}

void pool_directory::set_members(const std::string& ns, const std::string& name,
                                 std::vector<actors::picker::pool_member> members) {
  std::unique_lock lock{mutex_};
  auto it = pools_.find({ns, name});
  if (it == pools_.end()) return;
  auto updated = std::make_shared<pool_entry>(*it->second);
  updated->members = std::move(members);
  parse_targets(*updated);
  it->second = std::move(updated);
}

std::shared_ptr<const pool_entry> pool_directory::find(const std::string& ns,
                                                       const std::string& name) const {
  std::shared_lock lock{mutex_};
  auto it = pools_.find({ns, name});
  if (it == pools_.end()) return nullptr;
  return it->second;
}

std::vector<std::shared_ptr<const pool_entry>> pool_directory::all() const {
  std::shared_lock lock{mutex_};
  std::vector<std::shared_ptr<const pool_entry>> out;
  out.reserve(pools_.size());
  for (const auto& [key, entry] : pools_)
    out.push_back(entry);
  return out;
}

}  // namespace inferstack::gateway
