#include "gateway/gateway.hpp"

#include <algorithm>
#include <cstdio>
#include <random>

#include <caf/actor_system.hpp>

#include "gateway/gateway_context.hpp"
#include "gateway/request_pipeline.hpp"
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

http::server_settings listener_settings(const gateway_settings& settings,
                                        const gateway_dependencies& deps) {
  http::server_settings hs;
  hs.address = settings.address;
  hs.port = settings.port;
  hs.io_threads = settings.io_threads;
  // Actors scheduled on I/O threads: connections go on those same threads.
  hs.shared_threads = runtime::io_threads_of(*deps.system);
  hs.body_limit = settings.max_body_bytes;
  hs.header_timeout = settings.header_timeout;
  hs.idle_timeout = settings.idle_timeout;
  hs.server_name = "inferstack";
  hs.error_body = openai::error_body;  // its own 400, 413, 431 and 503 in OpenAI's form
  hs.log = deps.log;  // accept errors (out of file descriptors) are logged and counted
  hs.registry = deps.registry;
  return hs;
}

gateway::gateway(gateway_settings settings, gateway_dependencies deps) {
  auto hs = listener_settings(settings, deps);
  pipeline_ = std::make_shared<request_pipeline>(std::move(settings), std::move(deps));
  server_ = std::make_unique<http::server>(
      hs, [pipeline = pipeline_](std::shared_ptr<http::exchange> ex) {
        pipeline->handle(std::move(ex));
      });
}

gateway::~gateway() {
  stop(std::chrono::seconds(0));
}

void gateway::start() {
  pipeline_->start();
  server_->start();
}

uint16_t gateway::port() const {
  return server_->port();
}

void gateway::stop(std::chrono::nanoseconds grace) {
  server_->stop(grace);
  pipeline_->stop();
}

size_t gateway::in_flight() const {
  return pipeline_->in_flight();
}

}  // namespace inferstack::gateway
