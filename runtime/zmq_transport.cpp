#include "runtime/zmq_transport.hpp"

#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <bitset>
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
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
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
#include "runtime/io_scheduler.hpp"
#include "runtime/wire/envelope.hpp"
#include "runtime/wire/message_codec.hpp"
#include "runtime/wire/version.hpp"
#include "runtime/wire/wire_error.hpp"

// getpid() without a system call, for libzmq. libzmq asks getpid() on every operation of a
// socket's or I/O thread's mailbox (its fork check: each signal sent, each wait, each read of
// the wake-up descriptor), and glibc has not cached the pid since 2.25: a request made the
// gateway, the picker and the pod call it ~25 times between them under load and ~65 times one
// request at a time (strace -c), a system call of about 0.2 us each here. Defined in the
// program, this getpid is the one libzmq's calls bind to. The pid is read once at start and again
// in the child of every fork() (pthread_atfork); until then (another static initializer), and never
// stored from, a clone that shares our memory (vfork, posix_spawn), it is the system call.
namespace {
pid_t pid_of_process = 0;
void refresh_pid() {
  pid_of_process = static_cast<pid_t>(::syscall(SYS_getpid));
}
[[maybe_unused]] const bool pid_cached = [] {
  refresh_pid();
  ::pthread_atfork(nullptr, nullptr, refresh_pid);
  return true;
}();
}  // namespace

extern "C" __attribute__((visibility("default"))) pid_t getpid() noexcept {
  auto pid = pid_of_process;
  return pid != 0 ? pid : static_cast<pid_t>(::syscall(SYS_getpid));
}

namespace inferstack::runtime {

namespace {

using steady = std::chrono::steady_clock;

int64_t ticks(steady::time_point t) {
  return t.time_since_epoch().count();
}
steady::time_point from_ticks(int64_t n) {
  return steady::time_point{steady::duration{n}};
}

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

struct subscribe_command {
  std::string address;
  std::string prefix;
};

using command = std::variant<subscribe_command>;

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

/// Messages a receiver takes off one socket before it lets other work run.
constexpr int receive_budget = 256;

/// Tables of actors by id are swept of dead ones from this size on (then at twice the live).
constexpr size_t min_sweep = 64;

uint64_t decode_seq(const zmq::message_t& m) {
  if (m.size() != 8) return 0;
  auto* p = static_cast<const unsigned char*>(m.data());
  uint64_t seq = 0;
  for (int i = 0; i < 8; ++i)
    seq = (seq << 8) | p[i];
  return seq;
}

/// Where a socket's input is read when the actor system runs on the io scheduler: a duplicate
/// of the socket's ZMQ_FD (libzmq's wake-up signal) watched by one io thread's reactor. Touched
/// on that thread only. A duplicate, so that the reactor's registration never outlives or
/// aliases the descriptor libzmq closes with its socket.
struct socket_watch {
  socket_watch(boost::asio::io_context& context, int fd, uint64_t generation)
      : descriptor(context, fd), generation(generation) {}
  boost::asio::posix::stream_descriptor descriptor;
  uint64_t generation;  ///< of the socket it watches
  bool waiting = false;
  bool stopped = false;
};

struct dealer_link;

/// One ZeroMQ socket (our ROUTER, our PUB, a DEALER to a peer) used from several threads.
/// ZeroMQ sockets are not thread-safe; the mutex makes their use one thread at a time. Actors
/// send on it directly from their own thread: handing each frame to the transport's I/O thread
/// cost two thread wake-ups per message (ours, then libzmq's) where libzmq itself needs one.
/// One receiver reads it: the io scheduler's thread it is attached to (so an inbound request
/// runs its actor on the thread that read it), else the transport's I/O thread.
struct socket_link {
  std::mutex mutex;
  std::unique_ptr<zmq::socket_t> socket;  ///< null once closed; under the mutex
  uint64_t generation = 0;                ///< bumped when the socket is replaced; under the mutex
  std::atomic<int> fd{-1};                ///< the socket's ZMQ_FD
  /// A sender found input the receiver may not have been told of: any call on a ZeroMQ socket
  /// may consume its wake-up signal (ZMQ_FD is edge-triggered).
  std::atomic<bool> input_pending{false};
  boost::asio::io_context* context = nullptr;  ///< the receiver's; null: the I/O thread
  /// The current watch (on context's thread only). Weak: the pending wait owns it, so that it
  /// ends with its io_context, never after it.
  std::weak_ptr<socket_watch> watch;
  /// The peer a DEALER dials (itself or one of its lanes); null for the ROUTER and the PUB.
  /// Dealers live as long as the core.
  dealer_link* dealer = nullptr;
  /// Lazy one-way frames (settings.lazy_kinds) waiting to leave before the next frame on this
  /// lane, or when its flush timer ends; under the mutex.
  std::vector<std::string> held;
  bool flush_armed = false;  ///< a flush timer is pending (on context's thread only)
};

/// A DEALER to a peer's address and the peer's liveness, readable from any thread.
///
/// On the io scheduler a peer is dialled once per io thread (lanes): an actor sends on its own
/// thread's lane, and that thread reads the lane, so the answer runs the actor on the thread
/// that asked -- a gateway's request stays on its HTTP connection's thread instead of being
/// handed to whichever thread reads a shared socket and back. Lane 0 is this link itself;
/// each lane is a connection of its own, with its own routing id, to the peer's ROUTER.
struct dealer_link {
  explicit dealer_link(std::string a) : address(std::move(a)) {
    auto now = ticks(steady::now());
    heard = now;
    since = now;
  }
  std::string address;
  std::vector<std::shared_ptr<socket_link>> lanes;  ///< at least one; fixed once made
  std::atomic<int> state{static_cast<int>(peer_state::connecting)};
  std::atomic<int64_t> heard{0};      ///< when we last heard the peer (steady ticks)
  std::atomic<int64_t> since{0};      ///< when its state last changed (steady ticks)
  steady::time_point next_heartbeat;  ///< the I/O thread's
  /// The peer's last heartbeat ack said it takes a message's leading parts as frames (see
  /// wire::ack_takes_leading_parts): only then are lazy frames held for it.
  std::atomic<bool> takes_leading_parts{false};
  void heard_now(steady::time_point now) { heard.store(ticks(now)); }
};

/// One frame taken off a socket: the sender's routing id (ROUTER only) and the envelope.
struct inbound_frame {
  std::string identity;
  zmq::message_t body;
};

}  // namespace

// ----------------------------------------------------------------------------------------------
// core: state shared by the transport, its proxies, the receivers and the I/O thread.

struct zmq_transport::core : std::enable_shared_from_this<zmq_transport::core> {
  core(caf::actor_system& sys, zmq_transport_settings s)
      : system(sys), settings(std::move(s)), codec(settings.codec) {
    if (!codec) throw std::invalid_argument("zmq transport: no message codec given");
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%016llx",
                  static_cast<unsigned long long>(settings.incarnation));
    node_id = settings.node_name + "/" + buf;
    wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    heartbeat = heartbeat_bytes(wire::frame_type::heartbeat);
    heartbeat_ack = heartbeat_bytes(wire::frame_type::heartbeat_ack, wire::ack_takes_leading_parts);
    io = io_threads_of(sys);
    for (auto kind : settings.lazy_kinds)
      lazy[kind] = true;
  }

  ~core() {
    if (wake_fd >= 0) ::close(wake_fd);
  }

  caf::actor_system& system;
  zmq_transport_settings settings;
  std::shared_ptr<const wire::message_codec> codec;
  std::string node_id;
  int wake_fd = -1;
  std::string heartbeat, heartbeat_ack;
  /// The io scheduler's threads, when the system runs on it: sockets are read there.
  io_threads* io = nullptr;
  std::bitset<65536> lazy;  ///< settings.lazy_kinds
  std::atomic<size_t> next_context{0};
  // Sockets that bind are made in the constructor (so bind errors reach the caller and "*"
  // ports are known at once); the ZAP handler, the monitors and the subscriber are used only
  // by the I/O thread (starting it is the memory fence ZeroMQ asks for when a socket changes
  // threads); the ROUTER, the PUB and the DEALERs are links (see socket_link).
  zmq::context_t ctx{1};
  std::shared_ptr<socket_link> router;
  std::shared_ptr<socket_link> publisher;
  std::map<std::string, uint64_t> published_seq;  ///< under publisher->mutex
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

  // local actors peers can address: by name (exposed) and by id (anyone who sent us out).
  // Weak, and swept of the dead whenever the table has doubled since the last sweep: a
  // gateway sends from a new actor per request, and a dead actor's weak reference keeps its
  // memory (CAF frees an actor's block with its last weak reference).
  std::mutex local_mutex;
  std::map<std::string, caf::actor> exposed;
  std::unordered_map<uint64_t, caf::weak_actor_ptr> local_by_id;
  size_t local_sweep_at = min_sweep;

  // peers we connect to (dealer side), by address; `sockets_closed` once the I/O thread has
  // closed every socket (no new one may be made then: the context would wait for it forever)
  mutable std::mutex peer_mutex;
  std::map<std::string, std::shared_ptr<dealer_link>> dealers;
  bool sockets_closed = false;

  // clients of our ROUTER: routing id -> when we last heard it (steady ticks)
  std::mutex clients_mutex;
  std::map<std::string, int64_t> clients_seen;

  // proxies: for names at a peer address, and for remote senders (node, actor id). A sender's
  // proxy lives as long as someone holds it (the message it came with, a stream's requester)
  // and no longer: a peer's gateway sends from a new actor per request. Swept as local_by_id.
  std::mutex proxy_mutex;
  std::map<std::pair<std::string, std::string>, caf::actor> name_proxies;
  /// By (node, actor, route): a sender heard on several lanes of its node has a proxy per lane,
  /// so each answer leaves by the lane (the thread) its request came on.
  std::map<std::tuple<std::string, uint64_t, route>, caf::weak_actor_ptr> sender_proxies;
  size_t sender_sweep_at = min_sweep;

  // subscriptions
  std::mutex subscription_mutex;
  std::vector<subscription> local_subscriptions;
  std::vector<subscription> remote_subscriptions;

  // statistics
  std::atomic<uint64_t> frames_sent{0}, frames_received{0}, frames_dropped{0}, decode_errors{0},
      event_gaps{0}, peers_refused{0}, handshakes_failed{0}, frames_via_io_thread{0},
      frames_held{0}, flushes_alone{0}, frames_batched_in{0};

  std::string heartbeat_bytes(wire::frame_type type, std::string_view payload = {}) const {
    wire::envelope env;
    env.type = type;
    env.sender = wire::actor_address{node_id, 0, {}};
    env.payload = payload;
    return wire::encode(env);
  }

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof(one));
  }

  void submit(command c) {
    {
      std::lock_guard guard{command_mutex};
      commands.push_back(std::move(c));
    }
    wake();
  }

  /// Where a new link's input is read: the io threads in turn, or the I/O thread.
  boost::asio::io_context* pick_context() {
    if (!io || io->size() == 0) return nullptr;
    return &io->context(next_context++ % io->size());
  }

  /// Dials `address` on `lane` (under lane.mutex); lane k > 0 has its own routing id.
  void open_dealer(socket_link& lane, const std::string& address, size_t k);
  /// (Re)dials every lane of `link` (each under its mutex); the sockets replaced close after.
  void open_lanes(dealer_link& link) {
    for (size_t k = 0; k < link.lanes.size(); ++k) {
      auto& lane = *link.lanes[k];
      std::unique_ptr<zmq::socket_t> old;
      {
        std::lock_guard guard{lane.mutex};
        old = std::move(lane.socket);
        lane.held.clear();  // as what the old socket still queued: dropped
        open_dealer(lane, link.address, k);
      }
    }
  }

  /// The link to the peer at `address`, dialled on first use: one lane per io thread (each read
  /// by its thread), or one lane read by the I/O thread.
  std::shared_ptr<dealer_link> dealer_of(const std::string& address) {
    std::shared_ptr<dealer_link> link;
    {
      std::lock_guard guard{peer_mutex};
      auto& slot = dealers[address];
      if (slot) return slot;
      slot = link = std::make_shared<dealer_link>(address);
      size_t lanes = io && io->size() > 0 ? io->size() : 1;
      for (size_t k = 0; k < lanes; ++k) {
        auto lane = std::make_shared<socket_link>();
        lane->dealer = link.get();
        lane->context = io && io->size() > 0 ? &io->context(k) : nullptr;
        link->lanes.push_back(std::move(lane));
      }
      if (!sockets_closed) open_lanes(*link);
    }
    for (auto& lane : link->lanes) {
      watch(lane);
      // A heartbeat at once, not at the next housekeeping round: the peer's ack says it is
      // alive, and whether lazy frames may be held for it, from the first requests on.
      transmit(lane, nullptr, heartbeat);
    }
    return link;
  }

  /// The lane an actor on the calling thread sends on: its io thread's, else lane 0.
  const std::shared_ptr<socket_link>& lane_for_caller(const dealer_link& link) const {
    size_t k = io ? io->current_index() : 0;
    return link.lanes[k < link.lanes.size() ? k : 0];
  }

  std::shared_ptr<dealer_link> find_dealer(const std::string& address) const {
    std::lock_guard guard{peer_mutex};
    auto i = dealers.find(address);
    return i == dealers.end() ? nullptr : i->second;
  }

  std::vector<std::shared_ptr<dealer_link>> all_dealers() const {
    std::lock_guard guard{peer_mutex};
    std::vector<std::shared_ptr<dealer_link>> out;
    out.reserve(dealers.size());
    for (auto& [address, link] : dealers)
      out.push_back(link);
    return out;
  }

  // --- sending and receiving on links (any thread) ---

  /// Sends one frame on `link` (to `identity` through a ROUTER), after the lazy frames held
  /// there; false if it could not leave (socket closed, queue full, client gone). Empty
  /// `bytes` without identity: only the held frames.
  bool transmit(const std::shared_ptr<socket_link>& link, const std::string* identity,
                std::string_view bytes);
  /// A lazy frame sent from `link`'s own thread: held until the next frame or the delay's end.
  /// False: not held (another thread's lane), send it now.
  bool hold(const std::shared_ptr<socket_link>& link, std::string bytes);
  /// Sends along a route; counts it, and fails request `correlation_id` if it cannot leave.
  void send_frame(const std::shared_ptr<socket_link>& link, const route& where,
                  std::string_view bytes, uint64_t correlation_id);
  /// A sender saw input waiting on `link`: make sure its receiver reads it.
  void input_waiting(const std::shared_ptr<socket_link>& link);
  /// Takes up to receive_budget frames off `link` (if its socket is still of `generation`; 0:
  /// any); true if more may be waiting.
  bool take_input(socket_link& link, bool is_router, uint64_t generation,
                  std::vector<inbound_frame>& out);
  /// Reads and handles what waits on `link` (a ROUTER when `dealer` is null); true if more
  /// waits than one turn took.
  /// `relayed`: read by the I/O thread, which hands the frames on (counted).
  bool serve_once(const std::shared_ptr<socket_link>& link, dealer_link* dealer,
                  uint64_t generation, bool relayed);
  // io scheduler: the watch on a link's socket
  void watch(const std::shared_ptr<socket_link>& link);  // (re)attach, any thread
  void watch_here(const std::shared_ptr<socket_link>& link);
  void serve_watched(const std::shared_ptr<socket_link>& link,
                     const std::shared_ptr<socket_watch>& w);
  void unwatch(const std::shared_ptr<socket_link>& link);  // any thread
  static dealer_link* as_dealer(const std::shared_ptr<socket_link>& link) { return link->dealer; }

  void handle_frame(const route& from, const std::shared_ptr<socket_link>& via, dealer_link* dealer,
                    std::string_view bytes);
  void mark_down(const std::shared_ptr<dealer_link>& link, steady::time_point now);

  void remember_local(const caf::strong_actor_ptr& actor) {
    if (!actor) return;
    std::lock_guard guard{local_mutex};
    if (!local_by_id.emplace(actor->id(), caf::actor_cast<caf::weak_actor_ptr>(actor)).second)
      return;
    if (local_by_id.size() >= local_sweep_at) local_sweep_at = sweep_expired(local_by_id);
  }

  /// Erases the entries whose actor is gone; returns the size at which to sweep next.
  template <class Map>
  static size_t sweep_expired(Map& table) {
    std::erase_if(table, [](const auto& entry) { return entry.second.lock() == nullptr; });
    return std::max(min_sweep, 2 * table.size());
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

  /// Called by proxies on the sending actor's thread: encodes and sends one message.
  void forward(const caf::strong_actor_ptr& proxy, const caf::strong_actor_ptr& sender,
               caf::message_id mid, const caf::message& msg, const route& where,
               const std::shared_ptr<socket_link>& link, const wire::actor_address& target,
               const dealer_link* peer);

  caf::strong_actor_ptr sender_proxy(const wire::actor_address& remote, const route& where,
                                     const std::shared_ptr<socket_link>& link);
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
             std::shared_ptr<socket_link> link, wire::actor_address target,
             std::shared_ptr<dealer_link> peer)
      : caf::actor_proxy(cfg),
        owner_(std::move(owner)),
        where_(std::move(where)),
        link_(std::move(link)),
        target_(std::move(target)),
        peer_(std::move(peer)) {}

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit*) override {
    if (!what) return;
    auto& content = what->content();
    // Links and monitors are not carried across processes: system messages stop here.
    if (content.match_elements<caf::exit_msg>() || content.match_elements<caf::down_msg>()) return;
    auto msg = what->move_content_to_message();
    // A name proxy's frames leave on the sending thread's lane (its answers come back there).
    const auto& link = peer_ ? owner_->lane_for_caller(*peer_) : link_;
    owner_->forward(caf::strong_actor_ptr{ctrl()}, what->sender, what->mid, msg, where_, link,
                    target_, peer_.get());
  }

  void kill_proxy(caf::execution_unit* ctx, caf::error reason) override {
    cleanup(std::move(reason), ctx);
  }

  const char* name() const override { return "wire_proxy"; }

 private:
  std::shared_ptr<zmq_transport::core> owner_;
  route where_;
  std::shared_ptr<socket_link> link_;  ///< the socket its frames leave by
  wire::actor_address target_;
  std::shared_ptr<dealer_link> peer_;  ///< liveness of a dealer peer; null for senders
};

}  // namespace

void zmq_transport::core::forward(const caf::strong_actor_ptr& proxy,
                                  const caf::strong_actor_ptr& sender, caf::message_id mid,
                                  const caf::message& msg, const route& where,
                                  const std::shared_ptr<socket_link>& link,
                                  const wire::actor_address& target, const dealer_link* peer) {
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
    send_frame(link, where, wire::encode(env), 0);
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
  if (peer && peer->state.load() == static_cast<int>(peer_state::down)) {
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
    if (lazy[env.kind] && hold(link, wire::encode(env))) return;
  }
  send_frame(link, where, wire::encode(env), env.correlation_id);
}

caf::strong_actor_ptr zmq_transport::core::sender_proxy(const wire::actor_address& remote,
                                                        const route& where,
                                                        const std::shared_ptr<socket_link>& link) {
  std::lock_guard guard{proxy_mutex};
  auto key = std::make_tuple(remote.node, remote.actor, where);
  auto i = sender_proxies.find(key);
  if (i != sender_proxies.end())
    if (auto alive = i->second.lock()) return alive;
  caf::actor_config cfg;
  auto handle = caf::make_actor<wire_proxy, caf::actor>(
      system.next_actor_id(), system.node(), &system, cfg, shared_from_this(), where, link,
      wire::actor_address{remote.node, remote.actor, {}}, nullptr);
  auto ptr = caf::actor_cast<caf::strong_actor_ptr>(handle);
  if (i != sender_proxies.end()) {
    i->second = caf::actor_cast<caf::weak_actor_ptr>(ptr);
  } else {
    sender_proxies.emplace(key, caf::actor_cast<caf::weak_actor_ptr>(ptr));
    if (sender_proxies.size() >= sender_sweep_at) sender_sweep_at = sweep_expired(sender_proxies);
  }
  return ptr;
}

caf::actor zmq_transport::core::name_proxy(const std::string& address, const std::string& name) {
  auto link = dealer_of(address);
  std::lock_guard guard{proxy_mutex};
  auto key = std::make_pair(address, name);
  auto i = name_proxies.find(key);
  if (i != name_proxies.end()) return i->second;
  caf::actor_config cfg;
  auto handle = caf::make_actor<wire_proxy, caf::actor>(
      system.next_actor_id(), system.node(), &system, cfg, shared_from_this(),
      route{route::via::dealer, address}, link->lanes.front(), wire::actor_address{{}, 0, name},
      link);
  name_proxies.emplace(key, handle);
  return handle;
}

void zmq_transport::core::drop_sender_proxies(const route& where, const caf::error& reason) {
  std::vector<caf::strong_actor_ptr> dropped;
  {
    std::lock_guard guard{proxy_mutex};
    for (auto i = sender_proxies.begin(); i != sender_proxies.end();) {
      if (std::get<2>(i->first) == where) {
        if (auto alive = i->second.lock()) dropped.push_back(std::move(alive));
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
// Links: sending from any thread, reading on the receiver's.

void zmq_transport::core::open_dealer(socket_link& link, const std::string& address, size_t k) {
  auto ms = [](std::chrono::milliseconds d) { return static_cast<int>(d.count()); };
  auto s = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
  configure_client(*s);
  // Distinct per lane: the peer's ROUTER would hand one lane's connection over to the next.
  s->set(zmq::sockopt::routing_id, k == 0 ? node_id : node_id + "#" + std::to_string(k));
  // Give up a dial nobody answers and dial again soon (settings: why these values).
  s->set(zmq::sockopt::connect_timeout, ms(settings.connect_timeout));
  s->set(zmq::sockopt::reconnect_ivl, ms(settings.reconnect_interval));
  s->set(zmq::sockopt::reconnect_ivl_max, ms(settings.reconnect_interval_max));
  // ZMTP heartbeats beside ours: libzmq closes and redials a connection silent for
  // peer_timeout by itself, and the TTL has the peer's ROUTER drop our connection (and what
  // it queued for us) once we are silent that long, rather than when TCP gives up.
  s->set(zmq::sockopt::heartbeat_ivl, ms(settings.heartbeat_interval));
  s->set(zmq::sockopt::heartbeat_timeout, ms(settings.peer_timeout));
  s->set(zmq::sockopt::heartbeat_ttl, std::max(100, ms(settings.peer_timeout)));
  s->connect(address);
  link.fd = static_cast<int>(s->get(zmq::sockopt::fd));
  link.socket = std::move(s);
  ++link.generation;
}

bool zmq_transport::core::transmit(const std::shared_ptr<socket_link>& link,
                                   const std::string* identity, std::string_view bytes) {
  bool sent = false, input = false;
  {
    std::lock_guard guard{link->mutex};
    if (!link->socket) return false;
    auto& s = *link->socket;
    if (!link->held.empty()) {  // lazy frames go first, in the order they were sent
      // Held frames only wait on a DEALER lane. They leave as the leading parts of one ZeroMQ
      // message with the frame that follows them (the ROUTER takes each part as a frame): one
      // flush of the pipe to libzmq's I/O thread. As messages of their own, the first one woke
      // that thread, which, preempting this one, sent it alone -- a TCP segment and a wake-up
      // of the peer's I/O thread and io thread each, before the request behind it.
      bool last_is_held = bytes.empty() || identity;  // (a ROUTER never holds)
      bool out = true;
      for (size_t k = 0; k < link->held.size(); ++k) {
        auto more = last_is_held && k + 1 == link->held.size()
                        ? zmq::send_flags::dontwait
                        : zmq::send_flags::dontwait | zmq::send_flags::sndmore;
        try {
          out = out && s.send(zmq::buffer(link->held[k]), more).has_value();
        } catch (const zmq::error_t&) {
          out = false;
        }
      }
      // A message's parts are queued together or not at all.
      (out ? frames_sent : frames_dropped) += link->held.size();
      link->held.clear();
      if (bytes.empty() && !identity) sent = true;
    }
    try {
      if (!bytes.empty() || identity) {
        if (!identity ||
            s.send(zmq::buffer(*identity), zmq::send_flags::sndmore | zmq::send_flags::dontwait))
          sent = s.send(zmq::buffer(bytes), zmq::send_flags::dontwait).has_value();
      }
    } catch (const zmq::error_t&) {
      // EHOSTUNREACH: the client is gone
    }
    // The send may have taken the socket's wake-up signal for input that arrived meanwhile:
    // then nobody else would be told.
    try {
      input = (s.get(zmq::sockopt::events) & ZMQ_POLLIN) != 0;
    } catch (const zmq::error_t&) {
    }
  }
  if (input) input_waiting(link);
  return sent;
}

bool zmq_transport::core::hold(const std::shared_ptr<socket_link>& link, std::string bytes) {
  // Only the lane's own thread holds (its timer runs there): frames from elsewhere leave now.
  // So do frames for a peer not known to read leading parts (an older build would drop them).
  if (!link->context || !link->dealer || !io || !link->dealer->takes_leading_parts.load())
    return false;
  auto k = io->current_index();
  if (k >= io->size() || &io->context(k) != link->context) return false;
  {
    std::lock_guard guard{link->mutex};
    if (!link->socket) return false;
    link->held.push_back(std::move(bytes));
  }
  frames_held++;
  if (link->flush_armed) return true;
  link->flush_armed = true;
  auto timer = std::make_shared<boost::asio::steady_timer>(*link->context, settings.lazy_delay);
  timer->async_wait([self = shared_from_this(), link, timer](const boost::system::error_code&) {
    link->flush_armed = false;
    bool alone = false;
    {
      std::lock_guard guard{link->mutex};
      alone = !link->held.empty();
    }
    if (!alone) return;  // they left with a later frame
    self->flushes_alone++;
    self->transmit(link, nullptr, {});
  });
  return true;
}

void zmq_transport::core::send_frame(const std::shared_ptr<socket_link>& link, const route& where,
                                     std::string_view bytes, uint64_t correlation_id) {
  if (transmit(link, where.kind == route::via::router ? &where.target : nullptr, bytes)) {
    frames_sent++;
    return;
  }
  frames_dropped++;
  if (correlation_id != 0)
    fail_pending(correlation_id, caf::make_error(transport_errc::peer_unreachable,
                                                 "cannot send to " + where.target));
}

void zmq_transport::core::input_waiting(const std::shared_ptr<socket_link>& link) {
  if (!link->context) {
    link->input_pending = true;
    wake();
    return;
  }
  if (link->input_pending.exchange(true)) return;  // a turn is on its way already
  boost::asio::post(*link->context, [self = shared_from_this(), link] {
    link->input_pending = false;
    if (auto w = link->watch.lock(); w && !w->stopped) self->serve_watched(link, w);
  });
}

bool zmq_transport::core::take_input(socket_link& link, bool is_router, uint64_t generation,
                                     std::vector<inbound_frame>& out) {
  std::lock_guard guard{link.mutex};
  if (!link.socket || (generation != 0 && link.generation != generation)) return false;
  auto& s = *link.socket;
  try {
    for (int n = 0; n < receive_budget; ++n) {
      inbound_frame f;
      if (is_router) {  // [identity, envelope]
        zmq::message_t identity;
        if (!s.recv(identity, zmq::recv_flags::dontwait)) return false;
        if (!identity.more() || !s.recv(f.body, zmq::recv_flags::dontwait)) continue;
        f.identity = identity.to_string();
        // Lazy frames lead a DEALER's message as parts of their own, before its last frame.
        while (f.body.more()) {
          inbound_frame next;
          if (!s.recv(next.body, zmq::recv_flags::dontwait)) break;
          next.identity = f.identity;
          frames_batched_in++;
          out.push_back(std::move(f));
          f = std::move(next);
        }
      } else if (!s.recv(f.body, zmq::recv_flags::dontwait)) {
        return false;  // drained: the next input signals the socket's descriptor again
      }
      out.push_back(std::move(f));
    }
  } catch (const zmq::error_t&) {
    return false;
  }
  return true;
}

bool zmq_transport::core::serve_once(const std::shared_ptr<socket_link>& link, dealer_link* dealer,
                                     uint64_t generation, bool relayed) {
  std::vector<inbound_frame> frames;
  bool more = take_input(*link, !dealer, generation, frames);
  if (frames.empty()) return more;
  if (relayed) frames_via_io_thread += frames.size();
  auto now = steady::now();
  if (dealer) {
    dealer->heard_now(now);  // any frame proves the peer is alive, not only heartbeat acks
    route from{route::via::dealer, dealer->address};
    for (auto& f : frames)
      handle_frame(from, link, dealer, f.body.to_string_view());
    return more;
  }
  {
    std::lock_guard guard{clients_mutex};
    for (auto& f : frames)
      clients_seen[f.identity] = ticks(now);
  }
  for (auto& f : frames)
    handle_frame(route{route::via::router, std::move(f.identity)}, link, nullptr,
                 f.body.to_string_view());
  return more;
}

void zmq_transport::core::watch(const std::shared_ptr<socket_link>& link) {
  if (!link->context) {
    wake();  // the I/O thread polls it from its next round
    return;
  }
  boost::asio::post(*link->context, [self = shared_from_this(), link] { self->watch_here(link); });
}

void zmq_transport::core::watch_here(const std::shared_ptr<socket_link>& link) {
  if (auto old = link->watch.lock()) {  // it watched the socket this one replaces
    old->stopped = true;
    boost::system::error_code ec;
    old->descriptor.close(ec);
  }
  int fd = -1;
  uint64_t generation = 0;
  {
    std::lock_guard guard{link->mutex};
    if (!link->socket) return;
    fd = ::dup(link->fd.load());
    generation = link->generation;
  }
  if (fd < 0) {
    if (settings.log) settings.log->error("transport {}: cannot watch a socket", node_id);
    return;
  }
  auto w = std::make_shared<socket_watch>(*link->context, fd, generation);
  link->watch = w;
  serve_watched(link, w);
}

void zmq_transport::core::serve_watched(const std::shared_ptr<socket_link>& link,
                                        const std::shared_ptr<socket_watch>& w) {
  if (w->stopped) return;
  if (serve_once(link, as_dealer(link), w->generation, false)) {
    // More than a turn's worth: the actors it made ready run first (they are queued on this
    // thread), then the rest.
    boost::asio::post(*link->context,
                      [self = shared_from_this(), link, w] { self->serve_watched(link, w); });
    return;
  }
  if (w->waiting || w->stopped) return;
  // Drained, on the thread that runs this reactor: a signal from now on finds the wait below
  // registered before the reactor next looks (ZMQ_FD is edge-triggered).
  w->waiting = true;
  w->descriptor.async_wait(
      boost::asio::posix::stream_descriptor::wait_read,
      [self = shared_from_this(), link, w](const boost::system::error_code& ec) {
        w->waiting = false;
        if (!ec) self->serve_watched(link, w);
      });
}

void zmq_transport::core::unwatch(const std::shared_ptr<socket_link>& link) {
  if (!link->context) return;
  boost::asio::post(*link->context, [link] {
    if (auto w = link->watch.lock()) {
      w->stopped = true;
      boost::system::error_code ec;
      w->descriptor.close(ec);
    }
  });
}

void zmq_transport::core::handle_frame(const route& from, const std::shared_ptr<socket_link>& via,
                                       dealer_link* dealer, std::string_view bytes) {
  frames_received++;
  auto decoded = wire::decode(bytes);
  if (!decoded) {
    decode_errors++;
    return;
  }
  auto& env = *decoded.value;
  const std::string* identity = from.kind == route::via::router ? &from.target : nullptr;
  switch (env.type) {
    case wire::frame_type::heartbeat:
      transmit(via, identity, heartbeat_ack);
      return;
    case wire::frame_type::heartbeat_ack: {
      if (dealer) {
        auto now = steady::now();
        dealer->heard_now(now);
        dealer->takes_leading_parts = env.payload == wire::ack_takes_leading_parts;
        if (dealer->state.exchange(static_cast<int>(peer_state::alive)) !=
            static_cast<int>(peer_state::alive))
          dealer->since = ticks(now);
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
        transmit(via, identity, wire::encode(out));
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
      auto sender = sender_proxy(env.sender, from, via);
      auto mid = is_request ? caf::make_message_id(env.correlation_id) : caf::make_message_id();
      // On the io scheduler this runs the receiver on this thread, after this turn.
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
}

void zmq_transport::core::mark_down(const std::shared_ptr<dealer_link>& link,
                                    steady::time_point now) {
  bool was_alive = link->state.exchange(static_cast<int>(peer_state::down)) ==
                   static_cast<int>(peer_state::alive);
  link->since = ticks(now);
  link->takes_leading_parts = false;  // the peer that answers next may be of another build
  route where{route::via::dealer, link->address};
  fail_pending_where(where, caf::make_error(was_alive ? transport_errc::peer_lost
                                                      : transport_errc::peer_unreachable,
                                            "peer " + link->address + " stopped answering"));
  drop_sender_proxies(where, caf::make_error(transport_errc::peer_lost));
  // Fresh sockets drop whatever was queued for the dead peer; ZeroMQ keeps reconnecting.
  open_lanes(*link);
  for (auto& lane : link->lanes)
    watch(lane);  // the watch follows the new socket
}

// ----------------------------------------------------------------------------------------------
// The I/O thread: heartbeats and liveness, events in (SUB), the security sockets, and -- when
// the system does not run on the io scheduler -- the input of the ROUTER and the DEALERs.

void zmq_transport::core::run() {
  std::unique_ptr<zmq::socket_t> subscriber;
  std::vector<std::string> subscribed_addresses;
  std::map<std::string, uint64_t> last_event_seq;

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
  // Links whose input this thread reads (none on the io scheduler), one poll item each: their
  // ZMQ_FD, never the socket itself, which other threads send on meanwhile.
  std::vector<std::shared_ptr<socket_link>> polled;
  auto next_housekeeping = steady::now();
  bool more_input = false;

  for (;;) {  // ends below, once stop() has been called
    items.clear();
    polled.clear();
    items.push_back({nullptr, wake_fd, ZMQ_POLLIN, 0});
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
    size_t first_link_item = items.size();
    if (!io) {
      if (router) polled.push_back(router);
      for (auto& d : all_dealers())
        for (auto& lane : d->lanes)
          polled.push_back(lane);
      for (auto& l : polled)
        items.push_back({nullptr, l->fd.load(), ZMQ_POLLIN, 0});
    }
    // Rounded up: truncated, the last millisecond before each round was a poll of 0 ms again
    // and again (a busy loop of the I/O thread, ~2 % of a core per idle process).
    auto timeout = std::chrono::ceil<std::chrono::milliseconds>(next_housekeeping - steady::now());
    if (timeout.count() < 0 || more_input) timeout = std::chrono::milliseconds{0};
    try {
      zmq::poll(items.data(), items.size(), timeout);
    } catch (const zmq::error_t&) {
      continue;  // EINTR
    }
    if (!running) break;

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
      if (auto* sub = std::get_if<subscribe_command>(&c)) {
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
      }
    }

    // input on the links this thread reads: signalled, flagged by a sender, or left over
    more_input = false;
    for (size_t k = 0; k < polled.size(); ++k) {
      auto& l = polled[k];
      bool flagged = l->input_pending.exchange(false);
      if (!flagged && !(items[first_link_item + k].revents & ZMQ_POLLIN)) continue;
      if (serve_once(l, as_dealer(l), 0, true)) {
        l->input_pending = true;
        more_input = true;
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

    // housekeeping: heartbeats, liveness, expired requests
    auto now = steady::now();
    if (now >= next_housekeeping) {
      for (auto& d : all_dealers()) {
        if (now >= d->next_heartbeat) {
          for (auto& lane : d->lanes)  // each lane is a connection the peer must see alive
            transmit(lane, nullptr, heartbeat);
          d->next_heartbeat = now + settings.heartbeat_interval;
        }
        auto state = static_cast<peer_state>(d->state.load());
        bool silent = state == peer_state::alive
                          ? now - from_ticks(d->heard.load()) > settings.peer_timeout
                          : state == peer_state::connecting &&
                                now - from_ticks(d->since.load()) > settings.peer_timeout;
        if (silent) mark_down(d, now);
      }
      std::vector<route> gone;
      {
        std::lock_guard guard{clients_mutex};
        for (auto i = clients_seen.begin(); i != clients_seen.end();) {
          if (now - from_ticks(i->second) > 3 * settings.peer_timeout) {
            gone.push_back(route{route::via::router, i->first});
            i = clients_seen.erase(i);
          } else {
            ++i;
          }
        }
      }
      for (auto& where : gone) {
        fail_pending_where(where, caf::make_error(transport_errc::peer_lost));
        drop_sender_proxies(where, caf::make_error(transport_errc::peer_lost));
      }
      fail_expired(now);
      next_housekeeping =
          now + std::max(std::chrono::milliseconds{5}, settings.heartbeat_interval / 2);
    }
  }
  // Sockets close here. The answers and events sent last (a drained pod's final stream
  // messages, its last load report) get a bounded moment to reach their peers: ZeroMQ drops
  // what is still queued at close when linger is 0.
  std::vector<std::shared_ptr<dealer_link>> dialled;
  {
    std::lock_guard guard{peer_mutex};
    sockets_closed = true;  // from here on no socket is made (the context waits for each)
    for (auto& [address, link] : dealers)
      dialled.push_back(link);
  }
  for (auto& link : {router, publisher}) {
    if (!link) continue;
    std::lock_guard guard{link->mutex};
    if (link->socket) link->socket->set(zmq::sockopt::linger, stop_linger_ms);
    link->socket.reset();
  }
  for (auto& link : dialled)
    for (auto& lane : link->lanes) {
      std::lock_guard guard{lane->mutex};
      lane->socket.reset();
    }
  if (router) unwatch(router);
  for (auto& link : dialled)
    for (auto& lane : link->lanes)
      unwatch(lane);
  subscriber.reset();
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
    auto link = std::make_shared<socket_link>();
    link->fd = static_cast<int>(socket->get(zmq::sockopt::fd));
    link->socket = std::move(socket);
    link->generation = 1;
    return link;
  };
  if (!c.settings.listen.empty()) {
    c.router = bind(zmq::socket_type::router, c.settings.listen, c.bound_listen);
    c.router->context = c.pick_context();
    watch(*c.router->socket, "router");
  }
  if (!c.settings.events.empty()) {
    c.publisher = bind(zmq::socket_type::pub, c.settings.events, c.bound_events);
    watch(*c.publisher->socket, "publisher");
  }
  c.io_thread = std::thread([owner = core_] { owner->run(); });
  if (c.router) c.watch(c.router);
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
  core_->wake();
  if (core_->io_thread.joinable()) core_->io_thread.join();
  // The I/O thread has closed the sockets: wait (up to their linger) until what they still
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
      if (auto alive = p.lock()) proxies.push_back(std::move(alive));
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
  auto bytes = wire::encode(env);
  // Sent from the publishing thread (a PUB socket has no input to watch); the sequence number
  // is taken under the same lock, so numbers leave in order.
  auto& link = *core_->publisher;
  std::lock_guard guard{link.mutex};
  if (!link.socket) return;
  auto seq = ++core_->published_seq[topic];
  try {
    link.socket->send(zmq::buffer(topic), zmq::send_flags::sndmore);
    link.socket->send(zmq::buffer(encode_seq(seq)), zmq::send_flags::sndmore);
    link.socket->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
    core_->frames_dropped++;
  }
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
  auto link = core_->find_dealer(address);
  return link && link->state.load() == static_cast<int>(peer_state::alive);
}

std::optional<std::chrono::milliseconds> zmq_transport::peer_silence(
    const std::string& address) const {
  auto link = core_->find_dealer(address);
  if (!link) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() -
                                                               from_ticks(link->heard.load()));
}

zmq_transport_stats zmq_transport::stats() const {
  zmq_transport_stats out{core_->frames_sent.load(),       core_->frames_received.load(),
                          core_->frames_dropped.load(),    core_->decode_errors.load(),
                          core_->event_gaps.load(),        core_->peers_refused.load(),
                          core_->handshakes_failed.load(), core_->frames_via_io_thread.load()};
  out.frames_held = core_->frames_held.load();
  out.frames_batched_in = core_->frames_batched_in.load();
  out.flushes_alone = core_->flushes_alone.load();
  {
    std::lock_guard guard{core_->local_mutex};
    out.local_senders_known = core_->local_by_id.size();
  }
  std::lock_guard guard{core_->proxy_mutex};
  out.remote_sender_proxies = core_->sender_proxies.size();
  return out;
}

}  // namespace inferstack::runtime
