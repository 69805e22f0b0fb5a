"""Pickers in the gateways, shared between gateway replicas: two `inferstack run gateway
--local-pickers --gateway-peers A,B --replica I` processes in front of one control process (its
pods reached over HTTP, `--pods-over-http`). Each gateway's picker of the pool is a replica of it;
what only their own picks teach them (the approximate prefix index, in-flight counts) goes to the
other gateway's picker, as between picker processes:

1. gateway 0 serves a long prompt prefix first (pod P); gateway 1, started afterwards, answers
   /readyz only once it has caught up (a peer's snapshot) and scores P on its first pick of that
   prefix -- its own picks never saw it;
2. gateway 1 serves a second prefix (pod Q); gateway 0's first pick of it scores Q (gossip);
3. the gateways' /metrics show the batches sent and applied (inferstack_picker_replication).

With the peers' addresses pointing at nothing, 1 and 2 fail (each gateway's picker scores the
prefix 0)."""

import json
import re
import tempfile
import time

from harness import (BINARY, Checks, Process, curl, free_port, pick_decisions, prefix_score,
                     replication_stats)

c = Checks("gateway replicas (pickers in the gateways)")
workdir = tempfile.mkdtemp(prefix="inferstack-gateway-replicas-")
POOL = "gr/rep"

with open(f"{workdir}/stack.yaml", "w") as f:
    f.write(f"""apiVersion: inferstack.io/v1alpha1
kind: InferenceGateway
metadata: {{name: gw}}
spec: {{defaultNamespace: gr, secretsDir: {workdir}/secrets}}
---
apiVersion: kaito.sh/v1alpha1
kind: APIKey
metadata: {{name: key, namespace: gr}}
spec: {{authDisabled: true}}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {{name: rep-model}}
spec: {{gpus: 1, loadTime: 1s, engine: {{max-num-seqs: "64", time-to-first-token: 2ms, inter-token-latency: 1ms}}}}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {{name: rep, namespace: gr}}
spec:
  replicas: 3
  labelSelector: {{matchLabels: {{app: rep}}}}
  template:
    metadata: {{labels: {{app: rep}}}}
    resource: {{instanceType: Standard_NC24ads_A100_v4}}
    inference: {{preset: {{name: rep-model}}}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {{name: rep, namespace: gr}}
spec:
  selector: {{matchLabels: {{app: rep}}}}
  targetPorts: [{{number: 8000}}]
  endpointPickerRef: {{name: rep-epp, failureMode: FailClose}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: rep, namespace: gr}}
spec:
  rules:
  - matches: [{{headers: [{{name: X-Gateway-Model-Name, value: rep-model}}]}}]
    backendRefs: [{{name: rep}}]
""")

keys = ["--curve-keys", f"{workdir}/curve"]
control_port, events_port, control_http = free_port(), free_port(), free_port()
gw_transport = [free_port(), free_port()]
gw_listen = [free_port(), free_port()]
gw_admin = [free_port(), free_port()]
admin = [f"http://127.0.0.1:{p}" for p in gw_admin]
peers = ",".join(f"tcp://127.0.0.1:{p}" for p in gw_transport)
pod_base = free_port()

control = Process([BINARY, "run", "control", "-f", f"{workdir}/stack.yaml",
                   "--transport-listen", f"tcp://127.0.0.1:{control_port}",
                   "--transport-events", f"tcp://127.0.0.1:{events_port}",
                   "--http", f"127.0.0.1:{control_http}", "--pod-ports", str(pod_base),
                   "--pod-ports-last", str(pod_base + 200), "--pods-over-http",
                   "--log-level", "warn"] + keys, ready="ready", timeout=30)


def start_gateway(i):
    return Process([BINARY, "run", "gateway", "-f", f"{workdir}/stack.yaml",
                    "--listen", f"127.0.0.1:{gw_listen[i]}", "--http", f"127.0.0.1:{gw_admin[i]}",
                    "--control", f"tcp://127.0.0.1:{control_port}",
                    "--control-events", f"tcp://127.0.0.1:{events_port}",
                    "--transport-listen", f"tcp://127.0.0.1:{gw_transport[i]}",
                    "--local-pickers", "--gateway-peers", peers, "--replica", str(i),
                    "--log-level", "warn"] + keys, ready="ready", timeout=30)


def wait_ready(i, timeout=15):
    """Seconds until gateway i's /readyz answered 200, or None."""
    started = time.time()
    while time.time() - started < timeout:
        try:
            if curl(f"http://127.0.0.1:{gw_listen[i]}/readyz", timeout=2)[0] == 200:
                return time.time() - started
        except Exception:
            pass
        time.sleep(0.02)
    return None


def admin_token():
    # The admin token file the roles share (made at first start, in var/secrets by default).
    line = next((l for l in gateways[0].lines if "admin token file" in l), "")
    match = re.search(r"admin token file ([^\s;)]+)", line)
    return open(match.group(1)).read().strip() if match else ""


def decisions(i, tag):
    """Gateway i's pickers' kept decisions (GET /debug/picks) of requests tagged `tag`."""
    return pick_decisions(admin[i], admin_token(), tag)


def send(i, tag, prefix):
    """A completion through gateway i, its request id `tag`: the status."""
    return curl(f"http://127.0.0.1:{gw_listen[i]}/v1/completions",
                {"model": "rep-model", "prompt": prefix + " question", "max_tokens": 2},
                headers={"x-request-id": tag})[0]


def replication(i):
    return replication_stats(admin[i])


FIRST = " ".join(f"policy clause {i}: keep answers short and quote rule {i * 3}." for i in range(60))
SECOND = " ".join(f"catalogue entry {i}: the item ships in {i + 2} days from depot {i % 5}." for i in range(60))

gateways = [start_gateway(0)]
try:
    c.check(wait_ready(0) is not None, "gateway 0 is ready")
    # Its pods Ready and known: a request gets a 200.
    for _ in range(100):
        if send(0, "warm-0", "warm up") == 200:
            break
        time.sleep(0.1)

    # -- 1. a late gateway catches up before it serves -------------------------------------------
    status = send(0, "first-0", FIRST)
    first = decisions(0, "first-0")
    pod_p = first[0]["pod"] if first else None
    c.check(status == 200 and pod_p, "gateway 0 serves the first prefix", f"{status} {pod_p}")
    gateways.append(start_gateway(1))
    took = wait_ready(1)
    c.check(took is not None, "gateway 1 answers /readyz once caught up", str(took))
    print(f"gateway 1 ready {took:.2f} s after its start line" if took is not None else "gateway 1 not ready")
    status = send(1, "first-1", FIRST)
    late = decisions(1, "first-1")
    score = prefix_score(late[0], pod_p) if late else None
    c.check(status == 200 and score is not None and score > 0,
            "gateway 1's first pick of the prefix scores gateway 0's pod (a peer's snapshot)",
            f"{status} pod {pod_p} score {score} {json.dumps(late[:1])[:400]}")

    # -- 2. picks gossiped while both run -------------------------------------------------------
    applied_before = replication(0).get("decisions_applied", 0)
    status = send(1, "second-1", SECOND)
    second = decisions(1, "second-1")
    pod_q = second[0]["pod"] if second else None
    # Until gateway 0 applied gateway 1's decision (a batch every 20 ms; 3 s at most).
    deadline = time.time() + 3
    while time.time() < deadline and replication(0).get("decisions_applied", 0) <= applied_before:
        time.sleep(0.02)
    status0 = send(0, "second-0", SECOND)
    mine = decisions(0, "second-0")
    score = prefix_score(mine[0], pod_q) if mine else None
    c.check(status == 200 and status0 == 200 and score is not None and score > 0,
            "gateway 0's first pick of gateway 1's prefix scores its pod (gossip)",
            f"{status}/{status0} pod {pod_q} score {score}")

    # -- 3. the figures -------------------------------------------------------------------------
    stats = [replication(0), replication(1)]
    print("replication:", json.dumps(stats))
    c.check(all(s.get("batches_sent", 0) > 0 and s.get("batches_applied", 0) > 0 for s in stats),
            "both gateways send and apply batches", json.dumps(stats))
    c.check(stats[1].get("snapshots_applied", 0) >= 1, "gateway 1 applied a snapshot", json.dumps(stats[1]))
finally:
    for g in reversed(gateways):
        g.stop()
    control.stop()
c.finish()
