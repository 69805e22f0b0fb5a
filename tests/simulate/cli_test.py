"""`inferstack simulate` from the command line: the same inputs and seed give byte-identical
summary.json, requests.csv, timeseries.csv and the console's recording (another seed gives
other requests); --vary runs each variant on the same requests and reports them side by side;
bad workload files get one clear error each (naming the file, the line and the field) and
exit 2."""

import csv
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
STACK = os.path.join(HERE, "data", "stack.yaml")
WORK = tempfile.mkdtemp(prefix="inferstack-simulate-cli-")

INFERENCE_PERF = """
load:
  type: poisson
  stages:
  - {rate: 6, duration: 20}
  - {rate: 12, duration: 10}
api: {type: completion, streaming: true}
data:
  type: shared_prefix
  shared_prefix: {num_groups: 6, num_prompts_per_group: 4, system_prompt_len: 600,
                  question_len: 100, output_len: 40}
"""


def write(name, text):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def simulate(*args, timeout=180):
    return subprocess.run([harness.BINARY, "simulate", "-f", STACK, "--quiet", "--no-plots",
                           *args], capture_output=True, text=True, timeout=timeout)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    checks = harness.Checks("simulate on the command line")
    workload = write("workload.yaml", INFERENCE_PERF)

    # -- determinism --------------------------------------------------------------------------
    outs = []
    for run in ("a", "b", "c"):
        out = os.path.join(WORK, run)
        seed = "9" if run == "c" else "3"
        p = simulate("--workload", workload, "--seed", seed, "--out", out)
        checks.check(p.returncode == 0, f"run {run} succeeded", p.stderr[-1500:])
        outs.append(out)
    for name in ("summary.json", "requests.csv", "timeseries.csv", "console-recording.json"):
        same = read(os.path.join(outs[0], name)) == read(os.path.join(outs[1], name))
        checks.check(same, f"the same seed gives a byte-identical {name}")
    checks.check(read(os.path.join(outs[0], "requests.csv")) !=
                 read(os.path.join(outs[2], "requests.csv")),
                 "another seed gives other requests")
    summary = json.loads(read(os.path.join(outs[0], "summary.json")))
    checks.check(summary.get("requests") == 240 and summary.get("ok") == 240,
                 "every request of the workload was sent and answered", str(summary)[:300])
    checks.check(0 < summary.get("ttft_p50_ms", 0) <= summary.get("ttft_p90_ms", 0),
                 "TTFT percentiles are measured", str(summary.get("ttft_p50_ms")))
    checks.check(summary.get("prefix_hit_rate", 0) > 0.3, "shared prefixes hit the caches",
                 str(summary.get("prefix_hit_rate")))
    with open(os.path.join(outs[0], "requests.csv")) as f:
        rows = list(csv.DictReader(f))
    checks.check(len(rows) == 240 and all(r["pod"].startswith("bench/llama-") for r in rows),
                 "requests.csv names the pod of every request")
    with open(os.path.join(outs[0], "timeseries.csv")) as f:
        series = list(csv.DictReader(f))
    checks.check(len(series) >= 30 and series[0]["pool"] == "bench/llama" and
                 all(r["ready_replicas"] == "4" for r in series),
                 "the time series has a row a second with the pool's 4 ready replicas",
                 str(series[:2]))

    # -- variants on the same requests --------------------------------------------------------
    out = os.path.join(WORK, "vary")
    p = simulate("--workload", workload, "--seed", "3", "--out", out, "--vary", "replicas=2,4")
    checks.check(p.returncode == 0, "--vary replicas=2,4 ran", p.stderr[-1500:])
    checks.check("replicas=2" in p.stdout and "replicas=4" in p.stdout,
                 "the table has a column per variant", p.stdout[:400])
    summary = json.loads(read(os.path.join(out, "summary.json")))
    checks.check(summary.get("replicas=2.replicas_max") == 2 and
                 summary.get("replicas=4.replicas_max") == 4,
                 "each variant ran its own replicas", str(summary)[:300])
    checks.check(summary.get("replicas=2.requests") == summary.get("replicas=4.requests") == 240,
                 "both variants got the same requests")
    checks.check(summary.get("replicas=2.ttft_p90_ms", 0) > summary.get("replicas=4.ttft_p90_ms", 0),
                 "half the pods: slower first tokens")

    # -- a drain that ends with requests open: counted, and no warning per request ------------
    out = os.path.join(WORK, "drain")
    p = simulate("--workload", workload, "--seed", "3", "--out", out, "--vary", "replicas=1,2",
                 "--drain", "0s")
    checks.check(p.returncode == 0, "--drain 0s ran", p.stderr[-1500:])
    checks.check("had not ended when the drain time was over" in p.stderr,
                 "requests still open at the end are reported", p.stderr[-800:])
    checks.check(" warning " not in p.stderr,
                 "the stack's teardown logs no warning for the requests it still held",
                 p.stderr[:800])

    # -- request headers from a plain JSONL workload reach the picker -------------------------
    # The lora-residency scenario with flow control (a request a pod) and a sheddable
    # InferenceObjective: half the requests name it in x-llm-d-inference-objective, and those
    # are refused (429) while the pool is saturated; without the header none is.
    with open(os.path.join(harness.SOURCE_DIR, "config", "scenarios", "lora-residency",
                           "stack.yaml")) as f:
        lora = f.read()
    lora = lora.replace("plugins:\n- type: lora-affinity-scorer",
                        "featureGates: [flowControl]\nplugins:\n- type: concurrency-detector\n"
                        "  parameters: {maxConcurrency: 1}\n- type: lora-affinity-scorer", 1)
    lora = lora.replace("  - pluginRef: max-score-picker\n---\napiVersion: gateway.networking.k8s.io/v1",
                        "  - pluginRef: max-score-picker\nflowControl:\n"
                        "  saturationDetector: {pluginRef: concurrency-detector}\n---\n"
                        "apiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferenceObjective\n"
                        "metadata: {name: batch, namespace: lora}\n"
                        "spec: {priority: -1, poolRef: {name: llama-lora}}\n---\n"
                        "apiVersion: gateway.networking.k8s.io/v1", 1)
    checks.check("InferenceObjective" in lora and "flowControl" in lora,
                 "the lora-residency stack takes flow control and an objective")
    shed_stack = write("shed-stack.yaml", lora)
    for with_headers in (True, False):
        lines = []
        for i in range(200):
            r = {"arrival_ms": i * 5.0, "model": "adapter-0", "prompt_tokens": 500, "max_tokens": 64}
            if with_headers and i % 2:
                r["headers"] = {"x-llm-d-inference-objective": "batch"}
            lines.append(json.dumps(r))
        trace = write(f"shed-{with_headers}.jsonl", "\n".join(lines) + "\n")
        out = os.path.join(WORK, f"shed-{with_headers}")
        p = subprocess.run([harness.BINARY, "simulate", "-f", shed_stack, "--workload", trace,
                            "--quiet", "--no-plots", "--seed", "1", "--out", out],
                           capture_output=True, text=True, timeout=180)
        checks.check(p.returncode == 0, f"the shedding run (headers: {with_headers}) ran",
                     p.stderr[-1500:])
        with open(os.path.join(out, "requests.csv")) as f:
            rows = list(csv.DictReader(f))
        refused = [int(r["index"]) for r in rows if r["status"] == "429"]
        if with_headers:
            checks.check(len(refused) >= 50 and all(i % 2 for i in refused),
                         "requests whose headers name the sheddable objective are refused (429) "
                         "while the pool is saturated, no other", f"{len(refused)} refused")
        else:
            checks.check(not refused and len(rows) == 200, "without the header none is refused",
                         f"{len(refused)} refused")

    # -- a client that hangs up (cancel_after_ms) stops its work on the pod ------------------
    trace = write("cancel.jsonl", "\n".join(json.dumps(r) for r in [
        {"arrival_ms": 0, "model": "adapter-0", "prompt_tokens": 500, "max_tokens": 3000,
         "stream": True, "ignore_eos": True, "cancel_after_ms": 300},
        {"arrival_ms": 0, "model": "adapter-1", "prompt_tokens": 500, "max_tokens": 3000,
         "stream": True, "ignore_eos": True}]) + "\n")
    out = os.path.join(WORK, "cancel")
    p = subprocess.run([harness.BINARY, "simulate", "-f",
                        os.path.join(harness.SOURCE_DIR, "config", "scenarios", "lora-residency",
                                     "stack.yaml"),
                        "--workload", trace, "--quiet", "--no-plots", "--seed", "1", "--out", out],
                       capture_output=True, text=True, timeout=180)
    checks.check(p.returncode == 0, "the hang-up run ran", p.stderr[-1500:])
    with open(os.path.join(out, "requests.csv")) as f:
        rows = {int(r["index"]): r for r in csv.DictReader(f)}
    checks.check(rows[0]["outcome"] == "cancelled" and abs(float(rows[0]["e2e_ms"]) - 300) < 1 and
                 rows[1]["outcome"] == "ok" and rows[1]["output_tokens"] == "3000",
                 "the client that hung up after 300 ms is cancelled then, the other is served",
                 str(rows))
    with open(os.path.join(out, "timeseries.csv")) as f:
        running = [int(r["running"]) for r in csv.DictReader(f)]
    # The other request runs 3,000 tokens (~35 s): until then one request runs, not two.
    checks.check(len(running) > 30 and all(n == 1 for n in running[:30]),
                 "after the hang-up the pods run only the other request (its work stopped)",
                 str(running))

    # -- bad workload files: one clear error each, exit 2 -----------------------------------
    bad = {
        "missing field": ("missing.jsonl", '{"arrival_ms": 0, "prompt_tokens": 10}\n',
                          ["missing.jsonl:1", "max_tokens"]),
        "wrong type": ("wrongtype.jsonl",
                       '{"arrival_ms": 0, "prompt_tokens": "ten", "max_tokens": 5}\n',
                       ["wrongtype.jsonl:1", "prompt_tokens"]),
        "unknown data type": ("unknown.yaml",
                              "load: {type: constant, stages: [{rate: 1, duration: 5}]}\n"
                              "data: {type: sharegpt_v9}\n",
                              ["unknown.yaml:2", "data.type", "sharegpt_v9"]),
        "unsorted trace": ("unsorted.jsonl",
                           '{"arrival_ms": 500, "prompt_tokens": 10, "max_tokens": 5}\n'
                           '{"arrival_ms": 100, "prompt_tokens": 10, "max_tokens": 5}\n',
                           ["unsorted.jsonl:2", "arrival_ms"]),
        "empty file": ("empty.csv", "", ["empty.csv"]),
    }
    for what, (name, text, needles) in bad.items():
        p = simulate("--workload", write(name, text), "--out", os.path.join(WORK, "bad"))
        message = p.stderr.strip()
        checks.check(p.returncode == 2, f"{what}: exit 2", f"exit {p.returncode}: {message}")
        checks.check(all(n in message for n in needles) and len(message.splitlines()) == 1,
                     f"{what}: one line naming {needles}", message)
    p = simulate("--workload", os.path.join(WORK, "absent.jsonl"))
    checks.check(p.returncode == 2 and "absent.jsonl" in p.stderr, "a missing file: exit 2",
                 p.stderr)
    p = simulate("--workload", workload, "--vary", "colour=red")
    checks.check(p.returncode == 2 and "colour" in p.stderr, "an unknown --vary key: exit 2",
                 p.stderr)
    p = simulate("--workload", workload, "--slo", "ttft=fast")
    checks.check(p.returncode == 2 and "--slo" in p.stderr, "a bad --slo: exit 2", p.stderr)
    good = os.path.join(harness.SOURCE_DIR, "config", "scenarios", "llm-d-prefix",
                        "random-scheduling.yaml")
    p = simulate("--workload", workload, "--out", os.path.join(WORK, "x"), "--vary",
                 "picker=" + good + "," + os.path.join(WORK, "no-such-picker.yaml"))
    checks.check(p.returncode == 2 and "no-such-picker.yaml" in p.stderr and
                 "cannot read" in p.stderr,
                 "an unreadable --vary picker file: exit 2 naming it", p.stderr)
    server = write("server.yaml", "apiVersion: inferstack.io/v1alpha1\nkind: ModelServer\n"
                   "metadata: {name: outside, namespace: bench, labels: {app: outside}}\n"
                   "spec: {url: 'http://127.0.0.1:9'}\n")
    p = subprocess.run([harness.BINARY, "simulate", "-f", STACK, "-f", server, "--workload",
                        workload, "--quiet", "--no-plots", "--out", os.path.join(WORK, "x")],
                       capture_output=True, text=True, timeout=60)
    checks.check(p.returncode == 2 and "ModelServer bench/outside" in p.stderr,
                 "a ModelServer (HTTP, real time): exit 2 naming it", p.stderr)
    checks.finish()


if __name__ == "__main__":
    main()
