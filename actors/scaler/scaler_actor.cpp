#include "actors/scaler/scaler_actor.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace inferstack::actors::scaler {

bool from_load_reports(const std::string& metric) {
  return metric == "vllm:num_requests_waiting" || metric == "vllm:num_requests_running" ||
         metric == "vllm:kv_cache_usage_perc" || metric == "vllm:gpu_cache_usage_perc";
}

namespace {

constexpr uint8_t tick_evaluate = 1;    // HPA sync (keda) or the fast window
constexpr uint8_t tick_activation = 2;  // KEDA's polling interval

struct target_state {
  scaling_target spec;
  std::unique_ptr<autoscaler> policy;
  int current = -1;  ///< spec.replicas as the controller last said (-1: not yet)
  std::set<std::string> ready_pods;
  bool scaling = false;         ///< a scale_set is on its way
  uint64_t status_version = 0;  ///< of the last set_status taken
  prometheus::Gauge* value_gauge = nullptr;
  prometheus::Gauge* desired_gauge = nullptr;
};

struct scaler_state {
  scaler_dependencies deps;
  std::vector<target_state> targets;
  struct received_report {
    pod::load_report report;
    int64_t at_ns = 0;  ///< when it arrived (clock)
  };
  std::map<std::string, received_report> reports;  ///< latest per pod
  std::chrono::nanoseconds metric_staleness{0};
  prometheus::Family<prometheus::Counter>* decisions = nullptr;
};

using self_ptr = scaler_impl_actor::stateful_pointer<scaler_state>;

int64_t now_ns(self_ptr self) {
  return self->clock().now().time_since_epoch().count();
}

/// `metric` of `pod`, if there is a reading: a fresh enough load report, or read_metric.
std::optional<double> pod_value(self_ptr self, const std::string& pod, const std::string& metric) {
  auto& st = self->state;
  if (from_load_reports(metric)) {
    auto it = st.reports.find(pod);
    if (it == st.reports.end()) return std::nullopt;
    if (now_ns(self) - it->second.at_ns > st.metric_staleness.count()) return std::nullopt;
    const auto& r = it->second.report;
    if (metric == "vllm:num_requests_waiting") return r.waiting;
    if (metric == "vllm:num_requests_running") return r.running;
    return r.kv_usage;
  }
  if (st.deps.read_metric) return st.deps.read_metric(pod, metric);
  return std::nullopt;
}

struct trigger_reading {
  double value = 0;     ///< summed over the Ready pods with a reading (the others count as 0)
  bool failed = false;  ///< Ready pods, but not one reading
};

trigger_reading trigger_value(self_ptr self, const target_state& t) {
  trigger_reading out;
  size_t read = 0;
  for (const auto& pod : t.ready_pods)
    if (auto v = pod_value(self, pod, t.spec.metric)) {
      out.value += *v;
      ++read;
    }
  out.failed = !t.ready_pods.empty() && read == 0;
  return out;
}

void apply(self_ptr self, size_t index, const scaling_decision& d, const char* trigger) {
  auto& st = self->state;
  auto& t = st.targets[index];
  if (t.desired_gauge) t.desired_gauge->Set(d.desired);
  if (t.current < 0 || !d.change(t.current) || t.scaling) return;
  auto from = t.current;
  t.scaling = true;
  if (st.deps.log)
    st.deps.log->info("scaler: InferenceSet {}/{}: {} -> {} replicas ({}: {})", t.spec.ns,
                      t.spec.set, from, d.desired, trigger, d.reason);
  if (st.decisions)
    st.decisions
        ->Add({{"namespace", t.spec.ns},
               {"inferenceset", t.spec.set},
               {"direction", d.desired > from ? "up" : "down"},
               {"trigger", trigger}})
        .Increment();
  self->request(st.deps.controller, caf::infinite,
                controller::scale_set{t.spec.ns, t.spec.set, d.desired, d.reason, "scaler"})
      .then(
          [self, index, from](controller::scale_result& r) {
            auto& t = self->state.targets[index];
            t.scaling = false;
            if (!r.ok) return;
            t.current = r.replicas;
            t.policy->scaled(from, r.replicas, now_ns(self));
          },
          [self, index](caf::error&) { self->state.targets[index].scaling = false; });
}

void evaluate(self_ptr self, size_t index, uint8_t kind) {
  auto& t = self->state.targets[index];
  if (t.current < 0) return;
  auto reading = trigger_value(self, t);
  auto value = reading.value;
  if (t.value_gauge) t.value_gauge->Set(value);
  auto now = now_ns(self);
  // A failed read: KEDA counts it at each poll (fast mode: each window); with a fallback the
  // replicas go to fallback.replicas after failureThreshold of them, without one they stay.
  bool counts_reads = t.spec.mode == timing::fast || kind == tick_activation;
  if (reading.failed) {
    if (counts_reads) {
      if (auto d = t.policy->metric_failed(t.current, now)) apply(self, index, *d, "fallback");
    } else if (auto d = t.policy->fallback_decision(t.current, now)) {
      apply(self, index, *d, "fallback");
    }
    return;
  }
  if (counts_reads) t.policy->metric_read();
  if (t.spec.mode == timing::fast) {
    auto d = t.policy->decide(t.current, value, now);
    apply(self, index, d, d.desired <= 1 && t.current <= 1 ? "activation" : "fast");
    return;
  }
  if (kind == tick_activation) {
    if (auto d = t.policy->activation_check(t.current, value, now)) apply(self, index, *d, "keda");
    return;
  }
  if (t.current >= 1) apply(self, index, t.policy->hpa(t.current, value, now), "hpa");
}

}  // namespace

scaler_impl_actor spawn_scaler(caf::actor_system& sys, scaler_settings settings,
                               scaler_dependencies deps) {
  return sys.spawn([settings = std::move(settings),
                    deps = std::move(deps)](self_ptr self) -> scaler_impl_actor::behavior_type {
    auto& st = self->state;
    st.deps = deps;
    st.metric_staleness = settings.metric_staleness;
    prometheus::Family<prometheus::Gauge>*value = nullptr, *desired = nullptr;
    if (st.deps.registry) {
      value = &prometheus::BuildGauge()
                   .Name("inferstack_scaler_metric_value")
                   .Help(
                       "The trigger value of each autoscaled InferenceSet (summed over its "
                       "Ready pods)")
                   .Register(*st.deps.registry);
      desired = &prometheus::BuildGauge()
                     .Name("inferstack_scaler_desired_replicas")
                     .Help("Replicas the scaler's last evaluation asked for")
                     .Register(*st.deps.registry);
      st.decisions = &prometheus::BuildCounter()
                          .Name("inferstack_scaler_decisions_total")
                          .Help(
                              "Scaling decisions by direction and trigger (keda activation, "
                              "hpa, fast)")
                          .Register(*st.deps.registry);
    }
    for (size_t i = 0; i < settings.targets.size(); ++i) {
      target_state t;
      t.spec = settings.targets[i];
      t.policy = std::make_unique<autoscaler>(t.spec.policy);
      if (value) {
        prometheus::Labels labels{
            {"namespace", t.spec.ns}, {"inferenceset", t.spec.set}, {"metric", t.spec.metric}};
        t.value_gauge = &value->Add(labels);
        t.desired_gauge = &desired->Add({{"namespace", t.spec.ns}, {"inferenceset", t.spec.set}});
      }
      auto index = static_cast<uint32_t>(i);
      if (t.spec.mode == timing::fast) {
        self->delayed_send(self, t.spec.fast_window, scaler_tick{index, tick_evaluate});
      } else {
        self->delayed_send(self, t.spec.sync_period, scaler_tick{index, tick_evaluate});
        self->delayed_send(self, t.spec.polling_interval, scaler_tick{index, tick_activation});
      }
      st.targets.push_back(std::move(t));
    }
    return {
        [self](activate_pool& req) -> activation {
          auto& st = self->state;
          auto pool = req.ns + "/" + req.pool;
          for (size_t i = 0; i < st.targets.size(); ++i) {
            auto& t = st.targets[i];
            if (std::find(t.spec.pools.begin(), t.spec.pools.end(), pool) == t.spec.pools.end())
              continue;
            if (t.current > 0) return {true, "a pod of " + t.spec.set + " is starting"};
            if (auto d = t.policy->activate(t.current < 0 ? 0 : t.current, now_ns(self))) {
              if (t.current < 0) t.current = 0;
              apply(self, i, *d, "activation");
              return {true, "starting a pod of " + t.spec.set};
            }
            return {false, "InferenceSet " + t.spec.set + " may not scale above 0"};
          }
          return {false, "InferencePool " + pool + " is not autoscaled"};
        },
        [self](controller::set_status& s) {
          for (auto& t : self->state.targets) {
            if (t.spec.ns != s.ns || t.spec.set != s.set) continue;
            if (s.version != 0 && s.version <= t.status_version) continue;  // a late one
            t.status_version = s.version;
            if (!t.scaling) t.current = s.desired;
            t.ready_pods = {s.ready_pods.begin(), s.ready_pods.end()};
          }
        },
        [self](pod::load_report& r) {
          auto pod = r.pod;
          self->state.reports[pod] = {std::move(r), now_ns(self)};
        },
        [self](pod_loads_query&) -> pod_loads {
          auto& st = self->state;
          pod_loads out;
          for (const auto& [pod, r] : st.reports)
            if (now_ns(self) - r.at_ns <= st.metric_staleness.count())
              out.reports.push_back(r.report);
          return out;
        },
        [self](scaler_tick& tick) {
          auto& st = self->state;
          if (tick.index >= st.targets.size()) return;
          auto& spec = st.targets[tick.index].spec;
          auto every = spec.mode == timing::fast      ? spec.fast_window
                       : tick.kind == tick_activation ? spec.polling_interval
                                                      : spec.sync_period;
          self->delayed_send(self, every, tick);
          evaluate(self, tick.index, tick.kind);
        },
    };
  });
}

}  // namespace inferstack::actors::scaler
