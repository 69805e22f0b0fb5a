// Messages of the authorizer: is this request's bearer key valid for the namespace of its Host?
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "protocol/type_ids.hpp"
#include "runtime/message_fields.hpp"

namespace inferstack::actors::authorizer {

/// Why a request was allowed or refused.
enum class auth_verdict : uint8_t {
  allowed = 0,
  auth_disabled = 1,  ///< allowed: the namespace does not require a key
  missing_key = 2,    ///< no usable Authorization: Bearer header
  invalid_key = 3,    ///< not a key of this namespace (including other namespaces' keys)
  unknown_namespace = 4,
};

/// The verdict's name, as logged, counted and traced ("allowed", "missing_key", ...).
const char* to_string(auth_verdict v);

/// Asks whether `authorization` (the raw Authorization header) admits a request to `ns`.
struct authorize_request {
  std::string ns;
  std::string authorization;
  std::string request_id;  ///< for the logs; the key itself is never logged
  INFERSTACK_FIELDS(authorize_request, ns, authorization, request_id)
};

struct authorize_result {
  uint8_t verdict = 0;  ///< auth_verdict
  INFERSTACK_FIELDS(authorize_result, verdict)
};

/// The keys of one namespace, as SHA-256 digests (hex); replaces what was there.
struct namespace_keys {
  std::string ns;
  std::vector<std::string> key_digests;
  bool auth_disabled = false;
  INFERSTACK_FIELDS(namespace_keys, ns, key_digests, auth_disabled)
};

/// The whole key set: namespaces missing from it are removed.
struct key_set {
  std::vector<namespace_keys> namespaces;
  INFERSTACK_FIELDS(key_set, namespaces)
};

struct key_set_applied {
  uint32_t namespaces = 0;
  uint32_t keys = 0;
  INFERSTACK_FIELDS(key_set_applied, namespaces, keys)
};

using authorizer_actor =
    caf::typed_actor<caf::replies_to<authorize_request>::with<authorize_result>,
                     caf::replies_to<key_set>::with<key_set_applied>>;

inline bool admits(auth_verdict v) {
  return v == auth_verdict::allowed || v == auth_verdict::auth_disabled;
}

}  // namespace inferstack::actors::authorizer
