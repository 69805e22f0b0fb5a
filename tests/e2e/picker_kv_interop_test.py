"""The picker fed by KV events from outside, in vLLM's exact wire format: this script plays two
vLLM pods. Each serves a minimal OpenAI API and /metrics over HTTP, and publishes its KV events
with Debian's python3-zmq and python3-msgpack the way vLLM's ZmqEventPublisher does -- a PUB
socket that connects to the indexer's bound endpoint (llm-d's central mode), frames
[topic, 8-byte big-endian seq, msgpack EventBatch], BlockStored as a positional array, and then
in vLLM's named-field encoding (msgspec array_like=False: each event, and the batch, a map).

Pod B announces the blocks of one prompt; the gateway must send that prompt to pod B (every
time), while a prompt nobody holds may go anywhere."""

import http.server
import json
import struct
import tempfile
import threading
import time

import msgpack
import zmq

from harness import STACK, Checks, Stack, curl, free_port

c = Checks(f"picker kv interop ({STACK})")
workdir = tempfile.mkdtemp(prefix="inferstack-kv-interop-")
MODEL = "interop-model"
BLOCK = 16
served = {"a": 0, "b": 0}
destinations = {"a": set(), "b": set()}  # x-gateway-destination-endpoint as each server saw it


def fake_vllm(name):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, body, content_type="application/json"):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/metrics":
                self.reply(200, f'vllm:num_requests_running{{model_name="{MODEL}"}} 0\n'
                                f'vllm:num_requests_waiting{{model_name="{MODEL}"}} 0\n'
                                f'vllm:kv_cache_usage_perc{{model_name="{MODEL}"}} 0.1\n',
                           "text/plain; version=0.0.4")
            else:
                self.reply(404, '{"error":{"message":"not found"}}')

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            served[name] += 1
            destinations[name].add(self.headers.get("x-gateway-destination-endpoint"))
            self.reply(200, json.dumps({
                "id": "cmpl-1", "object": "text_completion", "created": 1, "model": MODEL,
                "choices": [{"index": 0, "text": f"from {name}", "finish_reason": "length"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


ports = {name: fake_vllm(name) for name in ("a", "b")}
# The addresses the pods put in their topics, as a vLLM pod does with $(POD_IP):$(POD_PORT).
addresses = {"a": "10.1.0.1:8000", "b": "10.1.0.2:8000"}
kv_port = free_port()
with open(f"{workdir}/stack.yaml", "w") as f:
    docs = [f"""apiVersion: inferstack.io/v1alpha1
kind: InferenceGateway
metadata: {{name: gw}}
spec: {{defaultNamespace: kv, secretsDir: {workdir}/secrets}}""",
            """apiVersion: kaito.sh/v1alpha1
kind: APIKey
metadata: {name: key, namespace: kv}
spec: {authDisabled: true}"""]
    for name in ("a", "b"):
        docs.append(f"""apiVersion: inferstack.io/v1alpha1
kind: ModelServer
metadata: {{name: pod-{name}, namespace: kv, labels: {{app: interop}}}}
spec: {{url: "http://127.0.0.1:{ports[name]}", address: "{addresses[name]}"}}""")
    docs += ["""apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: interop, namespace: kv}
spec:
  selector: {matchLabels: {app: interop}}
  targetPorts: [{number: 8000}]
  endpointPickerRef: {name: interop-epp}""",
             f"""apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
metadata: {{name: interop-epp, namespace: kv}}
plugins:
- type: precise-prefix-cache-scorer
  parameters:
    tokenProcessorConfig: {{blockSize: {BLOCK}}}
    kvEventsConfig: {{zmqEndpoint: "tcp://127.0.0.1:{kv_port}", topicFilter: "kv@"}}
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - {{pluginRef: precise-prefix-cache-scorer, weight: 1}}
  - {{pluginRef: max-score-picker}}""",
             f"""apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: interop, namespace: kv}}
spec:
  rules:
  - matches: [{{headers: [{{name: X-Gateway-Model-Name, value: {MODEL}}}]}}]
    backendRefs: [{{name: interop}}]"""]
    f.write("\n---\n".join(docs) + "\n")

dev = Stack(f"{workdir}/stack.yaml", free_port())
url = dev.url

ctx = zmq.Context()
publishers = {}
for name in ("a", "b"):
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 100000)
    pub.connect(f"tcp://127.0.0.1:{kv_port}")  # vLLM connects when the endpoint has no '*'
    publishers[name] = pub
seqs = {"a": 0, "b": 0}


def publish(name, events, as_map=False):
    topic = f"kv@{addresses[name]}@{MODEL}".encode()
    if as_map:  # msgspec's omit_defaults leaves out data_parallel_rank=None
        batch = msgpack.packb({"ts": time.time(), "events": events}, use_bin_type=True)
    else:
        batch = msgpack.packb([time.time(), events, None], use_bin_type=True)
    publishers[name].send_multipart([topic, struct.pack(">Q", seqs[name]), batch])
    seqs[name] += 1


def block_stored(hashes, parent, tokens):
    # vLLM's array layout (llm-d-inference-sim's default): 9 slots.
    return ["BlockStored", hashes, parent, tokens, BLOCK, None, "GPU", None, None]


# The prompt pod B holds: 8 full blocks of token ids (the completions API takes token arrays,
# so the gateway keys exactly these tokens).
held = [1000 + i for i in range(8 * BLOCK)]
other = [5000 + i for i in range(8 * BLOCK)]
hashes_b = [0xB000 + i for i in range(8)]


def complete(tokens):
    status, headers, body = curl(url + "/v1/completions", {"model": MODEL, "prompt": tokens, "max_tokens": 1})
    return status, headers.get("x-inference-pod", ""), body


# PUB/SUB joins take a moment, and the picker must see the blocks before they can steer:
# announce until the held prompt goes to pod B ten times in a row (by chance: 1 in 1024),
# within a bound.
deadline = time.time() + 10
routed = []
while time.time() < deadline:
    publish("b", [block_stored(hashes_b, 0, held)])
    publish("a", [block_stored([0xA000], 0, [9000 + i for i in range(BLOCK)])])  # unrelated
    time.sleep(0.2)
    routed = [complete(held)[1] for _ in range(10)]
    if routed.count("kv/pod-b") == 10:
        break
c.check(routed.count("kv/pod-b") == 10, "a prompt whose blocks only pod B holds goes to pod B", str(routed))

before = dict(served)
picks = [complete(held)[1] for _ in range(20)]
c.check(picks.count("kv/pod-b") == 20, "... every time", str(picks))
c.check(served["b"] - before["b"] == 20 and served["a"] == before["a"], "pod B's server answered them",
        json.dumps(served))
# A prefix of the held prompt (4 of its 8 blocks) still matches pod B.
c.check(complete(held[:4 * BLOCK])[1] == "kv/pod-b", "a prompt sharing B's first blocks goes to B")

# Pod B evicts the blocks (BlockRemoved), pod A now announces them: routing follows.
publish("b", [["BlockRemoved", hashes_b, "GPU"]])
publish("a", [block_stored([0xA100 + i for i in range(8)], 0, held)])
deadline = time.time() + 5
while time.time() < deadline and [complete(held)[1] for _ in range(10)].count("kv/pod-a") < 10:
    time.sleep(0.1)
picks = [complete(held)[1] for _ in range(10)]
c.check(picks.count("kv/pod-a") == 10, "after B evicts and A stores them, the prompt goes to A", str(picks))

# A prompt nobody holds is not pinned: with no prefix score both pods tie and max-score-picker
# breaks ties at random.
picks = {complete(other + [i])[1] for i in range(30)}
c.check(picks == {"kv/pod-a", "kv/pod-b"}, "a prompt nobody holds goes to either pod", str(picks))

# The gateway names the endpoint it picked to the model server, as llm-d-router's EPP does.
c.check(destinations == {n: {f"127.0.0.1:{ports[n]}"} for n in ("a", "b")},
        "each model server is named to itself in x-gateway-destination-endpoint", str(destinations))

# vLLM's named-field encoding: A evicts and B stores the prompt again, every event a map with
# its fields by name and its tag under "type", the batch a map too. Routing follows to B.
publish("a", [{"type": "BlockRemoved", "block_hashes": [0xA100 + i for i in range(8)], "medium": "GPU"}],
        as_map=True)
publish("b", [{"type": "BlockStored", "block_hashes": [0xB100 + i for i in range(8)],
               "parent_block_hash": None, "token_ids": held, "block_size": BLOCK, "lora_id": None,
               "medium": "GPU", "lora_name": None}], as_map=True)
deadline = time.time() + 5
while time.time() < deadline and [complete(held)[1] for _ in range(10)].count("kv/pod-b") < 10:
    time.sleep(0.1)
picks = [complete(held)[1] for _ in range(10)]
c.check(picks.count("kv/pod-b") == 10, "map-encoded events: after A evicts and B stores, the prompt goes to B",
        str(picks))

metrics = dev.metrics()
c.check("inference_extension_prefix_indexer_size" in metrics,
        "prefix indexer metrics exported")
# llm-d-router v0.10's names beside the old ones (the old kept as aliases).
for name in ("llm_d_epp_prefix_indexer_size", "llm_d_epp_ready_endpoints", "inference_pool_ready_pods",
             "llm_d_epp_scheduler_e2e_duration_seconds_bucket", "llm_d_epp_request_total",
             "llm_d_epp_scheduler_attempts_total"):
    c.check(f"\n{name}" in metrics, f"/metrics has {name}")

for pub in publishers.values():
    pub.close(0)
ctx.term()
c.check(dev.stop() == 0, "graceful shutdown")
c.finish()
