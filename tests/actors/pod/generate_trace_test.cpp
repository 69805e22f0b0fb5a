// The pod's span of a generation: recorded only under a sampled caller, a child of the caller's
// span, timed by the pod (arrival to end; queue, prefill and decode) on the simulation's clock,
// with its tokens, finish reasons and outcome -- and a refusal's span says why.
#include <catch2/catch.hpp>

#include <map>

#include "actors/pod/generate_trace.hpp"
#include "actors/pod/pod_actor.hpp"
#include "runtime/tokenizer.hpp"
#include "runtime/tracing/tracer.hpp"
#include "tests/support/caf_fixture.hpp"

using namespace inferstack;
using namespace inferstack::actors::pod;
using namespace std::chrono_literals;

namespace {

constexpr const char* sampled_parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr const char* unsampled_parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

std::map<std::string, tracing::attribute_value> attributes_of(const tracing::span& s) {
  std::map<std::string, tracing::attribute_value> out;
  for (const auto& a : s.attributes.decoded())
    out.emplace(std::string(a.key.view()), a.value);
  return out;
}

struct trace_fixture : testing::caf_fixture {
  std::vector<tracing::span> ended;
  std::shared_ptr<tracing::tracer> tracer = std::make_shared<tracing::tracer>(
      tracing::ratio_sampler(1.0), 42,
      [this] {  // the simulation's clock: deterministic
        return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         sys.clock().now().time_since_epoch())
                                         .count());
      },
      [this](tracing::span&& s) { ended.push_back(std::move(s)); });

  pod_actor start(bool ready = true) {
    pod_settings s;
    std::vector<std::string> problems =
        apply_pod_options(s,
                          {{"model", "test-model"},
                           {"mode", "echo"},
                           {"time-to-first-token", "20"},  // ms: a prefill and a decode to see
                           {"inter-token-latency", "5"}},
                          INFERSTACK_SOURCE_DIR "/config/profiles");
    for (auto& p : finish_pod_settings(s))
      problems.push_back(p);
    for (auto& p : problems)
      FAIL(p);
    s.pod_name = "team-a/pod-0";
    pod_dependencies deps;
    deps.registry = std::make_shared<prometheus::Registry>();
    deps.start_ready = ready;
    deps.tracer = tracer;
    auto pod = spawn_pod(sys, s, deps);
    run();
    return pod;
  }

  generate_request chat(std::string text, std::string traceparent,
                        std::string model = "test-model") {
    generate_request r;
    r.request_id = "req-1";
    r.model = std::move(model);
    r.prompts = {runtime::tokenize(text)};
    r.echo_texts = {text};
    r.max_tokens = 16;
    r.traceparent = std::move(traceparent);
    return r;
  }

  caf::expected<generate_result> complete(const pod_actor& pod, generate_request r) {
    self->send(pod, std::move(r));
    std::optional<caf::expected<generate_result>> out;
    advance_until(
        [&] {
          self->receive([&](generate_result& res) { out = std::move(res); },
                        [&](caf::error& err) { out = caf::expected<generate_result>(err); },
                        caf::after(0s) >> [] {});
          return out.has_value();
        },
        60s);
    if (!out) return caf::make_error(caf::sec::request_timeout);
    return *out;
  }
};

}  // namespace

TEST_CASE_METHOD(trace_fixture,
                 "a traced generation is the caller's child span, timed by the pod") {
  auto pod = start();
  auto r = complete(pod, chat("hello there world", sampled_parent));
  REQUIRE(r);
  REQUIRE(ended.size() == 1);
  const auto& s = ended[0];
  CHECK(s.name == "generate");
  CHECK(tracing::to_hex(s.trace) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(tracing::to_hex(s.parent) == "00f067aa0ba902b7");
  CHECK(s.status == tracing::status_code::unset);
  // The span lasts what the pod measured: arrival to last token.
  REQUIRE(r->e2e_ns > 0);
  CHECK(s.end_unix_nano - s.start_unix_nano == static_cast<uint64_t>(r->e2e_ns));
  auto a = attributes_of(s);
  CHECK(std::get<std::string>(a.at("inferstack.pod")) == "team-a/pod-0");
  CHECK(std::get<std::string>(a.at("gen_ai.request.model")) == "test-model");
  CHECK(std::get<int64_t>(a.at("gen_ai.usage.input_tokens")) == 3);
  CHECK(std::get<int64_t>(a.at("gen_ai.usage.output_tokens")) == 3);
  CHECK(std::get<int64_t>(a.at("inferstack.usage.cached_tokens")) == r->cached_tokens);
  CHECK(std::get<std::string>(a.at("gen_ai.response.finish_reasons")) == "stop");
  CHECK(std::get<std::string>(a.at("inferstack.outcome")) == "ok");
  CHECK(std::get<double>(a.at("inferstack.queue_seconds")) == Approx(r->queue_ns / 1e9));
  CHECK(std::get<double>(a.at("inferstack.prefill_seconds")) ==
        Approx((r->ttft_ns - r->queue_ns) / 1e9));
  CHECK(std::get<double>(a.at("inferstack.decode_seconds")) ==
        Approx((r->e2e_ns - r->ttft_ns) / 1e9));
  CHECK(s.events.empty());  // the times are attributes
}

TEST_CASE_METHOD(trace_fixture, "an untraced or unsampled generation records nothing") {
  auto pod = start();
  REQUIRE(complete(pod, chat("hello there", "")));
  REQUIRE(complete(pod, chat("hello there", unsampled_parent)));
  CHECK(ended.empty());
}

TEST_CASE_METHOD(trace_fixture, "a refused generation's span says why, an error when the pod's") {
  auto pod = start(false);  // still loading: 503
  CHECK_FALSE(complete(pod, chat("hello", sampled_parent)));
  REQUIRE(ended.size() == 1);
  auto a = attributes_of(ended[0]);
  CHECK(std::get<std::string>(a.at("inferstack.outcome")) == "not_ready");
  CHECK(ended[0].status == tracing::status_code::error);
  CHECK(ended[0].end_unix_nano >= ended[0].start_unix_nano);

  caf::anon_send(pod, mark_ready{});
  run();
  CHECK_FALSE(complete(pod, chat("hello", sampled_parent, "no-such-model")));  // 404
  REQUIRE(ended.size() == 2);
  a = attributes_of(ended[1]);
  CHECK(std::get<std::string>(a.at("inferstack.outcome")) == "model_not_found");
  CHECK(ended[1].status == tracing::status_code::unset);  // the caller's mistake
}

TEST_CASE("a generation's span from its result: times, tokens, reasons by hand") {
  tracing::span s;
  s.start_unix_nano = 1'000'000;
  generate_result r;
  r.request_id = "req-9";
  r.pod = "pod-9";
  r.model = "m";
  r.prompt_tokens = 100;
  r.cached_tokens = 64;
  r.completion_tokens = 7;
  r.queue_ns = 2'000;
  r.ttft_ns = 50'000;
  r.e2e_ns = 350'000;
  r.choices = {{0, "", "stop", 4, ""}, {1, "", "length", 3, ""}};
  describe_generation(s, r);
  CHECK(s.end_unix_nano == 1'350'000);
  auto a = attributes_of(s);
  CHECK(std::get<int64_t>(a.at("inferstack.usage.cached_tokens")) == 64);
  CHECK(std::get<std::string>(a.at("gen_ai.response.finish_reasons")) == "stop,length");
  CHECK(std::get<double>(a.at("inferstack.queue_seconds")) == Approx(2e-6));
  CHECK(std::get<double>(a.at("inferstack.prefill_seconds")) == Approx(48e-6));
  CHECK(std::get<double>(a.at("inferstack.decode_seconds")) == Approx(300e-6));
}
