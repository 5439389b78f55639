#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""AKM packet-path tests, one group per run (TAP, kselftest Totals line).

    tests/pkt/akm_pkt.py [GROUP[:ALG]...]

GROUP: tagcheck, connect, attack, rollover (take ALG: hmac-sha256 or
chacha20-poly1305), policy, membership, grace, mutate, faults, unload;
default: all of them (or $AKM_PKT_GROUPS),
the first three with both algorithms, unload last. One process runs them
all (Python's start-up is slow on the VM's 9p root); each group's TAP is
nested under a "# " prefix, with one result line per group and the
kselftest Totals line summing them last. Run as root in the
test VM from the repository root, with akm.ko loaded (tests/pkt/run.sh runs
them all). Every group builds its own topology (tests/pkt/akmpkt.py): nodes
A-D with ids 1-4 in network namespaces on one bridge, all members of ASR 1,
and an attacker E that is no member.
"""

import contextlib
import hashlib
import json
import os
import random
import re
import select
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from akmpkt import (  # noqa: E402
    ALGS, AKM_HLEN, AKM_PROTO, AKMCTL, BRNS, REPO, TAGCHECK, UAPI, Genl, Injector,
    Sniffer, Tap, Topo, akm_packet, akmctl, akmctl_json, batch, eth, fix_ipv4_csum,
    ip_bytes, ip_packet, mac_bytes, netns, parse_frame, sh, snmp, stat_delta, stats, tcp_client,
    tcp_listener, tcp_listening, tcp_options, total_drops, drops_summary,
    udp, udp_recv_all, udp_socket, verify_pkt, wait_for, wait_stats,
    write_pcap)

OUTDIR = None


def save_dir():
    """Where captures are kept for the report: $OUT/pkt (host-visible in
    the VM) or the temporary directory."""
    return OUTDIR


def fam(v6):
    return "IPv6" if v6 else "IPv4"


# ---------------------------------------------------------------------------
# connect: reachability, transfers, wire format, tags recomputed with libsodium


def tcp_transfer(t, src, dst, v6, size, port):
    """Send size random bytes from src to dst over TCP; returns
    (ok, detail, seconds)."""
    lst = tcp_listener(dst.ns, dst.addr(v6), port)
    res = {}

    def serve():
        try:
            lst.settimeout(60)
            c, _ = lst.accept()
            c.settimeout(120)
            h, n = hashlib.sha256(), 0
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                h.update(b)
                n += len(b)
            res["hash"], res["n"] = h.hexdigest(), n
            c.close()
        except Exception as e:  # noqa: BLE001
            res["err"] = repr(e)

    th = threading.Thread(target=serve)
    th.start()
    data = os.urandom(size)
    t0 = time.time()
    try:
        c = tcp_client(src.ns, dst.addr(v6), port, timeout=120)
        view = memoryview(data)
        for i in range(0, size, 1 << 18):
            c.sendall(view[i:i + (1 << 18)])
        c.shutdown(socket.SHUT_WR)
        th.join(180)
        c.close()
    except Exception as e:  # noqa: BLE001
        res["err"] = "client: %r" % e
        th.join(10)
    lst.close()
    dt = time.time() - t0
    want = hashlib.sha256(data).hexdigest()
    if "err" in res:
        return False, res["err"], dt
    ok = res.get("hash") == want and res.get("n") == size
    return ok, "%d bytes in %.1fs, sha256 %s (sent %s)" % (
        res.get("n", 0), dt, res.get("hash", "?")[:16], want[:16]), dt


def udp_pair(src, dst, v6, port, n=50, size=1000):
    r = udp_socket(dst.ns, dst.addr(v6), port)
    s = udp_socket(src.ns, src.addr(v6))
    sent = []
    for i in range(n):
        p = struct.pack("!I", i) + os.urandom(size - 4)
        sent.append(p)
        s.sendto(p, (dst.addr(v6), port))
        time.sleep(0.002)
    got = udp_recv_all(r, 1.0, want=n)
    r.close()
    s.close()
    return sorted(got) == sorted(sent), "%d/%d datagrams intact" % (
        len(set(got) & set(sent)), n)


def iperf(t, topo, src, dst, v6, udp_mode):
    srv = topo.start(["iperf3", "-s", "-1", "-p", "5301"], ns=dst.ns)
    if not wait_for(lambda: tcp_listening(dst.ns, 5301), 10):
        topo.stop(srv)
        return False, "iperf3 server did not start"
    cmd = ["iperf3", "-c", dst.addr(v6), "-p", "5301", "-t", "1", "-J"]
    if udp_mode:
        cmd += ["-u", "-b", "2M", "-l", "1000"]
    p = sh(cmd, ns=src.ns, check=False, timeout=60)
    topo.stop(srv)
    try:
        j = json.loads(p.stdout)
    except ValueError:
        return False, "iperf3 failed: %s %s" % (p.stdout[-300:], p.stderr[-300:])
    if "error" in j:
        return False, "iperf3: " + j["error"]
    end = j["end"]
    if udp_mode:
        s = end["sum"]
        ok = s["packets"] > 0 and s["lost_packets"] == 0
        return ok, "UDP %d datagrams, %d lost, %.1f Mbit/s" % (
            s["packets"], s["lost_packets"], s["bits_per_second"] / 1e6)
    r = end["sum_received"]
    return r["bytes"] > 0, "TCP %d bytes received, %.1f Mbit/s, %d retransmits" % (
        r["bytes"], r["bits_per_second"] / 1e6, end["sum_sent"].get("retransmits", 0))


def tagcheck(args):
    if not os.access(TAGCHECK, os.X_OK):
        return None, "%s not built (make -C tests/pkt on the host)" % TAGCHECK
    p = sh([TAGCHECK] + args, check=False)
    return p.returncode, (p.stdout + p.stderr).strip()


def group_connect(t, topo):
    alg = topo.alg
    A, B, C, D = topo.nodes
    topo.akm()
    out = save_dir()

    # every pair, both families
    for i, x in enumerate(topo.nodes):
        for y in topo.nodes[i + 1:]:
            for v6 in (False, True):
                ok, o = topo.ping(x, y, v6)
                t.ok(ok, "%s: ping %s -> %s %s" % (alg, x, y, fam(v6)), o)
    for v6 in (False, True):
        ok, o = topo.ping(A, B, v6, size=3000)
        t.ok(ok, "%s: 3000-byte ping %s -> %s %s (fragmented after tagging)"
             % (alg, A, B, fam(v6)), o)

    # the wire: capture A's echo requests and B's replies on their bridge ports
    sa, sb = Sniffer(BRNS, A.port), Sniffer(BRNS, B.port)
    for v6 in (False, True):
        topo.ping(A, B, v6, count=3)
    for v6 in (False, True):
        def echo(p, dst, v6):
            # AKM packets, or plain echo requests/replies (which must not be)
            return (p is not None and p.version == (6 if v6 else 4) and p.dst == dst and
                    (p.proto == AKM_PROTO or (p.proto in (1, 58) and p.l4[:1] and
                                              p.l4[0] in (0, 8, 128, 129))))

        def to_b(f, v6=v6):
            return echo(parse_frame(f), B.addr(v6), v6)

        def to_a(f, v6=v6):
            return echo(parse_frame(f), A.addr(v6), v6)
        req = [parse_frame(f) for f in sa.read(3, to_b, 3)]
        rep = [parse_frame(f) for f in sb.read(3, to_a, 3)]
        probs = []
        if len(req) != 3 or len(rep) != 3:
            probs.append("captured %d requests, %d replies (want 3, 3)" % (len(req), len(rep)))
        inner = 58 if v6 else 1
        for p, snd in [(p, A.id) for p in req] + [(p, B.id) for p in rep]:
            a = p.akm
            if p.proto != AKM_PROTO or not a:
                probs.append("not an AKM packet: %r" % p)
                continue
            want = dict(nexthdr=inner, version=1, asr=1, epoch=1, sender=snd)
            for k, v in want.items():
                if a[k] != v:
                    probs.append("%s=%d, expected %d in %r" % (k, a[k], v, p))
            exp_len = (40 if v6 else 20) + AKM_HLEN + 64
            if p.totlen != exp_len:
                probs.append("IP length %d, expected %d" % (p.totlen, exp_len))
            if p.inner[0] != (128 if snd == A.id else 129) and v6:
                probs.append("inner ICMPv6 type %d" % p.inner[0])
            if not v6 and p.inner[0] != (8 if snd == A.id else 0):
                probs.append("inner ICMP type %d" % p.inner[0])
            if not verify_pkt(p, topo.keys[1], alg):
                probs.append("tag does not verify in Python: %r" % p)
        seqs = [p.akm["seq"] for p in req if p.akm]
        if seqs != sorted(seqs) or len(set(seqs)) != len(seqs):
            probs.append("sequence numbers not increasing: %r" % seqs)
        if req:
            t.diag("e.g. %r" % req[0])
        t.ok(not probs, "%s: wire %s: IP protocol %d, AKM header (version 1, ASR 1, "
             "epoch 1, sender, next header, increasing seq), tag verifies"
             % (alg, fam(v6), AKM_PROTO), "\n".join(probs))

        # user-space reproduction with libsodium
        frames = [f for f in sa.frames if to_b(f)] + [f for f in sb.frames if to_a(f)]
        pcap = os.path.join(out, "%s-icmp-%s.pcap" % (alg, fam(v6)))
        write_pcap(pcap, frames)
        rc, o = tagcheck(["-k", topo.keyfile(1), "-A", "1", "-e", "1", "-a", alg,
                          "-F", "-r", pcap])
        t.ok(rc == 0 and frames, "%s: akm_tagcheck (libsodium) recomputes the tags of %d "
             "captured %s packets, and no single-byte flip verifies"
             % (alg, len(frames), fam(v6)), o)
        wrong = os.path.join(topo.tmp, "wrongkey")
        with open(wrong, "wb") as f:
            f.write(os.urandom(32))
        rc, o = tagcheck(["-k", wrong, "-A", "1", "-e", "1", "-a", alg, "-r", pcap])
        t.ok(rc == 1, "%s: akm_tagcheck rejects %s packets under a wrong key"
             % (alg, fam(v6)), o)
        if frames:
            ip = bytearray(frames[0][14:])
            ip[-1] ^= 0x20
            rc, o = tagcheck(["-k", topo.keyfile(1), "-A", "1", "-e", "1", "-a", alg,
                              "-x", bytes(ip).hex()])
            t.ok(rc == 1, "%s: akm_tagcheck: a flipped payload byte (%s) does not match"
                 % (alg, fam(v6)), o)
        p = sh(["tcpdump", "-nr", pcap], check=False)
        t.ok("ip-proto-253" in p.stdout, "%s: tcpdump decodes the capture as IP protocol 253 (%s)"
             % (alg, fam(v6)), p.stdout + p.stderr)
        t.diag(p.stdout.strip().splitlines()[0] if p.stdout.strip() else p.stderr)
    sa.close()
    sb.close()

    # UDP between pairs
    for (x, y, v6) in ((A, C, False), (B, D, True), (C, A, True), (D, B, False)):
        ok, o = udp_pair(x, y, v6, 6000 + x.id * 10 + y.id)
        t.ok(ok, "%s: UDP %s -> %s %s" % (alg, x, y, fam(v6)), o)

    # IPv4 options, datagrams around the MTU, ICMP errors, IPv6 hop-by-hop
    p = sh(["ping", "-n", "-R", "-c", "2", "-i", "0.05", "-W", "3", B.v4], ns=A.ns,
           check=False, timeout=30)
    t.ok(p.returncode == 0, "%s: ping -R (IPv4 record-route option) %s -> %s" % (alg, A, B),
         p.stdout[-400:] + p.stderr)
    for v6 in (False, True):
        base = 1500 - (48 if v6 else 28)	# the largest unfragmented payload
        sizes = list(range(base - AKM_HLEN - 8, base + 9, 4))
        r = udp_socket(B.ns, B.addr(v6), 6100)
        s = udp_socket(A.ns, A.addr(v6))
        sent = [os.urandom(n) for n in sizes]
        for d in sent:
            s.sendto(d, (B.addr(v6), 6100))
        got = udp_recv_all(r, 2.0, want=len(sent))
        r.close()
        s.close()
        t.ok(sorted(got) == sorted(sent),
             "%s: UDP %s payloads of %d..%d bytes (around MTU - 36) arrive intact"
             % (alg, fam(v6), sizes[0], sizes[-1]),
             "received sizes %r" % sorted(len(g) for g in got))
    for v6 in (False, True):
        s = udp_socket(A.ns, A.addr(v6))
        s.connect((B.addr(v6), 6199))
        s.settimeout(3)
        err = None
        try:
            s.send(b"anyone?")
            s.recv(100)
        except OSError as e:
            err = e
        s.close()
        t.ok(isinstance(err, ConnectionRefusedError),
             "%s: UDP to a closed port %s: the (authenticated) ICMP error reaches the "
             "sender's socket (ECONNREFUSED)" % (alg, fam(v6)), repr(err))
    # TCP: MSS lowered by the AKM header, full-size segments fit, no fragments
    for v6 in (False, True):
        sa, sb = Sniffer(BRNS, A.port), Sniffer(BRNS, B.port)
        before = {n.ns: snmp(n.ns) for n in (A, B)}
        ok, o, _ = tcp_transfer(t, A, B, v6, 2 << 20, 7100 + v6)
        t.ok(ok, "%s: TCP 2 MB %s -> %s %s" % (alg, A, B, fam(v6)), o)
        after = {n.ns: snmp(n.ns) for n in (A, B)}

        def syn(f, v6=v6):
            p = parse_frame(f)
            return (p and p.akm and p.version == (6 if v6 else 4) and
                    p.akm["nexthdr"] == 6 and p.inner[13] & 0x02)
        mss = {}
        for who, s in (("SYN", sa), ("SYN-ACK", sb)):
            fr = s.read(2, syn, 1)
            if fr:
                _, opts = tcp_options(parse_frame(fr[0]).inner)
                mss[who] = struct.unpack("!H", opts[2])[0] if 2 in opts else None
        want = 1500 - (60 if v6 else 40) - AKM_HLEN
        t.ok(mss.get("SYN") == want and mss.get("SYN-ACK") == want,
             "%s: TCP %s SYN and SYN-ACK carry MSS %d (1500 - %d - 36)"
             % (alg, fam(v6), want, 60 if v6 else 40), "MSS seen: %r" % mss)
        big = [parse_frame(f) for f in sa.read(1, lambda f: len(f) > 1000, 50)]
        sizes = sorted({p.totlen for p in big if p})
        t.ok(big and max(sizes) == 1500 and all(p.akm and not p.frag for p in big),
             "%s: TCP %s full-size segments are 1500-byte unfragmented AKM packets"
             % (alg, fam(v6)), "IP sizes seen: %r" % sizes)
        if big:
            pcap = os.path.join(out, "%s-tcp-%s.pcap" % (alg, fam(v6)))
            write_pcap(pcap, [eth("02:00:00:00:00:01", "02:00:00:00:00:02", p.raw)
                              for p in big[:5]])
            rc, o = tagcheck(["-k", topo.keyfile(1), "-A", "1", "-e", "1", "-a", alg,
                              "-r", pcap])
            t.ok(rc == 0, "%s: akm_tagcheck verifies full-size TCP %s segments"
                 % (alg, fam(v6)), o)
        if v6:
            grew = {ns: after[ns]["Ip6"]["Ip6FragCreates"] - before[ns]["Ip6"]["Ip6FragCreates"]
                    for ns in after}
        else:
            grew = {ns: after[ns]["Ip"]["FragCreates"] - before[ns]["Ip"]["FragCreates"]
                    for ns in after}
        t.ok(not any(grew.values()), "%s: no IP fragments created during the TCP %s transfer"
             % (alg, fam(v6)), "FragCreates grew: %r" % grew)
        sa.close()
        sb.close()

    # a large transfer arrives intact
    ok, o, _ = tcp_transfer(t, A, B, False, 20 << 20, 7200)
    t.ok(ok, "%s: TCP 20 MB %s -> %s IPv4, sha256 equal" % (alg, A, B), o)
    ok, o, _ = tcp_transfer(t, C, D, True, 5 << 20, 7201)
    t.ok(ok, "%s: TCP 5 MB %s -> %s IPv6, sha256 equal" % (alg, C, D), o)

    ok, o = iperf(t, topo, A, C, False, False)
    t.ok(ok, "%s: iperf3 TCP %s -> %s IPv4" % (alg, A, C), o)
    ok, o = iperf(t, topo, B, D, True, True)
    t.ok(ok, "%s: iperf3 UDP %s -> %s IPv6 (2 Mbit/s, no loss)" % (alg, B, D), o)

    # counters: nothing dropped, everyone authenticated everyone
    probs, missing = [], []
    for x in topo.nodes:
        st = stats(x.ns)
        if total_drops(st):
            probs.append("%s: %s" % (x, drops_summary(st)))
        for y in topo.nodes:
            if y is not x and not st.get("asr:1/node:%d" % y.id, {}).get("rx_packets"):
                missing.append("%s has no rx from %s" % (x, y))
    t.ok(not probs, "%s: no drops on any node" % alg, "\n".join(probs))
    t.ok(not missing, "%s: every node authenticated packets from every other node" % alg,
         "\n".join(missing))

    # last: a failure here must not show up in the counters checked above
    r = udp_socket(B.ns, B.v6, 6101)
    s = udp_socket(A.ns, A.v6)
    try:
        # IPV6_HOPOPTS: a hop-by-hop header with one PadN option
        s.setsockopt(socket.IPPROTO_IPV6, 54, bytes([0, 0, 1, 4, 0, 0, 0, 0]))
        sn = Sniffer(BRNS, A.port)
        s.sendto(b"hop-by-hop", (B.v6, 6101))
        got = udp_recv_all(r, 2.0, want=1)
        fr = [parse_frame(f) for f in sn.read(1, lambda f: (parse_frame(f) is not None and
                                                            parse_frame(f).dst == B.v6), 1)]
        sn.close()
        t.ok(got == [b"hop-by-hop"],
             "%s: IPv6 UDP with a hop-by-hop options header %s -> %s is authenticated and "
             "delivered" % (alg, A, B),
             "kernel/hooks.c akm_tag() leaves packets with a hop-by-hop header untagged "
             "(it should insert the AKM header after it) and akm_in() treats them as plain:\n"
             "delivered: %r; on the wire: %r (next header %s); B: %s" % (
                 got, fr, fr[0].proto if fr else None,
                 drops_summary({k: v for k, v in stats(B.ns).items()})))
    finally:
        r.close()
        s.close()


# ---------------------------------------------------------------------------
# attack: forged, tampered, replayed, truncated packets from a non-member


class Attack:
    def __init__(self, t, topo):
        self.t, self.topo = t, topo
        self.B = topo.B
        self.inj = Injector(topo.E.ns, "eth0")
        self.sock = {v6: udp_socket(self.B.ns, self.B.addr(v6), 7000) for v6 in (False, True)}
        self.n = 0
        self.last = None	# B's counters after the last attempt

    def marker(self):
        self.n += 1
        return b"akm-attack-%06d" % self.n + os.urandom(24)

    def udp_to_b(self, src, v6, payload):
        return udp(src.addr(v6), self.B.addr(v6), 40000, 7000, payload)

    def attempt(self, desc, ip, v6, expect, delivered=False, payload=None):
        """Inject one IP packet from E towards B; check B's counters and
        whether B's UDP socket got it."""
        B = self.B
        # chained: the counters after one attempt are the next one's
        # before, so a late count still shows up (in the next attempt)
        before = self.last or stats(B.ns)
        self.inj.send(eth(B.mac, self.topo.E.mac, bytes(ip)))
        got = udp_recv_all(self.sock[v6], 1.5, want=1) if delivered else []
        probs, self.last = wait_stats(B.ns, before, expect, settle=False)
        got += udp_recv_all(self.sock[v6], 0)
        if delivered and (len(got) != 1 or (payload and got[0] != payload)):
            probs.append("the UDP socket got %d datagrams, expected the packet" % len(got))
        if not delivered and got:
            probs.append("the UDP socket got %d datagrams: the packet was delivered" % len(got))
        return self.t.ok(not probs, desc, "\n".join(probs))


def group_attack(t, topo):
    alg = topo.alg
    A, B, C, D = topo.nodes
    E = topo.E
    topo.akm()
    k1 = topo.keys[1]
    at = Attack(t, topo)
    mon = topo.start([AKMCTL, "-j", "monitor"], ns=B.ns, stdout=open(os.path.join(topo.tmp, "mon"), "w"))
    asr, mA, mD = "asr:1", "asr:1/node:1", "asr:1/node:4"
    node = "node"
    # ping once so that B knows A (neighbour) and the paths are warm
    topo.ping(A, B)
    topo.ping(A, B, True)
    at.last = None

    for v6 in (False, True):
        f = fam(v6)
        pfx = "%s %s: " % (alg, f)
        pl = at.marker()
        at.attempt(pfx + "control: a plain packet from a non-member address is delivered, "
                   "nothing counted", ip_packet(E.addr(v6), B.addr(v6), 17,
                                                at.udp_to_b(E, v6, pl)), v6, {},
                   delivered=True, payload=pl)
        pl = at.marker()
        at.attempt(pfx + "plain packet spoofing member A's address -> drop_plain",
                   ip_packet(A.addr(v6), B.addr(v6), 17, at.udp_to_b(A, v6, pl)), v6,
                   {(asr, "drop_plain"): 1, (mA, "drop_plain"): 1})
        pl = at.marker()
        ip = akm_packet(E.addr(v6), B.addr(v6), 17, at.udp_to_b(E, v6, pl), 1, 1, 5,
                        100, os.urandom(32), alg)
        at.attempt(pfx + "AKM packet from a non-member address (sender 5) -> drop_not_member",
                   ip, v6, {(asr, "drop_not_member"): 1})
        pl = at.marker()
        ip = akm_packet(A.addr(v6), B.addr(v6), 17, at.udp_to_b(A, v6, pl), 1, 1, 1,
                        5000000, os.urandom(32), alg)
        at.attempt(pfx + "AKM packet spoofing A under the current epoch, wrong key "
                   "-> drop_bad_tag", ip, v6, {(asr, "drop_bad_tag"): 1, (mA, "drop_bad_tag"): 1})
        pl = at.marker()
        ip = akm_packet(A.addr(v6), B.addr(v6), 17, at.udp_to_b(A, v6, pl), 1, 1, 3,
                        100, k1, alg)
        at.attempt(pfx + "AKM packet from A's address naming sender 3 (C) -> drop_not_member",
                   ip, v6, {(asr, "drop_not_member"): 1})
        pl = at.marker()
        inner = at.udp_to_b(D, v6, pl)
        ip = akm_packet(D.addr(v6), B.addr(v6), 17, inner, 1, 1, 4, 1000 + v6, k1, alg)
        at.attempt(pfx + "positive control: a packet as D tagged in Python with the right "
                   "key is accepted", ip, v6,
                   {(asr, "rx_packets"): 1, (asr, "rx_bytes"): len(inner),
                    (mD, "rx_packets"): 1, (mD, "rx_bytes"): len(inner)},
                   delivered=True, payload=pl)
        pl = at.marker()
        ip = akm_packet(A.addr(v6), B.addr(v6), 17, at.udp_to_b(A, v6, pl), 77, 1, 1,
                        100, k1, alg)
        at.attempt(pfx + "unknown ASR id 77 -> drop_unknown_asr (node counters)",
                   ip, v6, {(node, "drop_unknown_asr"): 1})
        pl = at.marker()
        ip = akm_packet(A.addr(v6), B.addr(v6), 17, at.udp_to_b(A, v6, pl), 1, 99, 1,
                        100, k1, alg)
        at.attempt(pfx + "unknown epoch 99 -> drop_unknown_epoch",
                   ip, v6, {(asr, "drop_unknown_epoch"): 1, (mA, "drop_unknown_epoch"): 1})
        for n in (0, 20, 35):
            body = bytes([17, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9])
            body = (body + os.urandom(16))[:n]
            at.attempt(pfx + "truncated AKM header (%d of 36 bytes) -> drop_malformed "
                       "(node counters)" % n,
                       ip_packet(A.addr(v6), B.addr(v6), AKM_PROTO, body), v6,
                       {(node, "drop_malformed"): 1})
        pl = at.marker()
        ip = akm_packet(A.addr(v6), B.addr(v6), 17, at.udp_to_b(A, v6, pl), 1, 1, 1,
                        200, k1, alg, version=2)
        at.attempt(pfx + "version 2 (tagged with the right key) -> drop_malformed "
                   "(node counters)", ip, v6, {(node, "drop_malformed"): 1})
        pl = at.marker()
        ip = akm_packet(A.addr(v6), B.addr(v6), 17, at.udp_to_b(A, v6, pl), 1, 1, 1,
                        200, k1, alg, wire_hi=1)
        at.attempt(pfx + "sequence bits 32-47 set to 1 on a packet tagged for 200 "
                   "-> drop_bad_tag", ip, v6, {(asr, "drop_bad_tag"): 1,
                                               (mA, "drop_bad_tag"): 1})

        # authentic packets captured on the wire but never delivered: A's
        # neighbour entry for B points to a MAC nobody has
        fam_flag = ["-6"] if v6 else ["-4"]
        sh(["ip"] + fam_flag + ["neigh", "replace", B.addr(v6), "lladdr",
                                "02:00:00:00:00:ee", "dev", "eth0", "nud", "permanent"], ns=A.ns)
        sn = Sniffer(BRNS, A.port)
        s = udp_socket(A.ns, A.addr(v6))
        pls = [at.marker() for _ in range(3)]
        for pl in pls:
            s.sendto(pl, (B.addr(v6), 7000))
        s.close()
        caps = [parse_frame(fr) for fr in sn.read(3, lambda fr: (parse_frame(fr) is not None and
                                                                 parse_frame(fr).dst == B.addr(v6)), 3)]
        sn.close()
        sh(["ip"] + fam_flag + ["neigh", "replace", B.addr(v6), "lladdr", B.mac,
                                "dev", "eth0", "nud", "permanent"], ns=A.ns)
        at.last = None
        good = len(caps) == 3 and all(p.akm and p.akm["sender"] == 1 for p in caps)
        t.ok(good, pfx + "captured 3 authentic undelivered AKM packets from A",
             "captured: %r" % caps)
        if not good:
            continue
        caps.sort(key=lambda p: p.akm["seq"])
        P, older, later = caps[1], caps[0], caps[2]
        nh = P.nhlen
        udplen = len(P.inner)

        def flip(off, mask, ip=P.raw):
            b = bytearray(ip)
            b[off] ^= mask
            return bytes(b)

        bad = {(asr, "drop_bad_tag"): 1, (mA, "drop_bad_tag"): 1}
        for what, ip, exp in (
                ("next header", flip(nh + 0, 0x01), bad),
                ("sequence number", flip(nh + 19, 0x80), bad),
                ("tag", flip(nh + 20, 0x01), bad),
                ("payload", flip(len(P.raw) - 1, 0x01), bad),
                ("version", flip(nh + 1, 0x02), {(node, "drop_malformed"): 1}),
                ("sequence bits 32-47", flip(nh + 3, 0x01), bad),
                ("ASR id", flip(nh + 4, 0x01), {(node, "drop_unknown_asr"): 1}),
                ("epoch", flip(nh + 8, 0x01), {(asr, "drop_unknown_epoch"): 1,
                                               (mA, "drop_unknown_epoch"): 1}),
                ("sender", flip(nh + 12, 0x01), {(asr, "drop_not_member"): 1})):
            at.attempt(pfx + "captured packet with one byte flipped in the %s -> %s"
                       % (what, ", ".join(sorted({c for _, c in exp}))), ip, v6, exp)
        # the source address: rewritten to C's, sender 3 to match: only the
        # tag (which covers the addresses) can tell
        b = bytearray(P.raw)
        if v6:
            b[8:24] = ip_bytes(C.v6)
        else:
            b[12:16] = ip_bytes(C.v4)
        b[nh + 15] = 3
        at.attempt(pfx + "captured packet re-sourced to member C (sender 3) -> drop_bad_tag",
                   fix_ipv4_csum(bytes(b)), v6,
                   {(asr, "drop_bad_tag"): 1, ("asr:1/node:3", "drop_bad_tag"): 1})
        at.attempt(pfx + "the captured packet itself is accepted (once)", P.raw, v6,
                   {(asr, "rx_packets"): 1, (asr, "rx_bytes"): udplen,
                    (mA, "rx_packets"): 1, (mA, "rx_bytes"): udplen},
                   delivered=True, payload=pls[1])
        at.attempt(pfx + "the captured packet replayed unchanged -> drop_replay", P.raw, v6,
                   {(asr, "drop_replay"): 1, (mA, "drop_replay"): 1})
        # A deleted and added again at B: its window under epoch 1 goes on
        g = Genl(B.ns)
        g.do("member_del", asr_id=1, node_id=A.id)
        g.do("member_new", asr_id=1, node_id=A.id, member_addrs=[A.v4, A.v6],
             member_state=UAPI["AKM_MEMBER_ACTIVE"])
        g.close()
        at.last = None
        at.attempt(pfx + "A deleted and added again at B, the captured packet replayed "
                   "-> drop_replay", P.raw, v6, {(asr, "drop_replay"): 1, (mA, "drop_replay"): 1})
        at.attempt(pfx + "an older captured packet (lower seq, inside the window) is "
                   "accepted out of order", older.raw, v6,
                   {(asr, "rx_packets"): 1, (asr, "rx_bytes"): len(older.inner),
                    (mA, "rx_packets"): 1, (mA, "rx_bytes"): len(older.inner)},
                   delivered=True, payload=pls[0])
        at.attempt(pfx + "... and then replayed -> drop_replay", older.raw, v6,
                   {(asr, "drop_replay"): 1, (mA, "drop_replay"): 1})
        if v6:
            at.later6 = later
        else:
            at.later4 = later

    # A sends 2^32 and more packets to other members before its next one to
    # B: the 48 bits on the wire keep B in step (a receiver that guessed the
    # high bits from its window would never accept A again). Last in epoch
    # 1: A's own packets are below the new window from here on.
    for desc, seq, exp in (
            ("2^32 + 7 (A sent 2^32 packets elsewhere) is accepted", (1 << 32) + 7, "rx"),
            ("2^40 + 3 is accepted", (1 << 40) + 3, "rx"),
            ("2^40 + 3 again -> drop_replay", (1 << 40) + 3, "drop_replay"),
            ("2^32 + 7 again, now far below the window -> drop_replay", (1 << 32) + 7,
             "drop_replay"),
            ("2^48 - 1, the last number there is, is accepted", (1 << 48) - 1, "rx")):
        pl = at.marker()
        inner = at.udp_to_b(A, False, pl)
        ip = akm_packet(A.addr(False), B.addr(False), 17, inner, 1, 1, 1, seq, k1, alg)
        if exp == "rx":
            expect = {(asr, "rx_packets"): 1, (asr, "rx_bytes"): len(inner),
                      (mA, "rx_packets"): 1, (mA, "rx_bytes"): len(inner)}
        else:
            expect = {(asr, exp): 1, (mA, exp): 1}
        at.attempt("%s: sequence number %s" % (alg, desc), ip, False, expect,
                   delivered=exp == "rx", payload=pl)

    # epoch rollover on every node, epoch 1 retired: old packets are dead
    path = topo.new_key(2)
    for n in topo.nodes:
        akmctl(n.ns, "key", "install", "asr", 1, "epoch", 2, "file", path)
    for n in topo.nodes:
        akmctl(n.ns, "key", "activate", "asr", 1, "epoch", 2)
    for n in topo.nodes:
        akmctl(n.ns, "key", "retire", "asr", 1, "epoch", 1)
    at.last = None
    for v6 in (False, True):
        pfx = "%s %s: " % (alg, fam(v6))
        later = getattr(at, "later6" if v6 else "later4", None)
        if later:
            at.attempt(pfx + "a captured, never delivered packet of retired epoch 1 "
                       "-> drop_unknown_epoch", later.raw, v6,
                       {(asr, "drop_unknown_epoch"): 1, (mA, "drop_unknown_epoch"): 1})
        pl = at.marker()
        ip = akm_packet(A.addr(v6), B.addr(v6), 17, at.udp_to_b(A, v6, pl), 1, 2, 1,
                        7000, k1, alg)
        at.attempt(pfx + "epoch 2 packet tagged with the old epoch's key -> drop_bad_tag",
                   ip, v6, {(asr, "drop_bad_tag"): 1, (mA, "drop_bad_tag"): 1})
        pl = at.marker()
        inner = at.udp_to_b(D, v6, pl)
        ip = akm_packet(D.addr(v6), B.addr(v6), 17, inner, 1, 2, 4, 10 + v6, topo.keys[2], alg)
        at.attempt(pfx + "positive control under epoch 2 (right key) is accepted", ip, v6,
                   {(asr, "rx_packets"): 1, (asr, "rx_bytes"): len(inner),
                    (mD, "rx_packets"): 1, (mD, "rx_bytes"): len(inner)},
                   delivered=True, payload=pl)
    ok, o = topo.ping(A, B)
    t.ok(ok, "%s: A <-> B still talk under epoch 2" % alg, o)
    time.sleep(1.2)
    topo.stop(mon)
    ev = [json.loads(l) for l in open(os.path.join(topo.tmp, "mon")) if l.strip().startswith("{")]
    fails = [e for e in ev if e.get("event") == "auth-failure"]
    t.ok(fails and all(e.get("count", 0) > 0 and e.get("reason") for e in fails),
         "%s: auth-failure events announced on B (%d events, %d failures)"
         % (alg, len(fails), sum(e.get("count", 0) for e in fails)),
         "events: %r" % ev[-5:])
    t.diag("last auth-failure event: %r" % (fails[-1] if fails else None))


# ---------------------------------------------------------------------------
# policy for plain packets from members


def group_policy(t, topo):
    A, B, C, D = topo.nodes
    E = topo.E
    topo.akm()
    at = Attack(t, topo)
    asr, mA = "asr:1", "asr:1/node:1"
    topo.ping(A, B)
    j = akmctl_json(B.ns, "asr", "show", 1)
    j = j[0] if isinstance(j, list) else j
    t.ok(j.get("policy") == "drop", "policy: default policy is drop", "asr show: %r" % j)
    for v6 in (False, True):
        pfx = "policy %s: " % fam(v6)
        pl = at.marker()
        at.attempt(pfx + "policy drop: plain packet from A's address -> drop_plain",
                   ip_packet(A.addr(v6), B.addr(v6), 17, at.udp_to_b(A, v6, pl)), v6,
                   {(asr, "drop_plain"): 1, (mA, "drop_plain"): 1})
    akmctl(B.ns, "asr", "set", 1, "policy", "accept")
    at.last = None
    for v6 in (False, True):
        pfx = "policy %s: " % fam(v6)
        pl = at.marker()
        ip = ip_packet(A.addr(v6), B.addr(v6), 17, at.udp_to_b(A, v6, pl))
        before = stats(B.ns)
        at.inj.send(eth(B.mac, E.mac, ip))
        wait_stats(B.ns, before, {(asr, "accept_plain"): 1})
        after = stats(B.ns)
        got = udp_recv_all(at.sock[v6], 0.3)
        probs = stat_delta(before, after, {(asr, "accept_plain"): 1,
                                           (mA, "accept_plain"): after[mA]["accept_plain"] -
                                           before[mA]["accept_plain"]})
        if got != [pl]:
            probs.append("socket got %d datagrams, expected the packet" % len(got))
        t.ok(not probs, pfx + "policy accept: plain packet from A's address is delivered, "
             "ASR accept_plain +1", "\n".join(probs))
        d = after[mA]["accept_plain"] - before[mA]["accept_plain"]
        t.ok(d == 1, pfx + "policy accept: member A's accept_plain counts it too (uapi: member "
             "counters hold what can be attributed to a member, as drop_plain does)",
             "member 1 accept_plain moved by %d; drop_plain is counted per member, "
             "accept_plain only per ASR (kernel/hooks.c akm_in)" % d)
    # a real sender: A treats B as not active yet and sends plain
    akmctl(A.ns, "member", "set", "asr", 1, "node", B.id, "state", "provisioned")
    s = udp_socket(A.ns, A.v4)
    for pol, exp, deliv in (("accept", {(asr, "accept_plain"): 1}, True),
                            ("drop", {(asr, "drop_plain"): 1, (mA, "drop_plain"): 1}, False)):
        akmctl(B.ns, "asr", "set", 1, "policy", pol)
        before = stats(B.ns)
        pl = at.marker()
        s.sendto(pl, (B.v4, 7000))
        probs, after = wait_stats(B.ns, before, exp)
        probs = [p for p in probs if not p.startswith(mA + " accept_plain")]
        got = udp_recv_all(at.sock[False], 0.3)
        if deliv != (got == [pl]):
            probs.append("socket got %r" % got)
        t.ok(not probs, "policy: A sends plain UDP to B (B not active at A), B policy %s -> %s"
             % (pol, "delivered" if deliv else "dropped"), "\n".join(probs))
    s.close()
    akmctl(A.ns, "member", "set", "asr", 1, "node", B.id, "state", "active")
    ok, o = topo.ping(A, B)
    t.ok(ok, "policy: back to active and drop: A <-> B ping authenticated", o)
    st = stats(B.ns)
    t.ok(st[asr]["rx_packets"] > 0, "policy: B counts authenticated packets again", repr(st[asr]))


# ---------------------------------------------------------------------------
# rollover under continuous traffic


class Stream:
    """Sequence-numbered UDP datagrams from src to dst every interval."""

    def __init__(self, src, dst, v6, port, interval=0.01):
        self.name = "%s -> %s %s" % (src, dst, fam(v6))
        self.rx = udp_socket(dst.ns, dst.addr(v6), port)
        self.tx = udp_socket(src.ns, src.addr(v6))
        self.dst = (dst.addr(v6), port)
        self.interval = interval
        self.sent = 0
        self.got = []
        self.errors = []
        self.stop = threading.Event()
        self.rx.settimeout(0.2)
        self.threads = [threading.Thread(target=self.send), threading.Thread(target=self.recv)]

    def start(self):
        for th in self.threads:
            th.start()

    def send(self):
        nxt = time.time()
        while not self.stop.is_set():
            try:
                self.tx.sendto(struct.pack("!I", self.sent) + b"x" * 200, self.dst)
            except OSError as e:
                self.errors.append("send %d: %s" % (self.sent, e))
            self.sent += 1
            nxt += self.interval
            d = nxt - time.time()
            if d > 0:
                time.sleep(d)

    def recv(self):
        idle = 0
        while idle < 5:
            try:
                b = self.rx.recv(2048)
                self.got.append(struct.unpack("!I", b[:4])[0])
                idle = 0
            except socket.timeout:
                if self.stop.is_set():
                    idle += 1

    def finish(self):
        self.stop.set()
        for th in self.threads:
            th.join(10)
        self.rx.close()
        self.tx.close()
        lost = sorted(set(range(self.sent)) - set(self.got))
        dups = len(self.got) - len(set(self.got))
        return lost, dups


def group_rollover(t, topo):
    alg = topo.alg
    A, B, C, D = topo.nodes
    topo.akm()
    for v6 in (False, True):
        topo.ping(A, B, v6, count=1)
        topo.ping(C, D, v6, count=1)
    sn = Sniffer(BRNS, A.port)
    streams = [Stream(A, B, False, 8001), Stream(B, A, True, 8002),
               Stream(C, D, False, 8003), Stream(D, C, True, 8004)]
    before = {n.ns: stats(n.ns) for n in topo.nodes}
    for s in streams:
        s.start()
    steps = []
    time.sleep(0.5)
    path = topo.new_key(2)
    for n in topo.nodes:
        akmctl(n.ns, "key", "install", "asr", 1, "epoch", 2, "file", path)
    steps.append("installed epoch 2 as next on A-D")
    time.sleep(0.3)
    for n in topo.nodes:
        akmctl(n.ns, "key", "activate", "asr", 1, "epoch", 2)
        steps.append("activated epoch 2 on %s" % n)
        time.sleep(0.4)
    for n in topo.nodes:
        akmctl(n.ns, "key", "retire", "asr", 1, "epoch", 1)
    steps.append("retired epoch 1 on A-D")
    time.sleep(0.6)
    t.diag("; ".join(steps))
    for s in streams:
        lost, dups = s.finish()
        t.ok(not lost and not dups and not s.errors and s.sent > 100,
             "%s: rollover: stream %s lost nothing (%d sent, %d received)"
             % (alg, s.name, s.sent, len(s.got)),
             "lost %d: %r%s, duplicates %d, errors %r" % (len(lost), lost[:20],
                                                         "..." if len(lost) > 20 else "",
                                                         dups, s.errors[:3]))
    probs = []
    for n in topo.nodes:
        st = stats(n.ns)
        d = stat_delta(before[n.ns], st, {}, ignore_tx=False)
        d = [p for p in d if "drop_" in p or "tx_no_key" in p]
        if d:
            probs.append("%s: %s" % (n, "; ".join(d)))
    t.ok(not probs, "%s: rollover: no drops and no tx_no_key on any node" % alg, "\n".join(probs))
    keys_ok = []
    for n in topo.nodes:
        ks = akmctl_json(n.ns, "key", "show", "asr", 1) or []
        if [(k["epoch"], k["state"]) for k in ks] != [(2, "current")]:
            keys_ok.append("%s: %r" % (n, ks))
    t.ok(not keys_ok, "%s: rollover: every node has only epoch 2, current" % alg,
         "\n".join(keys_ok))
    eps = []
    for f in sn.read(30, idle=0.5):
        p = parse_frame(f)
        if p is not None and p.akm is not None and p.dst == B.v4:
            eps.append(p.akm["epoch"])
    sn.close()
    changes = [eps[i] for i in range(len(eps)) if i == 0 or eps[i] != eps[i - 1]]
    t.ok(changes == [1, 2], "%s: rollover: on the wire A -> B switched from epoch 1 to 2 once"
         % alg, "epoch sequence (collapsed): %r over %d packets" % (changes, len(eps)))


# ---------------------------------------------------------------------------
# membership removal


def group_membership(t, topo):
    alg = topo.alg
    A, B, C, D = topo.nodes
    topo.akm()
    for v6 in (False, True):
        ok, o = topo.ping(C, A, v6)
        t.ok(ok, "membership: before: C -> A %s works" % fam(v6), o)
    rest = [A, B, D]
    for n in rest:
        akmctl(n.ns, "member", "del", "asr", 1, "node", C.id)
    path = topo.new_key(2)
    for n in rest:
        akmctl(n.ns, "key", "install", "asr", 1, "epoch", 2, "file", path)
    for n in rest:
        akmctl(n.ns, "key", "activate", "asr", 1, "epoch", 2)
    for n in rest:
        akmctl(n.ns, "key", "retire", "asr", 1, "epoch", 1)
    ms = akmctl_json(A.ns, "member", "show", "asr", 1) or []
    t.ok(sorted(m["node"] for m in ms) == [1, 2, 4],
         "membership: A's ASR 1 has members 1, 2, 4", repr(ms))
    for v6 in (False, True):
        f = fam(v6)
        before = stats(A.ns)
        ok, o = topo.ping(C, A, v6, count=3, timeout=1)
        probs, _ = wait_stats(A.ns, before, {("asr:1", "drop_not_member"): 3})
        t.ok(not ok and not probs,
             "membership: C's packets to A %s are dropped, 3 x drop_not_member at A" % f,
             "ping ok=%s %s\n%s" % (ok, o, "\n".join(probs)))
        before = stats(C.ns)
        ok, o = topo.ping(A, C, v6, count=3, timeout=1)
        probs, _ = wait_stats(C.ns, before, {("asr:1", "drop_plain"): 3,
                                             ("asr:1/node:1", "drop_plain"): 3})
        t.ok(not ok and not probs,
             "membership: A's packets to C %s are not accepted by C (3 x drop_plain at C)" % f,
             "ping ok=%s %s\n%s" % (ok, o, "\n".join(probs)))
        # C, still holding epoch 1, forges as B
        inj = Injector(C.ns, "eth0")
        for ep, key, what, exp in (
                (1, topo.keys[1], "epoch 1 (retired)", {("asr:1", "drop_unknown_epoch"): 1,
                                                        ("asr:1/node:2", "drop_unknown_epoch"): 1}),
                (2, topo.keys[1], "epoch 2 (key unknown to C)", {("asr:1", "drop_bad_tag"): 1,
                                                                 ("asr:1/node:2", "drop_bad_tag"): 1})):
            before = stats(A.ns)
            ip = akm_packet(B.addr(v6), A.addr(v6), 17,
                            udp(B.addr(v6), A.addr(v6), 1, 9, b"forged by C"),
                            1, ep, B.id, 50000, key, alg)
            inj.send(eth(A.mac, C.mac, ip))
            probs, _ = wait_stats(A.ns, before, exp)
            t.ok(not probs, "membership: C forging B's packet to A %s under %s -> %s"
                 % (f, what, ", ".join(sorted({c for _, c in exp}))), "\n".join(probs))
        inj.close()
    for x, y in ((A, B), (A, D), (B, D)):
        for v6 in (False, True):
            ok, o = topo.ping(x, y, v6)
            t.ok(ok, "membership: remaining members %s -> %s %s still talk" % (x, y, fam(v6)), o)
    # A -> B traffic is under epoch 2, which C cannot verify
    sn = Sniffer(BRNS, A.port)
    topo.ping(A, B, count=1)
    fr = sn.read(2, lambda f: parse_frame(f) is not None and parse_frame(f).akm is not None, 1)
    sn.close()
    p = parse_frame(fr[0]) if fr else None
    t.ok(p and p.akm["epoch"] == 2 and not verify_pkt(p, topo.keys[1], alg)
         and verify_pkt(p, topo.keys[2], alg),
         "membership: group traffic is under epoch 2; C's key 1 does not verify it", repr(p))


# ---------------------------------------------------------------------------
# grace period


def group_grace(t, topo):
    alg = topo.alg
    A, B, C, D = topo.nodes
    topo.grace = 2
    topo.akm()
    mon_path = os.path.join(topo.tmp, "mon")
    mon = topo.start([AKMCTL, "-j", "monitor"], ns=B.ns, stdout=open(mon_path, "w"))
    inj = Injector(topo.E.ns, "eth0")
    rx = udp_socket(B.ns, B.v4, 7000)
    time.sleep(0.3)
    path = topo.new_key(2)
    for n in topo.nodes:
        akmctl(n.ns, "key", "install", "asr", 1, "epoch", 2, "file", path)
    # B last: its grace period is the one measured
    for n in (A, C, D, B):
        akmctl(n.ns, "key", "activate", "asr", 1, "epoch", 2)
    t_act = time.time()

    def forge_d(seq):
        inner = udp(D.v4, B.v4, 1, 7000, b"old epoch %d" % seq)
        ip = akm_packet(D.v4, B.v4, 17, inner, 1, 1, D.id, seq, topo.keys[1], alg)
        before = stats(B.ns)
        inj.send(eth(B.mac, topo.E.mac, ip))
        return before, len(inner)

    before, ln = forge_d(500)
    probs, _ = wait_stats(B.ns, before, {("asr:1", "rx_packets"): 1, ("asr:1", "rx_bytes"): ln,
                                         ("asr:1/node:4", "rx_packets"): 1,
                                         ("asr:1/node:4", "rx_bytes"): ln})
    got = udp_recv_all(rx, 1.0, want=1)
    t.ok(not probs and len(got) == 1,
         "grace: right after activation, a packet under the previous epoch 1 is accepted",
         "\n".join(probs) + " got %d" % len(got))
    ks = akmctl_json(B.ns, "key", "show", "asr", 1) or []
    dt = time.time() - t_act
    t.ok((1, "previous") in [(k["epoch"], k["state"]) for k in ks] and dt < 2,
         "grace: %.1f s after activation (grace 2 s) epoch 1 is still previous on B" % dt,
         repr(ks))
    time.sleep(max(0, t_act + 4.0 - time.time()))
    left = {}
    for n in topo.nodes:
        ks = akmctl_json(n.ns, "key", "show", "asr", 1) or []
        if any(k["epoch"] == 1 for k in ks):
            left[str(n)] = ks
    t.ok(not left, "grace: 4 s after activation (grace 2 s) epoch 1 is retired on every node",
         "epoch 1 still installed on %s: %r" % (sorted(left), left))
    before, ln = forge_d(501)
    probs, _ = wait_stats(B.ns, before, {("asr:1", "drop_unknown_epoch"): 1,
                                         ("asr:1/node:4", "drop_unknown_epoch"): 1})
    got = udp_recv_all(rx, 0)
    t.ok(not probs and not got,
         "grace: after the grace period a packet under epoch 1 -> drop_unknown_epoch",
         "\n".join(probs) + " (delivered: %d)" % len(got))
    topo.stop(mon)
    ev = [json.loads(l) for l in open(mon_path) if l.strip().startswith("{")]
    ret = [e for e in ev if e.get("event") == "key-retire" and e.get("epoch") == 1]
    t.ok(len(ret) == 1 and ret[0].get("asr") == 1,
         "grace: akmctl monitor on B saw one key-retire event for ASR 1 epoch 1",
         "events seen: %s" % ", ".join("%s/%s" % (e.get("event"), e.get("epoch", "")) for e in ev))
    for v6 in (False, True):
        ok, o = topo.ping(A, B, v6)
        t.ok(ok, "grace: A -> B %s under epoch 2 after the grace period" % fam(v6), o)
    inj.close()
    rx.close()


# ---------------------------------------------------------------------------
# module unload under traffic, reload


TAINT_BAD = 16 | 32 | 128 | 512 | 16384   # M, B, D (oops/BUG), W (WARN), L


def tainted():
    with open("/proc/sys/kernel/tainted") as f:
        return int(f.read())


def kmsg(msg):
    try:
        with open("/dev/kmsg", "w") as f:
            f.write(msg + "\n")
    except OSError:
        pass


def dmesg_since(marker):
    out = sh(["dmesg"], check=False).stdout
    i = out.rfind(marker)
    return out[i:] if i >= 0 else out


def module_loaded():
    return os.path.isdir("/sys/module/akm")


def akm_module_path():
    m = os.environ.get("AKM_MODULE") or os.path.join(REPO, "build", os.uname().release, "akm.ko")
    return m if os.path.isabs(m) else os.path.join(REPO, m)


def insmod(*params):
    sh(["modprobe", "nf_defrag_ipv6"], check=False)
    return sh(["insmod", akm_module_path()] + list(params), check=False, timeout=120)


def group_unload(t, topo):
    A, B = topo.A, topo.B
    if not module_loaded():
        t.ok(False, "unload: akm is loaded at the start")
        return
    topo.grace = 1
    topo.akm()
    marker, taint0 = watch_kernel("unload")
    ok, o = topo.ping(A, B)
    t.ok(ok, "unload: A <-> B authenticated before the unload", o)
    # traffic: floods both ways, a TCP stream, a monitor, pending work
    procs = [topo.start(["ping", "-f", "-q", "-w", "60", B.v4], ns=A.ns),
             topo.start(["ping", "-6", "-f", "-q", "-w", "60", A.v6], ns=B.ns),
             topo.start(["iperf3", "-s", "-p", "5302"], ns=B.ns),
             topo.start([AKMCTL, "-j", "monitor"], ns=A.ns)]
    wait_for(lambda: tcp_listening(B.ns, 5302), 10)
    procs.append(topo.start(["iperf3", "-c", B.v4, "-p", "5302", "-t", "30"], ns=A.ns))
    time.sleep(1.0)
    # an activation (grace 1 s: retire work pending) and failures (event pending)
    path = topo.new_key(2)
    for n in (A, B):
        akmctl(n.ns, "key", "install", "asr", 1, "epoch", 2, "file", path)
        akmctl(n.ns, "key", "activate", "asr", 1, "epoch", 2)
    # forged packets all along (bad tag, unknown ASR): failures are counted
    # and announced (fail_work) while the module goes away
    bogus = [eth(B.mac, topo.E.mac, akm_packet(A.v4, B.v4, 17, b"x" * 8, asr, 2, 1,
                                               90000 + i, os.urandom(32), topo.alg))
             for i in range(16) for asr in (1, 77)]
    stop = threading.Event()
    sent = [0]

    def flood():
        inj = Injector(topo.E.ns, "eth0")
        while not stop.is_set():
            for f in bogus:
                inj.send(f)
            sent[0] += len(bogus)
            time.sleep(0.002)
        inj.close()
    fl = threading.Thread(target=flood)
    fl.start()
    st0 = stats(B.ns)
    time.sleep(0.5)
    st1 = stats(B.ns)
    flowing = st1["asr:1"]["rx_packets"] - st0["asr:1"]["rx_packets"]
    t.ok(flowing > 0, "unload: traffic is flowing (%d packets authenticated in 0.5 s)" % flowing)
    t0 = time.time()
    p = sh(["rmmod", "akm"], check=False, timeout=120)
    t.ok(p.returncode == 0 and not module_loaded(),
         "unload: rmmod akm under traffic and forged packets (%.1fs)" % (time.time() - t0),
         p.stderr)
    # fail_work runs a second after a failure: give a stray timer time to fire
    time.sleep(2.5)
    stop.set()
    fl.join(10)
    t.diag("forged packets sent during the test: %d" % sent[0])
    alive = [pr.args[-1] for pr in procs if pr.poll() is not None]
    for pr in procs:
        topo.stop(pr, 2)
    t.diag("processes that had ended by themselves: %r" % alive)
    ok, o = topo.ping(A, B)
    t.ok(ok, "unload: without the module A <-> B talk in plain", o)
    time.sleep(0.5)
    kernel_clean(t, "unload", marker, taint0)

    # reload with another protocol number, then with the default
    for params, proto in ((["proto=254"], 254), ([], 253)):
        if module_loaded():
            sh(["rmmod", "akm"], check=False, timeout=120)
        p = insmod(*params)
        t.ok(p.returncode == 0 and module_loaded(), "unload: insmod %s %s" % (
            os.path.basename(akm_module_path()), " ".join(params)), p.stderr)
        if not module_loaded():
            continue
        # the old namespaces start empty: node id 0, no ASR
        j = akmctl_json(A.ns, "node")
        t.ok(j and j.get("asr_count") == 0,
             "unload: after reload A's namespace starts empty", repr(j))
        topo.keys = {}
        topo.akm(nodes=[A, B])
        sn = Sniffer(BRNS, A.port)
        ok, o = topo.ping(A, B)
        fr = sn.read(2, lambda f: parse_frame(f) is not None and parse_frame(f).dst == B.v4, 1)
        sn.close()
        pk = parse_frame(fr[0]) if fr else None
        st = stats(B.ns)
        t.ok(ok and pk and pk.proto == proto and st["asr:1"]["rx_packets"] >= 2,
             "unload: after insmod %s: A -> B authenticated, IP protocol %d on the wire"
             % (" ".join(params) or "(defaults)", proto), "%s %r %r" % (o, pk, st.get("asr:1")))
        for n in (A, B):
            akmctl(n.ns, "asr", "del", 1, check=False)
    if not module_loaded():
        insmod()
    t.ok(module_loaded(), "unload: akm is loaded at the end (default parameters)")
    bad = kernel_reports(marker)
    t.ok(not bad and (tainted() & TAINT_BAD) == (taint0 & TAINT_BAD),
         "unload: still no BUG/WARNING after the reloads", "\n".join(bad[:30]))


# ---------------------------------------------------------------------------
# mutate: a mutating packet sender against the live hook
#
# Authentic AKM packets from A to B are captured on the wire but never
# delivered (A's neighbour entry for B points to a MAC nobody has), then
# mutated and injected towards B from the non-member E and from member C's
# port. Every packet that reaches B addressed to it with protocol 253 ends
# in exactly one AKM verdict (kernel/in.c akm_verify): node drop_malformed
# or drop_unknown_asr, or ASR drop_not_member, drop_unknown_epoch,
# drop_replay, drop_bad_tag or rx_packets; a plain packet from a member
# address in drop_plain. So per class of mutation, the sum of those deltas
# is the number of datagrams IP handed to LOCAL_IN: exact where the
# mutation leaves the IP header valid, at most the number sent otherwise.
# rx_packets moves only for mutations that leave every authenticated byte
# intact, and at most once per captured sequence number.

AKM_VERDICTS = (("node", "drop_malformed"), ("node", "drop_unknown_asr"),
                ("asr:1", "drop_not_member"), ("asr:1", "drop_unknown_epoch"),
                ("asr:1", "drop_replay"), ("asr:1", "drop_bad_tag"),
                ("asr:1", "rx_packets"))
PLAIN_VERDICTS = (("asr:1", "drop_plain"), ("asr:1", "accept_plain"))
MEMBER_COUNTED = ("drop_unknown_epoch", "drop_replay", "drop_bad_tag", "rx_packets",
                  "drop_plain")
REPORT_RE = (r"BUG|WARNING|Oops|general protection|refcount_t|UBSAN|KASAN|"
             r"list_del corruption|use-after-free|stack-protector|soft lockup|"
             r"circular locking|suspicious RCU|inconsistent lock state|"
             r"sleeping function called")


def kernel_reports(marker):
    return [l for l in dmesg_since(marker).splitlines() if re.search(REPORT_RE, l)]


def watch_kernel(name):
    """Mark dmesg and note the taint before a group's faults; returns both
    for kernel_clean()."""
    marker = "akm-pkt: %s test %d" % (name, os.getpid())
    kmsg(marker)
    return marker, tainted()


def kernel_clean(t, name, marker, taint0):
    """No kernel report in dmesg since the marker, no new WARN/BUG taint."""
    bad = kernel_reports(marker)
    t.ok(not bad, "%s: no BUG/WARNING/KASAN/UBSAN/lockdep report in dmesg" % name,
         "\n".join(bad[:40]))
    t1 = tainted()
    t.ok((t1 & TAINT_BAD) == (taint0 & TAINT_BAD),
         "%s: kernel not tainted by a WARN/BUG (tainted %d -> %d)" % (name, taint0, t1))


def verdicts(st):
    return {k + " " + c: st.get(k, {}).get(c, 0) for k, c in AKM_VERDICTS + PLAIN_VERDICTS}


def vdelta(before, after):
    d = {k: after[k] - before[k] for k in after}
    akm = sum(v for k, v in d.items() if "drop_plain" not in k and "accept_plain" not in k)
    return d, akm, d["asr:1 drop_plain"] + d["asr:1 accept_plain"]


def settled_stats(ns, timeout=15.0):
    """B's counters once two reads 0.3 s apart agree (packets still in a
    backlog queue are counted by then)."""
    prev = stats(ns)
    end = time.time() + timeout
    while time.time() < end:
        time.sleep(0.3)
        cur = stats(ns)
        if cur == prev:
            return cur
        prev = cur
    return prev


def softnet_drops():
    """The per-CPU backlog drops (second column of /proc/net/softnet_stat)."""
    try:
        with open("/proc/net/softnet_stat") as f:
            return sum(int(l.split()[1], 16) for l in f if l.split())
    except OSError:
        return 0


def write_sysctl(path, val, ns=None):
    """Write a sysctl (in namespace ns); returns the old value or None."""
    try:
        with (netns(ns) if ns else contextlib.nullcontext()):
            with open(path) as f:
                old = f.read().strip()
            with open(path, "w") as f:
                f.write(str(val))
        return old
    except OSError:
        return None


class Base:
    """A captured authentic AKM packet: raw IP bytes, where the AKM header
    starts (after IPv4 options or the IPv6 hop-by-hop header), which byte
    names the protocol, and the UDP payload it carries (None for ICMP)."""

    def __init__(self, kind, raw, pool):
        self.kind, self.raw, self.pool = kind, bytes(raw), pool
        self.v6 = raw[0] >> 4 == 6
        if self.v6:
            self.hbh = raw[6] == 0
            self.nh = 40 + ((raw[41] + 1) * 8 if self.hbh else 0)
            self.protoff = 40 if self.hbh else 6
        else:
            self.hbh = False
            self.nh = (raw[0] & 15) * 4
            self.protoff = 9
        a = raw[self.nh:self.nh + AKM_HLEN]
        self.akm_ok = raw[self.protoff] == AKM_PROTO and len(a) == AKM_HLEN
        self.nexthdr = a[0] if a else None
        self.seq = struct.unpack("!I", a[16:20])[0] if self.akm_ok else None
        inner = raw[self.nh + AKM_HLEN:]
        self.payload = inner[8:] if self.nexthdr == 17 else None

    def __repr__(self):
        return "%s seq %s" % (self.kind, self.seq)


def set_len(b, v6):
    """Make the IP length field match the buffer (and the IPv4 checksum)."""
    b = bytearray(b)
    if v6:
        b[4:6] = struct.pack("!H", len(b) - 40)
        return bytes(b)
    b[2:4] = struct.pack("!H", len(b))
    return fix_ipv4_csum(bytes(b))


def frag4(raw, pieces, ident, mf=False):
    """IPv4 fragments of raw: pieces is a list of (offset, length) of the
    data after the header, multiples of 8 except the last. Non-first
    fragments carry no options (record route is not copied)."""
    ihl = (raw[0] & 15) * 4
    data = raw[ihl:]
    out = []
    for off, ln in pieces:
        h = bytearray(raw[:ihl] if off == 0 else bytes([0x45]) + raw[1:20])
        more = mf or off + ln < len(data)
        h[4:6] = struct.pack("!H", ident)
        h[6:8] = struct.pack("!H", (0x2000 if more else 0) | (off // 8))
        body = data[off:off + ln]
        h[2:4] = struct.pack("!H", len(h) + len(body))
        out.append(fix_ipv4_csum(bytes(h) + body))
    return out


def frag6(base, pieces, ident, mf=False):
    """IPv6 fragments: the fragment header after the fixed header (and the
    hop-by-hop header), the AKM header and payload fragmented."""
    raw = base.raw
    unf = bytearray(raw[:base.nh])
    nxt = unf[base.protoff]
    unf[base.protoff] = 44
    data = raw[base.nh:]
    out = []
    for off, ln in pieces:
        more = mf or off + ln < len(data)
        fh = struct.pack("!BBHI", nxt, 0, off | (1 if more else 0), ident)
        out.append(set_len(bytes(unf) + fh + data[off:off + ln], True))
    return out


def split(rng, n, tiny=False):
    """2-6 fragments of n bytes (boundaries multiples of 8; the first one 8
    bytes long if tiny): a list of (offset, length)."""
    slots = (n - 1) // 8	# possible boundaries 8, 16, ..., below n
    k = min(rng.randint(2, 6), slots + 1)
    cuts = sorted(rng.sample(range(1, slots + 1), k - 1))
    if tiny and cuts and cuts[0] != 1:
        cuts = sorted(set([1] + cuts[1:]))
    b = [0] + [c * 8 for c in cuts] + [n]
    return [(b[i], b[i + 1] - b[i]) for i in range(len(b) - 1)]


class Mutations:
    """Generators of mutated packets, one per class; each returns a list of
    (frames, verdicts, intact_base) items: the IP packets to send in order,
    the number of AKM/plain verdicts they must produce at B (None: unknown,
    at most 1), and the base if the item leaves it authentic (so the first
    such item of a fresh base is accepted)."""

    def __init__(self, rng, bases, B, members, E):
        self.r, self.bases, self.B, self.members, self.E = rng, bases, B, members, E
        self.ident = rng.randrange(1 << 16)

    def pick(self, pool=None):
        b = self.r.choice([b for b in self.bases if pool is None or b.pool == pool])
        self.v6 = b.v6
        return b

    def next_id(self):
        self.ident = (self.ident + 1) & 0xFFFF
        return self.ident

    def byte_mut(self, b, lo, hi, n=None):
        """1-4 random bit flips or byte overwrites in b[lo:hi] (changed)."""
        r = self.r
        b = bytearray(b)
        for _ in range(n or r.randint(1, 4)):
            i = r.randrange(lo, hi)
            if r.random() < 0.5:
                b[i] ^= 1 << r.randrange(8)
            else:
                b[i] = (b[i] + r.randint(1, 255)) & 0xFF
        return bytes(b)

    # the AKM header, tag and payload: IP accepts all, none verifies
    def akm(self):
        b = self.pick()
        ip = self.byte_mut(b.raw, b.nh, len(b.raw))
        while ip == b.raw:
            ip = self.byte_mut(b.raw, b.nh, len(b.raw))
        return [([ip], 1, None)]

    # the IP header (IPv4 with options, IPv6 with hop-by-hop), lengths, IHL,
    # version, protocol, addresses included: bounded
    def iphdr(self):
        r = self.r
        b = self.pick("iphdr")
        ip = self.byte_mut(b.raw, 0, b.nh, r.randint(1, 3))
        if not b.v6 and r.random() < 0.7:
            ip = fix_ipv4_csum(ip) if 5 <= (ip[0] & 15) and (ip[0] & 15) * 4 <= len(ip) else ip
        return [([ip], None, None)]

    # fields the tag does not cover: TTL, TOS, ID, DF / hop limit, class,
    # flow label: authentic, accepted once per sequence number
    def mutable(self):
        r = self.r
        b = self.pick("mutable")
        ip = bytearray(b.raw)
        if b.v6:
            vtf = struct.unpack("!I", ip[0:4])[0]
            vtf = (6 << 28) | (r.getrandbits(8) << 20) | r.getrandbits(20)
            ip[0:4] = struct.pack("!I", vtf)
            ip[7] = r.randint(0, 255)
        else:
            ip[1] = r.getrandbits(8)
            ip[4:6] = struct.pack("!H", r.getrandbits(16))
            ip[6] ^= 0x40 if r.random() < 0.5 else 0
            ip[8] = r.randint(1, 255)
            ip = bytearray(fix_ipv4_csum(bytes(ip)))
        return [([bytes(ip)], 1, b)]

    # truncated and extended, IP length fixed or not
    def length(self):
        r = self.r
        x = r.randrange(4)
        if x == 3:	# trailing bytes beyond the IP length: trimmed by IP
            b = self.pick("extend")
            return [([b.raw + r.randbytes(r.randint(1, 64))], 1, b)]
        b = self.pick()
        if x == 0:	# truncated, length fixed
            ip = set_len(b.raw[:r.randrange(b.nh, len(b.raw))], b.v6)
            return [([ip], 1, None)]
        if x == 1:	# extended, length fixed
            ip = set_len(b.raw + r.randbytes(r.randint(1, 64)), b.v6)
            return [([ip], 1, None)]
        # truncated, length not fixed: IP drops it
        return [([b.raw[:r.randrange(b.nh, len(b.raw))]], 0, None)]

    # bytes inserted into or deleted from the AKM header, tag or payload
    def insdel(self):
        r = self.r
        b = self.pick()
        i = r.randrange(b.nh, len(b.raw) + 1)
        n = r.randint(1, 8)
        if r.random() < 0.5 or i + n > len(b.raw):
            ip = b.raw[:i] + r.randbytes(n) + b.raw[i:]
        else:
            ip = b.raw[:i] + b.raw[i + n:]
        return [([set_len(ip, b.v6)], 1, None)]

    # random AKM headers over random payloads, from members' and other
    # addresses
    def random(self):
        r = self.r
        v6 = self.v6 = r.random() < 0.5
        src = r.choice(self.members + [self.E])
        sender = src.id if r.random() < 0.6 else r.randint(0, 6)
        h = struct.pack("!BBHIIII", r.choice((17, 1, 58, 6, r.randint(0, 255))),
                        1 if r.random() < 0.9 else r.randint(0, 255),
                        0 if r.random() < 0.9 else r.getrandbits(16),
                        1 if r.random() < 0.7 else r.getrandbits(32),
                        r.choice((1, 1, 1, 0, 2, r.getrandbits(32))), sender,
                        r.getrandbits(32))
        body = h + r.randbytes(16) + r.randbytes(r.choice((0, 8, r.randint(0, 1200))))
        return [([ip_packet(src.addr(v6), self.B.addr(v6), AKM_PROTO, body)], 1, None)]

    # the same authentic packet several times
    def dup(self):
        b = self.pick("dup")
        n = self.r.randint(2, 5)
        return [([b.raw], 1, b) for _ in range(n)]

    # fragments: complete sets in any order (with duplicate fragments),
    # a fragment mutated, a missing first/middle/last fragment, overlapping
    # fragments (the queue is discarded: RFC 5722, also for IPv4 in Linux)
    def frag(self):
        r = self.r
        x = r.randrange(6)
        b = self.pick("frag") if x in (0, 1, 5) else self.pick()
        pieces = split(r, len(b.raw) - b.nh, tiny=r.random() < 0.3)
        ident = r.getrandbits(32) if b.v6 else self.next_id()

        def make(ps, mf=False):
            return frag6(b, ps, ident, mf) if b.v6 else frag4(b.raw, ps, ident, mf)
        fr = make(pieces)
        if x == 5:	# complete, in order
            return [(fr, 1, b)]
        if x == 0:	# complete, shuffled
            r.shuffle(fr)
            return [(fr, 1, b)]
        if x == 1:	# complete, a fragment duplicated, maybe reversed
            d = r.randrange(len(fr))
            fr = fr[:d + 1] + [fr[d]] + fr[d + 1:]
            if r.random() < 0.5:
                fr.reverse()
            return [(fr, 1, b)]
        if x == 2:	# complete, one fragment's data mutated
            i = r.randrange(len(fr))
            f = fr[i]
            if b.v6:
                hl = 48 + ((f[41] + 1) * 8 if f[6] == 0 else 0)
            else:
                hl = (f[0] & 15) * 4
            fr[i] = self.byte_mut(f, hl, len(f))
            if not b.v6:
                fr[i] = fix_ipv4_csum(fr[i])
            return [(fr, 1, None)]
        if x == 3:	# the first, the last or any fragment missing
            del fr[r.choice((0, len(fr) - 1, r.randrange(len(fr))))]
            r.shuffle(fr)
            return [(fr, 0, None)]
        # after the first fragment, one that straddles its end: the queue is
        # discarded, and the fragments that follow lack the first one. (A
        # fragment inside the first one would be ignored as a duplicate, and
        # an IPv6 one with MF and a length not a multiple of 8 is passed on
        # as it is: 16 bytes from ln0 - 8, or up to the end as the last one.)
        ln0 = pieces[0][1]
        n = len(b.raw) - b.nh
        if n - ln0 >= 8:
            ov = make([(ln0 - 8, 16)], mf=True)
        else:
            ov = make([(ln0 - 8, n - ln0 + 8)])
        return [([fr[0]] + ov + fr[1:], 0, None)]


MUT_CLASSES = (("akm", 30), ("iphdr", 14), ("length", 12), ("insdel", 10), ("random", 14),
               ("frag", 10), ("dup", 5), ("mutable", 5))


def capture_bases(t, topo, rng, per_kind):
    """per_kind authentic, never delivered AKM packets from A to B of each
    kind: UDP and ICMP echo over IPv4 and IPv6, UDP over IPv4 with a record
    route option and over IPv6 with a hop-by-hop header."""
    A, B = topo.A, topo.B
    for v6 in (False, True):
        sh(["ip", "-6" if v6 else "-4", "neigh", "replace", B.addr(v6), "lladdr",
            "02:00:00:00:00:ee", "dev", "eth0", "nud", "permanent"], ns=A.ns)
    sn = Sniffer(BRNS, A.port)
    pings = [topo.start(["ping"] + (["-6"] if v6 else []) +
                        ["-n", "-q", "-c", str(per_kind), "-i", "0.01", "-W", "1", "-s",
                         str(rng.randint(16, 600)), B.addr(v6)], ns=A.ns) for v6 in (False, True)]
    for kind, v6, opt in (("udp4", False, None), ("udp6", True, None),
                          ("opt4", False, (socket.IPPROTO_IP, 4, bytes([1, 7, 11, 4] + [0] * 8))),
                          ("hbh6", True, (socket.IPPROTO_IPV6, 54, bytes([0, 0, 1, 4, 0, 0, 0, 0])))):
        s = udp_socket(A.ns, A.addr(v6))
        if opt:
            s.setsockopt(*opt)
        for i in range(per_kind):
            s.sendto(b"akm-mutate-%s-%03d-" % (kind.encode(), i) +
                     rng.randbytes(rng.randint(0, 900)), (B.addr(v6), 7000))
        s.close()
    for p in pings:
        p.wait(20)
    frames = sn.read(10.0, lambda f: (parse_frame(f) is not None and
                                      parse_frame(f).dst in (B.v4, B.v6)), idle=1.0)
    sn.close()
    for v6 in (False, True):
        sh(["ip", "-6" if v6 else "-4", "neigh", "replace", B.addr(v6), "lladdr", B.mac,
            "dev", "eth0", "nud", "permanent"], ns=A.ns)
    kinds = {}
    for f in frames:
        b = Base("?", f[14:], None)
        if not b.akm_ok:
            continue
        if b.v6:
            b.kind = "hbh6" if b.hbh else {17: "udp6", 58: "icmp6"}.get(b.nexthdr, "?")
        else:
            b.kind = "opt4" if b.nh > 20 else {17: "udp4", 1: "icmp4"}.get(b.nexthdr, "?")
        kinds.setdefault(b.kind, []).append(b)
    pools = ("mutable", "mutable", "dup", "dup", "extend", "extend", "frag", "frag",
             "iphdr", "iphdr")
    bases = []
    got = {k: len(v) for k, v in sorted(kinds.items())}
    for kind, bs in kinds.items():
        bs.sort(key=lambda b: b.seq)
        for i, b in enumerate(bs[:per_kind]):
            b.pool = pools[i % len(pools)]
        bases += bs[:per_kind]
    t.ok(sorted(got) == ["hbh6", "icmp4", "icmp6", "opt4", "udp4", "udp6"] and
         all(n >= per_kind for n in got.values()),
         "mutate: captured %d authentic, undelivered AKM packets from A of each kind "
         "(UDP, ICMP echo, IPv4 record route, IPv6 hop-by-hop)" % per_kind, "captured: %r" % got)
    return bases


class Receiver:
    """B's UDP port 7000 (IPv4 and IPv6, any address): every datagram and
    its source, read by a thread."""

    def __init__(self, ns):
        self.socks = []
        for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            with netns(ns):
                s = socket.socket(fam, socket.SOCK_DGRAM)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)	# SO_RCVBUFFORCE
            s.bind((addr, 7000))
            self.socks.append(s)
        self.got = []
        self.stop = threading.Event()
        self.th = threading.Thread(target=self.run)
        self.th.start()

    def run(self):
        while not self.stop.is_set():
            r, _, _ = select.select(self.socks, [], [], 0.2)
            for s in r:
                data, addr = s.recvfrom(65535)
                self.got.append((addr[0], data))

    def close(self):
        time.sleep(0.5)
        self.stop.set()
        self.th.join(5)
        for s in self.socks:
            s.close()


def group_mutate(t, topo):
    alg = topo.alg
    A, B, C, D = topo.nodes
    E = topo.E
    total = int(os.environ.get("AKM_PKT_MUTATIONS", "50000"))
    seed = int(os.environ.get("AKM_PKT_SEED") or random.SystemRandom().randrange(1 << 32))
    t.diag("mutate: seed %d (AKM_PKT_SEED=%d repeats the mutations over new captures), "
           "%d mutated packets (AKM_PKT_MUTATIONS)" % (seed, seed, total))
    rng = random.Random(seed)
    topo.akm()
    marker, taint0 = watch_kernel("mutate")
    for v6 in (False, True):
        topo.ping(A, B, v6)
    old_backlog = write_sysctl("/proc/sys/net/core/netdev_max_backlog", 100000)
    write_sysctl("/proc/sys/net/ipv4/ipfrag_high_thresh", 256 << 20, B.ns)
    write_sysctl("/proc/sys/net/netfilter/nf_conntrack_frag6_high_thresh", 256 << 20, B.ns)
    # Reassembly queues that a class leaves behind (fragment bits flipped by
    # iphdr, sets missing a fragment) must not take in the fragments of a
    # later set that happens to reuse their IP ID: they expire after 1 s,
    # and mutate_run() lets that time pass before the frag class.
    for path in ("ipv4/ipfrag_time", "ipv6/ip6frag_time", "netfilter/nf_conntrack_frag6_timeout"):
        write_sysctl("/proc/sys/net/" + path, 1, B.ns)
    rcv = None
    try:
        rcv = Receiver(B.ns)
        bases = capture_bases(t, topo, rng, 10)
        if bases:
            mutate_run(t, topo, rng, bases, rcv, total)
    finally:
        if rcv:
            rcv.close()
        if old_backlog is not None:
            write_sysctl("/proc/sys/net/core/netdev_max_backlog", old_backlog)
    members = {n.addr(v6) for n in topo.nodes for v6 in (False, True)}
    auth = {b.payload: b for b in bases if b.payload is not None}
    seen, forged, others = {}, [], []
    for src, data in rcv.got:
        if src.startswith("::ffff:"):
            src = src[7:]
        if src not in members:
            others.append((src, data[:40]))
        elif data not in auth:
            forged.append((src, data[:60]))
        else:
            seen[data] = seen.get(data, 0) + 1
    t.ok(not forged and all(n == 1 for n in seen.values()),
         "mutate: every datagram B's UDP socket got from a member address is an authentic "
         "payload, each at most once (%d delivered)" % sum(seen.values()),
         "not authentic: %r; more than once: %r" % (
             forged[:5], [(auth[d], n) for d, n in seen.items() if n > 1][:5]))
    want = {b.payload for b in bases if b.payload is not None and getattr(b, "accepted", False)}
    t.ok(want <= set(seen),
         "mutate: the payload of every captured UDP packet sent intact was delivered "
         "(%d packets)" % len(want),
         "missing: %r" % [auth[d] for d in want - set(seen)][:10])
    if others:
        t.diag("datagrams from non-member addresses (not policed): %d, e.g. %r"
               % (len(others), others[:3]))
    st0 = stats(B.ns)
    for v6 in (False, True):
        ok, o = topo.ping(A, B, v6)
        t.ok(ok, "mutate: afterwards A <-> B %s still authenticated" % fam(v6), o)
    st1 = stats(B.ns)
    t.ok(st1["asr:1/node:1"]["rx_packets"] > st0["asr:1/node:1"]["rx_packets"],
         "mutate: B's rx_packets from A grow afterwards",
         "%r -> %r" % (st0["asr:1/node:1"], st1["asr:1/node:1"]))
    time.sleep(0.5)
    kernel_clean(t, "mutate", marker, taint0)


def mutate_run(t, topo, rng, bases, rcv, total):
    A, B, C = topo.A, topo.B, topo.C
    E = topo.E
    m = Mutations(rng, bases, B, [A, C, topo.D], E)
    send = {}
    for x in (E, C):
        inj = Injector(x.ns, "eth0")
        send[x.letter] = (inj, mac_bytes(B.mac) + mac_bytes(x.mac))
    et = {False: struct.pack("!H", 0x0800), True: struct.pack("!H", 0x86DD)}
    icmp0 = snmp(B.ns)
    st_start = before = settled_stats(B.ns)
    wsum = sum(w for _, w in MUT_CLASSES)
    consumed = set()	# bases accepted (or, for iphdr, possibly accepted)
    tot_frames = tot_time = 0
    table = []
    for cls, w in MUT_CLASSES:
        n = max(1, total * w // wsum)
        gen = getattr(m, cls)
        items, nfr = [], 0
        while nfr < n:
            for frames, v, ib in gen():
                items.append((frames, v, ib, m.v6))
                nfr += len(frames)
        if cls == "frag":
            time.sleep(1.5)	# the queues of earlier classes expire (1 s)
        sd0 = softnet_drops()
        t0 = time.time()
        for i, (frames, _, _, v6) in enumerate(items):
            inj, hdr = send["E" if i % 2 == 0 else "C"]
            for ip in frames:
                inj.send(hdr + et[v6] + ip)
        dt = time.time() - t0
        after = settled_stats(B.ns)
        sd = softnet_drops() - sd0
        tot_frames += nfr
        tot_time += dt
        d, akm_n, plain_n = vdelta(verdicts(before), verdicts(after))
        rx = d["asr:1 rx_packets"]
        exact = all(v is not None for _, v, _, _ in items)
        lo = sum(v for _, v, _, _ in items if v is not None)
        hi = sum(1 if v is None else v for _, v, _, _ in items)
        if cls == "iphdr":	# any of its pool may have been left intact
            fresh = {id(b): b for b in bases if b.pool == "iphdr" and id(b) not in consumed}
        else:
            fresh = {id(ib): ib for _, _, ib, _ in items
                     if ib is not None and id(ib) not in consumed}
        moved = ", ".join("%s %d" % (k, v) for k, v in sorted(d.items()) if v)
        desc = ("mutate: %s: %d packets (%d datagrams) from E and C in %.1fs (%.0f/s): "
                % (cls, nfr, len(items), dt, nfr / max(dt, 1e-6)))
        why = "moved: %s; backlog drops %d" % (moved or "nothing", sd)
        if exact:
            t.ok(akm_n + plain_n == lo and plain_n == 0,
                 desc + "exactly one AKM verdict per datagram IP delivers (%d)" % lo,
                 why + "; AKM verdicts %d, plain %d, expected %d" % (akm_n, plain_n, lo))
        else:
            t.ok(1 <= akm_n + plain_n <= hi,
                 desc + "between 1 and %d verdicts (%d AKM, %d plain)" % (hi, akm_n, plain_n), why)
        if cls == "iphdr":
            t.ok(rx <= len(fresh), "mutate: %s: rx_packets +%d, at most once per captured "
                 "packet (%d)" % (cls, rx, len(fresh)), why)
            for b in fresh.values():
                b.maybe = True
        else:
            t.ok(rx == len(fresh), "mutate: %s: rx_packets +%d: once per fresh captured "
                 "packet sent intact (%d), never for altered authenticated bytes"
                 % (cls, rx, len(fresh)), why)
            for b in fresh.values():
                b.accepted = True
        consumed |= set(fresh)
        table.append("%-8s %6d %6d %8.1f/s  %s" % (cls, nfr, len(items), nfr / max(dt, 1e-6),
                                                   moved))
        before = after
    for inj, _ in send.values():
        inj.close()
    t.diag("mutate: %d packets injected in %.1f s (%.0f/s); per class: packets, datagrams, "
           "rate, B's counters moved" % (tot_frames, tot_time, tot_frames / max(tot_time, 1e-6)))
    for line in table:
        t.diag("  " + line)
    # the member counters add up to the ASR's
    probs = []
    for c in MEMBER_COUNTED:
        asr = before["asr:1"][c] - st_start["asr:1"][c]
        mem = sum(before.get("asr:1/node:%d" % n.id, {}).get(c, 0) -
                  st_start.get("asr:1/node:%d" % n.id, {}).get(c, 0) for n in topo.nodes)
        if asr != mem:
            probs.append("%s: ASR +%d, members +%d" % (c, asr, mem))
    t.ok(not probs, "mutate: B's member counters add up to the ASR's", "\n".join(probs))
    rx_all = before["asr:1"]["rx_packets"] - st_start["asr:1"]["rx_packets"]
    acc = sum(1 for b in bases if getattr(b, "accepted", False))
    maybe = sum(1 for b in bases if getattr(b, "maybe", False))
    t.ok(acc <= rx_all <= acc + maybe,
         "mutate: rx_packets +%d in all: never more than once per captured sequence number "
         "(%d captured, %d sent intact, %d maybe intact)" % (rx_all, len(bases), acc, maybe))
    icmp1 = snmp(B.ns)
    for v6, k, key in ((False, "Icmp", "InEchos"), (True, "Ip6", "Icmp6InEchos")):
        got = icmp1[k].get(key, 0) - icmp0[k].get(key, 0)
        kind = "icmp6" if v6 else "icmp4"
        acc = sum(1 for b in bases if b.kind == kind and getattr(b, "accepted", False))
        maybe = sum(1 for b in bases if b.kind == kind and getattr(b, "maybe", False))
        t.ok(acc <= got <= acc + maybe,
             "mutate: %s echo requests that reached ICMP on B: %d (captured sent intact: %d, "
             "maybe intact: %d)" % (fam(v6), got, acc, maybe))


# ---------------------------------------------------------------------------
# faults: keys revoked under traffic, namespaces deleted under traffic


def asr_epochs(ns):
    j = akmctl_json(ns, "asr", "show", 1)
    j = j[0] if isinstance(j, list) else j
    return {k["epoch"]: k for k in (j or {}).get("keys", [])}


def proc_keys():
    with open("/proc/keys") as f:
        return f.read().splitlines()


def new_epoch(topo, nodes, epoch):
    path = topo.new_key(epoch)
    for n in nodes:
        akmctl(n.ns, "key", "install", "asr", 1, "epoch", epoch, "file", path)
    for n in nodes:
        akmctl(n.ns, "key", "activate", "asr", 1, "epoch", epoch)


def rx_from(ns, node_id):
    return stats(ns).get("asr:1/node:%d" % node_id, {}).get("rx_packets", 0)


def group_faults(t, topo):
    A, B, C, D = topo.nodes
    topo.akm()
    marker, taint0 = watch_kernel("faults")
    for v6 in (False, True):
        topo.ping(A, B, v6)
    epoch = 1

    # (a) under floods and a TCP stream between A and B: keyctl cannot touch
    # B's current key or keyring (nor stop the traffic); akmctl key retire,
    # the way to revoke an epoch, stops it at once
    mon_path = os.path.join(topo.tmp, "mon")
    mon = topo.start([AKMCTL, "-j", "monitor"], ns=B.ns, stdout=open(mon_path, "w"))
    srv = topo.start(["iperf3", "-s", "-p", "5303"], ns=B.ns)
    wait_for(lambda: tcp_listening(B.ns, 5303), 10)
    keyring = (akmctl_json(B.ns, "node") or {}).get("keyring")
    procs = [topo.start(["ping", "-f", "-q", "-w", "60", B.v4], ns=A.ns),
             topo.start(["ping", "-6", "-f", "-q", "-w", "60", A.v6], ns=B.ns),
             topo.start(["ping", "-6", "-f", "-q", "-w", "60", B.v6], ns=A.ns),
             topo.start(["iperf3", "-c", B.v4, "-p", "5303", "-t", "60"], ns=A.ns)]
    serial = (asr_epochs(B.ns).get(epoch) or {}).get("serial")
    t.ok(serial and keyring, "faults: B shows its current key's serial and its keyring",
         repr(asr_epochs(B.ns)))
    for op in ("revoke", "invalidate", "unlink", "clear", "setperm", "timeout", "chown"):
        pre = "faults: keyctl %s on B's current key (epoch %d) under traffic: " % (op, epoch)
        cmd = {"revoke": ["revoke", serial], "invalidate": ["invalidate", serial],
               "unlink": ["unlink", serial, keyring], "clear": ["clear", keyring],
               "setperm": ["setperm", serial, "0x3f3f0000"],
               "timeout": ["timeout", serial, "1"], "chown": ["chown", serial, "1"]}[op]
        # as root in another namespace and, where it matters, in B's own
        p = sh(["keyctl"] + [str(x) for x in cmd], ns=C.ns, check=False)
        q = sh(["keyctl"] + [str(x) for x in cmd], ns=B.ns, check=False)
        r0 = rx_from(B.ns, A.id)
        time.sleep(1.2 if op == "timeout" else 0.5)
        r1 = rx_from(B.ns, A.id)
        t.ok(p.returncode and q.returncode and epoch in asr_epochs(B.ns) and r1 > r0,
             pre + "refused, the epoch stays, A's packets still verify (%d in the last "
             "interval)" % (r1 - r0), p.stdout + p.stderr + q.stdout + q.stderr)
    pre = "faults: akmctl key retire of B's current key (epoch %d) under traffic: " % epoch
    t0 = time.time()
    p = sh([AKMCTL, "key", "retire", "asr", "1", "epoch", str(epoch)], ns=B.ns, check=False)
    gone = epoch not in asr_epochs(B.ns)
    t.ok(p.returncode == 0 and gone, pre + "the epoch is gone (%.1fs)" % (time.time() - t0),
         p.stdout + p.stderr)
    s0 = stats(B.ns)
    time.sleep(1.0)
    s1 = stats(B.ns)
    ue = s1["asr:1"]["drop_unknown_epoch"] - s0["asr:1"]["drop_unknown_epoch"]
    rx = s1["asr:1/node:1"]["rx_packets"] - s0["asr:1/node:1"]["rx_packets"]
    nk = s1["asr:1"]["tx_no_key"] - s0["asr:1"]["tx_no_key"]
    t.ok(ue > 0 and rx == 0 and nk > 0, pre + "A's packets are dropped at B as "
         "drop_unknown_epoch (+%d in 1 s), none accepted; B's own packets to A are "
         "dropped as tx_no_key (+%d)" % (ue, nk), "rx from A +%d" % rx)
    # neighbour discovery needs no key: B answers A's solicitation without
    # one (a data packet B sends is dropped before it could trigger any)
    sh(["ip", "-6", "neigh", "flush", "dev", "eth0"], ns=A.ns, check=False)
    sh(["ping", "-6", "-c", "1", "-W", "1", B.v6], ns=A.ns, check=False)
    nb = ""
    for _ in range(20):
        nb = sh(["ip", "-6", "neigh", "show", B.v6, "dev", "eth0"], ns=A.ns).stdout
        if re.search(r"REACHABLE|STALE|DELAY|PROBE", nb):
            break
        time.sleep(0.1)
    t.ok(re.search(r"REACHABLE|STALE|DELAY|PROBE", nb) is not None,
         pre + "B, without a key, still answers A's neighbour solicitation (ND is never "
         "tagged)", nb)
    epoch += 1
    new_epoch(topo, (A, B), epoch)
    r0 = rx_from(B.ns, A.id)
    ok = wait_for(lambda: rx_from(B.ns, A.id) > r0 + 50, 5, 0.2)
    pings = [topo.ping(A, B, v6) for v6 in (False, True)]
    t.ok(ok and all(p[0] for p in pings),
         pre + "after a new epoch %d on A and B, traffic recovers (floods authenticated, "
         "ping A -> B both families)" % epoch, repr(pings))
    for pr in procs:
        topo.stop(pr)
    topo.stop(srv)
    time.sleep(1.2)
    topo.stop(mon)
    ev = [json.loads(l) for l in open(mon_path) if l.strip().startswith("{")]
    kinds = sorted({e.get("event") for e in ev if e.get("epoch") == 1})
    t.ok(kinds == ["key-retire"], "faults: akmctl monitor on B saw epoch 1 retired and "
         "nothing else happen to it", "events about epoch 1: %r" % kinds)
    bad = kernel_reports(marker)
    t.ok(not bad, "faults: no kernel report after the key faults", "\n".join(bad[:40]))

    # (b) D's namespace, with an ASR, members, keys and traffic to and from
    # it, deleted under traffic; then rebuilt
    epoch += 1
    new_epoch(topo, topo.nodes, epoch)
    rounds = int(os.environ.get("AKM_PKT_FAULT_ROUNDS", "3"))
    for rnd in range(1, rounds + 1):
        pre = "faults: round %d: " % rnd
        ino = os.stat("/run/netns/" + D.ns).st_ino
        kr = ".akm:net:%d" % ino
        dkeys = ["%08x" % k["serial"] for k in asr_epochs(D.ns).values()]

        def left():
            return [l for l in proc_keys() if kr in l or l.split()[0] in dkeys]
        t.ok(any(kr in l for l in proc_keys()) and len(left()) == len(dkeys) + 1,
             pre + "D's keyring %s and its %d key(s) are in /proc/keys" % (kr, len(dkeys)),
             "\n".join(left()))
        srv = topo.start(["iperf3", "-s", "-p", "5304"], ns=A.ns)
        wait_for(lambda: tcp_listening(A.ns, 5304), 10)
        dprocs = [topo.start(["ping", "-f", "-q", "-w", "60", A.v4], ns=D.ns),
                  topo.start(["ping", "-6", "-f", "-q", "-w", "60", B.v6], ns=D.ns),
                  topo.start(["iperf3", "-c", A.v4, "-p", "5304", "-t", "60"], ns=D.ns),
                  topo.start([AKMCTL, "-j", "monitor"], ns=D.ns)]
        others = [topo.start(["ping", "-f", "-q", "-w", "60", D.v4], ns=A.ns),
                  topo.start(["ping", "-6", "-f", "-q", "-w", "60", D.v6], ns=C.ns),
                  topo.start(["ping", "-f", "-q", "-w", "60", B.v4], ns=C.ns)]
        r0 = rx_from(A.ns, D.id)
        d0 = rx_from(D.ns, A.id)
        time.sleep(1.0)
        flows = rx_from(A.ns, D.id) - r0, rx_from(D.ns, A.id) - d0
        t.ok(min(flows) > 0, pre + "traffic D -> A and A -> D flows (%d, %d packets in 1 s)"
             % flows)
        t0 = time.time()
        p = sh(["ip", "netns", "del", D.ns], check=False)
        for pr in dprocs:
            topo.stop(pr, 9)
        t.ok(p.returncode == 0, pre + "ip netns del D, D's processes killed, under traffic",
             p.stderr)
        gone = wait_for(lambda: not left(), 60, 0.2)
        dt = time.time() - t0
        t.ok(gone, pre + "D's keyring and keys leave /proc/keys (%.1fs)" % dt,
             "\n".join(left()))
        for x, y in ((A, B), (B, C), (C, A)):
            for v6 in (False, True):
                ok, o = topo.ping(x, y, v6)
                t.ok(ok, pre + "afterwards %s -> %s %s works" % (x, y, fam(v6)), o)
        for pr in others + [srv]:
            topo.stop(pr)
        bad = kernel_reports(marker)
        t.ok(not bad, pre + "no kernel report", "\n".join(bad[:40]))
        # rebuild D, under a new epoch (its sequence numbers start again)
        batch(["netns add " + D.ns])
        batch(["link add eth0 netns %s address %s type veth peer name %s netns %s"
               % (D.ns, D.mac, D.port, BRNS)])
        batch(["link set %s master br0 up" % D.port], ns=BRNS)
        batch(["addr add %s/24 dev eth0" % D.v4, "addr add %s/64 dev eth0 nodad" % D.v6,
               "link set lo up", "link set eth0 up"], ns=D.ns)
        epoch += 1
        topo.akm(nodes=[D], epoch=epoch)
        for n in (A, B, C):
            akmctl(n.ns, "key", "install", "asr", 1, "epoch", epoch, "file", topo.keyfile(epoch))
            akmctl(n.ns, "key", "activate", "asr", 1, "epoch", epoch)
        res = [topo.ping(A, D, v6) for v6 in (False, True)]
        t.ok(all(r[0] for r in res), pre + "D rebuilt (epoch %d): A -> D authenticated, both "
             "families" % epoch, repr(res))
    kernel_clean(t, "faults", marker, taint0)


def set_tx_seq_start(v):
    with open("/sys/module/akm/parameters/tx_seq_start", "w") as f:
        f.write(str(v))


def group_seqlimit(t, topo):
    """A sender's counter past 2^32 (the receiver stays in step) and at its
    end, 2^48 - 1 (nothing more is sent under that epoch). The module
    parameter tx_seq_start (testing only) moves new epochs' counters."""
    A, B = topo.nodes[:2]
    try:
        set_tx_seq_start((1 << 32) - 3)
        topo.akm()
        sn = Sniffer(BRNS, A.port)
        p = sh(["ping", "-n", "-q", "-c", "6", "-i", "0.1", "-W", "2", B.v4], ns=A.ns,
               check=False)
        caps = [parse_frame(fr) for fr in sn.read(3, lambda fr: parse_frame(fr) is not None
                                                  and parse_frame(fr).akm is not None)]
        sn.close()
        seqs = sorted(c.akm["seq"] for c in caps if c.src == A.v4)
        t.ok(p.returncode == 0 and " 6 received" in p.stdout,
             "seqlimit: A's counter crosses 2^32 (from 2^32 - 2): 6 pings, 6 replies",
             p.stdout + p.stderr)
        t.ok(seqs[:1] == [(1 << 32) - 2] and seqs[-1:] == [(1 << 32) + 3],
             "seqlimit: on the wire A's sequence numbers run 2^32 - 2 ... 2^32 + 3 (bits "
             "32-47 in header bytes 2-3)", repr(seqs))
        rx = stats(B.ns)["asr:1/node:1"]
        t.ok(rx["rx_packets"] >= 6 and rx["drop_bad_tag"] == 0,
             "seqlimit: B verified them all", repr(rx))
        set_tx_seq_start((1 << 48) - 3)
        new_epoch(topo, (A, B), 2)
        s0 = stats(A.ns)["asr:1"]["tx_no_key"]
        p = sh(["ping", "-n", "-q", "-c", "5", "-i", "0.2", "-W", "1", B.v4], ns=A.ns,
               check=False)
        s1 = stats(A.ns)["asr:1"]["tx_no_key"]
        sent = asr_epochs(A.ns).get(2, {}).get("tx_seq")
        t.ok(" 2 received" in p.stdout and s1 - s0 == 3 and sent == (1 << 48) - 1,
             "seqlimit: from 2^48 - 2, two pings go through; then the epoch sends nothing "
             "(tx_no_key +%d), its counter shows 2^48 - 1" % (s1 - s0),
             "%s sent=%r" % (p.stdout, sent))
        set_tx_seq_start(0)
        new_epoch(topo, (A, B), 3)
        ok, o = topo.ping(A, B)
        t.ok(ok, "seqlimit: the next epoch starts at 1 and works", repr(o))
    finally:
        set_tx_seq_start(0)


# ---------------------------------------------------------------------------

def group_tagcheck(t, topo):
    """akm_tagcheck --selftest: libsodium reproduces the kernel's known answers."""
    if not os.access(TAGCHECK, os.X_OK):
        t.ok(False, "tagcheck: %s is built (make -C tests on the host)" % TAGCHECK)
        return
    p = sh([TAGCHECK, "--selftest"], check=False)
    for line in p.stdout.splitlines():
        m = re.match(r"(not ok|ok) \d+ (.*)", line)
        if m:
            t.ok(m.group(1) == "ok", "tagcheck: libsodium: " + m.group(2))
    t.ok(p.returncode == 0, "tagcheck: akm_tagcheck --selftest exits 0", p.stdout + p.stderr)


# name: (function, takes an algorithm, nodes, default algorithm, needs a topology)
GROUPS = {
    "tagcheck": (group_tagcheck, False, 0, "hmac-sha256"),
    "connect": (group_connect, True, 4, "hmac-sha256"),
    "attack": (group_attack, True, 4, "hmac-sha256"),
    "policy": (group_policy, False, 4, "hmac-sha256"),
    "rollover": (group_rollover, True, 4, "hmac-sha256"),
    "membership": (group_membership, False, 4, "hmac-sha256"),
    "grace": (group_grace, False, 4, "chacha20-poly1305"),
    "mutate": (group_mutate, False, 4, "hmac-sha256"),
    "faults": (group_faults, False, 4, "hmac-sha256"),
    "seqlimit": (group_seqlimit, False, 2, "chacha20-poly1305"),
    "unload": (group_unload, False, 2, "hmac-sha256"),
}

ALL = ["tagcheck", "connect:hmac-sha256", "connect:chacha20-poly1305",
       "attack:hmac-sha256", "attack:chacha20-poly1305", "policy",
       "rollover:hmac-sha256", "rollover:chacha20-poly1305", "membership", "grace",
       "mutate", "faults", "seqlimit", "unload"]

GROUP_TIMEOUT = int(os.environ.get("AKM_PKT_TIMEOUT", "300"))
# groups that take longer (the mutation count scales with AKM_PKT_MUTATIONS)
GROUP_TIMEOUTS = {"mutate": 1800, "faults": 600}


class GroupTimeout(Exception):
    pass


def _alarm(sig, frame):
    raise GroupTimeout("group timed out")


def run_group(spec, prefix):
    """Run one group as a nested TAP stream; returns its Tap."""
    name, _, alg = spec.partition(":")
    fn, _, nn, dflt = GROUPS[name]
    alg = alg or dflt
    t = Tap("akm packet path: %s%s on %s" % (name, "" if name == "tagcheck" else " " + alg,
                                            os.uname().release), prefix)
    tmp = tempfile.mkdtemp(prefix="akmpkt.")
    global OUTDIR
    OUTDIR = tmp
    if os.environ.get("OUT") and os.access(os.environ["OUT"], os.W_OK):
        OUTDIR = os.path.join(os.environ["OUT"], "pkt")
        os.makedirs(OUTDIR, exist_ok=True)
    if nn and not module_loaded():
        t.ok(False, "%s: akm.ko is loaded" % name)
        return t
    topo = Topo(tmp, n=max(nn, 1), alg=alg)
    t0 = time.time()
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(max(GROUP_TIMEOUT, GROUP_TIMEOUTS.get(name, 0)))
    try:
        if nn:
            topo.build()
        fn(t, topo)
    except Exception:  # noqa: BLE001
        t.ok(False, "%s: the test ran to its end" % name, traceback.format_exc())
    finally:
        signal.alarm(0)
        try:
            topo.destroy()
        except Exception:  # noqa: BLE001
            t.diag(traceback.format_exc())
        if nn and not module_loaded():
            insmod()
    t.diag("%s: %.1fs" % (spec, time.time() - t0))
    return t


def main():
    specs = sys.argv[1:] or os.environ.get("AKM_PKT_GROUPS", "").split() or ALL
    for sp in specs:
        if sp.partition(":")[0] not in GROUPS or (
                sp.partition(":")[2] and sp.partition(":")[2] not in ALGS):
            print("usage: %s [GROUP[:ALG]...]; groups: %s; ALG: %s" % (
                sys.argv[0], " ".join(GROUPS), " ".join(ALGS)), file=sys.stderr)
            return 2
    print("TAP version 13", flush=True)
    print("1..%d" % len(specs), flush=True)
    print("# akm packet-path tests on %s" % os.uname().release, flush=True)
    if os.geteuid() != 0:
        for i, sp in enumerate(specs):
            print("ok %d pkt: %s # SKIP needs root" % (i + 1, sp))
        print("# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:%d error:0" % len(specs))
        return 4
    if not os.access(AKMCTL, os.X_OK):
        print("# %s is not built" % AKMCTL)
    P = F = S = 0
    for i, sp in enumerate(specs):
        t0 = time.time()
        t = run_group(sp, "# ")
        t.finish()
        P, F, S = P + t.passed, F + t.failed, S + t.skipped
        print("%s %d pkt: %s # %.0fs" % ("not ok" if t.failed else "ok", i + 1, sp,
                                           time.time() - t0), flush=True)
    print("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0" % (P, F, S), flush=True)
    return 1 if F else 0


if __name__ == "__main__":
    sys.exit(main())
