// Picker replicas in the stack's configuration: how many a pool asks for (its
// inferstack.io/picker-replicas annotation), and which one a picker process is (--replica).
#include <catch2/catch.hpp>

#include "nodes/roles/picker_role.hpp"

using namespace inferstack;

namespace {

config::inference_pool pool_with(std::optional<std::string> replicas) {
  config::inference_pool pool;
  pool.meta.name = "p";
  pool.meta.namespace_ = "ns";
  pool.source.file = "stack.yaml";
  if (replicas) pool.meta.annotations["inferstack.io/picker-replicas"] = *replicas;
  return pool;
}

}  // namespace

TEST_CASE(
    "picker replicas: a pool's annotation sets how many, one without it, a bad value named with "
    "its file") {
  std::vector<std::string> problems;
  CHECK(nodes::picker_replicas_of(pool_with(std::nullopt), &problems) == 1);
  CHECK(nodes::picker_replicas_of(pool_with("3"), &problems) == 3);
  CHECK(nodes::picker_replicas_of(pool_with("16"), &problems) == 16);
  CHECK(problems.empty());
  for (const char* bad : {"0", "17", "three", "-1", "", "3.0"}) {
    problems.clear();
    CHECK(nodes::picker_replicas_of(pool_with(bad), &problems) == 1);
    REQUIRE(problems.size() == 1);
    CHECK(problems.front() ==
          std::string("stack.yaml: InferencePool ns/p: metadata.annotations.inferstack.io/"
                      "picker-replicas: '") +
              bad + "' is not a number of replicas from 1 to 16");
  }
}

TEST_CASE("picker replicas: --replica is an index or a StatefulSet pod's name ending in one") {
  CHECK(nodes::parse_replica("0") == 0);
  CHECK(nodes::parse_replica("2") == 2);
  CHECK(nodes::parse_replica("llama-3-1-8b-epp-2") == 2);
  CHECK_FALSE(nodes::parse_replica("llama-epp"));
  CHECK_FALSE(nodes::parse_replica("epp-"));
  CHECK_FALSE(nodes::parse_replica(""));
  CHECK(nodes::picker_replica_name("team-a/llama", 1) == "team-a/llama#1");
}
