// Nodes lost under load, in virtual time: a whole stack_process (gateway pipeline, picker,
// controller, node mocker, pods) on CAF's deterministic scheduler, a steady stream of requests
// from simulate's runner, and a node taken away mid-run -- with a spot reclaim notice (its pod
// drains: no request is lost) or without one (the requests it held are lost and counted).
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>

#include <prometheus/registry.h>
#include <spdlog/logger.h>

#include "nodes/simulate_faults.hpp"
#include "nodes/stack_process.hpp"
#include "protocol/registration.hpp"
#include "runtime/local_transport.hpp"
#include "runtime/simulation.hpp"
#include "simulate/runner.hpp"

using namespace inferstack;
using namespace std::chrono_literals;
using kind = simulate::fault::kind;

namespace {

// Three 1-GPU spot nodes, two replicas (llama-0 on spot-0, llama-1 on spot-1), one spare; a
// request takes 0.2 s to its first token and 0.1 s per token after it.
const char* stack_yaml = R"(apiVersion: inferstack.io/v1alpha1
kind: NodePool
metadata: {name: spot}
spec: {instanceType: Standard_NC24ads_A100_v4, count: 3, capacityType: spot, reclaimNotice: 30s}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {name: tiny}
spec:
  gpus: 1
  loadTime: 20s
  warmLoadTime: 4s
  engine: {time-to-first-token: "200ms", inter-token-latency: "100ms", block-size: "16"}
---
apiVersion: kaito.sh/v1alpha1
kind: APIKey
metadata: {name: open, namespace: team-a}
spec: {authDisabled: true}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {name: llama, namespace: team-a}
spec:
  replicas: 2
  labelSelector: {matchLabels: {app: llama}}
  template:
    metadata: {labels: {app: llama}}
    resource: {instanceType: Standard_NC24ads_A100_v4}
    inference: {preset: {name: tiny}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: llama, namespace: team-a}
spec: {selector: {matchLabels: {app: llama}}, targetPorts: [{number: 8000}], endpointPickerRef: {name: llama-epp}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: llama, namespace: team-a}
spec:
  rules:
  - matches:
    - headers:
      - {type: Exact, name: X-Gateway-Model-Name, value: tiny}
    backendRefs:
    - {group: inference.networking.k8s.io, kind: InferencePool, name: llama}
)";

/// A request every 250 ms for 60 s, 20 output tokens each (about 2.1 s on a pod); every other
/// one streamed.
simulate::workload steady() {
  simulate::workload w;
  for (int i = 0; i < 240; ++i) {
    simulate::workload_request r;
    r.arrival = std::chrono::milliseconds(250 * i);
    r.ns = "team-a";
    r.model = "tiny";
    r.stream = i % 2 == 1;
    r.prompt_tokens = 64;
    r.max_tokens = 20;
    r.ignore_eos = true;
    w.requests.push_back(r);
  }
  return w;
}

struct loaded_stack {
  runtime::simulation sim{protocol::register_messages};
  runtime::local_transport transport{"test"};
  std::shared_ptr<spdlog::logger> log = std::make_shared<spdlog::logger>("test");
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<nodes::stack_process> stack;

  loaded_stack() {
    config::load_result loaded;
    config::load_text(stack_yaml, "stack.yaml", loaded);
    for (const auto& p : loaded.problems)
      FAIL(p.message);
    nodes::stack_options options;
    options.profiles_dir = INFERSTACK_SOURCE_DIR "/config/profiles";
    options.virtual_time = true;
    options.unix_seconds = [] { return int64_t{1767225600}; };
    options.generate_key = [] { return std::string("sk-test"); };
    stack = std::make_unique<nodes::stack_process>(sim.sys, transport, loaded.config, options, log,
                                                   registry);
    stack->start();
    sim.advance_time(5s);
  }

  ~loaded_stack() {
    stack->stop(0s);
    stack.reset();
    sim.run();
  }

  /// The gateway's retries on another pod so far.
  double retries() {
    for (const auto& family : registry->Collect())
      if (family.name == "inferstack_gateway_retries_total") {
        double sum = 0;
        for (const auto& m : family.metric)
          sum += m.counter.value;
        return sum;
      }
    return 0;
  }

  /// Runs the workload with one fault on `node` at 10 s.
  simulate::run_outcome run(const simulate::workload& w, kind action, const std::string& node) {
    simulate::stack_handles handles;
    handles.sim = &sim;
    handles.pipeline = stack->pipeline();
    handles.transport = &transport;
    handles.controller = caf::actor_cast<caf::actor>(stack->controller());
    handles.default_ns = "team-a";
    handles.default_model = "tiny";
    handles.api_key = [](const std::string&) { return std::string(); };
    handles.pool_of_model = [](const std::string&, const std::string&) {
      return std::string("team-a/llama");
    };
    handles.sets["team-a/llama"] = {"team-a/llama", 1};
    nodes::stack_faults faults(sim.sys, *stack, log);
    simulate::fault f;
    f.at = 10s;
    f.action = action;
    f.target = node;
    std::vector<simulate::timed_action> actions{
        {f.at, simulate::describe(f), [&faults, f] { return faults.apply(f); }}};
    simulate::run_settings rs;
    rs.progress = false;
    rs.drain = std::chrono::minutes(2);
    return simulate::run_workload(w, actions, handles, rs);
  }
};

using record = simulate::request_record;

size_t count_if(const simulate::run_outcome& out, const std::function<bool(const record&)>& pred) {
  return static_cast<size_t>(std::count_if(out.run.requests.begin(), out.run.requests.end(), pred));
}

}  // namespace

TEST_CASE("a spot reclaim with 30 s notice under load loses no non-streamed request") {
  loaded_stack s;
  auto out = s.run(steady(), kind::reclaim_node, "spot-0");  // llama-0's node
  CHECK(out.notes.empty());
  REQUIRE(out.run.requests.size() == 240);
  // Nothing lost, streamed or not, and nothing had to be retried: llama-0 left its pool at the
  // notice and finished what it held while it drained.
  CHECK(count_if(out, [](const record& r) { return r.outcome == "ok"; }) == 240);
  CHECK(s.retries() == 0);
  auto on = [&](const std::string& pod) {
    return count_if(out, [&](const record& r) { return r.pod == pod; });
  };
  CHECK(on("team-a/llama-0") > 0);
  CHECK(on("team-a/llama-2") > 0);  // the replacement, on the spare node once loaded (20 s)
  // Requests llama-0 held at the notice ended there, after it; none came after it.
  CHECK(count_if(out, [](const record& r) {
          return r.pod == "team-a/llama-0" && r.arrival_ns < 10'000'000'000 &&
                 r.arrival_ns + r.e2e_ns > 10'000'000'000;
        }) > 0);
  CHECK(count_if(out, [](const record& r) {
          return r.pod == "team-a/llama-0" && r.arrival_ns >= 10'000'000'000;
        }) == 0);
}

TEST_CASE("a sudden node failure under load: the requests it held are lost and counted") {
  loaded_stack s;
  auto out = s.run(steady(), kind::lose_node, "spot-0");
  CHECK(out.notes.empty());
  REQUIRE(out.run.requests.size() == 240);
  // The streams llama-0 had begun break (a request takes 2.1 s, one arrives every 250 ms, half
  // of them to llama-0 and half of those streamed: two or three); the non-streamed requests it
  // held had sent nothing yet and are retried on llama-1.
  auto lost = count_if(out, [](const record& r) { return r.outcome != "ok"; });
  CHECK(lost >= 2);
  CHECK(lost <= 3);
  CHECK(count_if(out, [](const record& r) {
          return r.outcome == "stream_error" && r.pod == "team-a/llama-0" &&
                 r.arrival_ns < 10'000'000'000 && r.arrival_ns > 7'000'000'000;
        }) == lost);
  CHECK(s.retries() >= 1);
}
