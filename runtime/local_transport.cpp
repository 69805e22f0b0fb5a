#include "runtime/local_transport.hpp"

#include <algorithm>
#include <string_view>

#include <caf/send.hpp>

#include "runtime/errors.hpp"

namespace inferstack::runtime {

std::string to_string(transport_errc x) {
  switch (x) {
    case transport_errc::peer_unreachable:
      return "peer_unreachable";
    case transport_errc::peer_lost:
      return "peer_lost";
    case transport_errc::unknown_actor:
      return "unknown_actor";
    case transport_errc::not_serializable:
      return "not_serializable";
    case transport_errc::decode_failed:
      return "decode_failed";
    case transport_errc::shutting_down:
      return "shutting_down";
    case transport_errc::request_expired:
      return "request_expired";
  }
  return "unknown";
}

local_transport::local_transport(std::string node_name) : node_id_(std::move(node_name)) {}

std::string local_transport::node_id() const {
  return node_id_;
}

void local_transport::expose(const std::string& name, caf::actor handle) {
  std::lock_guard guard{mutex_};
  names_[name] = std::move(handle);
}

void local_transport::withdraw(const std::string& name) {
  std::lock_guard guard{mutex_};
  names_.erase(name);
}

caf::expected<caf::actor> local_transport::lookup(const std::string& address,
                                                  const std::string& name) {
  std::lock_guard guard{mutex_};
  if (!address.empty() && address != node_id_)
    return caf::make_error(transport_errc::peer_unreachable,
                           "local transport has no peer " + address);
  auto i = names_.find(name);
  if (i == names_.end())
    return caf::make_error(transport_errc::unknown_actor, "no actor named " + name);
  return i->second;
}

void local_transport::publish(const std::string& topic, caf::message event) {
  std::vector<std::pair<uint64_t, caf::actor>> targets;
  {
    std::lock_guard guard{mutex_};
    std::string_view whole = topic;
    for (const auto& [length, count] : prefix_lengths_) {
      if (length > whole.size()) break;
      auto prefix = whole.substr(0, length);
      auto it = by_prefix_hash_.find(std::hash<std::string_view>{}(prefix));
      if (it == by_prefix_hash_.end()) continue;
      for (const auto& s : it->second)
        if (s.prefix == prefix) targets.emplace_back(s.order, s.subscriber);
    }
  }
  std::sort(targets.begin(), targets.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& t : targets)
    caf::anon_send(t.second, event);
}

void local_transport::subscribe(const std::string&, const std::string& topic_prefix,
                                caf::actor subscriber) {
  std::lock_guard guard{mutex_};
  by_prefix_hash_[std::hash<std::string_view>{}(topic_prefix)].push_back(
      {topic_prefix, std::move(subscriber), next_order_++});
  ++prefix_lengths_[topic_prefix.size()];
}

void local_transport::unsubscribe(const caf::actor& subscriber) {
  std::lock_guard guard{mutex_};
  for (auto it = by_prefix_hash_.begin(); it != by_prefix_hash_.end();) {
    auto& list = it->second;
    for (const auto& s : list)
      if (s.subscriber == subscriber && --prefix_lengths_[s.prefix.size()] == 0)
        prefix_lengths_.erase(s.prefix.size());
    std::erase_if(list, [&](const subscription& s) { return s.subscriber == subscriber; });
    it = list.empty() ? by_prefix_hash_.erase(it) : std::next(it);
  }
}

}  // namespace inferstack::runtime
