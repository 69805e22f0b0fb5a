#include "nodes/in_process_launcher.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include "actors/pod/engine/latency.hpp"
#include "actors/pod/pod_actor.hpp"
#include "runtime/errors.hpp"
#include "runtime/logging.hpp"

namespace inferstack::nodes {

namespace {

bool sets_latency(const std::map<std::string, std::string>& engine) {
  for (const auto& [k, v] : engine)
    if (k == "profile" || actors::pod::engine::is_sim_latency_option(k)) return true;
  return false;
}

}  // namespace

actors::pod::pod_settings pod_settings_from(const actors::node_mocker::pod_template& pod,
                                            const std::string& profiles_dir,
                                            std::vector<std::string>& problems) {
  actors::pod::pod_settings s;
  auto where = "InferenceSet " + pod.ns + "/" + pod.set;
  for (auto& p : actors::pod::apply_pod_options(s, pod.engine, profiles_dir))
    problems.push_back(where + ": ModelPreset " + pod.preset + ": " + p);
  s.model = pod.model;
  s.served_model_names = {pod.model};
  s.pod_name = pod.name;
  // No network address in one process: "<set>-<n>.<namespace>" stands for it in KV-event topics.
  auto local = pod.name.substr(pod.name.find('/') + 1);
  s.address = local + "." + pod.ns;
  s.seed = pod.seed;
  namespace engine = actors::pod::engine;
  auto annotated = pod.annotations.count(std::string(engine::annotation_latency_profile)) ||
                   pod.annotations.count(std::string(engine::annotation_latency_calculator));
  if (annotated || !sets_latency(pod.engine)) {
    // The KAITO mocker's rule: the profile from the model's size, or the annotations.
    auto chosen = engine::select_profile(pod.model, pod.annotations);
    for (auto& w : chosen.warnings)
      problems.push_back(where + ": " + w);
    if (auto params = engine::kaito_sim_params(chosen.profile, chosen.calculator)) {
      s.profile.reset();
      s.sim = *params;
    }
  }
  for (auto& p : actors::pod::finish_pod_settings(s))
    problems.push_back(where + ": " + p);
  return s;
}

in_process_launcher::in_process_launcher(caf::actor_system& system, runtime::transport& transport,
                                         std::string profiles_dir, int64_t wall_clock_offset_ns,
                                         std::shared_ptr<spdlog::logger> log,
                                         std::shared_ptr<tracing::tracer> tracer)
    : system_(system),
      transport_(transport),
      profiles_dir_(std::move(profiles_dir)),
      wall_clock_offset_ns_(wall_clock_offset_ns),
      log_(std::move(log)),
      tracer_(std::move(tracer)) {}

caf::expected<actors::node_mocker::launched_pod> in_process_launcher::launch(
    const actors::node_mocker::pod_template& pod, const std::string& node) {
  auto stopping = [&pod] {
    return caf::make_error(runtime::transport_errc::unknown_actor,
                           "pod " + pod.name + " not started: the stack is stopping");
  };
  {
    std::lock_guard guard{mutex_};
    if (closed_) return stopping();
  }
  std::vector<std::string> problems;
  auto settings = pod_settings_from(pod, profiles_dir_, problems);
  if (!problems.empty())
    return caf::make_error(runtime::transport_errc::unknown_actor, problems.front());
  actors::pod::pod_dependencies deps;
  deps.registry = std::make_shared<prometheus::Registry>();
  deps.log = log_ ? runtime::component_logger(log_, "pod") : nullptr;
  deps.wall_clock_offset_ns = wall_clock_offset_ns_;
  deps.start_ready = false;  // the node mocker says when the model is loaded
  deps.tracer = tracer_;
  auto* transport = &transport_;
  auto load_topic = "load@" + settings.pod_name + "@";  // "@": pod-1 is no prefix of pod-10
  deps.outputs.load = [transport, load_topic](const actors::pod::load_report& r) {
    transport->publish(load_topic, caf::make_message(r));
  };
  auto kv_cut = std::make_shared<std::atomic<bool>>(false);
  deps.outputs.kv_events = [transport, kv_cut](const actors::pod::kv_event_message& m) {
    if (kv_cut->load(std::memory_order_relaxed)) return;  // lost, as on a cut link
    transport->publish(m.topic, caf::make_message(m));
  };
  auto actor = actors::pod::spawn_pod(system_, settings, deps);
  transport_.expose("pod/" + settings.pod_name, caf::actor_cast<caf::actor>(actor));
  bool kept = false;
  {
    std::lock_guard guard{mutex_};
    if (!closed_) {
      pods_[pod.name] = {pod.name, actor, deps.registry, kv_cut};
      kept = true;
    }
  }
  if (!kept) {  // terminate_all ran meanwhile and could not see this one: it would outlive it
    transport_.withdraw("pod/" + settings.pod_name);
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    return stopping();
  }
  return actors::node_mocker::launched_pod{"actor:pod/" + settings.pod_name,
                                           settings.address,
                                           caf::actor_cast<caf::actor>(actor),
                                           {},
                                           {},
                                           {}};
}

void in_process_launcher::terminate(const std::string& pod) {
  running_pod gone;
  {
    std::lock_guard guard{mutex_};
    auto it = pods_.find(pod);
    if (it == pods_.end()) return;
    gone = std::move(it->second);
    pods_.erase(it);
  }
  transport_.withdraw("pod/" + pod);
  caf::anon_send_exit(gone.actor, caf::exit_reason::user_shutdown);
}

void in_process_launcher::terminate_all() {
  std::vector<std::string> names;
  {
    std::lock_guard guard{mutex_};
    closed_ = true;
    for (const auto& [name, p] : pods_)
      names.push_back(name);
  }
  for (const auto& n : names)
    terminate(n);
}

std::vector<in_process_launcher::running_pod> in_process_launcher::pods() const {
  std::lock_guard guard{mutex_};
  std::vector<running_pod> out;
  for (const auto& [name, p] : pods_)
    out.push_back(p);
  return out;
}

std::shared_ptr<prometheus::Registry> in_process_launcher::registry_of(
    const std::string& pod) const {
  std::lock_guard guard{mutex_};
  auto it = pods_.find(pod);
  return it == pods_.end() ? nullptr : it->second.registry;
}

std::optional<double> in_process_launcher::read_metric(const std::string& pod,
                                                       const std::string& metric) const {
  auto registry = registry_of(pod);
  if (!registry) return std::nullopt;
  std::optional<double> sum;
  for (const auto& family : registry->Collect()) {
    if (family.name != metric) continue;
    for (const auto& m : family.metric) {
      double v = family.type == prometheus::MetricType::Counter ? m.counter.value
                 : family.type == prometheus::MetricType::Gauge ? m.gauge.value
                                                                : m.untyped.value;
      sum = sum.value_or(0) + v;
    }
  }
  return sum;
}

}  // namespace inferstack::nodes
