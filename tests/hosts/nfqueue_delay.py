"""A stand-in for `tc netem delay D loss P` where the kernel has no sch_netem (this machine's
has none, and no modules to load): run inside one host's network namespace, it takes the
packets an iptables NFQUEUE rule hands it (the harness queues every packet arriving on the
host's link), holds each one D ms, then lets it through -- or drops it, with probability P, the
moment it arrives. Packets keep their order (one FIFO, released in batches by id).

It speaks nfnetlink_queue directly over a netlink socket (no python3-netfilterqueue in Debian),
copying only packet metadata, never payloads.

Usage: nfqueue_delay.py --queue N --delay-ms D [--loss P]   (P a fraction, 0.01 = 1 %)
Prints "nfqueue: bound" once packets flow through it; counts on SIGTERM."""

import argparse
import collections
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
SOL_NETLINK, NETLINK_NO_ENOBUFS = 270, 5
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG, NFQNL_MSG_VERDICT_BATCH = 0, 1, 2, 3
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQNL_CFG_CMD_BIND, NFQNL_COPY_META = 1, 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
NF_DROP, NF_ACCEPT = 0, 1


def attr(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def message(kind, queue, attrs, flags=NLM_F_REQUEST):
    body = struct.pack("=BB", socket.AF_UNSPEC, 0) + struct.pack("!H", queue) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, flags, 0, 0) + body


def packet_ids(data):
    """The packet ids of the NFQNL_MSG_PACKET messages in one netlink read."""
    ids, off = [], 0
    while off + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, off)
        if length < 16:
            break
        if kind == NLMSG_ERROR:
            code, = struct.unpack_from("=i", data, off + 16)
            if code != 0:
                raise OSError(-code, "nfnetlink_queue refused the configuration")
        elif kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            a = off + 20  # past nlmsghdr and nfgenmsg
            while a + 4 <= off + length:
                alen, akind = struct.unpack_from("=HH", data, a)
                if alen < 4:
                    break
                if (akind & 0x7FFF) == NFQA_PACKET_HDR:
                    ids.append(struct.unpack_from("!I", data, a + 4)[0])
                a += (alen + 3) & ~3
        off += (length + 3) & ~3
    return ids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--queue", type=int, default=0)
    ap.add_argument("--delay-ms", type=float, required=True)
    ap.add_argument("--loss", type=float, default=0.0)
    args = ap.parse_args()
    delay = args.delay_ms / 1000.0

    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
    s.bind((0, 0))
    s.send(message(NFQNL_MSG_CONFIG, args.queue, [attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND,
                                                                                     socket.AF_INET))],
                   NLM_F_REQUEST | NLM_F_ACK))
    s.send(message(NFQNL_MSG_CONFIG, args.queue, [attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META)),
                                                  attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", 65536))],
                   NLM_F_REQUEST | NLM_F_ACK))
    for _ in range(2):  # the two acks: an error here means the kernel has no nfnetlink_queue
        packet_ids(s.recv(65536))
    print("nfqueue: bound", flush=True)

    counts = {"passed": 0, "dropped": 0}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    held = collections.deque()  # (release time, packet id), in arrival order
    rng = random.Random()
    while not stop:
        timeout = max(0.0, held[0][0] - time.monotonic()) if held else 0.5
        try:
            readable, _, _ = select.select([s], [], [], timeout)
        except InterruptedError:
            continue
        if readable:
            while True:
                try:
                    data = s.recv(1 << 20, socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    break
                now = time.monotonic()
                for pid in packet_ids(data):
                    if rng.random() < args.loss:
                        s.send(message(NFQNL_MSG_VERDICT, args.queue,
                                       [attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_DROP, pid))]))
                        counts["dropped"] += 1
                    else:
                        held.append((now + delay, pid))
        now = time.monotonic()
        last = None
        while held and held[0][0] <= now:
            last = held.popleft()[1]
            counts["passed"] += 1
        if last is not None:  # accepts every held id up to `last` at once
            s.send(message(NFQNL_MSG_VERDICT_BATCH, args.queue,
                           [attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, last))]))
    if held:
        s.send(message(NFQNL_MSG_VERDICT_BATCH, args.queue,
                       [attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, held[-1][1]))]))
    print(f"nfqueue: {counts['passed']} passed, {counts['dropped']} dropped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
