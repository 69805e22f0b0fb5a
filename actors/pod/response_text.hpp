// What a simulated response says and how long it is: echo mode returns the prompt text, random
// mode seeded draws from llm-d-inference-sim's sentences; the length follows llm-d-inference-sim's
// rules unless configured otherwise. Plain code: the pod calls it once per choice.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "actors/pod/pod_settings.hpp"

namespace inferstack::actors::pod {

struct planned_output {
  std::vector<std::string> pieces;  ///< one per token, trailing whitespace included
  std::vector<uint32_t> token_ids;  ///< the tokenizer's ids of the pieces
  std::string finish_reason;        ///< stop | length
};

/// llm-d-inference-sim's --mm-encoder-only answer: "!" as many times as max_tokens (once when
/// not given), finish `length`, whatever the mode.
planned_output encoder_only_output(int64_t max_tokens);

class response_planner {
 public:
  response_planner(std::string mode, output_length_spec length, uint32_t max_model_len,
                   uint64_t seed);

  /// `max_tokens` < 0: not given. Never returns zero tokens. Echo mode returns the whole
  /// `echo_text` even past `max_tokens`, as the simulator does.
  planned_output plan(std::string_view echo_text, uint32_t prompt_tokens, int64_t max_tokens,
                      bool ignore_eos);

  /// The simulator's length draw (exposed for tests).
  uint32_t sim_length(uint32_t prompt_tokens, int64_t max_tokens);

 private:
  uint32_t draw_length(uint32_t prompt_tokens, int64_t max_tokens, bool ignore_eos);

  bool echo_;
  output_length_spec length_;
  uint32_t max_model_len_;
  std::mt19937_64 rng_;
};

}  // namespace inferstack::actors::pod
