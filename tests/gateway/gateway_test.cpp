// The gateway in one process with its authorizer and router actors: requests are decided with
// the views the actors publish, and once an actor has ended (its view withdrawn) the gateway
// asks it, hears that it is gone, and answers with the KAITO stack's 502.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/authorizer/authorizer_actor.hpp"
#include "actors/picker/picker_actor.hpp"
#include "actors/router/router_actor.hpp"
#include "gateway/gateway.hpp"
#include "openai/api_error.hpp"
#include "protocol/registration.hpp"
#include "runtime/actor_system_setup.hpp"
#include "runtime/http/http_server.hpp"
#include "runtime/metrics.hpp"
#include "tests/gateway/team_a_keys.hpp"

using namespace inferstack;
namespace bhttp = boost::beast::http;

namespace {

struct answer {
  int status = 0;
  std::string body;
  std::string error_source;  ///< x-kaito-error-source
  std::string pod;           ///< x-inference-pod
};

answer post_completion(uint16_t port, const std::string& key,
                       const std::string& model = "no-such-model") {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/v1/completions", 11};
  req.set(bhttp::field::host, "team-a.gw.example.com");
  req.set(bhttp::field::authorization, "Bearer " + key);
  req.set(bhttp::field::content_type, "application/json");
  req.body() = R"({"model":")" + model + R"(","prompt":"hi"})";
  req.prepare_payload();
  bhttp::write(socket, req);
  boost::beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(socket, buffer, res);
  return {static_cast<int>(res.result_int()), res.body(), std::string(res["x-kaito-error-source"]),
          std::string(res["x-inference-pod"])};
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

/// What a gateway decides with: an authorizer that knows team-a's key sk-a and a router with
/// the given routes, both publishing their views, on an actor system with two I/O threads.
struct decision_actors {
  explicit decision_actors(actors::router::route_set routes = {}) {
    auto keys = testing::team_a_keys();
    authorizer =
        actors::authorizer::spawn_authorizer(sys, keys, *registry, nullptr, authorizer_view);
    router =
        actors::router::spawn_router(sys, std::move(routes), 1, *registry, nullptr, router_view);
  }

  /// A gateway on a free port of 127.0.0.1, started once both views are published.
  std::unique_ptr<gateway::gateway> start_gateway(std::shared_ptr<gateway::pool_directory> pools,
                                                  gateway::gateway_settings settings = {}) {
    settings.port = 0;
    gateway::gateway_dependencies deps;
    deps.system = &sys;
    deps.authorizer = authorizer;
    deps.router = router;
    deps.authorizer_view = authorizer_view;
    deps.router_view = router_view;
    deps.pools = std::move(pools);
    deps.registry = registry;
    auto gw = std::make_unique<gateway::gateway>(settings, deps);
    gw->start();
    REQUIRE(published_is(authorizer_view, true));
    REQUIRE(published_is(router_view, true));
    return gw;
  }

  runtime::system_config cfg{protocol::register_messages, runtime::scheduling::io_threads, 2};
  caf::actor_system sys{cfg};
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<actors::authorizer::published_authorizer> authorizer_view =
      std::make_shared<actors::authorizer::published_authorizer>();
  std::shared_ptr<actors::router::published_router> router_view =
      std::make_shared<actors::router::published_router>();
  actors::authorizer::authorizer_actor authorizer;
  actors::router::router_actor router;
};

/// Routes for model m in team-a to the pool team-a/http.
actors::router::route_set model_m_routes() {
  actors::router::route_set routes;
  routes.routes.push_back({"team-a", "routes", "m", "", "", "", {{"team-a", "http", 1}}});
  return routes;
}

/// The pool team-a/http of one member, picked by `picker` (and `direct` on the request's thread).
gateway::pool_entry http_pool_entry(const actors::picker::picker_impl_actor& picker,
                                    std::shared_ptr<actors::picker::direct_picker> direct,
                                    const actors::picker::pool_member& member,
                                    std::string failure_mode = "FailClose") {
  gateway::pool_entry entry;
  entry.ns = "team-a";
  entry.name = "http";
  entry.replicas = gateway::single_replica(caf::actor_cast<actors::picker::picker_actor>(picker));
  entry.direct = std::move(direct);
  entry.failure_mode = std::move(failure_mode);
  entry.members = {member};
  return entry;
}

/// A model server's listener: its own errors in OpenAI's form, as a pod's are.
http::server_settings model_server_settings() {
  http::server_settings s;
  s.error_body = openai::error_body;
  return s;
}

}  // namespace

TEST_CASE(
    "the gateway decides with the published views, and answers 502 once the router or the "
    "authorizer has ended") {
  decision_actors deciders;
  auto gw = deciders.start_gateway(std::make_shared<gateway::pool_directory>());

  // Decided with the views: a wrong key is refused, a known key reaches the router, which has
  // no route for the model.
  auto refused = post_completion(gw->port(), "sk-wrong");
  CHECK(refused.status == 401);
  CHECK(refused.body.find("invalid_api_key") != std::string::npos);
  auto unrouted = post_completion(gw->port(), "sk-a");
  CHECK(unrouted.status == 404);
  CHECK(unrouted.body.find("model_not_found") != std::string::npos);

  // The router ends: its view is withdrawn, the gateway asks it and hears it is gone.
  caf::anon_send_exit(deciders.router, caf::exit_reason::kill);
  REQUIRE(published_is(deciders.router_view, false));
  auto no_router = post_completion(gw->port(), "sk-a");
  CHECK(no_router.status == 502);
  CHECK(no_router.body.find("bbr_unavailable") != std::string::npos);
  CHECK(no_router.error_source == "bbr");

  // The same for the authorizer, which runs first.
  caf::anon_send_exit(deciders.authorizer, caf::exit_reason::kill);
  REQUIRE(published_is(deciders.authorizer_view, false));
  auto no_authorizer = post_completion(gw->port(), "sk-a");
  CHECK(no_authorizer.status == 502);
  CHECK(no_authorizer.body.find("ext_authz_unavailable") != std::string::npos);
  CHECK(no_authorizer.error_source == "authz");

  gw->stop(std::chrono::seconds(0));
}

TEST_CASE(
    "a pool of model servers over HTTP is picked for on the request's thread, and once its picker "
    "has ended the pool's failure mode answers") {
  decision_actors deciders(model_m_routes());
  auto& sys = deciders.sys;

  // The model server: answers every completion, and tells which model the gateway named.
  std::atomic<int> served{0};
  std::string routed_model, destination;
  auto us = model_server_settings();
  http::server upstream(us, [&](std::shared_ptr<http::exchange> ex) {
    routed_model = std::string(http::to_std(ex->req()["X-Gateway-Model-Name"]));
    destination = std::string(http::to_std(ex->req()["x-gateway-destination-endpoint"]));
    served++;
    ex->respond(http::status::ok, R"({"id":"cmpl-1","object":"text_completion"})",
                "application/json");
  });
  upstream.start();
  auto url = "http://127.0.0.1:" + std::to_string(upstream.port());

  actors::picker::picker_settings ps;
  ps.pool = "team-a/http";
  auto direct = std::make_shared<actors::picker::direct_picker>();
  auto picker = actors::picker::spawn_picker(sys, ps, {deciders.registry, nullptr, direct});
  actors::picker::pool_member member{"up-0", url, "127.0.0.1:1", {}, true, false, {}, {}, {}};
  {
    // From one sender: the membership is applied before the probe pick is answered.
    caf::scoped_actor self{sys};
    self->send(picker, actors::picker::pool_membership{"team-a/http", {member}});
    actors::picker::choose_pod probe;
    probe.request_id = "probe";
    probe.model = "m";
    bool ready = false;
    self->request(caf::actor_cast<actors::picker::picker_actor>(picker), std::chrono::seconds(5),
                  probe)
        .receive([&](actors::picker::chosen_pod&) { ready = true; }, [](caf::error&) {});
    REQUIRE(ready);
    REQUIRE(direct->done({"probe", "up-0", 0, 0, true}));
  }

  auto pools = std::make_shared<gateway::pool_directory>();
  auto entry = http_pool_entry(picker, direct, member);
  pools->set(entry);
  auto gw = deciders.start_gateway(pools);

  auto ok = post_completion(gw->port(), "sk-a", "m");
  CHECK(ok.status == 200);
  CHECK(ok.pod == "up-0");
  CHECK(ok.body.find("cmpl-1") != std::string::npos);
  // The endpoint picked, named to the model server as llm-d-router's EPP names it.
  CHECK(destination == "127.0.0.1:" + std::to_string(upstream.port()));
  CHECK(served == 1);
  CHECK(routed_model == "m");
  // Refusals are still answered (by the actor the request is handed to).
  CHECK(post_completion(gw->port(), "sk-wrong", "m").status == 401);
  CHECK(post_completion(gw->port(), "sk-a", "other").status == 404);
  CHECK(served == 1);

  // The picker ends: the direct handle closes, the gateway asks the actor, hears it is gone,
  // and FailClose answers 503 gateway_not_programmed.
  caf::anon_send_exit(picker, caf::exit_reason::kill);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (direct->choose({}) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE_FALSE(direct->choose({}));
  auto closed = post_completion(gw->port(), "sk-a", "m");
  CHECK(closed.status == 503);
  CHECK(closed.body.find("gateway_not_programmed") != std::string::npos);
  CHECK(served == 1);

  // FailOpen: any Ready member of the pool, without the picker.
  entry.failure_mode = "FailOpen";
  pools->set(entry);
  auto open = post_completion(gw->port(), "sk-a", "m");
  CHECK(open.status == 200);
  CHECK(open.pod == "up-0");
  CHECK(served == 2);

  gw->stop(std::chrono::seconds(0));
  upstream.stop();
}

TEST_CASE(
    "a picker that does not know its pool yet counts as unavailable: FailOpen serves a member the "
    "gateway knows instead of 503") {
  decision_actors deciders(model_m_routes());
  auto& sys = deciders.sys;

  std::atomic<int> served{0};
  auto us = model_server_settings();
  http::server upstream(us, [&](std::shared_ptr<http::exchange> ex) {
    served++;
    ex->respond(http::status::ok, R"({"id":"cmpl-1","object":"text_completion"})",
                "application/json");
  });
  upstream.start();
  auto url = "http://127.0.0.1:" + std::to_string(upstream.port());
  actors::picker::pool_member member{"up-0", url, "127.0.0.1:1", {}, true, false, {}, {}, {}};

  // A restarted picker process: no membership has reached it yet.
  actors::picker::picker_settings ps;
  ps.pool = "team-a/http";
  ps.await_membership = true;
  auto direct = std::make_shared<actors::picker::direct_picker>();
  auto picker = actors::picker::spawn_picker(sys, ps, {deciders.registry, nullptr, direct});

  // The gateway knows the pool's members from the control process.
  auto pools = std::make_shared<gateway::pool_directory>();
  auto entry = http_pool_entry(picker, direct, member, "FailOpen");
  pools->set(entry);
  auto gw = deciders.start_gateway(pools);

  // Picked on the request's thread (the direct picker) and through the actor (a picker in
  // another process): both refuse, and the request goes to the member the gateway knows.
  auto inline_pick = post_completion(gw->port(), "sk-a", "m");
  CHECK(inline_pick.status == 200);
  CHECK(inline_pick.pod == "up-0");
  entry.direct = nullptr;
  pools->set(entry);
  auto actor_pick = post_completion(gw->port(), "sk-a", "m");
  CHECK(actor_pick.status == 200);
  CHECK(actor_pick.pod == "up-0");
  CHECK(served == 2);

  // FailClose: unavailable, as when the picker is down (not "no ready endpoint").
  entry.failure_mode = "FailClose";
  pools->set(entry);
  auto closed = post_completion(gw->port(), "sk-a", "m");
  CHECK(closed.status == 503);
  CHECK(closed.body.find("gateway_not_programmed") != std::string::npos);
  CHECK(served == 2);

  gw->stop(std::chrono::seconds(0));
  upstream.stop();
  caf::anon_send_exit(picker, caf::exit_reason::kill);
}

namespace {

struct exchange_result {
  int status = 0;
  std::string body;
  bhttp::response<bhttp::string_body> res;
};

/// One POST with the given Host, headers and body.
exchange_result post(uint16_t port, const std::string& host, const std::string& body,
                     const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/v1/completions", 11};
  req.set(bhttp::field::host, host);
  req.set(bhttp::field::content_type, "application/json");
  for (const auto& [name, value] : headers)
    req.set(name, value);
  req.body() = body;
  req.prepare_payload();
  bhttp::write(socket, req);
  boost::beast::flat_buffer buffer;
  exchange_result out;
  bhttp::read(socket, buffer, out.res);
  out.status = static_cast<int>(out.res.result_int());
  out.body = out.res.body();
  return out;
}

/// The distinct values of `label` in the registry's text output.
std::set<std::string> label_values(prometheus::Registry& registry, const std::string& label) {
  std::set<std::string> out;
  auto text = runtime::render_metrics(registry);
  auto key = label + "=\"";
  for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + 1)) {
    auto start = at + key.size();
    out.insert(text.substr(start, text.find('"', start) - start));
  }
  return out;
}

/// A model server over HTTP in a pool `team-a/http` for model m, picked by a direct picker.
struct http_pool {
  explicit http_pool(decision_actors& deciders) {
    upstream.start();
    auto url = "http://127.0.0.1:" + std::to_string(upstream.port());
    actors::picker::picker_settings ps;
    ps.pool = "team-a/http";
    auto direct = std::make_shared<actors::picker::direct_picker>();
    picker = actors::picker::spawn_picker(deciders.sys, ps, {deciders.registry, nullptr, direct});
    actors::picker::pool_member member{"up-0", url, "127.0.0.1:1", {}, true, false, {}, {}, {}};
    caf::anon_send(picker, actors::picker::pool_membership{"team-a/http", {member}});
    // FailOpen: the picker may not have the membership yet.
    pools->set(http_pool_entry(picker, direct, member, "FailOpen"));
  }
  ~http_pool() {
    upstream.stop();
    caf::anon_send_exit(picker, caf::exit_reason::kill);
  }

  std::mutex mutex;
  std::vector<std::string> return_errors;  ///< the X-Return-Error each request arrived with
  http::server upstream{model_server_settings(), [this](std::shared_ptr<http::exchange> ex) {
                          std::lock_guard guard{mutex};
                          return_errors.emplace_back(http::to_std(ex->req()["x-return-error"]));
                          ex->respond(http::status::ok, R"({"id":"cmpl-1"})", "application/json");
                        }};
  actors::picker::picker_impl_actor picker;
  std::shared_ptr<gateway::pool_directory> pools = std::make_shared<gateway::pool_directory>();
};

}  // namespace

TEST_CASE(
    "made-up Hosts, keys and models leave the gateway's metrics bounded: unknown namespaces "
    "count as one label") {
  decision_actors deciders(model_m_routes());
  http_pool pool(deciders);
  auto gw = deciders.start_gateway(pool.pools);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 300; ++i) {
    auto n = std::to_string(rng());
    auto host = (i % 2 ? "team-a" : "ns" + n) + std::string(".gw.example.com");
    auto key = i % 3 == 0 ? "sk-a" : "sk-" + n;
    post(gw->port(), host, R"({"model":"model-)" + n + R"(","prompt":"x"})",
         {{"authorization", "Bearer " + key}, {"x-return-error", n}});
  }
  CHECK(post(gw->port(), "team-a.gw.example.com", R"({"model":"m","prompt":"x"})",
             {{"authorization", "Bearer sk-a"}})
            .status == 200);
  auto namespaces = label_values(*deciders.registry, "namespace");
  CHECK(namespaces == std::set<std::string>{"<unknown>", "team-a"});
  // The gateway's series name only routed models (a refused request counts as <unknown>).
  auto models = label_values(*deciders.registry, "model");
  CHECK(models.size() <= 2);
  CHECK(label_values(*deciders.registry, "code").size() <= 3);
  gw->stop(std::chrono::seconds(0));
}

TEST_CASE(
    "X-Return-Error from a client reaches model servers only when the operator forwards fault "
    "injection, and then only as a 400-599 status") {
  decision_actors deciders(model_m_routes());
  http_pool pool(deciders);
  const std::string body = R"({"model":"m","prompt":"x"})";
  auto with = [](const std::string& code) {
    return std::vector<std::pair<std::string, std::string>>{{"authorization", "Bearer sk-a"},
                                                            {"x-return-error", code}};
  };
  {
    auto gw = deciders.start_gateway(pool.pools);
    CHECK(post(gw->port(), "team-a.gw.example.com", body, with("503")).status == 200);
    CHECK(post(gw->port(), "team-a.gw.example.com", body, with("1000")).status == 200);
    gw->stop(std::chrono::seconds(0));
    std::lock_guard guard{pool.mutex};
    CHECK(pool.return_errors == std::vector<std::string>{"", ""});
    pool.return_errors.clear();
  }
  gateway::gateway_settings forwarding;
  forwarding.forward_fault_injection = true;
  auto gw = deciders.start_gateway(pool.pools, forwarding);
  CHECK(post(gw->port(), "team-a.gw.example.com", body, with("503")).status == 200);
  for (const auto* bad : {"1000", "99", "65536", "200", "abc", "-5"}) {
    auto refused = post(gw->port(), "team-a.gw.example.com", body, with(bad));
    CHECK(refused.status == 400);
    CHECK(refused.body.find(R"("param":"x-return-error")") != std::string::npos);
  }
  gw->stop(std::chrono::seconds(0));
  std::lock_guard guard{pool.mutex};
  CHECK(pool.return_errors == std::vector<std::string>{"503"});
}

TEST_CASE(
    "the router's refusals: 404 model_not_found names bbr as its source, a body without a model "
    "has a code, a JSON parse error is worded once") {
  decision_actors deciders(model_m_routes());
  auto gw = deciders.start_gateway(std::make_shared<gateway::pool_directory>());
  const std::vector<std::pair<std::string, std::string>> key{{"authorization", "Bearer sk-a"}};
  auto unknown = post(gw->port(), "team-a.gw.example.com", R"({"model":"nope","prompt":"x"})", key);
  CHECK(unknown.status == 404);
  CHECK(unknown.res["x-kaito-error-source"] == "bbr");
  auto no_model = post(gw->port(), "team-a.gw.example.com", R"({"prompt":"x"})", key);
  CHECK(no_model.status == 400);
  CHECK(no_model.body.find(R"("param":"model")") != std::string::npos);
  CHECK(no_model.body.find(R"("code":null)") == std::string::npos);
  auto garbage = post(gw->port(), "team-a.gw.example.com", "{not json", key);
  CHECK(garbage.status == 400);
  auto first = garbage.body.find("could not parse");
  REQUIRE(first != std::string::npos);
  CHECK(garbage.body.find("could not parse", first + 1) == std::string::npos);
  CHECK(std::count(garbage.body.begin(), garbage.body.end(), '(') == 1);
  gw->stop(std::chrono::seconds(0));
}

TEST_CASE("a Host names its namespace case-insensitively: LOCALHOST is localhost") {
  CHECK(gateway::namespace_of("LOCALHOST", "dflt") == "dflt");
  CHECK(gateway::namespace_of("LocalHost:8080", "dflt") == "dflt");
  CHECK(gateway::namespace_of("Team-A.GW.example.com", "dflt") == "team-a");
  CHECK(gateway::namespace_of(".gw.example.com", "dflt") == "dflt");
  CHECK(gateway::namespace_of("127.0.0.1:80", "dflt") == "dflt");
}

TEST_CASE("a client's X-Request-Id is adopted only as a short plain token") {
  CHECK(gateway::acceptable_request_id("my-request-7"));
  CHECK(gateway::acceptable_request_id("3f2a9c1e-0b7d-4e55-9a61-0c2f8d7e6b10"));
  CHECK_FALSE(gateway::acceptable_request_id(""));
  CHECK_FALSE(gateway::acceptable_request_id(std::string(30000, 'x')));
  CHECK_FALSE(gateway::acceptable_request_id(std::string(gateway::max_request_id_length + 1, 'x')));
  CHECK(gateway::acceptable_request_id(std::string(gateway::max_request_id_length, 'x')));
  CHECK_FALSE(gateway::acceptable_request_id("a b"));
  CHECK_FALSE(gateway::acceptable_request_id("evil\"quote"));
}
