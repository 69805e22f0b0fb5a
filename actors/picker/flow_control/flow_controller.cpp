#include "actors/picker/flow_control/flow_controller.hpp"

#include <algorithm>
#include <limits>

namespace inferstack::actors::picker::flow_control {

flow_controller::flow_controller(flow_control_settings settings) : settings_(std::move(settings)) {}

flow_controller::band& flow_controller::band_of(int priority) {
  auto it = bands_.find(priority);
  if (it == bands_.end()) {
    it = bands_.emplace(priority, band{}).first;
    it->second.cfg = settings_.band_for(priority);
  }
  return it->second;
}

const flow_controller::flow* flow_controller::find_flow(const std::string& name,
                                                        int priority) const {
  auto b = bands_.find(priority);
  if (b == bands_.end()) return nullptr;
  auto f = b->second.flows.find(name);
  return f == b->second.flows.end() ? nullptr : &f->second;
}

namespace {

/// VTC's counter lift for a flow that becomes backlogged: no lower than the least-served
/// backlogged flow (or, with none, the flow that left last), so a flow cannot bank credit
/// while it sends nothing.
template <class Flows, class Flow>
void lift(const Flows& flows, Flow& f, double last_left) {
  double floor = std::numeric_limits<double>::infinity();
  for (const auto& [name, other] : flows)
    if (&other != &f && !other.tickets.empty()) floor = std::min(floor, other.counter);
  if (floor == std::numeric_limits<double>::infinity()) floor = last_left;
  f.counter = std::max(f.counter, floor);
}

}  // namespace

bool flow_controller::enqueue(uint64_t ticket, const std::string& flow_name, int priority,
                              uint64_t bytes, uint64_t prompt_tokens, int64_t now_ns,
                              int64_t deadline_ns) {
  auto& b = band_of(priority);
  if (b.requests + 1 > b.cfg.max_requests || b.bytes + bytes > b.cfg.max_bytes) return false;
  if (settings_.max_requests > 0 && items_.size() + 1 > settings_.max_requests) return false;
  if (settings_.max_bytes > 0 && bytes_ + bytes > settings_.max_bytes) return false;
  auto& f = b.flows[flow_name];
  if (f.tickets.empty() && b.cfg.fairness == fairness_policy::vtc) lift(b.flows, f, b.last_left);
  f.tickets.push_back(ticket);
  f.bytes += bytes;
  f.last_used_ns = now_ns;
  b.requests++;
  b.bytes += bytes;
  bytes_ += bytes;
  int64_t expires = settings_.request_ttl_ns > 0 ? now_ns + settings_.request_ttl_ns : 0;
  if (deadline_ns > 0 && (expires == 0 || deadline_ns < expires)) expires = deadline_ns;
  item it;
  it.req = {ticket, flow_name, priority, bytes, prompt_tokens, now_ns, expires, ++seq_};
  if (it.req.expires_ns) deadlines_.emplace(it.req.expires_ns, ticket);
  items_.emplace(ticket, std::move(it));
  return true;
}

void flow_controller::requeue(const queued_request& req) {
  auto& b = band_of(req.priority);
  auto& f = b.flows[req.flow];
  if (b.cfg.fairness == fairness_policy::vtc)
    f.counter -= settings_.vtc_input_weight * static_cast<double>(req.prompt_tokens);
  f.tickets.push_front(req.ticket);
  f.bytes += req.bytes;
  b.requests++;
  b.bytes += req.bytes;
  bytes_ += req.bytes;
  if (req.expires_ns) deadlines_.emplace(req.expires_ns, req.ticket);
  items_.emplace(req.ticket, item{req});
}

flow_controller::band_load flow_controller::load_of(const band& b) {
  band_load load;
  for (const auto& [name, f] : b.flows) {
    if (f.in_flight > 0 || !f.tickets.empty()) load.active++;
    load.in_flight += f.in_flight;
  }
  return load;
}

bool flow_controller::over_share(const band_load& load, const flow& f) {
  return load.active > 1 && f.in_flight * load.active > load.in_flight;
}

bool flow_controller::over_share(const std::string& flow_name, int priority) const {
  auto b = bands_.find(priority);
  if (b == bands_.end()) return false;
  auto f = b->second.flows.find(flow_name);
  return f != b->second.flows.end() && over_share(load_of(b->second), f->second);
}

const std::string* flow_controller::choose_flow(band& b, bool over_share_may_go) const {
  auto head_seq = [&](const flow& f) { return items_.at(f.tickets.front()).req.seq; };
  band_load load;  // counted once a choice, and only when it matters
  if (!over_share_may_go) load = load_of(b);
  auto waits = [&](const flow& f) {
    return !f.tickets.empty() && (over_share_may_go || !over_share(load, f));
  };
  switch (b.cfg.fairness) {
    case fairness_policy::round_robin: {
      // The first backlogged flow after the one served last, wrapping around.
      auto start = b.served_any ? b.flows.upper_bound(b.cursor) : b.flows.begin();
      for (auto it = start; it != b.flows.end(); ++it)
        if (waits(it->second)) return &it->first;
      for (auto it = b.flows.begin(); it != start; ++it)
        if (waits(it->second)) return &it->first;
      break;
    }
    case fairness_policy::vtc: {
      const std::string* best = nullptr;
      const flow* best_flow = nullptr;
      for (const auto& [name, f] : b.flows) {
        if (!waits(f)) continue;
        if (!best_flow || f.counter < best_flow->counter ||
            (f.counter == best_flow->counter && head_seq(f) < head_seq(*best_flow))) {
          best = &name;
          best_flow = &f;
        }
      }
      return best;
    }
    case fairness_policy::global_strict: {
      const std::string* best = nullptr;
      uint64_t best_seq = 0;
      for (const auto& [name, f] : b.flows) {
        if (!waits(f)) continue;
        auto seq = head_seq(f);
        if (!best || seq < best_seq) {
          best = &name;
          best_seq = seq;
        }
      }
      return best;
    }
  }
  return nullptr;
}

void flow_controller::remove(std::unordered_map<uint64_t, item>::iterator it, bool from_front) {
  const auto& req = it->second.req;
  auto& b = band_of(req.priority);
  auto& f = b.flows[req.flow];
  if (from_front)
    f.tickets.pop_front();
  else
    f.tickets.erase(std::find(f.tickets.begin(), f.tickets.end(), req.ticket));
  f.bytes -= req.bytes;
  b.requests--;
  b.bytes -= req.bytes;
  bytes_ -= req.bytes;
  if (f.tickets.empty()) b.last_left = f.counter;
  if (req.expires_ns) deadlines_.erase({req.expires_ns, req.ticket});
  items_.erase(it);
}

std::optional<queued_request> flow_controller::pop(int64_t now_ns, bool over_share_may_go) {
  for (auto& [priority, b] : bands_) {
    if (b.requests == 0) continue;
    const auto* chosen = choose_flow(b, over_share_may_go);
    if (!chosen) return std::nullopt;  // strict priority: lower bands wait too
    auto name = *chosen;
    auto& f = b.flows[name];
    auto it = items_.find(f.tickets.front());
    auto out = it->second.req;
    if (b.cfg.fairness == fairness_policy::vtc)
      f.counter += settings_.vtc_input_weight * static_cast<double>(out.prompt_tokens);
    f.last_used_ns = now_ns;
    b.cursor = name;
    b.served_any = true;
    remove(it, true);
    return out;
  }
  return std::nullopt;
}

std::optional<queued_request> flow_controller::cancel(uint64_t ticket) {
  auto it = items_.find(ticket);
  if (it == items_.end()) return std::nullopt;
  auto out = it->second.req;
  remove(it, false);
  return out;
}

std::vector<queued_request> flow_controller::expire(int64_t now_ns) {
  std::vector<queued_request> out;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now_ns) {
    auto it = items_.find(deadlines_.begin()->second);
    out.push_back(it->second.req);
    remove(it, false);
  }
  // Tracked requests whose completion never came, swept once a second at most.
  if (now_ns - last_sweep_ns_ >= 1'000'000'000) {
    last_sweep_ns_ = now_ns;
    for (auto it = tracked_.begin(); it != tracked_.end();)
      if (now_ns - it->second.since_ns >= record_ttl_ns) {
        untrack(it->second.flow, it->second.priority);
        it = tracked_.erase(it);
      } else {
        ++it;
      }
  }
  for (auto& [priority, b] : bands_)
    for (auto it = b.flows.begin(); it != b.flows.end();)
      if (it->second.tickets.empty() && it->second.in_flight == 0 &&
          now_ns - it->second.last_used_ns > flow_gc_ns)
        it = b.flows.erase(it);
      else
        ++it;
  return out;
}

std::vector<queued_request> flow_controller::take_all() {
  std::vector<queued_request> out;
  while (!items_.empty()) {
    auto it = items_.begin();
    out.push_back(it->second.req);
    remove(it, false);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.enqueued_ns < b.enqueued_ns; });
  return out;
}

std::optional<int64_t> flow_controller::next_expiry() const {
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

void flow_controller::charge(const std::string& flow_name, int priority, uint64_t prompt_tokens,
                             uint64_t output_tokens, int64_t now_ns) {
  auto& b = band_of(priority);
  if (b.cfg.fairness != fairness_policy::vtc) return;
  auto& f = b.flows[flow_name];
  // A request dispatched without waiting passes through the queue in no time: lifted as it
  // arrives, and leaving at once.
  bool passing = prompt_tokens > 0 && f.tickets.empty();
  if (passing) lift(b.flows, f, b.last_left);
  f.counter += settings_.vtc_input_weight * static_cast<double>(prompt_tokens) +
               settings_.vtc_output_weight * static_cast<double>(output_tokens);
  f.last_used_ns = now_ns;
  if (passing) b.last_left = f.counter;
}

void flow_controller::track(const std::string& request_id, const std::string& flow_name,
                            int priority, int64_t now_ns) {
  auto& b = band_of(priority);
  if (b.cfg.fairness != fairness_policy::vtc && settings_.over_share_ceiling >= 1) return;
  auto [it, added] = tracked_.try_emplace(request_id);
  if (!added) untrack(it->second.flow, it->second.priority);  // a retry's second pick
  it->second = {flow_name, priority, now_ns};
  b.flows[flow_name].in_flight++;
}

void flow_controller::untrack(const std::string& flow_name, int priority) {
  auto b = bands_.find(priority);
  if (b == bands_.end()) return;
  auto f = b->second.flows.find(flow_name);
  if (f != b->second.flows.end() && f->second.in_flight > 0) f->second.in_flight--;
}

bool flow_controller::done(const std::string& request_id, uint64_t output_tokens, int64_t now_ns) {
  auto it = tracked_.find(request_id);
  if (it == tracked_.end()) return false;
  charge(it->second.flow, it->second.priority, 0, output_tokens, now_ns);
  untrack(it->second.flow, it->second.priority);
  tracked_.erase(it);
  return true;
}

size_t flow_controller::band_size(int priority) const {
  auto it = bands_.find(priority);
  return it == bands_.end() ? 0 : it->second.requests;
}

double flow_controller::counter(const std::string& flow_name, int priority) const {
  const auto* f = find_flow(flow_name, priority);
  return f ? f->counter : 0.0;
}

std::vector<flow_stats> flow_controller::stats() const {
  std::vector<flow_stats> out;
  for (const auto& [priority, b] : bands_)
    for (const auto& [name, f] : b.flows)
      if (!f.tickets.empty()) out.push_back({priority, name, f.tickets.size(), f.bytes});
  return out;
}

}  // namespace inferstack::actors::picker::flow_control
