// tools/bench/pod: what one simulated pod sustains with a zero-latency profile, in process
// (actor messages) and over HTTP (a separate `inferstack run pod`), and how much memory its
// open streams cost. HTTP figures are compared with in-process ones measured in the same run.
// With --peer, the pod started as a simulator and llm-d-inference-sim run side by side:
// requests/s, p50/p99 and each server's CPU per 1,000 requests, at 32 and 256 connections.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/pod/pod_actor.hpp"
#include "actors/probe/probe_protocol.hpp"  // the driver's go and done signals
#include "protocol/registration.hpp"
#include "runtime/actor_system_setup.hpp"
#include "runtime/tokenizer.hpp"
#include "tests/support/child_process.hpp"
#include "tools/bench/bench_table.hpp"
#include "tools/bench/http_load.hpp"

using namespace inferstack;
using steady = std::chrono::steady_clock;

namespace {

struct throughput {
  double requests_per_s = 0;
  double tokens_per_s = 0;
  double p50_ms = 0;
};

actors::pod::pod_settings zero_pod(const std::string& profiles) {
  actors::pod::pod_settings s;
  for (auto [k, v] : std::vector<std::pair<std::string, std::string>>{{"model", "bench-model"},
                                                                      {"profile", "zero"},
                                                                      {"output-length", "fixed:16"},
                                                                      {"max-num-seqs", "256"},
                                                                      {"kv-cache-size", "65536"}})
    if (auto err = actors::pod::set_pod_option(s, k, v, profiles)) throw std::runtime_error(*err);
  for (auto& p : actors::pod::finish_pod_settings(s))
    throw std::runtime_error(p);
  return s;
}

// In process: a driver keeps `window` requests in flight; streamed chunks are acked at once.
throughput in_process(caf::actor_system& sys, const actors::pod::pod_actor& pod, bool stream,
                      int total, int window) {
  auto prompt = runtime::tokenize("benchmark prompt with a few words of context for the pod");
  auto latencies = std::make_shared<std::vector<double>>();
  auto tokens = std::make_shared<uint64_t>(0);
  caf::scoped_actor self{sys};
  auto driver = sys.spawn([=](caf::event_based_actor* d) -> caf::behavior {
    auto sent = std::make_shared<int>(0);
    auto done = std::make_shared<int>(0);
    auto fire = std::make_shared<std::function<void(caf::actor)>>();
    *fire = [=](caf::actor reply_to) {
      if (*sent >= total) return;
      actors::pod::generate_request r;
      r.request_id = "b" + std::to_string(++*sent);
      r.model = "bench-model";
      r.prompts = {prompt};
      r.max_tokens = 16;
      r.stream = stream;
      auto t0 = steady::now();
      d->request(pod, std::chrono::seconds(60), std::move(r))
          .then([=](actors::pod::generate_result& res) {
            latencies->push_back(
                std::chrono::duration<double, std::milli>(steady::now() - t0).count());
            *tokens += res.completion_tokens;
            if (++*done == total) d->send(reply_to, actors::probe::probe_count{uint64_t(total)});
            (*fire)(reply_to);
          });
    };
    return {
        [=](actors::probe::probe_note&) {
          auto reply_to = caf::actor_cast<caf::actor>(d->current_sender());
          for (int i = 0; i < window; ++i)
            (*fire)(reply_to);
        },
        [=](actors::pod::token_chunk& chunk) {
          d->send(pod, actors::pod::stream_ack{chunk.request_id, 1});
        },
    };
  });
  auto t0 = steady::now();
  self->send(driver, actors::probe::probe_note{0, "go"});
  self->receive([](actors::probe::probe_count&) {});
  double s = std::chrono::duration<double>(steady::now() - t0).count();
  caf::anon_send_exit(driver, caf::exit_reason::user_shutdown);
  return {total / s, *tokens / s, bench::percentile(*latencies, 50)};
}

throughput over_http(uint16_t port, bool stream, int connections, double seconds) {
  bench::load_options o;
  o.port = port;
  o.connections = connections;
  o.duration = std::chrono::duration<double>(seconds);
  o.body =
      std::string(
          R"({"model":"bench-model","prompt":"benchmark prompt with a few words of context for the pod","max_tokens":16)") +
      (stream ? R"(,"stream":true,"stream_options":{"include_usage":true}})" : "}");
  auto r = bench::run_load(o);
  if (r.errors > 0) std::cerr << "warning: " << r.errors << " HTTP errors\n";
  return {r.requests_per_s(), r.tokens_per_s(), bench::percentile(r.latencies_us, 50) / 1000};
}

/// Pod RSS with `streams` open streaming requests that stay open (1 token per second).
long rss_with_streams(testing::child_process& pod, uint16_t port, int streams) {
  std::string body =
      R"({"model":"bench-model","prompt":"a long running stream","max_tokens":100000,"ignore_eos":true,"stream":true})";
  bench::held_streams held("127.0.0.1", port, "/v1/completions", body, streams);
  // wait until the pod holds them all (its running gauge), at most 30 s
  auto deadline = steady::now() + std::chrono::seconds(30);
  long rss = 0;
  while (steady::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    rss = bench::rss_kib(pod.pid());
    // the metrics endpoint is busy with streams; a settled RSS is good enough
    static long last = 0;
    if (rss == last && held.opened() == streams) break;
    last = rss;
  }
  held.close();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  return rss;
}

// -- side by side with llm-d-inference-sim ---------------------------------------------------

struct side_figures {
  double requests_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double cpu_ms_per_1000 = 0;     ///< the server's CPU (user + system) per 1,000 requests
  double user_ms_per_1000 = 0;    ///< of which in user space (the rest is the kernel's TCP work)
  double client_ms_per_1000 = 0;  ///< the load generator's own CPU (wrk, or this process)
};

/// The CPU figures per 1,000 requests: the server's (from its CPU times before and after the
/// run) and the load generator's (`client_s` seconds).
void charge_cpu(side_figures& f, const bench::cpu_times& before, const bench::cpu_times& after,
                double client_s, double requests) {
  double per_1000 = requests > 0 ? 1e6 / requests : 0;
  double user = after.user - before.user;
  f.cpu_ms_per_1000 = (user + after.system - before.system) * per_1000;
  f.user_ms_per_1000 = user * per_1000;
  f.client_ms_per_1000 = client_s * per_1000;
}

/// The request body of the side-by-side runs.
std::string side_body(bool stream) {
  // ignore_eos: exactly 16 tokens from both (the simulator draws the length otherwise).
  return std::string(R"({"model":"bench-model","prompt":"benchmark prompt with a few words )"
                     R"(of context for the pod","max_tokens":16,"ignore_eos":true)") +
         (stream ? R"(,"stream":true,"stream_options":{"include_usage":true}})" : "}");
}

/// wrk's figure "1.23ms" (or us, s) in milliseconds.
double wrk_ms(const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  std::string unit(end);
  if (unit.rfind("us", 0) == 0) return v / 1000;
  if (unit.rfind("ms", 0) == 0) return v;
  if (unit.rfind("s", 0) == 0) return v * 1000;
  if (unit.rfind("m", 0) == 0) return v * 60000;
  return v;
}

/// CPU of the children this process has reaped so far, in seconds.
double reaped_children_cpu() {
  rusage usage{};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

/// One closed-loop run under wrk (one thread, as lean a load generator as there is; its own CPU
/// comes from the kernel's account of reaped children).
side_figures measure_with_wrk(const std::string& wrk, int pid, uint16_t port, bool stream,
                              int connections, double seconds) {
  auto script = std::filesystem::temp_directory_path() /
                ("inferstack-bench-wrk-" + std::to_string(::getpid()) + ".lua");
  {
    std::ofstream lua(script);
    lua << "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
        << "wrk.body = '" << side_body(stream) << "'\n";
  }
  auto server0 = bench::cpu_split(pid);
  double client0 = reaped_children_cpu();
  testing::child_process run(
      {wrk, "-t1", "-c" + std::to_string(connections),
       "-d" + std::to_string(static_cast<int>(seconds)) + "s", "--latency", "-s", script.string(),
       "http://127.0.0.1:" + std::to_string(port) + "/v1/completions"},
      true);
  run.wait(std::chrono::seconds(static_cast<int>(seconds) + 30));
  auto server1 = bench::cpu_split(pid);
  double client = reaped_children_cpu() - client0;
  std::filesystem::remove(script);
  // "Requests/sec: 1234.5", "50%    1.23ms", "99%    4.56ms", "Non-2xx or 3xx responses: 7"
  side_figures f;
  double requests = 0;
  std::istringstream lines(run.output());
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string first, second;
    words >> first >> second;
    if (first == "Requests/sec:") f.requests_per_s = std::strtod(second.c_str(), nullptr);
    if (first == "50%") f.p50_ms = wrk_ms(second);
    if (first == "99%") f.p99_ms = wrk_ms(second);
    if (line.find(" requests in ") != std::string::npos)
      requests = std::strtod(line.c_str(), nullptr);
    if (line.find("Non-2xx") != std::string::npos ||
        line.find("Socket errors") != std::string::npos)
      std::cerr << "warning (pid " << pid << "): " << line << "\n";
  }
  if (requests <= 0) throw std::runtime_error("wrk printed no result:\n" + run.output());
  charge_cpu(f, server0, server1, client, requests);
  return f;
}

/// One closed-loop run against a server process: throughput, latency and the server's CPU.
side_figures measure_server(int pid, uint16_t port, bool stream, int connections, double seconds) {
  bench::load_options o;
  o.port = port;
  o.connections = connections;
  o.duration = std::chrono::duration<double>(seconds);
  o.warmup = std::chrono::duration<double>(0);  // the CPU delta covers exactly what is counted
  o.body = side_body(stream);
  auto server0 = bench::cpu_split(pid);
  double client0 = bench::cpu_seconds(::getpid());
  auto r = bench::run_load(o);
  auto server1 = bench::cpu_split(pid);
  double client = bench::cpu_seconds(::getpid()) - client0;
  if (r.errors > 0) std::cerr << "warning: " << r.errors << " HTTP errors (pid " << pid << ")\n";
  side_figures f;
  f.requests_per_s = r.requests_per_s();
  f.p50_ms = bench::percentile(r.latencies_us, 50) / 1000;
  f.p99_ms = bench::percentile(r.latencies_us, 99) / 1000;
  charge_cpu(f, server0, server1, client, static_cast<double>(r.requests));
  return f;
}

/// The same zero-latency set-up started as each binary: the simulator's flags, our pod in
/// simulator mode (no inferstack profile).
std::vector<std::string> server_args(const std::string& binary, bool inferstack, int port) {
  std::vector<std::string> args{binary};
  if (inferstack) args.insert(args.end(), {"run", "pod", "--listen-address", "127.0.0.1"});
  args.insert(args.end(), {"--port", std::to_string(port), "--model", "bench-model",
                           "--max-num-seqs", "1024", "--max-waiting-queue-length", "10000"});
  if (inferstack) args.insert(args.end(), {"--log-level", "warn"});
  return args;
}

struct peer_row {
  bool stream = false;
  int connections = 0;
  side_figures pod, peer;
  side_figures floor;  ///< the canned-answer server (not streamed only)
};

/// The pod's answer body in this run is about this long (the canned server's is exactly).
constexpr size_t canned_body_bytes = 480;

std::vector<peer_row> side_by_side(const std::string& self, const std::string& binary,
                                   const std::string& peer, const std::string& wrk, int repeats,
                                   double seconds) {
  auto measure = [&](int pid, int port, bool stream, int connections) {
    return wrk.empty()
               ? measure_server(pid, static_cast<uint16_t>(port), stream, connections, seconds)
               : measure_with_wrk(wrk, pid, static_cast<uint16_t>(port), stream, connections,
                                  seconds);
  };
  int pod_port = testing::free_port(), peer_port = testing::free_port();
  int floor_port = testing::free_port();
  testing::child_process pod(server_args(binary, true, pod_port), true);
  testing::child_process sim(server_args(peer, false, peer_port), true);
  testing::child_process canned({self, "--canned-server", std::to_string(floor_port)}, true);
  if (!bench::wait_http_ok(static_cast<uint16_t>(pod_port), "/health", std::chrono::seconds(10)) ||
      !bench::wait_http_ok(static_cast<uint16_t>(peer_port), "/health", std::chrono::seconds(10)) ||
      !bench::wait_http_ok(static_cast<uint16_t>(floor_port), "/", std::chrono::seconds(10)))
    throw std::runtime_error("a server of the side-by-side run did not start");
  std::vector<peer_row> rows;
  for (bool stream : {false, true}) {
    for (int connections : {32, 256}) {
      std::vector<side_figures> ours, theirs, floors;
      for (int r = 0; r < repeats; ++r) {  // alternating, so drifts in the machine hit both
        ours.push_back(measure(pod.pid(), pod_port, stream, connections));
        theirs.push_back(measure(sim.pid(), peer_port, stream, connections));
        if (!stream) floors.push_back(measure(canned.pid(), floor_port, stream, connections));
      }
      auto med = [](const std::vector<side_figures>& v) {
        auto of = [&v](double side_figures::*field) {
          std::vector<double> values;
          for (const auto& f : v)
            values.push_back(f.*field);
          return bench::median(values);
        };
        return side_figures{
            of(&side_figures::requests_per_s),   of(&side_figures::p50_ms),
            of(&side_figures::p99_ms),           of(&side_figures::cpu_ms_per_1000),
            of(&side_figures::user_ms_per_1000), of(&side_figures::client_ms_per_1000)};
      };
      rows.push_back({stream, connections, med(ours), med(theirs),
                      floors.empty() ? side_figures{} : med(floors)});
    }
  }
  for (auto* p : {&pod, &sim, &canned})
    p->signal(SIGTERM);
  for (auto* p : {&pod, &sim, &canned})
    p->wait(std::chrono::seconds(10));
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "pod benchmark: requests/s and tokens/s of one zero-latency pod, and memory per stream"};
  bool quick = false;
  std::string json_path, binary = INFERSTACK_BINARY,
                         profiles = INFERSTACK_SOURCE_DIR "/config/profiles";
  app.add_flag("--quick", quick, "small run (CI smoke test)");
  app.add_option("--json", json_path, "write the figures as one flat JSON object");
  app.add_option("--inferstack", binary, "path of the inferstack binary")->capture_default_str();
  std::string peer;
  app.add_option("--peer", peer,
                 "llm-d-inference-sim binary: adds a side-by-side run (32 and 256 connections)")
      ->envname("LLM_D_INFERENCE_SIM");
  std::string wrk = std::filesystem::exists("/usr/bin/wrk") ? "/usr/bin/wrk" : "";
  app.add_option("--wrk", wrk,
                 "wrk binary for the side-by-side run (Debian's wrk; empty: the built-in "
                 "load generator)")
      ->capture_default_str();
  int canned_port = 0;
  app.add_option("--canned-server", canned_port,
                 "(internal) be the canned-answer floor server on this port");
  CLI11_PARSE(app, argc, argv);
  if (canned_port > 0)
    bench::run_canned_server(static_cast<uint16_t>(canned_port), canned_body_bytes, 2);

  int repeats = quick ? 1 : 3;
  int total = quick ? 2000 : 40000;
  double seconds = quick ? 1.0 : 5.0;
  std::vector<int> stream_counts = quick ? std::vector<int>{100} : std::vector<int>{1000, 10000};

  runtime::system_config cfg{protocol::register_messages};
  caf::actor_system sys{cfg};
  actors::pod::pod_dependencies deps;
  deps.registry = std::make_shared<prometheus::Registry>();
  auto pod = actors::pod::spawn_pod(sys, zero_pod(profiles), deps);

  std::vector<double> ip_rps, ip_tps, ip_srps, ip_stps;
  for (int r = 0; r < repeats; ++r) {
    auto a = in_process(sys, pod, false, total, 64);
    auto b = in_process(sys, pod, true, total, 64);
    ip_rps.push_back(a.requests_per_s);
    ip_tps.push_back(a.tokens_per_s);
    ip_srps.push_back(b.requests_per_s);
    ip_stps.push_back(b.tokens_per_s);
  }
  caf::anon_send_exit(pod, caf::exit_reason::user_shutdown);

  int port = testing::free_port();
  testing::child_process server({binary,
                                 "run",
                                 "pod",
                                 "--listen-address",
                                 "127.0.0.1",
                                 "--port",
                                 std::to_string(port),
                                 "--model",
                                 "bench-model",
                                 "--profile",
                                 "zero",
                                 "--output-length",
                                 "fixed:16",
                                 "--kv-cache-size",
                                 "200000",
                                 "--max-num-seqs",
                                 "20000",
                                 "--max-waiting-queue-length",
                                 "20000",
                                 "--log-level",
                                 "warn"});
  if (!server.wait_for_line("serving", std::chrono::seconds(10))) {
    std::cerr << "the pod did not start\n";
    return 1;
  }
  std::vector<double> h_rps, h_tps, h_srps, h_stps, h_p50;
  for (int r = 0; r < repeats; ++r) {
    auto a = over_http(static_cast<uint16_t>(port), false, 64, seconds);
    auto b = over_http(static_cast<uint16_t>(port), true, 64, seconds);
    h_rps.push_back(a.requests_per_s);
    h_tps.push_back(a.tokens_per_s);
    h_p50.push_back(a.p50_ms);
    h_srps.push_back(b.requests_per_s);
    h_stps.push_back(b.tokens_per_s);
  }
  long idle_rss = bench::rss_kib(server.pid());
  std::vector<std::pair<int, long>> rss;
  for (int n : stream_counts)
    rss.emplace_back(n, rss_with_streams(server, static_cast<uint16_t>(port), n));
  server.signal(SIGTERM);
  server.wait(std::chrono::seconds(10));

  auto ratio = [](double a, double b) { return b == 0 ? 0 : a / b; };
  double m_ip_rps = bench::median(ip_rps), m_ip_tps = bench::median(ip_tps);
  double m_ip_srps = bench::median(ip_srps), m_ip_stps = bench::median(ip_stps);
  double m_h_rps = bench::median(h_rps), m_h_tps = bench::median(h_tps);
  double m_h_srps = bench::median(h_srps), m_h_stps = bench::median(h_stps);
  std::printf("pod benchmark, zero-latency profile, 16 tokens per request (%s, median of %d)\n",
              quick ? "quick" : "full", repeats);
  std::printf("%-34s %14s %14s %12s\n", "figure", "in-process", "HTTP", "HTTP/in-proc");
  std::printf("%-34s %14.0f %14.0f %12.3f\n", "requests/s (not streamed)", m_ip_rps, m_h_rps,
              ratio(m_h_rps, m_ip_rps));
  std::printf("%-34s %14.0f %14.0f %12.3f\n", "tokens/s (not streamed)", m_ip_tps, m_h_tps,
              ratio(m_h_tps, m_ip_tps));
  std::printf("%-34s %14.0f %14.0f %12.3f\n", "requests/s (streamed)", m_ip_srps, m_h_srps,
              ratio(m_h_srps, m_ip_srps));
  std::printf("%-34s %14.0f %14.0f %12.3f\n", "tokens/s (streamed)", m_ip_stps, m_h_stps,
              ratio(m_h_stps, m_ip_stps));
  std::printf("HTTP p50 latency (not streamed): %.3f ms\n", bench::median(h_p50));
  std::printf("%-34s %14s %14s\n", "pod resident memory", "RSS (MiB)", "KiB/stream");
  std::printf("%-34s %14.1f %14s\n", "idle", idle_rss / 1024.0, "-");
  for (auto [n, kib] : rss)
    std::printf("%-34s %14.1f %14.1f\n", (std::to_string(n) + " open streams").c_str(),
                kib / 1024.0, double(kib - idle_rss) / n);
  std::vector<peer_row> peer_rows;
  if (!peer.empty()) {
    peer_rows = side_by_side("/proc/self/exe", binary, peer, wrk, repeats, seconds);
    std::printf(
        "\nside by side with llm-d-inference-sim (%s): zero latency, 16 tokens "
        "(ignore_eos), the pod started as a simulator; load from %s; median of %d\n",
        peer.c_str(), wrk.empty() ? "the built-in generator" : (wrk + " -t1").c_str(), repeats);
    std::printf("%-12s %5s %11s %11s %8s %9s %9s %9s %9s %10s %10s %8s\n", "mode", "conns",
                "pod req/s", "sim req/s", "pod/sim", "pod p50", "sim p50", "pod p99", "sim p99",
                "pod CPU/1k", "sim CPU/1k", "CPU s/p");
    for (const auto& r : peer_rows)
      std::printf(
          "%-12s %5d %11.0f %11.0f %8.2f %7.2fms %7.2fms %7.2fms %7.2fms %8.0fms "
          "%8.0fms %8.2f\n",
          r.stream ? "streamed" : "not streamed", r.connections, r.pod.requests_per_s,
          r.peer.requests_per_s, ratio(r.pod.requests_per_s, r.peer.requests_per_s), r.pod.p50_ms,
          r.peer.p50_ms, r.pod.p99_ms, r.peer.p99_ms, r.pod.cpu_ms_per_1000, r.peer.cpu_ms_per_1000,
          ratio(r.peer.cpu_ms_per_1000, r.pod.cpu_ms_per_1000));
    // Where the CPU goes: the servers' user-space share (the kernel's loopback TCP work is the
    // rest, and a floor neither server can go under) and the load generator's own share.
    std::printf("\n%-12s %5s %12s %12s %9s %10s %10s %12s %12s\n", "mode", "conns", "pod user/1k",
                "sim user/1k", "user s/p", "pod kernel", "sim kernel", "client (pod)",
                "client (sim)");
    for (const auto& r : peer_rows)
      std::printf("%-12s %5d %10.0fms %10.0fms %9.2f %9.0f%% %9.0f%% %10.0fms %10.0fms\n",
                  r.stream ? "streamed" : "not streamed", r.connections, r.pod.user_ms_per_1000,
                  r.peer.user_ms_per_1000, ratio(r.peer.user_ms_per_1000, r.pod.user_ms_per_1000),
                  100 * (1 - ratio(r.pod.user_ms_per_1000, r.pod.cpu_ms_per_1000)),
                  100 * (1 - ratio(r.peer.user_ms_per_1000, r.peer.cpu_ms_per_1000)),
                  r.pod.client_ms_per_1000, r.peer.client_ms_per_1000);
    // What 3x the simulator would take: the machine's cores shared by the server and the load
    // generator, against the canned-answer floor (the kernel's TCP work and nothing else).
    const double cores = std::max(1u, std::thread::hardware_concurrency());
    std::printf(
        "\nthe floor: a canned %zu-byte answer from a bare epoll server (all its CPU is the "
        "kernel's TCP work), and what 3x the simulator leaves a server of the %.0f cores\n",
        canned_body_bytes, cores);
    std::printf("%-12s %5s %11s %9s %11s %11s %13s %11s\n", "mode", "conns", "floor req/s",
                "floor/sim", "floor CPU/1k", "3x sim req/s", "budget CPU/1k", "pod CPU/1k");
    for (const auto& r : peer_rows) {
      if (r.stream) continue;
      double needed = 3 * r.peer.requests_per_s;
      double budget = needed > 0 ? cores / needed * 1e6 - r.pod.client_ms_per_1000 : 0;
      std::printf("%-12s %5d %11.0f %9.2f %9.1fms %11.0f %11.1fms %9.1fms\n", "not streamed",
                  r.connections, r.floor.requests_per_s,
                  ratio(r.floor.requests_per_s, r.peer.requests_per_s), r.floor.cpu_ms_per_1000,
                  needed, budget, r.pod.cpu_ms_per_1000);
    }
  } else {
    std::printf("\n(no --peer: the side-by-side run against llm-d-inference-sim is skipped)\n");
  }
  if (!json_path.empty()) {
    bench::json_report j;
    for (const auto& r : peer_rows) {
      std::string k =
          std::string("peer_") + (r.stream ? "stream_" : "") + std::to_string(r.connections) + "c_";
      j.number(k + "pod_requests_per_s", r.pod.requests_per_s);
      j.number(k + "sim_requests_per_s", r.peer.requests_per_s);
      j.number(k + "ratio_requests_per_s", ratio(r.pod.requests_per_s, r.peer.requests_per_s));
      j.number(k + "pod_p50_ms", r.pod.p50_ms);
      j.number(k + "sim_p50_ms", r.peer.p50_ms);
      j.number(k + "pod_p99_ms", r.pod.p99_ms);
      j.number(k + "sim_p99_ms", r.peer.p99_ms);
      j.number(k + "pod_cpu_ms_per_1000", r.pod.cpu_ms_per_1000);
      j.number(k + "sim_cpu_ms_per_1000", r.peer.cpu_ms_per_1000);
      j.number(k + "pod_user_ms_per_1000", r.pod.user_ms_per_1000);
      j.number(k + "sim_user_ms_per_1000", r.peer.user_ms_per_1000);
      j.number(k + "ratio_user_cpu", ratio(r.peer.user_ms_per_1000, r.pod.user_ms_per_1000));
      j.number(k + "client_ms_per_1000_pod", r.pod.client_ms_per_1000);
      j.number(k + "client_ms_per_1000_sim", r.peer.client_ms_per_1000);
      if (!r.stream) {
        j.number(k + "floor_requests_per_s", r.floor.requests_per_s);
        j.number(k + "floor_cpu_ms_per_1000", r.floor.cpu_ms_per_1000);
        j.number(k + "ratio_floor_requests_per_s",
                 ratio(r.floor.requests_per_s, r.peer.requests_per_s));
      }
    }
    j.text("benchmark", "pod");
    j.text("mode", quick ? "quick" : "full");
    j.number("repeats", repeats);
    j.number("inprocess_requests_per_s", m_ip_rps);
    j.number("inprocess_tokens_per_s", m_ip_tps);
    j.number("inprocess_stream_requests_per_s", m_ip_srps);
    j.number("inprocess_stream_tokens_per_s", m_ip_stps);
    j.number("http_requests_per_s", m_h_rps);
    j.number("http_tokens_per_s", m_h_tps);
    j.number("http_stream_requests_per_s", m_h_srps);
    j.number("http_stream_tokens_per_s", m_h_stps);
    j.number("http_p50_ms", bench::median(h_p50));
    j.number("ratio_http_requests_per_s", ratio(m_h_rps, m_ip_rps));
    j.number("ratio_http_stream_tokens_per_s", ratio(m_h_stps, m_ip_stps));
    j.number("idle_rss_kib", idle_rss);
    for (auto [n, kib] : rss) {
      j.number("rss_kib_" + std::to_string(n) + "_streams", kib);
      j.number("kib_per_stream_" + std::to_string(n), double(kib - idle_rss) / n);
    }
    if (!j.write(json_path)) return 1;
  }
  return 0;
}
