// The picker role: an endpoint picker per InferencePool -- or, in a picker process (`inferstack
// run picker --pool`), the one pool it serves -- each hearing its pool's pods: load reports and
// KV events over the transport, KV events of pods elsewhere on ZeroMQ sockets, and the /metrics
// of model servers that push nothing, read on an interval.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/family.h>
#include <prometheus/gauge.h>

#include "actors/picker/kv_subscriber.hpp"
#include "actors/picker/load_scraper.hpp"
#include "actors/picker/picker_actor.hpp"
#include "nodes/roles/role_context.hpp"
#include "runtime/zmq_transport.hpp"

namespace inferstack::nodes {

/// A picker of this process: the actor, and the handle the gateway picks with on its request
/// threads.
struct local_picker {
  actors::picker::picker_impl_actor actor;
  std::shared_ptr<actors::picker::direct_picker> direct;
};

/// Told a pool's ("<ns>/<pool>") members, from whatever thread hears them.
using pool_members_sink =
    std::function<void(const std::string& pool, const std::vector<actors::picker::pool_member>&)>;

/// The InferencePool annotation that sets how many picker replicas serve it (active-active,
/// each a `inferstack run picker --replica I` process): as GAIE's and llm-d's charts set the
/// endpoint picker Deployment's replicas (inferenceExtension.replicas). Default 1.
inline constexpr const char* picker_replicas_annotation = "inferstack.io/picker-replicas";
inline constexpr int max_picker_replicas = 16;

/// The pool's picker replicas from its annotation (1 without it). A value that is not a whole
/// number from 1 to 16 is reported to `problems` (naming the annotation and the file) and
/// counts as 1.
int picker_replicas_of(const config::inference_pool& pool, std::vector<std::string>* problems);

/// A replica's name: "<ns>/<pool>#<i>" (its transport node is "picker/" + this).
std::string picker_replica_name(const std::string& pool, int replica);

/// `--replica`: an index (0, 1, ...) or a StatefulSet pod's name, whose ordinal (the number
/// after its last '-') is the index. Nullopt: neither.
std::optional<int> parse_replica(const std::string& text);

struct picker_role_settings {
  /// "<ns>/<pool>": a picker process serving only this pool, told its members by the control
  /// process (exposed as "picker" and "pool" on the transport). Empty: every pool, told by the
  /// control plane of this process.
  std::string only_pool;
  /// This process's CurveZMQ keys: also for the KV-event sockets of our own pods.
  std::optional<runtime::zmq_curve_settings> curve;
  /// On a simulation's deterministic scheduler: no KV-event sockets (our pods' events come over
  /// the transport; a socket's thread would deliver outside virtual time).
  bool virtual_time = false;
  /// This process is replica `replica` of its pool's picker; `replica_addresses` are the
  /// transport addresses of every replica of the pool, in replica order, its own at
  /// [replica] (what a replica gossips with; empty with one replica, and in `inferstack dev`).
  int replica = 0;
  std::vector<std::string> replica_addresses;
  /// The pickers run in a gateway process (`run gateway --local-pickers`): with several
  /// replica_addresses (every gateway replica's transport address, the same for each pool) each
  /// pool's picker is replica `replica` of it, its peers the other gateways' pickers of the pool
  /// (exposed as "picker/<ns>/<pool>").
  bool in_gateway = false;
};

class picker_role {
 public:
  picker_role(role_context context, picker_role_settings settings);
  ~picker_role();

  /// Spawns the pickers and their KV-event subscribers; problems are appended.
  void start(std::vector<std::string>& problems);
  /// Stops the feeds (scraper, KV subscribers) and the pickers.
  void stop();

  /// The pickers of this process, by "<ns>/<pool>".
  const std::map<std::string, local_picker>& pickers() const { return pickers_; }

  /// The control plane (of this process, or the control process's published memberships)
  /// changed `pool`'s members; safe from any thread: its picker hears each pod from
  /// the moment it joins. False when no picker here serves the pool.
  bool on_membership(const std::string& pool,
                     const std::vector<actors::picker::pool_member>& members);
  /// on_membership for callers that may outlive this role (an actor's mailbox): after stop()
  /// it drops what it is told.
  pool_members_sink membership_sink();

  /// The control process has told a pool's members (a picker process, a gateway's pickers).
  bool has_membership() const { return has_membership_; }
  /// The pickers may take picks (a picker process's /readyz, a gateway's with picker peers):
  /// told their pools, and, replicas that started late, caught up with their peers' state.
  bool ready() const;
  /// The pickers here are replicas sharing state with peers in other processes.
  bool replicated() const { return settings_.replica_addresses.size() > 1; }
  /// What says a late replica has caught up (replication: a peer's snapshot applied); until
  /// it says so the process is not ready. None installed: caught up once it knows its pool.
  void set_state_caught_up(std::function<bool()> caught_up);

  /// The KV subscribers' replay counts, as gauges (read when /metrics is served).
  void export_kv_subscriber_stats();
  /// Each replicated picker's gossip figures (batches sent and applied, snapshots applied,
  /// staleness of the peers' decisions), as gauges (read when /metrics is served).
  void export_replication_stats();

 private:
  /// Pods of other processes join the picker's pool: hear their load reports and KV events
  /// from now on.
  void wire_members(const std::string& pool, const actors::picker::picker_impl_actor& picker,
                    const std::vector<actors::picker::pool_member>& members);
  /// on_membership's work, gate_ held.
  bool tell_members(const std::string& pool,
                    const std::vector<actors::picker::pool_member>& members);

  role_context context_;
  picker_role_settings settings_;
  std::map<std::string, local_picker> pickers_;  ///< by "<ns>/<pool>"
  /// Memberships told from other threads (on_membership, membership_sink) against stop().
  struct membership_gate {
    std::mutex mutex;
    bool open = true;
  };
  std::shared_ptr<membership_gate> gate_ = std::make_shared<membership_gate>();
  caf::actor membership_relay_;  ///< picker process: receives its pool's members
  std::mutex subscribed_mutex_;
  std::set<std::pair<std::string, std::string>> subscribed_;  ///< (pool, pod) topic wiring done
  std::vector<std::unique_ptr<actors::picker::kv_subscriber>> kv_subscribers_;
  std::map<std::string, actors::picker::kv_subscriber*> kv_pickers_;  ///< by pool
  prometheus::Family<prometheus::Gauge>* kv_replays_ = nullptr;
  prometheus::Family<prometheus::Gauge>* kv_gaps_left_ = nullptr;
  prometheus::Family<prometheus::Gauge>* replication_ = nullptr;
  std::unique_ptr<actors::picker::load_scraper> scraper_;
  /// Which pickers hear each scraped model server's load.
  struct scrape_routes {
    std::mutex mutex;
    std::map<std::string, std::vector<caf::actor>> pickers;
  };
  std::shared_ptr<scrape_routes> scrape_routes_ = std::make_shared<scrape_routes>();
  std::atomic<bool> has_membership_{false};
  mutable std::mutex caught_up_mutex_;
  std::function<bool()> state_caught_up_;
};

}  // namespace inferstack::nodes
