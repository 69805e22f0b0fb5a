// The OpenAI request a virtual client sends for a workload request. Sources that give token
// counts instead of text (traces, inference-perf) get a text made up here, word by word: with
// the stack's tokenizer (runtime/tokenizer.hpp, llm-d-inference-sim's) every word is one token,
// so the prompt has exactly the tokens asked for, and equal prefix blocks are equal text -- the
// prefix caches and the prefix-aware pickers see what the trace means.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "simulate/workload/workload.hpp"

namespace inferstack::simulate {

class request_bodies {
 public:
  /// `cache_bytes`: up to this much of prefix blocks' text is kept to be reused.
  explicit request_bodies(size_t cache_bytes = 256u << 20) : cache_limit_(cache_bytes) {}

  /// The prompt of request `index` of the workload:
  /// - its text, when the source gave one;
  /// - else its prefix blocks in order (each prefix_block_tokens words made from the block's
  ///   id: equal ids, equal text), then its own words up to prompt_tokens -- made from its
  ///   prompt_id when it has one (the same question again), else from `index`; a prompt shorter
  ///   than its blocks ends inside them (Mooncake's last block is partial);
  /// - a plain-trace shared_prefix without blocks: the first 3/4 of the prompt's tokens (at
  ///   least one) come from the id's text, the rest are the request's own.
  std::string prompt(const workload_request& r, uint64_t index);

  /// The JSON body: model, prompt (completions) or one user message (chat), max_tokens,
  /// stream (with usage in the last chunk), ignore_eos.
  std::string body(const workload_request& r, uint64_t index, const std::string& model);

 private:
  const std::string& block_text(uint64_t block, uint32_t tokens);

  size_t cache_limit_;
  size_t cached_bytes_ = 0;
  std::unordered_map<uint64_t, std::string> blocks_;  ///< by block id (of one length each)
  std::string scratch_;                               ///< a block's text when the cache is full
};

/// `n` words made from `seed` (a word: 6 lower-case letters and digits and a space).
void append_words(std::string& out, uint64_t seed, uint32_t n);

}  // namespace inferstack::simulate
