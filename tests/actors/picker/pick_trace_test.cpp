// The picker's span of a pick: recorded only under a sampled caller, a child of the caller's
// span, its attributes from the pick's decision (pool, model, profile, the pod, the filters'
// removals and each candidate's scores) and its outcome; on a set clock.
#include <catch2/catch.hpp>

#include <map>

#include "actors/picker/pick_trace.hpp"
#include "actors/picker/picker_actor.hpp"
#include "runtime/tracing/tracer.hpp"
#include "tests/support/caf_fixture.hpp"

using namespace inferstack;
using namespace inferstack::actors::picker;

namespace {

constexpr const char* sampled_parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr const char* unsampled_parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

// gold-only removes pod-c; queue (weight 2) and KV cache (weight 1) score pod-a and pod-b.
const char* filtered_yaml = R"(
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: by-label
  name: gold-only
  parameters: {label: tier, validValues: [gold]}
- type: queue-scorer
- type: kv-cache-utilization-scorer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: gold-only
  - pluginRef: queue-scorer
    weight: 2
  - pluginRef: kv-cache-utilization-scorer
    weight: 1
  - pluginRef: max-score-picker
)";

pool_member member(std::string name, std::string tier) {
  pool_member m;
  m.pod = name;
  m.endpoint = "actor:pod/" + name;
  m.address = name + ":8000";
  m.labels = {{"tier", std::move(tier)}};
  return m;
}

actors::pod::load_report load(std::string pod, uint32_t waiting, double kv_usage) {
  actors::pod::load_report r;
  r.pod = std::move(pod);
  r.model = "llama";
  r.waiting = waiting;
  r.kv_usage = kv_usage;
  r.block_size = 16;
  r.num_gpu_blocks = 1000;
  return r;
}

std::map<std::string, tracing::attribute_value> attributes_of(const tracing::span& s) {
  std::map<std::string, tracing::attribute_value> out;
  for (const auto& a : s.attributes.decoded())
    out.emplace(std::string(a.key.view()), a.value);
  return out;
}

struct trace_fixture : testing::caf_fixture {
  uint64_t clock = 0;
  std::vector<tracing::span> ended;
  std::shared_ptr<tracing::tracer> tracer = std::make_shared<tracing::tracer>(
      tracing::ratio_sampler(1.0), 42, [this] { return clock += 1000; },  // 1 us a reading
      [this](tracing::span&& s) { ended.push_back(std::move(s)); });

  picker_impl_actor start(size_t recent, bool await_membership = false) {
    config::load_result r;
    config::load_text(filtered_yaml, "picker.yaml", r);
    REQUIRE(r.problems.empty());
    picker_settings s;
    s.pool = "team-a/llama";
    s.config = std::make_shared<config::picker_config>(r.config.picker_configs.at(0));
    s.seed = 7;
    s.recent_decisions = recent;
    s.await_membership = await_membership;
    auto p =
        spawn_picker(sys, s, {std::make_shared<prometheus::Registry>(), nullptr, nullptr, tracer});
    run();
    return p;
  }

  void pods(const picker_impl_actor& p) {
    caf::anon_send(p, pool_membership{"team-a/llama",
                                      {member("pod-a", "gold"), member("pod-b", "gold"),
                                       member("pod-c", "silver")}});
    for (auto& r : {load("pod-a", 4, 0.25), load("pod-b", 0, 0.75), load("pod-c", 0, 0.0)})
      caf::anon_send(p, r);
    run();
  }

  caf::expected<chosen_pod> pick(const picker_impl_actor& p, std::string traceparent) {
    choose_pod req;
    req.request_id = "req-1";
    req.model = "llama";
    req.traceparent = std::move(traceparent);
    return request<chosen_pod>(caf::actor_cast<picker_actor>(p), req);
  }
};

}  // namespace

TEST_CASE_METHOD(trace_fixture, "a traced pick is the caller's child span with its decision") {
  // Kept decisions or none: the traced pick is described either way.
  auto recent = GENERATE(size_t{0}, size_t{256});
  auto p = start(recent);
  pods(p);
  auto chosen = pick(p, sampled_parent);
  REQUIRE(chosen);
  CHECK(chosen->decision.empty());  // the span has it, the answer does not
  REQUIRE(ended.size() == 1);
  const auto& s = ended[0];
  CHECK(s.name == "pick");
  CHECK(tracing::to_hex(s.trace) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(tracing::to_hex(s.parent) == "00f067aa0ba902b7");
  CHECK(s.start_unix_nano == 1000);
  CHECK(s.end_unix_nano == 2000);
  CHECK(s.status == tracing::status_code::unset);
  auto a = attributes_of(s);
  CHECK(std::get<std::string>(a.at("gen_ai.request.model")) == "llama");
  CHECK(std::get<std::string>(a.at("inferstack.pool")) == "team-a/llama");
  CHECK(std::get<std::string>(a.at("inferstack.pod")) == "pod-b");
  CHECK(std::get<std::string>(a.at("inferstack.pick.outcome")) == "ok");
  CHECK(std::get<std::string>(a.at("inferstack.pick.profiles")) == "default");
  CHECK(std::get<int64_t>(a.at("inferstack.pick.candidates")) == 3);
  CHECK(std::get<bool>(a.at("inferstack.pick.chance")) == false);
  // Each candidate's total and score per scorer (in the scorers' order) and the filter's
  // removal, as worked out in pick_decision_test: queue a 0 b 1, KV cache a 0.75 b 0.25.
  CHECK(std::get<std::string>(a.at("inferstack.pick.scorers")) ==
        "queue-scorer*2 kv-cache-utilization-scorer*1");
  CHECK(std::get<std::string>(a.at("inferstack.pick.scores")) ==
        "pod-a=0.75(0,0.75) pod-b=2.25(1,0.25)");
  CHECK(std::get<std::string>(a.at("inferstack.pick.filtered")) == "gold-only=pod-c");
}

TEST_CASE_METHOD(trace_fixture, "an untraced or unsampled pick records nothing") {
  auto p = start(256);
  pods(p);
  REQUIRE(pick(p, ""));
  REQUIRE(pick(p, unsampled_parent));
  CHECK(ended.empty());
  CHECK(clock == 0);  // not even the clock was read
}

TEST_CASE_METHOD(trace_fixture, "a refused pick's span is an error with the outcome") {
  auto p = start(0);
  caf::anon_send(p, pool_membership{"team-a/llama", {member("pod-c", "silver")}});
  caf::anon_send(p, load("pod-c", 0, 0.1));
  run();
  CHECK_FALSE(pick(p, sampled_parent));
  REQUIRE(ended.size() == 1);
  auto a = attributes_of(ended[0]);
  CHECK(std::get<std::string>(a.at("inferstack.pick.outcome")) == "all_filtered");
  CHECK(a.count("inferstack.pod") == 0);
  CHECK(std::get<std::string>(a.at("inferstack.pick.filtered")) == "gold-only=pod-c");
  CHECK(std::get<std::string>(a.at("inferstack.pick.scores")).empty());
  CHECK(ended[0].status == tracing::status_code::error);
}

TEST_CASE_METHOD(trace_fixture, "a pick refused before any decision says so") {
  auto p = start(256, true);  // a picker process that has not heard its pool yet
  CHECK_FALSE(pick(p, sampled_parent));
  REQUIRE(ended.size() == 1);
  auto a = attributes_of(ended[0]);
  CHECK(std::get<std::string>(a.at("inferstack.pick.outcome")) == "not_ready");
  CHECK(std::get<std::string>(a.at("inferstack.pool")) == "team-a/llama");
  CHECK(ended[0].status == tracing::status_code::error);
}
