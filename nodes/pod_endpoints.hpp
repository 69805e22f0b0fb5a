// The endpoints of llm-d-inference-sim that `inferstack run pod` serves besides generation:
// /v1/embeddings, the render routes, one model card, /admin/config. Pure functions of the
// request body and the pod's settings, so that they are tested without a server; pod_node.cpp
// routes to them.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/pod/pod_protocol.hpp"
#include "actors/pod/pod_settings.hpp"
#include "openai/embeddings.hpp"
#include "openai/response.hpp"

namespace inferstack::nodes {

/// A complete answer: status and JSON body (empty: no body).
struct endpoint_reply {
  int status = 200;
  std::string body;
};

using openai::embedding_base64;
using openai::max_embedding_dimensions;
using openai::stub_embedding;

/// POST /v1/embeddings. `input` is a string, strings, token ids or token-id arrays; the model
/// is echoed, not checked (as the simulator does: clients send e.g. text-embedding-3-small).
endpoint_reply embeddings_reply(std::string_view body, const actors::pod::pod_settings& s);

/// POST /v1/chat/completions/render (`chat`: {"token_ids":[...]}) and /v1/completions/render
/// ([{"token_ids":[...]}, ...], one per prompt): the tokens generation would see, nothing run.
endpoint_reply render_reply(bool chat, std::string_view body, const actors::pod::pod_settings& s,
                            const std::set<std::string>& loras);

/// The cards of GET /v1/models: one per served name, one per loaded LoRA.
std::vector<openai::model_card> model_cards(const actors::pod::pod_settings& s,
                                            const std::set<std::string>& loras, int64_t created);

/// GET /v1/models/{id}: that card, or 404 with the unknown-model error.
endpoint_reply model_card_reply(std::string_view id, const actors::pod::pod_settings& s,
                                const std::set<std::string>& loras, int64_t created);

/// A duration as Go's time.Duration.String() prints it ("0s", "250ms", "1.5s", "1m30s"), as the
/// simulator's /admin/config shows durations.
std::string go_duration(int64_t ns);

/// GET /admin/config: the pod's effective settings under the simulator's key names (and a few
/// of our own flags, under their flag names).
nlohmann::json admin_config(const actors::pod::pod_settings& s);

/// POST /admin/config: only the keys the simulator lets change at run time, with valid values.
/// Any other key or a bad value: 400, as the simulator, and nothing changes. Valid: the run-time
/// fields of `s` (latencies, failure injection) take the new values, `apply` holds them for the
/// pod actor (flag names and values as text), and the answer is the simulator's: the whole
/// configuration, as GET shows it.
endpoint_reply admin_config_update(std::string_view body, actors::pod::pod_settings& s,
                                   actors::pod::apply_options& apply);

/// GET /query (Mooncake bootstrap emulation): {"0":{"engine_id":"<id>"}}, one data-parallel
/// rank per pod process.
std::string mooncake_query_json(const std::string& engine_id);

/// A random version-4 UUID, from `seed_a` and `seed_b` (random bits).
std::string uuid_v4(uint64_t seed_a, uint64_t seed_b);

}  // namespace inferstack::nodes
