"""OpenAI's Responses API (POST /v1/responses) driven with curl, streamed and not: on a pod of
its own started as llm-d-inference-sim (`inferstack run pod`, echo mode, so every text is
known) -- messages, instructions, logprobs, function calls and function_call_output items, the
400s -- and through the stack's gateway (namespace from the Host, API key, model from the
body), where it is routed as chat is."""

import json
import os
import tempfile

from harness import BINARY, SOURCE_DIR, STACK, Checks, Process, Stack, curl, free_port

c = Checks(f"responses e2e ({STACK})")

EVENTS = ["response.created", "response.in_progress", "response.output_item.added",
          "response.content_part.added", "response.output_text.delta",
          "response.output_text.done", "response.content_part.done",
          "response.output_item.done", "response.completed"]
WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}


def named_events(body):
    """(event name, data object) of each event of a Responses stream, in order."""
    out = []
    for block in body.split("\n\n"):
        name, data = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        if data is not None:
            out.append((name, data))
    return out


def check_stream(body, who, text=None):
    events = named_events(body)
    names = [n for n, _ in events]
    deltas = [d["delta"] for n, d in events if n == "response.output_text.delta"]
    # created, in_progress, item and part added, the deltas, then the four closing events
    expected = EVENTS[:4] + ["response.output_text.delta"] * len(deltas) + EVENTS[5:]
    c.check(len(deltas) >= 1 and names == expected, f"{who}: events in order", str(names))
    c.check(all(d["type"] == n for n, d in events), f"{who}: each event's type is its name")
    c.check([d["sequence_number"] for _, d in events] == list(range(len(events))),
            f"{who}: sequence numbers count from 0")
    done = dict(events).get("response.output_text.done", {})
    c.check(done.get("text") == "".join(deltas), f"{who}: text.done is the deltas joined",
            json.dumps(done))
    if text is not None:
        c.check("".join(deltas) == text, f"{who}: the text", "".join(deltas))
    final = events[-1][1].get("response", {}) if events else {}
    usage = final.get("usage") or {}
    c.check(final.get("status") == "completed" and usage.get("input_tokens", 0) > 0 and
            usage.get("output_tokens", 0) > 0 and
            usage.get("total_tokens") == usage.get("input_tokens") + usage.get("output_tokens"),
            f"{who}: completed with usage", json.dumps(final)[:400])
    c.check(final.get("output", [{}])[0].get("content", [{}])[0].get("text") == "".join(deltas),
            f"{who}: the completed response holds the text")
    return events


# -- a pod of its own, as the simulator --------------------------------------------------------
port = free_port()
pod = Process([BINARY, "run", "pod", "--listen-address", "127.0.0.1", "--port", str(port),
               "--model", "e2e-model", "--mode", "echo", "--log-level", "warn"], ready="serving")
url = f"http://127.0.0.1:{port}/v1/responses"

status, headers, body = curl(url, {"model": "e2e-model", "input": "Hello big world",
                                   "instructions": "Reply in French"})
c.check(status == 200 and headers.get("content-type", "").startswith("application/json"),
        "pod: 200 JSON", body)
r = json.loads(body)
item = r["output"][0] if r.get("output") else {}
part = item.get("content", [{}])[0]
c.check(r.get("object") == "response" and r.get("status") == "completed" and
        r.get("id", "").startswith("resp_") and r.get("model") == "e2e-model",
        "pod: a completed response object", body[:300])
c.check(r.get("instructions") == "Reply in French", "pod: instructions echoed", body[:300])
c.check(item.get("type") == "message" and item.get("role") == "assistant" and
        item.get("id", "").startswith("msg_") and part.get("type") == "output_text",
        "pod: a message with output_text", json.dumps(item))
c.check(part.get("text") == "Hello big world" and "logprobs" not in part, "pod: echo, no logprobs",
        json.dumps(part))
u = r.get("usage", {})
c.check(u.get("output_tokens") == 3 and u.get("input_tokens", 0) > 0 and
        u.get("total_tokens") == u.get("input_tokens") + u.get("output_tokens"), "pod: usage",
        json.dumps(u))

status, _, body = curl(url, {"model": "e2e-model", "input": "Hello big world", "stream": True},
                       stream=True)
c.check(status == 200, "pod stream: 200", body[:200])
check_stream(body, "pod stream", text="Hello big world")

status, _, body = curl(url, {"model": "e2e-model", "input": "Hello big world", "top_logprobs": 2,
                             "include": ["message.output_text.logprobs"]})
lps = json.loads(body)["output"][0]["content"][0].get("logprobs", []) if status == 200 else []
c.check([lp["token"] for lp in lps] == ["Hello ", "big ", "world"] and
        all(lp["logprob"] <= 0 and len(lp["top_logprobs"]) == 2 for lp in lps),
        "pod: a logprob per token, two alternatives each", body[:400])
status, _, body = curl(url, {"model": "e2e-model", "input": "Hello big world", "stream": True,
                             "include": ["message.output_text.logprobs"]}, stream=True)
events = named_events(body)
streamed = [lp for n, d in events if n == "response.output_text.delta" for lp in d["logprobs"]]
final = events[-1][1]["response"]["output"][0]["content"][0] if events else {}
c.check(len(streamed) == 3 and final.get("logprobs") == streamed,
        "pod stream: logprobs per delta, all of them in the completed response", body[-600:])

# Echo mode answers the last input item: a message with an image, a tool's output.
status, _, body = curl(url, {"model": "e2e-model", "input": [{"role": "user", "content": [
    {"type": "input_text", "text": "Describe this"},
    {"type": "input_image", "image_url": "https://example.com/img.png"}]}]})
c.check(status == 200 and json.loads(body)["output"][0]["content"][0]["text"] ==
        "Describe this\nimage: https://example.com/img.png", "pod: echo names the image", body[:300])

history = [{"role": "user", "content": "What is the weather?"},
           {"type": "function_call", "call_id": "call_1", "name": "get_weather",
            "arguments": "{\"city\":\"Paris\"}"},
           {"type": "function_call_output", "call_id": "call_1", "output": "sunny, 22C"}]
status, _, body = curl(url, {"model": "e2e-model", "input": history, "tools": [WEATHER]})
r = json.loads(body)
c.check(status == 200 and r["output"][0]["type"] == "message" and
        r["output"][0]["content"][0]["text"] == "sunny, 22C",
        "pod: after a function_call_output, a message (echoing the output)", body[:300])
status, _, short = curl(url, {"model": "e2e-model", "input": history[:1], "tool_choice": "none",
                              "tools": [WEATHER]})
c.check(status == 200 and r["usage"]["input_tokens"] > json.loads(short)["usage"]["input_tokens"],
        "pod: function_call items count toward input_tokens", short[:300])

# Tools: the first turn calls one.
status, _, body = curl(url, {"model": "e2e-model", "input": "Weather in Paris?", "tools": [WEATHER]})
r = json.loads(body)
call = r["output"][0] if status == 200 else {}
c.check(len(r.get("output", [])) == 1 and call.get("type") == "function_call" and
        call.get("name") == "get_weather" and call.get("id", "").startswith("fc_") and
        call.get("call_id", "").startswith("call_") and call.get("status") == "completed" and
        "city" in json.loads(call.get("arguments", "{}")),
        "pod: one function_call with arguments from the schema", body[:400])
status, _, body = curl(url, {"model": "e2e-model", "input": "Weather in Paris?", "stream": True,
                             "tools": [WEATHER]}, stream=True)
events = named_events(body)
names = [n for n, _ in events]
args = "".join(d["delta"] for n, d in events if n == "response.function_call_arguments.delta")
done = dict(events).get("response.function_call_arguments.done", {})
c.check(names[:3] == EVENTS[:3] and names[-2:] == ["response.output_item.done",
                                                      "response.completed"] and
        "response.output_text.delta" not in names and done.get("arguments") == args and
        "city" in json.loads(args or "{}") and
        events[-1][1]["response"]["output"][0].get("arguments") == args,
        "pod stream: function_call events, the arguments in deltas", str(names))
status, _, body = curl(url, {"model": "e2e-model", "input": "x", "tools": [
    {"type": "function", "name": "bad", "description": "no parameters"}]})
c.check(status == 400 and "Tool validation failed" in body, "pod: invalid tool schema is a 400",
        body)
status, _, body = curl(url, {"model": "e2e-model", "input": "x", "tools": [WEATHER],
                             "tool_choice": {"type": "function", "name": "nope"}})
c.check(status == 500 and "not found in the tools list" in body,
        "pod: a forced tool that is not offered (the simulator's 500)", body)

# Refused bodies name the field.
for bad, param, what in [
        ({"model": "e2e-model", "input": [{"role": "user", "content": [
            {"type": "input_video", "url": "https://example.com/v.mp4"}]}]},
         "input[0].content[0].type", "unsupported content type"),
        ({"model": "e2e-model"}, "input", "no input"),
        ({"input": "x"}, "model", "no model"),
        ({"model": "e2e-model", "input": "x", "max_output_tokens": 0}, "max_output_tokens",
         "max_output_tokens 0"),
        ({"model": "e2e-model", "input": "x", "previous_response_id": "resp_1"},
         "previous_response_id", "previous_response_id")]:
    status, _, body = curl(url, bad)
    err = json.loads(body).get("error", {}) if body.startswith("{") else {}
    c.check(status == 400 and err.get("param") == param, f"pod: 400 naming {param} ({what})", body)
status, _, body = curl(url, {"model": "nope", "input": "x"})
c.check(status == 404, "pod: an unknown model is a 404", body)
status, _, body = curl(url)
c.check(status == 405, "pod: GET /v1/responses is a 405", body)
c.check(pod.stop() == 0, "pod: graceful shutdown")

# -- through the stack's gateway -----------------------------------------------------------------
workdir = tempfile.mkdtemp(prefix="inferstack-e2e-")
port = free_port()
dev = Stack(os.path.join(SOURCE_DIR, "config", "dev.yaml"), port,
            env={"INFERSTACK_SET": f"InferenceGateway:spec.secretsDir={workdir}/secrets"})
key = open(f"{workdir}/secrets/team-a/llm-api-key").read().strip()
A = {"Host": "team-a.gw.example.com", "Authorization": f"Bearer {key}"}
url = dev.url + "/v1/responses"
ask = {"model": "llama-3.1-8b-instruct", "input": "Hello!", "max_output_tokens": 8}

status, headers, body = curl(url, ask, headers=A)
r = json.loads(body) if status == 200 else {}
u = r.get("usage", {})
c.check(r.get("object") == "response" and r.get("status") == "completed" and
        r.get("model") == "llama-3.1-8b-instruct" and r["output"][0]["content"][0]["text"] and
        0 < u.get("output_tokens", 0) <= 8, "gateway: a response, routed by the body's model",
        body[:400])
c.check(bool(headers.get("x-request-id")) and r.get("id") == "resp_" + headers["x-request-id"],
        "gateway: the response id is the request id's", json.dumps(headers))

status, _, body = curl(url, {**ask, "instructions": "Reply in French"}, headers=A)
c.check(status == 200 and json.loads(body)["instructions"] == "Reply in French" and
        json.loads(body)["usage"]["input_tokens"] > u.get("input_tokens", 0),
        "gateway: instructions count toward the prompt, as vLLM reads them", body[:400])

status, _, body = curl(url, {**ask, "stream": True}, headers=A, stream=True)
c.check(status == 200, "gateway stream: 200", body[:200])
check_stream(body, "gateway stream")

# Under the stack's (vLLM) profiles text.format is honoured: the answer is an instance.
schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
status, _, body = curl(url, {**ask, "max_output_tokens": 64, "text": {"format": {
    "type": "json_schema", "name": "place", "schema": schema}}}, headers=A)
r = json.loads(body) if status == 200 else {}
text = r.get("output", [{}])[0].get("content", [{}])[0].get("text", "")
c.check(r.get("text", {}).get("format", {}).get("name") == "place" and
        isinstance(json.loads(text or "null"), dict) and "city" in json.loads(text or "{}"),
        "gateway: text.format json_schema answered with an instance", body[:400])
status, _, body = curl(url, {**ask, "tools": [WEATHER]}, headers=A)
r = json.loads(body) if status == 200 else {}
c.check([o.get("type") for o in r.get("output", [])] == ["function_call"] and
        r.get("parallel_tool_calls") is False, "gateway: one function_call", body[:400])

status, _, body = curl(url, {**ask, "model": "no-such-model"}, headers=A)
c.check(status == 404 and "model_not_found" in body, "gateway: an unknown model is a 404", body)
status, _, body = curl(url, ask, headers={"Host": A["Host"]})
c.check(status == 401, "gateway: no key, 401", body)
status, _, body = curl(url, {"model": "llama-3.1-8b-instruct"}, headers=A)
c.check(status == 400 and json.loads(body)["error"]["param"] == "input", "gateway: no input, 400",
        body)
c.check(dev.stop() == 0, "gateway: graceful shutdown")
c.finish()
