// Turns APIKey manifests into the authorizer's key set, the way the KAITO operator does: an
// empty spec means a generated random key written to a per-namespace secret file (mode 0600,
// like the `llm-api-key` Secret) that clients and tests read; a key may also come from a given
// file or environment variable. Keys never appear in manifests or logs.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "actors/authorizer/authorizer_protocol.hpp"
#include "runtime/config/manifests.hpp"

namespace inferstack::actors::authorizer {

/// The file name of a namespace's generated key (the KAITO operator's Secret key).
inline constexpr const char* default_secret_name = "llm-api-key";

struct key_sources {
  std::string secrets_dir;                           ///< generated keys live here
  std::function<std::string()> generate_key;         ///< a fresh random key
  std::function<const char*(const char*)> read_env;  ///< getenv, injectable for tests
  std::string secret_name = default_secret_name;     ///< file name of a generated key
};

struct loaded_keys {
  key_set keys;
  std::vector<std::string> problems;   ///< e.g. a missing key file (that APIKey is skipped)
  std::vector<std::string> generated;  ///< secret files written this time
  std::vector<std::string> files;      ///< files the keys came from (to watch for changes)
};

/// Path of a namespace's generated key: <secrets_dir>/<namespace>/llm-api-key (or `name`).
std::string secret_path(const std::string& secrets_dir, const std::string& ns,
                        const std::string& name = default_secret_name);

loaded_keys load_keys(const std::vector<config::api_key>& manifests, const key_sources& sources);

/// A random key like "sk-<43 base64url characters>" from the system's CSPRNG (OpenSSL).
std::string random_api_key();

}  // namespace inferstack::actors::authorizer
