"""`inferstack run pod` in llm-d-inference-sim's other modes, reached with Python's own clients:
HTTPS (--self-signed-certs, --ssl-certfile/--ssl-keyfile with a certificate the openssl tool
makes), omni mode (image content blocks, image chunks, /admin/config), encoder-only mode. Only 127.0.0.1; every wait bounded."""

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

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

# -- omni: images on X-Send-Image or by the emission rate -----------------------------------------
pod, port = start("--model", "m", "--omni", "--time-to-generate-image", "300ms")
status, _, body, _ = request(port, "POST", "/v1/chat/completions", chat)
content = json.loads(body)["choices"][0]["message"]["content"]
c.check(status == 200 and isinstance(content, str), "omni without X-Send-Image: plain text", body[:200])
t0 = time.time()
status, _, body, _ = request(port, "POST", "/v1/chat/completions", chat, headers={"X-Send-Image": "true"})
took = time.time() - t0
blocks = json.loads(body)["choices"][0]["message"]["content"]
c.check(status == 200 and [b["type"] for b in blocks] == ["text", "image_url"],
        "X-Send-Image: true -> a text block and an image block", body[:300])
c.check(blocks[1]["image_url"]["url"].startswith("data:image/png;base64,"), "the image is a PNG data URL")
c.check(took >= 0.3, "the image takes --time-to-generate-image", f"{took:.3f}s")
status, _, body, _ = request(port, "POST", "/v1/chat/completions",
                             {**chat, "stream": True, "stream_options": {"include_usage": True}},
                             headers={"X-Send-Image": "1"})
events = [e for e in body.split("\n\n") if e.startswith("data: ")]
chunks = [json.loads(e[6:]) for e in events if e != "data: [DONE]"]
images = [ch for ch in chunks if ch.get("modality") == "image"]
texts = [ch["choices"][0]["delta"]["content"] for ch in chunks
         if ch.get("choices") and isinstance(ch["choices"][0]["delta"].get("content"), list)
         and ch.get("modality") != "image"]
c.check(len(images) == 1 and images[0]["choices"][0]["delta"]["content"][0]["type"] == "image_url",
        "streamed: one image chunk", body[-600:])
c.check(texts and all(len(t) == 1 and t[0]["type"] == "text" and t[0]["text"] for t in texts),
        "streamed: token chunks as one text block each", body[:400])
c.check(events[-1] == "data: [DONE]" and "usage" in chunks[-1], "streamed: usage and [DONE] last")
status, _, body, _ = request(port, "POST", "/admin/config", {"image-emission-rate": 101})
c.check(status == 400, "/admin/config: image-emission-rate 101 refused", body)
status, _, body, _ = request(port, "POST", "/admin/config", {"image-emission-rate": 100,
                                                            "time-to-generate-image": "0s"})
c.check(status == 200, "/admin/config: image-emission-rate 100", body)
status, _, body, _ = request(port, "POST", "/v1/chat/completions", chat)
c.check(isinstance(json.loads(body)["choices"][0]["message"]["content"], list),
        "with rate 100 every chat completion has its image", body[:200])
pod.stop()
r = subprocess.run([BINARY, "run", "pod", "--model", "m", "--port", str(free_port()), "--omni",
                    "--image-emission-rate", "101"], capture_output=True, text=True, timeout=20)
c.check(r.returncode == 2 and "--image-emission-rate: image emission rate should be between 0 and 100"
        in r.stderr, "--image-emission-rate 101 refused at start", r.stderr)

# -- mm-encoder-only: "!"s, and ec_transfer_params for the request's images ------------------------
pod, port = start("--model", "m", "--mm-encoder-only", "--mm-processor-kwargs", "args",
                  "--ec-transfer-config", "cfg", "--enforce-eager")
images = {"model": "m", "max_tokens": 3, "messages": [{"role": "user", "content": [
    {"type": "text", "text": "describe"},
    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    {"type": "image_url", "image_url": {"url": "https://example.com/b.png"}}]}]}
status, _, body, _ = request(port, "POST", "/v1/chat/completions", images)
answer = json.loads(body)
c.check(status == 200 and answer["choices"][0]["message"]["content"] == "!!!"
        and answer["choices"][0]["finish_reason"] == "length", "encoder-only: '!' max_tokens times",
        body[:300])
params = answer.get("ec_transfer_params") or {}
c.check(len(params) == 2 and all(p["peer_port"] > 0 and p["size_bytes"] > 0 and
                                 p["nixl_agent_metadata_b64"] for p in params.values()),
        "encoder-only: ec_transfer_params for each image", body[-400:])
status, _, body, _ = request(port, "POST", "/v1/chat/completions", chat)
c.check(status == 200 and "ec_transfer_params" not in json.loads(body), "no images: no ec_transfer_params",
        body[-200:])
status, _, body, _ = request(port, "POST", "/inference/v1/generate",
                             {"model": "m", "token_ids": [1, 32000],
                              "features": {"mm_hashes": {"image": ["abc", "def"]}},
                              "sampling_params": {"max_tokens": 1}})
c.check(status == 200 and set(json.loads(body).get("ec_transfer_params", {})) == {"abc", "def"},
        "generate: ec_transfer_params keyed by the features' hashes", body[-300:])
pod.stop()

c.finish()
