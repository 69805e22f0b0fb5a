// tools/bench/simulated_pool: the simulated pool and the arrival-replay driver the
// virtual-time benches share (see simulated_pool.hpp).
#include "tools/bench/simulated_pool.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <stdexcept>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "protocol/registration.hpp"
#include "runtime/simulation.hpp"

namespace inferstack::bench {

namespace pod = actors::pod;
namespace picker = actors::picker;

pod::pod_settings bench_pod_settings(
    const std::vector<std::pair<std::string, std::string>>& options, int i, uint64_t seed,
    const std::string& profiles) {
  pod::pod_settings s;
  for (const auto& [k, v] : options)
    if (auto err = pod::set_pod_option(s, k, v, profiles)) throw std::runtime_error(*err);
  s.pod_name = "bench/pod-" + std::to_string(i);
  s.address = "10.0.0." + std::to_string(i + 1) + ":8000";
  s.seed = seed + static_cast<uint64_t>(i);
  for (auto& p : pod::finish_pod_settings(s))
    throw std::runtime_error(p);
  return s;
}

namespace {

struct driver_state {
  const replay* work = nullptr;
  size_t next = 0;
  caf::actor_clock::time_point start;
  std::vector<picker::picker_actor> pickers;  ///< the arrivals go to them in turn
  std::map<std::string, pod::pod_actor> pods;
  replay_result* out = nullptr;
};

// Replays the arrivals: at each one, asks the picker for a pod (it may wait in the picker's
// queue), sends the request there, and tells the picker when it is done.
caf::behavior driver(caf::stateful_actor<driver_state>* self, const replay* work,
                     std::vector<picker::picker_actor> pickers,
                     std::map<std::string, pod::pod_actor> pods, replay_result* out) {
  auto& st = self->state;
  st.work = work;
  st.pickers = std::move(pickers);
  st.pods = std::move(pods);
  st.out = out;
  st.start = self->clock().now();
  auto schedule_next = [self] {
    auto& st = self->state;
    if (st.next >= st.work->count) return;
    auto due = st.start + std::chrono::nanoseconds(st.work->arrival_ns(st.next));
    auto now = self->clock().now();
    self->delayed_send(self, due > now ? due - now : caf::timespan{0}, atoms::tick_atom_v);
  };
  schedule_next();
  return {
      [self, schedule_next](atoms::tick_atom) {
        auto& st = self->state;
        auto index = st.next++;
        auto picker = st.pickers[index % st.pickers.size()];
        schedule_next();
        auto id = "req-" + std::to_string(index);
        picker::choose_pod choose;
        choose.request_id = id;
        choose.model = "bench-model";
        st.work->choose(index, choose);
        auto arrived = self->clock().now();
        auto fail = [self](caf::error&) {
          self->state.out->failed++;
          self->state.out->done++;
        };
        self->request(picker, caf::infinite, choose)
            .then(
                [self, index, id, arrived, fail, picker,
                 tokens = choose.tokens](picker::chosen_pod& chosen) {
                  auto& st = self->state;
                  auto waited = self->clock().now() - arrived;
                  pod::generate_request gen;
                  gen.request_id = id;
                  gen.model = "bench-model";
                  gen.api = static_cast<uint8_t>(pod::api_kind::completions);
                  gen.prompts = {tokens};
                  gen.echo_texts = {""};
                  gen.max_tokens = st.work->max_tokens(index);
                  gen.ignore_eos = true;
                  auto name = chosen.pod;
                  self->request(st.pods.at(name), caf::infinite, gen)
                      .then(
                          [self, name, index, id, waited, picker](pod::generate_result& r) {
                            auto& st = self->state;
                            finished_request f;
                            f.index = index;
                            f.pod = name;
                            f.waited_ns = waited.count();
                            f.since_start_ns = (self->clock().now() - st.start).count();
                            f.result = &r;
                            picker::request_done done{id, name, r.prompt_tokens,
                                                      r.completion_tokens, true};
                            st.work->done(f, done);
                            st.out->done++;
                            caf::anon_send(picker, std::move(done));
                          },
                          fail);
                },
                fail);
      },
  };
}

}  // namespace

replay_result run_replay(const pool_spec& pool, const replay& r) {
  runtime::simulation sim{protocol::register_messages};
  picker::picker_settings ps;
  ps.pool = "bench/pool";
  ps.pool_name = "pool";
  ps.config = pool.picker_config;
  ps.seed = pool.seed;
  std::vector<picker::picker_impl_actor> pickers;
  for (int i = 0; i < std::max(1, pool.pickers); ++i) {
    auto settings = ps;
    picker::picker_dependencies pd;
    pd.registry = std::make_shared<prometheus::Registry>();
    if (pool.setup_picker) pool.setup_picker(i, settings, pd);
    pickers.push_back(picker::spawn_picker(sim.sys, settings, pd));
  }
  // Every picker hears every pod (each replica consumes the pods' load reports and KV events).
  auto to_pickers = [pickers](const auto& m) {
    for (const auto& p : pickers)
      caf::anon_send(p, m);
  };
  std::map<std::string, pod::pod_actor> pods;
  picker::pool_membership membership{ps.pool, {}};
  for (int i = 0; i < pool.pods; ++i) {
    auto s = pool.pod_settings(i);
    pod::pod_dependencies deps;
    deps.registry = std::make_shared<prometheus::Registry>();
    if (pool.kv_events)
      deps.outputs.kv_events = [to_pickers](const pod::kv_event_message& m) { to_pickers(m); };
    deps.outputs.load = [to_pickers](const pod::load_report& rep) { to_pickers(rep); };
    membership.members.push_back(
        {s.pod_name, "actor:pod/" + s.pod_name, s.address, {}, true, false, {}, {}, {}});
    pods.emplace(s.pod_name, pod::spawn_pod(sim.sys, s, deps));
  }
  to_pickers(membership);
  sim.run();
  if (pool.pickers_started) pool.pickers_started(pickers);
  sim.run();
  replay_result out;
  std::vector<picker::picker_actor> handles;
  for (const auto& p : pickers)
    handles.push_back(caf::actor_cast<picker::picker_actor>(p));
  sim.sys.spawn(driver, &r, handles, pods, &out);
  sim.advance_until([&] { return out.done == r.count; }, std::chrono::hours(24));
  if (pool.replay_finished) pool.replay_finished();
  for (auto& [name, p] : pods)
    caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  for (const auto& p : pickers)
    caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  return out;
}

}  // namespace inferstack::bench
