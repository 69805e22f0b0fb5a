"""One request's trace across the stack: a client's sampled traceparent (and its tracestate,
which every hop's span keeps) is continued by the gateway's server span, which carries the
authorizer's and the router's decisions as events; the picker's "pick" span (its decision: pool,
pod, every candidate's scores) and the pod's "generate" span (queue, prefill and decode times,
tokens, finish reason) are children of the gateway's span -- across ZeroMQ on the multi-process
stack, where each process exports as its own service (<serviceName> for the gateway, -picker,
-pod); `inferstack dev` is one process, one service. The spans are received by an OTLP/HTTP
JSON collector on 127.0.0.1."""

import json
import queue
import re
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import LOCAL_PICKERS, STACK, Checks, Stack, curl, free_port

c = Checks(f"trace tree e2e ({STACK})")
workdir = tempfile.mkdtemp(prefix="inferstack-trace-tree-")
posts = queue.Queue()  # parsed bodies of POST /v1/traces


class Collector(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the exporters keep their connections

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            posts.put((self.path, json.loads(body)))
        except ValueError:
            posts.put((self.path, None))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
collector = server.server_address[1]
port = free_port()

with open(f"{workdir}/stack.yaml", "w") as f:
    f.write(f"""apiVersion: inferstack.io/v1alpha1
kind: InferenceGateway
metadata: {{name: gw}}
spec:
  listen: "127.0.0.1:{port}"
  defaultNamespace: traced
  secretsDir: {workdir}/secrets
  tracing: {{endpoint: "http://127.0.0.1:{collector}", samplingRatio: 1.0, serviceName: tree,
            maxDelay: 50ms}}
---
apiVersion: kaito.sh/v1alpha1
kind: APIKey
metadata: {{name: key, namespace: traced}}
spec: {{authDisabled: true}}
---
apiVersion: inferstack.io/v1alpha1
kind: NodePool
metadata: {{name: a100}}
spec: {{instanceType: Standard_NC24ads_A100_v4, count: 2}}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {{name: tree-model}}
spec:
  gpus: 1
  loadTime: 200ms
  engine: {{time-to-first-token: 20ms, inter-token-latency: 5ms}}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {{name: tree, namespace: traced}}
spec:
  replicas: 2
  labelSelector: {{matchLabels: {{app: tree}}}}
  template:
    metadata: {{labels: {{app: tree}}}}
    resource: {{instanceType: Standard_NC24ads_A100_v4}}
    inference: {{preset: {{name: tree-model}}}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {{name: tree, namespace: traced}}
spec:
  selector: {{matchLabels: {{app: tree}}}}
  targetPorts: [{{number: 8000}}]
  endpointPickerRef: {{name: tree-epp}}
---
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
metadata: {{name: tree-epp, namespace: traced}}
plugins:
- type: queue-scorer
- type: kv-cache-utilization-scorer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - {{pluginRef: queue-scorer, weight: 2}}
  - {{pluginRef: kv-cache-utilization-scorer, weight: 1}}
  - {{pluginRef: max-score-picker}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: tree, namespace: traced}}
spec:
  rules:
  - matches: [{{headers: [{{name: X-Gateway-Model-Name, value: tree-model}}]}}]
    backendRefs: [{{name: tree}}]
""")

stack = Stack(f"{workdir}/stack.yaml", port)
spans = []  # (span, service.name) as received


def drain(timeout):
    """Takes what the collector got within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            path, body = posts.get(timeout=0.1)
        except queue.Empty:
            continue
        c.check(path == "/v1/traces" and body is not None, "POST /v1/traces with a JSON body", path)
        for rs in (body or {}).get("resourceSpans", []):
            resource = {a["key"]: a["value"].get("stringValue") for a in rs["resource"]["attributes"]}
            for ss in rs["scopeSpans"]:
                for s in ss["spans"]:
                    spans.append((s, resource.get("service.name")))


def of_trace(trace):
    return [(s, svc) for s, svc in spans if s["traceId"] == trace]


def wait_tree(trace, timeout=20):
    """The gateway's span and its pick and generate children, once all are in (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        names = [s["name"] for s, _ in of_trace(trace)]
        if ("pick" in names and "generate" in names and any(n.startswith("POST ") for n in names)) \
                or time.monotonic() > deadline:
            return of_trace(trace)
        drain(0.3)


def attrs(span):
    out = {}
    for a in span.get("attributes", []):
        v = a["value"]
        out[a["key"]] = next(iter(v.values())) if v else None
    return out


client_trace, client_span = "5cf92f3577b34da6a3ce929d0e0e4736", "10f067aa0ba902b7"
chat = {"model": "tree-model", "messages": [{"role": "user", "content": "follow me"}], "max_tokens": 4}
client_state = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
status, headers, body = curl(stack.url + "/v1/chat/completions", chat,
                             headers={"traceparent": f"00-{client_trace}-{client_span}-01",
                                      "tracestate": client_state})
c.check(status == 200, "the traced request is answered", f"{status} {body[:200]}")
served_by = headers.get("x-inference-pod", "")
tree = wait_tree(client_trace)
by_name = {}
for s, svc in tree:
    by_name.setdefault(s["name"], []).append((s, svc))
gateway = by_name.get("POST /v1/chat/completions", [(None, None)])[0]
pick = by_name.get("pick", [(None, None)])[0]
generate = by_name.get("generate", [(None, None)])[0]
c.check(gateway[0] is not None and pick[0] is not None and generate[0] is not None,
        "the gateway's, the picker's and the pod's spans all arrive",
        str(sorted((s["name"], svc) for s, svc in tree)))
c.check(all(s["traceId"] == client_trace for s, _ in tree) and len(tree) == 3,
        "one span per hop, all in the client's trace", str([(s["name"], s["traceId"]) for s, _ in tree]))

if gateway[0] and pick[0] and generate[0]:
    g, p, gen = gateway[0], pick[0], generate[0]
    ga, pa, gena = attrs(g), attrs(p), attrs(gen)
    c.check(g.get("parentSpanId") == client_span, "the gateway's span is the client span's child",
            json.dumps(g)[:300])
    c.check(p.get("parentSpanId") == g["spanId"], "the pick span is the gateway span's child",
            f"{p.get('parentSpanId')} vs {g['spanId']}")
    c.check(gen.get("parentSpanId") == g["spanId"], "the generate span is the gateway span's child",
            f"{gen.get('parentSpanId')} vs {g['spanId']}")
    c.check(len({g["spanId"], p["spanId"], gen["spanId"], client_span}) == 4, "every hop has its own span id")
    # The client's tracestate goes with its trace to every hop (across ZeroMQ on multi).
    c.check([s.get("traceState") for s in (g, p, gen)] == [client_state] * 3,
            "every hop's span keeps the client's tracestate", str([s.get("traceState") for s in (g, p, gen)]))
    # Each process exports as its own service; dev is one process, and a gateway running the
    # pickers (--local-pickers) exports their spans as its own.
    want = {"gateway": "tree", "picker": "tree-picker", "pod": "tree-pod"} if STACK == "multi" else \
        {"gateway": "tree", "picker": "tree", "pod": "tree"}
    if LOCAL_PICKERS:
        want["picker"] = "tree"
    c.check((gateway[1], pick[1], generate[1]) == (want["gateway"], want["picker"], want["pod"]),
            "service.name per process", str((gateway[1], pick[1], generate[1])))

    # The gateway's span: the authorizer's and router's decisions as events.
    events = {e["name"]: attrs(e) for e in g.get("events", [])}
    c.check(events.get("authorize", {}).get("inferstack.outcome") == "auth_disabled",
            "the authorizer's verdict is an event", str(g.get("events")))
    c.check(events.get("route", {}).get("inferstack.outcome") == "routed" and
            events["route"].get("inferstack.pool") == "traced/tree",
            "the router's decision is an event", str(g.get("events")))
    c.check(ga.get("inferstack.pod") == served_by and served_by, "the gateway names the pod", str(ga))

    # The pick: its decision.
    c.check(pa.get("inferstack.pool") == "traced/tree" and pa.get("inferstack.pick.outcome") == "ok" and
            pa.get("inferstack.pod") == served_by and pa.get("gen_ai.request.model") == "tree-model",
            "the pick span names pool, model, outcome and the pod", str(pa))
    c.check(pa.get("inferstack.pick.profiles") == "default" and pa.get("inferstack.pick.candidates") == "2",
            "the pick span names its profile and candidates", str(pa))
    # Compact: "pod=total(score,score)" per candidate, the scores in the scorers' order.
    c.check(pa.get("inferstack.pick.scorers") == "queue-scorer*2 kv-cache-utilization-scorer*1",
            "the pick span lists the scorers with their weights", str(pa))
    cands = re.findall(r"(\S+)=([0-9.e+-]+)\(([^)]*)\)", pa.get("inferstack.pick.scores", ""))
    c.check(len(cands) == 2 and all(len(scores.split(",")) == 2 and
                                    abs(2 * float(scores.split(",")[0]) + float(scores.split(",")[1]) -
                                        float(total)) < 1e-9 for _, total, scores in cands) and
            served_by in [pod for pod, _, _ in cands],
            "every candidate's score per scorer, total = sum of weight x score", pa.get("inferstack.pick.scores"))

    # The generation: the pod's times and tokens.
    c.check(gena.get("inferstack.pod") == served_by and gena.get("inferstack.outcome") == "ok",
            "the generate span names the pod and its outcome", str(gena))
    c.check(int(gena.get("gen_ai.usage.input_tokens", 0)) > 0 and
            int(gena.get("gen_ai.usage.output_tokens", 0)) > 0 and
            "inferstack.usage.cached_tokens" in gena and gena.get("gen_ai.response.finish_reasons"),
            "prompt, cached and output tokens, finish reason", str(gena))
    c.check(all(k in gena for k in ("inferstack.queue_seconds", "inferstack.prefill_seconds",
                                    "inferstack.decode_seconds")) and
            gena["inferstack.prefill_seconds"] >= 0.015,
            "queue, prefill and decode times (the preset's 20 ms first token)", str(gena))
    # The children happen within the gateway's span (one machine's clock; a little slack).
    slack = 50_000_000
    start, end = int(g["startTimeUnixNano"]), int(g["endTimeUnixNano"])
    for name, s in (("pick", p), ("generate", gen)):
        c.check(start - slack <= int(s["startTimeUnixNano"]) <= int(s["endTimeUnixNano"]) <= end + slack,
                f"the {name} span lies within the gateway's", f"{s['startTimeUnixNano']}..{s['endTimeUnixNano']} "
                f"in {start}..{end}")

# -- an unsampled caller: no hop records anything ------------------------------------------------------
quiet = "6af7651916cd43dd8448eb211c80319c"
status, _, _ = curl(stack.url + "/v1/chat/completions", chat,
                    headers={"traceparent": f"00-{quiet}-b7ad6b7169203331-00"})
c.check(status == 200, "an unsampled request is answered")
# Spans leave in the order their requests ended: once a later traced request's tree is in, an
# exported span of the unsampled one would be too.
later = "7bf92f3577b34da6a3ce929d0e0e4736"
curl(stack.url + "/v1/chat/completions", chat, headers={"traceparent": f"00-{later}-{client_span}-01"})
c.check(len(wait_tree(later)) == 3, "the next traced request's tree arrives")
drain(1.5)  # every process's exporter sends at least once a second
c.check(of_trace(quiet) == [], "no hop records a span of the unsampled trace",
        str([(s["name"], svc) for s, svc in of_trace(quiet)]))

stack.stop()
server.shutdown()
c.finish()
