// The conversation with a pod for one request; see pod_conversation.hpp.
#include "gateway/pod_conversation.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include "actors/picker/picker_protocol.hpp"
#include "actors/pod/pod_actor.hpp"
#include "gateway/gateway_protocol.hpp"
#include "gateway/pod_encoder_only.hpp"
#include "gateway/pod_omni.hpp"
#include "gateway/request_trace.hpp"
#include "openai/response.hpp"

namespace inferstack::gateway {

namespace {

namespace pod = actors::pod;
namespace picker = actors::picker;

http::header_list base_headers(const flow_state& st) {
  if (!st.ctx->settings.request_id_headers) return {};
  return {{"x-request-id", st.request_id}};
}

/// A simulator pod's errors take llm-d-inference-sim's envelope (type from the status, code
/// the status); the stack's, OpenAI's.
openai::error_style error_style_of(const flow_state& st) {
  return st.ctx->settings.simulator_requests ? openai::error_style::sim
                                             : openai::error_style::openai;
}

/// The headers of a generation's answer: the request id and those naming the pod.
http::header_list answer_headers(const flow_state& st) {
  auto headers = base_headers(st);
  if (const auto& identity = st.ctx->settings.pod_identity_headers)
    headers.insert(headers.end(), identity->begin(), identity->end());
  else
    headers.emplace_back("x-inference-pod", st.pod_name);
  if (!st.pick_decision.empty()) headers.emplace_back(pick_decision_header, st.pick_decision);
  return headers;
}

void start_stream(flow_state& st) {
  if (st.stream_started) return;
  st.stream_started = true;
  auto headers = answer_headers(st);
  st.ex->start_stream(http::status::ok, "text/event-stream; charset=utf-8", std::move(headers));
}

/// Once the stream has begun only the stream can carry an error: a terminal SSE error event,
/// then [DONE], so clients can tell truncation from completion.
void fail_in_stream(flow_actor* self, const openai::api_error& err) {
  auto& st = self->state;
  if (st.parsed && st.parsed->responses) {  // the Responses stream's own error event, no [DONE]
    std::string out;
    st.parsed->responses->append_error(out, err);
    st.ex->write(std::move(out));
    st.ex->finish();
    return done(self, err.status);
  }
  st.ex->write(openai::sse_error_event(err, error_style_of(st)));
  st.ex->write(openai::sse_done());
  st.ex->finish();
  done(self, err.status);
}

/// A Responses API request's end: the closing events of its stream, or the response object.
void answer_responses(flow_actor* self, pod::generate_result& result, const openai::usage& use) {
  auto& st = self->state;
  auto& render = *st.parsed->responses;
  auto headers = base_headers(st);
  headers.emplace_back("x-inference-pod", st.pod_name);
  if (!st.pick_decision.empty()) headers.emplace_back(pick_decision_header, st.pick_decision);
  if (st.parsed->req.stream) {
    start_stream(st);
    std::string tail;
    render.append_finish(tail, use);  // the Responses stream has no [DONE]
    st.ex->write(std::move(tail));
    st.ex->finish();
  } else {
    auto meta = render.meta();
    if (!result.model.empty()) meta.model = result.model;
    std::string text;
    std::vector<openai::responses_call_output> calls;
    if (!result.choices.empty()) {
      text = std::move(result.choices[0].text);
      for (const auto& call : openai::read_tool_calls_json(result.choices[0].tool_calls))
        calls.push_back(openai::responses_call_of(call));
    }
    st.ex->respond(http::status::ok, openai::responses_json(meta, text, use, calls),
                   "application/json", std::move(headers));
  }
  done(self, 200);
}

/// A chunk of a choice the pod answered with tool calls (its first chunk names them): its text is
/// the calls' arguments one after the other, cut here at each call's end into tool-call deltas.
/// False when the choice is plain text.
bool append_tool_deltas(parsed_request& p, const pod::token_chunk& chunk, std::string& frame) {
  auto& streams = p.tool_streams;
  if (chunk.choice >= streams.size()) {
    if (chunk.tool_calls.empty()) return false;
    streams.resize(chunk.choice + 1);
  }
  auto& ts = streams[chunk.choice];
  if (!chunk.tool_calls.empty()) ts.calls = openai::read_tool_calls_json(chunk.tool_calls);
  if (ts.calls.empty()) return false;
  std::string_view text = chunk.text;
  const auto index = static_cast<int>(chunk.choice);
  while (!text.empty() && ts.call < ts.calls.size()) {
    const auto& call = ts.calls[ts.call];
    size_t take = std::min(text.size(), call.arguments.size() - ts.offset);
    bool first = ts.offset == 0;
    ts.offset += take;
    bool last = take == text.size();
    p.encoder->append_tool_call(frame, index, static_cast<int>(ts.call), call.id,
                                first ? std::string_view(call.name) : std::string_view(),
                                text.substr(0, take),
                                last ? std::string_view(chunk.finish_reason) : std::string_view());
    text.remove_prefix(take);
    if (ts.offset == call.arguments.size()) {
      ++ts.call;
      ts.offset = 0;
    }
  }
  return true;
}

void on_result(flow_actor* self, pod::generate_result& result) {
  auto& st = self->state;
  if (st.finished) return;
  int64_t itl_ns = result.completion_tokens > 1 && result.e2e_ns > result.ttft_ns
                       ? (result.e2e_ns - result.ttft_ns) / (result.completion_tokens - 1)
                       : 0;
  picker_done(st, true, result.prompt_tokens, result.completion_tokens, result.ttft_ns, itl_ns);
  openai::usage use{result.prompt_tokens, result.completion_tokens, result.cached_tokens};
  st.prompt_tokens = result.prompt_tokens;
  st.completion_tokens = result.completion_tokens;
  st.cached_tokens = result.cached_tokens;
  // Not streamed: the pod's own time to first token is what the access log can tell.
  if (!st.ttft_seconds) st.ttft_seconds = static_cast<double>(result.ttft_ns) / 1e9;
  if (st.parsed->responses) return answer_responses(self, result, use);
  if (st.parsed->req.stream) {
    start_stream(st);
    std::string tail;
    if (st.parsed->req.include_usage) st.parsed->encoder->append_usage(tail, use);
    tail += openai::sse_done();
    if (st.send_image) {  // omni: the images, after their generation time, before the usage
      finish_stream_with_image(st.ex, st.parsed->meta, result.choices.size(), st.image_delay,
                               std::move(tail));
      return done(self, 200);
    }
    st.ex->write(std::move(tail));
    st.ex->finish();
    done(self, 200);
    return;
  }
  std::vector<openai::choice_result> choices;
  for (auto& c : result.choices) {
    choices.push_back(
        {static_cast<int>(c.index), std::move(c.text), c.finish_reason, st.parsed->logprobs});
    if (!c.tool_calls.empty()) {  // a tool call has no logprobs (as the simulator answers)
      choices.back().tool_calls_json = std::move(c.tool_calls);
      choices.back().logprobs.reset();
    }
  }
  st.parsed->meta.model = result.model.empty() ? st.parsed->meta.model : result.model;
  auto body = st.kind == openai::endpoint::chat_completions
                  ? openai::chat_response_json(st.parsed->meta, choices, use)
                  : openai::completion_response_json(st.parsed->meta, choices, use);
  if (st.encoder_only && st.kind == openai::endpoint::chat_completions)
    body = with_ec_transfer_params(body, chat_mm_hashes(st.ex->req().body()));
  if (st.send_image)  // omni: text and image blocks, after the image's generation time
    respond_with_image(st.ex, body, answer_headers(st), st.image_delay);
  else
    st.ex->respond(http::status::ok, std::move(body), "application/json", answer_headers(st));
  done(self, 200);
}

}  // namespace

void picker_done(const flow_state& st, bool success, uint32_t prompt_tokens,
                 uint32_t completion_tokens, int64_t ttft_ns, int64_t itl_ns) {
  if (!st.pool) return;
  picker::request_done done{st.request_id, st.pod_name, prompt_tokens, completion_tokens, success};
  // What was observed, for the picker's latency models fitted online.
  done.ttft_ns = ttft_ns > 0 ? ttft_ns : observed_ttft_ns(st);
  done.itl_ns = itl_ns;
  // To the replica that picked (its in-flight count is its own).
  caf::anon_send(st.picker ? st.picker : st.pool->picker(), std::move(done));
}

void take_over(flow_actor* self, std::shared_ptr<flow_state> begun) {
  auto& st = self->state;
  st = std::move(*begun);
  st.ex->on_abort(
      [me = caf::actor_cast<caf::actor>(self)] { caf::anon_send(me, atoms::stop_atom_v); });
  // Nothing is written before the first token (a non-streamed answer: nothing until the end):
  // a client that hangs up meanwhile is noticed, and its generation stopped, as vLLM stops a
  // request whose connection closed (a half-close after the request counts as hanging up).
  st.ex->watch_hangup();
}

void send_generate(flow_actor* self, caf::actor pod, retry_fn retry) {
  auto& st = self->state;
  st.pod = std::move(pod);
  stamp_trace(st, st.parsed->gen.traceparent, st.parsed->gen.tracestate);  // our span: its parent
  self->request(caf::actor_cast<pod::pod_actor>(st.pod),
                std::chrono::duration_cast<caf::timespan>(st.ctx->settings.upstream_timeout),
                st.parsed->gen)
      .then([self](pod::generate_result& result) { on_result(self, result); },
            [self, retry](caf::error& err) { pod_failed(self, err, retry); });
}

void on_chunk(flow_actor* self, pod::token_chunk& chunk) {
  auto& st = self->state;
  if (st.finished || !st.parsed || (!st.parsed->encoder && !st.parsed->responses)) return;
  record_first_token(st, self->clock().now());
  start_stream(st);
  std::string frame;
  auto index = static_cast<int>(chunk.choice);
  if (auto& responses = st.parsed->responses) {
    if (!chunk.tool_calls.empty()) {  // the first chunk of an answer with calls names them
      std::vector<openai::responses_call_output> calls;
      for (const auto& call : openai::read_tool_calls_json(chunk.tool_calls))
        calls.push_back(openai::responses_call_of(call));
      responses->expect_calls(std::move(calls));
    }
    responses->append_text(frame, chunk.text);
  } else {
    auto& encoder = *st.parsed->encoder;
    if (st.kind == openai::endpoint::chat_completions) {
      auto& role_sent = st.parsed->role_sent;
      if (chunk.choice >= role_sent.size()) role_sent.resize(chunk.choice + 1, false);
      if (!role_sent[chunk.choice]) {
        role_sent[chunk.choice] = true;
        encoder.append_role(frame, index);
      }
    }
    if (st.kind == openai::endpoint::chat_completions &&
        append_tool_deltas(*st.parsed, chunk, frame)) {
      // tool-call deltas written
    } else {
      // Tokens streamed so far in this choice: where the chunk's logprobs positions start.
      auto& sent = st.parsed->tokens_sent;
      if (chunk.choice >= sent.size()) sent.resize(chunk.choice + 1, 0);
      encoder.append_tokens(frame, index, chunk.text, chunk.finish_reason, sent[chunk.choice]);
      sent[chunk.choice] += chunk.tokens;
    }
  }
  // Credit goes back to the pod when the bytes reached the client's socket: a slow reader slows
  // the pod down instead of making the gateway buffer. It goes in batches of a quarter of the
  // window (one message per chunk was half the messages of a stream), and at a choice's last
  // chunk; the pod, never short of more than a quarter of its window, does not wait for it.
  auto pod = caf::actor_cast<pod::pod_actor>(st.pod);
  if (!st.unacked_chunks) st.unacked_chunks = std::make_shared<std::atomic<uint32_t>>(0);
  const uint32_t window = st.ctx->settings.stream_window;
  const uint32_t batch = window >= 4 ? window / 4 : 1;
  if (st.send_image) frame = with_text_blocks(frame);  // omni: the text as content blocks
  st.ex->write(std::move(frame), [pod, id = st.request_id, unacked = st.unacked_chunks, batch,
                                  last = !chunk.finish_reason.empty()] {
    auto taken = unacked->fetch_add(1) + 1;
    if (taken < batch && !last) return;
    if (auto n = unacked->exchange(0); n > 0) caf::anon_send(pod, pod::stream_ack{id, n});
  });
}

void pod_failed(flow_actor* self, const caf::error& err, retry_fn retry) {
  auto& st = self->state;
  if (st.finished) return;
  picker_done(st, false);
  pod_attempt at{st.pod_name, st.stream_started,
                 retry != nullptr && st.attempts < st.ctx->settings.max_attempts};
  auto next = after_pod_error(err, at, renderer_of(self));
  if (std::holds_alternative<retry_elsewhere>(next)) {
    st.ctx->metrics.retries.Increment();
    if (st.ctx->deps.log)
      st.ctx->deps.log->info("request {}: pod {} failed before the first byte ({}), retrying",
                             st.request_id, st.pod_name, self->system().render(err));
    retry(self);
  } else if (auto* cut = std::get_if<end_stream>(&next)) {
    fail_in_stream(self, cut->error);
  } else {
    fail_with(self, std::get<error_answer>(next));
  }
}

void client_gone(flow_actor* self) {
  auto& st = self->state;
  // A pick waiting in the picker's flow-control queue leaves it at once.
  if (st.picking && st.picker) caf::anon_send(st.picker, picker::cancel_pick{st.request_id});
  if (st.pod)
    caf::anon_send(caf::actor_cast<pod::pod_actor>(st.pod), pod::cancel_request{st.request_id});
  if (st.stop_upstream) st.stop_upstream();  // a model server over HTTP: its connection closed
  picker_done(st, false);
  done(self, 499);  // client closed request (nginx's code)
}

void done(flow_actor* self, int status) {
  if (finish(self->state, self->clock().now(), status)) self->quit();
}

void fail_openai(flow_actor* self, const openai::api_error& err, http::header_list extra) {
  auto& st = self->state;
  auto headers = base_headers(st);
  for (auto& h : extra)
    headers.push_back(std::move(h));
  if (err.status == 401) headers.emplace_back("x-should-retry", "false");
  if (err.status == 429) headers.emplace_back("retry-after", "1");
  st.ex->respond(static_cast<http::status>(err.status), openai::error_json(err, error_style_of(st)),
                 "application/json", std::move(headers));
  done(self, err.status);
}

void fail_stack(flow_actor* self, const stack_error& err) {
  auto& st = self->state;
  auto headers = base_headers(st);
  for (auto& h : stack_error_headers(err))
    headers.push_back(h);
  if (st.ctx->deps.log)
    st.ctx->deps.log->warn("request {}: {} ({})", st.request_id, err.code, err.message);
  st.ex->respond(static_cast<http::status>(err.status), stack_error_json(err), "application/json",
                 std::move(headers));
  done(self, err.status);
}

void fail_with(flow_actor* self, const error_answer& answer) {
  if (auto* api = std::get_if<openai_answer>(&answer))
    fail_openai(self, api->error, api->headers);
  else
    fail_stack(self, std::get<stack_error>(answer));
}

error_renderer renderer_of(flow_actor* self) {
  return [self](const caf::error& err) { return self->system().render(err); };
}

}  // namespace inferstack::gateway
