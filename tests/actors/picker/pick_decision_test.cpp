// "Why this pod": the picker actor's decision records in virtual time -- the filters' removals,
// each candidate's scores per scorer (worked out by hand below), the pick and whether chance
// took part, the bounded ring, recent_picks, the JSON the gateway's debug header carries, and
// names that stay right when a later pod reuses an endpoint id.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "actors/picker/pick_decision.hpp"
#include "actors/picker/picker_actor.hpp"
#include "tests/support/caf_fixture.hpp"

using namespace inferstack;
using namespace inferstack::actors::picker;
using json = nlohmann::json;

namespace {

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

std::shared_ptr<const config::picker_config> config_from(const std::string& yaml) {
  config::load_result r;
  config::load_text(yaml, "picker.yaml", r);
  REQUIRE(r.problems.empty());
  REQUIRE(r.config.picker_configs.size() == 1);
  return std::make_shared<config::picker_config>(r.config.picker_configs[0]);
}

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

struct decision_fixture : testing::caf_fixture {
  picker_impl_actor start(size_t recent = 256) {
    picker_settings s;
    s.pool = "team-a/llama";
    s.config = config_from(filtered_yaml);
    s.seed = 7;
    s.recent_decisions = recent;
    auto p = spawn_picker(sys, s, {std::make_shared<prometheus::Registry>(), nullptr, nullptr});
    run();
    return p;
  }

  void members(const picker_impl_actor& p, std::vector<pool_member> list) {
    caf::anon_send(p, pool_membership{"team-a/llama", std::move(list)});
    run();
  }

  void loads(const picker_impl_actor& p, std::vector<actors::pod::load_report> reports) {
    for (auto& r : reports)
      caf::anon_send(p, std::move(r));
    run();
  }

  caf::expected<chosen_pod> pick(const picker_impl_actor& p, std::string id, bool explain) {
    choose_pod req;
    req.request_id = std::move(id);
    req.model = "llama";
    req.explain = explain;
    return request<chosen_pod>(caf::actor_cast<picker_actor>(p), req);
  }

  pick_decisions recent(const picker_impl_actor& p, uint32_t limit, std::string id = {}) {
    auto got = request<pick_decisions>(p, recent_picks{limit, std::move(id)});
    REQUIRE(got);
    return *got;
  }
};

}  // namespace

TEST_CASE_METHOD(decision_fixture,
                 "a decision names the filter that removed a pod and every score by hand") {
  auto p = start();
  members(p, {member("pod-a", "gold"), member("pod-b", "gold"), member("pod-c", "silver")});
  loads(p, {load("pod-a", 4, 0.25), load("pod-b", 0, 0.75), load("pod-c", 0, 0.0)});
  auto chosen = pick(p, "req-1", false);
  REQUIRE(chosen);
  CHECK(chosen->pod == "pod-b");
  CHECK(chosen->decision.empty());  // not asked: nothing rendered

  auto got = recent(p, 0);
  CHECK(got.pool == "team-a/llama");
  REQUIRE(got.decisions.size() == 1);
  const auto& d = got.decisions[0];
  CHECK(d.seq == 1);
  CHECK(d.request_id == "req-1");
  CHECK(d.model == "llama");
  CHECK(d.pool == "team-a/llama");
  CHECK(d.status == "ok");
  CHECK(d.pod == "pod-b");
  CHECK(d.candidates == std::vector<std::string>{"pod-a", "pod-b", "pod-c"});
  CHECK(d.duration_ns >= 0);
  CHECK(d.unix_ms > 0);
  REQUIRE(d.profiles.size() == 1);
  const auto& prof = d.profiles[0];
  CHECK(prof.name == "default");
  CHECK_FALSE(prof.failed);
  REQUIRE(prof.filtered.size() == 1);
  CHECK(prof.filtered[0].filter == "gold-only");
  CHECK(prof.filtered[0].pods == std::vector<std::string>{"pod-c"});
  CHECK(prof.scorers == std::vector<std::string>{"queue-scorer", "kv-cache-utilization-scorer"});
  CHECK(prof.weights == std::vector<double>{2, 1});
  REQUIRE(prof.candidates.size() == 2);
  // Queue: min-max over the candidates' queues (4 and 0), lower is better: a 0, b 1.
  // KV cache: 1 - usage: a 0.75, b 0.25. Totals: a 2x0 + 0.75, b 2x1 + 0.25.
  CHECK(prof.candidates[0].pod == "pod-a");
  CHECK(prof.candidates[0].scores == std::vector<double>{0.0, 0.75});
  CHECK(prof.candidates[0].total == Approx(0.75));
  CHECK(prof.candidates[1].pod == "pod-b");
  CHECK(prof.candidates[1].scores == std::vector<double>{1.0, 0.25});
  CHECK(prof.candidates[1].total == Approx(2.25));
  CHECK(prof.picker == "max-score-picker");
  CHECK_FALSE(prof.sampled);
  CHECK(prof.picked == std::vector<std::string>{"pod-b"});
}

TEST_CASE_METHOD(decision_fixture, "asked, the pick answers its decision as compact JSON") {
  auto p = start();
  members(p, {member("pod-a", "gold"), member("pod-b", "gold"), member("pod-c", "silver")});
  loads(p, {load("pod-a", 4, 0.25), load("pod-b", 0, 0.75), load("pod-c", 0, 0.0)});
  auto chosen = pick(p, "req-explained", true);
  REQUIRE(chosen);
  REQUIRE_FALSE(chosen->decision.empty());
  CHECK(chosen->decision.find('\n') == std::string::npos);  // fits a header line
  auto j = json::parse(chosen->decision);
  CHECK(j["request_id"] == "req-explained");
  CHECK(j["pod"] == "pod-b");
  CHECK(j["status"] == "ok");
  CHECK(j["candidates"] == json::array({"pod-a", "pod-b", "pod-c"}));
  auto prof = j["profiles"][0];
  CHECK(prof["filtered"]["gold-only"] == json::array({"pod-c"}));
  CHECK(prof["weights"]["queue-scorer"] == 2.0);
  CHECK(prof["candidates"][1]["pod"] == "pod-b");
  CHECK(prof["candidates"][1]["scores"]["queue-scorer"] == 1.0);
  CHECK(prof["candidates"][1]["scores"]["kv-cache-utilization-scorer"] == 0.25);
  CHECK(prof["candidates"][1]["total"] == 2.25);
  CHECK(prof["sampled"] == false);
  CHECK(prof["picked"] == json::array({"pod-b"}));
}

TEST_CASE_METHOD(decision_fixture, "a tie for the best total is marked as sampled") {
  auto p = start();
  members(p, {member("pod-a", "gold"), member("pod-b", "gold")});
  loads(p, {load("pod-a", 1, 0.5), load("pod-b", 1, 0.5)});
  REQUIRE(pick(p, "req-tie", false));
  auto d = recent(p, 1).decisions.at(0);
  CHECK(d.profiles.at(0).candidates.at(0).total == d.profiles.at(0).candidates.at(1).total);
  CHECK(d.profiles.at(0).sampled);
}

TEST_CASE_METHOD(decision_fixture, "the ring keeps the last N decisions, newest first") {
  auto p = start(2);
  members(p, {member("pod-a", "gold"), member("pod-c", "silver")});
  loads(p, {load("pod-a", 0, 0.1), load("pod-c", 0, 0.1)});
  REQUIRE(pick(p, "req-1", false));
  REQUIRE(pick(p, "req-2", false));
  REQUIRE(pick(p, "req-3", false));
  auto all = recent(p, 0);
  REQUIRE(all.decisions.size() == 2);
  CHECK(all.decisions[0].request_id == "req-3");
  CHECK(all.decisions[0].seq == 3);
  CHECK(all.decisions[1].request_id == "req-2");
  CHECK(recent(p, 1).decisions.size() == 1);
  auto one = recent(p, 0, "req-2");
  REQUIRE(one.decisions.size() == 1);
  CHECK(one.decisions[0].seq == 2);
  CHECK(recent(p, 0, "req-1").decisions.empty());  // overwritten
}

TEST_CASE("the EndpointPickerConfig annotation inferstack.io/recent-picks sets how many are kept") {
  picker_settings s;
  CHECK(recent_decisions_of(s) == 256);
  auto annotated = [](std::string value) {
    auto cfg = std::make_shared<config::picker_config>(*config_from(filtered_yaml));
    cfg->meta.annotations["inferstack.io/recent-picks"] = std::move(value);
    picker_settings s;
    s.config = cfg;
    return s;
  };
  CHECK(recent_decisions_of(annotated("16")) == 16);
  CHECK(recent_decisions_of(annotated("0")) == 0);
  CHECK_THROWS_WITH(recent_decisions_of(annotated("lots")),
                    Catch::Contains("inferstack.io/recent-picks") && Catch::Contains("'lots'"));
  CHECK_THROWS(recent_decisions_of(annotated("-1")));
  CHECK_THROWS(recent_decisions_of(annotated("")));
}

TEST_CASE_METHOD(decision_fixture, "with no decisions kept a pick asked to explain still does") {
  auto p = start(0);
  members(p, {member("pod-a", "gold"), member("pod-b", "gold")});
  loads(p, {load("pod-a", 3, 0.5), load("pod-b", 0, 0.5)});
  REQUIRE(pick(p, "req-quiet", false));
  auto chosen = pick(p, "req-asked", true);
  REQUIRE(chosen);
  auto j = json::parse(chosen->decision);
  CHECK(j["request_id"] == "req-asked");
  CHECK(j["pod"] == chosen->pod);
  CHECK(recent(p, 0).decisions.empty());
}

TEST_CASE_METHOD(decision_fixture, "a request the filters refuse is recorded with its reason") {
  auto p = start();
  members(p, {member("pod-c", "silver")});
  loads(p, {load("pod-c", 0, 0.1)});
  auto chosen = pick(p, "req-refused", true);
  CHECK_FALSE(chosen);
  auto d = recent(p, 1).decisions.at(0);
  CHECK(d.request_id == "req-refused");
  CHECK(d.status == "all_filtered");
  CHECK(d.pod.empty());
  REQUIRE(d.profiles.size() == 1);
  CHECK(d.profiles[0].failed);
  REQUIRE(d.profiles[0].filtered.size() == 1);
  CHECK(d.profiles[0].filtered[0].pods == std::vector<std::string>{"pod-c"});
  CHECK(d.profiles[0].candidates.empty());
}

TEST_CASE_METHOD(decision_fixture, "earlier decisions keep their pods' names when ids are reused") {
  auto p = start();
  members(p, {member("pod-a", "gold")});
  loads(p, {load("pod-a", 0, 0.1)});
  REQUIRE(pick(p, "req-old", false));
  // pod-a leaves and pod-d joins: it takes pod-a's endpoint id.
  members(p, {member("pod-d", "gold")});
  loads(p, {load("pod-d", 0, 0.1)});
  auto chosen = pick(p, "req-new", false);
  REQUIRE(chosen);
  CHECK(chosen->pod == "pod-d");
  auto all = recent(p, 0);
  REQUIRE(all.decisions.size() == 2);
  CHECK(all.decisions[0].profiles.at(0).picked == std::vector<std::string>{"pod-d"});
  CHECK(all.decisions[1].pod == "pod-a");
  CHECK(all.decisions[1].candidates == std::vector<std::string>{"pod-a"});
  CHECK(all.decisions[1].profiles.at(0).picked == std::vector<std::string>{"pod-a"});
}

TEST_CASE("a decision too long for a header is summarised with where to read the rest") {
  pick_decision d;
  d.seq = 4;
  d.request_id = "req-big";
  d.pool = "team-a/llama";
  d.status = "ok";
  d.pod = "pod-7";
  profile_decision prof;
  prof.name = "default";
  prof.scorers = {"queue-scorer"};
  prof.weights = {1};
  for (int i = 0; i < 200; ++i) {
    auto name = "pod-" + std::to_string(i);
    d.candidates.push_back(name);
    prof.candidates.push_back({name, {i == 7 ? 1.0 : 0.5}, i == 7 ? 1.0 : 0.5});
  }
  prof.picked = {"pod-7"};
  d.profiles.push_back(prof);
  auto whole = json::parse(to_json(d));
  CHECK(whole["profiles"][0]["candidates"].size() == 200);
  auto header = header_json(d, 1024);
  CHECK(header.size() <= 1024);
  auto j = json::parse(header);
  CHECK(j["truncated"] == true);
  CHECK(j["pod"] == "pod-7");
  CHECK(j["candidates"] == 200);
  CHECK(j["profiles"][0]["best"]["pod-7"] == 1.0);
  CHECK(j["more"] == "/debug/picks?request_id=req-big");
  CHECK(json::parse(header_json(d, 1 << 20)) == whole);
}
