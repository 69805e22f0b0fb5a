"""The gateway in front of model servers in other processes (ModelServer manifests): requests
forwarded over HTTP with keep-alive, precise prefix routing from the servers' KV events over
ZeroMQ, load from their /metrics, and a server killed mid-traffic -- requests that had not
started are retried on the other one, open streams end with an SSE error event, nothing hangs."""

import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time

from harness import BINARY, STACK, Checks, Process, Stack, curl, free_port, sse_events

c = Checks(f"upstream e2e ({STACK})")
workdir = tempfile.mkdtemp(prefix="inferstack-upstream-")


def start_server(name):
    port = free_port()
    proc = Process([BINARY, "run", "pod", "--listen-address", "127.0.0.1", "--port", str(port),
                    "--model", "ext-model", "--pod-name", name, "--profile", "8b-h100",
                    "--zmq-endpoint", "tcp://127.0.0.1:*", "--kv-events-replay-endpoint", "tcp://127.0.0.1:*",
                    "--event-batch-size", "1", "--enable-return-error-header", "--log-level", "warn"],
                   ready="serving")
    line = proc.wait_for("serving", 1)
    kv = re.search(r"KV events on (tcp://\S+?),", line).group(1)
    replay = re.search(r"replay on (tcp://\S+)", line).group(1)
    return proc, port, kv, replay


servers = {name: start_server(name) for name in ("ext-a", "ext-b")}
with open(f"{workdir}/key", "w") as f:
    f.write("sk-upstream-test\n")

docs = [f"""apiVersion: inferstack.io/v1alpha1
kind: InferenceGateway
metadata: {{name: gw}}
spec: {{listen: "127.0.0.1:0", defaultNamespace: ext, secretsDir: {workdir}/secrets,
        forwardFaultInjection: true}}""",
        f"""apiVersion: kaito.sh/v1alpha1
kind: APIKey
metadata: {{name: key, namespace: ext}}
spec: {{keyFile: {workdir}/key}}"""]
for name, (proc, port, kv, replay) in servers.items():
    docs.append(f"""apiVersion: inferstack.io/v1alpha1
kind: ModelServer
metadata: {{name: {name}, namespace: ext, labels: {{app: ext}}}}
spec:
  url: http://127.0.0.1:{port}
  address: 127.0.0.1:{port}
  kvEvents: {{endpoint: "{kv}", replayEndpoint: "{replay}"}}""")
docs += ["""apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: ext, namespace: ext}
spec:
  selector: {matchLabels: {app: ext}}
  targetPorts: [{number: 8000}]
  endpointPickerRef: {name: ext-epp, failureMode: FailClose}""",
         """apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
metadata: {name: ext-epp, namespace: ext}
plugins:
- type: precise-prefix-cache-scorer
  parameters: {tokenProcessorConfig: {blockSize: 16}}
- type: queue-scorer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - {pluginRef: precise-prefix-cache-scorer, weight: 3}
  - {pluginRef: queue-scorer, weight: 1}
  - {pluginRef: max-score-picker}""",
         """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ext, namespace: ext}
spec:
  rules:
  - matches: [{headers: [{name: X-Gateway-Model-Name, value: ext-model}]}]
    backendRefs: [{name: ext}]"""]
with open(f"{workdir}/stack.yaml", "w") as f:
    f.write("\n---\n".join(docs) + "\n")

gw_port = free_port()
dev = Stack(f"{workdir}/stack.yaml", gw_port)
url = dev.url
H = {"Authorization": "Bearer sk-upstream-test"}

# The key comes from a keyFile here: the printed curl line reads it from that file.
curl_line = next((line.strip() for line in dev.lines if line.strip().startswith("curl -s")), "")
c.check(f"$(cat {workdir}/key)" in curl_line and "sk-upstream-test" not in curl_line,
        "the printed curl line reads the keyFile, never shows the key", curl_line)
out = os.popen(curl_line).read()
c.check('"object":"chat.completion"' in out, "the printed curl line works as printed", out[:300])

# -- forwarding ------------------------------------------------------------------------------------------
status, headers, body = curl(url + "/v1/chat/completions",
                             {"model": "ext-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}, headers=H)
c.check(status == 200 and json.loads(body)["object"] == "chat.completion", "forwarded: chat", body[:300])
c.check(headers.get("x-inference-pod") in ("ext/ext-a", "ext/ext-b"), "served by a model server", str(headers))
status, _, body = curl(url + "/v1/completions", {"model": "ext-model", "prompt": "x", "max_tokens": 3, "stream": True,
                                                  "stream_options": {"include_usage": True}}, headers=H, stream=True)
events = sse_events(body)
c.check(status == 200 and events[-1] == "[DONE]" and '"usage"' in events[-2], "forwarded: stream with usage", body[-300:])
status, _, body = curl(url + "/v1/chat/completions", {"model": "ext-model", "messages": [{"role": "user", "content": "x"}]},
                       headers={**H, "X-Return-Error": "418"})
c.check(status == 418, "an upstream error passes through unchanged", body[:200])

# -- precise prefix routing from the servers' KV events ---------------------------------------------------
long = " ".join(f"context{i}" for i in range(400))
first = None
same = 0
for i in range(6):
    _, headers, _ = curl(url + "/v1/completions", {"model": "ext-model", "prompt": long, "max_tokens": 1}, headers=H)
    pod = headers.get("x-inference-pod")
    if first is None:
        first = pod
        time.sleep(0.3)  # the KV events of the first request reach the picker
    elif pod == first:
        same += 1
c.check(same == 5, "a repeated long prompt stays on the pod that caches it", f"{same}/5 on {first}")

time.sleep(0.5)
metrics = dev.metrics()
c.check('inference_pool_per_pod_queue_size{model_server_pod="ext/ext-a"' in metrics, "pool gauges for model servers")

# -- a server dies while traffic flows --------------------------------------------------------------------
results = {"ok": 0, "failed": 0, "hung": 0, "stream_errors": 0, "stream_ok": 0}
lock = threading.Lock()
stop = threading.Event()

def client(stream):
    while not stop.is_set():
        body = {"model": "ext-model", "prompt": f"load {time.time()}", "max_tokens": 30, "ignore_eos": True}
        if stream:
            body["stream"] = True
        try:
            status, _, text = curl(url + "/v1/completions", body, headers=H, stream=stream, timeout=20)
        except Exception:
            with lock:
                results["hung"] += 1
            continue
        with lock:
            if status == 0:
                results["hung"] += 1
            elif stream:
                ev = sse_events(text)
                if ev and ev[-1] == "[DONE]" and any('"error"' in e for e in ev):
                    results["stream_errors"] += 1
                elif ev and ev[-1] == "[DONE]":
                    results["stream_ok"] += 1
                else:
                    results["failed"] += 1
            elif status == 200:
                results["ok"] += 1
            else:
                results["failed"] += 1

threads = [threading.Thread(target=client, args=(i % 2 == 1,)) for i in range(6)]
for t in threads:
    t.start()
time.sleep(1.5)
servers["ext-a"][0].stop(signal.SIGKILL)
time.sleep(2.5)
stop.set()
for t in threads:
    t.join(30)
print("traffic while ext-a died:", json.dumps(results))
c.check(results["hung"] == 0, "nothing hangs", json.dumps(results))
c.check(results["ok"] > 10 and results["stream_ok"] > 5, "traffic continues on the survivor", json.dumps(results))
c.check(results["failed"] <= 3, "non-streamed requests are retried, not failed", json.dumps(results))
status, headers, body = curl(url + "/v1/chat/completions", {"model": "ext-model", "messages": [{"role": "user", "content": "after"}]}, headers=H)
c.check(status == 200 and headers.get("x-inference-pod") == "ext/ext-b", "after the kill: the survivor serves", str(status))

c.check(dev.stop() == 0, "graceful shutdown")
for proc, *_ in servers.values():
    proc.stop()
shutil.rmtree(workdir, ignore_errors=True)
c.finish()
