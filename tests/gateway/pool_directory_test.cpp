// The gateway's choice among a pool's picker replicas, as a plain class: which replica a pick
// goes to, which are left out (silent, failed) and when they come back -- time and the
// transport's silence are set by the test.
#include <catch2/catch.hpp>

#include <map>

#include "gateway/deadline_board.hpp"
#include "gateway/pool_directory.hpp"
#include "runtime/errors.hpp"

using namespace inferstack;
using namespace inferstack::gateway;
using namespace std::chrono_literals;
namespace picker = actors::picker;

namespace {

constexpr int64_t ms = 1'000'000;  // nanoseconds

/// Three replicas at tcp://r0, r1, r2 whose silence the test sets (none: just heard).
struct three_replicas {
  three_replicas() {
    std::vector<picker_replica> replicas;
    for (int i = 0; i < 3; ++i)
      replicas.push_back({picker::picker_actor{}, "tcp://r" + std::to_string(i)});
    set = std::make_unique<replica_set>(
        std::move(replicas), replica_policy{}, [this](const std::string& address) {
          auto it = silence.find(address);
          return it == silence.end() ? std::optional<std::chrono::milliseconds>{0ms}
                                     : std::optional{it->second};
        });
  }

  /// Picks answered at once, `n` of them at `now`: how many each replica got.
  std::vector<int> spread(int n, int64_t now) {
    std::vector<int> got(set->size());
    for (int k = 0; k < n; ++k) {
      auto i = set->choose(now, 0);
      REQUIRE(i);
      got[*i]++;
      set->answered(*i);
    }
    return got;
  }

  std::map<std::string, std::chrono::milliseconds> silence;
  std::unique_ptr<replica_set> set;
};

uint64_t bit(size_t i) {
  return uint64_t{1} << i;
}

}  // namespace

TEST_CASE("picker replicas: picks are spread over the healthy replicas in turn") {
  three_replicas r;
  CHECK(r.spread(300, 0) == std::vector<int>{100, 100, 100});
}

TEST_CASE("picker replicas: a pick goes to the replica with the fewest picks outstanding") {
  three_replicas r;
  // Two picks outstanding at one replica, one at another: the third replica is chosen, then
  // the one with one outstanding.
  auto a = r.set->choose(0, 0);
  auto b = r.set->choose(0, 0);
  auto c = r.set->choose(0, 0);
  REQUIRE((a && b && c));
  r.set->answered(*c);
  auto a2 = r.set->choose(0, 0);  // a, b, c all at most one outstanding: c has none
  CHECK(a2 == c);
  r.set->answered(*b);
  CHECK(r.set->outstanding(*a) == 1);
  CHECK(r.set->outstanding(*b) == 0);
  CHECK(r.set->choose(0, 0) == b);
}

TEST_CASE("picker replicas: a request's next attempt goes to a replica it has not asked") {
  three_replicas r;
  auto first = r.set->choose(0, 0);
  REQUIRE(first);
  r.set->failed(*first, 0);
  auto second = r.set->choose(0, bit(*first));
  REQUIRE(second);
  CHECK(*second != *first);
  auto third = r.set->choose(0, bit(*first) | bit(*second));
  REQUIRE(third);
  CHECK(*third != *first);
  CHECK(*third != *second);
  CHECK_FALSE(r.set->choose(0, bit(0) | bit(1) | bit(2)));  // every replica asked
}

TEST_CASE("picker replicas: a replica silent for 200 ms is left out until it is heard again") {
  three_replicas r;
  r.silence["tcp://r1"] = 150ms;  // one heartbeat late: still in
  CHECK(r.spread(30, 0) == std::vector<int>{10, 10, 10});
  r.silence["tcp://r1"] = 200ms;  // two heartbeats missed: out
  CHECK(r.set->silent(1));
  CHECK_FALSE(r.set->healthy(1, 0));
  CHECK(r.spread(30, 0) == std::vector<int>{15, 0, 15});
  r.silence["tcp://r1"] = 3ms;  // it answers again: back at once
  CHECK(r.spread(30, 0) == std::vector<int>{10, 10, 10});
}

TEST_CASE("picker replicas: a replica that failed a pick is left out 250 ms, then probed") {
  three_replicas r;
  auto i = r.set->choose(0, 0);
  REQUIRE(i);
  r.set->failed(*i, 10 * ms);
  CHECK_FALSE(r.set->healthy(*i, 10 * ms));
  auto got = r.spread(20, 100 * ms);
  CHECK(got[*i] == 0);
  CHECK(got[(*i + 1) % 3] == 10);
  CHECK_FALSE(r.set->healthy(*i, 259 * ms));
  CHECK(r.set->healthy(*i, 260 * ms));  // its suspension is over: picks go there again
  got = r.spread(30, 260 * ms);
  CHECK(got[*i] == 10);
}

TEST_CASE(
    "picker replicas: with none healthy, the replica whose suspension ends first is probed, "
    "but never a silent one") {
  three_replicas r;
  r.set->choose(0, 0);
  r.set->choose(0, 0);
  r.set->choose(0, 0);
  r.set->failed(0, 30 * ms);
  r.set->failed(1, 10 * ms);
  r.set->failed(2, 20 * ms);
  CHECK(r.set->choose(40 * ms, 0) == size_t{1});
  r.set->answered(1);  // it answered: healthy again
  CHECK(r.set->healthy(1, 40 * ms));
  r.set->failed(1, 50 * ms);
  r.silence["tcp://r2"] = 1s;
  CHECK(r.set->choose(60 * ms, 0) == size_t{0});  // r2 would end sooner, but is silent
  r.set->failed(0, 60 * ms);
  r.silence["tcp://r0"] = 1s;
  r.silence["tcp://r1"] = 1s;
  CHECK_FALSE(r.set->choose(60 * ms, 0));  // all silent: the pool's failure mode decides
}

TEST_CASE("picker replicas: a pool's one picker is asked whatever its health, as before") {
  auto one = single_replica(picker::picker_actor{}, "tcp://only");
  one->failed(0, 0);
  CHECK(one->choose(1, 0) == size_t{0});
  CHECK_FALSE(one->choose(1, bit(0)));
}

TEST_CASE(
    "picker replicas: unreachable, lost, timed out and not-ready replicas may be replaced, the "
    "picker's own answers stand") {
  CHECK(replica_unavailable(caf::make_error(runtime::transport_errc::peer_unreachable)));
  CHECK(replica_unavailable(caf::make_error(runtime::transport_errc::peer_lost)));
  CHECK(replica_unavailable(caf::make_error(caf::sec::request_timeout)));
  CHECK(replica_unavailable(caf::make_error(picker::picker_errc::not_ready)));
  CHECK_FALSE(replica_unavailable(caf::make_error(picker::picker_errc::no_endpoints)));
  CHECK_FALSE(replica_unavailable(caf::make_error(picker::picker_errc::saturated)));
}

TEST_CASE("picker replicas: a short deadline added after a longer one passes first") {
  deadline_board board;
  deadline_board::time_point t0{};
  board.add(t0 + 500ms, caf::actor{});
  auto short_one = board.add(t0 + 150ms, caf::actor{});
  CHECK(board.expire(t0 + 149ms).empty());
  CHECK(board.expire(t0 + 150ms).size() == 1);
  CHECK(board.size() == 1);
  board.remove(short_one);  // already gone: no effect
  CHECK(board.size() == 1);
  CHECK(board.expire(t0 + 500ms).size() == 1);
  CHECK(board.size() == 0);
}
