// The gateway's decisions as plain functions; see request_steps.hpp.
#include "gateway/request_steps.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "actors/pod/pod_actor.hpp"
#include "actors/router/router_protocol.hpp"
#include "gateway/request_trace.hpp"
#include "openai/extract_model.hpp"
#include "openai/generate_api.hpp"
#include "openai/picking_prompt.hpp"
#include "runtime/tokenizer.hpp"

namespace inferstack::gateway {

namespace pod = actors::pod;
namespace picker = actors::picker;
namespace router = actors::router;

api_route route_of(std::string_view path, bool get, bool post) {
  if (path == "/v1/chat/completions" && post) return api_route::chat;
  if (path == "/v1/completions" && post) return api_route::completions;
  if (path == "/v1/responses" && post) return api_route::responses;
  if (path == "/v1/embeddings" && post) return api_route::embeddings;
  if (path == "/v1/models" && get) return api_route::models;
  constexpr std::string_view one_model = "/v1/models/";
  bool model_path = path.size() > one_model.size() && path.substr(0, one_model.size()) == one_model;
  if (model_path && get) return api_route::model;
  bool known = path == "/v1/chat/completions" || path == "/v1/completions" ||
               path == "/v1/responses" || path == "/v1/embeddings" || path == "/v1/models" ||
               model_path;
  return known ? api_route::not_allowed : api_route::not_found;
}

openai::endpoint endpoint_of(api_route route) {
  if (route == api_route::responses) return openai::endpoint::responses;
  return route == api_route::chat ? openai::endpoint::chat_completions
                                  : openai::endpoint::completions;
}

std::string model_of_path(std::string_view path) {
  constexpr std::string_view prefix = "/v1/models/";
  if (path.substr(0, prefix.size()) == prefix) path.remove_prefix(prefix.size());
  std::string id;
  for (size_t i = 0; i < path.size(); ++i) {
    unsigned value = 0;
    if (path[i] == '%' && i + 2 < path.size() &&
        std::from_chars(path.data() + i + 1, path.data() + i + 3, value, 16).ptr ==
            path.data() + i + 3) {
      id += static_cast<char>(value);
      i += 2;
    } else {
      id += path[i];
    }
  }
  return id;
}

std::string_view target_path(const http::request& req) {
  auto target = http::to_std(req.target());
  return target.substr(0, target.find('?'));
}

arrival arrive(const http::request& req, const std::function<std::string()>& fresh) {
  arrival a;
  a.path = target_path(req);
  using verb = boost::beast::http::verb;
  a.route = route_of(a.path, req.method() == verb::get, req.method() == verb::post);
  auto id = req.find("x-request-id");
  a.request_id = id != req.end() && acceptable_request_id(http::to_std(id->value()))
                     ? std::string(http::to_std(id->value()))
                     : fresh();
  return a;
}

openai::api_error no_route_error(const arrival& a) {
  return a.route == api_route::not_allowed
             ? openai::error_for_status(405, "Method not allowed for " + std::string(a.path))
             : openai::error_for_status(404, "No route for " + std::string(a.path));
}

flow_headers read_flow_headers(const http::request& req) {
  namespace bhttp = boost::beast::http;
  flow_headers h;
  std::string_view llm_d_objective;
  std::string_view llm_d_fairness;  // llm-d's name wins over GAIE's when both are sent
  // A repeated header: the first one counts, as with a lookup.
  auto first = [](std::string_view& slot, std::string_view value) {
    if (slot.empty()) slot = value;
  };
  for (const auto& f : req) {
    auto value = http::to_std(f.value());
    if (f.name() == bhttp::field::authorization) {
      first(h.authorization, value);
      continue;
    }
    if (f.name() != bhttp::field::unknown) continue;
    auto name = f.name_string();
    if (boost::beast::iequals(name, "x-session-token"))
      first(h.session, value);
    else if (boost::beast::iequals(name, "x-gateway-inference-objective"))
      first(h.objective, value);
    else if (boost::beast::iequals(name, "x-llm-d-inference-objective"))
      first(llm_d_objective, value);
    else if (boost::beast::iequals(name, "x-llm-d-inference-fairness-id"))
      first(llm_d_fairness, value);
    else if (boost::beast::iequals(name, "x-gateway-inference-fairness-id"))
      first(h.fairness_id, value);
    else if (boost::beast::iequals(name, "x-llm-d-slo-ttft-ms") ||
             boost::beast::iequals(name, "x-slo-ttft-ms"))
      first(h.slo_ttft, value);
    else if (boost::beast::iequals(name, "x-llm-d-slo-tpot-ms") ||
             boost::beast::iequals(name, "x-slo-tpot-ms"))
      first(h.slo_tpot, value);
    else if (boost::beast::iequals(name, "x-inferstack-priority"))
      first(h.priority, value);
    else if (boost::beast::iequals(name, "x-return-error"))
      first(h.return_error, value);
    else if (boost::beast::iequals(name, "x-cache-threshold-finish-reason"))
      first(h.cache_threshold_finish, value);
    else if (boost::beast::iequals(name, "x-inferstack-debug-pick"))
      first(h.debug_pick, value);
    else if (boost::beast::iequals(name, "traceparent"))
      first(h.traceparent, value);
    else if (boost::beast::iequals(name, "tracestate"))
      first(h.tracestate, value);
  }
  if (h.objective.empty()) h.objective = llm_d_objective;
  if (!llm_d_fairness.empty()) h.fairness_id = llm_d_fairness;
  return h;
}

actors::router::route_rng routing_rng(uint64_t seed, std::string_view request_id) {
  return actors::router::route_rng{seed ^ std::hash<std::string_view>{}(request_id)};
}

bool is_http_endpoint(const std::string& endpoint) {
  return endpoint.rfind("http://", 0) == 0;
}

bool reached_over_http(const pool_entry* pool) {
  if (!pool || pool->members.empty()) return false;
  return std::all_of(pool->members.begin(), pool->members.end(),
                     [](const auto& m) { return is_http_endpoint(m.endpoint); });
}

std::optional<openai::api_error> refuse_unauthorized(actors::authorizer::auth_verdict verdict,
                                                     const std::string& ns) {
  namespace authz = actors::authorizer;
  if (authz::admits(verdict)) return std::nullopt;
  openai::api_error err = openai::invalid_api_key();
  if (verdict == authz::auth_verdict::missing_key)
    err.message =
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).";
  else if (verdict == authz::auth_verdict::unknown_namespace)
    err.message = "No API key is configured for namespace " + ns + ".";
  return err;
}

error_answer route_refusal(const caf::error& err, std::string_view body,
                           const error_renderer& render) {
  if (err.category() == caf::atom("router")) {
    auto code = static_cast<router::router_errc>(err.code());
    std::string context;
    if (err.context().match_elements<std::string>()) context = err.context().get_as<std::string>(0);
    switch (code) {
      case router::router_errc::model_not_found:
        // The body-based router decided: the KAITO stack names it as the source.
        return openai_answer{openai::model_not_found(context), {{"x-kaito-error-source", "bbr"}}};
      case router::router_errc::invalid_json:
      case router::router_errc::missing_model: {
        // The codec's own error for this body (its message, param and code), once.
        auto why = openai::model_lookup_error(openai::extract_model(body));
        return openai_answer{why ? *why : openai::bad_request(context, std::string("model")),
                             {{"x-kaito-error-source", "bbr"}}};
      }
      case router::router_errc::no_backend:
        return internal_failure(500, context);
    }
  }
  return router_unavailable(render(err));
}

std::optional<openai::api_error> read_fault_header(std::string_view text, bool forwarded,
                                                   int& code) {
  if (!forwarded || text.empty()) return std::nullopt;
  int value = 0;
  auto end = text.data() + text.size();
  auto [stop, problem] = std::from_chars(text.data(), end, value);
  if (problem != std::errc{} || stop != end || value < 400 || value > 599)
    return openai::bad_request("Invalid X-Return-Error header value '" +
                                   std::string(text.substr(0, 16)) +
                                   "': must be an HTTP error status between 400 and 599",
                               std::string("x-return-error"));
  code = value;
  return std::nullopt;
}

bool header_true(std::string_view value) {
  // Go's strconv.ParseBool, as llm-d-inference-sim reads its boolean headers.
  return value == "1" || value == "t" || value == "T" || value == "TRUE" || value == "true" ||
         value == "True";
}

std::optional<std::vector<uint32_t>> read_prompt_only(openai::endpoint kind,
                                                      std::string_view body) {
  // A Responses body has no picking-prompt reader: the full parse gives its prompt.
  if (kind == openai::endpoint::responses) return std::nullopt;
  auto prompt = openai::extract_picking_prompt(kind, body);
  if (!prompt) return std::nullopt;
  if (kind == openai::endpoint::chat_completions) {
    std::vector<runtime::chat_turn> turns;
    turns.reserve(prompt->turns.size());
    for (auto& [role, content] : prompt->turns)
      turns.push_back({std::move(role), std::move(content)});
    return runtime::tokenize(runtime::flatten_chat(turns));
  }
  return prompt->has_ids ? std::move(prompt->ids) : runtime::tokenize(prompt->text);
}

namespace {

/// A Responses body, read into the chat request it is served as.
std::variant<std::unique_ptr<parsed_request>, openai::api_error> parse_responses_body(
    const parse_inputs& in) {
  auto outcome = openai::parse_responses(in.body);
  if (auto* refused = std::get_if<openai::api_error>(&outcome)) return std::move(*refused);
  auto& body = std::get<openai::responses_request>(outcome);
  auto parsed = std::make_unique<parsed_request>();
  parsed->req = std::move(body.chat);
  parsed->req.raw = nlohmann::json();
  parsed->meta.id = "resp_" + std::string(in.request_id);
  parsed->meta.created = in.created;
  parsed->meta.model = in.model_from_body ? parsed->req.model : std::string(in.model);
  openai::responses_meta meta;
  meta.id = parsed->meta.id;
  meta.item_id = "msg_" + std::string(in.request_id);
  meta.created_at = in.created;
  meta.model = parsed->meta.model;
  meta.instructions = std::move(body.instructions);
  meta.max_output_tokens = parsed->req.max_completion_tokens;
  meta.top_logprobs = body.top_logprobs;
  meta.text_format = std::move(body.text_format);
  meta.parallel_tool_calls = parsed->req.tools.parallel_calls;
  // vLLM reads instructions as a system message ahead of the input; the simulator leaves them
  // out of the prompt.
  if (!in.simulator && meta.instructions) {
    openai::chat_message system;
    system.role = "system";
    system.content = *meta.instructions;
    parsed->req.messages.insert(parsed->req.messages.begin(), std::move(system));
  }
  parsed->responses.emplace(std::move(meta));
  build_generate(*parsed, in);
  // Echo mode answers the last input item as the simulator renders it.
  parsed->gen.echo_texts = {std::move(body.echo_text)};
  return parsed;
}

}  // namespace

std::variant<std::unique_ptr<parsed_request>, openai::api_error> parse_whole(
    const parse_inputs& in) {
  if (in.kind == openai::endpoint::responses) return parse_responses_body(in);
  auto outcome = openai::parse_request(in.kind, in.body, openai::parse_rules{in.simulator});
  if (!outcome) {
    auto err = outcome.error();
    // The simulator's text for a max_tokens below 1 (its clients look for it).
    if (in.simulator && (err.param == "max_tokens" || err.param == "max_completion_tokens") &&
        err.message.rfind("max_tokens must be at least 1", 0) == 0)
      err.message = "Max completion tokens and max tokens should be positive";
    return err;
  }
  auto parsed = std::make_unique<parsed_request>();
  parsed->req = std::move(outcome).request();
  // llm-d-inference-sim's cache_hit_threshold (0-1; outside that range the pod's global one).
  if (auto it = parsed->req.raw.find("cache_hit_threshold");
      it != parsed->req.raw.end() && it->is_number())
    parsed->req.cache_hit_threshold = it->get<double>();
  parsed->req.raw = nlohmann::json();  // the pod gets typed fields; drop the DOM early
  parsed->meta.id = in.kind == openai::endpoint::chat_completions ? "chatcmpl-" : "cmpl-";
  parsed->meta.id += in.request_id;
  parsed->meta.created = in.created;
  parsed->meta.model = in.model_from_body ? parsed->req.model : std::string(in.model);
  parsed->logprobs = logprobs_asked(parsed->req, in.simulator);
  // P/D: a prefill-only request answers its decoder's kv_transfer_params (the simulator's).
  if (parsed->req.remote_decode)
    parsed->meta.kv_transfer_params = openai::prefill_kv_transfer_params_json();
  if (parsed->req.stream)
    parsed->encoder.emplace(in.kind, parsed->meta,
                            openai::stream_style{in.simulator, parsed->logprobs});
  build_generate(*parsed, in);
  return parsed;
}

std::optional<int> logprobs_asked(const openai::completion_request& req, bool simulator) {
  if (req.kind == openai::endpoint::chat_completions) {
    if (!req.logprobs) return std::nullopt;
    // logprobs alone: vLLM lists no alternatives, the simulator one (the token itself).
    return static_cast<int>(req.top_logprobs.value_or(simulator ? 1 : 0));
  }
  // Completions ask with `logprobs` = N; the simulator answers only N > 0.
  if (!req.top_logprobs || (simulator && *req.top_logprobs <= 0)) return std::nullopt;
  return static_cast<int>(*req.top_logprobs);
}

namespace {

std::string joined_ids(const openai::token_ids& ids) {
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) text += ',';
    text += std::to_string(ids[i]);
  }
  return text;
}

}  // namespace

void build_generate(parsed_request& parsed, const parse_inputs& in) {
  auto& req = parsed.req;
  auto& gen = parsed.gen;
  gen.request_id = in.request_id;
  gen.model = parsed.meta.model;
  // A Responses request is served as the chat request its input items make.
  const bool chat = in.kind != openai::endpoint::completions;
  gen.api = static_cast<uint8_t>(chat ? pod::api_kind::chat : pod::api_kind::completions);
  if (chat) {
    std::vector<runtime::chat_turn> turns;
    turns.reserve(req.messages.size());
    for (const auto& m : req.messages)
      turns.push_back({m.role, m.content});
    gen.prompts.push_back(runtime::tokenize(runtime::flatten_chat(turns)));
    if (req.messages.empty())
      gen.echo_texts.emplace_back();
    else
      gen.echo_texts.push_back(
          req.messages.back().plain_text.value_or(req.messages.back().content));
  } else {
    std::visit(
        [&](const auto& p) {
          using T = std::decay_t<decltype(p)>;
          if constexpr (std::is_same_v<T, std::string>) {
            gen.prompts.push_back(runtime::tokenize(p));
            gen.echo_texts.push_back(p);
          } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            for (const auto& s : p) {
              gen.prompts.push_back(runtime::tokenize(s));
              gen.echo_texts.push_back(s);
            }
          } else if constexpr (std::is_same_v<T, openai::token_ids>) {
            gen.prompts.push_back(p);
            gen.echo_texts.push_back(joined_ids(p));
          } else if constexpr (std::is_same_v<T, std::vector<openai::token_ids>>) {
            for (const auto& ids : p) {
              gen.prompts.push_back(ids);
              gen.echo_texts.push_back(joined_ids(ids));
            }
          }
        },
        req.prompt);
  }
  auto max_tokens = req.effective_max_tokens();
  // Unset, the simulator charges one token in the context check and generates up to the rest.
  if (!max_tokens && in.kind == openai::endpoint::completions && !in.simulator)
    max_tokens = openai::vllm_completions_default_max_tokens;
  gen.max_tokens = max_tokens.value_or(-1);
  gen.ignore_eos = req.ignore_eos;
  gen.remote_prefill = req.remote_prefill;  // P/D (kv_transfer_params)
  gen.remote_decode = req.remote_decode;
  gen.n = static_cast<uint32_t>(std::max(1, req.n));
  gen.stream = req.stream;
  gen.stream_window = in.stream_window;
  gen.return_error = static_cast<uint32_t>(in.return_error);
  gen.cache_threshold_finish = in.simulator && in.cache_threshold_finish;
  if (req.cache_hit_threshold) gen.cache_hit_threshold = *req.cache_hit_threshold;
  gen.tools = openai::tools_wire_json(req.tools);
  gen.response_format = openai::response_format_wire_json(req.format);
}

/// A latency objective header's milliseconds; 0 (none) when absent or not a positive number,
/// as llm-d ignores a header it cannot parse.
static double objective_ms(std::string_view text) {
  if (text.empty()) return 0;
  double ms = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
  return ec == std::errc{} && end == text.data() + text.size() && ms > 0 && std::isfinite(ms) ? ms
                                                                                              : 0;
}

picker::choose_pod pick_for(const flow_state& st) {
  picker::choose_pod pick;
  pick.request_id = st.request_id;
  pick.model = st.route.model;
  if (st.lean)
    pick.tokens = st.pick_tokens;
  else if (st.parsed && !st.parsed->gen.prompts.empty())
    pick.tokens = st.parsed->gen.prompts.front();
  pick.session = st.headers.session;
  pick.exclude = st.tried;
  pick.objective = st.headers.objective;
  pick.fairness_id = st.headers.fairness_id;
  pick.explain = header_true(st.headers.debug_pick);
  stamp_trace(st, pick.traceparent, pick.tracestate);
  pick.slo_ttft_ms = objective_ms(st.headers.slo_ttft);
  pick.slo_tpot_ms = objective_ms(st.headers.slo_tpot);
  if (!st.headers.priority.empty()) {
    try {
      pick.priority = std::stoi(std::string(st.headers.priority));
    } catch (const std::exception&) {
    }
  }
  return pick;
}

openai_answer no_endpoints(const pool_entry& pool, const std::string& detail) {
  return {openai::service_unavailable("InferencePool " + pool.ns + "/" + pool.name +
                                      " has no ready endpoint" + detail),
          {{"x-llm-d-request-dropped-reason", "rejected-no-endpoints"}}};
}

pick_failure after_pick_error(const caf::error& err, const pool_entry& pool,
                              const std::string& request_id, const std::vector<std::string>& tried,
                              const error_renderer& render) {
  // The picker's own answers, as the EPP gives them (503 no endpoints, 429 shed), with llm-d's
  // x-llm-d-request-dropped-reason. A picker that does not know its pool yet (restarted) has
  // no answer to give: it counts as unavailable, below.
  bool not_ready = err.category() == caf::atom("picker") &&
                   err.code() == static_cast<uint8_t>(picker::picker_errc::not_ready);
  if (err.category() == caf::atom("picker") && !not_ready) {
    auto code = static_cast<picker::picker_errc>(err.code());
    if (code == picker::picker_errc::no_endpoints) return await_activation{};
    if (code == picker::picker_errc::ttl_expired)  // waited in the picker's queue too long
      return error_answer{
          openai_answer{{429, "The request timed out in the pool's queue.", "rate_limit_error",
                         std::nullopt, "rate_limit_exceeded"},
                        {{"x-llm-d-request-dropped-reason", "rejected-ttl-expired"}}}};
    if (code == picker::picker_errc::slo_unattainable)  // its objective says: not late
      return error_answer{openai_answer{
          {429, "No pod of the pool can serve the request within its latency objective.",
           "rate_limit_error", std::nullopt, "rate_limit_exceeded"},
          {{"x-llm-d-request-dropped-reason", "rejected-slo-unattainable"}}}};
    openai::api_error shed{429, "The pool is saturated; sheddable requests are rejected.",
                           "rate_limit_error", std::nullopt, "rate_limit_exceeded"};
    return error_answer{
        openai_answer{shed, {{"x-llm-d-request-dropped-reason", "rejected-saturated"}}}};
  }
  // The picker could not answer (in time, or yet): the pool's failure mode decides.
  if (pool.failure_mode == "FailOpen") {
    // Any ready member, spread by request id (not always the first one).
    const auto& members = pool.members;
    size_t start = members.empty() ? 0 : std::hash<std::string>{}(request_id) % members.size();
    for (size_t i = 0; i < members.size(); ++i) {
      const auto& m = members[(start + i) % members.size()];
      if (!m.ready || m.draining) continue;
      if (std::find(tried.begin(), tried.end(), m.pod) != tried.end()) continue;
      return picker::chosen_pod{m.pod, m.endpoint, {}, {}};
    }
    return error_answer{no_healthy_pod("the picker of " + pool.ns + "/" + pool.name +
                                       " is unavailable and no pod is known")};
  }
  return error_answer{not_programmed("the picker of InferencePool " + pool.ns + "/" + pool.name +
                                     " is unavailable (FailClose): " + render(err))};
}

namespace {

bool is_transport_failure(const caf::error& err) {
  return err.category() == caf::atom("transport") || err == caf::sec::request_timeout ||
         err == caf::sec::request_receiver_down;
}

openai::api_error to_api_error(const pod::pod_error_info& info) {
  openai::api_error err;
  err.status = info.status;
  err.message = info.message;
  err.type = info.type;
  if (!info.param.empty()) err.param = info.param;
  err.code = info.code;
  return err;
}

}  // namespace

pod_failure after_pod_error(const caf::error& err, const pod_attempt& at,
                            const error_renderer& render) {
  bool transport = is_transport_failure(err);
  bool unavailable = err.category() == caf::atom("pod") &&
                     (err.code() == static_cast<uint8_t>(pod::pod_errc::not_ready) ||
                      err.code() == static_cast<uint8_t>(pod::pod_errc::draining));
  // Nothing reached the client yet: try once more on another pod.
  if (!at.stream_started && (transport || unavailable) && at.may_retry) return retry_elsewhere{};
  if (at.stream_started)
    return end_stream{transport ? broken_upstream(at.pod, render(err))
                                : to_api_error(pod::describe_pod_error(err))};
  if (err == caf::sec::request_timeout)
    return error_answer{internal_failure(504, "the model server " + std::string(at.pod) +
                                                  " did not answer within the upstream timeout")};
  if (transport)
    return error_answer{no_healthy_pod("the model server " + std::string(at.pod) +
                                       " is unreachable: " + render(err))};
  // A genuine error from the pod passes through unchanged.
  return error_answer{openai_answer{to_api_error(pod::describe_pod_error(err)), {}}};
}

openai::api_error broken_upstream(std::string_view pod, const std::string& error) {
  return openai::internal_error("the model server " + std::string(pod) +
                                " failed mid-stream: " + error);
}

}  // namespace inferstack::gateway
