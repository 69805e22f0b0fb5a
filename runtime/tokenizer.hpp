// The offline tokenizer shared by pods and pickers. It is llm-d-inference-sim's dummy
// tokenizer, token for token: a token is one punctuation character or a run of word characters,
// plus the whitespace after it; its id is the FNV-1a 32-bit hash of that text. Using the same
// ids as the simulator lets our picker route precisely for llm-d-inference-sim pods too.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace inferstack::runtime {

/// FNV-1a, 32 bits.
uint32_t fnv1a_32(std::string_view data);

/// The token texts of `text`, each with its trailing whitespace. Characters the simulator's
/// regex does not match (other punctuation, non-ASCII) are skipped, as it skips them.
std::vector<std::string_view> split_tokens(std::string_view text);

/// Token ids of `text`.
std::vector<uint32_t> tokenize(std::string_view text);

/// Appends the token ids of `text` to `out` (no allocation of token texts).
void tokenize_into(std::string_view text, std::vector<uint32_t>& out);

struct chat_turn {
  std::string role;
  std::string content;
};

/// The simulator's chat template: "### <role>: <content>\n" per message.
std::string flatten_chat(const std::vector<chat_turn>& messages);

}  // namespace inferstack::runtime
