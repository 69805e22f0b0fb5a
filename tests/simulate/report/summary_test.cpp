// The report's figures and files from hand-made runs: counts, errors by class, nearest-rank
// percentiles, goodput against --slo, hit rate, replicas and GPU-hours summed over pools per
// second; summary.json, requests.csv and timeseries.csv as other tools read them.
#include "simulate/report/summary.hpp"
#include "tests/simulate/temp_files.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;
using namespace inferstack::simulate;
namespace testing = inferstack::simulate::testing;

namespace {

constexpr int64_t ms = 1'000'000;
constexpr int64_t s = 1'000'000'000;

const fs::path& temp_dir() {
  return testing::temp_dir("summary-test");
}

std::string read(const fs::path& path) {
  return testing::read_file(path);
}

/// The figure `key` of `s`; fails the test when it is missing.
double figure(const summary& sum, const std::string& key) {
  for (const auto& [k, v] : sum)
    if (k == key) return v;
  FAIL("no figure " << key);
  return 0;
}

bool has_figure(const summary& sum, const std::string& key) {
  for (const auto& [k, v] : sum)
    if (k == key) return true;
  return false;
}

request_record ok_request(uint64_t index, int64_t arrival_ns, int64_t ttft_ms, int64_t itl_ms,
                          int64_t e2e_ms) {
  request_record r;
  r.index = index;
  r.arrival_ns = arrival_ns;
  r.pool = "ns/pool";
  r.pod = "ns/set-0";
  r.status = 200;
  r.outcome = "ok";
  r.ttft_ns = ttft_ms < 0 ? -1 : ttft_ms * ms;
  r.itl_ns = itl_ms < 0 ? -1 : itl_ms * ms;
  r.e2e_ns = e2e_ms * ms;
  r.prompt_tokens = 100;
  r.output_tokens = 10;
  return r;
}

request_record failed(uint64_t index, int64_t arrival_ns, const std::string& outcome, int status) {
  request_record r;
  r.index = index;
  r.arrival_ns = arrival_ns;
  r.status = status;
  r.outcome = outcome;
  return r;
}

}  // namespace

TEST_CASE("summarize counts requests, ok and errors by class") {
  variant_run run;
  run.requests.push_back(ok_request(0, 0, 5, 1, 50));
  run.requests.push_back(failed(1, 1 * s, "timeout", 504));
  run.requests.push_back(failed(2, 2 * s, "unavailable", 503));
  run.requests.push_back(failed(3, 3 * s, "timeout", 504));
  run.requests.push_back(failed(4, 4 * s, "", 0));  // no answer before the end
  auto sum = summarize(run, {}, {});
  CHECK(figure(sum, "requests") == 5);
  CHECK(figure(sum, "ok") == 1);
  CHECK(figure(sum, "errors") == 4);
  CHECK(figure(sum, "errors.timeout") == 2);
  CHECK(figure(sum, "errors.unavailable") == 1);
  CHECK(figure(sum, "errors.unfinished") == 1);
  CHECK_FALSE(has_figure(sum, "errors.rate_limited"));
  // The fixed order: requests, ok, errors, its classes, then the latencies.
  REQUIRE(sum.size() > 6);
  CHECK(sum[0].first == "requests");
  CHECK(sum[1].first == "ok");
  CHECK(sum[2].first == "errors");
  CHECK(sum[3].first == "errors.timeout");
  CHECK(sum[6].first == "ttft_p50_ms");
  // Errors do not count in the latencies or the hit rate.
  CHECK(figure(sum, "ttft_p50_ms") == 5);
  CHECK(figure(sum, "e2e_p99_ms") == 50);
}

TEST_CASE("add_usage reports GPU-hours, cost split by capacity type and the requests lost") {
  variant_run run;
  run.requests.push_back(ok_request(0, 0, 5, 1, 50));
  run.requests.push_back(ok_request(1, 0, 5, 1, 50));
  run.requests.push_back(failed(2, 1 * s, "stream_error", 200));  // cut when its node went
  run.requests.push_back(failed(3, 1 * s, "unavailable", 503));
  run.requests.push_back(failed(4, 1 * s, "", 0));                // unfinished
  run.requests.push_back(failed(5, 1 * s, "rate_limited", 429));  // refused: not lost
  run.requests.push_back(failed(6, 1 * s, "cancelled", 499));     // the client hung up
  usage_facts u;
  u.set_gpu_hours = {{"ns/set", 30}};
  u.pool_node_hours = {{"od", 10}, {"spot", 20}};
  u.pool_gpu_hours = {{"od", 10}, {"spot", 20}};
  u.pool_cost = {{"od", 70}, {"spot", 42}};
  u.pool_capacity = {{"od", "on-demand"}, {"spot", "spot"}};
  auto sum = summarize(run, {}, {});
  auto before = sum.size();
  add_usage(sum, run, u);
  CHECK(sum.size() > before);
  CHECK(figure(sum, "requests") == 7);  // the summary's own figures stay
  CHECK(figure(sum, "requests_lost") == 3);
  CHECK(figure(sum, "gpu_hours.set.ns/set") == 30);
  CHECK(figure(sum, "node_hours.nodepool.spot") == 20);
  CHECK(figure(sum, "gpu_hours.nodepool.od") == 10);
  CHECK(figure(sum, "cost.nodepool.spot") == 42);
  CHECK(figure(sum, "cost_on_demand") == 70);
  CHECK(figure(sum, "cost_spot") == 42);
  CHECK(figure(sum, "cost") == 112);
  CHECK(figure(sum, "cost_per_1k_ok") == Approx(112 / 2.0 * 1000));
}

TEST_CASE("summarize takes nearest-rank percentiles over the requests that have the figure") {
  variant_run run;
  // TTFT 1..10 ms in a shuffled order; ITL on all but one; E2E of every ok request.
  int64_t ttfts[] = {7, 3, 10, 1, 9, 2, 8, 5, 4, 6};
  for (int i = 0; i < 10; ++i)
    run.requests.push_back(ok_request(i, i * s, ttfts[i], i == 0 ? -1 : ttfts[i] * 10, 100 + i));
  // A request that was not streamed: an E2E, no TTFT or ITL.
  run.requests.push_back(ok_request(10, 10 * s, -1, -1, 1000));
  auto sum = summarize(run, {}, {});
  // Ten values: p50 is the 5th, p90 the 9th, p99 the 10th.
  CHECK(figure(sum, "ttft_p50_ms") == 5);
  CHECK(figure(sum, "ttft_p90_ms") == 9);
  CHECK(figure(sum, "ttft_p99_ms") == 10);
  // Nine ITLs (10..100 ms without 70): p50 the 5th = 50, p90 the ceil(8.1) = 9th = 100.
  CHECK(figure(sum, "itl_p50_ms") == 50);
  CHECK(figure(sum, "itl_p90_ms") == 100);
  CHECK(figure(sum, "itl_p99_ms") == 100);
  // Eleven E2Es 100..109 and 1000: p50 the 6th = 105, p90 the ceil(9.9) = 10th = 109.
  CHECK(figure(sum, "e2e_p50_ms") == 105);
  CHECK(figure(sum, "e2e_p90_ms") == 109);
  CHECK(figure(sum, "e2e_p99_ms") == 1000);

  // Four values: p50 the 2nd, p90 and p99 the 4th; a fractional millisecond stays.
  variant_run four;
  for (int64_t t : {40, 10, 30, 20})
    four.requests.push_back(ok_request(0, 0, t, -1, t + 1));
  four.requests[1].ttft_ns = 10 * ms + 500'000;  // 10.5 ms
  auto sum4 = summarize(four, {}, {});
  CHECK(figure(sum4, "ttft_p50_ms") == 20);
  CHECK(figure(sum4, "ttft_p90_ms") == 40);
  CHECK(figure(sum4, "ttft_p99_ms") == 40);
  four.requests[0].ttft_ns = 1 * ms;
  CHECK(figure(summarize(four, {}, {}), "ttft_p50_ms") == 10.5);
  // None: -1.
  CHECK(figure(sum4, "itl_p50_ms") == -1);
  CHECK(figure(summarize(variant_run{}, {}, {}), "ttft_p90_ms") == -1);
}

TEST_CASE("parse_slo reads ttft and itl in ms or s and names what is wrong") {
  auto both = parse_slo("ttft=2s,itl=100ms");
  REQUIRE(both.ttft_ms);
  REQUIRE(both.itl_ms);
  CHECK(*both.ttft_ms == 2000);
  CHECK(*both.itl_ms == 100);
  auto one = parse_slo("ttft=150ms");
  REQUIRE(one.ttft_ms);
  CHECK(*one.ttft_ms == 150);
  CHECK_FALSE(one.itl_ms);
  auto itl = parse_slo("itl=0.5s");
  CHECK_FALSE(itl.ttft_ms);
  REQUIRE(itl.itl_ms);
  CHECK(*itl.itl_ms == 500);
  CHECK_THROWS_WITH(parse_slo("ttft=fast"),
                    Catch::Contains("ttft=fast") && Catch::Contains("not a duration"));
  CHECK_THROWS_WITH(parse_slo("colour=1s"), Catch::Contains("unknown target 'colour'"));
  CHECK_THROWS_WITH(parse_slo("ttft=5"), Catch::Contains("ttft=5") && Catch::Contains("unit"));
  CHECK_THROWS_WITH(parse_slo("ttft=5m"), Catch::Contains("unit"));
  CHECK_THROWS_WITH(parse_slo("ttft=-1s"), Catch::Contains("negative"));
  CHECK_THROWS_AS(parse_slo("ttft"), std::invalid_argument);
  CHECK_THROWS_AS(parse_slo(""), std::invalid_argument);
  CHECK_THROWS_AS(parse_slo("ttft=1s,"), std::invalid_argument);
}

TEST_CASE("goodput counts ok requests, those within the SLO when one is given") {
  variant_run run;
  // Arrivals at 0..3 s; the last ends at 3 s + 1 s: a 4 s span.
  run.requests.push_back(ok_request(0, 0 * s, 100, 10, 500));    // within both
  run.requests.push_back(ok_request(1, 1 * s, 300, 10, 500));    // TTFT too long
  run.requests.push_back(ok_request(2, 2 * s, 100, 50, 500));    // ITL too long
  run.requests.push_back(ok_request(3, 3 * s, 200, -1, 1000));   // one token: no ITL, within
  run.requests.push_back(failed(4, 3 * s, "unavailable", 503));  // never good
  for (auto& r : run.requests)
    r.output_tokens = 20;

  auto plain = summarize(run, {}, {});
  CHECK(figure(plain, "duration_s") == 4);
  CHECK(figure(plain, "output_tokens_per_s") == 4 * 20 / 4.0);
  CHECK(figure(plain, "goodput_req_per_s") == 1.0);  // 4 ok in 4 s
  CHECK(figure(plain, "goodput_fraction") == 4 / 5.0);
  CHECK_FALSE(has_figure(plain, "slo_ttft_ms"));
  CHECK_FALSE(has_figure(plain, "slo_itl_ms"));

  auto slo = summarize(run, parse_slo("ttft=200ms,itl=20ms"), {});
  CHECK(figure(slo, "goodput_req_per_s") == 2 / 4.0);
  CHECK(figure(slo, "goodput_fraction") == 2 / 5.0);
  CHECK(figure(slo, "slo_ttft_ms") == 200);
  CHECK(figure(slo, "slo_itl_ms") == 20);

  // A TTFT target: a request without a first token (not streamed) does not meet it.
  run.requests[0].ttft_ns = -1;
  auto ttft_only = summarize(run, parse_slo("ttft=1s"), {});
  CHECK(figure(ttft_only, "goodput_fraction") == 3 / 5.0);
  CHECK_FALSE(has_figure(ttft_only, "slo_itl_ms"));
}

TEST_CASE(
    "prefix_hit_rate is cached over prompt tokens of the ok requests, preemptions the pods'") {
  variant_run run;
  auto a = ok_request(0, 0, 1, 1, 10);
  a.prompt_tokens = 1000;
  a.cached_tokens = 750;
  auto b = ok_request(1, 0, 1, 1, 10);
  b.prompt_tokens = 1000;
  b.cached_tokens = 250;
  auto lost = failed(2, 0, "timeout", 504);
  lost.prompt_tokens = 1000;
  run.requests = {a, b, lost};
  auto sum = summarize(run, {}, {{"vllm:num_preemptions_total", 7}, {"other", 3}});
  CHECK(figure(sum, "prefix_hit_rate") == 0.5);
  CHECK(figure(sum, "preemptions") == 7);
  CHECK(figure(summarize(run, {}, {}), "preemptions") == 0);
  CHECK(figure(summarize(variant_run{}, {}, {}), "prefix_hit_rate") == 0);
}

TEST_CASE("replicas, GPU-hours and queue peak sum the pools of each second") {
  variant_run run;
  run.requests.push_back(ok_request(0, 0, 1, 1, 10));
  auto row = [&](int64_t second, const char* pool, uint32_t ready, uint32_t gpus, uint32_t queue,
                 uint32_t running) {
    series_row r;
    r.second = second;
    r.pool = pool;
    r.ready_replicas = ready;
    r.replicas = ready;
    r.gpus = gpus;
    r.queue = queue;
    r.running = running;
    run.series.push_back(r);
  };
  // Pool a: 2, 3, 4 ready; pool b: 1, 1, 0 -> 3, 4, 4 in all.
  row(0, "ns/a", 2, 4, 5, 1);
  row(0, "ns/b", 1, 2, 4, 2);
  row(1, "ns/a", 3, 6, 3, 6);
  row(1, "ns/b", 1, 2, 1, 0);
  row(2, "ns/a", 4, 8, 0, 0);
  row(2, "ns/b", 0, 0, 0, 1);
  auto sum = summarize(run, {}, {});
  CHECK(figure(sum, "replicas_min") == 3);
  CHECK(figure(sum, "replicas_max") == 4);
  CHECK(figure(sum, "replicas_mean") == Approx(11 / 3.0));
  CHECK(figure(sum, "gpu_hours") == Approx(22 / 3600.0));
  CHECK(figure(sum, "queue_peak") == 9);    // 5 + 4 at second 0, more than any pool alone
  CHECK(figure(sum, "running_peak") == 6);  // 6 + 0 at second 1

  // No series: zeros.
  auto none = summarize(variant_run{}, {}, {});
  CHECK(figure(none, "replicas_min") == 0);
  CHECK(figure(none, "replicas_max") == 0);
  CHECK(figure(none, "replicas_mean") == 0);
  CHECK(figure(none, "gpu_hours") == 0);
  CHECK(figure(none, "queue_peak") == 0);
}

TEST_CASE("figure_text writes integers plainly and other figures with 6 significant digits") {
  CHECK(figure_text(0) == "0");
  CHECK(figure_text(3) == "3");
  CHECK(figure_text(-1) == "-1");
  CHECK(figure_text(360000) == "360000");
  CHECK(figure_text(123456789012345) == "123456789012345");
  CHECK(figure_text(0.5) == "0.5");
  CHECK(figure_text(1 / 3.0) == "0.333333");
  CHECK(figure_text(2 / 3.0) == "0.666667");
  CHECK(figure_text(123456.789) == "123457");
  CHECK(figure_text(1234567.5) == "1.23457e+06");
  CHECK(figure_text(0.00025) == "0.00025");
  CHECK(figure_text(-12.25) == "-12.25");
  CHECK(figure_text(std::nan("")) == "null");
}

TEST_CASE("summary.json has the figures alone for one variant and label.figure for several") {
  summary a = {{"requests", 10}, {"ttft_p50_ms", 12.5}, {"ttft_p90_ms", -1}};
  summary b = {{"requests", 20}, {"ttft_p50_ms", 1 / 3.0}, {"errors.timeout", 2}};
  auto one_path = temp_dir() / "one.json";
  write_summary_json(one_path.string(), {"run"}, {a});
  auto one = nlohmann::json::parse(read(one_path));
  CHECK(one == nlohmann::json{{"requests", 10}, {"ttft_p50_ms", 12.5}, {"ttft_p90_ms", -1}});

  auto two_path = temp_dir() / "two.json";
  // Labels as --vary gives them: a path with a quote and a backslash must still be valid JSON.
  write_summary_json(two_path.string(), {"picker=a.yaml", "picker=C:\\x\"y\".yaml"}, {a, b});
  auto text = read(two_path);
  auto two = nlohmann::json::parse(text);
  CHECK(two.size() == 6);
  CHECK(two["picker=a.yaml.requests"] == 10);
  CHECK(two["picker=a.yaml.ttft_p50_ms"] == 12.5);
  CHECK(two["picker=a.yaml.ttft_p90_ms"] == -1);
  CHECK(two["picker=C:\\x\"y\".yaml.requests"] == 20);
  CHECK(two["picker=C:\\x\"y\".yaml.ttft_p50_ms"].get<double>() == Approx(1 / 3.0));
  CHECK(two["picker=C:\\x\"y\".yaml.errors.timeout"] == 2);
  // Written as figure_text writes figures, in the summaries' order.
  CHECK(text.find("\"picker=a.yaml.requests\": 10,") != std::string::npos);
  CHECK(text.find("0.333333") != std::string::npos);
  CHECK(text.find("\"picker=a.yaml.requests\"") < text.find("\"picker=a.yaml.ttft_p50_ms\""));
}

TEST_CASE(
    "requests.csv has a header, quotes labels with commas and leaves times that did not happen "
    "empty") {
  variant_run run;
  run.label = "picker=a,b";
  auto r = ok_request(3, 1500 * ms, -1, -1, 100);
  r.ttft_ns = 12'500'000;  // 12.5 ms
  r.pool = "ns/p";
  r.pod = "ns/p-0";
  r.prompt_tokens = 1000;
  r.cached_tokens = 500;
  r.output_tokens = 20;
  auto lost = failed(4, 2 * s, "unavailable", 503);
  run.requests = {r, lost};
  variant_run plain;
  plain.label = "run";
  plain.requests = {ok_request(0, 0, 1, 2, 3)};
  auto path = temp_dir() / "requests.csv";
  write_requests_csv(path.string(), {run, plain});
  CHECK(read(path) ==
        "variant,index,arrival_s,pool,pod,status,outcome,ttft_ms,itl_ms,e2e_ms,prompt_tokens,"
        "cached_tokens,output_tokens\n"
        "\"picker=a,b\",3,1.5,ns/p,ns/p-0,200,ok,12.5,,100,1000,500,20\n"
        "\"picker=a,b\",4,2,,,503,unavailable,,,,0,0,0\n"
        "run,0,0,ns/pool,ns/set-0,200,ok,1,2,3,100,0,10\n");
}

TEST_CASE("timeseries.csv has a header, quotes labels with commas and leaves missing rates empty") {
  variant_run run;
  run.label = "say \"x\", y";
  series_row a;
  a.second = 0;
  a.pool = "ns/p";
  a.arrivals = 5;
  a.completions = 4;
  a.errors = 1;
  a.queue = 2;
  a.running = 3;
  a.kv_usage = 0.25;
  a.ready_replicas = 2;
  a.replicas = 3;
  a.gpus = 6;
  series_row b = a;
  b.second = 1;
  b.hit_rate = 0.5;
  b.ttft_p90_ms = 123.456789;
  b.kv_usage = 1;
  run.series = {a, b};
  auto path = temp_dir() / "timeseries.csv";
  write_series_csv(path.string(), {run});
  CHECK(read(path) ==
        "variant,second,pool,arrivals,completions,errors,queue,running,kv_usage,hit_rate,"
        "ttft_p90_ms,ready_replicas,replicas,gpus\n"
        "\"say \"\"x\"\", y\",0,ns/p,5,4,1,2,3,0.25,,,2,3,6\n"
        "\"say \"\"x\"\", y\",1,ns/p,5,4,1,2,3,1,0.5,123.457,2,3,6\n");
}

TEST_CASE("the report's files refuse a path they cannot write") {
  auto bad = (temp_dir() / "no-such-dir" / "x.csv").string();
  CHECK_THROWS_WITH(write_requests_csv(bad, {}), Catch::Contains("cannot write"));
  CHECK_THROWS_WITH(write_series_csv(bad, {}), Catch::Contains("cannot write"));
  CHECK_THROWS_WITH(write_summary_json(bad, {}, {}), Catch::Contains("cannot write"));
}

TEST_CASE(
    "the terminal table has one column per variant and a dash where a variant lacks a figure") {
  summary a = {{"requests", 10}, {"ttft_p50_ms", 12.5}};
  summary b = {{"requests", 20}, {"errors.timeout", 2}, {"ttft_p50_ms", 150.75}};
  std::ostringstream out;
  print_table(out, {"keda", "fast"}, {a, b});
  CHECK(out.str() ==
        // The first column as wide as the longest figure's name, the others 12.
        "figure                keda        fast\n"
        "requests                10          20\n"
        "ttft_p50_ms         12.500       150.8\n"
        "errors.timeout           -           2\n");
}
