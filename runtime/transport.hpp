// The transport seam: how actors find each other and exchange events, whether they share a
// process (local_transport) or not (zmq_transport). Code written against this interface does
// not know which one it runs on: a remote actor is a proxy handle used exactly like a local one.
#pragma once

#include <string>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/message.hpp>

namespace inferstack::runtime {

class transport {
 public:
  virtual ~transport() = default;

  /// Identity of this node ("<name>/<incarnation>").
  virtual std::string node_id() const = 0;

  /// Makes `handle` reachable under `name`, for this process and for peers.
  virtual void expose(const std::string& name, caf::actor handle) = 0;

  /// Withdraws a name given to expose().
  virtual void withdraw(const std::string& name) = 0;

  /// A handle for the actor called `name` at `address` (empty: this node). For a remote
  /// address this is a proxy: send and request through it as through the actor itself.
  virtual caf::expected<caf::actor> lookup(const std::string& address, const std::string& name) = 0;

  /// Publishes an event (one catalogue message) under `topic`.
  virtual void publish(const std::string& topic, caf::message event) = 0;

  /// Delivers every event whose topic starts with `topic_prefix`, published at `address`
  /// (empty: this node), to `subscriber`.
  virtual void subscribe(const std::string& address, const std::string& topic_prefix,
                         caf::actor subscriber) = 0;

  /// Stops all deliveries to `subscriber`.
  virtual void unsubscribe(const caf::actor& subscriber) = 0;
};

}  // namespace inferstack::runtime
