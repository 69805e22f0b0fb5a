// Who may use the admin listener's /control and /pods routes: bearer tokens held only as
// SHA-256 digests and compared in constant time, exactly as API keys are (the authorizer's
// key loader and key store). Two scopes: `admin` reads and changes (POST /control/scale),
// `read` only reads (`inferstack get`). A token comes from a file (a mounted Secret) or is
// generated at first start into <secretsDir>/inferstack-admin/{admin,read}-token (mode 0600);
// the files are re-read on SIGHUP or when they change, so a token rotates without a restart.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "actors/authorizer/key_store.hpp"

namespace inferstack::nodes {

enum class admin_scope { none, read, admin };

struct admin_token_settings {
  std::string secrets_dir = "var/secrets";
  std::string admin_token_file;  ///< empty: generated into secrets_dir
  std::string read_token_file;   ///< empty: generated into secrets_dir
  std::function<std::string()> generate;
};

class admin_access {
 public:
  explicit admin_access(admin_token_settings settings);

  /// (Re)reads both tokens, generating a missing default one; returns the problems found (the
  /// tokens of the last good load stay in force for a token that failed).
  std::vector<std::string> load();

  admin_scope scope_of(std::string_view authorization) const;

  /// The files the tokens came from (to watch for changes), admin first.
  std::vector<std::string> files() const;

  /// Where a generated token lives: <secrets_dir>/inferstack-admin/<scope>-token.
  static std::string generated_path(const std::string& secrets_dir, admin_scope scope);

 private:
  admin_token_settings settings_;
  mutable std::mutex mutex_;
  actors::authorizer::key_store store_;
  struct token {
    std::vector<std::string> digests;
    std::string file;
  };
  token admin_token_;
  token read_token_;
};

/// True for a path only a token opens (/control/..., /pods..., /ui/...); /metrics, health and
/// the console's page (/ui) are open.
bool needs_admin_token(std::string_view path);

/// True when `host` (of a host:port) is a loopback address or localhost.
bool is_loopback_host(std::string_view host);

}  // namespace inferstack::nodes
