// `inferstack simulate`: the stack that `inferstack dev -f STACK.yaml` runs -- the same roles,
// built by the same stack_process from the same files -- on CAF's deterministic scheduler,
// with virtual clients sending a workload through the gateway's request pipeline. Each
// --vary value is a variant: its own stack, the identical requests. The console's snapshots,
// taken as the run goes, make console.html: the live console's page playing the run.
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include <prometheus/registry.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/sink.h>
#include <yaml-cpp/yaml.h>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/authorizer/key_loader.hpp"
#include "actors/controller/reconciler.hpp"
#include "actors/node_mocker/node_mocker_protocol.hpp"
#include "actors/router/route_table.hpp"
#include "nodes/commands.hpp"
#include "nodes/simulate_faults.hpp"
#include "nodes/stack_process.hpp"
#include "protocol/registration.hpp"
#include "runtime/local_transport.hpp"
#include "runtime/simulation.hpp"
#include "simulate/faults.hpp"
#include "simulate/report/plots.hpp"
#include "simulate/report/summary.hpp"
#include "simulate/runner.hpp"
#include "simulate/workload/inference_perf.hpp"
#include "simulate/workload/traces.hpp"
#include "ui/console_recording.hpp"

namespace inferstack::nodes {

std::string default_profiles_dir();

namespace {

namespace sim = inferstack::simulate;

/// One --vary value applied to the configuration.
struct variant {
  std::string label;
  std::string key;    ///< picker | replicas | scaler | profile | capacity | "" (an override)
  std::string value;  ///< the key's value, or the override "Kind/name:path=value"
};

std::string file_stem(const std::string& path) {
  return std::filesystem::path(path).stem().string();
}

/// The variants of `--vary KEY=V1,V2,...`; one plain run without it.
std::vector<variant> variants_of(const std::string& vary, std::string& error) {
  if (vary.empty()) return {{"run", "", ""}};
  auto eq = vary.rfind('=');
  if (eq == std::string::npos || eq + 1 >= vary.size()) {
    error = "--vary " + vary + ": expected KEY=V1,V2,...";
    return {};
  }
  auto key = vary.substr(0, eq);
  static const std::set<std::string> shorthand = {"picker", "replicas", "scaler", "profile",
                                                  "capacity"};
  bool generic = !shorthand.count(key);
  if (generic && key.find(':') == std::string::npos) {
    error = "--vary " + key +
            ": unknown key (picker, replicas, scaler, profile, capacity, or Kind/name:path as "
            "--set)";
    return {};
  }
  std::vector<variant> out;
  std::stringstream values(vary.substr(eq + 1));
  std::string v;
  while (std::getline(values, v, ',')) {
    if (v.empty()) continue;
    variant var;
    // Labels as a table's column: a file's or profile's name, else "<field>=<value>".
    if (key == "picker" || key == "profile" || key == "scaler")
      var.label = file_stem(v);
    else
      var.label = (generic ? key.substr(key.rfind('.') + 1) : key) + "=" + v;
    var.key = generic ? "" : key;
    var.value = generic ? key + "=" + v : v;
    out.push_back(std::move(var));
  }
  if (out.empty()) error = "--vary " + vary + ": no values";
  return out;
}

/// A bare EndpointPickerConfig file (as llm-d ships them) as the config of pool `pool`.
std::optional<config::picker_config> picker_config_from(const std::string& path,
                                                        const config::inference_pool& pool,
                                                        std::string& error) {
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    error = "--vary picker=" + path + ": cannot read the file";
    return std::nullopt;
  } catch (const std::exception& e) {
    error = path + ": " + e.what();
    return std::nullopt;
  }
  if (!doc.IsMap()) {
    error = path + ": expected one EndpointPickerConfig document";
    return std::nullopt;
  }
  if (!doc["kind"]) doc["kind"] = "EndpointPickerConfig";
  if (!doc["apiVersion"]) doc["apiVersion"] = "inference.networking.x-k8s.io/v1alpha1";
  doc["metadata"]["name"] = pool.picker;
  doc["metadata"]["namespace"] = pool.meta.namespace_;
  YAML::Emitter text;
  text << doc;
  config::load_result loaded;
  config::load_text(text.c_str(), path, loaded);
  if (!loaded.ok() || loaded.config.picker_configs.size() != 1) {
    error = path + ": " +
            (loaded.problems.empty() ? std::string("not an EndpointPickerConfig")
                                     : loaded.problems.front().message);
    return std::nullopt;
  }
  return loaded.config.picker_configs.front();
}

/// `--vary capacity=on-demand`: every spot NodePool on demand instead -- never reclaimed, at
/// the on-demand price of its instance type: its annotation inferstack.io/on-demand-price-per-hour,
/// else the pricePerHour of an on-demand NodePool of the same instance type.
bool all_on_demand(config::stack_config& config, std::string& error) {
  std::map<std::string, double> on_demand_price;  // by instance type
  for (const auto& p : config.node_pools)
    if (p.capacity_type != "spot") on_demand_price.emplace(p.instance_type, p.price_per_hour);
  for (auto& p : config.node_pools) {
    if (p.capacity_type != "spot") continue;
    auto given = p.meta.annotations.find("inferstack.io/on-demand-price-per-hour");
    if (given != p.meta.annotations.end()) {
      try {
        p.price_per_hour = std::stod(given->second);
      } catch (const std::exception&) {
        error = "NodePool " + p.meta.name + ": inferstack.io/on-demand-price-per-hour " +
                given->second + ": not a number";
        return false;
      }
    } else if (auto known = on_demand_price.find(p.instance_type); known != on_demand_price.end()) {
      p.price_per_hour = known->second;
    } else {
      error = "--vary capacity=on-demand: NodePool " + p.meta.name + " (" + p.instance_type +
              "): no on-demand price (annotate inferstack.io/on-demand-price-per-hour, or add "
              "an on-demand NodePool of that instance type)";
      return false;
    }
    p.capacity_type = "on-demand";
    p.reclaim_rate = 0;
  }
  return true;
}

/// Applies a shorthand variant to the loaded configuration.
bool apply_variant(config::stack_config& config, const variant& v, std::string& error) {
  if (v.key == "picker") {
    for (const auto& pool : config.inference_pools) {
      auto pc = picker_config_from(v.value, pool, error);
      if (!pc) return false;
      bool replaced = false;
      for (auto& c : config.picker_configs)
        if (c.meta.name == pool.picker && c.meta.namespace_ == pool.meta.namespace_) {
          c = *pc;
          replaced = true;
        }
      if (!replaced) config.picker_configs.push_back(*pc);
    }
  } else if (v.key == "replicas") {
    int n = 0;
    try {
      n = std::stoi(v.value);
    } catch (const std::exception&) {
      n = -1;
    }
    if (n < 0) {
      error = "--vary replicas=" + v.value + ": not a number of replicas";
      return false;
    }
    for (auto& s : config.inference_sets)
      s.replicas = n;
  } else if (v.key == "scaler") {
    if (v.value != "keda" && v.value != "fast") {
      error = "--vary scaler=" + v.value + ": expected keda or fast";
      return false;
    }
    for (auto& s : config.inference_sets)
      s.meta.annotations["inferstack.io/scaling-mode"] = v.value;
    for (auto& so : config.scaled_objects)
      so.meta.annotations["inferstack.io/scaling-mode"] = v.value;
  } else if (v.key == "profile") {
    for (auto& p : config.model_presets)
      p.engine["profile"] = v.value;
  } else if (v.key == "capacity") {
    if (v.value == "on-demand") return all_on_demand(config, error);
    if (v.value != "configured") {
      error = "--vary capacity=" + v.value + ": expected configured or on-demand";
      return false;
    }
  }
  return true;
}

/// A workload file by its kind: inference-perf YAML, Azure CSV, Mooncake or plain JSONL.
sim::workload load_workload(const std::string& path, uint64_t seed) {
  auto ext = std::filesystem::path(path).extension().string();
  if (ext == ".yaml" || ext == ".yml") return sim::load_inference_perf(path, seed);
  return sim::load_trace(path);
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' '))
    line.pop_back();
  return line;
}

/// The plain key a namespace's clients send (what `inferstack dev` prints a hint for).
std::string api_key_of(const config::stack_config& config, const std::string& ns) {
  auto gw = config.gateway.value_or(config::gateway_settings{});
  for (const auto& k : config.api_keys) {
    if (k.meta.namespace_ != ns) continue;
    if (k.auth_disabled) return "";
    if (!k.key_file.empty()) return read_first_line(k.key_file);
    if (!k.key_env.empty()) {
      const char* v = std::getenv(k.key_env.c_str());
      return v ? v : "";
    }
    return read_first_line(actors::authorizer::secret_path(gw.secrets_dir, ns));
  }
  return "";
}

std::map<std::string, sim::set_facts> set_facts_of(const config::stack_config& config) {
  std::map<std::string, sim::set_facts> out;
  for (const auto& s : config.inference_sets) {
    sim::set_facts f;
    for (const auto& p : config.inference_pools)
      if (p.meta.namespace_ == s.meta.namespace_ &&
          actors::controller::selects(p.selector, s.template_labels))
        f.pool = p.meta.namespace_ + "/" + p.meta.name;
    for (const auto& p : config.model_presets)
      if (p.meta.name == s.preset) f.gpus_per_pod = p.gpus;
    out[s.meta.namespace_ + "/" + s.meta.name] = f;
  }
  return out;
}

/// The model a namespace's routes serve, when there is just one.
std::string only_model(const actors::router::route_set& routes, const std::string& ns) {
  std::set<std::string> models;
  for (const auto& r : routes.routes)
    if (r.ns == ns && !r.model_exact.empty()) models.insert(r.model_exact);
  return models.size() == 1 ? *models.begin() : "";
}

/// What the nodes were used for and cost until now, from the node mocker (none without one).
std::optional<sim::usage_facts> usage_of(runtime::simulation& simulation, stack_process& stack,
                                         const config::stack_config& config) {
  auto mocker = stack.node_mocker();
  if (!mocker) return std::nullopt;
  auto answer = std::make_shared<std::optional<actors::node_mocker::cluster_snapshot>>();
  simulation.sys.spawn([mocker, answer](caf::event_based_actor* self) -> caf::behavior {
    self->request(mocker, caf::infinite, actors::node_mocker::cluster_query{})
        .then([answer](actors::node_mocker::cluster_snapshot& s) { *answer = std::move(s); });
    return {};
  });
  simulation.run();  // the question and its answer, at this moment
  if (!*answer) return std::nullopt;
  sim::usage_facts u;
  u.set_gpu_hours = (*answer)->set_gpu_hours;
  u.pool_node_hours = (*answer)->pool_node_hours;
  u.pool_gpu_hours = (*answer)->pool_gpu_hours;
  u.pool_cost = (*answer)->pool_cost;
  for (const auto& p : config.node_pools)
    u.pool_capacity[p.meta.name] = p.capacity_type;
  return u;
}

struct variant_result {
  sim::run_outcome outcome;
};

}  // namespace

int run_simulate(const simulate_options& options, const common_options& given) {
  auto common = given;
  if (common.log_level == "info") common.log_level = "warn";  // a line per pod is noise here
  auto log = make_logger(common);
  if (!log) return 2;
  if (options.files.empty()) {
    std::cerr << "simulate: give the stack's files with -f\n";
    return 2;
  }
  std::string error;
  auto variants = variants_of(options.vary, error);
  if (!error.empty()) {
    std::cerr << "simulate: " << error << "\n";
    return 2;
  }
  sim::slo_target slo;
  try {
    if (!options.slo.empty()) slo = sim::parse_slo(options.slo);
  } catch (const std::exception& e) {
    std::cerr << "simulate: " << e.what() << "\n";
    return 2;
  }
  // -- the workload: read once, shaped once; every variant sends exactly these requests --
  sim::workload workload;
  std::chrono::nanoseconds drain{0};
  std::vector<sim::fault> faults;
  try {
    workload = load_workload(options.workload, options.seed);
    sim::shaping shape;
    shape.speedup = options.speedup;
    shape.rate_scale = options.rate_scale;
    if (!options.from.empty()) shape.from = sim::parse_duration(options.from, "--from");
    if (!options.to.empty()) shape.to = sim::parse_duration(options.to, "--to");
    sim::shape_workload(workload, shape);
    if (!options.faults.empty()) faults = sim::load_faults(options.faults);
    drain = sim::parse_duration(options.drain, "--drain");
  } catch (const sim::workload_error& e) {
    std::cerr << "simulate: " << e.what() << "\n";
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "simulate: " << e.what() << "\n";
    return 2;
  }
  if (workload.requests.empty()) {
    std::cerr << "simulate: " << options.workload << ": no requests (after --from/--to)\n";
    return 2;
  }

  std::vector<sim::variant_run> runs;
  std::vector<std::string> recordings;  // the console's, one per variant (JSON text)
  // A snapshot every virtual second, fewer on long runs (at most about 1,200 a variant).
  const int64_t snapshot_every = std::max<int64_t>(
      1, (workload.requests.back().arrival.count() / 1'000'000'000 + 1199) / 1200);
  std::vector<std::string> labels;
  std::vector<sim::summary> summaries;
  // Every variant's configuration first: a bad value fails before any run, not after some.
  std::vector<config::stack_config> configs;
  for (const auto& v : variants) {
    auto variant_common = common;
    if (v.key.empty() && !v.value.empty()) variant_common.sets.push_back(v.value);
    auto config = load_stack(options.files, variant_common);
    if (!config) return 2;
    if (!apply_variant(*config, v, error)) {
      std::cerr << "simulate: " << error << "\n";
      return 2;
    }
    if (!config->model_servers.empty()) {
      // Their requests would go over HTTP, which has no virtual time.
      std::cerr << "simulate: ModelServer " << config->model_servers.front().meta.namespace_ << "/"
                << config->model_servers.front().meta.name
                << ": model servers outside the stack are reached over HTTP in real time; "
                   "simulate runs the stack's own pods only\n";
      return 2;
    }
    configs.push_back(std::move(*config));
  }
  for (size_t index = 0; index < variants.size(); ++index) {
    const auto& v = variants[index];
    auto* config = &configs[index];
    std::vector<std::string> route_problems;
    auto routes = actors::router::build_route_set(*config, route_problems);
    auto gw = config->gateway.value_or(config::gateway_settings{});
    sim::stack_handles handles;
    handles.default_ns = options.ns.empty() ? gw.default_namespace : options.ns;
    handles.default_model =
        options.model.empty() ? only_model(routes, handles.default_ns) : options.model;
    bool all_named = std::all_of(workload.requests.begin(), workload.requests.end(),
                                 [](const auto& r) { return !r.model.empty(); });
    if (handles.default_model.empty() && !all_named) {
      std::cerr << "simulate: the workload's requests name no model and namespace "
                << handles.default_ns << " serves several (or none): give --model\n";
      return 2;
    }
    handles.sets = set_facts_of(*config);
    handles.pool_of_model = [routes](const std::string& ns, const std::string& model) {
      for (const auto& r : routes.routes)
        if (r.ns == ns && r.model_exact == model && !r.backends.empty())
          return r.backends.front().pool_ns + "/" + r.backends.front().pool;
      return std::string();
    };

    runtime::simulation simulation{protocol::register_messages};
    runtime::local_transport transport{"simulate"};
    stack_options so;
    so.profiles_dir = default_profiles_dir();
    so.seed = options.seed;
    so.virtual_time = true;
    so.unix_seconds = [] { return int64_t{1767225600}; };  // 2026-01-01: not the wall clock
    so.generate_key = actors::authorizer::random_api_key;
    auto registry = std::make_shared<prometheus::Registry>();
    auto stack =
        std::make_unique<stack_process>(simulation.sys, transport, *config, so, log, registry);
    try {
      stack->start();
    } catch (const std::exception& e) {
      std::cerr << "simulate: " << e.what() << "\n";
      return 1;
    }
    // The replicas adopted at start come up, join their pools and report their load.
    simulation.advance_time(std::chrono::seconds(5));
    handles.sim = &simulation;
    handles.pipeline = stack->pipeline();
    handles.transport = &transport;
    handles.controller = caf::actor_cast<caf::actor>(stack->controller());
    auto config_copy = *config;
    handles.api_key = [config_copy](const std::string& ns) { return api_key_of(config_copy, ns); };
    // The faults' timeline on this variant's stack.
    stack_faults fault_target(simulation.sys, *stack, log);
    std::vector<sim::timed_action> actions;
    for (const auto& f : faults)
      actions.push_back(
          {f.at, sim::describe(f), [&fault_target, f] { return fault_target.apply(f); }});
    sim::run_settings rs;
    rs.label = v.label;
    rs.progress = !options.quiet;
    rs.drain = drain;
    // Shared with the snapshots' callbacks: one still pending when the run ends finds it.
    auto recorder = std::make_shared<ui::console_recorder>(v.label);
    auto* console = options.no_console ? nullptr : stack->console();
    auto record = [&](int64_t t_ms) {
      console->gather([recorder, t_ms](nlohmann::json s) { recorder->add(std::move(s), t_ms); });
      simulation.run();  // its questions and answers, at this moment
    };
    if (console) {
      record(0);
      rs.on_sample = [&](int64_t second) {
        if (second % snapshot_every == 0) record(second * 1000);
      };
    }
    auto outcome = sim::run_workload(workload, actions, handles, rs);
    auto usage = usage_of(simulation, *stack, *config);
    if (console) recordings.push_back(recorder->run());
    for (const auto& pod : stack->pods())
      if (pod.registry)
        for (const auto& family : pod.registry->Collect())
          if (family.name == "vllm:num_preemptions_total" ||
              family.name == "inferstack_lora_adapter_loads_total")
            for (const auto& m : family.metric)
              outcome.pod_counters[family.name] += m.counter.value;
    for (const auto& note : outcome.notes)
      std::cerr << "simulate: " << v.label << ": " << note << "\n";
    if (!options.quiet)
      std::cerr << "simulate: " << v.label << ": " << workload.requests.size() << " requests, "
                << sim::figure_text(outcome.virtual_seconds) << " s of virtual time in "
                << sim::figure_text(outcome.wall_seconds) << " s (x"
                << sim::figure_text(outcome.wall_seconds > 0
                                        ? outcome.virtual_seconds / outcome.wall_seconds
                                        : 0)
                << ")\n";
    // Requests still open when the drain ended fail as the stack stops: they are counted as
    // unfinished already, and a warning each from the gateway would bury the report. The
    // components' loggers are clones of `log` and share its sinks: the sinks hold them back.
    for (const auto& sink : log->sinks())
      sink->set_level(spdlog::level::err);
    stack->stop(std::chrono::seconds(0));
    stack.reset();
    simulation.run();  // the actors' exits, and the failures of what they still held
    for (const auto& sink : log->sinks())
      sink->set_level(spdlog::level::trace);
    labels.push_back(v.label);
    summaries.push_back(sim::summarize(outcome.run, slo, outcome.pod_counters));
    if (usage) sim::add_usage(summaries.back(), outcome.run, *usage);
    runs.push_back(std::move(outcome.run));
  }

  // -- the report --
  sim::print_table(std::cout, labels, summaries);
  std::error_code ec;
  std::filesystem::create_directories(options.out, ec);
  if (ec) {
    std::cerr << "simulate: " << options.out << ": " << ec.message() << "\n";
    return 1;
  }
  try {
    sim::write_summary_json(options.out + "/summary.json", labels, summaries);
    sim::write_requests_csv(options.out + "/requests.csv", runs);
    sim::write_series_csv(options.out + "/timeseries.csv", runs);
  } catch (const std::exception& e) {
    std::cerr << "simulate: " << e.what() << "\n";
    return 1;
  }
  std::vector<std::string> written = {"summary.json", "requests.csv", "timeseries.csv"};
  if (!recordings.empty()) {
    // The console page playing the runs, and the recording alone for other tools.
    auto recording = ui::recording_document(recordings);
    std::ofstream page(options.out + "/console.html", std::ios::binary);
    page << ui::recorded_page(recording);
    std::ofstream data(options.out + "/console-recording.json", std::ios::binary);
    data << recording << "\n";
    if (!page || !data) {
      std::cerr << "simulate: " << options.out << ": cannot write console.html\n";
      return 1;
    }
    written.push_back("console.html");
    written.push_back("console-recording.json");
  }
  if (!options.no_plots) {
    auto plots = sim::draw_plots(runs, options.out);
    if (!plots.problem.empty()) std::cerr << "simulate: plots: " << plots.problem << "\n";
    for (const auto& f : plots.files)
      written.push_back(std::filesystem::path(f).filename().string());
  }
  if (!options.quiet) {
    std::cerr << "simulate: wrote";
    for (const auto& f : written)
      std::cerr << " " << f;
    std::cerr << " in " << options.out << "\n";
  }
  return 0;
}

}  // namespace inferstack::nodes
