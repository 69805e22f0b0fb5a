// POST /v1/embeddings as llm-d-inference-sim answers it: deterministic vectors from the input's
// token ids, of the dimensions asked, with usage. The pod (`inferstack run pod`) and the
// gateway (for the models it routes) both answer with it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace inferstack::openai {

/// The simulator's stub embedding, value for value (our tokenizer gives its token ids, so a
/// client sees the same vectors from either): dimension i < n is 2*(t_i mod 1024)/1024 - 1,
/// the others repeat the tokens as 2*(t_(i mod n) mod 256)/256 - 1; all zeros without tokens.
/// Deterministic, not normalised (neither are the simulator's).
std::vector<float> stub_embedding(const std::vector<uint32_t>& tokens, uint32_t dimensions);

/// OpenAI's base64 form of an embedding: the little-endian float32 bytes, standard alphabet.
std::string embedding_base64(const std::vector<float>& embedding);

/// The vector size when a request gives no `dimensions` (the pod's --embedding-dimensions
/// default; the gateway answers with it).
inline constexpr uint32_t default_embedding_dimensions = 384;

/// The most dimensions a request may ask for (a bound the simulator does not have: it would
/// allocate whatever it is asked).
inline constexpr int64_t max_embedding_dimensions = 65536;

/// A whole answer: status and JSON body (an OpenAI error when not 200).
struct embeddings_answer {
  int status = 200;
  std::string body;
};

/// The answer to an embeddings body. `input` is a string, strings, token ids or token-id
/// arrays; the body's model is echoed, not checked (as the simulator does: clients send e.g.
/// text-embedding-3-small); without one, `default_model`. `dimensions` defaults to
/// `default_dimensions`.
embeddings_answer embeddings_response(std::string_view body, std::string_view default_model,
                                      uint32_t default_dimensions);

}  // namespace inferstack::openai
