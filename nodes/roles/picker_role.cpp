// The picker role: its pickers spawned from the configuration, and their pools' pods wired to
// them as they join.
#include "nodes/roles/picker_role.hpp"

#include <algorithm>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/picker/replication/replica_state.hpp"
#include "actors/picker/replication/transport_replica_link.hpp"
#include "actors/picker/scheduling/config_loader.hpp"
#include "gateway/upstream_client.hpp"
#include "nodes/stack_parts.hpp"
#include "runtime/logging.hpp"

namespace inferstack::nodes {

int picker_replicas_of(const config::inference_pool& pool, std::vector<std::string>* problems) {
  auto it = pool.meta.annotations.find(picker_replicas_annotation);
  if (it == pool.meta.annotations.end()) return 1;
  int n = 0;
  bool whole = !it->second.empty() && it->second.size() <= 2;
  for (char c : it->second)
    if (c < '0' || c > '9')
      whole = false;
    else
      n = n * 10 + (c - '0');
  if (whole && n >= 1 && n <= max_picker_replicas) return n;
  if (problems)
    problems->push_back(pool.source.file + ": InferencePool " + pool.meta.namespace_ + "/" +
                        pool.meta.name + ": metadata.annotations." + picker_replicas_annotation +
                        ": '" + it->second + "' is not a number of replicas from 1 to " +
                        std::to_string(max_picker_replicas));
  return 1;
}

std::string picker_replica_name(const std::string& pool, int replica) {
  return pool + "#" + std::to_string(replica);
}

std::optional<int> parse_replica(const std::string& text) {
  auto digits = text.substr(text.rfind('-') == std::string::npos ? 0 : text.rfind('-') + 1);
  if (digits.empty() || digits.size() > 4) return std::nullopt;
  int n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

picker_role::picker_role(role_context context, picker_role_settings settings)
    : context_(std::move(context)), settings_(std::move(settings)) {}

picker_role::~picker_role() {
  stop();
}

void picker_role::start(std::vector<std::string>& problems) {
  auto& system = context_.system;
  auto& transport = context_.transport;
  const auto& config = context_.config;
  bool picker_process = !settings_.only_pool.empty();
  // Replica addresses are given to picker processes and to gateways' pickers only.
  const bool replicated = this->replicated();
  // A picker process takes picks only once the control process has told it its pool (a
  // restarted one would otherwise answer "no ready endpoint" until the next resync); the
  // gateway meanwhile treats it as unavailable and FailOpen serves the members it knows.
  // A gateway's replicated pickers too: one that caught up before it knew its pods would drop
  // the peer snapshot's entries for pods it does not know yet. Such pickers are ready once
  // caught up: told their pools, their pods' KV replays ended, a replica's peer snapshot in.
  const bool awaits_membership = picker_process || replicated;
  // A picker process's picker is "picker"; a gateway's, one per pool, "picker/<ns>/<pool>".
  const bool exposed = picker_process || settings_.in_gateway;
  for (const auto& pool : config.inference_pools) {
    auto ps = picker_settings_for(config, pool, context_.seed);
    if (picker_process && ps.pool != settings_.only_pool) continue;
    int configured = picker_replicas_of(pool, &problems);
    if (!picker_process && !settings_.in_gateway && configured > 1)
      context_.log->info(
          "pool {}: {} {} applies to the multi-process stack (a picker process per replica, "
          "`inferstack run picker --replica I`); this process runs one picker for the pool",
          ps.pool, picker_replicas_annotation, configured);
    if (picker_process && !settings_.replica_addresses.empty() &&
        (settings_.replica < 0 ||
         settings_.replica >= static_cast<int>(settings_.replica_addresses.size())))
      problems.push_back("--replica " + std::to_string(settings_.replica) + ": the pool " +
                         ps.pool + " has " + std::to_string(settings_.replica_addresses.size()) +
                         " replica address(es) (--picker " + ps.pool + "=...)");
    ps.await_membership = awaits_membership;
    // One of several replicas: it tells its peers (the other picker processes of the pool, at
    // their transport addresses) what its picks taught it, and catches up from one of them.
    std::shared_ptr<actors::picker::transport_replica_link> replicas;
    auto exposed_as = settings_.in_gateway ? "picker/" + ps.pool : std::string("picker");
    if (replicated) {
      actors::picker::replication_settings rs;
      rs.replica = picker_replica_name(ps.pool, settings_.replica);
      ps.replication = rs;
      replicas = std::make_shared<actors::picker::transport_replica_link>(transport, rs.replica,
                                                                          exposed_as);
    }
    auto picker_config = ps.config;
    actors::picker::picker_impl_actor picker;
    auto direct = std::make_shared<actors::picker::direct_picker>();
    // One that awaits its pool hears what its pods held before it started (their KV replay
    // buffers) before it takes picks; the counter is the KV subscriber's, made below.
    auto kv_first_replays = std::make_shared<std::atomic<size_t>>(0);
    try {
      picker = actors::picker::spawn_picker(
          system, ps,
          {context_.registry, runtime::component_logger(context_.log, "picker"), direct,
           context_.tracer, replicas, awaits_membership ? kv_first_replays : nullptr});
    } catch (const std::exception& e) {
      problems.push_back("InferencePool " + ps.pool + ": EndpointPickerConfig " + pool.picker +
                         ": " + e.what());
      continue;
    }
    // Where KV events of pods outside this process come from: a central SUB socket the pool's
    // config binds (llm-d's zmqEndpoint), or each pod's own publisher.
    auto probe = actors::picker::build_endpoint_picker(picker_config.get(), {});
    const auto* kv_settings = probe.picker ? probe.picker->kv_events() : nullptr;
    std::unique_ptr<actors::picker::kv_subscriber> kv;
    auto kv_sink = [picker](actors::pod::kv_event_message m) {
      caf::anon_send(picker, std::move(m));
    };
    if (settings_.virtual_time && kv_settings && !kv_settings->zmq_endpoint.empty())
      context_.log->info("pool {}: KV events over the transport in virtual time, not at {}",
                         ps.pool, kv_settings->zmq_endpoint);
    if (!settings_.virtual_time) {
      try {
        actors::picker::kv_subscriber_settings ks;
        if (kv_settings && !kv_settings->zmq_endpoint.empty()) {
          ks.bind = kv_settings->zmq_endpoint;
          ks.topic_filter = kv_settings->topic_filter;
        }
        ks.curve = settings_.curve;
        ks.first_replays_pending = kv_first_replays;
        kv = std::make_unique<actors::picker::kv_subscriber>(ks, kv_sink);
        if (!ks.bind.empty())
          context_.log->info("pool {}: KV events bound at {}", ps.pool, kv->bound_endpoint());
      } catch (const std::exception& e) {
        problems.push_back("InferencePool " + ps.pool + ": " + e.what());
      }
    }
    pickers_[ps.pool] = {picker, direct};
    kv_pickers_[ps.pool] = kv.get();
    if (kv) kv_subscribers_.push_back(std::move(kv));
    // Model servers outside the stack join pools like pods; they are reached over HTTP.
    auto servers = model_servers_of(config, pool);
    wire_members(ps.pool, picker, servers);
    // One that awaits its membership hears its model servers with the rest of the pool from
    // the control process (the controller's membership includes them); told here, it would
    // count as knowing its pool before it does.
    if (!awaits_membership)
      caf::anon_send(picker, actors::picker::pool_membership{ps.pool, servers});
    // Where gateways (a picker process), peer replicas and the control process's console find
    // it, at this process's transport address.
    if (exposed) transport.expose(exposed_as, caf::actor_cast<caf::actor>(picker));
    if (replicated) {
      actors::picker::replica_peers peers{ps.pool, {}};
      for (size_t i = 0; i < settings_.replica_addresses.size(); ++i)
        peers.peers.push_back(
            {picker_replica_name(ps.pool, static_cast<int>(i)), settings_.replica_addresses[i]});
      caf::anon_send(picker, std::move(peers));
    }
    if (picker_process) {
      // The control process sends this pool's membership here.
      membership_relay_ = system.spawn([sink = membership_sink()](caf::event_based_actor*) {
        return caf::behavior{
            [sink](actors::picker::pool_membership& m) { sink(m.pool, m.members); }};
      });
      transport.expose("pool", membership_relay_);
    }
  }
  if (awaits_membership) {
    std::vector<std::shared_ptr<actors::picker::direct_picker>> all;
    for (const auto& [name, p] : pickers_)
      all.push_back(p.direct);
    set_state_caught_up([all] {
      return std::all_of(all.begin(), all.end(), [](const auto& d) { return d->caught_up(); });
    });
  }
}

pool_members_sink picker_role::membership_sink() {
  return [gate = gate_, this](const std::string& pool,
                              const std::vector<actors::picker::pool_member>& members) {
    std::lock_guard guard{gate->mutex};
    if (gate->open) tell_members(pool, members);
  };
}

bool picker_role::ready() const {
  if (!has_membership_) return false;
  std::lock_guard guard{caught_up_mutex_};
  return !state_caught_up_ || state_caught_up_();
}

void picker_role::set_state_caught_up(std::function<bool()> caught_up) {
  std::lock_guard guard{caught_up_mutex_};
  state_caught_up_ = std::move(caught_up);
}

bool picker_role::on_membership(const std::string& pool,
                                const std::vector<actors::picker::pool_member>& members) {
  std::lock_guard guard{gate_->mutex};
  return gate_->open && tell_members(pool, members);
}

bool picker_role::tell_members(const std::string& pool,
                               const std::vector<actors::picker::pool_member>& members) {
  auto it = pickers_.find(pool);
  if (it == pickers_.end()) return false;
  // Subscriptions first (load reports, KV events, the pods' replay sockets: a topic first
  // heard mid-stream is replayed from its start), then the picker knows its pool.
  wire_members(pool, it->second.actor, members);
  caf::anon_send(it->second.actor, actors::picker::pool_membership{pool, members});
  has_membership_ = true;  // ready: the control plane has told us our pods
  return true;
}

void picker_role::wire_members(const std::string& pool,
                               const actors::picker::picker_impl_actor& picker,
                               const std::vector<actors::picker::pool_member>& members) {
  auto& transport = context_.transport;
  std::lock_guard guard{subscribed_mutex_};
  for (const auto& m : members) {
    if (!subscribed_.emplace(pool, m.pod).second) continue;
    auto p = caf::actor_cast<caf::actor>(picker);
    if (m.endpoint.rfind("actor:", 0) == 0) {  // a pod of this process
      transport.subscribe("", "load@" + m.pod + "@", p);
      transport.subscribe("", "kv@" + m.address + "@", p);
      continue;
    }
    if (!m.events.empty()) transport.subscribe(m.events, "load@" + m.pod + "@", p);
    auto kv = kv_pickers_.find(pool);
    if (kv != kv_pickers_.end() && kv->second) {
      // Our own pods (they report load over the transport) speak CurveZMQ; vLLM cannot.
      bool ours = !m.events.empty();
      if (!m.kv_events.empty()) kv->second->connect(m.kv_events, ours);
      if (!m.kv_replay.empty()) kv->second->set_replay(m.address, m.kv_replay, ours);
    }
    // A model server that does not push load reports: its /metrics, read on an interval.
    if (m.events.empty() && m.endpoint.rfind("http://", 0) == 0) {
      bool scrape = true;
      std::string metrics_path = "/metrics";
      for (const auto& server : context_.config.model_servers)
        if (server.meta.namespace_ + "/" + server.meta.name == m.pod) {
          scrape = server.scrape_metrics;
          metrics_path = server.metrics_path;
        }
      gateway::upstream_target t;
      if (!scrape || !gateway::parse_upstream_url(m.endpoint, t)) continue;
      if (!scraper_) {
        auto routes = scrape_routes_;
        scraper_ = std::make_unique<actors::picker::load_scraper>(
            std::chrono::milliseconds(100), [routes](actors::pod::load_report r) {
              std::lock_guard guard{routes->mutex};
              auto it = routes->pickers.find(r.pod);
              if (it == routes->pickers.end()) return;
              for (auto& dest : it->second)
                caf::anon_send(dest, r);
            });
      }
      {
        std::lock_guard routes_guard{scrape_routes_->mutex};
        auto& dests = scrape_routes_->pickers[m.pod];
        bool first = dests.empty();
        dests.push_back(p);
        if (!first) continue;
      }
      scraper_->add({m.pod, t.host, t.port, t.base_path + metrics_path});
    }
  }
}

void picker_role::export_kv_subscriber_stats() {
  if (kv_pickers_.empty()) return;
  if (!kv_replays_) {
    kv_replays_ = &prometheus::BuildGauge()
                       .Name("inferstack_picker_kv_replays")
                       .Help("KV-event gaps repaired by a replay from the pod, so far")
                       .Register(*context_.registry);
    kv_gaps_left_ = &prometheus::BuildGauge()
                         .Name("inferstack_picker_kv_gaps_unrepaired")
                         .Help(
                             "KV-event gaps no replay could fill, so far (the pod's index "
                             "entries were reset)")
                         .Register(*context_.registry);
  }
  for (const auto& [pool, kv] : kv_pickers_) {
    if (!kv) continue;
    kv_replays_->Add({{"name", pool}}).Set(static_cast<double>(kv->replays()));
    kv_gaps_left_->Add({{"name", pool}}).Set(static_cast<double>(kv->gaps_left()));
  }
}

void picker_role::export_replication_stats() {
  for (const auto& [pool, local] : pickers_) {
    auto stats = local.direct ? local.direct->replication() : std::nullopt;
    if (!stats) continue;  // not a replica of a pool with several
    if (!replication_)
      replication_ = &prometheus::BuildGauge()
                          .Name("inferstack_picker_replication")
                          .Help(
                              "Picker replicas' shared state, so far: batches sent and applied, "
                              "peer decisions applied, snapshots applied, peers expired, staleness "
                              "of applied peer decisions (seconds, mean and max), caught up (1/0)")
                          .Register(*context_.registry);
    auto set = [&](const char* what, double v) {
      replication_->Add({{"name", pool}, {"stat", what}}).Set(v);
    };
    set("batches_sent", static_cast<double>(stats->batches_sent));
    set("batches_applied", static_cast<double>(stats->batches_applied));
    set("decisions_applied", static_cast<double>(stats->decisions_applied));
    set("snapshots_applied", static_cast<double>(stats->snapshots_applied));
    set("peers_expired", static_cast<double>(stats->peers_expired));
    set("staleness_mean_seconds", stats->staleness_count
                                      ? static_cast<double>(stats->staleness_sum_ns) / 1e9 /
                                            static_cast<double>(stats->staleness_count)
                                      : 0.0);
    set("staleness_max_seconds", static_cast<double>(stats->staleness_max_ns) / 1e9);
    set("caught_up", local.direct->caught_up() ? 1.0 : 0.0);
  }
}

void picker_role::stop() {
  // A membership told from another actor's thread waits, then is dropped: from now on the
  // sinks never touch this object (they may outlive it in an actor's mailbox).
  std::lock_guard stopping{gate_->mutex};
  gate_->open = false;
  scraper_.reset();
  {
    std::lock_guard guard{subscribed_mutex_};
    kv_pickers_.clear();
  }
  kv_subscribers_.clear();
  if (membership_relay_) caf::anon_send_exit(membership_relay_, caf::exit_reason::user_shutdown);
  for (auto& [name, p] : pickers_)
    caf::anon_send_exit(p.actor, caf::exit_reason::user_shutdown);
  pickers_.clear();
}

}  // namespace inferstack::nodes
