#pragma once

#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/transport.hpp"

namespace inferstack::runtime {

/// Everything in one process: names map to actors, events are plain local sends. Works with
/// the deterministic test coordinator (it never spawns threads or reads clocks).
class local_transport : public transport {
 public:
  explicit local_transport(std::string node_name = "local");

  std::string node_id() const override;
  void expose(const std::string& name, caf::actor handle) override;
  void withdraw(const std::string& name) override;
  caf::expected<caf::actor> lookup(const std::string& address, const std::string& name) override;
  void publish(const std::string& topic, caf::message event) override;
  void subscribe(const std::string& address, const std::string& topic_prefix,
                 caf::actor subscriber) override;
  void unsubscribe(const caf::actor& subscriber) override;

 private:
  struct subscription {
    std::string prefix;
    caf::actor subscriber;
    uint64_t order = 0;  ///< deliveries go in the order of the subscriptions
  };
  std::string node_id_;
  mutable std::mutex mutex_;
  std::map<std::string, caf::actor> names_;
  /// Subscriptions by the hash of their prefix, and how many there are of each prefix length:
  /// a publish looks up the topic's prefix of each length there is, instead of comparing every
  /// subscription (a stack of pods has two each: a publish cost grew with the pods).
  std::unordered_map<size_t, std::vector<subscription>> by_prefix_hash_;
  std::map<size_t, size_t> prefix_lengths_;
  uint64_t next_order_ = 0;
};

}  // namespace inferstack::runtime
