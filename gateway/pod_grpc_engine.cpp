// The pod actor as the engine of gRPC Generate; see pod_grpc_engine.hpp.
#include "gateway/pod_grpc_engine.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/pod/pod_actor.hpp"
#include "runtime/tokenizer.hpp"

namespace inferstack::gateway {

namespace {

namespace pod = actors::pod;

/// What one call's actor knows.
struct call_state {
  pod_grpc_engine_settings settings;
  std::vector<uint32_t> prompt;
  std::function<void(grpc_event)> emit;
  size_t echoed = 0;  ///< echo mode: of `prompt`, the ids sent so far
  bool stream = false;
  uint32_t sent = 0;  ///< tokens streamed so far
};

/// `n` output ids of generated text: the prompt's own in echo mode (echo repeats the prompt),
/// else the tokenizer's ids of the text, cut or repeated to the engine's token count.
std::vector<uint32_t> ids_of(call_state& cs, std::string_view text, uint32_t n) {
  if (cs.settings.echo_mode) {
    auto from = std::min(cs.echoed, cs.prompt.size());
    auto to = std::min(from + n, cs.prompt.size());
    cs.echoed = to;
    return {cs.prompt.begin() + static_cast<std::ptrdiff_t>(from),
            cs.prompt.begin() + static_cast<std::ptrdiff_t>(to)};
  }
  auto ids = runtime::tokenize(text);
  uint32_t filler = ids.empty() ? 0 : ids.back();
  ids.resize(n, filler);
  return ids;
}

pod::generate_request request_of(const grpc_generation& g, const pod_grpc_engine_settings& s) {
  pod::generate_request gen;
  gen.request_id = g.request_id;
  gen.model = s.model;
  gen.api = static_cast<uint8_t>(pod::api_kind::completions);
  gen.prompts.push_back(g.prompt);
  if (!g.text.empty()) {
    gen.echo_texts.push_back(g.text);
  } else {
    // As /inference/v1/generate: one word per id stands for the prompt (as many tokens as ids).
    std::string placeholder;
    for (auto id : g.prompt)
      placeholder += (placeholder.empty() ? "" : " ") + std::to_string(id);
    gen.echo_texts.push_back(std::move(placeholder));
  }
  gen.max_tokens = g.max_tokens;
  gen.ignore_eos = g.ignore_eos;
  gen.stream = g.stream;
  gen.stream_window = s.stream_window;
  return gen;
}

}  // namespace

grpc_generate_fn pod_actor_generations(caf::actor_system& system, pod::pod_actor target,
                                       pod_grpc_engine_settings settings) {
  return [&system, target, settings](grpc_generation g, std::function<void(grpc_event)> emit) {
    auto cs = std::make_shared<call_state>();
    cs->settings = settings;
    cs->prompt = g.prompt;
    cs->stream = g.stream;
    cs->emit = std::move(emit);
    auto gen = request_of(g, settings);
    auto timeout = settings.timeout_ns > 0 ? caf::timespan{settings.timeout_ns}
                                           : caf::timespan{std::chrono::hours(24)};
    auto id = gen.request_id;
    auto actor = system.spawn([cs, target, gen = std::move(gen),
                               timeout](caf::event_based_actor* self) -> caf::behavior {
      self->request(target, timeout, gen)
          .then(
              [self, cs](pod::generate_result& result) {
                grpc_event done;
                done.what = grpc_event::kind::complete;
                done.finish_reason =
                    result.choices.empty() ? "stop" : result.choices[0].finish_reason;
                done.prompt_tokens = result.prompt_tokens;
                done.completion_tokens = result.completion_tokens;
                done.cached_tokens = result.cached_tokens;
                // Not streamed: the output ids come with the result.
                if (!cs->stream)
                  done.ids = ids_of(*cs, result.choices.empty() ? "" : result.choices[0].text,
                                    result.completion_tokens);
                cs->emit(std::move(done));
                self->quit();
              },
              [self, cs](caf::error& err) {
                auto info = pod::describe_pod_error(err);
                grpc_event failed;
                failed.what = grpc_event::kind::failed;
                failed.http_status = info.status;
                failed.message = info.message.empty() ? self->system().render(err) : info.message;
                cs->emit(std::move(failed));
                self->quit();
              });
      return {
          [self, cs, target](pod::token_chunk& chunk) {
            grpc_event run;
            run.what = grpc_event::kind::tokens;
            run.ids = ids_of(*cs, chunk.text, chunk.tokens);
            cs->sent += chunk.tokens;
            run.finish_reason = chunk.finish_reason;
            cs->emit(std::move(run));
            // The call's queue takes every chunk: credit goes back at once.
            self->send(target, pod::stream_ack{chunk.request_id, 1});
          },
          // Cancelled (Abort, or the client went): the pod stops, and the call ends as vLLM
          // ends an aborted one, with finish reason abort.
          [self, cs, target](pod::cancel_request& cancel) {
            self->send(target, cancel);
            grpc_event done;
            done.what = grpc_event::kind::complete;
            done.finish_reason = "abort";
            done.prompt_tokens = static_cast<uint32_t>(cs->prompt.size());
            done.completion_tokens = cs->sent;
            cs->emit(std::move(done));
            self->quit();
          },
      };
    });
    return [actor, id] { caf::anon_send(actor, pod::cancel_request{id}); };
  };
}

}  // namespace inferstack::gateway
