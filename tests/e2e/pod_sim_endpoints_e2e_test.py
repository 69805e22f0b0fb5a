"""The endpoints of llm-d-inference-sim a standalone pod (`inferstack run pod`) serves besides
generation, driven with curl as a user swapping the simulator for it would: /v1/embeddings, the
render routes, /v1/models/{id}, sleep mode, the Mooncake /query, /admin/config and
/fake_metrics; and its other generation APIs, Anthropic's /v1/messages and vLLM's
/inference/v1/generate."""

import base64
import json
import struct
import time

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


def prefix_hits(base):
    for line in curl(base + "/metrics")[2].splitlines():
        if line.startswith("vllm:prefix_cache_hits_total"):
            return float(line.split()[-1])
    return 0.0


def complete_long(base):
    prompt = " ".join(f"word{i}" for i in range(80))  # 80 tokens: several full blocks
    status, _, body = curl(base + "/v1/completions", {"model": "e2e-model", "prompt": prompt,
                                                       "max_tokens": 2})
    c.check(status == 200, "sleep: completion served", body)


c.check(sleeping(url) is False, "is_sleeping: false at start")
complete_long(url)
hits = prefix_hits(url)
complete_long(url)
c.check(prefix_hits(url) > hits, "awake: a repeated prompt hits the prefix cache")
status, _, _ = curl(url + "/sleep", method="POST")
c.check(status == 200 and sleeping(url) is True, "sleep: now sleeping")
hits = prefix_hits(url)
complete_long(url)  # sleeping pods still serve (as the simulator's), with their KV cache discarded
complete_long(url)
c.check(prefix_hits(url) == hits, "asleep: no prefix hits", str(hits))
status, _, _ = curl(url + "/wake_up?tags=weights", method="POST")
c.check(status == 200 and sleeping(url) is False, "wake_up weights: awake")
complete_long(url)
c.check(prefix_hits(url) == hits, "awake with weights only: the KV cache still sleeps")
status, _, _ = curl(url + "/wake_up?tags=kv_cache", method="POST")
c.check(status == 200 and sleeping(url) is False, "wake_up: awake")
complete_long(url)
complete_long(url)
c.check(prefix_hits(url) > hits, "kv_cache woken: prefix hits again")

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
# A valid change takes effect: the answer and GET show it, and the pod times requests with it.
def completion_seconds(base):
    started = time.monotonic()
    status, _, body = curl(base + "/v1/completions", {"model": "e2e-model", "prompt": "time me",
                                                       "max_tokens": 2})
    c.check(status == 200, "admin config: completion served", body)
    return time.monotonic() - started


status, _, body = curl(url + "/admin/config", {"time-to-first-token": "1s",
                                               "failure-injection-rate": 0})
c.check(status == 200 and json.loads(body)["time-to-first-token"] == "1s",
        "admin config: valid change 200 with the whole configuration", body[:300])
c.check(json.loads(curl(url + "/admin/config")[2])["time-to-first-token"] == "1s",
        "admin config: GET shows the change")
c.check(completion_seconds(url) >= 1.0, "admin config: the new time to first token applies")
status, _, body = curl(url + "/admin/config", {"failure-injection-rate": 100,
                                               "failure-types": ["rate_limit"]})
c.check(status == 200, "admin config: failure injection on", body[:200])
status, _, body = curl(url + "/v1/completions", {"model": "e2e-model", "prompt": "x", "max_tokens": 1})
c.check(status == 429, "admin config: injected failures follow", body)
status, _, body = curl(url + "/admin/config", {"failure-injection-rate": 0, "time-to-first-token": "5ms"})
c.check(status == 200 and completion_seconds(url) < 1.0, "admin config: changed back", body[:200])

# -- /fake_metrics: the simulator's deprecated fake-metrics update --------------------------------
status, _, body = curl(url + "/fake_metrics", {"running-requests": 3})
c.check(status == 204, "fake_metrics: 204", body)
metrics = curl(url + "/metrics")[2]
c.check('vllm:num_requests_running{model_name="e2e-model"} 3\n' in metrics,
        "fake_metrics: /metrics reports the fake value", metrics[:300])
status, _, body = curl(url + "/fake_metrics", {"kv-cache-usage": 2})
c.check(status == 500 and "kv-cache-usage" in json.loads(body)["error"]["message"],
        "fake_metrics: a bad value is refused, named", body)

# -- /v1/messages (Anthropic) ---------------------------------------------------------------------
def sse_events(payload):
    """(event, data) of each named SSE event."""
    out, name = [], None
    for line in payload.splitlines():
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            out.append((name, json.loads(line[len("data: "):])))
            name = None
    return out


status, headers, body = curl(url + "/v1/messages", {
    "model": "e2e-model", "max_tokens": 20, "system": "You are terse.",
    "messages": [{"role": "user", "content": "Hello!"}, {"role": "assistant", "content": "Hi."},
                 {"role": "user", "content": [{"type": "text", "text": "Tell me more."}]}]})
c.check(status == 200, "messages: 200", body)
m = json.loads(body)
c.check(m["id"].startswith("msg_") and m["type"] == "message" and m["role"] == "assistant"
        and m["model"] == "e2e-model", "messages: the message object", body[:300])
c.check(len(m["content"]) == 1 and m["content"][0]["type"] == "text" and m["content"][0]["text"],
        "messages: one text block", body[:300])
c.check(m["stop_reason"] in ("end_turn", "max_tokens") and m["stop_sequence"] is None,
        "messages: stop reason", body[-200:])
c.check(m["usage"]["input_tokens"] > 0 and 0 < m["usage"]["output_tokens"] <= 20,
        "messages: usage", json.dumps(m["usage"]))

status, headers, body = curl(url + "/v1/messages", {
    "model": "e2e-alias", "max_tokens": 30, "stream": True,
    "messages": [{"role": "user", "content": "Stream please."}]}, stream=True)
events = sse_events(body)
names = [e for e, _ in events]
c.check(status == 200 and headers.get("content-type", "").startswith("text/event-stream"),
        "messages stream: 200 SSE", json.dumps(headers))
c.check(names[:3] == ["message_start", "content_block_start", "ping"]
        and names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
        and "content_block_delta" in names, "messages stream: Anthropic's event order", str(names))
c.check(all(d["type"] == e for e, d in events), "messages stream: each data names its event")
start = events[0][1]["message"]
c.check(start["id"].startswith("msg_") and start["usage"]["input_tokens"] > 0
        and start["stop_reason"] is None, "messages stream: message_start", json.dumps(start))
text = "".join(d["delta"]["text"] for e, d in events if e == "content_block_delta")
delta = events[-2][1]
c.check(text and delta["delta"]["stop_reason"] in ("end_turn", "max_tokens")
        and delta["usage"]["output_tokens"] > 0, "messages stream: text and message_delta", body[-300:])

for bad, want, what in [({"model": "e2e-model", "max_tokens": 5, "messages": []}, 400, "no messages"),
                        ({"model": "e2e-model", "messages": [{"role": "user", "content": "x"}]}, 400,
                         "no max_tokens"),
                        ({"model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
                         404, "unknown model")]:
    status, _, body = curl(url + "/v1/messages", bad)
    c.check(status == want and "error" in json.loads(body), f"messages: {want} for {what}", body)

weather_tool = {"name": "get_weather", "description": "Weather at a place",
                "input_schema": {"type": "object", "properties": {"location": {"type": "string"}},
                                 "required": ["location"]}}
status, _, body = curl(url + "/v1/messages", {
    "model": "e2e-model", "max_tokens": 50, "tools": [weather_tool], "tool_choice": {"type": "any"},
    "messages": [{"role": "user", "content": "Weather in Paris?"}]})
m = json.loads(body)
c.check(status == 200 and m["stop_reason"] == "tool_use" and m["content"]
        and all(b["type"] == "tool_use" and b["id"].startswith("toolu_") and b["name"] == "get_weather"
                and "location" in b["input"] for b in m["content"]), "messages: tool_use blocks", body)
status, _, body = curl(url + "/v1/messages", {
    "model": "e2e-model", "max_tokens": 50, "stream": True, "tools": [weather_tool],
    "tool_choice": {"type": "tool", "name": "get_weather"},
    "messages": [{"role": "user", "content": "Weather in Paris?"}]}, stream=True)
events = sse_events(body)
starts = [d["content_block"] for e, d in events if e == "content_block_start"]
partial = "".join(d["delta"]["partial_json"] for e, d in events if e == "content_block_delta")
c.check(starts and all(b["type"] == "tool_use" and b["id"].startswith("toolu_") for b in starts)
        and "location" in json.loads(partial) and events[-2][1]["delta"]["stop_reason"] == "tool_use",
        "messages stream: tool_use blocks with input_json_delta", body[-400:])

# -- /inference/v1/generate (tokens in, tokens out) ------------------------------------------------
status, _, body = curl(url + "/inference/v1/generate", {
    "model": "e2e-model", "token_ids": [1, 2, 3, 4], "sampling_params": {"max_tokens": 5}})
g = json.loads(body)
c.check(status == 200 and g["request_id"] and len(g["choices"]) == 1
        and 0 < len(g["choices"][0]["token_ids"]) <= 5 and g["choices"][0]["finish_reason"]
        and "kv_transfer_params" not in g, "generate: token ids out", body)
status, headers, body = curl(url + "/inference/v1/generate", {
    "model": "e2e-model", "token_ids": [1, 2, 3, 4], "sampling_params": {"max_tokens": 1},
    "stream": True, "stream_options": {"include_usage": True}}, stream=True)
frames = [line[len("data: "):] for line in body.splitlines() if line.startswith("data: ")]
chunks = [json.loads(f) for f in frames[:-1]]
c.check(status == 200 and headers.get("content-type") == "text/event-stream" and frames[-1] == "[DONE]",
        "generate stream: SSE ending [DONE]", body)
token_chunks = [ch for ch in chunks if ch["choices"]]
c.check(token_chunks and token_chunks[-1]["choices"][0]["finish_reason"] == "length"
        and token_chunks[-1]["choices"][0]["token_ids"], "generate stream: finish in the last token chunk",
        body)
c.check(chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 4,
        "generate stream: usage chunk", body)
status, _, body = curl(url + "/inference/v1/generate", {
    "model": "e2e-model", "token_ids": [1, 2, 3, 4],
    "sampling_params": {"max_tokens": 5, "extra_args": {"kv_transfer_params": {"do_remote_decode": True}}}})
kv = json.loads(body).get("kv_transfer_params") or {}
c.check(status == 200 and kv.get("do_remote_prefill") is True and kv.get("remote_port", 0) > 0,
        "generate: a prefill's kv_transfer_params", body)
# kv_transfer_params on completions (P/D): a prefill-only request answers its decoder's params
status, _, body = curl(url + "/v1/completions", {"model": "e2e-model", "prompt": "prefill me", "max_tokens": 5,
                                                 "kv_transfer_params": {"do_remote_decode": True}})
r = json.loads(body)
c.check(status == 200 and r["kv_transfer_params"]["do_remote_prefill"] is True
        and r["choices"][0]["finish_reason"] == "remote_decode", "completions: a prefill's kv_transfer_params",
        body)
for bad, what in [({"model": "e2e-model", "sampling_params": {"max_tokens": 5}}, "Missing input token_ids"),
                  ({"model": "e2e-model", "token_ids": [1]}, "Missing sampling_params field")]:
    status, _, body = curl(url + "/inference/v1/generate", bad)
    c.check(status == 400 and what in body, f"generate: 400 {what}", body)

c.check(pod.stop() == 0, "graceful shutdown")

# -- echo mode: /v1/messages repeats the last message, /inference/v1/generate the prompt's ids -----
echo, echo_url = start_pod("--model", "e2e-model", "--mode", "echo")
status, _, body = curl(echo_url + "/v1/messages", {
    "model": "e2e-model", "max_tokens": 50,
    "messages": [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"},
                 {"role": "user", "content": "echo this back"}]})
m = json.loads(body)
c.check(status == 200 and m["content"][0]["text"] == "echo this back" and m["stop_reason"] == "end_turn"
        and m["usage"]["output_tokens"] == 3, "messages echo: the last message", body)
status, _, body = curl(echo_url + "/v1/messages", {
    "model": "e2e-model", "max_tokens": 50, "stream": True,
    "messages": [{"role": "user", "content": "stream this back"}]}, stream=True)
text = "".join(d["delta"]["text"] for e, d in sse_events(body) if e == "content_block_delta")
c.check(text == "stream this back", "messages echo stream: the text in deltas", body)
status, _, body = curl(echo_url + "/inference/v1/generate", {
    "model": "e2e-model", "token_ids": [11, 22, 33], "sampling_params": {"max_tokens": 10}})
c.check(status == 200 and json.loads(body)["choices"][0]["token_ids"] == [11, 22, 33],
        "generate echo: the prompt's ids", body)
status, _, body = curl(echo_url + "/inference/v1/generate", {
    "model": "e2e-model", "token_ids": [11, 22, 33], "sampling_params": {"max_tokens": 10},
    "stream": True}, stream=True)
ids = [i for line in body.splitlines() if line.startswith("data: {")
       for ch in [json.loads(line[6:])] for choice in ch["choices"] for i in choice["token_ids"]]
c.check(ids == [11, 22, 33], "generate echo stream: the prompt's ids in order", body)
c.check(echo.stop() == 0, "graceful shutdown (echo pod)")

# -- with a latency profile (vLLM's behaviour): Anthropic's error body on /v1/messages ------------
prof, prof_url = start_pod("--model", "e2e-model", "--profile", "8b-h100")
status, _, body = curl(prof_url + "/v1/messages", {"model": "e2e-model", "max_tokens": 5, "messages": []})
e = json.loads(body)
c.check(status == 400 and e["type"] == "error" and e["error"]["type"] == "invalid_request_error",
        "messages with a profile: Anthropic's error body", body)
status, _, body = curl(prof_url + "/v1/messages", {"model": "nope", "max_tokens": 5,
                                                    "messages": [{"role": "user", "content": "x"}]})
c.check(status == 404 and json.loads(body)["error"]["type"] == "not_found_error",
        "messages with a profile: unknown model not_found_error", body)
c.check(prof.stop() == 0, "graceful shutdown (profile pod)")

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
