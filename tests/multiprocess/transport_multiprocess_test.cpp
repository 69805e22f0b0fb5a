// Two inferstack processes over ZeroMQ on 127.0.0.1: a probe node and a ping client. They
// exchange requests, replies and a 10,000-message stream; the probe is killed and restarted
// while the client keeps pinging; a request to a dead peer errors within its timeout.
#include <catch2/catch.hpp>

#include <csignal>

#include <nlohmann/json.hpp>

#include "tests/support/child_process.hpp"

using inferstack::testing::child_process;
using namespace std::chrono_literals;

namespace {

std::string endpoint(int port) {
  return "tcp://127.0.0.1:" + std::to_string(port);
}

std::unique_ptr<child_process> start_probe(int port) {
  auto probe = std::make_unique<child_process>(
      std::vector<std::string>{INFERSTACK_BINARY, "run", "probe", "--name", "b", "--listen",
                               endpoint(port), "--log-level", "warn"});
  REQUIRE(probe->wait_for_line("listening on", 10s));
  return probe;
}

nlohmann::json summary(child_process& client) {
  auto line = client.wait_for_line("{\"requests_ok\"", 30s);
  REQUIRE(line);
  return nlohmann::json::parse(*line);
}

}  // namespace

TEST_CASE("two processes exchange requests, replies and a stream of 10,000 messages") {
  int port = inferstack::testing::free_port();
  auto probe = start_probe(port);
  child_process client({INFERSTACK_BINARY, "ping", endpoint(port), "--requests", "200", "--stream",
                        "10000", "--timeout", "5000"});
  auto result = summary(client);
  INFO(result.dump());
  CHECK(client.wait(30s) == 0);
  CHECK(result["requests_ok"] == 200);
  CHECK(result["requests_failed"] == 0);
  CHECK(result["stream_items"] == 10000);
  CHECK(result["stream_in_order"] == true);
  probe->signal(SIGTERM);
  CHECK(probe->wait(10s) == 0);  // graceful shutdown on SIGTERM
}

TEST_CASE("killing and restarting one side resumes traffic and nothing hangs") {
  int port = inferstack::testing::free_port();
  auto probe = start_probe(port);
  // Steady pings for 6 s with a 500 ms request timeout.
  child_process client({INFERSTACK_BINARY, "ping", endpoint(port), "--requests", "5", "--for", "6",
                        "--interval", "50", "--timeout", "500"});
  REQUIRE(client.wait_for_line("state: ok", 10s));
  probe->kill();
  REQUIRE(client.wait_for_line("state: failing", 10s));
  probe = start_probe(port);
  REQUIRE(client.wait_for_line("state: ok", 10s));
  auto result = summary(client);
  INFO(result.dump());
  CHECK(client.wait(30s) == 0);
  CHECK(result["loop_ok"].get<int>() > 20);     // before the kill and after the restart
  CHECK(result["loop_failed"].get<int>() > 0);  // during the outage
  CHECK(result["recoveries"].get<int>() >= 1);  // traffic resumed
  CHECK(result["ends_healthy"] == true);
  // every failure was an error within the request timeout (plus scheduling slack), never a hang
  CHECK(result["max_error_ms"].get<double>() < 500 + 250);
}

TEST_CASE("a request to a dead peer errors within its timeout") {
  int port = inferstack::testing::free_port();  // nobody listens here
  auto t0 = std::chrono::steady_clock::now();
  child_process client(
      {INFERSTACK_BINARY, "ping", endpoint(port), "--requests", "3", "--timeout", "800"});
  auto result = summary(client);
  INFO(result.dump());
  CHECK(client.wait(10s) == 1);
  CHECK(result["requests_ok"] == 0);
  CHECK(result["requests_failed"] == 3);
  CHECK(result["max_error_ms"].get<double>() < 800 + 250);
  CHECK(std::string(result["last_error"]).find("peer_unreachable") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
}
