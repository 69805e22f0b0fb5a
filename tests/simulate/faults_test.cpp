// The faults file: a good file loads sorted by time with the ends of faults that have a `for`,
// and each bad entry gets one error naming its line and field.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "simulate/faults.hpp"

using namespace inferstack::simulate;
using namespace std::chrono_literals;

namespace {

workload_error error_of(const std::string& text) {
  try {
    load_faults_text(text, "faults.yaml");
  } catch (const workload_error& e) {
    return e;
  }
  FAIL("no error for:\n" << text);
  throw;  // not reached
}

const char* good = R"(faults:
- at: 60s
  kill_pod: team-a/llama-3-1-8b-1
- at: 90s
  lose_node: a100-2
- at: 30s
  cut_kv_events: team-a/llama-3-1-8b-0
  for: 20s
- at: 40s
  freeze_pod: team-a/llama-3-1-8b-0
  for: 500ms
- at: 1.5m
  set_replicas: team-a/llama-3-1-8b
  replicas: 4
- at: 50s
  cut_kv_events: team-a/llama-3-1-8b-2
)";

using kind = fault::kind;

}  // namespace

TEST_CASE("faults: a good file loads sorted by time, with the ends of faults that last") {
  auto faults = load_faults_text(good, "faults.yaml");
  std::vector<fault> expected{
      {30s, kind::cut_kv_events, "team-a/llama-3-1-8b-0", 0, 2},
      {40s, kind::freeze_pod, "team-a/llama-3-1-8b-0", 0, 3},
      {40500ms, kind::unfreeze_pod, "team-a/llama-3-1-8b-0", 0, 3},
      // The cut's end and the later cut fall on the same time: the file's order.
      {50s, kind::restore_kv_events, "team-a/llama-3-1-8b-0", 0, 2},
      {50s, kind::cut_kv_events, "team-a/llama-3-1-8b-2", 0, 5},
      {60s, kind::kill_pod, "team-a/llama-3-1-8b-1", 0, 0},
      {90s, kind::lose_node, "a100-2", 0, 1},
      {90s, kind::set_replicas, "team-a/llama-3-1-8b", 4, 4},
  };
  CHECK(faults == expected);
  CHECK(describe(faults[7]) == "90.000 s: set_replicas team-a/llama-3-1-8b to 4");
  CHECK(describe(faults[2]) == "40.500 s: unfreeze_pod team-a/llama-3-1-8b-0");
}

TEST_CASE("faults: the file is read from disk, and an empty list is no faults") {
  auto path = (std::filesystem::temp_directory_path() /
               ("inferstack-faults-" + std::to_string(getpid()) + ".yaml"))
                  .string();
  {
    std::ofstream out(path);
    out << good;
  }
  CHECK(load_faults(path).size() == 8);
  std::filesystem::remove(path);
  CHECK(load_faults_text("faults: []\n", "f.yaml").empty());
  CHECK(load_faults_text("faults:\n", "f.yaml").empty());
  auto missing = std::string("/nonexistent/faults.yaml");
  CHECK_THROWS_WITH(load_faults(missing), missing + ": cannot open the file");
}

TEST_CASE("faults: durations take ms, s and m, with fractions") {
  auto one = [](const std::string& at) {
    return load_faults_text("faults:\n- at: " + at + "\n  kill_pod: a/b\n", "f.yaml").at(0).at;
  };
  CHECK(one("500ms") == 500ms);
  CHECK(one("1.5s") == 1500ms);
  CHECK(one("2m") == 120s);
  CHECK(one("0s") == 0s);
  CHECK(one("0.25ms") == 250us);
}

TEST_CASE("faults: each bad file gets one error naming its line and field") {
  struct bad_case {
    std::string text;
    size_t line;
    std::string field;
    std::string problem;  ///< part of the message
  };
  std::vector<bad_case> cases{
      {"faults: [\n", 2, "", "YAML syntax"},
      {"- at: 1s\n", 1, "", "expected a mapping with a list 'faults'"},
      {"fault:\n- at: 1s\n", 1, "fault", "unknown field"},
      {"other: 1\n", 1, "other", "unknown field"},
      {"faults: 3\n", 1, "faults", "expected a list"},
      {"faults:\n- kill_pod: a/b\n", 2, "faults[0].at", "missing field"},
      {"faults:\n- at: 1s\n  kill_pod: a/b\n- at: 2s\n", 4, "faults[1]", "no action"},
      {"faults:\n- 3\n", 2, "faults[0]", "expected a mapping"},
      {"faults:\n- at: 1s\n  kill_pod: a/b\n  lose_node: n\n", 4, "faults[0].lose_node",
       "one action per entry: this one has kill_pod too"},
      {"faults:\n- at: 1s\n  reboot_pod: a/b\n", 3, "faults[0].reboot_pod", "unknown field"},
      {"faults:\n- at: 1s\n  kill_pod: a/b\n  when: 3s\n", 4, "faults[0].when", "unknown field"},
      {"faults:\n- at: -5s\n  kill_pod: a/b\n", 2, "faults[0].at", "must not be negative"},
      {"faults:\n- at: 60\n  kill_pod: a/b\n", 2, "faults[0].at", "give a unit (ms, s, m)"},
      {"faults:\n- at: 5h\n  kill_pod: a/b\n", 2, "faults[0].at", "unknown unit 'h'"},
      {"faults:\n- at: soon\n  kill_pod: a/b\n", 2, "faults[0].at", "bad duration 'soon'"},
      {"faults:\n- at: [1s]\n  kill_pod: a/b\n", 2, "faults[0].at", "expected a duration"},
      {"faults:\n- at: 1s\n  freeze_pod: a/b\n  for: 1x\n", 4, "faults[0].for", "unknown unit"},
      {"faults:\n- at: 1s\n  freeze_pod: a/b\n  for: -1s\n", 4, "faults[0].for",
       "must not be negative"},
      {"faults:\n- at: 1s\n  freeze_pod: a/b\n  for: 0s\n", 4, "faults[0].for", "must be positive"},
      {"faults:\n- at: 1s\n  kill_pod: a/b\n  for: 2s\n", 4, "faults[0].for",
       "kill_pod takes no for"},
      {"faults:\n- at: 1s\n  kill_pod: llama-0\n", 3, "faults[0].kill_pod",
       "'llama-0' is no pod name: expected <namespace>/<name>"},
      {"faults:\n- at: 1s\n  cut_kv_events: a/b/c\n", 3, "faults[0].cut_kv_events",
       "is no pod name"},
      {"faults:\n- at: 1s\n  lose_node:\n", 3, "faults[0].lose_node", "no value"},
      {"faults:\n- at:\n  kill_pod: a/b\n", 2, "faults[0].at", "no value"},
      {"faults:\n- at: 1s\n  lose_node: ''\n", 3, "faults[0].lose_node", "expected a name"},
      {"faults:\n- at: 1s\n  set_replicas: team-a/llama\n", 2, "faults[0].replicas",
       "missing field"},
      {"faults:\n- at: 1s\n  set_replicas: team-a/llama\n  replicas: many\n", 4,
       "faults[0].replicas", "expected an integer"},
      {"faults:\n- at: 1s\n  set_replicas: team-a/llama\n  replicas: -1\n", 4, "faults[0].replicas",
       "must not be negative"},
      {"faults:\n- at: 1s\n  set_replicas: llama\n  replicas: 2\n", 3, "faults[0].set_replicas",
       "is no InferenceSet name"},
      {"faults:\n- at: 1s\n  kill_pod: a/b\n  replicas: 2\n", 4, "faults[0].replicas",
       "only set_replicas takes replicas"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto e = error_of(c.text);
    CHECK(e.file() == "faults.yaml");
    CHECK(e.line() == c.line);
    CHECK(e.field() == c.field);
    CHECK_THAT(e.what(), Catch::Contains(c.problem));
  }
}

TEST_CASE("faults: the kaito-dev scenario's fault timeline loads") {
  auto faults = load_faults(INFERSTACK_SOURCE_DIR "/config/scenarios/kaito-dev/node-loss.yaml");
  std::vector<fault> expected{
      {60s, kind::freeze_pod, "team-a/llama-3-1-8b-2", 0, 0},
      {70s, kind::unfreeze_pod, "team-a/llama-3-1-8b-2", 0, 0},
      {150s, kind::lose_node, "a100-1", 0, 1},
  };
  CHECK(faults == expected);
}

TEST_CASE("faults: node commands -- reclaim_node, cordon_node, uncordon_node name a node") {
  auto faults = load_faults_text(R"(faults:
- at: 120s
  reclaim_node: h100-spot-0
- at: 10s
  cordon_node: h100-1
- at: 20s
  uncordon_node: h100-1
)",
                                 "faults.yaml");
  std::vector<fault> expected{{10s, kind::cordon_node, "h100-1", 0, 1},
                              {20s, kind::uncordon_node, "h100-1", 0, 2},
                              {120s, kind::reclaim_node, "h100-spot-0", 0, 0}};
  CHECK(faults == expected);
  CHECK(describe(faults[2]) == "120.000 s: reclaim_node h100-spot-0");
  auto e = error_of("faults:\n- at: 1s\n  reclaim_node: a100-0\n  for: 5s\n");
  CHECK(std::string(e.what()).find("reclaim_node takes no for") != std::string::npos);
}
