// The replica link of picker processes: a peer replica is the actor its process exposes as
// "picker" on the transport (the gateway picks through the same name) -- or, for pickers that
// run in gateway processes (one per pool each), as "picker/<ns>/<pool>" -- reached through the
// transport's proxy at the peer's address. Batches go one-way to each peer over the same
// ROUTER/DEALER connections picks use (no PUB endpoint needed); a peer not reachable now is
// looked up again at the next batch.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <caf/send.hpp>

#include "actors/picker/replication/replica_link.hpp"
#include "runtime/transport.hpp"

namespace inferstack::actors::picker {

class transport_replica_link : public replica_link {
 public:
  /// `transport` must outlive the link (the process's, which outlives its pickers).
  /// `peer_actor`: the name every peer exposes its picker under.
  transport_replica_link(runtime::transport& transport, std::string self,
                         std::string peer_actor = "picker")
      : transport_(transport), self_(std::move(self)), peer_actor_(std::move(peer_actor)) {}

  void publish(const replica_batch& batch) override {
    std::lock_guard lock{mutex_};
    for (const auto& p : peers_) {
      auto handle = reach_locked(p);
      if (handle) caf::anon_send(handle, batch);
    }
  }

  caf::actor reach(const replica_peer& peer) override {
    std::lock_guard lock{mutex_};
    return reach_locked(peer);
  }

  void peers_changed(const std::vector<replica_peer>& peers) override {
    std::lock_guard lock{mutex_};
    peers_.clear();
    for (const auto& p : peers)
      if (p.name != self_) peers_.push_back(p);
  }

 private:
  caf::actor reach_locked(const replica_peer& peer) {
    auto it = handles_.find(peer.address);
    if (it != handles_.end()) return it->second;
    auto handle = transport_.lookup(peer.address, peer_actor_);
    if (!handle) return {};
    handles_[peer.address] = *handle;
    return *handle;
  }

  runtime::transport& transport_;
  std::string self_;
  std::string peer_actor_;
  std::mutex mutex_;
  std::vector<replica_peer> peers_;
  std::map<std::string, caf::actor> handles_;  ///< by address
};

}  // namespace inferstack::actors::picker
