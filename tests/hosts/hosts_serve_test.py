"""Requests served across hosts: the gateway, the control plane, the picker and two pods each on
a host of its own, every peer reached by name; a client on a sixth host loads the gateway by
name with wrk. Then the same load with 2 ms added on every link (one way between two hosts),
and with 2 ms plus 1 % loss: requests/s and p50 printed for each, every request answered 200.

Figures, not timed thresholds: the checks are that every request succeeds and that the added
latency shows in p50 (each request crosses hosts at least six times one way: client -> gateway
-> picker -> gateway -> pod -> gateway -> client)."""

import concurrent.futures
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hosts import HostStack  # noqa: E402
from harness import Checks  # noqa: E402

c = Checks("hosts: served across hosts")
workdir = tempfile.mkdtemp(prefix="inferstack-hosts-")
stack = HostStack(workdir, deadline_s=200)
net = stack.net
# The gateway takes a request's namespace from its Host's first label (an IP means the default):
# the client names the gateway host `gw` and says which tenant it is, as behind DNS.
TENANT = "hosts.gw.example.com"
SECONDS = int(os.environ.get("INFERSTACK_HOSTS_BENCH_SECONDS", "5"))

# A client on its own host, by name: curl through the gateway, eight at a time (the queue scorer
# spreads concurrent requests), until both pods have answered.
def ask(i):
    out = net.exec("client", ["curl", "-sS", "-D", "-", "-o", "/dev/null", "--max-time", "5", "-H",
                              "Content-Type: application/json", "-H", f"Host: {TENANT}", "--data-binary",
                              f'{{"model":"host-model","prompt":"hello {i}","max_tokens":20}}',
                              "http://gw:8080/v1/completions"])
    m = re.search(r"^x-inference-pod: (\S+)", out.stdout, re.M | re.I)
    return m.group(1) if out.stdout.startswith("HTTP/1.1 200") and m else None


seen = set()
deadline = time.time() + 20  # the control plane marks each slot pod Ready after its load time
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    round_ = 0
    while len(seen) < 2 and time.time() < deadline:
        seen |= set(pool.map(ask, range(8 * round_, 8 * round_ + 8))) - {None}
        round_ += 1
c.check(seen == {"hosts/set-0", "hosts/set-1"},
        "a client on its own host is served by http://gw:8080 from both pods, each on its own host", str(seen))

with open(f"{workdir}/post.lua", "w") as f:
    f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["Host"] = "{TENANT}"\n'
            'wrk.body = \'{"model":"host-model","prompt":"across hosts","max_tokens":1}\'\n')


def to_ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def load(label):
    """wrk from the client host: 8 keep-alive connections, SECONDS s. (req/s, p50 ms, non-2xx, errors)."""
    out = net.exec("client", ["wrk", "-t1", "-c8", f"-d{SECONDS}s", "--latency", "--timeout", "10s",
                              "-s", f"{workdir}/post.lua", "http://gw:8080/v1/completions"], timeout=SECONDS + 30)
    text = out.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    if not (rps and p50):
        c.check(False, f"{label}: wrk ran", text + out.stderr)
        return 0.0, 0.0, 0, ""
    figures = (float(rps.group(1)), to_ms(p50.group(1)), int(non2xx.group(1)) if non2xx else 0,
               errors.group(1) if errors else "")
    print(f"{label}: {figures[0]:.0f} requests/s, p50 {figures[1]:.2f} ms, p99 {to_ms(p99.group(1)):.2f} ms "
          f"(wrk -c8, {SECONDS} s, 1 token per request)", flush=True)
    return figures


base = load("no fault between hosts")
c.check(base[0] > 0 and base[2] == 0 and not base[3], "no fault: every request answered 200", str(base))
how = net.delay_loss(2, 0.0)
slow = load(f"2 ms on every link ({how})")
c.check(slow[0] > 0 and slow[2] == 0 and not slow[3], "2 ms between hosts: every request answered 200", str(slow))
c.check(slow[1] >= base[1] + 6 * 2 * 0.9, "2 ms between hosts: p50 grows by at least six one-way trips",
        f"{base[1]:.2f} -> {slow[1]:.2f} ms")
how = net.delay_loss(2, 0.01)
lossy = load(f"2 ms and 1 % loss on every link ({how})")
c.check(lossy[0] > 0 and lossy[2] == 0 and not lossy[3], "2 ms and 1 % loss: every request answered 200",
        str(lossy))
net.clear_faults()
print(f"summary: requests/s {base[0]:.0f} -> {slow[0]:.0f} (2 ms) -> {lossy[0]:.0f} (2 ms, 1 % loss); "
      f"p50 {base[1]:.2f} -> {slow[1]:.2f} -> {lossy[1]:.2f} ms", flush=True)
c.finish()
