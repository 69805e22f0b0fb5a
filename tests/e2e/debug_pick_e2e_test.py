"""Why this pod, on `inferstack dev` and on the multi-process stack (the decision crosses ZeroMQ
from the picker process to the gateway): a request with x-inferstack-debug-pick: true is answered
as before plus an x-inferstack-pick-decision header holding the picker's decision (candidates,
filters, each scorer's score and weight, totals, the pick); without the header nothing changes;
GET /debug/picks on the picker's HTTP port (the admin listener, behind its token) gives the same
decision by request id, the most recent ones with ?limit=N."""

import json
import os
import tempfile
import urllib.parse

from harness import SOURCE_DIR, STACK, Checks, Stack, curl, free_port, sse_events

c = Checks(f"debug pick e2e ({STACK})")
workdir = tempfile.mkdtemp(prefix="inferstack-debug-pick-")
port = free_port()
stack = Stack(os.path.join(SOURCE_DIR, "config", "dev.yaml"), port,
              env={"INFERSTACK_SET": f"InferenceGateway:spec.secretsDir={workdir}/secrets"})
url = stack.url
key_a = open(f"{workdir}/secrets/team-a/llm-api-key").read().strip()
A = {"Host": "team-a.gw.example.com", "Authorization": f"Bearer {key_a}"}
chat = {"model": "llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "Why this pod?"}],
        "max_tokens": 4}
DEBUG = {"x-inferstack-debug-pick": "true"}
HEADER = "x-inferstack-pick-decision"

# -- the header -----------------------------------------------------------------------------------
status, headers, body = curl(url + "/v1/chat/completions", chat, headers={**A, **DEBUG, "X-Request-Id": "why-1"})
c.check(status == 200, "a request asking for the decision is answered", f"{status} {body[:200]}")
raw = headers.get(HEADER, "")
c.check(raw != "", "the answer carries x-inferstack-pick-decision", str(headers))
decision = json.loads(raw) if raw else {}
pod = headers.get("x-inference-pod")
c.check(decision.get("request_id") == "why-1", "the decision is this request's", raw[:200])
c.check(decision.get("status") == "ok" and decision.get("pod") == pod, "it names the pod that served",
        f"{decision.get('pod')} vs {pod}")
c.check(decision.get("pool") == "team-a/llama-3-1-8b" or decision.get("pool") == "team-a/llama-3-1-8b-canary",
        "it names the pool", str(decision.get("pool")))
c.check(len(decision.get("candidates", [])) >= 1 and pod in decision.get("candidates", []),
        "the pod was among the candidates", str(decision.get("candidates")))
profiles = decision.get("profiles", [])
c.check(len(profiles) == 1 and profiles[0].get("name") == "default", "one profile ran: default", str(profiles)[:300])
if profiles:
    p = profiles[0]
    weights = p.get("weights", {})
    # The route sends a tenth of the requests to the canary pool, whose picker has its own config.
    want = ({"precise-prefix-cache-scorer": 3, "queue-scorer": 2, "kv-cache-utilization-scorer": 2}
            if decision.get("pool") == "team-a/llama-3-1-8b" else None)
    c.check(weights and (want is None or weights == want) and
            all(isinstance(w, (int, float)) for w in weights.values()),
            "the scorers with their weights (config/dev.yaml's for the llama pool)", str(weights))
    cands = p.get("candidates", [])
    c.check(len(cands) == len(decision.get("candidates", [])), "no filter: every candidate was scored",
            str(p.get("filtered")))
    for cand in cands:
        total = sum(weights[name] * score for name, score in cand.get("scores", {}).items())
        c.check(set(cand.get("scores", {})) == set(weights) and abs(total - cand.get("total", -1)) < 1e-9,
                f"{cand.get('pod')}: a score per scorer, total = sum of weight x score", str(cand))
    best = max(cand["total"] for cand in cands) if cands else None
    c.check(p.get("picked") == [pod] and any(cand["pod"] == pod and cand["total"] == best for cand in cands),
            "the pick has the best total", str(p)[:400])
    ties = sum(1 for cand in cands if cand["total"] == best)
    c.check(p.get("sampled") == (ties > 1), "sampled says whether a tie was broken at random", str(p)[:400])

# -- nothing else changes; nothing without the header ---------------------------------------------
status2, headers2, body2 = curl(url + "/v1/chat/completions", chat, headers={**A, "X-Request-Id": "why-2"})
c.check(status2 == 200 and HEADER not in headers2, "without the debug header: no decision header",
        str(headers2))
same = lambda h: {k: v for k, v in h.items() if k not in (HEADER, "x-request-id", "x-inference-pod",
                                                          "content-length", "date")}
c.check(same(headers) == same(headers2), "the debug header changes no other response header",
        f"{same(headers)} vs {same(headers2)}")
c.check(json.loads(body).keys() == json.loads(body2).keys(), "nor the body's shape")
status, headers, body = curl(url + "/v1/chat/completions", {**chat, "stream": True},
                             headers={**A, **DEBUG, "X-Request-Id": "why-stream"})
events = sse_events(body)
c.check(status == 200 and events and events[-1] == "[DONE]", "a streamed request with the header streams as usual",
        body[-200:])
c.check(json.loads(headers.get(HEADER, "{}")).get("request_id") == "why-stream",
        "a stream's headers carry the decision too", str(headers))
status, headers, _ = curl(url + "/v1/chat/completions", chat, headers={**A, "x-inferstack-debug-pick": "false"})
c.check(status == 200 and HEADER not in headers, "x-inferstack-debug-pick: false asks nothing", str(headers))

# -- GET /debug/picks on the picker's HTTP port --------------------------------------------------
bases = [u[: -len("/metrics")] for u in stack.metrics_urls]
auth = stack.admin_headers()
found = None
answered = 0
for base in bases:
    status, _, text = curl(base + "/debug/picks?request_id=why-1", headers=auth)
    if status != 200:
        continue
    answered += 1
    got = json.loads(text).get("decisions", [])
    if got:
        found = (base, got)
c.check(answered >= 1, "a picker's HTTP port answers GET /debug/picks", str(bases))
c.check(found is not None and len(found[1]) == 1 and found[1][0] == decision,
        "GET /debug/picks?request_id= gives the decision the header carried",
        json.dumps(found[1] if found else None)[:400])
if found:
    base = found[0]
    # Each picker numbers its own decisions: one pool's (a tenth of llama's requests go to the
    # canary pool, so it may have had only one).
    pool = urllib.parse.quote(decision.get("pool", ""), safe="")
    status, _, text = curl(base + f"/debug/picks?limit=2&pool={pool}", headers=auth)
    recent = json.loads(text).get("decisions", []) if status == 200 else []
    c.check(status == 200 and 1 <= len(recent) <= 2 and all(d["pool"] == decision.get("pool") for d in recent)
            and all(a["seq"] > b["seq"] for a, b in zip(recent, recent[1:])),
            "?limit=2&pool=: that pool's most recent, newest first", text[:300])
    status, _, text = curl(base + "/debug/picks?limit=1", headers=auth)
    c.check(status == 200 and len(json.loads(text).get("decisions", [])) == 1, "?limit=1: one decision",
            text[:200])
    status, _, text = curl(base + "/debug/picks")
    c.check(status == 401, "GET /debug/picks asks for the admin (or read) token", f"{status} {text[:120]}")
    status, _, text = curl(base + "/debug/picks?limit=many", headers=auth)
    c.check(status == 400 and "limit" in text, "a bad limit is refused", f"{status} {text[:200]}")
status, _, _ = curl(url + "/debug/picks", headers=A)
c.check(status == 404, "not on the tenants' listener", str(status))

stack.stop()
c.finish()
