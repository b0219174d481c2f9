#!/usr/bin/env python3
"""Three sigverd nodes behind a proxy configured from conf/haproxy.cfg (mode `haproxy`, the
default) or conf/nginx-sigverd.conf (mode `nginx`, clients over wss:// with a certificate
made for the run): 300 peers over 100 keys form correct groups, each key on exactly one node
(the nodes' /metrics, read with the Prometheus client's parser, add up to 100 groups and 300
peers); then one node is stopped with SIGTERM: the peers on the other two keep relaying and
are not closed, and the stopped node's clients reconnect (as netflux does) and form their
groups again on the two that are left.

Usage: haproxy_test.py BUILD/sigverd [haproxy|nginx]
Exit 0 pass, 1 fail, 77 skip (the proxy is not installed and cannot be installed).
Every process it starts gets its own temporary configuration and is stopped by its PID.
"""
import asyncio
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.join(HERE, "..", "..", "conf")
sys.path[:0] = [os.path.join(HERE, "..", "interop"), os.path.join(HERE, "..", "metrics")]
import python_websockets_test as interop  # noqa: E402  (codec, Peer, Report, websockets)
import metrics_test as metrics  # noqa: E402  (/metrics through the Prometheus client's parser)

websockets = interop.websockets
NODES, KEYS, PEERS_PER_KEY = 3, 100, 3
interop.TIMEOUT = 5.0  # seconds for any one expected message (Peer.next)
BOUND = 10.0  # seconds for anything else to happen: a start, a stop, counts to settle
TOTAL = 50.0  # seconds for the whole scenario
EXIT_SKIP = 77

used_ports = set()


def free_port():
    while True:
        port = interop.free_port()
        if port not in used_ports:
            used_ports.add(port)
            return port


def find_program(name, package):
    """The program's path; installs the Debian package if it is missing (None: impossible)."""
    def where():
        return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if where():
        return where()
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    command = prefix + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("%s not found: %s" % (name, " ".join(command)))
    for attempt in (command, prefix + ["apt-get", "update", "-qq"], command):
        try:
            subprocess.run(attempt, env=env, stdin=subprocess.DEVNULL, timeout=300, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            print("  %s" % error)
        if where():
            break
    if where() and os.path.isdir("/run/systemd/system"):  # the test starts its own
        subprocess.run(prefix + ["systemctl", "disable", "--now", package], timeout=60,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    return where()


class Process:
    """A program started by the test in its own session; stop() ends it (and, if it will not
    go, its process group, which only holds its own children) by its PID."""

    def __init__(self, name, argv, workdir, logs=()):
        self.name = name
        self.logs = list(logs)
        self.output_path = os.path.join(workdir, name + ".out")
        self.output = open(self.output_path, "wb")
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.output,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def running(self):
        return self.process.poll() is None

    def stop(self, sig=signal.SIGTERM):
        if self.running():
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=BOUND)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=BOUND)
        self.output.close()
        return self.process.returncode

    def tail(self, size=2000):
        text = ""
        for path in [self.output_path] + self.logs:
            try:
                with open(path, "rb") as f:
                    text += f.read()[-size:].decode("utf-8", "replace")
            except OSError:
                pass
        return text


class Node(Process):
    def __init__(self, binary, workdir, index):
        self.port, self.status_port = free_port(), free_port()
        name = "node%d" % (index + 1)
        config = os.path.join(workdir, name + ".conf")
        with open(config, "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:%d\nstatus_listen = 127.0.0.1:%d\n"
                    "worker_processes = 2\n\n"
                    "[protocol]\nheartbeat_interval = 2\nheartbeat_misses = 3\n\n"
                    "[limits]\nmax_connections_per_ip = 0\nmax_messages_per_second = 0\n\n"
                    "[log]\nlog_level = notice\n" % (self.port, self.status_port))
        super().__init__(name, [binary, "-c", config], workdir)

    get = metrics.StatusServer.get  # GET on the status listener: (status, body)

    def healthy(self):
        try:
            return self.get("/health")[0] == 200
        except OSError:
            return False

    def counts(self):
        """(groups, peers) summed over the node's workers, or None if it did not answer."""
        try:
            totals = metrics.scrape(self)
        except (OSError, AssertionError):
            return None
        return tuple(int(metrics.value(totals, name)) for name in ("sigverd_groups",
                                                                    "sigverd_peers"))


def replace_in_order(pattern, values, text, what):
    """Replaces the n-th match of `pattern` with values[n]; all must match, exactly."""
    found = len(re.findall(pattern, text, flags=re.M))
    if found != len(values):
        raise SystemExit("FAIL %s: expected %d %s, found %d" % (CONF, len(values), what, found))
    pieces = iter(values)
    return re.sub(pattern, lambda m: next(pieces)(m), text, flags=re.M)


class HAProxy(Process):
    """haproxy -db on conf/haproxy.cfg: its own global section (no chroot, user, daemon or
    syslog; an admin socket in the temporary directory), its bind and server addresses on
    loopback; defaults, timeouts, balancing and checks as shipped."""

    def __init__(self, program, workdir, nodes):
        self.port = free_port()
        self.admin = os.path.join(workdir, "haproxy.sock")
        with open(os.path.join(CONF, "haproxy.cfg")) as f:
            text = f.read()
        own_global = "global\n    maxconn 4000\n    stats socket %s mode 600 level admin\n\n" % (
            self.admin)
        text = re.sub(r"^global\n(?:[ \t].*\n|[ \t]*\n|#.*\n)*", own_global, text, flags=re.M)
        text = replace_in_order(r"^([ \t]+bind[ \t]+)\S+", [
            lambda m: m.group(1) + "127.0.0.1:%d" % self.port], text, "bind line")
        text = replace_in_order(
            r"^([ \t]+server[ \t]+\S+[ \t]+)\S+(.*[ \t]port[ \t]+)\d+", [
                (lambda m, n=n: m.group(1) + "127.0.0.1:%d" % n.port + m.group(2) +
                 str(n.status_port)) for n in nodes], text, "server lines with a check port")
        config = os.path.join(workdir, "haproxy.cfg")
        with open(config, "w") as f:
            f.write(text)
        self.url = "ws://127.0.0.1:%d/" % self.port
        self.ssl = None
        super().__init__("haproxy", [program, "-db", "-f", config], workdir)

    def server_states(self):
        """{server name: status} from the admin socket's `show stat` (CSV)."""
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(5)
                s.connect(self.admin)
                s.sendall(b"show stat\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
        except OSError:
            return {}
        lines = data.decode().splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        header = lines[0][2:].split(",")
        rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
        return {r["svname"]: r["status"] for r in rows
                if r.get("pxname") == "sigverd" and r["svname"] not in ("BACKEND", "FRONTEND")}

    def ready(self, nodes):
        states = self.server_states()
        return all(states.get(n.name, "").startswith("UP") for n in nodes)


class Nginx(Process):
    """nginx -p DIR -c DIR/nginx.conf in the foreground, as the current user, whose http block
    includes conf/nginx-sigverd.conf with loopback addresses and a self-signed certificate."""

    def __init__(self, program, workdir, nodes):
        self.port = free_port()
        prefix = os.path.join(workdir, "nginx")
        os.makedirs(prefix)
        cert, key = os.path.join(prefix, "cert.pem"), os.path.join(prefix, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", key, "-out", cert], check=True, timeout=30,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        with open(os.path.join(CONF, "nginx-sigverd.conf")) as f:
            text = f.read()
        text = replace_in_order(r"^([ \t]+server[ \t]+)[^\s;{]+:\d+", [
            (lambda m, n=n: m.group(1) + "127.0.0.1:%d" % n.port) for n in nodes],
            text, "upstream servers")
        text = re.sub(r"^[ \t]+listen[ \t]+\[::\].*\n", "", text, flags=re.M)
        text = replace_in_order(r"^([ \t]+listen[ \t]+)\d+", [
            lambda m: m.group(1) + "127.0.0.1:%d" % self.port], text, "listen line")
        text = replace_in_order(r"^([ \t]+ssl_certificate[ \t]+)[^;]+", [
            lambda m: m.group(1) + cert], text, "ssl_certificate")
        text = replace_in_order(r"^([ \t]+ssl_certificate_key[ \t]+)[^;]+", [
            lambda m: m.group(1) + key], text, "ssl_certificate_key")
        with open(os.path.join(prefix, "sigverd.conf"), "w") as f:
            f.write(text)
        user = ""
        if os.geteuid() == 0:  # else nginx keeps the current user anyway
            user = "user %s %s;\n" % (pwd.getpwuid(os.geteuid()).pw_name,
                                      grp.getgrgid(os.getegid()).gr_name)
        temp = "".join("    %s_temp_path %s;\n" % (t, os.path.join(prefix, t))
                       for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        config, error_log = os.path.join(prefix, "nginx.conf"), os.path.join(prefix, "error.log")
        with open(config, "w") as f:
            f.write("daemon off;\nworker_processes 2;\n%spid %s/nginx.pid;\n"
                    "error_log %s notice;\nevents {\n    worker_connections 4096;\n}\n"
                    "http {\n    access_log off;\n%s    include %s/sigverd.conf;\n}\n" % (
                        user, prefix, error_log, temp, prefix))
        self.url = "wss://127.0.0.1:%d/" % self.port
        self.ssl = ssl.create_default_context(cafile=cert)
        super().__init__("nginx", [program, "-p", prefix, "-c", config, "-e", error_log],
                         workdir, [error_log])

    def ready(self, nodes):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False


async def connect(proxy, key, retry_until=None):
    """A Peer through the proxy. With retry_until (a monotonic time), a refused or failed
    upgrade is tried again until then, as a reconnecting client would."""
    while True:
        try:
            ws = await asyncio.wait_for(websockets.connect(
                proxy.url + key, ssl=proxy.ssl, open_timeout=interop.TIMEOUT,
                ping_interval=None, close_timeout=2, compression=None), interop.TIMEOUT + 1)
            return interop.Peer(ws)
        except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as e:
            if retry_until is None or time.monotonic() > retry_until:
                raise
            reason = "HTTP %d" % e.status_code if hasattr(e, "status_code") else \
                type(e).__name__
            proxy.retries[reason] = proxy.retries.get(reason, 0) + 1
            await asyncio.sleep(0.2)


class Group:
    def __init__(self, key):
        self.key = key
        self.peers = []
        self.ids = {}  # joiner index -> routing id its member sees

    def problem(self, what):
        raise AssertionError("key %s: %s" % (self.key, what))

    async def form(self, proxy, retry_until=None):
        """Peers join one after another; the first gets isFirst=true, the others false."""
        for i in range(PEERS_PER_KEY):
            peer = await connect(proxy, self.key, retry_until)
            self.peers.append(peer)
            got = await peer.next()
            if got != ("isFirst", i == 0):
                self.problem("peer %d got %r, expected isFirst=%s" % (i, got, i == 0))
        await self.relay("form")

    async def relay(self, tag):
        """Each joiner sends a content; the member (the first peer) sees it with a non-zero
        routing id of that joiner and answers with that id; the joiner gets the answer."""
        member, joiners = self.peers[0], self.peers[1:]
        for j, joiner in enumerate(joiners, 1):
            await joiner.ws.send(interop.content(data=b"%s %s up %d" % (
                tag.encode(), self.key.encode(), j)))
        seen = {}
        for _ in joiners:
            kind, value = await member.next()
            data = value.get("data", b"") if kind == "content" else b""
            j = int(data.rsplit(b" ", 1)[-1]) if data.startswith(tag.encode() + b" ") else 0
            if not j or data != b"%s %s up %d" % (tag.encode(), self.key.encode(), j):
                self.problem("member got %r" % ((kind, value),))
            if not value.get("id"):
                self.problem("member got a content without a routing id")
            seen[j] = value["id"]
        if len(set(seen.values())) != len(joiners):
            self.problem("routing ids not distinct: %r" % seen)
        if any(seen[j] != routing_id for j, routing_id in self.ids.items()):
            self.problem("routing ids changed from %r to %r" % (self.ids, seen))
        self.ids = seen
        for j, routing_id in seen.items():
            await member.ws.send(interop.content(id=routing_id, data=b"%s down %d" % (
                tag.encode(), j)))
        for j, joiner in enumerate(joiners, 1):
            kind, value = await joiner.next()
            if kind != "content" or value.get("data") != b"%s down %d" % (tag.encode(), j) or \
                    interop.C_ID in value["fields"]:
                self.problem("joiner %d got %r" % (j, (kind, value)))

    async def join_late(self, proxy):
        """One more peer joins the formed group through the same member."""
        peer = await connect(proxy, self.key)
        self.peers.append(peer)
        got = await peer.next()
        if got != ("isFirst", False):
            self.problem("late peer got %r, expected isFirst=False" % (got,))
        await self.relay("late")

    def closed(self):
        return [p for p in self.peers if p.reader.done()]


async def gather_problems(coroutines):
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    return ["%s: %s" % (type(r).__name__, r) for r in results if isinstance(r, BaseException)]


def summary(problems):
    return "; ".join(problems[:3]) + (" (%d in all)" % len(problems) if problems else "")


async def wait_until(predicate, bound=BOUND):
    deadline = time.monotonic() + bound
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def check_counts(report, what, nodes, groups, peers):
    """Checks that the nodes' /metrics add up to `groups` and `peers` (waiting up to BOUND for
    the gauges, which workers publish once per loop iteration); returns every node's counts."""
    last = {}

    def adds_up():
        last.update({n.name: n.counts() for n in nodes})
        return None not in last.values() and \
            [sum(c[i] for c in last.values()) for i in (0, 1)] == [groups, peers]
    report.check("%s add up to %d groups and %d peers" % (what, groups, peers),
                 await wait_until(adds_up), "(groups, peers) per node: %r" % last)
    return last


async def scenario(proxy, nodes, report):
    tag = "%d-%d" % (os.getpid(), int(time.time()))
    groups = [Group("multinode-%s-%d" % (tag, k)) for k in range(KEYS)]
    peers = KEYS * PEERS_PER_KEY
    started = time.monotonic()
    problems = await gather_problems(g.form(proxy) for g in groups)
    report.check("%d peers over %d keys form correct groups through %s (%.1f s)" % (
        peers, KEYS, proxy.name, time.monotonic() - started), not problems, summary(problems))
    if problems:
        return
    counts = await check_counts(report, "the nodes' /metrics (each key on one node)", nodes,
                                KEYS, peers)
    report.check("every node holds some groups", all(c and c[0] > 0 for c in counts.values()),
                 repr(counts))
    if report.failed:
        return

    victim = max(nodes, key=lambda n: counts[n.name][0])
    left = [n for n in nodes if n is not victim]
    lost_groups, lost_peers = counts[victim.name]
    print("(groups, peers) per node: %r; stopping %s" % (counts, victim.name))
    code = await asyncio.to_thread(victim.stop)
    report.check("%s stops on SIGTERM" % victim.name, code is not None, "exit %r" % code)
    await wait_until(lambda: sum(len(g.closed()) for g in groups) >= lost_peers)
    await asyncio.sleep(0.5)  # a close that should not come has time to come
    hit = [g for g in groups if g.closed()]
    kept = [g for g in groups if not g.closed()]
    report.check("the %d peers of %s's %d groups, and only they, are closed (codes %s)" % (
        lost_peers, victim.name, lost_groups,
        sorted({p.ws.close_code for g in hit for p in g.peers})),
        len(hit) == lost_groups and all(len(g.closed()) == PEERS_PER_KEY for g in hit),
        "%d groups with closed peers, %d of their peers closed" % (
            len(hit), sum(len(g.closed()) for g in hit)))

    # At once, as netflux would: the kept groups relay again while the lost ones re-form,
    # each of their peers reconnecting.
    started = time.monotonic()
    proxy.retries = {}
    reformed = [Group(g.key) for g in hit]
    retry_until = time.monotonic() + BOUND
    relayed, problems = await asyncio.gather(
        gather_problems(g.relay("again") for g in kept),
        gather_problems(g.form(proxy, retry_until) for g in reformed))
    report.check("the %d groups on the other nodes relay again" % len(kept), not relayed,
                 summary(relayed))
    report.check("%d reconnecting peers form their %d groups again (%.1f s, retries: %s)" % (
        lost_peers, len(reformed), time.monotonic() - started, proxy.retries or "none"),
        not problems,
        summary(problems))
    await check_counts(report, "the remaining nodes' /metrics", left, KEYS, peers)

    # Once the proxy has settled on the smaller ring, a new peer of each re-formed group
    # still reaches the node that group formed on.
    if isinstance(proxy, HAProxy):
        report.check("haproxy has taken %s out" % victim.name, await wait_until(
            lambda: proxy.server_states().get(victim.name, "").startswith("DOWN")),
            repr(proxy.server_states()))
    problems = await gather_problems(g.join_late(proxy) for g in reformed)
    report.check("a late peer of each re-formed group joins it", not problems,
                 summary(problems))
    await check_counts(report, "with them, the remaining nodes' /metrics", left, KEYS,
                       peers + len(reformed))
    closed = sum(len(g.closed()) for g in kept + reformed)
    report.check("no peer on the remaining nodes was closed", closed == 0, "%d closed" % closed)
    everyone = [p for g in kept + reformed for p in g.peers]
    await asyncio.wait_for(asyncio.gather(*(p.ws.close() for p in everyone),
                                          return_exceptions=True), BOUND)


def main():
    if len(sys.argv) not in (2, 3) or sys.argv[2:] not in ([], ["haproxy"], ["nginx"]):
        print("usage: %s BUILD/sigverd [haproxy|nginx]" % sys.argv[0])
        return 2
    mode = (sys.argv[2:] or ["haproxy"])[0]
    program = find_program(mode, mode)
    if program is None:
        print("SKIP: %s is not installed and cannot be installed here" % mode)
        return EXIT_SKIP
    report = interop.Report()
    workdir = tempfile.mkdtemp(prefix="sigver-multinode-")
    started = []
    try:
        nodes = [Node(sys.argv[1], workdir, i) for i in range(NODES)]
        started += nodes
        ok = all([wait_sync(lambda n=n: not n.running() or n.healthy())
                   and n.running() for n in nodes])
        report.check("%d sigverd nodes start, /health 200" % NODES, ok,
                     "; ".join(n.tail() for n in nodes))
        proxy = (HAProxy if mode == "haproxy" else Nginx)(program, workdir, nodes)
        started.append(proxy)
        if ok:
            ok = wait_sync(lambda: not proxy.running() or proxy.ready(nodes)) and proxy.running()
            report.check("%s starts and sees the nodes" % mode, ok, proxy.tail())
        if ok:
            try:
                asyncio.run(asyncio.wait_for(scenario(proxy, nodes, report), TOTAL))
            except Exception as error:  # any exception is a failed check, with its reason
                report.check("scenario ran to the end", False,
                             "%s: %s" % (type(error).__name__, error))
        report.check("%s is still running" % mode, proxy.running(), proxy.tail())
    finally:
        for process in reversed(started):
            process.stop()
        if report.failed:
            for process in started:
                print("--- %s output (tail) ---\n%s" % (process.name, process.tail()))
        shutil.rmtree(workdir, ignore_errors=True)
    print("multinode %s: %d passed, %d failed" % (mode, report.passed, report.failed))
    return 0 if report.failed == 0 else 1


def wait_sync(predicate, bound=BOUND):
    deadline = time.monotonic() + bound
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


if __name__ == "__main__":
    sys.exit(main())
