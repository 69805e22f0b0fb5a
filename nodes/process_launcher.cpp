#include "nodes/process_launcher.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/pod/engine/latency.hpp"
#include "actors/pod/pod_protocol.hpp"
#include "runtime/errors.hpp"

extern char** environ;

namespace inferstack::nodes {

namespace {

namespace nm = actors::node_mocker;
namespace pod = actors::pod;
using namespace std::chrono_literals;

bool port_free(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended";
}

struct supervisor_state {
  std::string name;
  pid_t pid = -1;
  caf::actor pod;     ///< proxy of the pod actor in the child
  caf::actor mocker;  ///< told when the process ends on its own
  bool want_ready = false;
  bool stopping = false;
  std::chrono::steady_clock::time_point kill_at{};
  std::shared_ptr<spdlog::logger> log;
};

using supervisor = caf::stateful_actor<supervisor_state>;

// A pod process's stand-in for the node mocker: mark_ready until the pod confirms, drains
// passed through, the process watched (250 ms) and stopped (SIGTERM, SIGKILL after 10 s).
caf::behavior supervise(supervisor* self, std::string name, pid_t pid, caf::actor pod_proxy,
                        caf::actor mocker, std::shared_ptr<spdlog::logger> log) {
  auto& st = self->state;
  st.name = std::move(name);
  st.pid = pid;
  st.pod = std::move(pod_proxy);
  st.mocker = std::move(mocker);
  st.log = std::move(log);
  self->delayed_send(self, 250ms, atoms::tick_atom_v);
  auto confirm_ready = [self] {
    auto& st = self->state;
    caf::anon_send(st.pod, pod::mark_ready{st.name});
    self->request(st.pod, 1s, pod::status_request{})
        .then([self](pod::load_report& r) { self->state.want_ready = !r.ready; },
              [](caf::error&) {});  // not up yet: the next tick tries again
  };
  return {
      [self, confirm_ready](pod::mark_ready) {
        self->state.want_ready = true;
        confirm_ready();
      },
      [self](pod::drain_request) {
        auto rp = self->make_response_promise<pod::drain_done>();
        self->request(self->state.pod, 60s, pod::drain_request{})
            .then([rp](pod::drain_done& d) mutable { rp.deliver(d); },
                  [rp](caf::error& e) mutable { rp.deliver(e); });
        return rp;
      },
      [self](atoms::stop_atom) {
        auto& st = self->state;
        if (st.pid < 0) return self->quit();  // a slot: the process stays, drained, for reuse
        st.stopping = true;
        st.kill_at = std::chrono::steady_clock::now() + 10s;
        ::kill(st.pid, SIGTERM);
      },
      [self, confirm_ready](atoms::tick_atom) {
        auto& st = self->state;
        int status = 0;
        if (st.pid > 0 && ::waitpid(st.pid, &status, WNOHANG) == st.pid) {
          if (!st.stopping) {
            auto why = describe_exit(status);
            if (st.log) st.log->warn("pod {}: process {} {}", st.name, st.pid, why);
            caf::anon_send(st.mocker, nm::pod_exited{st.name, "process " + why});
          }
          st.pid = -1;
          self->quit();
          return;
        }
        if (st.stopping && std::chrono::steady_clock::now() >= st.kill_at && st.pid > 0)
          ::kill(st.pid, SIGKILL);
        if (st.want_ready && !st.stopping) confirm_ready();
        self->delayed_send(self, 250ms, atoms::tick_atom_v);
      },
  };
}

bool sets_latency(const std::map<std::string, std::string>& engine) {
  for (const auto& [k, v] : engine)
    if (k == "profile" || k == "kaito-profile" || actors::pod::engine::is_sim_latency_option(k))
      return true;
  return false;
}

}  // namespace

process_launcher::process_launcher(caf::actor_system& system, runtime::transport& transport,
                                   process_launcher_settings settings,
                                   std::shared_ptr<spdlog::logger> log)
    : system_(system),
      transport_(transport),
      settings_(std::move(settings)),
      log_(std::move(log)),
      next_port_(settings_.first_port) {}

namespace {

caf::error stopping(const nm::pod_template& pod) {
  return caf::make_error(runtime::transport_errc::unknown_actor,
                         "pod " + pod.name + " not started: the stack is stopping");
}

}  // namespace

process_launcher::~process_launcher() {
  terminate_all();
}

void process_launcher::set_mocker(caf::actor mocker) {
  std::lock_guard guard{mutex_};
  mocker_ = std::move(mocker);
}

int process_launcher::allocate_ports() {
  std::lock_guard guard{mutex_};
  int span = settings_.last_port - settings_.first_port + 1;
  for (int tries = 0; tries < span; tries += 5) {
    int base = next_port_;
    next_port_ += 5;
    if (next_port_ + 4 > settings_.last_port) next_port_ = settings_.first_port;
    bool free = true;
    for (int p = base; p < base + 5 && free; ++p)
      free = port_free(p);
    if (free) return base;
  }
  return -1;
}

std::vector<std::string> process_launcher::command_line(const nm::pod_template& t,
                                                        int first_port) const {
  auto endpoint = [&](int offset) {
    return "tcp://" + settings_.host + ":" + std::to_string(first_port + offset);
  };
  std::vector<std::string> args{settings_.binary,
                                "run",
                                "pod",
                                "--model",
                                t.model,
                                "--pod-name",
                                t.name,
                                "--port",
                                std::to_string(first_port),
                                "--listen-address",
                                settings_.host,
                                "--transport-listen",
                                endpoint(1),
                                "--transport-events",
                                endpoint(2),
                                "--zmq-endpoint",
                                endpoint(3),
                                "--kv-events-bind",
                                "true",
                                "--kv-events-replay-endpoint",
                                endpoint(4),
                                "--wait-ready",
                                "--exit-with-parent",
                                "--seed",
                                std::to_string(t.seed),
                                "--log-level",
                                settings_.log_level};
  // Reached over HTTP, a pod answers with the gateway's request id (its X-Request-Id), as it
  // does over ZeroMQ: one id from the client's response to the pod's log.
  if (settings_.requests_over_http) args.push_back("--enable-request-id-headers");
  if (!settings_.trace_endpoint.empty()) {
    args.insert(args.end(), {"--otlp-endpoint", settings_.trace_endpoint, "--otlp-service-name",
                             settings_.trace_service_name});
  }
  if (settings_.curve_keys.empty()) {
    args.push_back("--insecure-plaintext");
  } else {
    args.push_back("--curve-keys");
    args.push_back(settings_.curve_keys);
  }
  for (const auto& [k, v] : t.engine) {
    if (k == "profile" && v.find('/') == std::string::npos && !settings_.profiles_dir.empty()) {
      args.push_back("--profile");
      args.push_back(settings_.profiles_dir + "/" + v + ".yaml");
      continue;
    }
    args.push_back("--" + k);
    args.push_back(v);
  }
  namespace engine = actors::pod::engine;
  auto annotated = t.annotations.count(std::string(engine::annotation_latency_profile)) ||
                   t.annotations.count(std::string(engine::annotation_latency_calculator));
  if (annotated || !sets_latency(t.engine)) {
    // The KAITO mocker's rule, as `inferstack dev` applies it (nodes/in_process_launcher).
    auto chosen = engine::select_profile(t.model, t.annotations);
    args.push_back("--kaito-profile");
    args.push_back(chosen.profile + ":" + std::string(engine::to_string(chosen.calculator)));
  }
  return args;
}

caf::expected<nm::launched_pod> process_launcher::launch(const nm::pod_template& pod,
                                                         const std::string& node) {
  {
    std::lock_guard guard{mutex_};
    if (closed_) return stopping(pod);
  }
  auto set_key = pod.ns + "/" + pod.set;
  if (auto slots = settings_.slots.find(set_key); slots != settings_.slots.end())
    return launch_in_slot(pod, node, set_key, slots->second);
  int base = allocate_ports();
  if (base < 0)
    return caf::make_error(runtime::transport_errc::unknown_actor,
                           "no free ports for pod " + pod.name);
  auto args = command_line(pod, base);
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, argv[0], nullptr, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    return caf::make_error(runtime::transport_errc::unknown_actor,
                           "cannot start " + settings_.binary + ": " + std::strerror(rc));
  auto out = adopt(pod, settings_.host, base, {pid, {}, {}, 0});
  if (!out) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);  // reaped here: nobody supervises it
    return out.error();
  }
  if (log_)
    log_->info("pod {}: process {} on {} (ports {}-{})", pod.name, pid, node, base, base + 4);
  return out;
}

caf::expected<nm::launched_pod> process_launcher::launch_in_slot(
    const nm::pod_template& pod, const std::string& node, const std::string& set_key,
    const std::vector<std::string>& addresses) {
  size_t index = 0;
  {
    std::lock_guard guard{mutex_};
    auto& taken = slots_taken_[set_key];
    taken.resize(addresses.size(), false);
    while (index < taken.size() && taken[index])
      ++index;
    if (index == taken.size())
      return caf::make_error(
          runtime::transport_errc::unknown_actor,
          "no free pod slot for " + set_key + " (" + std::to_string(addresses.size()) + " slots)");
    taken[index] = true;
  }
  const auto& address = addresses[index];
  auto colon = address.rfind(':');
  auto host = address.substr(0, colon);
  int base = std::stoi(address.substr(colon + 1));
  auto out = adopt(pod, host, base, {-1, {}, set_key, index});
  if (!out) {
    std::lock_guard guard{mutex_};
    slots_taken_[set_key][index] = false;
    return out.error();
  }
  if (log_) log_->info("pod {}: slot {} of {} ({}) on {}", pod.name, index, set_key, address, node);
  return out;
}

caf::expected<nm::launched_pod> process_launcher::adopt(const nm::pod_template& pod,
                                                        const std::string& host, int base,
                                                        child record) {
  auto endpoint = [&](int offset) { return "tcp://" + host + ":" + std::to_string(base + offset); };
  auto proxy = transport_.lookup(endpoint(1), "pod");
  if (!proxy) return proxy.error();
  caf::actor mocker;
  {
    std::lock_guard guard{mutex_};
    mocker = mocker_;
  }
  record.supervisor = system_.spawn(supervise, pod.name, record.pid, *proxy, mocker, log_);
  nm::launched_pod out;
  out.endpoint = settings_.requests_over_http ? "http://" + host + ":" + std::to_string(base)
                                              : "zmq:" + endpoint(1) + "#pod";
  out.address = host + ":" + std::to_string(base);
  out.actor = record.supervisor;
  out.events = endpoint(2);
  out.kv_events = endpoint(3);
  out.kv_replay = endpoint(4);
  bool kept = false;
  {
    std::lock_guard guard{mutex_};
    if (!closed_) {
      children_[pod.name] = record;
      kept = true;
    }
  }
  if (!kept) {  // terminate_all ran meanwhile and could not see this one (launch kills it)
    caf::anon_send_exit(record.supervisor, caf::exit_reason::user_shutdown);
    return stopping(pod);
  }
  if (on_launched) on_launched(pod.name, out);
  return out;
}

void process_launcher::terminate(const std::string& pod) {
  child c;
  {
    std::lock_guard guard{mutex_};
    auto it = children_.find(pod);
    if (it == children_.end()) return;
    c = it->second;
    children_.erase(it);
    if (c.pid < 0 && slots_taken_.count(c.slot_set)) slots_taken_[c.slot_set][c.slot] = false;
  }
  if (on_terminated) on_terminated(pod);
  caf::anon_send(c.supervisor, atoms::stop_atom_v);
}

void process_launcher::terminate_all() {
  std::map<std::string, child> all;
  {
    std::lock_guard guard{mutex_};
    closed_ = true;
    all.swap(children_);
  }
  for (auto& [name, c] : all)
    if (c.pid > 0) ::kill(c.pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (auto& [name, c] : all) {
    while (c.pid > 0) {
      int status = 0;
      auto r = ::waitpid(c.pid, &status, WNOHANG);
      if (r == c.pid || r < 0) break;
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(c.pid, SIGKILL);
        ::waitpid(c.pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    caf::anon_send_exit(c.supervisor, caf::exit_reason::user_shutdown);
  }
}

}  // namespace inferstack::nodes
