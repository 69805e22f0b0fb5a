// The pod actor as the engine of the pod's gRPC Generate (pod_grpc.hpp): each call becomes the
// pod's generate request, as /inference/v1/generate's (token ids in, one word per id standing for
// the prompt in echo mode), and its token chunks and result the call's events.
#pragma once

#include <cstdint>
#include <string>

#include <caf/fwd.hpp>

#include "actors/pod/pod_protocol.hpp"
#include "gateway/pod_grpc.hpp"

namespace inferstack::gateway {

struct pod_grpc_engine_settings {
  std::string model;  ///< the served model name requests name
  bool echo_mode = false;
  uint32_t stream_window = 64;
  int64_t timeout_ns = 0;  ///< a generation's limit; 0: none
};

grpc_generate_fn pod_actor_generations(caf::actor_system& system, actors::pod::pod_actor pod,
                                       pod_grpc_engine_settings settings);

}  // namespace inferstack::gateway
