// Which picker serves each InferencePool, and how the gateway reaches pods. Read by every
// request (shared lock), written when pools, pickers or pods change.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>

#include "actors/picker/picker_protocol.hpp"
#include "gateway/upstream_client.hpp"

namespace inferstack::actors::picker {
class direct_picker;
}

namespace inferstack::gateway {

struct pool_entry {
  std::string ns;
  std::string name;
  actors::picker::picker_actor picker;
  /// The same picker, called on the request's thread; null when it runs in another process.
  std::shared_ptr<actors::picker::direct_picker> direct;
  std::string failure_mode = "FailClose";  ///< FailOpen | FailClose (InferencePool)
  /// How long a pick may wait in the picker's flow-control queue (its defaultRequestTTL; 0:
  /// flow control off): the gateway's pick deadline is this much longer.
  std::chrono::nanoseconds queue_wait{0};
  /// Ready endpoints, for FailOpen when the picker cannot answer in time.
  std::vector<actors::picker::pool_member> members;
  /// The members' http:// endpoints, parsed once (filled by pool_directory).
  std::map<std::string, upstream_target, std::less<>> http_targets;

  /// Where an http:// endpoint is: parsed when the entry was set, else now. False: not one.
  bool http_target(const std::string& endpoint, upstream_target& out) const;
};

class pool_directory {
 public:
  void set(pool_entry entry);
  void remove(const std::string& ns, const std::string& name);
  void set_members(const std::string& ns, const std::string& name,
                   std::vector<actors::picker::pool_member> members);
  /// The pool's current entry (immutable: updates replace it), or null.
  std::shared_ptr<const pool_entry> find(const std::string& ns, const std::string& name) const;

 private:
  mutable std::shared_mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const pool_entry>> pools_;
};

}  // namespace inferstack::gateway
