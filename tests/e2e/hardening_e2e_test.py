"""Issue 16's findings, tried as an attacker and as an operator would, on `inferstack dev` and on
the multi-process stack: the control API is not on the tenants' listener and asks for a token on
its own; 10,000 requests with made-up Hosts, models and keys leave /metrics and the memory flat;
X-Return-Error from a client does not reach pods; one access-log line per request and the
request id on every role's debug lines; and the smaller items (LOCALHOST, a 30 KB X-Request-Id,
top_logprobs, the error bodies of a body without a usable model)."""

import http.client
import json
import os
import random
import re
import subprocess
import tempfile
import time

from harness import BINARY, SOURCE_DIR, STACK, Checks, Process, Stack, curl, free_port

c = Checks(f"hardening e2e ({STACK})")
workdir = tempfile.mkdtemp(prefix="inferstack-hardening-")
port = free_port()
stack = Stack(os.path.join(SOURCE_DIR, "config", "dev.yaml"), port, log_level="debug",
              env={"INFERSTACK_SET": f"InferenceGateway:spec.secretsDir={workdir}/secrets"})
url = stack.url
key_a = open(f"{workdir}/secrets/team-a/llm-api-key").read().strip()
A = {"Host": "team-a.gw.example.com", "Authorization": f"Bearer {key_a}"}
chat = {"model": "llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 4}
admin_token = open(f"{workdir}/secrets/inferstack-admin/admin-token").read().strip()
read_token = open(f"{workdir}/secrets/inferstack-admin/read-token").read().strip()
c.check(os.stat(f"{workdir}/secrets/inferstack-admin/admin-token").st_mode & 0o777 == 0o600,
        "the generated admin token file is 0600")
printed = "\n".join(stack.lines)
c.check(admin_token not in printed and read_token not in printed, "admin tokens are never printed")


def set_replicas(name):
    status, _, body = curl(stack.control + "/control/inferencesets", headers=stack.admin_headers())
    for s in json.loads(body).get("inferencesets", []) if status == 200 else []:
        if s["name"] == name:
            return s["desired"]
    return None


# -- finding 1: the control API is not on the tenants' listener --------------------------------------
before = set_replicas("qwen2-5-32b")
for method, path, body in (("POST", "/control/scale", {"namespace": "team-b", "inferenceset": "qwen2-5-32b",
                                                       "replicas": 0}),
                           ("GET", "/control/pods", None), ("GET", "/pods", None), ("GET", "/metrics", None),
                           ("GET", "/pods/team-a/llama-3-1-8b-0/metrics", None)):
    for headers in ({}, {"Host": "team-b.gw.example.com"}, A):
        status, _, text = curl(url + path, body, headers=headers, method=method)
        c.check(status == 404, f"tenant listener: {method} {path} is not there ({headers.get('Host', '-')})",
                f"{status} {text[:120]}")
c.check(set_replicas("qwen2-5-32b") == before, "nobody on the tenant port scaled another namespace")

scale = {"namespace": "team-b", "inferenceset": "qwen2-5-32b", "replicas": before}
status, headers, text = curl(stack.control + "/control/scale", scale, method="POST")
c.check(status == 401 and headers.get("www-authenticate") == "Bearer", "admin API: no token, 401", text[:200])
status, _, _ = curl(stack.control + "/control/pods", headers={"Authorization": "Bearer " + key_a})
c.check(status == 401, "admin API: a tenant's API key is not an admin token", str(status))
status, _, _ = curl(stack.control + "/control/pods", headers={"Authorization": "Bearer " + read_token})
c.check(status == 200, "admin API: the read-only token reads", str(status))
status, _, text = curl(stack.control + "/control/scale", scale, method="POST",
                       headers={"Authorization": "Bearer " + read_token})
c.check(status == 403, "admin API: the read-only token may not scale", f"{status} {text[:200]}")
status, _, text = curl(stack.control + "/control/scale", scale, method="POST",
                       headers={"Authorization": "Bearer " + admin_token})
c.check(status == 200, "admin API: the admin token scales", f"{status} {text[:200]}")
status, _, text = curl(stack.control + "/metrics")
c.check(status == 200 and "inferstack_build_info" in text, "admin API: /metrics for Prometheus, no token")

token_file = f"{workdir}/secrets/inferstack-admin/admin-token"
get = subprocess.run([BINARY, "get", "inferencesets", "--server", stack.control, "--token-file", token_file],
                     capture_output=True, text=True, timeout=20)
c.check(get.returncode == 0 and "qwen2-5-32b" in get.stdout, "inferstack get with --token-file", get.stderr)
unauthorized = subprocess.run([BINARY, "scale", "team-b/qwen2-5-32b", "--replicas", "0", "--server", stack.control,
                               "--token-file", os.devnull], capture_output=True, text=True, timeout=20)
c.check(unauthorized.returncode != 0 and "401" in unauthorized.stderr, "inferstack scale without a token is refused",
        unauthorized.stderr)
c.check(set_replicas("qwen2-5-32b") == before, "still as it was")

if STACK == "dev":
    remote = subprocess.run([BINARY, "dev", "-f", os.path.join(SOURCE_DIR, "config", "dev.yaml"), "--listen",
                             "127.0.0.1:0", "--admin-listen", "0.0.0.0:0", "--log-level", "warn"],
                            capture_output=True, text=True, timeout=30,
                            env={**os.environ, "INFERSTACK_SET": f"InferenceGateway:spec.secretsDir={workdir}/s2"})
    c.check(remote.returncode != 0 and "adminAllowRemote" in remote.stdout + remote.stderr,
            "a non-loopback admin address is off unless asked for", (remote.stdout + remote.stderr)[-300:])

# -- finding 7: one access-log line per request, and the request id on every role's debug lines ------
status, headers, _ = curl(url + "/v1/chat/completions", chat, headers={**A, "X-Request-Id": "trace-me-42"})
c.check(status == 200, "a traced request is answered")
deadline = time.time() + 5
want = ["[gateway]", "[authorizer]", "[router]", "[picker]", "[access]"] + (["[pod"] if STACK == "dev" else [])
while time.time() < deadline:
    traced = [line for line in stack.lines if "trace-me-42" in line]
    if all(any(w in line for line in traced) for w in want):
        break
    time.sleep(0.1)
for w in want:
    c.check(any(w in line for line in traced), f"the request id is on a {w} line", "\n".join(traced[-12:]))
access = [line for line in traced if "[access]" in line]
c.check(len(access) == 1 and " status=200" in access[0] and "namespace=team-a" in access[0] and
        "model=llama-3.1-8b-instruct" in access[0] and "pod=team-a/" in access[0] and "ttft_s=" in access[0],
        "one access-log line with namespace, model, pod, status and TTFT", "\n".join(access))

# -- finding 3: X-Return-Error from a client does not reach the pods -----------------------------------
for code in ("503", "1000", "99"):
    status, _, text = curl(url + "/v1/chat/completions", chat, headers={**A, "X-Return-Error": code})
    c.check(status == 200, f"X-Return-Error {code} from a client is not fault injection", f"{status} {text[:200]}")

# -- finding 8: the smaller items --------------------------------------------------------------------
status, _, text = curl(url + "/v1/chat/completions", {**chat, "model": "no-such-model"}, headers=A)
_, hdrs, _ = curl(url + "/v1/chat/completions", {**chat, "model": "no-such-model"}, headers=A)
c.check(status == 404 and hdrs.get("x-kaito-error-source") == "bbr", "404 model_not_found names its source (bbr)",
        str(hdrs))
status, _, text = curl(url + "/v1/chat/completions", {"messages": chat["messages"]}, headers=A)
err = json.loads(text).get("error", {}) if status == 400 else {}
c.check(err.get("code") and err.get("param") == "model", "a body without model has a code and param",
        text[:300])
status, _, text = curl(url + "/v1/chat/completions", "{not json", headers=A)
message = json.loads(text).get("error", {}).get("message", "") if status == 400 else ""
c.check(message.count("could not parse") == 1 and message.count("(") == 1, "the JSON parse error is said once",
        message)
status, _, text = curl(url + "/v1/chat/completions", {**chat, "logprobs": True, "top_logprobs": 1000000}, headers=A)
c.check(status == 400 and json.loads(text)["error"].get("param") == "top_logprobs", "top_logprobs 1000000 refused",
        text[:300])
status, _, _ = curl(url + "/v1/chat/completions", chat, headers={"Host": "LOCALHOST",
                                                                 "Authorization": f"Bearer {key_a}"})
status_lower, _, _ = curl(url + "/v1/chat/completions", chat, headers={"Host": "localhost",
                                                                       "Authorization": f"Bearer {key_a}"})
c.check(status == status_lower == 200, "LOCALHOST and localhost are the same (default) namespace",
        f"{status} {status_lower}")
long_id = "x" * 30000
_, hdrs, _ = curl(url + "/v1/chat/completions", chat, headers={**A, "X-Request-Id": long_id})
c.check(hdrs.get("x-request-id") and len(hdrs["x-request-id"]) <= 128, "a 30 KB X-Request-Id is not adopted",
        str(len(hdrs.get("x-request-id", ""))))


# -- finding 2: 10,000 requests with made-up Hosts, models and keys leave /metrics and memory flat ----
def rss_kb():
    """Resident memory of the process that serves the OpenAI API (the gateway)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            status = open(f"/proc/{pid}/status").read()
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in cmd]
        if f"127.0.0.1:{port}" in args and ("dev" in args or "gateway" in args):
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    return total


def hammer(n, seed):
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    statuses = {}
    for i in range(n):
        host = f"ns{rng.randrange(1 << 30):x}.gw.example.com"
        model = f"model-{rng.randrange(1 << 30):x}"
        key = f"sk-{rng.randrange(1 << 60):x}"
        kind = i % 3
        if kind == 1:  # a real namespace, a made-up key and model
            host = "team-a.gw.example.com"
        elif kind == 2:  # a real key, a made-up model
            host, key = "team-a.gw.example.com", key_a
        body = json.dumps({"model": model, "messages": [{"role": "user", "content": "x"}]})
        try:
            conn.request("POST", "/v1/chat/completions", body,
                         {"Host": host, "Authorization": f"Bearer {key}", "Content-Type": "application/json",
                          "X-Return-Error": str(rng.randrange(1000, 99999))})
            res = conn.getresponse()
            res.read()
            statuses[res.status] = statuses.get(res.status, 0) + 1
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.close()
    return statuses


def metrics_series():
    return len([line for line in stack.metrics().splitlines() if line and not line.startswith("#")])


hammer(1000, 1)
series_before, rss_before = metrics_series(), rss_kb()
statuses = hammer(10000, 2)
series_after, rss_after = metrics_series(), rss_kb()
c.check(set(statuses) <= {401, 404}, "made-up hosts, keys and models are refused", json.dumps(statuses))
c.check(series_after == series_before, "10,000 made-up requests add no metric series",
        f"{series_before} -> {series_after}")
c.check(rss_after - rss_before < 16 * 1024, "... and the gateway's memory stays flat (< 16 MB)",
        f"{rss_before} kB -> {rss_after} kB")
print(f"hardening: /metrics series {series_before} -> {series_after}, gateway RSS {rss_before} -> {rss_after} kB "
      f"after 10,000 made-up requests")

stack.stop()
c.finish()
