// How a picker replica reaches its peers: the picker actor hands its batches to a link and asks
// it for a peer's handle (a snapshot). In one process (tests, the virtual-time bench) the link
// holds the peers' actors; across processes it publishes on the transport and looks peers up
// there (nodes/roles/picker_role.cpp).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/send.hpp>

#include "actors/picker/replication/replication_protocol.hpp"

namespace inferstack::actors::picker {

class replica_link {
 public:
  virtual ~replica_link() = default;
  /// Tells `batch` to every peer (one-way; a peer that misses one is set right by later ones).
  virtual void publish(const replica_batch& batch) = 0;
  /// A handle to ask `peer` for a snapshot; an invalid handle when it cannot be reached.
  virtual caf::actor reach(const replica_peer& peer) = 0;
  /// The peers changed (a transport link subscribes to new peers' batches here).
  virtual void peers_changed(const std::vector<replica_peer>& peers) {}
};

/// Peers in this process, by name: batches are sent to each actor registered but the sender.
class local_replica_link : public replica_link {
 public:
  explicit local_replica_link(std::string self) : self_(std::move(self)) {}
  /// Shares one directory of actors between the links of one pool's replicas.
  struct directory {
    std::mutex mutex;
    std::map<std::string, caf::actor> actors;
  };
  local_replica_link(std::string self, std::shared_ptr<directory> dir)
      : self_(std::move(self)), dir_(std::move(dir)) {}

  void publish(const replica_batch& batch) override {
    std::lock_guard lock{dir_->mutex};
    for (const auto& [name, actor] : dir_->actors)
      if (name != self_) caf::anon_send(actor, batch);
  }
  caf::actor reach(const replica_peer& peer) override {
    std::lock_guard lock{dir_->mutex};
    auto it = dir_->actors.find(peer.name);
    return it == dir_->actors.end() ? caf::actor{} : it->second;
  }

 private:
  std::string self_;
  std::shared_ptr<directory> dir_ = std::make_shared<directory>();
};

}  // namespace inferstack::actors::picker
