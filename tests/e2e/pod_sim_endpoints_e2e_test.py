"""The endpoints of llm-d-inference-sim a standalone pod (`inferstack run pod`) serves besides
generation, driven with curl as a user swapping the simulator for it would: /v1/embeddings, the
render routes, /v1/models/{id}, sleep mode, the Mooncake /query, /admin/config and
/fake_metrics."""

import base64
import json
import struct

from harness import BINARY, Checks, Process, curl, free_port

c = Checks("pod simulator endpoints e2e")


def start_pod(*flags, env=None):
    port = free_port()
    proc = Process([BINARY, "run", "pod", "--listen-address", "127.0.0.1", "--port", str(port),
                    "--log-level", "warn", *flags], ready="serving", env=env)
    return proc, f"http://127.0.0.1:{port}"


pod, url = start_pod("--model", "e2e-model", "--served-model-name", "e2e-model e2e-alias",
                     "--default-embedding-dimensions", "16", "--enable-sleep-mode",
                     "--time-to-first-token", "5ms",
                     env={"VLLM_SERVER_DEV_MODE": "1", "POD_NAME": "e2e-pod"})

# -- /v1/embeddings ------------------------------------------------------------------------------
status, headers, body = curl(url + "/v1/embeddings",
                             {"model": "text-embedding-3-small", "input": "hello embedding world"})
c.check(status == 200, "embeddings: 200", body)
r = json.loads(body)
c.check(r["object"] == "list" and r["model"] == "text-embedding-3-small",
        "embeddings: list, model echoed", body[:200])
c.check(len(r["data"]) == 1 and r["data"][0]["object"] == "embedding" and r["data"][0]["index"] == 0,
        "embeddings: one item", body[:200])
vec = r["data"][0]["embedding"]
c.check(len(vec) == 16 and all(-1 <= v <= 1 for v in vec), "embeddings: default dimensions", body[:200])
c.check(r["usage"]["prompt_tokens"] == 3 and r["usage"]["total_tokens"] == 3, "embeddings: usage",
        json.dumps(r["usage"]))
c.check(headers.get("x-inference-pod") == "e2e-pod", "embeddings: pod header", json.dumps(headers))
_, _, again = curl(url + "/v1/embeddings", {"model": "x", "input": "hello embedding world"})
c.check(json.loads(again)["data"][0]["embedding"] == vec, "embeddings: deterministic")

status, _, body = curl(url + "/v1/embeddings", {"input": [[1, 2, 3], [1024]], "dimensions": 4,
                                                "encoding_format": "base64"})
r = json.loads(body)
c.check(status == 200 and len(r["data"]) == 2 and r["model"] == "e2e-model",
        "embeddings: token arrays, default model", body)
floats = struct.unpack("<4f", base64.b64decode(r["data"][1]["embedding"]))
# the simulator's stub: token 1024 -> 2*(1024%1024)/1024-1 = -1; past the tokens 2*(1024%256)/256-1
c.check(floats == (-1.0, -1.0, -1.0, -1.0), "embeddings: base64 float32 values", str(floats))
c.check(r["usage"]["prompt_tokens"] == 4, "embeddings: token usage", body)

for bad, what in [({"input": []}, "empty array"), ({"input": ""}, "empty string"),
                  ({"input": "x", "dimensions": 0}, "zero dimensions"), ("{", "bad json")]:
    status, _, body = curl(url + "/v1/embeddings", bad)
    c.check(status == 400 and "error" in json.loads(body), f"embeddings: 400 for {what}", body)

# -- render --------------------------------------------------------------------------------------
_, _, tok = curl(url + "/tokenize", {"model": "e2e-model",
                                      "messages": [{"role": "user", "content": "render me"}]})
status, _, body = curl(url + "/v1/chat/completions/render",
                       {"model": "e2e-alias", "messages": [{"role": "user", "content": "render me"}]})
c.check(status == 200 and json.loads(body) == {"token_ids": json.loads(tok)["tokens"]},
        "chat render: the tokens /tokenize gives", body + " vs " + tok)
status, _, body = curl(url + "/v1/completions/render",
                       {"model": "e2e-model", "prompt": ["one two", "three"]})
r = json.loads(body)
c.check(status == 200 and isinstance(r, list) and len(r) == 2 and len(r[0]["token_ids"]) == 2
        and len(r[1]["token_ids"]) == 1, "completions render: one entry per prompt", body)
status, _, body = curl(url + "/v1/completions/render", {"model": "e2e-model", "prompt": [[5, 6], [7]]})
c.check(status == 200 and json.loads(body) == [{"token_ids": [5, 6]}, {"token_ids": [7]}],
        "completions render: token arrays as given", body)
status, _, body = curl(url + "/v1/completions/render", {"model": "nope", "prompt": "x"})
c.check(status == 404 and "does not exist" in body, "render: unknown model 404", body)
status, _, body = curl(url + "/v1/completions/render", {"model": "e2e-model", "prompt": []})
c.check(status == 400, "render: empty prompt 400", body)

# -- /v1/models/{id} -----------------------------------------------------------------------------
status, _, body = curl(url + "/v1/models/e2e-alias")
r = json.loads(body)
c.check(status == 200 and r["id"] == "e2e-alias" and r["object"] == "model" and r["root"] == "e2e-model",
        "model card by id", body)
status, _, body = curl(url + "/v1/models/unknown")
c.check(status == 404 and json.loads(body)["error"]["message"] == "The model `unknown` does not exist.",
        "model card: 404 for an unknown id", body)

# -- sleep mode (on: --enable-sleep-mode and VLLM_SERVER_DEV_MODE=1) ----------------------------
def sleeping(base):
    return json.loads(curl(base + "/is_sleeping")[2])["is_sleeping"]


c.check(sleeping(url) is False, "is_sleeping: false at start")
status, _, _ = curl(url + "/sleep", method="POST")
c.check(status == 200 and sleeping(url) is True, "sleep: now sleeping")
status, _, body = curl(url + "/v1/completions", {"model": "e2e-model", "prompt": "still", "max_tokens": 2})
c.check(status == 200, "sleeping pods still serve (as the simulator's)", body)
status, _, _ = curl(url + "/wake_up?tags=kv_cache", method="POST")
c.check(status == 200 and sleeping(url) is False, "wake_up: awake")

# -- Mooncake /query ------------------------------------------------------------------------------
status, _, body = curl(url + "/query")
q = json.loads(body)
c.check(status == 200 and list(q) == ["0"] and len(q["0"]["engine_id"]) == 36, "query: rank 0 engine id", body)
c.check(json.loads(curl(url + "/query")[2]) == q, "query: engine id stable")

# -- /admin/config -------------------------------------------------------------------------------
status, _, body = curl(url + "/admin/config")
cfg = json.loads(body)
c.check(status == 200 and cfg["model"] == "e2e-model" and cfg["time-to-first-token"] == "5ms"
        and cfg["served-model-name"] == ["e2e-model", "e2e-alias"]
        and cfg["default-embedding-dimensions"] == 16 and cfg["enable-sleep-mode"] is True,
        "admin config: effective settings, simulator keys", body[:300])
status, _, body = curl(url + "/admin/config", {"max-num-seqs": 2})
c.check(status == 400 and "not admin-configurable" in body, "admin config: other keys 400", body)
status, _, body = curl(url + "/admin/config", {"time-to-first-token": "later"})
c.check(status == 400, "admin config: bad value 400", body)
status, _, body = curl(url + "/admin/config", {"time-to-first-token": "20ms"})
c.check(status == 501 and "not supported yet" in body, "admin config: valid change 501 for now", body)

# -- /fake_metrics: not supported ----------------------------------------------------------------
status, _, body = curl(url + "/fake_metrics", {"running-requests": 3})
c.check(status == 501 and "error" in json.loads(body), "fake_metrics: 501 with an error", body)

c.check(pod.stop() == 0, "graceful shutdown")

# -- sleep mode off without VLLM_SERVER_DEV_MODE: /sleep is a no-op --------------------------------
plain, plain_url = start_pod("--model", "org/e2e-model", "--enable-sleep-mode",
                             env={"VLLM_SERVER_DEV_MODE": "0"})
status, _, _ = curl(plain_url + "/sleep", method="POST")
c.check(status == 200 and sleeping(plain_url) is False, "sleep without dev mode: no-op")
status, headers, _ = curl(plain_url + "/v1/embeddings", {"input": "x"})
c.check(status == 200 and "x-inference-pod" not in headers, "no pod header without POD_NAME",
        json.dumps(headers))
for path in ["org/e2e-model", "org%2Fe2e-model"]:
    status, _, body = curl(plain_url + "/v1/models/" + path)
    c.check(status == 200 and json.loads(body)["id"] == "org/e2e-model",
            f"model card of an id with a slash: {path}", body)
c.check(plain.stop() == 0, "graceful shutdown (second pod)")
c.finish()
