// The picker actor in virtual time: membership, picks, load reports, KV events in vLLM's wire
// format (with sequence gaps), failures, and the GAIE metrics it exports.
#include <catch2/catch.hpp>

#include "actors/picker/picker_actor.hpp"
#include "protocol/registration.hpp"
#include "runtime/kv_block_keys.hpp"
#include "runtime/kv_events.hpp"
#include "runtime/metrics.hpp"
#include "runtime/tokenizer.hpp"
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

const char* precise_yaml = R"(
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: precise-prefix-cache-scorer
  parameters:
    tokenProcessorConfig: {blockSize: 16}
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: precise-prefix-cache-scorer
    weight: 1
  - pluginRef: max-score-picker
)";

pool_membership two_pods() {
  return {"team-a/llama",
          {{"pod-a", "actor:pod/a", "10.0.0.1:8000", {}, true, false, {}, {}, {}},
           {"pod-b", "actor:pod/b", "10.0.0.2:8000", {}, true, false, {}, {}, {}}}};
}

struct picker_fixture : testing::caf_fixture {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();

  /// The pool's picker settings with `cfg`.
  static picker_settings settings(std::shared_ptr<const config::picker_config> cfg) {
    picker_settings s;
    s.pool = "team-a/llama";
    s.config = std::move(cfg);
    s.seed = 7;
    return s;
  }

  picker_impl_actor start(std::shared_ptr<const config::picker_config> cfg) {
    auto p = spawn_picker(sys, settings(std::move(cfg)), {registry, nullptr});
    run();
    return p;
  }

  caf::expected<chosen_pod> pick(const picker_impl_actor& p, std::vector<uint32_t> tokens,
                                 std::vector<std::string> exclude = {}) {
    choose_pod req;
    req.request_id = "r" + std::to_string(++n);
    req.model = "llama";
    req.tokens = std::move(tokens);
    req.exclude = std::move(exclude);
    return request<chosen_pod>(caf::actor_cast<picker_actor>(p), req);
  }

  bool has_metric(const std::string& name) {
    for (const auto& f : registry->Collect())
      if (f.name == name && !f.metric.empty()) return true;
    return false;
  }

  int n = 0;
};

std::vector<uint32_t> prompt_tokens(int count, uint32_t base) {
  std::vector<uint32_t> t(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i)
    t[static_cast<size_t>(i)] = base + static_cast<uint32_t>(i);
  return t;
}

/// A BlockStored message as a vLLM pod at `address` publishes it, in `format`.
actors::pod::kv_event_message stored_blocks(
    const std::string& address, uint64_t seq, const std::vector<uint32_t>& tokens,
    runtime::event_format format = runtime::event_format::array) {
  runtime::kv_block_keys keys(16);
  runtime::block_stored stored;
  stored.block_hashes = keys.keys(tokens, "llama");
  stored.token_ids.assign(tokens.begin(), tokens.begin() + stored.block_hashes.size() * 16);
  stored.block_size = 16;
  runtime::event_batch batch;
  batch.ts = 1.0;
  batch.events.push_back(stored);
  batch.data_parallel_rank = 0;
  return {"kv@" + address + "@llama", seq, runtime::encode_batch(batch, format)};
}

}  // namespace

TEST_CASE_METHOD(picker_fixture, "a prompt whose blocks only pod B holds is routed to pod B") {
  auto p = start(config_from(precise_yaml));
  caf::anon_send(p, two_pods());
  run();
  auto tokens = prompt_tokens(128, 1000);
  caf::anon_send(p, stored_blocks("10.0.0.2:8000", 0, tokens));
  run();
  for (int i = 0; i < 5; ++i) {
    auto chosen = pick(p, tokens);
    REQUIRE(chosen);
    CHECK(chosen->pod == "pod-b");
    CHECK(chosen->endpoint == "actor:pod/b");
  }
  CHECK(has_metric("inference_extension_scheduler_attempts_total"));
  CHECK(has_metric("inference_objective_request_total"));
  CHECK(has_metric("inference_extension_scheduler_e2e_duration_seconds"));
}

TEST_CASE_METHOD(
    picker_fixture,
    "KV events in vLLM's named-field (map) encoding steer picks as the array ones do") {
  auto p = start(config_from(precise_yaml));
  caf::anon_send(p, two_pods());
  run();
  auto tokens = prompt_tokens(128, 3000);
  caf::anon_send(p, stored_blocks("10.0.0.1:8000", 0, tokens, runtime::event_format::map));
  run();
  for (int i = 0; i < 20; ++i)  // without the events: either pod, ties broken at random
    CHECK(pick(p, tokens)->pod == "pod-a");
}

TEST_CASE_METHOD(picker_fixture, "a sequence gap resets the pod's index entries") {
  auto p = start(config_from(precise_yaml));
  caf::anon_send(p, two_pods());
  auto tokens = prompt_tokens(64, 5000);
  caf::anon_send(p, stored_blocks("10.0.0.2:8000", 0, tokens));
  run();
  REQUIRE(pick(p, tokens)->pod == "pod-b");
  // batch 1 is lost; batch 2 stores something unrelated: B's old blocks can no longer be trusted
  caf::anon_send(p, stored_blocks("10.0.0.2:8000", 2, prompt_tokens(32, 90000)));
  run();
  std::set<std::string> chosen;
  for (int i = 0; i < 20; ++i)
    chosen.insert(pick(p, tokens)->pod);
  CHECK(chosen.size() == 2);  // no preference left: ties broken at random
}

TEST_CASE_METHOD(picker_fixture, "load reports steer the default config, retries exclude pods") {
  auto p = start(nullptr);  // llm-d default: prefix 3, queue 2, kv 2
  caf::anon_send(p, two_pods());
  actors::pod::load_report busy;
  busy.pod = "pod-a";
  busy.waiting = 20;
  busy.running = 8;
  busy.kv_usage = 0.9;
  busy.max_num_seqs = 8;
  actors::pod::load_report idle = busy;
  idle.pod = "pod-b";
  idle.waiting = 0;
  idle.running = 0;
  idle.kv_usage = 0.0;
  caf::anon_send(p, busy);
  caf::anon_send(p, idle);
  run();
  CHECK(pick(p, prompt_tokens(40, 7))->pod == "pod-b");
  // a retry excludes the pod that failed
  CHECK(pick(p, prompt_tokens(40, 7), {"pod-b"})->pod == "pod-a");
}

TEST_CASE_METHOD(picker_fixture,
                 "an InferenceObjective's TTFT objective applies unless the "
                 "request names its own: a sheddable request nobody can serve "
                 "in time is refused") {
  picker_settings s;
  s.pool = "team-a/llama";
  s.config = config_from(R"(
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
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
)");
  s.objective_priorities = {{"tight", -1}, {"loose", -1}};
  s.objective_slos = {{"tight", {20, 0}}};  // 20 ms: less than one prefill step
  auto p = spawn_picker(sys, s, {registry, nullptr});
  run();
  caf::anon_send(p, two_pods());
  for (const char* name : {"pod-a", "pod-b"}) {
    actors::pod::load_report r;  // busy (not idle), not saturated, the 8b-h100 step profile
    r.pod = name;
    r.running = 2;
    r.step_overhead_ns = 11.8e6;
    r.prefill_overhead_ns = 18.2e6;
    r.prefill_ns_per_token = 250e3;
    r.decode_ns_per_sequence = 50e3;
    r.attention_ns_per_kv_token = 75;
    caf::anon_send(p, r);
  }
  run();
  auto ask = [&](std::string objective, double ttft_ms) {
    choose_pod req;
    req.request_id = "r" + std::to_string(++n);
    req.model = "llama";
    req.tokens = prompt_tokens(100, 3);
    req.objective = std::move(objective);
    req.slo_ttft_ms = ttft_ms;
    return request<chosen_pod>(caf::actor_cast<picker_actor>(p), req);
  };
  auto refused = ask("tight", 0);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == caf::make_error(picker_errc::slo_unattainable));
  CHECK(ask("loose", 0));     // no objective: sent
  CHECK(ask("tight", 5000));  // the request's own objective wins over the default
}

TEST_CASE_METHOD(picker_fixture,
                 "a LoRA request goes to the pod whose load report holds its adapter") {
  auto p = start(config_from(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: lora-affinity-scorer
- type: queue-scorer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: lora-affinity-scorer
    weight: 2
  - pluginRef: queue-scorer
    weight: 1
  - pluginRef: max-score-picker
)"));
  caf::anon_send(p, two_pods());
  auto report = [](std::string pod, std::string adapter) {
    actors::pod::load_report r;
    r.pod = std::move(pod);
    r.model = "llama";
    r.max_num_seqs = 8;
    r.max_loras = 1;
    r.lora_residency = true;
    r.gpu_loras = {adapter};
    r.cpu_loras = {adapter};
    return r;
  };
  // pod-a has the longer queue: only residency sends "sql" there.
  auto a = report("pod-a", "sql");
  a.waiting = 2;
  caf::anon_send(p, a);
  caf::anon_send(p, report("pod-b", "fr"));
  run();
  auto pick_model = [&](std::string model) {
    choose_pod req;
    req.request_id = "r" + std::to_string(++n);
    req.model = std::move(model);
    req.tokens = prompt_tokens(40, 7);
    auto got = request<chosen_pod>(caf::actor_cast<picker_actor>(p), req);
    REQUIRE(got);
    return got->pod;
  };
  for (int i = 0; i < 3; ++i) {
    CHECK(pick_model("sql") == "pod-a");
    CHECK(pick_model("fr") == "pod-b");
  }
}

TEST_CASE_METHOD(picker_fixture, "an empty pool answers no_endpoints") {
  auto p = start(nullptr);
  auto chosen = pick(p, prompt_tokens(16, 1));
  REQUIRE_FALSE(chosen);
  CHECK(chosen.error() == picker_errc::no_endpoints);
  caf::anon_send(p, two_pods());
  run();
  CHECK(pick(p, prompt_tokens(16, 1)));
  caf::anon_send(p, pool_membership{"team-a/llama", {}});
  run();
  CHECK_FALSE(pick(p, prompt_tokens(16, 1)));
}

TEST_CASE_METHOD(picker_fixture,
                 "a picker that awaits its membership refuses picks with not_ready until the "
                 "first membership arrives") {
  picker_settings s;
  s.pool = "team-a/llama";
  s.await_membership = true;  // as in a picker process, which may have just restarted
  auto p = spawn_picker(sys, s, {registry, nullptr});
  run();
  // Load reports and KV events do not tell it its pool.
  actors::pod::load_report report;
  report.pod = "pod-a";
  caf::anon_send(p, report);
  run();
  auto early = pick(p, prompt_tokens(16, 1));
  REQUIRE_FALSE(early);
  CHECK(early.error() == picker_errc::not_ready);
  caf::anon_send(p, two_pods());
  run();
  auto chosen = pick(p, prompt_tokens(16, 1));
  REQUIRE(chosen);
  CHECK((chosen->pod == "pod-a" || chosen->pod == "pod-b"));
  // Once it knows its pool, an empty pool is an answer of its own: no_endpoints.
  caf::anon_send(p, pool_membership{"team-a/llama", {}});
  run();
  auto empty = pick(p, prompt_tokens(16, 1));
  REQUIRE_FALSE(empty);
  CHECK(empty.error() == picker_errc::no_endpoints);
}

TEST_CASE_METHOD(picker_fixture,
                 "pool gauges and the picks' histograms are exported on the metrics tick") {
  auto p = start(nullptr);
  caf::anon_send(p, two_pods());
  run();
  for (int i = 0; i < 3; ++i)
    REQUIRE(pick(p, prompt_tokens(32, 100)));
  advance_time(std::chrono::seconds(2));
  auto picks_observed = [&](const std::string& name) -> uint64_t {
    uint64_t count = 0;
    for (const auto& f : registry->Collect())
      if (f.name == name)
        for (const auto& m : f.metric)
          count = std::max(count, m.histogram.sample_count);
    return count;
  };
  CHECK(picks_observed("inference_extension_scheduler_e2e_duration_seconds") == 3);
  // llm-d-router v0.10's scheduling histogram: the same picks, in its buckets.
  CHECK(picks_observed("llm_d_epp_scheduler_e2e_duration_seconds") == 3);
  for (const auto& f : registry->Collect())
    if (f.name == "llm_d_epp_scheduler_e2e_duration_seconds")
      CHECK(f.metric.at(0).histogram.bucket.size() == 11);  // 10 bounds and +Inf
  // /metrics has the pool's families under llm-d's llm_d_epp_* names too.
  auto text = inferstack::runtime::render_metrics(*registry);
  for (const char* name :
       {"llm_d_epp_ready_endpoints", "llm_d_epp_per_endpoint_queue_size",
        "llm_d_epp_average_kv_cache_utilization", "llm_d_epp_average_queue_size",
        "llm_d_epp_flow_control_pool_saturation", "llm_d_epp_prefix_indexer_size",
        "llm_d_epp_request_total", "llm_d_epp_scheduler_attempts_total",
        "llm_d_epp_plugin_duration_seconds", "inference_pool_ready_pods"})
    CHECK(text.find(std::string("\n") + name) != std::string::npos);
  CHECK(picks_observed("inference_extension_plugin_duration_seconds") >= 3);  // a plugin per hook
  CHECK(has_metric("inference_pool_ready_pods"));
  CHECK(has_metric("inference_pool_per_pod_queue_size"));
  CHECK(has_metric("inference_pool_average_kv_cache_utilization"));
  CHECK(has_metric("inference_pool_average_queue_size"));
  CHECK(has_metric("inference_extension_flow_control_pool_saturation"));
  CHECK(has_metric("inference_extension_prefix_indexer_size"));
  double ready = 0;
  for (const auto& f : registry->Collect())
    if (f.name == "inference_pool_ready_pods") ready = f.metric[0].gauge.value;
  CHECK(ready == 2);
}

TEST_CASE_METHOD(
    picker_fixture,
    "a direct picker answers on the caller's thread as the actor does, and closes when "
    "the actor ends") {
  auto s = settings(config_from(precise_yaml));
  auto direct = std::make_shared<direct_picker>();
  auto p = spawn_picker(sys, s, {registry, nullptr, direct});
  run();
  choose_pod req;
  req.request_id = "d1";
  req.model = "llama";
  auto empty = direct->choose(req);
  REQUIRE(empty);
  REQUIRE_FALSE(*empty);
  CHECK(empty->error() == picker_errc::no_endpoints);

  caf::anon_send(p, two_pods());
  auto tokens = prompt_tokens(128, 3000);
  caf::anon_send(p, stored_blocks("10.0.0.2:8000", 0, tokens));
  run();
  req.tokens = tokens;
  auto chosen = direct->choose(req);
  REQUIRE(chosen);
  REQUIRE(*chosen);
  CHECK((*chosen)->pod == "pod-b");
  CHECK((*chosen)->endpoint == "actor:pod/b");
  CHECK(pick(p, tokens)->pod == "pod-b");  // the actor, from the same state
  // A retry through the direct picker excludes the pod tried.
  req.request_id = "d2";
  req.exclude = {"pod-b"};
  CHECK((**direct->choose(req)).pod == "pod-a");
  CHECK(direct->done({"d1", "pod-b", 0, 0, true}));
  CHECK(has_metric("inference_objective_request_total"));

  caf::anon_send_exit(p, caf::exit_reason::kill);
  run();
  CHECK_FALSE(direct->choose(req));
  CHECK_FALSE(direct->done({"d2", "pod-a", 0, 0, true}));
}

TEST_CASE_METHOD(picker_fixture,
                 "a picker takes its first pick only once its pods' first KV replays have ended, "
                 "and a pod replayed later does not stop picks") {
  auto s = settings(config_from(precise_yaml));
  s.await_membership = true;
  auto pending = std::make_shared<std::atomic<size_t>>(0);
  auto direct = std::make_shared<direct_picker>();
  auto p = spawn_picker(sys, s, {registry, nullptr, direct, nullptr, nullptr, pending});
  run();
  CHECK_FALSE(direct->caught_up());  // no pool yet
  // The process names each pod's replay socket (the subscriber counts it) before it tells
  // the picker its pool.
  *pending = 2;
  caf::anon_send(p, two_pods());
  run();
  auto tokens = prompt_tokens(128, 3000);
  auto refused = pick(p, tokens);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == picker_errc::not_ready);
  CHECK_FALSE(direct->caught_up());
  // pod-b's replayed blocks come in; then the last replay ends.
  *pending = 1;
  caf::anon_send(p, stored_blocks("10.0.0.2:8000", 0, tokens));
  run();
  CHECK_FALSE(pick(p, tokens));
  *pending = 0;
  auto chosen = pick(p, tokens);
  REQUIRE(chosen);
  CHECK(chosen->pod == "pod-b");
  CHECK(direct->caught_up());
  *pending = 1;  // a pod that joins later is replayed while picks go on
  CHECK(pick(p, tokens));
  CHECK(direct->caught_up());
}

TEST_CASE("a bad EndpointPickerConfig is refused at spawn") {
  runtime::system_config cfg{protocol::register_messages, runtime::scheduling::deterministic};
  caf::actor_system sys{cfg};
  sys.await_actors_before_shutdown(false);
  picker_settings s;
  s.pool = "a/b";
  s.config = config_from(R"(
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
  parameters: {bogus: 1}
)");
  CHECK_THROWS_WITH(spawn_picker(sys, s, {}), Catch::Contains("bogus"));
}
