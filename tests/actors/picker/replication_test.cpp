// Active-active picker replicas: what one replica tells its peers (the approximate prefix index
// learned from its decisions, its own in-flight load per pod), when they hear it (after the
// batch interval), how a replica that starts late catches up from a peer's snapshot, and what is
// left of a peer that went away. Plain classes first, then the picker actor in virtual time.
#include <catch2/catch.hpp>

#include "actors/picker/picker_actor.hpp"
#include "actors/picker/replication/replica_link.hpp"
#include "actors/picker/replication/replica_state.hpp"
#include "actors/picker/scheduling/config_loader.hpp"
#include "actors/picker/scheduling/endpoint_picker.hpp"
#include "tests/support/caf_fixture.hpp"

using namespace inferstack;
using namespace inferstack::actors::picker;

namespace {

// llm-d's approximate prefix routing alone, with blocks of 64 tokens: the replica that learned
// a prompt routes it back to the same pod; one that did not chooses at random.
const char* approx_yaml = R"(
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: prefix-cache-scorer
  parameters: {autoTune: false, blockSizeTokens: 64}
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - {pluginRef: prefix-cache-scorer, weight: 1}
  - {pluginRef: max-score-picker}
)";

std::shared_ptr<const config::picker_config> approx_config() {
  config::load_result r;
  config::load_text(approx_yaml, "replication.yaml", r);
  REQUIRE(r.problems.empty());
  return std::make_shared<config::picker_config>(r.config.picker_configs.front());
}

const std::string pool_name = "team-a/llama";

pool_membership four_pods() {
  pool_membership m{pool_name, {}};
  for (int i = 0; i < 4; ++i)
    m.members.push_back({"pod-" + std::to_string(i),
                         "actor:pod/" + std::to_string(i),
                         "10.0.0." + std::to_string(i + 1) + ":8000",
                         {},
                         true,
                         false,
                         {},
                         {},
                         {}});
  return m;
}

/// Distinct prompts of 256 tokens (4 blocks of 64).
std::vector<uint32_t> prompt(int which) {
  std::vector<uint32_t> t(256);
  for (size_t i = 0; i < t.size(); ++i)
    t[i] = static_cast<uint32_t>(1000 + 100000 * which + static_cast<int>(i));
  return t;
}

// -- replica_state on two endpoint_pickers (no actors) ------------------------------------------

struct replica_pair {
  std::unique_ptr<endpoint_picker> a_picker, b_picker;
  std::unique_ptr<replica_state> a, b;

  replica_pair() {
    a_picker = build("a");
    b_picker = build("b");
    replication_settings sa, sb;
    sa.replica = pool_name + "#0";
    sb.replica = pool_name + "#1";
    a = std::make_unique<replica_state>(sa, pool_name, *a_picker);
    b = std::make_unique<replica_state>(sb, pool_name, *b_picker);
    a->set_peers({{sb.replica, ""}});
    b->set_peers({{sa.replica, ""}});
  }

  static std::unique_ptr<endpoint_picker> build(const std::string&) {
    auto built = build_endpoint_picker(approx_config().get(), {});
    REQUIRE(built.ok());
    for (const auto& m : four_pods().members)
      built.picker->add_endpoint({m.pod, m.address, {}});
    return std::move(built.picker);
  }

  /// A picks `tokens` for `id` (schedule + pre_request + the actor's note_pick); its pod.
  std::string pick_on_a(const std::string& id, std::vector<uint32_t> tokens, int64_t now) {
    header_list headers;
    pick_request req;
    req.request_id = id;
    req.model = "llama";
    req.tokens = std::move(tokens);
    req.headers = &headers;
    auto result = a_picker->schedule(req, now);
    REQUIRE(result.ok());
    a_picker->pre_request(req, result, now);
    std::string pod(result.primary().name);
    a->note_pick(pod, now);
    return pod;
  }
};

}  // namespace

TEST_CASE("a peer's in-flight totals count on its pods until it finishes") {
  replica_pair r;
  auto pod = r.pick_on_a("r1", prompt(1), 1'000);
  r.pick_on_a("r2", prompt(1), 2'000);  // the same prompt: the same pod
  CHECK(r.a->own_in_flight(pod).first == 2);
  auto batch = r.a->take_batch(3'000);
  REQUIRE(batch);
  r.b->apply(*batch, 4'000);
  const auto* seen = r.b_picker->pool().find(pod);
  REQUIRE(seen);
  CHECK(seen->assigned_requests == 2);
  CHECK(r.b->peer_in_flight(pool_name + "#0", pod).first == 2);
  CHECK(r.b->own_in_flight(pod).first == 0);  // none of it is B's own
  // The peer's picks since the pod's last load report show in B's queue estimate.
  CHECK(seen->picked_since_report == 2);

  // Told again (a repeated batch): totals, not deltas, so nothing is counted twice.
  r.b->apply(*batch, 5'000);
  CHECK(seen->assigned_requests == 2);

  r.a_picker->response_complete("r1", 6'000);
  r.a_picker->response_complete("r2", 6'000);
  auto after = r.a->take_batch(7'000);
  REQUIRE(after);
  r.b->apply(*after, 8'000);
  CHECK(seen->assigned_requests == 0);
  // Nothing changed since: no batch.
  CHECK_FALSE(r.a->take_batch(9'000));
}

TEST_CASE("a peer that goes away takes its in-flight load with it") {
  replica_pair r;
  auto pod = r.pick_on_a("r1", prompt(1), 1'000);
  r.b->apply(*r.a->take_batch(2'000), 3'000);
  REQUIRE(r.b_picker->pool().find(pod)->assigned_requests == 1);
  r.b->set_peers({});  // A is no longer among the pool's replicas
  CHECK(r.b_picker->pool().find(pod)->assigned_requests == 0);
  CHECK(r.b->peer_in_flight(pool_name + "#0", pod).first == 0);
  // What A taught B's approximate index stays: the pod still holds those blocks.
  header_list headers;
  pick_request req;
  req.request_id = "b1";
  req.model = "llama";
  req.tokens = prompt(1);
  req.headers = &headers;
  auto result = r.b_picker->schedule(req, 4'000);
  REQUIRE(result.ok());
  CHECK(result.primary().name == pod);
}

TEST_CASE("a peer silent past the peer timeout stops counting until its next heartbeat") {
  replica_pair r;
  constexpr int64_t ms = 1'000'000;
  auto pod = r.pick_on_a("r1", prompt(1), 1 * ms);
  r.b->apply(*r.a->take_batch(2 * ms), 3 * ms);
  REQUIRE(r.b_picker->pool().find(pod)->assigned_requests == 1);
  // B's own batches go on; A's stop (a partition, a hung process).
  r.b->take_batch(3'000 * ms);
  CHECK(r.b_picker->pool().find(pod)->assigned_requests == 1);  // 2.997 s: not yet
  r.b->take_batch(3'010 * ms);
  CHECK(r.b_picker->pool().find(pod)->assigned_requests == 0);
  CHECK(r.b->stats().peers_expired == 1);
  // A is heard again: its heartbeat (once a second) tells every total, changed or not.
  CHECK_FALSE(r.a->take_batch(500 * ms));  // nothing changed, no heartbeat due yet
  auto heartbeat = r.a->take_batch(1'010 * ms);
  REQUIRE(heartbeat);
  r.b->apply(*heartbeat, 3'020 * ms);
  CHECK(r.b_picker->pool().find(pod)->assigned_requests == 1);
}

TEST_CASE("a batch carries at most max_batch_keys keys, the rest follow") {
  replica_pair r;
  replication_settings small;
  small.replica = pool_name + "#0";
  small.max_batch_keys = 4;  // one decision of 4 blocks a batch
  r.a.reset();  // one replica_state a picker: the old one stops observing its index first
  r.a = std::make_unique<replica_state>(small, pool_name, *r.a_picker);
  for (int i = 0; i < 3; ++i)
    r.pick_on_a("r" + std::to_string(i), prompt(i), 1'000);
  auto first = r.a->take_batch(2'000);
  REQUIRE(first);
  CHECK(first->decisions.size() == 1);
  CHECK(first->decisions[0].keys.size() == 4);
  CHECK(first->decisions[0].age_ns == 1'000);
  CHECK(r.a->take_batch(3'000)->decisions.size() == 1);
  CHECK(r.a->take_batch(4'000)->decisions.size() == 1);
  auto last = r.a->take_batch(5'000);
  CHECK((!last || last->decisions.empty()));
  CHECK(r.a->stats().decisions_sent == 3);
  CHECK(r.a->stats().bytes_sent > 3 * 4 * 8);
}

// -- picker actors in virtual time --------------------------------------------------------------

namespace {

struct replicas_fixture : testing::caf_fixture {
  std::shared_ptr<local_replica_link::directory> dir =
      std::make_shared<local_replica_link::directory>();
  std::map<std::string, std::shared_ptr<direct_picker>> direct;
  int n = 0;

  picker_impl_actor start(const std::string& name, bool catch_up) {
    picker_settings s;
    s.pool = pool_name;
    s.config = approx_config();
    s.seed = 7 + static_cast<uint64_t>(direct.size());  // replicas break ties differently
    replication_settings rs;
    rs.replica = name;
    rs.interval_ns = 20'000'000;
    rs.catch_up = catch_up;
    s.replication = rs;
    picker_dependencies deps;
    deps.registry = std::make_shared<prometheus::Registry>();
    deps.direct = direct[name] = std::make_shared<direct_picker>();
    deps.replicas = std::make_shared<local_replica_link>(name, dir);
    auto p = spawn_picker(sys, s, deps);
    {
      std::lock_guard lock{dir->mutex};
      dir->actors[name] = caf::actor_cast<caf::actor>(p);
    }
    run();
    return p;
  }

  caf::expected<chosen_pod> pick(const picker_impl_actor& p, int which) {
    choose_pod req;
    req.request_id = "r" + std::to_string(++n);
    req.model = "llama";
    req.tokens = prompt(which);
    return request<chosen_pod>(caf::actor_cast<picker_actor>(p), req);
  }

  replication_stats stats(const std::string& name) { return *direct[name]->replication(); }
};

const std::string r0 = pool_name + "#0", r1 = pool_name + "#1", r2 = pool_name + "#2";

}  // namespace

TEST_CASE_METHOD(replicas_fixture,
                 "a decision on replica A shows in B's approximate index "
                 "after the batch interval") {
  auto a = start(r0, false);
  auto b = start(r1, false);
  for (const auto& p : {a, b}) {
    caf::anon_send(p, four_pods());
    caf::anon_send(p, replica_peers{pool_name, {{r0, ""}, {r1, ""}}});
  }
  run();
  std::vector<std::string> placed;
  for (int i = 0; i < 8; ++i) {
    auto chosen = pick(a, i);
    REQUIRE(chosen);
    placed.push_back(chosen->pod);
  }
  // Half an interval: the batch has not left A yet.
  advance_time(std::chrono::milliseconds(10));
  CHECK(stats(r1).decisions_applied == 0);
  advance_time(std::chrono::milliseconds(10));
  run();
  CHECK(stats(r1).decisions_applied == 8);
  CHECK(stats(r1).staleness_max_ns <= 20'000'000);
  CHECK(stats(r0).batches_sent == 1);
  // B routes each prompt where A sent it (at random, 8 matches of 4 pods: 1 in 65536).
  for (int i = 0; i < 8; ++i) {
    auto chosen = pick(b, i);
    REQUIRE(chosen);
    CHECK(chosen->pod == placed[static_cast<size_t>(i)]);
  }
}

TEST_CASE_METHOD(replicas_fixture,
                 "a replica that starts late takes picks only after a peer's "
                 "snapshot, and routes as its peers do") {
  auto a = start(r0, true);
  caf::anon_send(a, four_pods());
  caf::anon_send(a, replica_peers{pool_name, {{r0, ""}}});  // alone: caught up at once
  run();
  std::vector<std::string> placed;
  for (int i = 0; i < 8; ++i) {
    auto chosen = pick(a, i);
    REQUIRE(chosen);
    placed.push_back(chosen->pod);
  }
  auto late = start(r2, true);
  caf::anon_send(late, four_pods());
  run();
  auto refused = pick(late, 0);  // its peers are not known yet: nobody to catch up from
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == caf::make_error(picker_errc::not_ready));
  CHECK(stats(r2).snapshots_applied == 0);
  caf::anon_send(late, replica_peers{pool_name, {{r0, ""}, {r2, ""}}});
  run();
  CHECK(stats(r2).snapshots_applied == 1);
  for (int i = 0; i < 8; ++i) {
    auto chosen = pick(late, i);
    REQUIRE(chosen);
    CHECK(chosen->pod == placed[static_cast<size_t>(i)]);
  }
}

TEST_CASE_METHOD(replicas_fixture,
                 "a late replica whose peer never answers takes picks after "
                 "the snapshot timeout") {
  // A peer that takes the request and never answers (a process hung mid-way).
  auto silent = sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
    return {[self](replica_snapshot_request&) {
              return self->make_response_promise<replica_snapshot>();  // never delivered
            },
            [](replica_batch&) {}};
  });
  {
    std::lock_guard lock{dir->mutex};
    dir->actors[r0] = silent;
  }
  auto late = start(r2, true);
  caf::anon_send(late, four_pods());
  caf::anon_send(late, replica_peers{pool_name, {{r0, ""}, {r2, ""}}});
  run();
  CHECK_FALSE(pick(late, 0));
  advance_time(std::chrono::milliseconds(1900));
  CHECK_FALSE(pick(late, 0));
  advance_time(std::chrono::milliseconds(200));  // past the 2 s snapshot timeout
  run();
  CHECK(pick(late, 0));
  CHECK(stats(r2).snapshots_applied == 0);
  caf::anon_send_exit(silent, caf::exit_reason::user_shutdown);
}
