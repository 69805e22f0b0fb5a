"""Hosts benchmark: the multi-process stack with every role on a host of its own (network
namespaces on a bridge, tests/hosts/hosts.py), loaded by wrk from a client host through the
gateway by name. Three conditions in the same run: no fault (the baseline), 2 ms added on every
link (one way between two hosts), 2 ms plus 1 % loss (tc netem where the kernel has it, else the
NFQUEUE stand-in); each reported with its ratios to the baseline.

Usage (root, for ip netns): hosts_bench.py [--quick] [--json FILE] [--seconds N]
Exit 77 (CTest's skip) where network namespaces are not allowed; 1 if a condition's load did not
run or a request was not answered 200."""

import argparse
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "hosts"))
from hosts import HostStack, skip  # noqa: E402

TENANT = "hosts.gw.example.com"  # the gateway takes the namespace from the Host's first label


def to_ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def load(net, workdir, seconds):
    """wrk from the client host, 8 keep-alive connections: a dict of figures, or None."""
    out = net.exec("client", ["wrk", "-t1", "-c8", f"-d{seconds}s", "--latency", "--timeout", "10s",
                              "-s", f"{workdir}/post.lua", "http://gw:8080/v1/completions"], timeout=seconds + 30)
    text = out.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    total = re.search(r"(\d+) requests in", text)
    if not (rps and p50 and p99 and total):
        print(f"wrk did not run:\n{text}{out.stderr}", file=sys.stderr)
        return None
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {"rps": float(rps.group(1)), "p50_ms": to_ms(p50.group(1)), "p99_ms": to_ms(p99.group(1)),
            "requests": int(total.group(1)),
            "failed": (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, errors.groups())) if errors else 0)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small run (CI smoke test)")
    ap.add_argument("--json", help="write the figures as one flat JSON object")
    ap.add_argument("--seconds", type=int, help="seconds of load per condition (10; quick: 2)")
    args = ap.parse_args()
    seconds = args.seconds or (2 if args.quick else 10)
    if not os.path.exists("/usr/bin/wrk"):
        skip("no wrk (tools/install-deps installs it)")

    workdir = tempfile.mkdtemp(prefix="inferstack-hosts-bench-")
    stack = HostStack(workdir, deadline_s=60 + 6 * seconds)
    net = stack.net
    with open(f"{workdir}/post.lua", "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                f'wrk.headers["Host"] = "{TENANT}"\n'
                'wrk.body = \'{"model":"host-model","prompt":"across hosts","max_tokens":1}\'\n')
    # Warm up (the pods Ready, the gateway's connections made) outside the figures.
    load(net, workdir, 1)

    conditions = [("no_fault", "no fault", None), ("delay_2ms", "2 ms every link", (2, 0.0)),
                  ("delay_2ms_loss_1pct", "2 ms + 1 % loss", (2, 0.01))]
    figures, how = {}, "none"
    for key, _, fault in conditions:
        if fault:
            how = net.delay_loss(*fault)
        figures[key] = load(net, workdir, seconds)
        if figures[key] is None:
            return 1
    net.clear_faults()

    base = figures["no_fault"]
    print(f"hosts bench ({'quick' if args.quick else 'full'}): 6 hosts (gateway, control, picker, 2 pods, client) "
          f"on a bridge; wrk -t1 -c8 from the client host, {seconds} s per condition, 1 token per request; "
          f"faults by {how}")
    print(f"{'condition':<18} {'requests/s':>11} {'p50 (ms)':>9} {'p99 (ms)':>9} {'rps/base':>9} "
          f"{'p50/base':>9} {'requests':>9} {'failed':>7}")
    for key, label, _ in conditions:
        f = figures[key]
        print(f"{label:<18} {f['rps']:>11.0f} {f['p50_ms']:>9.2f} {f['p99_ms']:>9.2f} "
              f"{f['rps'] / base['rps']:>9.3f} {f['p50_ms'] / base['p50_ms']:>9.3f} {f['requests']:>9} "
              f"{f['failed']:>7}")

    if args.json:
        items = [("mode", "quick" if args.quick else "full"), ("seconds_per_condition", seconds),
                 ("fault_method", how)]
        for key, _, _ in conditions:
            f = figures[key]
            items += [(f"{key}_rps", f["rps"]), (f"{key}_p50_ms", f["p50_ms"]), (f"{key}_p99_ms", f["p99_ms"]),
                      (f"{key}_requests", f["requests"]), (f"{key}_failed", f["failed"])]
            if key != "no_fault":
                items += [(f"{key}_rps_ratio", f["rps"] / base["rps"]),
                          (f"{key}_p50_ratio", f["p50_ms"] / base["p50_ms"])]
        body = ",".join(f'\n  "{k}": ' + (f'"{v}"' if isinstance(v, str) else f"{v:.6g}") for k, v in items)
        with open(args.json, "w") as out:
            out.write("{" + body + "\n}\n")
    return 1 if any(f["failed"] for f in figures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
