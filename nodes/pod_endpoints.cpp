// llm-d-inference-sim's extra endpoints for `inferstack run pod`; see pod_endpoints.hpp.
#include "nodes/pod_endpoints.hpp"

#include <cstdio>

#include "openai/api_error.hpp"
#include "openai/embeddings.hpp"
#include "openai/request.hpp"
#include "runtime/tokenizer.hpp"

namespace inferstack::nodes {

namespace {

using json = nlohmann::json;

endpoint_reply error_reply(const openai::api_error& err) {
  return {err.status, openai::error_json(err)};
}

endpoint_reply bad_request(std::string message) {
  return error_reply(openai::bad_request(std::move(message)));
}

/// The simulator's reply to a body that is not the JSON it expects.
endpoint_reply unreadable_body(const std::string& detail) {
  return bad_request("Failed to read and parse request body, " + detail);
}

bool is_lora(const std::set<std::string>& loras, const std::string& name) {
  return loras.count(name) > 0;
}

/// The simulator's model check for the render routes: a served name, not a LoRA.
std::optional<endpoint_reply> check_render_model(const json& body,
                                                 const actors::pod::pod_settings& s,
                                                 const std::set<std::string>& loras) {
  std::string model;
  if (body.contains("model") && body["model"].is_string()) model = body["model"].get<std::string>();
  if (is_lora(loras, model))
    return bad_request("The model `" + model +
                       "` is a LoRA adapter and is not supported by the render endpoints.");
  if (!s.serves(model)) return error_reply(openai::model_not_found(model));
  return std::nullopt;
}

/// The simulator's checks of a completions render body, before any parsing of its own.
std::optional<std::string> render_prompt_problem(const json& body) {
  const json* prompt = body.contains("prompt") ? &body["prompt"] : nullptr;
  if (!prompt || prompt->is_null() || (prompt->is_array() && prompt->empty()))
    return "prompt array must contain at least one prompt";
  if (prompt->is_string() && prompt->get_ref<const std::string&>().empty())
    return "prompt must not contain an empty string";
  if (prompt->is_array())
    for (const auto& p : *prompt) {
      if (p.is_string() && p.get_ref<const std::string&>().empty())
        return "prompt must not contain an empty string";
      if (p.is_array() && p.empty()) return "prompt must not contain an empty token-id array";
    }
  return std::nullopt;
}

json render_entry(const std::vector<uint32_t>& tokens) {
  return json{{"token_ids", tokens}};
}

// Keys POST /admin/config accepts (the simulator's `admin:"configurable"` fields).
const std::set<std::string, std::less<>> runtime_keys{"time-to-first-token",
                                                      "time-to-first-token-std-dev",
                                                      "inter-token-latency",
                                                      "inter-token-latency-std-dev",
                                                      "kv-cache-transfer-latency",
                                                      "kv-cache-transfer-latency-std-dev",
                                                      "prefill-overhead",
                                                      "prefill-time-per-token",
                                                      "prefill-time-std-dev",
                                                      "kv-cache-transfer-time-per-token",
                                                      "kv-cache-transfer-time-std-dev",
                                                      "time-to-generate-image",
                                                      "time-to-generate-image-std-dev",
                                                      "time-factor-under-load",
                                                      "latency-calculator",
                                                      "failure-injection-rate",
                                                      "failure-types",
                                                      "fake-metrics",
                                                      "image-emission-rate"};

/// A JSON value as the option text set_pod_option reads: a number given for a duration is
/// nanoseconds (Go's time.Duration), a list is comma-separated.
std::optional<std::string> option_text(const std::string& key, const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer() && actors::pod::engine::is_sim_latency_option(key) &&
      key != "time-factor-under-load")
    return std::to_string(v.get<int64_t>()) + "ns";
  if (v.is_number()) return v.dump();
  if (v.is_array()) {
    std::string out;
    for (const auto& item : v) {
      if (!item.is_string()) return std::nullopt;
      if (!out.empty()) out += ',';
      out += item.get<std::string>();
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace

endpoint_reply embeddings_reply(std::string_view body, const actors::pod::pod_settings& s) {
  auto answer = openai::embeddings_response(body, s.model, s.default_embedding_dimensions);
  return {answer.status, std::move(answer.body)};
}

endpoint_reply render_reply(bool chat, std::string_view body_text,
                            const actors::pod::pod_settings& s,
                            const std::set<std::string>& loras) {
  auto body = json::parse(body_text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return unreadable_body("expected a JSON object");
  if (chat) {
    if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty())
      return bad_request("messages must not be empty");
  } else if (auto problem = render_prompt_problem(body)) {
    return bad_request(*problem);
  }
  if (auto refused = check_render_model(body, s, loras)) return *refused;
  // The request as generation reads it, so the tokens are the ones the engine would see.
  auto kind = chat ? openai::endpoint::chat_completions : openai::endpoint::completions;
  auto parsed = openai::validate_request(kind, std::move(body));
  if (!parsed) return error_reply(parsed.error());
  const auto& req = parsed.request();
  if (chat) {
    std::vector<runtime::chat_turn> turns;
    for (const auto& m : req.messages)
      turns.push_back({m.role, m.content});
    return {200, render_entry(runtime::tokenize(runtime::flatten_chat(turns))).dump()};
  }
  json out = json::array();
  std::visit(
      [&](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) {
          out.push_back(render_entry(runtime::tokenize(p)));
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          for (const auto& text : p)
            out.push_back(render_entry(runtime::tokenize(text)));
        } else if constexpr (std::is_same_v<T, openai::token_ids>) {
          out.push_back(render_entry(p));
        } else if constexpr (std::is_same_v<T, std::vector<openai::token_ids>>) {
          for (const auto& ids : p)
            out.push_back(render_entry(ids));
        }
      },
      req.prompt);
  return {200, out.dump()};
}

std::vector<openai::model_card> model_cards(const actors::pod::pod_settings& s,
                                            const std::set<std::string>& loras, int64_t created) {
  std::vector<openai::model_card> cards;
  for (const auto& name : s.served_model_names) {
    openai::model_card c;
    c.id = name;
    c.created = created;
    c.root = s.model;
    c.max_model_len = s.engine.max_model_len;
    cards.push_back(c);
  }
  for (const auto& l : loras) {
    openai::model_card c;
    c.id = l;
    c.created = created;
    c.root = l;
    if (!s.served_model_names.empty()) c.parent = s.served_model_names.front();
    cards.push_back(c);
  }
  return cards;
}

endpoint_reply model_card_reply(std::string_view id, const actors::pod::pod_settings& s,
                                const std::set<std::string>& loras, int64_t created) {
  for (const auto& c : model_cards(s, loras, created)) {
    if (c.id == id) return {200, openai::model_card_json(c)};
  }
  return error_reply(openai::model_not_found(id));
}

std::string go_duration(int64_t ns) {
  if (ns == 0) return "0s";
  std::string sign = ns < 0 ? "-" : "";
  uint64_t u = ns < 0 ? static_cast<uint64_t>(-(ns + 1)) + 1 : static_cast<uint64_t>(ns);
  // Below a second: one unit (ns, µs, ms) with the fraction's trailing zeros dropped.
  auto with_fraction = [](uint64_t whole, uint64_t frac, int digits) {
    std::string out = std::to_string(whole);
    if (frac == 0) return out;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%0*llu", digits, static_cast<unsigned long long>(frac));
    std::string f = buf;
    while (!f.empty() && f.back() == '0')
      f.pop_back();
    return out + "." + f;
  };
  if (u < 1000) return sign + std::to_string(u) + "ns";
  if (u < 1000000) return sign + with_fraction(u / 1000, u % 1000, 3) + "\xC2\xB5s";
  if (u < 1000000000) return sign + with_fraction(u / 1000000, u % 1000000, 6) + "ms";
  uint64_t seconds = u / 1000000000, frac = u % 1000000000;
  uint64_t hours = seconds / 3600, minutes = seconds / 60 % 60;
  std::string out = sign;
  if (hours) out += std::to_string(hours) + "h";
  if (hours || minutes) out += std::to_string(minutes) + "m";
  return out + with_fraction(seconds % 60, frac, 9) + "s";
}

nlohmann::json admin_config(const actors::pod::pod_settings& s) {
  const auto& sim = s.sim;
  // The simulator's rate is a whole percent: shown as one when it is.
  json rate = s.failure_injection_rate;
  if (s.failure_injection_rate ==
      static_cast<double>(static_cast<int64_t>(s.failure_injection_rate)))
    rate = static_cast<int64_t>(s.failure_injection_rate);
  json loras = json::array();
  for (const auto& l : s.lora_modules)
    loras.push_back({{"name", l.name}, {"path", l.path}, {"base_model_name", l.base_model}});
  json out{
      {"port", s.port},
      {"model", s.model},
      {"served-model-name", s.served_model_names},
      {"max-loras", s.engine.max_loras},
      {"max-num-seqs", s.engine.max_num_seqs},
      {"max-waiting-queue-length", s.engine.max_waiting},
      {"max-model-len", s.engine.max_model_len},
      {"lora-modules", loras},
      {"time-to-first-token", go_duration(sim.time_to_first_token_ns)},
      {"time-to-first-token-std-dev", go_duration(sim.time_to_first_token_std_dev_ns)},
      {"inter-token-latency", go_duration(sim.inter_token_latency_ns)},
      {"inter-token-latency-std-dev", go_duration(sim.inter_token_latency_std_dev_ns)},
      {"kv-cache-transfer-latency", go_duration(sim.kv_cache_transfer_latency_ns)},
      {"kv-cache-transfer-latency-std-dev", go_duration(sim.kv_cache_transfer_latency_std_dev_ns)},
      {"prefill-overhead", go_duration(sim.prefill_overhead_ns)},
      {"prefill-time-per-token", go_duration(sim.prefill_time_per_token_ns)},
      {"prefill-time-std-dev", go_duration(sim.prefill_time_std_dev_ns)},
      {"kv-cache-transfer-time-per-token", go_duration(sim.kv_cache_transfer_time_per_token_ns)},
      {"kv-cache-transfer-time-std-dev", go_duration(sim.kv_cache_transfer_time_std_dev_ns)},
      {"time-factor-under-load", sim.time_factor_under_load},
      {"latency-calculator", std::string(actors::pod::engine::to_string(sim.calculator))},
      {"mode", s.mode},
      {"seed", s.seed},
      {"enable-kvcache", s.kv_events},
      {"kv-cache-size", s.engine.kv.num_gpu_blocks},
      {"block-size", s.engine.kv.block_size},
      {"hash-seed", s.engine.kv.hash_seed},
      {"zmq-endpoint", s.zmq_endpoint},
      {"kv-events-replay-endpoint", s.replay_endpoint},
      {"kv-events-replay-queue-size", s.replay_buffer},
      {"event-batch-size", s.event_batch_size},
      {"use-vllm-map-event-format", s.event_format == runtime::event_format::map},
      {"failure-injection-rate", rate},
      {"failure-types", s.failure_types},
      {"data-parallel-size", 1},
      {"data-parallel-rank", s.data_parallel_rank < 0 ? 0 : s.data_parallel_rank},
      {"startup-duration", go_duration(s.startup_duration_ns)},
      {"enable-sleep-mode", s.enable_sleep_mode},
      {"enable-request-id-headers", s.enable_request_id_headers},
      {"default-embedding-dimensions", s.default_embedding_dimensions},
      {"enable-prefix-caching", s.engine.enable_prefix_caching},
      {"max-request-body-size-mb", s.max_request_body_mb},
      // Ours (flag names of `inferstack run pod`, not the simulator's).
      {"max-num-batched-tokens", s.engine.max_num_batched_tokens},
      {"enable-chunked-prefill", s.engine.enable_chunked_prefill},
      {"pod-name", s.pod_name},
      {"profile", s.profile ? s.profile_source : std::string()},
  };
  return out;
}

endpoint_reply admin_config_update(std::string_view body_text, actors::pod::pod_settings& s,
                                   actors::pod::apply_options& apply) {
  auto body = json::parse(body_text, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return bad_request("failed to unmarshal payload: expected a JSON object");
  // Every key is checked, and every value on a copy, before anything changes.
  auto next = s;
  actors::pod::apply_options change;
  for (const auto& [key, value] : body.items()) {
    if (!runtime_keys.count(key))
      return bad_request("field '" + key + "' is not admin-configurable");
    if (key == "fake-metrics") continue;  // the metrics' own (pod_node checks and applies it)
    auto text = option_text(key, value);
    if (!text) return bad_request("field '" + key + "': unexpected value " + value.dump());
    if (auto err = actors::pod::set_pod_option(next, key, *text)) return bad_request(*err);
    change.keys.push_back(key);
    change.values.push_back(*text);
  }
  auto problems = next.sim.validate();
  if (!problems.empty()) return bad_request(problems.front());
  if (auto e = actors::pod::validate_omni(next)) return bad_request(*e);
  // Only the run-time fields: the rest of `s` is read meanwhile by other requests' threads.
  s.sim = next.sim;
  s.failure_injection_rate = next.failure_injection_rate;
  s.failure_types = next.failure_types;
  s.image_emission_rate = next.image_emission_rate;  // omni: pod_node hands them to the front end
  s.time_to_generate_image_ns = next.time_to_generate_image_ns;
  s.time_to_generate_image_std_dev_ns = next.time_to_generate_image_std_dev_ns;
  apply = std::move(change);
  return {200, admin_config(s).dump()};
}

std::string mooncake_query_json(const std::string& engine_id) {
  return json{{"0", {{"engine_id", engine_id}}}}.dump();
}

std::string uuid_v4(uint64_t seed_a, uint64_t seed_b) {
  // Version 4 (random) and the RFC 4122 variant bits.
  seed_a = (seed_a & ~uint64_t{0xf000}) | 0x4000;
  seed_b = (seed_b & ~(uint64_t{0xc} << 60)) | (uint64_t{0x8} << 60);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(seed_a >> 32),
                static_cast<unsigned long long>((seed_a >> 16) & 0xffff),
                static_cast<unsigned long long>(seed_a & 0xffff),
                static_cast<unsigned long long>(seed_b >> 48),
                static_cast<unsigned long long>(seed_b & 0xffffffffffffULL));
  return buf;
}

}  // namespace inferstack::nodes
