// A pod's own OpenAI API over HTTP; see pod_front_end.hpp.
#include "gateway/pod_front_end.hpp"

#include <atomic>
#include <cstdio>
#include <random>

#include <caf/actor_system.hpp>

#include "gateway/gateway_context.hpp"
#include "gateway/pod_conversation.hpp"
#include "gateway/pod_omni.hpp"
#include "gateway/pod_other_apis.hpp"
#include "gateway/request_flow.hpp"
#include "gateway/request_steps.hpp"
#include "openai/api_error.hpp"

namespace inferstack::gateway {

struct pod_front_end::parts {
  std::shared_ptr<gateway::context> ctx;
  actors::pod::pod_actor pod;
  actors::picker::chosen_pod target;  ///< the pod, as the access log and debug lines name it
  bool echo_mode = false;
  std::shared_ptr<omni_output> omni;  ///< null: no images
  bool encoder_only = false;          ///< --mm-encoder-only
  /// Request ids shaped as the simulator's UUIDs (clients check for them): 20 hex digits from
  /// the seed, then a 12-digit counter, so each costs no random draw.
  std::string uuid_prefix;
  std::atomic<uint64_t> next_id{0};

  std::string make_uuid() {
    static constexpr char hex[] = "0123456789abcdef";
    auto n = next_id.fetch_add(1, std::memory_order_relaxed);
    std::string id = uuid_prefix;
    for (int i = 11; i >= 0; --i)
      id.push_back(hex[(n >> (4 * i)) & 0xF]);
    return id;
  }
};

namespace {

gateway_dependencies context_dependencies(pod_front_end_dependencies& deps) {
  gateway_dependencies out;
  out.system = deps.system;
  out.registry = std::make_shared<prometheus::Registry>();  // its counters stay internal
  out.log = std::move(deps.log);
  out.access_log = std::move(deps.access_log);
  out.unix_seconds = std::move(deps.unix_seconds);
  out.admin = std::move(deps.admin);
  out.seed = deps.seed;
  return out;
}

/// The request's steps, in its actor: the fault header, the whole body, then the pod.
void converse(flow_actor* self, const actors::pod::pod_actor& pod,
              const actors::picker::chosen_pod& target) {
  auto& st = self->state;
  if (auto refused = read_fault_header(st.headers.return_error,
                                       st.ctx->settings.forward_fault_injection, st.return_error))
    return fail_openai(self, *refused);
  if (!parse_body(self, true)) return;  // the pod checks the model itself
  begin_attempt(st, target);
  send_generate(self, caf::actor_cast<caf::actor>(pod), nullptr);
}

}  // namespace

pod_front_end::pod_front_end(gateway_settings settings, pod_front_end_dependencies deps)
    : parts_(std::make_shared<parts>()) {
  parts_->pod = deps.pod;
  parts_->omni = deps.omni;
  parts_->encoder_only = deps.encoder_only;
  parts_->target = {deps.pod_name, "direct", {}, {}};
  parts_->echo_mode = deps.echo_mode;
  std::mt19937_64 rng(deps.seed ^ 0x9e3779b97f4a7c15ull);
  uint64_t a = rng(), b = rng();
  char prefix[40];  // version 4, variant 8: "xxxxxxxx-xxxx-4xxx-8xxx-"
  std::snprintf(
      prefix, sizeof(prefix), "%08llx-%04llx-4%03llx-8%03llx-",
      static_cast<unsigned long long>(a >> 32), static_cast<unsigned long long>((a >> 16) & 0xFFFF),
      static_cast<unsigned long long>(a & 0xFFF), static_cast<unsigned long long>(b & 0xFFF));
  parts_->uuid_prefix = prefix;
  parts_->ctx = std::make_shared<gateway::context>(std::move(settings), context_dependencies(deps));
  auto listener = listener_settings(parts_->ctx->settings, parts_->ctx->deps);
  listener.tls = deps.tls;
  listener.http2_connections = deps.http2_connections;
  server_ = std::make_unique<http::server>(
      std::move(listener), [this](std::shared_ptr<http::exchange> ex) { handle(std::move(ex)); });
}

pod_front_end::~pod_front_end() {
  stop(std::chrono::seconds(0));
}

void pod_front_end::start() {
  server_->start();
}

uint16_t pod_front_end::port() const {
  return server_->port();
}

void pod_front_end::stop(std::chrono::nanoseconds grace) {
  server_->stop(grace);
  parts_->ctx->upstreams->stop();
}

void pod_front_end::handle(std::shared_ptr<http::exchange> ex) {
  const auto& ctx = parts_->ctx;
  if (ctx->deps.admin && ctx->deps.admin(ex)) return;
  auto fresh = [this] { return parts_->make_uuid(); };
  auto a = arrive(ex->req(), fresh);
  // As llm-d-inference-sim: without request-id headers the client's X-Request-Id is not used.
  const bool headers_on = ctx->settings.request_id_headers;
  if (!headers_on && ex->req().find("x-request-id") != ex->req().end()) a.request_id = fresh();
  if (auto other = other_api_of(a.path, ex->req().method() == boost::beast::http::verb::post);
      other != other_api::none) {
    auto begun =
        begin_flow(ctx, std::move(ex), ctx->settings.default_namespace, std::move(a.request_id),
                   other == other_api::messages ? openai::endpoint::chat_completions
                                                : openai::endpoint::completions);
    begun->ns_known = true;
    begun->encoder_only = parts_->encoder_only;
    return serve_other_api(other, std::move(begun),
                           {parts_->pod, parts_->target, parts_->echo_mode});
  }
  // GET /v1/models is the admin's (the pod's own model list).
  if (a.route != api_route::chat && a.route != api_route::completions &&
      a.route != api_route::responses) {
    auto err = no_route_error(a);
    http::header_list headers;
    if (headers_on) headers.emplace_back("x-request-id", a.request_id);
    return ex->respond(static_cast<http::status>(err.status), openai::error_json(err),
                       "application/json", std::move(headers));
  }
  // A pod's own API has no namespaces: every request is the default one's, a known one.
  auto begun = begin_flow(ctx, std::move(ex), ctx->settings.default_namespace,
                          std::move(a.request_id), endpoint_of(a.route));
  begun->ns_known = true;
  begun->encoder_only = parts_->encoder_only;
  if (parts_->omni && parts_->omni->enabled && a.route == api_route::chat) {
    auto header = begun->ex->req().find("X-Send-Image");
    auto value =
        header == begun->ex->req().end() ? std::string_view() : http::to_std(header->value());
    if ((begun->send_image = parts_->omni->send_image(value)))
      begun->image_delay = parts_->omni->image_delay();
  }
  ctx->deps.system->spawn(
      [begun = std::move(begun), parts = parts_](flow_actor* self) mutable -> caf::behavior {
        take_over(self, std::move(begun));
        converse(self, parts->pod, parts->target);
        return {
            [self](actors::pod::token_chunk& chunk) { on_chunk(self, chunk); },
            [self](atoms::stop_atom) { client_gone(self); },
        };
      });
}

}  // namespace inferstack::gateway
