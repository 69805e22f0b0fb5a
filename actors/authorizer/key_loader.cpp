#include "actors/authorizer/key_loader.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <openssl/rand.h>

#include "actors/authorizer/key_store.hpp"

namespace inferstack::actors::authorizer {

namespace fs = std::filesystem;

std::string secret_path(const std::string& secrets_dir, const std::string& ns,
                        const std::string& name) {
  return (fs::path(secrets_dir) / ns / name).string();
}

namespace {

std::string trim(std::string s) {
  auto blank = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!s.empty() && blank(s.back()))
    s.pop_back();
  size_t i = 0;
  while (i < s.size() && blank(s[i]))
    ++i;
  return s.substr(i);
}

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream buf;
  buf << in.rdbuf();
  out = trim(buf.str());
  return true;
}

/// Stores a generated key at `path` (mode 0600 from the start) unless another process got
/// there first: then `key` becomes the stored one. Written whole to a private file, then linked
/// into place, so no reader ever sees half a key and two processes never keep different keys.
bool write_secret(const std::string& path, std::string& key, std::string& error) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) {
    error = "cannot create " + fs::path(path).parent_path().string() + ": " + ec.message();
    return false;
  }
  ::chmod(fs::path(path).parent_path().c_str(), 0700);
  auto staging = path + ".new." + std::to_string(::getpid());
  auto old_mask = ::umask(077);
  std::ofstream out(staging, std::ios::trunc);
  ::umask(old_mask);
  if (!out) {
    error = "cannot write " + staging;
    return false;
  }
  out << key << "\n";
  out.close();
  ::chmod(staging.c_str(), 0600);
  int linked = ::link(staging.c_str(), path.c_str());
  int link_errno = errno;
  ::unlink(staging.c_str());
  if (linked == 0) return true;
  std::string stored;
  if (link_errno == EEXIST && read_file(path, stored) && !stored.empty()) {
    key = stored;
    return true;
  }
  error = "cannot write " + path + ": " + std::strerror(link_errno);
  return false;
}

}  // namespace

loaded_keys load_keys(const std::vector<config::api_key>& manifests, const key_sources& sources) {
  loaded_keys out;
  std::map<std::string, namespace_keys> by_ns;
  for (const auto& m : manifests) {
    const auto& ns = m.meta.namespace_;
    auto& entry = by_ns[ns];
    entry.ns = ns;
    auto where = "APIKey " + ns + "/" + m.meta.name + " (" + m.source.file + ")";
    if (m.auth_disabled) {
      entry.auth_disabled = true;
      continue;
    }
    std::string key;
    if (!m.key_file.empty()) {
      if (!read_file(m.key_file, key) || key.empty()) {
        out.problems.push_back(where + ": spec.keyFile " + m.key_file + " is missing or empty");
        continue;
      }
      out.files.push_back(m.key_file);
    } else if (!m.key_env.empty()) {
      const char* value = sources.read_env ? sources.read_env(m.key_env.c_str()) : nullptr;
      if (value == nullptr || *value == '\0') {
        out.problems.push_back(where + ": spec.keyEnv " + m.key_env + " is not set");
        continue;
      }
      key = trim(value);
    } else {
      // The operator's behaviour: generate once, then keep using the stored secret.
      auto path = secret_path(sources.secrets_dir, ns, sources.secret_name);
      if (!read_file(path, key) || key.empty()) {
        key = sources.generate_key();
        std::string error;
        if (!write_secret(path, key, error)) {
          out.problems.push_back(where + ": " + error);
          continue;
        }
        out.generated.push_back(path);
      }
      out.files.push_back(path);
    }
    entry.key_digests.push_back(to_hex(key_digest(key)));
  }
  for (auto& [ns, keys] : by_ns)
    out.keys.namespaces.push_back(std::move(keys));
  return out;
}

std::string random_api_key() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) throw std::runtime_error("no randomness for API keys");
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string key = "sk-";
  // base64url without padding
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      key += alphabet[(acc >> (bits - 6)) & 0x3F];
      bits -= 6;
    }
  }
  if (bits > 0) key += alphabet[(acc << (6 - bits)) & 0x3F];
  return key;
}

}  // namespace inferstack::actors::authorizer
