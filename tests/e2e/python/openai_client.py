"""Drives an OpenAI-compatible endpoint with the official `openai` Python package (installed in
.venv by tools/setup-test-clients) and prints one JSON object with what it saw, as
../node/openai_client.mjs does for the npm client. Usage:
    openai_client.py <baseURL> <apiKey> <model> [scenario...]
Scenarios: model_retrieve, embeddings, chat_logprobs, completion_logprobs, chat_tools,
chat_tools_stream, json_object, json_schema, responses, responses_stream, bad_tool_schema.
E2E_HOST sets the Host header (the gateway's namespace)."""

import json
import os
import sys

import openai

base_url, api_key, model, *scenarios = sys.argv[1:]
headers = {"Host": os.environ["E2E_HOST"]} if os.environ.get("E2E_HOST") else None
client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=20,
                       default_headers=headers)
out = {}

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "days", "unit"],
        },
    },
}
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
}


def is_json(text):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def run(name):
    if name == "model_retrieve":
        m = client.models.retrieve(model)
        out[name] = {"id": m.id, "object": m.object}
    elif name == "embeddings":
        r = client.embeddings.create(model=model, input=["first text", "a second, longer text"])
        out[name] = {"count": len(r.data), "dims": [len(d.embedding) for d in r.data],
                     "index": [d.index for d in r.data], "prompt_tokens": r.usage.prompt_tokens,
                     "same": r.data[0].embedding == client.embeddings.create(
                         model=model, input="first text").data[0].embedding}
    elif name == "chat_logprobs":
        r = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "tell me something"}],
            max_tokens=5, logprobs=True, top_logprobs=2)
        content = r.choices[0].logprobs.content
        out[name] = {"tokens": len(content), "completion_tokens": r.usage.completion_tokens,
                     "logprobs": [t.logprob for t in content],
                     "top": [len(t.top_logprobs) for t in content]}
    elif name == "completion_logprobs":
        r = client.completions.create(model=model, prompt="say something", max_tokens=5,
                                      logprobs=2)
        lp = r.choices[0].logprobs
        out[name] = {"tokens": len(lp.tokens), "token_logprobs": lp.token_logprobs,
                     "top": [len(t) for t in lp.top_logprobs],
                     "completion_tokens": r.usage.completion_tokens}
    elif name == "chat_tools":
        r = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "weather in Paris?"}],
            tools=[WEATHER], tool_choice="required")
        calls = r.choices[0].message.tool_calls or []
        out[name] = {"finish": r.choices[0].finish_reason,
                     "names": [c.function.name for c in calls],
                     "arguments": [is_json(c.function.arguments) for c in calls],
                     "ids": [c.id for c in calls]}
    elif name == "chat_tools_stream":
        stream = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "weather in Paris?"}],
            tools=[WEATHER], tool_choice="required", stream=True)
        calls, finish = {}, None
        for chunk in stream:
            for c in chunk.choices:
                for d in c.delta.tool_calls or []:
                    call = calls.setdefault(d.index, {"name": "", "arguments": ""})
                    if d.function and d.function.name:
                        call["name"] += d.function.name
                    if d.function and d.function.arguments:
                        call["arguments"] += d.function.arguments
                if c.finish_reason:
                    finish = c.finish_reason
        out[name] = {"finish": finish, "names": [c["name"] for c in calls.values()],
                     "arguments": [is_json(c["arguments"]) for c in calls.values()]}
    elif name == "json_object":
        r = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "answer in JSON"}], max_tokens=200,
            response_format={"type": "json_object"})
        out[name] = {"parsed": is_json(r.choices[0].message.content) is not None}
    elif name == "json_schema":
        r = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "a person"}], max_tokens=200,
            response_format={"type": "json_schema",
                             "json_schema": {"name": "person", "schema": PERSON}})
        out[name] = {"value": is_json(r.choices[0].message.content)}
    elif name == "responses":
        r = client.responses.create(model=model, input="write a line", max_output_tokens=8,
                                    instructions="be brief")
        out[name] = {"object": r.object, "status": r.status, "text": r.output_text,
                     "output_tokens": r.usage.output_tokens, "input_tokens": r.usage.input_tokens}
    elif name == "responses_stream":
        stream = client.responses.create(model=model, input="write a line", max_output_tokens=8,
                                         stream=True)
        types, text, completed = [], "", None
        for event in stream:
            types.append(event.type)
            if event.type == "response.output_text.delta":
                text += event.delta
            if event.type == "response.completed":
                completed = event.response.output_text
        out[name] = {"types": sorted(set(types)), "first": types[:1], "last": types[-1:],
                     "text": text, "completed_text": completed}
    elif name == "bad_tool_schema":
        bad = {"type": "function", "function": {"name": "f", "parameters": {
            "type": "object", "properties": {"x": {"type": "no-such-type"}}}}}
        try:
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}],
                                           tools=[bad])
            out[name] = {"status": 200}
        except openai.APIStatusError as e:
            out[name] = {"status": e.status_code, "class": type(e).__name__}
    else:
        raise ValueError("unknown scenario " + name)


try:
    for s in scenarios:
        run(s)
    print(json.dumps(out))
except Exception as e:  # what failed goes back to the test as data
    print(json.dumps({**out, "failure": f"{type(e).__name__}: {e}",
                      "status": getattr(e, "status_code", None)}))
    sys.exit(1)
