#include "actors/picker/kv_subscriber.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
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
  std::shared_ptr<std::atomic<size_t>> first_pending;  ///< settings', or our own

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

  /// A pod's first replay: everything its buffer holds, asked when set_replay first names it.
  /// Live messages of its topics wait for its end, then take the usual path (duplicates of
  /// replayed ones dropped there).
  struct first_replay {
    std::unique_ptr<zmq::socket_t> dealer;
    steady::time_point deadline;
    std::deque<pod::kv_event_message> held;
  };
  std::map<std::string, first_replay> first_replays;  ///< by pod, while in progress

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

  /// A DEALER to a pod's replay ROUTER that has asked for everything from `from` on.
  std::unique_ptr<zmq::socket_t> ask_replay(const std::pair<std::string, bool>& router,
                                            uint64_t from) {
    auto dealer = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
    dealer->set(zmq::sockopt::linger, 0);
    if (router.second && settings.curve) runtime::make_curve_client(*dealer, *settings.curve);
    dealer->connect(router.first);
    dealer->send(zmq::str_buffer(""), zmq::send_flags::sndmore);
    dealer->send(zmq::buffer(be64(from)), zmq::send_flags::none);
    return dealer;
  }

  void start_first_replay(const std::string& pod) {
    auto& r = first_replays[pod];
    r.deadline = steady::now() + settings.replay_timeout;
    try {
      r.dealer = ask_replay(replay_endpoints.at(pod), 0);
    } catch (const zmq::error_t&) {
      end_first_replay(pod, false);
    }
  }

  void end_first_replay(const std::string& pod, bool answered) {
    auto it = first_replays.find(pod);
    if (it == first_replays.end()) return;
    auto held = std::move(it->second.held);
    first_replays.erase(it);
    if (answered) replays++;
    --*first_pending;
    for (auto& m : held)
      on_live(std::move(m));
  }

  /// Reads a first replay's answers; true when it has ended.
  bool on_first_replay(first_replay& r) {
    for (int budget = 0; budget < 4096; ++budget) {
      auto parts = read_replay_answer(*r.dealer);
      if (!parts) return false;
      // [empty, topic, seq, payload]
      uint64_t seq = 0;
      if (parts->size() != 4 || !read_be64((*parts)[2], seq)) continue;
      if (seq == UINT64_MAX) return true;
      r.deadline = steady::now() + settings.replay_timeout;  // still answering
      auto topic = (*parts)[1].to_string();
      auto& t = topics[topic];
      if (t.replaying) continue;  // a gap replay of its own is under way: it fills the topic
      if (!t.known || seq >= t.next) emit({std::move(topic), seq, (*parts)[3].to_string()}, t);
    }
    return false;
  }

  void on_live(pod::kv_event_message m) {
    if (!first_replays.empty()) {
      auto first = first_replays.find(pod_of(m.topic));
      if (first != first_replays.end()) {
        first->second.held.push_back(std::move(m));
        return;
      }
    }
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
        t.dealer = ask_replay(ep->second, t.next);
        t.held.push_back(std::move(m));
        return;
      }
      if (t.known) gaps_left++;
    }
    if (t.known && m.seq < t.next) return;  // a duplicate (e.g. replayed and live)
    emit(std::move(m), t);
  }

  /// One answer of a replay ROUTER, all its frames; nullopt when none is waiting.
  static std::optional<std::vector<zmq::message_t>> read_replay_answer(zmq::socket_t& dealer) {
    std::vector<zmq::message_t> parts;
    zmq::message_t part;
    if (!dealer.recv(part, zmq::recv_flags::dontwait)) return std::nullopt;
    bool more = part.more();
    parts.push_back(std::move(part));
    while (more) {
      zmq::message_t next;
      if (!dealer.recv(next, zmq::recv_flags::dontwait)) break;
      more = next.more();
      parts.push_back(std::move(next));
    }
    return parts;
  }

  void on_replay(topic_state& t) {
    for (int budget = 0; budget < 4096; ++budget) {
      auto parts = read_replay_answer(*t.dealer);
      if (!parts) return;
      // [empty, topic, seq, payload]
      uint64_t seq = 0;
      if (parts->size() != 4 || !read_be64((*parts)[2], seq)) continue;
      if (seq == UINT64_MAX) {
        replays++;
        finish_replay(t, true);
        return;
      }
      if (seq >= t.next && seq < t.replay_until)
        emit({(*parts)[1].to_string(), seq, (*parts)[3].to_string()}, t);
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
      size_t first_firsts = items.size();
      std::vector<std::string> firsts;
      for (auto& [pod, r] : first_replays)
        if (r.dealer) {
          items.push_back({r.dealer->handle(), 0, ZMQ_POLLIN, 0});
          firsts.push_back(pod);
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
          bool first = !replay_endpoints.count(rep->pod);
          replay_endpoints[rep->pod] = {rep->endpoint, rep->secure};
          if (first) {
            start_first_replay(rep->pod);
          } else {
            --*first_pending;  // counted by set_replay; this pod was asked before
          }
        }
      }
      if (items[1].revents & ZMQ_POLLIN) read_live(*sub);
      if (secure_polled && (items[2].revents & ZMQ_POLLIN)) read_live(*secure_sub);
      for (size_t i = 0; i < replaying.size(); ++i)
        if (items[first_replay + i].revents & ZMQ_POLLIN) on_replay(*replaying[i]);
      for (size_t i = 0; i < firsts.size(); ++i) {
        auto r = first_replays.find(firsts[i]);
        if ((items[first_firsts + i].revents & ZMQ_POLLIN) && r != first_replays.end() &&
            on_first_replay(r->second))
          end_first_replay(firsts[i], true);
      }
      auto now = steady::now();
      for (auto& [name, t] : topics)
        if (t.replaying && now >= t.deadline) finish_replay(t, false);
      std::vector<std::string> silent;
      for (auto& [pod, r] : first_replays)
        if (now >= r.deadline) silent.push_back(pod);
      for (const auto& pod : silent)
        end_first_replay(pod, false);
    }
    for (auto& [name, t] : topics)
      t.dealer.reset();
    first_replays.clear();
    sub.reset();
    secure_sub.reset();
  }
};

kv_subscriber::kv_subscriber(kv_subscriber_settings settings, sink deliver)
    : impl_(std::make_shared<impl>()) {
  impl_->settings = std::move(settings);
  impl_->deliver = std::move(deliver);
  impl_->first_pending = impl_->settings.first_replays_pending
                             ? impl_->settings.first_replays_pending
                             : std::make_shared<std::atomic<size_t>>(0);
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
  ++*impl_->first_pending;  // before the command: a caller that asks next sees it pending
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
size_t kv_subscriber::first_replays_pending() const {
  return *impl_->first_pending;
}

}  // namespace inferstack::actors::picker
