// tools/bench/transport: local actor delivery vs ZeroMQ over 127.0.0.1, side by side.
//
// The same probe actor answers both: in this process (local delivery), and in a separate
// `inferstack run probe` process reached through the ZeroMQ transport. Measured:
//   - one-way messages/s: N notes, then a count request that returns after all of them;
//   - requests/s with 64 requests outstanding (pipelined);
//   - request round trip p50/p99, one request at a time (from an event-based actor).
// Every figure is the median of several repetitions; ratios are ZeroMQ / local.
// --curve: the ZeroMQ figures again with CurveZMQ on both ends (keys in a temporary directory),
// side by side with plaintext; its ratios are CURVE / plaintext.
// The floor, in the same run: libzmq's own round trip (its local_lat/remote_lat method) with our
// socket pattern -- a DEALER pinging a ROUTER that echoes, each with its own context (so its own
// I/O thread) over 127.0.0.1 -- and the same bytes as a probe request and its answer, but no
// codec and no actors; ratio_rtt_*_floor is our ZeroMQ round trip / the floor. The floor's CPU
// a round trip (both ends, their I/O threads) one at a time and with 32 in flight.
#include <time.h>
#include <unistd.h>
#include <chrono>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <zmq.hpp>

#include "actors/probe/probe_actor.hpp"
#include "protocol/codec.hpp"
#include "protocol/registration.hpp"
#include "runtime/actor_system_setup.hpp"
#include "runtime/curve_keys.hpp"
#include "runtime/wire/envelope.hpp"
#include "runtime/zmq_transport.hpp"
#include "tests/support/child_process.hpp"
#include "tools/bench/bench_table.hpp"

using namespace inferstack;
using clock_type = std::chrono::steady_clock;

namespace {

struct figures {
  double messages_per_s = 0;
  double requests_per_s = 0;
  double rtt_p50_us = 0;
  double rtt_p99_us = 0;
};

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

double one_way(caf::scoped_actor& self, const actors::probe::probe_actor& probe, int n) {
  uint64_t before = 0;
  self->request(probe, std::chrono::seconds(30), actors::probe::probe_count_request{})
      .receive([&](actors::probe::probe_count& c) { before = c.notes; }, [](caf::error&) {});
  auto t0 = clock_type::now();
  for (int i = 0; i < n; ++i)
    self->send(probe, actors::probe::probe_note{static_cast<uint64_t>(i), "x"});
  uint64_t after = 0;
  self->request(probe, std::chrono::seconds(60), actors::probe::probe_count_request{})
      .receive([&](actors::probe::probe_count& c) { after = c.notes; }, [](caf::error&) {});
  double s = seconds_since(t0);
  if (after - before != static_cast<uint64_t>(n)) std::cerr << "warning: notes lost\n";
  return n / s;
}

// Requests from an event-based driver with `window` outstanding at any time; with a window of
// 1 it measures the round trip of one request at a time. Latencies go into `latencies_us`.
double pipelined(caf::actor_system& sys, const actors::probe::probe_actor& probe, int n, int window,
                 std::vector<double>* latencies_us = nullptr) {
  caf::scoped_actor self{sys};
  auto driver =
      sys.spawn([probe, n, window, latencies_us](caf::event_based_actor* d) -> caf::behavior {
        auto sent = std::make_shared<int>(0);
        auto done = std::make_shared<int>(0);
        auto fire = std::make_shared<std::function<void(caf::actor)>>();
        *fire = [=](caf::actor reply_to) {
          if (*sent >= n) return;
          ++*sent;
          auto t0 = clock_type::now();
          d->request(probe, std::chrono::seconds(30),
                     actors::probe::probe_ping{static_cast<uint64_t>(*sent), 0})
              .then([=](actors::probe::probe_pong&) {
                if (latencies_us) latencies_us->push_back(seconds_since(t0) * 1e6);
                if (++*done == n)
                  d->send(reply_to, actors::probe::probe_count{static_cast<uint64_t>(n)});
                (*fire)(reply_to);
              });
        };
        return {[=](actors::probe::probe_note&) {
          auto reply_to = caf::actor_cast<caf::actor>(d->current_sender());
          for (int i = 0; i < window; ++i)
            (*fire)(reply_to);
        }};
      });
  auto t0 = clock_type::now();
  self->send(driver, actors::probe::probe_note{0, "go"});
  self->receive([](actors::probe::probe_count&) {});
  double s = seconds_since(t0);
  caf::anon_send_exit(driver, caf::exit_reason::user_shutdown);
  return n / s;
}

std::pair<double, double> round_trips(caf::actor_system& sys,
                                      const actors::probe::probe_actor& probe, int n) {
  std::vector<double> us;
  us.reserve(static_cast<size_t>(n));
  pipelined(sys, probe, n, 1, &us);
  return {bench::percentile(us, 50), bench::percentile(us, 99)};
}

figures measure(caf::actor_system& sys, const actors::probe::probe_actor& probe, int repeats,
                int messages, int requests, int round_trip_count) {
  caf::scoped_actor self{sys};
  // warm-up: connections, caches
  round_trips(sys, probe, 200);
  std::vector<double> mps, rps, p50, p99;
  for (int r = 0; r < repeats; ++r) {
    mps.push_back(one_way(self, probe, messages));
    rps.push_back(pipelined(sys, probe, requests, 64));
    auto [a, b] = round_trips(sys, probe, round_trip_count);
    p50.push_back(a);
    p99.push_back(b);
  }
  return {bench::median(mps), bench::median(rps), bench::median(p50), bench::median(p99)};
}

// The bytes of one probe request and of its answer as our transport frames them.
std::pair<std::string, std::string> probe_frames(const wire::message_codec& codec) {
  wire::envelope request;
  request.type = wire::frame_type::request;
  request.sender = wire::actor_address{"bench/1", 42, {}};
  request.receiver = wire::actor_address{"", 0, "probe"};
  request.correlation_id = 1000;
  auto ping = codec.encode(caf::make_message(actors::probe::probe_ping{1000, 0}));
  request.kind = ping->kind;
  request.payload = ping->bytes;
  wire::envelope response;
  response.type = wire::frame_type::response;
  response.sender = wire::actor_address{"probe/1", 17, {}};
  response.receiver = request.sender;
  response.correlation_id = 1000;
  auto pong = codec.encode(caf::make_message(actors::probe::probe_pong{1000, 0, "probe/1"}));
  response.kind = pong->kind;
  response.payload = pong->bytes;
  return {wire::encode(request), wire::encode(response)};
}

/// This process's CPU time (every thread: both ends of the floor and their I/O threads).
double process_cpu_seconds() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

struct floor_figures {
  double rtt_p50_us = 0, rtt_p99_us = 0;
  double cpu_us = 0;  ///< CPU a round trip, both ends with their I/O threads
};

// libzmq's floor: `n` round trips of a DEALER to a ROUTER that echoes `answer`, `window` of
// them outstanding at a time (1: one at a time, latencies measured), after 200 warm-up ones.
floor_figures zmq_floor(const std::string& question, const std::string& answer, int n,
                        int window = 1) {
  zmq::context_t server_ctx{1}, client_ctx{1};
  zmq::socket_t router{server_ctx, zmq::socket_type::router};
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  auto endpoint = router.get(zmq::sockopt::last_endpoint);
  int total = n + 200;  // 200 warm-up round trips
  std::thread echo([&] {
    for (int i = 0; i < total; ++i) {
      zmq::message_t identity, body;
      if (!router.recv(identity) || !router.recv(body)) return;
      router.send(identity, zmq::send_flags::sndmore);
      router.send(zmq::buffer(answer), zmq::send_flags::none);
    }
  });
  zmq::socket_t dealer{client_ctx, zmq::socket_type::dealer};
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(endpoint);
  std::vector<double> us;
  us.reserve(static_cast<size_t>(n));
  floor_figures out;
  double cpu0 = 0;
  if (window <= 1) {
    for (int i = 0; i < total; ++i) {
      if (i == 200) cpu0 = process_cpu_seconds();
      auto t0 = clock_type::now();
      dealer.send(zmq::buffer(question), zmq::send_flags::none);
      zmq::message_t reply;
      if (!dealer.recv(reply)) break;
      if (i >= 200) us.push_back(seconds_since(t0) * 1e6);
    }
  } else {  // `window` in flight: a new question as each answer comes in
    int sent = 0, answered = 0;
    for (; sent < std::min(window, total); ++sent)
      dealer.send(zmq::buffer(question), zmq::send_flags::none);
    while (answered < total) {
      zmq::message_t reply;
      if (!dealer.recv(reply)) break;
      if (++answered == 200) cpu0 = process_cpu_seconds();
      if (sent < total) {
        dealer.send(zmq::buffer(question), zmq::send_flags::none);
        ++sent;
      }
    }
  }
  out.cpu_us = (process_cpu_seconds() - cpu0) * 1e6 / n;
  echo.join();
  if (!us.empty()) {
    out.rtt_p50_us = bench::percentile(us, 50);
    out.rtt_p99_us = bench::percentile(us, 99);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"transport benchmark: local delivery vs ZeroMQ over 127.0.0.1"};
  bool quick = false;
  bool curve = false;
  std::string json_path;
  std::string binary = INFERSTACK_BINARY;
  app.add_flag("--quick", quick, "small run (CI smoke test)");
  app.add_flag("--curve", curve, "measure ZeroMQ with CurveZMQ too, side by side");
  app.add_option("--json", json_path, "write the figures as one flat JSON object");
  app.add_option("--inferstack", binary, "path of the inferstack binary")->capture_default_str();
  bool caf_scheduler = false;
  app.add_flag("--caf-scheduler", caf_scheduler,
               "the bench's own actors on CAF's work-stealing threads (the transport's I/O thread "
               "then hands each answer to them) instead of the io scheduler the roles run on");
  CLI11_PARSE(app, argc, argv);

  int repeats = quick ? 1 : 5;
  int messages = quick ? 20000 : 200000;
  int requests = quick ? 5000 : 50000;
  int rtts = quick ? 1000 : 10000;

  // The client side runs as the roles do (runtime/io_scheduler): an answer runs its requester
  // on the io thread that read it.
  runtime::system_config cfg{protocol::register_messages, caf_scheduler
                                                              ? runtime::scheduling::threads
                                                              : runtime::scheduling::io_threads};
  caf::actor_system sys{cfg};

  // The floor first, then the transport, repetition by repetition as measure() does.
  auto codec = std::make_shared<protocol::catalogue_codec>();
  auto [question, answer] = probe_frames(*codec);
  // The CPU a round trip costs libzmq itself: one at a time, and 32 in flight (as the
  // gateway's picks under the gateway bench's 32 connections).
  std::vector<double> floor_p50, floor_p99, floor_cpu, floor_cpu_32;
  for (int r = 0; r < repeats; ++r) {
    auto one = zmq_floor(question, answer, rtts);
    floor_p50.push_back(one.rtt_p50_us);
    floor_p99.push_back(one.rtt_p99_us);
    floor_cpu.push_back(one.cpu_us);
    floor_cpu_32.push_back(zmq_floor(question, answer, rtts, 32).cpu_us);
  }
  double floor_rtt_p50 = bench::median(floor_p50), floor_rtt_p99 = bench::median(floor_p99);
  double floor_cpu_us = bench::median(floor_cpu), floor_cpu_32_us = bench::median(floor_cpu_32);

  auto local_probe = actors::probe::spawn_probe(sys, "local");
  auto local = measure(sys, local_probe, repeats, messages, requests, rtts);

  // A probe process reached over ZeroMQ; with `keys`, both ends speak CurveZMQ.
  auto over_zmq = [&](const std::string& keys) -> std::optional<figures> {
    int port = testing::free_port();
    std::string endpoint = "tcp://127.0.0.1:" + std::to_string(port);
    std::vector<std::string> args{binary,   "run",         "probe", "--listen",
                                  endpoint, "--log-level", "warn"};
    if (!keys.empty()) args.insert(args.end(), {"--curve-keys", keys});
    testing::child_process peer(args);
    if (!peer.wait_for_line("listening on", std::chrono::seconds(10))) {
      std::cerr << "the probe process did not start\n" << peer.output();
      return std::nullopt;
    }
    runtime::zmq_transport_settings settings;
    settings.codec = codec;
    settings.node_name = "bench";
    settings.incarnation = 1;
    if (!keys.empty()) settings.curve = runtime::curve_settings_from_dir(keys, "bench");
    runtime::zmq_transport transport{sys, settings};
    auto remote = caf::actor_cast<actors::probe::probe_actor>(*transport.lookup(endpoint, "probe"));
    auto out = measure(sys, remote, repeats, messages, requests, rtts);
    transport.stop();
    peer.signal(SIGTERM);
    peer.wait(std::chrono::seconds(10));
    return out;
  };
  auto plain = over_zmq("");
  if (!plain) return 1;
  auto zmq = *plain;
  std::optional<figures> secured;
  if (curve) {
    auto keys = std::filesystem::temp_directory_path() /
                ("inferstack-bench-curve-" + std::to_string(::getpid()));
    secured = over_zmq(keys.string());
    std::error_code ec;
    std::filesystem::remove_all(keys, ec);
    if (!secured) return 1;
  }
  caf::anon_send_exit(local_probe, caf::exit_reason::user_shutdown);

  auto ratio = [](double a, double b) { return b == 0 ? 0 : a / b; };
  std::printf("transport benchmark (%s, median of %d, bench actors on %s)\n",
              quick ? "quick" : "full", repeats,
              caf_scheduler ? "CAF's threads" : "the io scheduler");
  std::printf("%-28s %14s %14s %12s", "figure", "local", "zeromq", "zmq/local");
  if (secured) std::printf(" %14s %12s", "zeromq+curve", "curve/plain");
  std::printf("\n");
  auto row = [&](const char* name, double figures::*field, const char* format,
                 const char* curve_format) {
    auto z = zmq.*field, l = local.*field;
    std::printf(format, name, l, z, ratio(z, l));
    if (secured) std::printf(curve_format, (*secured).*field, ratio((*secured).*field, z));
    std::printf("\n");
  };
  row("one-way messages/s", &figures::messages_per_s, "%-28s %14.0f %14.0f %12.3f",
      " %14.0f %12.3f");
  row("requests/s (64 in flight)", &figures::requests_per_s, "%-28s %14.0f %14.0f %12.3f",
      " %14.0f %12.3f");
  row("round trip p50 (us)", &figures::rtt_p50_us, "%-28s %14.1f %14.1f %12.2f", " %14.1f %12.2f");
  row("round trip p99 (us)", &figures::rtt_p99_us, "%-28s %14.1f %14.1f %12.2f", " %14.1f %12.2f");
  std::printf("\nlibzmq floor: DEALER/ROUTER echo, %zu-byte question, %zu-byte answer, no codec\n",
              question.size(), answer.size());
  std::printf("%-28s %14s %14s %12s\n", "figure", "floor", "zeromq", "zmq/floor");
  std::printf("%-28s %14.1f %14.1f %12.2f\n", "round trip p50 (us)", floor_rtt_p50, zmq.rtt_p50_us,
              ratio(zmq.rtt_p50_us, floor_rtt_p50));
  std::printf("%-28s %14.1f %14.1f %12.2f\n", "round trip p99 (us)", floor_rtt_p99, zmq.rtt_p99_us,
              ratio(zmq.rtt_p99_us, floor_rtt_p99));
  std::printf("%-28s %14.1f\n", "CPU a round trip (us)", floor_cpu_us);
  std::printf("%-28s %14.1f\n", "  the same, 32 in flight", floor_cpu_32_us);
  std::printf("  (both ends and their libzmq I/O threads, in this process)\n");
  if (!json_path.empty()) {
    bench::json_report report;
    report.text("benchmark", "transport");
    report.text("mode", quick ? "quick" : "full");
    report.text("scheduler", caf_scheduler ? "caf" : "io");
    report.number("repeats", repeats);
    // Each figure raw, then its ratio: ZeroMQ to local, CURVE to plaintext ZeroMQ.
    struct field {
      double figures::*member;
      const char* key;
      const char* ratio_key;
    };
    const field fields[] = {{&figures::messages_per_s, "messages_per_s", "messages_per_s"},
                            {&figures::requests_per_s, "requests_per_s", "requests_per_s"},
                            {&figures::rtt_p50_us, "rtt_p50_us", "rtt_p50"},
                            {&figures::rtt_p99_us, "rtt_p99_us", "rtt_p99"}};
    for (const auto& f : fields) {
      report.number(std::string("local_") + f.key, local.*f.member);
      report.number(std::string("zmq_") + f.key, zmq.*f.member);
    }
    for (const auto& f : fields)
      report.number(std::string("ratio_") + f.ratio_key, ratio(zmq.*f.member, local.*f.member));
    if (secured) {
      for (const auto& f : fields)
        report.number(std::string("curve_") + f.key, (*secured).*f.member);
      for (const auto& f : fields)
        report.number(std::string("ratio_curve_") + f.ratio_key,
                      ratio((*secured).*f.member, zmq.*f.member));
    }
    report.number("floor_rtt_p50_us", floor_rtt_p50);
    report.number("floor_rtt_p99_us", floor_rtt_p99);
    report.number("ratio_rtt_p50_floor", ratio(zmq.rtt_p50_us, floor_rtt_p50));
    report.number("ratio_rtt_p99_floor", ratio(zmq.rtt_p99_us, floor_rtt_p99));
    report.number("floor_cpu_us_per_rtt", floor_cpu_us);
    report.number("floor_cpu_us_per_rtt_32_in_flight", floor_cpu_32_us);
    report.number("floor_question_bytes", static_cast<double>(question.size()));
    report.number("floor_answer_bytes", static_cast<double>(answer.size()));
    if (!report.write(json_path)) {
      std::cerr << "cannot write " << json_path << "\n";
      return 1;
    }
  }
  return 0;
}
