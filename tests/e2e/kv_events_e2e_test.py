"""A pod's KV events read the way vLLM's consumers read them (Debian's python3-zmq and
python3-msgpack): a SUB socket, 3 frames [topic, 8-byte big-endian seq, msgpack EventBatch],
events as positional arrays; then the replay ROUTER asked for old batches."""

import struct
import time

import msgpack
import zmq

from harness import BINARY, Checks, Process, curl, free_port

c = Checks("kv events e2e")
ctx = zmq.Context()

# llm-d's central mode: the consumer binds, the pod (like llm-d-inference-sim) connects.
sub_port, replay_port, http_port = free_port(), free_port(), free_port()
sub = ctx.socket(zmq.SUB)
sub.bind(f"tcp://127.0.0.1:{sub_port}")
sub.setsockopt(zmq.SUBSCRIBE, b"kv@")

pod = Process([BINARY, "run", "pod", "--listen-address", "127.0.0.1", "--port", str(http_port),
               "--model", "kv-model", "--block-size", "16", "--kv-cache-size", "16",
               "--enable-kvcache", "--zmq-endpoint", f"tcp://127.0.0.1:{sub_port}",
               "--kv-events-replay-endpoint", f"tcp://127.0.0.1:{replay_port}",
               "--event-batch-size", "1", "--log-level", "warn"], ready="serving")
url = f"http://127.0.0.1:{http_port}"

# PUB/SUB joins take a moment: send requests until the first event arrives.
shared = " ".join(f"shared{i}" for i in range(64))  # 64 tokens: 4 full blocks
messages = []
deadline = time.time() + 10
poller = zmq.Poller()
poller.register(sub, zmq.POLLIN)
while not messages and time.time() < deadline:
    curl(url + "/v1/completions", {"model": "kv-model", "prompt": shared + " warm", "max_tokens": 1})
    if poller.poll(200):
        messages.append(sub.recv_multipart())

# Now a prompt with the shared prefix plus more, then many distinct prompts to force evictions.
curl(url + "/v1/completions", {"model": "kv-model", "prompt": shared + " " + " ".join(f"tail{i}" for i in range(32)),
                               "max_tokens": 1})
for n in range(12):
    curl(url + "/v1/completions", {"model": "kv-model",
                                   "prompt": " ".join(f"p{n}x{i}" for i in range(48)), "max_tokens": 1})
end = time.time() + 3
while time.time() < end:
    if poller.poll(200):
        messages.append(sub.recv_multipart())

c.check(len(messages) >= 3, "events arrive", str(len(messages)))
stored, removed = set(), 0
seqs = []
first_stored = None
for frames in messages:
    c.check(len(frames) == 3, "3 frames per message", str(len(frames)))
    topic, seq_bytes, payload = frames
    c.check(topic == f"kv@127.0.0.1:{http_port}@kv-model".encode(), "topic kv@<address>@<model>", topic)
    c.check(len(seq_bytes) == 8, "seq is 8 bytes")
    seqs.append(struct.unpack(">Q", seq_bytes)[0])
    batch = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    c.check(isinstance(batch, list) and len(batch) == 3, "EventBatch [ts, events, dp_rank]", repr(batch)[:200])
    ts, events, rank = batch
    c.check(isinstance(ts, float) and ts > 1.6e9, "ts is wall-clock seconds", repr(ts))
    c.check(rank == 0, "dp rank 0")
    for ev in events:
        c.check(isinstance(ev, list), "events are positional arrays (vLLM's array layout)")
        tag = ev[0]
        if tag == "BlockStored":
            c.check(len(ev) == 9, "BlockStored has 9 slots", repr(ev)[:200])
            hashes, parent, tokens, block_size, lora_id, medium, lora_name, _ = ev[1:]
            c.check(block_size == 16 and medium == "GPU", "block size and medium")
            c.check(len(tokens) == 16 * len(hashes), "tokens of every stored block")
            c.check(all(isinstance(t, int) for t in tokens), "token ids are integers")
        elif tag == "BlockRemoved":
            c.check(len(ev) == 3 and ev[2] == "GPU", "BlockRemoved [tag, hashes, medium]")
        else:
            c.check(tag == "AllBlocksCleared", "known event tag", tag)
c.check(seqs == list(range(seqs[0], seqs[0] + len(seqs))), "gap-free sequence", str(seqs[:20]))
# the shared prefix: the second prompt's BlockStored names the cached prefix as its parent
parents = [ev[2] for frames in messages
           for ev in msgpack.unpackb(frames[2], raw=False)[1] if ev[0] == "BlockStored"]
c.check(any(p != 0 for p in parents), "parent_block_hash set on a shared prefix")

# -- replay: ask the ROUTER for everything from seq 1 ---------------------------------------------
# A DEALER with an empty delimiter frame, as vLLM's replay clients send it.
dealer = ctx.socket(zmq.DEALER)
dealer.setsockopt(zmq.RCVTIMEO, 5000)
dealer.connect(f"tcp://127.0.0.1:{replay_port}")
dealer.send_multipart([b"", struct.pack(">Q", 0)])
replayed = []
history = []
while True:
    try:
        frames = dealer.recv_multipart()
    except zmq.Again:
        c.check(False, "replay ends with the sentinel")
        break
    empty, topic, seq_bytes, payload = frames
    seq = struct.unpack(">Q", seq_bytes)[0]
    if seq == 0xFFFFFFFFFFFFFFFF:
        c.check(topic == b"" and payload == b"", "sentinel [\"\", 0xFF..FF, \"\"]")
        break
    replayed.append(seq)
    history.append(msgpack.unpackb(payload, raw=False))
last = max(seqs)
# Started as the simulator (no profile): numbered from 1, as llm-d-inference-sim (vLLM: from 0).
c.check(replayed == list(range(1, last + 1)), "replay resends every batch from seq 1 (the simulator's first)",
        f"{replayed[:5]}..{replayed[-5:] if replayed else []} vs last {last}")
# The whole history: every removal names a key stored before and not removed since.
for _, events, _ in history:
    for ev in events:
        if ev[0] == "BlockStored":
            for h in ev[1]:
                c.check(h not in stored, "a key is stored once at a time")
                stored.add(h)
        elif ev[0] == "BlockRemoved":
            for h in ev[1]:
                c.check(h in stored, "removed only after stored")
                stored.discard(h)
                removed += 1
c.check(removed > 0, "evictions reported as BlockRemoved")
# from the middle
dealer.send_multipart([b"", struct.pack(">Q", 3)])
partial = []
while True:
    frames = dealer.recv_multipart()
    seq = struct.unpack(">Q", frames[2])[0]
    if seq == 0xFFFFFFFFFFFFFFFF:
        break
    partial.append(seq)
c.check(partial == list(range(3, last + 1)), "replay from seq 3")
# beyond the end: only the sentinel
dealer.send_multipart([b"", struct.pack(">Q", last + 100)])
frames = dealer.recv_multipart()
c.check(struct.unpack(">Q", frames[2])[0] == 0xFFFFFFFFFFFFFFFF, "replay beyond the end: sentinel only")

pod.stop()
c.finish()
