"""The rest of the OpenAI surface driven by both official SDKs, openai-python and openai-node:
GET /v1/models/{id}, /v1/embeddings, logprobs and top_logprobs, tool calls (streamed and not),
response_format json_object and json_schema, /v1/responses (streamed and not) and an invalid tool
schema -- through `inferstack dev`'s gateway (namespace from the Host, API key) and on a pod of
its own started as llm-d-inference-sim (`inferstack run pod` without a profile)."""

import json
import os
import subprocess
import tempfile

from harness import BINARY, SOURCE_DIR, Checks, Process, Stack, free_port, node_client

c = Checks("openai SDKs e2e")
PYTHON = os.path.join(SOURCE_DIR, ".venv", "bin", "python")
PY_CLIENT = os.path.join(SOURCE_DIR, "tests", "e2e", "python", "openai_client.py")
SCENARIOS = ["model_retrieve", "embeddings", "chat_logprobs", "completion_logprobs", "chat_tools",
             "chat_tools_stream", "json_object", "json_schema", "responses", "responses_stream",
             "bad_tool_schema"]


def python_client(base_url, api_key, model, scenarios, host=None, timeout=90):
    env = dict(os.environ)
    if host:
        env["E2E_HOST"] = host
    out = subprocess.run([PYTHON, PY_CLIENT, base_url, api_key, model, *scenarios],
                         capture_output=True, text=True, timeout=timeout, env=env)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"failure": out.stdout + out.stderr}


def check_surface(res, who, model):
    """What each scenario must have seen, the same for both SDKs."""
    c.check("failure" not in res, f"{who}: every scenario ran", json.dumps(res)[:600])
    show = lambda k: json.dumps(res.get(k))[:300]
    m = res.get("model_retrieve", {})
    c.check(m.get("id") == model and m.get("object") == "model", f"{who}: models.retrieve",
            show("model_retrieve"))
    e = res.get("embeddings", {})
    c.check(e.get("count") == 2 and len(set(e.get("dims", []))) == 1 and e["dims"][0] > 0 and
            e.get("index") == [0, 1] and e.get("prompt_tokens", 0) > 0 and e.get("same") is True,
            f"{who}: embeddings (two inputs, one dimension, usage, deterministic)", show("embeddings"))
    lp = res.get("chat_logprobs", {})
    c.check(lp.get("tokens", 0) > 0 and lp.get("tokens") == lp.get("completion_tokens") and
            all(x <= 0 for x in lp.get("logprobs", [1])) and set(lp.get("top", [])) == {2},
            f"{who}: chat logprobs, one per token, two top_logprobs each", show("chat_logprobs"))
    clp = res.get("completion_logprobs", {})
    c.check(clp.get("tokens", 0) > 0 and clp.get("tokens") == clp.get("completion_tokens") and
            all(x is not None and x <= 0 for x in clp.get("token_logprobs", [1])) and
            all(1 <= t <= 2 for t in clp.get("top", [0])),
            f"{who}: completions logprobs=2", show("completion_logprobs"))
    for key in ("chat_tools", "chat_tools_stream"):
        t = res.get(key, {})
        args = (t.get("arguments") or [None])[0]
        valid = (isinstance(args, dict) and isinstance(args.get("city"), str) and
                 isinstance(args.get("days"), int) and 1 <= args["days"] <= 7 and
                 args.get("unit") in ("celsius", "fahrenheit"))
        c.check(t.get("finish") == "tool_calls" and t.get("names") == ["get_weather"] and valid,
                f"{who}: {key}: a get_weather call whose arguments fit the schema", show(key))
    c.check(res.get("json_object", {}).get("parsed") is True, f"{who}: json_object is JSON",
            show("json_object"))
    person = res.get("json_schema", {}).get("value")
    c.check(isinstance(person, dict) and isinstance(person.get("name"), str) and
            isinstance(person.get("age"), int) and person["age"] >= 0,
            f"{who}: json_schema content is an instance of the schema", show("json_schema"))
    r = res.get("responses", {})
    c.check(r.get("object") == "response" and r.get("status") == "completed" and
            bool(r.get("text")) and 0 < r.get("output_tokens", 0) <= 8 and
            r.get("input_tokens", 0) > 0, f"{who}: responses.create", show("responses"))
    rs = res.get("responses_stream", {})
    types = set(rs.get("types", []))
    c.check(rs.get("first") == ["response.created"] and rs.get("last") == ["response.completed"] and
            {"response.output_text.delta", "response.output_item.added",
             "response.output_text.done"} <= types and bool(rs.get("text")),
            f"{who}: responses stream events, created first and completed last",
            show("responses_stream"))
    b = res.get("bad_tool_schema", {})
    c.check(b.get("status") == 400 and b.get("class") == "BadRequestError",
            f"{who}: an invalid tool schema is a 400", show("bad_tool_schema"))


# -- through the gateway of `inferstack dev` --------------------------------------------------
workdir = tempfile.mkdtemp(prefix="inferstack-e2e-sdk-")
port = free_port()
dev = Stack(os.path.join(SOURCE_DIR, "config", "dev.yaml"), port,
            env={"INFERSTACK_SET": f"InferenceGateway:spec.secretsDir={workdir}/secrets"})
key = open(f"{workdir}/secrets/team-a/llm-api-key").read().strip()
model = "llama-3.1-8b-instruct"
host = "team-a.gw.example.com"
check_surface(python_client(dev.url + "/v1", key, model, SCENARIOS, host=host),
              "gateway, openai-python", model)
check_surface(node_client(dev.url + "/v1", key, model, SCENARIOS, host=host, timeout=90),
              "gateway, openai-node", model)
dev.stop()

# -- a pod of its own, started as llm-d-inference-sim -----------------------------------------------
pod_port = free_port()
pod = Process([BINARY, "run", "pod", "--model", "sim-model", "--port", str(pod_port),
               "--listen-address", "127.0.0.1", "--max-model-len", "4096", "--seed", "7",
               "--log-level", "warn"], ready="serving", timeout=20)
pod_url = f"http://127.0.0.1:{pod_port}/v1"
check_surface(python_client(pod_url, "none", "sim-model", SCENARIOS), "pod, openai-python",
              "sim-model")
check_surface(node_client(pod_url, "none", "sim-model", SCENARIOS, timeout=90), "pod, openai-node",
              "sim-model")
pod.stop()
c.finish()
