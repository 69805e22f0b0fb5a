// prefix-cache-scorer's mode (llm-d-inference-scheduler v0.2): estimate builds the approximate
// scorer, cache_tracking the precise scorer over the pods' KV events with the indexerConfig's
// block size and hash seed; a wrong mode, or the other mode's parameters, are refused by name.
#include <catch2/catch.hpp>

#include "actors/picker/scheduling/scorers.hpp"
#include "tests/actors/picker/scheduling/picker_test_util.hpp"

using namespace picker_test;
using Catch::Matchers::Contains;

namespace {

const char* header = "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n";

std::string yaml(const std::string& body) {
  return std::string(header) + body;
}

}  // namespace

TEST_CASE(
    "prefix-cache-scorer mode cache_tracking is the precise scorer with the indexer's "
    "block size and seed",
    "[config][prefix]") {
  auto p = build(yaml(R"(
plugins:
- type: prefix-cache-scorer
  parameters:
    mode: cache_tracking
    indexerConfig:
      tokenProcessorConfig: {blockSize: 64, hashSeed: "42"}
      kvBlockIndexConfig: {enableMetrics: true, metricsLoggingInterval: 60000000000}
)"));
  auto* scorer = dynamic_cast<precise_prefix_scorer*>(scorer_named(*p, "prefix-cache-scorer"));
  REQUIRE(scorer);
  REQUIRE(p->prefix_producers().size() == 1);
  CHECK(p->prefix_producers()[0] == scorer->producer());
  CHECK(scorer->producer()->settings().index.block_size == 64);
  CHECK(scorer->producer()->settings().index.hash_seed == "42");
  CHECK(p->uses_kv_events());
  // Its keys are those of a pod engine with block-size 64 and hash-seed "42" (kv_cache.cpp).
  rt::kv_block_keys pod_keys(64, "42"), other_seed(64, "");
  std::vector<uint32_t> tokens(128, 7);
  const auto& keys = scorer->producer()->index().block_keys();
  CHECK(keys.keys(tokens, "m") == pod_keys.keys(tokens, "m"));
  CHECK(keys.keys(tokens, "m") != other_seed.keys(tokens, "m"));
}

TEST_CASE("prefix-cache-scorer mode estimate, given or not, is the approximate scorer",
          "[config][prefix]") {
  for (const char* params : {"{}", "{mode: estimate}", "{mode: estimate, hashBlockSize: 64}"}) {
    INFO(params);
    auto p = build(
        yaml(std::string("plugins:\n- type: prefix-cache-scorer\n  parameters: ") + params + "\n"));
    CHECK(dynamic_cast<prefix_cache_scorer*>(scorer_named(*p, "prefix-cache-scorer")));
    REQUIRE(p->prefix_producers().size() == 1);
    CHECK(dynamic_cast<approx_prefix_producer*>(p->prefix_producers()[0]));
    CHECK_FALSE(p->uses_kv_events());
  }
}

TEST_CASE("prefix-cache-scorer refuses an unknown mode naming the field", "[config][prefix]") {
  auto text = problems_of(yaml(R"(
plugins:
- type: prefix-cache-scorer
  parameters:
    mode: exact
    indexerConfig: {tokenProcessorConfig: {blockSize: 64}}
)"));
  CHECK_THAT(text, Contains("field 'plugins[0].parameters.mode'"));
  CHECK_THAT(text, Contains("'exact' is not one of: cache_tracking, estimate"));
  // The mode is the one problem: its parameters are not reported again.
  CHECK(text.find("indexerConfig") == std::string::npos);
}

TEST_CASE("prefix-cache-scorer refuses the other mode's parameters by name", "[config][prefix]") {
  auto precise_in_estimate = problems_of(yaml(R"(
plugins:
- type: prefix-cache-scorer
  parameters: {indexerConfig: {tokenProcessorConfig: {blockSize: 64}}}
)"));
  CHECK_THAT(precise_in_estimate, Contains("field 'plugins[0].parameters.indexerConfig'"));
  CHECK_THAT(precise_in_estimate, Contains("is read with mode: cache_tracking only"));
  auto estimate_in_precise = problems_of(yaml(R"(
plugins:
- type: prefix-cache-scorer
  parameters: {mode: cache_tracking, hashBlockSize: 64}
)"));
  CHECK_THAT(estimate_in_precise, Contains("field 'plugins[0].parameters.hashBlockSize'"));
  CHECK_THAT(estimate_in_precise, Contains("is not read with mode: cache_tracking"));
  // Unknown keys stay unknown in either mode.
  CHECK_THAT(problems_of(yaml("plugins:\n- type: prefix-cache-scorer\n  parameters: "
                              "{mode: cache_tracking, indexerConfig: {colour: red}}\n")),
             Contains("field 'plugins[0].parameters.indexerConfig.colour'"));
}

TEST_CASE("metricsLoggingInterval reads an integer as Go's nanoseconds or a duration",
          "[config][prefix]") {
  for (const char* interval : {"60000000000", "1m"}) {
    INFO(interval);
    build(yaml(std::string("plugins:\n- type: precise-prefix-cache-scorer\n  parameters: "
                           "{indexerConfig: {kvBlockIndexConfig: {metricsLoggingInterval: ") +
               interval + "}}}\n"));
  }
  CHECK_THAT(problems_of(yaml("plugins:\n- type: precise-prefix-cache-scorer\n  parameters: "
                              "{indexerConfig: {kvBlockIndexConfig: {metricsLoggingInterval: "
                              "often}}}\n")),
             Contains("metricsLoggingInterval"));
}
