// /v1/messages and /inference/v1/generate on a pod's own front end; see pod_other_apis.hpp.
#include "gateway/pod_other_apis.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include "gateway/gateway_protocol.hpp"
#include "gateway/pod_conversation.hpp"
#include "gateway/pod_encoder_only.hpp"
#include "gateway/request_trace.hpp"
#include "openai/anthropic_messages.hpp"
#include "openai/generate_api.hpp"
#include "openai/response.hpp"
#include "runtime/tokenizer.hpp"

namespace inferstack::gateway {

namespace {

namespace pod = actors::pod;

/// What answering one request needs besides the flow's state.
struct other_state {
  other_api api = other_api::none;
  /// Messages: not started as the simulator (a profile, as vLLM): Anthropic's error bodies.
  /// The simulator answers OpenAI's error envelope on /v1/messages too.
  bool anthropic_errors = false;
  openai::messages_meta meta;
  std::optional<openai::messages_stream> messages;  ///< a streamed Messages answer
  int64_t input_tokens = 0;
  // generate
  bool echo_mode = false;
  bool include_usage = false;
  bool remote_decode = false;
  std::vector<uint32_t> prompt;  ///< echo mode: the ids the answer repeats
  size_t echoed = 0;             ///< of `prompt`, streamed so far
};

http::header_list answer_headers(const flow_state& st) {
  http::header_list out;
  if (st.ctx->settings.request_id_headers) out.emplace_back("x-request-id", st.request_id);
  out.emplace_back("x-inference-pod", st.pod_name);
  if (!st.pick_decision.empty()) out.emplace_back(pick_decision_header, st.pick_decision);
  return out;
}

void start_stream(flow_state& st) {
  if (st.stream_started) return;
  st.stream_started = true;
  st.ex->start_stream(http::status::ok, "text/event-stream", answer_headers(st));
}

/// A refusal before anything was sent.
void refuse(flow_actor* self, const other_state& os, const openai::api_error& err) {
  if (!os.anthropic_errors) return fail_openai(self, err);
  auto& st = self->state;
  http::header_list headers;
  if (st.ctx->settings.request_id_headers) headers.emplace_back("x-request-id", st.request_id);
  st.ex->respond(static_cast<http::status>(err.status), openai::messages_error_json(err),
                 "application/json", std::move(headers));
  done(self, err.status);
}

/// The token ids of generated text: the prompt's own in echo mode (the echo text is the ids'
/// placeholder), else the tokenizer's ids of the text.
std::vector<uint32_t> ids_of(other_state& os, std::string_view text, uint32_t tokens) {
  if (!os.echo_mode) return runtime::tokenize(text);
  auto from = std::min(os.echoed, os.prompt.size());
  auto to = std::min(from + tokens, os.prompt.size());
  os.echoed = to;
  return {os.prompt.begin() + static_cast<std::ptrdiff_t>(from),
          os.prompt.begin() + static_cast<std::ptrdiff_t>(to)};
}

/// Writes a frame; credit goes back to the pod as the client takes the frames (as chat's).
void write_frame(flow_actor* self, std::string frame, bool last) {
  auto& st = self->state;
  auto target = caf::actor_cast<pod::pod_actor>(st.pod);
  if (!st.unacked_chunks) st.unacked_chunks = std::make_shared<std::atomic<uint32_t>>(0);
  const uint32_t window = st.ctx->settings.stream_window;
  const uint32_t batch = window >= 4 ? window / 4 : 1;
  st.ex->write(std::move(frame),
               [target, id = st.request_id, unacked = st.unacked_chunks, batch, last] {
                 auto taken = unacked->fetch_add(1) + 1;
                 if (taken < batch && !last) return;
                 if (auto n = unacked->exchange(0); n > 0)
                   caf::anon_send(target, pod::stream_ack{id, n});
               });
}

void on_other_chunk(flow_actor* self, other_state& os, pod::token_chunk& chunk) {
  auto& st = self->state;
  if (st.finished || !st.parsed) return;
  record_first_token(st, self->clock().now());
  start_stream(st);
  std::string frame;
  if (os.api == other_api::messages) {
    // A choice answered with tool calls names them in its first chunk.
    if (!chunk.tool_calls.empty() && !os.messages->started())
      os.messages->use_tools(openai::messages_tool_uses(chunk.tool_calls));
    os.messages->append_start(frame, os.input_tokens);
    os.messages->append_text(frame, chunk.text);
  } else {
    frame = openai::sse_generate_chunk(st.request_id, ids_of(os, chunk.text, chunk.tokens),
                                       chunk.finish_reason);
  }
  write_frame(self, std::move(frame), !chunk.finish_reason.empty());
}

void on_other_result(flow_actor* self, other_state& os, pod::generate_result& result) {
  auto& st = self->state;
  if (st.finished) return;
  picker_done(st, true, result.prompt_tokens, result.completion_tokens);
  st.prompt_tokens = result.prompt_tokens;
  st.completion_tokens = result.completion_tokens;
  st.cached_tokens = result.cached_tokens;
  if (!st.ttft_seconds) st.ttft_seconds = static_cast<double>(result.ttft_ns) / 1e9;
  std::string finish = result.choices.empty() ? "stop" : result.choices[0].finish_reason;
  std::string text = result.choices.empty() ? std::string() : std::move(result.choices[0].text);
  if (!result.model.empty()) os.meta.model = result.model;
  if (st.parsed->req.stream) {
    start_stream(st);
    std::string tail;
    if (os.api == other_api::messages) {
      os.messages->append_finish(tail, finish, result.prompt_tokens, result.completion_tokens);
    } else {
      if (os.include_usage)
        tail += openai::sse_generate_usage_chunk(st.request_id, result.prompt_tokens,
                                                 result.completion_tokens, result.cached_tokens);
      tail += openai::sse_done();
    }
    st.ex->write(std::move(tail));
    st.ex->finish();
    return done(self, 200);
  }
  std::string body;
  if (os.api == other_api::messages) {
    auto tools = result.choices.empty() ? std::vector<openai::messages_tool_use>()
                                        : openai::messages_tool_uses(result.choices[0].tool_calls);
    body = openai::messages_response_json(os.meta, text, finish, result.prompt_tokens,
                                          result.completion_tokens, tools);
  } else {
    auto tokens = result.choices.empty() ? 0 : result.choices[0].completion_tokens;
    body = openai::generate_response_json(st.request_id, ids_of(os, text, tokens), finish,
                                          os.remote_decode);
    if (st.encoder_only)  // --mm-encoder-only: the features' hashes get their transfer params
      body = with_ec_transfer_params(body, generate_mm_hashes(st.ex->req().body()));
  }
  st.ex->respond(http::status::ok, std::move(body), "application/json", answer_headers(st));
  done(self, 200);
}

/// The pod failed: as the pod conversation answers (there is no other pod to retry on), in
/// this API's shapes.
void on_other_failure(flow_actor* self, other_state& os, const caf::error& err) {
  auto& st = self->state;
  if (st.finished) return;
  picker_done(st, false);
  auto next =
      after_pod_error(err, pod_attempt{st.pod_name, st.stream_started, false}, renderer_of(self));
  if (auto* cut = std::get_if<end_stream>(&next)) {
    // Only the stream can tell now: Anthropic's error event, or OpenAI's and [DONE].
    st.ex->write(os.api == other_api::messages
                     ? openai::messages_error_event(cut->error)
                     : openai::sse_error_event(cut->error) + openai::sse_done());
    st.ex->finish();
    return done(self, cut->error.status);
  }
  auto& answer = std::get<error_answer>(next);
  if (auto* api = std::get_if<openai_answer>(&answer); api && os.anthropic_errors)
    return refuse(self, os, api->error);
  fail_with(self, answer);
}

/// The request read into the pod's generate request; false when refused (answered).
bool read_messages(flow_actor* self, other_state& os) {
  auto& st = self->state;
  auto chat = openai::messages_to_chat(st.ex->req().body());
  if (auto* refused = std::get_if<openai::api_error>(&chat)) {
    refuse(self, os, *refused);
    return false;
  }
  auto text = std::get<nlohmann::json>(chat).dump();
  parse_inputs in;
  in.kind = openai::endpoint::chat_completions;
  in.body = text;
  in.request_id = st.request_id;
  in.model_from_body = true;  // the pod checks the model itself
  in.created = st.ctx->deps.unix_seconds ? st.ctx->deps.unix_seconds() : 0;
  in.stream_window = st.ctx->settings.stream_window;
  in.return_error = st.return_error;
  in.simulator = st.ctx->settings.simulator_requests;
  auto outcome = parse_whole(in);
  if (auto* refused = std::get_if<openai::api_error>(&outcome)) {
    refuse(self, os, *refused);
    return false;
  }
  st.parsed = std::move(std::get<std::unique_ptr<parsed_request>>(outcome));
  st.parsed->encoder.reset();  // answered in Anthropic's shapes, not chat chunks
  os.meta = {"msg_" + st.request_id, st.parsed->meta.model};
  for (const auto& p : st.parsed->gen.prompts)
    os.input_tokens += static_cast<int64_t>(p.size());
  if (st.parsed->req.stream) os.messages.emplace(os.meta);
  return true;
}

bool read_generate(flow_actor* self, other_state& os) {
  auto& st = self->state;
  auto outcome = openai::parse_generate(st.ex->req().body());
  if (auto* refused = std::get_if<openai::api_error>(&outcome)) {
    refuse(self, os, *refused);
    return false;
  }
  auto& body = std::get<openai::generate_request_body>(outcome);
  auto parsed = std::make_unique<parsed_request>();
  parsed->req.kind = openai::endpoint::completions;
  parsed->req.model = body.model;
  parsed->req.stream = body.stream;
  parsed->meta.model = body.model;
  auto& gen = parsed->gen;
  gen.request_id = st.request_id;
  gen.model = body.model;
  gen.api = static_cast<uint8_t>(pod::api_kind::completions);
  // Echo mode repeats the prompt: one word per id stands for it (as many tokens as ids).
  std::string placeholder;
  for (auto id : body.token_ids)
    placeholder += (placeholder.empty() ? "" : " ") + std::to_string(id);
  gen.prompts.push_back(body.token_ids);
  gen.echo_texts.push_back(std::move(placeholder));
  gen.max_tokens = body.max_tokens.value_or(-1);
  gen.ignore_eos = body.ignore_eos;
  gen.stream = body.stream;
  gen.stream_window = st.ctx->settings.stream_window;
  gen.return_error = static_cast<uint32_t>(st.return_error);
  gen.remote_decode = body.remote_decode;
  gen.remote_prefill = body.remote_prefill;
  os.include_usage = body.include_usage;
  os.remote_decode = body.remote_decode;
  os.prompt = std::move(body.token_ids);
  st.parsed = std::move(parsed);
  st.route.model = st.model = body.model;
  return true;
}

void start(flow_actor* self, const std::shared_ptr<other_state>& os, const other_api_target& to) {
  auto& st = self->state;
  if (auto refused = read_fault_header(st.headers.return_error,
                                       st.ctx->settings.forward_fault_injection, st.return_error))
    return refuse(self, *os, *refused);
  if (!(os->api == other_api::messages ? read_messages(self, *os) : read_generate(self, *os)))
    return;
  if (os->api == other_api::messages) st.route.model = st.model = st.parsed->req.model;
  begin_attempt(st, to.target);
  st.pod = caf::actor_cast<caf::actor>(to.pod);
  stamp_trace(st, st.parsed->gen.traceparent, st.parsed->gen.tracestate);  // our span: its parent
  self->request(to.pod,
                std::chrono::duration_cast<caf::timespan>(st.ctx->settings.upstream_timeout),
                st.parsed->gen)
      .then([self, os](pod::generate_result& result) { on_other_result(self, *os, result); },
            [self, os](caf::error& err) { on_other_failure(self, *os, err); });
}

}  // namespace

other_api other_api_of(std::string_view path, bool post) {
  if (!post) return other_api::none;
  if (path == "/v1/messages") return other_api::messages;
  if (path == "/inference/v1/generate") return other_api::generate;
  return other_api::none;
}

void serve_other_api(other_api api, std::shared_ptr<flow_state> begun, const other_api_target& to) {
  auto* sys = begun->ctx->deps.system;
  auto os = std::make_shared<other_state>();
  os->api = api;
  os->anthropic_errors = api == other_api::messages && !begun->ctx->settings.simulator_requests;
  os->echo_mode = to.echo_mode;
  sys->spawn([begun = std::move(begun), os, to](flow_actor* self) mutable -> caf::behavior {
    take_over(self, std::move(begun));
    start(self, os, to);
    return {
        [self, os](pod::token_chunk& chunk) { on_other_chunk(self, *os, chunk); },
        [self](atoms::stop_atom) { client_gone(self); },
    };
  });
}

}  // namespace inferstack::gateway
