// The picker actor under flow control (the flowControl gate), in virtual time: picks wait while
// the pool is saturated and go when a request is done, a load report comes or the pool changes;
// TTL expiry, shedding, capacity, cancellation, fairness between flows, InferenceObjective
// priorities, the direct picker's hand-over to the actor, and the llm_d_epp_flow_control_*
// metrics.
#include <catch2/catch.hpp>

#include <functional>

#include "actors/picker/picker_actor.hpp"
#include "protocol/registration.hpp"
#include "tests/support/caf_fixture.hpp"

using namespace inferstack;
using namespace inferstack::actors::picker;

namespace {

std::shared_ptr<const config::picker_config> config_from(const std::string& yaml) {
  config::load_result r;
  config::load_text(yaml, "picker.yaml", r);
  REQUIRE(r.problems.empty());
  REQUIRE(r.config.picker_configs.size() == 1);
  return std::make_shared<config::picker_config>(r.config.picker_configs[0]);
}

/// Two pods of one request each (`per_pod`): the pool is saturated with two requests in flight.
/// `extra` goes into the flowControl section, `plugins` into the plugin list.
std::string flow_yaml(const std::string& fairness = "global-strict-fairness-policy",
                      const std::string& extra = "", int per_pod = 1,
                      const std::string& plugins = "") {
  return R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
featureGates: [flowControl]
plugins:
- type: concurrency-detector
  name: cd
  parameters: {maxConcurrency: )" +
         std::to_string(per_pod) + R"(}
- type: queue-scorer
- type: round-robin-fairness-policy
- type: vtc-fairness-policy
)" + plugins +
         R"(flowControl:
  saturationDetector: {pluginRef: cd}
  defaultRequestTTL: 2s
  defaultPriorityBand: {fairnessPolicyRef: )" +
         fairness + "}\n" + extra;
}

pool_membership two_pods() {
  return {"team-a/llama",
          {{"pod-a", "actor:pod/a", "10.0.0.1:8000", {}, true, false, {}, {}, {}},
           {"pod-b", "actor:pod/b", "10.0.0.2:8000", {}, true, false, {}, {}, {}}}};
}

struct flow_fixture : testing::caf_fixture {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<direct_picker> direct = std::make_shared<direct_picker>();
  picker_impl_actor p;

  void start(const std::string& yaml, std::map<std::string, int> objectives = {},
             const std::function<void(picker_settings&)>& more = {}) {
    picker_settings s;
    s.pool = "team-a/llama";
    s.config = config_from(yaml);
    s.seed = 7;
    s.objective_priorities = std::move(objectives);
    if (more) more(s);
    picker_dependencies deps;
    deps.registry = registry;
    deps.direct = direct;
    p = spawn_picker(sys, s, deps);
    caf::anon_send(p, two_pods());
    run();
  }

  choose_pod req(const std::string& id, const std::string& flow = "", int priority = 0) {
    choose_pod r;
    r.request_id = id;
    r.model = "llama";
    r.tokens.assign(40, 7);
    r.fairness_id = flow;
    r.priority = priority;
    return r;
  }

  /// Sends a pick; its answer is taken by answers().
  void send(choose_pod r) {
    self->send(caf::actor_cast<picker_actor>(p), std::move(r));
    run();
  }

  /// The answers that have come, in order (a pod name, or "error:<code>").
  std::vector<std::string> answers() {
    run();
    std::vector<std::string> out;
    bool more = true;
    while (more) {
      more = false;
      self->receive(
          [&](chosen_pod& c) {
            out.push_back(c.pod);
            more = true;
          },
          [&](caf::error& e) {
            out.push_back("error:" + to_string(static_cast<picker_errc>(e.code())));
            more = true;
          },
          caf::after(std::chrono::seconds(0)) >> [] {});
    }
    return out;
  }

  void done(const std::string& id, const std::string& pod, uint32_t output = 0) {
    caf::anon_send(p, request_done{id, pod, 40, output, true});
    run();
  }

  double metric(const std::string& name, const std::map<std::string, std::string>& labels) {
    for (const auto& f : registry->Collect()) {
      if (f.name != name) continue;
      for (const auto& m : f.metric) {
        size_t matched = 0;
        for (const auto& l : m.label)
          if (labels.count(l.name) && labels.at(l.name) == l.value) ++matched;
        if (matched == labels.size())
          return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
      }
    }
    return -1;
  }
};

}  // namespace

TEST_CASE_METHOD(flow_fixture,
                 "a pick waits while every pod is saturated and goes when a request is done") {
  start(flow_yaml());
  send(req("r1"));
  send(req("r2"));
  auto first = answers();
  REQUIRE(first.size() == 2);
  send(req("r3"));
  CHECK(answers().empty());  // waiting: the pool's two slots are taken
  done("r1", first[0]);
  CHECK(answers().size() == 1);  // r3
  CHECK(metric("llm_d_epp_flow_control_requests_total", {{"outcome", "Dispatched"}}) == 3);
}

TEST_CASE_METHOD(flow_fixture, "a waiting pick past its TTL is answered ttl_expired") {
  start(flow_yaml());
  send(req("r1"));
  send(req("r2"));
  REQUIRE(answers().size() == 2);
  send(req("r3"));
  advance_time(std::chrono::milliseconds(1900));
  CHECK(answers().empty());
  advance_time(std::chrono::milliseconds(200));
  CHECK(answers() == std::vector<std::string>{"error:ttl_expired"});
  CHECK(metric("llm_d_epp_flow_control_requests_total", {{"outcome", "EvictedTTL"}}) == 1);
  // The queue is empty again: a completion dispatches nothing, a new pick goes at once.
  done("r1", "pod-a");
  CHECK(answers().empty());
  send(req("r4"));
  CHECK(answers().size() == 1);
}

TEST_CASE_METHOD(flow_fixture,
                 "a sheddable pick is refused at once when saturated, and served when not") {
  start(flow_yaml());
  send(req("s1", "", -1));
  CHECK(answers().size() == 1);  // room: served
  send(req("r2"));
  REQUIRE(answers().size() == 1);
  send(req("s2", "", -1));
  CHECK(answers() == std::vector<std::string>{"error:saturated"});
  CHECK(metric("llm_d_epp_flow_control_requests_total", {{"outcome", "RejectedSaturated"}}) == 1);
}

TEST_CASE_METHOD(flow_fixture, "an InferenceObjective's priority decides the band") {
  start(flow_yaml(), {{"batch", -5}, {"interactive", 10}});
  send(req("r1"));
  send(req("r2"));
  REQUIRE(answers().size() == 2);
  auto batch = req("b1");
  batch.objective = "batch";  // sheddable by its objective, whatever the header said
  send(batch);
  CHECK(answers() == std::vector<std::string>{"error:saturated"});
  // A higher band goes before a request that waited longer.
  send(req("r3"));
  auto urgent = req("u1");
  urgent.objective = "interactive";
  send(urgent);
  CHECK(answers().empty());
  done("r1", "pod-a");
  done("r2", "pod-b");
  CHECK(answers().size() == 2);
  CHECK(metric("llm_d_epp_flow_control_requests_total",
               {{"outcome", "Dispatched"}, {"priority", "10"}}) == 1);
}

TEST_CASE_METHOD(flow_fixture, "a full band refuses with saturated (429 rejected-saturated)") {
  start(flow_yaml("global-strict-fairness-policy", R"(  priorityBands:
  - {priority: 0, maxRequests: 1}
)"));
  send(req("r1"));
  send(req("r2"));
  REQUIRE(answers().size() == 2);
  send(req("r3"));
  send(req("r4"));
  CHECK(answers() == std::vector<std::string>{"error:saturated"});
  CHECK(metric("llm_d_epp_flow_control_requests_total", {{"outcome", "RejectedCapacity"}}) == 1);
}

TEST_CASE_METHOD(flow_fixture, "a cancelled pick leaves the queue at once") {
  start(flow_yaml());
  send(req("r1"));
  send(req("r2"));
  REQUIRE(answers().size() == 2);
  send(req("r3"));
  send(req("r4"));
  advance_time(std::chrono::milliseconds(1100));  // the metrics tick
  CHECK(metric("llm_d_epp_flow_control_queue_size", {{"fairness_id", "default-flow"}}) == 2);
  caf::anon_send(p, cancel_pick{"r3"});
  CHECK(answers() == std::vector<std::string>{"error:cancelled"});
  caf::anon_send(p, cancel_pick{"r3"});  // again, or for a request not waiting: nothing
  caf::anon_send(p, cancel_pick{"r1"});
  CHECK(answers().empty());
  done("r1", "pod-a");
  CHECK(answers().size() == 1);  // r4
  CHECK(direct->recent({0, "r4"})->decisions.size() == 1);
  done("r2", "pod-b");
  CHECK(answers().empty());  // r3 is gone
  CHECK(direct->recent({0, "r3"})->decisions.empty());
  advance_time(std::chrono::seconds(1));
  CHECK(metric("llm_d_epp_flow_control_queue_size", {{"fairness_id", "default-flow"}}) == 0);
  CHECK(metric("llm_d_epp_flow_control_requests_total", {{"outcome", "EvictedContextCancelled"}}) ==
        1);
}

TEST_CASE("round robin and VTC let a light flow past a heavy one that global strict serves first") {
  for (std::string policy :
       {"global-strict-fairness-policy", "round-robin-fairness-policy", "vtc-fairness-policy"}) {
    INFO(policy);
    flow_fixture f;
    f.start(flow_yaml(policy));
    f.send(f.req("x1", "heavy"));
    f.send(f.req("x2", "heavy"));
    REQUIRE(f.answers().size() == 2);
    for (int i = 0; i < 4; ++i)
      f.send(f.req("h" + std::to_string(i), "heavy"));
    f.send(f.req("l0", "light"));
    // Completions free one slot each; which flow goes is the policy's choice.
    std::vector<std::string> order;
    const char* pods[] = {"pod-a", "pod-b"};
    std::vector<std::string> ids = {"x1", "x2"};
    for (int i = 0; i < 2; ++i) {
      f.done(ids[static_cast<size_t>(i)], pods[i]);
      REQUIRE(f.answers().size() == 1);
    }
    CHECK(f.metric("llm_d_epp_flow_control_requests_total",
                   {{"outcome", "Dispatched"}, {"priority", "0"}}) == 4);  // x1, x2, two waiting
    // After two completions: round robin and VTC served light already, global strict not.
    bool light_served = f.direct->recent({0, "l0"})->decisions.size() == 1;
    CHECK(light_served == (policy != "global-strict-fairness-policy"));
  }
}

TEST_CASE_METHOD(flow_fixture,
                 "the direct picker answers when there is room and leaves waiting to the actor") {
  start(flow_yaml());
  auto a = direct->choose(req("d1"));
  REQUIRE(a);
  REQUIRE(*a);
  auto b = direct->choose(req("d2"));
  REQUIRE(b);
  REQUIRE(*b);
  CHECK_FALSE(direct->choose(req("d3")));  // saturated: ask the actor
  send(req("d3"));
  CHECK(answers().empty());
  CHECK_FALSE(direct->choose(req("d4")));  // one waits: so does this one
  // A completion told the direct picker while picks wait goes to the actor.
  CHECK_FALSE(direct->done({"d1", (*a)->pod, 40, 0, true}));
  done("d1", (*a)->pod);
  CHECK(answers().size() == 1);  // d3
  CHECK(direct->done({"d2", (*b)->pod, 40, 0, true}));
  auto c = direct->choose(req("d5"));
  REQUIRE(c);
  CHECK(*c);
}

TEST_CASE_METHOD(flow_fixture,
                 "waiting picks are answered no_endpoints when the pool empties, and an empty "
                 "pool never queues") {
  start(flow_yaml());
  send(req("r1"));
  send(req("r2"));
  REQUIRE(answers().size() == 2);
  send(req("r3"));
  CHECK(answers().empty());
  caf::anon_send(p, pool_membership{"team-a/llama", {}});
  CHECK(answers() == std::vector<std::string>{"error:no_endpoints"});
  send(req("r4"));
  CHECK(answers() == std::vector<std::string>{"error:no_endpoints"});
}

TEST_CASE_METHOD(flow_fixture, "without the gate nothing waits (llm-d's default)") {
  start(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: concurrency-detector
  parameters: {maxConcurrency: 1}
- type: queue-scorer
)");
  for (int i = 0; i < 4; ++i)
    send(req("r" + std::to_string(i)));
  CHECK(answers().size() == 4);
  CHECK(metric("llm_d_epp_flow_control_requests_total", {}) == -1);
}

namespace {

/// Flow control with SLO-aware routing: four requests a pod before the pool is saturated.
const char* slo_flow_yaml = R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
featureGates: [flowControl]
plugins:
- type: concurrency-detector
  name: cd
  parameters: {maxConcurrency: 4}
- type: slo-headroom-tier-filter
  parameters: {epsilonExploreNeg: 0}
- type: latency-scorer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: slo-headroom-tier-filter
  - pluginRef: latency-scorer
  - pluginRef: max-score-picker
flowControl:
  saturationDetector: {pluginRef: cd}
  defaultRequestTTL: 5s
)";

/// A busy pod (one running sequence) with the 8b-h100 step profile.
actors::pod::load_report busy(const std::string& pod) {
  actors::pod::load_report r;
  r.pod = pod;
  r.running = 1;
  r.step_overhead_ns = 11.8e6;
  r.prefill_overhead_ns = 18.2e6;
  r.prefill_ns_per_token = 250e3;
  r.decode_ns_per_sequence = 50e3;
  r.attention_ns_per_kv_token = 75;
  return r;
}

}  // namespace

TEST_CASE_METHOD(flow_fixture,
                 "an objective's unattainableSloPolicy: Queue waits for a pod that can meet it, "
                 "Reject refuses, BestEffort goes to the least late pod") {
  start(slo_flow_yaml, {}, [](picker_settings& s) {
    s.objective_slos = {{"queue", {400, 0}}, {"reject", {400, 0}}, {"best", {400, 0}}};
    s.objective_slo_policies = {{"queue", slo_policy::queue},
                                {"reject", slo_policy::reject},
                                {"best", slo_policy::best_effort}};
  });
  caf::anon_send(p, busy("pod-a"));
  caf::anon_send(p, busy("pod-b"));
  run();
  // A second of prefill sent to each pod (4,000 tokens): nobody meets 400 ms for a while.
  auto batch = [&](const std::string& id) {
    auto r = req(id);
    r.tokens.assign(4000, 9);
    return r;
  };
  send(batch("b1"));
  send(batch("b2"));
  auto placed = answers();
  REQUIRE(placed.size() == 2);
  CHECK(placed[0] != placed[1]);
  auto with = [&](const std::string& id, const std::string& objective) {
    auto r = req(id);
    r.objective = objective;
    return r;
  };
  // q0's 400 ms objective runs out before any pod can meet it: refused with the reason.
  send(with("q0", "queue"));
  advance_time(std::chrono::milliseconds(399));
  CHECK(answers().empty());  // held in the queue, though the pool is not saturated
  advance_time(std::chrono::milliseconds(1));
  CHECK(answers() == std::vector<std::string>{"error:slo_unattainable"});
  CHECK(metric("llm_d_epp_flow_control_requests_total", {{"outcome", "EvictedSloUnattainable"}}) ==
        1);
  send(with("q1", "queue"));
  CHECK(answers().empty());
  send(with("x1", "reject"));
  CHECK(answers() == std::vector<std::string>{"error:slo_unattainable"});
  CHECK(metric("llm_d_epp_flow_control_requests_total", {{"outcome", "RejectedSloUnattainable"}}) ==
        1);
  send(req("n1"));  // no objective: not held up behind q1
  CHECK(answers().size() == 1);
  // b1 is done: its pod can serve q1 in time now (~40 ms of prefill), 100 ms into its wait.
  advance_time(std::chrono::milliseconds(100));
  CHECK(answers().empty());
  done("b1", placed[0]);
  CHECK(answers() == std::vector<std::string>{placed[0]});
  CHECK(metric("llm_d_epp_flow_control_requests_total", {{"outcome", "Dispatched"}}) == 4);
  send(with("e1", "best"));
  CHECK(answers().size() == 1);
}

TEST_CASE_METHOD(flow_fixture,
                 "Queue without waiting room: an idle pod too slow for the objective, or no flow "
                 "control, refuses at once") {
  auto more = [](picker_settings& s) {
    s.objective_slos = {{"queue", {20, 0}}};  // under one prefill step
    s.objective_slo_policies = {{"queue", slo_policy::queue}};
  };
  auto ask = [&] {
    auto r = req("q");
    r.objective = "queue";
    send(r);
    return answers();
  };
  SECTION("an idle pod") {
    start(slo_flow_yaml, {}, more);
    auto idle = busy("pod-a");
    idle.running = 0;
    caf::anon_send(p, idle);
    caf::anon_send(p, busy("pod-b"));
    run();
    CHECK(ask() == std::vector<std::string>{"error:slo_unattainable"});
  }
  SECTION("no flow control") {
    std::string yaml = slo_flow_yaml;
    yaml.replace(yaml.find("featureGates: [flowControl]"), 27, "");
    start(yaml, {}, more);
    caf::anon_send(p, busy("pod-a"));
    caf::anon_send(p, busy("pod-b"));
    run();
    CHECK(ask() == std::vector<std::string>{"error:slo_unattainable"});
  }
}

TEST_CASE(
    "with fair-share-ceiling-policy a flow over its share leaves the last room to a flow "
    "under it, whose request then goes at once") {
  for (bool ceiling : {true, false}) {
    INFO("fair-share ceiling: " << ceiling);
    // Two pods of two requests: four slots, the ceiling at three.
    auto yaml = flow_yaml("round-robin-fairness-policy",
                          ceiling ? "  usageLimitPolicyPluginRef: share\n" : "", 2,
                          "- type: fair-share-ceiling-policy\n  name: share\n"
                          "  parameters: {ceiling: 0.75}\n");
    flow_fixture f;
    f.start(yaml);
    std::map<std::string, std::string> pod_of;
    auto take = [&](const std::vector<std::string>& ids) {
      auto got = f.answers();
      REQUIRE(got.size() == ids.size());
      for (size_t i = 0; i < ids.size(); ++i)
        pod_of[ids[i]] = got[i];
    };
    for (int i = 1; i <= 4; ++i)
      f.send(f.req("h" + std::to_string(i), "heavy"));
    take({"h1", "h2", "h3", "h4"});  // the only flow: it may fill the pool
    f.send(f.req("h5", "heavy"));
    f.send(f.req("h6", "heavy"));
    f.send(f.req("l1", "light"));
    CHECK(f.answers().empty());
    f.done("h1", pod_of["h1"]);
    take({"l1"});  // round robin's turn, either way
    f.done("h2", pod_of["h2"]);
    if (ceiling) {
      CHECK(f.answers().empty());  // heavy is over its share at the ceiling: the slot is held
      f.send(f.req("l2", "light"));
      take({"l2"});  // at once
      f.done("l1", pod_of["l1"]);
      CHECK(f.answers().empty());  // still over its share (2 of 3 in flight)
      f.done("l2", pod_of["l2"]);
      take({"h5", "h6"});  // light has left: heavy takes the pool again
    } else {
      take({"h5"});
      f.send(f.req("l2", "light"));
      CHECK(f.answers().empty());  // the light request waits for the next completion
      f.done("h3", pod_of["h3"]);
      take({"l2"});
    }
  }
}
