// `inferstack run pod`: one simulated vLLM engine serving its own OpenAI API, /metrics and
// health, publishing KV events on ZeroMQ -- a drop-in for llm-d-inference-sim (same flag names).
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <yaml-cpp/yaml.h>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include "actors/pod/kv_publisher.hpp"
#include "actors/pod/pod_actor.hpp"
#include "actors/pod/pod_metrics.hpp"
#include "gateway/pod_front_end.hpp"
#include "gateway/pod_grpc.hpp"
#include "gateway/pod_grpc_engine.hpp"
#include "gateway/pod_omni.hpp"
#include "gateway/request_steps.hpp"
#include "nodes/commands.hpp"
#include "nodes/pod_endpoints.hpp"
#include "nodes/process_tracer.hpp"
#include "nodes/signals.hpp"
#include "openai/api_error.hpp"
#include "openai/response.hpp"
#include "protocol/registration.hpp"
#include "runtime/actor_system_setup.hpp"
#include "runtime/curve_keys.hpp"
#include "runtime/http/tls.hpp"
#include "runtime/metrics.hpp"
#include "runtime/tokenizer.hpp"
#include "runtime/zmq_transport.hpp"

namespace inferstack::nodes {

namespace {

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Keys of a simulator-style YAML config file (same names as the flags).
std::vector<std::string> apply_config_file(actors::pod::pod_settings& s, const std::string& path,
                                           const std::string& profiles_dir) {
  std::vector<std::string> problems;
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return {path + ": " + e.what()};
  }
  if (!root.IsMap()) return {path + ": expected a mapping of option names to values"};
  // A node that is not a plain value, in flow style: it reaches set_pod_option, which names the
  // option in its refusal (fake-metrics) or its parse error (a LoRA module not given as JSON).
  auto flow = [](const YAML::Node& n) {
    YAML::Emitter e;
    e << YAML::Flow << n;
    return std::string(e.c_str());
  };
  for (const auto& kv : root) {
    std::string value;
    if (kv.second.IsScalar()) {
      value = kv.second.Scalar();
    } else if (kv.second.IsSequence()) {
      // List items as separate items (set_pod_option splits on spaces and commas).
      for (const auto& item : kv.second) {
        if (!value.empty()) value += kv.first.Scalar() == "lora-modules" ? " " : ",";
        value += item.IsScalar() ? item.Scalar() : flow(item);
      }
    } else if (kv.second.IsMap()) {
      value = flow(kv.second);
    } else {
      problems.push_back(path + ": --" + kv.first.Scalar() + ": expected a value or a list");
      continue;
    }
    if (auto err = actors::pod::set_pod_option(s, kv.first.Scalar(), value, profiles_dir))
      problems.push_back(path + ": " + *err);
  }
  return problems;
}

struct pod_admin {
  actors::pod::pod_actor pod;
  actors::pod::pod_settings settings;
  std::shared_ptr<prometheus::Registry> registry;
  std::shared_ptr<actors::pod::pod_metrics> metrics;
  std::shared_ptr<gateway::omni_output> omni;  ///< the front end's; /admin/config changes it
  bool simulator = false;  ///< started as llm-d-inference-sim (no inferstack profile)
  std::atomic<bool> ready{false};
  std::mutex lora_mutex;
  std::set<std::string> loras;
  /// Guards the run-time fields of `settings` (latencies, failure injection: POST /admin/config
  /// changes them, GET shows them); the other fields never change once serving.
  std::mutex settings_mutex;
  /// Sleep mode as llm-d-inference-sim's: /sleep acts only with --enable-sleep-mode and
  /// VLLM_SERVER_DEV_MODE=1. The pod then discards and disables its KV cache (AllBlocksCleared;
  /// no prefix hits, no BlockStored until /wake_up wakes the kv_cache), and keeps serving:
  /// requests are never refused, as in the simulator.
  bool dev_mode = [] {
    const char* v = std::getenv("VLLM_SERVER_DEV_MODE");
    return v && std::string_view(v) == "1";
  }();
  std::atomic<bool> sleeping{false};
  /// /query's engine id (Mooncake bootstrap emulation): random, stable for the process.
  std::string engine_id = [] {
    std::random_device rd;
    auto bits = [&rd] { return (uint64_t{rd()} << 32) | rd(); };
    return uuid_v4(bits(), bits());
  }();

  /// The simulator's identity headers, set only when the environment names the pod.
  http::header_list identity_headers() const {
    http::header_list out;
    if (const char* name = std::getenv("POD_NAME"); name && *name) {
      out.emplace_back("x-inference-pod", name);
      out.emplace_back("x-inference-port", std::to_string(settings.port));
    }
    if (const char* ns = std::getenv("POD_NAMESPACE"); ns && *ns)
      out.emplace_back("x-inference-namespace", ns);
    return out;
  }

  bool handle(const std::shared_ptr<http::exchange>& ex) {
    const auto& req = ex->req();
    auto target = http::to_std(req.target());
    auto path = target.substr(0, target.find('?'));
    using verb = boost::beast::http::verb;
    auto json = [&](int status, std::string body) {
      ex->respond(static_cast<http::status>(status), std::move(body), "application/json");
    };
    if (path == "/health" && req.method() == verb::get) {
      json(200, "");
      return true;
    }
    if (path == "/health/ready" && req.method() == verb::get) {
      if (ready)
        json(200, "");
      else
        json(503, openai::error_json(openai::service_unavailable("The model is still loading.")));
      return true;
    }
    if (path == "/metrics" && req.method() == verb::get) {
      if (metrics) metrics->refresh_fake();
      // The simulator (Go's client) leaves out a family with no series yet.
      ex->respond(http::status::ok, runtime::render_metrics(*registry, simulator),
                  runtime::metrics_content_type);
      return true;
    }
    if (path == "/v1/models" && req.method() == verb::get) {
      std::lock_guard guard{lora_mutex};
      json(200, openai::models_list_json(model_cards(settings, loras, unix_seconds())));
      return true;
    }
    if ((path == "/v1/load_lora_adapter" || path == "/v1/unload_lora_adapter") &&
        req.method() == verb::post) {
      auto body = nlohmann::json::parse(req.body(), nullptr, false);
      if (body.is_discarded() || !body.is_object() || !body.contains("lora_name") ||
          !body["lora_name"].is_string()) {
        json(400, openai::error_json(openai::bad_request("lora_name is required", "lora_name")));
        return true;
      }
      bool load = path == "/v1/load_lora_adapter";
      actors::pod::lora_change change;
      change.lora_name = body["lora_name"].get<std::string>();
      if (body.contains("lora_path") && body["lora_path"].is_string())
        change.lora_path = body["lora_path"].get<std::string>();
      change.load = load;
      {
        std::lock_guard guard{lora_mutex};
        if (load)
          loras.insert(change.lora_name);
        else
          loras.erase(change.lora_name);
      }
      caf::anon_send(pod, change);
      json(200, "");
      return true;
    }
    if (path == "/tokenize" && req.method() == verb::post) {
      auto body = nlohmann::json::parse(req.body(), nullptr, false);
      if (body.is_discarded() || !body.is_object()) {
        json(400, openai::error_json(openai::bad_request("invalid JSON body")));
        return true;
      }
      bool has_prompt = body.contains("prompt"), has_messages = body.contains("messages");
      if (has_prompt == has_messages) {
        json(400, openai::error_json(
                      openai::bad_request("Either prompt or messages must be given, not both")));
        return true;
      }
      std::string text;
      if (has_prompt && body["prompt"].is_string()) {
        text = body["prompt"].get<std::string>();
      } else if (has_messages && body["messages"].is_array()) {
        std::vector<runtime::chat_turn> turns;
        for (const auto& m : body["messages"])
          if (m.is_object() && m.contains("role") && m["role"].is_string())
            turns.push_back(
                {m["role"].get<std::string>(), m.contains("content") && m["content"].is_string()
                                                   ? m["content"].get<std::string>()
                                                   : ""});
        text = runtime::flatten_chat(turns);
      } else {
        json(400, openai::error_json(openai::bad_request("prompt must be a string")));
        return true;
      }
      auto tokens = runtime::tokenize(text);
      nlohmann::json out{{"max_model_len", settings.engine.max_model_len},
                         {"count", tokens.size()},
                         {"tokens", tokens},
                         {"token_strs", nullptr}};
      json(200, out.dump());
      return true;
    }
    return handle_sim_extras(ex, path, json);
  }

  /// The rest of the simulator's routes (see pod_endpoints.hpp).
  template <typename Json>
  bool handle_sim_extras(const std::shared_ptr<http::exchange>& ex, std::string_view path,
                         Json& json) {
    const auto& req = ex->req();
    using verb = boost::beast::http::verb;
    bool get = req.method() == verb::get, post = req.method() == verb::post;
    auto reply = [&](const endpoint_reply& r, http::header_list extra = {}) {
      ex->respond(static_cast<http::status>(r.status), r.body, "application/json",
                  std::move(extra));
    };
    if (path == "/v1/embeddings" && post && !settings.mm_encoder_only) {  // sim: not routed
      reply(embeddings_reply(req.body(), settings), identity_headers());
      return true;
    }
    if ((path == "/v1/chat/completions/render" || path == "/v1/completions/render") && post) {
      std::set<std::string> loaded;
      {
        std::lock_guard guard{lora_mutex};
        loaded = loras;
      }
      reply(render_reply(path == "/v1/chat/completions/render", req.body(), settings, loaded),
            identity_headers());
      return true;
    }
    if (path.rfind("/v1/models/", 0) == 0 && get) {
      std::lock_guard guard{lora_mutex};
      reply(model_card_reply(gateway::model_of_path(path), settings, loras, unix_seconds()));
      return true;
    }
    if (path == "/sleep" && post) {
      if (settings.enable_sleep_mode && dev_mode) {
        sleeping = true;
        caf::anon_send(pod, actors::pod::sleep_control{true, false});
      }
      json(200, "");
      return true;
    }
    if (path == "/wake_up" && post) {
      // Awake whatever the tags, as the simulator; the KV cache wakes without tags or with
      // tags=kv_cache only (tags=weights leaves it asleep).
      sleeping = false;
      auto target = http::to_std(req.target());
      auto query = target.find('?') == std::string_view::npos ? std::string_view()
                                                              : target.substr(target.find('?') + 1);
      bool has_tags = query.find("tags=") != std::string_view::npos;
      bool kv_cache = !has_tags || query.find("tags=kv_cache") != std::string_view::npos;
      caf::anon_send(pod, actors::pod::sleep_control{false, kv_cache});
      json(200, "");
      return true;
    }
    if (path == "/is_sleeping" && get) {
      json(200, nlohmann::json{{"is_sleeping", sleeping.load()}}.dump());
      return true;
    }
    if (path == "/query" && get) {
      json(200, mooncake_query_json(engine_id));
      return true;
    }
    if (path == "/admin/config" && get) {
      std::lock_guard guard{settings_mutex};
      json(200, admin_config(settings).dump());
      return true;
    }
    if (path == "/admin/config" && post) {
      // Checked and applied to our copy, then to the pod actor, in one order under the lock.
      std::lock_guard guard{settings_mutex};
      actors::pod::apply_options change;
      // fake-metrics is the metrics' own: checked first, applied with the rest.
      auto body = nlohmann::json::parse(req.body(), nullptr, false);
      std::string fake;
      if (body.is_object() && body.contains("fake-metrics")) fake = body["fake-metrics"].dump();
      if (!fake.empty())
        if (auto err = metrics->check_fake(fake)) {
          reply({400, openai::error_json(openai::error_for_status(400, *err))});
          return true;
        }
      auto r = admin_config_update(req.body(), settings, change);
      if (r.status == 200 && !change.keys.empty()) caf::anon_send(pod, std::move(change));
      if (r.status == 200 && omni) {  // omni's run-time settings live in the front end
        omni->emission_rate = settings.image_emission_rate;
        omni->image_ns = settings.time_to_generate_image_ns;
        omni->image_sd_ns = settings.time_to_generate_image_std_dev_ns;
      }
      if (r.status == 200 && !fake.empty()) metrics->update_fake(fake);
      reply(r);
      return true;
    }
    if (path == "/fake_metrics" && post) {
      // The simulator's deprecated route: a fake-metrics update, 204.
      if (auto err = metrics->update_fake(req.body()))
        reply({500, openai::error_json(
                        openai::error_for_status(500, "Failed to update fake metrics: " + *err))});
      else
        ex->respond(http::status::no_content, "", "application/json");
      return true;
    }
    return false;
  }
};

}  // namespace

int run_pod(const pod_options& options, const common_options& common) {
  auto log = make_logger(common);
  if (!log) return 2;
  actors::pod::pod_settings settings;
  std::vector<std::string> problems;
  std::string profiles_dir = default_profiles_dir();
  // Started alone, the pod is llm-d-inference-sim (its defaults unless a latency profile is
  // chosen); a pod of the multi-process stack or a pod slot keeps inferstack's.
  settings.simulator_defaults = options.transport_listen.empty() && !options.wait_ready;
  // Precedence as in llm-d-inference-sim: flag > environment > config file > default.
  if (!options.config_file.empty())
    problems = apply_config_file(settings, options.config_file, profiles_dir);
  for (auto [env, key] : {std::pair{"SIM_MODEL", "model"}, {"PYTHONHASHSEED", "hash-seed"}})
    if (const char* v = std::getenv(env); v && *v && options.values.count(key) == 0)
      if (auto err = actors::pod::set_pod_option(settings, key, v, profiles_dir))
        problems.push_back(std::string(env) + ": " + *err);
  for (const auto& [key, value] : options.values)
    if (auto err = actors::pod::set_pod_option(settings, key, value, profiles_dir))
      problems.push_back(*err);
  if (const char* name = std::getenv("POD_NAME"); name && settings.pod_name.empty())
    settings.pod_name = name;
  if (const char* ip = std::getenv("POD_IP"); ip && settings.address.empty())
    settings.address = std::string(ip) + ":" + std::to_string(settings.port);
  for (auto& p : actors::pod::finish_pod_settings(settings))
    problems.push_back(p);
  if (!problems.empty()) {
    for (const auto& p : problems)
      std::cerr << "inferstack run pod: " << p << "\n";
    return 2;
  }

  // HTTPS, as the simulator: its files (a renewed pair applies to new connections), or a
  // self-signed certificate made now. Before any actor runs: a refusal exits at once.
  std::shared_ptr<http::tls_credentials> tls;
  try {
    if (!settings.ssl_certfile.empty())
      tls = http::tls_credentials::from_files(settings.ssl_certfile, settings.ssl_keyfile);
    else if (settings.self_signed_certs)
      tls = http::tls_credentials::from_pem(http::make_self_signed());
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return 2;
  }

  // --data-parallel-size N without a rank: N ranks on port, port+1, ..., as the simulator
  // starts them -- here one process each, forked before any thread or actor exists: this one
  // serves rank 0, each child its rank (and ends with this one).
  std::vector<pid_t> rank_children;
  if (settings.data_parallel_rank < 0 && settings.data_parallel_size > 1 && !options.wait_ready) {
    int rank = 0;
    const pid_t parent = ::getpid();
    for (int r = 1; r < static_cast<int>(settings.data_parallel_size); ++r) {
      pid_t pid = ::fork();
      if (pid < 0) {
        log->error("--data-parallel-size: cannot start rank {}: {}", r, std::strerror(errno));
        for (auto child : rank_children)
          ::kill(child, SIGTERM);
        return 1;
      }
      if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) return 0;  // rank 0 is already gone
        rank_children.clear();
        rank = r;
        break;
      }
      rank_children.push_back(pid);
    }
    settings = actors::pod::rank_settings(settings, rank);
  }

  runtime::system_config cfg{protocol::register_messages, scheduling_of(common)};
  caf::actor_system system{cfg};
  auto registry = std::make_shared<prometheus::Registry>();

  std::unique_ptr<actors::pod::kv_publisher> publisher;
  if (settings.kv_events && !settings.zmq_endpoint.empty()) {
    try {
      actors::pod::kv_publisher_settings ks{settings.zmq_endpoint, settings.replay_endpoint,
                                            settings.replay_buffer, settings.kv_events_bind};
      // With keys, the pickers of our stack read them over CurveZMQ (vLLM's readers cannot).
      if (!options.curve_keys.empty())
        ks.curve = runtime::curve_settings_from_dir(options.curve_keys, "pod");
      publisher = std::make_unique<actors::pod::kv_publisher>(ks);
    } catch (const std::exception& e) {
      log->error("{}", e.what());
      return 1;
    }
  }
  // The multi-process stack reaches the pod actor, and hears its load reports, over ZeroMQ.
  std::unique_ptr<runtime::zmq_transport> zmq;
  if (!options.transport_listen.empty() || !options.transport_events.empty()) {
    if (options.curve_keys.empty() && !options.insecure_plaintext) {
      log->error(
          "--transport-listen/--transport-events need --curve-keys DIR (CurveZMQ between "
          "roles), or --insecure-plaintext for local development");
      return 2;
    }
    auto ts = transport_settings_for(settings.pod_name, new_incarnation(), log);
    ts.listen = options.transport_listen;
    ts.events = options.transport_events;
    try {
      if (!options.curve_keys.empty())
        ts.curve = runtime::curve_settings_from_dir(options.curve_keys, "pod");
      zmq = std::make_unique<runtime::zmq_transport>(system, ts);
    } catch (const std::exception& e) {
      log->error("transport: {}", e.what());
      return 1;
    }
  }
  auto admin = std::make_shared<pod_admin>();
  actors::pod::pod_dependencies deps;
  deps.registry = registry;
  if (!options.otlp_endpoint.empty()) {
    // Generations whose caller's trace is sampled, as spans; its exporter counts in /metrics.
    config::gateway_settings::tracing_settings ts;
    ts.endpoint = options.otlp_endpoint;
    try {
      deps.tracer =
          make_process_tracer(ts, options.otlp_service_name, *registry, new_incarnation());
    } catch (const std::exception& e) {
      log->error("--otlp-endpoint: {}", e.what());
      return 2;
    }
  }
  // Started as the simulator (no inferstack profile): its rules, not vLLM's.
  admin->simulator =
      settings.simulator_defaults && !settings.profile && settings.profile_source.empty();
  actors::pod::pod_metrics_options mo;
  mo.simulator = admin->simulator;
  mo.fake = settings.fake;
  mo.fake_refresh_ns = settings.fake_metrics_refresh_ns;
  deps.metrics = std::make_shared<actors::pod::pod_metrics>(
      *registry, settings.served_model_names.front(), settings.engine.kv.block_size,
      settings.engine.kv.num_gpu_blocks, settings.engine.max_model_len, settings.engine.max_loras,
      mo);
  admin->metrics = deps.metrics;
  deps.log = runtime::component_logger(log, "pod");
  deps.start_ready = settings.startup_duration_ns == 0 && !options.wait_ready;
  if (zmq) {
    auto* t = zmq.get();
    deps.outputs.load = [t, admin](const actors::pod::load_report& r) {
      admin->ready = r.ready;  // /health/ready follows the control plane's mark_ready
      // Under the pod's current name: a reused pod process reports as the replica it now is.
      t->publish("load@" + r.pod + "@", caf::make_message(r));
    };
  }
  deps.wall_clock_offset_ns = wall_clock_offset_ns(system);
  auto* pub = publisher.get();
  deps.outputs.kv_events = [pub](const actors::pod::kv_event_message& m) {
    if (pub) pub->publish(m);
  };
  auto pod = actors::pod::spawn_pod(system, settings, deps);
  if (zmq) zmq->expose("pod", caf::actor_cast<caf::actor>(pod));

  admin->pod = pod;
  admin->settings = settings;
  admin->registry = registry;
  admin->ready = deps.start_ready;
  for (const auto& l : settings.lora_modules)
    admin->loras.insert(l.name);

  gateway::gateway_settings gs;
  gs.address = options.address;
  gs.port = settings.port;
  gs.forward_fault_injection = settings.enable_return_error_header;
  gs.io_threads = options.io_threads;
  gs.access_log = settings.log_http;  // --log-http: one access-log line per request
  gs.max_body_bytes = uint64_t{settings.max_request_body_mb} * 1024 * 1024;
  gs.request_id_headers = settings.enable_request_id_headers;  // the simulator's switch
  // Started as the simulator (no inferstack profile): its request rules, not vLLM's.
  gs.simulator_requests = admin->simulator;
  if (admin->simulator) gs.pod_identity_headers = admin->identity_headers();
  gateway::pod_front_end_dependencies fd;
  fd.system = &system;
  fd.pod = pod;
  fd.pod_name = settings.pod_name;
  fd.log = runtime::component_logger(log, "http");
  fd.access_log = runtime::make_access_logger(log, log_format_of(common));
  fd.unix_seconds = unix_seconds;
  fd.admin = [admin](const std::shared_ptr<http::exchange>& ex) { return admin->handle(ex); };
  fd.seed = settings.seed;
  fd.echo_mode = settings.mode == "echo";
  fd.tls = tls;
  fd.omni = std::make_shared<gateway::omni_output>();
  fd.omni->enabled = settings.omni;
  fd.omni->emission_rate = settings.image_emission_rate;
  fd.omni->image_ns = settings.time_to_generate_image_ns;
  fd.omni->image_sd_ns = settings.time_to_generate_image_std_dev_ns;
  fd.omni->seed = settings.seed;
  admin->omni = fd.omni;
  fd.encoder_only = settings.mm_encoder_only;
  const bool https = tls != nullptr;
  // Started as the simulator, the pod also serves vLLM's gRPC engine API on its HTTP port, as
  // llm-d-inference-sim does (HTTP/2 connections go to it; plain HTTP only).
  std::unique_ptr<gateway::pod_grpc_server> grpc;
  if (admin->simulator && !https) {
    gateway::pod_grpc_dependencies gd;
    gd.generate = gateway::pod_actor_generations(
        system, pod,
        {settings.served_model_names.front(), fd.echo_mode, gs.stream_window,
         std::chrono::duration_cast<std::chrono::nanoseconds>(gs.upstream_timeout).count()});
    gd.ready = [admin] { return admin->ready.load(); };
    gd.model = settings.model;
    gd.max_model_len = static_cast<uint32_t>(settings.engine.max_model_len);
    gd.unix_seconds = [] {
      return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
    grpc = std::make_unique<gateway::pod_grpc_server>(std::move(gd));
    grpc->start();
    fd.http2_connections = [g = grpc.get()](int fd) { g->adopt(fd); };
  }
  gateway::pod_front_end server{gs, fd};
  try {
    server.start();
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return 1;
  }
  std::cout << "pod " << settings.pod_name << " serving " << settings.model << " on "
            << (https ? "https://" : "http://") << options.address << ":" << server.port();
  if (publisher)
    std::cout << ", KV events on "
              << (publisher->bound_endpoint().empty() ? settings.zmq_endpoint
                                                      : publisher->bound_endpoint());
  if (publisher && !publisher->bound_replay_endpoint().empty())
    std::cout << ", replay on " << publisher->bound_replay_endpoint();
  if (zmq && !zmq->listen_endpoint().empty())
    std::cout << ", transport on " << zmq->listen_endpoint();
  if (zmq && !zmq->events_endpoint().empty()) std::cout << ", events on " << zmq->events_endpoint();
  std::cout << std::endl;
  log->info("pod {} ready={} latency={}", settings.pod_name, deps.start_ready,
            settings.profile ? settings.profile_source : std::string("simulator calculators"));

  // Model loading (startup-duration): ready once it has passed.
  auto load_deadline =
      std::chrono::steady_clock::now() + std::chrono::nanoseconds(settings.startup_duration_ns);
  auto parent = ::getppid();
  for (;;) {
    std::chrono::milliseconds wait{0};
    if (options.exit_with_parent) {
      if (::getppid() != parent) {
        log->warn("the parent process is gone: shutting down");
        break;
      }
      wait = std::chrono::milliseconds(500);
    }
    if (!admin->ready && !options.wait_ready) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          load_deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        admin->ready = true;
        caf::anon_send(pod, actors::pod::mark_ready{});
        log->info("model loaded: ready");
        continue;
      }
      wait = wait.count() ? std::min(wait, left) : left;
    }
    int sig = wait_signal(wait);
    if (sig == 0) continue;
    if (sig == SIGHUP) continue;
    log->info("signal {}: shutting down", sig);
    break;
  }
  for (auto child : rank_children)  // the other ranks drain as this one does
    ::kill(child, SIGTERM);
  // Drain, as a pod being deleted does: the pod actor refuses new requests from every
  // transport (draining, which the gateway retries on another pod before the first byte; its
  // load report says so, and the picker stops choosing it) and the HTTP listener closes, while
  // the requests in flight, over ZeroMQ and HTTP alike, finish within the drain timeout. The
  // transport stops last: it sends what the finished streams queued before it closes.
  constexpr auto drain_timeout = std::chrono::seconds(5);
  std::thread http_drain([&server, drain_timeout] { server.stop(drain_timeout); });
  {
    caf::scoped_actor self{system};
    self->request(pod, drain_timeout, actors::pod::drain_request{})
        .receive(
            [&](actors::pod::drain_done& d) {
              log->info("drained: {} request(s) finished meanwhile", d.completed);
            },
            [&](caf::error& err) {
              log->warn("drain: {}: requests still running are cut", system.render(err));
            });
  }
  http_drain.join();
  if (grpc) grpc->stop();
  if (zmq) zmq->stop();
  caf::anon_send_exit(pod, caf::exit_reason::user_shutdown);
  publisher.reset();
  for (auto child : rank_children) {  // bounded: a rank that does not end is killed
    for (int i = 0; i < 100 && ::waitpid(child, nullptr, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (::waitpid(child, nullptr, WNOHANG) == 0) {
      ::kill(child, SIGKILL);
      ::waitpid(child, nullptr, 0);
    }
  }
  return 0;
}

}  // namespace inferstack::nodes
