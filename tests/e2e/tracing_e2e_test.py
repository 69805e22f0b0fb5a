"""Traces through the gateway: a client's W3C traceparent continued by the gateway's server
span, passed on (the gateway's span as parent) to a model server over HTTP, and the span sent
in OTLP/HTTP JSON to a collector -- here a receiver on 127.0.0.1 that parses every batch. And a
standalone pod's own HTTP front end (`inferstack run pod --otlp-endpoint`): a caller's sampled
traceparent and tracestate continued by its generate span."""

import json
import queue
import re
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import BINARY, STACK, Checks, Process, Stack, curl, free_port

c = Checks(f"tracing e2e ({STACK})")
workdir = tempfile.mkdtemp(prefix="inferstack-tracing-")
collector_posts = queue.Queue()  # (path, content type, parsed body)
upstream_requests = queue.Queue()  # headers the model server got, lower-case names


def answer(handler, status, body, content_type="application/json"):
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class Collector(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the exporter keeps its connection

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        collector_posts.put((self.path, self.headers.get("Content-Type"), parsed))
        answer(self, 200, b"{}")

    def log_message(self, *args):
        pass


class ModelServer(BaseHTTPRequestHandler):
    """Just enough of an OpenAI server: one fixed chat completion, and the headers it got."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        upstream_requests.put({k.lower(): v for k, v in self.headers.items()})
        answer(self, 200, json.dumps({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "trace-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}).encode())

    def do_GET(self):
        answer(self, 404, b"")

    def log_message(self, *args):
        pass


def serve(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


collector_port = serve(Collector)
model_port = serve(ModelServer)

with open(f"{workdir}/stack.yaml", "w") as f:
    f.write(f"""apiVersion: inferstack.io/v1alpha1
kind: InferenceGateway
metadata: {{name: gw}}
spec:
  listen: "127.0.0.1:0"
  defaultNamespace: traced
  secretsDir: {workdir}/secrets
  tracing: {{endpoint: "http://127.0.0.1:{collector_port}", samplingRatio: 1.0,
            serviceName: inferstack-e2e, maxDelay: 50ms}}
---
apiVersion: kaito.sh/v1alpha1
kind: APIKey
metadata: {{name: key, namespace: traced}}
spec: {{authDisabled: true}}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelServer
metadata: {{name: ext, namespace: traced, labels: {{app: ext}}}}
spec:
  url: http://127.0.0.1:{model_port}
  metrics: {{scrape: false}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {{name: ext, namespace: traced}}
spec:
  selector: {{matchLabels: {{app: ext}}}}
  targetPorts: [{{number: 8000}}]
  endpointPickerRef: {{name: ext-epp, failureMode: FailClose}}
---
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
metadata: {{name: ext-epp, namespace: traced}}
plugins:
- type: queue-scorer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - {{pluginRef: queue-scorer, weight: 1}}
  - {{pluginRef: max-score-picker}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: ext, namespace: traced}}
spec:
  rules:
  - matches: [{{headers: [{{name: X-Gateway-Model-Name, value: trace-model}}]}}]
    backendRefs: [{{name: ext}}]
""")

dev = Stack(f"{workdir}/stack.yaml", free_port())
url = dev.url + "/v1/chat/completions"
chat = {"model": "trace-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$")
spans = {}  # span id -> (span, resource attributes), all received so far


def send(headers):
    """One request; returns (status, the model server's traceparent, its tracestate)."""
    status, _, body = curl(url, chat, headers=headers)
    try:
        got = upstream_requests.get(timeout=5)
    except queue.Empty:
        got = {}
    return status, got.get("traceparent", ""), got.get("tracestate"), body


def wait_span(span_id, timeout=10):
    """The span of this id, once the collector has it (bounded wait)."""
    deadline = time.monotonic() + timeout
    while span_id not in spans and time.monotonic() < deadline:
        try:
            path, content_type, body = collector_posts.get(timeout=0.2)
        except queue.Empty:
            continue
        c.check(path == "/v1/traces" and content_type == "application/json" and body is not None,
                "the collector gets POST /v1/traces in JSON", f"{path} {content_type}")
        for rs in (body or {}).get("resourceSpans", []):
            resource = {a["key"]: a["value"] for a in rs["resource"]["attributes"]}
            for ss in rs["scopeSpans"]:
                c.check(ss["scope"]["name"] == "inferstack", "the scope is inferstack", str(ss["scope"]))
                for s in ss["spans"]:
                    spans[s["spanId"]] = (s, resource)
    return spans.get(span_id, (None, None))


def attrs(span):
    return {a["key"]: a["value"] for a in span.get("attributes", [])}


# -- a sampled caller: the gateway's span continues its trace ---------------------------------
client_trace, client_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
status, upstream_tp, upstream_ts, body = send({"traceparent": f"00-{client_trace}-{client_span}-01",
                                                "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"})
c.check(status == 200, "the request is answered", body[:200])
m = TRACEPARENT.match(upstream_tp)
c.check(m is not None, "the model server gets a traceparent", upstream_tp)
if m:
    c.check(m.group(1) == client_trace, "in the client's trace", upstream_tp)
    c.check(m.group(2) != client_span, "with the gateway's span as its parent", upstream_tp)
    c.check(m.group(3) == "01", "sampled", upstream_tp)
    c.check(upstream_ts == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "tracestate passed on unchanged",
            str(upstream_ts))
    span, resource = wait_span(m.group(2))
    c.check(span is not None, "the gateway's span reaches the collector", str(list(spans)))
    if span:
        a = attrs(span)
        c.check(span["traceId"] == client_trace and span.get("parentSpanId") == client_span,
                "the span's parent is the client's span", json.dumps(span)[:300])
        c.check(span["kind"] == 2 and span["name"] == "POST /v1/chat/completions",
                "a server span named by method and route", json.dumps(span)[:300])
        c.check(int(span["startTimeUnixNano"]) <= int(span["endTimeUnixNano"]) and
                abs(int(span["startTimeUnixNano"]) / 1e9 - time.time()) < 60,
                "start and end are unix nanoseconds", json.dumps(span)[:300])
        c.check(span.get("traceState") == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "the span keeps the tracestate")
        c.check(resource.get("service.name") == {"stringValue": "inferstack-e2e"}, "service.name from the config",
                str(resource))
        expected = {"http.request.method": {"stringValue": "POST"},
                    "http.route": {"stringValue": "/v1/chat/completions"},
                    "http.response.status_code": {"intValue": "200"},
                    "gen_ai.request.model": {"stringValue": "trace-model"},
                    "inferstack.namespace": {"stringValue": "traced"},
                    "inferstack.pool": {"stringValue": "traced/ext"},
                    "inferstack.pod": {"stringValue": "traced/ext"},
                    "inferstack.attempts": {"intValue": "1"},
                    "inferstack.outcome": {"stringValue": "ok"}}
        for key, value in expected.items():
            c.check(a.get(key) == value, f"attribute {key}", f"{a.get(key)} in {a}")

# -- no traceparent: a new trace, the gateway's span its root -----------------------------------
status, upstream_tp, upstream_ts, _ = send({})
m = TRACEPARENT.match(upstream_tp)
c.check(status == 200 and m is not None, "without a traceparent the model server still gets one", upstream_tp)
if m:
    c.check(m.group(1) != client_trace and m.group(3) == "01", "a new sampled trace", upstream_tp)
    c.check(upstream_ts is None, "no tracestate is made up", str(upstream_ts))
    span, _ = wait_span(m.group(2))
    c.check(span is not None and span["traceId"] == m.group(1) and "parentSpanId" not in span,
            "its span is a root", json.dumps(span)[:300])

# -- an invalid traceparent (upper-case hex) starts a new trace --------------------------------
status, upstream_tp, upstream_ts, _ = send({"traceparent": f"00-{client_trace.upper()}-{client_span}-01",
                                            "tracestate": "rojo=1"})
m = TRACEPARENT.match(upstream_tp)
c.check(m is not None and m.group(1) not in (client_trace, client_trace.upper()),
        "an invalid traceparent is replaced by a new trace", upstream_tp)
c.check(upstream_ts is None, "and its tracestate is dropped", str(upstream_ts))

# -- an unsampled caller: passed on unsampled, nothing exported ---------------------------------
quiet_trace = "0af7651916cd43dd8448eb211c80319c"
status, upstream_tp, _, _ = send({"traceparent": f"00-{quiet_trace}-b7ad6b7169203331-00"})
m = TRACEPARENT.match(upstream_tp)
c.check(m is not None and m.group(1) == quiet_trace and m.group(3) == "00",
        "an unsampled caller's trace goes on unsampled", upstream_tp)
# Spans leave in the order their requests ended: once a later request's span is in, an
# exported unsampled span would be too.
status, upstream_tp, _, _ = send({})
m = TRACEPARENT.match(upstream_tp)
if m:
    c.check(wait_span(m.group(2))[0] is not None, "the next request's span arrives")
c.check(not any(s["traceId"] == quiet_trace for s, _ in spans.values()), "no span of the unsampled trace")

# -- the exporter's counters --------------------------------------------------------------------
exported = 0
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    found = re.search(r"^inferstack_trace_spans_exported_total(?:\{\})? (\S+)$", dev.metrics(), re.M)
    exported = float(found.group(1)) if found else 0
    if exported >= 4:
        break
    time.sleep(0.2)
c.check(exported >= 4, "inferstack_trace_spans_exported_total counts the spans", str(exported))
c.check(re.search(r'^inferstack_trace_spans_dropped_total\{reason="queue_full"\} 0', dev.metrics(), re.M),
        "no span dropped")

dev.stop()

# -- a pod's own HTTP front end continues its caller's trace --------------------------------------
# No gateway in between: the caller's span is the generate span's parent, in the caller's trace,
# with its tracestate; an unsampled caller gets no span.
pod_port = free_port()
pod = Process([BINARY, "run", "pod", "--listen-address", "127.0.0.1", "--port", str(pod_port),
               "--log-level", "warn", "--model", "pod-model", "--output-length", "fixed:3",
               "--otlp-endpoint", f"http://127.0.0.1:{collector_port}",
               "--otlp-service-name", "pod-e2e"], ready="serving")
pod_url = f"http://127.0.0.1:{pod_port}/v1/chat/completions"
pod_trace, caller_span = "8cf92f3577b34da6a3ce929d0e0e4736", "20f067aa0ba902b7"
pod_chat = {"model": "pod-model", "messages": [{"role": "user", "content": "hi pod"}]}
status, _, body = curl(pod_url, pod_chat, headers={"traceparent": f"00-{pod_trace}-{caller_span}-01",
                                                   "tracestate": "rojo=00f067aa0ba902b7"})
c.check(status == 200, "the pod answers a traced request", body[:200])
quiet_pod_trace = "9af7651916cd43dd8448eb211c80319c"
status, _, _ = curl(pod_url, pod_chat, headers={"traceparent": f"00-{quiet_pod_trace}-{caller_span}-00"})
c.check(status == 200, "the pod answers an unsampled request")


def generate_of(trace, timeout=10):
    """The pod's generate span in `trace`, once the collector has it (bounded wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for s, resource in list(spans.values()):
            if s["traceId"] == trace and s["name"] == "generate":
                return s, resource
        wait_span("none", timeout=0.3)  # takes in what arrived meanwhile
    return None, None


gen, resource = generate_of(pod_trace)
c.check(gen is not None, "the pod's generate span reaches the collector",
        str([(s["name"], s["traceId"]) for s, _ in spans.values()][-5:]))
if gen:
    a = attrs(gen)
    c.check(gen.get("parentSpanId") == caller_span and gen["spanId"] != caller_span,
            "the generate span is the caller's span's child", json.dumps(gen)[:300])
    c.check(gen.get("traceState") == "rojo=00f067aa0ba902b7", "the generate span keeps the tracestate",
            json.dumps(gen)[:300])
    c.check(resource.get("service.name") == {"stringValue": "pod-e2e"}, "the pod's service.name",
            str(resource))
    c.check(a.get("gen_ai.request.model") == {"stringValue": "pod-model"} and
            a.get("inferstack.outcome") == {"stringValue": "ok"} and
            a.get("gen_ai.usage.output_tokens") == {"intValue": "3"},
            "the generate span's model, outcome and tokens", str(a))
# The sampled request's span went out first (the pod answered it first): an unsampled one would
# have arrived by now too.
wait_span("none", timeout=1.5)
c.check(not any(s["traceId"] == quiet_pod_trace for s, _ in spans.values()),
        "no span of the pod's unsampled caller")
pod.stop()
c.finish()
