// Every plugin on fixed inputs: scores exactly as the algorithm says.
#include <catch2/catch.hpp>

#include "actors/picker/scheduling/filters.hpp"
#include "actors/picker/scheduling/pickers.hpp"
#include "actors/picker/scheduling/scorers.hpp"
#include "tests/actors/picker/scheduling/picker_test_util.hpp"

using namespace picker_test;
using Catch::Matchers::Equals;

// -- scorers ----------------------------------------------------------------------------------

TEST_CASE("queue-scorer: min-max over waiting queues", "[scorer]") {
  bench b;
  b.add("a", {}, load(0));
  b.add("b", {}, load(5));
  b.add("c", {}, load(10));
  queue_scorer s("queue-scorer");
  CHECK_THAT(b.score(s), Equals(std::vector<double>{1.0, 0.5, 0.0}));
}

TEST_CASE("queue-scorer: equal queues all score 1, stale pods score 0 outside the range",
          "[scorer]") {
  bench b;
  b.add("a", {}, load(3));
  b.add("b", {}, load(3));
  queue_scorer s("queue-scorer");
  CHECK_THAT(b.score(s), Equals(std::vector<double>{1.0, 1.0}));
  b.add("c", {}, std::nullopt);  // never reported: fully loaded
  b.now += 10 * second;          // everyone is stale now ...
  b.pool.update_load("a", load(2), b.now);
  b.pool.update_load("b", load(4), b.now);  // ... except a and b
  CHECK_THAT(b.score(s), Equals(std::vector<double>{1.0, 0.0, 0.0}));
}

TEST_CASE("running-requests-size-scorer: min-max over running requests", "[scorer]") {
  bench b;
  b.add("a", {}, load(0, 0, 8));
  b.add("b", {}, load(0, 0, 2));
  running_requests_scorer s("r");
  CHECK_THAT(b.score(s), Equals(std::vector<double>{0.0, 1.0}));
}

TEST_CASE("kv-cache-utilization-scorer: 1 - usage, stale 0", "[scorer]") {
  bench b;
  b.add("a", {}, load(0, 0.25));
  b.add("b", {}, load(0, 1.0));
  b.add("c", {}, std::nullopt);
  kv_cache_utilization_scorer s("kv");
  CHECK_THAT(b.score(s), Equals(std::vector<double>{0.75, 0.0, 0.0}));
}

TEST_CASE("load-aware-scorer: 0.5 when idle, falling to 0 at the threshold", "[scorer]") {
  bench b;
  b.add("a", {}, load(0));
  b.add("b", {}, load(64));
  b.add("c", {}, load(200));
  b.add("d", {}, std::nullopt);  // stale: fully loaded
  load_aware_scorer s("la", 128);
  CHECK_THAT(b.score(s), Equals(std::vector<double>{0.5, 0.25, 0.0, 0.0}));
  load_aware_scorer small("la", 10);
  b.pool.update_load("a", load(5), b.now);
  CHECK(b.score(small)[0] == Approx(0.25));
}

TEST_CASE("active-request-scorer: idle 1, busier pods scaled to maxBusyScore", "[scorer]") {
  bench b;
  for (auto [name, n] : {std::pair{"a", 0}, {"b", 2}, {"c", 4}, {"d", 3}}) {
    b.add(name);
    b.pool.find(name)->assigned_requests = n;
  }
  active_request_scorer plain("ar", 0, 1.0);
  CHECK_THAT(b.score(plain), Equals(std::vector<double>{1.0, 0.5, 0.0, 0.25}));
  active_request_scorer idle("ar", 2, 1.0);
  CHECK_THAT(b.score(idle), Equals(std::vector<double>{1.0, 1.0, 0.0, 0.25}));
  active_request_scorer gap("ar", 0, 0.5);
  CHECK(b.score(gap)[3] == Approx(0.125));
}

TEST_CASE("token-load-scorer: 1 - in-flight tokens / threshold", "[scorer]") {
  bench b;
  for (auto [name, t] : {std::pair{"a", 0}, {"b", 250}, {"c", 2000}}) {
    b.add(name);
    b.pool.find(name)->assigned_tokens = t;
  }
  token_load_scorer s("tl", 1000);
  CHECK_THAT(b.score(s), Equals(std::vector<double>{1.0, 0.75, 0.0}));
}

TEST_CASE("lora-affinity-scorer: active 1, room 0.8, waiting 0.6, full 0", "[scorer]") {
  bench b;
  auto with = [](std::vector<std::string> active, std::vector<std::string> waiting, int max) {
    load_report r;
    r.active_loras = std::move(active);
    r.waiting_loras = std::move(waiting);
    r.max_loras = max;
    return r;
  };
  b.add("a", {}, with({"sql"}, {}, 2));
  b.add("b", {}, with({"x"}, {}, 2));
  b.add("c", {}, with({"x", "y"}, {"sql"}, 2));
  b.add("d", {}, with({"x", "y"}, {}, 2));
  b.request.model = "sql";
  lora_affinity_scorer s("lora");
  CHECK_THAT(b.score(s), Equals(std::vector<double>{1.0, 0.8, 0.6, 0.0}));
}

TEST_CASE("lora-affinity-scorer: from residency, GPU 1, CPU 0.7, free slot 0.6, idle slot 0.3",
          "[scorer]") {
  bench b;
  auto with = [](std::vector<std::string> gpu, std::vector<std::string> cpu,
                 std::vector<std::string> active) {
    load_report r;
    r.lora_residency = true;
    r.max_loras = 2;
    r.base_model = "llama";
    r.gpu_loras = std::move(gpu);
    r.cpu_loras = std::move(cpu);
    r.active_loras = std::move(active);
    return r;
  };
  b.add("gpu", {}, with({"sql", "x"}, {"sql", "x"}, {"x"}));  // resident, idle
  b.add("cpu", {}, with({"x"}, {"x", "sql"}, {"x"}));         // in the CPU cache, a slot free
  b.add("free", {}, with({"x"}, {"x"}, {"x"}));               // a free slot
  b.add("idle", {}, with({"x", "y"}, {"x", "y"}, {"x"}));     // "y" idle: evictable
  b.add("full", {}, with({"x", "y"}, {"x", "y", "sql"}, {"x", "y"}));  // both slots running
  b.request.model = "sql";
  lora_affinity_scorer s("lora");
  CHECK_THAT(b.score(s), Equals(std::vector<double>{1.0, 0.7, 0.6, 0.3, 0.0}));
  // The base model needs no adapter: every pod alike.
  b.request.model = "llama";
  CHECK_THAT(b.score(s), Equals(std::vector<double>{1.0, 1.0, 1.0, 1.0, 1.0}));
}

TEST_CASE("session-affinity-scorer: encoded endpoint header", "[scorer]") {
  bench b;
  b.add("pod-a");
  b.add("pod-b");
  session_affinity_scorer s("sa", {});
  CHECK(s.response_token("pod-b") == "cG9kLWI=");
  b.headers = {{"x-session-token", "cG9kLWI="}};
  CHECK_THAT(b.score(s), Equals(std::vector<double>{0.0, 1.0}));
  b.headers = {{"x-session-token", "not base64!"}};
  CHECK_THAT(b.score(s), Equals(std::vector<double>{0.0, 0.0}));
  CHECK(base64_decode(base64_encode("ns/pod-xyz")) == std::optional<std::string>("ns/pod-xyz"));
}

TEST_CASE("session-affinity-scorer: session ids bind server-side to the least loaded pod",
          "[scorer]") {
  auto picker = build(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: session-affinity-scorer
  parameters: {algorithm: session_id_header, headerName: X-Session-Id}
- type: max-score-picker
)");
  for (auto name : {"a", "b", "c"})
    picker->add_endpoint(endpoint_info{name, "", {}});
  auto pick = [&](const std::string& session, int64_t now) {
    header_list headers{{"x-session-id", session}};
    pick_request req;
    req.request_id = session;
    req.headers = &headers;
    auto r = picker->schedule(req, now);
    REQUIRE(r.ok());
    picker->pre_request(req, r, now);
    return r.primary().name;
  };
  // New sessions spread over the pods with the fewest sessions; a bound session stays put.
  auto s1 = pick("s1", second), s2 = pick("s2", second), s3 = pick("s3", second);
  CHECK(std::set<std::string>{s1, s2, s3}.size() == 3);
  CHECK(pick("s2", 2 * second) == s2);
  CHECK(pick("s1", 3 * second) == s1);
}

TEST_CASE("no-hit-lru-scorer: cold requests prefer pods that took no cold request lately",
          "[scorer]") {
  bench b;
  uint32_t a = b.add("a");
  b.add("b");
  b.add("c");
  b.prefix.resize(1);
  no_hit_lru_scorer s("lru", 1024, 0);
  s.state_slot = 0;
  b.set_match(a, 0, 4);
  b.set_match(1, 0, 4);
  b.set_match(2, 0, 4);
  CHECK_THAT(b.score(s), Equals(std::vector<double>{1.0, 0.5, 0.0}));
  CHECK(b.memo.plugin_state[0] == 1.0);  // cold
  // a took the last cold request: never-used pods first, then a.
  schedule_result r;
  r.targets = {pick_target{a, "a", ""}};
  hook_context h;
  h.result = &r;
  h.memo = &b.memo;
  s.pre_request(h);
  CHECK_THAT(b.score(s), Equals(std::vector<double>{0.0, 1.0, 0.5}));
  // Any hit makes the request warm: neutral 0.5.
  b.set_match(a, 1, 4);
  CHECK_THAT(b.score(s), Equals(std::vector<double>{0.5, 0.5, 0.5}));
}

TEST_CASE("prefix-cache-scorer: match ratio, optionally blended with match length", "[scorer]") {
  bench b;
  uint32_t a = b.add("a"), c = b.add("c"), d = b.add("d");
  b.set_match(a, 3, 4);
  b.set_match(c, 2, 4);
  (void)d;  // no match information: 0
  prefix_cache_scorer plain("p", 0, 0.0, 0);
  CHECK_THAT(b.score(plain), Equals(std::vector<double>{0.75, 0.5, 0.0}));
  // w = 0.5, maxModelLen 64, 2 blocks of 16 = 32 tokens: 0.5*(32/64)^2 + 0.5*0.5 = 0.375.
  prefix_cache_scorer blended("p", 0, 0.5, 64);
  CHECK(b.score(blended)[1] == Approx(0.375));
}

TEST_CASE("precise-prefix-cache-scorer: tier-weighted longest prefix / prompt blocks", "[scorer]") {
  auto picker = build(R"(
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: precise-prefix-cache-scorer
  parameters: {tokenProcessorConfig: {blockSize: 16}}
- type: max-score-picker
)");
  picker->add_endpoint(endpoint_info{"a", "10.0.0.1:8000", {}});
  picker->add_endpoint(endpoint_info{"b", "10.0.0.2:8000", {}});
  auto tokens = random_tokens(16 * 5, 4);
  // a holds 2 blocks on GPU, b (named by address in its topic) 5 blocks on CPU.
  picker->apply_kv_events(
      "a", "m",
      batch_of(
          {stored(std::vector<uint32_t>(tokens.begin(), tokens.begin() + 32), 1, std::nullopt)}),
      0);
  auto r = picker->apply_kv_events("10.0.0.2:8000", "m",
                                   batch_of({stored(tokens, 1, std::nullopt, 16, "CPU")}), 0);
  CHECK(r.known_pod);
  pick_request req;
  req.model = "m";
  req.tokens = tokens;
  auto result = picker->schedule(req, second);
  REQUIRE(result.ok());
  const auto& run = result.runs.at(0);
  std::map<std::string, double> scores;
  for (size_t i = 0; i < run.candidates.size(); ++i)
    scores[std::string(picker->endpoint_name(run.candidates[i]))] = run.scores[i];
  CHECK(scores["a"] == Approx(2.0 / 5));
  CHECK(scores["b"] == Approx(0.8));
  CHECK(result.primary().name == "b");
  // The raw matches behind those scores.
  for (const auto& m : picker->explain_prefix(req, second)) {
    CHECK(m.producer == "precise-prefix-cache-scorer");
    CHECK(m.match.total_blocks == 5);
    CHECK(m.match.match_blocks == (m.endpoint == "a" ? 2u : 5u));
    CHECK(m.match.weighted == Approx(m.endpoint == "a" ? 2.0 : 4.0));
  }
}

// -- filters ----------------------------------------------------------------------------------

TEST_CASE("role filters follow llm-d's role sets", "[filter]") {
  bench b;
  b.add("none");
  for (auto role : {"decode", "prefill", "both", "prefill-decode", "encode", "encode-prefill",
                    "encode-prefill-decode"})
    b.add(role, {{"llm-d.ai/role", role}});
  auto decode = by_label_filter::decode("d");
  auto prefill = by_label_filter::prefill("p");
  auto encode = by_label_filter::encode("e");
  CHECK_THAT(b.filter(*decode),
             Equals(std::vector<std::string>{"none", "decode", "both", "prefill-decode",
                                             "encode-prefill-decode"}));
  CHECK_THAT(b.filter(*prefill),
             Equals(std::vector<std::string>{"prefill", "both", "prefill-decode", "encode-prefill",
                                             "encode-prefill-decode"}));
  CHECK_THAT(b.filter(*encode),
             Equals(std::vector<std::string>{"encode", "encode-prefill", "encode-prefill-decode"}));
}

TEST_CASE("by-label keeps valid values and, when allowed, unlabeled pods", "[filter]") {
  bench b;
  b.add("gold", {{"tier", "gold"}});
  b.add("silver", {{"tier", "silver"}});
  b.add("plain");
  by_label_filter strict("by-label", "f", "tier", {"gold"}, false);
  CHECK_THAT(b.filter(strict), Equals(std::vector<std::string>{"gold"}));
  by_label_filter lenient("by-label", "f", "tier", {"gold"}, true);
  CHECK_THAT(b.filter(lenient), Equals(std::vector<std::string>{"gold", "plain"}));
}

TEST_CASE("label-selector-filter applies matchLabels and matchExpressions", "[filter]") {
  bench b;
  b.add("a", {{"zone", "1"}, {"gpu", "h100"}});
  b.add("b", {{"zone", "2"}, {"gpu", "h100"}});
  b.add("c", {{"zone", "1"}});
  label_selector sel;
  sel.match_labels = {{"gpu", "h100"}};
  sel.match_expressions = {{"zone", "In", {"1", "3"}}};
  label_selector_filter f("label-selector-filter", "f", sel);
  CHECK_THAT(b.filter(f), Equals(std::vector<std::string>{"a"}));
  label_selector absent;
  absent.match_expressions = {{"gpu", "DoesNotExist", {}}};
  label_selector_filter g("label-selector-filter", "g", absent);
  CHECK_THAT(b.filter(g), Equals(std::vector<std::string>{"c"}));
}

TEST_CASE("utilization-filter (llm-d-router v0.10) keeps pods under every cap", "[filter]") {
  bench b;
  uint32_t a = b.add("a", {}, load(0, 0.2, 3));
  b.add("b", {}, load(4, 0.5, 1));
  b.add("c", {}, load(1, 0.95, 2));
  b.add("d", {}, std::nullopt);  // never reported: every figure reads 0
  using m = utilization_filter::metric;
  utilization_filter kv_and_queue("f", {{m::kv_cache_utilization, 0.9}, {m::waiting_queue, 2}},
                                  false);
  CHECK_THAT(b.filter(kv_and_queue), Equals(std::vector<std::string>{"a", "d"}));
  utilization_filter running("r", {{m::running_requests, 2}}, false);
  CHECK_THAT(b.filter(running), Equals(std::vector<std::string>{"b", "c", "d"}));
  // active-requests: this picker's requests sent and not yet done.
  b.pool.at(a).assigned_requests = 5;
  utilization_filter active("x", {{m::active_requests, 4}}, false);
  CHECK_THAT(b.filter(active), Equals(std::vector<std::string>{"b", "c", "d"}));
  // None kept: empty, or all of them with fallbackOnEmpty.
  utilization_filter none("n", {{m::kv_cache_utilization, 0.0}, {m::waiting_queue, 0}}, false);
  b.pool.at(a).load.kv_usage = 0.1;
  CHECK(b.filter(none) == std::vector<std::string>{"d"});
  b.pool.remove("d");
  b.ids.pop_back();
  CHECK(b.filter(none).empty());
  utilization_filter fallback("n", {{m::kv_cache_utilization, 0.0}, {m::waiting_queue, 0}}, true);
  CHECK_THAT(b.filter(fallback), Equals(std::vector<std::string>{"a", "b", "c"}));
}

TEST_CASE("prefix-cache-affinity-filter keeps sticky pods, else all", "[filter]") {
  bench b;
  uint32_t a = b.add("a"), c = b.add("c"), d = b.add("d");
  b.set_match(a, 4, 4);
  b.set_match(c, 1, 4);
  b.set_match(d, 0, 4);
  prefix_cache_affinity_filter f("f", {}, 0);
  CHECK_THAT(b.filter(f), Equals(std::vector<std::string>{"a"}));
  b.set_match(a, 3, 4);  // 0.75 < 0.8: nobody is sticky
  CHECK_THAT(b.filter(f), Equals(std::vector<std::string>{"a", "c", "d"}));
  CHECK(f.counts().sticky == 1);
  CHECK(f.counts().no_match == 1);
}

TEST_CASE("prefix-cache-affinity-filter: the TTFT load gate breaks stickiness", "[filter]") {
  bench b;
  uint32_t a = b.add("a"), c = b.add("c");
  b.set_match(a, 4, 4);
  b.set_match(c, 0, 4);
  prefix_cache_affinity_filter::settings s;
  s.peak_prefill_throughput = 1000;  // tokens/s
  s.max_ttft_penalty_ms = 18000;
  prefix_cache_affinity_filter f("f", s, 0);
  b.pool.at(a).assigned_tokens = 17000;  // 17 s behind: still sticky
  CHECK_THAT(b.filter(f), Equals(std::vector<std::string>{"a"}));
  b.pool.at(a).assigned_tokens = 20000;  // 20 s > 18 s: load override
  CHECK_THAT(b.filter(f), Equals(std::vector<std::string>{"a", "c"}));
  CHECK(f.counts().load_override == 1);
}

// -- pickers ----------------------------------------------------------------------------------

namespace {

std::vector<uint32_t> pick_with(picker_plugin& p, bench& b, std::vector<double> totals) {
  auto c = b.make();
  std::vector<uint32_t> targets;
  p.pick(c, b.ids, totals, targets);
  return targets;
}

}  // namespace

TEST_CASE("max-score-picker takes the maximum and breaks ties at random, per seed", "[picker]") {
  bench b;
  for (auto n : {"a", "b", "c", "d"})
    b.add(n);
  max_score_picker p("max", 1);
  CHECK(pick_with(p, b, {0.1, 0.9, 0.3, 0.2}) == std::vector<uint32_t>{1});
  // Ties between b and d: both win sometimes, a and c never; the sequence is the seed's.
  std::map<uint32_t, int> wins;
  std::vector<uint32_t> sequence;
  for (int i = 0; i < 2000; ++i) {
    auto t = pick_with(p, b, {0.1, 0.9, 0.3, 0.9});
    ++wins[t[0]];
    sequence.push_back(t[0]);
  }
  CHECK(wins.count(0) == 0);
  CHECK(wins.count(2) == 0);
  CHECK(wins[1] > 850);
  CHECK(wins[3] > 850);
  bench again;
  for (auto n : {"a", "b", "c", "d"})
    again.add(n);
  std::vector<uint32_t> replay;
  for (int i = 0; i < 2000; ++i)
    replay.push_back(pick_with(p, again, {0.1, 0.9, 0.3, 0.9})[0]);
  CHECK(replay == sequence);  // same seed (7), same choices
}

TEST_CASE("max-score-picker with maxNumOfEndpoints returns the best N in order", "[picker]") {
  bench b;
  for (auto n : {"a", "b", "c", "d"})
    b.add(n);
  max_score_picker p("max", 2);
  CHECK(pick_with(p, b, {0.1, 0.9, 0.3, 0.5}) == std::vector<uint32_t>{1, 3});
}

TEST_CASE("random-picker picks distinct candidates uniformly", "[picker]") {
  bench b;
  for (auto n : {"a", "b", "c"})
    b.add(n);
  random_picker p("r", 2);
  std::map<uint32_t, int> counts;
  for (int i = 0; i < 3000; ++i) {
    auto t = pick_with(p, b, {1, 0, 0});
    REQUIRE(t.size() == 2);
    CHECK(t[0] != t[1]);
    ++counts[t[0]];
  }
  for (uint32_t id = 0; id < 3; ++id)
    CHECK(counts[id] > 850);
}

TEST_CASE("weighted-random-picker follows the scores, zero never wins unless all are zero",
          "[picker]") {
  bench b;
  for (auto n : {"a", "b", "c"})
    b.add(n);
  weighted_random_picker p("w", 1);
  std::map<uint32_t, int> counts;
  for (int i = 0; i < 4000; ++i)
    ++counts[pick_with(p, b, {0.75, 0.25, 0.0})[0]];
  CHECK(counts.count(2) == 0);
  CHECK(counts[0] == Approx(3000).epsilon(0.08));
  CHECK(counts[1] == Approx(1000).epsilon(0.2));
  std::set<uint32_t> seen;
  for (int i = 0; i < 200; ++i)
    seen.insert(pick_with(p, b, {0, 0, 0})[0]);
  CHECK(seen.size() == 3);
}

TEST_CASE("round-robin-picker rotates over the candidates", "[picker]") {
  bench b;
  for (auto n : {"a", "b", "c"})
    b.add(n);
  round_robin_picker p("rr", 1);
  std::vector<uint32_t> seq;
  for (int i = 0; i < 6; ++i)
    seq.push_back(pick_with(p, b, {0, 1, 0})[0]);
  CHECK(seq == std::vector<uint32_t>{0, 1, 2, 0, 1, 2});
}
