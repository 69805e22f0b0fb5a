#include "actors/picker/kv_subscriber.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <variant>

#include <zmq.hpp>

#include "runtime/curve_keys.hpp"

namespace inferstack::actors::picker {

namespace {

using steady = std::chrono::steady_clock;

std::string be64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8)
    out[static_cast<size_t>(i)] = static_cast<char>(v & 0xFF);
  return out;
}

bool read_be64(const zmq::message_t& m, uint64_t& out) {
  if (m.size() != 8) return false;
  auto* p = static_cast<const unsigned char*>(m.data());
  out = 0;
  for (int i = 0; i < 8; ++i)
    out = (out << 8) | p[i];
  return true;
}

std::string pod_of(const std::string& topic) {
  auto first = topic.find('@');
  auto last = topic.rfind('@');
  if (first == std::string::npos || last == first) return {};
  return topic.substr(first + 1, last - first - 1);
}

struct connect_cmd {
  std::string endpoint;
  bool add = true;
  bool secure = false;
};
struct replay_cmd {
  std::string pod;
  std::string endpoint;
  bool secure = false;
};
using command = std::variant<connect_cmd, replay_cmd>;

/// A link that goes silent (a partition, a pulled cable) is given up within a second and
/// redialled every ~0.6 s, rather than left to TCP's retransmission backoff (seconds after the
/// link is back): the new connection's first event shows the gap, and the replay fills it.
void watch_liveness(zmq::socket_t& sub) {
  sub.set(zmq::sockopt::heartbeat_ivl, 250);
  sub.set(zmq::sockopt::heartbeat_timeout, 1000);
  sub.set(zmq::sockopt::connect_timeout, 500);
}

}  // namespace

struct kv_subscriber::impl {
  kv_subscriber_settings settings;
  sink deliver;
  zmq::context_t ctx{1};
  std::unique_ptr<zmq::socket_t> sub;
  std::unique_ptr<zmq::socket_t> secure_sub;  ///< CURVE: our own pods, made when first needed
  std::string bound;
  int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  std::atomic<bool> running{true};
  std::thread thread;
  std::mutex mutex;
  std::deque<command> commands;
  std::atomic<uint64_t> replays{0}, gaps_left{0};

  // per topic: the next expected seq, and a replay in progress
  struct topic_state {
    bool known = false;
    uint64_t next = 0;
    bool replaying = false;
    uint64_t replay_until = 0;               ///< first live seq seen after the gap
    std::deque<pod::kv_event_message> held;  ///< live messages waiting for the replay
    steady::time_point deadline;
    std::unique_ptr<zmq::socket_t> dealer;
  };
  std::map<std::string, topic_state> topics;
  std::map<std::string, std::pair<std::string, bool>> replay_endpoints;  ///< pod -> ROUTER, CURVE

  ~impl() {
    if (wake_fd >= 0) ::close(wake_fd);
  }

  void emit(pod::kv_event_message m, topic_state& t) {
    t.known = true;
    t.next = m.seq + 1;
    deliver(std::move(m));
  }

  void finish_replay(topic_state& t, bool ok) {
    if (!ok) gaps_left++;
    t.replaying = false;
    t.dealer.reset();
    while (!t.held.empty()) {
      emit(std::move(t.held.front()), t);
      t.held.pop_front();
    }
  }

  void on_live(pod::kv_event_message m) {
    auto& t = topics[m.topic];
    if (t.replaying) {
      t.held.push_back(std::move(m));
      return;
    }
    // A gap -- or a topic heard for the first time past its start (this picker joined late,
    // or restarted): ask the pod for what came before, so the index holds what the pod holds.
    if ((t.known && m.seq > t.next) || (!t.known && m.seq > 0)) {
      if (!t.known) t.next = 0;
      auto ep = replay_endpoints.find(pod_of(m.topic));
      if (ep != replay_endpoints.end()) {
        // Ask for the missing batches; hold live ones until they are in.
        t.replaying = true;
        t.replay_until = m.seq;
        t.deadline = steady::now() + settings.replay_timeout;
        t.dealer = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
        t.dealer->set(zmq::sockopt::linger, 0);
        if (ep->second.second && settings.curve)
          runtime::make_curve_client(*t.dealer, *settings.curve);
        t.dealer->connect(ep->second.first);
        t.dealer->send(zmq::str_buffer(""), zmq::send_flags::sndmore);
        t.dealer->send(zmq::buffer(be64(t.next)), zmq::send_flags::none);
        t.held.push_back(std::move(m));
        return;
      }
      if (t.known) gaps_left++;
    }
    if (t.known && m.seq < t.next) return;  // a duplicate (e.g. replayed and live)
    emit(std::move(m), t);
  }

  void on_replay(topic_state& t) {
    for (int budget = 0; budget < 4096; ++budget) {
      std::vector<zmq::message_t> parts;
      zmq::message_t part;
      if (!t.dealer->recv(part, zmq::recv_flags::dontwait)) return;
      bool more = part.more();
      parts.push_back(std::move(part));
      while (more) {
        zmq::message_t next;
        if (!t.dealer->recv(next, zmq::recv_flags::dontwait)) break;
        more = next.more();
        parts.push_back(std::move(next));
      }
      // [empty, topic, seq, payload]
      if (parts.size() != 4) continue;
      uint64_t seq = 0;
      if (!read_be64(parts[2], seq)) continue;
      if (seq == UINT64_MAX) {
        replays++;
        finish_replay(t, true);
        return;
      }
      if (seq >= t.next && seq < t.replay_until)
        emit({parts[1].to_string(), seq, parts[3].to_string()}, t);
    }
  }

  /// Reads the live messages waiting on one SUB socket.
  void read_live(zmq::socket_t& from) {
    for (int budget = 0; budget < 4096; ++budget) {
      zmq::message_t topic, seq, payload;
      if (!from.recv(topic, zmq::recv_flags::dontwait)) break;
      if (!topic.more() || !from.recv(seq, zmq::recv_flags::dontwait) || !seq.more() ||
          !from.recv(payload, zmq::recv_flags::dontwait))
        continue;
      while (payload.more()) {  // never more than 3 frames from a sane producer
        zmq::message_t extra;
        if (!from.recv(extra, zmq::recv_flags::dontwait)) break;
        payload.swap(extra);
      }
      uint64_t number = 0;
      if (!read_be64(seq, number)) continue;
      on_live({topic.to_string(), number, payload.to_string()});
    }
  }

  void run() {
    while (running) {
      std::vector<zmq::pollitem_t> items{{nullptr, wake_fd, ZMQ_POLLIN, 0},
                                         {sub->handle(), 0, ZMQ_POLLIN, 0}};
      // Made while commands are handled below: remember whether it was polled this round.
      bool secure_polled = secure_sub != nullptr;
      if (secure_polled) items.push_back({secure_sub->handle(), 0, ZMQ_POLLIN, 0});
      size_t first_replay = items.size();
      std::vector<topic_state*> replaying;
      for (auto& [name, t] : topics)
        if (t.replaying && t.dealer) {
          items.push_back({t.dealer->handle(), 0, ZMQ_POLLIN, 0});
          replaying.push_back(&t);
        }
      try {
        zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
      } catch (const zmq::error_t&) {
        continue;
      }
      if (items[0].revents & ZMQ_POLLIN) {
        uint64_t n;
        [[maybe_unused]] auto r = ::read(wake_fd, &n, sizeof(n));
      }
      std::deque<command> batch;
      {
        std::lock_guard guard{mutex};
        batch.swap(commands);
      }
      for (auto& c : batch) {
        if (auto* conn = std::get_if<connect_cmd>(&c)) {
          bool secure = conn->secure && settings.curve;
          if (secure && !secure_sub) {
            secure_sub = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::sub);
            secure_sub->set(zmq::sockopt::linger, 0);
            secure_sub->set(zmq::sockopt::rcvhwm, 100000);
            watch_liveness(*secure_sub);
            runtime::make_curve_client(*secure_sub, *settings.curve);
            secure_sub->set(zmq::sockopt::subscribe, settings.topic_filter);
          }
          auto& socket = secure ? *secure_sub : *sub;
          try {
            if (conn->add) {
              socket.connect(conn->endpoint);
            } else {
              sub->disconnect(conn->endpoint);
            }
          } catch (const zmq::error_t&) {
          }
          if (!conn->add && secure_sub) {
            try {
              secure_sub->disconnect(conn->endpoint);
            } catch (const zmq::error_t&) {
            }
          }
        } else if (auto* rep = std::get_if<replay_cmd>(&c)) {
          replay_endpoints[rep->pod] = {rep->endpoint, rep->secure};
        }
      }
      if (items[1].revents & ZMQ_POLLIN) read_live(*sub);
      if (secure_polled && (items[2].revents & ZMQ_POLLIN)) read_live(*secure_sub);
      for (size_t i = 0; i < replaying.size(); ++i)
        if (items[first_replay + i].revents & ZMQ_POLLIN) on_replay(*replaying[i]);
      auto now = steady::now();
      for (auto& [name, t] : topics)
        if (t.replaying && now >= t.deadline) finish_replay(t, false);
    }
    for (auto& [name, t] : topics)
      t.dealer.reset();
    sub.reset();
    secure_sub.reset();
  }
};

kv_subscriber::kv_subscriber(kv_subscriber_settings settings, sink deliver)
    : impl_(std::make_shared<impl>()) {
  impl_->settings = std::move(settings);
  impl_->deliver = std::move(deliver);
  impl_->sub = std::make_unique<zmq::socket_t>(impl_->ctx, zmq::socket_type::sub);
  impl_->sub->set(zmq::sockopt::linger, 0);
  impl_->sub->set(zmq::sockopt::rcvhwm, 100000);
  watch_liveness(*impl_->sub);
  impl_->sub->set(zmq::sockopt::subscribe, impl_->settings.topic_filter);
  if (!impl_->settings.bind.empty()) {
    try {
      impl_->sub->bind(impl_->settings.bind);
      impl_->bound = impl_->sub->get(zmq::sockopt::last_endpoint);
    } catch (const zmq::error_t& e) {
      throw std::runtime_error("KV events: cannot bind " + impl_->settings.bind + ": " + e.what());
    }
  }
  impl_->thread = std::thread([i = impl_] { i->run(); });
}

kv_subscriber::~kv_subscriber() {
  impl_->running = false;
  uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(impl_->wake_fd, &one, sizeof(one));
  if (impl_->thread.joinable()) impl_->thread.join();
}

namespace {
void push(kv_subscriber::impl& i, command c) {
  {
    std::lock_guard guard{i.mutex};
    i.commands.push_back(std::move(c));
  }
  uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(i.wake_fd, &one, sizeof(one));
}
}  // namespace

void kv_subscriber::connect(const std::string& endpoint, bool secure) {
  push(*impl_, connect_cmd{endpoint, true, secure});
}
void kv_subscriber::disconnect(const std::string& endpoint) {
  push(*impl_, connect_cmd{endpoint, false});
}
void kv_subscriber::set_replay(const std::string& pod, const std::string& replay_endpoint,
                               bool secure) {
  push(*impl_, replay_cmd{pod, replay_endpoint, secure});
}
std::string kv_subscriber::bound_endpoint() const {
  return impl_->bound;
}
uint64_t kv_subscriber::replays() const {
  return impl_->replays;
}
uint64_t kv_subscriber::gaps_left() const {
  return impl_->gaps_left;
}

}  // namespace inferstack::actors::picker
