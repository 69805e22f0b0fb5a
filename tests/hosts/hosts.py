"""Roles on separate hosts: each role of the multi-process stack in a network namespace of its
own, with its own address on a bridge, reaching its peers by name, and faults between hosts.

The layout: a "switch" namespace holds a bridge; every host is a namespace joined to it by a
veth pair (eth0 on the host, portN on the switch), so nothing is created in the machine's own
namespace. Names resolve through /etc/netns/<namespace>/hosts, which `ip netns exec` mounts
over /etc/hosts. Every namespace is named <prefix><pid>-...; the harness deletes what it made
on exit, and at start what an earlier run that was killed left behind (its pid gone).

Faults: partition(host) takes the host's switch port down (its link, as a pulled cable);
delay_loss(ms, fraction) adds latency and loss on every host's incoming link -- with `tc netem`
where the kernel has it, otherwise with nfqueue_delay.py behind an iptables NFQUEUE rule (a
userspace stand-in, stated as such in the output)."""

import atexit
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from harness import BINARY, Process  # noqa: E402

PREFIX = "isxh"  # every namespace this harness makes starts with it
SKIP = 77  # CTest's SKIP_RETURN_CODE for these tests
HERE = os.path.dirname(os.path.abspath(__file__))
SUBNET = "10.77.0"


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(SKIP)


def sh(*args, check=True):
    out = subprocess.run(args, capture_output=True, text=True, timeout=20)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {out.stderr.strip()}")
    return out


def _sweep_stale():
    """Namespaces of earlier runs whose process is gone (killed before it could clean up)."""
    for line in sh("ip", "netns", "list", check=False).stdout.splitlines():
        m = re.match(rf"({PREFIX}(\d+)-\S+)", line)
        if not m:
            continue
        try:
            os.kill(int(m.group(2)), 0)
            continue
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        _kill_namespace_processes(m.group(1))
        sh("ip", "netns", "del", m.group(1), check=False)
        shutil.rmtree(f"/etc/netns/{m.group(1)}", ignore_errors=True)


def _kill_namespace_processes(ns):
    for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
        if pid == str(os.getpid()):  # this test itself, once it entered the client host
            continue
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


class Network:
    """Hosts on one bridge. `hosts` are short names (they become DNS names and namespace
    suffixes); host i gets SUBNET.(10+i)."""

    def __init__(self, hosts, deadline_s):
        if os.geteuid() != 0:
            skip("network namespaces need root (ip netns add); this run is not root")
        if not shutil.which("ip"):
            skip("no iproute2 `ip` on this machine")
        _sweep_stale()
        self.tag = f"{PREFIX}{os.getpid()}"
        self.switch = f"{self.tag}-sw"
        probe = sh("ip", "netns", "add", self.switch, check=False)
        if probe.returncode != 0:
            skip(f"this machine forbids network namespaces: ip netns add: {probe.stderr.strip()}")
        self.namespaces = [self.switch]
        self.processes = []
        self.delayers = []
        self.fault = None
        self.address = {h: f"{SUBNET}.{10 + i}" for i, h in enumerate(hosts)}
        self.port = {h: f"port{i}" for i, h in enumerate(hosts)}
        atexit.register(self.cleanup)
        # Clean up before CTest's timeout would kill the run (it cannot clean up after SIGKILL).
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
        signal.signal(signal.SIGALRM, lambda *_: (print("hosts: the run's deadline passed", flush=True),
                                                  sys.exit(1)))
        signal.alarm(deadline_s)
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        hosts_file = "127.0.0.1 localhost\n" + "".join(f"{a} {h}\n" for h, a in self.address.items())
        for h in hosts:
            ns = self.ns(h)
            sh("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            sh("ip", "-n", self.switch, "link", "add", self.port[h], "type", "veth", "peer", "name", "eth0",
               "netns", ns)
            sh("ip", "-n", self.switch, "link", "set", self.port[h], "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", f"{self.address[h]}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            os.makedirs(f"/etc/netns/{ns}", exist_ok=True)
            with open(f"/etc/netns/{ns}/hosts", "w") as f:
                f.write(hosts_file)
        print(f"hosts: {len(hosts)} namespaces {self.tag}-* on a bridge: " +
              ", ".join(f"{h}={a}" for h, a in self.address.items()), flush=True)

    def ns(self, host):
        return f"{self.tag}-{host}"

    def run(self, host, args, ready=None, timeout=20, env=None):
        """A process on `host` (harness.Process: output collected, stopped at exit)."""
        p = Process(["ip", "netns", "exec", self.ns(host), *args], ready=ready, timeout=timeout, env=env)
        self.processes.append(p)
        return p

    def exec(self, host, args, timeout=60):
        return subprocess.run(["ip", "netns", "exec", self.ns(host), *args], capture_output=True, text=True,
                              timeout=timeout)

    def enter(self, host):
        """Moves this (test) process into `host`'s namespace: its sockets and the commands it
        runs (curl) then start there. Names do not resolve for it (its /etc/hosts is the
        machine's): address hosts with address[...]."""
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{self.ns(host)}", os.O_RDONLY)
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), "setns")
        os.close(fd)

    # -- faults between hosts -------------------------------------------------------------------
    def partition(self, host):
        """The host's link goes down (its switch port): it reaches no other host."""
        sh("ip", "-n", self.switch, "link", "set", self.port[host], "down")

    def heal(self, host):
        sh("ip", "-n", self.switch, "link", "set", self.port[host], "up")

    def link_up(self, host, timeout=5):
        """Whether the host's eth0 carries again (veth: once both ends are up)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if "LOWER_UP" in sh("ip", "-n", self.ns(host), "link", "show", "eth0").stdout:
                return True
            time.sleep(0.01)
        return False

    @staticmethod
    def has_netem(ns):
        probe = sh("tc", "-n", ns, "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "0ms", check=False)
        if probe.returncode == 0:
            sh("tc", "-n", ns, "qdisc", "del", "dev", "eth0", "root", check=False)
            return True
        return False

    def delay_loss(self, delay_ms, loss):
        """Every packet arriving at any host (one way between two hosts) waits `delay_ms` more
        and is lost with probability `loss`. Returns how: "tc netem" or the stand-in."""
        self.clear_faults()
        hosts = list(self.address)
        if self.has_netem(self.ns(hosts[0])):
            # netem on each host's egress: one way between two hosts, the same delay and loss
            for h in hosts:
                sh("tc", "-n", self.ns(h), "qdisc", "add", "dev", "eth0", "root", "netem", "delay",
                   f"{delay_ms}ms", "loss", f"{loss * 100}%")
            self.fault = "tc netem"
            return self.fault
        if not shutil.which("iptables"):
            skip("no sch_netem in this kernel and no iptables for the NFQUEUE stand-in "
                 "(tools/install-deps installs iptables)")
        for h in hosts:
            ns = self.ns(h)
            d = Process(["ip", "netns", "exec", ns, "/usr/bin/python3", os.path.join(HERE, "nfqueue_delay.py"),
                         "--queue", "0", "--delay-ms", str(delay_ms), "--loss", str(loss)],
                        ready="nfqueue: bound", timeout=10)
            self.delayers.append(d)
            sh("ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-i", "eth0", "-j", "NFQUEUE",
               "--queue-num", "0", "--queue-bypass")
        self.fault = "NFQUEUE stand-in"
        print(f"hosts: this kernel has no sch_netem (tc netem: 'Specified qdisc kind is unknown'): "
              f"{delay_ms} ms and {loss * 100:g} % loss on every host's incoming link by "
              f"tests/hosts/nfqueue_delay.py behind iptables NFQUEUE, a userspace stand-in for netem",
              flush=True)
        return self.fault

    def clear_faults(self):
        if self.fault == "tc netem":
            for h in self.address:
                sh("tc", "-n", self.ns(h), "qdisc", "del", "dev", "eth0", "root", check=False)
        elif self.fault:
            for h in self.address:
                sh("ip", "netns", "exec", self.ns(h), "iptables", "-F", "INPUT", check=False)
            for d in self.delayers:
                d.stop()
                print("hosts: " + (d.wait_for("passed", 1) or ""), flush=True)
            self.delayers = []
        self.fault = None

    def cleanup(self):
        signal.alarm(0)
        for p in self.processes:
            p.stop(signal.SIGTERM, 5)
        for d in self.delayers:
            d.stop(signal.SIGKILL, 5)
        for ns in self.namespaces:
            _kill_namespace_processes(ns)
            sh("ip", "netns", "del", ns, check=False)
            shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
        self.namespaces = []


# -- the stack on hosts ---------------------------------------------------------------------------------
STACK_YAML = """apiVersion: inferstack.io/v1alpha1
kind: InferenceGateway
metadata: {{name: gw}}
spec: {{defaultNamespace: hosts, secretsDir: {workdir}/secrets, upstreamTimeout: 30s}}
---
apiVersion: kaito.sh/v1alpha1
kind: APIKey
metadata: {{name: key, namespace: hosts}}
spec: {{authDisabled: true}}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {{name: host-model}}
spec: {{gpus: 1, loadTime: 300ms, warmLoadTime: 300ms}}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {{name: set, namespace: hosts}}
spec:
  replicas: {replicas}
  labelSelector: {{matchLabels: {{app: set}}}}
  template:
    metadata: {{labels: {{app: set}}}}
    resource: {{instanceType: Standard_NC24ads_A100_v4}}
    inference: {{preset: {{name: host-model}}}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {{name: set, namespace: hosts}}
spec:
  selector: {{matchLabels: {{app: set}}}}
  targetPorts: [{{number: 8000}}]
  endpointPickerRef: {{name: set-epp, failureMode: FailOpen}}
---
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
metadata: {{name: set-epp, namespace: hosts}}
plugins:
- type: precise-prefix-cache-scorer
  parameters: {{tokenProcessorConfig: {{blockSize: 16}}}}
- type: queue-scorer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - {{pluginRef: precise-prefix-cache-scorer, weight: 3}}
  - {{pluginRef: queue-scorer, weight: 1}}
  - {{pluginRef: max-score-picker}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: set, namespace: hosts}}
spec:
  rules:
  - matches: [{{headers: [{{name: X-Gateway-Model-Name, value: host-model}}]}}]
    backendRefs: [{{name: set}}]
"""


class HostStack:
    """The multi-process stack laid out as on Kubernetes (manifests/deploy): the gateway, the
    control plane and the pool's picker each on a host, and `pods` model servers each on a
    host of its own (pod slots, like the StatefulSet: `inferstack run pod --wait-ready`), plus
    a client host the test sends from. Every endpoint names its peer host; every role listens
    on 0.0.0.0 at the manifests' ports."""

    def __init__(self, workdir, pods=2, deadline_s=240, pod_flags=()):
        self.pods = [f"pod{i}" for i in range(pods)]
        self.net = Network(["gw", "ctl", "picker", *self.pods, "client"], deadline_s)
        self.workdir = workdir
        cfg = f"{workdir}/stack.yaml"
        with open(cfg, "w") as f:
            f.write(STACK_YAML.format(workdir=workdir, replicas=pods))
        keys = ["--curve-keys", f"{workdir}/curve-keys"]
        subprocess.run([BINARY, "keys", "--dir", f"{workdir}/curve-keys"], capture_output=True, check=True)
        log = ["--log-level", "warn"]
        self.pod_procs = {}
        for p in self.pods:
            self.pod_procs[p] = self.net.run(p, [
                BINARY, "run", "pod", "--model", "host-model", "--pod-name", p, "--port", "8000",
                "--listen-address", "0.0.0.0", "--pod-address", f"{p}:8000",
                "--transport-listen", "tcp://0.0.0.0:8001", "--transport-events", "tcp://0.0.0.0:8002",
                "--zmq-endpoint", "tcp://0.0.0.0:8003", "--kv-events-bind", "true",
                "--kv-events-replay-endpoint", "tcp://0.0.0.0:8004", "--wait-ready", "--block-size", "16",
                "--time-to-first-token", "2ms", "--inter-token-latency", "1ms", "--event-batch-size", "1",
                *pod_flags, *keys, *log], ready="serving")
        picker_flag = ["--picker", "hosts/set=tcp://picker:9002"]
        self.picker_args = [BINARY, "run", "picker", "-f", cfg, "--pool", "hosts/set",
                            "--transport-listen", "tcp://0.0.0.0:9002", "--http", "0.0.0.0:9090",
                            "--admin-allow-remote", *keys, *log]
        self.picker = self.net.run("picker", self.picker_args, ready="ready")
        self.control = self.net.run("ctl", [
            BINARY, "run", "control", "-f", cfg, "--transport-listen", "tcp://0.0.0.0:7300",
            "--transport-events", "tcp://0.0.0.0:7301", "--http", "0.0.0.0:7302", "--admin-allow-remote",
            "--pod-slots", "hosts/set=" + ",".join(f"{p}:8000" for p in self.pods), *picker_flag, *keys, *log],
            ready="ready")
        self.gateway_args = [
            BINARY, "run", "gateway", "-f", cfg, "--listen", "0.0.0.0:8080", "--http", "0.0.0.0:9090",
            "--admin-allow-remote", "--control", "tcp://ctl:7300", "--control-events", "tcp://ctl:7301",
            *picker_flag, *keys, *log]
        self.gateway = self.net.run("gw", self.gateway_args, ready="ready")
        self.net.enter("client")
        a = self.net.address
        self.url = f"http://{a['gw']}:8080"
        self.picker_admin = f"http://{a['picker']}:9090"
        self.gateway_admin = f"http://{a['gw']}:9090"
        self.pod_url = {p: f"http://{a[p]}:8000" for p in self.pods}
