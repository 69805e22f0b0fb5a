"""Shared pieces of the end-to-end tests: start inferstack processes, talk HTTP with curl,
count checks. Only 127.0.0.1, every wait bounded, every process stopped on exit."""

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

BINARY = os.environ.get("INFERSTACK_BINARY", "build/nodes/inferstack")
SOURCE_DIR = os.environ.get("INFERSTACK_SOURCE_DIR", os.getcwd())
NODE_CLIENT = os.path.join(SOURCE_DIR, "tests", "e2e", "node", "openai_client.mjs")

_processes = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_range(n):
    """The first of n consecutive ports on 127.0.0.1 that are all free right now."""
    while True:
        base = free_port()
        if base + n > 65535:
            continue
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base


class Process:
    """A child process whose stdout is collected line by line."""

    def __init__(self, args, ready=None, timeout=15, env=None):
        self.args = args
        self.lines = []
        self.cv = threading.Condition()
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **(env or {})}, start_new_session=True)
        _processes.append(self)
        threading.Thread(target=self._read, daemon=True).start()
        if ready and not self.wait_for(ready, timeout):
            self.stop()
            raise RuntimeError(f"{args[0]} did not print {ready!r} within {timeout}s:\n" +
                               "\n".join(self.lines[-30:]))

    def _read(self):
        for line in self.proc.stdout:
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.cv.notify_all()

    def wait_for(self, needle, timeout):
        deadline = time.time() + timeout
        with self.cv:
            while True:
                for line in self.lines:
                    if needle in line:
                        return line
                left = deadline - time.time()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cv.wait(min(left, 0.1))

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode


@atexit.register
def _stop_all():
    for p in _processes:
        p.stop(signal.SIGKILL, 5)


def curl(url, body=None, headers=None, method=None, timeout=20, stream=False):
    """Returns (status, headers dict, body text)."""
    args = ["curl", "-sS", "-D", "-", "--max-time", str(timeout)]
    if stream:
        args.append("-N")
    if method:
        args += ["-X", method]
    for k, v in (headers or {}).items():
        args += ["-H", f"{k}: {v}"]
    body_file = None
    if body is not None:
        text = body if isinstance(body, str) else json.dumps(body)
        if len(text) > 64 * 1024:  # too long for a command line: hand it over in a file
            import tempfile
            body_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
            body_file.write(text)
            body_file.close()
            text = "@" + body_file.name
        args += ["-H", "Content-Type: application/json", "--data-binary", text]
    args.append(url)
    # bytes, not text: text mode would turn the header block's CRLFs into LFs
    try:
        out = subprocess.run(args, capture_output=True, timeout=timeout + 5)
    finally:
        if body_file:
            os.unlink(body_file.name)
    raw = out.stdout.decode("utf-8", errors="replace")
    head, _, payload = raw.partition("\r\n\r\n")
    # 100-continue or similar interim responses
    while head.startswith("HTTP/1.1 1"):
        head, _, payload = payload.partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    hdrs = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, payload


def sse_events(body):
    """The data payloads of an SSE body, in order."""
    events = []
    for block in body.split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: "):
                events.append(line[6:])
    return events


def node_client(base_url, api_key, model, scenarios, host=None, timeout=60):
    env = dict(os.environ)
    if host:
        env["E2E_HOST"] = host
    out = subprocess.run(["node", NODE_CLIENT, base_url, api_key, model, *scenarios],
                         capture_output=True, text=True, timeout=timeout, env=env)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"failure": out.stdout + out.stderr}


def pick_decisions(admin, token, tag):
    """The pick decisions a process's pickers kept (GET <admin>/debug/picks, oldest first) of
    requests whose x-request-id starts with `tag`."""
    status, _, body = curl(admin + "/debug/picks?limit=0", headers={"Authorization": "Bearer " + token}, timeout=5)
    if status != 200:
        return []
    data = json.loads(body)
    items = data.get("decisions", data.get("picks", [])) if isinstance(data, dict) else data
    out = [d for d in items if str(d.get("request_id", "")).startswith(tag)]
    return sorted(out, key=lambda d: d.get("seq", 0))


def replication_stats(admin):
    """A process's picker replicas' gossip figures (inferstack_picker_replication{stat=...} on
    <admin>/metrics)."""
    status, _, body = curl(admin + "/metrics", timeout=2)
    if status != 200:
        return {}
    return {m.group(1): float(m.group(2)) for m in re.finditer(
        r'^inferstack_picker_replication\{[^}]*stat="([a-z_]+)"[^}]*\} (\S+)$', body, re.M)}


def prefix_score(decision, pod):
    """The prefix scorer's score for `pod` in a pick decision (GET /debug/picks; its first
    profile), or None."""
    for profile in decision.get("profiles", []) or [decision]:
        for cand in profile.get("candidates", []):
            if cand.get("pod") == pod:
                return max((v for k, v in cand.get("scores", {}).items() if "prefix" in k), default=None)
    return None


STACK = os.environ.get("INFERSTACK_E2E_STACK", "dev")  # dev | multi
# multi only: the gateway runs every pool's picker itself and reaches the pods over HTTP
# (stack-up --local-pickers --pods-over-http): no picker processes, one hop a request.
LOCAL_PICKERS = STACK == "multi" and os.environ.get("INFERSTACK_E2E_LOCAL_PICKERS") == "1"
_PORT_CLAIMS = "/tmp/inferstack-e2e-port-ranges"


def _claim_port_range():
    """A base port whose 1,200 ports no other test running now uses (a stack-up range): claimed
    with an atomic mkdir, given back at exit."""
    os.makedirs(_PORT_CLAIMS, exist_ok=True)
    for base in range(20000, 60000, 1200):
        claim = os.path.join(_PORT_CLAIMS, str(base))
        try:
            os.mkdir(claim)
        except FileExistsError:
            # A claim left by a test that died: free it once its owner is gone.
            try:
                owner = int(open(os.path.join(claim, "pid")).read())
                os.kill(owner, 0)
                continue
            except (OSError, ValueError):
                pass
        with open(os.path.join(claim, "pid"), "w") as f:
            f.write(str(os.getpid()))
        atexit.register(lambda c=claim: shutil.rmtree(c, ignore_errors=True))
        return base
    raise RuntimeError("no free port range for the multi-process stack")


class Stack:
    """The stack under test: `inferstack dev` (every role in one process) or, with
    INFERSTACK_E2E_STACK=multi, tools/stack-up (one process per role over ZeroMQ; with
    INFERSTACK_E2E_LOCAL_PICKERS=1 the pickers run in the gateway process, which reaches the
    pods over HTTP). Same
    manifests, same listener; `metrics()` gathers every process's /metrics, `control` is where
    /control/... answers."""

    def __init__(self, config, port, env=None, log_level="warn", ready_timeout=30):
        self.url = f"http://127.0.0.1:{port}"
        self.metrics_urls = []
        self.control = None
        if STACK == "multi":
            base = _claim_port_range()
            self.proc = Process([os.path.join(SOURCE_DIR, "tools", "stack-up"), "-f", config,
                                 "--listen", f"127.0.0.1:{port}", "--base-port", str(base),
                                 "--log-level", log_level] +
                                (["--local-pickers", "--pods-over-http"] if LOCAL_PICKERS else []),
                                ready="the stack is up", timeout=ready_timeout,
                                env={**(env or {}), "INFERSTACK_BINARY": BINARY})
            line = self.proc.wait_for("stack-up: metrics", 5) or ""
            self.metrics_urls = line.split("metrics ", 1)[1].split() if "metrics " in line else []
            self.control = f"http://127.0.0.1:{base + 2}"
            ready = self.proc.wait_for("inferstack control: ready", 5) or ""
        else:
            self.proc = Process([BINARY, "dev", "-f", config, "--listen", f"127.0.0.1:{port}",
                                 "--admin-listen", "127.0.0.1:0", "--log-level", log_level],
                                ready="OpenAI API", timeout=ready_timeout, env=env)
            ready = self.proc.wait_for("admin: http://", 5) or ""
            self.control = re.search(r"admin: (http://\S+)", ready).group(1)
            self.metrics_urls = [self.control + "/metrics"]
        # The admin API's read-write token (generated at first start, like API keys).
        match = re.search(r"admin token file ([^\s;)]+)", ready)
        self.admin_token_file = match.group(1) if match else None

    def admin_headers(self):
        """The Authorization header the admin API (/control, /pods) asks for."""
        with open(self.admin_token_file) as f:
            return {"Authorization": "Bearer " + f.read().strip()}

    @property
    def lines(self):
        return self.proc.lines

    def metrics(self):
        return "\n".join(curl(u)[2] for u in self.metrics_urls)

    def stop(self):
        return self.proc.stop()


class Checks:
    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = []

    def check(self, condition, what, detail=""):
        if condition:
            self.passed += 1
        else:
            self.failed.append(what + (f": {detail}" if detail else ""))
            print(f"FAIL {what} {detail}", flush=True)
        return condition

    def finish(self):
        print(f"{self.name}: {self.passed} checks passed, {len(self.failed)} failed")
        for f in self.failed:
            print("  -", f)
        sys.exit(1 if self.failed else 0)
