"""Chaos on the multi-process stack (tools/stack-up: every role its own process over ZeroMQ):

1. kill a pod process mid-request -- requests that had not started are retried on another pod,
   streams that had started end with an SSE error event, nothing hangs; the control plane
   replaces the pod;
2. kill a picker -- the gateway follows the pool's failure mode (FailOpen: a ready pod of the
   pool; FailClose: 503) and routes through the picker again once it is back;
3. cut and restore the ZeroMQ link a pod's KV events travel on -- the picker's index
   resynchronises (replay from the pod) and routes by what the pod really holds;
4. SIGSTOP a pod -- it goes stale, the picker stops sending to it; SIGCONT brings it back;
5. SIGTERM a pod with streams in flight over ZeroMQ -- it drains: the streams complete, new
   requests go to other pods.

Each scenario prints its counts: sent, succeeded, retried, failed with a clear error, hung."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

os.environ["INFERSTACK_E2E_STACK"] = "multi"

from harness import BINARY, Checks, Process, Stack, curl, free_port, sse_events  # noqa: E402

c = Checks("chaos (multi-process)")
workdir = tempfile.mkdtemp(prefix="inferstack-chaos-")
HUNG_AFTER = 20  # seconds: a request still open after this hangs


# -- a relay for the KV-event link of scenario 3 --------------------------------------------------------
class Relay:
    """A TCP relay in front of a ZeroMQ PUB endpoint that can be cut (every connection closed,
    new ones refused) and restored."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = free_port()
        self.cut = threading.Event()
        self.conns = []
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(16)
        while True:
            client, _ = srv.accept()
            if self.cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=2)
                upstream.settimeout(None)  # an idle link is not a dead one
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data or self.cut.is_set():
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.close()
            except OSError:
                pass

    def sever(self):
        self.cut.set()
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self.conns = []

    def restore(self):
        self.cut.clear()


# -- the model servers of scenario 3 (pods the test starts, KV events through relays) ------------------
def start_server(name):
    http_port, kv_port, replay_port = free_port(), free_port(), free_port()
    proc = Process([BINARY, "run", "pod", "--listen-address", "127.0.0.1", "--port", str(http_port),
                    "--model", "kv-model", "--pod-name", f"chaos/{name}", "--block-size", "16",
                    "--time-to-first-token", "5ms", "--inter-token-latency", "1ms",
                    "--enable-kvcache", "--zmq-endpoint", f"tcp://127.0.0.1:{kv_port}", "--kv-events-bind", "true",
                    "--kv-events-replay-endpoint", f"tcp://127.0.0.1:{replay_port}",
                    "--event-batch-size", "1", "--log-level", "warn"], ready="serving")
    return {"proc": proc, "http": http_port, "relay": Relay(kv_port), "replay": replay_port}


servers = {n: start_server(n) for n in ("kv-a", "kv-b")}

docs = [f"""apiVersion: inferstack.io/v1alpha1
kind: InferenceGateway
metadata: {{name: gw}}
spec: {{defaultNamespace: chaos, secretsDir: {workdir}/secrets, upstreamTimeout: 30s}}
---
apiVersion: kaito.sh/v1alpha1
kind: APIKey
metadata: {{name: key, namespace: chaos}}
spec: {{authDisabled: true}}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {{name: chaos-model}}
spec:
  gpus: 1
  loadTime: 1s
  engine: {{max-num-seqs: "32", time-to-first-token: 50ms, inter-token-latency: 10ms}}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {{name: strict-model}}
spec: {{gpus: 1, loadTime: 1s, engine: {{time-to-first-token: 5ms, inter-token-latency: 1ms}}}}
"""]
for name, model, replicas, mode in (("llama", "chaos-model", 3, "FailOpen"),
                                    ("strict", "strict-model", 1, "FailClose")):
    docs.append(f"""apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {{name: {name}, namespace: chaos}}
spec:
  replicas: {replicas}
  labelSelector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    resource: {{instanceType: Standard_NC24ads_A100_v4}}
    inference: {{preset: {{name: {model}}}}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {{name: {name}, namespace: chaos}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  targetPorts: [{{number: 8000}}]
  endpointPickerRef: {{name: {name}-epp, failureMode: {mode}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: chaos}}
spec:
  rules:
  - matches: [{{headers: [{{name: X-Gateway-Model-Name, value: {model}}}]}}]
    backendRefs: [{{name: {name}}}]
""")
for name, s in servers.items():
    docs.append(f"""apiVersion: inferstack.io/v1alpha1
kind: ModelServer
metadata: {{name: {name}, namespace: chaos, labels: {{app: kv}}}}
spec:
  url: http://127.0.0.1:{s["http"]}
  kvEvents: {{endpoint: "tcp://127.0.0.1:{s["relay"].port}", replayEndpoint: "tcp://127.0.0.1:{s["replay"]}"}}
""")
docs.append("""apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: kv, namespace: chaos}
spec:
  selector: {matchLabels: {app: kv}}
  targetPorts: [{number: 8000}]
  endpointPickerRef: {name: kv-epp}
---
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
metadata: {name: kv-epp, namespace: chaos}
plugins:
- type: precise-prefix-cache-scorer
  parameters: {tokenProcessorConfig: {blockSize: 16}}
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - {pluginRef: precise-prefix-cache-scorer, weight: 1}
  - {pluginRef: max-score-picker}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: kv, namespace: chaos}
spec:
  rules:
  - matches: [{headers: [{name: X-Gateway-Model-Name, value: kv-model}]}]
    backendRefs: [{name: kv}]
""")
with open(f"{workdir}/stack.yaml", "w") as f:
    f.write("---\n".join(docs))

stack = Stack(f"{workdir}/stack.yaml", free_port(), log_level="warn")
url = stack.url


def processes(pattern):
    """pid -> command line of the processes whose command line matches."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        line = " ".join(x.decode(errors="replace") for x in cmd if x)
        if re.search(pattern, line):
            out[int(pid)] = [x.decode() for x in cmd if x]
    return out


def retries():
    body = stack.metrics()
    m = re.search(r"^inferstack_gateway_retries_total (\S+)$", body, re.M)
    return float(m.group(1)) if m else 0.0


def sets():
    status, _, body = curl(stack.control + "/control/inferencesets", headers=stack.admin_headers())
    return {s["name"]: s for s in json.loads(body)["inferencesets"]} if status == 200 else {}


def signal_and_settle(pids, sig, traffic, watched, scenario):
    """Sends `sig` to the pod processes `pids` under traffic, lets it run 3 s more, then ends the
    traffic (its counts) and waits, bounded, for the watched streams to end."""
    for pid in pids:
        os.kill(pid, sig)
    time.sleep(3)
    counts = traffic.finish(scenario)
    for w in watched:
        w.ended.wait(HUNG_AFTER)
    return counts


class Traffic:
    """Clients sending requests while something breaks; every outcome counted."""

    def __init__(self, model, clients, stream_share=0.5, tokens=50, stream_tokens=None):
        self.counts = {"sent": 0, "succeeded": 0, "failed_clear": 0, "stream_errors": 0, "hung": 0,
                       "unclear": 0}
        self.pods = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.model, self.tokens, self.stream_tokens = model, tokens, stream_tokens or tokens
        self.retries_before = retries()
        self.threads = [threading.Thread(target=self._run, args=(i, i < clients * stream_share))
                        for i in range(clients)]
        for t in self.threads:
            t.start()

    def _run(self, i, stream):
        while not self.stop.is_set():
            body = {"model": self.model, "prompt": f"chaos {i} {time.time()}",
                    "max_tokens": self.stream_tokens if stream else self.tokens, "ignore_eos": True}
            if stream:
                body["stream"] = True
            with self.lock:
                self.counts["sent"] += 1
            t0 = time.time()
            status, headers, text = curl(url + "/v1/completions", body, stream=stream, timeout=HUNG_AFTER + 5)
            took = time.time() - t0
            with self.lock:
                pod = headers.get("x-inference-pod", "")
                self.pods[pod] = self.pods.get(pod, 0) + 1
                if status == 0 or took > HUNG_AFTER:
                    self.counts["hung"] += 1
                elif status == 200 and not stream:
                    self.counts["succeeded"] += 1
                elif status == 200:
                    events = sse_events(text)
                    if events and events[-1] == "[DONE]" and not any('"error"' in e for e in events):
                        self.counts["succeeded"] += 1
                    elif events and events[-1] == "[DONE]":
                        self.counts["stream_errors"] += 1  # a terminal SSE error event: clear
                    else:
                        self.counts["unclear"] += 1
                elif text.startswith('{"error"'):
                    self.counts["failed_clear"] += 1
                else:
                    self.counts["unclear"] += 1

    def finish(self, name):
        self.stop.set()
        for t in self.threads:
            t.join(HUNG_AFTER + 30)
        out = dict(self.counts, retried=int(retries() - self.retries_before))
        print(f"{name}: {json.dumps(out)}; by pod {json.dumps(self.pods)}", flush=True)
        return out


class WatchedStream(threading.Thread):
    """One streamed completion read event by event: which pod serves it, whether tokens came, how
    it ended."""

    def __init__(self, tokens):
        super().__init__(daemon=True)
        self.body = json.dumps({"model": "chaos-model", "prompt": f"watched {time.time()}",
                                "max_tokens": tokens, "ignore_eos": True, "stream": True})
        self.pod, self.events, self.ended = None, [], threading.Event()
        self.started_tokens = threading.Event()
        self.start()

    def run(self):
        try:
            host, port = url.split("//")[1].split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=HUNG_AFTER)
            conn.request("POST", "/v1/completions", self.body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            self.pod = resp.getheader("x-inference-pod", "")
            while True:
                line = resp.readline()
                if not line:
                    break
                line = line.decode(errors="replace").strip()
                if line.startswith("data: "):
                    self.events.append(line[6:])
                    self.started_tokens.set()
        except (OSError, http.client.HTTPException) as e:
            self.events.append(f"client error: {e}")
        finally:
            self.started_tokens.set()
            self.ended.set()


# -- 1. kill a pod process mid-request ---------------------------------------------------------------------
c.check(sets().get("llama", {}).get("ready") == 3, "three llama pods are Ready", json.dumps(sets()))
# Long streams (200 tokens, ~2 s) and short plain requests keep every pod busy while one dies.
traffic = Traffic("chaos-model", 12, tokens=20, stream_tokens=200)
victims = processes(r"run pod .*--pod-name chaos/llama-0( |$)")
c.check(len(victims) == 1, "found the pod process of chaos/llama-0", str(victims.keys()))
# Which requests the victim runs at the kill is up to the picker; to be sure a stream is under way
# on it, open watched streams (~4 s each) until one runs on chaos/llama-0 and has sent tokens.
watched, victim_stream = [], None
deadline = time.time() + 15
while time.time() < deadline and victim_stream is None:
    s = WatchedStream(400)
    watched.append(s)
    s.started_tokens.wait(5)
    if s.pod == "chaos/llama-0" and s.events and not s.ended.is_set():
        victim_stream = s
c.check(victim_stream is not None, "a watched stream runs on chaos/llama-0 and has sent tokens",
        f"{[(w.pod, len(w.events)) for w in watched]}")
print(f"killing chaos/llama-0 while watched stream {len(watched)} runs on it "
      f"({len(victim_stream.events) if victim_stream else 0} events so far)", flush=True)
counts = signal_and_settle(victims, signal.SIGKILL, traffic, watched, "kill a pod process mid-request")
if victim_stream:
    events = victim_stream.events
    c.check(victim_stream.ended.is_set() and len(events) >= 2 and events[-1] == "[DONE]" and
            '"error"' in events[-2], "pod killed: the stream under way on it ended with an SSE error event, then [DONE]",
            f"{events[-3:]}")
c.check(all(w.ended.is_set() for w in watched), "pod killed: every watched stream ended",
        f"{[(w.pod, len(w.events), w.ended.is_set()) for w in watched]}")
c.check(counts["hung"] == 0, "pod killed: nothing hangs", json.dumps(counts))
c.check(counts["unclear"] == 0 and counts["failed_clear"] == 0,
        "pod killed: every non-streamed request succeeded, retried elsewhere if it had not started",
        json.dumps(counts))
deadline = time.time() + 20
while time.time() < deadline and sets().get("llama", {}).get("ready") != 3:
    time.sleep(0.25)
c.check(sets().get("llama", {}).get("ready") == 3, "the control plane replaced the dead pod")

# -- 2. kill a picker --------------------------------------------------------------------------------------
for pool, expect_ok in (("llama", True), ("strict", False)):
    # This stack's picker only (its -f names this run's workdir): other runs may be going.
    pickers = processes(rf"run picker -f {re.escape(workdir)}/\S* .*--pool chaos/{pool}( |$)")
    c.check(len(pickers) == 1, f"found the picker of chaos/{pool}")
    (pid, cmdline), = pickers.items()
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    model = "chaos-model" if pool == "llama" else "strict-model"
    traffic = Traffic(model, 4, stream_share=0.0, tokens=5)
    time.sleep(3)
    counts = traffic.finish(f"picker of {pool} killed ({'FailOpen' if expect_ok else 'FailClose'})")
    c.check(counts["hung"] == 0 and counts["unclear"] == 0, f"{pool} picker down: nothing hangs", json.dumps(counts))
    if expect_ok:
        c.check(counts["succeeded"] == counts["sent"] and counts["sent"] > 0,
                "FailOpen: requests go to a ready pod of the pool while its picker is down", json.dumps(counts))
    else:
        status, headers, text = curl(url + "/v1/completions", {"model": model, "prompt": "x", "max_tokens": 2})
        c.check(counts["failed_clear"] == counts["sent"] and status == 503 and
                headers.get("x-kaito-error-source") == "gateway" and "gateway_not_programmed" in text,
                "FailClose: 503 gateway_not_programmed while its picker is down", f"{json.dumps(counts)} {text[:200]}")
    # The picker comes back (same command line); within the membership resync it routes again.
    # FailOpen: requests sent across the restart all succeed -- until the control process has
    # told the new picker its pool, the picker refuses (not ready) and the gateway serves the
    # pool's members it knows, rather than answering 503 "no ready endpoint".
    across = Traffic(model, 4, stream_share=0.0, tokens=5) if expect_ok else None
    restarted = Process(cmdline, ready="ready", timeout=15)
    admin = re.search(r"admin: (http://\S+?);", restarted.wait_for("ready", 1) or "")

    def picker_attempts():
        body = curl(admin.group(1) + "/metrics")[2] if admin else ""
        return sum(float(v) for v in re.findall(
            r'^inference_extension_scheduler_attempts_total\{[^}]*\} (\S+)$', body, re.M))

    # Routed through the restarted picker again (it counts the picks) within the resync.
    deadline = time.time() + 10
    ok, attempts = False, 0
    while time.time() < deadline and not (ok and attempts >= 1):
        status, headers, _ = curl(url + "/v1/completions", {"model": model, "prompt": "back", "max_tokens": 2})
        ok = status == 200
        attempts = picker_attempts()
        time.sleep(0.2)
    c.check(ok and attempts >= 1, f"{pool}: the restarted picker routes again", f"ok={ok} attempts={attempts}")
    if across:
        time.sleep(1)
        counts = across.finish(f"picker of {pool} restarted (FailOpen)")
        c.check(counts["succeeded"] == counts["sent"] and counts["sent"] > 0,
                "FailOpen: no request fails while the restarted picker learns its pool", json.dumps(counts))

# -- 3. cut and restore the KV-event link of a pod ------------------------------------------------------------
def complete(tokens, target=None):
    u = f"http://127.0.0.1:{target}" if target else url
    status, headers, _ = curl(u + "/v1/completions", {"model": "kv-model", "prompt": tokens, "max_tokens": 1})
    return status, headers.get("x-inference-pod", "")


# First the picker must hear kv-a at all (PUB/SUB joins take a moment): a prompt sent to kv-a
# directly is routed to kv-a (five fresh ones in a row: 1 in 32 by chance).
deadline = time.time() + 15
heard = []
n = 0
while time.time() < deadline and heard.count("chaos/kv-a") < 5:
    probe = [50000 + 100 * n + i for i in range(64)]
    n += 1
    complete(probe, target=servers["kv-a"]["http"])
    time.sleep(0.2)
    heard = (heard + [complete(probe)[1]])[-5:]
    if heard[-1] != "chaos/kv-a":
        heard = []
c.check(heard.count("chaos/kv-a") == 5, "before the cut the picker hears kv-a's KV events", str(heard))
# While the link is cut, kv-a caches prompts the picker does not hear about (sent to kv-a
# directly). Each is a fresh prompt: once one went through the gateway, the pod it went to
# caches it too, so every check uses one nobody routed yet.
prompts = [[9000 + 1000 * n + i for i in range(8 * 16)] for n in range(12)]
servers["kv-a"]["relay"].sever()
time.sleep(0.5)
for p in prompts:
    complete(p, target=servers["kv-a"]["http"])
time.sleep(1)
servers["kv-a"]["relay"].restore()
# kv-a's next events arrive with a sequence gap: the picker asks kv-a's replay socket for the
# missing batches (or resets kv-a's entries) and its index matches kv-a again.
def kv_stat(name):
    for u in stack.metrics_urls:
        m = re.search(rf'^{name}\{{name="chaos/kv"\}} (\S+)$', curl(u)[2], re.M)
        if m:
            return float(m.group(1))
    return 0.0


replays_before = kv_stat("inferstack_picker_kv_replays")
deadline = time.time() + 15
while time.time() < deadline and kv_stat("inferstack_picker_kv_replays") <= replays_before:
    # kv-a's events resume on the restored link; the first one shows the gap
    complete([11000 + int(time.time() * 1000) % 1000 + i for i in range(32)], target=servers["kv-a"]["http"])
    time.sleep(0.3)
replayed = kv_stat("inferstack_picker_kv_replays") - replays_before
c.check(replayed >= 1, "the picker filled the gap with a replay from kv-a", f"{replayed} replays")
checked = [complete(prompts.pop())[1] for _ in range(3)]
print(f"KV link cut and restored: {replayed:.0f} replay(s); prompts kv-a cached during the cut go to {checked}",
      flush=True)
c.check(checked.count("chaos/kv-a") == 3, "after the link is back, the picker routes by what kv-a holds "
        "(three prompts it cached during the cut, each routed for the first time)", str(checked))

# -- 4. SIGSTOP a pod ---------------------------------------------------------------------------------------------
stopped = processes(r"run pod .*--pod-name chaos/llama-1( |$)")
c.check(len(stopped) == 1, "found the pod process of chaos/llama-1")
for pid in stopped:
    os.kill(pid, signal.SIGSTOP)
traffic = Traffic("chaos-model", 6, stream_share=0.0, tokens=5)
time.sleep(4)  # stale after 2 s without a load report
counts = traffic.finish("SIGSTOP a pod")
late = Traffic("chaos-model", 4, stream_share=0.0, tokens=5)
time.sleep(2)
late_counts = late.finish("SIGSTOP a pod, after it went stale")
c.check(counts["hung"] == 0 and counts["unclear"] == 0, "stopped pod: nothing hangs", json.dumps(counts))
c.check(late.pods.get("chaos/llama-1", 0) == 0 and late_counts["succeeded"] == late_counts["sent"],
        "once stale, the picker sends nothing to the stopped pod", json.dumps(late.pods))
for pid in stopped:
    os.kill(pid, signal.SIGCONT)
deadline = time.time() + 15
back = False
while time.time() < deadline and not back:
    status, headers, _ = curl(url + "/v1/completions", {"model": "chaos-model", "prompt": f"b{time.time()}",
                                                         "max_tokens": 1})
    back = headers.get("x-inference-pod") == "chaos/llama-1"
c.check(back, "after SIGCONT the pod serves again")

# -- 5. SIGTERM a pod with streams in flight over ZeroMQ ------------------------------------------------
# The pod drains: new requests are refused (the gateway retries them on another pod before the
# first byte), the streams under way on it finish, and its transport sends their last messages
# before it closes.
deadline = time.time() + 20
while time.time() < deadline and sets().get("llama", {}).get("ready") != 3:
    time.sleep(0.25)
traffic = Traffic("chaos-model", 6, tokens=5, stream_tokens=100)
watched, target, on_target = [], None, []
deadline = time.time() + 15
while time.time() < deadline and len(on_target) < 2:
    s = WatchedStream(300)  # ~3 s at 10 ms a token: still running at the SIGTERM, done within the drain timeout
    watched.append(s)
    s.started_tokens.wait(5)
    if s.pod and s.events and not s.ended.is_set() and target in (None, s.pod):
        target = s.pod
        on_target.append(s)
victims = processes(rf"run pod .*--pod-name {re.escape(target or '-')}( |$)")
c.check(len(on_target) == 2 and len(victims) == 1, "two watched streams run on one pod and have sent tokens",
        f"{target} {[(w.pod, len(w.events)) for w in watched]}")
print(f"SIGTERM to {target} while {len(on_target)} watched streams run on it", flush=True)
counts = signal_and_settle(victims, signal.SIGTERM, traffic, watched, "SIGTERM a pod with streams in flight")
complete_streams = [w.ended.is_set() and len(w.events) >= 2 and w.events[-1] == "[DONE]" and
                    not any('"error"' in e or e.startswith("client error") for e in w.events)
                    for w in watched]
c.check(on_target and all(complete_streams), "pod SIGTERMed: every watched stream, those on it too, completes",
        f"{[(w.pod, len(w.events), w.events[-2:]) for w, ok in zip(watched, complete_streams) if not ok]}")
c.check(counts["succeeded"] == counts["sent"] and counts["sent"] > 0,
        "pod SIGTERMed: every request succeeds (new ones retried on another pod)", json.dumps(counts))


def running(pid):
    try:
        return open(f"/proc/{pid}/stat").read().split()[2] != "Z"
    except OSError:
        return False


for pid in victims:
    deadline = time.time() + 10
    while time.time() < deadline and running(pid):
        time.sleep(0.1)
    c.check(not running(pid), "the SIGTERMed pod exits once drained")
deadline = time.time() + 20
while time.time() < deadline and sets().get("llama", {}).get("ready") != 3:
    time.sleep(0.25)
c.check(sets().get("llama", {}).get("ready") == 3, "the control plane replaced the drained pod")

c.check(stack.stop() == 0, "the stack stops cleanly")
time.sleep(0.5)
left = processes(r"run pod .*--pod-name chaos/(llama|strict)-")
c.check(not left, "no pod process is left behind", str(left))
c.finish()
