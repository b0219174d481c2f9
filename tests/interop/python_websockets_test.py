#!/usr/bin/env python3
"""Interoperability check: an independent WebSocket client (Debian's python3-websockets,
asyncio API) talks the Sigver protocol to a real sigverd.

Usage: python_websockets_test.py PATH_TO_SIGVERD

Starts the server on a free 127.0.0.1 port with a temporary config, forms a group of two
peers, relays both ways, checks ping/pong, heartbeats, a 4001 close and clean closes.
Prints one line per check and finally `interop: N passed, M failed`; exits 0 only when
nothing failed. The server it started is always stopped.

The protobuf messages are encoded by hand (only a few fields are needed), so no Python
protobuf package is required.
"""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

try:
    import websockets
except ImportError:
    # `python3` may be another interpreter (pyenv, venv) than Debian's, which has the package.
    if os.path.exists("/usr/bin/python3") and not os.environ.get("SIGVER_INTEROP_REEXEC"):
        os.environ["SIGVER_INTEROP_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("FAIL import websockets: install Debian's python3-websockets")
    print("interop: 0 passed, 1 failed")
    sys.exit(1)

TIMEOUT = 3.0  # seconds for any single expected event

# ---- a tiny protobuf codec for sigver.proto ------------------------------------------------

# Message fields
CONTENT, IS_FIRST, STABLE, HEARTBEAT, TRY_ANOTHER = 1, 2, 3, 4, 5
# Content fields
C_ID, C_DATA, C_IS_ERROR, C_IS_END = 1, 2, 3, 4


def encode_varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_fields(fields):
    """fields: list of (number, int | bool | bytes). ints are varints, bytes length-delimited."""
    out = bytearray()
    for number, value in fields:
        if isinstance(value, (bytes, bytearray)):
            out += encode_varint(number << 3 | 2) + encode_varint(len(value)) + value
        else:
            out += encode_varint(number << 3 | 0) + encode_varint(int(value))
    return bytes(out)


def decode_fields(data):
    """Returns a list of (number, value); raises ValueError on malformed input."""
    fields, pos = [], 0

    def varint():
        nonlocal pos
        value, shift = 0, 0
        while True:
            if pos >= len(data):
                raise ValueError("truncated varint")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7

    while pos < len(data):
        key = varint()
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            fields.append((number, varint()))
        elif wire_type == 2:
            size = varint()
            if pos + size > len(data):
                raise ValueError("truncated bytes")
            fields.append((number, bytes(data[pos:pos + size])))
            pos += size
        else:
            raise ValueError("unexpected wire type %d" % wire_type)
    return fields


def content(id=0, data=None, is_end=False, is_error=False):
    fields = []
    if id:
        fields.append((C_ID, id))
    if data is not None:
        fields.append((C_DATA, data))
    if is_error:
        fields.append((C_IS_ERROR, 1))
    if is_end:
        fields.append((C_IS_END, 1))
    return encode_fields([(CONTENT, encode_fields(fields))])


def flag(number):
    return encode_fields([(number, 1)])


def decode_message(raw):
    """Returns (type_name, value); value is a dict for content, a bool otherwise."""
    fields = decode_fields(raw)
    if not fields:
        return ("none", None)
    number, value = fields[-1]  # a oneof: the last one wins
    names = {IS_FIRST: "isFirst", STABLE: "stable", HEARTBEAT: "heartbeat",
             TRY_ANOTHER: "tryAnother"}
    if number == CONTENT:
        inner = {"fields": []}
        for inner_number, inner_value in decode_fields(value):
            inner["fields"].append(inner_number)
            key = {C_ID: "id", C_DATA: "data", C_IS_ERROR: "isError", C_IS_END: "isEnd"}.get(
                inner_number)
            if key:
                inner[key] = inner_value
        return ("content", inner)
    return (names.get(number, "unknown%d" % number), bool(value))


# ---- the server --------------------------------------------------------------------------

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, binary, extra_server_settings=""):
        self.dir = tempfile.mkdtemp(prefix="sigver-interop-")
        self.port = free_port()
        self.log = os.path.join(self.dir, "error.log")
        config = os.path.join(self.dir, "sigverd.conf")
        with open(config, "w") as out:
            out.write("[server]\nlisten = 127.0.0.1:%d\nworker_processes = 2\n" % self.port +
                      extra_server_settings + "\n"
                      "[protocol]\nheartbeat_interval = 0.5\nheartbeat_misses = 3\n"
                      "max_key_length = 64\n\n"
                      "[log]\nlog_level = debug\nerror_log = %s\n" % self.log)
        self.output = open(os.path.join(self.dir, "output.txt"), "wb")
        self.process = subprocess.Popen([binary, "-c", config], stdin=subprocess.DEVNULL,
                                        stdout=self.output, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def wait_ready(self, bound=10.0):
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return "exited with code %s" % self.process.returncode
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return None
            except OSError:
                time.sleep(0.05)
        return "not accepting connections after %.0f s" % bound

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # its own session: it and its workers
                self.process.wait()
        self.output.close()

    def log_tail(self, size=3000):
        try:
            with open(self.log, "rb") as log:
                return log.read()[-size:].decode("utf-8", "replace")
        except OSError:
            return ""

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- checks ------------------------------------------------------------------------------

class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("PASS %s" % name)
        else:
            self.failed += 1
            print("FAIL %s%s" % (name, ": " + detail if detail else ""))
        sys.stdout.flush()
        return ok


class Peer:
    """A websockets connection whose reader task answers server heartbeats at once (as
    netflux does) and queues every other message for the checks."""

    def __init__(self, ws):
        self.ws = ws
        self.heartbeats = 0
        self.queue = asyncio.Queue()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        try:
            async for raw in self.ws:
                if not isinstance(raw, bytes):
                    await self.queue.put(("text", raw))
                    continue
                kind, value = decode_message(raw)
                if kind == "heartbeat":
                    self.heartbeats += 1
                    await self.ws.send(flag(HEARTBEAT))
                    continue
                await self.queue.put((kind, value))
        except websockets.exceptions.ConnectionClosed:
            pass
        await self.queue.put(("closed", self.ws.close_code))

    async def next(self):
        return await asyncio.wait_for(self.queue.get(), TIMEOUT)

    async def close(self, code=1000):
        await self.ws.close(code=code, reason="bye")
        await asyncio.wait_for(self.reader, TIMEOUT)
        return self.ws.close_code


async def connect(port, key):
    return await asyncio.wait_for(
        websockets.connect("ws://127.0.0.1:%d/%s" % (port, key), open_timeout=TIMEOUT),
        TIMEOUT)


async def scenario(port, report):
    key = "interop-%d" % os.getpid()
    member = Peer(await connect(port, key))
    report.check("first peer connects (101 accepted by websockets)", True)
    got = await member.next()
    report.check("first peer gets isFirst=true", got == ("isFirst", True), repr(got))

    joiner = Peer(await connect(port, key))
    got = await joiner.next()
    report.check("second peer gets isFirst=false", got == ("isFirst", False), repr(got))

    await joiner.ws.send(content(data=b"offer \x00\xff"))
    kind, value = await member.next()
    routing_id = value.get("id", 0) if kind == "content" else 0
    report.check("joiner -> member: content with non-zero id and the same bytes",
                 kind == "content" and routing_id != 0 and value.get("data") == b"offer \x00\xff",
                 repr((kind, value)))

    await member.ws.send(content(id=routing_id, data=b"answer"))
    kind, value = await joiner.next()
    report.check("member -> joiner: content with the bytes and no id",
                 kind == "content" and value.get("data") == b"answer" and C_ID not in value["fields"],
                 repr((kind, value)))

    await joiner.ws.send(content(is_end=True))
    kind, value = await member.next()
    report.check("isEnd is forwarded as a flag with the joiner's id",
                 kind == "content" and value.get("id") == routing_id and value.get("isEnd") == 1
                 and "data" not in value, repr((kind, value)))

    waiter = await member.ws.ping(b"interop-ping")
    try:
        await asyncio.wait_for(waiter, TIMEOUT)
        report.check("ping is answered with a matching pong", True)
    except asyncio.TimeoutError:
        report.check("ping is answered with a matching pong", False, "no pong")

    # Stay around for a few heartbeat intervals, answering them (Peer.next does).
    await member.ws.send(content(id=routing_id, data=b"after-heartbeats"))
    await asyncio.sleep(1.6)
    kind, value = await joiner.next()
    report.check("relay still works after heartbeat intervals",
                 kind == "content" and value.get("data") == b"after-heartbeats",
                 repr((kind, value)))
    report.check("server sends heartbeats at the configured interval",
                 member.heartbeats + joiner.heartbeats >= 2,
                 "member saw %d, joiner saw %d" % (member.heartbeats, joiner.heartbeats))

    code = await joiner.close()
    report.check("joiner's close 1000 is echoed by the server", code == 1000,
                 "close code %r" % code)
    code = await member.close()
    report.check("member's close 1000 is echoed by the server", code == 1000,
                 "close code %r" % code)

    too_long = Peer(await connect(port, "k" * 65))
    got = await too_long.next()
    report.check("key over max_key_length is closed with 4001", got == ("closed", 4001),
                 repr(got))

    healthy = Peer(await connect(port, key + "-again"))
    got = await healthy.next()
    report.check("server still accepts new groups", got == ("isFirst", True), repr(got))
    await healthy.close()


def main():
    if len(sys.argv) != 2:
        print("usage: %s PATH_TO_SIGVERD" % sys.argv[0])
        print("interop: 0 passed, 1 failed")
        return 2
    report = Report()
    server = Server(sys.argv[1])
    try:
        problem = server.wait_ready()
        if report.check("sigverd starts and accepts TCP connections", problem is None, problem):
            try:
                asyncio.run(asyncio.wait_for(scenario(server.port, report), 60))
            except Exception as error:  # any exception is a failed check, with its reason
                report.check("scenario ran to the end", False, "%s: %s" % (type(error).__name__, error))
            crashes = [line for line in server.log_tail(1 << 20).splitlines()
                       if "killed by" in line or "SIGSEGV" in line]
            report.check("no server process crashed during the run", not crashes,
                         "; ".join(crashes[:3]))
    finally:
        server.stop()
        if report.failed:
            print("--- sigverd error log (tail) ---")
            print(server.log_tail())
        server.cleanup()
    print("interop: %d passed, %d failed" % (report.passed, report.failed))
    return 0 if report.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
