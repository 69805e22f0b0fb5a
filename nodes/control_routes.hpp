// The control plane over HTTP, for `inferstack get` and `inferstack scale` (and anyone with
// curl): GET /control/pods, /control/nodes, /control/inferencesets as JSON; POST /control/scale
// with {"namespace","inferenceset","replicas"} (an operator's replicas change); POST
// /control/node with {"node","action"[,"notice_seconds","reason"]}: cordon, uncordon, reclaim
// (a spot reclaim notice) or fail a node of the node mocker. POSTs need the admin token.
#pragma once

#include <memory>

#include <caf/fwd.hpp>

#include "actors/controller/controller_protocol.hpp"
#include "actors/node_mocker/node_mocker_protocol.hpp"
#include "runtime/http/http_server.hpp"

namespace inferstack::nodes {

/// Answers the control paths; false for any other path.
bool serve_control(const std::shared_ptr<http::exchange>& ex, caf::actor_system& system,
                   const actors::node_mocker::node_mocker_actor& mocker,
                   const actors::controller::controller_actor& controller);

}  // namespace inferstack::nodes
