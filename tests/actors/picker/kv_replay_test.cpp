// A picker's KV subscriber asks each pod it is told of for everything the pod's replay buffer
// holds at once -- an idle pod too, not at its next event -- and counts the pods whose first
// replay has not ended (the picker takes picks only once none is left). Real sockets on
// 127.0.0.1; every wait is bounded.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>
#include <vector>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "actors/picker/kv_subscriber.hpp"
#include "actors/pod/kv_publisher.hpp"
#include "tests/actors/picker/kv_heard.hpp"

using namespace inferstack;
using namespace std::chrono_literals;

namespace {

/// Polls `done` every millisecond for at most `limit`.
template <class Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit = 5s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

std::string be64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8)
    out[static_cast<size_t>(i)] = static_cast<char>(v & 0xFF);
  return out;
}

}  // namespace

TEST_CASE("an idle pod named for replay is replayed from its start at once, then heard live") {
  actors::pod::kv_publisher publisher{{"tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 1000, true}};
  // What the pod did before this picker started; it publishes nothing more for now.
  for (uint64_t seq = 0; seq < 5; ++seq)
    publisher.publish({"kv@pod-a@m", seq, "batch"});

  testing::kv_heard h;
  auto pending = std::make_shared<std::atomic<size_t>>(0);
  actors::picker::kv_subscriber_settings ss;
  ss.first_replays_pending = pending;
  actors::picker::kv_subscriber picker{ss, h.sink()};
  picker.connect(publisher.bound_endpoint());
  picker.set_replay("pod-a", publisher.bound_replay_endpoint());

  REQUIRE(h.wait_for(5, 5s));
  CHECK(h.all() == std::vector<uint64_t>{0, 1, 2, 3, 4});
  CHECK(eventually([&] { return *pending == 0; }));
  CHECK(picker.first_replays_pending() == 0);
  CHECK(picker.replays() == 1);

  // Live events follow in order (PUB/SUB joins take a moment: publish until one is heard).
  uint64_t seq = 5;
  for (int i = 0; i < 200 && h.all().size() == 5; ++i) {
    publisher.publish({"kv@pod-a@m", seq++, "batch"});
    h.wait_for(6, 10ms);
  }
  REQUIRE(h.wait_for(seq, 5s));
  std::vector<uint64_t> expected(seq);
  for (uint64_t i = 0; i < seq; ++i)
    expected[i] = i;
  CHECK(h.all() == expected);  // a live one lost before the SUB joined: replayed too
}

TEST_CASE(
    "a pod's first replay is pending until its replay socket has answered to the end, or "
    "given up") {
  zmq::context_t ctx{1};
  zmq::socket_t router{ctx, zmq::socket_type::router};
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  auto router_endpoint = router.get(zmq::sockopt::last_endpoint);

  testing::kv_heard h;
  actors::picker::kv_subscriber_settings ss;
  ss.replay_timeout = 10s;  // longer than the test: the answer ends the replay, not the clock
  actors::picker::kv_subscriber picker{ss, h.sink()};
  picker.set_replay("pod-a", router_endpoint);
  CHECK(picker.first_replays_pending() == 1);

  // The ask: [identity, "", start seq 0].
  std::vector<zmq::message_t> ask;
  zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
  REQUIRE(zmq::poll(&item, 1, 5s) == 1);
  REQUIRE(zmq::recv_multipart(router, std::back_inserter(ask)));
  REQUIRE(ask.size() == 3);
  CHECK(ask[2].to_string() == be64(0));
  CHECK(picker.first_replays_pending() == 1);  // asked, not answered

  // Naming the pod again does not ask again, nor count twice.
  picker.set_replay("pod-a", router_endpoint);
  auto answer = [&](const std::string& topic, uint64_t seq, const std::string& payload) {
    std::vector<zmq::const_buffer> parts{zmq::buffer(ask[0].data(), ask[0].size()),
                                         zmq::str_buffer(""), zmq::buffer(topic),
                                         zmq::buffer(be64(seq)), zmq::buffer(payload)};
    zmq::send_multipart(router, parts);
  };
  answer("kv@pod-a@m", 7, "b7");
  answer("kv@pod-a@m", 8, "b8");
  REQUIRE(h.wait_for(2, 5s));
  CHECK(picker.first_replays_pending() == 1);  // still no end
  answer("", UINT64_MAX, "");
  CHECK(eventually([&] { return picker.first_replays_pending() == 0; }));
  CHECK(h.all() == std::vector<uint64_t>{7, 8});
  CHECK(picker.replays() == 1);
  CHECK(zmq::poll(&item, 1, 50ms) == 0);  // no second ask

  // A replay socket that never answers is given up after replay_timeout.
  actors::picker::kv_subscriber_settings quick;
  quick.replay_timeout = 100ms;
  testing::kv_heard nothing;
  actors::picker::kv_subscriber late{quick, nothing.sink()};
  late.set_replay("pod-b", router_endpoint);
  CHECK(eventually([&] { return late.first_replays_pending() == 0; }));
  CHECK(late.replays() == 0);
  CHECK(nothing.all().empty());
}
