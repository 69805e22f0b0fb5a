// The scheduling framework: profile loop, filter order, weighting and clamping, timings,
// staleness, reproducibility, in-flight accounting.
#include <catch2/catch.hpp>

#include <cmath>

#include "actors/picker/scheduling/pickers.hpp"
#include "actors/picker/scheduling/profile_handlers.hpp"
#include "actors/picker/scheduling/scorers.hpp"
#include "tests/actors/picker/scheduling/picker_test_util.hpp"

using namespace picker_test;

namespace {

// Scores by endpoint name from a table (may be out of [0,1] or NaN, to test clamping).
class table_scorer : public scorer_plugin {
 public:
  table_scorer(std::string name, std::map<std::string, double> table)
      : scorer_plugin("table-scorer", std::move(name)), table_(std::move(table)) {}
  scorer_category category() const override { return scorer_category::distribution; }
  void score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) override {
    ++calls;
    for (size_t i = 0; i < cand.size(); ++i) {
      auto it = table_.find(c.endpoint(cand[i]).name);
      if (it != table_.end()) out[i] = it->second;
    }
  }
  int calls = 0;

 private:
  std::map<std::string, double> table_;
};

// Keeps the named endpoints and records the candidates it saw.
class keep_filter : public filter_plugin {
 public:
  keep_filter(std::string name, std::set<std::string> keep)
      : filter_plugin("keep-filter", std::move(name)), keep_(std::move(keep)) {}
  void filter(cycle& c, std::vector<uint32_t>& candidates) override {
    seen = candidates.size();
    ++calls;
    std::erase_if(candidates, [&](uint32_t id) { return !keep_.count(c.endpoint(id).name); });
  }
  size_t seen = 0;
  int calls = 0;

 private:
  std::set<std::string> keep_;
};

// Runs "first", then "second" only when first picked "a"; the result is second's pick.
class two_step_handler : public profile_handler_plugin {
 public:
  two_step_handler() : profile_handler_plugin("two-step", "two-step") {}
  void pick(cycle& c, std::vector<int>& to_run) override {
    ++picks;
    if ((*c.states)[0] == run_state::pending) {
      to_run.push_back(0);
      return;
    }
    const auto* first = c.run_of(0);
    if ((*c.states)[1] == run_state::pending && first && !first->targets.empty() &&
        c.endpoint(first->targets[0]).name == "a")
      to_run.push_back(1);
  }
  void process_results(cycle& c, schedule_result& out) override {
    int p = c.run_of(1) ? 1 : 0;
    out.primary_profile = (*c.profiles)[p].name;
    set_targets(c, *c.run_of(p), out.targets);
  }
  int picks = 0;
};

std::unique_ptr<endpoint_picker> assemble(picker_options opts, std::vector<profile_def> profiles,
                                          std::vector<std::unique_ptr<plugin>> plugins,
                                          profile_handler_plugin* handler = nullptr) {
  auto p = std::make_unique<endpoint_picker>(std::move(opts));
  for (auto& pl : plugins)
    p->add_plugin(std::move(pl));
  for (auto& prof : profiles)
    p->add_profile(std::move(prof));
  if (!handler) {
    handler = static_cast<profile_handler_plugin*>(
        p->add_plugin(std::make_unique<single_profile_handler>("single")));
  }
  p->set_profile_handler(handler);
  p->finalize();
  return p;
}

void add_pods(endpoint_picker& p, std::initializer_list<const char*> names, int64_t now = 0) {
  for (auto n : names) {
    p.add_endpoint(endpoint_info{n, std::string(n) + ":8000", {}});
    p.update_load(n, load_report{}, now);
  }
}

}  // namespace

TEST_CASE("scores are clamped to [0,1] and summed with their weights", "[framework]") {
  auto s1 = std::make_unique<table_scorer>(
      "s1", std::map<std::string, double>{{"a", 1.5}, {"b", -0.2}, {"c", NAN}, {"d", 0.4}});
  auto s2 = std::make_unique<table_scorer>(
      "s2", std::map<std::string, double>{{"a", 0.0}, {"b", 1.0}, {"c", 0.5}, {"d", 0.5}});
  auto pick = std::make_unique<max_score_picker>("max", 1);
  profile_def prof{"default", {}, {s1.get(), s2.get()}, {2.0, 3.0}, pick.get()};
  std::vector<std::unique_ptr<plugin>> plugins;
  plugins.push_back(std::move(s1));
  plugins.push_back(std::move(s2));
  plugins.push_back(std::move(pick));
  auto p = assemble({}, {prof}, std::move(plugins));
  add_pods(*p, {"a", "b", "c", "d"});
  auto r = p->schedule(pick_request{}, 0);
  REQUIRE(r.ok());
  const auto& run = r.runs.at(0);
  REQUIRE(run.candidates.size() == 4);
  // Clamped raw scores: s1 = 1, 0, 0, 0.4; s2 = 0, 1, 0.5, 0.5. Totals: plain weighted sums.
  CHECK(run.scores == std::vector<double>{1, 0, 0, 0.4, 0, 1, 0.5, 0.5});
  CHECK(run.totals[0] == Approx(2.0));
  CHECK(run.totals[1] == Approx(3.0));
  CHECK(run.totals[2] == Approx(1.5));
  CHECK(run.totals[3] == Approx(0.8 + 1.5));
  CHECK(r.primary().name == "b");
  CHECK(r.primary().address == "b:8000");
}

TEST_CASE("filters run in order and stop once nothing is left", "[framework]") {
  auto f1 = std::make_unique<keep_filter>("f1", std::set<std::string>{"a", "b"});
  auto f2 = std::make_unique<keep_filter>("f2", std::set<std::string>{"b"});
  auto f3 = std::make_unique<keep_filter>("f3", std::set<std::string>{});
  auto f4 = std::make_unique<keep_filter>("f4", std::set<std::string>{"b"});
  auto pick = std::make_unique<max_score_picker>("max", 1);
  auto *k1 = f1.get(), *k2 = f2.get(), *k3 = f3.get(), *k4 = f4.get();
  profile_def ok{"ok", {k1, k2}, {}, {}, pick.get()};
  profile_def empty{"empty", {k1, k3, k4}, {}, {}, pick.get()};
  std::vector<std::unique_ptr<plugin>> plugins;
  plugins.push_back(std::move(f1));
  plugins.push_back(std::move(f2));
  plugins.push_back(std::move(f3));
  plugins.push_back(std::move(f4));
  auto* picker_raw = pick.get();
  plugins.push_back(std::move(pick));
  (void)picker_raw;

  auto p = assemble({}, {ok}, std::move(plugins));
  add_pods(*p, {"a", "b", "c"});
  auto r = p->schedule(pick_request{}, 0);
  REQUIRE(r.ok());
  CHECK(k1->seen == 3);
  CHECK(k2->seen == 2);
  CHECK(r.primary().name == "b");

  // Same plugins, a profile whose filters leave nothing: f4 never runs, the request fails.
  std::vector<std::unique_ptr<plugin>> none;
  auto q = std::make_unique<endpoint_picker>();
  q->add_profile(empty);
  auto* h = static_cast<profile_handler_plugin*>(
      q->add_plugin(std::make_unique<single_profile_handler>("single")));
  q->set_profile_handler(h);
  q->finalize();
  add_pods(*q, {"a", "b", "c"});
  int before = k4->calls;
  auto failed = q->schedule(pick_request{}, 0);
  CHECK(failed.status == pick_status::all_filtered);
  CHECK(failed.reason == "no endpoints available for the given request");
  CHECK(http_status(failed.status) == 429);
  CHECK(dropped_reason(failed.status) == "rejected-saturated");
  CHECK(k4->calls == before);
  CHECK(failed.runs.at(0).failed);
}

TEST_CASE("the profile loop runs profiles until the handler returns none", "[framework]") {
  auto s = std::make_unique<table_scorer>("s", std::map<std::string, double>{{"a", 1.0}});
  auto s2 = std::make_unique<table_scorer>("s2", std::map<std::string, double>{{"c", 1.0}});
  auto pick = std::make_unique<max_score_picker>("max", 1);
  auto handler = std::make_unique<two_step_handler>();
  profile_def first{"first", {}, {s.get()}, {1.0}, pick.get()};
  profile_def second{"second", {}, {s2.get()}, {1.0}, pick.get()};
  auto* h = handler.get();
  std::vector<std::unique_ptr<plugin>> plugins;
  plugins.push_back(std::move(s));
  plugins.push_back(std::move(s2));
  plugins.push_back(std::move(pick));
  plugins.push_back(std::move(handler));
  auto p = assemble({}, {first, second}, std::move(plugins), h);
  add_pods(*p, {"a", "b", "c"});
  auto r = p->schedule(pick_request{}, 0);
  REQUIRE(r.ok());
  CHECK(h->picks == 3);  // first, second, then none
  REQUIRE(r.runs.size() == 2);
  CHECK(r.runs[0].name == "first");
  CHECK(r.runs[1].name == "second");
  CHECK(r.primary_profile == "second");
  CHECK(r.primary().name == "c");
}

TEST_CASE("plugin timings come from the injected clock", "[framework]") {
  int64_t ticks = 0;
  picker_options opts;
  opts.clock = [&ticks] { return ticks += 10; };
  auto p = build(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: decode-filter
- type: queue-scorer
- type: max-score-picker
)",
                 opts);
  add_pods(*p, {"a", "b"});
  auto r = p->schedule(pick_request{}, 0);
  REQUIRE(r.ok());
  std::vector<std::string> seen;
  for (const auto& t : r.timings) {
    seen.push_back(std::string(to_string(t.point)) + "/" + t.source->type() + "/" +
                   t.source->name());
    CHECK(t.duration_ns == 10);
  }
  CHECK(seen == std::vector<std::string>{
                    "ProfileHandler/single-profile-handler/single-profile-handler",
                    "Filter/decode-filter/decode-filter", "Scorer/queue-scorer/queue-scorer",
                    "Picker/max-score-picker/max-score-picker",
                    "ProfileHandler/single-profile-handler/single-profile-handler",
                    "ProfileHandler/single-profile-handler/single-profile-handler"});
  CHECK(r.duration_ns > 0);
  // Without a clock: no timings.
  auto q = build("apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n");
  add_pods(*q, {"a"});
  CHECK(q->schedule(pick_request{}, 0).timings.empty());
}

TEST_CASE("a stale pod stays a candidate but load scorers treat it as fully loaded",
          "[framework][staleness]") {
  picker_options opts;
  opts.staleness_ns = 2 * second;
  auto p = build(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
- type: kv-cache-utilization-scorer
- type: max-score-picker
)",
                 opts);
  p->add_endpoint(endpoint_info{"fresh", "", {}});
  p->add_endpoint(endpoint_info{"silent", "", {}});
  p->update_load("fresh", load(8, 0.9), 0);
  p->update_load("silent", load(0, 0.0), 0);  // idle, but then silent
  p->update_load("fresh", load(8, 0.9), 10 * second);
  auto r = p->schedule(pick_request{}, 10 * second);
  REQUIRE(r.ok());
  CHECK(r.primary().name == "fresh");
  CHECK(r.runs[0].candidates.size() == 2);  // fail open: still a candidate
  // When every pod is stale, requests still get a pod.
  auto later = p->schedule(pick_request{}, 60 * second);
  CHECK(later.ok());
  CHECK(p->pool().stale(*p->pool().find("fresh"), 60 * second));
}

TEST_CASE("random choices are reproducible per seed", "[framework]") {
  const char* yaml =
      "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n"
      "- type: queue-scorer\n- type: max-score-picker\n";
  auto sequence = [&](uint64_t seed) {
    picker_options opts;
    opts.seed = seed;
    auto p = build(yaml, opts);
    add_pods(*p, {"a", "b", "c", "d", "e"});
    std::vector<std::string> out;
    for (int i = 0; i < 50; ++i)
      out.push_back(p->schedule(pick_request{}, 0).primary().name);  // all tie
    return out;
  };
  CHECK(sequence(42) == sequence(42));
  CHECK(sequence(42) != sequence(43));
  auto s = sequence(42);
  CHECK(std::set<std::string>(s.begin(), s.end()).size() == 5);
}

TEST_CASE("draining pods and the subset hint restrict the candidates", "[framework]") {
  auto p = build("apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n");
  add_pods(*p, {"a", "b", "c"});
  p->set_draining("a", true);
  std::vector<std::string> subset{"a:8000", "c"};
  pick_request req;
  req.subset = &subset;
  for (int i = 0; i < 10; ++i)
    CHECK(p->schedule(req, 0).primary().name == "c");
  std::vector<std::string> none{"zzz"};
  req.subset = &none;
  auto r = p->schedule(req, 0);
  CHECK(r.status == pick_status::no_endpoints);
  CHECK(http_status(r.status) == 503);
  CHECK(dropped_reason(r.status) == "rejected-no-endpoints");
}

TEST_CASE("in-flight accounting follows pre_request, first chunk and completion", "[framework]") {
  auto p = build(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: active-request-scorer
- type: max-score-picker
)");
  add_pods(*p, {"a", "b"});
  auto tokens = random_tokens(100, 1);
  pick_request req;
  req.tokens = tokens;
  req.request_id = "r1";
  auto r1 = p->schedule(req, 0);
  p->pre_request(req, r1, 0);
  const auto& first = *p->pool().find(r1.primary().name);
  CHECK(first.assigned_requests == 1);
  CHECK(first.assigned_tokens == 100);  // no prefix producer: the whole prompt is uncached
  // The busy pod now scores lower: the next request goes to the other one.
  req.request_id = "r2";
  auto r2 = p->schedule(req, 0);
  CHECK(r2.primary().name != r1.primary().name);
  p->pre_request(req, r2, 0);
  p->response_started("r1", 1);
  CHECK(first.assigned_tokens == 0);
  CHECK(first.assigned_requests == 1);
  p->response_complete("r1", 2);
  CHECK(first.assigned_requests == 0);
  CHECK(p->metrics(2).in_flight_requests == 1);
  // A request never completed stops counting after the request timeout.
  p->response_complete("unknown", 3);
  const auto& second_pod = *p->pool().find(r2.primary().name);
  CHECK(second_pod.assigned_requests == 1);
  p->response_complete("nothing", 700 * second);
  CHECK(second_pod.assigned_requests == 0);
}

TEST_CASE("inflight-load-producer: llm-d-router v0.10's output cap and prefix producer",
          "[framework]") {
  // 100 uncached prompt tokens, 2x as estimated output capped at 30: 130 in flight.
  auto p = build(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: inflight-load-producer
  parameters: {addEstimatedOutputTokens: true, outputRatio: 2, maxEstimatedOutputTokens: 30,
               syncCrossReplicaState: false}
- type: max-score-picker
)");
  add_pods(*p, {"a"});
  pick_request req;
  req.tokens = random_tokens(100, 3);
  req.request_id = "r";
  auto r = p->schedule(req, 0);
  p->pre_request(req, r, 0);
  CHECK(p->pool().find("a")->assigned_tokens == 130);
  // prefixMatchInfoProducerName: the producer whose match says what is cached. Blocks of 64
  // tokens for the default producer, 128 for "other": of a repeated 200-token prompt, 192 or 128
  // tokens are cached, so the second request adds 8 or 72 tokens in flight.
  auto second_request_tokens = [](const std::string& inflight_params) {
    auto picker = build(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: approx-prefix-cache-producer
  parameters: {blockSizeTokens: 64, autoTune: false}
- type: approx-prefix-cache-producer
  name: other
  parameters: {blockSizeTokens: 128, autoTune: false}
- type: inflight-load-producer
  parameters: )" + inflight_params +
                        "\n");
    add_pods(*picker, {"a"});
    pick_request again;
    again.tokens = random_tokens(200, 4);
    again.request_id = "r1";
    auto first = picker->schedule(again, 0);
    picker->pre_request(again, first, 0);
    picker->response_started("r1", 1);  // its prompt tokens leave the count
    again.request_id = "r2";
    auto second = picker->schedule(again, 2);
    picker->pre_request(again, second, 2);
    return picker->pool().find("a")->assigned_tokens;
  };
  CHECK(second_request_tokens("{}") == 8);
  CHECK(second_request_tokens("{prefixMatchInfoProducerName: other}") == 72);
  CHECK_THAT(problems_of(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: inflight-load-producer
  parameters: {prefixMatchInfoProducerName: nobody, maxEstimatedOutputTokens: -1}
)"),
             Catch::Matchers::Contains("no plugin named 'nobody'") &&
                 Catch::Matchers::Contains("maxEstimatedOutputTokens"));
}

TEST_CASE("removing an endpoint releases its accounting and reuses its id cleanly", "[framework]") {
  auto p = build("apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n");
  add_pods(*p, {"a"});
  pick_request req;
  req.request_id = "r";
  auto r = p->schedule(req, 0);
  p->pre_request(req, r, 0);
  CHECK(p->remove_endpoint("a"));
  CHECK_FALSE(p->remove_endpoint("a"));
  CHECK(p->schedule(req, 0).status == pick_status::no_endpoints);
  add_pods(*p, {"b"});
  CHECK(p->pool().find("b")->assigned_requests == 0);
  p->response_complete("r", 1);  // the old request no longer touches anything
  CHECK(p->pool().find("b")->assigned_requests == 0);
}

TEST_CASE("a burst of picks between two load reports spreads over the pods", "[framework]") {
  // llm-d's default config (prefix 3, queue 2, kv 2), as the stack runs it.
  auto built = build_endpoint_picker(nullptr, {});
  REQUIRE(built.ok());
  auto& p = *built.picker;
  const std::vector<std::string> pods{"a", "b", "c", "d"};
  auto report = load(3, 0.4, 2);  // every pod's last report: the same, taken before the burst
  for (const auto& n : pods) {
    p.add_endpoint(endpoint_info{n, n + ":8000", {}});
    p.update_load(n, report, 0);
  }
  // 20 requests at once, each a different prompt: no report arrives in between.
  std::map<std::string, int> picked;
  for (int i = 0; i < 20; ++i) {
    auto tokens = random_tokens(64, 1000 + static_cast<uint64_t>(i));
    pick_request req;
    req.tokens = tokens;
    req.request_id = "burst-" + std::to_string(i);
    auto r = p.schedule(req, 1);
    REQUIRE(r.ok());
    p.pre_request(req, r, 1);
    picked[r.primary().name]++;
  }
  int most = 0, least = 20;
  for (const auto& n : pods) {
    most = std::max(most, picked[n]);
    least = std::min(least, picked[n]);
  }
  INFO("a " << picked["a"] << ", b " << picked["b"] << ", c " << picked["c"] << ", d "
            << picked["d"]);
  CHECK(most - least <= 1);
  // The next report counts what reached the pod: the picker's own count starts over.
  p.update_load("a", report, 2);
  CHECK(p.pool().find("a")->picked_since_report == 0);
  CHECK(p.pool().find("a")->queue_estimate() == 3);
  CHECK(p.pool().find("b")->queue_estimate() == 3 + picked["b"]);
}
