// The decisions on a request's way through the gateway, as plain functions in the order they
// are taken -- parse the headers, authorize, route, read the body, build the pick, and what to
// do when the picker or a pod fails. Each reads what it needs and returns what comes next: go
// on with a value, or answer with an error. No sockets and no actors: the drivers
// (inline_driver.cpp on the request's I/O thread, request_flow.cpp as an actor) apply them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <caf/error.hpp>

#include "actors/authorizer/authorizer_protocol.hpp"
#include "actors/picker/picker_protocol.hpp"
#include "actors/router/route_rng.hpp"
#include "gateway/pool_directory.hpp"
#include "gateway/request_state.hpp"
#include "gateway/stack_errors.hpp"
#include "openai/api_error.hpp"
#include "openai/endpoint.hpp"
#include "runtime/http/http_server.hpp"

namespace inferstack::gateway {

/// Which API a method and path ask for.
enum class api_route {
  chat,
  completions,
  responses,   ///< POST /v1/responses (OpenAI's Responses API)
  embeddings,  ///< POST /v1/embeddings (answered by the gateway for the models it routes)
  models,
  model,  ///< GET /v1/models/{id}
  not_allowed,
  not_found
};
api_route route_of(std::string_view path, bool get, bool post);

/// The generation endpoint of a chat, completions or responses route.
openai::endpoint endpoint_of(api_route route);

/// The path of a request target, without its query.
std::string_view target_path(const http::request& req);

/// The model id of a /v1/models/{id} path, percent-escapes decoded ("a%2Fb" and "a/b" alike:
/// ids such as meta-llama/Llama-3.1-8B hold a slash).
std::string model_of_path(std::string_view path);

/// A request as it arrives: the API it asks for, and its id -- the client's X-Request-Id when
/// it is a plain token of sane length (it reaches every role's logs and headers), else `fresh`.
struct arrival {
  api_route route = api_route::not_found;
  std::string_view path;
  std::string request_id;
};
arrival arrive(const http::request& req, const std::function<std::string()>& fresh);

/// The 404 or 405 of a request for no API here.
openai::api_error no_route_error(const arrival& a);

flow_headers read_flow_headers(const http::request& req);

/// Weighted backends are drawn, when the router's view decides on the request's thread, from a
/// generator of the gateway's seed and the request id: the same request splits the same way
/// on any thread and in every run (a simulation's variants see the same splits). The router
/// actor keeps its own seeded generator.
actors::router::route_rng routing_rng(uint64_t seed, std::string_view request_id);

/// A model server in another process, reached over HTTP (not an actor endpoint).
bool is_http_endpoint(const std::string& endpoint);

/// Every member of the pool is a model server over HTTP (which validates requests itself).
bool reached_over_http(const pool_entry* pool);

/// An error response the client gets in OpenAI's shape, with headers of its own.
struct openai_answer {
  openai::api_error error;
  http::header_list headers;
};

/// How a request ends when a step refuses it before its response has begun: an OpenAI error
/// (the client's mistake, or a pod's own error passed through) or the stack's own failure.
using error_answer = std::variant<openai_answer, stack_error>;

/// Renders a CAF error with the actor system's renderers (for messages); the drivers pass one.
using error_renderer = std::function<std::string(const caf::error&)>;

/// Authorization: nothing when the verdict admits the request, else its 401.
std::optional<openai::api_error> refuse_unauthorized(actors::authorizer::auth_verdict verdict,
                                                     const std::string& ns);

/// The router could not route: its own refusals as the body-based router words them (404
/// model_not_found, 400 from the codec, 500 no backend), anything else 502 bbr_unavailable.
error_answer route_refusal(const caf::error& err, std::string_view body,
                           const error_renderer& render);

/// X-Return-Error, when the operator forwards fault injection: a status code of 400-599 (the
/// simulator answers with it) goes into `code`, anything else is refused. Without the switch
/// (`forwarded` false) it is ignored.
std::optional<openai::api_error> read_fault_header(std::string_view text, bool forwarded,
                                                   int& code);

/// A boolean header as llm-d-inference-sim reads it (Go's ParseBool: 1, t, T, TRUE, true, True).
bool header_true(std::string_view value);

/// For a pool reached over HTTP: only the prompt's tokens, for the picker, as llm-d's EPP reads
/// it. Nothing when the body does not read that way (the full parse then words the 400).
std::optional<std::vector<uint32_t>> read_prompt_only(openai::endpoint kind, std::string_view body);

/// What parsing the whole body needs to know besides it.
struct parse_inputs {
  openai::endpoint kind = openai::endpoint::chat_completions;
  std::string_view body;
  std::string_view request_id;
  std::string_view model;        ///< as routed
  bool model_from_body = false;  ///< no router: the body's own (a pod checks it itself)
  int64_t created = 0;
  uint32_t stream_window = 32;
  int return_error = 0;
  bool simulator = false;  ///< gateway_settings::simulator_requests
  /// X-Cache-Threshold-Finish-Reason is true: a simulator pod answers with finish_reason
  /// cache_threshold and no tokens.
  bool cache_threshold_finish = false;
};

/// The whole body, typed and validated, and the generate request an in-process pod gets; or
/// the 400 it is refused with.
std::variant<std::unique_ptr<parsed_request>, openai::api_error> parse_whole(
    const parse_inputs& in);

/// The alternatives per token of the logprobs a request asks for (nullopt: none), by vLLM's
/// rules or, with `simulator`, llm-d-inference-sim's.
std::optional<int> logprobs_asked(const openai::completion_request& req, bool simulator);

/// The prompts as token ids and the texts echo mode returns, and the generation settings.
void build_generate(parsed_request& parsed, const parse_inputs& in);

/// What the picker is asked for this request.
actors::picker::choose_pod pick_for(const flow_state& st);

/// 503 as the EPP answers when the pool has no endpoint, with llm-d's dropped-reason header.
openai_answer no_endpoints(const pool_entry& pool, const std::string& detail);

/// The pool has no Ready endpoint: scale from zero may start one (the driver asks the
/// activator, and answers no_endpoints() when it cannot wait).
struct await_activation {};

/// After the picker failed: answer, wait for a pod to start, or (FailOpen) this member.
using pick_failure = std::variant<error_answer, await_activation, actors::picker::chosen_pod>;
pick_failure after_pick_error(const caf::error& err, const pool_entry& pool,
                              const std::string& request_id, const std::vector<std::string>& tried,
                              const error_renderer& render);

/// The retry policy's inputs: where the request stands with its pod.
struct pod_attempt {
  std::string_view pod;
  bool stream_started = false;  ///< bytes have reached the client
  bool may_retry = false;       ///< another pod may be picked, and attempts are left
};

/// Try another pod (nothing reached the client yet).
struct retry_elsewhere {};
/// The stream has begun: only a terminal SSE error event can tell the client.
struct end_stream {
  openai::api_error error;
};
using pod_failure = std::variant<retry_elsewhere, error_answer, end_stream>;

/// The retry policy: a pod that could not be reached, or was not ready or draining, is retried
/// elsewhere while nothing has reached the client and attempts are left; a timeout is 504, an
/// unreachable pod 502, and a genuine error from the pod passes through unchanged.
pod_failure after_pod_error(const caf::error& err, const pod_attempt& at,
                            const error_renderer& render);

/// The error of a model server over HTTP that broke off after its first byte.
openai::api_error broken_upstream(std::string_view pod, const std::string& error);

}  // namespace inferstack::gateway
