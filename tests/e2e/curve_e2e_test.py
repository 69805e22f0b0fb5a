"""CurveZMQ between processes: `inferstack keys` writes a stack's keys (secrets 0600, kept on a
second run); a role will not start its ZeroMQ sockets without keys unless told
--insecure-plaintext; a probe serving with the stack's keys answers a peer whose key is on the
allow-list and refuses a plaintext peer and a peer with another stack's keys -- their requests
get no answer, and the probe logs the refusal."""

import json
import os
import stat
import subprocess
import tempfile

from harness import BINARY, SOURCE_DIR, Checks, Process, free_port

c = Checks("curve (multi-process)")
workdir = tempfile.mkdtemp(prefix="inferstack-curve-")
keys = f"{workdir}/keys"


def run(*args):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=30)


# -- inferstack keys ----------------------------------------------------------------------------
first = run("keys", "--dir", keys)
c.check(first.returncode == 0, "keys: exit 0", first.stderr)
for role in ("stack", "gateway", "picker", "control", "pod"):
    key, pub = f"{keys}/{role}.key", f"{keys}/{role}.pub"
    c.check(os.path.exists(key) and os.path.exists(pub), f"keys: {role}.key and {role}.pub written")
    if os.path.exists(key):
        c.check(stat.S_IMODE(os.stat(key).st_mode) == 0o600, f"keys: {role}.key is 0600")
second = run("keys", "--dir", keys)
c.check(second.returncode == 0 and second.stdout == first.stdout, "keys: a second run keeps the keys",
        second.stdout)

# -- plaintext only when asked for ---------------------------------------------------------------
config = os.path.join(SOURCE_DIR, "config", "dev.yaml")
gateway = run("run", "gateway", "-f", config, "--listen", f"127.0.0.1:{free_port()}", "--log-level", "warn")
c.check(gateway.returncode == 2 and "--insecure-plaintext" in gateway.stderr,
        "run gateway without --curve-keys: refused, naming --insecure-plaintext", gateway.stderr[-300:])
pod = run("run", "pod", "--model", "m", "--port", str(free_port()), "--listen-address", "127.0.0.1",
          "--transport-listen", f"tcp://127.0.0.1:{free_port()}", "--log-level", "warn")
c.check(pod.returncode == 2 and "--insecure-plaintext" in pod.stdout + pod.stderr,
        "run pod --transport-listen without --curve-keys: refused", (pod.stdout + pod.stderr)[-300:])

# -- a CURVE server refuses strangers -----------------------------------------------------------
endpoint = f"tcp://127.0.0.1:{free_port()}"
probe = Process([BINARY, "run", "probe", "--listen", endpoint, "--curve-keys", keys, "--log-level", "info"],
                ready="listening on")


def ping(*flags):
    out = run("ping", endpoint, "--requests", "3", "--timeout", "1500", *flags)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"requests_ok": -1, "output": out.stdout + out.stderr}


allowed = ping("--curve-keys", keys)
c.check(allowed.get("requests_ok") == 3, "a peer with the stack's keys: every request answered", json.dumps(allowed))
plaintext = ping()
c.check(plaintext.get("requests_ok") == 0 and plaintext.get("requests_failed") == 3,
        "a plaintext peer: no request answered", json.dumps(plaintext))
c.check(probe.wait_for("refused", 5) is not None, "the probe logs the refused peer", "\n".join(probe.lines[-5:]))
other = f"{workdir}/other-stack"
run("keys", "--dir", other)
stranger = ping("--curve-keys", other)
c.check(stranger.get("requests_ok") == 0 and stranger.get("requests_failed") == 3,
        "a peer with another stack's keys: no request answered", json.dumps(stranger))
c.check(ping("--curve-keys", keys).get("requests_ok") == 3, "the allowed peer still answered after the strangers")
probe.stop()
c.finish()
