#include <catch2/catch.hpp>

#include "actors/router/route_table.hpp"
#include "actors/router/router_actor.hpp"
#include "tests/support/caf_fixture.hpp"

using namespace inferstack;
using namespace inferstack::actors::router;

namespace {

config::stack_config stack_from(const std::string& yaml) {
  config::load_result r;
  config::load_text(yaml, "routes.yaml", r);
  for (const auto& p : r.problems)
    FAIL(p.to_string());
  return r.config;
}

const char* routes_yaml = R"(
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: fallback, namespace: team-a}
spec:
  rules:
  - backendRefs: [{name: default-pool}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: llama, namespace: team-a}
spec:
  rules:
  - matches:
    - headers: [{name: X-Gateway-Model-Name, value: llama-3.1-8b-instruct}]
    backendRefs:
    - {name: llama, weight: 90}
    - {name: llama-canary, weight: 10}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: qwen, namespace: team-b}
spec:
  rules:
  - matches:
    - headers: [{type: RegularExpression, name: x-gateway-model-name, value: "qwen2\\.5-.*"}]
      path: {type: PathPrefix, value: /v1/chat}
    backendRefs: [{name: qwen}]
  - matches:
    - headers: [{name: X-Gateway-Model-Name, value: phi-4-mini}]
    backendRefs: [{name: phi, weight: 0}]
)";

}  // namespace

TEST_CASE("routes resolve by namespace, model and path, specific before catch-all") {
  std::vector<std::string> problems;
  auto set = build_route_set(stack_from(routes_yaml), problems);
  CHECK(problems.empty());
  route_table table(set);
  route_rng rng{1};
  auto pool_of = [&](const char* ns, const char* model, const char* path) -> std::string {
    auto m = table.resolve(ns, model, path, rng);
    if (!m) return "<none>";
    return m->backend ? m->backend->pool : "<zero>";
  };
  // the catch-all came first in the file, but the exact route wins
  CHECK((pool_of("team-a", "llama-3.1-8b-instruct", "/v1/chat/completions") == "llama" ||
         pool_of("team-a", "llama-3.1-8b-instruct", "/v1/chat/completions") == "llama-canary"));
  CHECK(pool_of("team-a", "anything-else", "/v1/completions") == "default-pool");
  CHECK(pool_of("team-b", "qwen2.5-7b", "/v1/chat/completions") == "qwen");
  CHECK(pool_of("team-b", "qwen2.5-7b", "/v1/completions") == "<none>");  // path prefix
  CHECK(pool_of("team-b", "qwen3", "/v1/chat/completions") == "<none>");
  CHECK(pool_of("team-b", "phi-4-mini", "/v1/completions") == "<zero>");
  CHECK(pool_of("team-c", "llama-3.1-8b-instruct", "/v1/completions") == "<none>");
  CHECK(table.models("team-a") == std::vector<std::string>{"llama-3.1-8b-instruct"});
  CHECK(table.models("team-b") == std::vector<std::string>{"phi-4-mini"});
}

TEST_CASE("weighted backends split traffic by weight (canary)") {
  std::vector<std::string> problems;
  route_table table(build_route_set(stack_from(routes_yaml), problems));
  route_rng rng{42};
  int canary = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i)
    if (table.resolve("team-a", "llama-3.1-8b-instruct", "/", rng)->backend->pool == "llama-canary")
      ++canary;
  // 10 % +- 4.5 sigma (sigma = sqrt(n p (1-p)) = 42)
  CHECK(canary > 2000 - 190);
  CHECK(canary < 2000 + 190);
}

TEST_CASE("unsupported matches are reported, not silently ignored") {
  std::vector<std::string> problems;
  build_route_set(stack_from(R"(
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: a}
spec:
  rules:
  - matches:
    - headers: [{name: x-user, value: bob}]
    backendRefs: [{name: p}]
  - matches:
    - headers: [{type: RegularExpression, name: X-Gateway-Model-Name, value: "(unclosed"}]
    backendRefs: [{name: p}]
)"),
                  problems);
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].find("x-user") != std::string::npos);
  CHECK(problems[1].find("invalid regular expression") != std::string::npos);
}

TEST_CASE_METHOD(testing::caf_fixture, "the router actor answers decisions and errors") {
  prometheus::Registry registry;
  std::vector<std::string> problems;
  auto router =
      spawn_router(sys, build_route_set(stack_from(routes_yaml), problems), 7, registry, nullptr);
  auto route = [&](const char* ns, std::string body) {
    return request<route_decision>(router, route_request{ns, "/v1/chat/completions", body, "r"});
  };
  auto ok =
      route("team-b",
            R"({"messages":[{"role":"user","content":"hi","model":"x"}],"model":"qwen2.5-7b"})");
  REQUIRE(ok);
  CHECK(ok->model == "qwen2.5-7b");
  CHECK(ok->pool == "qwen");
  CHECK(ok->pool_ns == "team-b");

  auto bad_json = route("team-b", R"({"model": "qwen2.5-7b")");
  REQUIRE_FALSE(bad_json);
  CHECK(bad_json.error() == router_errc::invalid_json);

  auto no_model = route("team-b", R"({"messages":[{"model":"qwen2.5-7b"}]})");
  REQUIRE_FALSE(no_model);
  CHECK(no_model.error() == router_errc::missing_model);

  auto unknown = route("team-b", R"({"model":"gpt-9"})");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error() == router_errc::model_not_found);
  CHECK(sys.render(unknown.error()).find("gpt-9") != std::string::npos);

  auto models = request<model_list>(router, models_request{"team-a"});
  REQUIRE(models);
  CHECK(models->models == std::vector<std::string>{"llama-3.1-8b-instruct"});

  // routes replaced at run time
  auto applied = request<route_set_applied>(router, route_set{});
  REQUIRE(applied);
  CHECK(applied->routes == 0);
  CHECK_FALSE(route("team-b", R"({"model":"qwen2.5-7b"})"));
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(testing::caf_fixture,
                 "the router publishes a view that decides as it does, renews it on new routes "
                 "and withdraws it when it ends") {
  prometheus::Registry registry;
  std::vector<std::string> problems;
  auto view = std::make_shared<published_router>();
  auto router = spawn_router(sys, build_route_set(stack_from(routes_yaml), problems), 7, registry,
                             nullptr, view);
  run();
  auto current = view->current();
  REQUIRE(current);
  route_rng rng{1};
  auto ok = current->decide("team-b", "/v1/chat/completions", R"({"model":"qwen2.5-7b"})", rng);
  REQUIRE(ok);
  CHECK(ok->pool == "qwen");
  CHECK(ok->pool_ns == "team-b");
  auto bad = current->decide("team-b", "/v1/chat/completions", R"({"model":)", rng);
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == router_errc::invalid_json);
  auto unknown = current->decide("team-b", "/v1/chat/completions", R"({"model":"gpt-9"})", rng);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error() == router_errc::model_not_found);
  auto zero = current->decide("team-b", "/v1/completions", R"({"model":"phi-4-mini"})", rng);
  REQUIRE_FALSE(zero);
  CHECK(zero.error() == router_errc::no_backend);

  // The canary split holds with the caller's generator too.
  int canary = 0;
  for (int i = 0; i < 2000; ++i) {
    auto d =
        current->decide("team-a", "/v1/completions", R"({"model":"llama-3.1-8b-instruct"})", rng);
    REQUIRE(d);
    if (d->pool == "llama-canary") ++canary;
  }
  CHECK(canary > 120);
  CHECK(canary < 280);

  // Counted with the actor's decisions.
  double routed = 0;
  for (const auto& family : registry.Collect())
    if (family.name == "inferstack_router_decisions_total")
      for (const auto& m : family.metric)
        for (const auto& l : m.label)
          if (l.name == "result" && l.value == "routed") routed += m.counter.value;
  CHECK(routed == 2001);

  REQUIRE(request<route_set_applied>(router, route_set{}));
  auto emptied = view->current();
  REQUIRE(emptied);
  CHECK_FALSE(emptied->decide("team-b", "/v1/chat/completions", R"({"model":"qwen2.5-7b"})", rng));
  CHECK(current->decide("team-b", "/v1/chat/completions", R"({"model":"qwen2.5-7b"})", rng));

  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  run();
  CHECK_FALSE(view->current());
}
