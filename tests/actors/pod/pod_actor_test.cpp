// The pod actor in virtual time: admission and errors, streaming with credits, timing that
// reacts to load and prefix hits, KV events with gap-free sequence numbers, lifecycle.
#include <catch2/catch.hpp>

#include <numeric>

#include "actors/pod/pod_actor.hpp"
#include "runtime/kv_events.hpp"
#include "runtime/tokenizer.hpp"
#include "tests/support/caf_fixture.hpp"

using namespace inferstack;
using namespace inferstack::actors::pod;
using namespace std::chrono_literals;

namespace {

struct captured {
  std::vector<load_report> loads;
  std::vector<kv_event_message> kv;
};

pod_settings settings_with(std::map<std::string, std::string> options) {
  pod_settings s;
  options.emplace("model", "test-model");
  auto problems = apply_pod_options(s, options, INFERSTACK_SOURCE_DIR "/config/profiles");
  for (auto& p : finish_pod_settings(s))
    problems.push_back(p);
  for (auto& p : problems)
    FAIL(p);
  return s;
}

struct pod_fixture : testing::caf_fixture {
  std::shared_ptr<captured> events = std::make_shared<captured>();
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();

  pod_actor start(std::map<std::string, std::string> options, bool ready = true) {
    pod_dependencies deps;
    deps.registry = registry;
    deps.start_ready = ready;
    auto ev = events;
    deps.outputs.load = [ev](const load_report& r) { ev->loads.push_back(r); };
    deps.outputs.kv_events = [ev](const kv_event_message& m) { ev->kv.push_back(m); };
    auto pod = spawn_pod(sys, settings_with(std::move(options)), deps);
    run();
    return pod;
  }

  generate_request chat(std::string text, int64_t max_tokens = 8, bool stream = false) {
    generate_request r;
    r.request_id = "req-" + std::to_string(++counter);
    r.model = "test-model";
    r.prompts = {runtime::tokenize(text)};
    r.echo_texts = {text};
    r.max_tokens = max_tokens;
    r.stream = stream;
    return r;
  }

  /// Sends a request from the test actor and runs virtual time until its result arrives.
  caf::expected<generate_result> complete(const pod_actor& pod, generate_request r,
                                          caf::timespan limit = 600s) {
    self->send(pod, std::move(r));
    std::optional<caf::expected<generate_result>> out;
    advance_until(
        [&] {
          self->receive([&](generate_result& res) { out = std::move(res); },
                        [&](caf::error& err) { out = caf::expected<generate_result>(err); },
                        [&](token_chunk&) {}, caf::after(0s) >> [] {});
          return out.has_value();
        },
        limit);
    if (!out) return caf::make_error(caf::sec::request_timeout);
    return *out;
  }

  double metric(const std::string& name, const std::string& label = "",
                const std::string& value = "") {
    double total = 0;
    for (const auto& f : registry->Collect())
      if (f.name == name)
        for (const auto& m : f.metric) {
          if (!label.empty() && std::none_of(m.label.begin(), m.label.end(), [&](const auto& l) {
                return l.name == label && l.value == value;
              }))
            continue;
          total += f.type == prometheus::MetricType::Counter ? m.counter.value
                   : f.type == prometheus::MetricType::Gauge
                       ? m.gauge.value
                       : static_cast<double>(m.histogram.sample_count);
        }
    return total;
  }

  int counter = 0;
};

std::string long_prompt(int words, const std::string& seed_word = "alpha") {
  std::string out;
  for (int i = 0; i < words; ++i)
    out += seed_word + std::to_string(i % 97) + " ";
  return out;
}

}  // namespace

TEST_CASE_METHOD(pod_fixture, "a pod answers in echo mode with usage") {
  auto pod = start({{"mode", "echo"}});
  auto r = complete(pod, chat("hello there world", 16));
  REQUIRE(r);
  REQUIRE(r->choices.size() == 1);
  CHECK(r->choices[0].text == "hello there world");
  CHECK(r->choices[0].finish_reason == "stop");
  CHECK(r->prompt_tokens == 3);
  CHECK(r->completion_tokens == 3);
  CHECK(r->model == "test-model");
  // As the simulator: max_tokens does not cut the echo short, it only makes the finish `length`
  auto over = complete(pod, chat("one two three four", 2));
  REQUIRE(over);
  CHECK(over->choices[0].text == "one two three four");
  CHECK(over->choices[0].finish_reason == "length");
  CHECK(over->completion_tokens == 4);
  // reaching max_tokens exactly is `length` too
  auto exact = complete(pod, chat("one two three four", 4));
  REQUIRE(exact);
  CHECK(exact->choices[0].text == "one two three four");
  CHECK(exact->choices[0].finish_reason == "length");
  CHECK(metric("vllm:request_success_total", "finish_reason", "stop") == 1);
  CHECK(metric("vllm:request_success_total", "finish_reason", "length") == 2);
  CHECK(metric("vllm:generation_tokens_total") == 11);
}

TEST_CASE_METHOD(pod_fixture,
                 "an echo longer than the context left comes back whole, as the simulator's") {
  // The engine runs the 2 tokens that fit max-model-len; the last of them brings the rest.
  auto pod = start({{"mode", "echo"}, {"max-model-len", "8"}});
  auto r = complete(pod, chat("a b c d e f", 2));
  REQUIRE(r);
  CHECK(r->choices[0].text == "a b c d e f");
  CHECK(r->choices[0].finish_reason == "length");  // max_tokens 2 reached, as the simulator says
  CHECK(r->completion_tokens == 6);
  // Unbounded (max_tokens unset): the same whole text, finish stop.
  auto whole = complete(pod, chat("a b c d e f", -1));
  REQUIRE(whole);
  CHECK(whole->choices[0].text == "a b c d e f");
  CHECK(whole->choices[0].finish_reason == "stop");

  // Streamed: the last chunk carries the rest of the echo and the finish reason.
  self->send(pod, chat("a b c d e f", -1, true));
  std::string text;
  uint32_t tokens = 0;
  std::string reason;
  std::optional<generate_result> result;
  advance_until(
      [&] {
        self->receive(
            [&](token_chunk& c) {
              text += c.text, tokens += c.tokens;
              if (!c.finish_reason.empty()) reason = c.finish_reason;
            },
            [&](generate_result& res) { result = res; }, [&](caf::error&) { FAIL("error"); },
            caf::after(0s) >> [] {});
        return result.has_value();
      },
      10s);
  REQUIRE(result);
  CHECK(text == "a b c d e f");
  CHECK(tokens == 6);
  CHECK(reason == "stop");
}

TEST_CASE_METHOD(pod_fixture, "an echo pod's prefill-only request still produces one token") {
  auto pod = start({{"mode", "echo"}});
  auto r = chat("one two three four", 8);
  r.remote_decode = true;
  auto handed = complete(pod, r);
  REQUIRE(handed);
  CHECK(handed->completion_tokens == 1);
  CHECK(handed->choices[0].text == "one ");
}

TEST_CASE_METHOD(pod_fixture, "errors: unknown model, context length, X-Return-Error, not ready") {
  auto pod = start({{"max-model-len", "32"}});
  auto unknown = chat("hi");
  unknown.model = "gpt-9";
  auto r = complete(pod, unknown);
  REQUIRE_FALSE(r);
  CHECK(describe_pod_error(r.error()).status == 404);
  CHECK(describe_pod_error(r.error()).message == "The model `gpt-9` does not exist.");

  auto too_long = complete(pod, chat(long_prompt(40), 8));
  REQUIRE_FALSE(too_long);
  auto info = describe_pod_error(too_long.error());
  CHECK(info.status == 400);
  CHECK(info.code == "context_length_exceeded");
  CHECK(info.message.find("maximum context length is 32 tokens") != std::string::npos);

  // X-Return-Error is fault injection: ignored unless the operator enabled it on this pod.
  auto returned = chat("hi");
  returned.return_error = 418;
  CHECK(complete(pod, returned));
  auto injecting = start({{"enable-return-error-header", "true"}});
  auto rr = complete(injecting, returned);
  REQUIRE_FALSE(rr);
  CHECK(describe_pod_error(rr.error()).status == 418);

  auto loading = start({}, false);
  auto nr = complete(loading, chat("hi"));
  REQUIRE_FALSE(nr);
  CHECK(describe_pod_error(nr.error()).status == 503);
  self->send(loading, mark_ready{});
  CHECK(complete(loading, chat("hi")));
}

TEST_CASE_METHOD(pod_fixture, "a full waiting queue answers 429") {
  auto pod = start({{"max-num-seqs", "1"},
                    {"max-waiting-queue-length", "1"},
                    {"time-to-first-token", "1s"},
                    {"inter-token-latency", "100ms"}});
  for (int i = 0; i < 2; ++i)
    self->send(pod, chat("busy", 4));
  run();
  auto third = complete(pod, chat("one too many", 4), 10ms);
  REQUIRE_FALSE(third);
  CHECK(describe_pod_error(third.error()).status == 429);
  advance_time(30s);
}

TEST_CASE_METHOD(pod_fixture, "failure injection answers the simulator's error set") {
  auto pod = start({{"failure-injection-rate", "100"}, {"failure-types", "rate_limit"}});
  auto r = complete(pod, chat("hi"));
  REQUIRE_FALSE(r);
  auto info = describe_pod_error(r.error());
  CHECK(info.status == 429);
  CHECK(info.message.find("Rate limit reached for test-model") == 0);
  auto all = start({{"failure-injection-rate", "100"}});
  std::set<int> statuses;
  for (int i = 0; i < 60; ++i) {
    auto e = complete(all, chat("x"));
    REQUIRE_FALSE(e);
    statuses.insert(describe_pod_error(e.error()).status);
  }
  CHECK(statuses == std::set<int>{400, 401, 404, 429, 503});
}

TEST_CASE_METHOD(pod_fixture, "streams respect the credit window and end with the finish reason") {
  auto pod = start({{"mode", "echo"}, {"inter-token-latency", "10ms"}});
  auto req = chat("a b c d e f g h", 16, true);
  req.stream_window = 2;
  self->send(pod, req);
  std::vector<token_chunk> chunks;
  auto drain = [&] {
    bool more = true;
    while (more) {
      more = false;
      self->receive([&](token_chunk& c) { chunks.push_back(c), more = true; },
                    caf::after(0s) >> [] {});
    }
  };
  advance_time(1s);
  drain();
  CHECK(chunks.size() == 2);  // the window is full; the pod waits for credit
  self->send(pod, stream_ack{req.request_id, 2});
  advance_time(1s);
  drain();
  self->send(pod, stream_ack{req.request_id, 2});
  advance_time(1s);
  drain();
  self->send(pod, stream_ack{req.request_id, 2});
  std::optional<generate_result> result;
  advance_until(
      [&] {
        self->receive([&](token_chunk& c) { chunks.push_back(c); },
                      [&](generate_result& r) { result = r; }, [&](caf::error&) { FAIL("error"); },
                      caf::after(0s) >> [] {});
        if (!chunks.empty() && !result) self->send(pod, stream_ack{req.request_id, 1});
        return result.has_value();
      },
      10s);
  REQUIRE(result);
  std::string text;
  uint32_t tokens = 0;
  for (auto& c : chunks)
    text += c.text, tokens += c.tokens;
  CHECK(text == "a b c d e f g h");
  CHECK(tokens == 8);
  CHECK(chunks.front().first);
  CHECK(chunks.back().finish_reason == "stop");
  CHECK(result->choices[0].text.empty());  // streamed: the text went out in chunks
  CHECK(result->completion_tokens == 8);
}

TEST_CASE_METHOD(pod_fixture, "TTFT grows with queue depth and batch size (step model)") {
  auto pod = start({{"profile", "8b-h100"}, {"max-num-seqs", "4"}});
  auto prompt = long_prompt(200);
  auto alone = complete(pod, chat(prompt, 4));
  REQUIRE(alone);
  // 12 requests at once: with 4 running at a time, later ones wait in the queue.
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    auto r = chat(long_prompt(200, "w" + std::to_string(i)), 4);
    ids.push_back(r.request_id);
    self->send(pod, r);
  }
  std::vector<generate_result> results;
  advance_until(
      [&] {
        for (bool more = true; more;)
          self->receive([&](generate_result& r) { results.push_back(r); },
                        [&](caf::error& e) { FAIL(sys.render(e)); },
                        caf::after(0s) >> [&] { more = false; });
        return results.size() == 12;
      },
      600s);
  REQUIRE(results.size() == 12);
  int64_t max_ttft = 0;
  for (auto& r : results)
    max_ttft = std::max(max_ttft, r.ttft_ns);
  CHECK(max_ttft > 3 * alone->ttft_ns);
  int64_t max_queue = 0;
  for (auto& r : results)
    max_queue = std::max(max_queue, r.queue_ns);
  CHECK(max_queue > 0);
}

TEST_CASE_METHOD(pod_fixture,
                 "run-time options (POST /admin/config) time later requests and inject failures") {
  auto pod = start({{"latency-calculator", "constant"}, {"time-to-first-token", "0ms"}});
  auto apply = [&](std::vector<std::string> keys, std::vector<std::string> values) {
    self->send(pod, apply_options{std::move(keys), std::move(values)});
    run();
    std::optional<options_applied> out;
    self->receive([&](options_applied& a) { out = a; }, caf::after(0s) >> [] {});
    REQUIRE(out);
    return *out;
  };
  auto before = complete(pod, chat("hello there", 4));
  REQUIRE(before);
  CHECK(before->ttft_ns < 1'000'000);
  CHECK(apply({"time-to-first-token"}, {"1s"}).problems.empty());
  auto after = complete(pod, chat("hello there", 4));
  REQUIRE(after);
  CHECK(after->ttft_ns >= 1'000'000'000);
  // A bad value changes nothing.
  CHECK_FALSE(
      apply({"time-to-first-token", "inter-token-latency"}, {"2s", "soon"}).problems.empty());
  auto same = complete(pod, chat("hello there", 4));
  REQUIRE(same);
  CHECK(same->ttft_ns >= 1'000'000'000);
  CHECK(same->ttft_ns < 2'000'000'000);
  // The calculator can change as well: per-token with a prefill overhead.
  CHECK(apply({"latency-calculator", "prefill-overhead"}, {"per-token", "300ms"}).problems.empty());
  auto per_token = complete(pod, chat("hello there", 4));
  REQUIRE(per_token);
  CHECK(per_token->ttft_ns >= 300'000'000);
  CHECK(per_token->ttft_ns < 1'000'000'000);
  CHECK(apply({"failure-injection-rate", "failure-types"}, {"100", "rate_limit"}).problems.empty());
  auto failed = complete(pod, chat("x"));
  REQUIRE_FALSE(failed);
  CHECK(describe_pod_error(failed.error()).status == 429);
  CHECK(apply({"failure-injection-rate"}, {"0"}).problems.empty());
  CHECK(complete(pod, chat("x")));
}

TEST_CASE_METHOD(
    pod_fixture,
    "asleep, a pod discards its KV cache and caches nothing until the kv_cache wakes") {
  auto pod = start({{"profile", "8b-h100"}, {"block-size", "16"}, {"event-batch-size", "1"}});
  auto prompt = long_prompt(160);  // 10 full blocks
  auto kinds = [&](size_t from) {
    std::vector<std::string> out;
    for (size_t i = from; i < events->kv.size(); ++i) {
      auto batch = runtime::decode_batch(events->kv[i].payload);
      REQUIRE(batch);
      for (auto& e : batch->events)
        out.push_back(std::holds_alternative<runtime::block_stored>(e)    ? "stored"
                      : std::holds_alternative<runtime::block_removed>(e) ? "removed"
                                                                          : "cleared");
    }
    return out;
  };
  REQUIRE(complete(pod, chat(prompt, 2)));
  auto warm = complete(pod, chat(prompt, 2));
  REQUIRE(warm);
  CHECK(warm->cached_tokens == 144);

  auto mark = events->kv.size();
  self->send(pod, sleep_control{true, false});
  run();
  CHECK(kinds(mark) == std::vector<std::string>{"cleared"});
  mark = events->kv.size();
  auto asleep = complete(pod, chat(prompt, 2));
  REQUIRE(asleep);  // still served
  CHECK(asleep->cached_tokens == 0);
  CHECK(kinds(mark).empty());  // nothing stored while asleep

  self->send(pod, sleep_control{false, false});  // tags=weights: the cache sleeps on
  run();
  auto weights_only = complete(pod, chat(prompt, 2));
  REQUIRE(weights_only);
  CHECK(weights_only->cached_tokens == 0);
  CHECK(kinds(mark).empty());

  self->send(pod, sleep_control{false, true});
  run();
  auto awake = complete(pod, chat(prompt, 2));
  REQUIRE(awake);
  CHECK(awake->cached_tokens == 0);  // the cache starts empty
  auto stored = kinds(mark);
  CHECK(std::count(stored.begin(), stored.end(), "stored") > 0);
  auto again = complete(pod, chat(prompt, 2));
  REQUIRE(again);
  CHECK(again->cached_tokens == 144);
}

TEST_CASE_METHOD(pod_fixture, "a repeated prompt hits the prefix cache and starts sooner") {
  auto pod = start({{"profile", "8b-h100"}, {"block-size", "16"}});
  auto prompt = long_prompt(160);  // 160 tokens: 10 full blocks
  auto first = complete(pod, chat(prompt, 2));
  auto second = complete(pod, chat(prompt, 2));
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->cached_tokens == 0);
  // all full blocks but the one holding the last token (it is always recomputed)
  CHECK(second->cached_tokens == 144);
  CHECK(second->cached_tokens % 16 == 0);
  CHECK(second->ttft_ns < first->ttft_ns / 2);
  CHECK(metric("vllm:prefix_cache_hits_total") == 144);
}

TEST_CASE_METHOD(pod_fixture,
                 "a KV cache smaller than the working set evicts and preempts, yet every "
                 "request completes, and events are in order with gap-free sequence numbers") {
  auto pod = start({{"profile", "8b-h100"},
                    {"kv-cache-size", "24"},
                    {"block-size", "16"},
                    {"max-num-seqs", "8"},
                    {"event-batch-size", "1"}});
  std::vector<generate_request> reqs;
  for (int i = 0; i < 10; ++i) {
    auto r = chat(long_prompt(60, "p" + std::to_string(i)), 40);
    r.max_tokens = 40;
    r.ignore_eos = true;
    reqs.push_back(r);
    self->send(pod, r);
  }
  std::vector<generate_result> results;
  advance_until(
      [&] {
        for (bool more = true; more;)
          self->receive([&](generate_result& r) { results.push_back(r); },
                        [&](caf::error& e) { FAIL(sys.render(e)); },
                        caf::after(0s) >> [&] { more = false; });
        return results.size() == reqs.size();
      },
      3600s);
  REQUIRE(results.size() == reqs.size());
  for (auto& r : results)
    CHECK(r.completion_tokens == 40);
  CHECK(metric("vllm:num_preemptions_total") > 0);

  REQUIRE_FALSE(events->kv.empty());
  std::set<uint64_t> stored;
  size_t removed = 0;
  for (size_t i = 0; i < events->kv.size(); ++i) {
    CHECK(events->kv[i].seq == i);  // vLLM numbers batches from 0, without gaps
    CHECK(events->kv[i].topic == "kv@127.0.0.1:8000@test-model");
    auto batch = runtime::decode_batch(events->kv[i].payload);
    REQUIRE(batch);
    for (auto& e : batch->events) {
      if (auto* s = std::get_if<runtime::block_stored>(&e))
        for (auto h : s->block_hashes)
          CHECK(stored.insert(h).second);
      if (auto* r = std::get_if<runtime::block_removed>(&e))
        for (auto h : r->block_hashes) {
          CHECK(stored.erase(h) == 1);  // never removed before stored
          ++removed;
        }
    }
  }
  CHECK(removed > 0);
}

TEST_CASE_METHOD(pod_fixture,
                 "load reports follow changes and drain waits for in-flight requests") {
  auto pod = start({{"time-to-first-token", "100ms"}, {"inter-token-latency", "10ms"}});
  auto before = events->loads.size();
  self->send(pod, chat("x y z", 4));
  advance_time(60ms);  // reports are rate-bounded: the change goes out when the interval ends
  REQUIRE(events->loads.size() > before);
  CHECK(events->loads.back().running + events->loads.back().waiting == 1);
  auto drain = std::make_shared<std::optional<drain_done>>();
  self->send(pod, drain_request{});
  run();
  // draining: new requests are refused
  auto refused = complete(pod, chat("late"), 1ms);
  REQUIRE_FALSE(refused);
  CHECK(describe_pod_error(refused.error()).status == 503);
  std::optional<generate_result> finished;
  std::optional<drain_done> done;
  advance_until(
      [&] {
        self->receive([&](generate_result& r) { finished = r; }, [&](drain_done& d) { done = d; },
                      caf::after(0s) >> [] {});
        return done.has_value();
      },
      10s);
  CHECK(finished);  // the in-flight request completed before the drain finished
  REQUIRE(done);
  CHECK(done->completed == 1);
  CHECK(events->loads.back().draining);
}

TEST_CASE_METHOD(pod_fixture, "a requester that dies frees its sequences") {
  auto pod = start({{"time-to-first-token", "1s"}, {"inter-token-latency", "1s"}});
  auto client = sys.spawn([pod](caf::event_based_actor* c) -> caf::behavior {
    generate_request r;
    r.request_id = "orphan";
    r.model = "test-model";
    r.prompts = {{1, 2, 3}};
    r.max_tokens = 100;
    c->request(pod, caf::infinite, r).then([](generate_result&) {});
    return {[](int) {}};
  });
  run();
  advance_time(2s);
  auto status = request<load_report>(pod, status_request{});
  REQUIRE(status);
  CHECK(status->running + status->waiting == 1);
  caf::anon_send_exit(client, caf::exit_reason::kill);
  run();
  status = request<load_report>(pod, status_request{});
  REQUIRE(status);
  CHECK(status->running + status->waiting == 0);
}

TEST_CASE_METHOD(pod_fixture,
                 "a cancelled request leaves waiting and running, frees its KV blocks (its "
                 "prefix stays cached) and counts as finished with reason abort") {
  auto pod = start({{"profile", "8b-h100"}, {"block-size", "16"}, {"max-num-seqs", "1"}});
  auto prompt = long_prompt(160);  // 10 full blocks
  auto running = chat(prompt, 2000);
  auto waiting = chat(long_prompt(160, "beta"), 2000);
  self->send(pod, running);
  self->send(pod, waiting);
  advance_time(100ms);
  auto status = request<load_report>(pod, status_request{});
  REQUIRE(status);
  CHECK(status->running == 1);
  CHECK(status->waiting == 1);
  CHECK(status->kv_usage > 0);
  CHECK(metric("vllm:request_success_total", "finish_reason", "abort") == 0);
  self->send(pod, cancel_request{running.request_id});
  self->send(pod, cancel_request{waiting.request_id});
  run();
  int refused = 0;  // both answered at once, with an error
  for (int i = 0; i < 2; ++i)
    self->receive([&](caf::error&) { ++refused; }, [](generate_result&) {},
                  caf::after(0s) >> [] {});
  CHECK(refused == 2);
  status = request<load_report>(pod, status_request{});
  REQUIRE(status);
  CHECK(status->running == 0);
  CHECK(status->waiting == 0);
  CHECK(status->kv_usage == 0);
  CHECK(status->inflight_tokens == 0);
  CHECK(metric("vllm:num_requests_running") == 0);
  CHECK(metric("vllm:num_requests_waiting") == 0);
  CHECK(metric("vllm:kv_cache_usage_perc") == 0);
  CHECK(metric("vllm:request_success_total", "finish_reason", "abort") == 2);
  CHECK(metric("vllm:request_success_total", "finish_reason", "stop") == 0);
  // vLLM's abort frees the blocks but keeps their prefix cached: the prompt hits it again.
  auto again = complete(pod, chat(prompt, 2));
  REQUIRE(again);
  CHECK(again->cached_tokens == 144);
}

TEST_CASE_METHOD(pod_fixture,
                 "a frozen pod makes no progress and sends no load reports, then carries on with "
                 "its requests") {
  auto pod = start({{"time-to-first-token", "1s"}, {"inter-token-latency", "1s"}});
  auto r = chat("one two three four five six", 6, true);
  r.ignore_eos = true;
  self->send(pod, r);
  uint32_t tokens = 0;
  std::optional<generate_result> result;
  std::optional<load_report> status;
  auto take = [&] {
    for (bool more = true; more;)
      self->receive([&](token_chunk& c) { tokens += c.tokens; },
                    [&](generate_result& res) { result = std::move(res); },
                    [&](load_report& rep) { status = std::move(rep); },
                    [&](caf::error& e) { FAIL(sys.render(e)); },
                    caf::after(0s) >> [&] { more = false; });
  };
  advance_time(2500ms);
  take();
  CHECK(tokens == 2);  // at 1 s and 2 s

  caf::anon_send(pod, freeze_pod{true});
  run();
  auto reports = events->loads.size();
  self->send(pod, status_request{});
  advance_time(20s);
  take();
  CHECK(tokens == 2);
  CHECK_FALSE(result);
  CHECK_FALSE(status);                     // it answers nothing while frozen
  CHECK(events->loads.size() == reports);  // its heartbeat (every 0.5 s) is silent too

  caf::anon_send(pod, freeze_pod{false});
  advance_until(
      [&] {
        take();
        return result.has_value();
      },
      60s);
  REQUIRE(result);
  CHECK(tokens == 6);
  CHECK(result->completion_tokens == 6);
  // Not before the unfreeze at 22.5 s (this timing model's token due times are absolute: the
  // tokens overdue come at once then).
  CHECK(result->e2e_ns >= 22'500'000'000);
  CHECK(status);  // the question that waited is answered
  CHECK(events->loads.size() > reports);
}

TEST_CASE_METHOD(pod_fixture,
                 "a pod that is stopped fails what it still holds, as a dead process does") {
  auto pod = start({{"time-to-first-token", "1s"}, {"inter-token-latency", "1s"}});
  auto r = chat("one two three", 6);
  r.ignore_eos = true;  // 6 tokens: it is still at work at 1.5 s
  self->send(pod, r);
  advance_time(1500ms);
  // As the launcher stops a pod (CAF's exit_reason::kill would skip the pod's exit handler).
  caf::anon_send_exit(pod, caf::exit_reason::user_shutdown);
  run();
  std::optional<caf::error> failed;
  self->receive([&](generate_result&) { FAIL("a result from a stopped pod"); },
                [&](caf::error& e) { failed = e; }, caf::after(0s) >> [] {});
  REQUIRE(failed);  // at once, not after the gateway's upstream timeout
  CHECK(*failed == caf::sec::request_receiver_down);
}

TEST_CASE_METHOD(pod_fixture, "X-Cache-Threshold-Finish-Reason: answered at once, no tokens") {
  auto pod = start({{"mode", "echo"}});
  auto req = chat("one two three", 8);
  req.n = 2;
  req.cache_threshold_finish = true;
  auto r = complete(pod, req);
  REQUIRE(r);
  REQUIRE(r->choices.size() == 2);
  CHECK(r->choices[1].finish_reason == "cache_threshold");
  CHECK(r->choices[1].text.empty());
  CHECK(r->completion_tokens == 0);
  CHECK(r->prompt_tokens == 3);

  // Streamed: one finish chunk per choice, without text, before the result.
  auto streamed = chat("one two three", 8, true);
  streamed.cache_threshold_finish = true;
  self->send(pod, streamed);
  std::vector<token_chunk> chunks;
  std::optional<generate_result> result;
  advance_until(
      [&] {
        self->receive([&](token_chunk& c) { chunks.push_back(c); },
                      [&](generate_result& res) { result = res; },
                      [&](caf::error&) { FAIL("error"); }, caf::after(0s) >> [] {});
        return result.has_value();
      },
      10s);
  REQUIRE(result);
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0].finish_reason == "cache_threshold");
  CHECK(chunks[0].text.empty());
}

TEST_CASE_METHOD(pod_fixture,
                 "cache_hit_threshold: a request less cached than its threshold finishes at once") {
  // 32 tokens, block size 16: once served, the first block (16 of 32 tokens) is cached.
  std::string prompt;
  for (int i = 0; i < 32; ++i)
    prompt += "w" + std::to_string(i) + " ";
  auto pod = start({{"mode", "echo"},
                    {"enable-kvcache", "true"},
                    {"block-size", "16"},
                    {"global-cache-hit-threshold", "0.4"}});
  auto cold = complete(pod, chat(prompt, 4));  // nothing cached: below the global 0.4
  REQUIRE(cold);
  CHECK(cold->choices[0].finish_reason == "cache_threshold");
  auto ask = [&](double threshold) {
    auto req = chat(prompt, 4);
    req.cache_hit_threshold = threshold;
    return complete(pod, req);
  };
  auto warmup = ask(0);  // 0 asks for nothing: served, its blocks cached
  REQUIRE(warmup);
  CHECK(warmup->choices[0].finish_reason != "cache_threshold");
  auto half = ask(0.4);  // half of the prompt is cached now
  REQUIRE(half);
  CHECK(half->choices[0].finish_reason != "cache_threshold");
  auto more = ask(0.9);  // the request's own threshold wins over the global one
  REQUIRE(more);
  CHECK(more->choices[0].finish_reason == "cache_threshold");
  CHECK(more->completion_tokens == 0);

  // Without KV events (the simulator's --enable-kvcache off) thresholds are not looked at.
  auto plain =
      start({{"mode", "echo"}, {"enable-kvcache", "false"}, {"global-cache-hit-threshold", "1"}});
  auto served = complete(plain, chat(prompt, 4));
  REQUIRE(served);
  CHECK(served->choices[0].finish_reason != "cache_threshold");
}

TEST_CASE_METHOD(pod_fixture, "failure injection: each type has the simulator's text and param") {
  struct expected {
    const char* type;
    int status;
    const char* message;
    const char* param;
  };
  const expected all[] = {
      {"context_length", 400,
       "This model's maximum context length is 4096 tokens. However, your messages resulted in "
       "4500 tokens.",
       "messages"},
      {"invalid_request", 400, "Invalid request: missing required parameter 'model'.", "model"},
      {"invalid_api_key", 401, "Incorrect API key provided.", ""},
      {"server_error", 503, "The server is overloaded or not ready yet.", ""},
      {"model_not_found", 404, "The model 'test-model-nonexistent' does not exist", "model"},
  };
  for (const auto& e : all) {
    INFO(e.type);
    auto pod = start({{"failure-injection-rate", "100"}, {"failure-types", e.type}});
    auto r = complete(pod, chat("hi"));
    REQUIRE_FALSE(r);
    auto info = describe_pod_error(r.error());
    CHECK(info.status == e.status);
    CHECK(info.message == e.message);
    CHECK(info.param == e.param);
  }
}

TEST_CASE_METHOD(pod_fixture, "metrics: each prompt of a request counts as a request of its own") {
  auto pod = start({{"mode", "echo"}, {"time-to-first-token", "400ms"}});
  auto r = chat("one two three", 8);
  r.prompts = {runtime::tokenize("one two three"), runtime::tokenize("four five"),
               runtime::tokenize("six")};
  r.echo_texts = {"one two three", "four five", "six"};
  r.n = 2;
  auto out = complete(pod, r);
  REQUIRE(out);
  REQUIRE(out->choices.size() == 6);
  // As vLLM and the simulator count them: three requests, not one and not six.
  CHECK(metric("vllm:request_success_total") == 3);
  CHECK(metric("vllm:e2e_request_latency_seconds") == 3);
  CHECK(metric("vllm:request_prompt_tokens") == 3);
  CHECK(metric("vllm:request_generation_tokens") == 3);
  CHECK(metric("vllm:request_max_num_generation_tokens") == 3);
  // The prefill phase runs from the step that admitted it to the first token (400 ms here),
  // not from the end of that step.
  double prefill_sum = 0;
  for (const auto& f : registry->Collect())
    if (f.name == "vllm:request_prefill_time_seconds")
      for (const auto& m : f.metric)
        prefill_sum += m.histogram.sample_sum;
  CHECK(prefill_sum == Approx(3 * 0.4).epsilon(0.05));
}
