// The scaler: the HPA algorithm and KEDA's activation on fixed inputs, then the actor in
// virtual time against a recording controller -- keda timing (30 s polls, 15 s syncs) and the
// fast mode reacting to pushed load reports.
#include <catch2/catch.hpp>

#include "actors/scaler/scaler_actor.hpp"
#include "actors/scaler/scaling_policy.hpp"
#include "tests/support/caf_fixture.hpp"

using namespace inferstack;
using namespace inferstack::actors::scaler;
using namespace std::chrono;
namespace ctl = inferstack::actors::controller;

namespace {

constexpr int64_t s = 1'000'000'000;

autoscaler_spec spec(int min = 1, int max = 10, double target = 10) {
  autoscaler_spec a;
  a.min_replicas = min;
  a.max_replicas = max;
  a.target = target;
  return a;
}

}  // namespace

TEST_CASE("HPA: desired = ceil(sum / target) for an AverageValue target") {
  autoscaler a(spec(1, 20));
  CHECK(a.hpa(2, 35, 0).desired == 4);  // 35 waiting, 10 per pod
  CHECK(a.hpa(5, 81, 0).desired == 9);  // ceil(8.1), within the +100 % of 5
}

TEST_CASE("HPA: a Value target scales by the ratio") {
  auto sp = spec(1, 20, 10);
  sp.average_value = false;
  autoscaler a(sp);
  CHECK(a.hpa(4, 15, 0).desired == 6);  // ceil(4 x 1.5)
}

TEST_CASE("HPA: no change while the ratio is within the 0.1 tolerance") {
  autoscaler a(spec(1, 20));
  CHECK(a.hpa(2, 21, 0).desired == 2);    // ratio 1.05
  CHECK(a.hpa(2, 18.5, 0).desired == 2);  // 0.925
  CHECK(a.hpa(2, 23, 0).desired == 3);    // 1.15
}

TEST_CASE("HPA: scale-up is capped by the default policies, max(+4 pods, +100 %) per 15 s") {
  autoscaler a(spec(1, 100));
  auto d = a.hpa(1, 1000, 0);
  CHECK(d.recommended == 100);
  CHECK(d.desired == 5);  // 1 + 4 beats 1 x 2
  a.scaled(1, 5, 0);
  CHECK(a.hpa(5, 1000, 5 * s).desired == 5);    // already +4 in this period
  CHECK(a.hpa(5, 1000, 16 * s).desired == 10);  // next period: 5 x 2 beats 5 + 4
}

TEST_CASE("HPA: scale-down waits for the 300 s stabilisation window") {
  autoscaler a(spec(1, 10));
  CHECK(a.hpa(4, 40, 0).desired == 4);
  CHECK(a.hpa(4, 0, 60 * s).desired == 4);  // the high recommendation of t=0 still holds
  CHECK(a.hpa(4, 0, 299 * s).desired == 4);
  CHECK(a.hpa(4, 0, 301 * s).desired == 1);  // window passed: -100 % allowed, min 1
}

TEST_CASE("HPA: steady load with noise does not flap") {
  autoscaler a(spec(1, 10));
  int current = 4;
  for (int i = 0; i < 200; ++i) {
    double value = 40 + ((i % 2) ? 3.5 : -3.5);  // +-9 % around the target
    auto d = a.hpa(current, value, i * 15 * s);
    if (d.change(current)) a.scaled(current, d.desired, i * 15 * s);
    CHECK(d.desired == 4);
    current = d.desired;
  }
}

TEST_CASE("HPA: rate policies follow selectPolicy, Disabled never scales that way") {
  auto sp = spec(1, 100);
  sp.scale_up.select_policy = scaling_rules::select::min;
  autoscaler min_policy(sp);
  CHECK(min_policy.hpa(10, 1000, 0).desired == 14);  // min(10 + 4, 10 x 2)
  sp.scale_up.select_policy = scaling_rules::select::disabled;
  autoscaler disabled(sp);
  CHECK(disabled.hpa(10, 1000, 0).desired == 10);
  auto down = spec(1, 100);
  down.scale_down.stabilization_window_seconds = 0;
  down.scale_down.policies = {{rate_policy::kind::pods, 1, 60}};
  autoscaler one_by_one(down);
  CHECK(one_by_one.hpa(5, 0, 0).desired == 4);
  one_by_one.scaled(5, 4, 0);
  CHECK(one_by_one.hpa(4, 0, 30 * s).desired == 4);  // one pod per 60 s
  CHECK(one_by_one.hpa(4, 0, 61 * s).desired == 3);
}

TEST_CASE("KEDA: 0 -> 1 above the activation threshold, back to 0 after the cooldown") {
  auto sp = spec(0, 10);
  sp.activation_threshold = 0;
  sp.cooldown_seconds = 300;
  autoscaler a(sp);
  CHECK(a.activation_check(0, 0, 0)->desired == 0);
  CHECK(a.activation_check(0, 3, 10 * s)->desired == 1);
  CHECK_FALSE(a.activation_check(1, 3, 20 * s));   // active: the HPA decides
  CHECK_FALSE(a.activation_check(1, 0, 200 * s));  // inactive for 180 s only
  CHECK(a.activation_check(1, 0, 321 * s)->desired == 0);
  CHECK(a.activate(0, 400 * s)->desired == 1);  // a waiting request
  CHECK_FALSE(a.activate(1, 400 * s));
}

TEST_CASE("HPA: a new autoscaler has no history: the first evaluation may scale down at once") {
  autoscaler a(spec(1, 10));
  CHECK(a.hpa(3, 0, 0).desired == 1);  // as a freshly created HPA does
}

TEST_CASE("KEDA: the HPA never goes below one replica, even with minReplicaCount 0") {
  autoscaler a(spec(0, 10));
  CHECK(a.hpa(3, 30, 0).desired == 3);
  CHECK(a.hpa(3, 0, 10 * s).desired == 3);  // stabilised
  CHECK(a.hpa(3, 0, 400 * s).desired == 1);
}

TEST_CASE("KEDA idleReplicaCount 0: inactive -> 0, active -> straight back to minReplicaCount") {
  auto sp = spec(2, 10);
  sp.idle_at_zero = true;
  sp.cooldown_seconds = 300;
  autoscaler a(sp);
  CHECK(a.activation_check(0, 0, 0)->desired == 0);
  auto up = a.activation_check(0, 3, 10 * s);
  REQUIRE(up);
  CHECK(up->desired == 2);                         // minReplicaCount, not 1
  CHECK_FALSE(a.activation_check(2, 0, 200 * s));  // inactive for 190 s only
  auto idle = a.activation_check(2, 0, 311 * s);
  REQUIRE(idle);
  CHECK(idle->desired == 0);
  CHECK(a.activate(0, 400 * s)->desired == 2);  // a waiting request
  CHECK(a.hpa(2, 0, 500 * s).desired == 2);     // the HPA itself stays at minReplicaCount
}

TEST_CASE("KEDA fallback: failureThreshold failed reads in a row -> fallback.replicas") {
  auto sp = spec(1, 10, 10);
  sp.fallback = fallback_spec{3, 6};
  autoscaler a(sp);
  CHECK_FALSE(a.metric_failed(2, 0));
  CHECK_FALSE(a.metric_failed(2, 30 * s));
  auto d = a.metric_failed(2, 60 * s);
  REQUIRE(d);
  CHECK(d->desired == 6);  // +4 pods is within the default scale-up policy
  CHECK(d->reason.find("fallback") == 0);
  CHECK(a.fallback_decision(6, 75 * s)->desired == 6);  // the HPA sync keeps it while failing
  a.metric_read();
  CHECK(a.failures() == 0);
  CHECK_FALSE(a.metric_failed(6, 90 * s));   // counting starts over
  CHECK_FALSE(a.metric_failed(0, 120 * s));  // not from zero
}

TEST_CASE("KEDA fallback behaviors: currentReplicas, IfHigher, IfLower") {
  auto with = [](fallback_spec::keep k) {
    auto sp = spec(1, 10, 10);
    sp.fallback = fallback_spec{1, 6, k};
    return autoscaler(sp);
  };
  auto current = with(fallback_spec::keep::current);
  CHECK(current.metric_failed(3, 0)->desired == 3);
  auto higher = with(fallback_spec::keep::if_higher);
  CHECK(higher.metric_failed(8, 0)->desired == 8);
  auto higher_up = with(fallback_spec::keep::if_higher);
  CHECK(higher_up.metric_failed(3, 0)->desired == 6);
  auto lower = with(fallback_spec::keep::if_lower);
  CHECK(lower.metric_failed(3, 0)->desired == 3);
  auto no_fallback = autoscaler(spec(1, 10, 10));
  CHECK_FALSE(no_fallback.metric_failed(3, 0));
}

namespace {

struct scaler_fixture : testing::caf_fixture {
  std::vector<ctl::scale_set> asked;
  caf::actor controller;
  scaler_impl_actor scaler;

  void start(scaling_target target, nanoseconds staleness = seconds(30)) {
    controller = sys.spawn([this](caf::event_based_actor*) -> caf::behavior {
      return {[this](ctl::scale_set& req) {
        asked.push_back(req);
        return ctl::scale_result{true, 0, req.replicas, {}};
      }};
    });
    scaler_settings settings;
    settings.targets = {std::move(target)};
    settings.metric_staleness = staleness;
    scaler = spawn_scaler(
        sys, settings, {caf::actor_cast<ctl::controller_actor>(controller), {}, nullptr, nullptr});
    run();
  }

  void status(int desired, std::vector<std::string> ready) {
    ctl::set_status st;
    st.ns = "team-a";
    st.set = "llama";
    st.desired = desired;
    st.current = desired;
    st.ready = static_cast<int32_t>(ready.size());
    st.ready_pods = std::move(ready);
    caf::anon_send(scaler, st);
    run();
  }

  void waiting(const std::string& pod, uint32_t n) {
    actors::pod::load_report r;
    r.pod = pod;
    r.waiting = n;
    caf::anon_send(scaler, r);
    run();
  }

  static scaling_target target(timing mode) {
    scaling_target t;
    t.ns = "team-a";
    t.set = "llama";
    t.pools = {"team-a/llama"};
    t.mode = mode;
    t.policy = spec(1, 10, 10);
    return t;
  }
};

}  // namespace

TEST_CASE_METHOD(scaler_fixture, "keda timing: the step is acted on at the next HPA sync") {
  start(target(timing::keda));
  status(2, {"p0", "p1"});
  waiting("p0", 10);  // at target: 10 per pod
  waiting("p1", 10);
  advance_time(seconds(16));  // first sync at 15 s: no change
  CHECK(asked.empty());
  waiting("p0", 20);
  waiting("p1", 15);
  advance_time(seconds(13));
  CHECK(asked.empty());  // the next sync is at 30 s
  advance_time(seconds(2));
  REQUIRE(asked.size() == 1);
  CHECK(asked[0].replicas == 4);  // ceil(35 / 10)
  CHECK(asked[0].source == "scaler");
}

TEST_CASE_METHOD(scaler_fixture, "fast timing: the step is acted on within the window") {
  start(target(timing::fast));
  status(2, {"p0", "p1"});
  waiting("p0", 10);
  waiting("p1", 10);
  advance_time(seconds(1));
  CHECK(asked.empty());
  waiting("p0", 20);
  waiting("p1", 15);
  advance_time(milliseconds(500));
  REQUIRE(asked.size() == 1);
  CHECK(asked[0].replicas == 4);
}

TEST_CASE_METHOD(scaler_fixture, "only Ready pods of the set count toward the trigger") {
  start(target(timing::fast));
  status(2, {"p0", "p1"});
  waiting("p0", 10);
  waiting("p1", 10);
  waiting("stranger", 500);
  advance_time(seconds(5));
  CHECK(asked.empty());  // 20 over 2 pods: at target; the stranger's queue is not the set's
}

TEST_CASE_METHOD(scaler_fixture, "activation: a waiting request scales a set at zero to one") {
  auto t = target(timing::keda);
  t.policy.min_replicas = 0;
  start(t);
  status(0, {});
  auto a =
      request<activation>(caf::actor_cast<scaler_actor>(scaler), activate_pool{"team-a", "llama"});
  REQUIRE(a);
  CHECK(a->starting);
  REQUIRE(asked.size() == 1);
  CHECK(asked[0].replicas == 1);
  auto other =
      request<activation>(caf::actor_cast<scaler_actor>(scaler), activate_pool{"team-a", "nope"});
  REQUIRE(other);
  CHECK_FALSE(other->starting);
}

TEST_CASE_METHOD(scaler_fixture,
                 "the pods' latest load reports are answered, stale ones left out (the console)") {
  start(target(timing::keda), seconds(30));
  waiting("p0", 3);
  advance_time(seconds(20));
  waiting("p1", 4);
  waiting("p1", 6);  // the latest report of a pod replaces the one before
  auto loads = request<pod_loads>(caf::actor_cast<scaler_actor>(scaler), pod_loads_query{});
  REQUIRE(loads);
  REQUIRE(loads->reports.size() == 2);
  CHECK(loads->reports[0].pod == "p0");
  CHECK(loads->reports[0].waiting == 3);
  CHECK(loads->reports[1].waiting == 6);
  advance_time(seconds(15));  // p0's report is 35 s old now
  loads = request<pod_loads>(caf::actor_cast<scaler_actor>(scaler), pod_loads_query{});
  REQUIRE(loads);
  REQUIRE(loads->reports.size() == 1);
  CHECK(loads->reports[0].pod == "p1");
}

TEST_CASE_METHOD(scaler_fixture,
                 "a set whose Ready pods report nothing is not scaled (the HPA cannot read it)") {
  start(target(timing::keda));
  status(3, {"p0", "p1", "p2"});
  advance_time(seconds(120));
  CHECK(asked.empty());  // with a value of 0 the HPA would have gone to 1 at the first sync
}

TEST_CASE_METHOD(scaler_fixture,
                 "keda fallback: pods gone silent -> fallback replicas at the "
                 "third failed poll, the HPA again once readings are back") {
  auto t = target(timing::keda);
  t.policy.fallback = fallback_spec{3, 5};
  start(t, seconds(20));
  status(2, {"p0", "p1"});
  waiting("p0", 10);
  waiting("p1", 10);
  advance_time(seconds(31));  // poll at 30 s: the readings are 30 s old -> failed read 1
  CHECK(asked.empty());
  advance_time(seconds(30));  // 60 s: 2
  CHECK(asked.empty());
  advance_time(seconds(30));  // 90 s: 3 -> fallback
  REQUIRE(asked.size() == 1);
  CHECK(asked[0].replicas == 5);
  CHECK(asked[0].reason.find("fallback") == 0);
  status(5, {"p0", "p1"});
  waiting("p0", 5);  // readings again, well below target
  waiting("p1", 5);
  advance_time(seconds(15));  // next HPA sync (105 s): the pods' values count again
  CHECK(asked.size() == 1);   // below target, but scale-down waits for its window
}
