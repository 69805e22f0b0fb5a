"""A partition between hosts: the picker's host loses its link for 10 s while a pod on another
host caches prompts; once the link is back, the picker's precise-prefix index must hold what
the pod cached during the partition within 2 s -- its KV-event subscriber sees the sequence
gap and asks the pod's replay socket for the missing batches (kv_subscriber.cpp).

Measured from the moment the link carries again: when the picker's replay counter moves, and
when a pick through the gateway first scores the pod for a prompt it cached during the
partition (x-inferstack-debug-pick: the picker's own scores); picks through the gateway must
resume within 1.5 s."""

import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hosts import HostStack  # noqa: E402
from harness import Checks, curl  # noqa: E402

c = Checks("hosts: partition of the picker")
stack = HostStack(tempfile.mkdtemp(prefix="inferstack-hosts-"), deadline_s=200)
PREFIX_SCORER = "precise-prefix-cache-scorer"
serial = [0]


def fresh_prompt():
    """128 token ids (8 blocks of 16) nobody sent before."""
    serial[0] += 1
    return [100000 + 1000 * serial[0] + i for i in range(128)]


def to_pod(pod, prompt):
    return curl(stack.pod_url[pod] + "/v1/completions", {"model": "host-model", "prompt": prompt, "max_tokens": 1},
                timeout=3)[0]


def pick(prompt, timeout=3):
    """The picker's prefix score per pod for `prompt` (a request through the gateway), or {}."""
    status, headers, _ = curl(stack.url + "/v1/completions", {"model": "host-model", "prompt": prompt, "max_tokens": 1},
                              headers={"x-inferstack-debug-pick": "true"}, timeout=timeout)
    raw = headers.get("x-inferstack-pick-decision", "")
    if status != 200 or not raw:
        return {}
    profiles = json.loads(raw).get("profiles", [])
    return {cand["pod"]: cand.get("scores", {}).get(PREFIX_SCORER, 0.0)
            for p in profiles for cand in p.get("candidates", [])}


def replays():
    body = curl(stack.picker_admin + "/metrics", timeout=1)[2]
    m = re.search(r'^inferstack_picker_kv_replays\{[^}]*\} (\S+)$', body, re.M)
    return float(m.group(1)) if m else -1.0


# Both pods serve through the gateway, each on its own host.
deadline = time.time() + 20
seen = set()
while time.time() < deadline and seen != {"hosts/set-0", "hosts/set-1"}:
    status, headers, _ = curl(stack.url + "/v1/completions", {"model": "host-model", "prompt": f"p {time.time()}",
                                                              "max_tokens": 2})
    if status == 200:
        seen.add(headers.get("x-inference-pod", ""))
c.check(seen == {"hosts/set-0", "hosts/set-1"}, "both pods serve through the gateway, across hosts", str(seen))

# The picker hears pod0's KV events: a prompt sent to pod0 directly is scored for pod0 alone --
# which also tells the replica name the control plane gave host pod0's slot.
pod0 = None
deadline = time.time() + 15
while time.time() < deadline and pod0 is None:
    p = fresh_prompt()
    to_pod("pod0", p)
    time.sleep(0.2)
    scored = [pod for pod, score in pick(p).items() if score > 0]
    pod0 = scored[0] if len(scored) == 1 else None
c.check(pod0 is not None, "before the partition the picker scores prompts pod0 cached (it hears pod0's KV events)")
before = replays()

# The partition: the picker's link down 10 s; pod0 caches prompts the picker cannot hear about.
stack.net.partition("picker")
cut = time.time()
during = []
while time.time() - cut < 9:
    p = fresh_prompt()
    if to_pod("pod0", p) == 200:
        during.append(p)
    time.sleep(0.1)
c.check(len(during) >= 20, "pod0 cached prompts during the partition", str(len(during)))
status, _, _ = curl(stack.picker_admin + "/metrics", timeout=1)
c.check(status == 0, "the picker is unreachable during the partition", str(status))
time.sleep(max(0.0, 10 - (time.time() - cut)))
stack.net.heal("picker")
c.check(stack.net.link_up("picker"), "the picker's link carries again")
back = time.time()
print(f"partition: {back - cut:.1f} s; pod0 cached {len(during)} prompts meanwhile", flush=True)

# After: pod0 keeps serving (a prompt every 100 ms, as a live pod does); its next KV event shows
# the picker the gap. Poll the picker's replay counter (a fresh connection to its admin port each
# time), then check by picks through the gateway that its index scores pod0 for prompts of the
# partition.
replayed_at = repaired_at = picks_at = None
polls = []
while time.time() - back < 15 and (replayed_at is None or picks_at is None):
    to_pod("pod0", fresh_prompt())
    if replayed_at is None and replays() > before:
        replayed_at = time.time() - back
    if picks_at is None and pick(fresh_prompt(), timeout=1):  # the picker answers the gateway again
        picks_at = time.time() - back
    time.sleep(0.05)
while time.time() - back < 20 and repaired_at is None and during:
    scores = pick(during.pop(0), timeout=1)
    polls.append(round(scores.get(pod0, -1), 2))
    if scores.get(pod0, 0) > 0:
        repaired_at = time.time() - back
    time.sleep(0.05)
fmt = lambda t: "never" if t is None else f"{t * 1000:.0f} ms"  # noqa: E731
print(f"after the link came back: the picker replayed pod0's missing KV batches at {fmt(replayed_at)}; "
      f"picks through the gateway resumed at {fmt(picks_at)} and scored pod0 for a prompt it cached "
      f"during the partition at {fmt(repaired_at)} (pod0's prefix score per pick, -1 none: {polls[:30]})",
      flush=True)
c.check(replayed_at is not None and replayed_at <= 2.0,
        "the picker repairs its index by a replay from pod0 within 2 s of the link returning", fmt(replayed_at))
c.check(repaired_at is not None, "then its picks score pod0 for the prompts pod0 cached during the partition",
        str(polls))
# The gateway's connection to the picker gives up its unanswered dials and dials again (the
# transport's connect timeout and reconnect interval: runtime/zmq_transport.hpp) rather than
# waiting on TCP's SYN backoff (2.2 s measured before). What is left is mostly the kernel's ARP:
# the picker's address unresolved during the partition, asked again once a second.
c.check(picks_at is not None and picks_at <= 1.5,
        "picks through the gateway resume within 1.5 s of the link returning", fmt(picks_at))
status, headers, _ = curl(stack.url + "/v1/completions", {"model": "host-model", "prompt": "after", "max_tokens": 2})
c.check(status == 200, "requests are served after the partition", str(status))
c.finish()
