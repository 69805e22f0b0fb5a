"""The chaos tests' scenarios (tests/e2e/chaos_test.py) with every role on a host of its own:

1. kill the picker on its host -- the pool is FailOpen: requests go on to a ready pod, none
   fails; the picker restarted on its host routes again;
2. SIGSTOP the pod on one host -- it goes stale and the picker stops sending to it, nothing
   hangs; SIGCONT brings it back;
3. take one pod host's link down for 10 s (a partition) -- requests go on, served by the other
   pod; once the link is back, the pod serves again.

Each scenario prints its counts."""

import json
import os
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hosts import HostStack  # noqa: E402
from harness import Checks, curl  # noqa: E402

c = Checks("hosts: chaos")
stack = HostStack(tempfile.mkdtemp(prefix="inferstack-hosts-"), deadline_s=230)
HUNG_AFTER = 20
first_failure = [""]  # the first request answered with an error, if any


class Traffic:
    """Clients sending requests while something breaks; every outcome counted."""

    def __init__(self, clients=4):
        self.counts = {"sent": 0, "succeeded": 0, "failed": 0, "hung": 0}
        self.pods = {}
        self.failure = ""
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(clients)]
        for t in self.threads:
            t.start()

    def _run(self, i):
        while not self.stop.is_set():
            t0 = time.time()
            status, headers, body = curl(stack.url + "/v1/completions", {"model": "host-model", "prompt": f"c{i} {t0}",
                                                                      "max_tokens": 3}, timeout=HUNG_AFTER + 5)
            with self.lock:
                self.counts["sent"] += 1
                pod = headers.get("x-inference-pod", "")
                self.pods[pod] = self.pods.get(pod, 0) + 1
                if status == 0 or time.time() - t0 > HUNG_AFTER:
                    self.counts["hung"] += 1
                elif status == 200:
                    self.counts["succeeded"] += 1
                else:
                    self.counts["failed"] += 1
                    self.failure = f"{status} {body[:200]}"
                    first_failure[0] = first_failure[0] or self.failure

    def finish(self, name):
        self.stop.set()
        for t in self.threads:
            t.join(HUNG_AFTER + 30)
        print(f"{name}: {json.dumps(self.counts)}; by pod {json.dumps(self.pods)}"
              + (f"; a failure: {self.failure}" if self.failure else ""), flush=True)
        return self.counts


def run_for(seconds, name):
    t = Traffic()
    time.sleep(seconds)
    return t, t.finish(name)


def both_serve(timeout):
    deadline = time.time() + timeout
    seen = set()
    while time.time() < deadline and seen != {"hosts/set-0", "hosts/set-1"}:
        status, headers, _ = curl(stack.url + "/v1/completions", {"model": "host-model", "prompt": f"b {time.time()}",
                                                                  "max_tokens": 1}, timeout=5)
        if status == 200:
            seen.add(headers.get("x-inference-pod", ""))
        time.sleep(0.05)
    return seen


c.check(both_serve(20) == {"hosts/set-0", "hosts/set-1"}, "both pods serve through the gateway, across hosts")

# -- 1. kill the picker on its host ------------------------------------------------------------------------
# The gateway learns the pool's Ready members (what FailOpen picks from) from the control plane: it
# started after the pods became Ready and asked for them when it subscribed (the control plane's
# resend comes only every 2 s), so it knows them already.
stack.picker.stop(signal.SIGKILL)
time.sleep(0.5)
_, counts = run_for(3, "picker killed (FailOpen)")
c.check(counts["sent"] > 0 and counts["succeeded"] == counts["sent"],
        "picker down: FailOpen, every request served by a ready pod", json.dumps(counts) + " " + first_failure[0])

# A gateway that starts now, the pods Ready long since and the picker down, serves from its first
# request: FailOpen has the members it asked for (without asking: 502 "no pod is known" until the
# next resend, up to 2 s).
late_args = [a.replace("0.0.0.0:8080", "0.0.0.0:8081").replace("0.0.0.0:9090", "0.0.0.0:9091")
             for a in stack.gateway_args]
late_gateway = stack.net.run("gw", late_args, ready="ready")
late_url = stack.url.replace(":8080", ":8081")
started, late_counts, late_failure = time.time(), {"sent": 0, "succeeded": 0}, ""
while time.time() - started < 1:
    status, _, text = curl(late_url + "/v1/completions", {"model": "host-model", "prompt": f"late {time.time()}",
                                                         "max_tokens": 1}, timeout=5)
    late_counts["sent"] += 1
    late_counts["succeeded"] += status == 200
    late_failure = late_failure or ("" if status == 200 else f"{status} {text[:200]}")
late_gateway.stop()
print(f"a gateway started with the picker down, its first second: {json.dumps(late_counts)}", flush=True)
c.check(late_counts["sent"] > 0 and late_counts["succeeded"] == late_counts["sent"],
        "a gateway started after the pods are Ready, the picker down: FailOpen serves its first requests",
        json.dumps(late_counts) + " " + late_failure)
stack.picker = stack.net.run("picker", stack.picker_args, ready="ready")
deadline = time.time() + 15
decided = False
while time.time() < deadline and not decided:
    status, headers, _ = curl(stack.url + "/v1/completions", {"model": "host-model", "prompt": f"r {time.time()}",
                                                              "max_tokens": 1},
                              headers={"x-inferstack-debug-pick": "true"}, timeout=5)
    decided = status == 200 and bool(headers.get("x-inferstack-pick-decision"))
    time.sleep(0.2)
c.check(decided, "the picker restarted on its host routes again (its decision on the answer)")

# -- 2. SIGSTOP the pod on one host ------------------------------------------------------------------------
pid = stack.pod_procs["pod1"].proc.pid
os.kill(pid, signal.SIGSTOP)
_, counts = run_for(4, "SIGSTOP the pod on host pod1")  # stale after 2 s without a load report
late, late_counts = run_for(2, "SIGSTOP the pod on host pod1, once stale")
c.check(counts["hung"] == 0, "stopped pod: nothing hangs", json.dumps(counts))
c.check(late_counts["sent"] > 0 and late_counts["succeeded"] == late_counts["sent"] and len(late.pods) == 1,
        "once stale, every request goes to the other host's pod", json.dumps(late.pods))
os.kill(pid, signal.SIGCONT)
c.check(both_serve(15) == {"hosts/set-0", "hosts/set-1"}, "after SIGCONT both pods serve again")

# -- 3. a pod host's link down 10 s -------------------------------------------------------------------------
stack.net.partition("pod0")
cut = time.time()
time.sleep(3)  # the pod goes stale (no load report for 2 s)
during, counts = run_for(6, "the link of host pod0 down")
c.check(counts["sent"] > 0 and counts["succeeded"] == counts["sent"] and len(during.pods) == 1,
        "pod0's host partitioned: every request served by the other host's pod", json.dumps(during.pods))
time.sleep(max(0.0, 10 - (time.time() - cut)))
stack.net.heal("pod0")
healed = time.time()
c.check(both_serve(15) == {"hosts/set-0", "hosts/set-1"}, "once the link is back both pods serve again")
print(f"the link of host pod0 down {healed - cut:.1f} s; both pods serve again {time.time() - healed:.1f} s "
      f"after it returned", flush=True)
c.finish()
