"""The Grafana dashboards (manifests/grafana/dashboards/*.json) against real data: `inferstack dev`
with the shipped config/dev.yaml, scraped by Debian's Prometheus with the shipped scrape config
(manifests/grafana/prometheus/dev.yml; only the admin port, the read token's path and a 1 s scrape
interval differ), under a short load through the gateway -- chat completions for the three
models, some streamed, repeated prompts (prefix-cache hits), an unknown model and a wrong key
(errors), a burst that makes the scaler add phi-4-mini replicas, and one that saturates
qwen2.5-32b's pool so requests wait in its picker's flow-control queue. Then every query of every
panel of every dashboard, and every template variable's, is evaluated through Prometheus's HTTP
API and must return data (at least one series with a number, not NaN): a panel on a metric that
does not exist or has no samples fails here, naming its dashboard, panel and query.

Prometheus runs on its own free port with its own storage directory (never Debian's service)."""

import glob
import http.client
import json
import math
import os
import re
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

from harness import SOURCE_DIR, Checks, Process, Stack, free_port

GRAFANA = os.path.join(SOURCE_DIR, "manifests", "grafana")
PROMETHEUS = "/usr/bin/prometheus"
RATE_INTERVAL = "30s"  # what $__rate_interval / $__interval become (1 s scrapes)

c = Checks("dashboards e2e")
if not os.path.exists(PROMETHEUS):
    c.check(False, f"{PROMETHEUS} is installed (tools/install-deps: the prometheus package)")
    c.finish()
started = time.time()
workdir = tempfile.mkdtemp(prefix="inferstack-dashboards-")
port = free_port()
dev = Stack(os.path.join(SOURCE_DIR, "config", "dev.yaml"), port,
            env={"INFERSTACK_SET": f"InferenceGateway:spec.secretsDir={workdir}/secrets"})
admin = dev.control.split("//", 1)[1]  # 127.0.0.1:<port>, where /metrics and /pods/... answer
read_token = f"{workdir}/secrets/inferstack-admin/read-token"
c.check(os.path.exists(read_token), "inferstack dev made the admin read token", read_token)

# -- Prometheus on the shipped dev scrape config ---------------------------------------------------
with open(os.path.join(GRAFANA, "prometheus", "dev.yml")) as f:
    config = yaml.safe_load(f)
config["global"]["scrape_interval"] = "1s"
config["global"]["evaluation_interval"] = "1s"
for job in config["scrape_configs"]:
    if "authorization" in job:
        job["authorization"]["credentials_file"] = read_token
    for group in job.get("static_configs", []):
        group["targets"] = [admin if t == "127.0.0.1:8081" else t for t in group["targets"]]
with open(f"{workdir}/prometheus.yml", "w") as f:
    yaml.safe_dump(config, f)
prom_port = free_port()
prom_url = f"http://127.0.0.1:{prom_port}"
Process([PROMETHEUS, f"--config.file={workdir}/prometheus.yml", f"--storage.tsdb.path={workdir}/tsdb",
         f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"])


def prom_query(expr):
    """(result list, error text) of an instant query."""
    url = prom_url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        return None, e.read().decode(errors="replace")[:300]
    except OSError as e:
        return None, str(e)
    if body.get("status") != "success":
        return None, json.dumps(body)[:300]
    return body["data"]["result"], ""


def wait_for(what, predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return c.check(False, what, f"not within {timeout} s")


def up_targets():
    result, _ = prom_query("sum(up)")
    return float(result[0]["value"][1]) if result else 0


# The stack's own target and the nine pods that exist at start (phi-4-mini-2 and -3 come with
# the scale-up).
wait_for("Prometheus scrapes inferstack dev and its 9 pods", lambda: up_targets() >= 10, 30)

# -- the load ---------------------------------------------------------------------------------------
keys = {ns: open(f"{workdir}/secrets/{ns}/llm-api-key").read().strip() for ns in ("team-a", "team-b")}
MODELS = [("team-a", "llama-3.1-8b-instruct"), ("team-a", "phi-4-mini-instruct"), ("team-b", "qwen2.5-32b-instruct")]
PROMPTS = ["You are a helpful assistant. Summarise the plot of Hamlet in three sentences, please.",
           "You are a helpful assistant. List five prime numbers and explain why each one is prime."]
statuses = []
lock = threading.Lock()


def chat(ns, model, prompt, stream, max_tokens=16, key=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=90)
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "ignore_eos": True, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    try:
        conn.request("POST", "/v1/chat/completions", json.dumps(body),
                     {"Host": f"{ns}.gw.example.com", "Authorization": f"Bearer {key or keys[ns]}",
                      "Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        status = resp.status
    except OSError:
        status = 0
    finally:
        conn.close()
    with lock:
        statuses.append(status)
    return status


def mixed_round():
    """Each model: the same two prompts three times (prefix-cache hits), every other one
    streamed, four at a time; an unknown model (404) and a wrong key (401)."""
    jobs = [(ns, m, PROMPTS[i % 2], i % 2 == 0) for ns, m in MODELS for i in range(6)]
    for i in range(0, len(jobs), 4):
        threads = [threading.Thread(target=chat, args=j) for j in jobs[i:i + 4]]
        [t.start() for t in threads]
        [t.join() for t in threads]
    errors = [chat("team-a", "no-such-model", "Hello!", False), chat("team-a", MODELS[0][1], "Hello!", False, key="sk-wrong")]
    return errors


errors = mixed_round()
c.check(errors == [404, 401], "an unknown model is a 404, a wrong key a 401", str(errors))
time.sleep(2)  # a few scrapes between the rounds: the rates below see the counters move

# A burst on phi-4-mini (2 pods, 32 running each, the scaler's threshold 10 waiting per pod):
# 100 requests at once queue on both pods, and the scaler (fast mode) adds replicas.
burst = [threading.Thread(target=chat, args=("team-a", "phi-4-mini-instruct", f"burst {i}", i % 2 == 0, 300))
         for i in range(100)]
[t.start() for t in burst]
scaled = wait_for("the burst makes the scaler scale phi-4-mini up (inferstack_scaler_decisions_total)",
                  lambda: (prom_query('inferstack_scaler_decisions_total{inferenceset="phi-4-mini",direction="up"}')[0]
                           or []) != [], 60)
[t.join() for t in burst]

# A burst on qwen2.5-32b, whose picker has flow control on (dev.yaml: KAITO's config): 2 pods of
# 64 running each, saturated at 5 waiting per pod (llm-d's utilization-detector), so 200 requests
# at once fill the pods and the rest wait in the picker's queue until running ones finish.
burst = [threading.Thread(target=chat, args=("team-b", "qwen2.5-32b-instruct", f"flow {i}", i % 2 == 0, 100))
         for i in range(200)]
[t.start() for t in burst]
queued = wait_for("the qwen burst waits in the picker's flow-control queue (llm_d_epp_flow_control_queue_size)",
                  lambda: (prom_query('sum(llm_d_epp_flow_control_queue_size{inference_pool=~".*qwen2-5-32b"}) > 0')[0]
                           or []) != [], 60)
[t.join() for t in burst]
time.sleep(2)  # the queue's last scrapes
QWEN = '{inference_pool=~".*qwen2-5-32b"}'
deepest = prom_query(f"max_over_time(sum(llm_d_epp_flow_control_queue_size{QWEN})[1m:1s])")[0] or []
wait_p90 = prom_query("histogram_quantile(0.9, sum by (le) (increase("
                      f"llm_d_epp_flow_control_request_queue_duration_seconds_bucket{QWEN}[1m])))")[0] or []
print(f"qwen burst: at most {deepest[0]['value'][1] if deepest else '?'} requests in the picker's queue, "
      f"queue wait p90 {float(wait_p90[0]['value'][1]) if wait_p90 else float('nan'):.2f} s", flush=True)
errors = mixed_round()
ok = sum(1 for s in statuses if s == 200)
c.check(ok == len(statuses) - 4, "every request but the four refused ones succeeded",
        f"{ok} of {len(statuses)}: {sorted(set(statuses))}")
time.sleep(3)  # the last scrapes
print(f"load: {len(statuses)} requests, {ok} succeeded; scale-up seen: {scaled}; queued in the picker: {queued}; "
      f"{time.time() - started:.0f} s so far", flush=True)

# -- every panel's query ---------------------------------------------------------------------------


def substitute(expr):
    expr = expr.replace("$__rate_interval", RATE_INTERVAL).replace("$__interval", RATE_INTERVAL)
    expr = expr.replace("$__range", "5m")
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", ".*", expr)  # every template variable: all values


def check_result(where, expr):
    result, error = prom_query(substitute(expr))
    if result is None:
        return c.check(False, where, f"query failed: {error}: {expr}")
    numbers = [r for r in result if not math.isnan(float(r["value"][1]))]
    return c.check(numbers != [], where, f"{'no series' if not result else 'only NaN'}: {expr}")


def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))  # a collapsed row keeps its panels inside


files = sorted(glob.glob(os.path.join(GRAFANA, "dashboards", "*.json")))
c.check(len(files) >= 3, "the dashboards are there", str(files))
queries = 0
uids = set()
for path in files:
    with open(path) as f:
        board = json.load(f)
    title = board.get("title", os.path.basename(path))
    c.check(board.get("uid") not in uids, f"{title}: a uid of its own")
    uids.add(board.get("uid"))
    for var in board.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q.strip())
        if c.check(m is not None, f"{title}: variable {var['name']} is label_values(metric, label)", q):
            check_result(f"{title}: variable {var['name']}", f"count by ({m.group(2)}) ({m.group(1)})")
            queries += 1
    for p in panels(board.get("panels", [])):
        for t in p.get("targets", []):
            if "expr" not in t:
                continue
            uses = (t.get("datasource") or p.get("datasource") or {}).get("uid")
            c.check(uses == "${datasource}", f"{title} / {p['title']}: the datasource variable", str(uses))
            check_result(f"{title} / {p['title']} / {t.get('refId')} ({t.get('legendFormat', '')})", t["expr"])
            queries += 1

# The Kubernetes ConfigMap carries every dashboard.
with open(os.path.join(GRAFANA, "kustomization.yaml")) as f:
    kust = yaml.safe_load(f)
listed = {os.path.basename(p) for g in kust["configMapGenerator"] for p in g["files"]}
c.check(listed == {os.path.basename(p) for p in files}, "kustomization.yaml's ConfigMap holds every dashboard",
        str(sorted(listed)))
print(f"{queries} queries over {len(files)} dashboards in {time.time() - started:.0f} s", flush=True)
dev.stop()
c.finish()
