"""Pods that run already (a StatefulSet on Kubernetes; here two `inferstack run pod --wait-ready`
processes the test starts): `inferstack run control --pod-slots` gives each replica of the set a
free one. The pod waits unready until the control plane marks it Ready under the replica's name;
a replica that goes drains its slot, and the next replica takes the slot again."""

import json
import re
import tempfile
import time

from harness import BINARY, Checks, Process, curl, free_port, free_port_range

c = Checks("pod slots (multi-process)")
workdir = tempfile.mkdtemp(prefix="inferstack-slots-")
keys = ["--curve-keys", f"{workdir}/curve-keys"]  # CurveZMQ between the roles and the pods


slots = []
for i in range(2):
    base = free_port_range(5)
    proc = Process([BINARY, "run", "pod", "--model", "slot-model", "--pod-name", f"slot-{i}", "--port", str(base),
                    "--listen-address", "127.0.0.1", "--pod-address", f"127.0.0.1:{base}",
                    "--transport-listen", f"tcp://127.0.0.1:{base + 1}",
                    "--transport-events", f"tcp://127.0.0.1:{base + 2}",
                    "--zmq-endpoint", f"tcp://127.0.0.1:{base + 3}", "--kv-events-bind", "true",
                    "--kv-events-replay-endpoint", f"tcp://127.0.0.1:{base + 4}", "--wait-ready",
                    "--time-to-first-token", "5ms", "--inter-token-latency", "2ms", *keys, "--log-level", "warn"],
                   ready="serving")
    slots.append((proc, base))
status, _, _ = curl(f"http://127.0.0.1:{slots[0][1]}/health/ready")
c.check(status == 503, "a slot pod waits unready for the control plane", str(status))

with open(f"{workdir}/stack.yaml", "w") as f:
    f.write(f"""apiVersion: inferstack.io/v1alpha1
kind: InferenceGateway
metadata: {{name: gw}}
spec: {{defaultNamespace: slots, secretsDir: {workdir}/secrets}}
---
apiVersion: kaito.sh/v1alpha1
kind: APIKey
metadata: {{name: key, namespace: slots}}
spec: {{authDisabled: true}}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {{name: slot-model}}
spec: {{gpus: 1, loadTime: 500ms, warmLoadTime: 500ms}}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {{name: set, namespace: slots}}
spec:
  replicas: 2
  labelSelector: {{matchLabels: {{app: set}}}}
  template:
    metadata: {{labels: {{app: set}}}}
    resource: {{instanceType: Standard_NC24ads_A100_v4}}
    inference: {{preset: {{name: slot-model}}}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {{name: set, namespace: slots}}
spec:
  selector: {{matchLabels: {{app: set}}}}
  targetPorts: [{{number: 8000}}]
  endpointPickerRef: {{name: set-epp}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: set, namespace: slots}}
spec:
  rules:
  - matches: [{{headers: [{{name: X-Gateway-Model-Name, value: slot-model}}]}}]
    backendRefs: [{{name: set}}]
""")

cfg = f"{workdir}/stack.yaml"
picker_port, picker_http, control_port, control_events, control_http, gw_port = (free_port() for _ in range(6))
tcp = lambda p: f"tcp://127.0.0.1:{p}"  # noqa: E731
picker_flag = ["--picker", f"slots/set={tcp(picker_port)}"]
picker = Process([BINARY, "run", "picker", "-f", cfg, "--pool", "slots/set", "--transport-listen", tcp(picker_port),
                  "--http", f"127.0.0.1:{picker_http}", *keys, "--log-level", "warn"], ready="ready")
control = Process([BINARY, "run", "control", "-f", cfg, "--transport-listen", tcp(control_port),
                   "--transport-events", tcp(control_events), "--http", f"127.0.0.1:{control_http}",
                   "--pod-slots", "slots/set=" + ",".join(f"127.0.0.1:{b}" for _, b in slots), *picker_flag,
                   *keys, "--log-level", "warn"], ready="ready")
gateway = Process([BINARY, "run", "gateway", "-f", cfg, "--listen", f"127.0.0.1:{gw_port}", "--control",
                   tcp(control_port), "--control-events", tcp(control_events), *picker_flag, *keys,
                   "--log-level", "warn"],
                  ready="ready")
url = f"http://127.0.0.1:{gw_port}"


def served(n=20):
    pods = {}
    for i in range(n):
        status, headers, _ = curl(url + "/v1/completions", {"model": "slot-model", "prompt": f"p{i} {time.time()}",
                                                            "max_tokens": 2})
        key = headers.get("x-inference-pod", "") if status == 200 else f"status {status}"
        pods[key] = pods.get(key, 0) + 1
    return pods


deadline = time.time() + 10
pods = {}
while time.time() < deadline and set(pods) != {"slots/set-0", "slots/set-1"}:
    pods = served()
    time.sleep(0.2)
c.check(set(pods) == {"slots/set-0", "slots/set-1"}, "both replicas serve, from the two slot pods", json.dumps(pods))
status, _, _ = curl(f"http://127.0.0.1:{slots[0][1]}/health/ready")
c.check(status == 200, "the slot pod is Ready once the control plane says so")
metrics = curl(f"http://127.0.0.1:{picker_http}/metrics")[2]
c.check('model_server_pod="slots/set-0"' in metrics and 'model_server_pod="slots/set-1"' in metrics,
        "the picker hears the slot pods' load reports under the replicas' names")


admin_token_file = re.search(r"admin token file ([^\s;)]+)", control.wait_for("ready", 1)).group(1)


def scale(n):
    with open(admin_token_file) as f:
        auth = {"Authorization": "Bearer " + f.read().strip()}
    status, _, body = curl(f"http://127.0.0.1:{control_http}/control/scale",
                           {"namespace": "slots", "inferenceset": "set", "replicas": n}, headers=auth)
    return status


c.check(scale(1) == 200, "scaled to one replica")
time.sleep(1.5)
pods = served()
c.check(set(pods) == {"slots/set-0"}, "one replica left; the other slot drained and freed", json.dumps(pods))
c.check(scale(2) == 200, "scaled back to two replicas")
deadline = time.time() + 10
while time.time() < deadline and "slots/set-2" not in pods:
    time.sleep(0.3)
    pods = served()
c.check(set(pods) == {"slots/set-0", "slots/set-2"}, "the new replica took the freed slot and serves under its name",
        json.dumps(pods))
for p in (gateway, control, picker):
    c.check(p.stop() == 0, f"{p.args[2]} stops cleanly")
for proc, _ in slots:
    c.check(proc.proc.poll() is None, "slot pods keep running (they belong to their StatefulSet)")
c.finish()
