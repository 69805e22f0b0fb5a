"""LoRA residency, on `inferstack dev` and on the multi-process stack: config/scenarios/lora-residency
(4 simulated pods, 8 adapters, 2 on a pod's GPU at once) with its picker, lora-affinity-scorer
beside the load scorers. The pods push the adapters they hold to the picker (over ZeroMQ on the
multi-process stack); the requests for an adapter go back to the pod that loaded it, whose
lora-affinity score is 1 in the pick decision, and each adapter is loaded once in all
(inferstack_lora_adapter_loads_total, vllm:lora_adapter_loaded)."""

import json
import os
import tempfile
import time

from harness import SOURCE_DIR, STACK, Checks, Stack, curl, free_port

c = Checks(f"lora residency e2e ({STACK})")
workdir = tempfile.mkdtemp(prefix="inferstack-lora-")
# The scenario's picker weighs lora-affinity-scorer 2 beside queue-scorer and
# kv-cache-utilization-scorer 1 each; on idle pods the KV scorer's spread (a pod holding cached
# blocks of its adapter's prompts) can outweigh the 0.4 between "on the GPU" and "a free slot".
# Here it weighs 4: the test checks residency reaching the picker, not the scenario's weights.
with open(os.path.join(SOURCE_DIR, "config", "scenarios", "lora-residency", "stack.yaml")) as f:
    text = f.read()
assert "  - pluginRef: lora-affinity-scorer\n    weight: 2\n" in text
config = os.path.join(workdir, "stack.yaml")
with open(config, "w") as f:
    f.write(text.replace("  - pluginRef: lora-affinity-scorer\n    weight: 2\n",
                         "  - pluginRef: lora-affinity-scorer\n    weight: 4\n"))
port = free_port()
stack = Stack(config, port, env={"INFERSTACK_SET": f"InferenceGateway:spec.secretsDir={workdir}/secrets"})
url = stack.url
DEBUG = {"x-inferstack-debug-pick": "true"}


def ask(adapter):
    """The pod that served one request for `adapter`, and lora-affinity-scorer's score for it."""
    status, headers, body = curl(url + "/v1/completions",
                                 {"model": adapter, "prompt": f"Hello from {adapter}", "max_tokens": 4},
                                 headers=DEBUG, timeout=30)
    pod = headers.get("x-inference-pod")
    score = None
    try:
        decision = json.loads(headers.get("x-inferstack-pick-decision", "{}"))
        for cand in decision.get("profiles", [{}])[0].get("candidates", []):
            if cand.get("pod") == pod:
                score = cand.get("scores", {}).get("lora-affinity-scorer")
    except (ValueError, IndexError):
        pass
    return status, pod, score


def pod_metrics():
    """The pods' own /metrics: /pods/<ns>/<name>/metrics on the admin listener (dev); the pod
    processes' HTTP ports on the multi-process stack (5 ports each from its base + 100)."""
    texts = []
    if STACK == "multi":
        base = int(stack.control.rsplit(":", 1)[1]) - 2
        for pod_port in range(base + 100, base + 200, 5):
            try:
                status, _, text = curl(f"http://127.0.0.1:{pod_port}/metrics", timeout=2)
            except Exception:
                continue
            if status == 200 and "vllm:" in text:
                texts.append(text)
        return "\n".join(texts)
    status, _, names = curl(stack.control + "/pods", headers=stack.admin_headers())
    for name in (names.split() if status == 200 else []):
        path = name if "/" in name else "lora/" + name
        status, _, text = curl(f"{stack.control}/pods/{path}/metrics", headers=stack.admin_headers())
        if status == 200:
            texts.append(text)
    return "\n".join(texts)


def metric_sum(name):
    total = 0.0
    for line in pod_metrics().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


adapters = [f"adapter-{i}" for i in range(4)]  # 4 pods x 2 GPU slots: none has to be evicted
homes = {}
for adapter in adapters:
    status, pod, _ = ask(adapter)
    c.check(status == 200 and pod, f"{adapter}: the first request is served", f"{status} {pod}")
    homes[adapter] = pod
    time.sleep(0.3)  # the pod's next load report (every 50 ms) tells the picker it holds it
for adapter in adapters:
    for i in range(4):
        status, pod, score = ask(adapter)
        c.check(status == 200 and pod == homes[adapter],
                f"{adapter}: request {i + 2} goes back to the pod holding the adapter", f"{status} {pod} vs {homes[adapter]}")
        c.check(score == 1, f"{adapter}: lora-affinity-scorer gives that pod 1 (on its GPU)", str(score))
loads = metric_sum("inferstack_lora_adapter_loads_total")
c.check(loads == len(adapters), "each adapter was loaded once in all (no swaps)", str(loads))
loaded = [line for line in pod_metrics().splitlines()
          if line.startswith("vllm:lora_adapter_loaded{") and 'level="gpu"' in line and line.endswith(" 1")]
c.check(len(loaded) >= len(adapters), "the pods export the adapters they hold (vllm:lora_adapter_loaded)",
        str(len(loaded)))

stack.stop()
c.finish()
