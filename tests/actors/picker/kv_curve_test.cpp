// KV events of our own pods over CurveZMQ: a picker with the stack's keys hears them live and
// replayed (the replay ROUTER speaks CURVE too); a plaintext subscriber hears nothing. Real
// sockets on 127.0.0.1; every wait is bounded.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "actors/picker/kv_subscriber.hpp"
#include "actors/pod/kv_publisher.hpp"
#include "runtime/curve_keys.hpp"
#include "tests/actors/picker/kv_heard.hpp"

using namespace inferstack;
using namespace std::chrono_literals;

TEST_CASE("KV events over CurveZMQ reach a picker with the stack's keys, live and replayed") {
  auto dir = std::filesystem::temp_directory_path() /
             ("inferstack-kv-curve-" + std::to_string(std::random_device{}()));
  auto pod_keys = runtime::curve_settings_from_dir(dir.string(), "pod");
  auto picker_keys = runtime::curve_settings_from_dir(dir.string(), "picker");

  actors::pod::kv_publisher_settings ps{"tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 1000, true};
  ps.curve = pod_keys;
  actors::pod::kv_publisher publisher{ps};

  // Published before anyone listens: the picker hears of them only through the replay.
  uint64_t seq = 0;
  for (; seq < 5; ++seq)
    publisher.publish({"kv@pod-a@m", seq, "batch"});

  testing::kv_heard secure, plain;
  actors::picker::kv_subscriber_settings ss;
  ss.curve = picker_keys;
  actors::picker::kv_subscriber picker{ss, secure.sink()};
  picker.set_replay("pod-a", publisher.bound_replay_endpoint(), true);
  picker.connect(publisher.bound_endpoint(), true);
  actors::picker::kv_subscriber stranger{{}, plain.sink()};
  stranger.set_replay("pod-a", publisher.bound_replay_endpoint(), false);
  stranger.connect(publisher.bound_endpoint(), false);

  // PUB/SUB joins take a moment: what the picker missed before joining comes from the replay
  // ROUTER (asked at once, and at a gap, which the next event shows). So publish until it has
  // heard everything, a burst, and again until it has heard everything.
  auto publish_until_all_heard = [&] {
    for (int i = 0; i < 200 && secure.count() < seq; ++i) {
      publisher.publish({"kv@pod-a@m", seq++, "batch"});
      secure.wait_for(seq, 10ms);
    }
  };
  publish_until_all_heard();
  for (int i = 0; i < 20; ++i)
    publisher.publish({"kv@pod-a@m", seq++, "batch"});
  publish_until_all_heard();
  CHECK(secure.wait_for(seq, 5s));
  {
    std::lock_guard guard{secure.mutex};
    std::vector<uint64_t> expected(seq);
    for (uint64_t i = 0; i < seq; ++i)
      expected[i] = i;
    CHECK(secure.seqs == expected);
  }
  CHECK(picker.replays() >= 1);
  CHECK(plain.count() == 0);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
