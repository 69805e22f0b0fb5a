// The keys the gateway's tests decide with: namespace team-a, whose one key is sk-a.
#pragma once

#include "actors/authorizer/authorizer_protocol.hpp"
#include "actors/authorizer/key_store.hpp"

namespace inferstack::testing {

inline actors::authorizer::key_set team_a_keys() {
  actors::authorizer::key_set keys;
  actors::authorizer::namespace_keys team_a;
  team_a.ns = "team-a";
  team_a.key_digests.push_back(actors::authorizer::to_hex(actors::authorizer::key_digest("sk-a")));
  keys.namespaces.push_back(team_a);
  return keys;
}

}  // namespace inferstack::testing
