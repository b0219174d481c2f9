#!/usr/bin/env python3
"""The status listener through the real binary: /metrics parsed with the Prometheus client's
own text parser (Debian's python3-prometheus-client) before and after a scripted scenario,
each counter checked to have moved by exactly what the scenario did; /health 503 while a
worker is stopped with SIGSTOP and 200 again after SIGCONT.

Usage: metrics_test.py BUILD/sigverd
"""
import asyncio
import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
import python_websockets_test as interop  # noqa: E402  (its codec, Server and websockets)

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("FAIL import prometheus_client: install Debian's python3-prometheus-client")
    sys.exit(1)

websockets = interop.websockets
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


class StatusServer(interop.Server):
    """The interop test's server, with a status listener."""

    def __init__(self, binary):
        self.status_port = interop.free_port()
        super().__init__(binary, "status_listen = 127.0.0.1:%d\n" % self.status_port)

    def get(self, path):
        url = "http://127.0.0.1:%d%s" % (self.status_port, path)
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


def scrape(server):
    """{(name, frozenset(labels without worker)): value summed over workers}."""
    status, text = server.get("/metrics")
    assert status == 200, status
    totals = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = frozenset((k, v) for k, v in sample.labels.items() if k != "worker")
            key = (sample.name, labels)
            totals[key] = totals.get(key, 0) + sample.value
    return totals


def value(totals, name, **labels):
    return totals.get((name, frozenset(labels.items())), 0)


async def scenario(port, pairs, rounds):
    """`pairs` member/joiner pairs on their own keys; each joiner sends `rounds` contents and
    each member answers each. Returns the encoded sizes of every content relayed."""
    relayed = []
    peers = []
    for p in range(pairs):
        key = "metrics-%d-%d" % (os.getpid(), p)
        member = await websockets.connect("ws://127.0.0.1:%d/%s" % (port, key))
        assert interop.decode_message(await member.recv())[0] == "isFirst"
        joiner = await websockets.connect("ws://127.0.0.1:%d/%s" % (port, key))
        assert interop.decode_message(await joiner.recv())[0] == "isFirst"
        peers += [member, joiner]
        for r in range(rounds):
            await joiner.send(interop.content(data=b"up %d" % r))
            while True:
                raw = await member.recv()
                kind, body = interop.decode_message(raw)
                if kind == "content":
                    break
            relayed.append(len(raw))
            await member.send(interop.content(id=body["id"], data=b"down %d" % r))
            while True:
                raw = await joiner.recv()
                if interop.decode_message(raw)[0] == "content":
                    break
            relayed.append(len(raw))
    return peers, relayed


def wait_for(predicate, bound=10.0):
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def worker_pids(master):
    with open("/proc/%d/task/%d/children" % (master, master)) as f:
        return [int(p) for p in f.read().split()]


def main():
    server = StatusServer(sys.argv[1])
    try:
        problem = server.wait_ready()
        if problem:
            print("FAIL server start: " + problem)
            return 1
        wait_for(lambda: server.get("/health")[0] == 200)
        before = scrape(server)

        pairs, rounds = 3, 4
        loop = asyncio.new_event_loop()
        peers, relayed = loop.run_until_complete(scenario(server.port, pairs, rounds))
        during = scrape(server)
        check(value(during, "sigverd_groups") - value(before, "sigverd_groups") == pairs,
              "sigverd_groups counts the %d groups" % pairs)
        check(value(during, "sigverd_peers") - value(before, "sigverd_peers") == 2 * pairs,
              "sigverd_peers counts the %d peers" % (2 * pairs))
        for peer in peers:
            loop.run_until_complete(peer.close(code=1000))
        # A request that is not an upgrade: one 426, one bad request.
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(1000)
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            s.recv(1000)
        wait_for(lambda: value(scrape(server), "sigverd_peers") == value(before, "sigverd_peers"))
        after = scrape(server)

        def moved(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        check(moved("sigverd_messages_relayed_total") == len(relayed),
              "sigverd_messages_relayed_total moved by %d" % len(relayed))
        check(moved("sigverd_bytes_relayed_total") == sum(relayed),
              "sigverd_bytes_relayed_total moved by %d" % sum(relayed))
        check(moved("sigverd_connections_accepted_total") == 2 * pairs + 2,
              "sigverd_connections_accepted_total moved by %d" % (2 * pairs + 2))
        check(moved("sigverd_closes_total", code="1000") == 2 * pairs,
              "sigverd_closes_total{code=1000} moved by %d" % (2 * pairs))
        check(moved("sigverd_upgrades_failed_total", reason="upgrade_required") == 1,
              "sigverd_upgrades_failed_total{reason=upgrade_required} moved by 1")
        check(moved("sigverd_upgrades_failed_total", reason="bad_request") == 1,
              "sigverd_upgrades_failed_total{reason=bad_request} moved by 1")
        check(moved("sigverd_heartbeat_timeouts_total") == 0, "no heartbeat timeout")
        check(value(after, "sigverd_groups") == value(before, "sigverd_groups"),
              "sigverd_groups back to where it was")
        check(any(k[0] == "sigverd_build_info" for k in after), "sigverd_build_info present")
        check(value(after, "process_open_fds") > 0, "process_open_fds per worker")
        check(value(after, "process_resident_memory_bytes") > 0, "process_resident_memory_bytes")

        status, body = server.get("/health")
        check(status == 200 and json.loads(body)["status"] == "ok", "/health 200 when all run")
        pid = worker_pids(server.process.pid)[0]
        os.kill(pid, signal.SIGSTOP)
        try:
            late = wait_for(lambda: server.get("/health")[0] == 503, bound=10)
            status, body = server.get("/health")
            check(late and str(pid) in body, "/health 503 naming the stopped worker: " + body.strip())
        finally:
            os.kill(pid, signal.SIGCONT)
        check(wait_for(lambda: server.get("/health")[0] == 200), "/health 200 after SIGCONT")
        check(server.get("/nothing")[0] == 404, "other paths: 404")
    finally:
        server.stop()
        server.cleanup()
    print("metrics: %d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
