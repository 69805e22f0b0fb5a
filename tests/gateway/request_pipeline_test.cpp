// The gateway's request pipeline driven by a virtual client in virtual time: requests enter
// through request_pipeline::handle (what the HTTP server calls, minus the sockets), simulated
// pods answer on CAF's deterministic scheduler, and the test moves the clock. This is the seam
// `inferstack simulate` builds on.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <boost/asio/io_context.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/authorizer/authorizer_actor.hpp"
#include "actors/pod/pod_actor.hpp"
#include "actors/router/router_actor.hpp"
#include "gateway/request_pipeline.hpp"
#include "runtime/local_transport.hpp"
#include "runtime/metrics.hpp"
#include "tests/gateway/team_a_keys.hpp"
#include "tests/support/caf_fixture.hpp"

using namespace inferstack;
using namespace std::chrono_literals;
namespace picker = actors::picker;
namespace pod = actors::pod;

namespace {

/// The options of each simulated pod (llm-d-inference-sim's flags).
using pod_options = std::map<std::string, std::string>;

/// A client's side of one exchange, in virtual time: what it got, and when.
class virtual_exchange : public http::exchange {
 public:
  using time_point = caf::actor_clock::time_point;

  virtual_exchange(http::request req, caf::actor_system& sys, boost::asio::io_context& io)
      : req_(std::move(req)), sys_(sys), io_(io) {}

  const http::request& req() const override { return req_; }
  std::string remote_address() const override { return "virtual"; }
  boost::asio::any_io_executor executor() const override { return io_.get_executor(); }

  void respond(http::status code, std::string body, std::string content_type,
               http::header_list extra) override {
    if (answered()) return;
    head(code, std::move(content_type), std::move(extra));
    this->body += body;
    ended = sys_.clock().now();
  }
  void respond_now(http::status code, std::string_view body, std::string_view content_type,
                   std::initializer_list<http::header_view> extra) override {
    http::header_list copied;
    for (const auto& [name, value] : extra)
      copied.emplace_back(name, value);
    respond(code, std::string(body), std::string(content_type), std::move(copied));
  }
  void start_stream(http::status code, std::string content_type, http::header_list extra) override {
    if (!answered()) head(code, std::move(content_type), std::move(extra));
  }
  bool write(std::string chunk, std::function<void()> on_written) override {
    if (ended) return false;
    if (!first_chunk) first_chunk = sys_.clock().now();
    body += chunk;
    if (on_written) on_written();  // the virtual client reads at once
    return true;
  }
  void finish() override {
    if (!ended) ended = sys_.clock().now();
  }
  void abort() override { finish(); }
  void on_abort(std::function<void()> callback) override { abort_callback = std::move(callback); }
  bool aborted() const override { return false; }
  size_t queued_bytes() const override { return 0; }

  std::string header(const std::string& name) const {
    for (const auto& [n, v] : headers)
      if (n == name) return v;
    return {};
  }

  int status = 0;
  std::string content_type;
  http::header_list headers;
  std::string body;
  std::optional<time_point> first_chunk;
  std::optional<time_point> ended;
  std::function<void()> abort_callback;

 private:
  bool answered() const { return status != 0; }
  void head(http::status code, std::string type, http::header_list extra) {
    status = static_cast<int>(code);
    content_type = std::move(type);
    headers = std::move(extra);
  }

  http::request req_;
  caf::actor_system& sys_;
  boost::asio::io_context& io_;
};

/// A picker that picks the pods in the order given, skipping the ones tried.
picker::picker_actor::behavior_type ordered_picker(std::vector<std::string> order) {
  return {
      [order](const picker::choose_pod& req) -> caf::result<picker::chosen_pod> {
        for (const auto& name : order)
          if (std::find(req.exclude.begin(), req.exclude.end(), name) == req.exclude.end())
            return picker::chosen_pod{name, "actor:" + name, {}, {}};
        return caf::make_error(picker::picker_errc::no_endpoints, "all tried");
      },
      [](const picker::request_done&) {},
      [](const picker::pool_membership&) {},
      [](const picker::cancel_pick&) {},
  };
}

/// A gateway pipeline on the deterministic scheduler: team-a's key sk-a, model m routed to the
/// pool team-a/pods of simulated pods (pod-0, pod-1, ... picked in that order).
struct virtual_gateway : testing::caf_fixture {
  explicit virtual_gateway(const std::vector<pod_options>& pods,
                           gateway::gateway_settings settings = {}) {
    auto keys = testing::team_a_keys();
    auto authorizer =
        actors::authorizer::spawn_authorizer(sys, keys, *registry, nullptr, authorizer_view);
    actors::router::route_set routes;
    routes.routes.push_back({"team-a", "routes", "m", "", "", "", {{"team-a", "pods", 1}}});
    router = actors::router::spawn_router(sys, routes, 1, *registry, nullptr, router_view);

    std::vector<std::string> names;
    pool.ns = "team-a";
    pool.name = "pods";
    for (size_t i = 0; i < pods.size(); ++i) {
      auto name = "pod-" + std::to_string(i);
      auto options = pods[i];
      options.emplace("model", "m");
      bool ready = options.erase("not-ready") == 0;
      pod::pod_settings ps;
      auto problems = pod::apply_pod_options(ps, options);
      for (auto& p : pod::finish_pod_settings(ps))
        problems.push_back(p);
      for (auto& p : problems)
        FAIL(p);
      pod::pod_dependencies pd;
      pd.registry = std::make_shared<prometheus::Registry>();
      pd.start_ready = ready;
      transport.expose(name, caf::actor_cast<caf::actor>(pod::spawn_pod(sys, ps, pd)));
      names.push_back(name);
      pool.members.push_back({name, "actor:" + name, "10.0.0.1:8000", {}, true, false, {}, {}, {}});
    }
    pool.replicas = gateway::single_replica(sys.spawn(ordered_picker, names));
    pools->set(pool);

    gateway::gateway_dependencies deps;
    deps.system = &sys;
    deps.transport = &transport;
    deps.authorizer = authorizer;
    deps.router = router;
    deps.authorizer_view = authorizer_view;
    deps.router_view = router_view;
    deps.pools = pools;
    deps.registry = registry;
    pipeline = std::make_unique<gateway::request_pipeline>(settings, deps);
    pipeline->start();
    run();  // the actors start and publish their views
    REQUIRE(authorizer_view->current());
    REQUIRE(router_view->current());
  }

  ~virtual_gateway() override { pipeline->stop(); }

  /// A virtual client's request to team-a.
  std::shared_ptr<virtual_exchange> send(boost::beast::http::verb method, const char* path,
                                         const std::string& body, const std::string& key = "sk-a") {
    http::request req{method, path, 11};
    req.set(boost::beast::http::field::host, "team-a.gw.example.com");
    req.set(boost::beast::http::field::authorization, "Bearer " + key);
    req.body() = body;
    auto ex = std::make_shared<virtual_exchange>(std::move(req), sys, io);
    pipeline->handle(ex);
    return ex;
  }
  std::shared_ptr<virtual_exchange> post(const std::string& body) {
    return send(boost::beast::http::verb::post, "/v1/completions", body);
  }

  /// Moves virtual time on until the exchange has ended (at most `limit`).
  bool until_ended(const virtual_exchange& ex, caf::timespan limit = 60s) {
    return advance_until([&] { return ex.ended.has_value(); }, limit);
  }

  /// A counter's value, or a histogram's sample count (`sum`: the sum of its samples).
  double metric(const std::string& name, bool sum = false) {
    double total = 0;
    for (const auto& f : registry->Collect()) {
      if (f.name != name) continue;
      for (const auto& m : f.metric) {
        if (f.type == prometheus::MetricType::Counter)
          total += m.counter.value;
        else
          total += sum ? m.histogram.sample_sum : static_cast<double>(m.histogram.sample_count);
      }
    }
    return total;
  }

  boost::asio::io_context io;
  runtime::local_transport transport{"virtual"};
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<actors::authorizer::published_authorizer> authorizer_view =
      std::make_shared<actors::authorizer::published_authorizer>();
  std::shared_ptr<actors::router::published_router> router_view =
      std::make_shared<actors::router::published_router>();
  actors::router::router_actor router;
  std::unique_ptr<gateway::request_pipeline> pipeline;
  /// The pool team-a/pods as set at the start (tests may give it other pickers).
  gateway::pool_entry pool;
  std::shared_ptr<gateway::pool_directory> pools = std::make_shared<gateway::pool_directory>();
};

}  // namespace

TEST_CASE(
    "a virtual client's streamed request goes through the pipeline in virtual time, its first "
    "token at the pod's time to first token") {
  pod_options echo{
      {"mode", "echo"}, {"time-to-first-token", "200ms"}, {"inter-token-latency", "10ms"}};
  virtual_gateway gw({echo});
  auto start = gw.now();
  auto ex = gw.post(R"({"model":"m","prompt":"one two three four","max_tokens":4,"stream":true})");
  REQUIRE(gw.until_ended(*ex));
  CHECK(ex->status == 200);
  CHECK(ex->content_type.rfind("text/event-stream", 0) == 0);
  CHECK(ex->header("x-inference-pod") == "pod-0");
  CHECK(ex->body.find("one") != std::string::npos);
  CHECK(ex->body.find("data: [DONE]") != std::string::npos);
  // Time to first token as the client sees it, and as the gateway measured it: the pod's.
  REQUIRE(ex->first_chunk);
  auto ttft = *ex->first_chunk - start;
  CHECK(ttft >= 200ms);
  CHECK(ttft < 220ms);
  CHECK(*ex->ended - start >= ttft + 30ms);  // three more tokens, 10 ms apart
  CHECK(gw.metric("inferstack_gateway_time_to_first_token_seconds") == 1);
  CHECK(gw.metric("inferstack_gateway_time_to_first_token_seconds", true) ==
        Approx(std::chrono::duration<double>(ttft).count()));
  CHECK(gw.pipeline->in_flight() == 0);
}

TEST_CASE(
    "in virtual time, a pod that is not ready is retried on the next one before the first byte") {
  pod_options loading{{"not-ready", "yes"}};
  pod_options echo{{"mode", "echo"}, {"time-to-first-token", "50ms"}};
  virtual_gateway gw({loading, echo});
  auto start = gw.now();
  auto ex = gw.post(R"({"model":"m","prompt":"hello","max_tokens":1})");
  REQUIRE(gw.until_ended(*ex));
  CHECK(ex->status == 200);
  CHECK(ex->header("x-inference-pod") == "pod-1");
  CHECK(ex->body.find("hello") != std::string::npos);
  CHECK(*ex->ended - start >= 50ms);
  CHECK(gw.metric("inferstack_gateway_retries_total") == 1);
}

TEST_CASE(
    "in virtual time, pods slower than the upstream timeout are tried twice, then 504 at twice "
    "the timeout") {
  gateway::gateway_settings settings;
  settings.upstream_timeout = 1s;
  pod_options slow{{"time-to-first-token", "5s"}};
  virtual_gateway gw({slow, slow}, settings);
  auto start = gw.now();
  auto ex = gw.post(R"({"model":"m","prompt":"hello","max_tokens":1})");
  REQUIRE(gw.until_ended(*ex));
  CHECK(ex->status == 504);
  CHECK(ex->body.find("gateway_internal_error") != std::string::npos);
  CHECK(ex->body.find("pod-1 did not answer within the upstream timeout") != std::string::npos);
  CHECK(*ex->ended - start == 2s);
  CHECK(gw.metric("inferstack_gateway_retries_total") == 1);
  CHECK(gw.pipeline->in_flight() == 0);
}

TEST_CASE("GET /v1/models/{id} answers one model's card, 404 model_not_found for another") {
  using verb = boost::beast::http::verb;
  pod_options echo{{"mode", "echo"}};
  virtual_gateway gw({echo});
  auto one = gw.send(verb::get, "/v1/models/m", "");
  REQUIRE(one->ended);
  CHECK(one->status == 200);
  auto card = nlohmann::json::parse(one->body);
  CHECK(card["id"] == "m");
  CHECK(card["object"] == "model");
  CHECK_FALSE(card.contains("data"));
  auto other = gw.send(verb::get, "/v1/models/not-served", "");
  REQUIRE(other->ended);
  CHECK(other->status == 404);
  CHECK(other->body.find("model_not_found") != std::string::npos);
  auto refused = gw.send(verb::get, "/v1/models/m", "", "sk-wrong");
  REQUIRE(refused->ended);
  CHECK(refused->status == 401);
  auto posted = gw.send(verb::post, "/v1/models/m", "{}");
  REQUIRE(posted->ended);
  CHECK(posted->status == 405);
}

TEST_CASE(
    "GET /v1/models answers from the published views, and asks the actors once the router's view "
    "is withdrawn") {
  using verb = boost::beast::http::verb;
  pod_options echo{{"mode", "echo"}};
  virtual_gateway gw({echo});
  auto listed = gw.send(verb::get, "/v1/models", "");
  REQUIRE(listed->ended);  // answered on the request's own thread, at once
  CHECK(listed->status == 200);
  CHECK(listed->body.find(R"("id":"m")") != std::string::npos);
  CHECK(listed->header("x-request-id") != "");
  auto refused = gw.send(verb::get, "/v1/models", "", "sk-wrong");
  REQUIRE(refused->ended);
  CHECK(refused->status == 401);
  CHECK(refused->header("x-should-retry") == "false");

  caf::anon_send_exit(gw.router, caf::exit_reason::kill);
  gw.run();
  REQUIRE_FALSE(gw.router_view->current());
  auto asked = gw.send(verb::get, "/v1/models", "");
  REQUIRE(gw.until_ended(*asked));
  CHECK(asked->status == 502);
  CHECK(asked->body.find("bbr_unavailable") != std::string::npos);
  CHECK(asked->header("x-kaito-error-source") == "bbr");
}

namespace {

/// What a test picker replica heard: picks answered, request_done and cancel_pick received.
struct replica_log {
  int picks = 0;
  std::vector<std::string> done;  ///< request ids
  std::vector<std::string> cancelled;
};

/// A picker replica that picks pod-0 and logs; `silent`: it never answers a pick (a replica
/// that went silent: killed, stopped, cut off).
picker::picker_actor::behavior_type logging_replica(picker::picker_actor::pointer self,
                                                    std::shared_ptr<replica_log> log, bool silent) {
  return {
      [self, log, silent](const picker::choose_pod&) -> caf::result<picker::chosen_pod> {
        if (silent) return self->make_response_promise<picker::chosen_pod>();
        log->picks++;
        return picker::chosen_pod{"pod-0", "actor:pod-0", {}, {}};
      },
      [log](const picker::request_done& d) { log->done.push_back(d.request_id); },
      [](const picker::pool_membership&) {},
      [log](const picker::cancel_pick& c) { log->cancelled.push_back(c.request_id); },
  };
}

}  // namespace

TEST_CASE(
    "in virtual time, a pick sent to a silent picker replica goes to another within 250 ms, "
    "and the request's completion goes to the replica that picked") {
  pod_options echo{{"mode", "echo"}, {"time-to-first-token", "10ms"}};
  virtual_gateway gw({echo});
  auto dead = std::make_shared<replica_log>();
  auto live1 = std::make_shared<replica_log>();
  auto live2 = std::make_shared<replica_log>();
  std::vector<gateway::picker_replica> replicas;
  replicas.push_back({gw.sys.spawn(logging_replica, dead, true), "tcp://r0"});
  replicas.push_back({gw.sys.spawn(logging_replica, live1, false), "tcp://r1"});
  replicas.push_back({gw.sys.spawn(logging_replica, live2, false), "tcp://r2"});
  // The transport has not yet noticed the silence (a replica killed a moment ago).
  auto set = std::make_shared<gateway::replica_set>(std::move(replicas));
  auto entry = gw.pool;
  entry.replicas = set;
  gw.pools->set(entry);

  int ok = 0;
  caf::timespan slowest{0};
  for (int k = 0; k < 6; ++k) {
    auto start = gw.now();
    auto ex = gw.post(R"({"model":"m","prompt":"hello","max_tokens":1})");
    REQUIRE(gw.until_ended(*ex));
    ok += ex->status == 200;
    slowest = std::max(slowest, *ex->ended - start);
  }
  CHECK(ok == 6);
  // The first pick went to the silent replica: after its attempt's 150 ms (the deadline
  // board sweeps every 50 ms) it went to another, which answered.
  CHECK(dead->cancelled.size() == 1);
  CHECK(set->failovers() == 1);
  CHECK(slowest >= 150ms);
  CHECK(slowest < 250ms);
  CHECK(live1->picks + live2->picks == 6);
  // Every completion went to the replica that picked, none to the silent one.
  CHECK(dead->done.empty());
  CHECK(live1->done.size() == static_cast<size_t>(live1->picks));
  CHECK(live2->done.size() == static_cast<size_t>(live2->picks));
  // Left out after its failure, the silent replica got no other pick.
  CHECK(set->picks(0) == 1);
}

TEST_CASE(
    "in virtual time, a pick waiting on a picker replica that goes silent meanwhile goes to "
    "another soon after the silence shows, not at the end of its attempt") {
  pod_options echo{{"mode", "echo"}, {"time-to-first-token", "10ms"}};
  virtual_gateway gw({echo});
  auto dead = std::make_shared<replica_log>();
  auto live = std::make_shared<replica_log>();
  std::vector<gateway::picker_replica> replicas;
  replicas.push_back({gw.sys.spawn(logging_replica, dead, true), "tcp://r0"});
  replicas.push_back({gw.sys.spawn(logging_replica, live, false), "tcp://r1"});
  // Replica 0 dies as the request is sent: its transport has heard nothing since. A long
  // attempt (1 s) so that only the silence can move the pick on before it.
  gateway::replica_policy policy;
  policy.attempt_timeout = 1s;
  auto died_at = gw.now();
  auto set = std::make_shared<gateway::replica_set>(
      std::move(replicas), policy,
      [&gw, died_at](const std::string& address) -> std::optional<std::chrono::milliseconds> {
        if (address != "tcp://r0") return std::chrono::milliseconds(0);
        return std::chrono::duration_cast<std::chrono::milliseconds>(gw.now() - died_at);
      });
  auto entry = gw.pool;
  entry.replicas = set;
  gw.pools->set(entry);

  auto ex = gw.post(R"({"model":"m","prompt":"hello","max_tokens":1})");
  REQUIRE(gw.until_ended(*ex));
  CHECK(ex->status == 200);
  // Silent from 200 ms (silence_limit); looked at every 25 ms (silence_check, and the deadline
  // board's sweep): moved on by about 250 ms, far before the attempt's 1 s.
  auto took = *ex->ended - died_at;
  CHECK(took >= policy.silence_limit);
  CHECK(took < policy.silence_limit + 2 * policy.silence_check + 20ms);
  CHECK(set->picks(0) == 1);
  CHECK(dead->cancelled.size() == 1);
  CHECK(live->picks == 1);
  CHECK(set->failovers() == 1);
}

TEST_CASE(
    "in virtual time, a picker replica that is not ready yet (catching up) passes the pick to "
    "another at once") {
  pod_options echo{{"mode", "echo"}, {"time-to-first-token", "10ms"}};
  virtual_gateway gw({echo});
  auto log = std::make_shared<replica_log>();
  auto catching_up = [](picker::picker_actor::pointer) -> picker::picker_actor::behavior_type {
    return {
        [](const picker::choose_pod&) -> caf::result<picker::chosen_pod> {
          return caf::make_error(picker::picker_errc::not_ready, "catching up");
        },
        [](const picker::request_done&) {},
        [](const picker::pool_membership&) {},
        [](const picker::cancel_pick&) {},
    };
  };
  std::vector<gateway::picker_replica> replicas;
  replicas.push_back({gw.sys.spawn(catching_up), "tcp://r0"});
  replicas.push_back({gw.sys.spawn(logging_replica, log, false), "tcp://r1"});
  auto set = std::make_shared<gateway::replica_set>(std::move(replicas));
  auto entry = gw.pool;
  entry.replicas = set;
  entry.failure_mode = "FailClose";
  gw.pools->set(entry);
  for (int k = 0; k < 4; ++k) {
    auto start = gw.now();
    auto ex = gw.post(R"({"model":"m","prompt":"hello","max_tokens":1})");
    REQUIRE(gw.until_ended(*ex));
    CHECK(ex->status == 200);
    CHECK(*ex->ended - start < 50ms);  // no timeout waited
  }
  CHECK(log->picks == 4);
  CHECK(set->picks(0) == 1);  // asked once, then left out for its suspension
  CHECK(set->failovers() == 1);
}
