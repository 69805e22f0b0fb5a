#include "actors/pod/kv_publisher.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>

#include <zmq.hpp>

#include "runtime/curve_keys.hpp"

namespace inferstack::actors::pod {

namespace {

std::string be64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8)
    out[static_cast<size_t>(i)] = static_cast<char>(v & 0xFF);
  return out;
}

uint64_t read_be64(const zmq::message_t& m) {
  if (m.size() != 8) return UINT64_MAX;
  auto* p = static_cast<const unsigned char*>(m.data());
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | p[i];
  return v;
}

}  // namespace

bool publisher_binds(const std::string& endpoint) {
  return endpoint.find('*') != std::string::npos || endpoint.find("::") != std::string::npos ||
         endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0;
}

struct kv_publisher::impl {
  kv_publisher_settings settings;
  zmq::context_t ctx{1};
  std::unique_ptr<runtime::curve_zap_handler> zap;  ///< with CURVE: vets subscribers
  std::unique_ptr<zmq::socket_t> pub;
  std::unique_ptr<zmq::socket_t> replay;
  std::string bound, bound_replay;
  int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  std::atomic<bool> running{true};
  std::thread thread;
  std::mutex mutex;
  std::deque<kv_event_message> queue;
  std::deque<kv_event_message> kept;  ///< for replay, oldest first

  ~impl() {
    if (wake_fd >= 0) ::close(wake_fd);
  }

  void send_batch(const kv_event_message& m) {
    pub->send(zmq::buffer(m.topic), zmq::send_flags::sndmore);
    pub->send(zmq::buffer(be64(m.seq)), zmq::send_flags::sndmore);
    pub->send(zmq::buffer(m.payload), zmq::send_flags::dontwait);
  }

  void answer_replay() {
    for (int budget = 0; budget < 64; ++budget) {
      std::vector<zmq::message_t> parts;
      zmq::message_t part;
      if (!replay->recv(part, zmq::recv_flags::dontwait)) return;
      bool more = part.more();
      parts.push_back(std::move(part));
      while (more) {
        zmq::message_t next;
        if (!replay->recv(next, zmq::recv_flags::dontwait)) break;
        more = next.more();
        parts.push_back(std::move(next));
      }
      if (parts.size() < 2) continue;
      // [identity, "", start] (REQ / DEALER with delimiter) or [identity, start] (bare DEALER)
      const auto& identity = parts.front();
      uint64_t start = read_be64(parts.back());
      bool delimiter = parts.size() >= 3;
      auto reply = [&](const std::string& topic, const std::string& seq, const std::string& body) {
        replay->send(zmq::buffer(identity.data(), identity.size()), zmq::send_flags::sndmore);
        if (delimiter) replay->send(zmq::str_buffer(""), zmq::send_flags::sndmore);
        replay->send(zmq::buffer(topic), zmq::send_flags::sndmore);
        replay->send(zmq::buffer(seq), zmq::send_flags::sndmore);
        replay->send(zmq::buffer(body), zmq::send_flags::none);
      };
      if (start != UINT64_MAX)
        for (const auto& m : kept)
          if (m.seq >= start) reply(m.topic, be64(m.seq), m.payload);
      reply("", be64(UINT64_MAX), "");  // end of replay
    }
  }

  void run() {
    while (running) {
      std::vector<zmq::pollitem_t> items{{nullptr, wake_fd, ZMQ_POLLIN, 0}};
      if (replay) items.push_back({replay->handle(), 0, ZMQ_POLLIN, 0});
      size_t zap_item = items.size();
      if (zap) items.push_back({zap->socket().handle(), 0, ZMQ_POLLIN, 0});
      try {
        zmq::poll(items.data(), items.size(), std::chrono::milliseconds(200));
      } catch (const zmq::error_t&) {
        continue;
      }
      if (items[0].revents & ZMQ_POLLIN) {
        uint64_t n;
        [[maybe_unused]] auto r = ::read(wake_fd, &n, sizeof(n));
      }
      std::deque<kv_event_message> batch;
      {
        std::lock_guard guard{mutex};
        batch.swap(queue);
      }
      for (auto& m : batch) {
        send_batch(m);
        if (settings.replay_buffer > 0) {
          kept.push_back(std::move(m));
          while (kept.size() > settings.replay_buffer)
            kept.pop_front();
        }
      }
      if (replay && items.size() > 1 && (items[1].revents & ZMQ_POLLIN)) answer_replay();
      if (zap && (items[zap_item].revents & ZMQ_POLLIN)) zap->answer();
    }
    pub.reset();
    replay.reset();
    zap.reset();
  }
};

kv_publisher::kv_publisher(kv_publisher_settings settings) : impl_(std::make_shared<impl>()) {
  impl_->settings = std::move(settings);
  auto& s = impl_->settings;
  bool binds = s.force_bind || publisher_binds(s.endpoint);
  if (s.curve) impl_->zap = std::make_unique<runtime::curve_zap_handler>(impl_->ctx, *s.curve);
  impl_->pub = std::make_unique<zmq::socket_t>(impl_->ctx, zmq::socket_type::pub);
  impl_->pub->set(zmq::sockopt::linger, 0);
  impl_->pub->set(zmq::sockopt::sndhwm, 100000);  // vLLM's hwm
  if (s.curve && binds) runtime::make_curve_server(*impl_->pub, *s.curve);
  try {
    if (binds) {
      impl_->pub->bind(s.endpoint);
      impl_->bound = impl_->pub->get(zmq::sockopt::last_endpoint);
    } else {
      impl_->pub->connect(s.endpoint);
    }
  } catch (const zmq::error_t& e) {
    throw std::runtime_error("KV events: cannot use " + s.endpoint + ": " + e.what());
  }
  if (!s.replay_endpoint.empty()) {
    impl_->replay = std::make_unique<zmq::socket_t>(impl_->ctx, zmq::socket_type::router);
    impl_->replay->set(zmq::sockopt::linger, 0);
    if (s.curve) runtime::make_curve_server(*impl_->replay, *s.curve);
    try {
      impl_->replay->bind(s.replay_endpoint);
      impl_->bound_replay = impl_->replay->get(zmq::sockopt::last_endpoint);
    } catch (const zmq::error_t& e) {
      throw std::runtime_error("KV events replay: cannot bind " + s.replay_endpoint + ": " +
                               e.what());
    }
  }
  impl_->thread = std::thread([i = impl_] { i->run(); });
}

kv_publisher::~kv_publisher() {
  impl_->running = false;
  uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(impl_->wake_fd, &one, sizeof(one));
  if (impl_->thread.joinable()) impl_->thread.join();
}

void kv_publisher::publish(const kv_event_message& message) {
  {
    std::lock_guard guard{impl_->mutex};
    impl_->queue.push_back(message);
  }
  uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(impl_->wake_fd, &one, sizeof(one));
}

std::string kv_publisher::bound_endpoint() const {
  return impl_->bound;
}
std::string kv_publisher::bound_replay_endpoint() const {
  return impl_->bound_replay;
}

}  // namespace inferstack::actors::pod
