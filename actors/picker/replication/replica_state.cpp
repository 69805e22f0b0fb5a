#include "actors/picker/replication/replica_state.hpp"

#include <algorithm>

#include "actors/picker/scheduling/endpoint_picker.hpp"
#include "actors/picker/scheduling/producers.hpp"
#include "runtime/wire/message_codec.hpp"

namespace inferstack::actors::picker {

replica_state::replica_state(replication_settings settings, std::string pool,
                             endpoint_picker& picker)
    : settings_(std::move(settings)), pool_(std::move(pool)), picker_(picker) {
  for (auto* p : picker_.prefix_producers())
    if (auto* approx = dynamic_cast<approx_prefix_producer*>(p)) approx_.push_back(approx);
  for (size_t i = 0; i < approx_.size(); ++i)
    approx_[i]->index().observe_adds([this, i](std::span<const uint64_t> keys, uint32_t pod) {
      journal(static_cast<int>(i), keys, pod);
    });
}

replica_state::~replica_state() {
  for (auto* a : approx_)
    a->index().observe_adds(nullptr);
}

void replica_state::journal(int producer, std::span<const uint64_t> keys, uint32_t pod) {
  if (keys.empty()) return;
  // Bounded: a burst the batches cannot carry is dropped, oldest first kept (they were made
  // first and peers may already route on them).
  if (journal_keys_ + keys.size() > 8 * settings_.max_batch_keys) {
    ++stats_.decisions_dropped;
    return;
  }
  journal_.push_back(
      pending{producer, std::string(picker_.endpoint_name(pod)), {keys.begin(), keys.end()}, -1});
  journal_keys_ += keys.size();
}

void replica_state::note_pick(std::string_view pod, int64_t now_ns) {
  for (; unstamped_ < journal_.size(); ++unstamped_)
    journal_[unstamped_].made_ns = now_ns;
  auto it = picks_.find(pod);
  if (it == picks_.end()) it = picks_.emplace(std::string(pod), 0).first;
  ++it->second;
}

std::pair<int64_t, int64_t> replica_state::own_in_flight(std::string_view pod) const {
  const auto* e = picker_.pool().find(pod);
  if (!e) return {0, 0};
  int64_t requests = e->assigned_requests, tokens = e->assigned_tokens;
  for (const auto& [replica, pods] : peer_load_) {
    auto it = pods.find(pod);
    if (it == pods.end()) continue;
    requests -= it->second.requests;
    tokens -= it->second.tokens;
  }
  return {std::max<int64_t>(0, requests), std::max<int64_t>(0, tokens)};
}

std::pair<int64_t, int64_t> replica_state::peer_in_flight(std::string_view replica,
                                                          std::string_view pod) const {
  auto r = peer_load_.find(replica);
  if (r == peer_load_.end()) return {0, 0};
  auto it = r->second.find(pod);
  if (it == r->second.end()) return {0, 0};
  return {it->second.requests, it->second.tokens};
}

std::optional<replica_batch> replica_state::take_batch(int64_t now_ns) {
  std::vector<std::string> silent;
  for (const auto& [replica, at] : heard_)
    if (now_ns - at > settings_.peer_timeout_ns) silent.push_back(replica);
  for (const auto& replica : silent) {
    heard_.erase(replica);
    if (peer_load_.count(replica)) ++stats_.peers_expired;
    peer_gone(replica);
  }
  bool heartbeat = last_full_ns_ < 0 || now_ns - last_full_ns_ >= settings_.heartbeat_ns;
  if (heartbeat) {
    tell_all_ = true;
    last_full_ns_ = now_ns;
  }
  replica_batch b;
  b.pool = pool_;
  b.replica = settings_.replica;
  b.sent_ns = now_ns;
  // Decisions, oldest first, up to the key bound (one always goes, however large).
  size_t taken = 0, keys = 0;
  while (taken < journal_.size()) {
    auto& p = journal_[taken];
    if (taken > 0 && keys + p.keys.size() > settings_.max_batch_keys) break;
    keys += p.keys.size();
    replica_decision d;
    d.producer = approx_[static_cast<size_t>(p.producer)]->name();
    d.pod = std::move(p.pod);
    d.keys = std::move(p.keys);
    d.age_ns = p.made_ns < 0 ? 0 : now_ns - p.made_ns;
    b.decisions.push_back(std::move(d));
    ++taken;
  }
  journal_.erase(journal_.begin(), journal_.begin() + static_cast<std::ptrdiff_t>(taken));
  journal_keys_ -= keys;
  unstamped_ -= std::min(unstamped_, taken);
  // Own in-flight totals that changed (every one for a new peer), and the picks since the last
  // batch. Totals, not deltas: a lost or repeated batch is set right by the next one.
  for (auto id : picker_.pool().ids()) {
    const auto& name = picker_.pool().at(id).name;
    auto [requests, tokens] = own_in_flight(name);
    auto told = told_.find(name);
    bool changed = told == told_.end()
                       ? (requests != 0 || tokens != 0)
                       : (told->second.requests != requests || told->second.tokens != tokens);
    auto picked = picks_.find(name);
    bool tell = changed || picked != picks_.end() || (tell_all_ && (requests != 0 || tokens != 0));
    if (!tell) continue;
    b.in_flight.push_back({name, requests, tokens, picked == picks_.end() ? 0 : picked->second});
    told_[name] = {requests, tokens};
  }
  picks_.clear();
  tell_all_ = false;
  if (b.decisions.empty() && b.in_flight.empty() && !heartbeat) return std::nullopt;
  b.seq = ++seq_;
  ++stats_.batches_sent;
  stats_.decisions_sent += b.decisions.size();
  stats_.bytes_sent += wire::encode_value(b).size();
  return b;
}

void replica_state::note_staleness(int64_t age_ns) {
  age_ns = std::max<int64_t>(0, age_ns);
  ++stats_.staleness_count;
  stats_.staleness_sum_ns += age_ns;
  stats_.staleness_max_ns = std::max(stats_.staleness_max_ns, age_ns);
  if (settings_.staleness_samples == 0) return;
  if (stats_.staleness_samples.size() < settings_.staleness_samples) {
    stats_.staleness_samples.push_back(age_ns);
  } else {
    stats_.staleness_samples[next_sample_] = age_ns;
    next_sample_ = (next_sample_ + 1) % settings_.staleness_samples;
  }
}

void replica_state::apply_decision(const replica_decision& d) {
  for (auto* a : approx_) {
    if (a->name() != d.producer) continue;
    const auto* e = picker_.pool().find(d.pod);
    if (!e) return;  // a pod this replica does not know (yet): its snapshot or KV will tell
    a->index().apply(d.keys, e->id, a->lru_capacity(*e));
    return;
  }
}

void replica_state::set_peer_totals(const std::string& replica, const std::string& pod,
                                    totals now) {
  auto& pods = peer_load_[replica];
  auto& before = pods[pod];
  picker_.add_peer_load(pod, now.requests - before.requests, now.tokens - before.tokens, 0);
  before = now;
  if (now.requests == 0 && now.tokens == 0) pods.erase(pod);
}

void replica_state::apply(const replica_batch& batch, int64_t now_ns) {
  if (batch.pool != pool_ || batch.replica == settings_.replica) return;
  ++stats_.batches_applied;
  heard_[batch.replica] = now_ns;
  int64_t transit = now_ns - batch.sent_ns;
  for (const auto& d : batch.decisions) {
    apply_decision(d);
    ++stats_.decisions_applied;
    note_staleness(transit + d.age_ns);
  }
  for (const auto& f : batch.in_flight) {
    set_peer_totals(batch.replica, f.pod, {f.requests, f.tokens});
    // Its picks a load report after the batch left already shows; before, the queue does not.
    const auto* e = picker_.pool().find(f.pod);
    if (f.picks > 0 && e && e->updated_ns <= batch.sent_ns)
      picker_.add_peer_load(f.pod, 0, 0, f.picks);
  }
}

replica_snapshot replica_state::snapshot() const {
  replica_snapshot s;
  s.pool = pool_;
  s.replica = settings_.replica;
  for (auto* a : approx_)
    for (auto id : picker_.pool().ids()) {
      auto keys = a->index().keys_of(id);
      if (keys.empty()) continue;
      s.index.push_back({a->name(), picker_.pool().at(id).name, std::move(keys), 0});
    }
  for (auto id : picker_.pool().ids()) {
    const auto& name = picker_.pool().at(id).name;
    auto [requests, tokens] = own_in_flight(name);
    if (requests == 0 && tokens == 0) continue;
    s.in_flight.push_back({name, requests, tokens, 0});
    s.in_flight_owner.push_back(settings_.replica);
  }
  for (const auto& [replica, pods] : peer_load_)
    for (const auto& [pod, t] : pods) {
      s.in_flight.push_back({pod, t.requests, t.tokens, 0});
      s.in_flight_owner.push_back(replica);
    }
  return s;
}

void replica_state::apply(const replica_snapshot& snapshot, int64_t) {
  if (snapshot.pool != pool_) return;
  ++stats_.snapshots_applied;
  for (const auto& d : snapshot.index)
    apply_decision(d);
  for (size_t i = 0; i < snapshot.in_flight.size() && i < snapshot.in_flight_owner.size(); ++i) {
    const auto& owner = snapshot.in_flight_owner[i];
    if (owner == settings_.replica) continue;  // our own, from before a restart: gone with it
    const auto& f = snapshot.in_flight[i];
    set_peer_totals(owner, f.pod, {f.requests, f.tokens});
  }
}

void replica_state::set_peers(const std::vector<replica_peer>& peers) {
  std::vector<replica_peer> next;
  for (const auto& p : peers)
    if (p.name != settings_.replica) next.push_back(p);
  for (const auto& p : next) {
    bool known = std::any_of(peers_.begin(), peers_.end(),
                             [&](const replica_peer& q) { return q.name == p.name; });
    if (!known) last_full_ns_ = -1;  // the next batch tells it every total
  }
  std::vector<std::string> gone;
  for (const auto& [replica, pods] : peer_load_)
    if (std::none_of(next.begin(), next.end(),
                     [&](const replica_peer& q) { return q.name == replica; }))
      gone.push_back(replica);
  for (const auto& g : gone)
    peer_gone(g);
  peers_ = std::move(next);
}

void replica_state::peer_gone(std::string_view replica) {
  if (auto h = heard_.find(replica); h != heard_.end()) heard_.erase(h);
  auto it = peer_load_.find(replica);
  if (it == peer_load_.end()) return;
  for (const auto& [pod, t] : it->second)
    picker_.add_peer_load(pod, -t.requests, -t.tokens, 0);
  peer_load_.erase(it);
}

void replica_state::membership_changed() {
  for (auto& [replica, pods] : peer_load_)
    for (auto it = pods.begin(); it != pods.end();)
      it = picker_.pool().find(it->first) ? std::next(it) : pods.erase(it);
  for (auto it = told_.begin(); it != told_.end();)
    it = picker_.pool().find(it->first) ? std::next(it) : told_.erase(it);
}

}  // namespace inferstack::actors::picker
