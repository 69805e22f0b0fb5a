// A transport node of the ZeroMQ tests: bound on 127.0.0.1 at free ports, with short heartbeats
// so a peer that goes away is noticed within the tests' bounded waits.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "protocol/codec.hpp"
#include "runtime/zmq_transport.hpp"

namespace inferstack::testing {

inline runtime::zmq_transport_settings zmq_test_node(
    std::string name, uint64_t incarnation,
    std::optional<runtime::zmq_curve_settings> curve = std::nullopt) {
  using namespace std::chrono_literals;
  runtime::zmq_transport_settings s;
  s.codec = std::make_shared<protocol::catalogue_codec>();
  s.node_name = std::move(name);
  s.listen = "tcp://127.0.0.1:*";
  s.events = "tcp://127.0.0.1:*";
  s.incarnation = incarnation;
  s.heartbeat_interval = 20ms;
  s.peer_timeout = 300ms;
  s.curve = std::move(curve);
  return s;
}

}  // namespace inferstack::testing
