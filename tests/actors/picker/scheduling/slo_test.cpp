// SLO-aware routing: the latency predictor (step model, backlog, online fit), the latency-scorer,
// the slo-headroom-tier-filter, their config, and a picker choosing the pod that meets the
// request's objective where a queue scorer would not. Fixed inputs, set clocks.
#include <catch2/catch.hpp>

#include "actors/picker/scheduling/latency_predictor.hpp"
#include "actors/picker/scheduling/slo_plugins.hpp"
#include "picker_test_util.hpp"

using namespace picker_test;

namespace {

constexpr double ms = 1e6;

/// The 8b-h100 profile's terms (config/profiles/8b-h100.yaml).
step_cost h100() {
  return {11.8 * ms, 18.2 * ms, 250e3, 50e3, 75};
}

load_report stepped(int waiting = 0, int running = 0) {
  load_report r;
  r.waiting = waiting;
  r.running = running;
  r.step = h100();
  return r;
}

}  // namespace

TEST_CASE("slo: a linear fit recovers a line and never slopes down") {
  linear_fit f(1.0);
  CHECK_FALSE(f.ready());
  for (int x = 0; x < 10; ++x)
    f.add(x, 2 + 3 * x);
  REQUIRE(f.ready());
  CHECK(f.slope() == Approx(3));
  CHECK(f.intercept() == Approx(2));
  CHECK(f.predict(20) == Approx(62));

  linear_fit down(1.0);
  for (int x = 0; x < 10; ++x)
    down.add(x, 100 - x);
  CHECK(down.slope() == 0);
  CHECK(down.predict(50) == Approx(95.5));  // the mean: more work never makes a pod faster

  linear_fit same(1.0);
  for (int i = 0; i < 4; ++i)
    same.add(7, 10 + i);
  CHECK(same.predict(100) == Approx(11.5));  // no spread in x: the mean
}

TEST_CASE("slo: a forgetting fit follows a pod that slows down") {
  linear_fit f(0.5);
  for (int i = 0; i < 20; ++i)
    f.add(i % 4, 10.0 * (i % 4));
  for (int i = 0; i < 20; ++i)
    f.add(i % 4, 30.0 * (i % 4));
  CHECK(f.slope() == Approx(30).epsilon(0.01));
}

TEST_CASE("slo: step-profile predictions of TTFT and TPOT") {
  bench b;
  auto a = b.add("a", {}, stepped());
  latency_predictor p;
  const auto& e = b.pool.at(a);
  // A lone 1,000-token prompt: one prefill step (the profile's 280 ms lone-request TTFT).
  auto lone = p.predict(e, {1000, 1000}, b.now);
  REQUIRE(lone.valid);
  CHECK(lone.ttft_ms == Approx(11.8 + 18.2 + 250 + 0.05 + 0.075));
  CHECK(lone.tpot_ms == Approx(11.8 + 0.05 + 0.075));
  // 960 tokens in the pod's prefix cache: only 40 to compute.
  CHECK(p.predict(e, {1000, 40}, b.now).ttft_ms == Approx(11.8 + 18.2 + 10 + 0.05 + 0.075));
  // A batch of 63 decoding beside it: every step reads their sequences too.
  b.pool.update_load("a", stepped(0, 63), b.now);
  auto busy = p.predict(b.pool.at(a), {1000, 1000}, b.now);
  CHECK(busy.tpot_ms == Approx(11.8 + 64 * 0.05 + 0.075));
  // Ten requests waiting (another picker's): at least a prefill step each first.
  b.pool.update_load("a", stepped(10, 0), b.now);
  CHECK(p.predict(b.pool.at(a), {1000, 1000}, b.now).ttft_ms ==
        Approx(10 * 30 + 280.125).epsilon(1e-6));
}

TEST_CASE("slo: prefill sent to a pod is a backlog that drains in real time") {
  bench b;
  auto a = b.add("a", {}, stepped());
  latency_predictor p;
  p.picked("r1", b.pool.at(a), {2000, 2000}, b.now);  // 18.2 + 500 ms of prefill
  CHECK(p.backlog_ns(a, b.now) == static_cast<int64_t>(518.2 * ms));
  auto own = p.predict(b.pool.at(a), {100, 100}, b.now + 1'000'000'000).ttft_ms;
  CHECK(p.predict(b.pool.at(a), {100, 100}, b.now).ttft_ms == Approx(518.2 + own));
  CHECK(p.predict(b.pool.at(a), {100, 100}, b.now + 300 * 1'000'000).ttft_ms ==
        Approx(218.2 + own));
  CHECK(p.backlog_ns(a, b.now + 1'000'000'000) == 0);
  // A second pick queues behind what is left of the first.
  p.picked("r2", b.pool.at(a), {400, 400}, b.now + 100 * 1'000'000);
  CHECK(p.backlog_ns(a, b.now + 100 * 1'000'000) ==
        static_cast<int64_t>((418.2 + 18.2 + 100) * ms));
}

TEST_CASE("slo: a request done takes its prefill and what came before it off the backlog") {
  bench b;
  auto a = b.add("a", {}, stepped());
  latency_predictor p;
  p.picked("r1", b.pool.at(a), {2000, 2000}, b.now);  // 518.2 ms
  p.picked("r2", b.pool.at(a), {400, 400}, b.now);    // 118.2 ms behind it
  p.picked("r3", b.pool.at(a), {400, 400}, b.now);
  auto backlog_ms = [&](int64_t at_ms) {
    return static_cast<double>(p.backlog_ns(a, b.now + at_ms * 1'000'000)) / ms;
  };
  CHECK(backlog_ms(0) == Approx(518.2 + 2 * 118.2));
  p.completed("r2", b.now + 10 * 1'000'000);  // r1 and r2 are computed: only r3 may be left
  CHECK(backlog_ms(10) == Approx(118.2));
  p.completed("r1", b.now + 20 * 1'000'000);  // says nothing new
  CHECK(backlog_ms(20) == Approx(108.2));
  CHECK(p.pending() == 1);
  // Work sent after the completion queues as before.
  p.completed("r3", b.now + 30 * 1'000'000);
  CHECK(backlog_ms(30) == Approx(0));
  p.picked("r4", b.pool.at(a), {4000, 4000}, b.now + 300 * 1'000'000);
  CHECK(backlog_ms(300) == Approx(1018.2));
  CHECK(p.predict(b.pool.at(a), {40, 40}, b.now + 300 * 1'000'000).ttft_ms > 1018);
}

TEST_CASE("slo: a pod without a step profile is predicted from the TTFT and ITL observed") {
  bench b;
  auto a = b.add("a", {}, load(0, 0, 0));
  latency_predictor p;
  CHECK_FALSE(p.predict(b.pool.at(a), {100, 100}, b.now).valid);
  // TTFT = 20 ms + 0.1 ms per uncached prompt token in flight; ITL = 10 ms + 1 ms a sequence.
  for (int i = 0; i < 4; ++i) {
    auto id = "r" + std::to_string(i);
    b.pool.update_load("a", load(0, 0, i), b.now);
    uint32_t prompt = 100 * (i + 1);
    p.picked(id, b.pool.at(a), {prompt, prompt}, b.now);
    p.observed(id, static_cast<int64_t>((20 + 0.1 * prompt) * ms),
               static_cast<int64_t>((10 + 1.0 * (i + 1)) * ms));
    p.completed(id);
  }
  CHECK(p.pending() == 0);
  b.pool.update_load("a", load(0, 0, 9), b.now);
  auto got = p.predict(b.pool.at(a), {1000, 1000}, b.now);
  REQUIRE(got.valid);
  CHECK(got.ttft_ms == Approx(120).epsilon(0.01));
  CHECK(got.tpot_ms == Approx(20).epsilon(0.01));
  // A reused id starts with nothing learned.
  p.endpoint_removed(a);
  CHECK_FALSE(p.predict(b.pool.at(a), {100, 100}, b.now).valid);
}

TEST_CASE("slo: the tier filter keeps the pods predicted to meet the objective") {
  bench b;
  // Busy pods (one running sequence, as the picker's own accounting of the picks below would
  // also say), but for "fast", idle.
  auto slow = b.add("slow", {}, stepped(0, 1));
  b.add("fast", {}, stepped());
  b.add("late", {}, stepped(0, 1));
  predicted_latency_producer producer("plp", -1, 1.0);
  producer.predictor().picked("big", b.pool.at(slow), {4000, 4000}, b.now);      // ~1 s of prefill
  producer.predictor().picked("mid", b.pool.at(b.ids[2]), {1800, 1800}, b.now);  // ~468 ms
  slo_headroom_tier_filter f("slo", &producer, 0.0);
  b.tokens.assign(200, 7);
  CHECK(b.filter(f) == std::vector<std::string>{"slow", "fast", "late"});  // no objective
  b.request.slo_ttft_ms = 500;
  CHECK(b.filter(f) == std::vector<std::string>{"fast"});
  b.request.slo_ttft_ms = 20;  // nobody can: every pod kept, the scorer picks the least late
  CHECK(b.filter(f).size() == 3);
  b.request.priority = -1;  // sheddable: still sent while a pod is idle ("fast")
  CHECK(b.filter(f).size() == 3);
  producer.predictor().picked("other", b.pool.at(b.ids[1]), {200, 200}, b.now);
  b.pool.update_load("fast", stepped(0, 1), b.now);
  CHECK(b.filter(f).empty());  // sheddable, nobody idle, nobody in time: refused
  // TPOT objectives: 64 running sequences make a 15 ms step.
  b.request.priority = 0;
  b.request.slo_ttft_ms = 0;
  b.request.slo_tpot_ms = 13;
  b.pool.update_load("late", stepped(0, 64), b.now);
  CHECK(b.filter(f) == std::vector<std::string>{"slow", "fast"});
}

TEST_CASE("slo: the objective's policy decides what the tier filter does when no pod meets it") {
  bench b;
  b.add("a", {}, stepped(0, 1));
  b.add("b", {}, stepped(0, 1));
  predicted_latency_producer producer("plp", -1, 1.0);
  slo_headroom_tier_filter f("slo", &producer, 0.0);
  b.tokens.assign(200, 7);
  b.request.slo_ttft_ms = 20;  // under one prefill step: no pod meets it
  auto run = [&](slo_policy policy) {
    b.request.unattainable_slo = policy;
    b.out.slo = slo_miss::none;
    return b.filter(f).size();
  };
  CHECK(run(slo_policy::unset) == 2);  // llm-d's rule: not sheddable, the least late pod
  CHECK(b.out.slo == slo_miss::none);
  CHECK(run(slo_policy::best_effort) == 2);
  CHECK(run(slo_policy::reject) == 0);
  CHECK(b.out.slo == slo_miss::busy);
  CHECK(run(slo_policy::queue) == 0);  // every pod busy: a pod may free up
  CHECK(b.out.slo == slo_miss::busy);
  b.request.slo_ttft_ms = 500;  // within reach: every policy keeps the pods
  for (auto p :
       {slo_policy::unset, slo_policy::best_effort, slo_policy::queue, slo_policy::reject}) {
    CHECK(run(p) == 2);
    CHECK(b.out.slo == slo_miss::none);
  }
  b.request.slo_ttft_ms = 20;
  b.pool.update_load("b", stepped(), b.now);  // b idle, and still too slow: waiting cannot help
  CHECK(run(slo_policy::queue) == 0);
  CHECK(b.out.slo == slo_miss::unattainable);
  b.add("new", {}, load_report{});      // no step profile, nothing observed: no prediction
  CHECK(run(slo_policy::reject) == 3);  // cannot tell: every pod kept
  CHECK(b.out.slo == slo_miss::none);
}

TEST_CASE("slo: the tier filter explores the late tier with epsilonExploreNeg") {
  bench b;
  auto slow = b.add("slow", {}, stepped());
  b.add("fast", {}, stepped());
  predicted_latency_producer producer("plp", -1, 1.0);
  producer.predictor().picked("big", b.pool.at(slow), {4000, 4000}, b.now);
  slo_headroom_tier_filter always("slo", &producer, 1.0);
  b.request.slo_ttft_ms = 500;
  CHECK(b.filter(always) == std::vector<std::string>{"slow"});
}

TEST_CASE("slo: the latency scorer ranks by headroom") {
  bench b;
  auto a = b.add("a", {}, stepped(0, 1));
  auto m = b.add("m", {}, stepped(0, 1));
  b.add("z", {}, stepped());
  predicted_latency_producer producer("plp", -1, 1.0);
  producer.predictor().picked("r1", b.pool.at(a), {800, 800}, b.now);  // ~218 ms queued
  producer.predictor().picked("r2", b.pool.at(m), {400, 400}, b.now);  // ~118 ms queued
  b.tokens.assign(100, 3);
  b.request.slo_ttft_ms = 500;
  latency_scorer most("most", &producer, 1, 0, true);
  latency_scorer least("least", &producer, 1, 0, false);
  auto s_most = b.score(most);
  CHECK(s_most[2] == Approx(1));  // z: nothing queued, most headroom
  CHECK(s_most[0] == Approx(0));
  CHECK(s_most[1] > 0.4);
  CHECK(s_most[1] < 0.6);
  auto s_least = b.score(least);  // packing: the pod closest to the objective
  CHECK(s_least[0] == Approx(1));
  CHECK(s_least[2] == Approx(0));
  // Nobody meets a 50 ms objective: the idle pod first, the others not scored.
  b.request.slo_ttft_ms = 50;
  CHECK(b.score(least) == std::vector<double>{0, 0, 1});
  // No objective: the least late (lowest predicted TTFT) is best.
  b.request.slo_ttft_ms = 0;
  b.pool.update_load("z", stepped(0, 2), b.now);
  producer.predictor().picked("r3", b.pool.at(b.ids[2]), {1200, 1200}, b.now);  // ~318 ms
  auto none = b.score(most);
  CHECK(none[1] == Approx(1));
  CHECK(none[2] == Approx(0));
}

TEST_CASE("slo: llm-d-router's plugin names and parameters load") {
  auto p = build(R"(apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: predicted-latency-producer
  parameters: {sloBufferFactor: 1.2}
- type: slo-headroom-tier-filter
  name: slo-tier
  parameters: {epsilonExploreNeg: 0.05}
- type: latency-scorer
  parameters: {ttftWeight: 0.7, tpotWeight: 0.3, headroomSelectionStrategy: most}
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: slo-tier
  - pluginRef: latency-scorer
  - pluginRef: max-score-picker
)");
  int producers = 0;
  for (const auto& pl : p->plugins())
    producers += dynamic_cast<predicted_latency_producer*>(pl.get()) != nullptr;
  CHECK(producers == 1);  // the scorer and the filter share the declared one
  CHECK(scorer_named(*p, "latency-scorer") != nullptr);
  auto bad = problems_of(R"(apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: latency-scorer
  parameters: {headroomSelectionStrategy: fastest}
- type: slo-headroom-tier-filter
  parameters: {epsilonExploreNeg: 2}
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: latency-scorer
  - pluginRef: slo-headroom-tier-filter
)");
  CHECK_THAT(bad, Catch::Contains("headroomSelectionStrategy"));
  CHECK_THAT(bad, Catch::Contains("epsilonExploreNeg"));
}

TEST_CASE("slo: the picker chooses the pod that meets the objective, a queue scorer does not") {
  auto config = [](bool slo) {
    std::string y = R"(apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
- type: max-score-picker
- type: slo-headroom-tier-filter
  parameters: {epsilonExploreNeg: 0}
- type: latency-scorer
  parameters: {headroomSelectionStrategy: most}
schedulingProfiles:
- name: default
  plugins:
)";
    if (slo) y += "  - pluginRef: slo-headroom-tier-filter\n  - pluginRef: latency-scorer\n";
    y += "  - pluginRef: queue-scorer\n  - pluginRef: max-score-picker\n";
    return y;
  };
  for (bool slo : {false, true}) {
    auto p = build(config(slo));
    int64_t now = 10 * second;
    p->add_endpoint({"a", "10.0.0.1:8000", {}});
    p->add_endpoint({"b", "10.0.0.2:8000", {}});
    p->update_load("a", stepped(), now);
    p->update_load("b", stepped(2, 8), now);  // two waiting: a longer queue than a's
    // A long batch prompt lands on a (the shorter queue): a second of prefill there.
    auto big = random_tokens(4000, 1);
    pick_request first;
    first.request_id = "batch";
    first.model = "m";
    first.tokens = big;
    auto r1 = p->schedule(first, now);
    REQUIRE(r1.ok());
    CHECK(r1.primary().name == "a");
    p->pre_request(first, r1, now);
    // An interactive request with a 500 ms objective, 50 ms later.
    auto small = random_tokens(200, 2);
    pick_request second;
    second.request_id = "interactive";
    second.model = "m";
    second.tokens = small;
    second.slo_ttft_ms = 500;
    auto r2 = p->schedule(second, now + 50'000'000);
    REQUIRE(r2.ok());
    // a: ~1 s of prefill ahead; b: two waiting prefill steps (~60 ms) then its own.
    CHECK(r2.primary().name == (slo ? "b" : "a"));
  }
}
