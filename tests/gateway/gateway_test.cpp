// The gateway in one process with its authorizer and router actors: requests are decided with
// the views the actors publish, and once an actor has ended (its view withdrawn) the gateway
// asks it, hears that it is gone, and answers with the KAITO stack's 502.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include "actors/authorizer/authorizer_actor.hpp"
#include "actors/authorizer/key_store.hpp"
#include "actors/router/router_actor.hpp"
#include "gateway/gateway.hpp"
#include "runtime/actor_system_setup.hpp"

using namespace inferstack;
namespace bhttp = boost::beast::http;

namespace {

struct answer {
  int status = 0;
  std::string body;
  std::string error_source;  ///< x-kaito-error-source
};

answer post_completion(uint16_t port, const std::string& key) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/v1/completions", 11};
  req.set(bhttp::field::host, "team-a.gw.example.com");
  req.set(bhttp::field::authorization, "Bearer " + key);
  req.set(bhttp::field::content_type, "application/json");
  req.body() = R"({"model":"no-such-model","prompt":"hi"})";
  req.prepare_payload();
  bhttp::write(socket, req);
  boost::beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(socket, buffer, res);
  return {static_cast<int>(res.result_int()), res.body(), std::string(res["x-kaito-error-source"])};
}

/// Waits (bounded) until the view is published (`want`) or withdrawn: actors publish when they
/// start, which is after spawn returns, and withdraw when they end.
template <class View>
bool published_is(const View& view, bool want) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (static_cast<bool>(view->current()) != want && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return static_cast<bool>(view->current()) == want;
}

}  // namespace

TEST_CASE(
    "the gateway decides with the published views, and answers 502 once the router or the "
    "authorizer has ended") {
  runtime::system_config cfg{runtime::scheduling::io_threads, 2};
  caf::actor_system sys{cfg};
  auto registry = std::make_shared<prometheus::Registry>();

  actors::authorizer::key_set keys;
  actors::authorizer::namespace_keys team_a;
  team_a.ns = "team-a";
  team_a.key_digests.push_back(actors::authorizer::to_hex(actors::authorizer::key_digest("sk-a")));
  keys.namespaces.push_back(team_a);
  auto authorizer_view = std::make_shared<actors::authorizer::published_authorizer>();
  auto authorizer =
      actors::authorizer::spawn_authorizer(sys, keys, *registry, nullptr, authorizer_view);
  auto router_view = std::make_shared<actors::router::published_router>();
  auto router = actors::router::spawn_router(sys, {}, 1, *registry, nullptr, router_view);

  gateway::gateway_settings settings;
  settings.port = 0;
  gateway::gateway_dependencies deps;
  deps.system = &sys;
  deps.authorizer = authorizer;
  deps.router = router;
  deps.authorizer_view = authorizer_view;
  deps.router_view = router_view;
  deps.pools = std::make_shared<gateway::pool_directory>();
  deps.registry = registry;
  gateway::gateway gw(settings, deps);
  gw.start();
  REQUIRE(published_is(authorizer_view, true));
  REQUIRE(published_is(router_view, true));

  // Decided with the views: a wrong key is refused, a known key reaches the router, which has
  // no route for the model.
  auto refused = post_completion(gw.port(), "sk-wrong");
  CHECK(refused.status == 401);
  CHECK(refused.body.find("invalid_api_key") != std::string::npos);
  auto unrouted = post_completion(gw.port(), "sk-a");
  CHECK(unrouted.status == 404);
  CHECK(unrouted.body.find("model_not_found") != std::string::npos);

  // The router ends: its view is withdrawn, the gateway asks it and hears it is gone.
  caf::anon_send_exit(router, caf::exit_reason::kill);
  REQUIRE(published_is(router_view, false));
  auto no_router = post_completion(gw.port(), "sk-a");
  CHECK(no_router.status == 502);
  CHECK(no_router.body.find("bbr_unavailable") != std::string::npos);
  CHECK(no_router.error_source == "bbr");

  // The same for the authorizer, which runs first.
  caf::anon_send_exit(authorizer, caf::exit_reason::kill);
  REQUIRE(published_is(authorizer_view, false));
  auto no_authorizer = post_completion(gw.port(), "sk-a");
  CHECK(no_authorizer.status == 502);
  CHECK(no_authorizer.body.find("ext_authz_unavailable") != std::string::npos);
  CHECK(no_authorizer.error_source == "authz");

  gw.stop(std::chrono::seconds(0));
}
