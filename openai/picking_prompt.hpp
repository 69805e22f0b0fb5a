// The prompt of a request as the endpoint picker needs it (to match prefixes), read with
// simdjson's On-Demand parser: no DOM, only the prompt's fields visited, the others not
// validated. For requests the gateway forwards over HTTP, where the model server validates the
// body itself, as llm-d's EPP does. It yields exactly what parse_request would yield for the
// same body (the messages' roles and flattened contents, or the first prompt), so both paths
// tokenize alike; a body it cannot read that way gives nullopt, and the caller takes the full
// parse, which words the error. The body is expected to be JSON the router has already checked
// (extract_model validates all of it): On-Demand does not look for content after the object.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "openai/endpoint.hpp"
#include "openai/request.hpp"

namespace inferstack::openai {

struct picking_prompt {
  /// Chat: each message's role and content (text parts joined by newlines, media skipped).
  std::vector<std::pair<std::string, std::string>> turns;
  /// Completions: the first prompt, as text or as token ids.
  std::string text;
  token_ids ids;
  bool has_ids = false;
};

std::optional<picking_prompt> extract_picking_prompt(endpoint kind, std::string_view body);

}  // namespace inferstack::openai
