// The InferenceGateway's spec.tracing: read with its defaults, and each bad value reported
// naming the file and the field.
#include <catch2/catch.hpp>

#include <string>

#include "runtime/config/manifests.hpp"

using namespace inferstack::config;

namespace {

load_result load_gateway(const std::string& spec) {
  load_result r;
  load_text(
      "apiVersion: inferstack.io/v1alpha1\nkind: InferenceGateway\nmetadata: {name: gw}\n"
      "spec:\n  listen: 127.0.0.1:1\n" +
          spec,
      "gw.yaml", r);
  return r;
}

std::string all_problems(const load_result& r) {
  std::string out;
  for (const auto& p : r.problems)
    out += p.to_string() + "\n";
  return out;
}

}  // namespace

TEST_CASE("config: spec.tracing is read, unset fields keep their defaults") {
  auto r =
      load_gateway("  tracing:\n    endpoint: http://127.0.0.1:4318\n    samplingRatio: 0.25\n");
  INFO(all_problems(r));
  REQUIRE(r.problems.empty());
  REQUIRE(r.config.gateway);
  const auto& t = r.config.gateway->tracing;
  CHECK(t.endpoint == "http://127.0.0.1:4318");
  CHECK(t.sampling_ratio == 0.25);
  CHECK(t.service_name == "inferstack");
  CHECK(t.max_queue == 2048);
  CHECK(t.max_batch == 512);
  CHECK(t.max_delay == std::chrono::seconds(1));
  auto all = load_gateway(
      "  tracing: {endpoint: 'http://otel:4318/otlp', serviceName: gw, maxQueue: 10, maxBatch: 5, "
      "maxDelay: 250ms}\n");
  REQUIRE(all.problems.empty());
  CHECK(all.config.gateway->tracing.service_name == "gw");
  CHECK(all.config.gateway->tracing.max_delay == std::chrono::milliseconds(250));
}

TEST_CASE("config: without spec.tracing there is no tracing") {
  auto r = load_gateway("");
  REQUIRE(r.problems.empty());
  CHECK(r.config.gateway->tracing.endpoint.empty());
}

TEST_CASE("config: bad tracing fields are named with their file") {
  struct bad_case {
    const char* yaml;
    const char* field;
    const char* message;
  };
  const bad_case cases[] = {
      {"{endpoint: 'https://otel:4318'}", "spec.tracing.endpoint", "is not an http:// URL"},
      {"{endpoint: 'http://otel:0'}", "spec.tracing.endpoint", "has no valid port"},
      {"{endpoint: 'http://x:1', samplingRatio: 1.5}", "spec.tracing.samplingRatio",
       "between 0 and 1"},
      {"{endpoint: 'http://x:1', samplingRatio: -0.1}", "spec.tracing.samplingRatio",
       "between 0 and 1"},
      {"{endpoint: 'http://x:1', samplingRate: 1}", "spec.tracing.samplingRate", "unknown field"},
      {"{samplingRatio: 1}", "spec.tracing.endpoint", "required"},
      {"{endpoint: 'http://x:1', maxQueue: 0}", "spec.tracing.maxQueue", "at least 1"},
      {"{endpoint: 'http://x:1', maxQueue: 4, maxBatch: 8}", "spec.tracing.maxBatch",
       "between 1 and maxQueue"},
      {"{endpoint: 'http://x:1', maxDelay: 0s}", "spec.tracing.maxDelay", "positive"},
      {"{endpoint: 'http://x:1', serviceName: ''}", "spec.tracing.serviceName", "not be empty"},
  };
  for (const auto& c : cases) {
    auto r = load_gateway(std::string("  tracing: ") + c.yaml + "\n");
    auto text = all_problems(r);
    INFO(c.yaml << "\n" << text);
    REQUIRE(r.problems.size() == 1);
    CHECK(r.problems[0].file == "gw.yaml");
    CHECK(r.problems[0].field == c.field);
    CHECK(r.problems[0].message.find(c.message) != std::string::npos);
  }
}
