// Tool calls of chat completions (and the Responses API's function calls): `tools` and
// `tool_choice` parsed into typed values, the tool-schema check llm-d-inference-sim applies, and
// the generation of calls whose arguments are a random instance of each function's JSON schema,
// drawn from a seeded generator as the simulator draws them (its config.go settings). The same
// generator makes `response_format` json_schema answers. Plain code, no I/O.
//
// Typical use (a pod answering a request):
//   tools_request tr;
//   if (auto err = parse_tools(body, tr)) return *err;             // 400 naming the param
//   if (auto bad = check_tool_schemas(tr)) return *bad;             // the simulator's 400
//   auto made = generate_tool_calls(tr, settings, rng);              // ids "chatcmpl-tool-..."
//   if (made.error) ...;                                             // 500 in the simulator
//   for (auto& c : made.calls) c.name, c.arguments (JSON text)
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "openai/api_error.hpp"

namespace inferstack::openai {

/// One `{"type":"function","function":{...}}` entry of `tools` (or the Responses API's flat
/// `{"type":"function","name":...,"parameters":...}`).
struct function_tool {
  std::string name;
  std::optional<std::string> description;
  /// The JSON schema of the arguments (an object schema); null when the tool gave none.
  nlohmann::json parameters;
};

enum class tool_choice_mode {
  none,       ///< never call a tool
  automatic,  ///< "auto" (the default): call tools or answer with text
  required,   ///< call at least one tool
  function,   ///< call `function_name`
};

struct tool_choice {
  tool_choice_mode mode = tool_choice_mode::automatic;
  std::string function_name;  ///< mode function only
};

struct tools_request {
  std::vector<function_tool> tools;
  tool_choice choice;
  /// parallel_tool_calls (default true); false: one call at most.
  bool parallel_calls = true;
  /// Tools given and tool_choice not "none": the answer may be tool calls.
  bool calls_possible() const { return !tools.empty() && choice.mode != tool_choice_mode::none; }
};

/// Reads `tools` and `tool_choice` from a request body (either may be absent or null). A
/// malformed entry is a 400 whose message and `param` name it ("tools[1].function.name", ...).
/// tool_choice is a string ("none" | "auto" | "required") or {"type":"function","function":
/// {"name":...}} (also the flat {"type":"function","name":...}). That the named function is
/// among the tools is not checked here (see generate_tool_calls).
std::optional<api_error> parse_tools(const nlohmann::json& body, tools_request& out);

/// The simulator's check of each tool (its JSON meta-schema): a function has `parameters`, and
/// every schema in it uses only the keywords it knows (type, description, enum, properties, items,
/// required, additionalProperties, minItems, maxItems, default, minimum, maximum,
/// exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern, format, title), a `type`
/// among object/array/string/number/integer/boolean/null, enum values of that type, `items` for
/// arrays and `properties` for objects. The 400 reads "Tool validation failed: <where>: <why>".
/// Without `simulator_rules` (vLLM's behaviour) only well-formed JSON Schema is asked for: no
/// parameters is fine, unknown keywords are left alone, but a `type` that is no JSON Schema type,
/// or a keyword holding the wrong kind of value, is a 400 "Invalid tool schema: <where>: <why>".
std::optional<api_error> check_tool_schemas(const tools_request& tr, bool simulator_rules = true);

/// How arguments are drawn: llm-d-inference-sim's flags of the same names.
struct tool_generation_settings {
  int64_t min_integer_param = 0;                   ///< --min-tool-call-integer-param
  int64_t max_integer_param = 100;                 ///< --max-tool-call-integer-param
  double min_number_param = 0;                     ///< --min-tool-call-number-param
  double max_number_param = 100;                   ///< --max-tool-call-number-param
  int64_t min_array_length = 1;                    ///< --min-tool-call-array-param-length
  int64_t max_array_length = 5;                    ///< --max-tool-call-array-param-length
  int not_required_param_probability = 50;         ///< percent, top-level arguments
  int object_not_required_field_probability = 50;  ///< percent, fields of nested objects
  int extra_call_probability = 45;                 ///< percent, each call beyond the minimum
};

/// A random instance of `schema` (types string, integer, number, boolean, null, array, object;
/// enum and const; minimum/maximum within the settings' ranges; minItems/maxItems over the
/// settings' lengths; minLength/maxLength; anyOf/oneOf pick a branch). Required object fields
/// always appear; others with `optional_probability` percent in a top-level object and with
/// settings.object_not_required_field_probability in nested ones. Fails, with the reason, for an
/// unsupported type or minItems above maxItems (the simulator's errors).
struct generated_value {
  nlohmann::json value;
  std::optional<std::string> error;
};
generated_value generate_instance(const nlohmann::json& schema,
                                  const tool_generation_settings& settings, std::mt19937_64& rng,
                                  int optional_probability);

/// Whether `value` is an instance of `schema` for the keywords generate_instance honours (plus
/// required and additionalProperties:false). Nothing when it is; else where and why not.
std::optional<std::string> validate_instance(const nlohmann::json& schema,
                                             const nlohmann::json& value);

struct generated_call {
  std::string id;         ///< id_prefix + 10 digits
  std::string name;       ///< function name
  std::string arguments;  ///< compact JSON text
};

struct generated_calls {
  std::vector<generated_call> calls;  ///< empty: answer with text ("auto" chose not to call)
  std::optional<std::string> error;   ///< the simulator answers it with a 500
};

/// The simulator's rule: "required" and a named function make one call at least, "auto" none at
/// least; one more with extra_call_probability, again and again, up to the number of tools
/// offered (a named function, or parallel_tool_calls false: no more). Each call picks a tool at
/// random (repeats allowed) and draws its arguments (top-level properties not required appear with
/// not_required_param_probability). A named function missing from the tools is an error.
generated_calls generate_tool_calls(const tools_request& tr,
                                    const tool_generation_settings& settings, std::mt19937_64& rng,
                                    std::string_view id_prefix = "chatcmpl-tool-");

/// The completion tokens of `calls` as the simulator counts them: per call, 3 (name, id, type)
/// plus the tokens of its arguments.
uint32_t tool_call_tokens(const std::vector<generated_call>& calls);

/// The text of `text` cut at the tokenizer's token starts: one piece per token, every character
/// in exactly one piece (so the pieces stream back to the exact text).
std::vector<std::string> token_pieces(std::string_view text);

/// `[{"id":...,"type":"function","function":{"name":...,"arguments":...}}, ...]`: a message's
/// `tool_calls`, as OpenAI and vLLM lay them out.
std::string tool_calls_json(const std::vector<generated_call>& calls);

/// The inverse of tool_calls_json (for a front end handed the calls as text). Malformed: empty.
std::vector<generated_call> read_tool_calls_json(std::string_view text);

/// `tr` as a request body's {"tools":[...],"tool_choice":...} in JSON text, which parse_tools
/// reads back (how a gateway hands the tools to a pod); empty when there are no tools.
std::string tools_wire_json(const tools_request& tr);

// --- response_format -----------------------------------------------------------------------

/// What `response_format` asks for: text (nothing), any JSON object, or an instance of a schema.
struct response_format {
  enum class kind { text, json_object, json_schema };
  kind type = kind::text;
  nlohmann::json schema;  ///< json_schema: json_schema.schema (null when absent)
};

/// Reads `response_format` from a request body (absent or null: text). Errors name the param.
std::optional<api_error> parse_response_format(const nlohmann::json& body, response_format& out);

/// `format` as {"response_format":{...}} in JSON text, which parse_response_format reads back;
/// empty for text.
std::string response_format_wire_json(const response_format& format);

/// A JSON text answering `format` (json_object: a small object; json_schema: an instance of the
/// schema, every optional property included).
std::string generate_response_json(const response_format& format,
                                   const tool_generation_settings& settings, std::mt19937_64& rng);

}  // namespace inferstack::openai
