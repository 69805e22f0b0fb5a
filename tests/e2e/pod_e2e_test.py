"""A standalone pod (`inferstack run pod`) driven with curl and the official openai npm client:
chat and completions, streamed and not, include_usage, every error code, health, tokenize and
metrics -- as a user swapping llm-d-inference-sim for it would."""

import json
import re
import socket
import time

from harness import BINARY, Checks, Process, curl, free_port, node_client, sse_events

c = Checks("pod e2e")


def start_pod(*flags, ready="serving"):
    port = free_port()
    proc = Process([BINARY, "run", "pod", "--listen-address", "127.0.0.1", "--port", str(port),
                    "--log-level", "warn", *flags], ready=ready)
    return proc, f"http://127.0.0.1:{port}"


pod, url = start_pod("--model", "e2e-model", "--mode", "echo", "--max-model-len", "64",
                     "--served-model-name", "e2e-model e2e-alias")

# -- chat, not streamed --------------------------------------------------------------------------
status, headers, body = curl(url + "/v1/chat/completions", {
    "model": "e2e-model", "messages": [{"role": "user", "content": "hello pod world"}]})
c.check(status == 200, "chat: 200", body)
r = json.loads(body)
c.check(r["object"] == "chat.completion", "chat: object")
c.check(r["choices"][0]["message"]["content"] == "hello pod world", "chat: echo text", body)
c.check(r["choices"][0]["finish_reason"] == "stop", "chat: finish stop")
c.check(r["usage"]["prompt_tokens"] > 0 and r["usage"]["completion_tokens"] == 3, "chat: usage", body)
c.check("cached_tokens" in r["usage"]["prompt_tokens_details"], "chat: cached_tokens reported")
c.check(r["id"].startswith("chatcmpl-"), "chat: id")
# As llm-d-inference-sim: the pod, port and namespace headers only when the environment names them.
c.check("x-inference-pod" not in headers and "x-inference-namespace" not in headers,
        "chat: no identity headers without POD_NAME and POD_NAMESPACE", json.dumps(dict(headers)))
named_port = free_port()
named = Process([BINARY, "run", "pod", "--listen-address", "127.0.0.1", "--port", str(named_port),
                 "--log-level", "warn", "--model", "e2e-model", "--mode", "echo"], ready="serving",
                env={"POD_NAME": "pod-7", "POD_NAMESPACE": "ns-7"})
for stream in (False, True):
    status, headers, body = curl(f"http://127.0.0.1:{named_port}/v1/chat/completions", {
        "model": "e2e-model", "messages": [{"role": "user", "content": "x"}], "stream": stream}, stream=stream)
    c.check(status == 200 and headers.get("x-inference-pod") == "pod-7" and
            headers.get("x-inference-port") == str(named_port) and
            headers.get("x-inference-namespace") == "ns-7",
            f"identity headers from POD_NAME and POD_NAMESPACE (stream {stream})", json.dumps(dict(headers)))
named.stop()

# an alias reports the first served name
status, _, body = curl(url + "/v1/chat/completions", {
    "model": "e2e-alias", "messages": [{"role": "user", "content": "x"}]})
c.check(status == 200 and json.loads(body)["model"] == "e2e-model", "alias: first served name", body)

# -- chat, streamed with include_usage ----------------------------------------------------------
status, headers, body = curl(url + "/v1/chat/completions", {
    "model": "e2e-model", "messages": [{"role": "user", "content": "one two three four"}],
    "stream": True, "stream_options": {"include_usage": True}}, stream=True)
c.check(status == 200, "stream: 200", body)
c.check(headers.get("content-type", "").startswith("text/event-stream"), "stream: content type")
events = sse_events(body)
c.check(events and events[-1] == "[DONE]", "stream: ends with [DONE]", body[-200:])
chunks = [json.loads(e) for e in events[:-1]]
c.check(chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}, "stream: role chunk")
text = "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks if ch["choices"])
c.check(text == "one two three four", "stream: content", text)
finishes = [ch["choices"][0]["finish_reason"] for ch in chunks if ch["choices"]]
c.check(finishes[-1] == "stop" and all(f is None for f in finishes[:-1]), "stream: finish chunk")
c.check(chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4,
        "stream: usage chunk last", json.dumps(chunks[-1]))
c.check(all(ch["object"] == "chat.completion.chunk" for ch in chunks), "stream: chunk object")

# -- completions: string, strings, tokens; streamed ----------------------------------------------
status, _, body = curl(url + "/v1/completions", {"model": "e2e-model", "prompt": "complete me"})
r = json.loads(body)
c.check(status == 200 and r["object"] == "text_completion" and r["choices"][0]["text"] == "complete me",
        "completion: string prompt", body)
status, _, body = curl(url + "/v1/completions", {"model": "e2e-model", "prompt": ["a b", "c d e"]})
r = json.loads(body)
c.check(status == 200 and [ch["text"] for ch in r["choices"]] == ["a b", "c d e"],
        "completion: list of prompts", body)
status, _, body = curl(url + "/v1/completions", {"model": "e2e-model", "prompt": [11, 12, 13]})
c.check(status == 200 and json.loads(body)["choices"][0]["text"] == "11,12,13", "completion: token ids", body)
status, _, body = curl(url + "/v1/completions", {"model": "e2e-model", "prompt": "x y z", "max_tokens": 2,
                                                  "stream": True, "stream_options": {"include_usage": True}},
                       stream=True)
events = sse_events(body)
chunks = [json.loads(e) for e in events[:-1]]
# As llm-d-inference-sim: the echo is whole past max_tokens, which only makes the finish `length`.
c.check(events[-1] == "[DONE]" and chunks[-1]["usage"]["completion_tokens"] == 3, "completion stream: usage", body)
c.check("".join(ch["choices"][0]["text"] for ch in chunks if ch["choices"]) == "x y z",
        "completion stream: the whole echo past max_tokens", body)
c.check([ch["choices"][0]["finish_reason"] for ch in chunks if ch["choices"]][-1] == "length",
        "completion stream: finish length")

# -- errors ---------------------------------------------------------------------------------------
def error_of(status_body):
    status, _, body = status_body
    try:
        return status, json.loads(body)["error"]
    except (ValueError, KeyError):
        return status, {"raw": body}

status, err = error_of(curl(url + "/v1/chat/completions", {"model": "nope", "messages": [{"role": "user", "content": "x"}]}))
# A simulator pod's errors have llm-d-inference-sim's envelope: type from the status, code the status.
c.check(status == 404 and err.get("code") == 404 and err.get("type") == "NotFoundError", "404 unknown model",
        json.dumps(err))
status, err = error_of(curl(url + "/v1/chat/completions", '{"model": "e2e-model", "messages": ['))
c.check(status == 400 and "message" in err, "400 invalid JSON", json.dumps(err))
status, err = error_of(curl(url + "/v1/chat/completions", {"model": "e2e-model"}))
c.check(status == 400, "400 missing messages", json.dumps(err))
long_prompt = " ".join(f"w{i}" for i in range(100))
status, err = error_of(curl(url + "/v1/completions", {"model": "e2e-model", "prompt": long_prompt}))
c.check(status == 400 and "maximum context length is 64 tokens" in err.get("message", ""),
        "400 context length", json.dumps(err))
# X-Return-Error is fault injection: a simulator pod honours it, as llm-d-inference-sim does (with
# the simulator's error envelope); a pod whose operator turned it off ignores it.
status, err = error_of(curl(url + "/v1/chat/completions", {"model": "e2e-model", "messages": [{"role": "user", "content": "x"}]},
                            headers={"X-Return-Error": "503"}))
c.check(status == 503 and err.get("code") == 503 and "X-Return-Error" in err.get("message", ""),
        "X-Return-Error honoured by a simulator pod", json.dumps(err))
quiet, quiet_url = start_pod("--model", "e2e-model", "--mode", "echo", "--enable-return-error-header", "false")
status, _, body = curl(quiet_url + "/v1/chat/completions", {"model": "e2e-model", "messages": [{"role": "user", "content": "x"}]},
                       headers={"X-Return-Error": "503"})
c.check(status == 200, "X-Return-Error ignored with --enable-return-error-header false", body[:200])
quiet.stop()
faulty, faulty_url = start_pod("--model", "e2e-model", "--mode", "echo", "--enable-return-error-header")
status, err = error_of(curl(faulty_url + "/v1/chat/completions", {"model": "e2e-model", "messages": [{"role": "user", "content": "x"}]},
                            headers={"X-Return-Error": "503"}))
c.check(status == 503, "X-Return-Error 503 with --enable-return-error-header", json.dumps(err))
for bad in ("1000", "99", "65536", "abc", "200"):
    status, err = error_of(curl(faulty_url + "/v1/chat/completions", {"model": "e2e-model", "messages": [{"role": "user", "content": "x"}]},
                                headers={"X-Return-Error": bad}))
    c.check(status == 400 and err.get("param") == "x-return-error", f"X-Return-Error {bad} refused", json.dumps(err))
faulty.stop()

# waiting queue full -> 429: one slot, one waiting place, slow tokens
slow, slow_url = start_pod("--model", "slow", "--max-num-seqs", "1", "--max-waiting-queue-length", "1",
                           "--time-to-first-token", "2s")
import threading
holders = [threading.Thread(target=curl, args=(slow_url + "/v1/completions", {"model": "slow", "prompt": "p", "max_tokens": 1}))
           for _ in range(2)]
for t in holders:
    t.start()
    time.sleep(0.2)  # the first takes the running slot, the second the waiting place
status, err = error_of(curl(slow_url + "/v1/completions", {"model": "slow", "prompt": "p", "max_tokens": 1}))
c.check(status == 429, "429 waiting queue full", json.dumps(err))

# failure injection: every type answers its status
failing, failing_url = start_pod("--model", "fail", "--failure-injection-rate", "100")
seen = set()
for _ in range(60):
    status, err = error_of(curl(failing_url + "/v1/chat/completions", {"model": "fail", "messages": [{"role": "user", "content": "x"}]}))
    seen.add(status)
c.check(seen == {400, 401, 404, 429, 503}, "failure injection covers every type", str(sorted(seen)))

# -- the official openai npm client ----------------------------------------------------------------
res = node_client(url + "/v1", "unused-key", "e2e-model",
                  ["chat", "chat_stream", "completion", "completion_stream", "models", "error:nope:404"])
c.check("failure" not in res, "npm client ran", json.dumps(res))
c.check(res.get("chat", {}).get("text") == "hello from the node client", "npm: chat", json.dumps(res.get("chat")))
cs = res.get("chat_stream", {})
c.check(cs.get("text") == "stream this back to me please" and cs.get("finish") == "stop" and cs.get("role") == "assistant",
        "npm: chat stream", json.dumps(cs))
c.check((cs.get("usage") or {}).get("completion_tokens") == 6, "npm: stream usage", json.dumps(cs))
c.check(res.get("completion", {}).get("text") == "complete this prompt", "npm: completion", json.dumps(res.get("completion")))
c.check(res.get("completion_stream", {}).get("text") == "stream a completion", "npm: completion stream")
c.check(res.get("models") == ["e2e-model", "e2e-alias"], "npm: models", json.dumps(res.get("models")))
c.check(res.get("error:nope:404", {}).get("class") == "NotFoundError", "npm: 404 is NotFoundError",
        json.dumps(res.get("error:nope:404")))
# provoke 429 while two requests hold a slow pod's slot and waiting place; its first token takes
# long enough that node's start-up on a loaded machine cannot outlast the holders
held, held_url = start_pod("--model", "held", "--max-num-seqs", "1", "--max-waiting-queue-length", "1",
                           "--time-to-first-token", "15s")
holders = [threading.Thread(target=curl, daemon=True,
                            args=(held_url + "/v1/completions", {"model": "held", "prompt": "p", "max_tokens": 1}))
           for _ in range(2)]
for t in holders:
    t.start()
    time.sleep(0.2)
res = node_client(held_url + "/v1", "k", "held", ["error:held:429"], timeout=30)
c.check(res.get("error:held:429", {}).get("class") == "RateLimitError", "npm: 429 is RateLimitError",
        json.dumps(res))

# -- health, readiness, tokenize, metrics ---------------------------------------------------------
loading, loading_url = start_pod("--model", "loading", "--startup-duration", "1s")
status, _, _ = curl(loading_url + "/health/ready")
c.check(status == 503, "ready: 503 while loading")
status, _, _ = curl(loading_url + "/health")
c.check(status == 200, "health: 200 while loading")
time.sleep(1.5)
status, _, _ = curl(loading_url + "/health/ready")
c.check(status == 200, "ready: 200 once loaded")
status, _, body = curl(url + "/tokenize", {"model": "e2e-model", "prompt": "Hello world"})
r = json.loads(body)
c.check(status == 200 and r["count"] == 2 and r["tokens"][0] == 2871118705, "tokenize: sim-compatible ids", body)
status, _, body = curl(url + "/metrics")
for name in ["vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
             "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total", "vllm:prompt_tokens_total",
             "vllm:generation_tokens_total", 'vllm:request_success_total{finish_reason="stop"',
             "vllm:time_to_first_token_seconds_bucket", "vllm:inter_token_latency_seconds_bucket",
             "vllm:e2e_request_latency_seconds_bucket", "vllm:request_queue_time_seconds_bucket",
             'vllm:cache_config_info{block_size="16"']:
    c.check(name in body, f"metrics: {name}")
c.check('le="0.001"' in body and 'le="2560"' in body, "metrics: vLLM TTFT buckets")

# LoRA adapters appear in /v1/models and can be used
status, _, _ = curl(url + "/v1/load_lora_adapter", {"lora_name": "sql-lora", "lora_path": "/m/sql"})
c.check(status == 200, "lora: load")
status, _, body = curl(url + "/v1/models")
c.check("sql-lora" in body, "lora: listed", body)
status, _, body = curl(url + "/v1/completions", {"model": "sql-lora", "prompt": "select"})
c.check(status == 200, "lora: served", body)
status, _, _ = curl(url + "/v1/unload_lora_adapter", {"lora_name": "sql-lora"})
status, _, body = curl(url + "/v1/completions", {"model": "sql-lora", "prompt": "select"})
c.check(status == 404, "lora: unloaded", body)
status, _, body = curl(url + "/metrics")
c.check("vllm:lora_requests_info" in body, "metrics: lora_requests_info")

c.check(pod.stop() == 0, "graceful shutdown on SIGTERM")

# -- a client that hangs up before its non-streamed answer: the pod stops the request, as vLLM --
slow, slow_url = start_pod("--model", "e2e-model", "--time-to-first-token", "10ms",
                           "--inter-token-latency", "50ms")
slow_port = int(slow_url.rsplit(":", 1)[1])
body = json.dumps({"model": "e2e-model", "prompt": "hang up", "max_tokens": 200,
                   "ignore_eos": True}).encode()
with socket.create_connection(("127.0.0.1", slow_port)) as s:
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    time.sleep(0.3)  # running: ~6 of its 200 tokens (10 s) made
aborted = running = None
for _ in range(40):  # the abort is counted within a token's time; 2 s at most
    _, _, text = curl(slow_url + "/metrics")
    aborted = re.search(r'^vllm:request_success_total\{[^}]*finish_reason="abort"[^}]*\} (\S+)$', text, re.M)
    running = re.search(r"^vllm:num_requests_running\{[^}]*\} (\S+)$", text, re.M)
    if aborted and float(aborted.group(1)) == 1 and running and float(running.group(1)) == 0:
        break
    time.sleep(0.05)
c.check(aborted is not None and float(aborted.group(1)) == 1 and running is not None and
        float(running.group(1)) == 0, "a non-streamed request whose client hung up is aborted",
        f"{aborted and aborted.group(0)} {running and running.group(0)}")
slow.stop()
c.finish()
