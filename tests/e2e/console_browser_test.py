"""The live console in a real browser: Debian's headless Chromium, driven through chromedriver
by python3-selenium, loads /ui from `inferstack dev` (the embedded config/dev.yaml, its secrets
in a temporary directory), sees every pod of the configuration, then a burst of streamed
requests to phi-4-mini-instruct (autoscaled 2-4 on its queue, fast mode) scales its set up and
the new replica appears on the page by itself (Server-Sent Events, no reload). A screenshot is
saved to $INFERSTACK_CONSOLE_SCREENSHOT (default: console.png in the current directory).

127.0.0.1 only, bounded (< 2 min), everything it starts is stopped. Counts are printed: pods
seen, requests sent, seconds until the new replica showed."""

import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.request

import yaml

from harness import SOURCE_DIR, Checks, Stack, free_port

c = Checks("console in headless Chromium")
for tool in ("chromium", "chromedriver"):
    if not shutil.which(tool):
        print(f"{tool} is missing (tools/install-deps installs chromium and chromium-driver)")
        sys.exit(1)
from selenium import webdriver  # noqa: E402 (python3-selenium; after the tool check)
from selenium.webdriver.chrome.service import Service  # noqa: E402

DEADLINE = time.time() + 110
screenshot = os.environ.get("INFERSTACK_CONSOLE_SCREENSHOT", os.path.abspath("console.png"))
workdir = tempfile.mkdtemp(prefix="inferstack-console-browser-")
port = free_port()

# config/dev.yaml as `inferstack dev` embeds it, with its generated secrets kept out of the tree.
config_text = open(os.path.join(SOURCE_DIR, "config", "dev.yaml")).read()
config_text = config_text.replace("secretsDir: var/secrets", f"secretsDir: {workdir}/secrets")
with open(f"{workdir}/dev.yaml", "w") as f:
    f.write(config_text)
expected = set()
for doc in yaml.safe_load_all(config_text):
    if doc and doc.get("kind") == "InferenceSet":
        meta = doc["metadata"]
        for i in range(doc["spec"].get("replicas", 1)):
            expected.add(f"{meta['namespace']}/{meta['name']}-{i}")

stack = Stack(f"{workdir}/dev.yaml", port)
options = webdriver.ChromeOptions()
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
            "--window-size=1500,1300", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update"):
    options.add_argument(arg)
options.binary_location = shutil.which("chromium")
driver = None
stop_load = threading.Event()


def wait_until(what, predicate, limit):
    """Polls `predicate` (every 100 ms) until it holds or `limit` seconds (or the test's
    deadline) have passed."""
    end = min(time.time() + limit, DEADLINE)
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return None


# The page redraws every second: read it in one script, not element by element (stale refs).
def pods_on_page():
    return set(driver.execute_script(
        "return [...document.querySelectorAll('tr[data-pod]')].map((e) => e.dataset.pod)"))


def page_text(element_id):
    return driver.execute_script(f"return document.getElementById('{element_id}').textContent")


try:
    admin = stack.control
    read_token_file = os.path.join(os.path.dirname(stack.admin_token_file), "read-token")
    token = open(read_token_file).read().strip()
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(20)
    driver.get(f"{admin}/ui#token={token}")

    shown = wait_until("every pod", lambda: pods_on_page() >= expected, 20)
    print(f"pods: {len(expected)} in config/dev.yaml, {len(pods_on_page())} on the page")
    c.check(bool(shown), "the page lists every pod of the dev config",
            str(sorted(expected - pods_on_page())))
    c.check("token" not in driver.current_url, "the token leaves the address bar",
            driver.current_url)
    c.check(page_text("status") == "live", "the page is live", page_text("status"))
    namespaces = set(driver.execute_script(
        "return [...document.querySelectorAll('[data-namespace]')].map((e) => e.dataset.namespace)"))
    c.check(namespaces == {"team-a", "team-b"}, "both namespaces", str(namespaces))
    sparklines = driver.execute_script(
        "return document.querySelectorAll('[data-set] svg path').length")
    c.check(sparklines == 8, "two lines (desired, ready) per InferenceSet", str(sparklines))

    # Real load: streamed chat completions to phi-4-mini-instruct, more than its two pods run
    # at once (32 each), so requests wait and the scaler adds replicas.
    key = open(f"{workdir}/secrets/team-a/llm-api-key").read().strip()
    sent = [0]

    def client(n):
        while not stop_load.is_set() and time.time() < DEADLINE:
            # A prompt of its own per client: the picker's prefix scoring spreads them.
            prompt = f"client {n} asks for a story " * 20
            body = json.dumps({"model": "phi-4-mini-instruct", "stream": True, "max_tokens": 400,
                               "messages": [{"role": "user", "content": prompt}]})
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions",
                                         data=body.encode(), headers={
                                             "Authorization": "Bearer " + key,
                                             "Content-Type": "application/json",
                                             "Host": "team-a.gw.example.com"})
            sent[0] += 1
            try:
                with urllib.request.urlopen(req, timeout=30) as res:
                    while res.read(65536) and not stop_load.is_set():
                        pass
            except OSError:
                pass

    before = pods_on_page()
    started = time.time()
    clients = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(120)]
    for t in clients:
        t.start()

    def scaled():
        new = {p for p in pods_on_page() - before if p.startswith("team-a/phi-4-mini-")}
        desired = driver.execute_script(
            "const e = document.querySelector('[data-set=\"team-a/phi-4-mini\"]');"
            "return e ? Number(e.dataset.desired) : 0")
        return new if new and desired > 2 else None

    new = wait_until("a new replica", scaled, 45)
    print(f"requests sent: {sent[0]}; new replica(s) {sorted(new or [])} on the page after "
          f"{time.time() - started:.1f} s")
    c.check(bool(new), "a scale-up's new replica appears on the page without a reload")
    decisions = page_text("decisions")
    c.check("phi-4-mini" in decisions and "→" in decisions,
            "the scaler's decision is listed", decisions)
    picked = driver.execute_script(
        "return [...document.querySelectorAll('#picks tr[data-pick] .cand.picked')].length")
    c.check(picked > 0, "the pickers' recent picks are listed with their scores", str(picked))
    # A moment for the queues and the new pod's loading to show, then the picture.
    time.sleep(min(3, max(0, DEADLINE - time.time())))
    os.makedirs(os.path.dirname(screenshot) or ".", exist_ok=True)
    c.check(driver.save_screenshot(screenshot) and os.path.getsize(screenshot) > 10000,
            "a screenshot is saved", screenshot)
    print(f"screenshot: {screenshot}")
finally:
    stop_load.set()
    if driver:
        driver.quit()
    stack.stop()
c.finish()
