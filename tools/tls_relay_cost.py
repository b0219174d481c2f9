#!/usr/bin/env python3
"""What wss:// costs the server compared with ws://, measured side by side in one run.

Usage: tools/tls_relay_cost.py PATH_TO_SIGVERD [--workers N] [--round-trips N] [--pairs N]
                               [--sizes 256,4096] [--repeat N]

Starts sigverd on 127.0.0.1 with a plain and a TLS listener (a throwaway root CA ->
intermediate -> server certificate made with the openssl command), forms groups of two
peers over each, and times round trips: the joiner sends a Content, the member receives it
and answers, the joiner receives the answer (two relays through the server). Round trips
run one at a time, so the server never batches: this is the per-message cost.

Reported per mode and message size: server CPU per round trip (on-CPU time of the master
and every worker, from /proc/PID/task/*/schedstat, in microseconds) and the median wall
time of a round trip as the client saw it. Modes alternate within each repetition, so both
see the same machine load; the medians over repetitions are printed. Nothing is asserted:
this is a measuring tool, not a test.
"""

import argparse
import base64
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

# ---- certificates -----------------------------------------------------------------------


def make_certificates(directory):
    ext = os.path.join(directory, "ext.cnf")
    with open(ext, "w") as f:
        f.write("[int]\nbasicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign\n"
                "[srv]\nbasicConstraints=critical,CA:false\nextendedKeyUsage=serverAuth\n"
                "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    steps = [
        ["req", "-x509", "-new", *ec, "-days", "2", "-keyout", "ca.key", "-out", "ca.crt",
         "-subj", "/CN=cost root"],
        ["req", "-new", *ec, "-keyout", "int.key", "-out", "int.csr", "-subj", "/CN=cost int"],
        ["x509", "-req", "-in", "int.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", "2",
         "-days", "2", "-extfile", "ext.cnf", "-extensions", "int", "-out", "int.crt"],
        ["req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", "server.csr", "-CA", "int.crt", "-CAkey", "int.key", "-set_serial",
         "3", "-days", "2", "-extfile", "ext.cnf", "-extensions", "srv", "-out", "server.crt"],
    ]
    for step in steps:
        subprocess.run(["openssl", *step], cwd=directory, check=True, capture_output=True)


# ---- a minimal Sigver peer ----------------------------------------------------------------


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def content_message(routing_id, data):
    content = (varint(1 << 3) + varint(routing_id) if routing_id else b"") + \
        varint(2 << 3 | 2) + varint(len(data)) + data
    return varint(1 << 3 | 2) + varint(len(content)) + content


def read_varint(b, i):
    shift = value = 0
    while True:
        byte = b[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def content_id(message):
    """Routing id of a Message{content}, or None for other messages."""
    tag, i = read_varint(message, 0)
    if tag != (1 << 3 | 2):
        return None
    _, i = read_varint(message, i)
    routing_id = 0
    if i < len(message) and message[i] == 0x08:
        routing_id, _ = read_varint(message, i + 1)
    return routing_id


class Peer:
    MASK = b"\x12\x34\x56\x78"

    def __init__(self, port, key, tls_context=None):
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = tls_context.wrap_socket(raw, server_hostname="localhost") if tls_context else raw
        self.buf = b""
        nonce = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{key} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(head.decode(errors="replace"))
        self.receive()  # isFirst

    def fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise RuntimeError("connection closed")
        self.buf += chunk

    def send(self, payload):
        n = len(payload)
        if n < 126:
            head = bytes([0x82, 0x80 | n])
        elif n < 65536:
            head = bytes([0x82, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([0x82, 0x80 | 127]) + n.to_bytes(8, "big")
        masked = bytes(b ^ self.MASK[i & 3] for i, b in enumerate(payload))
        self.sock.sendall(head + self.MASK + masked)

    def receive(self):
        while True:
            while len(self.buf) < 2:
                self.fill()
            n = self.buf[1] & 0x7F
            start = 2
            if n == 126:
                start = 4
            elif n == 127:
                start = 10
            while len(self.buf) < start:
                self.fill()
            if start > 2:
                n = int.from_bytes(self.buf[2:start], "big")
            while len(self.buf) < start + n:
                self.fill()
            opcode = self.buf[0] & 0x0F
            payload, self.buf = self.buf[start:start + n], self.buf[start + n:]
            if opcode == 0x2:
                return payload

    def close(self):
        self.sock.close()


# ---- measuring --------------------------------------------------------------------------


def server_cpu_ns(master_pid):
    """On-CPU nanoseconds of the master and its children (the workers), all threads."""
    total = 0
    for pid in server_pids(master_pid):
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def server_pids(master_pid):
    pids = [master_pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == master_pid:
                        pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return pids


def count_syscalls(master_pid, pairs, round_trips, size):
    """System calls the server makes per round trip, counted by strace (slow but exact)."""
    command = ["strace", "-c", "-q"]
    for pid in server_pids(master_pid):
        command += ["-p", str(pid)]
    tracer = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # attached
    measure(master_pid, pairs, round_trips, size)
    time.sleep(0.2)
    tracer.send_signal(signal.SIGINT)
    report = tracer.communicate(timeout=30)[1]
    for line in report.splitlines():
        if line.rstrip().endswith("total"):
            return int(line.split()[3]) / (max(1, round_trips // len(pairs)) * len(pairs))
    return float("nan")


def measure(master_pid, pairs, round_trips, size):
    data = os.urandom(size)
    per_pair = max(1, round_trips // len(pairs))
    # Learn each joiner's routing id at its member (warming up on the way).
    ids = []
    for member, joiner in pairs:
        joiner.send(content_message(0, data))
        ids.append(content_id(member.receive()))

    walls = []
    cpu_before = server_cpu_ns(master_pid)
    for _ in range(per_pair):
        for (member, joiner), rid in zip(pairs, ids):
            t0 = time.perf_counter()
            joiner.send(content_message(0, data))
            member.receive()
            member.send(content_message(rid, data))
            joiner.receive()
            walls.append(time.perf_counter() - t0)
    cpu = server_cpu_ns(master_pid) - cpu_before
    count = per_pair * len(pairs)
    return cpu / count / 1000.0, statistics.median(walls) * 1e6


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sigverd")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--round-trips", type=int, default=4000)
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--sizes", default="256,4096")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--count-syscalls", action="store_true",
                        help="also count the server's system calls per round trip (strace)")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="sigver-tls-cost-")
    server = None
    try:
        make_certificates(work)
        port, tls_port = free_port(), free_port()
        conf = os.path.join(work, "sigverd.conf")
        with open(conf, "w") as f:
            f.write(f"[server]\nlisten = 127.0.0.1:{port}\nlisten_tls = 127.0.0.1:{tls_port}\n"
                    f"worker_processes = {args.workers}\n"
                    "[protocol]\nheartbeat_interval = 3600\n"
                    "[limits]\nmax_connections_per_ip = 0\nmax_messages_per_second = 0\n"
                    f"[tls]\ncertificate = {work}/server.crt\ncertificate_key = {work}/server.key\n"
                    f"ca = {work}/int.crt\n[log]\nlog_level = warn\nerror_log = {work}/error.log\n")
        server = subprocess.Popen([args.sigverd, "-c", conf])
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", tls_port)).close()
                break
            except OSError:
                time.sleep(0.05)
        tls = ssl.create_default_context(cafile=os.path.join(work, "ca.crt"))

        modes = {"ws": (port, None), "wss": (tls_port, tls)}
        groups = {}
        for mode, (p, ctx) in modes.items():
            groups[mode] = []
            for i in range(args.pairs):
                key = f"cost-{mode}-{i}-{os.urandom(4).hex()}"
                member = Peer(p, key, ctx)
                groups[mode].append((member, Peer(p, key, ctx)))

        sizes = [int(s) for s in args.sizes.split(",")]
        results = {(m, s): [] for m in modes for s in sizes}
        for _ in range(args.repeat):
            for size in sizes:
                for mode in modes:
                    results[(mode, size)].append(
                        measure(server.pid, groups[mode], args.round_trips, size))

        print(f"sigverd, {args.workers} worker(s), {args.pairs} groups of 2 per mode, "
              f"{args.round_trips} round trips per sample, median of {args.repeat} samples")
        print(f"{'mode':<5} {'bytes':>6} {'server CPU/round trip':>22} {'wall/round trip':>16}")
        for size in sizes:
            for mode in modes:
                cpu = statistics.median(r[0] for r in results[(mode, size)])
                wall = statistics.median(r[1] for r in results[(mode, size)])
                line = f"{mode:<5} {size:>6} {cpu:>19.1f} us {wall:>13.1f} us"
                if args.count_syscalls:
                    calls = count_syscalls(server.pid, groups[mode], args.round_trips, size)
                    line += f"   {calls:.1f} syscalls"
                print(line)
        for pairs in groups.values():
            for member, joiner in pairs:
                member.close()
                joiner.close()
        return 0
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
