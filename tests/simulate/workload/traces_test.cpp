// The trace loaders on the real sample traces and on small bad files, and the shaping rules.
#include "simulate/workload/traces.hpp"
#include "tests/simulate/temp_files.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>

namespace fs = std::filesystem;
using namespace inferstack::simulate;
namespace testing = inferstack::simulate::testing;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

namespace {

std::string sample(const std::string& name) {
  return (fs::path(INFERSTACK_SHARED_DATA) / "traces" / name).string();
}

/// A file of the given content in a directory of this process's own.
const fs::path& temp_dir() {
  return testing::temp_dir("traces-test");
}

std::string temp_file(const std::string& name, const std::string& content) {
  const fs::path& dir = temp_dir();
  fs::path path = dir / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  return path.string();
}

/// The workload_error that loading throws; fails the test if it throws none.
workload_error error_of(const std::function<workload()>& load) {
  try {
    load();
  } catch (const workload_error& e) {
    return e;
  }
  FAIL("no workload_error");
  throw std::logic_error("unreachable");
}

void check_error(const std::function<workload()>& load, const std::string& file, size_t line,
                 const std::string& field, const std::string& words) {
  workload_error e = error_of(load);
  INFO(e.what());
  CHECK(e.file() == file);
  CHECK(e.line() == line);
  CHECK(e.field() == field);
  CHECK_THAT(e.what(), Catch::Contains(words));
  CHECK_THAT(e.what(), Catch::StartsWith(file));
}

/// A bad file's content and the error it must give.
struct bad_file {
  std::string content;
  size_t line;
  std::string field;
  std::string words;
};

void check_bad_files(const std::string& name, workload (*load)(const std::string&),
                     const std::vector<bad_file>& cases) {
  for (const auto& bad : cases) {
    INFO(bad.content);
    std::string path = temp_file(name, bad.content);
    check_error([&] { return load(path); }, path, bad.line, bad.field, bad.words);
  }
}

workload arrivals_ms(std::initializer_list<int64_t> ms) {
  workload w;
  for (int64_t m : ms) {
    workload_request r;
    r.arrival = milliseconds(m);
    r.prompt_tokens = 10;
    r.max_tokens = 5;
    w.requests.push_back(r);
  }
  return w;
}

std::vector<int64_t> arrivals_of(const workload& w) {
  std::vector<int64_t> out;
  for (const auto& r : w.requests)
    out.push_back(r.arrival.count());
  return out;
}

}  // namespace

TEST_CASE(
    "the Azure code and conversation traces load with their counts, tokens and sub-second "
    "arrivals",
    "[shared-data]") {
  // wc -l counts 8819 and 19366: a header, CRLF rows, the last row without a line end.
  workload code = load_azure_csv(sample("azure-llm-2023/AzureLLMInferenceTrace_code.csv"));
  REQUIRE(code.requests.size() == 8819);
  CHECK(code.requests.front().arrival == nanoseconds(0));  // 2023-11-16 18:17:03.9799600,4808,10
  CHECK(code.requests.front().prompt_tokens == 4808);
  CHECK(code.requests.front().max_tokens == 10);
  CHECK(code.requests[1].arrival == nanoseconds(52'000'000));  // 18:17:04.0319600
  // 2023-11-16 19:14:19.9280160,549,173: 57 min 15.948056 s after the first.
  CHECK(code.requests.back().arrival == nanoseconds(3435'948'056'000));
  CHECK(code.requests.back().prompt_tokens == 549);
  CHECK(code.requests.back().max_tokens == 173);

  workload conv = load_trace(sample("azure-llm-2023/AzureLLMInferenceTrace_conv.csv"));
  REQUIRE(conv.requests.size() == 19366);
  CHECK(conv.requests.front().prompt_tokens == 374);
  CHECK(conv.requests.front().max_tokens == 44);
  // 18:15:46.6805900 -> 19:14:08.4025270
  CHECK(conv.requests.back().arrival == nanoseconds(3501'721'937'000));
  CHECK(conv.requests.back().max_tokens == 183);
}

TEST_CASE(
    "the Mooncake conversation trace loads with 512-token prefix blocks and millisecond arrivals",
    "[shared-data]") {
  workload w = load_mooncake_jsonl(sample("mooncake/conversation_trace.jsonl"));
  REQUIRE(w.requests.size() == 12031);
  const auto& first = w.requests.front();
  CHECK(first.arrival == nanoseconds(0));
  CHECK(first.prompt_tokens == 6758);
  CHECK(first.max_tokens == 500);
  CHECK(first.prefix_block_tokens == 512);
  CHECK(first.prefix_blocks == std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13});
  CHECK(w.requests[1].prefix_blocks.front() == 0);  // the common first block
  const auto& last = w.requests.back();
  CHECK(last.arrival == milliseconds(3'536'999));
  CHECK(last.prompt_tokens == 20774);
  CHECK(last.max_tokens == 508);
  CHECK(last.prefix_blocks.size() == (20774 + 511) / 512);
  CHECK(load_trace(sample("mooncake/conversation_trace.jsonl")).requests == w.requests);
}

TEST_CASE("a plain JSONL line carries every field and load_trace tells the three formats apart") {
  std::string path =
      temp_file("plain.jsonl",
                "{\"arrival_ms\": 0, \"prompt_tokens\": 900, \"max_tokens\": 64}\n"
                "\n"
                "{\"arrival_ms\": 250.5, \"namespace\": \"team-a\", \"model\": \"llama\", "
                "\"prompt\": \"Hello\", \"max_tokens\": 8, \"shared_prefix\": \"sys-1\", "
                "\"session\": \"s-7\", \"stream\": true, \"chat\": true, \"ignore_eos\": true, "
                "\"headers\": {\"x-llm-d-inference-fairness-id\": \"tenant-b\", "
                "\"x-llm-d-slo-ttft-ms\": \"500\"}, \"cancel_after_ms\": 1500.5}\n");
  workload w = load_plain_jsonl(path);
  REQUIRE(w.requests.size() == 2);
  CHECK(w.requests[0].prompt_tokens == 900);
  CHECK(w.requests[0].max_tokens == 64);
  CHECK_FALSE(w.requests[0].chat);
  const auto& r = w.requests[1];
  CHECK(r.arrival == nanoseconds(250'500'000));
  CHECK(r.ns == "team-a");
  CHECK(r.model == "llama");
  CHECK(r.prompt == "Hello");
  CHECK(r.prompt_tokens == 0);
  CHECK(r.max_tokens == 8);
  CHECK(r.shared_prefix == "sys-1");
  CHECK(r.session == "s-7");
  CHECK(r.stream);
  CHECK(r.chat);
  CHECK(r.ignore_eos);
  CHECK(r.headers ==
        std::vector<std::pair<std::string, std::string>>{
            {"x-llm-d-inference-fairness-id", "tenant-b"}, {"x-llm-d-slo-ttft-ms", "500"}});
  CHECK(w.requests[0].headers.empty());
  CHECK(r.cancel_after == nanoseconds(1'500'500'000));
  CHECK(w.requests[0].cancel_after == nanoseconds(0));
  CHECK(load_trace(path).requests == w.requests);

  // Chosen by content, whatever the name says.
  std::string azure = temp_file(
      "azure.txt", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.5,3,4\n");
  CHECK(load_trace(azure).requests.at(0).max_tokens == 4);
  std::string mooncake = temp_file(
      "mooncake.txt",
      "{\"timestamp\": 7, \"input_length\": 600, \"output_length\": 3, \"hash_ids\": [4, 5]}\n");
  CHECK(load_trace(mooncake).requests.at(0).prefix_blocks == std::vector<uint64_t>{4, 5});
}

TEST_CASE("bad Azure CSV rows name the file, the line and the column") {
  const std::string header = "TIMESTAMP,ContextTokens,GeneratedTokens\r\n";
  const std::string good = "2023-11-16 18:15:46.6805900,374,44\r\n";
  check_bad_files(
      "bad.csv", load_azure_csv,
      {
          {header + good + "2023-11-16 18:15:47.0,374\r\n", 3, "GeneratedTokens", "missing field"},
          {header + good + "2023-11-16 18:15:47.0,374,44,9\r\n", 3, "", "more than 3 columns"},
          {header + "16/11/2023 18:15,374,44\r\n", 2, "TIMESTAMP", "unparsable time"},
          {header + "2023-02-30 18:15:46,374,44\r\n", 2, "TIMESTAMP", "unparsable time"},
          {header + good + "2023-11-16 18:15:47.0,0,44\r\n", 3, "ContextTokens", "integer > 0"},
          {header + good + "2023-11-16 18:15:47.0,374,-3\r\n", 3, "GeneratedTokens", "integer > 0"},
          {header + good + "2023-11-16 18:15:47.0,many,44\r\n", 3, "ContextTokens", "integer > 0"},
          {header + good + "2023-11-16 18:15:46.6805899,374,44\r\n", 3, "TIMESTAMP",
           "unsorted trace"},
          {"timestamp,context,generated\n" + good, 1, "header", "expected \"TIMESTAMP"},
          {header, 0, "", "empty file"},
      });
}

TEST_CASE("bad Mooncake lines name the file, the line and the field") {
  const std::string good =
      R"({"timestamp": 5, "input_length": 600, "output_length": 3, "hash_ids": [0, 1]})"
      "\n";
  check_bad_files(
      "bad.jsonl", load_mooncake_jsonl,
      {
          {good + R"({"timestamp": 6, "input_length": 600, "hash_ids": []})", 2, "output_length",
           "missing field"},
          {good + R"({"timestamp": "6", "input_length": 1, "output_length": 3, "hash_ids": []})", 2,
           "timestamp", "wrong type"},
          {good + R"({"timestamp": 6, "input_length": 1.5, "output_length": 3, "hash_ids": []})", 2,
           "input_length", "wrong type"},
          {good +
               R"({"timestamp": 6, "input_length": 1, "output_length": 3, "hash_ids": [1, "x"]})",
           2, "hash_ids", "wrong type"},
          {R"({"timestamp": -1, "input_length": 1, "output_length": 3, "hash_ids": []})", 1,
           "timestamp", "negative"},
          {good + R"({"timestamp": 6, "input_length": 1, "output_length": 0, "hash_ids": []})", 2,
           "output_length", "must be > 0"},
          {good + R"({"timestamp": 4, "input_length": 1, "output_length": 3, "hash_ids": []})", 2,
           "timestamp", "unsorted trace"},
          {good + good + R"({"timestamp": 6,)", 3, "", "not valid JSON"},
          {good + "[1, 2]", 2, "", "expected a JSON object"},
      });
}

TEST_CASE("bad plain JSONL lines name the file, the line and the field") {
  const std::string good = R"({"arrival_ms": 1, "prompt_tokens": 9, "max_tokens": 4})"
                           "\n";
  check_bad_files(
      "bad.jsonl", load_plain_jsonl,
      {
          {good + R"({"arrival_s": 1, "prompt_tokens": 9, "max_tokens": 4})", 2, "arrival_s",
           "unknown field"},
          {good + R"({"prompt_tokens": 9, "max_tokens": 4})", 2, "arrival_ms", "missing field"},
          {good + R"({"arrival_ms": 2, "max_tokens": 4})", 2, "prompt", "missing field"},
          {good + R"({"arrival_ms": 2, "prompt": "hi", "prompt_tokens": 9, "max_tokens": 4})", 2,
           "prompt_tokens", "not both"},
          {good + R"({"arrival_ms": 2, "prompt": 5, "max_tokens": 4})", 2, "prompt", "wrong type"},
          {good + R"({"arrival_ms": 2, "prompt_tokens": 9, "max_tokens": 4, "stream": 1})", 2,
           "stream", "wrong type"},
          {good + R"({"arrival_ms": 2, "prompt_tokens": 9})", 2, "max_tokens", "missing field"},
          {good + R"({"arrival_ms": 2, "prompt_tokens": -9, "max_tokens": 4})", 2, "prompt_tokens",
           "must be > 0"},
          {good + R"({"arrival_ms": 0.5, "prompt_tokens": 9, "max_tokens": 4})", 2, "arrival_ms",
           "unsorted trace"},
          {good + R"({"arrival_ms": 2, "prompt_tokens": 9, "max_tokens": 4, "headers": ["a"]})", 2,
           "headers", "wrong type"},
          {good +
               R"({"arrival_ms": 2, "prompt_tokens": 9, "max_tokens": 4, "headers": {"a b": "1"}})",
           2, "headers", "not a header name"},
          {good + R"({"arrival_ms": 2, "prompt_tokens": 9, "max_tokens": 4, "headers": {"x": 1}})",
           2, "headers", "expected a string"},
          {good +
               R"({"arrival_ms": 2, "prompt_tokens": 9, "max_tokens": 4, "headers": {"x": "1\r\nY: 2"}})",
           2, "headers", "line break"},
          {good + R"({"arrival_ms": 2, "prompt_tokens": 9, "max_tokens": 4, "cancel_after_ms": 0})",
           2, "cancel_after_ms", "must be > 0"},
          {good +
               R"({"arrival_ms": 2, "prompt_tokens": 9, "max_tokens": 4, "cancel_after_ms": -5})",
           2, "cancel_after_ms", "negative"},
      });
}

TEST_CASE(
    "an empty file, a missing file and an unknown format are refused as a whole or at their first "
    "line") {
  std::string path = temp_file("empty.jsonl", "");
  check_error([&] { return load_trace(path); }, path, 0, "", "empty file");
  check_error([&] { return load_plain_jsonl(path); }, path, 0, "", "empty file");
  check_error([&] { return load_mooncake_jsonl(path); }, path, 0, "", "empty file");
  path = temp_file("blank.jsonl", "\n  \n\n");
  check_error([&] { return load_trace(path); }, path, 0, "", "empty file");
  path = temp_file("other.jsonl", "\n{\"time\": 1, \"tokens\": 4}\n");
  check_error([&] { return load_trace(path); }, path, 2, "", "unknown trace format");
  path = temp_file("other.txt", "hello\n");
  check_error([&] { return load_trace(path); }, path, 1, "", "unknown trace format");
  std::string missing = (fs::temp_directory_path() / "inferstack-no-such-trace.jsonl").string();
  check_error([&] { return load_trace(missing); }, missing, 0, "", "cannot open");
}

TEST_CASE(
    "shaping keeps the window from..to re-based to from, then divides arrivals by the speedup") {
  workload w = arrivals_ms({0, 100, 200, 300, 400});
  shape_workload(w, shaping{.speedup = 2, .from = milliseconds(150), .to = milliseconds(400)});
  CHECK(arrivals_of(w) ==
        std::vector<int64_t>{25'000'000, 75'000'000});  // 200 and 300, minus 150, halved

  workload only_from = arrivals_ms({0, 100, 200});
  shape_workload(only_from, shaping{.from = milliseconds(100)});
  CHECK(arrivals_of(only_from) == std::vector<int64_t>{0, 100'000'000});

  workload slower = arrivals_ms({0, 3});
  shape_workload(slower, shaping{.speedup = 0.5, .to = milliseconds(3)});
  CHECK(arrivals_of(slower) == std::vector<int64_t>{0});

  workload unchanged = arrivals_ms({0, 1, 2});
  workload copy = unchanged;
  shape_workload(copy, shaping{});
  CHECK(copy.requests == unchanged.requests);

  CHECK_THROWS_AS(shape_workload(copy, shaping{.speedup = 0}), std::invalid_argument);
  CHECK_THROWS_AS(shape_workload(copy, shaping{.rate_scale = 0}), std::invalid_argument);
  CHECK_THROWS_AS(shape_workload(copy, shaping{.rate_scale = 1001}), std::invalid_argument);
  CHECK_THROWS_AS(shape_workload(copy, shaping{.from = milliseconds(5), .to = milliseconds(5)}),
                  std::invalid_argument);
  CHECK_THROWS_AS(shape_workload(copy, shaping{.from = milliseconds(-1)}), std::invalid_argument);
}

TEST_CASE("a rate scale below 1 keeps every k-th request at its own arrival") {
  workload w = arrivals_ms({0, 10, 20, 30, 40, 50, 60, 70, 80, 90});
  shape_workload(w, shaping{.rate_scale = 0.25});
  CHECK(arrivals_of(w) == std::vector<int64_t>{30'000'000, 70'000'000});  // i = 3 and 7

  workload three_quarters = arrivals_ms({0, 10, 20, 30, 40, 50, 60, 70});
  shape_workload(three_quarters, shaping{.rate_scale = 0.75});
  // c_i = floor((i+1)·0.75) - floor(i·0.75): 0,1,1,1, 0,1,1,1
  CHECK(arrivals_of(three_quarters) == std::vector<int64_t>{10'000'000, 20'000'000, 30'000'000,
                                                            50'000'000, 60'000'000, 70'000'000});
}

TEST_CASE("a rate scale above 1 fills each request's interval with copies that play other users") {
  workload w = arrivals_ms({0, 90, 90, 300});
  w.requests[0].session = "s";
  w.requests[0].shared_prefix = "p";
  w.requests[0].prefix_blocks = {0, 7};
  w.requests[0].prefix_block_tokens = 512;
  w.requests[3].prefix_blocks = {0, 9};
  shape_workload(w, shaping{.rate_scale = 3});
  REQUIRE(w.requests.size() == 12);
  CHECK(arrivals_of(w) ==
        std::vector<int64_t>{0, 30'000'000, 60'000'000,                // gap 90 ms in thirds
                             90'000'000, 90'000'000, 90'000'000,       // gap 0: together
                             90'000'000, 160'000'000, 230'000'000,     // gap 210 ms
                             300'000'000, 300'000'000, 300'000'000});  // the last: gap 0
  // The original stays; copy j gets "#j" and its block ids move by j·(largest id + 1) = j·10.
  CHECK(w.requests[0].session == "s");
  CHECK(w.requests[0].prefix_blocks == std::vector<uint64_t>{0, 7});
  CHECK(w.requests[1].session == "s#1");
  CHECK(w.requests[1].shared_prefix == "p#1");
  CHECK(w.requests[1].prefix_blocks == std::vector<uint64_t>{10, 17});
  CHECK(w.requests[2].session == "s#2");
  CHECK(w.requests[2].prefix_blocks == std::vector<uint64_t>{20, 27});
  CHECK(w.requests[3].session.empty());  // no session: none made up
  CHECK(w.requests[10].prefix_blocks ==
        std::vector<uint64_t>{10, 19});  // shares block 10 with copy 1 above

  workload half_more = arrivals_ms({0, 100, 200, 300});
  shape_workload(half_more, shaping{.rate_scale = 1.5});
  // c_i: 1, 2, 1, 2 -> floor(4·1.5) = 6 requests, in order
  CHECK(arrivals_of(half_more) ==
        std::vector<int64_t>{0, 100'000'000, 150'000'000, 200'000'000, 300'000'000, 300'000'000});
}
