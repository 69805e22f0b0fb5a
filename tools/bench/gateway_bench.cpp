// tools/bench/gateway: what the gateway costs. One run measures, with the same load generator
// and the same zero-latency pods:
//   direct          straight to a pod's HTTP port (`inferstack run pod`)
//   gateway         through `inferstack dev`: auth + routing + pick, to an in-process pod
//   gateway-http    through the gateway to the same kind of pod in another process, over HTTP
//   nginx           nginx (Debian's) proxy_pass to the pod, keep-alive upstream
//   nginx + auth    the same nginx, but each request first makes an auth_request subrequest to
//                   a second nginx process answering 204 (keep-alive upstream), then proxies:
//                   one side round trip to another process per request, the analogue of the
//                   multi-process gateway's pick (an ext_proc / endpoint picker) in nginx
//   multi-process   the same stack with one process per role (`inferstack run gateway`,
//                   `run picker` per pool, `run control` running the pod as a process): the
//                   gateway reaches the picker and the pod over ZeroMQ
//   multi-process, pod over HTTP  the same processes, but the model whose pool is the pod
//                   of `direct` (a ModelServer): the gateway asks the picker process over
//                   ZeroMQ, then reaches the pod over HTTP -- llm-d's shape (Envoy asks the
//                   endpoint picker, then proxies to vLLM)
//   tracing 100 % / 1 %  `gateway` again, in `inferstack dev` stacks whose gateway records a
//                   span per request (spec.tracing, sampling 100 % and 1 %) and exports them
//                   over OTLP/HTTP JSON to a local sink (a bare epoll server in a child process
//                   that reads each POST to its end, discards it and answers 200, as a collector
//                   on other hardware looks from here), so spans are sent rather than dropped
// and prints requests/s and latency percentiles with ratios against `direct`, and the tracing
// rows' requests/s and CPU per request against `gateway` (tracing off). Each round runs every
// path once, in turn; the figures are medians over the rounds. --multi-process-only measures
// only direct, gateway-http (the same gateway without the pick hop), nginx, nginx + auth and the
// multi-process rows (under load and one request at a time).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "tests/support/child_process.hpp"
#include "tools/bench/bench_table.hpp"
#include "tools/bench/http_load.hpp"

using namespace inferstack;
namespace fs = std::filesystem;

namespace {

struct figures {
  double rps = 0;
  double p50_us = 0;
  double p99_us = 0;
  uint64_t errors = 0;
  double cpu_us = 0;  ///< the first process on the way's CPU per request (if any is named)
};

/// One way to the pod, and what each round measured on it.
struct path {
  uint16_t port = 0;
  std::string model, host_header, key;
  bool active = true;
  std::vector<double> rps, p50, p99;
  /// The processes on the way (the server, a role, the pod): each one's CPU per request, per
  /// round (with its children).
  std::vector<std::pair<std::string, int>> processes;
  std::vector<std::vector<double>> process_cpu_us;
  uint64_t errors = 0;

  void run_once(int connections, double seconds) {
    bench::load_options o;
    o.port = port;
    o.connections = connections;
    o.duration = std::chrono::duration<double>(seconds);
    o.body = R"({"model":")" + model + R"(","prompt":"benchmark prompt","max_tokens":16})";
    if (!host_header.empty()) o.headers.emplace_back("Host", host_header);
    if (!key.empty()) o.headers.emplace_back("Authorization", "Bearer " + key);
    std::vector<double> process_cpu0;
    for (auto& [name, id] : processes)
      process_cpu0.push_back(bench::tree_cpu_seconds(id));
    auto res = bench::run_load(o);
    // Over the whole run (warm-up included): the CPU each took over every answer.
    process_cpu_us.resize(processes.size());
    for (size_t i = 0; i < processes.size() && res.answered > 0; ++i)
      process_cpu_us[i].push_back((bench::tree_cpu_seconds(processes[i].second) - process_cpu0[i]) *
                                  1e6 / static_cast<double>(res.answered));
    rps.push_back(res.requests_per_s());
    p50.push_back(bench::percentile(res.latencies_us, 50));
    p99.push_back(bench::percentile(res.latencies_us, 99));
    errors += res.errors;
  }

  /// "name X us, ..." : the median CPU per request of each process on the way.
  std::string process_cpu() const {
    std::string out;
    char text[64];
    for (size_t i = 0; i < processes.size() && i < process_cpu_us.size(); ++i) {
      std::snprintf(text, sizeof text, "%s%s %.1f us", out.empty() ? "" : ", ",
                    processes[i].first.c_str(), bench::median(process_cpu_us[i]));
      out += text;
    }
    return out;
  }

  figures medians() const {
    if (!active || rps.empty()) return {};
    return {
        bench::median(rps), bench::median(p50), bench::median(p99), errors,
        process_cpu_us.empty() || process_cpu_us[0].empty() ? 0 : bench::median(process_cpu_us[0])};
  }
};

/// Rounds of one run per path, the paths in turn: a machine that gets busier or quieter during
/// the benchmark shifts every path alike instead of favouring the one measured in the quiet.
void measure_rounds(const std::vector<path*>& paths, int connections, double seconds, int repeats) {
  for (int r = 0; r < repeats; ++r)
    for (auto* p : paths)
      if (p->active) p->run_once(connections, seconds);
}

/// The median over rounds of a's requests/s divided by b's in the same round.
double median_round_ratio(const path& a, const path& b) {
  std::vector<double> ratios;
  for (size_t r = 0; r < std::min(a.rps.size(), b.rps.size()); ++r)
    if (b.rps[r] > 0) ratios.push_back(a.rps[r] / b.rps[r]);
  return ratios.empty() ? 0 : bench::median(ratios);
}

/// The median over rounds of a's p50 minus b's in the same round: the latency a adds over b,
/// paired by round so that a round the machine made slower for both cancels out.
double median_round_added_p50(const path& a, const path& b) {
  std::vector<double> added;
  for (size_t r = 0; r < std::min(a.p50.size(), b.p50.size()); ++r)
    added.push_back(a.p50[r] - b.p50[r]);
  return added.empty() ? 0 : bench::median(added);
}

bool wait_http(uint16_t port, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    bench::held_streams probe("127.0.0.1", port, "/", "", 1);
    if (probe.opened() == 1) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

/// The sum of a Prometheus metric's samples (every label set) in a /metrics text; 0 if absent.
double metric_sum(const std::string& text, const std::string& name) {
  double sum = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name, 0) != 0 || line.size() <= name.size()) continue;
    char next = line[name.size()];
    if (next != ' ' && next != '{') continue;
    sum += std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  }
  return sum;
}

/// What a tracing stack's exporter says it did with its spans (its /metrics).
struct export_counts {
  double exported = 0, dropped = 0;
};

export_counts exporter_counts(uint16_t admin_port) {
  auto text = bench::http_get(admin_port, "/metrics").value_or("");
  return {metric_sum(text, "inferstack_trace_spans_exported_total"),
          metric_sum(text, "inferstack_trace_spans_dropped_total")};
}

/// The start of a bench nginx.conf: `workers` worker processes, its pid, error log and temporary
/// files in `dir`, no access log, keep-alive without limit; opens the http block.
std::string nginx_conf_head(const fs::path& dir, int workers) {
  std::ostringstream c;
  c << "worker_processes " << workers << ";\npid " << (dir / "nginx.pid").string()
    << ";\nerror_log " << (dir / "error.log").string()
    << " error;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n"
    << "  keepalive_requests 1000000;\n"
    << "  client_body_temp_path " << dir.string() << ";\n";
  return c.str();
}

/// nginx.conf of the proxy: `port` proxies to the pod; `auth_port` (if not 0) first asks the
/// auth server at `auth_upstream` with an auth_request subrequest, then proxies to the pod.
std::string nginx_proxy_conf(const fs::path& dir, int port, int pod_port, int auth_port,
                             int auth_upstream) {
  std::ostringstream c;
  c << nginx_conf_head(dir, 2) << "  proxy_temp_path " << dir.string() << ";\n"
    << "  upstream pod { server 127.0.0.1:" << pod_port
    << "; keepalive 128; keepalive_requests 1000000; }\n"
    << "  server {\n    listen 127.0.0.1:" << port << ";\n"
    << "    location / { proxy_pass http://pod; proxy_http_version 1.1;\n"
    << "      proxy_set_header Connection \"\"; proxy_buffering off; }\n  }\n";
  if (auth_port != 0)
    c << "  upstream authz { server 127.0.0.1:" << auth_upstream
      << "; keepalive 128; keepalive_requests 1000000; }\n"
      << "  server {\n    listen 127.0.0.1:" << auth_port << ";\n"
      << "    location / { auth_request /_auth; proxy_pass http://pod; proxy_http_version 1.1;\n"
      << "      proxy_set_header Connection \"\"; proxy_buffering off; }\n"
      << "    location = /_auth { internal; proxy_pass http://authz; proxy_http_version 1.1;\n"
      << "      proxy_set_header Connection \"\"; proxy_pass_request_body off;\n"
      << "      proxy_set_header Content-Length \"\"; }\n  }\n";
  c << "}\n";
  return c.str();
}

/// nginx.conf of the auth server (one worker): 204 to everything, as an allow.
std::string nginx_auth_conf(const fs::path& dir, int port) {
  std::ostringstream c;
  c << nginx_conf_head(dir, 1) << "  server {\n    listen 127.0.0.1:" << port << ";\n"
    << "    location / { return 204; }\n  }\n}\n";
  return c.str();
}

/// What the OTLP sink received, over its life: requests (batches) and their bodies' bytes.
std::atomic<uint64_t> sink_requests{0}, sink_body_bytes{0};

void print_sink_counts_and_exit(int) {
  // Only async-signal-safe calls: the digits by hand, write(2), _exit.
  char text[96];
  size_t at = 0;
  auto put = [&](const char* s) {
    while (*s)
      text[at++] = *s++;
  };
  auto put_number = [&](uint64_t v) {
    char digits[21];
    int n = 0;
    do
      digits[n++] = static_cast<char>('0' + v % 10);
    while ((v /= 10) > 0);
    while (n > 0)
      text[at++] = digits[--n];
  };
  put("received ");
  put_number(sink_requests.load());
  put(" requests, ");
  put_number(sink_body_bytes.load());
  put(" body bytes\n");
  [[maybe_unused]] auto written = ::write(STDOUT_FILENO, text, at);
  ::_exit(0);
}

/// The OTLP sink: what a collector on other hardware looks like from here -- it reads each
/// POST /v1/traces to its end, discards the body unread, and answers 200 (what an OTLP/HTTP
/// receiver answers when it accepts a batch). One epoll loop; it counts requests and body bytes
/// (printed at SIGTERM), not spans: the exporter's own count of spans the sink accepted is read
/// from its /metrics. (It used to copy every body into a string and count `"spanId"` in it: on
/// these two cores that was 0.45-0.5 us a span -- 1.5 us of a traced request's ~55 us -- for a
/// count the exporter already gives.)
[[noreturn]] void run_otlp_sink(uint16_t port) {
  std::signal(SIGTERM, print_sink_counts_and_exit);
  auto at = bench::listen_on_loopback(port, 128, false, "otlp sink");
  static constexpr std::string_view answer =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
  struct connection {
    std::string head;      ///< the request's head so far (until its blank line)
    size_t body_left = 0;  ///< bytes of the body still to come (discarded as they do)
  };
  std::vector<connection> conns(64);
  std::vector<char> chunk(256 * 1024);
  epoll_event ready[64];
  for (;;) {
    int n = ::epoll_wait(at.poll, ready, 64, -1);
    for (int i = 0; i < n; ++i) {
      int fd = ready[i].data.fd;
      if (fd == at.listener) {
        bench::accept_waiting(at, [&conns](int c) {
          if (static_cast<size_t>(c) >= conns.size()) conns.resize(static_cast<size_t>(c) * 2);
          conns[static_cast<size_t>(c)] = {};
        });
        continue;
      }
      auto got = ::read(fd, chunk.data(), chunk.size());
      if (got <= 0) {
        ::close(fd);
        continue;
      }
      auto& c = conns[static_cast<size_t>(fd)];
      std::string_view data(chunk.data(), static_cast<size_t>(got));
      while (!data.empty()) {
        if (c.body_left > 0) {  // the body: skipped, not looked at
          size_t skip = std::min(c.body_left, data.size());
          c.body_left -= skip;
          data.remove_prefix(skip);
          if (c.body_left == 0 && ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL) < 0) break;
          continue;
        }
        // The head: kept until its blank line, then its Content-Length read.
        size_t before = c.head.size();
        c.head.append(data.substr(0, std::min<size_t>(data.size(), 4096)));
        auto end = c.head.find("\r\n\r\n");
        if (end == std::string::npos) {
          data.remove_prefix(c.head.size() - before);
          if (c.head.size() > 64 * 1024) c.head.clear();  // not HTTP: dropped
          continue;
        }
        data.remove_prefix(end + 4 - before);
        size_t length = 0;
        for (const char* name : {"Content-Length:", "content-length:"})
          if (auto at = c.head.find(name); at != std::string::npos && at < end) {
            length = std::strtoul(c.head.c_str() + at + std::strlen(name), nullptr, 10);
            break;
          }
        c.head.clear();
        ++sink_requests;
        sink_body_bytes += length;
        c.body_left = length;
        if (length == 0 && ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL) < 0) break;
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gateway benchmark: direct pod vs gateway vs nginx"};
  bool quick = false;
  std::string json_path, binary = INFERSTACK_BINARY, nginx = "/usr/sbin/nginx";
  int connections = 32;
  bool plaintext = false;
  app.add_flag("--quick", quick, "small run (CI smoke test)");
  app.add_flag("--insecure-plaintext", plaintext,
               "the multi-process stack's roles without CurveZMQ (to compare)");
  app.add_option("--json", json_path, "write the figures as one flat JSON object");
  app.add_option("--inferstack", binary, "path of the inferstack binary")->capture_default_str();
  app.add_option("--nginx", nginx, "path of nginx (skipped when absent)")->capture_default_str();
  app.add_option("--connections", connections, "concurrent keep-alive connections")
      ->capture_default_str();
  bool tracing_only = false;
  app.add_flag("--tracing-only", tracing_only,
               "only the tracing rows (off, 100 %, 1 %): no direct, gateway-http, nginx, "
               "multi-process or sequential runs");
  std::string trace_batching;
  app.add_option("--tracing-batching", trace_batching,
                 "extra spec.tracing settings of the traced stacks, e.g. 'maxBatch: 64' (default: "
                 "the gateway's own defaults)");
  bool multi_only = false;
  app.add_flag("--multi-process-only", multi_only,
               "only direct, gateway-http, nginx, nginx + auth and the multi-process rows (picker "
               "processes, pickers in the gateway; under load and sequential): no gateway or "
               "tracing runs");
  int sink_port = 0;
  app.add_option("--otlp-sink", sink_port, "(internal) be the OTLP sink on this port");
  CLI11_PARSE(app, argc, argv);
  if (sink_port > 0) run_otlp_sink(static_cast<uint16_t>(sink_port));
  int repeats = quick ? 1 : 5;
  double seconds = quick ? 0.7 : 4.0;

  auto dir = fs::temp_directory_path() / ("inferstack-bench-gw-" + std::to_string(::getpid()));
  fs::create_directories(dir / "nginx");
  fs::create_directories(dir / "nginx-auth");
  std::ofstream(dir / "key") << "sk-bench\n";

  // The pod behind direct, gateway-http and nginx. It also answers to "bench-model-http", the
  // model name the gateway routes to it.
  int pod_port = testing::free_port();
  testing::child_process pod2({binary, "run", "pod", "--listen-address", "127.0.0.1", "--port",
                               std::to_string(pod_port), "--model", "bench-model",
                               "--served-model-name", "bench-model bench-model-http", "--profile",
                               "zero", "--output-length", "fixed:16", "--log-level", "warn"});
  if (!pod2.wait_for_line("serving", std::chrono::seconds(10))) {
    std::cerr << "the pod did not start\n";
    return 1;
  }

  // The stack of `inferstack dev`: `tracing` is the InferenceGateway's spec.tracing, if any.
  auto write_stack = [&](const fs::path& file, int port, const std::string& secrets,
                         const std::string& tracing) {
    std::ofstream(file) << R"(apiVersion: inferstack.io/v1alpha1
kind: InferenceGateway
metadata: {name: gw}
spec: {listen: "127.0.0.1:)"
                        << port << R"(", defaultNamespace: bench, ioThreads: 2, secretsDir: )"
                        << (dir / secrets).string() << (tracing.empty() ? "" : ", tracing: ")
                        << tracing << R"(}
---
apiVersion: kaito.sh/v1alpha1
kind: APIKey
metadata: {name: key, namespace: bench}
spec: {keyFile: )" << (dir / "key").string()
                        << R"(}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {name: bench-model}
spec:
  engine: {profile: zero, output-length: "fixed:16", max-num-seqs: "256"}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {name: inproc, namespace: bench}
spec:
  replicas: 1
  labelSelector: {matchLabels: {app: inproc}}
  template:
    metadata: {labels: {app: inproc}}
    resource: {instanceType: bench}
    inference: {preset: {name: bench-model}}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelServer
metadata: {name: http-pod, namespace: bench, labels: {app: http}}
spec: {url: "http://127.0.0.1:)"
                        << pod_port << R"("}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: inproc, namespace: bench}
spec:
  selector: {matchLabels: {app: inproc}}
  targetPorts: [{number: 8000}]
  endpointPickerRef: {name: none}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: http, namespace: bench}
spec:
  selector: {matchLabels: {app: http}}
  targetPorts: [{number: 8000}]
  endpointPickerRef: {name: none}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: routes, namespace: bench}
spec:
  rules:
  - matches: [{headers: [{name: X-Gateway-Model-Name, value: bench-model}]}]
    backendRefs: [{name: inproc}]
  - matches: [{headers: [{name: X-Gateway-Model-Name, value: bench-model-http}]}]
    backendRefs: [{name: http}]
)";
  };
  int gw_port = testing::free_port();
  write_stack(dir / "stack.yaml", gw_port, "secrets", "");
  testing::child_process dev({binary, "dev", "-f", (dir / "stack.yaml").string(), "--admin-listen",
                              "127.0.0.1:0", "--log-level", "warn"});
  if (!dev.wait_for_line("OpenAI API", std::chrono::seconds(10))) {
    std::cerr << "inferstack dev did not start\n" << dev.output();
    return 1;
  }

  // The same stack with tracing at 100 % and at 1 %, exporting to the sink (a child process
  // of its own, so that its CPU is not the gateway's).
  int otlp_port = testing::free_port();
  testing::child_process sink({"/proc/self/exe", "--otlp-sink", std::to_string(otlp_port)});
  if (!wait_http(static_cast<uint16_t>(otlp_port), std::chrono::seconds(5))) {
    std::cerr << "the OTLP sink did not start\n";
    return 1;
  }
  struct traced_stack {
    double ratio = 1.0;
    int port = testing::free_port(), admin_port = testing::free_port();
    std::unique_ptr<testing::child_process> process;
  };
  traced_stack traced[2];  // sampling 100 %, then 1 %
  traced[1].ratio = 0.01;
  for (size_t i = 0; i < std::size(traced); ++i) {
    auto& t = traced[i];
    auto file = dir / ("stack-traced-" + std::to_string(i) + ".yaml");
    write_stack(file, t.port, "secrets-traced-" + std::to_string(i),
                "{endpoint: \"http://127.0.0.1:" + std::to_string(otlp_port) +
                    "\", samplingRatio: " + std::to_string(t.ratio) +
                    (trace_batching.empty() ? "" : ", " + trace_batching) + "}");
    t.process = std::make_unique<testing::child_process>(std::vector<std::string>{
        binary, "dev", "-f", file.string(), "--admin-listen",
        "127.0.0.1:" + std::to_string(t.admin_port), "--log-level", "warn"});
    if (!t.process->wait_for_line("OpenAI API", std::chrono::seconds(10))) {
      std::cerr << "inferstack dev with tracing did not start\n" << t.process->output();
      return 1;
    }
  }

  std::unique_ptr<testing::child_process> proxy, authz;
  int nginx_port = testing::free_port();
  // nginx + auth: the proxy's second port, and the auth server (an nginx process of its own).
  int nginx_auth_port = testing::free_port(), authz_port = testing::free_port();
  if (!tracing_only && fs::exists(nginx)) {
    std::ofstream(dir / "nginx-auth" / "nginx.conf")
        << nginx_auth_conf(dir / "nginx-auth", authz_port);
    authz = std::make_unique<testing::child_process>(std::vector<std::string>{
        nginx, "-p", (dir / "nginx-auth").string(), "-c",
        (dir / "nginx-auth" / "nginx.conf").string(), "-g", "daemon off;"});
    if (!wait_http(static_cast<uint16_t>(authz_port), std::chrono::seconds(5))) authz.reset();
    std::ofstream(dir / "nginx" / "nginx.conf") << nginx_proxy_conf(
        dir / "nginx", nginx_port, pod_port, authz ? nginx_auth_port : 0, authz_port);
    proxy = std::make_unique<testing::child_process>(
        std::vector<std::string>{nginx, "-p", (dir / "nginx").string(), "-c",
                                 (dir / "nginx" / "nginx.conf").string(), "-g", "daemon off;"});
    if (!wait_http(static_cast<uint16_t>(nginx_port), std::chrono::seconds(5))) proxy.reset();
    if (!proxy || !wait_http(static_cast<uint16_t>(nginx_auth_port), std::chrono::seconds(5)))
      authz.reset();
  }

  // The same stack, one process per role (ports from a free base upward).
  int multi_port = testing::free_port();
  // A second gateway of the same stack hosting every pool's picker itself (--local-pickers):
  // no pick hop, one process fewer on the request's way.
  int local_port = testing::free_port();
  // A base with its control and picker ports free (pod ports are checked by the launcher).
  auto port_free = [](int port) {
    for (int p : {port, port + 1, port + 10, port + 12})
      if (!testing::port_is_free(p)) return false;
    return true;
  };
  int base = 30000 + (::getpid() % 100) * 300;
  while (!port_free(base))
    base += 300;
  auto tcp = [](int port) { return "tcp://127.0.0.1:" + std::to_string(port); };
  std::vector<std::string> pickers{"--picker", "bench/inproc=" + tcp(base + 10), "--picker",
                                   "bench/http=" + tcp(base + 12)};
  std::vector<std::unique_ptr<testing::child_process>> multi;
  auto start_role = [&](std::vector<std::string> args, const char* ready) {
    if (tracing_only) return false;
    multi.push_back(std::make_unique<testing::child_process>(args));
    return multi.back()->wait_for_line(ready, std::chrono::seconds(15)).has_value();
  };
  bool multi_ok = true;
  // The roles talk CurveZMQ, as deployed, unless asked to compare with plaintext.
  std::vector<std::string> security{"--curve-keys", (dir / "curve-keys").string()};
  if (plaintext) security = {"--insecure-plaintext"};
  for (auto [pool, port] : std::vector<std::pair<std::string, int>>{{"bench/inproc", base + 10},
                                                                    {"bench/http", base + 12}}) {
    std::vector<std::string> picker{binary,
                                    "run",
                                    "picker",
                                    "-f",
                                    (dir / "stack.yaml").string(),
                                    "--pool",
                                    pool,
                                    "--transport-listen",
                                    tcp(port),
                                    "--log-level",
                                    "warn"};
    picker.insert(picker.end(), security.begin(), security.end());
    multi_ok &= start_role(picker, "ready");
  }
  std::vector<std::string> control{binary,
                                   "run",
                                   "control",
                                   "-f",
                                   (dir / "stack.yaml").string(),
                                   "--transport-listen",
                                   tcp(base),
                                   "--transport-events",
                                   tcp(base + 1),
                                   "--pod-ports",
                                   std::to_string(base + 100),
                                   "--pod-ports-last",
                                   std::to_string(base + 600),
                                   "--log-level",
                                   "warn"};
  control.insert(control.end(), pickers.begin(), pickers.end());
  control.insert(control.end(), security.begin(), security.end());
  multi_ok = multi_ok && start_role(control, "ready");
  // The gateway asking the picker processes, and one running the pickers itself.
  auto gateway_role = [&](int port, const std::vector<std::string>& where_pickers) {
    std::vector<std::string> args{binary,
                                  "run",
                                  "gateway",
                                  "-f",
                                  (dir / "stack.yaml").string(),
                                  "--listen",
                                  "127.0.0.1:" + std::to_string(port),
                                  "--control",
                                  tcp(base),
                                  "--control-events",
                                  tcp(base + 1),
                                  "--log-level",
                                  "warn"};
    args.insert(args.end(), where_pickers.begin(), where_pickers.end());
    args.insert(args.end(), security.begin(), security.end());
    return args;
  };
  multi_ok = multi_ok && start_role(gateway_role(multi_port, pickers), "ready");
  multi_ok = multi_ok && start_role(gateway_role(local_port, {"--local-pickers"}), "ready");
  // Until the pickers have heard their pools' members (the control plane tells them).
  int answered = 0;  // probes answered in a row
  for (int i = 0; multi_ok && i < 200; ++i) {
    bench::load_options probe;
    probe.port = static_cast<uint16_t>(i % 2 == 0 ? multi_port : local_port);
    probe.connections = 1;
    probe.duration = std::chrono::milliseconds(100);
    probe.warmup = std::chrono::milliseconds(0);
    probe.body = R"({"model":"bench-model","prompt":"probe","max_tokens":1})";
    probe.headers = {{"Host", "bench.gw.example.com"}, {"Authorization", "Bearer sk-bench"}};
    auto r = bench::run_load(probe);
    answered = r.requests > 0 && r.errors == 0 ? answered + 1 : 0;
    if (answered == 2) break;  // both gateways, one after the other
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!multi_ok && !tracing_only)
    std::cerr << "the multi-process stack did not start; its rows are skipped\n";

  auto make_path = [&](int port, const char* model, bool through_gateway, bool active) {
    path p;
    p.port = static_cast<uint16_t>(port);
    p.model = model;
    if (through_gateway) {
      p.host_header = "bench.gw.example.com";
      p.key = "sk-bench";
    }
    p.active = active;
    return p;
  };
  auto direct_p = make_path(pod_port, "bench-model", false, !tracing_only);
  auto gw_p = make_path(gw_port, "bench-model", true, !multi_only);
  gw_p.processes = {{"dev", dev.pid()}};
  auto tr100_p = make_path(traced[0].port, "bench-model", true, !multi_only);
  tr100_p.processes = {{"dev", traced[0].process->pid()}};
  auto tr1_p = make_path(traced[1].port, "bench-model", true, !multi_only);
  tr1_p.processes = {{"dev", traced[1].process->pid()}};
  // gateway-http is also the multi-process rows' baseline: the same gateway code, no pick hop.
  auto gw_http_p = make_path(gw_port, "bench-model-http", true, !tracing_only);
  gw_http_p.processes = {{"dev (gateway)", dev.pid()}, {"pod", pod2.pid()}};
  auto ngx_p = make_path(nginx_port, "bench-model", false, static_cast<bool>(proxy));
  auto ngxa_p = make_path(nginx_auth_port, "bench-model", false, static_cast<bool>(authz));
  auto mp_p = make_path(multi_port, "bench-model", true, multi_ok);
  auto mph_p = make_path(multi_port, "bench-model-http", true, multi_ok);
  auto lp_p = make_path(local_port, "bench-model", true, multi_ok);
  auto lph_p = make_path(local_port, "bench-model-http", true, multi_ok);
  if (multi_ok) {  // multi: the pickers (inproc, http), control, gateway, local-pickers gateway
    lp_p.processes = {{"gateway (pickers in it)", multi[4]->pid()},
                      {"control (and its pod process)", multi[2]->pid()}};
    lph_p.processes = {{"gateway (pickers in it)", multi[4]->pid()}, {"pod", pod2.pid()}};
    mp_p.processes = {{"gateway", multi[3]->pid()},
                      {"picker", multi[0]->pid()},
                      {"control (and its pod process)", multi[2]->pid()}};
    mph_p.processes = {
        {"gateway", multi[3]->pid()}, {"picker", multi[1]->pid()}, {"pod", pod2.pid()}};
  }
  direct_p.processes = {{"pod", pod2.pid()}};
  if (proxy) ngx_p.processes = {{"nginx", proxy->pid()}, {"pod", pod2.pid()}};
  if (authz)
    ngxa_p.processes = {{"nginx", proxy->pid()}, {"auth nginx", authz->pid()}, {"pod", pod2.pid()}};
  measure_rounds({&direct_p, &gw_p, &tr100_p, &tr1_p, &gw_http_p, &ngx_p, &ngxa_p, &mp_p, &mph_p,
                  &lp_p, &lph_p},
                 connections, seconds, repeats);
  // One connection, one request at a time: the latency each hop adds, without queueing.
  auto direct1_p = make_path(pod_port, "bench-model", false, true);
  auto gw1_p = make_path(gw_port, "bench-model", true, !multi_only);
  auto gw_http1_p = make_path(gw_port, "bench-model-http", true, true);
  auto ngx1_p = make_path(nginx_port, "bench-model", false, static_cast<bool>(proxy));
  auto ngxa1_p = make_path(nginx_auth_port, "bench-model", false, static_cast<bool>(authz));
  auto mp1_p = make_path(multi_port, "bench-model", true, multi_ok);
  auto mph1_p = make_path(multi_port, "bench-model-http", true, multi_ok);
  auto lp1_p = make_path(local_port, "bench-model", true, multi_ok);
  auto lph1_p = make_path(local_port, "bench-model-http", true, multi_ok);
  if (!tracing_only)
    measure_rounds(
        {&direct1_p, &gw1_p, &gw_http1_p, &ngx1_p, &ngxa1_p, &mp1_p, &mph1_p, &lp1_p, &lph1_p}, 1,
        seconds, repeats);
  auto direct = direct_p.medians(), gw = gw_p.medians(), gw_http = gw_http_p.medians(),
       ngx = ngx_p.medians(), mp = mp_p.medians(), ngxa = ngxa_p.medians();
  auto direct1 = direct1_p.medians(), gw1 = gw1_p.medians(), gw_http1 = gw_http1_p.medians(),
       ngx1 = ngx1_p.medians(), mp1 = mp1_p.medians(), ngxa1 = ngxa1_p.medians();
  auto mph = mph_p.medians(), mph1 = mph1_p.medians();
  auto lp = lp_p.medians(), lp1 = lp1_p.medians(), lph = lph_p.medians(), lph1 = lph1_p.medians();
  auto tr100 = tr100_p.medians(), tr1 = tr1_p.medians();
  // What the exporters did with the spans: the last batches leave within maxDelay (1 s).
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  auto counts100 = exporter_counts(static_cast<uint16_t>(traced[0].admin_port)),
       counts1 = exporter_counts(static_cast<uint16_t>(traced[1].admin_port));
  for (auto& t : traced) {
    t.process->signal(SIGTERM);
    t.process->wait(std::chrono::seconds(10));
  }
  // The sink's own CPU (reading what it is sent): not the gateway's, but on the same cores
  // during the traced rows. Its spans: the ones both exporters were answered 200 for.
  double sink_cpu_s = bench::cpu_seconds(sink.pid());
  sink.signal(SIGTERM);
  sink.wait(std::chrono::seconds(5));
  double sink_spans = counts100.exported + counts1.exported, sink_requests = 0, sink_bytes = 0;
  if (auto at = sink.output().rfind("received "); at != std::string::npos) {
    char* end = nullptr;
    sink_requests = std::strtod(sink.output().c_str() + at + 9, &end);
    if (auto comma = std::string_view(end).find(", "); comma != std::string_view::npos)
      sink_bytes = std::strtod(end + comma + 2, nullptr);
  }
  for (auto it = multi.rbegin(); it != multi.rend(); ++it) {  // gateways, control, pickers
    (*it)->signal(SIGTERM);
    (*it)->wait(std::chrono::seconds(15));
  }

  dev.signal(SIGTERM);
  dev.wait(std::chrono::seconds(10));
  pod2.signal(SIGTERM);
  pod2.wait(std::chrono::seconds(10));
  for (auto* p : {&proxy, &authz})
    if (*p) {
      (*p)->signal(SIGQUIT);
      (*p)->wait(std::chrono::seconds(10));
    }
  fs::remove_all(dir);

  auto ratio = [](double a, double b) { return b == 0 ? 0 : a / b; };
  // The paired figures and the goal, computed once for the table and the JSON.
  double round_gw_vs_ngx = median_round_ratio(gw_p, ngx_p);
  double round_gw_http_vs_ngx = median_round_ratio(gw_http_p, ngx_p);
  double round_gw_added = median_round_added_p50(gw1_p, direct1_p);
  double round_gw_http_added = median_round_added_p50(gw_http1_p, direct1_p);
  double round_ngx_added = median_round_added_p50(ngx1_p, direct1_p);
  double round_gw_http_minus_ngx = median_round_added_p50(gw_http1_p, ngx1_p);
  // The issue's goal: at or above nginx's throughput, at most 100 us added at p50.
  auto goal_met = [&](const figures& load, const figures& seq) {
    return proxy && ratio(load.rps, ngx.rps) >= 1.0 && seq.p50_us - direct1.p50_us <= 100.0;
  };
  bool goal_in_process = goal_met(gw, gw1), goal_over_http = goal_met(gw_http, gw_http1);
  // The multi-process path against nginx and nginx + auth (the same hop nginx makes to a
  // second process), and its goal: >= 0.8x nginx's requests/s, <= +200 us p50 sequential.
  auto multi_goal_met = [&](double vs_nginx, double added_p50_us) {
    return proxy && multi_ok && vs_nginx >= 0.8 && added_p50_us <= 200.0;
  };
  double round_mp_vs_ngx = median_round_ratio(mp_p, ngx_p);
  double round_mp_vs_ngxa = median_round_ratio(mp_p, ngxa_p);
  double round_ngxa_vs_ngx = median_round_ratio(ngxa_p, ngx_p);
  double round_mp_added = median_round_added_p50(mp1_p, direct1_p);
  double round_ngxa_added = median_round_added_p50(ngxa1_p, direct1_p);
  double round_ngxa_minus_ngx = median_round_added_p50(ngxa1_p, ngx1_p);
  bool goal_multi = multi_goal_met(round_mp_vs_ngx, round_mp_added);
  double round_mph_vs_ngx = median_round_ratio(mph_p, ngx_p);
  double round_mph_vs_ngxa = median_round_ratio(mph_p, ngxa_p);
  double round_mph_added = median_round_added_p50(mph1_p, direct1_p);
  bool goal_multi_http = multi_goal_met(round_mph_vs_ngx, round_mph_added);
  // The same bounds for the gateway that hosts its pickers (pods over ZeroMQ, or HTTP).
  double round_lp_vs_ngx = median_round_ratio(lp_p, ngx_p);
  double round_lph_vs_ngx = median_round_ratio(lph_p, ngx_p);
  double round_lp_added = median_round_added_p50(lp1_p, direct1_p);
  double round_lph_added = median_round_added_p50(lph1_p, direct1_p);
  bool goal_local = multi_goal_met(round_lp_vs_ngx, round_lp_added);
  bool goal_local_http = multi_goal_met(round_lph_vs_ngx, round_lph_added);
  // Tracing's cost: the issue's goal is at most 10 % fewer requests/s at 100 % sampling.
  double round_tr100_vs_off = median_round_ratio(tr100_p, gw_p);
  double round_tr1_vs_off = median_round_ratio(tr1_p, gw_p);
  bool goal_tracing = round_tr100_vs_off >= 0.9;
  std::printf(
      "gateway benchmark: non-streamed completions, 16 tokens, zero-latency pods, %d connections "
      "(%s, median of %d rounds, paths in turn)\n",
      connections, quick ? "quick" : "full", repeats);
  if (!tracing_only) {
    std::printf("%-18s %12s %12s %12s %10s %14s %8s\n", "path", "requests/s", "p50 (us)",
                "p99 (us)", "rps/direct", "p50-direct(us)", "errors");
    auto row = [&](const char* name, const figures& f) {
      std::printf("%-18s %12.0f %12.1f %12.1f %10.3f %14.1f %8llu\n", name, f.rps, f.p50_us,
                  f.p99_us, ratio(f.rps, direct.rps), f.p50_us - direct.p50_us,
                  static_cast<unsigned long long>(f.errors));
    };
    row("direct", direct);
    if (!multi_only) row("gateway", gw);
    row("gateway-http", gw_http);
    if (proxy)
      row("nginx", ngx);
    else
      std::printf("nginx          (not found: %s)\n", nginx.c_str());
    if (authz) row("nginx + auth", ngxa);
    if (multi_ok) row("multi-process", mp);
    if (multi_ok) row("mp, pod HTTP", mph);
    if (multi_ok) row("mp, local pickers", lp);
    if (multi_ok) row("mp, lp, pod HTTP", lph);
    std::printf("CPU per request under load (medians; a process with its children):\n");
    for (auto [name, p] :
         std::vector<std::pair<const char*, const path*>>{{"direct", &direct_p},
                                                          {"gateway-http", &gw_http_p},
                                                          {"nginx", &ngx_p},
                                                          {"nginx + auth", &ngxa_p},
                                                          {"multi-process", &mp_p},
                                                          {"mp, pod HTTP", &mph_p},
                                                          {"mp, local pickers", &lp_p},
                                                          {"mp, lp, pod HTTP", &lph_p}})
      if (p->active && !p->processes.empty())
        std::printf("  %-18s %s\n", name, p->process_cpu().c_str());
    if (authz)
      std::printf("nginx + auth / nginx throughput (median of the per-round ratios): %.3f\n",
                  round_ngxa_vs_ngx);
    if (proxy && multi_ok)
      std::printf(
          "multi-process / nginx throughput (median of the per-round ratios): %.3f; / "
          "nginx + auth: %.3f\n",
          round_mp_vs_ngx, round_mp_vs_ngxa);
    if (proxy && multi_ok)
      std::printf(
          "multi-process, pod over HTTP / nginx throughput (median of the per-round ratios): "
          "%.3f; / nginx + auth: %.3f\n",
          round_mph_vs_ngx, round_mph_vs_ngxa);
    if (proxy && multi_ok)
      std::printf(
          "multi-process, pickers in the gateway / nginx throughput (median of the per-round "
          "ratios): %.3f (pod over ZeroMQ), %.3f (pod over HTTP)\n",
          round_lp_vs_ngx, round_lph_vs_ngx);
    if (proxy && !multi_only) {
      std::printf("gateway / nginx throughput: %.3f (in-process pod), %.3f (pod over HTTP)\n",
                  ratio(gw.rps, ngx.rps), ratio(gw_http.rps, ngx.rps));
      std::printf("  median of the per-round ratios: %.3f (in-process pod), %.3f (pod over HTTP)\n",
                  round_gw_vs_ngx, round_gw_http_vs_ngx);
    }
    if (multi_ok && !multi_only)
      std::printf("multi-process (%s) / single process throughput: %.3f\n",
                  plaintext ? "plaintext ZeroMQ" : "CurveZMQ", ratio(mp.rps, gw.rps));
  }
  if (!multi_only) {
    std::printf(
        "tracing (gateway, in-process pod; spans over OTLP/HTTP JSON to a local sink, same "
        "rounds):\n");
    std::printf("%-14s %12s %12s %12s %10s %10s %12s %10s\n", "sampling", "requests/s",
                "CPU/req (us)", "p50 (us)", "rps/off", "round", "exported", "dropped");
    auto trace_row = [&](const char* name, const figures& f, double round, export_counts c) {
      std::printf("%-14s %12.0f %12.1f %12.1f %10.3f %10.3f %12.0f %10.0f\n", name, f.rps, f.cpu_us,
                  f.p50_us, ratio(f.rps, gw.rps), round, c.exported, c.dropped);
    };
    trace_row("off", gw, 1.0, {});
    trace_row("100 %", tr100, round_tr100_vs_off, counts100);
    trace_row("1 %", tr1, round_tr1_vs_off, counts1);
    std::printf(
        "  round: the median of the per-round ratios to off; the sink took %.0f POSTs, %.0f spans "
        "(%.0f bytes a span; its CPU: %.2f us a span); CPU/req: the whole dev process's (gateway "
        "and pod)\n",
        sink_requests, sink_spans, sink_spans > 0 ? sink_bytes / sink_spans : 0.0,
        sink_spans > 0 ? sink_cpu_s * 1e6 / sink_spans : 0.0);
    std::printf("goal (<= 10 %% fewer requests/s at 100 %% sampling): %s\n",
                goal_tracing ? "met" : "not met");
  }
  if (!tracing_only) {
    std::printf("one connection, sequential requests:\n");
    std::printf("%-18s %12s %12s %14s %8s\n", "path", "p50 (us)", "p99 (us)", "p50-direct(us)",
                "errors");
    auto row1 = [&](const char* name, const figures& f) {
      std::printf("%-18s %12.1f %12.1f %14.1f %8llu\n", name, f.p50_us, f.p99_us,
                  f.p50_us - direct1.p50_us, static_cast<unsigned long long>(f.errors));
    };
    row1("direct", direct1);
    if (!multi_only) row1("gateway", gw1);
    row1("gateway-http", gw_http1);
    if (proxy) row1("nginx", ngx1);
    if (authz) row1("nginx + auth", ngxa1);
    if (multi_ok) row1("multi-process", mp1);
    if (multi_ok) row1("mp, pod HTTP", mph1);
    if (multi_ok) row1("mp, local pickers", lp1);
    if (multi_ok) row1("mp, lp, pod HTTP", lph1);
    std::printf("  median of the per-round added p50 (us):");
    if (!multi_only) std::printf(" %.1f (gateway),", round_gw_added);
    std::printf(" %.1f (gateway-http),", round_gw_http_added);
    if (proxy) std::printf(" %.1f (nginx)", round_ngx_added);
    if (proxy) std::printf("; gateway-http minus nginx: %.1f", round_gw_http_minus_ngx);
    if (authz)
      std::printf(", %.1f (nginx + auth; minus nginx: %.1f)", round_ngxa_added,
                  round_ngxa_minus_ngx);
    if (multi_ok)
      std::printf(
          ", %.1f (multi-process), %.1f (multi-process, pod over HTTP), %.1f (pickers in the "
          "gateway), %.1f (pickers in the gateway, pod over HTTP)",
          round_mp_added, round_mph_added, round_lp_added, round_lph_added);
    std::printf("\n");
    if (proxy && multi_ok)
      std::printf(
          "goal, multi-process (>= 0.8x nginx requests/s, <= +200 us p50 sequential; "
          "per-round medians): %s\n",
          goal_multi ? "met" : "not met");
    if (proxy && multi_ok)
      std::printf("goal, multi-process with the pod over HTTP (the same bounds): %s\n",
                  goal_multi_http ? "met" : "not met");
    if (proxy && multi_ok)
      std::printf(
          "goal, multi-process with the pickers in the gateway (the same bounds): %s (pod over "
          "ZeroMQ), %s (pod over HTTP)\n",
          goal_local ? "met" : "not met", goal_local_http ? "met" : "not met");
    if (proxy && !multi_only)
      std::printf(
          "goal (>= nginx requests/s, <= +100 us p50 sequential): %s (in-process pod), %s (pod "
          "over "
          "HTTP)\n",
          goal_in_process ? "met" : "not met", goal_over_http ? "met" : "not met");
  }
  if (!json_path.empty()) {
    bench::json_report j;
    j.text("benchmark", "gateway");
    j.text("mode", quick ? "quick" : "full");
    j.number("repeats", repeats);
    j.number("connections", connections);
    j.number("multi_process_curve", plaintext ? 0 : 1);
    j.number("tracing_only", tracing_only ? 1 : 0);
    for (auto [name, f] : std::vector<std::pair<std::string, figures>>{
             {"direct", direct},
             {"gateway", gw},
             {"gateway_http", gw_http},
             {"nginx", ngx},
             {"multi_process", mp},
             {"multi_process_pod_http", mph},
             {"multi_process_local_pickers", lp},
             {"multi_process_local_pickers_pod_http", lph}}) {
      j.number(name + "_requests_per_s", f.rps);
      j.number(name + "_p50_us", f.p50_us);
      j.number(name + "_p99_us", f.p99_us);
      j.number(name + "_errors", static_cast<double>(f.errors));
    }
    for (auto [name, f] : std::vector<std::pair<std::string, figures>>{
             {"tracing_off", gw}, {"tracing_100", tr100}, {"tracing_1", tr1}}) {
      j.number(name + "_requests_per_s", f.rps);
      j.number(name + "_cpu_us_per_request", f.cpu_us);
      j.number(name + "_p50_us", f.p50_us);
    }
    j.number("round_ratio_tracing_100_vs_off", round_tr100_vs_off);
    j.number("round_ratio_tracing_1_vs_off", round_tr1_vs_off);
    j.number("tracing_100_spans_exported", counts100.exported);
    j.number("tracing_100_spans_dropped", counts100.dropped);
    j.number("tracing_1_spans_exported", counts1.exported);
    j.number("tracing_1_spans_dropped", counts1.dropped);
    j.number("tracing_sink_spans", sink_spans);
    j.number("tracing_sink_requests", sink_requests);
    j.number("tracing_sink_body_bytes", sink_bytes);
    j.number("tracing_sink_cpu_us_per_span", sink_spans > 0 ? sink_cpu_s * 1e6 / sink_spans : 0);
    j.number("goal_met_tracing", goal_tracing ? 1 : 0);
    j.number("ratio_gateway_vs_direct", ratio(gw.rps, direct.rps));
    j.number("ratio_gateway_vs_nginx", ratio(gw.rps, ngx.rps));
    j.number("ratio_gateway_http_vs_nginx", ratio(gw_http.rps, ngx.rps));
    j.number("round_ratio_gateway_vs_nginx", round_gw_vs_ngx);
    j.number("round_ratio_gateway_http_vs_nginx", round_gw_http_vs_ngx);
    j.number("gateway_added_p50_us", gw.p50_us - direct.p50_us);
    j.number("gateway_http_added_p50_us", gw_http.p50_us - direct.p50_us);
    j.number("nginx_added_p50_us", ngx.p50_us - direct.p50_us);
    j.number("sequential_direct_p50_us", direct1.p50_us);
    j.number("sequential_gateway_p50_us", gw1.p50_us);
    j.number("sequential_gateway_http_p50_us", gw_http1.p50_us);
    j.number("sequential_nginx_p50_us", ngx1.p50_us);
    j.number("sequential_gateway_added_p50_us", gw1.p50_us - direct1.p50_us);
    j.number("sequential_gateway_http_added_p50_us", gw_http1.p50_us - direct1.p50_us);
    j.number("sequential_nginx_added_p50_us", ngx1.p50_us - direct1.p50_us);
    j.number("round_sequential_gateway_added_p50_us", round_gw_added);
    j.number("round_sequential_gateway_http_added_p50_us", round_gw_http_added);
    j.number("round_sequential_nginx_added_p50_us", round_ngx_added);
    j.number("round_sequential_gateway_http_minus_nginx_p50_us", round_gw_http_minus_ngx);
    j.number("goal_met_in_process_pod", goal_in_process ? 1 : 0);
    j.number("goal_met_pod_over_http", goal_over_http ? 1 : 0);
    j.number("ratio_multi_process_vs_gateway", ratio(mp.rps, gw.rps));
    j.number("sequential_multi_process_p50_us", mp1.p50_us);
    j.number("sequential_multi_process_added_p50_us", mp1.p50_us - direct1.p50_us);
    j.number("multi_process_only", multi_only ? 1 : 0);
    j.number("nginx_auth_requests_per_s", ngxa.rps);
    j.number("nginx_auth_p50_us", ngxa.p50_us);
    j.number("nginx_auth_p99_us", ngxa.p99_us);
    j.number("nginx_auth_errors", static_cast<double>(ngxa.errors));
    j.number("sequential_nginx_auth_p50_us", ngxa1.p50_us);
    j.number("sequential_nginx_auth_added_p50_us", ngxa1.p50_us - direct1.p50_us);
    j.number("round_ratio_nginx_auth_vs_nginx", round_ngxa_vs_ngx);
    j.number("round_ratio_multi_process_vs_nginx", round_mp_vs_ngx);
    j.number("round_ratio_multi_process_vs_nginx_auth", round_mp_vs_ngxa);
    j.number("round_sequential_nginx_auth_added_p50_us", round_ngxa_added);
    j.number("round_sequential_nginx_auth_minus_nginx_p50_us", round_ngxa_minus_ngx);
    j.number("round_sequential_multi_process_added_p50_us", round_mp_added);
    j.number("goal_met_multi_process", goal_multi ? 1 : 0);
    j.number("sequential_multi_process_pod_http_p50_us", mph1.p50_us);
    j.number("round_ratio_multi_process_pod_http_vs_nginx", round_mph_vs_ngx);
    j.number("round_ratio_multi_process_pod_http_vs_nginx_auth", round_mph_vs_ngxa);
    j.number("round_sequential_multi_process_pod_http_added_p50_us", round_mph_added);
    j.number("goal_met_multi_process_pod_http", goal_multi_http ? 1 : 0);
    j.number("round_ratio_multi_process_local_pickers_vs_nginx", round_lp_vs_ngx);
    j.number("round_ratio_multi_process_local_pickers_pod_http_vs_nginx", round_lph_vs_ngx);
    j.number("round_sequential_multi_process_local_pickers_added_p50_us", round_lp_added);
    j.number("round_sequential_multi_process_local_pickers_pod_http_added_p50_us", round_lph_added);
    j.number("goal_met_multi_process_local_pickers", goal_local ? 1 : 0);
    j.number("goal_met_multi_process_local_pickers_pod_http", goal_local_http ? 1 : 0);
    if (!j.write(json_path)) return 1;
  }
  return 0;
}
