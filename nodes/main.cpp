// The inferstack command line: the composition root of every process.
#include <iostream>
#include <set>

#include <CLI/CLI.hpp>

#include "actors/pod/pod_settings.hpp"
#include "nodes/commands.hpp"
#include "nodes/profile_command.hpp"
#include "nodes/signals.hpp"

using namespace inferstack::nodes;

int main(int argc, char** argv) {
  block_signals();  // before any thread exists, so signals reach only wait_signal()

  CLI::App app{
      "inferstack: an LLM inference stack of actors (gateway, picker, pods, control plane)",
      "inferstack"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("inferstack ") + INFERSTACK_VERSION);

  common_options common;
  auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("--log-level", common.log_level,
                    "trace, debug, info, warn, error, critical or off")
        ->envname("INFERSTACK_LOG_LEVEL")
        ->capture_default_str();
    cmd->add_option("--log-format", common.log_format, "text or json")
        ->envname("INFERSTACK_LOG_FORMAT")
        ->capture_default_str();
    cmd->add_option("--scheduler", common.scheduler,
                    "io: actors run on the I/O threads (fewest thread hops); caf: CAF's "
                    "work-stealing workers beside separate I/O threads")
        ->envname("INFERSTACK_SCHEDULER")
        ->check(CLI::IsMember({"io", "caf"}))
        ->capture_default_str();
    cmd->add_option("--set", common.sets,
                    "override a manifest field: Kind[/name]:field.path=value (repeatable)")
        ->envname("INFERSTACK_SET")
        ->delimiter(';');
  };

  dev_options dev;
  auto* dev_cmd = app.add_subcommand("dev", "run every role in one process (the embedded default)");
  dev_cmd->add_option("-f,--file", dev.files, "manifest files (default: config/dev.yaml)")
      ->envname("INFERSTACK_CONFIG");
  dev_cmd->add_option("--listen", dev.listen, "host:port of the OpenAI API (overrides the config)")
      ->envname("INFERSTACK_LISTEN");
  dev_cmd
      ->add_option("--admin-listen", dev.admin_listen,
                   "host:port of the admin API: /metrics, health, /control, /pods (overrides "
                   "the config's adminListen, default 127.0.0.1:8081)")
      ->envname("INFERSTACK_ADMIN_LISTEN");
  dev_cmd->add_flag("--admin-allow-remote", dev.admin_allow_remote,
                    "let the admin API listen on a non-loopback address");
  dev_cmd
      ->add_flag("--cold-start", dev.cold_start,
                 "start the InferenceSets' replicas cold (Pending, Loading, Ready) instead of "
                 "adopting them as already running")
      ->envname("INFERSTACK_COLD_START");
  add_common(dev_cmd);

  simulate_options simulate;
  auto* simulate_cmd = app.add_subcommand(
      "simulate",
      "run a stack in virtual time on a workload: the stack `dev -f` runs, virtual clients, a "
      "report (table, summary.json, requests.csv, timeseries.csv, plots)");
  simulate_cmd->add_option("-f,--file", simulate.files, "the stack's manifest files")->required();
  simulate_cmd
      ->add_option("--workload", simulate.workload,
                   "inference-perf config (.yaml), Azure trace (.csv), Mooncake or plain JSONL")
      ->required();
  simulate_cmd->add_option("--seed", simulate.seed, "random seed of the workload and the stack")
      ->capture_default_str();
  simulate_cmd->add_option("--out", simulate.out, "directory of the report files")
      ->capture_default_str();
  simulate_cmd->add_option(
      "--vary", simulate.vary,
      "variants side by side on the same requests: picker=FILE,... | replicas=N,... | "
      "scaler=keda,fast | profile=NAME,... | capacity=configured,on-demand (spot NodePools on "
      "demand) | Kind/name:path=V1,V2 (as --set)");
  simulate_cmd->add_option("--faults", simulate.faults, "a faults timeline (YAML)");
  simulate_cmd->add_option("--slo", simulate.slo, "goodput targets, e.g. ttft=2s,itl=100ms");
  simulate_cmd->add_option("--speedup", simulate.speedup, "arrivals this many times sooner");
  simulate_cmd->add_option("--rate-scale", simulate.rate_scale,
                           "this many times the requests (0.5 keeps every other one)");
  simulate_cmd->add_option("--from", simulate.from, "the workload's window start (e.g. 10m)");
  simulate_cmd->add_option("--to", simulate.to, "the workload's window end");
  simulate_cmd
      ->add_option("--drain", simulate.drain,
                   "after the last arrival, how long requests still open may take; the rest "
                   "count as unfinished")
      ->capture_default_str();
  simulate_cmd->add_option("--model", simulate.model, "model of requests that name none");
  simulate_cmd->add_option("--namespace", simulate.ns,
                           "namespace of requests that name none (default: the gateway's)");
  simulate_cmd->add_flag("--quiet", simulate.quiet, "no progress line");
  simulate_cmd->add_flag("--no-plots", simulate.no_plots, "do not draw the plots");
  simulate_cmd->add_flag("--no-console", simulate.no_console,
                         "do not record the run for the console page (console.html)");
  add_common(simulate_cmd);

  profile_fit_options fit;
  auto* profile_cmd = app.add_subcommand("profile", "latency profiles of the pods' step model");
  auto* fit_cmd = profile_cmd->add_subcommand(
      "fit", "fit a LatencyProfile on Vidur's measured GPU tables (mlp.csv, all_reduce.csv, CPU)");
  profile_cmd->require_subcommand(1);
  fit_cmd->add_option("--mlp", fit.fit.mlp_csv, "Vidur's compute/<gpu>/<model>/mlp.csv")
      ->required();
  fit_cmd->add_option("--tp", fit.fit.tensor_parallel, "tensor-parallel degree")
      ->capture_default_str();
  fit_cmd->add_option("--layers", fit.fit.layers, "the model's layer count")->required();
  fit_cmd->add_option("--gpu", fit.fit.gpu, "h100 | a100: effective memory and attention rates");
  fit_cmd->add_option("--network", fit.fit.all_reduce_csv,
                      "Vidur's network/<net>/all_reduce.csv (needed with --tp above 1)");
  fit_cmd->add_option("--cpu", fit.fit.cpu_csv, "Vidur's cpu_overheads_a100.csv");
  fit_cmd->add_option("--cpu-model", fit.fit.cpu_model, "its model_name rows to use");
  fit_cmd->add_option("--name", fit.fit.name, "the profile's name");
  fit_cmd->add_option("-o,--out", fit.out, "write the manifest here (default: stdout)");
  fit_cmd->add_option("--scale-linear", fit.fit.scale_linear,
                      "another model: its linear operators' time per layer, relative");
  fit_cmd->add_option("--scale-elementwise", fit.fit.scale_elementwise,
                      "another model: its element-wise operators' time per layer, relative");
  fit_cmd->add_option("--heads", fit.fit.target.heads, "the target's attention heads");
  fit_cmd->add_option("--kv-heads", fit.fit.target.kv_heads, "the target's KV heads");
  fit_cmd->add_option("--hidden", fit.fit.target.hidden, "the target's hidden size");
  fit_cmd->add_option("--vocab", fit.fit.target.vocab, "the target's vocabulary");
  fit_cmd->add_option("--head-dim", fit.fit.target_head_dim, "the target's head size");
  fit_cmd->add_option("--memory-bandwidth-gbps", fit.memory_bandwidth_gbps,
                      "effective HBM bandwidth (default by --gpu)");
  fit_cmd->add_option("--attention-tflops", fit.attention_tflops,
                      "effective attention throughput (default by --gpu)");
  fit_cmd->add_option("--anchor-decode-step", fit.anchor_decode_step,
                      "a measured one-sequence decode step at an empty context (e.g. 6.44ms)");
  fit_cmd->add_option("--granularity", fit.fit.token_granularity, "tokens a step is padded to")
      ->capture_default_str();
  fit_cmd->add_option("--jitter", fit.fit.jitter, "relative std-dev of a step")
      ->capture_default_str();
  fit_cmd->add_option("--note", fit.fit.notes, "a line for the manifest's header (repeatable)");

  auto add_admin_client = [](CLI::App* cmd, admin_client_options& o) {
    cmd->add_option("--server", o.server, "the stack's admin API (adminListen, or a role's --http)")
        ->envname("INFERSTACK_SERVER")
        ->capture_default_str();
    cmd->add_option("--token-file", o.token_file,
                    "file holding the admin token (default: $INFERSTACK_ADMIN_TOKEN, else "
                    "var/secrets/inferstack-admin/admin-token)")
        ->envname("INFERSTACK_ADMIN_TOKEN_FILE");
  };
  get_options get;
  auto* get_cmd = app.add_subcommand(
      "get", "show pods, nodes or inferencesets of a running stack (kubectl-like)");
  get_cmd->add_option("what", get.what, "pods | nodes | nodepools | inferencesets")->required();
  add_admin_client(get_cmd, get.admin);
  get_cmd->add_option("-n,--namespace", get.ns, "only this namespace");
  get_cmd->add_option("-o,--output", get.output, "json for the raw answer");
  add_common(get_cmd);

  scale_options scale;
  auto* scale_cmd =
      app.add_subcommand("scale", "set the replicas of an InferenceSet on a running stack");
  scale_cmd->add_option("target", scale.target, "<namespace>/<inferenceset>")->required();
  scale_cmd->add_option("--replicas", scale.replicas, "the new replica count")->required();
  add_admin_client(scale_cmd, scale.admin);
  add_common(scale_cmd);

  // kubectl cordon/uncordon, and the two ways a cloud takes a node: with a notice, or at once.
  node_options node_cmd_options;
  std::vector<CLI::App*> node_cmds;
  for (auto [name, help] :
       {std::pair<const char*, const char*>{"cordon",
                                            "keep new pods off a node of a running stack"},
        {"uncordon", "let pods on a cordoned node again"},
        {"reclaim", "a spot reclaim notice: the node's pods drain, then it goes (--notice)"},
        {"fail", "the node fails now, without notice: its pods are lost"}}) {
    auto* cmd = app.add_subcommand(name, help);
    cmd->add_option("node", node_cmd_options.node, "the node, as inferstack get nodes names it")
        ->required();
    if (std::string(name) == "reclaim")
      cmd->add_option("--notice", node_cmd_options.notice_seconds,
                      "seconds of notice (default: the NodePool's reclaimNotice, 30)");
    cmd->add_option("--reason", node_cmd_options.reason, "shown in logs and pod events");
    add_admin_client(cmd, node_cmd_options.admin);
    add_common(cmd);
    node_cmds.push_back(cmd);
  }

  top_options top;
  auto* top_cmd = app.add_subcommand(
      "top", "pods' queues, KV usage and hit rate, replicas and scaling of a running stack, live");
  top_cmd->add_option("--url,--server", top.admin.server, "the stack's admin API (adminListen)")
      ->envname("INFERSTACK_SERVER")
      ->capture_default_str();
  top_cmd
      ->add_option("--token-file", top.admin.token_file,
                   "file holding an admin token (read or admin; default: "
                   "$INFERSTACK_ADMIN_TOKEN, else var/secrets/inferstack-admin/admin-token)")
      ->envname("INFERSTACK_ADMIN_TOKEN_FILE");
  top_cmd->add_flag("--once", top.once, "print one table and exit");
  add_common(top_cmd);

  std::vector<std::string> check_files;
  auto* check_cmd = app.add_subcommand("check", "validate manifests; exit 2 on any problem");
  check_cmd->add_option("-f,--file", check_files, "manifest files")->required();
  bool list_pools = false;
  check_cmd->add_flag("--list-pools", list_pools,
                      "print the InferencePools and their picker replicas, one per line");
  add_common(check_cmd);

  auto* run_cmd = app.add_subcommand("run", "run one role in this process (one role per pod)");
  run_cmd->require_subcommand(1);
  probe_options probe;
  auto* probe_cmd =
      run_cmd->add_subcommand("probe", "transport probe: answers pings, echoes, streams");
  probe_cmd->add_option("--name", probe.name, "node name")->capture_default_str();
  probe_cmd->add_option("--listen", probe.listen, "ZeroMQ endpoint to bind")
      ->envname("INFERSTACK_PROBE_LISTEN")
      ->capture_default_str();
  probe_cmd->add_option("--events", probe.events, "ZeroMQ PUB endpoint to bind");
  probe_cmd->add_option("--http", probe.http, "host:port for /metrics and health");
  probe_cmd->add_option("--peer", probe.peers, "ping the probe at this address every second");
  probe_cmd->add_option("--curve-keys", probe.curve_keys, "CurveZMQ key directory (role probe)");
  add_common(probe_cmd);

  pod_options pod;
  auto* pod_cmd = run_cmd->add_subcommand(
      "pod", "a simulated vLLM engine with its own OpenAI API (llm-d-inference-sim's flag names)");
  pod_cmd->add_option("--config", pod.config_file,
                      "YAML file with the same option names (lists as YAML lists); a flag wins "
                      "over the environment (SIM_MODEL, PYTHONHASHSEED, POD_NAME, POD_IP), which "
                      "wins over the file. Without --profile or --kaito-profile a standalone pod "
                      "takes llm-d-inference-sim's defaults (max-num-seqs 5, max-model-len 1024, "
                      "kv-cache-size 1024, enable-kvcache off, seed from the time)");
  pod_cmd->add_option("--listen-address", pod.address, "address of the OpenAI API")
      ->capture_default_str();
  pod_cmd->add_option("--io-threads", pod.io_threads, "HTTP I/O threads")->capture_default_str();
  pod_cmd
      ->add_option("--transport-listen", pod.transport_listen,
                   "ZeroMQ endpoint to bind: the pod actor for the multi-process stack")
      ->envname("INFERSTACK_TRANSPORT_LISTEN");
  pod_cmd
      ->add_option("--transport-events", pod.transport_events,
                   "ZeroMQ endpoint to bind: load reports for pickers and the scaler")
      ->envname("INFERSTACK_TRANSPORT_EVENTS");
  pod_cmd
      ->add_option("--curve-keys", pod.curve_keys,
                   "CurveZMQ key directory: the transport and KV-event sockets use CURVE "
                   "(without it, KV events are plaintext, as vLLM's)")
      ->envname("INFERSTACK_CURVE_KEYS");
  pod_cmd
      ->add_flag("--insecure-plaintext", pod.insecure_plaintext,
                 "the transport sockets without CURVE (development only)")
      ->envname("INFERSTACK_INSECURE_PLAINTEXT");
  pod_cmd->add_flag("--wait-ready", pod.wait_ready,
                    "not Ready until the control plane says the model is loaded");
  pod_cmd->add_flag("--exit-with-parent", pod.exit_with_parent,
                    "exit when the process that started this one is gone");
  pod_cmd
      ->add_option("--otlp-endpoint", pod.otlp_endpoint,
                   "http://host:port of an OpenTelemetry collector (OTLP/HTTP, JSON): a request "
                   "whose caller's traceparent is sampled is recorded as a span")
      ->envname("OTEL_EXPORTER_OTLP_ENDPOINT");
  pod_cmd->add_option("--otlp-service-name", pod.otlp_service_name, "service.name of its spans")
      ->capture_default_str()
      ->envname("OTEL_SERVICE_NAME");
  // One option per simulator flag (--name value or --name=value); a flag given without a value
  // means true (Go's bool flags). The list flags take their items as separate arguments up to
  // the next option, as the simulator reads them (--served-model-name a b); commas and spaces
  // inside one argument separate items too. A flag the simulator has and inferstack does not
  // implement is known, and refused with the reason when the pod starts (exit 2).
  static const std::set<std::string> list_flags{"served-model-name", "lora-modules",
                                                "failure-types", "fake-metrics"};
  for (const auto& name : inferstack::actors::pod::pod_option_names()) {
    if (list_flags.count(name)) {
      pod_cmd
          ->add_option_function<std::vector<std::string>>(
              "--" + name,
              [&pod, name](const std::vector<std::string>& items) {
                std::string joined;
                for (const auto& i : items)
                  joined += (joined.empty() ? "" : " ") + i;
                pod.values[name] = joined;
              },
              "see llm-d-inference-sim's --" + name + " (a list)")
          ->expected(0, -1)
          ->allow_extra_args(true)
          ->default_str("");
      continue;
    }
    pod_cmd
        ->add_option_function<std::string>(
            "--" + name, [&pod, name](const std::string& v) { pod.values[name] = v; },
            "see llm-d-inference-sim's --" + name)
        ->expected(0, 1)
        ->default_str("");
  }
  add_common(pod_cmd);
  // klog's verbosity, which the simulator accepts (-v 4, --v=4; its default is 2).
  pod_cmd->add_option_function<int>(
      "-v,--v",
      [&common](int v) {
        common.log_level = v >= 5   ? "trace"
                           : v >= 4 ? "debug"
                           : v >= 2 ? "info"
                           : v == 1 ? "warn"
                                    : "error";
      },
      "llm-d-inference-sim's klog verbosity, mapped to --log-level (and overriding it): 0 error, "
      "1 warn, 2-3 info, 4 debug, 5 and more trace");

  // The multi-process stack: one role per process.
  role_options role;
  auto add_role = [&](const std::string& name, const std::string& what) {
    auto* cmd = run_cmd->add_subcommand(name, what);
    cmd->add_option("-f,--file", role.files, "manifest files (default: config/dev.yaml)")
        ->envname("INFERSTACK_CONFIG");
    cmd->add_option("--transport-listen", role.transport_listen,
                    "ZeroMQ endpoint to bind for peers (e.g. tcp://127.0.0.1:7300)")
        ->envname("INFERSTACK_TRANSPORT_LISTEN");
    cmd->add_option("--transport-events", role.transport_events,
                    "ZeroMQ endpoint to bind for published events")
        ->envname("INFERSTACK_TRANSPORT_EVENTS");
    cmd->add_option("--picker", role.pickers,
                    "where a pool's picker runs: <ns>/<pool>=tcp://host:port (repeatable)")
        ->envname("INFERSTACK_PICKERS")
        ->delimiter(',');
    cmd->add_flag("--admin-allow-remote", role.admin_allow_remote,
                  "let the admin listener (--http) bind a non-loopback address")
        ->envname("INFERSTACK_ADMIN_ALLOW_REMOTE");
    cmd->add_option("--control", role.control, "the control process: tcp://host:port")
        ->envname("INFERSTACK_CONTROL");
    cmd->add_option("--curve-keys", role.curve_keys,
                    "CurveZMQ key directory (`inferstack keys`); this role's key is made if "
                    "missing")
        ->envname("INFERSTACK_CURVE_KEYS");
    cmd->add_flag("--insecure-plaintext", role.insecure_plaintext,
                  "ZeroMQ without CURVE: anyone reaching the ports can talk (development only)")
        ->envname("INFERSTACK_INSECURE_PLAINTEXT");
    cmd->add_option("--control-events", role.control_events,
                    "the control process's events endpoint: tcp://host:port")
        ->envname("INFERSTACK_CONTROL_EVENTS");
    add_common(cmd);
    return cmd;
  };
  auto* gateway_cmd =
      add_role("gateway", "the gateway, authorizer and router; pickers and control elsewhere");
  gateway_cmd->add_option("--listen", role.listen, "host:port of the OpenAI API")
      ->envname("INFERSTACK_LISTEN");
  gateway_cmd->add_option("--http", role.http, "host:port of the admin listener: /metrics, health")
      ->envname("INFERSTACK_HTTP");
  gateway_cmd
      ->add_flag(
          "--local-pickers", role.local_pickers,
          "run every pool's picker in this process instead of asking picker processes "
          "(--picker): no ZeroMQ round trip a request; gateway replicas share their pickers' "
          "state with --gateway-peers")
      ->envname("INFERSTACK_LOCAL_PICKERS");
  gateway_cmd
      ->add_option("--gateway-peers", role.gateway_peers,
                   "with --local-pickers: every gateway replica's --transport-listen address, in "
                   "replica order; each pool's pickers in them share state (gossip), as picker "
                   "replicas do")
      ->envname("INFERSTACK_GATEWAY_PEERS")
      ->delimiter(',');
  gateway_cmd
      ->add_option("--replica", role.replica,
                   "with --gateway-peers: this gateway is replica I (its address is the I-th; a "
                   "StatefulSet pod name ending in -I works too)")
      ->envname("INFERSTACK_REPLICA");
  auto* picker_cmd = add_role("picker", "the endpoint picker of one InferencePool");
  picker_cmd->add_option("--pool", role.pool, "<namespace>/<InferencePool>")
      ->envname("INFERSTACK_POOL");
  picker_cmd
      ->add_option("--replica", role.replica,
                   "this process is replica I of the pool's picker (its address is the I-th "
                   "--picker of the pool; a StatefulSet pod name ending in -I works too)")
      ->envname("INFERSTACK_REPLICA");
  picker_cmd->add_option("--http", role.http, "host:port of the admin listener: /metrics, health")
      ->envname("INFERSTACK_HTTP");
  auto* control_cmd = add_role("control", "controller, node mocker (pods as processes) and scaler");
  control_cmd->add_option("--http", role.http, "host:port of /metrics, health and /control")
      ->envname("INFERSTACK_HTTP");
  control_cmd->add_option("--pod-host", role.pod_host, "address pod processes listen on")
      ->capture_default_str();
  control_cmd
      ->add_option("--pod-ports", role.pod_ports_first,
                   "first of the ports pod processes use (5 each)")
      ->capture_default_str();
  control_cmd->add_option("--pod-ports-last", role.pod_ports_last, "last of them")
      ->capture_default_str();
  control_cmd->add_option("--pod-log-level", role.pod_log_level, "log level of pod processes")
      ->capture_default_str();
  control_cmd
      ->add_option("--pod-slots", role.pod_slots,
                   "pods of <ns>/<set> run already (a StatefulSet): <ns>/<set>=host:port,... "
                   "(repeatable)")
      ->envname("INFERSTACK_POD_SLOTS");
  control_cmd->add_flag("--cold-start", role.cold_start,
                        "start the replicas cold instead of adopting them as running");
  control_cmd
      ->add_option("--gateway-peers", role.gateway_peers,
                   "gateways that run the pickers (--local-pickers), at their --transport-listen "
                   "addresses: the console shows the first one's picks")
      ->envname("INFERSTACK_GATEWAY_PEERS")
      ->delimiter(',');
  control_cmd
      ->add_flag("--pods-over-http", role.pods_over_http,
                 "gateways send the pods' requests to their HTTP port (as to vLLM) instead of "
                 "over ZeroMQ; load reports and KV events still come over ZeroMQ. Pods started "
                 "elsewhere (--pod-slots) answer with the gateway's request id only with their "
                 "own --enable-request-id-headers")
      ->envname("INFERSTACK_PODS_OVER_HTTP");

  keys_options keys;
  auto* keys_cmd =
      app.add_subcommand("keys", "write the CurveZMQ keys of a stack: DIR/<role>.key and .pub");
  keys_cmd->add_option("--dir", keys.dir, "key directory")->required();
  keys_cmd->add_option("--role", keys.roles, "roles (default: gateway picker control pod)");
  keys_cmd->add_flag("--force", keys.force, "replace keys that exist");
  add_common(keys_cmd);

  ping_options ping;
  auto* ping_cmd =
      app.add_subcommand("ping", "check a probe over ZeroMQ: requests, a stream, a steady ping");
  ping_cmd->add_option("address", ping.address, "ZeroMQ endpoint, e.g. tcp://127.0.0.1:7100")
      ->required();
  ping_cmd->add_option("--name", ping.name, "actor name at the peer")->capture_default_str();
  ping_cmd->add_option("--requests", ping.requests, "echo requests to send")->capture_default_str();
  ping_cmd->add_option("--stream", ping.stream, "ask for a stream of this many messages");
  ping_cmd->add_option("--for", ping.duration, "then ping steadily for this many seconds");
  ping_cmd->add_option("--interval", ping.interval_ms, "milliseconds between steady pings")
      ->capture_default_str();
  ping_cmd->add_option("--timeout", ping.timeout_ms, "request timeout in milliseconds")
      ->capture_default_str();
  ping_cmd->add_option("--curve-keys", ping.curve_keys, "CurveZMQ key directory (role ping)");
  add_common(ping_cmd);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  if (dev_cmd->parsed()) return run_dev(dev, common);
  if (simulate_cmd->parsed()) return run_simulate(simulate, common);
  if (fit_cmd->parsed()) return run_profile_fit(fit);
  if (get_cmd->parsed()) return run_get(get, common);
  if (scale_cmd->parsed()) return run_scale(scale, common);
  for (auto* cmd : node_cmds)
    if (cmd->parsed()) {
      node_cmd_options.action = cmd->get_name();
      return run_node_command(node_cmd_options, common);
    }
  if (top_cmd->parsed()) return run_top(top, common);
  if (check_cmd->parsed()) return run_check(check_files, common, list_pools);
  if (probe_cmd->parsed()) return run_probe(probe, common);
  if (ping_cmd->parsed()) return run_ping(ping, common);
  if (keys_cmd->parsed()) return run_keys(keys, common);
  if (pod_cmd->parsed()) return run_pod(pod, common);
  for (auto* cmd : {gateway_cmd, picker_cmd, control_cmd})
    if (cmd->parsed()) {
      role.role = cmd->get_name();
      return run_role(role, common);
    }
  std::cerr << app.help();
  return 2;
}
