"""A simulated run in the console page, in a real browser: `inferstack simulate` runs a small
autoscaled stack (one replica, 1 to 3 on its queue, in fast mode and in KEDA's) through a burst and writes console.html, the live console's page with the runs' snapshots in it;
Debian's headless Chromium (chromedriver, python3-selenium) opens that file from disk (file://,
no server), sees the one pod at the start, moves the slider to the end and sees the scale-up
(three pods, the scaler's decisions, three replicas desired), finds the moment the set's desired
replicas went up, plays the recording with its button, sees recorded picks with their
candidates' scores, and switches to the other variant (KEDA's polls scale up later). A screenshot is saved to
$INFERSTACK_RECORDING_SCREENSHOT (default: console-recording.png).

Bounded (< 1 min), everything it starts is stopped. Printed: snapshots, the scale-up's time."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

from harness import BINARY, Checks

c = Checks("a simulated run in the console page, in headless Chromium")
for tool in ("chromium", "chromedriver"):
    if not shutil.which(tool):
        print(f"{tool} is missing (tools/install-deps installs chromium and chromium-driver)")
        sys.exit(1)
from selenium import webdriver  # noqa: E402 (python3-selenium; after the tool check)
from selenium.webdriver.chrome.service import Service  # noqa: E402

screenshot = os.environ.get("INFERSTACK_RECORDING_SCREENSHOT",
                            os.path.abspath("console-recording.png"))
workdir = tempfile.mkdtemp(prefix="inferstack-console-recording-")

with open(f"{workdir}/stack.yaml", "w") as f:
    f.write(f"""apiVersion: inferstack.io/v1alpha1
kind: InferenceGateway
metadata: {{name: gateway}}
spec: {{listen: "127.0.0.1:8080", defaultNamespace: demo, secretsDir: {workdir}/secrets}}
---
apiVersion: inferstack.io/v1alpha1
kind: NodePool
metadata: {{name: h100}}
spec: {{instanceType: Standard_NC40ads_H100_v5, count: 4}}
---
apiVersion: inferstack.io/v1alpha1
kind: ModelPreset
metadata: {{name: llama-3.1-8b-instruct}}
spec:
  gpus: 1
  loadTime: 5s
  engine: {{profile: 8b-h100, max-num-seqs: "8", kv-cache-size: "2048", block-size: "16"}}
---
apiVersion: kaito.sh/v1alpha1
kind: APIKey
metadata: {{name: key, namespace: demo}}
spec: {{authDisabled: true}}
---
apiVersion: kaito.sh/v1alpha1
kind: InferenceSet
metadata:
  name: llama
  namespace: demo
  annotations:
    scaledobject.kaito.sh/auto-provision: "true"
    scaledobject.kaito.sh/threshold: "4"
    scaledobject.kaito.sh/min-replicas: "1"
    scaledobject.kaito.sh/max-replicas: "3"
    inferstack.io/scaling-mode: fast
spec:
  replicas: 1
  labelSelector: {{matchLabels: {{app: llama}}}}
  template:
    metadata: {{labels: {{app: llama}}}}
    resource: {{instanceType: Standard_NC40ads_H100_v5}}
    inference: {{preset: {{name: llama-3.1-8b-instruct}}}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {{name: llama, namespace: demo}}
spec:
  selector: {{matchLabels: {{app: llama}}}}
  targetPorts: [{{number: 8000}}]
  endpointPickerRef: {{name: llama-epp}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: llama, namespace: demo}}
spec:
  parentRefs: [{{name: gateway}}]
  rules:
  - matches: [{{headers: [{{type: Exact, name: X-Gateway-Model-Name, value: llama-3.1-8b-instruct}}]}}]
    backendRefs: [{{group: inference.networking.k8s.io, kind: InferencePool, name: llama}}]
""")
# Quiet for 10 s, then ten times the rate: the queue passes 4 a pod and the set scales up.
with open(f"{workdir}/workload.yaml", "w") as f:
    f.write("""load:
  type: poisson
  stages:
  - {rate: 2, duration: 10}
  - {rate: 20, duration: 30}
api: {type: completion, streaming: true}
data:
  type: shared_prefix
  shared_prefix: {num_groups: 4, num_prompts_per_group: 4, system_prompt_len: 300,
                  question_len: 50, output_len: 100}
""")

out = f"{workdir}/report"
run = subprocess.run([BINARY, "simulate", "-f", f"{workdir}/stack.yaml", "--workload",
                      f"{workdir}/workload.yaml", "--seed", "1", "--quiet", "--no-plots",
                      "--vary", "scaler=fast,keda", "--out", out], capture_output=True, text=True, timeout=60)
c.check(run.returncode == 0, "inferstack simulate ran", run.stderr[-1500:])
page = f"{out}/console.html"
c.check(os.path.exists(page) and os.path.exists(f"{out}/console-recording.json"),
        "the report has console.html and console-recording.json", str(os.listdir(out)))

options = webdriver.ChromeOptions()
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
            "--window-size=1500,1300", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update"):
    options.add_argument(arg)
options.binary_location = shutil.which("chromium")
driver = None


def js(script):
    return driver.execute_script(script)


def pods_on_page():
    return set(js("return [...document.querySelectorAll('tr[data-pod]')].map((e) => e.dataset.pod)"))


def desired():
    return js("const e = document.querySelector('[data-set=\"demo/llama\"]');"
              "return e ? Number(e.dataset.desired) : -1")


def seek(frame):
    js(f"const s = document.getElementById('seek'); s.value = '{frame}';"
       "s.dispatchEvent(new Event('input'));")


try:
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(20)
    driver.get("file://" + page)

    frames = int(js("return Number(document.getElementById('seek').max) + 1"))
    status = js("return document.getElementById('status').textContent")
    print(f"snapshots: {frames}; status: {status}")
    c.check(frames > 30, "the page holds the run's snapshots (one a virtual second)", str(frames))
    c.check(status.startswith("recorded run"), "the page plays a recording, no stream", status)
    c.check(not js("return document.getElementById('player').hidden"), "the player is shown")
    c.check(pods_on_page() == {"demo/llama-0"} and desired() == 1,
            "at the start: one pod, one replica desired", f"{pods_on_page()} {desired()}")
    c.check(js("return document.body.dataset.tMs") == "0", "the first snapshot is at t = 0")

    seek(frames - 1)
    end_pods = pods_on_page()
    decisions = js("return document.getElementById('decisions').textContent")
    c.check(end_pods == {"demo/llama-0", "demo/llama-1", "demo/llama-2"},
            "at the end: the three pods of the scale-up", str(end_pods))
    c.check(desired() == 3, "at the end: three replicas desired", str(desired()))
    c.check("demo/llama" in decisions and "→" in decisions and "above target" in decisions,
            "the scaler's decisions are listed", decisions)
    ready_rows = js("return [...document.querySelectorAll('tr[data-pod]')]"
                    ".filter((e) => e.dataset.phase === 'Ready').length")
    c.check(ready_rows == 3, "the three pods Ready by the end", str(ready_rows))

    # The moment of the scale-up: the first snapshot desiring more than one replica.
    def scale_up():
        for k in range(int(js("return Number(document.getElementById('seek').max) + 1"))):
            seek(k)
            if desired() > 1:
                return (k, int(js("return document.body.dataset.tMs")) / 1000, pods_on_page())
        return None

    scaled_at = scale_up()
    print(f"scale-up seen at snapshot {scaled_at and scaled_at[0]}, "
          f"t = {scaled_at and scaled_at[1]} s")
    c.check(scaled_at is not None and 10 <= scaled_at[1] < 40 and len(scaled_at[2]) > 1,
            "a scale-up appears during the burst, its new pods with it", str(scaled_at))
    if scaled_at:
        seek(scaled_at[0] - 1)
        c.check(desired() == 1, "one snapshot earlier, one replica desired", str(desired()))

    # Picks recorded with their candidates' scores, at the run's time.
    picked = js("return document.querySelectorAll('#picks tr[data-pick] .cand.picked').length")
    c.check(picked > 0, "recorded picks with their scores", str(picked))

    # Play: the frames advance by themselves.
    seek(0)
    js("document.getElementById('play').click()")
    end = time.time() + 10
    while time.time() < end and int(js("return Number(document.body.dataset.frame)")) < 5:
        time.sleep(0.1)
    played = int(js("return Number(document.body.dataset.frame)"))
    c.check(played >= 5, "the play button moves through the snapshots", str(played))
    js("document.getElementById('play').click()")  # pause

    # The other variant: its own snapshots, from its own start; KEDA's 30 s polls scale later.
    options = js("return [...document.getElementById('run').options].map((o) => o.text)")
    c.check(options == ["fast", "keda"] and
            not js("return document.getElementById('run').hidden"),
            "a variant chooser with both runs", str(options))
    js("const r = document.getElementById('run'); r.value = '1';"
       "r.dispatchEvent(new Event('change'));")
    c.check(pods_on_page() == {"demo/llama-0"} and js("return document.body.dataset.tMs") == "0",
            "the other variant starts at its own t = 0", str(pods_on_page()))
    keda_at = scale_up()
    print(f"keda's scale-up at t = {keda_at and keda_at[1]} s")
    c.check(keda_at is not None and scaled_at is not None and keda_at[1] > scaled_at[1],
            "the other variant's own run: KEDA scales up later", f"{keda_at} {scaled_at}")
    js("const r = document.getElementById('run'); r.value = '0';"
       "r.dispatchEvent(new Event('change'));")

    # Nothing was fetched: the page and its data are the one file.
    fetched = js("return performance.getEntriesByType('resource').map((e) => e.name)")
    c.check(fetched == [], "the page fetched nothing", str(fetched))
    # The picture: a few seconds after the scale-up, the queue long and the new pods up.
    seek(min(frames - 1, scaled_at[0] + 8) if scaled_at else frames - 1)
    os.makedirs(os.path.dirname(screenshot) or ".", exist_ok=True)
    c.check(driver.save_screenshot(screenshot) and os.path.getsize(screenshot) > 10000,
            "a screenshot is saved", screenshot)
    print(f"screenshot: {screenshot}")
finally:
    if driver:
        driver.quit()
    shutil.rmtree(workdir, ignore_errors=True)
c.finish()
