// Tool calls and response_format: parsing, the simulator's tool-schema check, and generation of
// arguments from JSON schemas; see tool_calls.hpp.
#include "openai/tool_calls.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "openai/request.hpp"
#include "runtime/json_escape.hpp"
#include "runtime/tokenizer.hpp"

namespace inferstack::openai {

using json = nlohmann::json;

namespace {

// Words string arguments are drawn from (the simulator has its own list of ten).
constexpr std::string_view string_words[] = {"Paris",  "sunny", "hello",  "Lisbon", "rain",
                                             "search", "today", "report", "blue",   "quiet"};

std::string at_index(std::string_view base, size_t i) {
  return std::string(base) + "[" + std::to_string(i) + "]";
}

bool is_whole_number(const json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return true;
  if (!v.is_number_float()) return false;
  double d = v.get<double>();
  return std::isfinite(d) && std::floor(d) == d;
}

// --- random draws, as the simulator makes them -----------------------------------------------

int64_t draw_int(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  if (hi <= lo) return lo;
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

double draw_real(std::mt19937_64& rng, double lo, double hi) {
  if (!(hi > lo)) return lo;
  double v = std::uniform_real_distribution<double>(lo, hi)(rng);
  return std::min(v, hi);
}

/// True with `percent` percent.
bool chance(std::mt19937_64& rng, int percent) {
  if (percent <= 0) return false;
  if (percent >= 100) return true;
  return draw_int(rng, 0, 99) < percent;
}

// --- the simulator's tool meta-schema ----------------------------------------------------------

constexpr std::string_view known_keywords[] = {"type",
                                               "description",
                                               "enum",
                                               "properties",
                                               "items",
                                               "required",
                                               "additionalProperties",
                                               "minItems",
                                               "maxItems",
                                               "default",
                                               "minimum",
                                               "maximum",
                                               "exclusiveMinimum",
                                               "exclusiveMaximum",
                                               "minLength",
                                               "maxLength",
                                               "pattern",
                                               "format",
                                               "title"};

constexpr std::string_view known_types[] = {"object",  "array",   "string", "number",
                                            "integer", "boolean", "null"};

std::optional<std::string> check_param(const json& schema, const std::string& where) {
  if (!schema.is_object())
    return where + ": expected an object, but got " + std::string(type_phrase(schema));
  for (const auto& [key, value] : schema.items())
    if (std::find(std::begin(known_keywords), std::end(known_keywords), key) ==
        std::end(known_keywords))
      return where + ": additional property '" + key + "' is not allowed";
  auto type_it = schema.find("type");
  if (type_it == schema.end()) return where + ": missing property 'type'";
  if (!type_it->is_string())
    return where + ".type: expected a string, but got " + std::string(type_phrase(*type_it));
  const auto type = type_it->get<std::string>();
  if (std::find(std::begin(known_types), std::end(known_types), type) == std::end(known_types))
    return where + ".type: '" + type +
           "' is not one of object, array, string, number, integer, boolean, null";
  for (const char* key : {"description", "pattern", "format", "title"})
    if (auto it = schema.find(key); it != schema.end() && !it->is_string())
      return where + "." + key + ": expected a string, but got " + std::string(type_phrase(*it));
  for (const char* key : {"minItems", "maxItems", "minLength", "maxLength"})
    if (auto it = schema.find(key); it != schema.end()) {
      if (!is_whole_number(*it))
        return where + "." + key + ": expected an integer, but got " +
               std::string(type_phrase(*it));
      if (it->get<double>() < 0) return where + "." + key + ": must be at least 0";
    }
  for (const char* key : {"minimum", "maximum"})
    if (auto it = schema.find(key); it != schema.end() && !it->is_number())
      return where + "." + key + ": expected a number, but got " + std::string(type_phrase(*it));
  for (const char* key : {"exclusiveMinimum", "exclusiveMaximum"})
    if (auto it = schema.find(key); it != schema.end() && !it->is_number() && !it->is_boolean())
      return where + "." + key + ": expected a number or a boolean, but got " +
             std::string(type_phrase(*it));
  if (auto it = schema.find("additionalProperties"); it != schema.end() && !it->is_boolean())
    return where + ".additionalProperties: expected a boolean, but got " +
           std::string(type_phrase(*it));
  if (auto it = schema.find("required"); it != schema.end()) {
    if (!it->is_array())
      return where + ".required: expected an array, but got " + std::string(type_phrase(*it));
    for (size_t i = 0; i < it->size(); ++i)
      if (!(*it)[i].is_string())
        return at_index(where + ".required", i) + ": expected a string, but got " +
               std::string(type_phrase((*it)[i]));
  }
  if (auto it = schema.find("enum"); it != schema.end()) {
    if (type == "null" || type == "object" || type == "array")
      return where + ".enum: not allowed for type '" + type + "'";
    if (!it->is_array())
      return where + ".enum: expected an array, but got " + std::string(type_phrase(*it));
    for (size_t i = 0; i < it->size(); ++i) {
      const auto& e = (*it)[i];
      bool ok = type == "string"    ? e.is_string()
                : type == "number"  ? e.is_number()
                : type == "integer" ? is_whole_number(e)
                                    : e.is_boolean();
      if (!ok)
        return at_index(where + ".enum", i) + ": expected " +
               (type == "integer" ? std::string("an integer") : "a " + type) + ", but got " +
               std::string(type_phrase(e));
    }
  }
  if (auto it = schema.find("properties"); it != schema.end()) {
    if (!it->is_object())
      return where + ".properties: expected an object, but got " + std::string(type_phrase(*it));
    for (const auto& [name, sub] : it->items())
      if (auto bad = check_param(sub, where + ".properties." + name)) return bad;
  } else if (type == "object") {
    return where + ": missing property 'properties' (type object)";
  }
  if (auto it = schema.find("items"); it != schema.end()) {
    if (it->is_array()) {
      for (size_t i = 0; i < it->size(); ++i)
        if (auto bad = check_param((*it)[i], at_index(where + ".items", i))) return bad;
    } else if (auto bad = check_param(*it, where + ".items")) {
      return bad;
    }
  } else if (type == "array") {
    return where + ": missing property 'items' (type array)";
  }
  return std::nullopt;
}

// --- generation --------------------------------------------------------------------------------

// A JSON Schema's well-formedness, as a server compiling it for structured output needs it: the
// keywords it reads hold what they must; keywords it does not know are left alone.
std::optional<std::string> check_schema_shape(const json& schema, const std::string& where) {
  if (schema.is_boolean()) return std::nullopt;
  if (!schema.is_object())
    return where + ": expected an object, but got " + std::string(type_phrase(schema));
  if (auto it = schema.find("type"); it != schema.end()) {
    auto known = [](const json& t) {
      return t.is_string() && std::find(std::begin(known_types), std::end(known_types),
                                        t.get<std::string>()) != std::end(known_types);
    };
    bool ok =
        it->is_array() ? !it->empty() && std::all_of(it->begin(), it->end(), known) : known(*it);
    if (!ok) return where + ".type: " + it->dump() + " is not a JSON Schema type";
  }
  if (auto it = schema.find("enum"); it != schema.end() && !it->is_array())
    return where + ".enum: expected an array, but got " + std::string(type_phrase(*it));
  if (auto it = schema.find("required"); it != schema.end()) {
    if (!it->is_array() ||
        !std::all_of(it->begin(), it->end(), [](const json& r) { return r.is_string(); }))
      return where + ".required: expected an array of strings";
  }
  for (const char* key : {"minItems", "maxItems", "minLength", "maxLength"})
    if (auto it = schema.find(key);
        it != schema.end() && (!is_whole_number(*it) || it->get<double>() < 0))
      return where + "." + key + ": expected a non-negative integer";
  for (const char* key : {"minimum", "maximum"})
    if (auto it = schema.find(key); it != schema.end() && !it->is_number())
      return where + "." + key + ": expected a number, but got " + std::string(type_phrase(*it));
  if (auto it = schema.find("properties"); it != schema.end()) {
    if (!it->is_object())
      return where + ".properties: expected an object, but got " + std::string(type_phrase(*it));
    for (const auto& [name, sub] : it->items())
      if (auto bad = check_schema_shape(sub, where + ".properties." + name)) return bad;
  }
  if (auto it = schema.find("items"); it != schema.end()) {
    if (it->is_array()) {
      for (size_t i = 0; i < it->size(); ++i)
        if (auto bad = check_schema_shape((*it)[i], at_index(where + ".items", i))) return bad;
    } else if (auto bad = check_schema_shape(*it, where + ".items")) {
      return bad;
    }
  }
  for (const char* key : {"anyOf", "oneOf", "allOf"})
    if (auto it = schema.find(key); it != schema.end()) {
      if (!it->is_array())
        return where + "." + key + ": expected an array, but got " + std::string(type_phrase(*it));
      for (size_t i = 0; i < it->size(); ++i)
        if (auto bad = check_schema_shape((*it)[i], at_index(where + "." + key, i))) return bad;
    }
  return std::nullopt;
}

struct generator {
  const tool_generation_settings& settings;
  std::mt19937_64& rng;
  std::optional<std::string> error;

  /// The type to produce: `type` (the first of a list that is not "null"), else inferred.
  std::string type_of(const json& schema) {
    if (const json* t = find_field(schema, "type")) {
      if (t->is_string()) return t->get<std::string>();
      if (t->is_array() && !t->empty()) {
        for (const auto& x : *t)
          if (x.is_string() && x != "null") return x.get<std::string>();
        return "null";
      }
    }
    if (find_field(schema, "properties")) return "object";
    if (find_field(schema, "items")) return "array";
    return "string";
  }

  std::optional<double> number_of(const json& schema, const char* key) {
    const json* v = find_field(schema, key);
    return v && v->is_number() ? std::optional<double>(v->get<double>()) : std::nullopt;
  }

  json string_value(const json& schema) {
    std::string s(string_words[draw_int(rng, 0, std::size(string_words) - 1)]);
    if (auto min = number_of(schema, "minLength"))
      while (s.size() < static_cast<size_t>(std::max(0.0, *min)))
        s += string_words[draw_int(rng, 0, std::size(string_words) - 1)].substr(0, 1);
    if (auto max = number_of(schema, "maxLength"))
      if (*max >= 0 && s.size() > static_cast<size_t>(*max)) s.resize(static_cast<size_t>(*max));
    return s;
  }

  /// [lo, hi] of the settings narrowed to the schema's bounds; the schema's alone when the two
  /// do not meet.
  std::pair<double, double> bounds(const json& schema, double lo, double hi, bool integral) {
    std::optional<double> slo = number_of(schema, "minimum");
    std::optional<double> shi = number_of(schema, "maximum");
    if (auto x = number_of(schema, "exclusiveMinimum")) {
      double v = integral ? std::floor(*x) + 1 : std::nextafter(*x, HUGE_VAL);
      slo = slo ? std::max(*slo, v) : v;
    }
    if (auto x = number_of(schema, "exclusiveMaximum")) {
      double v = integral ? std::ceil(*x) - 1 : std::nextafter(*x, -HUGE_VAL);
      shi = shi ? std::min(*shi, v) : v;
    }
    if (integral) {
      if (slo) slo = std::ceil(*slo);
      if (shi) shi = std::floor(*shi);
    }
    double a = slo ? std::max(lo, *slo) : lo;
    double b = shi ? std::min(hi, *shi) : hi;
    if (a <= b) return {a, b};
    if (slo && shi) return {*slo, std::max(*slo, *shi)};
    if (slo) return {*slo, *slo};
    return {*shi, *shi};
  }

  json array_value(const json& schema) {
    std::optional<double> smin = number_of(schema, "minItems");
    std::optional<double> smax = number_of(schema, "maxItems");
    if (smin && smax && *smin > *smax) {
      error = "minItems (" + std::to_string(static_cast<int64_t>(*smin)) +
              ") is greater than maxItems(" + std::to_string(static_cast<int64_t>(*smax)) + ")";
      return json::array();
    }
    int64_t lo = smin ? static_cast<int64_t>(*smin) : settings.min_array_length;
    int64_t hi = smax ? static_cast<int64_t>(*smax) : settings.max_array_length;
    if (lo > hi) {  // one bound from the schema, the other from the settings: the schema's wins
      if (smin)
        hi = lo;
      else
        lo = hi;
    }
    json out = json::array();
    const json* items = find_field(schema, "items");
    if (items && items->is_array()) {  // a tuple: one value per position
      for (const auto& s : *items) {
        out.push_back(value(s));
        if (error) break;
      }
      return out;
    }
    static const json any_string = json{{"type", "string"}};
    const json& item = items && items->is_object() ? *items : any_string;
    auto n = draw_int(rng, std::max<int64_t>(0, lo), std::max<int64_t>(0, hi));
    for (int64_t i = 0; i < n && !error; ++i)
      out.push_back(value(item));
    return out;
  }

  json object_value(const json& schema, int optional_probability) {
    json out = json::object();
    const json* props = find_field(schema, "properties");
    if (!props || !props->is_object()) return out;
    const json* required = find_field(schema, "required");
    auto is_required = [&](const std::string& name) {
      if (!required || !required->is_array()) return false;
      return std::find(required->begin(), required->end(), json(name)) != required->end();
    };
    for (const auto& [name, sub] : props->items()) {
      if (!is_required(name) && !chance(rng, optional_probability)) continue;
      out[name] = value(sub);
      if (error) break;
    }
    return out;
  }

  json value(const json& schema) {
    if (error) return nullptr;
    if (!schema.is_object()) return string_value(json::object());
    if (const json* e = find_field(schema, "enum"); e && e->is_array() && !e->empty())
      return (*e)[static_cast<size_t>(draw_int(rng, 0, static_cast<int64_t>(e->size()) - 1))];
    if (auto it = schema.find("const"); it != schema.end()) return *it;
    for (const char* key : {"anyOf", "oneOf"})
      if (const json* alts = find_field(schema, key); alts && alts->is_array() && !alts->empty())
        return value(
            (*alts)[static_cast<size_t>(draw_int(rng, 0, static_cast<int64_t>(alts->size()) - 1))]);
    const auto type = type_of(schema);
    if (type == "string") return string_value(schema);
    if (type == "integer") {
      auto [lo, hi] = bounds(schema, static_cast<double>(settings.min_integer_param),
                             static_cast<double>(settings.max_integer_param), true);
      return draw_int(rng, static_cast<int64_t>(lo), static_cast<int64_t>(hi));
    }
    if (type == "number") {
      auto [lo, hi] = bounds(schema, settings.min_number_param, settings.max_number_param, false);
      return draw_real(rng, lo, hi);
    }
    if (type == "boolean") return chance(rng, 50);
    if (type == "null") return nullptr;
    if (type == "array") return array_value(schema);
    if (type == "object")
      return object_value(schema, settings.object_not_required_field_probability);
    error = "tool parameters of type " + type + " are not supported";
    return nullptr;
  }
};

// --- instance validation -----------------------------------------------------------------------

bool has_type(const json& v, std::string_view type) {
  if (type == "string") return v.is_string();
  if (type == "integer") return is_whole_number(v);
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  if (type == "array") return v.is_array();
  if (type == "object") return v.is_object();
  return false;
}

std::optional<std::string> check_instance(const json& schema, const json& v,
                                          const std::string& where) {
  if (!schema.is_object()) return std::nullopt;
  if (const json* e = find_field(schema, "enum"); e && e->is_array()) {
    if (std::find(e->begin(), e->end(), v) == e->end()) return where + ": not one of the enum";
    return std::nullopt;
  }
  if (auto it = schema.find("const"); it != schema.end())
    return *it == v ? std::nullopt : std::optional<std::string>(where + ": not the const value");
  for (const char* key : {"anyOf", "oneOf"})
    if (const json* alts = find_field(schema, key); alts && alts->is_array() && !alts->empty()) {
      for (const auto& alt : *alts)
        if (!check_instance(alt, v, where)) return std::nullopt;
      return where + ": matches none of " + key;
    }
  if (const json* t = find_field(schema, "type")) {
    bool ok = false;
    if (t->is_string()) ok = has_type(v, t->get<std::string>());
    if (t->is_array())
      for (const auto& x : *t)
        ok = ok || (x.is_string() && has_type(v, x.get<std::string>()));
    if (!ok) return where + ": expected type " + t->dump() + ", got " + std::string(type_phrase(v));
  }
  auto num = [&](const char* key) -> std::optional<double> {
    const json* x = find_field(schema, key);
    return x && x->is_number() ? std::optional<double>(x->get<double>()) : std::nullopt;
  };
  if (v.is_number()) {
    double d = v.get<double>();
    if (auto m = num("minimum"); m && d < *m) return where + ": below minimum";
    if (auto m = num("maximum"); m && d > *m) return where + ": above maximum";
    if (auto m = num("exclusiveMinimum"); m && d <= *m)
      return where + ": not above exclusiveMinimum";
    if (auto m = num("exclusiveMaximum"); m && d >= *m)
      return where + ": not below exclusiveMaximum";
  }
  if (v.is_string()) {
    auto n = static_cast<double>(v.get_ref<const std::string&>().size());
    if (auto m = num("minLength"); m && n < *m) return where + ": shorter than minLength";
    if (auto m = num("maxLength"); m && n > *m) return where + ": longer than maxLength";
  }
  if (v.is_array()) {
    auto n = static_cast<double>(v.size());
    if (auto m = num("minItems"); m && n < *m) return where + ": fewer than minItems";
    if (auto m = num("maxItems"); m && n > *m) return where + ": more than maxItems";
    if (const json* items = find_field(schema, "items")) {
      for (size_t i = 0; i < v.size(); ++i) {
        const json* s = items->is_array() ? (i < items->size() ? &(*items)[i] : nullptr) : items;
        if (s)
          if (auto bad = check_instance(*s, v[i], at_index(where, i))) return bad;
      }
    }
  }
  if (v.is_object()) {
    const json* props = find_field(schema, "properties");
    if (const json* req = find_field(schema, "required"); req && req->is_array())
      for (const auto& r : *req)
        if (r.is_string() && !v.contains(r.get<std::string>()))
          return where + ": missing required property '" + r.get<std::string>() + "'";
    const json* extra = find_field(schema, "additionalProperties");
    for (const auto& [key, sub] : v.items()) {
      const json* s = props && props->contains(key) ? &(*props)[key] : nullptr;
      if (s) {
        if (auto bad = check_instance(*s, sub, where + "." + key)) return bad;
      } else if (extra && extra->is_boolean() && !extra->get<bool>()) {
        return where + ": property '" + key + "' is not allowed";
      }
    }
  }
  return std::nullopt;
}

}  // namespace

// --- parsing -----------------------------------------------------------------------------------

std::optional<api_error> parse_tools(const json& body, tools_request& out) {
  out = tools_request{};
  if (const json* tools = find_field(body, "tools")) {
    if (!tools->is_array()) return invalid_type("tools", "an array", type_phrase(*tools));
    out.tools.reserve(tools->size());
    for (size_t i = 0; i < tools->size(); ++i) {
      const json& entry = (*tools)[i];
      const std::string base = at_index("tools", i);
      if (!entry.is_object()) return invalid_type(base, "an object", type_phrase(entry));
      if (const json* type = find_field(entry, "type")) {
        if (!type->is_string()) return invalid_type(base + ".type", "a string", type_phrase(*type));
        if (*type != "function")
          return bad_request("Invalid value for '" + base + ".type': '" + type->get<std::string>() +
                                 "' tools are not supported; only 'function' tools are.",
                             base + ".type");
      }
      // Chat completions nest the definition under "function"; the Responses API lays it flat.
      const json* fn = find_field(entry, "function");
      std::string path = base + ".function";
      if (!fn && entry.contains("name")) {
        fn = &entry;
        path = base;
      }
      if (!fn) return missing_parameter(base + ".function");
      if (!fn->is_object()) return invalid_type(path, "an object", type_phrase(*fn));
      function_tool tool;
      const json* name = find_field(*fn, "name");
      if (!name) return missing_parameter(path + ".name");
      if (!name->is_string()) return invalid_type(path + ".name", "a string", type_phrase(*name));
      tool.name = name->get<std::string>();
      if (tool.name.empty())
        return bad_request("Invalid value for '" + path + ".name': the name is empty.",
                           path + ".name");
      if (const json* d = find_field(*fn, "description")) {
        if (!d->is_string())
          return invalid_type(path + ".description", "a string", type_phrase(*d));
        tool.description = d->get<std::string>();
      }
      if (const json* p = find_field(*fn, "parameters")) {
        if (!p->is_object())
          return invalid_type(path + ".parameters", "an object", type_phrase(*p));
        tool.parameters = *p;
      }
      out.tools.push_back(std::move(tool));
    }
  }
  if (const json* p = find_field(body, "parallel_tool_calls")) {
    if (!p->is_boolean()) return invalid_type("parallel_tool_calls", "a boolean", type_phrase(*p));
    out.parallel_calls = p->get<bool>();
  }
  const json* choice = find_field(body, "tool_choice");
  if (!choice) return std::nullopt;
  if (choice->is_string()) {
    const auto& s = choice->get_ref<const std::string&>();
    if (s == "none") {
      out.choice.mode = tool_choice_mode::none;
    } else if (s == "auto") {
      out.choice.mode = tool_choice_mode::automatic;
    } else if (s == "required") {
      out.choice.mode = tool_choice_mode::required;
    } else {
      return bad_request("Invalid value for 'tool_choice': '" + s +
                             "'. Supported values are: 'none', 'auto' and 'required', or an "
                             "object naming a function.",
                         "tool_choice");
    }
    return std::nullopt;
  }
  if (!choice->is_object())
    return invalid_type("tool_choice", "a string or an object", type_phrase(*choice));
  const json* type = find_field(*choice, "type");
  if (!type) return missing_parameter("tool_choice.type");
  if (!type->is_string()) return invalid_type("tool_choice.type", "a string", type_phrase(*type));
  if (*type == "allowed_tools" || *type == "custom") {
    // Accepted as the simulator accepts them: the choice stays with the model ("auto").
    out.choice.mode = tool_choice_mode::automatic;
    return std::nullopt;
  }
  if (*type != "function")
    return bad_request("Invalid value for 'tool_choice.type': '" + type->get<std::string>() +
                           "'. Supported values are: 'function', 'allowed_tools' and 'custom'.",
                       "tool_choice.type");
  const json* name = nullptr;
  if (const json* fn = find_field(*choice, "function"); fn && fn->is_object())
    name = find_field(*fn, "name");
  if (!name) name = find_field(*choice, "name");
  if (!name) return missing_parameter("tool_choice.function.name");
  if (!name->is_string() || name->get_ref<const std::string&>().empty())
    return bad_request("tool_choice function requires a name", "tool_choice.function.name");
  out.choice.mode = tool_choice_mode::function;
  out.choice.function_name = name->get<std::string>();
  return std::nullopt;
}

std::optional<api_error> check_tool_schemas(const tools_request& tr, bool simulator_rules) {
  for (size_t i = 0; i < tr.tools.size(); ++i) {
    const auto& tool = tr.tools[i];
    const std::string where = at_index("tools", i) + ".function";
    std::optional<std::string> problem;
    if (!simulator_rules) {
      if (!tool.parameters.is_null())
        problem = check_schema_shape(tool.parameters, where + ".parameters");
      if (problem) return bad_request("Invalid tool schema: " + *problem, "tools");
      continue;
    }
    // The simulator drops an empty parameters object when it re-encodes the tool: missing too.
    if (!tool.parameters.is_object() || tool.parameters.empty())
      problem = where + ": missing properties: 'parameters'";
    else
      problem = check_param(tool.parameters, where + ".parameters");
    if (problem) return bad_request("Tool validation failed: " + *problem, "tools");
  }
  return std::nullopt;
}

// --- generation --------------------------------------------------------------------------------

generated_value generate_instance(const json& schema, const tool_generation_settings& settings,
                                  std::mt19937_64& rng, int optional_probability) {
  generator g{settings, rng, std::nullopt};
  generated_value out;
  if (g.type_of(schema) == "object" && schema.is_object())
    out.value = g.object_value(schema, optional_probability);
  else
    out.value = g.value(schema);
  out.error = std::move(g.error);
  return out;
}

std::optional<std::string> validate_instance(const json& schema, const json& value) {
  return check_instance(schema, value, "$");
}

generated_calls generate_tool_calls(const tools_request& tr,
                                    const tool_generation_settings& settings, std::mt19937_64& rng,
                                    std::string_view id_prefix) {
  generated_calls out;
  if (!tr.calls_possible()) return out;
  std::vector<const function_tool*> offered;
  size_t min_calls = 0;
  if (tr.choice.mode == tool_choice_mode::function) {
    for (const auto& t : tr.tools)
      if (t.name == tr.choice.function_name) {
        offered.push_back(&t);
        break;
      }
    if (offered.empty()) {
      out.error = "tool with name '" + tr.choice.function_name +
                  "' requested in tool_choice but not found in the tools list";
      return out;
    }
    min_calls = 1;
  } else {
    for (const auto& t : tr.tools)
      offered.push_back(&t);
    min_calls = tr.choice.mode == tool_choice_mode::required ? 1 : 0;
  }
  size_t n = min_calls;
  while (tr.parallel_calls && n < offered.size() && chance(rng, settings.extra_call_probability))
    ++n;
  for (size_t i = 0; i < n; ++i) {
    const auto* tool =
        offered[static_cast<size_t>(draw_int(rng, 0, static_cast<int64_t>(offered.size()) - 1))];
    // The arguments are the parameters' properties (whatever the top-level type says).
    json schema = tool->parameters.is_object() ? tool->parameters : json::object();
    schema["type"] = "object";
    auto args = generate_instance(schema, settings, rng, settings.not_required_param_probability);
    if (args.error) {
      out.calls.clear();
      out.error = std::move(args.error);
      return out;
    }
    generated_call call;
    call.id = std::string(id_prefix);
    for (int d = 0; d < 10; ++d)
      call.id.push_back(static_cast<char>('0' + draw_int(rng, 0, 9)));
    call.name = tool->name;
    call.arguments = args.value.dump();
    out.calls.push_back(std::move(call));
  }
  return out;
}

uint32_t tool_call_tokens(const std::vector<generated_call>& calls) {
  uint32_t n = 0;
  for (const auto& c : calls)
    n += 3 + static_cast<uint32_t>(runtime::split_tokens(c.arguments).size());
  return n;
}

std::vector<std::string> token_pieces(std::string_view text) {
  std::vector<std::string> out;
  auto tokens = runtime::split_tokens(text);
  if (tokens.empty()) {
    if (!text.empty()) out.emplace_back(text);
    return out;
  }
  out.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    size_t begin = i == 0 ? 0 : static_cast<size_t>(tokens[i].data() - text.data());
    size_t end = i + 1 < tokens.size() ? static_cast<size_t>(tokens[i + 1].data() - text.data())
                                       : text.size();
    out.emplace_back(text.substr(begin, end - begin));
  }
  return out;
}

std::string tool_calls_json(const std::vector<generated_call>& calls) {
  std::string out = "[";
  for (size_t i = 0; i < calls.size(); ++i) {
    if (i) out += ',';
    out += R"({"id":)";
    runtime::append_json_string(out, calls[i].id);
    out += R"(,"type":"function","function":{"name":)";
    runtime::append_json_string(out, calls[i].name);
    out += R"(,"arguments":)";
    runtime::append_json_string(out, calls[i].arguments);
    out += "}}";
  }
  out += ']';
  return out;
}

std::vector<generated_call> read_tool_calls_json(std::string_view text) {
  std::vector<generated_call> out;
  json parsed = json::parse(text, nullptr, false);
  if (!parsed.is_array()) return out;
  for (const auto& c : parsed) {
    const json* fn = find_field(c, "function");
    const json* id = find_field(c, "id");
    if (!fn || !id || !id->is_string()) return {};
    const json* name = find_field(*fn, "name");
    const json* args = find_field(*fn, "arguments");
    if (!name || !name->is_string() || !args || !args->is_string()) return {};
    out.push_back({id->get<std::string>(), name->get<std::string>(), args->get<std::string>()});
  }
  return out;
}

std::string tools_wire_json(const tools_request& tr) {
  if (tr.tools.empty()) return {};
  json tools = json::array();
  for (const auto& t : tr.tools) {
    json fn = {{"name", t.name}};
    if (t.description) fn["description"] = *t.description;
    if (!t.parameters.is_null()) fn["parameters"] = t.parameters;
    tools.push_back({{"type", "function"}, {"function", std::move(fn)}});
  }
  json choice;
  switch (tr.choice.mode) {
    case tool_choice_mode::none:
      choice = "none";
      break;
    case tool_choice_mode::automatic:
      choice = "auto";
      break;
    case tool_choice_mode::required:
      choice = "required";
      break;
    case tool_choice_mode::function:
      choice = {{"type", "function"}, {"function", {{"name", tr.choice.function_name}}}};
      break;
  }
  json wire{{"tools", std::move(tools)}, {"tool_choice", std::move(choice)}};
  if (!tr.parallel_calls) wire["parallel_tool_calls"] = false;
  return wire.dump();
}

// --- response_format ---------------------------------------------------------------------------

std::optional<api_error> parse_response_format(const json& body, response_format& out) {
  out = response_format{};
  const json* rf = find_field(body, "response_format");
  if (!rf) return std::nullopt;
  if (!rf->is_object()) return invalid_type("response_format", "an object", type_phrase(*rf));
  const json* type = find_field(*rf, "type");
  if (!type) return missing_parameter("response_format.type");
  if (!type->is_string())
    return invalid_type("response_format.type", "a string", type_phrase(*type));
  if (*type == "text") return std::nullopt;
  if (*type == "json_object") {
    out.type = response_format::kind::json_object;
    return std::nullopt;
  }
  if (*type != "json_schema")
    return bad_request("Invalid value for 'response_format.type': '" + type->get<std::string>() +
                           "'. Supported values are: 'text', 'json_object' and 'json_schema'.",
                       "response_format.type");
  const json* js = find_field(*rf, "json_schema");
  if (!js) return missing_parameter("response_format.json_schema");
  if (!js->is_object())
    return invalid_type("response_format.json_schema", "an object", type_phrase(*js));
  out.type = response_format::kind::json_schema;
  if (const json* schema = find_field(*js, "schema")) {
    if (!schema->is_object() && !schema->is_boolean())
      return invalid_type("response_format.json_schema.schema", "an object", type_phrase(*schema));
    if (schema->is_object()) out.schema = *schema;
  }
  return std::nullopt;
}

std::string response_format_wire_json(const response_format& format) {
  switch (format.type) {
    case response_format::kind::text:
      return {};
    case response_format::kind::json_object:
      return R"({"response_format":{"type":"json_object"}})";
    case response_format::kind::json_schema:
      break;
  }
  json js = json::object();
  if (!format.schema.is_null()) js["schema"] = format.schema;
  return json{{"response_format", {{"type", "json_schema"}, {"json_schema", std::move(js)}}}}
      .dump();
}

std::string generate_response_json(const response_format& format,
                                   const tool_generation_settings& settings, std::mt19937_64& rng) {
  static const json any_object = json::parse(
      R"({"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"]})");
  const json& schema =
      format.type == response_format::kind::json_schema && format.schema.is_object() ? format.schema
                                                                                     : any_object;
  // Every optional property too: a structured answer shows all its fields.
  auto all = settings;
  all.object_not_required_field_probability = 100;
  auto made = generate_instance(schema, all, rng, 100);
  if (made.error) return "{}";
  return made.value.dump();
}

}  // namespace inferstack::openai
