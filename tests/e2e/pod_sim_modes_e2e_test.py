"""`inferstack run pod` in llm-d-inference-sim's other modes, reached with Python's own clients:
HTTPS (--self-signed-certs, --ssl-certfile/--ssl-keyfile with a certificate the openssl tool
makes), omni mode (image content blocks and image chunks). Only 127.0.0.1; every wait bounded."""

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile

from harness import BINARY, Checks, Process, free_port

c = Checks("pod sim modes e2e")


def start(*flags):
    port = free_port()
    proc = Process([BINARY, "run", "pod", "--listen-address", "127.0.0.1", "--port", str(port),
                    "--log-level", "warn", *flags], ready="serving")
    return proc, port


def request(port, method, path, body=None, headers=None, tls=None, timeout=20):
    """(status, headers, body text, the server certificate in DER or None)."""
    if tls is not None:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=tls)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = json.dumps(body) if body is not None else None
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    text = resp.read().decode()
    cert = conn.sock.getpeercert(binary_form=True) if tls is not None and conn.sock else None
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, text, cert


def insecure():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


chat = {"model": "m", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 4}

# -- HTTPS with a self-signed certificate ---------------------------------------------------------
pod, port = start("--model", "m", "--self-signed-certs")
c.check(any("https://" in line for line in pod.lines), "the pod says it serves https://",
        "\n".join(pod.lines[-3:]))
status, _, _, cert = request(port, "GET", "/health", tls=insecure())
c.check(status == 200, "GET /health over TLS (self-signed, not verified): 200")
c.check(cert is not None, "the server shows a certificate")
# The certificate it made is a valid one for localhost: trusted once pinned, the name checked.
pinned = ssl.create_default_context(cadata=ssl.DER_cert_to_PEM_cert(cert))
try:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = pinned.wrap_socket(raw, server_hostname="localhost")
    s.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    answer = b""
    while True:
        part = s.recv(4096)
        if not part:
            break
        answer += part
    s.close()
    c.check(answer.startswith(b"HTTP/1.1 200"), "verified as localhost against the pinned certificate",
            answer[:100])
except ssl.SSLError as e:
    c.check(False, "verified as localhost against the pinned certificate", str(e))
status, _, body, _ = request(port, "POST", "/v1/chat/completions", chat, tls=insecure())
c.check(status == 200 and json.loads(body)["choices"], "a chat completion over TLS", body[:200])
# Plain HTTP to the TLS port gets no HTTP answer.
try:
    status, _, _, _ = request(port, "GET", "/health", timeout=5)
    c.check(False, "plain HTTP to the HTTPS port is not answered", str(status))
except Exception:
    c.check(True, "plain HTTP to the HTTPS port is not answered")
pod.stop()

# -- HTTPS with certificate files (the openssl tool's) -------------------------------------------
if shutil.which("openssl"):
    with tempfile.TemporaryDirectory() as d:
        cert_file, key_file = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-keyout", key_file, "-out", cert_file],
                       check=True, capture_output=True, timeout=60)
        pod, port = start("--model", "m", "--ssl-certfile", cert_file, "--ssl-keyfile", key_file)
        trusted = ssl.create_default_context(cafile=cert_file)
        trusted.check_hostname = False  # its name is localhost; the chain is still verified
        status, _, _, _ = request(port, "GET", "/health", tls=trusted)
        c.check(status == 200, "GET /health over TLS with --ssl-certfile/--ssl-keyfile, verified")
        pod.stop()
        # refusals that name the flag
        r = subprocess.run([BINARY, "run", "pod", "--model", "m", "--port", str(free_port()),
                            "--ssl-certfile", cert_file], capture_output=True, text=True, timeout=20)
        c.check(r.returncode == 2 and "--ssl-certfile: both ssl-certfile and ssl-keyfile" in r.stderr,
                "--ssl-certfile without --ssl-keyfile: refused (exit 2)", r.stderr)
        r = subprocess.run([BINARY, "run", "pod", "--model", "m", "--port", str(free_port()),
                            "--ssl-certfile", os.path.join(d, "none.crt"), "--ssl-keyfile", key_file],
                           capture_output=True, text=True, timeout=20)
        c.check(r.returncode != 0 and "none.crt" in r.stdout + r.stderr,
                "a certificate file that does not load: refused, naming it", r.stdout + r.stderr)

c.finish()
