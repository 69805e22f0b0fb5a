// The gateway's request pipeline, without its listener. Every request takes the same steps, top
// down, as GAIE's director does (parse -> admit -> locate -> schedule -> prepare):
//   arrive (namespace from the Host, request id)  -> authorize (authorizer)
//   -> route (router: model -> InferencePool)     -> parse (whole body, or the prompt only)
//   -> pick (the pool's picker)                   -> the pod: a pod actor (pod_conversation)
//                                                    or a model server over HTTP (forwarder)
//   -> retry on another pod before the first byte (after_pod_error), else answer.
// The decisions are plain functions (request_steps.hpp); two drivers walk them: the inline
// driver on the request's I/O thread for the common case, and the actor driver (request_flow)
// when a step needs an actor.
//
// handle() is the seam: the HTTP server calls it with each exchange, and a virtual client (a
// test, `inferstack simulate`) can call it with exchanges of its own. On an actor system with
// the deterministic scheduler (runtime::simulation) everything then runs in virtual time: the
// request's clock, time to first token, the pods' latencies, the picker's deadline.
#pragma once

#include <cstddef>
#include <memory>

#include "gateway/gateway.hpp"

namespace inferstack::gateway {

class request_pipeline {
 public:
  request_pipeline(gateway_settings settings, gateway_dependencies deps);
  ~request_pipeline();

  /// One request, from its arrival to its response on `ex`: the admin routes, then the OpenAI
  /// API (404/405 for anything else). Returns at once; the response is written to `ex` later,
  /// from whichever thread the steps run on.
  void handle(std::shared_ptr<http::exchange> ex);

  /// Requests being answered now.
  size_t in_flight() const;

  /// Starts the sweep of pick deadlines (an actor on the system's clock); stop() ends it and
  /// closes idle upstream connections. One pipeline per gateway: not copied.
  void start();
  void stop();
  request_pipeline(const request_pipeline&) = delete;
  request_pipeline& operator=(const request_pipeline&) = delete;

 private:
  std::shared_ptr<gateway::context> context_;
};

}  // namespace inferstack::gateway
