"""The live console end to end: the stack's admin listener (`inferstack dev`'s, or the control
process's in the multi-process stack) serves the page at /ui without a token, the snapshot at
/ui/snapshot and its stream at /ui/events only with one; the snapshot lists every pod of the
configuration and a request's pick with its scores (in the multi-process stack the control
process asks the picker processes over ZeroMQ; a stopped picker costs a snapshot a second at
most and is named in its errors), and `inferstack top --once` prints them.

Counts are printed: pods expected and seen, time to the first SSE event."""

import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request

from harness import BINARY, LOCAL_PICKERS, STACK, Checks, Stack, curl, free_port, sse_events

c = Checks(f"console e2e ({STACK})")
workdir = tempfile.mkdtemp(prefix="inferstack-console-")
port = free_port()

# Two sets in two namespaces (3 pods), the first autoscaled: what the page shows.
with open(f"{workdir}/stack.yaml", "w") as f:
    f.write(f"""apiVersion: inferstack.io/v1alpha1
kind: InferenceGateway
metadata: {{name: gw}}
spec: {{listen: "127.0.0.1:{port}", defaultNamespace: a, secretsDir: {workdir}/secrets}}
---
apiVersion: inferstack.io/v1alpha1
kind: NodePool
metadata: {{name: a100}}
spec: {{instanceType: Standard_NC24ads_A100_v4, count: 4}}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {{name: tiny}}
spec:
  gpus: 1
  loadTime: 1s
  engine: {{time-to-first-token: 10ms, inter-token-latency: 1ms}}
""")
    for ns, name, replicas in (("a", "alpha", 2), ("b", "beta", 1)):
        f.write(f"""---
apiVersion: kaito.sh/v1alpha1
kind: APIKey
metadata: {{name: key, namespace: {ns}}}
spec: {{}}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: {replicas}
  labelSelector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    resource: {{instanceType: Standard_NC24ads_A100_v4}}
    inference: {{preset: {{name: tiny}}}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {{name: {name}, namespace: {ns}}}
spec: {{selector: {{matchLabels: {{app: {name}}}}}, targetPorts: [{{number: 8000}}], endpointPickerRef: {{name: {name}-epp}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: {ns}}}
spec:
  rules:
  - matches: [{{headers: [{{name: X-Gateway-Model-Name, value: tiny}}]}}]
    backendRefs: [{{name: {name}}}]
""")
expected = {"a/alpha-0", "a/alpha-1", "b/beta-0"}

stack = Stack(f"{workdir}/stack.yaml", port)
try:
    admin = stack.control
    read_token_file = os.path.join(os.path.dirname(stack.admin_token_file), "read-token")
    with open(read_token_file) as f:
        read_token = {"Authorization": "Bearer " + f.read().strip()}

    status, headers, body = curl(admin + "/ui")
    c.check(status == 200, "GET /ui answers without a token", str(status))
    c.check(headers.get("content-type", "").startswith("text/html"), "the page is HTML",
            headers.get("content-type", ""))
    c.check("inferstack console" in body and "/ui/events" in body,
            "the page is the console, reading /ui/events")
    c.check("<script src" not in body and "<link" not in body and "http:" not in body and
            "https:" not in body, "the page loads nothing from elsewhere (works offline)")

    status, _, _ = curl(admin + "/ui/snapshot")
    c.check(status == 401, "the snapshot needs a token", str(status))
    status, _, _ = curl(admin + "/ui/events", timeout=3)
    c.check(status == 401, "the event stream needs a token", str(status))

    # The pods are Ready once the stack says ready; the snapshot lists each with its pool.
    snapshot = {}
    deadline = time.time() + 20
    while time.time() < deadline:
        status, _, body = curl(admin + "/ui/snapshot", headers=read_token)
        snapshot = json.loads(body) if status == 200 else {}
        # Ready, with figures: in the process from their metrics, else from their load reports
        ready = {p["name"] for p in snapshot.get("pods", [])
                 if p["phase"] == "Ready" and "waiting" in p}
        if ready == expected:
            break
        time.sleep(0.2)
    seen = {p["name"] for p in snapshot.get("pods", [])}
    print(f"pods: {len(expected)} expected, {len(seen)} in the snapshot")
    c.check(seen == expected, "the snapshot lists every pod", str(sorted(seen)))
    pools = {(ns["name"], pool["name"]): pool["pods"] for ns in snapshot.get("namespaces", [])
             for pool in ns["pools"]}
    c.check(sorted(pools.get(("a", "alpha"), [])) == ["a/alpha-0", "a/alpha-1"],
            "pool a/alpha holds its two pods", str(pools))
    c.check(pools.get(("b", "beta")) == ["b/beta-0"], "pool b/beta holds its pod", str(pools))
    sets = {(s["namespace"], s["name"]): s for s in snapshot.get("inferencesets", [])}
    c.check(sets.get(("a", "alpha"), {}).get("desired") == 2 and
            sets.get(("b", "beta"), {}).get("ready") == 1, "the sets' replicas", str(sets))
    c.check(len(snapshot.get("nodes", [])) == 4, "the four nodes",
            str(len(snapshot.get("nodes", []))))
    c.check(all(p.get("waiting") == 0 and p.get("running") == 0 and "kv_usage" in p
                for p in snapshot["pods"]), "each pod's queue, running and KV usage",
            str(snapshot["pods"]))
    # A request's pick shows with each candidate's scores (the pickers run in the process in
    # dev; in the multi-process stack the control process asks the picker processes, or the
    # gateway that runs them, --local-pickers).
    key = open(f"{workdir}/secrets/a/llm-api-key").read().strip()
    status, _, _ = curl(stack.url + "/v1/chat/completions", headers={
        "Authorization": "Bearer " + key, "Host": "a.gw.example.com"}, body={
        "model": "tiny", "max_tokens": 4,
        "messages": [{"role": "user", "content": "hello"}]})
    c.check(status == 200, "a request through the gateway", str(status))
    status, _, body = curl(admin + "/ui/snapshot", headers=read_token)
    snapshot = json.loads(body) if status == 200 else {}
    picks = snapshot.get("picks", [])
    c.check(len(picks) == 1 and picks[0]["pool"] == "a/alpha" and
            picks[0]["pod"] in ("a/alpha-0", "a/alpha-1") and
            len(picks[0]["profiles"][0]["candidates"]) == 2,
            "the snapshot shows the pick with both candidates' scores", body[:600])
    c.check(snapshot.get("errors") == [], "every part of the snapshot answered",
            str(snapshot.get("errors")))
    if STACK == "multi" and not LOCAL_PICKERS:
        # A silent picker (stopped) does not stall the console: the snapshot comes within its
        # one-second wait, with the other picker's picks, and names the silent one.
        pickers = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if re.search(rf"run picker -f {re.escape(workdir)}/stack.yaml --pool b/beta ", cmd):
                pickers.append(int(pid))
        c.check(len(pickers) == 1, "found the picker process of b/beta", str(pickers))
        if len(pickers) == 1:
            os.kill(pickers[0], signal.SIGSTOP)
            try:
                started = time.time()
                status, _, body = curl(admin + "/ui/snapshot", headers=read_token, timeout=10)
                took = time.time() - started
            finally:
                os.kill(pickers[0], signal.SIGCONT)
            snapshot = json.loads(body) if status == 200 else {}
            print(f"snapshot with a stopped picker: {took * 1000:.0f} ms")
            c.check(status == 200 and took < 3, "a stopped picker delays the snapshot by its "
                    "wait only", f"{status} after {took:.1f} s")
            c.check([p["pool"] for p in snapshot.get("picks", [])] == ["a/alpha"],
                    "the other picker's picks still show", body[:300])
            c.check(any(e.startswith("picker b/beta:") for e in snapshot.get("errors", [])),
                    "the stopped picker is named in the snapshot's errors",
                    str(snapshot.get("errors")))

    # The stream: its first event comes at once, the next a second later.
    started = time.time()
    req = urllib.request.Request(admin + "/ui/events", headers=read_token)
    events = []
    with urllib.request.urlopen(req, timeout=10) as res:
        c.check(res.headers.get("content-type", "").startswith("text/event-stream"),
                "/ui/events is an event stream", res.headers.get("content-type", ""))
        block = ""
        while len(events) < 2 and time.time() - started < 10:
            line = res.readline().decode()
            if not line:
                break
            if line == "\n":
                events += sse_events(block + "\n")
                block = ""
                if len(events) == 1:
                    first_after = time.time() - started
            else:
                block += line
    print(f"first SSE event after {first_after * 1000:.0f} ms" if events else "no SSE event")
    c.check(len(events) == 2, "two snapshot events within 10 s", str(len(events)))
    c.check(events and {p["name"] for p in json.loads(events[0])["pods"]} == expected,
            "an event is the snapshot")
    c.check(events and first_after < 2, "the first event arrives at once")

    # inferstack top: one table and exit.
    out = subprocess.run([BINARY, "top", "--url", admin, "--token-file", read_token_file,
                          "--once"], capture_output=True, text=True, timeout=20)
    c.check(out.returncode == 0, "inferstack top --once exits 0", out.stderr)
    rows = out.stdout.splitlines()
    c.check(rows and rows[0].split()[:4] == ["NAMESPACE", "POOL", "POD", "STATUS"],
            "top's table has its header", out.stdout[:200])
    for name in sorted(expected):
        short = name.split("/", 1)[1]
        c.check(any(short in r.split() and "Ready" in r.split() for r in rows),
                f"top lists {name} as Ready", out.stdout)
    # Live, it redraws every second until a signal (main blocks them in every thread: the
    # loop takes them, else Ctrl-C would not end it).
    live = subprocess.Popen([BINARY, "top", "--url", admin, "--token-file", read_token_file],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    # Read as it draws (a loaded machine may start it late): two screens, at most 10 s.
    drawn = []
    reader = threading.Thread(target=lambda: drawn.extend(live.stdout), daemon=True)
    reader.start()
    started = time.time()
    while time.time() < started + 10 and \
            sum(line.count("NAMESPACE   POOL") for line in list(drawn)) < 2:
        time.sleep(0.1)
    waited = time.time() - started
    live.send_signal(signal.SIGINT)
    try:
        live.wait(timeout=5)
        reader.join(timeout=2)
        screens = sum(line.count("NAMESPACE   POOL") for line in drawn)
        c.check(live.returncode == 0, "inferstack top ends on Ctrl-C", str(live.returncode))
        c.check(screens >= 2, "inferstack top redraws every second",
                f"{screens} screens in {waited:.1f} s")
    except subprocess.TimeoutExpired:
        live.kill()
        live.wait()
        c.check(False, "inferstack top ends on Ctrl-C", "still running 5 s after SIGINT")
    out = subprocess.run([BINARY, "top", "--url", admin, "--token-file", "/dev/null", "--once"],
                         capture_output=True, text=True, timeout=20)
    c.check(out.returncode == 1 and "401" in out.stderr, "top without a token is refused",
            out.stderr)
finally:
    stack.stop()
c.finish()
