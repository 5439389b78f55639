#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Load on akm-rootd's admin sockets (bench/root-load.sh runs it).

Speaks the admin frames of userspace/lib/proto.h directly (akmctl's
protocol), so that the client costs no process per command:
  frame = be32 length | u8 type | TLVs;  TLV = be16 type | be16 length | value
  RUN (100): MODE (1, u8), ARG (2, text) * n;  answers OUT (101), ERR (102),
  EXIT (103): STATUS (4, be32).

  root-load.py populate SOCK SITES NODES ASRS       -> JSON figures
  root-load.py churn SECONDS CONC SOCK [SOCK...]   -> JSON figures
  root-load.py hot SECONDS CONC SOCK [SOCK...]     -> the same, one ASR only
"""
import json
import random
import socket
import struct
import sys
import threading
import time

RUN, OUT, ERR, EXIT = 100, 101, 102, 103
T_MODE, T_ARG, T_STATUS = 1, 2, 4


def tlv(t, v):
    return struct.pack(">HH", t, len(v)) + v


def run(sock_path, *words):
    """One command: (exit status, stdout, stderr)."""
    body = bytes([RUN]) + tlv(T_MODE, b"\0") + b"".join(
        tlv(T_ARG, w.encode()) for w in words)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sock_path)
        s.sendall(struct.pack(">I", len(body)) + body)
        f = s.makefile("rb")
        out, err = b"", b""
        while True:
            hdr = f.read(4)
            if len(hdr) < 4:
                return 1, out, err + b"connection closed"
            (n,) = struct.unpack(">I", hdr)
            frame = f.read(n)
            typ, p = frame[0], 1
            while p + 4 <= len(frame):
                t, ln = struct.unpack(">HH", frame[p:p + 4])
                v = frame[p + 4:p + 4 + ln]
                p += 4 + ln
                if typ == OUT:
                    out += v
                elif typ == ERR:
                    err += v
                elif typ == EXIT and t == T_STATUS:
                    return struct.unpack(">I", v)[0], out, err
    finally:
        s.close()


def must(sock_path, *words):
    st, out, err = run(sock_path, *words)
    if st:
        sys.exit("root-load: %s: %s" % (" ".join(words), err.decode(errors="replace")))
    return out


def populate(sock_path, sites, nodes, asrs):
    """sites sites, nodes nodes spread over them, ASR 1 with 256 members from
    10 sites, ASRs 2..asrs with 10 members each from random sites."""
    t0 = time.monotonic()
    for s in range(1, sites + 1):
        must(sock_path, "site", "add", "s%d" % s, "id", str(100000 + s),
             "endpoint", "10.255.%d.%d" % (s // 256, s % 256))
    t1 = time.monotonic()
    per_site = nodes // sites
    for i in range(nodes):
        must(sock_path, "node", "add", "n%d" % (i + 1), "id", str(i + 1),
             "site", "s%d" % (i // per_site + 1),
             "addr", "10.%d.%d.%d" % ((i + 1) // 65536, ((i + 1) // 256) % 256, (i + 1) % 256))
    t2 = time.monotonic()
    members = 0
    for a in range(1, asrs + 1):
        must(sock_path, "asr", "add", str(a), "alg", "hmac-sha256")
    rnd = random.Random(1)
    # ASR 1: 256 members, 26 (or 25) at each of 10 sites
    for k in range(256):
        site = k % 10
        must(sock_path, "asr", "add-member", "1", "node",
             "n%d" % (site * per_site + k // 10 + 1))
        members += 1
    for a in range(2, asrs + 1):
        for n in rnd.sample(range(1, nodes + 1), 10):
            must(sock_path, "asr", "add-member", str(a), "node", "n%d" % n)
            members += 1
    t3 = time.monotonic()
    return {"sites": sites, "nodes": nodes, "asrs": asrs, "memberships": members,
            "sites_s": round(t1 - t0, 2), "nodes_s": round(t2 - t1, 2),
            "members_s": round(t3 - t2, 2),
            "member_adds_per_s": round(members / (t3 - t2), 1)}


def churn(seconds, conc, socks, hot):
    """conc clients, each on one of socks in turn, each doing del-member then
    add-member of random (ASR, member) pairs among ASRs 2.. (or ASR 1 only,
    hot) for seconds; every change makes an epoch."""
    stop = time.monotonic() + seconds
    lock = threading.Lock()
    done, failed, lat = [0], [0], []
    asrs = int(must(socks[0], "asr", "show").count(b"\nasr ")) + 1
    errors = []

    def client(i):
        rnd = random.Random(i)
        sock = socks[i % len(socks)]
        while time.monotonic() < stop:
            a = 1 if hot else rnd.randint(2, asrs)
            st, out, err = run(sock, "asr", "show", str(a))
            names = [w.split()[3] for w in out.decode().splitlines()
                     if w.startswith("    member") and "revoked" not in w]
            if not names:
                continue
            name = rnd.choice(names)
            for verb in ("del-member", "add-member"):
                t = time.monotonic()
                st, out, err = run(sock, "asr", verb, str(a), "node", name)
                dt = time.monotonic() - t
                with lock:
                    if st:
                        failed[0] += 1
                        errors.append(err.decode(errors="replace").strip())
                    else:
                        done[0] += 1
                        lat.append(dt)

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    el = time.monotonic() - t0
    lat.sort()
    pct = lambda q: round(1000 * lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None
    return {"instances": len(socks), "clients": conc, "hot": hot, "seconds": round(el, 1),
            "changes": done[0], "failed": failed[0], "changes_per_s": round(done[0] / el, 1),
            "p50_ms": pct(0.5), "p99_ms": pct(0.99), "errors": sorted(set(errors))[:3]}


def main():
    if len(sys.argv) >= 6 and sys.argv[1] == "populate":
        r = populate(sys.argv[2], *map(int, sys.argv[3:6]))
    elif len(sys.argv) >= 5 and sys.argv[1] in ("churn", "hot"):
        r = churn(float(sys.argv[2]), int(sys.argv[3]), sys.argv[4:], sys.argv[1] == "hot")
    else:
        sys.exit(__doc__)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
