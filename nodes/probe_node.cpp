// `inferstack run probe`: a node that exposes the transport probe over ZeroMQ. The multi-process
// tests and the transport benchmark talk to it; operators use it to check connectivity.
#include <csignal>
#include <iostream>

#include <prometheus/registry.h>
#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/probe/probe_actor.hpp"
#include "nodes/admin_routes.hpp"
#include "nodes/commands.hpp"
#include "nodes/signals.hpp"
#include "openai/api_error.hpp"
#include "protocol/registration.hpp"
#include "runtime/actor_system_setup.hpp"
#include "runtime/curve_keys.hpp"
#include "runtime/json_escape.hpp"
#include "runtime/zmq_transport.hpp"

namespace inferstack::nodes {

int run_probe(const probe_options& options, const common_options& common) {
  auto log = make_logger(common);
  if (!log) return 2;
  runtime::system_config cfg{protocol::register_messages};
  caf::actor_system system{cfg};
  auto settings = transport_settings_for(options.name, new_incarnation(), log);
  settings.listen = options.listen;
  settings.events = options.events;
  std::unique_ptr<runtime::zmq_transport> transport;
  try {
    if (!options.curve_keys.empty())
      settings.curve = runtime::curve_settings_from_dir(options.curve_keys, "probe");
    transport = std::make_unique<runtime::zmq_transport>(system, settings);
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return 1;
  }
  auto probe = actors::probe::spawn_probe(system, transport->node_id());
  transport->expose("probe", caf::actor_cast<caf::actor>(probe));

  auto registry = std::make_shared<prometheus::Registry>();
  std::atomic<bool> ready{true};
  std::unique_ptr<http::server> admin;
  if (!options.http.empty()) {
    http::server_settings hs;
    hs.error_body = openai::error_body;
    auto colon = options.http.rfind(':');
    hs.address = options.http.substr(0, colon);
    hs.port = static_cast<uint16_t>(std::stoi(options.http.substr(colon + 1)));
    admin = std::make_unique<http::server>(hs, [&](std::shared_ptr<http::exchange> ex) {
      if (!serve_admin(ex, *registry, ready))
        ex->respond(http::status::not_found, openai::error_body(404, "not found"),
                    "application/json");
    });
    admin->start();
  }
  // The line tests wait for: the node is reachable once it is printed.
  std::cout << "probe " << transport->node_id() << " listening on " << options.listen << std::endl;
  log->info("probe node {} listening on {}", transport->node_id(), options.listen);

  caf::scoped_actor self{system};
  std::vector<caf::actor> peers;
  for (const auto& address : options.peers)
    if (auto handle = transport->lookup(address, "probe")) peers.push_back(*handle);
  uint64_t seq = 0;
  for (;;) {
    int sig = wait_signal(std::chrono::milliseconds(peers.empty() ? 0 : 1000));
    if (sig == SIGHUP) continue;
    if (sig != 0) break;
    for (size_t i = 0; i < peers.size(); ++i) {
      self->request(peers[i], std::chrono::milliseconds(500), actors::probe::probe_ping{++seq, 0})
          .receive(
              [&](actors::probe::probe_pong& pong) { log->info("peer {} answers", pong.node); },
              [&](caf::error& err) {
                log->warn("peer {}: {}", options.peers[i], system.render(err));
              });
    }
  }
  log->info("shutting down");
  if (admin) admin->stop();
  transport->stop();
  caf::anon_send_exit(probe, caf::exit_reason::user_shutdown);
  return 0;
}

}  // namespace inferstack::nodes

namespace inferstack::nodes {

int run_ping(const ping_options& options, const common_options& common) {
  using clock = std::chrono::steady_clock;
  auto log = make_logger(common);
  if (!log) return 2;
  runtime::system_config cfg{protocol::register_messages};
  caf::actor_system system{cfg};
  auto settings = transport_settings_for("ping", new_incarnation(), nullptr);
  try {
    if (!options.curve_keys.empty())
      settings.curve = runtime::curve_settings_from_dir(options.curve_keys, "ping");
  } catch (const std::exception& e) {
    std::cerr << "inferstack ping: " << e.what() << "\n";
    return 2;
  }
  runtime::zmq_transport transport{system, settings};
  auto handle = transport.lookup(options.address, options.name);
  if (!handle) {
    std::cerr << "inferstack ping: " << system.render(handle.error()) << "\n";
    return 2;
  }
  auto probe = caf::actor_cast<actors::probe::probe_actor>(*handle);
  caf::scoped_actor self{system};
  auto timeout = std::chrono::milliseconds(options.timeout_ms);
  auto ms_since = [](clock::time_point t) {
    return std::chrono::duration<double, std::milli>(clock::now() - t).count();
  };

  int requests_ok = 0, requests_failed = 0;
  double max_error_ms = 0, max_ok_ms = 0;
  std::string last_error;
  auto ping = [&](uint64_t seq) {
    auto t0 = clock::now();
    bool ok = false;
    self->request(probe, timeout, actors::probe::probe_echo{"ping " + std::to_string(seq)})
        .receive(
            [&](actors::probe::probe_echo& echo) {
              ok = echo.text == "ping " + std::to_string(seq);
              max_ok_ms = std::max(max_ok_ms, ms_since(t0));
            },
            [&](caf::error& err) {
              last_error = system.render(err);
              max_error_ms = std::max(max_error_ms, ms_since(t0));
            });
    return ok;
  };
  for (int i = 0; i < options.requests; ++i)
    (ping(static_cast<uint64_t>(i)) ? requests_ok : requests_failed)++;

  uint64_t stream_items = 0;
  bool stream_in_order = true, stream_done = false;
  if (options.stream > 0) {
    self->send(probe,
               actors::probe::probe_stream_request{1, static_cast<uint64_t>(options.stream), 16});
    self->receive_while([&] { return !stream_done; })(
        [&](actors::probe::probe_stream_item& item) {
          stream_in_order &= item.seq == stream_items++;
        },
        [&](actors::probe::probe_stream_done& done) {
          stream_done = true;
          stream_in_order &= done.count == stream_items;
        },
        caf::after(timeout) >> [&] { stream_done = true; });
  }

  // Loop phase: a steady ping, to watch a peer die and come back.
  int loop_ok = 0, loop_failed = 0, recoveries = 0;
  bool failing = false;
  if (options.duration > 0) {
    auto end = clock::now() + std::chrono::duration<double>(options.duration);
    uint64_t seq = 1000000;
    while (clock::now() < end) {
      auto t0 = clock::now();
      // State changes are printed as they happen, so a watcher can act on them.
      if (ping(++seq)) {
        ++loop_ok;
        if (failing || loop_ok == 1) std::cout << "state: ok" << std::endl;
        if (failing) ++recoveries;
        failing = false;
      } else {
        ++loop_failed;
        if (!failing) std::cout << "state: failing (" << last_error << ")" << std::endl;
        failing = true;
      }
      auto spent = clock::now() - t0;
      auto wait = std::chrono::milliseconds(options.interval_ms) - spent;
      if (wait > std::chrono::milliseconds(0))
        self->receive(caf::after(std::chrono::duration_cast<std::chrono::milliseconds>(wait)) >>
                      [] {});
    }
  }
  std::cout << R"({"requests_ok":)" << requests_ok << R"(,"requests_failed":)" << requests_failed
            << R"(,"stream_items":)" << stream_items << R"(,"stream_in_order":)"
            << (stream_in_order ? "true" : "false") << R"(,"loop_ok":)" << loop_ok
            << R"(,"loop_failed":)" << loop_failed << R"(,"recoveries":)" << recoveries
            << R"(,"ends_healthy":)" << (failing ? "false" : "true") << R"(,"max_ok_ms":)"
            << max_ok_ms << R"(,"max_error_ms":)" << max_error_ms << R"(,"timeout_ms":)"
            << options.timeout_ms << R"(,"last_error":")" << runtime::json_escape(last_error)
            << "\"}" << std::endl;
  transport.stop();
  bool ok = requests_failed == 0 &&
            (options.stream == 0 || (stream_in_order && stream_items == uint64_t(options.stream)));
  return ok ? 0 : 1;
}

}  // namespace inferstack::nodes
