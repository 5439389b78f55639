#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""Seed corpus for the fuzzers (tests/fuzz/corpus/{wire,replay}).

    tests/fuzz/mkcorpus.py [PCAP...]

wire: IP packets taken from captures of the VM packet tests (PCAP..., e.g.
build/pkt-out/6.12/pkt/*.pcap written by tests/pkt/akm_pkt.py), a few per
capture, plus packets built with tests/pkt/akmpkt.py for the layouts the
captures lack: IPv4 options, IPv6 hop-by-hop options, an empty payload, and
the malformed cases akm_verify() drops. replay: operation sequences for
fuzz_replay.c. Files are named by content, so rerunning adds nothing twice.
"""
import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pkt"))
import akmpkt  # noqa: E402

KEY = bytes(range(32))


def save(kind, data):
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, hashlib.sha1(data).hexdigest()[:16])
    if not os.path.exists(p):
        with open(p, "wb") as f:
            f.write(data)


def pcap_packets(path):
    d = open(path, "rb").read()
    if len(d) < 24 or struct.unpack("<I", d[:4])[0] != 0xA1B2C3D4:
        return
    link = struct.unpack("<I", d[20:24])[0]
    off = 24
    while off + 16 <= len(d):
        incl = struct.unpack("<IIII", d[off:off + 16])[2]
        fr = d[off + 16:off + 16 + incl]
        off += 16 + incl
        if link == 1 and len(fr) > 14 and fr[12:14] in (b"\x08\x00", b"\x86\xdd"):
            yield fr[14:]
        elif link == 101:
            yield fr


def from_pcaps(paths):
    seen = set()
    for path in paths:
        for ip in pcap_packets(path):
            v6 = ip[0] >> 4 == 6
            proto = ip[6] if v6 else ip[9]
            k = (v6, proto, min(len(ip) // 256, 4))
            if k in seen:
                continue
            seen.add(k)
            save("wire", ip)


def v4_with_options(pkt, opts):
    ihl = 5 + len(opts) // 4
    h = bytearray(pkt[:20])
    h[0] = 0x40 | ihl
    h[2:4] = struct.pack("!H", len(pkt) + len(opts))
    h[10:12] = b"\0\0"
    h[10:12] = struct.pack("!H", akmpkt.csum(bytes(h) + opts))
    return bytes(h) + opts + pkt[20:]


def v6_with_hbh(pkt, optlen8):
    nh = pkt[6]
    hbh = bytes([nh, optlen8, 1, 4 + 8 * optlen8]) + b"\0" * (4 + 8 * optlen8)  # PadN
    h = bytearray(pkt[:40])
    h[6] = 0
    h[4:6] = struct.pack("!H", len(pkt) - 40 + len(hbh))
    return bytes(h) + hbh + pkt[40:]


def crafted():
    for src, dst in (("10.0.0.1", "10.0.0.2"), ("fd00::1", "fd00::2")):
        inner = akmpkt.udp(src, dst, 4000, 5000, b"hello akm")
        for alg in ("hmac-sha256", "chacha20-poly1305"):
            p = akmpkt.akm_packet(src, dst, 17, inner, 7, 1, 42, 1, KEY, alg)
            save("wire", p)
        p = akmpkt.akm_packet(src, dst, 17, inner, 7, 1, 42, 0x1ffffffff, KEY,
                              "hmac-sha256")
        save("wire", p)
        save("wire", akmpkt.akm_packet(src, dst, 59, b"", 7, 1, 42, 2, KEY, "hmac-sha256"))
        save("wire", akmpkt.akm_packet(src, dst, 17, inner, 7, 1, 42, 3, KEY,
                                       "hmac-sha256", version=2))
        save("wire", akmpkt.akm_packet(src, dst, 17, inner, 7, 1, 42, 0xffff00000003,
                                       KEY, "hmac-sha256"))
        save("wire", akmpkt.ip_packet(src, dst, akmpkt.AKM_PROTO, b"\x11\x01" + b"\0" * 20))
        save("wire", akmpkt.ip_packet(src, dst, 17, inner))
        if src.startswith("fd"):
            save("wire", v6_with_hbh(p, 0))
            save("wire", v6_with_hbh(p, 2))
            save("wire", akmpkt.ip_packet(src, dst, 58, b"\x87\0\0\0" + b"\0" * 20))
        else:
            save("wire", v4_with_options(p, b"\x01\x01\x01\x00"))       # NOP NOP NOP EOL
            save("wire", v4_with_options(p, b"\x07\x27\x04" + b"\0" * 37))  # record route, 40 bytes


def replay_seeds():
    def up(v):
        return b"\x00" + struct.pack("!Q", v)

    def rel(op, d):
        return bytes([op]) + struct.pack("!h", d)

    save("replay", up(1) + up(1) + up(5) + up(3) + rel(2, -1) + rel(2, 0))
    save("replay", up(100000) + rel(1, -(1984 - 1)) + rel(1, -1984) + rel(1, -2048) + rel(2, 1))
    seq = b"".join(bytes([3]) + struct.pack("!I", i) for i in (1, 2, 4, 3, 3, 100, 50))
    save("replay", seq)
    # across the 2^32 boundary, on the wire only
    save("replay", up(0xffffff00) + b"".join(rel(4, d) for d in (0x10, 0x100, -5, 0x100, 0x7fff)))
    # big jumps, then the far end of the 64-bit space
    save("replay", bytes([5 | 20 << 3]) + b"\0\0\0\x01" + bytes([5 | 31 << 3]) + b"\xff\xff\xff\xff"
         + bytes([6 | 2 << 3]) + b"\xff\xff\xff\x00" + bytes([7]) + b"\0\0\0\x05")
    save("replay", up((1 << 64) - 1) + bytes([7]) + b"\0\0\0\x01" + rel(1, -1))


if __name__ == "__main__":
    from_pcaps(sys.argv[1:])
    crafted()
    replay_seeds()
