#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""AKM in a real network: stateful firewalls, a router with a smaller MTU,
NAT, a container bridge with br_netfilter, a routing member, a VRF, IPv6
multicast, SCTP (TAP, kselftest Totals line).

    tests/net/akm_net.py [SCENARIO...]

Each scenario builds its own namespaces and runs twice: once without AKM
(the control: the topology works, so a failure with AKM is AKM's) and once
with every member in ASR 1 (chacha20-poly1305, rx-mark 0x100). Run as root
in the test VM, with akm.ko loaded (tests/run_tests.sh runs it as
net/run.sh).
"""

import json
import os
import socket
import struct
import sys
import threading
import time
import traceback

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pkt"))

from akmpkt import (  # noqa: E402
    AKM_PROTO, AKMCTL, Genl, Injector, Sniffer, Tap, UAPI, batch, csum, eth, ip_bytes,
    ip_packet, netns, parse_frame, sh, snmp, stats, tcp_client, tcp_listener, udp,
    udp_socket, udp_recv_all, wait_for)
from akm_pkt import tcp_transfer  # noqa: E402

PREFIX = "akmn"
MARK = 0x100
MB = 1 << 20


class Host:
    """A namespace with one address of each family (the one AKM knows)."""

    def __init__(self, name, node_id, v4, v6):
        self.name = name
        self.ns = PREFIX + name
        self.id = node_id
        self.v4 = v4
        self.v6 = v6

    def addr(self, v6):
        return self.v6 if v6 else self.v4

    def __repr__(self):
        return self.name


def cleanup():
    for line in sh(["ip", "netns", "list"], check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(PREFIX):
            sh(["ip", "netns", "del", name], check=False)


def ns_add(*hosts):
    batch(["netns add " + h.ns for h in hosts])
    for h in hosts:
        batch(["link set lo up"], ns=h.ns)
        sysctl(h, "net.ipv6.conf.all.accept_dad", 0)
        sysctl(h, "net.ipv6.conf.default.accept_dad", 0)


def sysctl(h, key, val):
    with netns(h.ns):
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(str(val))


def link(a, ifa, b, ifb, mtu=None):
    """A veth pair between hosts a and b, up, with an optional MTU."""
    sh(["ip", "link", "add", ifa, "netns", a.ns, "type", "veth", "peer", "name",
        ifb, "netns", b.ns])
    for h, i in ((a, ifa), (b, ifb)):
        cmd = ["link set %s up" % i]
        if mtu:
            cmd.insert(0, "link set %s mtu %d" % (i, mtu))
        batch(cmd, ns=h.ns)


def ip(h, *lines):
    batch(list(lines), ns=h.ns)


def addrs(h, dev, *more):
    """h's two addresses on dev (a /24, a /64), then more ip commands."""
    ip(h, "addr add %s/24 dev %s" % (h.v4, dev), "addr add %s/64 dev %s nodad" % (h.v6, dev),
       *more)


def pair(n):
    """A (node 1) and B (node 2) on one veth pair, 10.n.0.1-2 and fdn::1-2."""
    A = Host("a", 1, "10.%d.0.1" % n, "fd%d::1" % n)
    B = Host("b", 2, "10.%d.0.2" % n, "fd%d::2" % n)
    ns_add(A, B)
    link(A, "eth0", B, "eth0")
    addrs(A, "eth0")
    addrs(B, "eth0")
    return A, B


def nft(h, rules):
    sh(["nft", "-f", "-"], ns=h.ns, input=rules)


def akm(hosts, members, groups=()):
    """Every host in hosts: its node id, ASR 1 listing members (each with
    its two addresses), the ASR groups, one key, rx-mark MARK."""
    key = os.urandom(32)
    for h in hosts:
        g = Genl(h.ns)
        g.do("node_set", node_id=h.id, node_rx_mark=MARK)
        g.do("asr_new", asr_id=1, asr_alg=UAPI["AKM_ALG_CHACHA20_POLY1305"])
        for m in members:
            g.do("member_new", asr_id=1, node_id=m.id, member_addrs=[m.v4, m.v6],
                 member_state=UAPI["AKM_MEMBER_ACTIVE"])
        g.close()
        if groups:
            akmctl_run(h, "asr", "set", "1", *[w for a in groups for w in ("group", a)])
        g = Genl(h.ns)
        g.do("key_install", asr_id=1, key_epoch=1, key_material=key)
        g.do("key_activate", asr_id=1, key_epoch=1)
        g.close()


def counter(st, key, name):
    return st.get(key, {}).get(name, 0)


def drops(st):
    return {"%s %s" % (k, c): v for k, cs in st.items() for c, v in cs.items()
            if (c.startswith("drop_") or c == "tx_no_key") and v}


def ping(src, dst, v6=False, count=2, size=None, ns_dev=None):
    cmd = ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "3"]
    if v6:
        cmd.insert(1, "-6")
    if size:
        cmd += ["-s", str(size), "-M", "do"]
    if ns_dev:
        cmd += ["-I", ns_dev]
    return sh(cmd + [dst.addr(v6) if isinstance(dst, Host) else dst],
              ns=src.ns, check=False, timeout=30).returncode == 0


# ---------------------------------------------------------------------------
# Scenarios. Each takes (t, with_akm, pfx) and builds its namespaces.

def firewall(members=None):
    """The admin guide's ruleset ("accept from members only if
    authenticated", with members), plus a few more ports and counters."""
    m4 = ", ".join(h.v4 for h in members or ())
    m6 = ", ".join(h.v6 for h in members or ())
    only = ("""
		ip saddr { %s } meta mark & 0x100 == 0 counter name unauth drop
		ip6 saddr { %s } meta mark & 0x100 == 0 counter name unauth drop""" % (m4, m6)
            if members else "")
    return """
table inet f {
	counter verified { }
	counter over { }
	counter unauth { }
	chain input {
		type filter hook input priority 0; policy drop;
		meta mark & 0x100 != 0 counter name verified
		iif lo accept
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept%s
		ct state established,related accept
		tcp dport 5001 ct count over 2 counter name over reject with tcp reset
		tcp dport 5001 accept
		udp dport 5002 accept
		icmp type echo-request accept
		icmpv6 type echo-request accept
	}
}
""" % only


def udp_rr(src, dst, v6, port=5002, n=5):
    """src sends n datagrams to dst:port, dst echoes each: how many return."""
    srv = udp_socket(dst.ns, dst.addr(v6), port)
    cli = udp_socket(src.ns, src.addr(v6))
    got = 0
    for i in range(n):
        cli.sendto(b"ping %d" % i, (dst.addr(v6), port))
        r = udp_recv_all(srv, 1.0, want=1)
        for _ in r:
            srv.sendto(b"pong %d" % i, cli.getsockname()[:2])
        got += len(udp_recv_all(cli, 1.0, want=1))
    srv.close()
    cli.close()
    return got


def mac(h, dev="eth0"):
    return json.loads(sh(["ip", "-j", "link", "show", dev], ns=h.ns).stdout)[0]["address"]


def akmctl_run(h, *args):
    return sh([AKMCTL, "-n", h.ns] + list(args))


def push(c, lst, n, timeout):
    """Send n bytes on the connected client c and close it; count what the
    connection lst accepts receives: (ok, detail). The receiver reads while
    the sender writes: n may be more than both socket buffers hold."""
    lst.settimeout(timeout)
    s, _ = lst.accept()
    s.settimeout(timeout)
    got, err = [0], []

    def reader():
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got[0] += len(b)
        except OSError as e:
            err.append(e)

    th = threading.Thread(target=reader)
    th.start()
    try:
        c.sendall(b"x" * n)
    except OSError:
        s.shutdown(socket.SHUT_RDWR)	# the reader need not wait its timeout out
        raise
    finally:
        c.close()
        th.join()
        s.close()
    if err:
        raise err[0]
    return got[0] == n, "%d bytes" % got[0]


def nft_counter(h, name):
    out = sh(["nft", "list", "counter", "inet", "f", name], ns=h.ns).stdout
    w = out.split()
    return int(w[w.index("packets") + 1])


def scen_firewall(t, with_akm, pfx):
    """Two members, each behind the most ordinary stateful firewall."""
    A, B = pair(31)
    nft(A, firewall([B] if with_akm else None))
    nft(B, firewall([A] if with_akm else None))
    if with_akm:
        akm([A, B], [A, B])
    for v6 in (False, True):
        f = " IPv6" if v6 else " IPv4"
        ok, det, _ = tcp_transfer(t, B, A, v6, 2 * MB, 5001)
        t.ok(ok, pfx + "B opens TCP to A through both firewalls, 2 MB intact" + f, det)
        t.ok(udp_rr(A, B, v6) == 5,
             pfx + "UDP A -> B and the replies back through A's ct state established" + f)
        t.ok(ping(A, B, v6), pfx + "ping A -> B, echo replies related back" + f)
    ct = sh(["conntrack", "-L"], ns=A.ns, check=False)
    t.ok("dport=5001" in ct.stdout and " 253 " not in ct.stdout and "unknown" not in ct.stdout,
         pfx + "A's conntrack holds the TCP flow as tcp, nothing as protocol 253",
         ct.stdout + ct.stderr)
    # connection limit: the third concurrent connection is refused
    lst = tcp_listener(A.ns, A.v4, 5001)
    conns, refused = [], 0
    for _ in range(3):
        try:
            conns.append(tcp_client(B.ns, A.v4, 5001, timeout=5))
            conns[-1].send(b"x")
            time.sleep(0.3)
            conns[-1].send(b"x")
        except OSError:
            refused += 1
    for c in conns:
        c.close()
    lst.close()
    t.ok(refused == 1 and nft_counter(A, "over") >= 1,
         pfx + "ct count over 2 sees the real TCP flows: the third is reset",
         "refused %d, counter %d" % (refused, nft_counter(A, "over")))
    v = nft_counter(A, "verified")
    if with_akm:
        st = stats(A.ns)
        t.ok(v > 0 and counter(st, "asr:1/node:2", "rx_packets") >= v,
             pfx + "rules see AKM's verdict: meta mark & 0x100 on every packet verified",
             "verified counter %d, rx_packets %d" % (v, counter(st, "asr:1/node:2",
                                                                 "rx_packets")))
        t.ok(not drops(st) and not drops(stats(B.ns)) and nft_counter(A, "unauth") == 0,
             pfx + "no AKM drop on A or B, nothing unauthenticated from B",
             "%s / %s, unauth %d" % (drops(st), drops(stats(B.ns)), nft_counter(A, "unauth")))
        # a local process setting the mark itself: cleared before the rules
        v0 = nft_counter(A, "verified")
        rcv = udp_socket(A.ns, A.v4, 5002)
        with netns(A.ns):
            so = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        so.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, MARK)
        so.sendto(b"marked", (A.v4, 5002))
        so.close()
        got = udp_recv_all(rcv, 1.0)
        rcv.close()
        t.ok(got == [b"marked"] and nft_counter(A, "verified") == v0,
             pfx + "SO_MARK with the rx-mark bit on local traffic: cleared, not 'verified'",
             "delivered %r, verified +%d" % (got, nft_counter(A, "verified") - v0))
        # policy accept: a plain datagram from B's address passes AKM, not the rules
        akmctl_run(A, "asr", "set", "1", "policy", "accept")
        rcv = udp_socket(A.ns, A.v4, 5002)
        inj = Injector(B.ns, "eth0")
        inj.send(eth(mac(A), mac(B), ip_packet(B.v4, A.v4, 17,
                                               udp(B.v4, A.v4, 4000, 5002, b"plain"))))
        inj.close()
        got = udp_recv_all(rcv, 1.0)
        rcv.close()
        st2 = stats(A.ns)
        acc = counter(st2, "asr:1", "accept_plain") - counter(st, "asr:1", "accept_plain")
        t.ok(acc == 1 and nft_counter(A, "unauth") == 1 and not got,
             pfx + "policy accept: a plain datagram from member B passes AKM "
             "(accept_plain), the rule drops it",
             "accept_plain +%d, unauth %d, delivered %r" % (acc, nft_counter(A, "unauth"), got))
    else:
        t.ok(v == 0, pfx + "without AKM no packet carries the mark", "counter %d" % v)


def icmp_frag_needed(quote, mtu):
    body = struct.pack("!BBHHH", 3, 4, 0, 0, mtu) + quote
    return body[:2] + struct.pack("!H", csum(body)) + body[4:]


def ipv4_hdr(src, dst, proto, length):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, length, 1, 0x4000, 64, proto, 0,
                    ip_bytes(src), ip_bytes(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:]


def send_icmp4(h, dst, msg):
    with netns(h.ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.sendto(msg, (dst, 0))
    s.close()


def send_ip6(h, pkt):
    """A whole IPv6 packet, as built, from h (IPPROTO_RAW: no header added)."""
    with netns(h.ns):
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.sendto(pkt, (socket.inet_ntop(socket.AF_INET6, pkt[24:40]), 0))
    s.close()


def icmp6(src, dst, typ, code, word, quote, ext=b""):
    """An IPv6 packet carrying an ICMPv6 error (checksum computed), with the
    extension headers ext (their chain must end in 58) before it."""
    body = struct.pack("!BBHI", typ, code, 0, word) + quote
    ph = ip_bytes(src) + ip_bytes(dst) + struct.pack("!I3xB", len(body), 58)
    body = body[:2] + struct.pack("!H", csum(ph + body)) + body[4:]
    nxt = 60 if ext else 58
    return struct.pack("!IHBB16s16s", 6 << 28, len(ext) + len(body), nxt, 64,
                       ip_bytes(src), ip_bytes(dst)) + ext + body


def ip6_hdr(src, dst, nxt, plen):
    return struct.pack("!IHBB16s16s", 6 << 28, plen, nxt, 64, ip_bytes(src), ip_bytes(dst))


def route_mtu(h, dst):
    out = sh(["ip", "route", "get", dst], ns=h.ns).stdout
    w = out.split()
    return int(w[w.index("mtu") + 1]) if "mtu" in w else None


def scen_pmtu(t, with_akm, pfx):
    """A - R - S - B, the R - S link 1280 bytes, the others 1500: PMTU
    discovery through AKM, both ways."""
    A = Host("a", 1, "10.32.1.1", "fd32:1::1")
    R = Host("r", 9, "10.32.1.9", "fd32:1::9")
    S = Host("s", 8, "10.32.2.8", "fd32:2::8")
    B = Host("b", 2, "10.32.3.2", "fd32:3::2")
    ns_add(A, R, S, B)
    link(A, "eth0", R, "ra")
    link(R, "rs", S, "sr", mtu=1280)
    link(S, "sb", B, "eth0")
    ip(A, "addr add 10.32.1.1/24 dev eth0", "addr add fd32:1::1/64 dev eth0 nodad",
       "route add default via 10.32.1.9", "route add default via fd32:1::9")
    ip(B, "addr add 10.32.3.2/24 dev eth0", "addr add fd32:3::2/64 dev eth0 nodad",
       "route add default via 10.32.3.8", "route add default via fd32:3::8")
    ip(R, "addr add 10.32.1.9/24 dev ra", "addr add fd32:1::9/64 dev ra nodad",
       "addr add 10.32.2.9/24 dev rs", "addr add fd32:2::9/64 dev rs nodad",
       "route add default via 10.32.2.8", "route add default via fd32:2::8")
    ip(S, "addr add 10.32.2.8/24 dev sr", "addr add fd32:2::8/64 dev sr nodad",
       "addr add 10.32.3.8/24 dev sb", "addr add fd32:3::8/64 dev sb nodad",
       "route add default via 10.32.2.9", "route add default via fd32:2::9")
    for h in (R, S):
        sysctl(h, "net.ipv4.ip_forward", 1)
        sysctl(h, "net.ipv6.conf.all.forwarding", 1)
    if with_akm:
        akm([A, B], [A, B])
    for v6 in (False, True):
        f = " IPv6" if v6 else " IPv4"
        ok, det, _ = tcp_transfer(t, A, B, v6, 4 * MB, 5011)
        t.ok(ok, pfx + "A -> B: 4 MB over TCP through the 1280-byte link" + f, det)
        ok, det, _ = tcp_transfer(t, B, A, v6, 4 * MB, 5012)
        t.ok(ok, pfx + "B -> A: 4 MB over TCP through the 1280-byte link" + f, det)
    mtu = route_mtu(A, B.v4)
    want = 1280 - 36 if with_akm else 1280
    t.ok(mtu == want, pfx + "A's route to B learned path MTU %d (of which AKM takes %d)"
         % (want, 36 if with_akm else 0), "route mtu %s" % mtu)
    mtu6 = route_mtu(A, B.v6)
    t.ok(mtu6 == 1280, pfx + "IPv6: A's route to B learned 1280, the IPv6 minimum",
         "route mtu %s" % mtu6)
    if not with_akm:
        return
    # forged errors, from R: a plain quote of A -> B TCP, an AKM quote never sent
    st0, icmp0 = stats(A.ns), snmp(A.ns)["Icmp"]["InDestUnreachs"]
    plain = ipv4_hdr(A.v4, B.v4, 6, 1400) + struct.pack("!HHII", 40000, 5011, 1, 0)
    send_icmp4(R, A.v4, icmp_frag_needed(plain, 600))
    akmq = ipv4_hdr(A.v4, B.v4, AKM_PROTO, 1400) + struct.pack(
        "!BBHIIII", 6, 1, 0, 1, 1, A.id, 0x80000000) + bytes(16) + bytes(8)
    send_icmp4(R, A.v4, icmp_frag_needed(akmq, 600))
    wait_for(lambda: counter(stats(A.ns), "asr:1", "drop_icmp") +
             counter(stats(A.ns), "node", "drop_icmp") >= 2, 3)
    st1, icmp1 = stats(A.ns), snmp(A.ns)["Icmp"]["InDestUnreachs"]
    d_asr = counter(st1, "asr:1", "drop_icmp") - counter(st0, "asr:1", "drop_icmp")
    d_node = counter(st1, "node", "drop_icmp") - counter(st0, "node", "drop_icmp")
    t.ok(d_asr == 1 and d_node == 1 and icmp1 == icmp0 and route_mtu(A, B.v4) == mtu,
         pfx + "forged Fragmentation Needed (plain quote, unsent AKM quote) dropped "
         "and counted, the route keeps its MTU",
         "asr drop_icmp +%d, node drop_icmp +%d, InDestUnreachs +%d, mtu %s"
         % (d_asr, d_node, icmp1 - icmp0, route_mtu(A, B.v4)))
    # a genuine Packet Too Big about A's tagged packet, behind destination
    # options: unwrapped, the route learns 1400 - 36
    sh(["ip", "-6", "route", "flush", "cache"], ns=A.ns)
    sn = Sniffer(A.ns, "eth0", outgoing=True)
    ping(A, B, True, count=1, size=600)
    cap = [p for p in map(parse_frame, sn.read(timeout=1.0)) if p and p.akm and
           p.src == A.v6 and p.dst == B.v6]
    sn.close()
    dstopt = struct.pack("!BB6s", 58, 0, b"\x01\x04" + bytes(4))
    if cap:
        send_ip6(R, icmp6(R.v6, A.v6, 2, 0, 1400, cap[0].raw[:600], dstopt))
    ok = wait_for(lambda: route_mtu(A, B.v6) == 1364, 3)
    t.ok(cap and ok, pfx + "IPv6: a Packet Too Big (1400) behind destination options about "
         "A's tagged packet reaches the route as 1364", "captured %d, route mtu %s"
         % (len(cap), route_mtu(A, B.v6)))
    # IPv6, from R: a quote behind a fragment header, an outer destination
    # options header, an error type the kernel's handlers still take (5)
    st0, icmp6_0 = stats(A.ns), snmp(A.ns)["Ip6"].get("Icmp6InErrors", 0)
    udpq = struct.pack("!HHHH", 40000, 5013, 8, 0)
    fragq = ip6_hdr(A.v6, B.v6, 44, 16) + struct.pack("!BBHI", 17, 0, 0, 7) + udpq
    plainq = ip6_hdr(A.v6, B.v6, 17, 8) + udpq
    dstopt = struct.pack("!BB6s", 58, 0, b"\x01\x04" + bytes(4))
    for pkt in (icmp6(R.v6, A.v6, 2, 0, 1300, fragq), icmp6(R.v6, A.v6, 2, 0, 1300, plainq, dstopt),
                icmp6(R.v6, A.v6, 5, 0, 0, plainq)):
        send_ip6(R, pkt)
    wait_for(lambda: counter(stats(A.ns), "asr:1", "drop_icmp") -
             counter(st0, "asr:1", "drop_icmp") >= 3, 3)
    d6 = counter(stats(A.ns), "asr:1", "drop_icmp") - counter(st0, "asr:1", "drop_icmp")
    t.ok(d6 == 3, pfx + "IPv6: forged errors quoting a plain flow to B behind a fragment "
         "header, behind destination options, of type 5: all dropped", "drop_icmp +%d" % d6)
    # the control: the same plain error from a non-member flow reaches ICMP
    other = ipv4_hdr(A.v4, "10.32.2.77", 6, 1400) + struct.pack("!HHII", 40000, 80, 1, 0)
    send_icmp4(R, A.v4, icmp_frag_needed(other, 600))
    ok = wait_for(lambda: snmp(A.ns)["Icmp"]["InDestUnreachs"] == icmp1 + 1, 3)
    t.ok(ok, pfx + "an error quoting a packet to a non-member still reaches ICMP")


def scen_nat(t, with_akm, pfx):
    """Member B routes a LAN behind it: masquerade out, DNAT of a service in."""
    A = Host("a", 1, "10.33.0.1", "fd33::1")
    B = Host("b", 2, "10.33.0.2", "fd33::2")
    L = Host("l", 0, "192.168.33.10", "fd33:1::10")
    ns_add(A, B, L)
    link(A, "eth0", B, "eth0")
    link(B, "lan", L, "eth0")
    ip(A, "addr add 10.33.0.1/24 dev eth0", "addr add fd33::1/64 dev eth0 nodad")
    ip(B, "addr add 10.33.0.2/24 dev eth0", "addr add fd33::2/64 dev eth0 nodad",
       "addr add 192.168.33.1/24 dev lan", "addr add fd33:1::1/64 dev lan nodad")
    ip(L, "addr add 192.168.33.10/24 dev eth0", "addr add fd33:1::10/64 dev eth0 nodad",
       "route add default via 192.168.33.1", "route add default via fd33:1::1")
    sysctl(B, "net.ipv4.ip_forward", 1)
    sysctl(B, "net.ipv6.conf.all.forwarding", 1)
    nft(B, """
table inet nat {
	chain pre { type nat hook prerouting priority dstnat;
		iif eth0 tcp dport 8080 dnat ip to 192.168.33.10:5001
		iif eth0 tcp dport 8080 dnat ip6 to [fd33:1::10]:5001
	}
	chain post { type nat hook postrouting priority srcnat;
		oif eth0 masquerade
	}
}""")
    nft(B, """
table ip redir {
	chain pre { type nat hook prerouting priority dstnat;
		ip daddr 10.33.0.77 udp dport 5003 redirect to :5003
	}
}""")
    if with_akm:
        akm([A, B], [A, B])
    # A (plain, spoofable) -> 10.33.0.77, which B redirects to itself
    rcv = udp_socket(B.ns, "0.0.0.0", 5003)
    inj = Injector(A.ns, "eth0")
    inj.send(eth(mac(B), mac(A), ip_packet(A.v4, "10.33.0.77", 17,
                                           udp(A.v4, "10.33.0.77", 4000, 5003, b"redir"))))
    got = udp_recv_all(rcv, 1.0)
    rcv.close()
    if with_akm:
        st = stats(B.ns)
        t.ok(not got and counter(st, "asr:1/node:1", "drop_plain") == 1,
             pfx + "a plain packet from member A that B REDIRECTs to itself is policed at "
             "LOCAL_IN", "delivered %r, drop_plain %d" % (got, counter(st, "asr:1/node:1",
                                                                         "drop_plain")))
    else:
        t.ok(got == [b"redir"], pfx + "B's REDIRECT delivers it", "delivered %r" % got)
    # a LAN host's datagram with a wrong UDP checksum, masqueraded by B,
    # whose conntrack does not check checksums (as on many routers)
    sysctl(B, "net.netfilter.nf_conntrack_checksum", 0)
    rcv = udp_socket(A.ns, A.v4, 5004)
    e0 = snmp(A.ns)["Udp"]["InCsumErrors"]
    bad = bytearray(udp(L.v4, A.v4, 4001, 5004, b"corrupt"))
    bad[6] ^= 0x5a
    with netns(L.ns):
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    raw.sendto(bytes(bad), (A.v4, 0))
    raw.close()
    got = udp_recv_all(rcv, 1.0)
    rcv.close()
    e1 = snmp(A.ns)["Udp"]["InCsumErrors"]
    t.ok(not got and e1 == e0 + 1, pfx + "a LAN host's datagram with a bad UDP checksum, "
         "routed by B, fails A's checksum check", "delivered %r, InCsumErrors +%d" % (got, e1 - e0))
    for v6 in (False, True):
        f = " IPv6" if v6 else " IPv4"
        ok, det, _ = tcp_transfer(t, L, A, v6, 2 * MB, 5021)
        t.ok(ok, pfx + "LAN host -> A, masqueraded by member B: 2 MB intact" + f, det)
        lst = tcp_listener(L.ns, L.addr(v6), 5001)
        try:
            c = tcp_client(A.ns, B.addr(v6), 8080, timeout=10)
            ok, det = push(c, lst, 100000, 10)
        except OSError as e:
            ok, det = False, repr(e)
        lst.close()
        t.ok(ok, pfx + "A -> B:8080, DNATed by B to the LAN service" + f, det)
    if with_akm:
        st = stats(A.ns)
        t.ok(counter(st, "asr:1/node:2", "rx_packets") > 1000 and not drops(st),
             pfx + "A verified B's (NATed) packets, dropped none",
             "rx %d, drops %s" % (counter(st, "asr:1/node:2", "rx_packets"), drops(st)))


def scen_bridge(t, with_akm, pfx):
    """Member B hosts a container on a Docker-style bridge with br_netfilter."""
    A = Host("a", 1, "10.34.0.1", "fd34::1")
    B = Host("b", 2, "10.34.0.2", "fd34::2")
    C = Host("c", 0, "172.30.0.2", "fd34:1::2")
    ns_add(A, B, C)
    link(A, "eth0", B, "eth0")
    ip(B, "link add br0 type bridge", "link set br0 up",
       "addr add 172.30.0.1/24 dev br0", "addr add fd34:1::1/64 dev br0 nodad")
    link(B, "vc", C, "eth0")
    ip(B, "link set vc master br0")
    ip(A, "addr add 10.34.0.1/24 dev eth0", "addr add fd34::1/64 dev eth0 nodad")
    ip(B, "addr add 10.34.0.2/24 dev eth0", "addr add fd34::2/64 dev eth0 nodad")
    ip(C, "addr add 172.30.0.2/24 dev eth0", "addr add fd34:1::2/64 dev eth0 nodad",
       "route add default via 172.30.0.1", "route add default via fd34:1::1")
    sh(["modprobe", "br_netfilter"], check=False)
    sysctl(B, "net.bridge.bridge-nf-call-iptables", 1)
    sysctl(B, "net.bridge.bridge-nf-call-ip6tables", 1)
    sysctl(B, "net.ipv4.ip_forward", 1)
    sysctl(B, "net.ipv6.conf.all.forwarding", 1)
    nft(B, """
table inet nat {
	chain post { type nat hook postrouting priority srcnat;
		ip saddr 172.30.0.0/24 oif eth0 masquerade
		ip6 saddr fd34:1::/64 oif eth0 masquerade
	}
}
table inet filter {
	chain forward { type filter hook forward priority 0; policy drop;
		ct state established,related accept
		iif br0 accept
	}
}""")
    if with_akm:
        akm([A, B], [A, B])
    for v6 in (False, True):
        f = " IPv6" if v6 else " IPv4"
        ok, det, _ = tcp_transfer(t, C, A, v6, 4 * MB, 5031)
        t.ok(ok, pfx + "container -> member A, GSO from the container, 4 MB intact" + f, det)
    if with_akm:
        st = stats(A.ns)
        t.ok(counter(st, "asr:1/node:2", "rx_packets") > 1000 and not drops(st),
             pfx + "A verified every packet B sent for its container",
             "rx %d, drops %s" % (counter(st, "asr:1/node:2", "rx_packets"), drops(st)))


def scen_router(t, with_akm, pfx):
    """A - R - B with R a member too, and a non-member X behind R."""
    A = Host("a", 1, "10.35.1.1", "fd35:1::1")
    R = Host("r", 3, "10.35.1.9", "fd35:1::9")
    B = Host("b", 2, "10.35.2.2", "fd35:2::2")
    X = Host("x", 0, "10.35.3.3", "fd35:3::3")
    ns_add(A, R, B, X)
    link(A, "eth0", R, "ra")
    link(R, "rb", B, "eth0")
    link(R, "rx", X, "eth0")
    ip(A, "addr add 10.35.1.1/24 dev eth0", "addr add fd35:1::1/64 dev eth0 nodad",
       "route add default via 10.35.1.9", "route add default via fd35:1::9")
    ip(B, "addr add 10.35.2.2/24 dev eth0", "addr add fd35:2::2/64 dev eth0 nodad",
       "route add default via 10.35.2.9", "route add default via fd35:2::9")
    ip(X, "addr add 10.35.3.3/24 dev eth0", "addr add fd35:3::3/64 dev eth0 nodad",
       "route add default via 10.35.3.9", "route add default via fd35:3::9")
    ip(R, "addr add 10.35.1.9/24 dev ra", "addr add fd35:1::9/64 dev ra nodad",
       "addr add 10.35.2.9/24 dev rb", "addr add fd35:2::9/64 dev rb nodad",
       "addr add 10.35.3.9/24 dev rx", "addr add fd35:3::9/64 dev rx nodad")
    sysctl(R, "net.ipv4.ip_forward", 1)
    sysctl(R, "net.ipv6.conf.all.forwarding", 1)
    if with_akm:
        akm([A, R, B], [A, R, B])
    r0 = stats(R.ns) if with_akm else {}
    for v6 in (False, True):
        f = " IPv6" if v6 else " IPv4"
        ok, det, _ = tcp_transfer(t, A, B, v6, 2 * MB, 5041)
        t.ok(ok, pfx + "A -> B through router R: 2 MB intact" + f, det)
        t.ok(ping(X, B, v6), pfx + "non-member X -> B through R" + f)
        t.ok(ping(A, R, v6), pfx + "A -> R itself" + f)
    # X spoofs R's own IPv6 address towards B: R routes it, must not tag it
    rcv = udp_socket(B.ns, B.v6, 5042)
    b0 = stats(B.ns) if with_akm else {}
    send_ip6(X, ip6_hdr(R.v6, B.v6, 17, 13) + udp(R.v6, B.v6, 4000, 5042, b"spoof"))
    got = udp_recv_all(rcv, 1.0)
    rcv.close()
    if with_akm:
        dp = counter(stats(B.ns), "asr:1/node:3", "drop_plain") - counter(b0, "asr:1/node:3",
                                                                          "drop_plain")
        t.ok(not got and dp == 1, pfx + "X spoofing R's IPv6 address through R: R does not "
             "tag it, B drops it as plain from R", "delivered %r, drop_plain +%d" % (got, dp))
    else:
        t.ok(got == [b"spoof"], pfx + "IPv6 routing passes a packet with the router's own "
             "source", "delivered %r" % got)
    if with_akm:
        r1, b1 = stats(R.ns), stats(B.ns)
        fwd = sum(counter(r1, "asr:1/node:%d" % i, c) - counter(r0, "asr:1/node:%d" % i, c)
                  for i in (1, 2) for c in ("rx_packets", "tx_packets"))
        t.ok(counter(b1, "asr:1/node:1", "rx_packets") > 1000 and
             counter(b1, "asr:1/node:3", "rx_packets") == 0,
             pfx + "B verified A's packets as A's: R neither tagged nor re-tagged them",
             "B rx from A %d, from R %d" % (counter(b1, "asr:1/node:1", "rx_packets"),
                                          counter(b1, "asr:1/node:3", "rx_packets")))
        t.ok(counter(r1, "asr:1/node:2", "rx_packets") == 0 and
             set(drops(b1)) <= {"asr:1 drop_plain", "asr:1/node:3 drop_plain"},
             pfx + "R touched none of the routed packets, B dropped only the spoofed one",
             "R counters for A and B moved by %d; B drops %s" % (fwd, drops(b1)))


def scen_vrf(t, with_akm, pfx):
    """Member A's interface is in a VRF: one AKM header per packet."""
    A = Host("a", 1, "10.36.0.1", "fd36::1")
    B = Host("b", 2, "10.36.0.2", "fd36::2")
    ns_add(A, B)
    link(A, "eth0", B, "eth0")
    ip(A, "link add blue type vrf table 10", "link set blue up",
       "link set eth0 master blue",
       "addr add 10.36.0.1/24 dev eth0", "addr add fd36::1/64 dev eth0 nodad")
    ip(B, "addr add 10.36.0.2/24 dev eth0", "addr add fd36::2/64 dev eth0 nodad")
    if with_akm:
        akm([A, B], [A, B])
    sn = Sniffer(B.ns, "eth0")
    for v6 in (False, True):
        f = " IPv6" if v6 else " IPv4"
        t.ok(ping(A, B, v6, ns_dev="blue"), pfx + "ping from A's VRF to B" + f)
        lst = tcp_listener(B.ns, B.addr(v6), 5051)
        fam = socket.AF_INET6 if v6 else socket.AF_INET
        with netns(A.ns):
            c = socket.socket(fam, socket.SOCK_STREAM)
        try:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"blue")
            c.settimeout(20)
            c.connect((B.addr(v6), 5051))
            ok, det = push(c, lst, 200000, 20)
        except OSError as e:
            ok, det = False, repr(e)
        lst.close()
        t.ok(ok, pfx + "TCP from A's VRF to B, 200 kB" + f, det)
    if with_akm:
        # a local process in A's VRF sending as member B, to A itself
        with netns(A.ns):
            rcv = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            fb = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        rcv.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"blue")
        rcv.bind((A.v6, 5052))
        fb.setsockopt(socket.IPPROTO_IPV6, 78, 1)	# IPV6_FREEBIND
        fb.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"blue")
        fb.bind((B.v6, 5053))
        a0 = stats(A.ns)
        fb.sendto(b"as B", (A.v6, 5052))
        fb.close()
        got = udp_recv_all(rcv, 1.0)
        rcv.close()
        dp = counter(stats(A.ns), "asr:1/node:2", "drop_plain") - counter(
            a0, "asr:1/node:2", "drop_plain")
        t.ok(not got and dp == 1, pfx + "inside the VRF, a local datagram from member B's "
             "address (IPV6_FREEBIND) is policed", "delivered %r, drop_plain +%d" % (got, dp))
    frames = sn.read(timeout=1.0)
    sn.close()
    pk = [parse_frame(fr) for fr in frames]
    pk = [p for p in pk if p and p.src in (A.v4, A.v6) and not (
        p.proto == 58 and p.l4 and 133 <= p.l4[0] <= 137)]	# ND stays plain
    if with_akm:
        good = [p for p in pk if p.akm and p.akm["nexthdr"] != AKM_PROTO]
        t.ok(pk and len(good) == len(pk),
             pfx + "every packet from A on the wire has exactly one AKM header",
             "%d of %d" % (len(good), len(pk)))
    else:
        t.ok(pk and all(p.proto != AKM_PROTO for p in pk), pfx + "no AKM header without AKM")


def scen_mcast6(t, with_akm, pfx):
    """A member listening to its ASR's IPv6 group gets its own datagrams once."""
    A, B = pair(37)
    grp = "ff15::a1"
    if with_akm:
        akm([A, B], [A, B], groups=[grp])
    socks = {}
    for h in (A, B):
        with netns(h.ns):
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::", 5061))
        with netns(h.ns):
            idx = socket.if_nametoindex("eth0")
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                     socket.inet_pton(socket.AF_INET6, grp) + struct.pack("@I", idx))
        socks[h] = (s, idx)
    b0 = stats(B.ns) if with_akm else {}
    with netns(A.ns):
        g4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    g4.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                  socket.inet_aton("239.1.2.3") + socket.inet_aton(A.v4))
    time.sleep(0.5)
    g4.close()
    if with_akm:
        dp = counter(stats(B.ns), "asr:1/node:1", "drop_plain") - counter(
            b0, "asr:1/node:1", "drop_plain")
        t.ok(dp == 0, pfx + "A's IGMP reports (from its member address) are link control: "
             "B does not police them", "drop_plain +%d" % dp)
    s, idx = socks[A]
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
    for i in range(10):
        s.sendto(b"m%d" % i, (grp, 5061, 0, idx))
        time.sleep(0.02)
    if with_akm:
        with netns(A.ns):
            fb = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        fb.setsockopt(socket.IPPROTO_IPV6, 78, 1)	# IPV6_FREEBIND
        fb.bind((B.v6, 5062))
        fb.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
        fb.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
        fb.sendto(b"forged", (grp, 5061, 0, idx))
        fb.close()
        time.sleep(0.3)
    ga = udp_recv_all(socks[A][0], 1.0)
    gb = udp_recv_all(socks[B][0], 1.0)
    for so, _ in socks.values():
        so.close()
    want = sorted(b"m%d" % i for i in range(10))
    t.ok(sorted(ga) == want, pfx + "the sender's own socket gets each datagram exactly once",
         "got %d: %s" % (len(ga), ga[:12]))
    t.ok(sorted(gb) == want, pfx + "member B gets each datagram once", "got %d" % len(gb))
    if with_akm:
        st, sa = stats(B.ns), stats(A.ns)
        t.ok(counter(st, "asr:1/node:1", "rx_packets") >= 10 and
             drops(st) == {"asr:1 drop_not_member": 1} and
             drops(sa) == {"node drop_malformed": 1},
             pfx + "B verified them; a local process that bound member B's address "
             "(IPV6_FREEBIND) got nothing delivered as B, on A nor on B",
             "B %s, A %s" % (drops(st), drops(sa)))


def scen_sctp(t, with_akm, pfx):
    """SCTP over veth, which offloads CRC32c: the CRC survives tagging."""
    if sh(["modprobe", "sctp"], check=False).returncode:
        t.skip(pfx + "SCTP", "no sctp module")
        return
    A, B = pair(38)
    if with_akm:
        akm([A, B], [A, B])
    for v6 in (False, True):
        f = " IPv6" if v6 else " IPv4"
        fam = socket.AF_INET6 if v6 else socket.AF_INET
        with netns(B.ns):
            srv = socket.socket(fam, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
        with netns(A.ns):
            cli = socket.socket(fam, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
        data, got = os.urandom(300000), []

        def serve():
            try:
                c, _ = srv.accept()
                c.settimeout(20)
                while sum(map(len, got)) < len(data):
                    b = c.recv(65536)
                    if not b:
                        break
                    got.append(b)
                c.close()
            except OSError as e:
                got.append(repr(e).encode())

        try:
            srv.bind((B.addr(v6), 5071))
            srv.listen(1)
            srv.settimeout(20)
            th = threading.Thread(target=serve)
            th.start()
            cli.settimeout(20)
            cli.connect((B.addr(v6), 5071))
            for i in range(0, len(data), 8192):
                cli.sendall(data[i:i + 8192])
            th.join(30)
            cli.close()
            ok = b"".join(got) == data
            det = "%d of %d bytes" % (sum(map(len, got)), len(data))
        except OSError as e:
            ok, det = False, repr(e)
        srv.close()
        t.ok(ok, pfx + "SCTP A -> B, 300 kB intact" + f, det)
    snmp_b = sh(["cat", "/proc/net/sctp/snmp"], ns=B.ns, check=False).stdout
    bad = [l for l in snmp_b.splitlines() if l.startswith("SctpChecksumErrors")]
    t.ok(bad and bad[0].split()[1] == "0", pfx + "B counted no SCTP checksum error",
         " ".join(bad))


def scen_hooks(t, with_akm, pfx):
    """AKM's hooks at priorities no core hook shares (with conntrack loaded;
    the same whether an ASR exists or not)."""
    A = Host("a", 1, "10.39.0.1", "fd39::1")
    ns_add(A)
    nft(A, "table inet f {\n chain c {\n type filter hook input priority 0;\n"
        " ct state new accept\n }\n}\n")
    sh(["modprobe", "nfnetlink_hook"], check=False)
    out = sh(["nft", "list", "hooks"], ns=A.ns, check=False)
    if out.returncode or "hook" not in out.stdout:
        t.skip(pfx + "nft list hooks", "nft or the kernel cannot list hooks: %s" %
               (out.stderr.strip() or "empty output"))
        return
    lines = out.stdout.splitlines()
    prio, fam, hook = {}, "", ""
    for l in lines:
        w = l.split()
        if w[:1] == ["family"]:
            fam = w[1]
        elif w[:1] == ["hook"]:
            hook = w[1]
        elif len(w) >= 2 and w[0].lstrip("+-").isdigit():
            prio.setdefault((fam, hook, int(w[0])), []).append(w[1])
    mine = sorted({k[2] for k, f in prio.items() if "akm_in" in f or "akm_out" in f})
    clash = [(k, f) for k, f in prio.items()
             if len(f) > 1 and any(x.startswith("akm_") for x in f)]
    t.ok(mine == [-350, 2147483646] and not clash,
         pfx + "AKM at -350 (PRE_ROUTING) and INT_MAX - 1 (POST_ROUTING), alone there",
         out.stdout)


def scen_bridge_l2(t, with_akm, pfx):
    """Member B's uplink is a bridge port (its address on br0), with
    br_netfilter: a container on br0 talks to member A at layer 2."""
    A = Host("a", 1, "10.40.0.1", "fd40::1")
    B = Host("b", 2, "10.40.0.2", "fd40::2")
    C = Host("c", 0, "10.40.0.3", "fd40::3")
    ns_add(A, B, C)
    link(A, "eth0", B, "up0")
    link(B, "vc", C, "eth0")
    ip(B, "link add br0 type bridge", "link set br0 up", "link set up0 master br0",
       "link set vc master br0", "addr add 10.40.0.2/24 dev br0",
       "addr add fd40::2/64 dev br0 nodad")
    ip(A, "addr add 10.40.0.1/24 dev eth0", "addr add fd40::1/64 dev eth0 nodad")
    ip(C, "addr add 10.40.0.3/24 dev eth0", "addr add fd40::3/64 dev eth0 nodad")
    sh(["modprobe", "br_netfilter"], check=False)
    sysctl(B, "net.bridge.bridge-nf-call-iptables", 1)
    sysctl(B, "net.bridge.bridge-nf-call-ip6tables", 1)
    nft(B, """
table inet f {
	chain forward_chain { type filter hook forward priority 0; policy accept;
		ct state established,related counter accept
	}
}""")
    if with_akm:
        akm([A, B], [A, B])
        time.sleep(0.5)	# what B sent while A had the ASR and B not yet
        a0, b0 = stats(A.ns), stats(B.ns)
    for v6 in (False, True):
        f = " IPv6" if v6 else " IPv4"
        ok, det, _ = tcp_transfer(t, C, A, v6, 1 * MB, 5081)
        t.ok(ok, pfx + "container -> A, bridged by member B, plain (C is no member)" + f, det)
        ok, det, _ = tcp_transfer(t, B, A, v6, 1 * MB, 5082)
        t.ok(ok, pfx + "B (address on the bridge) -> A" + f, det)
        ok, det, _ = tcp_transfer(t, A, B, v6, 1 * MB, 5083)
        t.ok(ok, pfx + "A -> B (address on the bridge)" + f, det)
    if with_akm:
        st, sb = stats(A.ns), stats(B.ns)
        da = {k: v - drops(a0).get(k, 0) for k, v in drops(st).items() if v != drops(a0).get(k)}
        db = {k: v - drops(b0).get(k, 0) for k, v in drops(sb).items() if v != drops(b0).get(k)}
        t.ok(counter(st, "asr:1/node:2", "rx_packets") > 100 and
             counter(sb, "asr:1/node:1", "rx_packets") > 100 and not da and not db,
             pfx + "B's own traffic authenticated both ways, the bridged container's "
             "untouched, no drop", "A %s, B %s (since the set-up: A %s, B %s)"
             % (da, db, drops(a0), drops(b0)))


def scen_nokey(t, with_akm, pfx):
    """Member B has no key yet (A has): B drops A's packets, but answers A's
    neighbour solicitation, so A's packets get that far."""
    A, B = pair(41)
    if with_akm:
        akm([A], [A, B])
        g = Genl(B.ns)
        g.do("node_set", node_id=B.id)
        g.do("asr_new", asr_id=1, asr_alg=UAPI["AKM_ALG_CHACHA20_POLY1305"])
        for m in (A, B):
            g.do("member_new", asr_id=1, node_id=m.id, member_addrs=[m.v4, m.v6],
                 member_state=UAPI["AKM_MEMBER_ACTIVE"])
        g.close()
    reach = ping(A, B, True, count=2)
    neigh = sh(["ip", "-6", "neigh", "show", B.v6], ns=A.ns).stdout.strip()
    resolved = any(w in neigh for w in ("REACHABLE", "STALE", "DELAY", "PROBE"))
    if with_akm:
        st = stats(B.ns)
        t.ok(not reach and resolved and counter(st, "asr:1", "drop_unknown_epoch") > 0,
             pfx + "B without a key answers A's neighbour solicitation (its NA is not "
             "tx_no_key), then drops A's packets as of an unknown epoch",
             "ping %s, A's neigh %r, B %s" % (reach, neigh, drops(st)))
    else:
        t.ok(reach and resolved, pfx + "ping and neighbour discovery", "neigh %r" % neigh)


SCENARIOS = {
    "hooks": scen_hooks, "firewall": scen_firewall, "pmtu": scen_pmtu, "nat": scen_nat,
    "bridge": scen_bridge, "bridge-l2": scen_bridge_l2, "router": scen_router,
    "vrf": scen_vrf, "mcast6": scen_mcast6, "sctp": scen_sctp, "nokey": scen_nokey,
}


def main():
    names = sys.argv[1:] or list(SCENARIOS)
    t = Tap("akm in a real network on %s" % os.uname().release)
    if os.geteuid() != 0:
        t.skip("net", "needs root")
        return t.finish()
    for name in names:
        for with_akm in (False, True):
            pfx = "%s%s: " % (name, " (AKM)" if with_akm else " (no AKM)")
            t0 = time.time()
            cleanup()
            try:
                SCENARIOS[name](t, with_akm, pfx)
            except Exception:  # noqa: BLE001
                t.ok(False, pfx + "ran to its end", traceback.format_exc())
            finally:
                cleanup()
            t.diag("%s%.1fs" % (pfx, time.time() - t0))
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
