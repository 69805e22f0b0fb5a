"""Active-active picker replicas on the multi-process stack (tools/stack-up): a pool whose
InferencePool asks for three picker replicas (inferstack.io/picker-replicas: "3") gets three
picker processes; the gateway spreads its picks over them. The replicas share state (gossip):

0. requests one at a time sharing a long prompt prefix: the replicas other than the one that
   made the prefix's first pick give its pod a prefix-cache-scorer score on their own first pick
   of it (GET /debug/picks), and every replica sends and applies batches
   (inferstack_picker_replication{stat=...} on its /metrics; staleness printed).

Under steady non-streamed load:

1. SIGKILL one replica -- no request fails (the pool is FailClose: a pick that found no
   replica would be a 503), the picks it would have taken go to the other two within 250 ms;
2. the killed replica starts again (same command line) -- it takes picks again once it has
   caught up (its pool told by the control process), no request fails meanwhile; its /readyz
   says 200 only once it applied a peer's snapshot and both pods replayed their KV events to it
   (each asked at start, busy or idle), and its first pick of the shared prefix
   (only neutral prompts sent since the restart) scores the prefix pod;
3. SIGSTOP one replica (silent, not dead) for 3 s, then SIGCONT -- no request fails, and it
   takes picks again once it answers.

Prints the figures: requests sent and failed, the slowest request around the fault against
the slowest before it, and how long after the fault the last delayed request ended."""

import http.client
import json
import os
import re
import signal
import tempfile
import threading
import time

os.environ["INFERSTACK_E2E_STACK"] = "multi"

from harness import (Checks, Process, Stack, curl, free_port, pick_decisions,  # noqa: E402
                     prefix_score, replication_stats)

c = Checks("picker replicas (multi-process)")
workdir = tempfile.mkdtemp(prefix="inferstack-replicas-")
POOL = "rr/rep"
DELAYED = 0.05  # seconds over the slowest request before the fault: "delayed by the fault"

with open(f"{workdir}/stack.yaml", "w") as f:
    f.write(f"""apiVersion: inferstack.io/v1alpha1
kind: InferenceGateway
metadata: {{name: gw}}
spec: {{defaultNamespace: rr, secretsDir: {workdir}/secrets}}
---
apiVersion: kaito.sh/v1alpha1
kind: APIKey
metadata: {{name: key, namespace: rr}}
spec: {{authDisabled: true}}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {{name: rep-model}}
spec: {{gpus: 1, loadTime: 1s, engine: {{max-num-seqs: "64", time-to-first-token: 2ms, inter-token-latency: 1ms}}}}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata: {{name: rep, namespace: rr}}
spec:
  replicas: 2
  labelSelector: {{matchLabels: {{app: rep}}}}
  template:
    metadata: {{labels: {{app: rep}}}}
    resource: {{instanceType: Standard_NC24ads_A100_v4}}
    inference: {{preset: {{name: rep-model}}}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata:
  name: rep
  namespace: rr
  annotations: {{inferstack.io/picker-replicas: "3"}}
spec:
  selector: {{matchLabels: {{app: rep}}}}
  targetPorts: [{{number: 8000}}]
  endpointPickerRef: {{name: rep-epp, failureMode: FailClose}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: rep, namespace: rr}}
spec:
  rules:
  - matches: [{{headers: [{{name: X-Gateway-Model-Name, value: rep-model}}]}}]
    backendRefs: [{{name: rep}}]
""")

stack = Stack(f"{workdir}/stack.yaml", free_port(), log_level="warn", ready_timeout=60)
url = stack.url
port = int(url.rsplit(":", 1)[1])


def replicas():
    """replica index -> (pid, command line, admin URL) of this stack's picker processes."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = [x.decode() for x in open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0") if x]
        except OSError:
            continue
        line = " ".join(cmd)
        m = re.search(rf"run picker -f {re.escape(workdir)}/\S* --pool {POOL} --replica (\d+) ", line)
        if m and cmd[0].endswith("inferstack"):
            http = cmd[cmd.index("--http") + 1]
            out[int(m.group(1))] = (int(pid), cmd, f"http://{http}")
    return out


def picks(admin):
    """Picks a replica has made (its scheduler's attempts), or None when it does not answer."""
    status, _, body = curl(admin + "/metrics", timeout=2)
    if status != 200:
        return None
    return sum(float(v) for v in re.findall(
        r"^inference_extension_scheduler_attempts_total\{[^}]*\} (\S+)$", body, re.M))



def kv_replays(admin):
    """Replays a replica's KV subscriber had answered by pods (inferstack_picker_kv_replays)."""
    status, _, body = curl(admin + "/metrics", timeout=2)
    m = re.search(r"^inferstack_picker_kv_replays\{[^}]*\} (\S+)$", body, re.M) if status == 200 else None
    return float(m.group(1)) if m else None


def admin_token():
    return open(stack.admin_token_file).read().strip()


def send_prefixed(tag, prefix, n, gap=0.1):
    """n sequential requests sharing `prefix` (one at a time: the gateway's picks go round the
    replicas in turn), request ids tag-0..tag-(n-1); returns how many got a 200."""
    ok = 0
    for i in range(n):
        status, _, _ = curl(url + "/v1/completions",
                            {"model": "rep-model", "prompt": prefix + f" question {i}", "max_tokens": 2},
                            headers={"x-request-id": f"{tag}-{i}"})
        ok += status == 200
        time.sleep(gap)  # more than the 20 ms gossip interval
    return ok


SHARED = " ".join(f"system rule {i}: answer briefly and cite the handbook section {i * 7}." for i in range(60))

class Load:
    """Clients sending non-streamed completions back to back, every outcome timed."""

    def __init__(self, clients=6):
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.results = []  # (start, end, ok, detail)
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def _run(self):
        body = json.dumps({"model": "rep-model", "prompt": "hello replicas", "max_tokens": 2})
        conn = None
        while not self.stop.is_set():
            start = time.time()
            ok, detail = False, ""
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
                conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                text = resp.read().decode(errors="replace")
                ok = resp.status == 200
                detail = f"{resp.status} {text[:160]}"
            except Exception as e:  # a dropped connection is a failed request too
                detail = repr(e)
                conn = None
            with self.lock:
                self.results.append((start, time.time(), ok, detail))

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        return self.results


def figures(results, fault_at, name, extra=None):
    before = [r for r in results if r[1] < fault_at]
    after = [r for r in results if r[1] >= fault_at]
    base_max = max((e - s for s, e, _, _ in before), default=0.0)
    lat = sorted(e - s for s, e, _, _ in before)
    base_p50 = lat[len(lat) // 2] if lat else 0.0
    around = [r for r in after if r[0] <= fault_at + 1.0]
    worst = max((e - s for s, e, _, _ in around), default=0.0)
    delayed = [r for r in after if r[1] - r[0] > base_max + DELAYED]
    last_delayed = max((e - fault_at for _, e, _, _ in delayed), default=0.0)
    failed = [r for r in results if not r[2]]
    out = {"scenario": name, "sent": len(results), "failed": len(failed),
           "p50_before_ms": round(base_p50 * 1000, 1), "max_before_ms": round(base_max * 1000, 1),
           "max_within_1s_after_ms": round(worst * 1000, 1), "delayed": len(delayed),
           "last_delayed_ended_after_fault_ms": round(last_delayed * 1000, 1), **(extra or {})}
    print("picker replicas figures: " + json.dumps(out), flush=True)
    for r in failed[:5]:
        print("  failed:", r[3], flush=True)
    return out


# -- three replicas, each taking picks ---------------------------------------------------------------------
procs = replicas()
c.check(sorted(procs) == [0, 1, 2], "three picker processes serve the pool", str(sorted(procs)))

# -- 0. shared state: a decision one replica made scores on the others ------------------------------------
# Requests one at a time sharing a long prompt prefix: the first pick (replica A, pod P) enters A's
# approximate prefix index; A gossips it (every 20 ms) and the other replicas' prefix scorer gives P
# a score on their own first pick of that prefix. Without gossip they would score 0 (the control:
# a prefix's very first pick scores 0 on every pod).
c.check(send_prefixed("gossip", SHARED, 6) == 6, "the shared-prefix requests succeed")
seen = {i: pick_decisions(p[2], admin_token(), "gossip-") for i, p in procs.items()}
ordered = sorted(((d["seq"], d.get("unix_ms", 0), i, d) for i, ds in seen.items() for d in ds),
                 key=lambda x: (int(x[3]["request_id"].rsplit("-", 1)[1])))
first = ordered[0] if ordered else None
prefix_pod = first[3]["pod"] if first else ""
c.check(first is not None and all((prefix_score(first[3], cand["pod"]) or 0) == 0
                                  for prof in first[3].get("profiles", []) for cand in prof.get("candidates", [])),
        "control: the prefix's first pick scores 0 on the prefix scorer", json.dumps(first[3] if first else None)[:600])
others_first = {}
for _, _, i, d in ordered:
    if first and i != first[2] and i not in others_first:
        others_first[i] = prefix_score(d, prefix_pod)
gossip_figures = {"first_replica": first[2] if first else None, "prefix_pod": prefix_pod,
                  "other_replicas_first_prefix_score": others_first}
gossip_figures["replication"] = {i: replication_stats(p[2]) for i, p in procs.items()}
print("picker replicas gossip: " + json.dumps(gossip_figures), flush=True)
c.check(all(r.get("batches_sent", 0) > 0 and r.get("batches_applied", 0) > 0
            for r in gossip_figures["replication"].values()),
        "every replica sends and applies gossip batches (metrics)", json.dumps(gossip_figures["replication"]))
c.check(first is not None and all(r.get("decisions_applied", 0) > 0 for i, r in gossip_figures["replication"].items()
                                  if i != first[2]),
        "the other replicas applied the first replica's decisions (metrics)", json.dumps(gossip_figures["replication"]))
c.check(len(others_first) == 2 and all((v or 0) > 0 for v in others_first.values()),
        "the other two replicas score the prefix pod on their first pick of the prefix (gossip)",
        json.dumps(gossip_figures))
warm = Load()
time.sleep(2)
counts = {i: picks(p[2]) for i, p in procs.items()}
warm_results = warm.finish()
c.check(len(warm_results) > 0 and all(r[2] for r in warm_results),
        "every request succeeds with three replicas", str(next((r[3] for r in warm_results if not r[2]), "")))
c.check(all((v or 0) > 0 for v in counts.values()), "the gateway spreads picks over all three replicas",
        json.dumps(counts))

# -- 1. SIGKILL one replica under load ---------------------------------------------------------------------
victim = 1
load = Load()
time.sleep(2)
before_kill = {i: picks(p[2]) for i, p in procs.items() if i != victim}
killed_at = time.time()
os.kill(procs[victim][0], signal.SIGKILL)
time.sleep(3)
after_kill = {i: picks(p[2]) for i, p in procs.items() if i != victim}
results = load.finish()
kill = figures(results, killed_at, "SIGKILL one of three replicas")
c.check(kill["sent"] > 100, "steady load during the kill", str(kill["sent"]))
c.check(kill["failed"] == 0, "no request fails when a replica is killed (FailClose pool)", json.dumps(kill))
c.check(kill["last_delayed_ended_after_fault_ms"] < 250 + kill["max_before_ms"] + DELAYED * 1000,
        "picks fail over to the other replicas within 250 ms of the kill", json.dumps(kill))
c.check(all(after_kill[i] > before_kill[i] for i in after_kill),
        "both remaining replicas keep taking picks", f"{before_kill} -> {after_kill}")

# -- 2. the killed replica comes back ----------------------------------------------------------------------
load = Load()
time.sleep(0.5)
restarted_at = time.time()
back = Process(procs[victim][1], ready="ready", timeout=20)
ready_after = time.time() - restarted_at
admin = re.search(r"admin: (http://\S+?);", back.wait_for("ready", 1) or "")
readyz_after = None  # when its /readyz said 200: it has a peer's snapshot
while admin and time.time() < restarted_at + 15:
    if curl(admin.group(1) + "/readyz", timeout=2)[0] == 200:
        readyz_after = time.time() - restarted_at
        break
    time.sleep(0.02)
joined = replication_stats(admin.group(1)) if admin else {}
replayed_at_ready = kv_replays(admin.group(1)) if admin else None
c.check(readyz_after is not None and joined.get("snapshots_applied", 0) >= 1 and joined.get("caught_up") == 1,
        "the restarted replica is ready once it applied a peer's snapshot", json.dumps(joined))
c.check(replayed_at_ready is not None and replayed_at_ready >= 2,
        "the restarted replica is ready once both pods replayed their KV events to it (asked at start)",
        f"replays answered when ready: {replayed_at_ready}")
deadline = time.time() + 10
taken = 0
while time.time() < deadline and taken < 5:
    taken = (picks(admin.group(1)) or 0) if admin else 0
    time.sleep(0.2)
rejoined_after = time.time() - restarted_at
results = load.finish()
rejoin = figures(results, restarted_at, "a killed replica starts again",
                 {"ready_after_s": round(ready_after, 2), "readyz_200_after_s": round(readyz_after or -1, 3), "taking_picks_after_s": round(rejoined_after, 2)})
c.check(taken >= 5, "the restarted replica takes picks again", f"picks={taken}")
c.check(rejoin["failed"] == 0, "no request fails while the replica rejoins", json.dumps(rejoin))

# The restarted replica lost its memory; it became ready only after a peer's snapshot, so its
# first pick of the shared prefix already scores the prefix pod. Only neutral prompts were sent
# since the restart (a batch can't have told it the prefix): find its turn with neutral probes
# (ties go round the replicas in turn), then send the prefix when its turn comes again.
for n in range(12):
    curl(url + "/v1/completions", {"model": "rep-model", "prompt": "neutral probe", "max_tokens": 2},
         headers={"x-request-id": f"probe-{n}"})
    time.sleep(0.05)
    if admin and pick_decisions(admin.group(1), admin_token(), f"probe-{n}"):
        break
for j in range(len(procs) - 1):  # the others' turns
    curl(url + "/v1/completions", {"model": "rep-model", "prompt": "neutral probe", "max_tokens": 2},
         headers={"x-request-id": f"between-{j}"})
    time.sleep(0.05)
send_prefixed("late", SHARED, 1, gap=0.05)  # once: a second try could have learned it from a batch
late = pick_decisions(admin.group(1), admin_token(), "late-") if admin else []
late_score = prefix_score(late[0], prefix_pod) if late else None
print("picker replicas late joiner: " + json.dumps({"ready_after_s": round(ready_after, 2),
      "first_prefix_request_after_restart_picked_by_it": bool(late), "prefix_score": late_score}), flush=True)
c.check(late_score is not None and late_score > 0,
        "the restarted replica's first pick of the shared prefix scores the prefix pod (snapshot)",
        f"score={late_score} (picked by it: {bool(late)})")

# -- 3. SIGSTOP one replica (silent, not dead), then SIGCONT -----------------------------------------------
procs = replicas()
stopped = 2
load = Load()
time.sleep(2)
stopped_at = time.time()
os.kill(procs[stopped][0], signal.SIGSTOP)
time.sleep(3)
os.kill(procs[stopped][0], signal.SIGCONT)
resumed = picks(procs[stopped][2]) or 0
time.sleep(2)
resumed_later = picks(procs[stopped][2]) or 0
results = load.finish()
stop = figures([r for r in results if r[0] < stopped_at + 3], stopped_at, "SIGSTOP one of three replicas for 3 s")
c.check(stop["failed"] == 0 and all(r[2] for r in results), "no request fails while a replica is stopped",
        json.dumps(stop))
c.check(stop["last_delayed_ended_after_fault_ms"] < 250 + stop["max_before_ms"] + DELAYED * 1000,
        "picks leave the stopped replica within 250 ms", json.dumps(stop))
c.check(resumed_later > resumed, "the replica takes picks again after SIGCONT", f"{resumed} -> {resumed_later}")

stack.stop()
c.finish()
