"""`inferstack dev` driven through its gateway as a user of the KAITO/llm-d stack would: namespace
from the Host, API key, model from the body, tokens streamed back -- with curl and the official
openai npm client; every error as OpenAI JSON; a key rotated while a stream is open."""

import json
import os
import shutil
import tempfile
import threading
import time

from harness import SOURCE_DIR, STACK, Checks, Stack, curl, free_port, node_client, sse_events

c = Checks(f"gateway e2e ({STACK})")

workdir = tempfile.mkdtemp(prefix="inferstack-e2e-")
port = free_port()
dev = Stack(os.path.join(SOURCE_DIR, "config", "dev.yaml"), port,
            env={"INFERSTACK_SET": f"InferenceGateway:spec.secretsDir={workdir}/secrets"})
url = dev.url
key_a = open(f"{workdir}/secrets/team-a/llm-api-key").read().strip()
key_b = open(f"{workdir}/secrets/team-b/llm-api-key").read().strip()
c.check(os.stat(f"{workdir}/secrets/team-a/llm-api-key").st_mode & 0o777 == 0o600, "generated key file is 0600")
printed = "\n".join(dev.lines)
c.check(key_a not in printed and key_b not in printed, "keys are never printed")

A = {"Host": "team-a.gw.example.com", "Authorization": f"Bearer {key_a}"}
B = {"Host": "team-b.gw.example.com", "Authorization": f"Bearer {key_b}"}
chat = {"model": "llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 8}

# -- every printed curl line works as printed (one per routed model, both namespaces) -------------
curl_lines = [line.strip() for line in dev.lines if line.strip().startswith("curl -s")]
c.check(len(curl_lines) >= 3, "a curl line per routed model", str(curl_lines))
for curl_line in curl_lines:
    out = os.popen(curl_line).read()
    c.check('"object":"chat.completion"' in out, "the printed curl line works as printed", curl_line + " -> " + out[:300])

# -- chat and completions, streamed and not ---------------------------------------------------------
status, headers, body = curl(url + "/v1/chat/completions", chat, headers=A)
c.check(status == 200, "chat: 200", body)
r = json.loads(body)
c.check(r["model"] == "llama-3.1-8b-instruct" and r["choices"][0]["message"]["content"], "chat: answer", body)
c.check(headers.get("x-request-id"), "x-request-id generated")
c.check(headers.get("x-inference-pod", "").startswith("team-a/llama-3-1-8b"), "answered by a llama pod",
        headers.get("x-inference-pod", ""))
status, headers, body = curl(url + "/v1/chat/completions", chat, headers={**A, "X-Request-Id": "my-request-7"})
c.check(headers.get("x-request-id") == "my-request-7", "X-Request-Id accepted and echoed")

status, headers, body = curl(url + "/v1/chat/completions", {**chat, "stream": True, "stream_options": {"include_usage": True}},
                             headers=A, stream=True)
events = sse_events(body)
c.check(status == 200 and events and events[-1] == "[DONE]", "stream: [DONE]", body[-200:])
chunks = [json.loads(e) for e in events[:-1]]
c.check(chunks[0]["choices"][0]["delta"].get("role") == "assistant", "stream: role chunk")
c.check(chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] >= 1, "stream: usage chunk")

status, _, body = curl(url + "/v1/completions", {"model": "phi-4-mini-instruct", "prompt": "Say something", "max_tokens": 5},
                       headers=A)
c.check(status == 200 and json.loads(body)["object"] == "text_completion", "completions: 200", body)
status, _, body = curl(url + "/v1/completions", {"model": "qwen2.5-32b-instruct", "prompt": "x", "max_tokens": 3, "stream": True},
                       headers=B, stream=True)
c.check(status == 200 and sse_events(body)[-1] == "[DONE]", "team-b completions stream", body[-200:])

# plain localhost serves the default namespace (team-a)
status, _, body = curl(url + "/v1/chat/completions", chat, headers={"Authorization": f"Bearer {key_a}"})
c.check(status == 200, "localhost -> default namespace", body)

# -- /v1/models lists the caller's namespace ----------------------------------------------------------
status, _, body = curl(url + "/v1/models", headers=A)
ids = [m["id"] for m in json.loads(body)["data"]]
c.check(ids == ["llama-3.1-8b-instruct", "phi-4-mini-instruct"], "models: team-a", body)
status, _, body = curl(url + "/v1/models", headers=B)
c.check([m["id"] for m in json.loads(body)["data"]] == ["qwen2.5-32b-instruct"], "models: team-b", body)

# -- errors as OpenAI JSON ----------------------------------------------------------------------------
def error(status_headers_body):
    status, headers, body = status_headers_body
    try:
        return status, json.loads(body)["error"], headers
    except (ValueError, KeyError):
        return status, {"raw": body}, headers

status, err, _ = error(curl(url + "/v1/chat/completions", chat, headers={"Host": A["Host"]}))
c.check(status == 401 and err.get("code") == "invalid_api_key", "401 missing key", json.dumps(err))
status, err, _ = error(curl(url + "/v1/chat/completions", chat, headers={**A, "Authorization": "Bearer sk-wrong"}))
c.check(status == 401 and err.get("code") == "invalid_api_key", "401 wrong key", json.dumps(err))
status, err, _ = error(curl(url + "/v1/chat/completions", chat, headers={**A, "Authorization": f"Bearer {key_b}"}))
c.check(status == 401, "401 namespace B's key on A's host", json.dumps(err))
# auth runs before routing: an unknown model with a wrong key is a 401, not a 404
status, err, _ = error(curl(url + "/v1/chat/completions", {**chat, "model": "nope"}, headers={**A, "Authorization": "Bearer x"}))
c.check(status == 401, "auth before routing", json.dumps(err))
status, err, _ = error(curl(url + "/v1/chat/completions", '{"model": "llama', headers=A))
c.check(status == 400, "400 bad JSON", json.dumps(err))
status, err, _ = error(curl(url + "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}, headers=A))
c.check(status == 400 and err.get("param") == "model", "400 missing model", json.dumps(err))
status, err, _ = error(curl(url + "/v1/chat/completions", {**chat, "model": "gpt-5"}, headers=A))
c.check(status == 404 and err == {"message": "The model `gpt-5` does not exist.", "type": "invalid_request_error",
                                 "param": "model", "code": "model_not_found"}, "404 model_not_found", json.dumps(err))
big = json.dumps({**chat, "messages": [{"role": "user", "content": "x" * (5 * 1024 * 1024)}]})
status, err, _ = error(curl(url + "/v1/chat/completions", big, headers=A))
c.check(status == 413, "413 body too large", json.dumps(err)[:200])
# a client-supplied X-Gateway-Model-Name does not steer routing
status, err, _ = error(curl(url + "/v1/chat/completions", {**chat, "model": "gpt-5"},
                            headers={**A, "X-Gateway-Model-Name": "llama-3.1-8b-instruct"}))
c.check(status == 404, "client X-Gateway-Model-Name is ignored", json.dumps(err))

# -- /v1/embeddings: routed like generation (key, namespace, model), answered by the gateway ------
status, _, body = curl(url + "/v1/embeddings",
                       {"model": "llama-3.1-8b-instruct", "input": ["one", "two words"], "dimensions": 8},
                       headers=A)
emb = json.loads(body) if status == 200 else {}
c.check(status == 200 and [len(d["embedding"]) for d in emb.get("data", [])] == [8, 8] and
        emb.get("usage", {}).get("prompt_tokens", 0) > 0, "embeddings through the gateway", body[:300])
status, _, body = curl(url + "/v1/embeddings", {"model": "gpt-5", "input": "x"}, headers=A)
c.check(status == 404 and '"model_not_found"' in body, "embeddings: unknown model is a 404", body[:300])
status, _, body = curl(url + "/v1/embeddings", {"model": "llama-3.1-8b-instruct", "input": "x"},
                       headers={**A, "Authorization": "Bearer sk-wrong"})
c.check(status == 401, "embeddings: a wrong key is a 401", body[:300])

# -- the official openai npm client --------------------------------------------------------------------
res = node_client(url + "/v1", key_a, "llama-3.1-8b-instruct",
                  ["chat", "chat_stream", "completion", "completion_stream", "models",
                   "error:gpt-5:404", "error_key:sk-wrong:401", f"error_key:{key_b}:401",
                   "error_nomodel", "error_big"], host="team-a.gw.example.com")
c.check("failure" not in res, "npm client ran", json.dumps(res)[:400])
c.check(bool(res.get("chat", {}).get("text")), "npm: chat", json.dumps(res.get("chat")))
cs = res.get("chat_stream", {})
c.check(bool(cs.get("text")) and cs.get("finish") in ("stop", "length") and (cs.get("usage") or {}).get("completion_tokens", 0) > 0,
        "npm: chat stream with usage", json.dumps(cs))
c.check(bool(res.get("completion", {}).get("text")), "npm: completion")
c.check(bool(res.get("completion_stream", {}).get("text")), "npm: completion stream")
c.check(res.get("models") == ["llama-3.1-8b-instruct", "phi-4-mini-instruct"], "npm: models", json.dumps(res.get("models")))
c.check(res.get("error:gpt-5:404", {}).get("class") == "NotFoundError", "npm: 404 -> NotFoundError",
        json.dumps(res.get("error:gpt-5:404")))
c.check(res.get("error_key:sk-wrong:401", {}).get("class") == "AuthenticationError", "npm: 401 -> AuthenticationError",
        json.dumps(res.get("error_key:sk-wrong:401")))
c.check(res.get(f"error_key:{key_b}:401", {}).get("class") == "AuthenticationError",
        "npm: namespace B's key on A's host -> AuthenticationError")
c.check(res.get("error_nomodel", {}).get("class") == "BadRequestError", "npm: no model -> BadRequestError",
        json.dumps(res.get("error_nomodel")))
big = res.get("error_big", {})
c.check(big.get("class") == "APIError" and big.get("status") == 413 and big.get("code") == "request_too_large",
        "npm: body over the limit -> APIError 413", json.dumps(big))
c.check(res.get("error:gpt-5:404", {}).get("code") == "model_not_found", "npm: model_not_found code")
# a 400 from the codec: n = 0 is invalid -- sent through curl since the client validates types
status, err, _ = error(curl(url + "/v1/chat/completions", {**chat, "n": 0}, headers=A))
c.check(status == 400, "400 invalid n", json.dumps(err))

# -- canary split: both pools serve the llama model ------------------------------------------------------
pods = {}
for _ in range(60):
    _, headers, _ = curl(url + "/v1/chat/completions", {**chat, "max_tokens": 1}, headers=A)
    pod = headers.get("x-inference-pod", "")
    pods[pod.rsplit("-", 1)[0]] = pods.get(pod.rsplit("-", 1)[0], 0) + 1
c.check(pods.get("team-a/llama-3-1-8b", 0) > 35 and pods.get("team-a/llama-3-1-8b-canary", 0) >= 1,
        "canary split 90/10", json.dumps(pods))

# -- rotate team-a's key while a stream is open -----------------------------------------------------------
long_stream = {"model": "qwen2.5-32b-instruct", "messages": [{"role": "user", "content": "long"}],
               "max_tokens": 150, "ignore_eos": True, "stream": True}
result = {}
def open_stream():
    result["response"] = curl(url + "/v1/chat/completions", long_stream, headers=B, stream=True, timeout=60)
t = threading.Thread(target=open_stream)
t.start()
time.sleep(0.5)  # the stream is under way (qwen: ~25 ms per token, 150 tokens)
secret = f"{workdir}/secrets/team-b/llm-api-key"
with open(secret + ".new", "w") as f:
    f.write("sk-rotated-team-b-key\n")
os.chmod(secret + ".new", 0o600)
os.replace(secret + ".new", secret)  # the operator rewrites the Secret
new_b = {**B, "Authorization": "Bearer sk-rotated-team-b-key"}
deadline = time.time() + 5
rotated = False
while time.time() < deadline and not rotated:
    time.sleep(0.2)
    rotated = curl(url + "/v1/models", headers=new_b)[0] == 200
c.check(rotated, "the new key is accepted")
status, _, _ = curl(url + "/v1/chat/completions", {**chat, "model": "qwen2.5-32b-instruct"}, headers=B)
c.check(status == 401, "the old key is refused afterwards")
t.join(60)
status, _, body = result.get("response", (0, {}, ""))
events = sse_events(body)
chunks = [json.loads(e) for e in events[:-1] if e.startswith("{")]
tokens = sum(1 for ch in chunks for ch_c in ch.get("choices", []) if ch_c.get("delta", {}).get("content"))
c.check(status == 200 and events and events[-1] == "[DONE]" and tokens == 150,
        "the open stream completed", f"status {status}, {tokens} content chunks")

# -- metrics ------------------------------------------------------------------------------------------------
body = dev.metrics()
for name in ["inferstack_gateway_requests_total", "inferstack_auth_requests_total", "inferstack_router_decisions_total",
             "inferstack_gateway_in_flight_requests", "inferstack_gateway_request_duration_seconds_bucket",
             "inference_extension_scheduler_attempts_total", "inference_objective_request_total"]:
    c.check(name in body, f"metrics: {name}")
c.check('result="invalid_key"' in body and 'result="allowed"' in body, "metrics: auth allowed and denied")

c.check(dev.stop() == 0, "graceful shutdown")
shutil.rmtree(workdir, ignore_errors=True)
c.finish()
