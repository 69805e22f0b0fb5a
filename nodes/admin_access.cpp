#include "nodes/admin_access.hpp"

#include <algorithm>
#include <cctype>

#include "actors/authorizer/key_loader.hpp"
#include "nodes/admin_routes.hpp"

namespace inferstack::nodes {

namespace {

// The two scopes as the key store's "namespaces": the store is the admin listener's own, so
// these never meet a tenant namespace.
constexpr const char* admin_ns = "inferstack-admin";
constexpr const char* read_ns = "inferstack-read";

const char* file_name_of(admin_scope scope) {
  return scope == admin_scope::admin ? "admin-token" : "read-token";
}

}  // namespace

admin_access::admin_access(admin_token_settings settings) : settings_(std::move(settings)) {}

std::string admin_access::generated_path(const std::string& secrets_dir, admin_scope scope) {
  return actors::authorizer::secret_path(secrets_dir, admin_ns, file_name_of(scope));
}

std::vector<std::string> admin_access::load() {
  namespace authz = actors::authorizer;
  std::vector<std::string> problems;
  std::lock_guard guard{mutex_};
  for (auto scope : {admin_scope::admin, admin_scope::read}) {
    bool admin = scope == admin_scope::admin;
    config::api_key manifest;
    manifest.meta.name = file_name_of(scope);
    manifest.meta.namespace_ = admin_ns;  // generated tokens of both scopes share one folder
    manifest.source.file = "InferenceGateway";
    manifest.key_file = admin ? settings_.admin_token_file : settings_.read_token_file;
    authz::key_sources sources{settings_.secrets_dir, settings_.generate, nullptr,
                               file_name_of(scope)};
    auto loaded = authz::load_keys({manifest}, sources);
    if (!loaded.problems.empty() || loaded.keys.namespaces.empty()) {
      // The last good token of this scope stays in force.
      for (auto& p : loaded.problems)
        problems.push_back(std::string("InferenceGateway ") +
                           (admin ? "spec.adminTokenFile" : "spec.adminReadTokenFile") + ": " + p);
      continue;
    }
    auto& slot = admin ? admin_token_ : read_token_;
    slot.digests = loaded.keys.namespaces.front().key_digests;
    slot.file = loaded.files.empty() ? "" : loaded.files.front();
  }
  authz::key_set keys;
  keys.namespaces.push_back({admin_ns, admin_token_.digests, false});
  keys.namespaces.push_back({read_ns, read_token_.digests, false});
  store_.apply(keys);
  return problems;
}

admin_scope admin_access::scope_of(std::string_view authorization) const {
  using actors::authorizer::auth_verdict;
  std::lock_guard guard{mutex_};
  if (store_.check(admin_ns, authorization) == auth_verdict::allowed) return admin_scope::admin;
  if (store_.check(read_ns, authorization) == auth_verdict::allowed) return admin_scope::read;
  return admin_scope::none;
}

std::vector<std::string> admin_access::files() const {
  std::lock_guard guard{mutex_};
  std::vector<std::string> out;
  for (const auto* slot : {&admin_token_, &read_token_})
    if (!slot->file.empty()) out.push_back(slot->file);
  return out;
}

bool needs_admin_token(std::string_view path) {
  // The console's page holds no data (it reads /ui/events with a token): open like /metrics.
  if (path == "/ui" || path == "/ui/") return false;
  return path != "/metrics" && !is_health_path(path);
}

bool is_loopback_host(std::string_view host) {
  std::string h(host);
  std::transform(h.begin(), h.end(), h.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!h.empty() && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  return h == "localhost" || h == "::1" || h.rfind("127.", 0) == 0;
}

}  // namespace inferstack::nodes
