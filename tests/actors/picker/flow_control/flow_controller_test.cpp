// The flow-control queues and policies with the time given by hand: band order, capacity,
// TTL, cancellation, round robin, global strict, VTC (counters, lift), and the config reading.
#include <catch2/catch.hpp>

#include "actors/picker/flow_control/flow_controller.hpp"

using namespace inferstack;
using namespace inferstack::actors::picker::flow_control;

namespace {

constexpr int64_t ms = 1'000'000;

flow_control_settings with_policy(fairness_policy p) {
  flow_control_settings s;
  s.enabled = true;
  s.default_band.fairness = p;
  return s;
}

/// The flows of the next n dispatches.
std::vector<std::string> drain(flow_controller& fc, size_t n, int64_t now = 0) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    auto r = fc.pop(now);
    if (!r) break;
    out.push_back(r->flow);
  }
  return out;
}

config::picker_config config_from(const std::string& yaml) {
  config::load_result r;
  config::load_text(yaml, "picker.yaml", r);
  REQUIRE(r.problems.empty());
  REQUIRE(r.config.picker_configs.size() == 1);
  return r.config.picker_configs[0];
}

std::string problems_text(const std::vector<config::problem>& problems) {
  std::string out;
  for (const auto& p : problems)
    out += p.to_string() + "\n";
  return out;
}

}  // namespace

TEST_CASE("a higher band is always served first, FCFS within a flow") {
  flow_controller fc(with_policy(fairness_policy::global_strict));
  REQUIRE(fc.enqueue(1, "a", 0, 10, 5, 0));
  REQUIRE(fc.enqueue(2, "a", 0, 10, 5, 1));
  REQUIRE(fc.enqueue(3, "b", 5, 10, 5, 2));
  REQUIRE(fc.enqueue(4, "a", -1, 10, 5, 3));
  CHECK(fc.size() == 4);
  std::vector<uint64_t> order;
  while (auto r = fc.pop(10))
    order.push_back(r->ticket);
  CHECK(order == std::vector<uint64_t>{3, 1, 2, 4});
  CHECK(fc.empty());
}

TEST_CASE("global strict serves the oldest request of the band whatever its flow") {
  flow_controller fc(with_policy(fairness_policy::global_strict));
  for (uint64_t t = 1; t <= 6; ++t)
    REQUIRE(fc.enqueue(t, "heavy", 0, 1, 1, static_cast<int64_t>(t)));
  REQUIRE(fc.enqueue(7, "light", 0, 1, 1, 7));
  auto order = drain(fc, 7);
  CHECK(order ==
        std::vector<std::string>{"heavy", "heavy", "heavy", "heavy", "heavy", "heavy", "light"});
}

TEST_CASE("round robin gives each backlogged flow a turn in key order") {
  flow_controller fc(with_policy(fairness_policy::round_robin));
  for (uint64_t t = 1; t <= 6; ++t)
    REQUIRE(fc.enqueue(t, "heavy", 0, 1, 1, 0));
  REQUIRE(fc.enqueue(7, "light", 0, 1, 1, 0));
  REQUIRE(fc.enqueue(8, "light", 0, 1, 1, 0));
  REQUIRE(fc.enqueue(9, "mid", 0, 1, 1, 0));
  CHECK(drain(fc, 9) == std::vector<std::string>{"heavy", "light", "mid", "heavy", "light", "heavy",
                                                 "heavy", "heavy", "heavy"});
}

TEST_CASE("VTC serves the flow with the fewest weighted tokens served") {
  auto s = with_policy(fairness_policy::vtc);
  s.vtc_input_weight = 1;
  s.vtc_output_weight = 2;
  flow_controller fc(s);
  // "big" sends 100-token prompts, "small" 10-token ones: VTC evens tokens, not requests.
  for (uint64_t t = 1; t <= 4; ++t)
    REQUIRE(fc.enqueue(t, "big", 0, 1, 100, 0));
  for (uint64_t t = 11; t <= 30; ++t)
    REQUIRE(fc.enqueue(t, "small", 0, 1, 10, 0));
  auto order = drain(fc, 13);
  // big (0) first by age, then small until it passes 100, then big again...
  CHECK(order == std::vector<std::string>{"big", "small", "small", "small", "small", "small",
                                          "small", "small", "small", "small", "small", "big",
                                          "small"});
  CHECK(fc.counter("big", 0) == 200);
  CHECK(fc.counter("small", 0) == 110);
  // Output tokens count twice (w_q = 2) when charged on completion.
  fc.charge("small", 0, 0, 50, 0);
  CHECK(fc.counter("small", 0) == 210);
  CHECK(fc.pop(0)->flow == "big");
}

TEST_CASE("VTC lifts a flow that becomes backlogged, so idle time banks no credit") {
  flow_controller fc(with_policy(fairness_policy::vtc));
  // "heavy" was served much while "light" sent nothing.
  fc.charge("heavy", 0, 1000, 0, 0);
  REQUIRE(fc.enqueue(1, "heavy", 0, 1, 10, 0));
  REQUIRE(fc.enqueue(2, "heavy", 0, 1, 10, 0));
  REQUIRE(fc.enqueue(3, "light", 0, 1, 10, 1));
  // Lifted to the least-served backlogged flow: heavy's 1000 (not 0, which would starve
  // heavy for 100 of light's requests).
  CHECK(fc.counter("light", 0) == 1000);
  CHECK(drain(fc, 3) == std::vector<std::string>{"heavy", "light", "heavy"});
  // A request dispatched without waiting is lifted and charged too.
  fc.charge("newcomer", 0, 5, 0, 0);
  CHECK(fc.counter("newcomer", 0) >= 1000);
}

TEST_CASE("a full band or a full whole refuses, and nothing changes") {
  auto s = with_policy(fairness_policy::global_strict);
  s.bands.push_back({0, 2, 1000, fairness_policy::round_robin});
  s.max_bytes = 150;
  flow_controller fc(s);
  CHECK(fc.enqueue(1, "a", 0, 10, 1, 0));
  CHECK(fc.enqueue(2, "a", 0, 10, 1, 0));
  CHECK_FALSE(fc.enqueue(3, "a", 0, 10, 1, 0));  // band maxRequests 2
  CHECK(fc.band_size(0) == 2);
  CHECK(fc.enqueue(4, "a", 1, 100, 1, 0));
  CHECK_FALSE(fc.enqueue(5, "a", 1, 100, 1, 0));  // global maxBytes 150
  CHECK(fc.size() == 3);
  CHECK(fc.pop(0)->ticket == 4);
  CHECK(fc.enqueue(5, "a", 1, 100, 1, 0));
}

TEST_CASE("requests past their TTL leave, oldest deadline first") {
  auto s = with_policy(fairness_policy::global_strict);
  s.request_ttl_ns = 100 * ms;
  flow_controller fc(s);
  REQUIRE(fc.enqueue(1, "a", 0, 1, 1, 0));
  REQUIRE(fc.enqueue(2, "b", 0, 1, 1, 30 * ms));
  REQUIRE(fc.enqueue(3, "b", 0, 1, 1, 60 * ms));
  CHECK(fc.next_expiry() == 100 * ms);
  CHECK(fc.expire(99 * ms).empty());
  auto gone = fc.expire(130 * ms);
  REQUIRE(gone.size() == 2);
  CHECK(gone[0].ticket == 1);
  CHECK(gone[1].ticket == 2);
  CHECK(fc.next_expiry() == 160 * ms);
  CHECK(fc.pop(130 * ms)->ticket == 3);
  CHECK_FALSE(fc.next_expiry());
}

TEST_CASE("a request's own deadline ends its wait before the TTL when sooner") {
  auto s = with_policy(fairness_policy::global_strict);
  s.request_ttl_ns = 100 * ms;
  flow_controller fc(s);
  REQUIRE(fc.enqueue(1, "a", 0, 1, 1, 0, 40 * ms));   // a 40 ms latency objective
  REQUIRE(fc.enqueue(2, "a", 0, 1, 1, 0, 500 * ms));  // later than the TTL: the TTL wins
  CHECK(fc.next_expiry() == 40 * ms);
  auto gone = fc.expire(40 * ms);
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].ticket == 1);
  CHECK(fc.next_expiry() == 100 * ms);
}

TEST_CASE("a request put back keeps its place, its deadline and its flow's VTC counter") {
  for (auto policy :
       {fairness_policy::global_strict, fairness_policy::round_robin, fairness_policy::vtc}) {
    auto s = with_policy(policy);
    s.request_ttl_ns = 100 * ms;
    flow_controller fc(s);
    REQUIRE(fc.enqueue(1, "a", 0, 4, 50, 0));
    REQUIRE(fc.enqueue(2, "a", 0, 4, 50, 1 * ms));
    REQUIRE(fc.enqueue(3, "b", 0, 4, 50, 2 * ms));
    auto before = fc.counter("a", 0);
    auto first = fc.pop(5 * ms);
    REQUIRE(first->ticket == 1);
    auto second = fc.pop(5 * ms);  // the next one goes on while the first is held
    CHECK(second->ticket != 1);
    fc.requeue(*second);
    fc.requeue(*first);
    CHECK(fc.size() == 3);
    CHECK(fc.counter("a", 0) == before);  // no prompt charged for a dispatch that did not happen
    CHECK(fc.next_expiry() == 100 * ms);  // its own deadline, not a new one
    CHECK(fc.stats().size() == 2);
    auto again = fc.pop(6 * ms);
    CHECK(again->ticket == 1);
    CHECK(again->enqueued_ns == 0);
    CHECK(again->expires_ns == 100 * ms);
  }
}

TEST_CASE("a cancelled request leaves its queue at once") {
  flow_controller fc(with_policy(fairness_policy::round_robin));
  REQUIRE(fc.enqueue(1, "a", 0, 7, 1, 0));
  REQUIRE(fc.enqueue(2, "a", 0, 7, 1, 0));
  REQUIRE(fc.enqueue(3, "a", 0, 7, 1, 0));
  auto c = fc.cancel(2);
  REQUIRE(c);
  CHECK(c->bytes == 7);
  CHECK_FALSE(fc.cancel(2));
  CHECK(fc.size() == 2);
  CHECK(fc.stats()[0].bytes == 14);
  CHECK(fc.pop(0)->ticket == 1);
  CHECK(fc.pop(0)->ticket == 3);
  CHECK_FALSE(fc.pop(0));
}

TEST_CASE("idle flows are forgotten after the flow GC interval") {
  flow_controller fc(with_policy(fairness_policy::vtc));
  fc.charge("gone", 0, 100, 0, 0);
  CHECK(fc.counter("gone", 0) == 100);
  fc.expire(flow_controller::flow_gc_ns / 2);
  CHECK(fc.counter("gone", 0) == 100);
  fc.expire(flow_controller::flow_gc_ns + 1);
  CHECK(fc.counter("gone", 0) == 0);
}

TEST_CASE("VTC charges a tracked request's output when done, and forgets one never done") {
  auto s = with_policy(fairness_policy::vtc);
  s.vtc_output_weight = 2;
  flow_controller fc(s);
  fc.track("r1", "a", 0, 0);
  fc.track("r2", "a", 0, 0);
  CHECK(fc.tracked() == 2);
  CHECK(fc.done("r1", 10, ms));
  CHECK(fc.counter("a", 0) == 20);
  CHECK_FALSE(fc.done("r1", 10, ms));  // once only
  // r2's completion never comes: kept until the record TTL, then forgotten.
  fc.expire(flow_controller::record_ttl_ns / 2);
  CHECK(fc.tracked() == 1);
  fc.expire(flow_controller::record_ttl_ns + 1);
  CHECK(fc.tracked() == 0);
  CHECK_FALSE(fc.done("r2", 10, flow_controller::record_ttl_ns + 2));
  // Other policies track nothing.
  flow_controller rr(with_policy(fairness_policy::round_robin));
  rr.track("r3", "a", 0, 0);
  CHECK(rr.tracked() == 0);
}

TEST_CASE("quantities as Kubernetes writes them") {
  CHECK(parse_quantity("5000") == 5000u);
  CHECK(parse_quantity("1k") == 1000u);
  CHECK(parse_quantity("500M") == 500'000'000u);
  CHECK(parse_quantity("1Gi") == 1073741824u);
  CHECK(parse_quantity("1.5Ki") == 1536u);
  CHECK_FALSE(parse_quantity("-1"));
  CHECK_FALSE(parse_quantity("1.5"));
  CHECK_FALSE(parse_quantity("lots"));
  CHECK_FALSE(parse_quantity(""));
}

TEST_CASE("the gate and section of an EndpointPickerConfig, with llm-d's names") {
  auto cfg = config_from(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
featureGates: [flowControl]
plugins:
- type: queue-scorer
- type: round-robin-fairness-policy
  name: rr
- type: vtc-fairness-policy
  parameters: {inputTokenWeight: 1, outputTokenWeight: 3}
flowControl:
  maxRequests: 1k
  maxBytes: 1Gi
  defaultRequestTTL: 30s
  defaultPriorityBand: {maxRequests: 100, fairnessPolicyRef: rr}
  defaultNegativePriorityBand: {maxRequests: 5}
  priorityBands:
  - priority: 10
    maxBytes: 500M
    fairnessPolicyRef: vtc-fairness-policy
    orderingPolicyRef: fcfs-ordering-policy
)");
  std::vector<config::problem> problems;
  auto s = read_flow_control(cfg, problems);
  INFO(problems_text(problems));
  REQUIRE(problems.empty());
  CHECK(s.enabled);
  CHECK(s.max_requests == 1000);
  CHECK(s.max_bytes == 1073741824u);
  CHECK(s.request_ttl_ns == 30'000'000'000);
  CHECK(s.vtc_output_weight == 3);
  CHECK(s.band_for(0).fairness == fairness_policy::round_robin);
  CHECK(s.band_for(0).max_requests == 100);
  CHECK(s.band_for(-2).max_requests == 5);
  CHECK(s.band_for(-2).fairness == fairness_policy::round_robin);
  CHECK(s.band_for(10).fairness == fairness_policy::vtc);
  CHECK(s.band_for(10).max_bytes == 500'000'000u);
  CHECK(s.band_for(10).max_requests == 100);  // from the default band

  // Off by default, as in llm-d.
  std::vector<config::problem> none;
  CHECK_FALSE(read_flow_control(config_from(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
)"),
                                none)
                  .enabled);
}

TEST_CASE("policies it does not implement are problems, not silently replaced") {
  auto cfg = config_from(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
featureGates: [flowControl]
plugins:
- type: edf-ordering-policy
- type: queue-scorer
flowControl:
  maxRequests: many
  enableEviction: true
  defaultPriorityBand: {fairnessPolicyRef: queue-scorer, orderingPolicyRef: edf-ordering-policy}
)");
  std::vector<config::problem> problems;
  read_flow_control(cfg, problems);
  auto text = problems_text(problems);
  CHECK_THAT(text, Catch::Contains("flowControl.maxRequests"));
  CHECK_THAT(text, Catch::Contains("not a fairness policy"));
  CHECK_THAT(text, Catch::Contains("only fcfs-ordering-policy"));
  CHECK_THAT(text, Catch::Contains("eviction"));
}

TEST_CASE(
    "with a fair-share ceiling, flows over their share of the band's requests in flight are "
    "passed over when the caller says so") {
  auto s = with_policy(fairness_policy::round_robin);
  s.over_share_ceiling = 0.95;
  flow_controller fc(s);
  for (int i = 0; i < 6; ++i)
    fc.track("h" + std::to_string(i), "heavy", 0, 0);
  CHECK_FALSE(fc.over_share("heavy", 0));  // the only active flow has all there is
  REQUIRE(fc.enqueue(1, "heavy", 0, 1, 1, 0));
  REQUIRE(fc.enqueue(2, "light", 0, 1, 1, 0));
  REQUIRE(fc.enqueue(3, "heavy", 0, 1, 1, 0));
  CHECK(fc.over_share("heavy", 0));  // 6 in flight of 6, two active flows
  CHECK_FALSE(fc.over_share("light", 0));
  // At the ceiling: the light flow goes, the heavy one waits -- nothing else is chosen.
  auto first = fc.pop(0, false);
  REQUIRE(first);
  CHECK(first->flow == "light");
  fc.track("l0", "light", 0, 0);
  CHECK_FALSE(fc.pop(0, false));
  CHECK(fc.size() == 2);
  // Below the ceiling everyone goes, in the band's order.
  CHECK(drain(fc, 2) == std::vector<std::string>{"heavy", "heavy"});
  // Completions take requests off their flows: 2 heavy and 1 light in flight, heavy over.
  for (int i = 0; i < 4; ++i)
    CHECK(fc.done("h" + std::to_string(i), 1, ms));
  CHECK(fc.over_share("heavy", 0));
  CHECK(fc.done("l0", 1, ms));
  CHECK_FALSE(fc.over_share("heavy", 0));  // the light flow has nothing left
  // Without the ceiling nothing is counted (round robin tracks nothing).
  flow_controller plain(with_policy(fairness_policy::round_robin));
  plain.track("x", "a", 0, 0);
  CHECK(plain.tracked() == 0);
}

TEST_CASE("fair-share-ceiling-policy as the usage limit sets the ceiling, (0, 1] only") {
  auto cfg = config_from(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
featureGates: [flowControl]
plugins:
- type: fair-share-ceiling-policy
  name: share
  parameters: {ceiling: 0.9}
- type: fair-share-ceiling-policy
  name: loose
  parameters: {ceiling: 0.99}
flowControl:
  usageLimitPolicyPluginRef: share
)");
  std::vector<config::problem> problems;
  auto s = read_flow_control(cfg, problems);
  INFO(problems_text(problems));
  REQUIRE(problems.empty());
  CHECK(s.over_share_ceiling == 0.9);  // the one named, not the last declared
  // Named but not used as the usage limit: off.
  std::vector<config::problem> none;
  CHECK(read_flow_control(config_from(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
featureGates: [flowControl]
plugins:
- type: fair-share-ceiling-policy
)"),
                          none)
            .over_share_ceiling == 1.0);
  std::vector<config::problem> bad;
  read_flow_control(config_from(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
featureGates: [flowControl]
plugins:
- type: priority-holdback-policy
flowControl:
  usageLimitPolicyPluginRef: priority-holdback-policy
)"),
                    bad);
  CHECK_THAT(problems_text(bad), Catch::Contains("fair-share-ceiling-policy are implemented"));
}
