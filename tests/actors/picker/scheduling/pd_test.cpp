// Prefill/decode disaggregation decisions, and routing by precise prefix from KV events.
#include <catch2/catch.hpp>

#include <fstream>

#include "tests/actors/picker/scheduling/picker_test_util.hpp"

using namespace picker_test;

namespace {

std::string example(const std::string& file) {
  auto path = std::string(INFERSTACK_SOURCE_DIR) + "/config/picker/" + file;
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void add_role(endpoint_picker& p, const std::string& name, const std::string& role) {
  std::map<std::string, std::string> labels;
  if (!role.empty()) labels["llm-d.ai/role"] = role;
  p.add_endpoint(endpoint_info{name, name + ":8000", labels});
  p.update_load(name, load_report{}, 0);
}

struct request_holder {
  std::vector<uint32_t> tokens;
  pick_request req;
  explicit request_holder(std::vector<uint32_t> t, std::string_view id = "r")
      : tokens(std::move(t)) {
    req.request_id = id;
    req.model = "m";
    req.tokens = tokens;
  }
};

}  // namespace

TEST_CASE("disagg: a long uncached prompt gets a prefill pod and a decode pod", "[pd]") {
  auto p = build(example("llm-d-pd-epp-config.yaml"));
  add_role(*p, "p1", "prefill");
  add_role(*p, "p2", "prefill");
  add_role(*p, "d1", "decode");
  add_role(*p, "d2", "decode");
  request_holder r(random_tokens(64 * 4, 1));
  auto result = p->schedule(r.req, 0);
  REQUIRE(result.ok());
  CHECK(result.primary_profile == "decode");
  CHECK(result.primary().name[0] == 'd');
  REQUIRE(result.prefill);
  CHECK(result.prefill->name[0] == 'p');
  CHECK(result.prefill->address == result.prefill->name + ":8000");
  CHECK(result.disagg_decision == "prefill-decode");
  REQUIRE(result.runs.size() == 2);
  CHECK(result.runs[0].name == "decode");
  CHECK(result.runs[1].name == "prefill");
  auto report = p->pre_request(r.req, result, 0);
  CHECK(report.uncached_tokens == 256);
}

TEST_CASE("disagg: a prompt cached on the decode pod stays decode-only", "[pd]") {
  auto p = build(example("llm-d-pd-epp-config.yaml"));
  add_role(*p, "p1", "prefill");
  add_role(*p, "d1", "decode");
  request_holder first(random_tokens(64 * 4, 2));
  auto r1 = p->schedule(first.req, 0);
  REQUIRE(r1.ok());
  p->pre_request(first.req, r1, 0);  // both pods learn the prompt
  // Same prompt plus 10 new tokens: 10 uncached < nonCachedTokens 16.
  request_holder follow(concat(first.tokens, random_tokens(10, 3)), "r2");
  auto r2 = p->schedule(follow.req, 1);
  REQUIRE(r2.ok());
  CHECK_FALSE(r2.prefill);
  CHECK(r2.disagg_decision == "decode-only");
  CHECK(r2.runs.size() == 1);
  // 40 new tokens: 40 >= 16 uncached, disaggregate again.
  request_holder longer(concat(first.tokens, random_tokens(40, 4)), "r3");
  auto r3 = p->schedule(longer.req, 2);
  REQUIRE(r3.ok());
  CHECK(r3.prefill);
}

TEST_CASE("disagg: a decode failure fails the request, a required prefill too", "[pd]") {
  auto p = build(example("llm-d-pd-epp-config.yaml"));
  add_role(*p, "p1", "prefill");
  request_holder r(random_tokens(64, 5));
  // Unlabeled pods are decode candidates; prefill-only pods are not.
  auto result = p->schedule(r.req, 0);
  CHECK(result.status == pick_status::all_filtered);
  CHECK(result.reason == "failed to find available decode workers");
  auto q = build(example("llm-d-pd-epp-config.yaml"));
  add_role(*q, "d1", "decode");
  auto no_prefill = q->schedule(r.req, 0);
  CHECK(no_prefill.status == pick_status::all_filtered);
  CHECK(no_prefill.reason == "prefill profile \"prefill\" was required but produced no result");
}

TEST_CASE("disagg: the aggregated fallback profile catches a missing prefill pool", "[pd]") {
  auto p = build(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: prefill-filter
- type: decode-filter
- type: queue-scorer
- type: always-disagg-pd-decider
- type: disagg-profile-handler
  parameters:
    profiles: {fallback: any}
    deciders: {prefill: always-disagg-pd-decider}
schedulingProfiles:
- name: prefill
  plugins: [{pluginRef: prefill-filter}, {pluginRef: queue-scorer}]
- name: decode
  plugins: [{pluginRef: decode-filter}, {pluginRef: queue-scorer}]
- name: any
  plugins: [{pluginRef: queue-scorer}]
)");
  add_role(*p, "d1", "decode");
  request_holder r(random_tokens(32, 6));
  auto result = p->schedule(r.req, 0);
  REQUIRE(result.ok());
  CHECK(result.primary_profile == "any");
  CHECK(result.disagg_decision == "aggregated-fallback");
  CHECK_FALSE(result.prefill);
}

TEST_CASE(
    "disagg: llm-d-router v0.10's deprecated flat parameters still name profiles and deciders",
    "[pd]") {
  const std::string head = R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: prefill-filter
- type: decode-filter
- type: queue-scorer
- type: always-disagg-pd-decider
- type: disagg-profile-handler
  parameters:
)";
  const std::string profiles = R"(
schedulingProfiles:
- name: pre
  plugins: [{pluginRef: prefill-filter}, {pluginRef: queue-scorer}]
- name: dec
  plugins: [{pluginRef: decode-filter}, {pluginRef: queue-scorer}]
)";
  auto p = build(head +
                 "    {decodeProfile: dec, prefillProfile: pre, "
                 "deciderPluginName: always-disagg-pd-decider}" +
                 profiles);
  add_role(*p, "p1", "prefill");
  add_role(*p, "d1", "decode");
  request_holder r(random_tokens(32, 9));
  auto result = p->schedule(r.req, 0);
  REQUIRE(result.ok());
  CHECK(result.primary_profile == "dec");
  REQUIRE(result.prefill);
  CHECK(result.prefill->name == "p1");
  // One format or the other, as v0.10 decodes them.
  CHECK_THAT(problems_of(head + "    {decodeProfile: dec, profiles: {prefill: pre}}" + profiles),
             Catch::Matchers::Contains("use one format"));
}

TEST_CASE("disagg: nonCachedTokens 0 disables disaggregation", "[pd]") {
  auto yaml = example("llm-d-pd-epp-config.yaml");
  auto pos = yaml.find("nonCachedTokens: 16");
  REQUIRE(pos != std::string::npos);
  yaml.replace(pos, 19, "nonCachedTokens: 0");
  auto p = build(yaml);
  add_role(*p, "p1", "prefill");
  add_role(*p, "d1", "decode");
  request_holder r(random_tokens(1000, 7));
  auto result = p->schedule(r.req, 0);
  REQUIRE(result.ok());
  CHECK_FALSE(result.prefill);
}

TEST_CASE("pd-profile-handler (v0.3): threshold on the uncached suffix", "[pd]") {
  auto config = [](int threshold) {
    return R"(
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: prefill-header-handler
- type: prefill-filter
- type: decode-filter
- type: prefix-cache-scorer
- type: max-score-picker
- type: pd-profile-handler
  parameters: {threshold: )" +
           std::to_string(threshold) + R"(, hashBlockSize: 5}
schedulingProfiles:
- name: prefill
  plugins: [{pluginRef: prefill-filter}, {pluginRef: max-score-picker},
            {pluginRef: prefix-cache-scorer, weight: 2}]
- name: decode
  plugins: [{pluginRef: decode-filter}, {pluginRef: max-score-picker},
            {pluginRef: prefix-cache-scorer, weight: 2}]
)";
  };
  // threshold 0: always P/D.
  auto always = build(config(0));
  add_role(*always, "p1", "prefill");
  add_role(*always, "d1", "decode");
  request_holder small(random_tokens(20, 8));
  auto r = always->schedule(small.req, 0);
  REQUIRE(r.ok());
  CHECK(r.prefill);
  // threshold 100: a 20-token prompt stays on decode, a 500-token one is split.
  auto gated = build(config(100));
  add_role(*gated, "p1", "prefill");
  add_role(*gated, "d1", "decode");
  CHECK_FALSE(gated->schedule(small.req, 0).prefill);
  request_holder big(random_tokens(500, 9));
  CHECK(gated->schedule(big.req, 0).prefill);
  // No prefill pod: v0.3 falls back to decode only.
  auto lonely = build(config(0));
  add_role(*lonely, "d1", "decode");
  auto fallback = lonely->schedule(big.req, 0);
  REQUIRE(fallback.ok());
  CHECK_FALSE(fallback.prefill);
  CHECK(fallback.disagg_decision == "decode-only");
}

TEST_CASE("precise prefix: a prompt whose blocks only pod B holds is routed to pod B",
          "[precise]") {
  auto p = build(example("precise-prefix.yaml"));
  for (auto name : {"pod-a", "pod-b", "pod-c"}) {
    p->add_endpoint(endpoint_info{name, "", {}});
    p->update_load(name, load(1, 0.3), 0);
  }
  auto system = random_tokens(64, 20);
  auto b_only = concat(system, random_tokens(256, 21));
  auto a_other = concat(system, random_tokens(256, 22));
  // Events arrive in both wire formats, through the decoder the actor uses.
  auto send = [&](const char* pod, const std::vector<uint32_t>& tokens, rt::event_format f) {
    auto payload = rt::encode_batch(batch_of({stored(tokens, 1000, std::nullopt)}), f);
    auto decoded = rt::decode_batch(payload);
    REQUIRE(decoded);
    p->apply_kv_events(pod, "m", *decoded, 0);
  };
  send("pod-a", a_other, rt::event_format::array);
  send("pod-b", b_only, rt::event_format::map);
  request_holder r(concat(b_only, random_tokens(30, 23)));
  for (int i = 0; i < 20; ++i) {
    auto result = p->schedule(r.req, i);
    REQUIRE(result.ok());
    CHECK(result.primary().name == "pod-b");
  }
  CHECK(p->metrics(0).precise_prefix_keys == 4 + 16 + 16);
  // After pod-b's cache is cleared (or its stream had a gap), it loses the advantage.
  p->clear_kv_index("pod-b");
  auto after = p->schedule(r.req, 30);
  REQUIRE(after.ok());
  CHECK(after.primary().name == "pod-a");  // still holds the system prompt
}
