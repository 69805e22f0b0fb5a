// vLLM's gRPC engine API on a pod's port; see pod_grpc.hpp. A synchronous gRPC server: each
// Generate holds one of its threads while the pod's engine produces, taking the events from a
// queue the engine fills.
#include "gateway/pod_grpc.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include <unistd.h>

#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>

#include "runtime/tokenizer.hpp"
#include "vllm_engine.grpc.pb.h"

namespace inferstack::gateway {

namespace {

namespace pb = vllm::grpc::engine;

/// As llm-d-inference-sim maps its HTTP errors to gRPC's codes.
grpc::StatusCode code_of(int http_status) {
  switch (http_status) {
    case 400:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case 401:
      return grpc::StatusCode::UNAUTHENTICATED;
    case 403:
      return grpc::StatusCode::PERMISSION_DENIED;
    case 404:
      return grpc::StatusCode::NOT_FOUND;
    case 409:
      return grpc::StatusCode::ABORTED;
    case 429:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case 501:
      return grpc::StatusCode::UNIMPLEMENTED;
    case 503:
      return grpc::StatusCode::UNAVAILABLE;
    case 504:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case 500:
      return grpc::StatusCode::INTERNAL;
    default:
      return grpc::StatusCode::UNKNOWN;
  }
}

/// One call's events, filled by the engine, taken by the call's thread.
struct event_queue {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<grpc_event> events;

  void push(grpc_event e) {
    {
      std::lock_guard guard{mutex};
      events.push_back(std::move(e));
    }
    ready.notify_one();
  }
  /// The next event, or none after `wait`.
  std::optional<grpc_event> pop(std::chrono::milliseconds wait) {
    std::unique_lock lock{mutex};
    if (!ready.wait_for(lock, wait, [this] { return !events.empty(); })) return std::nullopt;
    auto e = std::move(events.front());
    events.pop_front();
    return e;
  }
};

}  // namespace

struct pod_grpc_server::impl final : pb::VllmEngine::Service {
  pod_grpc_dependencies deps;
  std::unique_ptr<grpc::Server> server;
  std::mutex mutex;  ///< server (adopt vs stop), calls
  bool stopped = false;
  std::atomic<uint64_t> next_id{0};
  std::atomic<uint32_t> active{0};
  std::atomic<double> last_receive{0};
  double started_at = 0;
  /// Running generations by the client's request id (Abort names those), each with its cancel.
  std::multimap<std::string, std::pair<uint64_t, std::function<void()>>> calls;

  double now() const { return deps.unix_seconds ? deps.unix_seconds() : 0; }

  grpc::Status Generate(grpc::ServerContext* ctx, const pb::GenerateRequest* req,
                        grpc::ServerWriter<pb::GenerateResponse>* writer) override {
    last_receive = now();
    grpc_generation g;
    auto serial = ++next_id;
    // The pod's id must be unique; the client's may repeat.
    g.request_id = "grpc-" + std::to_string(serial) + "-" + req->request_id();
    if (req->has_tokenized()) {
      g.prompt.assign(req->tokenized().input_ids().begin(), req->tokenized().input_ids().end());
    } else {
      g.text = req->text();
      g.prompt = runtime::tokenize(g.text);
    }
    if (req->sampling_params().has_max_tokens()) g.max_tokens = req->sampling_params().max_tokens();
    g.ignore_eos = req->sampling_params().ignore_eos();
    g.stream = req->stream();
    const auto prompt_tokens = static_cast<uint32_t>(g.prompt.size());
    auto queue = std::make_shared<event_queue>();
    auto cancel = deps.generate(std::move(g), [queue](grpc_event e) { queue->push(std::move(e)); });
    std::multimap<std::string, std::pair<uint64_t, std::function<void()>>>::iterator entry;
    {
      std::lock_guard guard{mutex};
      entry = calls.emplace(req->request_id(), std::make_pair(serial, cancel));
    }
    ++active;  // counted once Abort can find it
    auto status = serve(ctx, *queue, writer, prompt_tokens, cancel);
    {
      std::lock_guard guard{mutex};
      calls.erase(entry);
    }
    --active;
    return status;
  }

  grpc::Status serve(grpc::ServerContext* ctx, event_queue& queue,
                     grpc::ServerWriter<pb::GenerateResponse>* writer, uint32_t prompt_tokens,
                     const std::function<void()>& cancel) {
    for (;;) {
      // The client may go while the engine is quiet (a long time to first token).
      auto e = queue.pop(std::chrono::milliseconds(100));
      if (!e) {
        if (ctx->IsCancelled()) {
          cancel();
          return grpc::Status::CANCELLED;
        }
        continue;
      }
      switch (e->what) {
        case grpc_event::kind::tokens:
          // One chunk per token, as the simulator streams them.
          for (auto id : e->ids) {
            pb::GenerateResponse r;
            auto* chunk = r.mutable_chunk();
            chunk->add_token_ids(id);
            chunk->set_prompt_tokens(prompt_tokens);
            chunk->set_completion_tokens(1);
            if (!writer->Write(r)) {
              cancel();
              return grpc::Status::CANCELLED;
            }
          }
          break;
        case grpc_event::kind::complete: {
          pb::GenerateResponse r;
          auto* done = r.mutable_complete();
          for (auto id : e->ids)
            done->add_output_ids(id);
          done->set_finish_reason(e->finish_reason);
          done->set_prompt_tokens(e->prompt_tokens);
          done->set_completion_tokens(e->completion_tokens);
          done->set_cached_tokens(e->cached_tokens);
          writer->Write(r);
          return grpc::Status::OK;
        }
        case grpc_event::kind::failed:
          return {code_of(e->http_status), e->message};
      }
    }
  }

  grpc::Status Embed(grpc::ServerContext*, const pb::EmbedRequest*, pb::EmbedResponse*) override {
    // llm-d-inference-sim declares it and answers nothing; vLLM's embeddings are over HTTP.
    return {grpc::StatusCode::UNIMPLEMENTED, "Embed is not served over gRPC: use /v1/embeddings"};
  }

  grpc::Status HealthCheck(grpc::ServerContext*, const pb::HealthCheckRequest*,
                           pb::HealthCheckResponse* out) override {
    bool healthy = !deps.ready || deps.ready();
    out->set_healthy(healthy);
    out->set_message(healthy ? "Health check passed" : "the model is still loading");
    return grpc::Status::OK;
  }

  grpc::Status Abort(grpc::ServerContext*, const pb::AbortRequest* req,
                     pb::AbortResponse*) override {
    std::vector<std::function<void()>> cancels;
    {
      std::lock_guard guard{mutex};
      for (const auto& id : req->request_ids())
        for (auto [it, end] = calls.equal_range(id); it != end; ++it)
          cancels.push_back(it->second.second);
    }
    for (auto& c : cancels)
      c();
    return grpc::Status::OK;
  }

  grpc::Status GetModelInfo(grpc::ServerContext*, const pb::GetModelInfoRequest*,
                            pb::GetModelInfoResponse* out) override {
    out->set_model_path(deps.model);
    out->set_is_generation(true);
    out->set_max_context_length(deps.max_model_len);
    return grpc::Status::OK;
  }

  grpc::Status GetServerInfo(grpc::ServerContext*, const pb::GetServerInfoRequest*,
                             pb::GetServerInfoResponse* out) override {
    out->set_active_requests(active);
    out->set_is_paused(false);
    out->set_last_receive_timestamp(last_receive);
    out->set_uptime_seconds(now() - started_at);
    out->set_server_type("vllm-grpc");
    return grpc::Status::OK;
  }
};

pod_grpc_server::pod_grpc_server(pod_grpc_dependencies deps) : impl_(std::make_unique<impl>()) {
  impl_->deps = std::move(deps);
}

pod_grpc_server::~pod_grpc_server() {
  stop();
}

void pod_grpc_server::start() {
  grpc::ServerBuilder builder;
  builder.RegisterService(impl_.get());
  impl_->started_at = impl_->now();
  auto server = builder.BuildAndStart();
  std::lock_guard guard{impl_->mutex};
  impl_->server = std::move(server);
}

void pod_grpc_server::adopt(int fd) {
  std::lock_guard guard{impl_->mutex};
  if (!impl_->server || impl_->stopped) {
    ::close(fd);
    return;
  }
  grpc::AddInsecureChannelFromFd(impl_->server.get(), fd);
}

void pod_grpc_server::stop() {
  std::unique_ptr<grpc::Server> server;
  {
    std::lock_guard guard{impl_->mutex};
    if (impl_->stopped) return;
    impl_->stopped = true;
    server = std::move(impl_->server);
  }
  if (server) server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

}  // namespace inferstack::gateway
