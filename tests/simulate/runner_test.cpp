// set_of_pod: the InferenceSet a pod's name belongs to, the longest set name that ends at a '-'.
#include "simulate/runner.hpp"

#include <catch2/catch.hpp>

using namespace inferstack::simulate;

TEST_CASE("set_of_pod takes the longest set name that ends at a dash before the pod's number") {
  std::map<std::string, set_facts> sets = {{"ns/a", {"ns/pool-a", 1}},
                                           {"ns/a-b", {"ns/pool-b", 2}}};
  CHECK(set_of_pod("ns/a-0", sets) == "ns/a");
  CHECK(set_of_pod("ns/a-12", sets) == "ns/a");
  CHECK(set_of_pod("ns/a-b-0", sets) == "ns/a-b");
  CHECK(set_of_pod("ns/a-b-c-3", sets) == "ns/a-b");
  CHECK(set_of_pod("ns/a-c-1", sets) == "ns/a");
  // A set whose name is only a prefix of the pod's, not up to a '-', is not its set.
  CHECK(set_of_pod("ns/ab-0", sets) == "");
  CHECK(set_of_pod("ns/a-bc-0", sets) == "ns/a");
  // Nothing after the dash, the set's name alone, another namespace, no pod.
  CHECK(set_of_pod("ns/a-", sets) == "");
  CHECK(set_of_pod("ns/a", sets) == "");
  CHECK(set_of_pod("other/a-0", sets) == "");
  CHECK(set_of_pod("", sets) == "");
  CHECK(set_of_pod("ns/a-0", {}) == "");
  // Without the shorter set, its pods belong to none.
  std::map<std::string, set_facts> only_long = {{"ns/a-b", {}}};
  CHECK(set_of_pod("ns/a-b-0", only_long) == "ns/a-b");
  CHECK(set_of_pod("ns/a-0", only_long) == "");
}
