"""Failing nodes end to end: `inferstack dev` with a spot NodePool and a LeaderWorkerSet group,
driven by the CLI as an operator would -- `inferstack get pods|nodes` show the group, the
cordon and the reclaim notice as kubectl would; `inferstack reclaim` lets the streams running
on the reclaimed node finish (the pod drains) while the controller replaces the pod; `inferstack
fail` on a group's worker node recreates the whole group; the commands need the admin token.

Counts are printed: streams sent during the reclaim, completed."""

import json
import os
import subprocess
import tempfile
import threading
import time

from harness import BINARY, Checks, Stack, curl, free_port, sse_events

c = Checks("node commands e2e (inferstack dev)")
workdir = tempfile.mkdtemp(prefix="inferstack-nodes-")
port = free_port()

with open(f"{workdir}/stack.yaml", "w") as f:
    f.write(f"""apiVersion: inferstack.io/v1alpha1
kind: InferenceGateway
metadata: {{name: gw}}
spec: {{listen: "127.0.0.1:{port}", defaultNamespace: ops, secretsDir: {workdir}/secrets}}
---
apiVersion: kaito.sh/v1alpha1
kind: APIKey
metadata: {{name: key, namespace: ops}}
spec: {{authDisabled: true}}
---
apiVersion: inferstack.io/v1alpha1
kind: NodePool
metadata: {{name: spot}}
spec: {{instanceType: Standard_NC24ads_A100_v4, count: 3, capacityType: spot, reclaimNotice: 30s}}
---
apiVersion: inferstack.io/v1alpha1
kind: NodePool
metadata: {{name: h100}}
spec: {{instanceType: Standard_ND96isr_H100_v5, count: 3}}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {{name: small}}
spec:
  gpus: 1
  loadTime: 1s
  warmLoadTime: 500ms
  engine: {{time-to-first-token: 100ms, inter-token-latency: 50ms}}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {{name: big}}
spec:
  gpus: 16
  loadTime: 1s
  warmLoadTime: 500ms
  engine: {{time-to-first-token: 100ms, inter-token-latency: 50ms}}
""")
    for name, preset, itype in (("small", "small", "Standard_NC24ads_A100_v4"),
                                ("big", "big", "Standard_ND96isr_H100_v5")):
        f.write(f"""---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {{name: {name}, namespace: ops}}
spec:
  replicas: {2 if name == "small" else 1}
  labelSelector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    resource: {{instanceType: {itype}}}
    inference: {{preset: {{name: {preset}}}}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {{name: {name}, namespace: ops}}
spec: {{selector: {{matchLabels: {{app: {name}}}}}, targetPorts: [{{number: 8000}}], endpointPickerRef: {{name: {name}-epp}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: ops}}
spec:
  rules:
  - matches:
    - headers: [{{type: Exact, name: X-Gateway-Model-Name, value: {preset}}}]
    backendRefs: [{{name: {name}}}]
""")

dev = Stack(f"{workdir}/stack.yaml", port, log_level="info")


def cli(*args, token_file=None):
    """Runs the inferstack CLI against the stack; returns (exit code, stdout + stderr)."""
    cmd = [BINARY, *args, "--server", dev.control, "--token-file",
           token_file or dev.admin_token_file]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout + p.stderr


def rows(kind):
    """`inferstack get <kind>` as a list of dicts, by the table's header."""
    code, out = cli("get", kind)
    lines = [l for l in out.splitlines() if l and not l.startswith("(")]
    if code != 0 or not lines:
        return []
    header = lines[0].split()
    return [dict(zip(header, l.split(None, len(header) - 1))) for l in lines[1:]]


def by_name(kind):
    return {r["NAME"]: r for r in rows(kind)}


def wait(what, cond, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False


pods = by_name("pods")
c.check(pods.get("small-0", {}).get("NODE") == "spot-0" and pods.get("small-1", {}).get("NODE") == "spot-1",
        "the small replicas run on spot-0 and spot-1", json.dumps(pods))
# The 16-GPU preset on 8-GPU nodes: a group of a leader and a worker, a node each.
c.check(pods.get("big-0", {}).get("GROUP") == "big-0/0" and pods.get("big-0-1", {}).get("GROUP") == "big-0/1",
        "get pods shows the big replica's group: leader big-0 and worker big-0-1", json.dumps(pods))
nodes = by_name("nodes")
c.check(nodes.get("spot-0", {}).get("CAPACITY") == "spot" and nodes.get("h100-0", {}).get("CAPACITY") == "on-demand",
        "get nodes shows each node's capacity type", json.dumps(nodes))

# -- the admin token guards the commands ----------------------------------------------------------
read_token = os.path.join(os.path.dirname(dev.admin_token_file), "read-token")
code, out = cli("cordon", "spot-2", token_file=read_token)
c.check(code != 0 and "403" in out, "a read-only token may not cordon", out)
status, _, _ = curl(dev.control + "/control/node", body={"node": "spot-2", "action": "cordon"}, method="POST")
c.check(status == 401, "no token: 401", str(status))

# -- cordon, uncordon -----------------------------------------------------------------------------
code, out = cli("cordon", "spot-2")
c.check(code == 0 and "node/spot-2 cordoned" in out, "inferstack cordon spot-2", out)
c.check(by_name("nodes").get("spot-2", {}).get("STATUS") == "Ready,SchedulingDisabled",
        "a cordoned node shows Ready,SchedulingDisabled")
code, out = cli("uncordon", "spot-2")
c.check(code == 0 and by_name("nodes").get("spot-2", {}).get("STATUS") == "Ready", "inferstack uncordon spot-2", out)

# -- a reclaim under streams: they finish on the draining pod ------------------------------------
results = []


def stream(i):
    status, _, body = curl(dev.url + "/v1/completions", stream=True, timeout=30,
                           body={"model": "small", "prompt": f"stream {i}", "max_tokens": 40,
                                 "stream": True, "ignore_eos": True})
    events = sse_events(body)
    done = status == 200 and events and events[-1] == "[DONE]"
    results.append(bool(done) and len([e for e in events if '"text"' in e]) >= 40)


threads = [threading.Thread(target=stream, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
time.sleep(0.5)  # the streams are running (2 s each)
code, out = cli("reclaim", "spot-0", "--notice", "5", "--reason", "e2e")
c.check(code == 0 and "node/spot-0 reclaimed" in out and "ops/small-0" in out,
        "inferstack reclaim spot-0 names the pod it drains", out)
node = by_name("nodes").get("spot-0", {})
c.check(node.get("STATUS") == "Ready,SchedulingDisabled" and "goes in" in node.get("REASON", ""),
        "get nodes shows the reclaim notice", json.dumps(node))
for t in threads:
    t.join(40)
c.check(len(results) == 8 and all(results), "every stream running at the notice completed",
        f"{sum(results)}/{len(results)}")
print(f"streams during the reclaim: {len(results)} sent, {sum(results)} completed")
c.check(wait("the replacement", lambda: by_name("pods").get("small-2", {}).get("STATUS") == "Ready"),
        "the controller replaced small-0 (small-2, Ready on the spare node)", json.dumps(by_name("pods")))
c.check(wait("spot-0 gone", lambda: "spot-0" not in by_name("nodes"), timeout=10),
        "spot-0 is gone when its notice ran out")

# -- a group's worker node fails: the whole group is recreated -----------------------------------
worker_node = by_name("pods").get("big-0-1", {}).get("NODE")
code, out = cli("fail", worker_node)
c.check(code == 0 and "failed" in out, f"inferstack fail {worker_node}", out)
c.check(wait("the group back", lambda: by_name("pods").get("big-0", {}).get("STATUS") == "Ready"
             and by_name("pods").get("big-0", {}).get("RESTARTS") == "1"),
        "the group is recreated: big-0 Ready again with 1 restart", json.dumps(by_name("pods")))
code, out = cli("fail", "h100-9")
c.check(code != 0 and "no node h100-9" in out, "an unknown node is refused", out)

dev.stop()
c.finish()
