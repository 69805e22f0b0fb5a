// The one way the gateway forwards a request to a model server over HTTP (another process: an
// `inferstack run pod`, llm-d-inference-sim, a real vLLM): the client's body goes out unchanged
// (with X-Gateway-Model-Name set by the router), the response comes back byte for byte. The
// upstream exchange runs on the client connection's I/O thread, so every piece is written to
// the client without a hop, and the next one is read only once the client has taken the last.
// A listener hears how it went: the inline driver on that same thread, the actor driver by a
// message.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <caf/error.hpp>

#include "gateway/request_state.hpp"
#include "gateway/upstream_client.hpp"

namespace inferstack::gateway {

class upstream_listener {
 public:
  virtual ~upstream_listener() = default;

  /// What the client's response headers name (x-request-id, x-inference-pod).
  virtual std::string_view request_id() const = 0;
  virtual std::string_view pod() const = 0;
  /// The picker's decision for x-inferstack-pick-decision; empty: no such header.
  virtual std::string_view pick_decision() const { return {}; }
  /// The client's exchange, which the response is written to.
  virtual http::exchange& client() = 0;

  /// The status line and headers have been passed to the client: its first byte.
  virtual void head(int status, const std::string& content_type) = 0;
  /// The response has ended; `status` non-zero: it came whole, its head with it.
  virtual void ended(int status, const std::string& content_type) = 0;
  /// The exchange failed, before the first byte (the request may go elsewhere) or mid-body.
  virtual void failed(const std::string& error, bool before_first_byte) = 0;
};

/// Where an http:// endpoint is: the pool's parsed target, else parsed now. False: not one.
bool upstream_target_of(const flow_state& st, const std::string& endpoint, upstream_target& out);

/// The failure of a pick whose endpoint does not read as http://host:port[/base].
caf::error not_http_endpoint(const std::string& endpoint);

/// Sends the request of `st` to `target` and passes the response to the client. The client's
/// connection is watched meanwhile; when it goes, the flow calls `st.stop_upstream`, set here,
/// and the model server sees its connection closed (vLLM aborts the request then).
void forward_upstream(flow_state& st, const upstream_target& target,
                      std::shared_ptr<upstream_listener> listener);

/// A model server broke off after the first byte: an SSE stream says so with a terminal error
/// event; a truncated JSON body must not look complete, so its connection is cut.
void end_broken_upstream(flow_state& st, const std::string& error);

/// The response head of a model server has reached the client: the flow notes it.
void note_upstream_head(flow_state& st, int status, const std::string& content_type,
                        caf::actor_clock::time_point now);

}  // namespace inferstack::gateway
