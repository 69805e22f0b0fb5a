// The live console over HTTP, on a stack process's admin listener where the control plane runs
// (`inferstack dev`, `inferstack run control --http`):
//   GET /ui           the page (ui/console.html, embedded; no data in it, so open like /metrics)
//   GET /ui/snapshot  the snapshot (ui/console_snapshot.hpp) once, as JSON
//   GET /ui/events    the snapshot as Server-Sent Events, one every second
// The two data paths need an admin token like /control (the admin listener checks it). A
// snapshot is gathered only when asked: with no client connected the console does nothing but
// note the InferenceSets' status changes.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "actors/controller/controller_protocol.hpp"
#include "actors/node_mocker/node_mocker_protocol.hpp"
#include "actors/scaler/scaler_protocol.hpp"
#include "runtime/http/http_server.hpp"
#include "ui/console_page.hpp"
#include "ui/console_snapshot.hpp"

namespace inferstack::ui {

struct console_sources {
  config::stack_config config;  ///< namespaces, routes, pools, sets (see reload())
  actors::node_mocker::node_mocker_actor mocker;
  actors::controller::controller_actor controller;
  /// A pod's figures from its own registry (pods in this process); unset: from the load reports
  /// the scaler holds (pods in other processes: no hit rate then).
  std::function<std::optional<pod_figures>(const std::string& pod)> figures;
  actors::scaler::scaler_actor scaler;
  /// The pickers' recent decisions ({"decisions":[...]}, newest first) when they run in this
  /// process; unset: the snapshot has no picks.
  std::function<nlohmann::json()> recent_picks;
  /// The same from pickers in other processes, asked by the gathering actor `self`: calls
  /// `done` once, within a bounded time, with the picks and a note for each picker that did
  /// not answer (a silent picker delays a snapshot by its timeout at most).
  std::function<void(
      caf::event_based_actor* self,
      std::function<void(nlohmann::json picks, std::vector<std::string> errors)> done)>
      ask_picks;
  std::function<int64_t()> now_ms;  ///< wall clock, Unix milliseconds
};

class console_service {
 public:
  console_service(caf::actor_system& system, console_sources sources);
  ~console_service();

  /// Answers /ui, /ui/snapshot and /ui/events; false for any other path.
  bool serve(const std::shared_ptr<http::exchange>& ex, const std::string& path);

  /// Gathers one snapshot and hands it to `done` (on an actor's thread).
  void gather(std::function<void(nlohmann::json)> done);

  /// The actor to subscribe to the controller's set statuses ("setstatus@"): it records them.
  caf::actor status_recorder() const { return recorder_; }

  /// The routes changed (SIGHUP): later snapshots show the new configuration.
  void reload(config::stack_config config);

  /// Ends every event stream (shutdown).
  void stop();

  struct core;  ///< what the streams and gatherings share; outlives the service while in use

 private:
  std::shared_ptr<core> core_;
  caf::actor recorder_;
};

}  // namespace inferstack::ui
