#include "gateway/gateway.hpp"

#include <algorithm>
#include <cstdio>
#include <random>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "gateway/gateway_context.hpp"
#include "openai/api_error.hpp"
#include "runtime/errors.hpp"
#include "runtime/io_scheduler.hpp"
#include "runtime/metrics.hpp"

namespace inferstack::gateway {

namespace {

const prometheus::Histogram::BucketBoundaries latency_buckets{
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};

bool is_ip_or_local(std::string_view host) {
  if (host.empty() || host == "localhost") return true;
  if (host.front() == '[') return true;  // IPv6 literal
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
  });
}

}  // namespace

std::string namespace_of(std::string_view host, const std::string& default_ns) {
  // strip the port
  if (!host.empty() && host.front() != '[') {
    auto colon = host.rfind(':');
    if (colon != std::string_view::npos) host = host.substr(0, colon);
  }
  // Host names are case-insensitive (RFC 9110 4.2.3): LOCALHOST is localhost.
  std::string lower(host);
  for (auto& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (is_ip_or_local(lower)) return default_ns;
  auto dot = lower.find('.');
  if (dot == 0) return default_ns;
  if (dot != std::string::npos) lower.resize(dot);
  return lower;
}

bool acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > max_request_id_length) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == ':' || c == '/' || c == '+' || c == '=';
  });
}

gateway_metrics::gateway_metrics(prometheus::Registry& registry)
    : in_flight(prometheus::BuildGauge()
                    .Name("inferstack_gateway_in_flight_requests")
                    .Help("Requests the gateway is answering right now")
                    .Register(registry)
                    .Add({})),
      retries(prometheus::BuildCounter()
                  .Name("inferstack_gateway_retries_total")
                  .Help("Requests retried on another pod after failing before the first byte")
                  .Register(registry)
                  .Add({})),
      requests_(prometheus::BuildCounter()
                    .Name("inferstack_gateway_requests_total")
                    .Help("Requests answered, by namespace, model and HTTP status")
                    .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("inferstack_gateway_request_duration_seconds")
                    .Help("Time from request to the end of its response")
                    .Register(registry)),
      ttft_(prometheus::BuildHistogram()
                .Name("inferstack_gateway_time_to_first_token_seconds")
                .Help("Time from request to the first streamed token")
                .Register(registry)) {}

gateway_metrics::model_series& gateway_metrics::series(const std::string& ns,
                                                       const std::string& model) {
  // Past max_client_label_values namespaces (or models in one), the rest share one series.
  auto by_ns = runtime::capped_entry(series_, ns);
  auto it = runtime::capped_entry(by_ns->second, model);
  it->second.ns = &by_ns->first;
  it->second.model = &it->first;
  return it->second;
}

void gateway_metrics::finished(const std::string& ns, const std::string& model, int status,
                               double seconds) {
  std::lock_guard guard{mutex_};
  auto& s = series(ns, model);
  // HTTP statuses are three digits; anything else (never expected) shares code 0.
  if (status < 100 || status > 599) status = 0;
  auto counter = s.requests.find(status);
  if (counter == s.requests.end())
    counter = s.requests
                  .emplace(status, &requests_.Add({{"namespace", *s.ns},
                                                   {"model", *s.model},
                                                   {"code", std::to_string(status)}}))
                  .first;
  counter->second->Increment();
  if (!s.duration)
    s.duration = &duration_.Add({{"namespace", *s.ns}, {"model", *s.model}}, latency_buckets);
  s.duration->Observe(seconds);
}

void gateway_metrics::first_token(const std::string& ns, const std::string& model, double seconds) {
  std::lock_guard guard{mutex_};
  auto& s = series(ns, model);
  if (!s.ttft) s.ttft = &ttft_.Add({{"namespace", *s.ns}, {"model", *s.model}}, latency_buckets);
  s.ttft->Observe(seconds);
}

gateway::context::context(gateway_settings s, gateway_dependencies d)
    : settings(std::move(s)),
      deps(std::move(d)),
      metrics(*deps.registry),
      upstreams(std::make_unique<upstream_pool>(settings.upstream_threads)) {
  std::mt19937_64 rng(deps.seed);
  char prefix[20];
  std::snprintf(prefix, sizeof(prefix), "%08llx",
                static_cast<unsigned long long>(rng() & 0xFFFFFFFFull));
  id_prefix = prefix;
}

std::string gateway::context::make_request_id() {
  // "<prefix>-<12 hex digits>", formatted by hand: snprintf was a visible cost per request.
  static constexpr char hex[] = "0123456789abcdef";
  auto n = next_id.fetch_add(1);
  std::string id = id_prefix;
  id.push_back('-');
  int digits = 12;
  while (digits < 16 && (n >> (4 * digits)) != 0)
    ++digits;
  for (int i = digits - 1; i >= 0; --i)
    id.push_back(hex[(n >> (4 * i)) & 0xF]);
  return id;
}

caf::expected<caf::actor> gateway::context::resolve(const std::string& endpoint) const {
  if (endpoint == "direct" && deps.direct_pod) return deps.direct_pod;
  if (endpoint.rfind("actor:", 0) == 0) return deps.transport->lookup("", endpoint.substr(6));
  if (endpoint.rfind("zmq:", 0) == 0) {
    auto hash = endpoint.find('#');
    if (hash == std::string::npos)
      return caf::make_error(runtime::transport_errc::unknown_actor, "bad endpoint " + endpoint);
    return deps.transport->lookup(endpoint.substr(4, hash - 4), endpoint.substr(hash + 1));
  }
  return caf::make_error(runtime::transport_errc::unknown_actor,
                         "no route to endpoint " + endpoint);
}

gateway::gateway(gateway_settings settings, gateway_dependencies deps)
    : context_(std::make_shared<context>(std::move(settings), std::move(deps))) {
  auto ctx = context_;
  http::server_settings hs;
  hs.address = ctx->settings.address;
  hs.port = ctx->settings.port;
  hs.io_threads = ctx->settings.io_threads;
  // Actors scheduled on I/O threads: connections go on those same threads.
  hs.shared_threads = runtime::io_threads_of(*ctx->deps.system);
  hs.body_limit = ctx->settings.max_body_bytes;
  hs.header_timeout = ctx->settings.header_timeout;
  hs.idle_timeout = ctx->settings.idle_timeout;
  hs.server_name = "inferstack";
  hs.error_body = openai::error_body;  // its own 400, 413, 431 and 503 in OpenAI's form
  hs.log = ctx->deps.log;  // accept errors (out of file descriptors) are logged and counted
  hs.registry = ctx->deps.registry;
  server_ = std::make_unique<http::server>(hs, [ctx](std::shared_ptr<http::exchange> ex) {
    if (ctx->deps.admin && ctx->deps.admin(ex)) return;
    const auto& req = ex->req();
    auto target = http::to_std(req.target());
    auto path = target.substr(0, target.find('?'));
    auto host_it = req.find(boost::beast::http::field::host);
    std::string_view host =
        host_it == req.end() ? std::string_view{} : http::to_std(host_it->value());
    auto ns = namespace_of(host, ctx->settings.default_namespace);
    // A client's id is kept when it is a plain token of sane length (it reaches every role's
    // logs and headers); otherwise the request gets one of ours.
    auto id_it = req.find("x-request-id");
    std::string request_id =
        id_it != req.end() && acceptable_request_id(http::to_std(id_it->value()))
            ? std::string(http::to_std(id_it->value()))
            : ctx->make_request_id();
    bool post = req.method() == boost::beast::http::verb::post;
    bool get = req.method() == boost::beast::http::verb::get;
    if (path == "/v1/chat/completions" && post)
      return start_request_flow(ctx, ex, std::move(ns), std::move(request_id), true);
    if (path == "/v1/completions" && post)
      return start_request_flow(ctx, ex, std::move(ns), std::move(request_id), false);
    if (path == "/v1/models" && get)
      return start_models_flow(ctx, ex, std::move(ns), std::move(request_id));
    bool known =
        path == "/v1/chat/completions" || path == "/v1/completions" || path == "/v1/models";
    auto err = known ? openai::error_for_status(405, "Method not allowed for " + std::string(path))
                     : openai::error_for_status(404, "No route for " + std::string(path));
    ex->respond(static_cast<http::status>(err.status), openai::error_json(err), "application/json",
                {{"x-request-id", request_id}});
  });
}

gateway::~gateway() {
  stop(std::chrono::seconds(0));
}

void gateway::start() {
  // Sweeps pick deadlines a tenth of the picker timeout apart (5-50 ms): a late picker is
  // noticed at most that much after its deadline.
  std::weak_ptr<context> weak = context_;
  auto interval = std::clamp(
      std::chrono::duration_cast<caf::timespan>(context_->settings.picker_timeout) / 10,
      caf::timespan{std::chrono::milliseconds(5)}, caf::timespan{std::chrono::milliseconds(50)});
  context_->deadline_sweeper =
      context_->deps.system->spawn([weak, interval](caf::event_based_actor* self) -> caf::behavior {
        self->delayed_send(self, interval, atoms::tick_atom_v);
        return {[self, weak, interval](atoms::tick_atom) {
          auto ctx = weak.lock();
          if (!ctx) return self->quit();
          for (auto& flow : ctx->pick_deadlines.expire(self->clock().now()))
            caf::anon_send(flow, atoms::timeout_atom_v);
          self->delayed_send(self, interval, atoms::tick_atom_v);
        }};
      });
  server_->start();
}

uint16_t gateway::port() const {
  return server_->port();
}

void gateway::stop(std::chrono::nanoseconds grace) {
  server_->stop(grace);
  if (context_->deadline_sweeper) {
    caf::anon_send_exit(context_->deadline_sweeper, caf::exit_reason::user_shutdown);
    context_->deadline_sweeper = nullptr;
  }
  context_->upstreams->stop();  // idle upstream connections live on the server's I/O contexts
}

size_t gateway::in_flight() const {
  return context_->in_flight;
}

}  // namespace inferstack::gateway
