// The inferstack subcommands; each returns the process exit code.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "nodes/node_options.hpp"

namespace inferstack::nodes {

struct dev_options {
  std::vector<std::string> files;
  std::string listen;        ///< overrides InferenceGateway spec.listen
  std::string admin_listen;  ///< overrides InferenceGateway spec.adminListen
  bool admin_allow_remote = false;
  bool cold_start = false;  ///< start the replicas cold instead of adopting them as running
};

/// Where the admin API is and the token that opens it (--token-file, else
/// $INFERSTACK_ADMIN_TOKEN, else the default generated token file).
struct admin_client_options {
  std::string server = "http://127.0.0.1:8081";
  std::string token_file;
};

struct get_options {
  std::string what;  ///< pods | nodes | inferencesets
  admin_client_options admin;
  std::string ns;
  bool all_namespaces = true;
  std::string output;  ///< "" (table) | json
};

/// `inferstack get pods|nodes|inferencesets`: kubectl-like tables from a running stack.
int run_get(const get_options& options, const common_options& common);

struct scale_options {
  std::string target;  ///< <namespace>/<inferenceset>
  int replicas = 0;
  admin_client_options admin;
};

/// `inferstack scale NS/SET --replicas N`: an operator's replicas change on a running stack.
int run_scale(const scale_options& options, const common_options& common);

struct node_options {
  std::string action;  ///< cordon | uncordon | reclaim | fail
  std::string node;
  double notice_seconds = 0;  ///< reclaim: 0 = the NodePool's reclaimNotice
  std::string reason;
  admin_client_options admin;
};

/// `inferstack cordon|uncordon|reclaim|fail NODE`: a node of a running stack's node mocker.
int run_node_command(const node_options& options, const common_options& common);

struct top_options {
  admin_client_options admin;
  bool once = false;  ///< one table, then exit (scripts, tests)
};

/// `inferstack top`: the live console's snapshot (/ui/snapshot) as tables, redrawn every second.
int run_top(const top_options& options, const common_options& common);

/// One role of the multi-process stack.
struct role_options {
  std::string role;  ///< gateway | picker | control
  std::vector<std::string> files;
  std::string listen;               ///< gateway: host:port of the OpenAI API
  std::string http;                 ///< host:port of the admin listener (none if empty)
  bool admin_allow_remote = false;  ///< the admin listener may bind a non-loopback address
  std::string transport_listen;     ///< ZeroMQ ROUTER bind (peers reach this role here)
  std::string transport_events;     ///< ZeroMQ PUB bind (control: memberships, statuses)
  std::string pool;                 ///< picker: "<ns>/<InferencePool>"
  std::string replica;  ///< picker: its replica index, or a StatefulSet pod name ending in it
  std::vector<std::string> pickers;  ///< "<ns>/<pool>=tcp://host:port"
  /// gateway: every pool's picker runs in this process (no --picker): a pick is a call on the
  /// request's thread, not a ZeroMQ round trip to a picker process
  bool local_pickers = false;
  /// gateway with --local-pickers: every gateway replica's transport address in replica order
  /// (this one's at --replica); their pickers share state as picker replicas do
  std::vector<std::string> gateway_peers;
  std::string control;                 ///< the control process's transport address
  std::string control_events;          ///< ... and its events endpoint
  std::string pod_host = "127.0.0.1";  ///< control: where pod processes listen
  int pod_ports_first = 7400;
  int pod_ports_last = 8999;
  std::string pod_log_level = "warn";
  /// "<ns>/<set>=host:port,host:port,...": pod processes of that set started by someone else
  std::vector<std::string> pod_slots;
  bool cold_start = false;
  bool pods_over_http = false;      ///< control: gateways reach the pod processes over HTTP
  std::string curve_keys;           ///< CurveZMQ key directory (runtime/curve_keys.hpp)
  bool insecure_plaintext = false;  ///< no CURVE: local development only
};

/// `inferstack run gateway|picker|control`.
int run_role(const role_options& options, const common_options& common);

/// Every role in one process: the embedded default.
int run_dev(const dev_options& options, const common_options& common);

/// `inferstack check -f FILE...`: validates manifests, prints every problem, exit 2 on error.
/// `--list-pools`: print the InferencePools and their picker replicas ("ns/name N", one per
/// line) instead of a summary.
int run_check(const std::vector<std::string>& files, const common_options& common,
              bool list_pools = false);

struct probe_options {
  std::string name = "probe";
  std::string listen = "tcp://127.0.0.1:7100";
  std::string events;
  std::string http;                ///< host:port for /metrics and health; empty: none
  std::vector<std::string> peers;  ///< addresses to ping periodically (logs reachability)
  std::string curve_keys;          ///< CurveZMQ key directory; empty: plaintext
};

/// `inferstack run probe`: a node exposing the transport probe over ZeroMQ.
int run_probe(const probe_options& options, const common_options& common);

struct keys_options {
  std::string dir;
  std::vector<std::string> roles;  ///< default: gateway picker control pod (and always stack)
  bool force = false;              ///< replace keys that exist
};

/// `inferstack keys --dir DIR [--role NAME ...]`: writes the CurveZMQ keys of a stack.
int run_keys(const keys_options& options, const common_options& common);

/// `inferstack simulate`: the stack of `files` in virtual time, on a workload (issue 18).
struct simulate_options {
  std::vector<std::string> files;
  std::string workload;  ///< inference-perf YAML, Azure CSV, Mooncake JSONL or our JSONL
  uint64_t seed = 1;
  std::string out = "out/simulate";
  std::string vary;    ///< KEY=V1,V2,...
  std::string faults;  ///< a faults timeline (YAML)
  std::string slo;     ///< ttft=2s,itl=100ms
  double speedup = 1;
  double rate_scale = 1;
  std::string from, to;       ///< the workload's window
  std::string drain = "10m";  ///< after the last arrival, how long open requests may take
  std::string model;          ///< requests without a model
  std::string ns;             ///< requests without a namespace
  bool quiet = false;
  bool no_plots = false;
  bool no_console = false;  ///< no console.html (the console page playing the run)
};
int run_simulate(const simulate_options& options, const common_options& common);

/// Resolves the default config file when the user gave none.
std::string default_config_path();

}  // namespace inferstack::nodes

namespace inferstack::nodes {

struct ping_options {
  std::string address;
  std::string name = "probe";
  int requests = 10;
  int stream = 0;       ///< ask for a stream of this many messages
  double duration = 0;  ///< then keep pinging for this many seconds
  int interval_ms = 100;
  int timeout_ms = 1000;
  std::string curve_keys;  ///< CurveZMQ key directory; empty: plaintext
};

/// `inferstack ping ADDRESS`: talks to a probe over ZeroMQ and prints a JSON summary.
int run_ping(const ping_options& options, const common_options& common);

}  // namespace inferstack::nodes

namespace inferstack::nodes {

struct pod_options {
  std::map<std::string, std::string> values;  ///< llm-d-inference-sim flag names -> values
  std::string config_file;                    ///< --config: the same names in YAML
  std::string address = "0.0.0.0";            ///< listen address of the OpenAI API
  int io_threads = 2;
  /// The multi-process stack: the pod actor reachable over ZeroMQ (ROUTER bind), its load
  /// reports published there (PUB bind), and Ready only when the control plane says so.
  std::string transport_listen;
  std::string transport_events;
  bool wait_ready = false;
  bool exit_with_parent = false;  ///< a child of the control plane ends with it
  /// CurveZMQ key directory for the transport sockets (required with them unless
  /// insecure_plaintext) and the bound KV-event sockets (plaintext without keys, as vLLM's).
  std::string curve_keys;
  bool insecure_plaintext = false;
  /// OTLP/HTTP collector for the pod's spans (a generation whose caller's trace is sampled is
  /// recorded); empty: no tracing. Its service.name.
  std::string otlp_endpoint;
  std::string otlp_service_name = "inferstack-pod";
};

/// `inferstack run pod`: one simulated vLLM engine with its own OpenAI API.
int run_pod(const pod_options& options, const common_options& common);

/// config/profiles next to the working directory or the executable.
std::string default_profiles_dir();

}  // namespace inferstack::nodes
