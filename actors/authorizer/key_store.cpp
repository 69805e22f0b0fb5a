#include "actors/authorizer/key_store.hpp"

#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace inferstack::actors::authorizer {

namespace {

/// OpenSSL 3's SHA256() looks the algorithm up in its provider tables on every call (about
/// half the cost of hashing a short key); fetching it once is what OpenSSL's own performance
/// notes advise. The fetched object is immutable and shared by all threads.
const EVP_MD* sha256() {
  static EVP_MD* md = [] {
    auto* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (!fetched) throw std::runtime_error("OpenSSL has no SHA256 digest");
    return fetched;
  }();
  return md;
}

/// A digest context per thread, reset for each key: EVP_Digest allocates and frees one per
/// call, which cost as much as the hashing setup itself.
EVP_MD_CTX* thread_context() {
  struct owned {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~owned() { EVP_MD_CTX_free(ctx); }
  };
  thread_local owned context;
  if (!context.ctx) throw std::runtime_error("OpenSSL cannot allocate a digest context");
  return context.ctx;
}

}  // namespace

digest key_digest(std::string_view key) {
  digest d{};
  unsigned int size = 0;
  auto* ctx = thread_context();
  if (!EVP_DigestInit_ex2(ctx, sha256(), nullptr) ||
      !EVP_DigestUpdate(ctx, key.data(), key.size()) || !EVP_DigestFinal_ex(ctx, d.data(), &size) ||
      size != d.size())
    throw std::runtime_error("SHA256 digest failed");
  return d;
}

std::string to_hex(const digest& d) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (auto b : d) {
    out += hex[b >> 4];
    out += hex[b & 0xF];
  }
  return out;
}

bool from_hex(std::string_view hex, digest& out) {
  if (hex.size() != 64) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

std::string_view bearer_token(std::string_view authorization) {
  // Scheme is case-insensitive (RFC 7235); surrounding blanks are tolerated.
  while (!authorization.empty() && authorization.front() == ' ')
    authorization.remove_prefix(1);
  if (authorization.size() < 7) return {};
  auto scheme = authorization.substr(0, 6);
  static constexpr std::string_view bearer = "bearer";
  for (size_t i = 0; i < 6; ++i)
    if (std::tolower(static_cast<unsigned char>(scheme[i])) != bearer[i]) return {};
  if (authorization[6] != ' ') return {};
  auto token = authorization.substr(7);
  while (!token.empty() && token.front() == ' ')
    token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\r'))
    token.remove_suffix(1);
  if (token.find(' ') != std::string_view::npos) return {};
  return token;
}

size_t key_store::apply(const key_set& keys) {
  std::map<std::string, entry, std::less<>> fresh;
  size_t loaded = 0;
  for (const auto& ns : keys.namespaces) {
    auto& e = fresh[ns.ns];
    e.auth_disabled = ns.auth_disabled;
    for (const auto& hex : ns.key_digests) {
      digest d{};
      if (!from_hex(hex, d)) continue;
      e.digests.push_back(d);
      ++loaded;
    }
  }
  namespaces_ = std::move(fresh);
  return loaded;
}

auth_verdict key_store::check(std::string_view ns, std::string_view authorization) const {
  auto it = namespaces_.find(ns);
  if (it == namespaces_.end()) return auth_verdict::unknown_namespace;
  if (it->second.auth_disabled) return auth_verdict::auth_disabled;
  auto token = bearer_token(authorization);
  if (token.empty()) return auth_verdict::missing_key;
  // Hashing first makes the comparison independent of the key's length and content; every
  // stored digest is compared, so timing does not reveal which one matched either.
  auto presented = key_digest(token);
  bool match = false;
  for (const auto& d : it->second.digests)
    match |= CRYPTO_memcmp(d.data(), presented.data(), d.size()) == 0;
  return match ? auth_verdict::allowed : auth_verdict::invalid_key;
}

}  // namespace inferstack::actors::authorizer
