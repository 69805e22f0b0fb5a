#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "actors/authorizer/authorizer_actor.hpp"
#include "actors/authorizer/key_loader.hpp"
#include "actors/authorizer/key_store.hpp"
#include "tests/support/caf_fixture.hpp"

using namespace inferstack;
using namespace inferstack::actors::authorizer;

namespace {

key_set keys_for(std::initializer_list<std::pair<const char*, const char*>> ns_key) {
  key_set out;
  for (auto [ns, key] : ns_key) {
    namespace_keys k;
    k.ns = ns;
    k.key_digests.push_back(to_hex(key_digest(key)));
    out.namespaces.push_back(k);
  }
  return out;
}

}  // namespace

TEST_CASE("bearer tokens are taken from the Authorization header") {
  CHECK(bearer_token("Bearer sk-abc") == "sk-abc");
  CHECK(bearer_token("bearer   sk-abc  ") == "sk-abc");
  CHECK(bearer_token("BEARER sk-abc") == "sk-abc");
  CHECK(bearer_token("Basic dXNlcjpwYXNz").empty());
  CHECK(bearer_token("Bearer").empty());
  CHECK(bearer_token("Bearer ").empty());
  CHECK(bearer_token("Bearer two tokens").empty());
  CHECK(bearer_token("").empty());
}

TEST_CASE("the key store admits exactly the namespace's keys") {
  key_store store;
  auto keys = keys_for({{"team-a", "sk-a1"}, {"team-b", "sk-b1"}});
  keys.namespaces[0].key_digests.push_back(to_hex(key_digest("sk-a2")));  // two keys: rotation
  namespace_keys open;
  open.ns = "public";
  open.auth_disabled = true;
  keys.namespaces.push_back(open);
  CHECK(store.apply(keys) == 3);

  CHECK(store.check("team-a", "Bearer sk-a1") == auth_verdict::allowed);
  CHECK(store.check("team-a", "Bearer sk-a2") == auth_verdict::allowed);
  CHECK(store.check("team-a", "") == auth_verdict::missing_key);
  CHECK(store.check("team-a", "Basic x") == auth_verdict::missing_key);
  CHECK(store.check("team-a", "Bearer sk-wrong") == auth_verdict::invalid_key);
  CHECK(store.check("team-a", "Bearer sk-a1x") == auth_verdict::invalid_key);
  // namespace B's key on namespace A's host
  CHECK(store.check("team-a", "Bearer sk-b1") == auth_verdict::invalid_key);
  CHECK(store.check("team-b", "Bearer sk-b1") == auth_verdict::allowed);
  CHECK(store.check("public", "") == auth_verdict::auth_disabled);
  CHECK(store.check("nowhere", "Bearer sk-a1") == auth_verdict::unknown_namespace);

  // replacing the set removes old keys
  store.apply(keys_for({{"team-a", "sk-a3"}}));
  CHECK(store.check("team-a", "Bearer sk-a1") == auth_verdict::invalid_key);
  CHECK(store.check("team-a", "Bearer sk-a3") == auth_verdict::allowed);
  CHECK(store.check("team-b", "Bearer sk-b1") == auth_verdict::unknown_namespace);
}

TEST_CASE("malformed digests are skipped") {
  key_store store;
  key_set keys;
  keys.namespaces.push_back({"a", {"not-hex", std::string(63, 'a'), std::string(64, 'z')}, false});
  CHECK(store.apply(keys) == 0);
  CHECK(store.check("a", "Bearer anything") == auth_verdict::invalid_key);
}

TEST_CASE("APIKey manifests become keys like the operator makes them") {
  namespace fs = std::filesystem;
  auto dir = fs::temp_directory_path() / ("inferstack-keys-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "given.key") << "sk-from-file\n";

  auto manifest = [](const char* ns, const char* name) {
    config::api_key k;
    k.meta.namespace_ = ns;
    k.meta.name = name;
    return k;
  };
  std::vector<config::api_key> manifests;
  manifests.push_back(manifest("team-a", "key"));  // generated
  auto from_file = manifest("team-b", "key");
  from_file.key_file = (dir / "given.key").string();
  manifests.push_back(from_file);
  auto from_env = manifest("team-c", "key");
  from_env.key_env = "TEAM_C_KEY";
  manifests.push_back(from_env);
  auto disabled = manifest("public", "open");
  disabled.auth_disabled = true;
  manifests.push_back(disabled);
  auto broken = manifest("team-d", "key");
  broken.key_file = (dir / "missing.key").string();
  manifests.push_back(broken);

  int generated = 0;
  key_sources sources{(dir / "secrets").string(),
                      [&] { return "sk-generated-" + std::to_string(++generated); },
                      [](const char* name) -> const char* {
                        return std::string(name) == "TEAM_C_KEY" ? "sk-from-env" : nullptr;
                      }};
  auto loaded = load_keys(manifests, sources);
  REQUIRE(loaded.generated.size() == 1);
  REQUIRE(loaded.problems.size() == 1);
  CHECK(loaded.problems[0].find("missing.key") != std::string::npos);

  auto secret = secret_path(sources.secrets_dir, "team-a");
  struct stat st {};
  REQUIRE(::stat(secret.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::string written;
  std::ifstream(secret) >> written;
  CHECK(written == "sk-generated-1");

  key_store store;
  store.apply(loaded.keys);
  CHECK(store.check("team-a", "Bearer sk-generated-1") == auth_verdict::allowed);
  CHECK(store.check("team-b", "Bearer sk-from-file") == auth_verdict::allowed);
  CHECK(store.check("team-c", "Bearer sk-from-env") == auth_verdict::allowed);
  CHECK(store.check("public", "") == auth_verdict::auth_disabled);
  CHECK(store.check("team-d", "Bearer x") == auth_verdict::invalid_key);  // known, no valid key

  // a restart reuses the stored secret instead of generating a new one
  auto again = load_keys(manifests, sources);
  CHECK(again.generated.empty());
  CHECK(generated == 1);
  fs::remove_all(dir);
}

TEST_CASE("generated keys are random and URL-safe") {
  auto a = random_api_key();
  auto b = random_api_key();
  CHECK(a != b);
  CHECK(a.rfind("sk-", 0) == 0);
  CHECK(a.size() == 3 + 43);
  CHECK(a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                            3) == std::string::npos);
}

TEST_CASE_METHOD(testing::caf_fixture, "the authorizer actor decides, counts and rotates keys") {
  prometheus::Registry registry;
  auto authz = spawn_authorizer(sys, keys_for({{"team-a", "sk-old"}}), registry, nullptr);
  auto ask = [&](const char* ns, const char* header) {
    auto r = request<authorize_result>(authz, authorize_request{ns, header, "req"});
    REQUIRE(r);
    return static_cast<auth_verdict>(r->verdict);
  };
  CHECK(ask("team-a", "Bearer sk-old") == auth_verdict::allowed);
  CHECK(ask("team-a", "Bearer sk-new") == auth_verdict::invalid_key);
  auto applied = request<key_set_applied>(authz, keys_for({{"team-a", "sk-new"}}));
  REQUIRE(applied);
  CHECK(applied->keys == 1);
  CHECK(ask("team-a", "Bearer sk-old") == auth_verdict::invalid_key);
  CHECK(ask("team-a", "Bearer sk-new") == auth_verdict::allowed);
  CHECK(ask("elsewhere", "Bearer sk-new") == auth_verdict::unknown_namespace);

  double allowed = 0, invalid = 0;
  for (const auto& family : registry.Collect())
    if (family.name == "inferstack_auth_requests_total")
      for (const auto& m : family.metric)
        for (const auto& l : m.label)
          if (l.name == "result") {
            if (l.value == "allowed") allowed += m.counter.value;
            if (l.value == "invalid_key") invalid += m.counter.value;
          }
  CHECK(allowed == 2);
  CHECK(invalid == 2);
  caf::anon_send_exit(authz, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(testing::caf_fixture,
                 "the authorizer publishes a view that decides as it does, renews it on new keys "
                 "and withdraws it when it ends") {
  prometheus::Registry registry;
  auto view = std::make_shared<published_authorizer>();
  auto authz = spawn_authorizer(sys, keys_for({{"team-a", "sk-old"}}), registry, nullptr, view);
  run();
  auto first = view->current();
  REQUIRE(first);
  CHECK(first->decide("team-a", "Bearer sk-old", "r1") == auth_verdict::allowed);
  CHECK(first->decide("team-a", "Bearer sk-new", "r2") == auth_verdict::invalid_key);
  CHECK(first->decide("team-b", "Bearer sk-old", "r3") == auth_verdict::unknown_namespace);

  // Rotation: the next view has the new key; one already taken keeps deciding with its keys.
  REQUIRE(request<key_set_applied>(authz, keys_for({{"team-a", "sk-new"}})));
  auto second = view->current();
  REQUIRE(second);
  CHECK(second != first);
  CHECK(second->decide("team-a", "Bearer sk-new", "r4") == auth_verdict::allowed);
  CHECK(second->decide("team-a", "Bearer sk-old", "r5") == auth_verdict::invalid_key);
  CHECK(first->decide("team-a", "Bearer sk-old", "r6") == auth_verdict::allowed);

  // The view's decisions are counted with the actor's, under the same labels.
  auto r = request<authorize_result>(authz, authorize_request{"team-a", "Bearer sk-new", "r7"});
  REQUIRE(r);
  double allowed = 0, unknown = 0;
  for (const auto& family : registry.Collect())
    if (family.name == "inferstack_auth_requests_total")
      for (const auto& m : family.metric)
        for (const auto& l : m.label) {
          if (l.name == "result" && l.value == "allowed") allowed += m.counter.value;
          if (l.name == "namespace" && l.value == "<unknown>") unknown += m.counter.value;
        }
  CHECK(allowed == 4);
  CHECK(unknown == 1);

  caf::anon_send_exit(authz, caf::exit_reason::user_shutdown);
  run();
  CHECK_FALSE(view->current());
}
