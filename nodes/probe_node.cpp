// `inferstack run probe`: a node that exposes the transport probe over ZeroMQ. The multi-process
// tests and the transport benchmark talk to it; operators use it to check connectivity.
#include <csignal>
#include <iostream>

#include <prometheus/registry.h>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "nodes/admin_routes.hpp"
#include "nodes/commands.hpp"
#include "nodes/signals.hpp"
#include "runtime/actor_system_setup.hpp"
#include "runtime/probe_actor.hpp"
#include "runtime/zmq_transport.hpp"

namespace inferstack::nodes {

int run_probe(const probe_options& options, const common_options& common) {
  auto log = make_logger(common);
  if (!log) return 2;
  runtime::system_config cfg;
  caf::actor_system system{cfg};
  runtime::zmq_transport_settings settings;
  settings.node_name = options.name;
  settings.listen = options.listen;
  settings.events = options.events;
  settings.incarnation = new_incarnation();
  std::unique_ptr<runtime::zmq_transport> transport;
  try {
    transport = std::make_unique<runtime::zmq_transport>(system, settings);
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return 1;
  }
  auto probe = runtime::spawn_probe(system, transport->node_id());
  transport->expose("probe", caf::actor_cast<caf::actor>(probe));

  auto registry = std::make_shared<prometheus::Registry>();
  std::atomic<bool> ready{true};
  std::unique_ptr<http::server> admin;
  if (!options.http.empty()) {
    http::server_settings hs;
    auto colon = options.http.rfind(':');
    hs.address = options.http.substr(0, colon);
    hs.port = static_cast<uint16_t>(std::stoi(options.http.substr(colon + 1)));
    admin = std::make_unique<http::server>(hs, [&](std::shared_ptr<http::exchange> ex) {
      if (!serve_admin(ex, *registry, ready))
        ex->respond(http::status::not_found, http::openai_error_body(404, "not found"),
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
      self->request(peers[i], std::chrono::milliseconds(500), runtime::probe_ping{++seq, 0})
          .receive([&](runtime::probe_pong& pong) { log->info("peer {} answers", pong.node); },
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
