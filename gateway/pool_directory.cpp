#include "gateway/pool_directory.hpp"

#include <mutex>

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

}  // namespace inferstack::gateway
