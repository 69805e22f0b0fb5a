// Synthetic logprobs for chat and completion responses: plausible, deterministic values that give
// clients the shape they parse (a simulator has no model to take real ones from). The values
// follow llm-d-inference-sim's rule: token i has logprob -1 - (i % 3) * 0.1, its k-th alternative
// ("<token>_<k>") 0.5 * k less. Appended straight into strings, as the other chunk parts.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace inferstack::openai {

/// The logprob of the token at `position` (alternative 0) or of its alternative `alternative`.
double synthetic_logprob(size_t position, int alternative);

/// Chat: {"content":[{"token","logprob","bytes":[...],"top_logprobs":[...]}, ...]} for `tokens`,
/// the first at `first_position`; each lists `top` top_logprobs, the sampled token first.
void append_chat_logprobs(std::string& out, const std::vector<std::string_view>& tokens,
                          size_t first_position, int top);

/// Completions: {"text_offset":[...],"token_logprobs":[...],"tokens":[...],"top_logprobs":[{...}]}
/// (vLLM's field order); each top_logprobs entry maps max(top, 1) tokens, the sampled one first.
/// Offsets count bytes from `first_offset`.
void append_completion_logprobs(std::string& out, const std::vector<std::string_view>& tokens,
                                size_t first_position, int top, size_t first_offset = 0);

}  // namespace inferstack::openai
