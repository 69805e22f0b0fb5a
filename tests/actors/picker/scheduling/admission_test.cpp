// Saturation detection and admission: shedding sheddable traffic, no-endpoint answers.
#include <catch2/catch.hpp>

#include "actors/picker/scheduling/saturation.hpp"
#include "tests/actors/picker/scheduling/picker_test_util.hpp"

using namespace picker_test;

TEST_CASE("utilization-detector: per pod max(queue, kv) ratios, pool average", "[saturation]") {
  bench b;
  b.add("a", {}, load(5, 0.4));  // max(5/5, 0.4/0.8) = 1
  b.add("b", {}, load(0, 0.4));  // 0.5
  utilization_detector d("u", {});
  CHECK(d.endpoint_saturation(b.pool, b.pool.at(0), b.now) == Approx(1.0));
  CHECK(d.saturation(b.pool, b.now) == Approx(0.75));
  // A silent pod counts as saturated (fail closed).
  b.add("c", {}, std::nullopt);
  CHECK(d.saturation(b.pool, b.now) == Approx((1.0 + 0.5 + 1.0) / 3));
  // Requests this picker sent that the last report does not show yet count in the queue.
  b.pool.at(1).picked_since_report = 3;  // report shows 0 waiting + 0 running
  CHECK(d.endpoint_saturation(b.pool, b.pool.at(1), b.now) == Approx(0.6));
  // An empty pool is saturated.
  pool_state empty;
  CHECK(d.saturation(empty, 0) == 1.0);
}

TEST_CASE("utilization-detector: a request done frees its place at once, not at the next report",
          "[saturation]") {
  auto p = build("apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n");
  p->add_endpoint(endpoint_info{"a", "", {}});
  // Five requests sent; the report shows them waiting (the pod's batch is full of others').
  std::vector<pick_request> sent(5);
  std::vector<std::string> ids;
  for (size_t i = 0; i < sent.size(); ++i) {
    ids.push_back("r" + std::to_string(i));
    sent[i].request_id = ids.back();
    auto r = p->schedule(sent[i], 0);
    REQUIRE(r.ok());
    p->pre_request(sent[i], r, 0);
  }
  p->update_load("a", load(5, 0.1), 10);
  CHECK(p->saturated(20));  // 5 waiting / queueDepthThreshold 5
  // Two are done: two waiting requests run now, before the pod says so.
  p->response_complete("r0", 30);
  p->response_complete("r1", 30);
  CHECK_FALSE(p->saturated(40));
  CHECK(p->metrics(40).saturation == Approx(0.6));
  // One more sent: counted until the report shows it.
  pick_request more;
  more.request_id = "r5";
  auto r = p->schedule(more, 50);
  REQUIRE(r.ok());
  p->pre_request(more, r, 50);
  CHECK(p->metrics(60).saturation == Approx(0.8));
  p->update_load("a", load(4, 0.1), 70);  // the report that shows it all
  CHECK(p->metrics(80).saturation == Approx(0.8));
}

TEST_CASE("utilization-detector as a filter drops overloaded pods but fails open", "[saturation]") {
  bench b;
  b.add("busy", {}, load(9, 0.1));
  b.add("full", {}, load(0, 0.95));
  b.add("ok", {}, load(2, 0.3));
  utilization_detector::settings s;
  s.headroom = 0.2;  // queue limit 6, kv limit 0.96
  utilization_detector d("u", s);
  CHECK(b.filter(d) == std::vector<std::string>{"full", "ok"});
  b.pool.update_load("ok", load(20, 0.3), b.now);
  b.pool.update_load("full", load(0, 0.99), b.now);
  CHECK(b.filter(d) == std::vector<std::string>{"busy", "full", "ok"});
}

TEST_CASE("concurrency-detector: assigned work over capacity", "[saturation]") {
  bench b;
  b.add("a");
  b.add("b");
  b.pool.at(0).assigned_requests = 150;
  b.pool.at(0).assigned_tokens = 500'000;
  concurrency_detector requests("c", {});
  CHECK(requests.saturation(b.pool, 0) == Approx(0.75));
  concurrency_detector tokens("c", {"tokens", 100, 1'000'000});
  CHECK(tokens.saturation(b.pool, 0) == Approx(0.25));
  concurrency_detector hybrid("c", {"hybrid", 100, 1'000'000});
  CHECK(hybrid.saturation(b.pool, 0) == Approx(0.75));
}

TEST_CASE("sheddable requests are refused with a retry hint while the pool is saturated",
          "[admission]") {
  picker_options opts;
  opts.shed_retry_after_ns = 2 * second;
  auto p = build("apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n", opts);
  p->add_endpoint(endpoint_info{"a", "", {}});
  p->add_endpoint(endpoint_info{"b", "", {}});
  p->update_load("a", load(10, 0.9), 0);
  p->update_load("b", load(7, 0.2), 0);
  CHECK(p->saturated(0));
  CHECK(p->metrics(0).saturation == Approx((2.0 + 1.4) / 2));
  pick_request sheddable;
  sheddable.priority = -1;
  auto r = p->schedule(sheddable, 0);
  CHECK(r.status == pick_status::shed);
  CHECK(http_status(r.status) == 429);
  CHECK(r.retry_after_ns == 2 * second);
  CHECK(r.reason == "system saturated, sheddable request dropped");
  // Priority 0 and above are never shed.
  pick_request standard;
  CHECK(p->schedule(standard, 0).ok());
  pick_request critical;
  critical.priority = 5;
  CHECK(p->schedule(critical, 0).ok());
  // Below saturation, sheddable traffic flows.
  p->update_load("a", load(1, 0.1), 0);
  p->update_load("b", load(1, 0.1), 0);
  CHECK_FALSE(p->saturated(0));
  CHECK(p->schedule(sheddable, 0).ok());
}

TEST_CASE("silent pods make the pool saturated but keep serving critical traffic",
          "[admission][staleness]") {
  picker_options opts;
  opts.staleness_ns = 1 * second;
  auto p = build("apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n", opts);
  p->add_endpoint(endpoint_info{"a", "", {}});
  p->update_load("a", load(0, 0.0), 0);
  CHECK_FALSE(p->saturated(500'000'000));
  CHECK(p->saturated(5 * second));
  pick_request sheddable;
  sheddable.priority = -1;
  CHECK(p->schedule(sheddable, 5 * second).status == pick_status::shed);
  CHECK(p->schedule(pick_request{}, 5 * second).ok());
}

TEST_CASE("no ready endpoint: 503, whatever the priority", "[admission]") {
  auto p = build("apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n");
  pick_request sheddable;
  sheddable.priority = -1;
  auto r = p->schedule(sheddable, 0);
  CHECK(r.status == pick_status::no_endpoints);
  CHECK(http_status(r.status) == 503);
  p->add_endpoint(endpoint_info{"a", "", {}});
  p->set_ready("a", false);
  CHECK(p->schedule(pick_request{}, 0).status == pick_status::no_endpoints);
  p->set_ready("a", true);
  CHECK(p->schedule(pick_request{}, 0).ok());
  CHECK(p->metrics(0).ready_endpoints == 1);
}

TEST_CASE("pool metrics: averages over ready pods", "[admission]") {
  auto p = build("apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n");
  p->add_endpoint(endpoint_info{"a", "", {}});
  p->add_endpoint(endpoint_info{"b", "", {}});
  p->add_endpoint(endpoint_info{"c", "", {}});
  p->set_draining("c", true);
  p->update_load("a", load(2, 0.5, 4), 0);
  p->update_load("b", load(4, 0.1, 2), 0);
  auto m = p->metrics(0);
  CHECK(m.endpoints == 3);
  CHECK(m.ready_endpoints == 2);
  CHECK(m.average_queue_size == Approx(3));
  CHECK(m.average_kv_cache_utilization == Approx(0.3));
  CHECK(m.average_running_requests == Approx(3));
}
