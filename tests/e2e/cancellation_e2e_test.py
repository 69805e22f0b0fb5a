"""Cancellation end to end, on `inferstack dev` and on the multi-process stack: clients that hang
up -- mid-stream, or before reading a byte (streamed or not) -- leave no work behind. The
simulated pods of team-b's pool (config/dev.yaml) drop the requests (vllm:num_requests_running
and _waiting back to 0, vllm:kv_cache_usage_perc back to idle, each counted in
vllm:request_success_total with finish_reason abort); the picker's in-flight counts go back to
0 (its active-request-scorer scores every pod idle again); and a model server reached over HTTP
(a fake vLLM here, which writes a token every 100 ms) sees every connection closed before it
finished."""

import json
import os
import select
import socket
import tempfile
import threading
import time
import http.server

from harness import SOURCE_DIR, STACK, Checks, Stack, curl, free_port

c = Checks(f"cancellation e2e ({STACK})")
workdir = tempfile.mkdtemp(prefix="inferstack-cancellation-")
MODEL = "qwen2.5-32b-instruct"
FAKE = "fake-model"
N = 4  # clients of each kind

# -- a fake vLLM that records whether each request's connection closed before it finished ---------
outcomes = []  # "closed" or "finished", one per generation request
started = []  # whether each was streamed, as it arrived
outcomes_lock = threading.Lock()


class FakeVllm(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = (f'vllm:num_requests_running{{model_name="{FAKE}"}} 0\n'
                f'vllm:num_requests_waiting{{model_name="{FAKE}"}} 0\n'
                f'vllm:kv_cache_usage_perc{{model_name="{FAKE}"}} 0\n').encode()
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass  # a scrape given up

    def record(self, what):
        with outcomes_lock:
            outcomes.append(what)

    def closed(self, wait):
        """True when the gateway closed the connection within `wait` seconds."""
        ready, _, _ = select.select([self.connection], [], [], wait)
        if not ready:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with outcomes_lock:
            started.append(req.get("stream", False))
        tokens = min(100, req.get("max_tokens", 100))  # 10 s: far longer than any client waits
        if not req.get("stream"):
            for _ in range(tokens):
                if self.closed(0.1):
                    return self.record("closed")
            body = json.dumps({"id": "x", "object": "chat.completion", "model": FAKE,
                               "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"},
                                            "finish_reason": "length"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return self.record("finished")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(tokens):
            if self.closed(0.1):
                return self.record("closed")
            event = f'data: {{"choices":[{{"index":0,"delta":{{"content":"t{i} "}}}}]}}\n\n'.encode()
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            except OSError:
                return self.record("closed")
        self.wfile.write(b"0\r\n\r\n")
        self.record("finished")


class FakeServer(http.server.ThreadingHTTPServer):
    request_queue_size = 64  # the listen backlog: 5 by default, fewer than the clients at once


fake = FakeServer(("127.0.0.1", 0), FakeVllm)
fake.daemon_threads = True
threading.Thread(target=fake.serve_forever, daemon=True).start()
fake_port = fake.server_address[1]

# -- the stack: dev.yaml, team-b's pool with the active-request scorer, the fake as a ModelServer ---
epp = """plugins:
- type: active-request-scorer
- type: queue-scorer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - {pluginRef: active-request-scorer, weight: 1}
  - {pluginRef: queue-scorer, weight: 1}
  - {pluginRef: max-score-picker}"""
with open(os.path.join(SOURCE_DIR, "config", "dev.yaml")) as f:
    text = "\n---\n".join(d for d in f.read().split("\n---\n")
                       if not ("kind: EndpointPickerConfig" in d and "\n  name: qwen2-5-32b-epp\n" in d))
text += f"""
---
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
metadata: {{name: qwen2-5-32b-epp, namespace: team-b}}
{epp}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelServer
metadata: {{name: fake-vllm, namespace: team-b, labels: {{app: fake-vllm}}}}
spec:
  url: http://127.0.0.1:{fake_port}
  address: 127.0.0.1:{fake_port}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {{name: fake, namespace: team-b}}
spec:
  selector: {{matchLabels: {{app: fake-vllm}}}}
  targetPorts: [{{number: 8000}}]
  endpointPickerRef: {{name: fake-epp, failureMode: FailClose}}
---
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
metadata: {{name: fake-epp, namespace: team-b}}
{epp}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: fake, namespace: team-b}}
spec:
  parentRefs: [{{name: gateway}}]
  rules:
  - matches: [{{headers: [{{type: Exact, name: X-Gateway-Model-Name, value: {FAKE}}}]}}]
    backendRefs: [{{group: inference.networking.k8s.io, kind: InferencePool, name: fake}}]
"""
config = os.path.join(workdir, "stack.yaml")
with open(config, "w") as f:
    f.write(text)

port = free_port()
stack = Stack(config, port, env={"INFERSTACK_SET": f"InferenceGateway:spec.secretsDir={workdir}/secrets"})
url = stack.url
key_b = open(f"{workdir}/secrets/team-b/llm-api-key").read().strip()
HOST = "team-b.gw.example.com"
B = {"Host": HOST, "Authorization": f"Bearer {key_b}"}


def pod_metrics():
    """team-b's pods' own /metrics: /pods/<ns>/<name>/metrics on the admin listener (dev); the
    pod processes' HTTP ports on the multi-process stack (5 ports each from its base + 100)."""
    if STACK == "multi":
        base = int(stack.control.rsplit(":", 1)[1]) - 2
        texts = []
        for pod_port in range(base + 100, base + 200, 5):
            try:
                status, _, text = curl(f"http://127.0.0.1:{pod_port}/metrics", timeout=2)
            except Exception:
                continue
            if status == 200 and f'model_name="{MODEL}"' in text:
                texts.append(text)
        return "\n".join(texts)
    status, _, names = curl(stack.control + "/pods", headers=stack.admin_headers())
    texts = []
    for name in (names.split() if status == 200 else []):
        if "qwen2-5-32b" in name:
            path = name if "/" in name else "team-b/" + name
            status, _, text = curl(f"{stack.control}/pods/{path}/metrics", headers=stack.admin_headers())
            if status == 200:
                texts.append(text)
    return "\n".join(texts) or stack.metrics()


def metric(name, text=None, **labels):
    total, found = 0.0, False
    for line in (stack.metrics() if text is None else text).splitlines():
        if line.startswith((name + "{", name + " ")) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    return total if found else None


def body_of(model, stream, tokens=2000):
    return {"model": model, "messages": [{"role": "user", "content": "Talk for a long time. " * 40}],
            "max_tokens": tokens, "ignore_eos": True, "stream": stream}


def hang_up(model, stream, after_first_token):
    """One client: sends its request, then closes the connection -- once the first bytes of the
    body came (mid-stream), or after a second without reading a byte (streamed or not)."""
    payload = json.dumps(body_of(model, stream)).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: {HOST}\r\n"
               f"Authorization: Bearer {key_b}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload)
    got = b""
    if after_first_token:
        while b"data: " not in got:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    else:
        time.sleep(1.0)
    s.close()
    return got


def wait_until(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def pod_gauges():
    text = pod_metrics()
    return {name: metric(name, text, model_name=MODEL) for name in
            ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc")}


def active_scores(model):
    """The active-request-scorer's score of every candidate of a debug pick (1: no request
    in flight from this picker)."""
    status, headers, body = curl(url + "/v1/chat/completions", body_of(model, False, 1),
                                 headers={**B, "x-inferstack-debug-pick": "true"}, timeout=30)
    decision = json.loads(headers.get("x-inferstack-pick-decision", "{}"))
    return status, [cand["scores"].get("active-request-scorer")
                    for p in decision.get("profiles", []) for cand in p.get("candidates", [])]


# A served request first: the pods and the fake are reachable; the idle values.
status, _, body = curl(url + "/v1/chat/completions", body_of(MODEL, False, 4), headers=B, timeout=30)
c.check(status == 200, "team-b's pods serve", f"{status} {body[:200]}")
idle = pod_gauges()
c.check(idle["vllm:num_requests_running"] == 0 and idle["vllm:kv_cache_usage_perc"] == 0,
        "the pods are idle before", str(idle))
aborted_before = metric("vllm:request_success_total", pod_metrics(), model_name=MODEL, finish_reason="abort") or 0

# -- simulated pods: N hang up mid-stream, N before the first token (streamed and not) -------------
threads = []
firsts = []
for i in range(N):
    threads.append(threading.Thread(target=lambda: firsts.append(hang_up(MODEL, True, True))))
    threads.append(threading.Thread(target=lambda i=i: hang_up(MODEL, i % 2 == 0, False)))
for t in threads:
    t.start()
busy = []  # the pods' gauges while the clients are there
while any(t.is_alive() for t in threads):
    g = pod_gauges()
    busy.append((g["vllm:num_requests_running"] or 0) + (g["vllm:num_requests_waiting"] or 0))
    time.sleep(0.1)
for t in threads:
    t.join()
c.check(len(firsts) == N and all(b"data: " in f for f in firsts), "the mid-stream clients got a first token",
        str([f[-80:] for f in firsts]))
c.check(max(busy, default=0) > 0, "the pods were working on them", str(busy))
c.check(wait_until(lambda: pod_gauges() == idle, 5),
        "the pods' running, waiting and KV cache usage go back to idle", f"{pod_gauges()} (idle {idle})")
aborted = (metric("vllm:request_success_total", pod_metrics(), model_name=MODEL,
                  finish_reason="abort") or 0) - aborted_before
c.check(aborted == 2 * N, "every hung-up request is counted finished with reason abort", f"{aborted}")
status, scores = active_scores(MODEL)
c.check(status == 200 and scores and all(s == 1 for s in scores),
        "the picker has no request in flight on any pod (active-request-scorer 1 for each)", f"{status} {scores}")

# -- a model server over HTTP: the upstream connection is closed -----------------------------------
threads = []
fake_firsts = []
for i in range(N):
    threads.append(threading.Thread(target=lambda: fake_firsts.append(hang_up(FAKE, True, True))))
    threads.append(threading.Thread(target=lambda i=i: hang_up(FAKE, i % 2 == 0, False)))
for t in threads:
    t.start()
for t in threads:
    t.join()
c.check(wait_until(lambda: len(outcomes) == 2 * N, 5) and outcomes.count("closed") == 2 * N,
        "the model server saw every connection closed before it finished",
        f"{outcomes} of {started}; mid-stream clients got {[f[:60] for f in fake_firsts]}")
status, scores = active_scores(FAKE)  # (this one finishes: 1 token -- 10 s at the fake's pace)
c.check(status == 200 and scores == [1], "the picker has no request in flight on it", f"{status} {scores}")
c.check(metric("inferstack_gateway_in_flight_requests") == 0, "nothing is in flight in the gateway",
        str(metric("inferstack_gateway_in_flight_requests")))

stack.stop()
fake.shutdown()
c.finish()
