// The admin API's tokens: generated at first start like API keys (0600), two scopes, refused
// when wrong or absent, rotated by rewriting their files; and which paths and addresses are
// the admin API's.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "nodes/admin_access.hpp"

using namespace inferstack;
using nodes::admin_scope;

namespace {

struct temp_dir {
  temp_dir() {
    path = std::filesystem::temp_directory_path() /
           ("inferstack-admin-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path);
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
  std::filesystem::path path;
  static inline int counter = 0;
};

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  return s;
}

void write_all(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::trunc);
  out << text << "\n";
}

}  // namespace

TEST_CASE("admin tokens are generated once (mode 0600) and open their scope only") {
  temp_dir dir;
  int generated = 0;
  nodes::admin_token_settings s;
  s.secrets_dir = dir.path.string();
  s.generate = [&] { return "tok-" + std::to_string(++generated); };
  nodes::admin_access access(s);
  CHECK(access.load().empty());
  CHECK(generated == 2);
  auto admin_file = nodes::admin_access::generated_path(s.secrets_dir, admin_scope::admin);
  auto read_file = nodes::admin_access::generated_path(s.secrets_dir, admin_scope::read);
  struct stat st {};
  REQUIRE(::stat(admin_file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto admin = read_all(admin_file);
  auto read = read_all(read_file);
  CHECK(admin != read);
  CHECK(access.scope_of("Bearer " + admin) == admin_scope::admin);
  CHECK(access.scope_of("Bearer " + read) == admin_scope::read);
  CHECK(access.scope_of("Bearer wrong") == admin_scope::none);
  CHECK(access.scope_of("") == admin_scope::none);
  CHECK(access.scope_of(admin) == admin_scope::none);  // not a Bearer header
  CHECK(access.files() == std::vector<std::string>{admin_file, read_file});

  // A second start (or a reload) keeps the stored tokens.
  nodes::admin_access again(s);
  CHECK(again.load().empty());
  CHECK(generated == 2);
  CHECK(again.scope_of("Bearer " + admin) == admin_scope::admin);
}

TEST_CASE("admin tokens from files rotate on reload, and a broken file keeps the last good token") {
  temp_dir dir;
  std::filesystem::create_directories(dir.path);
  auto admin_file = dir.path / "admin";
  auto read_file = dir.path / "read";
  write_all(admin_file, "first-admin");
  write_all(read_file, "first-read");
  nodes::admin_token_settings s;
  s.secrets_dir = (dir.path / "secrets").string();
  s.admin_token_file = admin_file.string();
  s.read_token_file = read_file.string();
  s.generate = [] { return std::string("never"); };
  nodes::admin_access access(s);
  REQUIRE(access.load().empty());
  CHECK(access.scope_of("Bearer first-admin") == admin_scope::admin);
  CHECK(access.scope_of("Bearer never") == admin_scope::none);

  write_all(admin_file, "second-admin");
  CHECK(access.load().empty());
  CHECK(access.scope_of("Bearer first-admin") == admin_scope::none);
  CHECK(access.scope_of("Bearer second-admin") == admin_scope::admin);

  std::filesystem::remove(admin_file);
  auto problems = access.load();
  REQUIRE(problems.size() == 1);
  CHECK(problems.front().find("spec.adminTokenFile") != std::string::npos);
  CHECK(access.scope_of("Bearer second-admin") == admin_scope::admin);
  CHECK(access.scope_of("Bearer first-read") == admin_scope::read);
}

TEST_CASE("the admin API's paths and loopback addresses") {
  CHECK(nodes::needs_admin_token("/control/scale"));
  CHECK(nodes::needs_admin_token("/control/pods"));
  CHECK(nodes::needs_admin_token("/pods"));
  CHECK(nodes::needs_admin_token("/pods/team-a/p-0/metrics"));
  CHECK_FALSE(nodes::needs_admin_token("/metrics"));
  CHECK_FALSE(nodes::needs_admin_token("/healthz"));
  CHECK_FALSE(nodes::needs_admin_token("/readyz"));
  CHECK_FALSE(nodes::needs_admin_token("/ui"));  // the console's page: no data in it
  CHECK(nodes::needs_admin_token("/ui/snapshot"));
  CHECK(nodes::needs_admin_token("/ui/events"));
  CHECK(nodes::is_loopback_host("127.0.0.1"));
  CHECK(nodes::is_loopback_host("127.1.2.3"));
  CHECK(nodes::is_loopback_host("LOCALHOST"));
  CHECK(nodes::is_loopback_host("[::1]"));
  CHECK_FALSE(nodes::is_loopback_host("0.0.0.0"));
  CHECK_FALSE(nodes::is_loopback_host("10.0.0.5"));
  CHECK_FALSE(nodes::is_loopback_host("::"));
}
