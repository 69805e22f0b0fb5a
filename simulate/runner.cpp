// The run's loop: one virtual client per request, time moved from event to event (arrival,
// fault, the once-a-second sample), every exchange recording what its client saw.
#include "simulate/runner.hpp"

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <map>

#include <boost/asio/io_context.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include "actors/controller/controller_protocol.hpp"
#include "actors/pod/pod_protocol.hpp"
#include "gateway/request_pipeline.hpp"
#include "runtime/simulation.hpp"
#include "runtime/transport.hpp"
#include "simulate/request_body.hpp"

namespace inferstack::simulate {

namespace {

using std::chrono::nanoseconds;
constexpr int64_t second_ns = 1'000'000'000;

/// What the stack's pods and sets last said, and what the clients saw this second: the
/// watcher actor and the exchanges write it, the loop reads it (all on the simulation's one
/// thread).
struct run_state {
  runtime::simulation* sim = nullptr;
  caf::actor_clock::time_point start;
  const std::map<std::string, set_facts>* sets = nullptr;
  std::vector<request_record> records;
  /// The run is over (its records handed out): exchanges still open when the stack stops are
  /// not recorded.
  bool closed = false;
  size_t open = 0;
  size_t done = 0;

  struct pool_second {
    uint32_t arrivals = 0, completions = 0, errors = 0;
    uint64_t prompt_tokens = 0, cached_tokens = 0;
  };
  std::map<std::string, pool_second> second;  ///< by pool, this second
  std::map<std::string, std::deque<std::pair<int64_t, int64_t>>> first_tokens;  ///< (at, ttft)
  std::map<std::string, actors::pod::load_report> loads;                        ///< by pod
  std::map<std::string, actors::controller::set_status> statuses;               ///< by "<ns>/<set>"

  int64_t now_ns() const { return (sim->now() - start).count(); }
};

std::string outcome_of(int status) {
  switch (status) {
    case 0:
      return "unfinished";
    case 200:
      return "ok";
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 408:
    case 504:
      return "timeout";
    case 413:
      return "too_large";
    case 429:
      return "rate_limited";
    case 499:
      return "cancelled";
    case 502:
      return "bad_gateway";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "server_error" : "client_error";
  }
}

/// One client's side of one exchange, in virtual time.
class sim_exchange : public http::exchange {
 public:
  sim_exchange(http::request req, std::shared_ptr<run_state> state, uint64_t index,
               boost::asio::io_context& io)
      : req_(std::move(req)), state_(std::move(state)), index_(index), io_(io) {}

  const http::request& req() const override { return req_; }
  std::string remote_address() const override { return "virtual"; }
  boost::asio::any_io_executor executor() const override { return io_.get_executor(); }

  void respond(http::status code, std::string body, std::string, http::header_list extra) override {
    if (status_ != 0 || state_->closed) return;
    head(code, extra);
    if (status_ == 200) read_usage(body);
    end();
  }
  void respond_now(http::status code, std::string_view body, std::string_view content_type,
                   std::initializer_list<http::header_view> extra) override {
    http::header_list copied;
    for (const auto& [name, value] : extra)
      copied.emplace_back(name, value);
    respond(code, std::string(body), std::string(content_type), std::move(copied));
  }
  void start_stream(http::status code, std::string, http::header_list extra) override {
    if (status_ == 0 && !state_->closed) head(code, extra);
  }
  bool write(std::string chunk, std::function<void()> on_written) override {
    if (ended_ || state_->closed) return false;
    // SSE events: token chunks, then the usage chunk, then "data: [DONE]". Which is which is
    // only known at the end, so the last event is kept (moved, not searched) and read then.
    if (chunk.compare(0, 12, "data: [DONE]") != 0) {
      auto now = state_->now_ns();
      auto& r = record();
      if (r.ttft_ns < 0) r.ttft_ns = now - r.arrival_ns;
      before_last_ns_ = last_event_ns_;
      last_event_ns_ = now;
      last_event_ = std::move(chunk);
      ++events_;
    }
    if (on_written) on_written();  // the virtual client reads at once
    return true;
  }
  void finish() override { end(); }
  void abort() override { end(); }
  void on_abort(std::function<void()> callback) override { on_abort_ = std::move(callback); }
  bool aborted() const override { return hung_up_; }

  /// The virtual client hangs up (its request's cancel_after): the request ends as
  /// "cancelled", and the gateway hears it as a closed connection.
  void hang_up() {
    if (ended_ || state_->closed) return;
    hung_up_ = true;
    end();
    if (auto callback = std::move(on_abort_)) callback();
  }
  size_t queued_bytes() const override { return 0; }

 private:
  request_record& record() { return state_->records[index_]; }

  void head(http::status code, const http::header_list& extra) {
    status_ = static_cast<int>(code);
    for (const auto& [name, value] : extra)
      if (name == "x-inference-pod") record().pod = value;
  }

  void read_usage(std::string_view json) {
    auto parsed = nlohmann::json::parse(json, nullptr, false);
    if (!parsed.is_object()) return;
    auto usage = parsed.find("usage");
    if (usage == parsed.end() || !usage->is_object()) return;
    auto& r = record();
    r.prompt_tokens = usage->value("prompt_tokens", 0u);
    r.output_tokens = usage->value("completion_tokens", 0u);
    auto details = usage->find("prompt_tokens_details");
    if (details != usage->end() && details->is_object())
      r.cached_tokens = details->value("cached_tokens", 0u);
  }

  void end() {
    if (ended_ || state_->closed) return;
    ended_ = true;
    auto& st = *state_;
    auto& r = record();
    bool cut = false;  // a stream that ended with an error event (the pod failed mid-stream)
    if (events_ > 0 && last_event_.find("\"choices\"") == std::string::npos) {
      auto data = last_event_.find("data: ");
      auto event = nlohmann::json::parse(data == std::string::npos
                                             ? std::string_view()
                                             : std::string_view(last_event_).substr(data + 6),
                                         nullptr, false);
      cut = event.is_object() && (event.contains("error") || event.value("object", "") == "error");
      if (cut) --events_;
    }
    if (events_ > 0 && !cut) {  // a stream: its last event is the usage chunk, when there is one
      auto data = last_event_.find("data: ");
      if (data != std::string::npos && last_event_.find("\"usage\":{", data) != std::string::npos) {
        auto stop = last_event_.find('\n', data);
        read_usage(std::string_view(last_event_)
                       .substr(data + 6, stop == std::string::npos ? stop : stop - data - 6));
        last_token_ns_ = before_last_ns_;  // the usage chunk came after the last token
        token_events_ = events_ - 1;
      } else {
        last_token_ns_ = last_event_ns_;
        token_events_ = events_;
      }
    }
    r.status = status_;
    r.outcome = hung_up_ ? "cancelled" : cut ? "stream_error" : outcome_of(status_);
    r.e2e_ns = st.now_ns() - r.arrival_ns;
    if (!r.pod.empty()) {
      auto set = set_of_pod(r.pod, *st.sets);
      if (auto it = st.sets->find(set); it != st.sets->end() && !it->second.pool.empty())
        r.pool = it->second.pool;
    }
    if (token_events_ >= 2 && r.output_tokens >= 2)
      r.itl_ns = (last_token_ns_ - r.arrival_ns - r.ttft_ns) / (r.output_tokens - 1);
    auto& sec = st.second[r.pool];
    ++sec.completions;
    if (status_ != 200) ++sec.errors;
    sec.prompt_tokens += r.prompt_tokens;
    sec.cached_tokens += r.cached_tokens;
    if (r.ttft_ns >= 0) st.first_tokens[r.pool].emplace_back(r.arrival_ns + r.ttft_ns, r.ttft_ns);
    --st.open;
    ++st.done;
  }

  http::request req_;
  std::shared_ptr<run_state> state_;
  uint64_t index_;
  boost::asio::io_context& io_;
  int status_ = 0;
  bool ended_ = false;
  bool hung_up_ = false;
  std::function<void()> on_abort_;
  uint32_t events_ = 0;        ///< SSE events written
  uint32_t token_events_ = 0;  ///< ... of them with tokens
  int64_t last_event_ns_ = 0, before_last_ns_ = 0, last_token_ns_ = 0;
  std::string last_event_;
};

/// Hears the pods' load reports and the sets' statuses, as the picker and the scaler do.
caf::behavior watcher(caf::event_based_actor* self, std::shared_ptr<run_state> state,
                      caf::actor controller) {
  // Statuses published before the watcher subscribed: asked once.
  if (controller)
    self->request(controller, caf::infinite, actors::controller::set_status_query{})
        .then([self](actors::controller::set_status_list& list) {
          for (auto& s : list.sets)
            self->send(self, std::move(s));
        });
  return {
      [state](actors::pod::load_report& r) { state->loads[r.pod] = std::move(r); },
      [state](actors::controller::set_status& s) {
        auto key = s.ns + "/" + s.set;
        auto& known = state->statuses[key];
        if (s.version >= known.version) known = std::move(s);
      },
  };
}

/// The nearest-rank 90th percentile of the first tokens of the last 10 s (older ones dropped).
double recent_ttft_p90_ms(std::deque<std::pair<int64_t, int64_t>>& firsts, int64_t now) {
  while (!firsts.empty() && firsts.front().first <= now - 10 * second_ns)
    firsts.pop_front();
  if (firsts.empty()) return -1;
  std::vector<int64_t> v;
  v.reserve(firsts.size());
  for (const auto& f : firsts)
    v.push_back(f.second);
  auto k = (v.size() * 9 + 9) / 10 - 1;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1e6;
}

/// One row per pool for the second ending now.
void sample(run_state& st, int64_t second, std::vector<std::string>& pools,
            std::vector<series_row>& out) {
  // Every pool of the stack's sets, and any other a request was routed to.
  for (const auto& [set, facts] : *st.sets)
    if (std::find(pools.begin(), pools.end(), facts.pool) == pools.end())
      pools.push_back(facts.pool);
  for (const auto& [pool, sec] : st.second)
    if (std::find(pools.begin(), pools.end(), pool) == pools.end()) pools.push_back(pool);
  std::sort(pools.begin(), pools.end());
  for (const auto& pool : pools) {
    if (pool.empty()) continue;  // requests no pool took: counted in the records only
    series_row row;
    row.second = second;
    row.pool = pool;
    auto& sec = st.second[pool];
    row.arrivals = sec.arrivals;
    row.completions = sec.completions;
    row.errors = sec.errors;
    if (sec.prompt_tokens > 0)
      row.hit_rate =
          static_cast<double>(sec.cached_tokens) / static_cast<double>(sec.prompt_tokens);
    row.ttft_p90_ms = recent_ttft_p90_ms(st.first_tokens[pool], second * second_ns);
    double kv = 0;
    uint32_t ready_pods = 0;
    for (const auto& [set, facts] : *st.sets) {
      if (facts.pool != pool) continue;
      auto status = st.statuses.find(set);
      if (status == st.statuses.end()) continue;
      const auto& s = status->second;
      row.ready_replicas += static_cast<uint32_t>(s.ready);
      auto holding = static_cast<uint32_t>(std::max(0, s.current - s.pending));
      row.replicas += holding;
      row.gpus += holding * static_cast<uint32_t>(facts.gpus_per_pod);
      for (const auto& pod : s.ready_pods) {
        auto load = st.loads.find(pod);
        if (load == st.loads.end()) continue;
        row.queue += load->second.waiting;
        row.running += load->second.running;
        kv += load->second.kv_usage;
        ++ready_pods;
      }
    }
    row.kv_usage = ready_pods ? kv / ready_pods : 0;
    out.push_back(std::move(row));
  }
  st.second.clear();
}

std::string clock_text(double seconds) {
  auto s = static_cast<long>(seconds);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  return buf;
}

}  // namespace

std::string set_of_pod(const std::string& pod, const std::map<std::string, set_facts>& sets) {
  std::string best;
  for (const auto& [set, facts] : sets)
    if (pod.size() > set.size() + 1 && pod.compare(0, set.size(), set) == 0 &&
        pod[set.size()] == '-' && set.size() > best.size())
      best = set;
  return best;
}

run_outcome run_workload(const workload& w, const std::vector<timed_action>& faults,
                         stack_handles& stack, const run_settings& settings) {
  using wall = std::chrono::steady_clock;
  auto wall_start = wall::now();
  auto& sim = *stack.sim;
  auto state = std::make_shared<run_state>();
  state->sim = &sim;
  state->start = sim.now();
  state->sets = &stack.sets;
  state->records.resize(w.requests.size());
  auto watch = sim.sys.spawn(watcher, state, stack.controller);
  stack.transport->subscribe("", "load@", watch);
  stack.transport->subscribe("", "setstatus@", watch);
  sim.run();

  run_outcome out;
  out.run.label = settings.label;
  boost::asio::io_context io;  // never run: no upstream over HTTP in a simulation
  request_bodies bodies;
  std::map<std::string, std::string> keys;  // by namespace
  std::vector<std::string> pools;
  const bool tty = settings.progress && isatty(STDERR_FILENO);
  auto last_progress = wall_start;
  const int64_t last_arrival = w.requests.empty() ? 0 : w.requests.back().arrival.count();
  const int64_t end_limit = last_arrival + settings.drain.count();
  size_t next_request = 0, next_fault = 0;
  int64_t next_second = second_ns;
  // Clients that will hang up (cancel_after), by when: their exchanges, if still open.
  std::multimap<int64_t, std::weak_ptr<sim_exchange>> hang_ups;
  uint64_t steps = 0;

  auto sample_second = [&](int64_t second) {
    sample(*state, second, pools, out.run.series);
    if (settings.on_sample) settings.on_sample(second);
  };

  auto send = [&](size_t i) {
    const auto& r = w.requests[i];
    auto ns = r.ns.empty() ? stack.default_ns : r.ns;
    auto model = r.model.empty() ? stack.default_model : r.model;
    auto& rec = state->records[i];
    rec.index = i;
    rec.arrival_ns = r.arrival.count();
    rec.pool = stack.pool_of_model ? stack.pool_of_model(ns, model) : "";
    http::request req{boost::beast::http::verb::post,
                      r.chat ? "/v1/chat/completions" : "/v1/completions", 11};
    req.set(boost::beast::http::field::host, ns + "." + stack.host_suffix);
    auto key = keys.find(ns);
    if (key == keys.end()) key = keys.emplace(ns, stack.api_key ? stack.api_key(ns) : "").first;
    if (!key->second.empty())
      req.set(boost::beast::http::field::authorization, "Bearer " + key->second);
    req.set(boost::beast::http::field::content_type, "application/json");
    req.set("x-request-id", "sim-" + std::to_string(i));
    if (!r.session.empty()) req.set("x-session-token", r.session);
    for (const auto& [name, value] : r.headers)
      req.set(name, value);
    req.body() = bodies.body(r, i, model);
    req.prepare_payload();
    ++state->second[rec.pool].arrivals;
    ++state->open;
    auto ex = std::make_shared<sim_exchange>(std::move(req), state, i, io);
    if (r.cancel_after.count() > 0)
      hang_ups.emplace(r.arrival.count() + r.cancel_after.count(), ex);
    stack.pipeline->handle(std::move(ex));
  };

  for (;;) {
    bool arrivals_left = next_request < w.requests.size();
    if (!arrivals_left && state->open == 0 && next_fault >= faults.size()) {
      // Everything has ended: the last (partial) second is sampled, and the run is over.
      sim.run();
      sample_second(next_second / second_ns);
      break;
    }
    int64_t when = next_second;
    if (arrivals_left) when = std::min(when, w.requests[next_request].arrival.count());
    if (!hang_ups.empty()) when = std::min(when, hang_ups.begin()->first);
    if (next_fault < faults.size()) when = std::min(when, faults[next_fault].at.count());
    if (!arrivals_left && when > end_limit) {
      sample_second(next_second / second_ns);
      out.notes.push_back(std::to_string(state->open) +
                          " requests had not ended when the drain time was over");
      break;
    }
    auto now = state->now_ns();
    if (when > now)
      sim.advance_time(nanoseconds(when - now));
    else
      sim.run();
    if (arrivals_left && w.requests[next_request].arrival.count() <= when) {
      send(next_request++);
    } else if (!hang_ups.empty() && hang_ups.begin()->first <= when) {
      auto ex = hang_ups.begin()->second.lock();  // null: it has ended already
      hang_ups.erase(hang_ups.begin());
      if (ex) ex->hang_up();
    } else if (next_fault < faults.size() && faults[next_fault].at.count() <= when) {
      const auto& f = faults[next_fault++];
      auto problem = f.apply ? f.apply() : std::string();
      if (!problem.empty())
        out.notes.push_back(f.what + " at " + std::to_string(f.at.count() / 1e9) +
                            " s: " + problem);
    } else {
      sample_second(next_second / second_ns);
      next_second += second_ns;
    }
    if (settings.progress && (++steps & 255) == 0) {
      auto t = wall::now();
      if (t - last_progress > std::chrono::milliseconds(tty ? 250 : 10000)) {
        last_progress = t;
        double elapsed = std::chrono::duration<double>(t - wall_start).count();
        double virtual_s = static_cast<double>(state->now_ns()) / 1e9;
        double total_s = static_cast<double>(last_arrival) / 1e9;
        double speed = elapsed > 0 ? virtual_s / elapsed : 0;
        double eta = speed > 0 ? std::max(0.0, total_s - virtual_s) / speed : 0;
        std::fprintf(stderr, "%s[%s] virtual %s / %s  requests %zu/%zu  x%.0f  ETA %.0fs%s",
                     tty ? "\r" : "", settings.label.c_str(), clock_text(virtual_s).c_str(),
                     clock_text(total_s).c_str(), state->done, w.requests.size(), speed, eta,
                     tty ? "   " : "\n");
      }
    }
  }
  if (settings.progress && tty) std::fprintf(stderr, "\r\033[K");
  stack.transport->unsubscribe(watch);
  caf::anon_send_exit(watch, caf::exit_reason::user_shutdown);
  sim.run();
  for (auto& r : state->records)
    if (r.outcome.empty()) r.outcome = "unfinished";  // sent, no end before the drain was over
  state->closed = true;
  out.run.requests = std::move(state->records);
  out.wall_seconds = std::chrono::duration<double>(wall::now() - wall_start).count();
  out.virtual_seconds = static_cast<double>(state->now_ns()) / 1e9;
  return out;
}

}  // namespace inferstack::simulate
