// tools/bench/simulate: how fast `inferstack simulate` runs the stack in virtual time, and what
// it costs as the stack and the traffic grow.
//
// The workload is inference-perf's shared_prefix at a constant rate: 1,000-token prompts (an
// 800-token system prompt shared by a group, a 200-token question), 200 output tokens
// (ignore_eos), streamed; the stack is tools/bench/simulate-data/stack.yaml: 8B pods on H100s
// behind the precise-prefix picker, autoscaled by the fast scaler between N and 2N pods. Each
// point runs the real binary (`inferstack simulate`, as a user runs it) and measures its wall
// time and peak RSS (wait4), the virtual/wall speed-up and the simulated requests per wall
// second.
//   main:   64 pods, 100 req/s, one hour (360,000 requests): the goal is >= 120x, < 2 GiB
//   growth: 16 / 64 / 256 pods at 100 req/s, and 64 pods at 25 / 100 / 400 req/s, over a
//           shorter window (--window, default 120 s), medians of --repeat runs; ratios against
//           64 pods at 100 req/s of the same run.
// --quick (CI's smoke test): 30 s of traffic for the main point, 20 s windows, one run each.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "tools/bench/bench_table.hpp"

namespace {

namespace fs = std::filesystem;

struct point {
  std::string name;
  int pods = 64;
  int rate = 100;
  int seconds = 120;
};

struct measured {
  double wall_s = 0, virtual_s = 0, rss_mib = 0, requests = 0;
  bool ok = false;
  double speedup() const { return wall_s > 0 ? virtual_s / wall_s : 0; }
  double requests_per_wall_s() const { return wall_s > 0 ? requests / wall_s : 0; }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

/// A number of summary.json (flat object).
double summary_number(const std::string& json, const std::string& key) {
  auto at = json.find("\"" + key + "\": ");
  if (at == std::string::npos) return 0;
  return std::stod(json.substr(at + key.size() + 4));
}

measured run_point(const std::string& binary, const std::string& source, const point& p,
                   const std::string& work) {
  // The stack with p.pods replicas (and the fast scaler between p.pods and 2 p.pods).
  auto stack = read_file(source + "/tools/bench/simulate-data/stack.yaml");
  replace_all(stack, "replicas: 64", "replicas: " + std::to_string(p.pods));
  replace_all(stack, "min-replicas: \"16\"", "min-replicas: \"" + std::to_string(p.pods) + "\"");
  replace_all(stack, "max-replicas: \"256\"",
              "max-replicas: \"" + std::to_string(2 * p.pods) + "\"");
  replace_all(stack, "count: 256", "count: " + std::to_string(2 * p.pods));
  auto dir = work + "/" + p.name;
  fs::create_directories(dir);
  std::ofstream(dir + "/stack.yaml") << stack;
  std::ofstream(dir + "/workload.yaml")
      << "load:\n  type: constant\n  stages:\n  - {rate: " << p.rate << ", duration: " << p.seconds
      << "}\napi: {type: completion, streaming: true}\nserver: {ignore_eos: true}\n"
         "data:\n  type: shared_prefix\n  shared_prefix:\n    num_groups: 256\n"
         "    num_prompts_per_group: 64\n    system_prompt_len: 800\n    question_len: 200\n"
         "    output_len: 200\n";

  std::vector<std::string> args = {
      binary,  "simulate",   "-f",      dir + "/stack.yaml", "--workload", dir + "/workload.yaml",
      "--out", dir + "/out", "--quiet", "--no-plots"};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  measured m;
  auto start = std::chrono::steady_clock::now();
  std::fflush(stdout);  // else the child inherits what is buffered and prints it again
  pid_t pid = fork();
  if (pid == 0) {
    if (!freopen("/dev/null", "w", stdout)) _exit(127);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  m.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;
  m.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  auto summary = read_file(dir + "/out/summary.json");
  m.virtual_s = summary_number(summary, "duration_s");
  m.requests = summary_number(summary, "requests");
  if (summary_number(summary, "ok") < m.requests) m.ok = false;
  fs::remove_all(dir + "/out");
  return m;
}

measured median_of(const std::vector<measured>& runs) {
  measured m;
  std::vector<double> wall, virt, rss, req;
  for (const auto& r : runs) {
    wall.push_back(r.wall_s);
    virt.push_back(r.virtual_s);
    rss.push_back(r.rss_mib);
    req.push_back(r.requests);
    m.ok = m.ok || r.ok;
  }
  for (const auto& r : runs)
    m.ok = m.ok && r.ok;
  m.wall_s = inferstack::bench::median(wall);
  m.virtual_s = inferstack::bench::median(virt);
  m.rss_mib = inferstack::bench::median(rss);
  m.requests = inferstack::bench::median(req);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tools/bench/simulate: inferstack simulate's speed-up and cost growth"};
  bool quick = false;
  std::string json_path;
  std::string binary = INFERSTACK_BINARY;
  int window = 120, repeat = 3, main_seconds = 3600;
  bool skip_main = false;
  app.add_flag("--quick", quick, "CI smoke test: short windows, one run each");
  app.add_option("--json", json_path, "write the figures as one flat JSON object");
  app.add_option("--inferstack", binary, "the inferstack binary")->capture_default_str();
  app.add_option("--window", window, "seconds of traffic of each growth point")
      ->capture_default_str();
  app.add_option("--repeat", repeat, "runs of each growth point (medians)")->capture_default_str();
  app.add_option("--main-seconds", main_seconds, "seconds of traffic of the main point")
      ->capture_default_str();
  app.add_flag("--skip-main", skip_main, "only the growth points");
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    window = 20;
    repeat = 1;
    main_seconds = 30;
  }
  auto work = fs::temp_directory_path() / ("inferstack-bench-simulate-" + std::to_string(getpid()));
  fs::create_directories(work);
  inferstack::bench::json_report json;
  json.text("mode", quick ? "quick" : "full");

  std::vector<point> growth = {{"pods16_rate100", 16, 100, window},
                               {"pods64_rate100", 64, 100, window},
                               {"pods256_rate100", 256, 100, window},
                               {"pods64_rate25", 64, 25, window},
                               {"pods64_rate400", 64, 400, window}};
  std::printf("%-18s %6s %6s %8s %9s %9s %9s %9s %12s %9s\n", "point", "pods", "req/s", "requests",
              "virtual_s", "wall_s", "speedup", "rss_MiB", "req/wall_s", "cost/req");
  bool all_ok = true;
  std::vector<measured> results;
  for (const auto& p : growth) {
    std::vector<measured> runs;
    for (int i = 0; i < repeat; ++i)
      runs.push_back(run_point(binary, INFERSTACK_SOURCE_DIR, p, work.string()));
    results.push_back(median_of(runs));
  }
  const auto& base = results[1];  // 64 pods at 100 req/s
  double base_cost = base.requests > 0 ? base.wall_s / base.requests : 0;
  for (size_t i = 0; i < growth.size(); ++i) {
    const auto& p = growth[i];
    const auto& m = results[i];
    all_ok = all_ok && m.ok;
    double cost = m.requests > 0 ? m.wall_s / m.requests : 0;
    double cost_ratio = base_cost > 0 ? cost / base_cost : 0;
    std::printf("%-18s %6d %6d %8.0f %9.1f %9.2f %8.1fx %9.0f %12.0f %8.2fx%s\n", p.name.c_str(),
                p.pods, p.rate, m.requests, m.virtual_s, m.wall_s, m.speedup(), m.rss_mib,
                m.requests_per_wall_s(), cost_ratio, m.ok ? "" : "  (FAILED)");
    json.number(p.name + "_wall_s", m.wall_s);
    json.number(p.name + "_speedup", m.speedup());
    json.number(p.name + "_rss_mib", m.rss_mib);
    json.number(p.name + "_requests_per_wall_s", m.requests_per_wall_s());
    json.number(p.name + "_cost_per_request_vs_pods64_rate100", cost_ratio);
  }
  if (!skip_main) {
    point p{"main_pods64_rate100", 64, 100, main_seconds};
    auto m = run_point(binary, INFERSTACK_SOURCE_DIR, p, work.string());
    all_ok = all_ok && m.ok;
    std::printf("%-18s %6d %6d %8.0f %9.1f %9.2f %8.1fx %9.0f %12.0f %9s%s\n", "main (1 run)",
                p.pods, p.rate, m.requests, m.virtual_s, m.wall_s, m.speedup(), m.rss_mib,
                m.requests_per_wall_s(), "", m.ok ? "" : "  (FAILED)");
    std::printf("goal: >= 120x real time and < 2048 MiB peak RSS: %s and %s\n",
                m.speedup() >= 120 ? "met" : "NOT met", m.rss_mib < 2048 ? "met" : "NOT met");
    json.number("main_seconds_of_traffic", main_seconds);
    json.number("main_wall_s", m.wall_s);
    json.number("main_speedup", m.speedup());
    json.number("main_rss_mib", m.rss_mib);
    json.number("main_requests", m.requests);
    json.number("main_requests_per_wall_s", m.requests_per_wall_s());
  }
  fs::remove_all(work);
  if (!json_path.empty() && !json.write(json_path)) {
    std::fprintf(stderr, "cannot write %s\n", json_path.c_str());
    return 1;
  }
  return all_ok ? 0 : 1;
}
