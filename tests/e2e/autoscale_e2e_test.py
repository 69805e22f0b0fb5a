"""Autoscaling end to end: `inferstack dev` under a burst scales an InferenceSet up (fast mode:
the scaler reacts to the pods' pushed load reports) and back down after the scale-down window
while streams are still running on the pods being drained, with every request answered in full
-- no failure, no truncated stream -- and a set scaled to zero starts a pod for the request that
arrives (the request waits, then succeeds).

Counts are printed: requests sent, succeeded, failed, truncated."""

import json
import tempfile
import threading
import time

from harness import STACK, Checks, Stack, curl, free_port, sse_events

c = Checks(f"autoscale e2e ({STACK})")
workdir = tempfile.mkdtemp(prefix="inferstack-autoscale-")
port = free_port()


def preset(name, warm):
    return f"""---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {{name: {name}}}
spec:
  gpus: 1
  loadTime: 1500ms
  warmLoadTime: {warm}
  engine: {{max-num-seqs: "2", time-to-first-token: 100ms, inter-token-latency: 15ms}}
"""


def autoscaled_set(name, min_replicas, max_replicas, extra):
    return f"""---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata:
  name: {name}
  namespace: scale
  annotations:
    scaledobject.kaito.sh/auto-provision: "true"
    scaledobject.kaito.sh/threshold: "2"
    scaledobject.kaito.sh/min-replicas: "{min_replicas}"
    scaledobject.kaito.sh/max-replicas: "{max_replicas}"
    inferstack.io/scaling-mode: fast
{extra}
spec:
  replicas: 1
  labelSelector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    resource: {{instanceType: Standard_NC24ads_A100_v4}}
    inference: {{preset: {{name: {name}-model}}}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {{name: {name}, namespace: scale}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  targetPorts: [{{number: 8000}}]
  endpointPickerRef: {{name: {name}-epp}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: scale}}
spec:
  rules:
  - matches: [{{headers: [{{name: X-Gateway-Model-Name, value: {name}-model}}]}}]
    backendRefs: [{{name: {name}}}]
"""


with open(f"{workdir}/stack.yaml", "w") as f:
    f.write(f"""apiVersion: inferstack.io/v1alpha1
kind: InferenceGateway
metadata: {{name: gw}}
spec: {{listen: "127.0.0.1:{port}", defaultNamespace: scale, secretsDir: {workdir}/secrets,
        activationTimeout: 30s}}
---
apiVersion: kaito.sh/v1alpha1
kind: APIKey
metadata: {{name: key, namespace: scale}}
spec: {{authDisabled: true}}
---
apiVersion: inferstack.io/v1alpha1
kind: NodePool
metadata: {{name: a100}}
spec: {{instanceType: Standard_NC24ads_A100_v4, count: 5}}
""")
    f.write(preset("burst-model", "500ms"))
    f.write(preset("zero-model", "1500ms"))
    f.write(autoscaled_set("burst", 1, 4, "    inferstack.io/scale-down-window: 3s"))
    f.write(autoscaled_set("zero", 0, 1, "    inferstack.io/cooldown-period: 2s"))

dev = Stack(f"{workdir}/stack.yaml", port, log_level="info")
url = dev.url


def sets():
    status, _, body = curl(dev.control + "/control/inferencesets", headers=dev.admin_headers())
    return {s["name"]: s for s in json.loads(body)["inferencesets"]} if status == 200 else {}


c.check(sets().get("burst", {}).get("ready") == 1, "burst starts with 1 Ready replica", json.dumps(sets()))

# -- a burst: 16 clients streaming for 8 s ------------------------------------------------------------
counts = {"sent": 0, "succeeded": 0, "failed": 0, "truncated": 0}
lock = threading.Lock()
TOKENS_BURST = 12


def client(i, stop, tokens=TOKENS_BURST):
    while not stop.is_set():
        with lock:
            counts["sent"] += 1
        status, _, body = curl(url + "/v1/completions",
                               {"model": "burst-model", "prompt": f"burst {i} {time.time()}", "max_tokens": tokens,
                                "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}},
                               stream=True, timeout=60)
        events = sse_events(body)
        ok = status == 200 and events and events[-1] == "[DONE]"
        usage = None
        if ok:
            try:
                usage = json.loads(events[-2]).get("usage")
            except (ValueError, IndexError):
                usage = None
        with lock:
            if status != 200:
                counts["failed"] += 1
                print(f"failed: {status} {body[:200]}", flush=True)
            elif not ok or not usage or usage.get("completion_tokens") != tokens:
                counts["truncated"] += 1
                print(f"truncated: {body[-300:]}", flush=True)
            else:
                counts["succeeded"] += 1


stop = threading.Event()
threads = [threading.Thread(target=client, args=(i, stop)) for i in range(16)]
# Three clients with longer streams keep going through the scale-down: pods drain under them.
tail_stop = threading.Event()
tail = [threading.Thread(target=client, args=(100 + i, tail_stop, 60)) for i in range(3)]
started = time.time()
for t in threads + tail:
    t.start()
peak_desired = peak_ready = 1
while time.time() - started < 8:
    s = sets().get("burst", {})
    peak_desired = max(peak_desired, s.get("desired", 0))
    peak_ready = max(peak_ready, s.get("ready", 0))
    time.sleep(0.25)
stop.set()
for t in threads:
    t.join(90)
print(f"burst: {json.dumps(counts)}; peak desired {peak_desired}, peak ready {peak_ready}", flush=True)
c.check(peak_desired == 4, "the burst scaled the set to its max-replicas (4)", str(peak_desired))
c.check(peak_ready >= 3, "new pods became Ready and served", str(peak_ready))
c.check(counts["succeeded"] > 30, "the burst was served", json.dumps(counts))

# -- back down after the scale-down window, with the tail's streams still running -----------------
deadline = time.time() + 30
while time.time() < deadline and sets().get("burst", {}).get("desired") != 1:
    time.sleep(0.25)
s = sets().get("burst", {})
c.check(s.get("desired") == 1, "scaled back down to min-replicas once the burst is over", json.dumps(s))
deadline = time.time() + 15
while time.time() < deadline and sets().get("burst", {}).get("current") != 1:
    time.sleep(0.25)
c.check(sets().get("burst", {}).get("current") == 1, "the surplus pods drained and went")
time.sleep(1)
tail_stop.set()
for t in tail:
    t.join(90)
print(f"burst and scale-down: requests {json.dumps(counts)}", flush=True)
c.check(counts["failed"] == 0, "no failed request", json.dumps(counts))
c.check(counts["truncated"] == 0, "no truncated stream", json.dumps(counts))

# -- scale to zero, then a request --------------------------------------------------------------------
deadline = time.time() + 30
while time.time() < deadline and sets().get("zero", {}).get("desired") != 0:
    time.sleep(0.25)
c.check(sets().get("zero", {}).get("desired") == 0, "an idle set with min-replicas 0 goes to zero")
deadline = time.time() + 15
while time.time() < deadline and sets().get("zero", {}).get("current") != 0:
    time.sleep(0.25)
t0 = time.time()
status, headers, body = curl(url + "/v1/completions", {"model": "zero-model", "prompt": "wake up", "max_tokens": 3},
                             timeout=60)
waited = time.time() - t0
c.check(status == 200 and json.loads(body)["choices"][0]["text"], "the request for the set at zero succeeded",
        f"{status} {body[:300]}")
c.check(waited >= 1.0, "... after waiting for a pod to load (its load time is 1.5 s)", f"{waited:.2f} s")
c.check(sets().get("zero", {}).get("ready") == 1, "the set is at one Ready replica again")
print(f"scale from zero: the request waited {waited:.2f} s", flush=True)

metrics = dev.metrics()
for name in ("inferstack_inferenceset_desired_replicas", "inferstack_inferenceset_ready_replicas",
             "inferstack_scaler_decisions_total", "inferstack_node_gpu_allocated", "inferstack_pods"):
    c.check(name in metrics, f"metrics: {name}")
c.check('trigger="activation"' in metrics, "metrics: the activation decision was counted")
c.check(dev.stop() == 0, "graceful shutdown")
c.finish()
