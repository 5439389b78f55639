#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""AKM packet-path tests, one group per run (TAP, kselftest Totals line).

    tests/pkt/akm_pkt.py [GROUP[:ALG]...]

GROUP: tagcheck, connect, attack, rollover (take ALG: hmac-sha256 or
chacha20-poly1305), policy, membership, grace, unload; default: all of them,
the first three with both algorithms, unload last. One process runs them
all (Python's start-up is slow on the VM's 9p root); each group's TAP is
nested under a "# " prefix, with one result line per group and the
kselftest Totals line summing them last. Run as root in the
test VM from the repository root, with akm.ko loaded (tests/pkt/run.sh runs
them all). Every group builds its own topology (tests/pkt/akmpkt.py): nodes
A-D with ids 1-4 in network namespaces on one bridge, all members of ASR 1,
and an attacker E that is no member.
"""

import hashlib
import json
import os
import re
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
    ALGS, AKM_HLEN, AKM_PROTO, AKMCTL, BRNS, REPO, TAGCHECK, Injector, Sniffer, Tap,
    Topo, akm_packet, akmctl, akmctl_json, eth, fix_ipv4_csum, ip_bytes,
    ip_packet, parse_frame, sh, snmp, stat_delta, stats, tcp_client,
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
            want = dict(nexthdr=inner, version=1, reserved=0, asr=1, epoch=1, sender=snd)
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
        for what, kw in (("version 2", dict(version=2)), ("reserved 0x0100", dict(reserved=0x100))):
            pl = at.marker()
            ip = akm_packet(A.addr(v6), B.addr(v6), 17, at.udp_to_b(A, v6, pl), 1, 1, 1,
                            200, k1, alg, **kw)
            at.attempt(pfx + "%s (tagged with the right key) -> drop_malformed (node counters)"
                       % what, ip, v6, {(node, "drop_malformed"): 1})

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
                ("reserved", flip(nh + 3, 0x01), {(node, "drop_malformed"): 1}),
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
    taint0 = tainted()
    marker = "akm-pkt: unload test %d" % os.getpid()
    kmsg(marker)
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
    msgs = dmesg_since(marker)
    bad = [l for l in msgs.splitlines() if re.search(
        r"BUG|WARNING|Oops|general protection|refcount_t|UBSAN|KASAN|list_del corruption|"
        r"use-after-free|stack-protector|soft lockup", l)]
    t.ok(not bad, "unload: no BUG/WARNING in dmesg", "\n".join(bad[:30]))
    t1 = tainted()
    t.ok((t1 & TAINT_BAD) == (taint0 & TAINT_BAD),
         "unload: kernel not tainted by a WARN/BUG (tainted %d -> %d)" % (taint0, t1))

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
    msgs = dmesg_since(marker)
    bad = [l for l in msgs.splitlines() if re.search(r"BUG|WARNING|Oops|refcount_t|UBSAN", l)]
    t.ok(not bad and (tainted() & TAINT_BAD) == (taint0 & TAINT_BAD),
         "unload: still no BUG/WARNING after the reloads", "\n".join(bad[:30]))


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
    "unload": (group_unload, False, 2, "hmac-sha256"),
}

ALL = ["tagcheck", "connect:hmac-sha256", "connect:chacha20-poly1305",
       "attack:hmac-sha256", "attack:chacha20-poly1305", "policy",
       "rollover:hmac-sha256", "rollover:chacha20-poly1305", "membership", "grace",
       "unload"]

GROUP_TIMEOUT = int(os.environ.get("AKM_PKT_TIMEOUT", "300"))


class GroupTimeout(Exception):
    pass


def _alarm(sig, frame):
    raise GroupTimeout("group timed out after %ds" % GROUP_TIMEOUT)


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
    signal.alarm(GROUP_TIMEOUT)
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
    specs = sys.argv[1:] or ALL
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
