// The transport between processes: ZeroMQ over TCP (or ipc/inproc).
//
// Requests and one-way messages travel DEALER -> ROUTER: a node connects a DEALER to each peer
// it looks up and binds one ROUTER for those that look it up; both directions of a
// conversation (requests, replies, streams of messages back to the sender) share that pair.
// Remote actors are proxy actors: a message sent to a proxy is encoded with the catalogue
// codec into an envelope and sent at once, on the sending actor's thread (each socket has a
// mutex: ZeroMQ sockets are used by one thread at a time); inbound envelopes are delivered to
// local actors with a proxy of the remote sender as their sender, so replies and further
// messages find their way back. Events travel PUB -> SUB with a per-topic sequence number.
//
// Threads: on the io scheduler (runtime/io_scheduler.hpp) each ROUTER and DEALER socket is
// read by one of its threads, whose reactor watches the socket's ZMQ_FD; an inbound request
// then runs its actor on that thread, whose answer leaves from there too -- a round trip
// wakes as many threads as libzmq's own (its I/O thread, then ours). A peer is dialled once
// per io thread (a lane: its own DEALER and routing id, read by that thread) and an actor
// sends on its thread's lane, so an answer runs its requester on the thread that asked. On
// other schedulers the transport's I/O thread reads them and hands each frame to the actor's
// thread. The I/O thread also keeps the heartbeats, the SUB socket and the CURVE handlers.
//
// Liveness: the connecting side sends heartbeats; a peer silent for `peer_timeout` is down;
// peer_silence() tells callers sooner how long a peer has said nothing. The DEALER sockets
// also use ZMTP heartbeats (ZMQ_HEARTBEAT_IVL/TIMEOUT/TTL, answered by libzmq's own I/O
// thread): a connection silent for `peer_timeout` is closed and dialled again by libzmq on
// both sides, and a dial that gets no answer gives up after `connect_timeout` (see below).
// Requests to a down peer fail at once (transport_errc::peer_unreachable), requests
// outstanding when it goes down fail with peer_lost; ZeroMQ reconnects by itself and the
// first answered heartbeat brings the peer back. Nothing ever blocks an actor.
//
// Security: with `curve` set, every socket speaks CurveZMQ. Sockets that bind (ROUTER, PUB)
// are CURVE servers with the stack's server key; sockets that connect (DEALER, SUB) are CURVE
// clients with this node's own keypair. A ZAP handler on the I/O thread lets in only clients
// whose public key is on the allow-list; refusals are counted and logged at most once per
// interval. The key scheme (one server key per stack, one client key per role) is explained in
// runtime/curve_keys.hpp. Without `curve` everything is plaintext (local development only).
//
// The I/O thread reads the steady clock: heartbeats are about real time, so this transport is
// for real processes; deterministic tests use local_transport.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/fwd.h>
#include <caf/fwd.hpp>

#include "runtime/transport.hpp"

namespace inferstack::wire {
class message_codec;
}

namespace inferstack::runtime {

/// CurveZMQ settings; every key is Z85 text (40 characters).
struct zmq_curve_settings {
  std::string public_key;  ///< this node as a client (DEALER, SUB)
  std::string secret_key;
  std::string server_public_key;  ///< the server identity of every binding socket of the stack
  std::string server_secret_key;  ///< needed only by a node that binds
  std::vector<std::string> allowed_clients;  ///< client public keys our binding sockets accept
  /// Asked for a fresh allow-list when an unknown key knocks (keys made after we started,
  /// revocations); may be empty.
  std::function<std::vector<std::string>()> reload_allowed;
};

struct zmq_transport_settings {
  std::string node_name = "node";
  std::string listen;        ///< ROUTER bind endpoint ("tcp://127.0.0.1:7100"); empty: accept none
  std::string events;        ///< PUB bind endpoint for publish(); empty: events stay local
  uint64_t incarnation = 0;  ///< distinguishes restarts of the same node; set by the caller
  std::chrono::milliseconds heartbeat_interval{100};
  std::chrono::milliseconds peer_timeout{1000};
  /// Dialling a peer (DEALER sockets; libzmq's ZMQ_CONNECT_TIMEOUT, ZMQ_RECONNECT_IVL[_MAX]):
  /// a connect that gets no answer -- its SYN lost to a partition, a host not up yet -- is
  /// abandoned after `connect_timeout` and dialled again after `reconnect_interval`, doubling up
  /// to `reconnect_interval_max`, instead of waiting out TCP's SYN backoff (retries 1 s, 3 s,
  /// 7 s ... after the first): a link that returns is used again within about
  /// connect_timeout + reconnect_interval_max. 250 ms is far above a handshake between hosts
  /// of a cluster (< 10 ms) and below TCP's first SYN retry (1 s).
  std::chrono::milliseconds connect_timeout{250};
  std::chrono::milliseconds reconnect_interval{50};
  std::chrono::milliseconds reconnect_interval_max{250};
  std::chrono::milliseconds request_lifetime{120000};  ///< forgotten after this, with an error
  int high_water_mark = 1000000;                       ///< frames queued per socket at most
  /// One-way messages of these kinds (the catalogue's wire kinds) may wait up to `lazy_delay`
  /// for company: sent by an actor on an io scheduler thread, one waits in its lane and leaves
  /// with the next frame on that lane (in order, as leading parts of that frame's ZeroMQ
  /// message; a ROUTER takes each part as a frame), or when the delay ends. A frame of its own
  /// costs a wake-up of libzmq's I/O thread on both ends, of the receiver's thread, and a TCP
  /// segment each way; riding along with the next request costs none of that. For notices
  /// whose timing matters little (a request's end told to its picker), never for requests,
  /// answers, cancels or stream credit.
  std::vector<uint16_t> lazy_kinds;
  std::chrono::microseconds lazy_delay{1000};
  std::optional<zmq_curve_settings> curve;           ///< none: plaintext
  std::shared_ptr<const wire::message_codec> codec;  ///< the messages' bytes (required)
  std::shared_ptr<spdlog::logger> log;               ///< refused peers are reported here
  std::chrono::milliseconds refusal_log_interval{10000};
};

struct zmq_transport_stats {
  uint64_t frames_sent = 0;
  uint64_t frames_received = 0;
  uint64_t frames_dropped = 0;  ///< undeliverable (unknown receiver, full queue, ...)
  uint64_t decode_errors = 0;   ///< garbage on the wire
  uint64_t event_gaps = 0;      ///< sequence gaps seen on subscribed topics
  uint64_t peers_refused = 0;   ///< CURVE clients whose key is not on the allow-list (ZAP)
  /// Failed handshakes on our binding sockets: plaintext peers, wrong keys, refusals.
  uint64_t handshakes_failed = 0;
  /// Frames the transport's I/O thread read for an actor on another thread (a thread hop
  /// each): the ROUTER's and DEALERs' input when the system does not run on the io scheduler;
  /// none on it.
  uint64_t frames_via_io_thread = 0;
  /// Local actors that sent out, kept so answers can find them by id; and proxies of remote
  /// senders. Both forget the dead: they stay near the number of live ones, not of requests.
  uint64_t local_senders_known = 0;
  uint64_t remote_sender_proxies = 0;
  /// Lazy frames (settings.lazy_kinds) held for company, and the times the delay ended with
  /// some still held (they left alone).
  uint64_t frames_held = 0;
  uint64_t flushes_alone = 0;
  /// Frames that arrived as leading parts of a peer's ZeroMQ message: lazy frames leave as one
  /// message with the frame after them (one flush to libzmq's I/O thread, one TCP segment).
  uint64_t frames_batched_in = 0;
};

class zmq_transport : public transport {
 public:
  zmq_transport(caf::actor_system& sys, zmq_transport_settings settings);
  ~zmq_transport() override;

  zmq_transport(const zmq_transport&) = delete;
  zmq_transport& operator=(const zmq_transport&) = delete;

  std::string node_id() const override;
  void expose(const std::string& name, caf::actor handle) override;
  void withdraw(const std::string& name) override;
  caf::expected<caf::actor> lookup(const std::string& address, const std::string& name) override;
  void publish(const std::string& topic, caf::message event) override;
  void subscribe(const std::string& address, const std::string& topic_prefix,
                 caf::actor subscriber) override;
  void unsubscribe(const caf::actor& subscriber) override;

  /// The endpoints actually bound (a "*" port resolved), empty when not listening.
  std::string listen_endpoint() const;
  std::string events_endpoint() const;

  /// True once `address` answered a heartbeat and has not gone silent since.
  bool peer_alive(const std::string& address) const;

  /// How long `address` has been silent: the time since we last heard it (a heartbeat's
  /// answer or any frame), or since we first dialled it if it never answered. A peer is
  /// declared down (its requests failed, its connection redialled) only after `peer_timeout`;
  /// a caller with somewhere else to go (another picker replica) can leave a peer silent for
  /// less -- a heartbeat is due every `heartbeat_interval` -- and come back as soon as it
  /// answers, with nothing torn down: one lost TCP segment (Linux retransmits after 200 ms at
  /// the earliest) then costs a detour, not failed requests. None: never dialled.
  std::optional<std::chrono::milliseconds> peer_silence(const std::string& address) const;

  zmq_transport_stats stats() const;

  /// Stops the I/O thread; outstanding requests fail with shutting_down. Idempotent.
  void stop();

  struct core;

 private:
  std::shared_ptr<core> core_;
};

}  // namespace inferstack::runtime
