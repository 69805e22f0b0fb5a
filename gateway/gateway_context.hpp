// What every request of one gateway shares: settings, dependencies, metrics, ids. Internal to
// the gateway module.
#pragma once

#include <atomic>
#include <map>
#include <mutex>

#include <string>
#include "runtime/brief_mutex.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <caf/actor.hpp>
#include <caf/expected.hpp>

#include "gateway/deadline_board.hpp"
#include "gateway/gateway.hpp"
#include "gateway/upstream_client.hpp"

namespace inferstack::gateway {

class gateway_metrics {
 public:
  explicit gateway_metrics(prometheus::Registry& registry);

  void finished(const std::string& ns, const std::string& model, int status, double seconds);
  void first_token(const std::string& ns, const std::string& model, double seconds);
  prometheus::Gauge& in_flight;
  prometheus::Counter& retries;

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Histogram>& ttft_;
  /// One namespace/model's series, created on first use.
  struct model_series {
    const std::string* ns = nullptr;  ///< the labels (keys of series_)
    const std::string* model = nullptr;
    prometheus::Histogram* duration = nullptr;
    prometheus::Histogram* ttft = nullptr;
    std::map<int, prometheus::Counter*> requests;  ///< by HTTP status
  };
  /// Found by namespace, then model, without building a key per request.
  model_series& series(const std::string& ns, const std::string& model);

  runtime::brief_mutex mutex_;
  std::map<std::string, std::map<std::string, model_series, std::less<>>, std::less<>> series_;
};

struct gateway::context {
  context(gateway_settings s, gateway_dependencies d);

  gateway_settings settings;
  gateway_dependencies deps;
  gateway_metrics metrics;
  std::string id_prefix;
  std::atomic<uint64_t> next_id{1};
  std::atomic<size_t> in_flight{0};
  /// Keep-alive connections to model servers reached over HTTP.
  std::unique_ptr<upstream_pool> upstreams;
  /// Picks waiting for their picker, and the actor that sweeps their deadlines.
  deadline_board pick_deadlines;
  caf::actor deadline_sweeper;
  /// Requests waiting for a pool to get its first Ready pod (scale from zero).
  std::atomic<int> activation_waiters{0};

  /// A fresh request id: a per-process random prefix and a counter.
  std::string make_request_id();

  /// The actor behind an endpoint string: "actor:<name>" (this process) or
  /// "zmq:<address>#<name>" (another process, through the transport).
  caf::expected<caf::actor> resolve(const std::string& endpoint) const;
};

/// The HTTP listener's settings for a gateway (or a pod's front end) with these settings.
http::server_settings listener_settings(const gateway_settings& settings,
                                        const gateway_dependencies& deps);

}  // namespace inferstack::gateway
