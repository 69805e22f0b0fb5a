"""`inferstack run pod` reads llm-d-inference-sim's command line and config file: its defaults
without a profile, list flags as separate arguments, --flag=value, bare bool flags, -v/--v, a YAML
config with lists, flag > environment > file precedence, and refusals that name the flag (exit 2).
Only 127.0.0.1; every wait bounded."""

import json
import os
import subprocess
import tempfile

from harness import BINARY, Checks, Process, curl, free_port

c = Checks("pod flags e2e")


def start(*flags, env=None):
    port = free_port()
    proc = Process([BINARY, "run", "pod", "--listen-address", "127.0.0.1", "--port", str(port),
                    *flags], ready="serving", env=env)
    return proc, f"http://127.0.0.1:{port}"


def models(url):
    status, _, body = curl(url + "/v1/models")
    c.check(status == 200, "GET /v1/models: 200", body)
    return {m["id"]: m for m in json.loads(body)["data"]}


def refused(*flags, env=None):
    """Exit code and output of a pod that must not start."""
    r = subprocess.run([BINARY, "run", "pod", "--listen-address", "127.0.0.1", "--port",
                        str(free_port()), *flags], capture_output=True, text=True, timeout=20,
                       env={**os.environ, **(env or {})})
    return r.returncode, r.stdout + r.stderr


# -- defaults: the simulator's without a profile, inferstack's with one ---------------------------
pod, url = start("--model", "m", "--log-level", "warn", "--max-model-len", "20")
c.check(models(url)["m"].get("max_model_len") == 20, "--max-model-len 20")
# The simulator's request rules: no max_tokens is charged as 1 token (vLLM: 16) ...
status, _, body = curl(url + "/v1/completions", {"model": "m", "prompt": " ".join(["w"] * 15)})
c.check(status == 200, "no profile: unset max_tokens charged as 1 against the context", body)
# ... and a max_tokens below 1 is refused with its text.
status, _, body = curl(url + "/v1/completions", {"model": "m", "prompt": "hi", "max_tokens": -1})
c.check(status == 400 and "Max completion tokens and max tokens should be positive" in body,
        "no profile: max_tokens -1 refused with the simulator's text", body)
pod.stop()
pod, url = start("--model", "m", "--log-level", "warn")
c.check(models(url)["m"].get("max_model_len") == 1024, "no profile: max-model-len 1024")
pod.stop()
pod, url = start("--model", "m", "--profile", "8b-h100", "--log-level", "warn")
c.check(models(url)["m"].get("max_model_len") == 8192, "--profile: inferstack's max-model-len 8192")
status, _, body = curl(url + "/v1/completions", {"model": "m", "prompt": "hi", "max_tokens": -1})
c.check(status == 400 and "max_tokens must be at least 1" in body, "--profile: vLLM's max_tokens text", body)
pod.stop()

# -- argument forms -----------------------------------------------------------------------------
pod, url = start("--model", "m", "--served-model-name", "a", "b",
                 "--lora-modules", '{"name":"l1","path":"/p1"}', '{"name": "l2", "path": "/p2"}',
                 "--max-model-len=300", "--enable-request-id-headers", "-v", "4")
ms = models(url)
c.check(set(ms) == {"a", "b", "l1", "l2"}, "list flags as separate arguments", str(sorted(ms)))
c.check(ms["a"].get("max_model_len") == 300, "--max-model-len=300", str(ms.get("a")))
status, headers, body = curl(url + "/v1/completions", {"model": "a", "prompt": "hi", "max_tokens": 2},
                             headers={"X-Request-Id": "rid-1"})
c.check(status == 200, "completion with a served name", body)
c.check(headers.get("x-request-id") == "rid-1", "bare bool flag --enable-request-id-headers", str(headers))
c.check(json.loads(body).get("id") == "cmpl-rid-1", "the response id uses the request id", body)
_, headers, body = curl(url + "/v1/chat/completions",
                        {"model": "a", "messages": [{"role": "user", "content": "hi"}], "stream": True},
                        stream=True)
rid = headers.get("x-request-id") or ""
c.check(len(rid) == 36 and rid.count("-") == 4, "no X-Request-Id: a UUID is made up (streamed)", str(headers))
c.check(f'"id":"chatcmpl-{rid}"' in body, "the streamed id uses the made-up request id", body[:300])
c.check(any("debug" in line.lower() for line in pod.lines), "-v 4 logs at debug",
        "\n".join(pod.lines[-5:]))
pod.stop()
pod, url = start("--model", "m", "--served-model-name=x,y", "--v=1")
c.check(set(models(url)) == {"x", "y"}, "--served-model-name=x,y")
# As the simulator: without --enable-request-id-headers no X-Request-Id is answered or adopted.
status, headers, body = curl(url + "/v1/completions", {"model": "x", "prompt": "hi", "max_tokens": 2},
                             headers={"X-Request-Id": "rid-2"})
c.check(status == 200 and "x-request-id" not in {k.lower() for k in headers},
        "no --enable-request-id-headers: no X-Request-Id", str(headers))
c.check(status == 200 and "rid-2" not in json.loads(body).get("id", "rid-2"),
        "no --enable-request-id-headers: the client's id is not used", body)
status, headers, _ = curl(url + "/v1/nope", {"model": "x"}, headers={"X-Request-Id": "rid-3"})
c.check(status == 404 and "x-request-id" not in {k.lower() for k in headers},
        "no --enable-request-id-headers: not on a 404 either", str(headers))
pod.stop()

# -- config file with lists, precedence flag > env > file ---------------------------------------
with tempfile.TemporaryDirectory() as tmp:
    cfg = os.path.join(tmp, "config.yaml")
    with open(cfg, "w") as f:
        f.write("model: file-model\n"
                "served-model-name:\n  - s1\n  - s2\n"
                "lora-modules:\n  - '{\"name\":\"l3\",\"path\":\"/p3\"}'\n"
                "max-model-len: 500\n"
                "failure-types: [rate_limit, server_error]\n"
                "time-to-first-token: 1ms\n")
    pod, url = start("--config", cfg, "--log-level", "warn")
    ms = models(url)
    c.check(set(ms) == {"s1", "s2", "l3"}, "config: YAML lists", str(sorted(ms)))
    c.check(ms["s1"].get("root") == "file-model", "config: model", str(ms["s1"]))
    c.check(ms["s1"].get("max_model_len") == 500, "config: max-model-len")
    pod.stop()
    pod, url = start("--config", cfg, "--max-model-len", "600", "--log-level", "warn",
                     env={"SIM_MODEL": "env-model"})
    ms = models(url)
    c.check(ms["s1"].get("max_model_len") == 600, "flag wins over the file")
    c.check(ms["s1"].get("root") == "env-model", "SIM_MODEL wins over the file", str(ms["s1"]))
    pod.stop()
    pod, url = start("--config", cfg, "--model", "flag-model", "--log-level", "warn",
                     env={"SIM_MODEL": "env-model"})
    c.check(models(url)["s1"].get("root") == "flag-model", "--model wins over SIM_MODEL")
    pod.stop()

    # -- refusals name the flag -----------------------------------------------------------------
    code, out = refused("--model", "m", "--ssl-certfile", "c.pem", "--ssl-keyfile", "k.pem")
    c.check(code == 2 and "--ssl-certfile c.pem" in out,
            "a certificate that does not load is refused, the file named", out)
    code, out = refused("--model", "m", "--dataset-path", "/d.sqlite3")
    c.check(code == 2 and "--dataset-path:" in out, "--dataset-path refused", out)
    code, out = refused("--model", "m", "--no-such-flag", "1")
    c.check(code == 2 and "--no-such-flag" in out, "an unknown flag is refused, named", out)
    code, out = refused("--model", "m", "--max-loras", "2", "--max-cpu-loras", "1")
    c.check(code == 2 and "--max-cpu-loras" in out, "--max-cpu-loras below --max-loras refused", out)
    bad = os.path.join(tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write("model: m\ndataset-url: http://example.com/d.sqlite3\n")
    code, out = refused("--config", bad)
    c.check(code == 2 and "--dataset-url:" in out, "config keys refused, named", out)
    # fake-metrics: read as the simulator reads it, its values checked, the bad one named
    with open(bad, "w") as f:
        f.write("model: m\nfake-metrics:\n  running-requests: 3\n  kv-cache-usage: 3\n")
    code, out = refused("--config", bad)
    c.check(code == 2 and "--fake-metrics: kv-cache-usage:" in out,
            "config fake-metrics checked, named", out)

c.finish()
