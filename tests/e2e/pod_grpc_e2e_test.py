"""vLLM's gRPC engine API (service vllm.grpc.engine.VllmEngine) on `inferstack run pod`'s HTTP port,
as llm-d-inference-sim serves it, driven by Python's grpcio (Debian's python3-grpcio). The messages
are encoded here by hand from the interface's field numbers (vLLM's engine proto), not from our
proto file, so a wrong field number on our side shows. HTTP/1 on the same port keeps working.
Only 127.0.0.1; every wait bounded."""

import http.client
import json
import time

import grpc

from harness import BINARY, Checks, Process, free_port

c = Checks("pod gRPC e2e")
SERVICE = "/vllm.grpc.engine.VllmEngine/"


# -- protobuf wire format, just what these messages need ------------------------------------------
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, wire_type, payload):
    key = varint(number << 3 | wire_type)
    if wire_type == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload  # length-delimited


def generate_request(request_id, ids=None, text=None, max_tokens=None, stream=False):
    msg = field(1, 2, request_id.encode())
    if ids is not None:
        msg += field(2, 2, field(2, 2, b"".join(varint(i) for i in ids)))  # tokenized.input_ids
    if text is not None:
        msg += field(3, 2, text.encode())
    if max_tokens is not None:
        msg += field(4, 2, field(8, 0, max_tokens))  # sampling_params.max_tokens
    if stream:
        msg += field(5, 0, 1)
    return msg


def parse(data):
    """{field number: [values]}: varints as ints, length-delimited as bytes, fixed64 as bytes."""
    out, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, i = read_varint(data, i)
        elif wire_type == 2:
            size, i = read_varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire_type == 1:
            value, i = data[i:i + 8], i + 8
        else:
            raise ValueError(f"wire type {wire_type}")
        out.setdefault(number, []).append(value)
    return out


def read_varint(data, i):
    n = shift = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def packed(values):
    ids = []
    for v in values:
        if isinstance(v, int):
            ids.append(v)
        else:
            j = 0
            while j < len(v):
                n, j = read_varint(v, j)
                ids.append(n)
    return ids


def one(msg, number, default=0):
    return msg.get(number, [default])[-1]


def response(raw):
    """A GenerateResponse as ("chunk" | "complete", dict of its fields)."""
    msg = parse(raw)
    if 1 in msg:
        chunk = parse(msg[1][0])
        return "chunk", {"token_ids": packed(chunk.get(1, [])), "prompt_tokens": one(chunk, 2),
                         "completion_tokens": one(chunk, 3), "cached_tokens": one(chunk, 4)}
    done = parse(msg[2][0])
    return "complete", {"output_ids": packed(done.get(1, [])),
                        "finish_reason": one(done, 2, b"").decode(), "prompt_tokens": one(done, 3),
                        "completion_tokens": one(done, 4), "cached_tokens": one(done, 5)}


def raw(x):
    return x


def start(*flags):
    port = free_port()
    proc = Process([BINARY, "run", "pod", "--listen-address", "127.0.0.1", "--port", str(port),
                    "--log-level", "warn", *flags], ready="serving")
    return proc, port


def generate(channel, request, timeout=20):
    call = channel.unary_stream(SERVICE + "Generate", request_serializer=raw,
                                response_deserializer=raw)
    return [response(r) for r in call(request, timeout=timeout)]


def unary(channel, method, request=b"", timeout=10):
    call = channel.unary_unary(SERVICE + method, request_serializer=raw, response_deserializer=raw)
    return parse(call(request, timeout=timeout))


def http_request(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    return resp.status, text


# -- echo mode: the answers are the prompt's own ids ----------------------------------------------
pod, port = start("--model", "m", "--mode", "echo")
with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
    info = unary(ch, "GetModelInfo")
    c.check(one(info, 1, b"").decode() == "m", "GetModelInfo names the model", str(info))

    answers = generate(ch, generate_request("a", ids=[32, 45, 78, 13], max_tokens=128))
    c.check(len(answers) == 1 and answers[0][0] == "complete", "not streamed: one complete answer",
            str(answers))
    done = answers[0][1]
    c.check(done["output_ids"] == [32, 45, 78, 13], "echo: the output ids are the prompt's",
            str(done))
    c.check(done["finish_reason"] == "stop" and done["prompt_tokens"] == 4
            and done["completion_tokens"] == 4, "finish reason and token counts", str(done))

    answers = generate(ch, generate_request("b", ids=[32, 45, 78, 13], max_tokens=3))
    c.check(answers[-1][1]["finish_reason"] == "length",
            "max_tokens below the prompt's length: finish reason length", str(answers))

    answers = generate(ch, generate_request("c", ids=[32, 45, 78, 13], max_tokens=128, stream=True))
    kinds = [k for k, _ in answers]
    c.check(kinds == ["chunk"] * 4 + ["complete"], "streamed: a chunk per token, then complete",
            str(answers))
    c.check([a[1]["token_ids"] for a in answers[:4]] == [[32], [45], [78], [13]]
            and all(a[1]["prompt_tokens"] == 4 for a in answers[:4]),
            "streamed chunks carry the ids in order and the prompt's count", str(answers))
    c.check(answers[-1][1]["finish_reason"] == "stop", "streamed: the complete answer's finish",
            str(answers[-1]))

    answers = generate(ch, generate_request("d", text="This is a test."))
    c.check(len(answers) == 1 and len(answers[0][1]["output_ids"]) == 5,
            "text input: echoed as its 5 tokens", str(answers))

    health = unary(ch, "HealthCheck")
    c.check(one(health, 1) == 1, "HealthCheck: healthy", str(health))
    server = unary(ch, "GetServerInfo")
    c.check(one(server, 5, b"").decode() == "vllm-grpc", "GetServerInfo: server type", str(server))
    unary(ch, "Abort", field(1, 2, b"nothing-running"))
    c.check(True, "Abort of an unknown id answers")

# HTTP/1 still works on the same port, before and after gRPC connections.
status, text = http_request(port, "GET", "/v1/models")
c.check(status == 200 and '"m"' in text, "HTTP/1 on the same port: GET /v1/models", text[:200])
status, text = http_request(port, "POST", "/v1/completions",
                            {"model": "m", "prompt": "hello there", "max_tokens": 4})
c.check(status == 200 and "hello there" in text, "HTTP/1 on the same port: POST /v1/completions",
        text[:300])
status, text = http_request(port, "GET", "/metrics")
c.check(status == 200 and 'vllm:request_success_total{finish_reason="stop",model_name="m"}' in text,
        "gRPC generations count in the pod's metrics", "")
pod.stop()

# -- random mode, streamed; failure injection is a gRPC error --------------------------------------
pod, port = start("--model", "m", "--mode", "random")
with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
    answers = generate(ch, generate_request("r", ids=[1, 2, 3], max_tokens=6, stream=True))
    chunks = [a for k, a in answers if k == "chunk"]
    c.check(len(answers) >= 2 and answers[-1][0] == "complete" and 1 <= len(chunks) <= 6,
            "random, streamed: chunks then complete", str(answers))
pod.stop()

# -- Abort names a running generation by the client's id: it ends with finish reason abort ---------
pod, port = start("--model", "m", "--mode", "echo", "--time-to-first-token", "10s")
with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
    call = ch.unary_stream(SERVICE + "Generate", request_serializer=raw, response_deserializer=raw)
    stream = call(generate_request("slow", ids=[1, 2, 3], stream=True), timeout=8)
    for _ in range(100):  # the call has reached the pod once GetServerInfo counts it (5 s at most)
        if one(unary(ch, "GetServerInfo"), 1) == 1:
            break
        time.sleep(0.05)
    unary(ch, "Abort", field(1, 2, b"slow"))
    try:
        answers = [response(r) for r in stream]
        c.check(answers and answers[-1][1]["finish_reason"] == "abort",
                "Abort: the running generation ends with finish reason abort", str(answers))
    except grpc.RpcError as e:
        c.check(False, "Abort: the running generation ends at once", f"{e.code()} {e.details()}")
    c.check(one(unary(ch, "GetServerInfo"), 1) == 0, "Abort: no generation left running")
pod.stop()

pod, port = start("--model", "m", "--failure-injection-rate", "100")
with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
    try:
        generate(ch, generate_request("f", ids=[1, 2, 3]))
        c.check(False, "failure injection: the call fails")
    except grpc.RpcError as e:
        # The simulator's injected failures are HTTP errors (429, 401, 400, 503, 404), mapped to
        # gRPC's codes as it maps them.
        codes = {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAUTHENTICATED,
                 grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAVAILABLE,
                 grpc.StatusCode.NOT_FOUND}
        c.check(e.code() in codes and e.details(),
                "failure injection: the call fails with the pod's error", f"{e.code()} {e.details()}")
pod.stop()

c.finish()
