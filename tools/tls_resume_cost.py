#!/usr/bin/env python3
"""What a resumed TLS handshake (session ticket) costs the server against a full one.

Usage: tools/tls_resume_cost.py PATH_TO_SIGVERD [--workers N] [--connections N] [--repeat N]

Starts sigverd on 127.0.0.1 with a TLS listener (throwaway ECDSA P-256 certificates, made as
tools/tls_relay_cost.py does) and session_tickets = on, then opens connections one at a time:
TLS handshake, a plain GET that the server refuses with a 4xx (so each connection does the
same work after its handshake, and TLS 1.3 tickets arrive), close_notify. "full" connections
offer no session; "resumed" ones offer the ticket of one earlier full handshake, and land on
whichever worker the kernel picks. Batches of each alternate, for TLS 1.3 and TLS 1.2.

Reported: server CPU per connection (on-CPU time of the master and every worker from
/proc/PID/task/*/schedstat, microseconds), medians over the repetitions, and resumed/full.
A resumed connection that did not resume is counted and reported. Nothing is asserted.
"""

import argparse
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tls_relay_cost import free_port, make_certificates, server_cpu_ns  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


def visit(port, ctx, session=None):
    """One connection; returns (its session, whether it resumed)."""
    raw = socket.create_connection(("127.0.0.1", port))
    s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
    try:
        s.sendall(REQUEST)
        while s.recv(4096):
            pass
        kept, reused = s.session, s.session_reused
        try:
            s.unwrap()  # close_notify: OpenSSL keeps a session resumable only after one
        except (ssl.SSLError, OSError):
            pass
        return kept, reused
    finally:
        s.close()


def batch(master_pid, port, ctx, count, session):
    """Server CPU microseconds per connection over `count` connections, and misses."""
    misses = 0
    before = server_cpu_ns(master_pid)
    for _ in range(count):
        _, reused = visit(port, ctx, session)
        if session is not None and not reused:
            misses += 1
    return (server_cpu_ns(master_pid) - before) / 1000.0 / count, misses


def start_sigverd(sigverd, work, workers):
    """sigverd with a TLS listener and tickets on; returns it and its TLS port once a TLS
    handshake succeeds there."""
    make_certificates(work)
    settings = {
        "server": [f"listen = 127.0.0.1:{free_port()}", f"listen_tls = 127.0.0.1:{free_port()}",
                   f"worker_processes = {workers}"],
        "limits": ["max_connections_per_ip = 0", "max_messages_per_second = 0"],
        "tls": [f"certificate = {work}/server.crt", f"certificate_key = {work}/server.key",
                f"ca = {work}/int.crt", "session_tickets = on"],
        "log": ["log_level = warn", f"error_log = {work}/error.log"],
    }
    conf = os.path.join(work, "sigverd.conf")
    with open(conf, "w") as f:
        for section, lines in settings.items():
            f.write(f"[{section}]\n" + "".join(line + "\n" for line in lines))
    tls_port = int(settings["server"][1].rsplit(":", 1)[1])
    server = subprocess.Popen([sigverd, "-c", conf])
    probe = ssl.create_default_context(cafile=os.path.join(work, "ca.crt"))
    for _ in range(200):
        try:
            visit(tls_port, probe)
            return server, tls_port
        except OSError:
            time.sleep(0.05)
    server.terminate()
    raise SystemExit(f"sigverd did not answer on its TLS port; see {work}/error.log")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sigverd")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=300, help="per batch")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="sigver-resume-cost-")
    server = None
    try:
        server, tls_port = start_sigverd(args.sigverd, work, args.workers)
        print(f"sigverd, {args.workers} worker(s), {args.connections} connections per batch, "
              f"median of {args.repeat} batches; server CPU per connection")
        print(f"{'version':<8} {'full µs':>9} {'resumed µs':>11} {'resumed/full':>13} "
              f"{'not resumed':>12}")
        for name, version in (("TLSv1.3", ssl.TLSVersion.TLSv1_3),
                              ("TLSv1.2", ssl.TLSVersion.TLSv1_2)):
            ctx = ssl.create_default_context(cafile=os.path.join(work, "ca.crt"))
            ctx.minimum_version = ctx.maximum_version = version
            ticket, _ = visit(tls_port, ctx)
            full, resumed, misses = [], [], 0
            for _ in range(args.repeat):
                cost, _ = batch(server.pid, tls_port, ctx, args.connections, None)
                full.append(cost)
                cost, missed = batch(server.pid, tls_port, ctx, args.connections, ticket)
                resumed.append(cost)
                misses += missed
            f, r = statistics.median(full), statistics.median(resumed)
            print(f"{name:<8} {f:9.1f} {r:11.1f} {r / f:13.2f} {misses:12d}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
