"""The lora-residency scenario, first 60 s: with lora-affinity-scorer the pods swap far fewer
LoRA adapters in (each keeps the adapters routed to it) and TTFT p90 is lower than with the
load-only picker on the same requests."""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402

SCENARIO = os.path.join(harness.SOURCE_DIR, "config", "scenarios", "lora-residency")
WORK = tempfile.mkdtemp(prefix="inferstack-lora-residency-")


def main():
    checks = harness.Checks("the lora-residency scenario")
    out = os.path.join(WORK, "vary")
    pickers = ",".join(os.path.join(SCENARIO, f)
                       for f in ("load-scheduling.yaml", "lora-scheduling.yaml"))
    p = subprocess.run(
        [harness.BINARY, "simulate", "-f", os.path.join(SCENARIO, "stack.yaml"), "--workload",
         os.path.join(SCENARIO, "requests.jsonl"), "--to", "60s", "--seed", "1", "--quiet",
         "--no-plots", "--no-console", "--out", out, "--vary", "picker=" + pickers],
        capture_output=True, text=True, timeout=240)
    checks.check(p.returncode == 0, "the run succeeds", p.stderr[-2000:])
    if p.returncode != 0:
        checks.finish()
    with open(os.path.join(out, "summary.json")) as f:
        s = json.load(f)
    load, lora = "load-scheduling.", "lora-scheduling."
    figures = {k: (s.get(load + k), s.get(lora + k)) for k in ("lora_loads", "ttft_p90_ms", "ok")}
    print("figure: load-only, with lora-affinity-scorer:", figures)
    checks.check(None not in figures["lora_loads"], "both variants report lora_loads", figures)
    if None in figures["lora_loads"]:
        checks.finish()
    checks.check(figures["ok"][0] == figures["ok"][1] and figures["ok"][0] > 0,
                 "both serve every request", figures["ok"])
    checks.check(figures["lora_loads"][1] * 5 < figures["lora_loads"][0],
                 "residency routing swaps adapters in at least 5 times less often", figures)
    checks.check(figures["ttft_p90_ms"][1] < figures["ttft_p90_ms"][0],
                 "residency routing lowers TTFT p90", figures)
    checks.finish()


if __name__ == "__main__":
    main()
