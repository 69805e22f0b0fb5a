"""Flow control in the picker, on `inferstack dev` and on the multi-process stack: config/dev.yaml
plus team-b's pool given an EndpointPickerConfig with the flowControl gate (a concurrency-detector
of one request a pod: two pods, two slots, a 3 s TTL) and an InferenceObjective `batch` of
priority -1. With both slots taken, a request waits in the picker's queue and is served when one
frees; a request of the sheddable objective is refused at once with 429 rejected-saturated; a
request that waits past the TTL gets 429 rejected-ttl-expired; a client that leaves while
waiting takes its request out of the queue; the llm_d_epp_flow_control_* metrics count it all.
SLO-aware routing beside it: InferenceObjectives with TTFT objectives and
spec.unattainableSloPolicy -- Reject refuses a request no pod can serve in time with 429
rejected-slo-unattainable, so does Queue when not even an idle pod could; a Queue request waits
while the pool is full and is refused when its objective runs out first (before the TTL), or
served when a pod frees in time."""

import os
import re
import tempfile
import threading
import time

from harness import SOURCE_DIR, STACK, Checks, Stack, curl, free_port

c = Checks(f"flow control e2e ({STACK})")
workdir = tempfile.mkdtemp(prefix="inferstack-flow-control-")
config = os.path.join(workdir, "stack.yaml")
with open(os.path.join(SOURCE_DIR, "config", "dev.yaml")) as f:
    # dev.yaml's own picker config for the pool (KAITO's) gives way to this test's.
    text = "\n---\n".join(d for d in f.read().split("\n---\n")
                       if not ("kind: EndpointPickerConfig" in d and "\n  name: qwen2-5-32b-epp\n" in d))
text += """
---
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
metadata:
  name: qwen2-5-32b-epp
  namespace: team-b
featureGates: [flowControl]
plugins:
- type: concurrency-detector
  parameters: {maxConcurrency: 1}
- type: active-request-scorer
- type: slo-headroom-tier-filter
  parameters: {epsilonExploreNeg: 0}
- type: latency-scorer
- type: round-robin-fairness-policy
flowControl:
  saturationDetector: {pluginRef: concurrency-detector}
  defaultRequestTTL: 3s
  defaultPriorityBand: {fairnessPolicyRef: round-robin-fairness-policy}
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceObjective
metadata:
  name: batch
  namespace: team-b
spec:
  priority: -1
  poolRef: {name: qwen2-5-32b}
"""
for name, ttft, policy in [("strict", 1, "Reject"), ("instant", 1, "Queue"), ("patient", 200, "Queue"),
                           ("relaxed", 8000, "Queue")]:
    text += f"""---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceObjective
metadata:
  name: {name}
  namespace: team-b
spec:
  sloTtftMs: {ttft}
  unattainableSloPolicy: {policy}
  poolRef: {{name: qwen2-5-32b}}
"""
with open(config, "w") as f:
    f.write(text)

port = free_port()
stack = Stack(config, port, env={"INFERSTACK_SET": f"InferenceGateway:spec.secretsDir={workdir}/secrets"})
url = stack.url
key_b = open(f"{workdir}/secrets/team-b/llm-api-key").read().strip()
B = {"Host": "team-b.gw.example.com", "Authorization": f"Bearer {key_b}"}


def chat(tokens):
    return {"model": "qwen2.5-32b-instruct", "messages": [{"role": "user", "content": "Hold a slot."}],
            "max_tokens": tokens, "ignore_eos": True}


def metric(name, **labels):
    total = 0.0
    found = False
    for line in stack.metrics().splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    return total if found else None


# How long a request of 60 tokens holds its slot here (under the 3 s TTL).
t0 = time.monotonic()
status, _, body = curl(url + "/v1/chat/completions", chat(60), headers=B, timeout=60)
hold = time.monotonic() - t0
c.check(status == 200, "a request is served while the pool has room", f"{status} {body[:200]}")
c.check(0.8 < hold < 2.5, "a 60-token request holds its slot for a second or two", f"{hold:.2f} s")


def fill(results, tokens, n=2):
    """n requests that take the pool's slots, in the background."""
    threads = []
    for i in range(n):
        t = threading.Thread(target=lambda i=i: results.append(
            curl(url + "/v1/chat/completions", chat(tokens), headers={**B, "x-llm-d-inference-fairness-id": "heavy"},
                 timeout=60)[0]))
        t.start()
        threads.append(t)
    time.sleep(0.5)  # they have their pods
    return threads


# -- latency objectives no pod can meet: refused at once with the reason -------------------------
def slo_refused(status, headers):
    return status == 429 and headers.get("x-llm-d-request-dropped-reason") == "rejected-slo-unattainable"


for objective in ("strict", "instant"):
    t0 = time.monotonic()
    status, headers, body = curl(url + "/v1/chat/completions", chat(8),
                                 headers={**B, "x-llm-d-inference-objective": objective}, timeout=30)
    c.check(slo_refused(status, headers) and time.monotonic() - t0 < 0.5,
            f"a 1 ms TTFT objective ({objective}) is refused at once: 429 rejected-slo-unattainable",
            f"{status} {headers} {body[:200]}")

# -- a waiting request is served when a slot frees; a sheddable one is refused at once ------------
held = []
threads = fill(held, 60)
t0 = time.monotonic()
status, headers, body = curl(url + "/v1/chat/completions", chat(8),
                             headers={**B, "x-llm-d-inference-objective": "batch"}, timeout=30)
shed_s = time.monotonic() - t0
c.check(status == 429 and headers.get("x-llm-d-request-dropped-reason") == "rejected-saturated",
        "a sheddable objective's request is refused with 429 rejected-saturated", f"{status} {headers}")
c.check(shed_s < 0.5, "at once", f"{shed_s:.2f} s")
t0 = time.monotonic()
status, headers, body = curl(url + "/v1/chat/completions", chat(8),
                             headers={**B, "x-llm-d-inference-fairness-id": "light"}, timeout=30)
waited = time.monotonic() - t0
c.check(status == 200, "a request that finds the pool saturated is served", f"{status} {body[:200]}")
c.check(waited > 0.4 * hold, "after waiting for a slot", f"waited {waited:.2f} s, a slot is held {hold:.2f} s")
for t in threads:
    t.join()
c.check(held == [200, 200], "the requests that held the slots were served", str(held))

# -- past the TTL: 429 rejected-ttl-expired -------------------------------------------------------
held = []
threads = fill(held, 400)  # much longer than the 3 s TTL
status, headers, body = curl(url + "/v1/chat/completions", chat(8), headers=B, timeout=30)
c.check(status == 429 and headers.get("x-llm-d-request-dropped-reason") == "rejected-ttl-expired",
        "a request waiting past defaultRequestTTL is answered 429 rejected-ttl-expired", f"{status} {headers} {body[:200]}")

# -- a client that leaves takes its request out of the queue --------------------------------------
before = metric("llm_d_epp_flow_control_requests_total", outcome="EvictedContextCancelled") or 0
curl(url + "/v1/chat/completions", chat(8), headers=B, timeout=1)  # gives up after a second
deadline = time.monotonic() + 5
after = before
while time.monotonic() < deadline and after == before:
    time.sleep(0.2)
    after = metric("llm_d_epp_flow_control_requests_total", outcome="EvictedContextCancelled") or 0
c.check(after == before + 1, "the queued request of a client that left is taken out (EvictedContextCancelled)",
        f"{before} -> {after}")
for t in threads:
    t.join()

# -- Queue: waits while the pool is full; refused when its objective runs out, served in time -----
held = []
threads = fill(held, 60)
answers = {}


def ask(objective):
    t0 = time.monotonic()
    status, headers, _ = curl(url + "/v1/chat/completions", chat(8),
                              headers={**B, "x-llm-d-inference-objective": objective}, timeout=30)
    answers[objective] = (status, headers, time.monotonic() - t0)


waiters = [threading.Thread(target=ask, args=(o,)) for o in ("patient", "relaxed")]
for t in waiters:
    t.start()
for t in waiters + threads:
    t.join()
status, headers, waited = answers["patient"]
c.check(slo_refused(status, headers), "a Queue request whose 200 ms objective runs out while it waits is "
        "refused: 429 rejected-slo-unattainable", f"{status} {headers}")
c.check(0.15 < waited < 2.5, "when its objective runs out, not at the 3 s TTL", f"{waited:.2f} s")
status, headers, waited = answers["relaxed"]
c.check(status == 200 and waited > 0.4 * hold, "a Queue request with room in its objective waits for a slot and is served",
        f"{status} after {waited:.2f} s")
c.check(held == [200, 200], "the requests that held the slots were served", str(held))

# -- metrics ------------------------------------------------------------------------------------
time.sleep(1.2)  # the metrics tick
dispatched = metric("llm_d_epp_flow_control_requests_total", outcome="Dispatched", inference_pool="team-b/qwen2-5-32b")
c.check(dispatched is not None and dispatched >= 6, "dispatches are counted", str(dispatched))
c.check((metric("llm_d_epp_flow_control_requests_total", outcome="EvictedTTL") or 0) >= 1, "TTL expiries are counted")
c.check((metric("llm_d_epp_flow_control_requests_total", outcome="EvictedSloUnattainable") or 0) >= 1,
        "a Queue request whose objective ran out is counted")
c.check((metric("llm_d_epp_flow_control_requests_total", outcome="RejectedSaturated", priority="-1") or 0) >= 1,
        "the sheddable refusal is counted in its band")
waits = metric("llm_d_epp_flow_control_request_queue_duration_seconds_count", fairness_id="light")
c.check(waits is not None and waits >= 1, "the wait time is recorded per flow", str(waits))
c.check(metric("llm_d_epp_flow_control_queue_size", inference_pool="team-b/qwen2-5-32b") == 0,
        "the queue is empty again")

stack.stop()
c.finish()
