// The OpenAI codec: pure C++ (no CAF, no I/O) parsing of OpenAI requests and serialisation of
// responses, chunks and errors the way vLLM does. One include for everything:
//   endpoint.hpp       endpoint (chat_completions, completions)
//   request.hpp        completion_request, parse_request, validate_request
//   extract_model.hpp  extract_model: the router's top-level "model" lookup
//   response.hpp       chat/completion bodies, SSE chunks, stream_encoder, models list
//   upstream.hpp       sse_reader, inspect_payload, parse_usage (reading pod/vLLM answers)
//   api_error.hpp      api_error, error_json, the standard and injected errors
// VLLM_WIRE_FORMAT.md beside this file records what vLLM emits and where that was read.
#pragma once

#include "openai/api_error.hpp"
#include "openai/endpoint.hpp"
#include "openai/extract_model.hpp"
#include "openai/request.hpp"
#include "openai/response.hpp"
#include "openai/upstream.hpp"
