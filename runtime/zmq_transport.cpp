#include "runtime/zmq_transport.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include <spdlog/logger.h>
#include <caf/actor_cast.hpp>
#include <caf/actor_config.hpp>
#include <caf/actor_proxy.hpp>
#include <caf/actor_system.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/exit_reason.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/make_actor.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>
#include <zmq.hpp>

#include "runtime/curve_keys.hpp"
#include "runtime/errors.hpp"
#include "runtime/wire/envelope.hpp"
#include "runtime/wire/message_codec.hpp"
#include "runtime/wire/wire_error.hpp"

namespace inferstack::runtime {

namespace {

using steady = std::chrono::steady_clock;

/// Where a frame leaves this node: through the DEALER connected to a peer's address, or
/// through our ROUTER to a client identified by its routing id.
struct route {
  enum class via : uint8_t { dealer, router };
  via kind = via::dealer;
  std::string target;
  bool operator<(const route& other) const {
    return std::tie(kind, target) < std::tie(other.kind, other.target);
  }
  bool operator==(const route& other) const = default;
};

enum class peer_state : int { connecting = 0, alive = 1, down = 2 };

struct outbound_frame {
  route where;
  std::string bytes;
  uint64_t correlation_id = 0;  ///< of a request: fail it if the frame cannot leave
};

struct outbound_event {
  std::string topic;
  std::string bytes;
};

struct subscribe_command {
  std::string address;
  std::string prefix;
};

struct open_peer_command {
  std::string address;
};

using command = std::variant<outbound_frame, outbound_event, subscribe_command, open_peer_command>;

struct pending_request {
  caf::strong_actor_ptr requester;
  caf::message_id mid;
  caf::strong_actor_ptr proxy;
  route where;
  steady::time_point deadline;
};

struct subscription {
  std::string prefix;
  caf::actor subscriber;
};

std::string encode_seq(uint64_t seq) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<size_t>(i)] = static_cast<char>(seq & 0xFF);
    seq >>= 8;
  }
  return out;
}

/// How long, at most, a stopped transport's context waits for queued frames to go out.
constexpr int stop_linger_ms = 1000;

uint64_t decode_seq(const zmq::message_t& m) {
  if (m.size() != 8) return 0;
  auto* p = static_cast<const unsigned char*>(m.data());
  uint64_t seq = 0;
  for (int i = 0; i < 8; ++i)
    seq = (seq << 8) | p[i];
  return seq;
}

}  // namespace

// ----------------------------------------------------------------------------------------------
// core: state shared by the transport, its proxies and the I/O thread.

struct zmq_transport::core : std::enable_shared_from_this<zmq_transport::core> {
  core(caf::actor_system& sys, zmq_transport_settings s)
      : system(sys), settings(std::move(s)), codec(settings.codec) {
    if (!codec) throw std::invalid_argument("zmq transport: no message codec given");
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%016llx",
                  static_cast<unsigned long long>(settings.incarnation));
    node_id = settings.node_name + "/" + buf;
    wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  }

  ~core() {
    if (wake_fd >= 0) ::close(wake_fd);
  }

  caf::actor_system& system;
  zmq_transport_settings settings;
  std::shared_ptr<const wire::message_codec> codec;
  std::string node_id;
  int wake_fd = -1;
  // Sockets that bind are made in the constructor (so bind errors reach the caller and "*"
  // ports are known at once) and then used only by the I/O thread; starting the thread is
  // the memory fence ZeroMQ asks for when a socket changes threads.
  zmq::context_t ctx{1};
  std::unique_ptr<zmq::socket_t> router;
  std::unique_ptr<zmq::socket_t> publisher;
  std::string bound_listen;
  std::string bound_events;
  // With CURVE: the ZAP handler (a REP socket libzmq asks about each client key) and one
  // monitor per binding socket (reports failed handshakes: plaintext peers, wrong keys).
  std::unique_ptr<curve_zap_handler> zap;
  std::vector<std::unique_ptr<zmq::socket_t>> monitors;

  void configure_socket(zmq::socket_t& s) const {
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::sndhwm, settings.high_water_mark);
    s.set(zmq::sockopt::rcvhwm, settings.high_water_mark);
  }
  /// A socket that connects (DEALER, SUB): a CURVE client of the stack's server key.
  void configure_client(zmq::socket_t& s) const {
    configure_socket(s);
    if (settings.curve) make_curve_client(s, *settings.curve);
  }
  /// A socket that binds (ROUTER, PUB): a CURVE server; the ZAP handler vets its clients.
  void configure_server(zmq::socket_t& s) const {
    configure_socket(s);
    if (settings.curve) make_curve_server(s, *settings.curve);
  }
  std::atomic<bool> running{true};
  std::thread io_thread;

  // commands from any thread to the I/O thread
  std::mutex command_mutex;
  std::deque<command> commands;

  // requests we sent and still wait for, by correlation id
  std::mutex pending_mutex;
  std::unordered_map<uint64_t, pending_request> pending;
  std::atomic<uint64_t> next_correlation{1};

  // local actors peers can address: by name (exposed) and by id (anyone who sent us out)
  std::mutex local_mutex;
  std::map<std::string, caf::actor> exposed;
  std::unordered_map<uint64_t, caf::weak_actor_ptr> local_by_id;

  // peers we connect to (dealer side): their liveness, readable from any thread
  mutable std::mutex peer_mutex;
  std::map<std::string, std::shared_ptr<std::atomic<int>>> peer_states;
  /// When each peer was last heard (steady clock, ns), for peer_silence().
  std::map<std::string, std::shared_ptr<std::atomic<int64_t>>> peer_heard;

  // proxies: for names at a peer address, and for remote senders (node, actor id)
  std::mutex proxy_mutex;
  std::map<std::pair<std::string, std::string>, caf::actor> name_proxies;
  std::map<std::pair<std::string, uint64_t>, caf::strong_actor_ptr> sender_proxies;
  std::map<std::string, route> node_routes;  ///< how to reach a remote node we heard from

  // subscriptions
  std::mutex subscription_mutex;
  std::vector<subscription> local_subscriptions;
  std::vector<subscription> remote_subscriptions;

  // statistics
  std::atomic<uint64_t> frames_sent{0}, frames_received{0}, frames_dropped{0}, decode_errors{0},
      event_gaps{0}, peers_refused{0}, handshakes_failed{0};

  void submit(command c) {
    {
      std::lock_guard guard{command_mutex};
      commands.push_back(std::move(c));
    }
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof(one));
  }

  std::shared_ptr<std::atomic<int>> peer_state_of(const std::string& address) {
    std::lock_guard guard{peer_mutex};
    auto& slot = peer_states[address];
    if (!slot) {
      slot = std::make_shared<std::atomic<int>>(static_cast<int>(peer_state::connecting));
      peer_heard.emplace(address, std::make_shared<std::atomic<int64_t>>(
                                      steady::now().time_since_epoch().count()));
      submit(open_peer_command{address});
    }
    return slot;
  }

  std::shared_ptr<std::atomic<int64_t>> peer_heard_of(const std::string& address) {
    std::lock_guard guard{peer_mutex};
    auto& slot = peer_heard[address];
    if (!slot)
      slot = std::make_shared<std::atomic<int64_t>>(steady::now().time_since_epoch().count());
    return slot;
  }

  void remember_local(const caf::strong_actor_ptr& actor) {
    if (!actor) return;
    std::lock_guard guard{local_mutex};
    local_by_id.emplace(actor->id(), caf::actor_cast<caf::weak_actor_ptr>(actor));
  }

  caf::strong_actor_ptr find_local(const wire::actor_address& addr) {
    std::lock_guard guard{local_mutex};
    if (!addr.name.empty()) {
      auto i = exposed.find(addr.name);
      return i == exposed.end() ? nullptr : caf::actor_cast<caf::strong_actor_ptr>(i->second);
    }
    auto i = local_by_id.find(addr.actor);
    if (i == local_by_id.end()) return nullptr;
    auto strong = i->second.lock();
    if (!strong) local_by_id.erase(i);
    return strong;
  }

  /// Answers a local requester directly (used for errors detected before a frame leaves).
  static void reply(const caf::strong_actor_ptr& requester, caf::message_id mid,
                    const caf::strong_actor_ptr& from, caf::message msg) {
    if (requester && mid.is_request())
      requester->enqueue(caf::make_mailbox_element(from, mid.response_id(), {}, std::move(msg)),
                         nullptr);
  }

  void fail_pending(uint64_t correlation_id, const caf::error& err) {
    pending_request p;
    {
      std::lock_guard guard{pending_mutex};
      auto i = pending.find(correlation_id);
      if (i == pending.end()) return;
      p = std::move(i->second);
      pending.erase(i);
    }
    reply(p.requester, p.mid, p.proxy, caf::make_message(err));
  }

  void fail_pending_where(const route& where, const caf::error& err) {
    std::vector<pending_request> failed;
    {
      std::lock_guard guard{pending_mutex};
      for (auto i = pending.begin(); i != pending.end();) {
        if (i->second.where == where) {
          failed.push_back(std::move(i->second));
          i = pending.erase(i);
        } else {
          ++i;
        }
      }
    }
    for (auto& p : failed)
      reply(p.requester, p.mid, p.proxy, caf::make_message(err));
  }

  void fail_expired(steady::time_point now) {
    std::vector<pending_request> failed;
    {
      std::lock_guard guard{pending_mutex};
      for (auto i = pending.begin(); i != pending.end();) {
        if (i->second.deadline <= now) {
          failed.push_back(std::move(i->second));
          i = pending.erase(i);
        } else {
          ++i;
        }
      }
    }
    for (auto& p : failed)
      reply(p.requester, p.mid, p.proxy,
            caf::make_message(caf::make_error(transport_errc::request_expired)));
  }

  /// Called by proxies on the sending actor's thread: encodes and queues one message.
  void forward(const caf::strong_actor_ptr& proxy, const caf::strong_actor_ptr& sender,
               caf::message_id mid, const caf::message& msg, const route& where,
               const wire::actor_address& target, const std::shared_ptr<std::atomic<int>>& peer);

  caf::strong_actor_ptr sender_proxy(const wire::actor_address& remote, const route& where);
  caf::actor name_proxy(const std::string& address, const std::string& name);
  void drop_sender_proxies(const route& where, const caf::error& reason);

  void run();  // the I/O thread
};

// ----------------------------------------------------------------------------------------------
// The proxy actor: stands for one remote actor; forwards everything it is sent.

namespace {

class wire_proxy final : public caf::actor_proxy {
 public:
  wire_proxy(caf::actor_config& cfg, std::shared_ptr<zmq_transport::core> owner, route where,
             wire::actor_address target, std::shared_ptr<std::atomic<int>> peer)
      : caf::actor_proxy(cfg),
        owner_(std::move(owner)),
        where_(std::move(where)),
        target_(std::move(target)),
        peer_(std::move(peer)) {}

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit*) override {
    if (!what) return;
    auto& content = what->content();
    // Links and monitors are not carried across processes: system messages stop here.
    if (content.match_elements<caf::exit_msg>() || content.match_elements<caf::down_msg>()) return;
    auto msg = what->move_content_to_message();
    owner_->forward(caf::strong_actor_ptr{ctrl()}, what->sender, what->mid, msg, where_, target_,
                    peer_);
  }

  void kill_proxy(caf::execution_unit* ctx, caf::error reason) override {
    cleanup(std::move(reason), ctx);
  }

  const char* name() const override { return "wire_proxy"; }

 private:
  std::shared_ptr<zmq_transport::core> owner_;
  route where_;
  wire::actor_address target_;
  std::shared_ptr<std::atomic<int>> peer_;  ///< liveness of a dealer peer; null for senders
};

}  // namespace

void zmq_transport::core::forward(const caf::strong_actor_ptr& proxy,
                                  const caf::strong_actor_ptr& sender, caf::message_id mid,
                                  const caf::message& msg, const route& where,
                                  const wire::actor_address& target,
                                  const std::shared_ptr<std::atomic<int>>& peer) {
  wire::envelope env;
  env.sender = wire::actor_address{node_id, sender ? sender->id() : 0, {}};
  env.receiver = target;
  if (mid.is_response()) {
    // A local actor answers a request that reached it over the wire through this proxy; the
    // request id we gave it is the peer's correlation id.
    env.correlation_id = mid.request_id().integer_value();
    if (msg.match_elements<caf::error>()) {
      env.type = wire::frame_type::error;
      env.kind = wire::wire_error_kind;
      env.payload =
          wire::encode_wire_error(wire::to_wire_error(msg.get_as<caf::error>(0), &system));
    } else if (auto encoded = codec->encode(msg)) {
      env.type = wire::frame_type::response;
      env.kind = encoded->kind;
      env.payload = std::move(encoded->bytes);
    } else {
      env.type = wire::frame_type::error;
      env.kind = wire::wire_error_kind;
      env.payload = wire::encode_wire_error(wire::to_wire_error(
          caf::make_error(transport_errc::not_serializable, caf::deep_to_string(msg)), &system));
    }
    submit(outbound_frame{where, wire::encode(env), 0});
    return;
  }
  auto encoded = codec->encode(msg);
  if (!encoded) {
    frames_dropped++;
    reply(sender, mid, proxy,
          caf::make_message(
              caf::make_error(transport_errc::not_serializable,
                              "not in the wire catalogue: " + caf::deep_to_string(msg))));
    return;
  }
  if (!running) {
    reply(sender, mid, proxy, caf::make_message(caf::make_error(transport_errc::shutting_down)));
    return;
  }
  if (peer && peer->load() == static_cast<int>(peer_state::down)) {
    frames_dropped++;
    reply(sender, mid, proxy,
          caf::make_message(caf::make_error(transport_errc::peer_unreachable,
                                            "peer " + where.target + " does not answer")));
    return;
  }
  remember_local(sender);
  env.kind = encoded->kind;
  env.payload = std::move(encoded->bytes);
  if (mid.is_request()) {
    env.type = wire::frame_type::request;
    env.correlation_id = next_correlation++;
    std::lock_guard guard{pending_mutex};
    pending.emplace(env.correlation_id, pending_request{sender, mid, proxy, where,
                                                        steady::now() + settings.request_lifetime});
  } else {
    env.type = wire::frame_type::send;
  }
  submit(outbound_frame{where, wire::encode(env), env.correlation_id});
}

caf::strong_actor_ptr zmq_transport::core::sender_proxy(const wire::actor_address& remote,
                                                        const route& where) {
  std::lock_guard guard{proxy_mutex};
  node_routes[remote.node] = where;
  auto key = std::make_pair(remote.node, remote.actor);
  auto i = sender_proxies.find(key);
  if (i != sender_proxies.end()) return i->second;
  caf::actor_config cfg;
  auto handle = caf::make_actor<wire_proxy, caf::actor>(
      system.next_actor_id(), system.node(), &system, cfg, shared_from_this(), where,
      wire::actor_address{remote.node, remote.actor, {}}, nullptr);
  auto ptr = caf::actor_cast<caf::strong_actor_ptr>(handle);
  sender_proxies.emplace(key, ptr);
  return ptr;
}

caf::actor zmq_transport::core::name_proxy(const std::string& address, const std::string& name) {
  auto peer = peer_state_of(address);
  std::lock_guard guard{proxy_mutex};
  auto key = std::make_pair(address, name);
  auto i = name_proxies.find(key);
  if (i != name_proxies.end()) return i->second;
  caf::actor_config cfg;
  auto handle = caf::make_actor<wire_proxy, caf::actor>(
      system.next_actor_id(), system.node(), &system, cfg, shared_from_this(),
      route{route::via::dealer, address}, wire::actor_address{{}, 0, name}, std::move(peer));
  name_proxies.emplace(key, handle);
  return handle;
}

void zmq_transport::core::drop_sender_proxies(const route& where, const caf::error& reason) {
  std::vector<caf::strong_actor_ptr> dropped;
  {
    std::lock_guard guard{proxy_mutex};
    for (auto i = sender_proxies.begin(); i != sender_proxies.end();) {
      auto r = node_routes.find(i->first.first);
      if (r != node_routes.end() && r->second == where) {
        dropped.push_back(std::move(i->second));
        i = sender_proxies.erase(i);
      } else {
        ++i;
      }
    }
  }
  for (auto& p : dropped)
    if (auto* proxy = dynamic_cast<caf::actor_proxy*>(caf::actor_cast<caf::abstract_actor*>(p)))
      proxy->kill_proxy(nullptr, reason);
}

// ----------------------------------------------------------------------------------------------
// The I/O thread: owns every ZeroMQ socket.

void zmq_transport::core::run() {
  std::unique_ptr<zmq::socket_t> subscriber;
  std::vector<std::string> subscribed_addresses;
  std::map<std::string, uint64_t> last_event_seq;
  std::map<std::string, uint64_t> published_seq;

  struct peer {
    std::string address;
    std::unique_ptr<zmq::socket_t> socket;
    std::shared_ptr<std::atomic<int>> state;
    steady::time_point since;
    steady::time_point last_ack;
    steady::time_point next_heartbeat;
    std::shared_ptr<std::atomic<int64_t>> heard;  ///< last_ack, for other threads
    void heard_now(steady::time_point now) {
      last_ack = now;
      heard->store(now.time_since_epoch().count());
    }
  };
  std::map<std::string, peer> peers;
  std::map<std::string, steady::time_point> clients_seen;  // router side: identity -> last frame

  auto ms = [](std::chrono::milliseconds d) { return static_cast<int>(d.count()); };
  auto open_dealer = [&](peer& p) {
    p.socket = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
    configure_client(*p.socket);
    p.socket->set(zmq::sockopt::routing_id, node_id);
    // Give up a dial nobody answers and dial again soon (settings: why these values).
    p.socket->set(zmq::sockopt::connect_timeout, ms(settings.connect_timeout));
    p.socket->set(zmq::sockopt::reconnect_ivl, ms(settings.reconnect_interval));
    p.socket->set(zmq::sockopt::reconnect_ivl_max, ms(settings.reconnect_interval_max));
    // ZMTP heartbeats beside ours: libzmq closes and redials a connection silent for
    // peer_timeout by itself, and the TTL has the peer's ROUTER drop our connection (and what
    // it queued for us) once we are silent that long, rather than when TCP gives up.
    p.socket->set(zmq::sockopt::heartbeat_ivl, ms(settings.heartbeat_interval));
    p.socket->set(zmq::sockopt::heartbeat_timeout, ms(settings.peer_timeout));
    p.socket->set(zmq::sockopt::heartbeat_ttl, std::max(100, ms(settings.peer_timeout)));
    p.socket->connect(p.address);
  };

  auto heartbeat_bytes = [&](wire::frame_type type) {
    wire::envelope env;
    env.type = type;
    env.sender = wire::actor_address{node_id, 0, {}};
    return wire::encode(env);
  };
  const std::string heartbeat = heartbeat_bytes(wire::frame_type::heartbeat);
  const std::string heartbeat_ack = heartbeat_bytes(wire::frame_type::heartbeat_ack);

  // Sends one frame along a route; false if it could not leave (no peer, queue full, ...).
  auto send_on = [&](const route& where, const std::string& bytes) -> bool {
    try {
      if (where.kind == route::via::dealer) {
        auto i = peers.find(where.target);
        if (i == peers.end() || !i->second.socket) return false;
        auto ok = i->second.socket->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
        return ok.has_value();
      }
      if (!router) return false;
      auto ok = router->send(zmq::buffer(where.target),
                             zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      if (!ok) return false;
      return router->send(zmq::buffer(bytes), zmq::send_flags::dontwait).has_value();
    } catch (const zmq::error_t&) {
      return false;  // EHOSTUNREACH: the client is gone
    }
  };

  auto deliver_event = [&](const std::string& topic, const caf::message& msg) {
    std::vector<caf::actor> targets;
    {
      std::lock_guard guard{subscription_mutex};
      for (auto& s : remote_subscriptions)
        if (topic.compare(0, s.prefix.size(), s.prefix) == 0) targets.push_back(s.subscriber);
    }
    for (auto& t : targets)
      caf::anon_send(t, msg);
  };

  auto handle_frame = [&](const route& from, std::string_view bytes) {
    frames_received++;
    auto decoded = wire::decode(bytes);
    if (!decoded) {
      decode_errors++;
      return;
    }
    auto& env = *decoded.value;
    switch (env.type) {
      case wire::frame_type::heartbeat:
        send_on(from, heartbeat_ack);
        return;
      case wire::frame_type::heartbeat_ack: {
        auto i = peers.find(from.target);
        if (i != peers.end()) {
          i->second.heard_now(steady::now());
          if (i->second.state->exchange(static_cast<int>(peer_state::alive)) !=
              static_cast<int>(peer_state::alive))
            i->second.since = i->second.last_ack;
        }
        return;
      }
      case wire::frame_type::send:
      case wire::frame_type::request: {
        bool is_request = env.type == wire::frame_type::request;
        auto answer_error = [&](const caf::error& err) {
          if (!is_request) {
            frames_dropped++;
            return;
          }
          wire::envelope out;
          out.type = wire::frame_type::error;
          out.sender = wire::actor_address{node_id, 0, {}};
          out.receiver = env.sender;
          out.correlation_id = env.correlation_id;
          out.kind = wire::wire_error_kind;
          out.payload = wire::encode_wire_error(wire::to_wire_error(err, &system));
          send_on(from, wire::encode(out));
        };
        auto receiver = find_local(env.receiver);
        if (!receiver) {
          answer_error(caf::make_error(
              transport_errc::unknown_actor,
              "no actor " +
                  (env.receiver.name.empty() ? "#" + std::to_string(env.receiver.actor)
                                             : env.receiver.name) +
                  " on " + node_id));
          return;
        }
        std::string why;
        auto msg = codec->decode(env.kind, env.payload, &why);
        if (!msg) {
          decode_errors++;
          answer_error(caf::make_error(transport_errc::decode_failed, why));
          return;
        }
        auto sender = sender_proxy(env.sender, from);
        auto mid = is_request ? caf::make_message_id(env.correlation_id) : caf::make_message_id();
        receiver->enqueue(caf::make_mailbox_element(sender, mid, {}, std::move(*msg)), nullptr);
        return;
      }
      case wire::frame_type::response:
      case wire::frame_type::error: {
        pending_request p;
        {
          std::lock_guard guard{pending_mutex};
          auto i = pending.find(env.correlation_id);
          if (i == pending.end()) return;  // late: the requester gave up already
          p = std::move(i->second);
          pending.erase(i);
        }
        std::string why;
        caf::message result;
        bool garbage = false;
        if (env.type == wire::frame_type::error && env.kind == wire::wire_error_kind) {
          auto err = wire::decode_wire_error(env.payload, &why);
          garbage = !err;
          if (err) result = caf::make_message(wire::from_wire_error(*err));
        } else if (auto msg = codec->decode(env.kind, env.payload, &why)) {
          result = env.type == wire::frame_type::error
                       ? caf::make_message(caf::make_error(transport_errc::decode_failed,
                                                           "error frame without wire_error"))
                       : std::move(*msg);
        } else {
          garbage = true;
        }
        if (garbage) {
          decode_errors++;
          result = caf::make_message(caf::make_error(transport_errc::decode_failed, why));
        }
        reply(p.requester, p.mid, p.proxy, std::move(result));
        return;
      }
      case wire::frame_type::event:
        return;  // events arrive on the SUB socket, not here
    }
  };

  auto mark_down = [&](peer& p, steady::time_point now) {
    bool was_alive = p.state->exchange(static_cast<int>(peer_state::down)) ==
                     static_cast<int>(peer_state::alive);
    p.since = now;
    route where{route::via::dealer, p.address};
    fail_pending_where(where, caf::make_error(was_alive ? transport_errc::peer_lost
                                                        : transport_errc::peer_unreachable,
                                              "peer " + p.address + " stopped answering"));
    drop_sender_proxies(where, caf::make_error(transport_errc::peer_lost));
    // A fresh socket drops whatever was queued for the dead peer; ZeroMQ keeps reconnecting.
    open_dealer(p);
  };

  // Refused peers: counted always, logged at most once per interval with the count since.
  uint64_t refusals_unlogged = 0;
  auto next_refusal_log = steady::now();
  auto note_refusal = [&](const std::string& what) {
    ++refusals_unlogged;
    auto now = steady::now();
    if (!settings.log || now < next_refusal_log) return;
    settings.log->warn("transport {}: refused {} peer(s) since the last report; latest: {}",
                       node_id, refusals_unlogged, what);
    refusals_unlogged = 0;
    next_refusal_log = now + settings.refusal_log_interval;
  };

  auto answer_zap = [&] {
    for (auto& why : zap->answer()) {
      peers_refused++;
      note_refusal(why);
    }
  };
  // Monitor events: [uint16 event, uint32 value] then the endpoint.
  auto read_monitor = [&](zmq::socket_t& monitor) {
    for (int budget = 0; budget < 256; ++budget) {
      zmq::message_t head, endpoint;
      if (!monitor.recv(head, zmq::recv_flags::dontwait)) break;
      if (head.more()) (void)monitor.recv(endpoint, zmq::recv_flags::dontwait);
      if (head.size() < 6) continue;
      uint16_t event;
      uint32_t value;
      std::memcpy(&event, head.data(), 2);
      std::memcpy(&value, static_cast<const char*>(head.data()) + 2, 4);
      handshakes_failed++;
      if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) continue;  // the ZAP handler noted it
      char code[16];
      std::snprintf(code, sizeof(code), "0x%08x", value);
      note_refusal("failed handshake on " + endpoint.to_string() +
                   (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
                            value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                        ? std::string{" (a peer without CURVE)"}
                        : " (protocol error " + std::string{code} + ")"));
    }
  };

  std::vector<zmq::pollitem_t> items;
  std::vector<std::string> item_peer;  // peer address per dealer poll item
  auto next_housekeeping = steady::now();

  for (;;) {  // ends below, once a stopping round has sent what was queued
    items.clear();
    item_peer.clear();
    items.push_back({nullptr, wake_fd, ZMQ_POLLIN, 0});
    if (router) items.push_back({router->handle(), 0, ZMQ_POLLIN, 0});
    // The subscriber may be created while commands are handled below: remember whether it
    // was polled this round.
    size_t subscriber_item = 0;
    if (subscriber) {
      subscriber_item = items.size();
      items.push_back({subscriber->handle(), 0, ZMQ_POLLIN, 0});
    }
    size_t zap_item = items.size();
    if (zap) items.push_back({zap->socket().handle(), 0, ZMQ_POLLIN, 0});
    size_t first_monitor_item = items.size();
    for (auto& m : monitors)
      items.push_back({m->handle(), 0, ZMQ_POLLIN, 0});
    size_t first_peer_item = items.size();
    for (auto& [address, p] : peers) {
      items.push_back({p.socket->handle(), 0, ZMQ_POLLIN, 0});
      item_peer.push_back(address);
    }
    auto timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_housekeeping - steady::now());
    if (timeout.count() < 0) timeout = std::chrono::milliseconds{0};
    try {
      zmq::poll(items.data(), items.size(), timeout);
    } catch (const zmq::error_t&) {
      continue;  // EINTR
    }
    // Stopping: the commands queued before stop() still go out (below), then the loop ends.
    bool stopping = !running;

    // commands from actors
    if (items[0].revents & ZMQ_POLLIN) {
      uint64_t counter;
      [[maybe_unused]] auto n = ::read(wake_fd, &counter, sizeof(counter));
    }
    std::deque<command> batch;
    {
      std::lock_guard guard{command_mutex};
      batch.swap(commands);
    }
    for (auto& c : batch) {
      if (auto* frame = std::get_if<outbound_frame>(&c)) {
        if (frame->where.kind == route::via::dealer && !peers.count(frame->where.target)) {
          peer p{frame->where.target,
                 nullptr,
                 peer_state_of(frame->where.target),
                 steady::now(),
                 {},
                 steady::now(),
                 peer_heard_of(frame->where.target)};
          open_dealer(p);
          peers.emplace(frame->where.target, std::move(p));
        }
        if (send_on(frame->where, frame->bytes)) {
          frames_sent++;
        } else {
          frames_dropped++;
          if (frame->correlation_id != 0)
            fail_pending(frame->correlation_id,
                         caf::make_error(transport_errc::peer_unreachable,
                                         "cannot send to " + frame->where.target));
        }
      } else if (auto* event = std::get_if<outbound_event>(&c)) {
        if (publisher) {
          auto seq = ++published_seq[event->topic];
          publisher->send(zmq::buffer(event->topic), zmq::send_flags::sndmore);
          publisher->send(zmq::buffer(encode_seq(seq)), zmq::send_flags::sndmore);
          publisher->send(zmq::buffer(event->bytes), zmq::send_flags::dontwait);
        }
      } else if (auto* sub = std::get_if<subscribe_command>(&c)) {
        if (!subscriber) {
          subscriber = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::sub);
          configure_client(*subscriber);
          subscriber->set(zmq::sockopt::reconnect_ivl, 50);
        }
        if (std::find(subscribed_addresses.begin(), subscribed_addresses.end(), sub->address) ==
            subscribed_addresses.end()) {
          subscriber->connect(sub->address);
          subscribed_addresses.push_back(sub->address);
        }
        subscriber->set(zmq::sockopt::subscribe, sub->prefix);
      } else if (auto* open = std::get_if<open_peer_command>(&c)) {
        if (!peers.count(open->address)) {
          peer p{open->address,
                 nullptr,
                 peer_state_of(open->address),
                 steady::now(),
                 {},
                 steady::now(),
                 peer_heard_of(open->address)};
          open_dealer(p);
          peers.emplace(open->address, std::move(p));
        }
      }
    }
    if (stopping) break;

    // inbound on the router: [identity, envelope]
    if (router && (items[1].revents & ZMQ_POLLIN)) {
      for (int budget = 0; budget < 1024; ++budget) {
        zmq::message_t identity;
        if (!router->recv(identity, zmq::recv_flags::dontwait)) break;
        zmq::message_t body;
        if (!identity.more() || !router->recv(body, zmq::recv_flags::dontwait)) continue;
        while (body.more()) {  // tolerate extra parts from a confused client: skip them
          zmq::message_t extra;
          if (!router->recv(extra, zmq::recv_flags::dontwait)) break;
          body.swap(extra);
        }
        route from{route::via::router, identity.to_string()};
        clients_seen[from.target] = steady::now();
        handle_frame(from, body.to_string_view());
      }
    }
    // events on the subscriber: [topic, seq, envelope]
    if (subscriber_item != 0) {
      if (items[subscriber_item].revents & ZMQ_POLLIN) {
        for (int budget = 0; budget < 1024; ++budget) {
          zmq::message_t topic, seq, body;
          if (!subscriber->recv(topic, zmq::recv_flags::dontwait)) break;
          if (!topic.more() || !subscriber->recv(seq, zmq::recv_flags::dontwait) || !seq.more() ||
              !subscriber->recv(body, zmq::recv_flags::dontwait)) {
            decode_errors++;
            continue;
          }
          auto topic_text = topic.to_string();
          auto number = decode_seq(seq);
          auto& last = last_event_seq[topic_text];
          if (last != 0 && number != last + 1) event_gaps++;
          last = number;
          auto decoded = wire::decode(body.to_string_view());
          if (!decoded || decoded.value->type != wire::frame_type::event) {
            decode_errors++;
            continue;
          }
          auto msg = codec->decode(decoded.value->kind, decoded.value->payload);
          if (!msg) {
            decode_errors++;
            continue;
          }
          frames_received++;
          deliver_event(topic_text, *msg);
        }
      }
    }
    // security: client keys to vet, failed handshakes to count
    if (zap && (items[zap_item].revents & ZMQ_POLLIN)) answer_zap();
    for (size_t k = 0; k < monitors.size(); ++k)
      if (items[first_monitor_item + k].revents & ZMQ_POLLIN) read_monitor(*monitors[k]);
    // inbound on dealers
    for (size_t k = 0; k < item_peer.size(); ++k) {
      if (!(items[first_peer_item + k].revents & ZMQ_POLLIN)) continue;
      auto i = peers.find(item_peer[k]);
      if (i == peers.end()) continue;
      route from{route::via::dealer, i->first};
      for (int budget = 0; budget < 1024; ++budget) {
        zmq::message_t body;
        if (!i->second.socket->recv(body, zmq::recv_flags::dontwait)) break;
        // Any frame proves the peer is alive, not only heartbeat acks.
        i->second.heard_now(steady::now());
        handle_frame(from, body.to_string_view());
      }
    }

    // housekeeping: heartbeats, liveness, expired requests
    auto now = steady::now();
    if (now >= next_housekeeping) {
      for (auto& [address, p] : peers) {
        if (now >= p.next_heartbeat) {
          try {
            (void)p.socket->send(zmq::buffer(heartbeat), zmq::send_flags::dontwait);
          } catch (const zmq::error_t&) {
          }
          p.next_heartbeat = now + settings.heartbeat_interval;
        }
        auto state = static_cast<peer_state>(p.state->load());
        bool silent = state == peer_state::alive ? now - p.last_ack > settings.peer_timeout
                                                 : state == peer_state::connecting &&
                                                       now - p.since > settings.peer_timeout;
        if (silent) mark_down(p, now);
      }
      for (auto i = clients_seen.begin(); i != clients_seen.end();) {
        if (now - i->second > 3 * settings.peer_timeout) {
          route gone{route::via::router, i->first};
          fail_pending_where(gone, caf::make_error(transport_errc::peer_lost));
          drop_sender_proxies(gone, caf::make_error(transport_errc::peer_lost));
          i = clients_seen.erase(i);
        } else {
          ++i;
        }
      }
      fail_expired(now);
      next_housekeeping =
          now + std::max(std::chrono::milliseconds{5}, settings.heartbeat_interval / 2);
    }
  }
  // sockets close here, inside the thread that owns them. The answers and events queued last
  // (a drained pod's final stream messages, its last load report) get a bounded moment to
  // reach their peers: ZeroMQ drops what is still queued at close when linger is 0.
  for (auto* s : {router.get(), publisher.get()})
    if (s) s->set(zmq::sockopt::linger, stop_linger_ms);
  router.reset();
  publisher.reset();
  subscriber.reset();
  peers.clear();
  monitors.clear();
  zap.reset();
}

// ----------------------------------------------------------------------------------------------

zmq_transport::zmq_transport(caf::actor_system& sys, zmq_transport_settings settings)
    : core_(std::make_shared<core>(sys, std::move(settings))) {
  auto& c = *core_;
  if (c.settings.curve) {
    auto& k = *c.settings.curve;
    auto binds = !c.settings.listen.empty() || !c.settings.events.empty();
    auto valid = [](const std::string& z85) {
      uint8_t binary[32];
      return z85.size() == 40 && zmq_z85_decode(binary, z85.c_str()) != nullptr;
    };
    if (!valid(k.public_key) || !valid(k.secret_key) || !valid(k.server_public_key) ||
        (binds && !valid(k.server_secret_key)))
      throw std::runtime_error("CURVE keys missing or not Z85");
    if (!zmq_has("curve")) throw std::runtime_error("libzmq was built without CURVE");
    // Bound before any binding socket exists, so no handshake ever goes unvetted.
    c.zap = std::make_unique<curve_zap_handler>(c.ctx, k);
  }
  auto watch = [&](zmq::socket_t& socket, const std::string& name) {
    if (!c.settings.curve) return;
    auto endpoint = "inproc://monitor." + name;
    if (zmq_socket_monitor(socket.handle(), endpoint.c_str(),
                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
      throw std::runtime_error("cannot monitor the " + name + " socket");
    auto monitor = std::make_unique<zmq::socket_t>(c.ctx, zmq::socket_type::pair);
    monitor->set(zmq::sockopt::linger, 0);
    monitor->connect(endpoint);
    c.monitors.push_back(std::move(monitor));
  };
  auto bind = [&](zmq::socket_type type, const std::string& endpoint, std::string& bound) {
    auto socket = std::make_unique<zmq::socket_t>(c.ctx, type);
    c.configure_server(*socket);
    if (type == zmq::socket_type::router) {
      socket->set(zmq::sockopt::router_mandatory, 1);
      socket->set(zmq::sockopt::router_handover, 1);
    }
    try {
      socket->bind(endpoint);
    } catch (const zmq::error_t& e) {
      throw std::runtime_error("cannot bind " + endpoint + ": " + e.what());
    }
    bound = socket->get(zmq::sockopt::last_endpoint);
    return socket;
  };
  if (!c.settings.listen.empty()) {
    c.router = bind(zmq::socket_type::router, c.settings.listen, c.bound_listen);
    watch(*c.router, "router");
  }
  if (!c.settings.events.empty()) {
    c.publisher = bind(zmq::socket_type::pub, c.settings.events, c.bound_events);
    watch(*c.publisher, "publisher");
  }
  c.io_thread = std::thread([owner = core_] { owner->run(); });
}

std::string zmq_transport::listen_endpoint() const {
  return core_->bound_listen;
}
std::string zmq_transport::events_endpoint() const {
  return core_->bound_events;
}

zmq_transport::~zmq_transport() {
  stop();
}

void zmq_transport::stop() {
  if (!core_->running.exchange(false)) return;
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(core_->wake_fd, &one, sizeof(one));
  if (core_->io_thread.joinable()) core_->io_thread.join();
  // The I/O thread has closed its sockets: wait (up to their linger) until what they still
  // held has gone out, before the process may exit.
  core_->ctx.close();
  std::vector<uint64_t> outstanding;
  {
    std::lock_guard guard{core_->pending_mutex};
    for (auto& [id, p] : core_->pending)
      outstanding.push_back(id);
  }
  for (auto id : outstanding)
    core_->fail_pending(id, caf::make_error(transport_errc::shutting_down));
  std::vector<caf::strong_actor_ptr> proxies;
  {
    std::lock_guard guard{core_->proxy_mutex};
    for (auto& [key, p] : core_->sender_proxies)
      proxies.push_back(p);
    for (auto& [key, p] : core_->name_proxies)
      proxies.push_back(caf::actor_cast<caf::strong_actor_ptr>(p));
    core_->sender_proxies.clear();
    core_->name_proxies.clear();
  }
  for (auto& p : proxies)
    if (auto* proxy = dynamic_cast<caf::actor_proxy*>(caf::actor_cast<caf::abstract_actor*>(p)))
      proxy->kill_proxy(nullptr, caf::exit_reason::remote_link_unreachable);
  {
    std::lock_guard guard{core_->subscription_mutex};
    core_->local_subscriptions.clear();
    core_->remote_subscriptions.clear();
  }
  std::lock_guard guard{core_->local_mutex};
  core_->exposed.clear();
}

std::string zmq_transport::node_id() const {
  return core_->node_id;
}

void zmq_transport::expose(const std::string& name, caf::actor handle) {
  std::lock_guard guard{core_->local_mutex};
  core_->exposed[name] = std::move(handle);
}

void zmq_transport::withdraw(const std::string& name) {
  std::lock_guard guard{core_->local_mutex};
  core_->exposed.erase(name);
}

caf::expected<caf::actor> zmq_transport::lookup(const std::string& address,
                                                const std::string& name) {
  if (address.empty() || address == core_->settings.listen || address == core_->bound_listen) {
    std::lock_guard guard{core_->local_mutex};
    auto i = core_->exposed.find(name);
    if (i == core_->exposed.end())
      return caf::make_error(transport_errc::unknown_actor, "no actor named " + name);
    return i->second;
  }
  if (!core_->running) return caf::make_error(transport_errc::shutting_down);
  return core_->name_proxy(address, name);
}

void zmq_transport::publish(const std::string& topic, caf::message event) {
  std::vector<caf::actor> local;
  {
    std::lock_guard guard{core_->subscription_mutex};
    for (auto& s : core_->local_subscriptions)
      if (topic.compare(0, s.prefix.size(), s.prefix) == 0) local.push_back(s.subscriber);
  }
  for (auto& t : local)
    caf::anon_send(t, event);
  if (!core_->publisher) return;
  auto encoded = core_->codec->encode(event);
  if (!encoded) {
    core_->frames_dropped++;
    return;
  }
  wire::envelope env;
  env.type = wire::frame_type::event;
  env.sender = wire::actor_address{core_->node_id, 0, {}};
  env.receiver = wire::actor_address{{}, 0, topic};
  env.kind = encoded->kind;
  env.payload = std::move(encoded->bytes);
  core_->submit(outbound_event{topic, wire::encode(env)});
}

void zmq_transport::subscribe(const std::string& address, const std::string& topic_prefix,
                              caf::actor subscriber) {
  bool local =
      address.empty() || address == core_->settings.events || address == core_->bound_events;
  {
    std::lock_guard guard{core_->subscription_mutex};
    (local ? core_->local_subscriptions : core_->remote_subscriptions)
        .push_back({topic_prefix, std::move(subscriber)});
  }
  if (!local) core_->submit(subscribe_command{address, topic_prefix});
}

void zmq_transport::unsubscribe(const caf::actor& subscriber) {
  std::lock_guard guard{core_->subscription_mutex};
  auto match = [&](const subscription& s) { return s.subscriber == subscriber; };
  std::erase_if(core_->local_subscriptions, match);
  std::erase_if(core_->remote_subscriptions, match);
}

bool zmq_transport::peer_alive(const std::string& address) const {
  std::lock_guard guard{core_->peer_mutex};
  auto i = core_->peer_states.find(address);
  return i != core_->peer_states.end() && i->second->load() == static_cast<int>(peer_state::alive);
}

std::optional<std::chrono::milliseconds> zmq_transport::peer_silence(
    const std::string& address) const {
  std::lock_guard guard{core_->peer_mutex};
  auto i = core_->peer_heard.find(address);
  if (i == core_->peer_heard.end()) return std::nullopt;
  auto heard = steady::time_point{steady::duration{i->second->load()}};
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - heard);
}

zmq_transport_stats zmq_transport::stats() const {
  return {core_->frames_sent.load(),      core_->frames_received.load(),
          core_->frames_dropped.load(),   core_->decode_errors.load(),
          core_->event_gaps.load(),       core_->peers_refused.load(),
          core_->handshakes_failed.load()};
}

}  // namespace inferstack::runtime
