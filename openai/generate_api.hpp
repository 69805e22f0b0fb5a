// vLLM's tokens-in/tokens-out API, POST /inference/v1/generate, as llm-d-inference-sim serves it:
// the prompt is `token_ids`, `sampling_params.max_tokens` bounds the output, and the answer
// carries token ids, not text -- {"choices":[{"index","finish_reason","token_ids"}],
// "request_id","ec_transfer_params":null}, streamed as one such chunk per token run (the last
// holding the finish reason), an optional usage chunk, then [DONE]. kv_transfer_params (at the
// root, or in sampling_params.extra_args) asks for P/D prefill or decode.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "openai/api_error.hpp"

namespace inferstack::openai {

struct generate_request_body {
  std::string model;
  std::vector<uint32_t> token_ids;
  std::optional<int64_t> max_tokens;  ///< sampling_params.max_tokens
  bool stream = false;
  bool include_usage = false;  ///< stream_options.include_usage
  bool ignore_eos = false;
  bool remote_decode = false;   ///< kv_transfer_params.do_remote_decode: prefill only
  bool remote_prefill = false;  ///< kv_transfer_params.do_remote_prefill: the KV comes in
};

/// The body read, or the simulator's 400: not the JSON it expects, "Missing input token_ids",
/// "Missing sampling_params field", a max_tokens below 1.
std::variant<generate_request_body, api_error> parse_generate(std::string_view body);

/// The kv_transfer_params a prefill-only (do_remote_decode) request answers for its decoder:
/// llm-d-inference-sim's placeholders (remote_engine_id/remote_block_ids DUMMY_ID, remote_host
/// DUMMY, remote_port 1234, tp_size 1, do_remote_prefill true).
std::string prefill_kv_transfer_params_json();

/// The non-streamed answer. `remote_decode`: the prefill's kv_transfer_params for the decoder
/// (the simulator's placeholder values).
std::string generate_response_json(std::string_view request_id, const std::vector<uint32_t>& ids,
                                   std::string_view finish_reason, bool remote_decode);

/// One streamed chunk of token ids; an empty `finish_reason` renders null.
std::string sse_generate_chunk(std::string_view request_id, const std::vector<uint32_t>& ids,
                               std::string_view finish_reason);

/// The stream_options.include_usage chunk: "choices":[] and the usage.
std::string sse_generate_usage_chunk(std::string_view request_id, int64_t prompt_tokens,
                                     int64_t completion_tokens, int64_t cached_tokens);

}  // namespace inferstack::openai
