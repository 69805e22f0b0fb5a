// The authorizer's decision, without actors: keys held only as SHA-256 digests, compared in
// constant time. A key of namespace A presented on namespace B's host is simply not one of B's
// keys, so it is refused like any wrong key.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "actors/authorizer/authorizer_protocol.hpp"

namespace inferstack::actors::authorizer {

using digest = std::array<uint8_t, 32>;

/// SHA-256 of a key.
digest key_digest(std::string_view key);
std::string to_hex(const digest& d);
bool from_hex(std::string_view hex, digest& out);

/// The token of an `Authorization: Bearer <token>` header value; empty if there is none.
std::string_view bearer_token(std::string_view authorization);

class key_store {
 public:
  /// Replaces everything; returns the number of keys loaded. Digests that are not 64 hex
  /// characters are skipped.
  size_t apply(const key_set& keys);

  auth_verdict check(std::string_view ns, std::string_view authorization) const;

  size_t namespaces() const { return namespaces_.size(); }

 private:
  struct entry {
    std::vector<digest> digests;
    bool auth_disabled = false;
  };
  std::map<std::string, entry, std::less<>> namespaces_;
};

}  // namespace inferstack::actors::authorizer
