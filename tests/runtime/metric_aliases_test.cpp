// /metrics renders the picker's GAIE-era families under llm-d-router v0.10's llm_d_epp_* names too.
#include <set>

#include <catch2/catch.hpp>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "runtime/metric_aliases.hpp"
#include "runtime/metrics.hpp"

using namespace inferstack::runtime;
using Catch::Matchers::Contains;

TEST_CASE("metric aliases: an old family is rendered under its llm_d_epp name with its values") {
  prometheus::Registry r;
  auto& requests = prometheus::BuildCounter()
                       .Name("inference_objective_request_total")
                       .Help("requests")
                       .Register(r)
                       .Add({{"model_name", "m"}, {"target_model_name", "m"}});
  requests.Increment(3);
  auto& hist = prometheus::BuildHistogram()
                   .Name("inference_extension_plugin_duration_seconds")
                   .Help("plugins")
                   .Register(r)
                   .Add({{"plugin_name", "p"}}, prometheus::Histogram::BucketBoundaries{0.1, 1});
  hist.Observe(0.5);
  auto text = render_metrics(r);
  CHECK_THAT(text, Contains("inference_objective_request_total{model_name=\"m\",target_model_name="
                            "\"m\"} 3"));
  CHECK_THAT(text, Contains("llm_d_epp_request_total{model_name=\"m\",target_model_name=\"m\"} 3"));
  CHECK_THAT(text, Contains("# TYPE llm_d_epp_request_total counter"));
  CHECK_THAT(text,
             Contains("llm_d_epp_plugin_duration_seconds_bucket{plugin_name=\"p\",le=\"1\"} 1"));
  CHECK_THAT(text,
             Contains("inference_extension_plugin_duration_seconds_count{plugin_name=\"p\"} 1"));
}

TEST_CASE("metric aliases: labels llm-d renamed are renamed in the copy only") {
  prometheus::Registry r;
  prometheus::BuildGauge()
      .Name("inference_pool_per_pod_queue_size")
      .Help("queues")
      .Register(r)
      .Add({{"name", "ns/pool"}, {"model_server_pod", "ns/pod-a"}})
      .Set(4);
  auto text = render_metrics(r);
  CHECK_THAT(text, Contains("inference_pool_per_pod_queue_size{model_server_pod=\"ns/pod-a\","
                            "name=\"ns/pool\"} 4"));
  CHECK_THAT(text, Contains("llm_d_epp_per_endpoint_queue_size{model_server_endpoint=\"ns/pod-a\","
                            "name=\"ns/pool\"} 4"));
  CHECK_FALSE(text.find("llm_d_epp_per_endpoint_queue_size{model_server_pod") != std::string::npos);
}

TEST_CASE("metric aliases: a family registered under the new name is not copied over") {
  prometheus::Registry r;
  prometheus::BuildGauge().Name("inference_pool_ready_pods").Help("old").Register(r).Add({}).Set(2);
  prometheus::BuildGauge().Name("llm_d_epp_ready_endpoints").Help("new").Register(r).Add({}).Set(5);
  std::vector<prometheus::MetricFamily> families = r.Collect();
  add_metric_aliases(families);
  REQUIRE(families.size() == 2);
  for (const auto& f : families)
    if (f.name == "llm_d_epp_ready_endpoints") CHECK(f.metric.at(0).gauge.value == 5);
}

TEST_CASE("metric aliases: other families are left alone") {
  prometheus::Registry r;
  prometheus::BuildCounter().Name("vllm:num_preemptions_total").Help("x").Register(r).Add({});
  std::vector<prometheus::MetricFamily> families = r.Collect();
  add_metric_aliases(families);
  CHECK(families.size() == 1);
}

TEST_CASE("metric aliases: every new name is llm_d_epp_ and every old name is GAIE's, once") {
  std::set<std::string_view> olds, news;
  for (const auto& a : llm_d_metric_aliases()) {
    CHECK(a.new_name.rfind("llm_d_epp_", 0) == 0);
    CHECK((a.old_name.rfind("inference_objective_", 0) == 0 ||
           a.old_name.rfind("inference_pool_", 0) == 0 ||
           a.old_name.rfind("inference_extension_", 0) == 0));
    CHECK(olds.insert(a.old_name).second);
    CHECK(news.insert(a.new_name).second);
    CHECK(a.old_label.empty() == a.new_label.empty());
  }
  // The scheduling histogram is the picker's own under llm-d's name and buckets, not a copy.
  CHECK(olds.count("inference_extension_scheduler_e2e_duration_seconds") == 0);
}
