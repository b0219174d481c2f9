#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into tests/fuzz/corpus/<target>/.

The seeds are small, valid or nearly valid inputs that show libFuzzer the shape of each input
(the formats are described at the top of each target's source). Run it again after changing
an input format; `make fuzz` only reads the seeds and never writes into this directory.
"""
import pathlib
import shutil
import struct

ROOT = pathlib.Path(__file__).resolve().parent
CORPUS = ROOT / "corpus"


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(number, wire_type, payload):
    tag = varint(number << 3 | wire_type)
    if wire_type == 2:
        return tag + varint(len(payload)) + payload
    return tag + payload


def content(id_=None, data=None, is_error=False, is_end=False):
    body = b""
    if id_ is not None:
        body += field(1, 0, varint(id_))
    if data is not None:
        body += field(2, 2, data)
    if is_error:
        body += field(3, 0, b"\x01")
    if is_end:
        body += field(4, 0, b"\x01")
    return field(1, 2, body)


def flag(number, value=1):
    return field(number, 0, varint(value))


def ws_frame(opcode, payload, fin=True, mask=b"\x37\xfa\x21\x3d", length_form=None):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    form = length_form or ("7" if n < 126 else "16" if n < 65536 else "64")
    if form == "7":
        head += bytes([0x80 | n])
    elif form == "16":
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def upgrade(target="/room", extra=b"", version=b"13", method=b"GET", http=b"HTTP/1.1"):
    return (method + b" " + target.encode() + b" " + http + b"\r\n"
            b"Host: example.org\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: " + version + b"\r\n" + extra + b"\r\n")


def write(target, seeds):
    folder = CORPUS / target
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, data in seeds.items():
        (folder / name).write_bytes(data)


def upgrade_seeds():
    return {
        "valid": upgrade(),
        "valid-query-origin": upgrade("/a/b?x=1#f", b"Origin: https://example.org\r\n"),
        "valid-then-frame": upgrade() + ws_frame(2, content(0, b"hi")),
        "token-lists": upgrade(extra=b"Connection: keep-alive, upgrade\r\nUpgrade: h2c\r\n"),
        "plain-get": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "version-8": upgrade(version=b"8"),
        "post": upgrade(method=b"POST"),
        "http-1.0": upgrade(http=b"HTTP/1.0"),
        "body": upgrade(extra=b"Content-Length: 4\r\n") + b"abcd",
        "chunked": upgrade(extra=b"Transfer-Encoding: chunked\r\n"),
        "partial": upgrade()[:40],
        "long-header": upgrade(extra=b"X-Long: " + b"a" * 1100 + b"\r\n"),
    }


def frames_seeds():
    # Byte 0: bits 0-2 pick max_message_size (5 = 1000 bytes), bits 3-7 stop after N events.
    # Byte 1: the seed of the random chunking.
    def seed(stream, limits=5, chunking=7):
        return bytes([limits, chunking]) + stream

    close = struct.pack(">H", 1000) + "bye é".encode()
    return {
        "binary": seed(ws_frame(2, content(0, b"offer"))),
        "fragmented-with-ping": seed(ws_frame(1, b"frag", fin=False) + ws_frame(9, b"p") +
                                     ws_frame(0, b"ment", fin=False) + ws_frame(0, b"ed")),
        "close-reason": seed(ws_frame(10, b"pong") + ws_frame(8, close)),
        "close-bad-utf8": seed(ws_frame(8, struct.pack(">H", 1000) + b"\xed\xa0\x80")),
        "length-16": seed(ws_frame(2, b"x" * 300), limits=6),
        "length-64": seed(ws_frame(2, b"y" * 10, length_form="64")),
        "too-big": seed(ws_frame(2, b"z" * 20), limits=2),
        "unmasked": seed(b"\x82\x02hi"),
        "stop-after-one": seed(ws_frame(2, b"a") + ws_frame(2, b"b"), limits=5 | 1 << 3),
        "utf8-mix": seed("aé€𝄞".encode() * 3 + b"\xf4\x90\x80\x80"),
    }


def messages_seeds():
    # Steps: op, slot, operands (see fuzz_messages.cc).
    open_ = lambda slot, key=0: bytes([0, slot, key])
    leave = lambda slot: bytes([1, slot])
    raw = lambda slot, msg: bytes([2, slot, len(msg)]) + msg

    def send(slot, kind, data=b"sdp", flags=0, other=0):
        extra = bytes([other]) if kind == 2 else b""
        return bytes([3, slot, kind]) + extra + bytes([len(data)]) + data + bytes([flags])

    stable = lambda slot: bytes([4, slot])
    try_another = lambda slot: bytes([5, slot])
    congest = lambda slot: bytes([7, slot])
    move = lambda key, lost=b"": bytes([8, 0, key]) + lost
    join = open_(0) + open_(1) + open_(2)
    return {
        "join-relay-leave": join + send(1, 0) + send(0, 2, other=1) + send(1, 0, flags=2) +
                            stable(1) + leave(0) + leave(1) + leave(2),
        "try-another": join + stable(1) + try_another(2) + try_another(2) + try_another(2),
        "raw-messages": open_(0) + open_(1) + raw(1, content(5, b"x")) + raw(1, flag(4)) +
                        raw(0, flag(2)) + raw(1, b"\xff"),
        "move-and-stray": join + open_(3, 0x80) + move(0, b"\x00\x00\x01") + send(1, 0) +
                          open_(4) + move(0) + leave(2),
        "congested": join + congest(0) + send(1, 0) + send(2, 3, data=b"") + leave(0),
        "keys": open_(0, 0) + open_(1, 1) + open_(2, 2) + open_(3, 1) + send(3, 0),
    }


def codec_seeds():
    return {
        "content": content(7, b"candidate"),
        "content-end": content(7, is_end=True),
        "content-error": content(0, b"", is_error=True),
        "is-first": flag(2),
        "stable": flag(3),
        "heartbeat": flag(4, 0),
        "try-another": flag(5),
        "merged": content(1, b"a") + content(2),
        "case-switch": content(1, b"a") + flag(3) + content(9),
        "unknown-fields": field(9, 2, b"zz") + field(10, 5, b"abcd") + content(3, b"q") +
                          field(11, 1, b"12345678"),
        "group": bytes([0x6B]) + field(1, 0, b"\x01") + bytes([0x6C]) + flag(4),
        "id-not-varint": field(1, 2, field(1, 2, b"id") + field(2, 2, b"d")),
    }


def gen2_seeds():
    # Steps: op, slot, operands (see fuzz_gen2.cc). A member id byte below 0x80 names the id
    # of slot value % 8, so lists can overlap the group.
    open_ = lambda slot, key=0: bytes([0, slot, key])
    leave = lambda slot: bytes([1, slot])
    raw = lambda slot, msg: bytes([2, slot, len(msg)]) + msg

    def send(slot, kind=0, other=0, data=b"sdp", last=0):
        extra = bytes([other]) if kind == 2 else struct.pack("<I", other) if kind == 3 else b""
        return bytes([3, slot, kind]) + extra + bytes([len(data)]) + data + bytes([last])

    def connect(slot, members=(), packed=1, id_=None):
        # A member is a slot number, or a 4-byte id after 0x80.
        ids = b"".join(bytes([m]) if isinstance(m, int) else b"\x80" + struct.pack("<I", m[0])
                       for m in members)
        return bytes([4, slot, slot if id_ is None else id_, len(members)]) + ids + bytes([packed])

    heartbeat = lambda slot, value=1: bytes([5, slot, value])
    tick = lambda slot: bytes([6, slot])
    congest = lambda slot: bytes([7, slot])
    move = lambda key, fates=b"", foreign=0: bytes([8, 0, key, foreign]) + fates
    join = open_(0) + connect(0) + open_(1) + connect(1) + open_(2) + connect(2)
    return {
        "join-relay-leave": join + send(1) + send(0, 2, other=1) + connect(1, [0]) +
                            send(2, data=b"x") + connect(2, [0, 1], packed=0) + leave(0) +
                            connect(1, [2]) + leave(1) + leave(2),
        "blocking-member": open_(0) + connect(0) + open_(1) + connect(1) + send(1) +
                           connect(1) + connect(1, [0]),
        "tried-and-favored": open_(0) + connect(0) + open_(1, 0x40) + connect(1) +
                             connect(1, [0]) + open_(2) + connect(2) + connect(2) +
                             connect(2) + connect(2, [1]),
        "lost-the-group": join + connect(1, [0]) + connect(2) + send(2) +
                          connect(1, [(0x5EED,)]) + send(2, data=b""),
        "member-and-joiner": open_(0) + connect(0) + open_(1) + connect(1) + connect(1, [0]) +
                             open_(2) + connect(2) + connect(2) + send(2) +
                             send(1, 2, other=2) + send(1) + send(1, 3, other=0x5EED),
        "last-data": open_(0) + connect(0) + open_(1) + connect(1) + send(1, last=1) +
                     send(1) + send(0, 2, other=1, last=1) + send(0, 2, other=1) + leave(1),
        "heartbeats": open_(0) + tick(0) + heartbeat(0, 0) + tick(0) + tick(0) + tick(0),
        "errors": open_(0) + bytes([9, 0]) + open_(1) + bytes([10, 1]) + open_(2) +
                  raw(2, b"\x12\xff") + open_(3, 3) + open_(4, 7) + open_(5) + raw(5, b""),
        "move-and-garble": join + connect(1, [0]) + open_(3, 0x80) + connect(3) + open_(4) +
                           move(0, b"\x00\x02\x09\x01\x00\x00\x00\x00\x01", 1) +
                           send(2) + move(0) + leave(1),
        "full-key": b"".join(open_(s) + connect(s) for s in range(7)) + send(6),
        "congested": join + congest(0) + send(1) + congest(2) + connect(2),
    }


def gen2_codec_seeds():
    def content2(sender, recipient, data=None, last=0):
        body = field(1, 0, varint(sender)) + field(2, 0, varint(recipient)) + field(3, 0, bytes([last]))
        return field(2, 2, body + (field(4, 2, data) if data is not None else b""))

    def connect2(id_, members, packed=True):
        if packed:
            listed = field(2, 2, b"".join(varint(m) for m in members))
        else:
            listed = b"".join(field(2, 0, varint(m)) for m in members)
        return field(3, 2, field(1, 0, varint(id_)) + listed)

    return {
        "heartbeat": flag(1),
        "connected-false": flag(4, 0),
        "content": content2(0x3456789A, 0, b"connectionRequest"),
        "end-notice": content2(0, 0x7EDCBA98),
        "connect-packed": connect2(0x9ABCDEF0, [1, 300, 0xFFFFFFFF]),
        "connect-unpacked": connect2(7, [5, 6], packed=False),
        "merged": connect2(1, [2]) + field(9, 0, b"\x01") + connect2(3, [4], packed=False),
        "case-switch": content2(1, 2, b"a") + flag(1) + content2(3, 4),
        "group": bytes([0x2B]) + field(1, 0, b"\x01") + bytes([0x2C]) + flag(1),
    }


def migrate_payload(source, token, size, index, member_position, bound_to, id_, tried,
                    key=b"room", assembled=b"", unread=b"", unsent=b"", assembling=0):
    header = struct.pack("<IiQIIiiIBBBBB3xIIIII", 1, source, token, size, index,
                         member_position, bound_to, id_, 1, 1, 0, assembling, 2,
                         len(tried), len(key), len(assembled), len(unread), len(unsent))
    return (header + b"".join(struct.pack("<I", t) for t in tried) + key + assembled + unread +
            unsent)


def queue_seeds():
    # Byte 0: order of leaving; then messages: type (0 H, 1 L, 2 R, 3 G, 4 T), descriptor
    # count, 2-byte length, payload.
    def message(kind, payload, fds=1):
        return bytes([kind, fds]) + struct.pack("<H", len(payload)) + payload

    def tls(*fields):
        return b"".join(struct.pack("<I", len(f)) + f for f in fields)

    group = (message(3, migrate_payload(1, 5, 3, 0, 0, -1, 0, [])) +
             message(3, migrate_payload(1, 5, 3, 1, 1, 0, 77, [0], unread=b"\x82",
                                        unsent=b"\x82\x02ok")) +
             message(3, migrate_payload(1, 5, 3, 2, -1, 1, 78, [0, 1], assembled=b"part",
                                        assembling=1)))
    material = tls(b"cert.pem", b"key.pem", b"", b"-----BEGIN CERTIFICATE-----", b"KEY", b"",
                   b"TLSv1.3", b"ECDHE+AESGCM", b"TLS_AES_128_GCM_SHA256")
    return {
        "group-of-three": b"\x03" + group,
        "incomplete-group": b"\x01" + message(3, migrate_payload(2, 9, 4, 3, 0, 2, 5, [1, 2])),
        "resize": b"\x00" + message(2, struct.pack("<I", 2), fds=2),
        "tls-material": b"\x00" + message(4, material, fds=0),
        "handoff": b"\x00" + message(0, upgrade()),
        "listeners": b"\x00" + message(1, b"plain"),
        "mixed": b"\x07" + message(2, struct.pack("<I", 0), fds=0) + group + message(4, b""),
    }


def config_seeds():
    shipped = (ROOT.parent.parent / "conf" / "sigver.conf").read_bytes()
    return {
        "shipped": shipped,
        "every-section": b"""[server]
listen = [::1]:9000
listen_tls = 127.0.0.1:9443
worker_processes = auto
allowed_origins = https://example.org, *.example.net http://localhost:8080
daemon = yes
[protocol]
heartbeat_interval = 0.25
max_message_size = 64k
max_header_size = 1k
[limits]
max_connections = 100
max_messages_per_second = 0.5
[tls]
certificate = /tmp/cert.pem
certificate_key = /tmp/key.pem
protocols = TLSv1.3
[log]
log_level = debug
error_log = /tmp/sigverd.log
""",
        "errors": b"[server]\nlisten = 0.0.0.0:0\n",
        "syntax": b"; comment\n[protocol\nheartbeat_interval\n",
        "unknown": b"[nothing]\n[server]\nworker_processes = 65\n",
        "duplicate": b"[log]\nlog_level = warn\nlog_level = info\n",
    }


def handover_seeds():
    """First byte: 0 mod 3 an environment variable, 1 a hello, 2 an upgrade message."""
    magic = struct.pack("<I", 0x53475655)
    return {
        "env-ours": b"0" + b"1;control=9;plain=3,4,5,6;tls=7;status=-1;queues=10,11,12,13,14;"
                    b"count=4;listen=[::1]:8000;listen_tls=127.0.0.1:8443;status_listen=",
        "env-other": b"0" + b"1000;moves=v2;control=9;plain=3,4;tls=;status=-1;"
                     b"listen=127.0.0.1:8000;listen_tls=;status_listen=;queues=10,11",
        "hello": b"\x01" + magic + struct.pack("<II", 1, 4),
        "upgrade": b"\x02" + struct.pack("<II", 1, 4),
    }


def main():
    write("fuzz_upgrade", upgrade_seeds())
    write("fuzz_frames", frames_seeds())
    write("fuzz_messages", messages_seeds())
    write("fuzz_codec", codec_seeds())
    write("fuzz_gen2", gen2_seeds())
    write("fuzz_gen2_codec", gen2_codec_seeds())
    write("fuzz_queue", queue_seeds())
    write("fuzz_config", config_seeds())
    write("fuzz_handover", handover_seeds())


if __name__ == "__main__":
    main()
