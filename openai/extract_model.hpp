// The router's fast path: the top-level "model" string of a request body without building a
// DOM. It is a complete, non-allocating (apart from the result and a nesting stack) JSON
// validator that agrees with nlohmann's parser on what is valid — the fuzz target checks this —
// so a body the router accepts is one parse_request can parse, and nested "model" keys (inside
// messages, tools, metadata, ...) are never mistaken for the top-level one. As in nlohmann and
// Python, the last of duplicate keys wins; escaped keys ("\u006dodel") count as "model".
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "openai/api_error.hpp"

namespace inferstack::openai {

enum class model_status {
  found,          ///< `model` holds the (unescaped) string
  missing,        ///< valid object without a top-level "model" (or with "model": null)
  not_a_string,   ///< top-level "model" is a number, object, ...
  not_an_object,  ///< valid JSON, but the top level is not an object
  invalid_json,   ///< not JSON; error_offset is the byte where the scanner gave up
};

struct model_lookup {
  model_status status = model_status::invalid_json;
  std::string model;
  size_t error_offset = 0;
  /// For not_a_string / not_an_object: the offending value's JSON type as the error texts word
  /// it ("an integer", "an array", ...).
  std::string_view value_type;

  bool found() const noexcept { return status == model_status::found; }
};

model_lookup extract_model(std::string_view body);

/// The 400 matching parse_request's for the same problem (nullopt when the model was found).
/// For invalid JSON the detail is the scanner's byte offset, not nlohmann's wording.
std::optional<api_error> model_lookup_error(const model_lookup& lookup);

}  // namespace inferstack::openai
