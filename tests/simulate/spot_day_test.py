"""The spot-day scenario, shortened: `inferstack simulate --vary capacity=configured,on-demand`
reports GPU-hours per InferenceSet and NodePool, node-hours, cost (spot and on-demand) and the
requests lost; the mixed pool, its spot nodes reclaimed under load, costs less than the same
pool on demand; a node failing without notice loses requests and the summary counts them."""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402

SCENARIO = os.path.join(harness.SOURCE_DIR, "config", "scenarios", "spot-day")
TRACE = os.path.join(harness.SOURCE_DIR, "config", "scenarios", "azure-autoscale",
                     "AzureLLMInferenceTrace_code-first30min.csv")
WORK = tempfile.mkdtemp(prefix="inferstack-spot-day-")


def simulate(out, *args):
    # The trace's first 5 minutes (a quiet start, then its first burst) stretched 48 times: 4
    # hours of virtual time. Reclaims at 2 a node-hour (the scenario's 0.05 would rarely show
    # one in so short a day).
    return subprocess.run(
        [harness.BINARY, "simulate", "-f", os.path.join(SCENARIO, "stack.yaml"), "--workload",
         TRACE, "--to", "5m", "--speedup", "0.0208333", "--rate-scale", "12", "--seed", "1",
         "--slo", "ttft=2s", "--quiet", "--no-plots", "--no-console", "--out", out,
         "--set", "NodePool/h100-spot:spec.reclaimRate=2", *args],
        capture_output=True, text=True, timeout=240)


def main():
    checks = harness.Checks("the spot-day scenario, shortened")
    out = os.path.join(WORK, "vary")
    p = simulate(out, "--vary", "capacity=configured,on-demand")
    checks.check(p.returncode == 0, "the run succeeds", p.stderr[-2000:])
    if p.returncode != 0:
        checks.finish()
    with open(os.path.join(out, "summary.json")) as f:
        s = json.load(f)
    spot, od = "capacity=configured.", "capacity=on-demand."
    keys = ["cost", "cost_spot", "cost_on_demand", "cost_per_1k_ok", "requests_lost",
            "gpu_hours", "gpu_hours.set.code/llama-3-1-8b", "gpu_hours.nodepool.h100",
            "gpu_hours.nodepool.h100-spot", "node_hours.nodepool.h100-spot",
            "cost.nodepool.h100", "cost.nodepool.h100-spot", "goodput_fraction"]
    missing = [v + k for v in (spot, od) for k in keys if v + k not in s]
    checks.check(not missing, "the summary has the cost figures for both variants", missing)
    if missing:
        checks.finish()
    # Reclaims happened in the mixed run (the mocker warns of each), none on demand.
    reclaims = p.stderr.count("reclaimed: its notice ran out")
    checks.check(reclaims >= 1, "spot nodes were reclaimed during the run", reclaims)
    checks.check(s[spot + "cost_spot"] > 0 and s[od + "cost_spot"] == 0,
                 "spot cost only in the mixed run", (s[spot + "cost_spot"], s[od + "cost_spot"]))
    checks.check(0 < s[spot + "cost"] < s[od + "cost"],
                 "the mixed pool, reclaims and all, costs less than all on demand",
                 (s[spot + "cost"], s[od + "cost"]))
    checks.check(abs(s[spot + "cost"] - s[spot + "cost_spot"] - s[spot + "cost_on_demand"])
                 < 1e-3 and abs(s[spot + "cost.nodepool.h100"] - 6.98 *
                                s[spot + "node_hours.nodepool.h100"]) < 0.01,
                 "cost is node-hours x the NodePool's price, split by capacity type", s)
    checks.check(s[spot + "gpu_hours.set.code/llama-3-1-8b"] > 0 and
                 s[spot + "requests_lost"] == 0,
                 "GPU-hours per InferenceSet counted; reclaims with notice lose no request",
                 (s[spot + "gpu_hours.set.code/llama-3-1-8b"], s[spot + "requests_lost"]))

    # A node failing without notice under load (the burst begins at 8,640 s): its streams
    # break, counted as lost.
    faults = os.path.join(WORK, "fail.yaml")
    with open(faults, "w") as f:
        f.write("faults:\n- at: 9000s\n  lose_node: h100-0\n")
    out = os.path.join(WORK, "fail")
    p = simulate(out, "--faults", faults)
    checks.check(p.returncode == 0, "the run with a node failure succeeds", p.stderr[-2000:])
    if p.returncode == 0:
        with open(os.path.join(out, "summary.json")) as f:
            s = json.load(f)
        checks.check(s.get("requests_lost", 0) > 0 and s["requests_lost"] <= s["errors"],
                     "a node lost without notice loses requests, and they are counted",
                     (s.get("requests_lost"), s.get("errors")))
    checks.finish()


if __name__ == "__main__":
    main()
