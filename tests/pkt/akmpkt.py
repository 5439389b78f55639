# SPDX-License-Identifier: GPL-2.0
"""Helpers for the AKM packet-path tests (tests/pkt/akm_pkt.py).

Network namespaces (entered per thread with setns(2)), a four-node topology
on one bridge, akmctl wrappers and counters, raw Ethernet capture and
injection (AF_PACKET), IPv4/IPv6/UDP/AKM packet building and parsing, and a
pure-Python implementation of the AKM tag (kernel/crypto.c, kernel/wire.h):
HMAC-SHA256 from the standard library, ChaCha20 and Poly1305 written out
(RFC 8439), checked against the kernel's known answers at import.

Only the standard library is used: the test VM runs the host's
/usr/bin/python3 without extra packages.
"""

import contextlib
import ctypes
import hashlib
import hmac
import ipaddress
import json
import os
import select
import socket
import struct
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
AKMCTL = os.environ.get("AKMCTL", os.path.join(REPO, "userspace/akmctl/akmctl"))
TAGCHECK = os.path.join(HERE, "akm_tagcheck")

AKM_PROTO = 253
AKM_HLEN = 36
AKM_HLEN_NOTAG = 20
ALGS = {"hmac-sha256": 1, "chacha20-poly1305": 2}

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
PACKET_OUTGOING = 4
CLONE_NEWNET = 0x40000000

# ---------------------------------------------------------------------------
# TAP (kselftest style)


class Tap:
    """ok/not ok lines, a trailing plan and the kselftest Totals line;
    nested under another TAP stream with prefix "# "."""

    def __init__(self, name, prefix=""):
        self.name = name
        self.prefix = prefix
        self.n = 0
        self.passed = self.failed = self.skipped = 0
        self.timing = bool(os.environ.get("AKM_PKT_TIMING"))
        self.t_last = time.time()
        self.out("TAP version 13")
        self.out("# %s" % name)

    def out(self, line):
        print(self.prefix + line, flush=True)

    def diag(self, msg):
        for line in str(msg).splitlines() or [""]:
            self.out("# " + line)

    def ok(self, cond, desc, why=None):
        self.n += 1
        if self.timing:
            now = time.time()
            self.diag("[%.2fs]" % (now - self.t_last))
            self.t_last = now
        if cond:
            self.passed += 1
            self.out("ok %d %s" % (self.n, desc))
        else:
            self.failed += 1
            self.out("not ok %d %s" % (self.n, desc))
            if why:
                self.diag(why)
        return bool(cond)

    def skip(self, desc, why):
        self.n += 1
        self.skipped += 1
        self.out("ok %d %s # SKIP %s" % (self.n, desc, why))

    def finish(self):
        self.out("1..%d" % self.n)
        self.out("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0"
                 % (self.passed, self.failed, self.skipped))
        if self.failed:
            return 1
        return 4 if self.skipped and not self.passed else 0


# ---------------------------------------------------------------------------
# Namespaces and commands

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


@contextlib.contextmanager
def netns(name):
    """Run the block (this thread only) in /run/netns/NAME."""
    orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        _setns(fd)
        yield
    finally:
        _setns(orig)
        os.close(fd)
        os.close(orig)


def sh(cmd, check=True, timeout=60, ns=None, input=None):
    """Run a command (list), in namespace ns if given (entered with setns,
    without ip netns exec's remount of /sys, which is slow on 9p), return
    CompletedProcess with text output."""
    with (netns(ns) if ns else contextlib.nullcontext()):
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s%s" % (
            p.returncode, " ".join(cmd), p.stdout, p.stderr))
    return p


def akmctl(ns, *args, check=True):
    return sh([AKMCTL, "-n", ns] + [str(a) for a in args], check=check)


def akmctl_json(ns, *args):
    out = akmctl(ns, "-j", *args).stdout
    return json.loads(out) if out.strip() else None


def stats(ns):
    """All counters of a node: {"node": {...}, "asr:1": {...}, "asr:1/node:2": {...}}."""
    res = {}
    for e in akmctl_json(ns, "stats") or []:
        if "asr" not in e:
            key = "node"
        elif "node" not in e:
            key = "asr:%d" % e["asr"]
        else:
            key = "asr:%d/node:%d" % (e["asr"], e["node"])
        res[key] = e["stats"]
    return res


def stat_delta(before, after, expect, ignore_tx=True):
    """Compare counter deltas with expect {(key, counter): n}; others must
    not move (tx_* ignored). Returns a list of problems."""
    probs = []
    for key, cs in after.items():
        for c, v in cs.items():
            if ignore_tx and c.startswith("tx_"):
                continue
            d = v - before.get(key, {}).get(c, 0)
            e = expect.get((key, c), 0)
            if d != e:
                probs.append("%s %s: moved by %d, expected %d" % (key, c, d, e))
    for (key, c), e in expect.items():
        if key not in after:
            probs.append("%s: no such counters (expected %s +%d)" % (key, c, e))
    return probs


def wait_stats(ns, before, expect, timeout=3.0, settle=True):
    """Poll until the expected deltas are reached (or timeout); then (settle)
    a short pause and the final comparison. Returns (problems, after)."""
    end = time.time() + timeout
    while True:
        after = stats(ns)
        reached = all(after.get(k, {}).get(c, 0) - before.get(k, {}).get(c, 0) >= e
                      for (k, c), e in expect.items())
        if reached or time.time() > end:
            break
        time.sleep(0.05)
    if settle:
        time.sleep(0.15)
        after = stats(ns)
    return stat_delta(before, after, expect), after


def total_drops(st):
    """Sum of every drop_* and tx_no_key counter over all entries."""
    return sum(v for cs in st.values() for c, v in cs.items()
               if c.startswith("drop_") or c == "tx_no_key")


def drops_summary(st):
    return ", ".join("%s %s=%d" % (k, c, v) for k, cs in sorted(st.items())
                     for c, v in sorted(cs.items())
                     if (c.startswith("drop_") or c == "tx_no_key") and v)


# ---------------------------------------------------------------------------
# A minimal generic netlink client for the bulk set-up of the topology (every
# exec of akmctl costs a lot on the VM's 9p root; the operations under test
# use akmctl). Numbers come from uapi/linux/akm.h, parsed at import.


def _uapi_enums(path=os.path.join(REPO, "uapi/linux/akm.h")):
    import re
    with open(path) as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    vals = {}
    for body in re.findall(r"enum\s+\w+\s*\{(.*?)\}", text, flags=re.S):
        n = 0
        for item in body.split(","):
            item = item.strip()
            if not item:
                continue
            if "=" in item:
                name, v = (x.strip() for x in item.split("="))
                n = int(v, 0)
            else:
                name = item
            vals[name] = n
            n += 1
    return vals


UAPI = _uapi_enums()


class Genl:
    """Requests to the akm family in one namespace (acked, errors raised)."""

    def __init__(self, ns=None):
        with (netns(ns) if ns else contextlib.nullcontext()):
            self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16)
        self.s.bind((0, 0))
        self.seq = 0
        self.fam = None
        r = self._req(0x10, 3, 1, [(2, b"akm\0")])	# CTRL_CMD_GETFAMILY, FAMILY_NAME
        for t, v in self._attrs(r[4:]):
            if t == 1:
                self.fam = struct.unpack("=H", v[:2])[0]
        if self.fam is None:
            raise RuntimeError("no akm genl family")

    @staticmethod
    def _attr(t, v):
        a = struct.pack("=HH", 4 + len(v), t) + v
        return a + b"\0" * (-len(a) % 4)

    @staticmethod
    def _attrs(b):
        i = 0
        while i + 4 <= len(b):
            ln, t = struct.unpack("=HH", b[i:i + 4])
            if ln < 4:
                break
            yield t & 0x3FFF, b[i + 4:i + ln]
            i += (ln + 3) & ~3

    def _req(self, fam, cmd, ver, attrs):
        self.seq += 1
        payload = struct.pack("=BBH", cmd, ver, 0) + b"".join(
            v if isinstance(t, str) else self._attr(t, v) for t, v in attrs)
        msg = struct.pack("=IHHII", 16 + len(payload), fam, 1 | 4, self.seq, 0) + payload
        self.s.send(msg)
        reply = None
        while True:
            data = self.s.recv(65536)
            i = 0
            while i + 16 <= len(data):
                ln, typ, _, seq, _ = struct.unpack("=IHHII", data[i:i + 16])
                body = data[i + 16:i + ln]
                if typ == 2:	# NLMSG_ERROR
                    err = struct.unpack("=i", body[:4])[0]
                    if err:
                        raise OSError(-err, "akm genl cmd %d: %s" % (cmd, os.strerror(-err)))
                    return reply
                if seq == self.seq:
                    reply = body
                i += (ln + 3) & ~3

    def do(self, cmd, **kw):
        """cmd: AKM_CMD_ suffix; kw: AKM_A_ suffix (lower case) -> value."""
        attrs = []
        for k, v in kw.items():
            t = UAPI["AKM_A_" + k.upper()]
            if k == "member_addrs":
                nest = b"".join(self._attr(UAPI["AKM_ADDR_A_IPV6" if is_v6(a) else
                                                "AKM_ADDR_A_IPV4"], ip_bytes(a)) for a in v)
                attrs.append((t | 0x8000, nest))	# NLA_F_NESTED
            elif k in ("asr_alg", "asr_policy", "member_state"):
                attrs.append((t, struct.pack("=B", v)))
            elif isinstance(v, bytes):
                attrs.append((t, v))
            else:
                attrs.append((t, struct.pack("=I", v)))
        return self._req(self.fam, UAPI["AKM_CMD_" + cmd.upper()], 1, attrs)

    def close(self):
        self.s.close()


# ---------------------------------------------------------------------------
# Packets

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip_bytes(addr):
    return ipaddress.ip_address(addr).packed


def is_v6(addr):
    return ipaddress.ip_address(addr).version == 6


def udp(src, dst, sport, dport, payload):
    """A UDP segment with its checksum over the IPv4/IPv6 pseudo header."""
    ln = 8 + len(payload)
    hdr = struct.pack("!HHHH", sport, dport, ln, 0)
    s, d = ip_bytes(src), ip_bytes(dst)
    if len(s) == 4:
        ph = s + d + struct.pack("!BBH", 0, 17, ln)
    else:
        ph = s + d + struct.pack("!IxxxB", ln, 17)
    c = csum(ph + hdr + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, ln, c) + payload


def ip_packet(src, dst, proto, payload, ttl=64, ident=0x1234):
    s, d = ip_bytes(src), ip_bytes(dst)
    if len(s) == 4:
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident,
                        0x4000, ttl, proto, 0, s, d)
        h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
        return h + payload
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), proto, ttl,
                       s, d) + payload


def eth(dst_mac, src_mac, ip):
    et = ETH_P_IP if ip[0] >> 4 == 4 else ETH_P_IPV6
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", et) + ip


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def fix_ipv4_csum(ip):
    if ip[0] >> 4 != 4:
        return ip
    ihl = (ip[0] & 15) * 4
    h = bytearray(ip[:ihl])
    h[10:12] = b"\0\0"
    h[10:12] = struct.pack("!H", csum(bytes(h)))
    return bytes(h) + ip[ihl:]


class Pkt:
    """A parsed IP packet (from the IP header on)."""

    def __init__(self, ip):
        self.raw = bytes(ip)
        v = ip[0] >> 4
        self.version = v
        if v == 4:
            self.nhlen = (ip[0] & 15) * 4
            self.proto = ip[9]
            self.src = str(ipaddress.IPv4Address(ip[12:16]))
            self.dst = str(ipaddress.IPv4Address(ip[16:20]))
            self.totlen = struct.unpack("!H", ip[2:4])[0]
            self.frag = struct.unpack("!H", ip[6:8])[0] & 0x3FFF
        elif v == 6:
            self.nhlen = 40
            self.proto = ip[6]
            self.src = str(ipaddress.IPv6Address(ip[8:24]))
            self.dst = str(ipaddress.IPv6Address(ip[24:40]))
            self.totlen = 40 + struct.unpack("!H", ip[4:6])[0]
            self.frag = 0
        else:
            raise ValueError("not IP")
        self.raw = self.raw[:self.totlen]
        self.l4 = self.raw[self.nhlen:]
        self.akm = None
        if self.proto == AKM_PROTO and len(self.l4) >= AKM_HLEN:
            nh, ver, hi, asr, ep, snd, lo = struct.unpack("!BBHIIII", self.l4[:20])
            self.akm = dict(nexthdr=nh, version=ver, asr=asr, epoch=ep,
                            sender=snd, seq=hi << 32 | lo, tag=self.l4[20:36])
            self.inner = self.l4[AKM_HLEN:]

    def __repr__(self):
        return "IPv%d %s > %s proto %d len %d akm %s" % (
            self.version, self.src, self.dst, self.proto, self.totlen, self.akm)


def parse_frame(frame):
    """Ethernet frame -> Pkt or None."""
    if len(frame) < 14:
        return None
    et = struct.unpack("!H", frame[12:14])[0]
    if et not in (ETH_P_IP, ETH_P_IPV6):
        return None
    try:
        return Pkt(frame[14:])
    except (ValueError, struct.error):
        return None


def tcp_options(seg):
    """TCP flags and {kind: bytes} options of a TCP segment."""
    doff = (seg[12] >> 4) * 4
    flags = seg[13]
    opts, i, o = {}, 20, seg[20:doff]
    i = 0
    while i < len(o):
        k = o[i]
        if k == 0:
            break
        if k == 1:
            i += 1
            continue
        if i + 1 >= len(o) or o[i + 1] < 2:
            break
        opts[k] = o[i + 2:i + o[i + 1]]
        i += o[i + 1]
    return flags, opts


# ---------------------------------------------------------------------------
# The AKM tag in Python (kernel/crypto.c)

def _rotl(v, c):
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def chacha20_block(key, counter, nonce):
    st = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    st += list(struct.unpack("<8I", key)) + [counter] + list(struct.unpack("<3I", nonce))
    w = st[:]

    def qr(a, b, c, d):
        w[a] = (w[a] + w[b]) & 0xFFFFFFFF
        w[d] = _rotl(w[d] ^ w[a], 16)
        w[c] = (w[c] + w[d]) & 0xFFFFFFFF
        w[b] = _rotl(w[b] ^ w[c], 12)
        w[a] = (w[a] + w[b]) & 0xFFFFFFFF
        w[d] = _rotl(w[d] ^ w[a], 8)
        w[c] = (w[c] + w[d]) & 0xFFFFFFFF
        w[b] = _rotl(w[b] ^ w[c], 7)

    for _ in range(10):
        qr(0, 4, 8, 12)
        qr(1, 5, 9, 13)
        qr(2, 6, 10, 14)
        qr(3, 7, 11, 15)
        qr(0, 5, 10, 15)
        qr(1, 6, 11, 12)
        qr(2, 7, 8, 13)
        qr(3, 4, 9, 14)
    return struct.pack("<16I", *[(w[i] + st[i]) & 0xFFFFFFFF for i in range(16)])


def poly1305(key, msg):
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = int.from_bytes(key[16:32], "little")
    p = (1 << 130) - 5
    acc = 0
    for i in range(0, len(msg), 16):
        n = int.from_bytes(msg[i:i + 16] + b"\x01", "little")
        acc = ((acc + n) * r) % p
    return ((acc + s) & ((1 << 128) - 1)).to_bytes(16, "little")


def kdf(k_epoch, asr, epoch, alg):
    info = b"AKM v1 mac" + struct.pack("!IIB", asr, epoch, ALGS[alg])
    return hmac.new(k_epoch, info, hashlib.sha256).digest()


def tag_of(k_mac, alg, m, sender, seq):
    if ALGS[alg] == 1:
        return hmac.new(k_mac, m, hashlib.sha256).digest()[:16]
    otk = chacha20_block(k_mac, 0, struct.pack("!IQ", sender, seq))[:32]
    pad = b"\0" * (-len(m) % 16)
    return poly1305(otk, m + pad + struct.pack("<QQ", len(m), 0))


def _mapped(addr):
    b = ip_bytes(addr)
    return b if len(b) == 16 else b"\0" * 10 + b"\xff\xff" + b


def akm_packet(src, dst, nexthdr, inner, asr, epoch, sender, seq, k_epoch,
               alg, version=1, wire_hi=None, tag=None):
    """A complete IP packet carrying an AKM header tagged with k_epoch
    (or the given tag) for the sequence number seq (up to 48 bits; bits
    32-47 go to header bytes 2-3 unless wire_hi says otherwise)."""
    hi = seq >> 32 if wire_hi is None else wire_hi
    h = struct.pack("!BBHIIII", nexthdr, version, hi, asr, epoch, sender,
                    seq & 0xFFFFFFFF)
    if tag is None:
        m = (_mapped(src) + _mapped(dst) + struct.pack("!II", seq >> 32, len(inner))
             + h + inner)
        tag = tag_of(kdf(k_epoch, asr, epoch, alg), alg, m, sender, seq)
    return ip_packet(src, dst, AKM_PROTO, h + tag + inner)


def verify_pkt(p, k_epoch, alg):
    """Recompute the tag of a parsed packet in Python."""
    a = p.akm
    m = (_mapped(p.src) + _mapped(p.dst) + struct.pack("!II", a["seq"] >> 32, len(p.inner))
         + p.l4[:20] + p.inner)
    return tag_of(kdf(k_epoch, a["asr"], a["epoch"], alg), alg, m, a["sender"],
                  a["seq"]) == a["tag"]


def _selftest():
    """The kernel's known answers (kernel/crypto.c)."""
    assert kdf(b"\x42" * 32, 1, 2, "hmac-sha256").hex() == (
        "2baebaa7ddd916909281aaf1e363da65b3419242ab81837fd25fff24d78b5085")
    k = bytes(range(32))
    hdr = bytes([17, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1])
    m = (_mapped("10.0.0.1") + _mapped("10.0.0.2") + struct.pack("!II", 0, 7)
         + hdr + b"payload")
    assert tag_of(k, "hmac-sha256", m, 1, 1).hex() == "aa8ee2413e966dc23a77678cef053190"
    assert tag_of(k, "chacha20-poly1305", m, 1, 1).hex() == "cce8b1911ec07b8c679d1f940f6aa13f"


_selftest()

# ---------------------------------------------------------------------------
# Capture and injection


SO_RCVBUFFORCE = 33


def rcvbuf(s, size):
    """A receive buffer beyond net.core.rmem_max (root only)."""
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


class Sniffer:
    """AF_PACKET capture on one interface of a namespace. Frames queue in the
    socket from creation on; read() takes them out."""

    def __init__(self, ns, ifname, outgoing=False):
        with netns(ns):
            self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                   socket.htons(ETH_P_ALL))
        rcvbuf(self.s, 32 << 20)
        self.s.bind((ifname, ETH_P_ALL))
        self.outgoing = outgoing
        self.frames = []

    def read(self, timeout=2.0, pred=None, count=None, idle=None):
        """Frames (matching pred) until count of them, timeout, or (idle)
        no frame for idle seconds."""
        got = []
        end = time.time() + timeout
        while count is None or len(got) < count:
            left = end - time.time()
            if idle is not None:
                left = min(left, idle)
            if left <= 0:
                break
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                break
            data, addr = self.s.recvfrom(65535)
            if addr[2] == PACKET_OUTGOING and not self.outgoing:
                continue
            self.frames.append(data)
            if pred is None or pred(data):
                got.append(data)
        return got

    def close(self):
        self.s.close()


class Injector:
    def __init__(self, ns, ifname):
        with netns(ns):
            self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                   socket.htons(ETH_P_ALL))
        self.s.bind((ifname, ETH_P_ALL))

    def send(self, frame):
        self.s.send(frame)

    def close(self):
        self.s.close()


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for fr in frames:
            t = time.time()
            f.write(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(fr), len(fr)))
            f.write(fr)


# ---------------------------------------------------------------------------
# Sockets in namespaces

def udp_socket(ns, addr, port=0):
    fam = socket.AF_INET6 if is_v6(addr) else socket.AF_INET
    with netns(ns):
        s = socket.socket(fam, socket.SOCK_DGRAM)
    rcvbuf(s, 4 << 20)
    s.bind((addr, port))
    return s


def udp_recv_all(s, timeout, want=None):
    """Every datagram that arrives within timeout (after the last one), or
    until want of them arrived (then only what is already queued)."""
    got = []
    while True:
        t = 0 if want is not None and len(got) >= want else timeout
        r, _, _ = select.select([s], [], [], t)
        if not r:
            return got
        got.append(s.recv(65535))


def tcp_listener(ns, addr, port=0):
    fam = socket.AF_INET6 if is_v6(addr) else socket.AF_INET
    with netns(ns):
        s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(4)
    return s


def tcp_client(ns, addr, port, timeout=30):
    fam = socket.AF_INET6 if is_v6(addr) else socket.AF_INET
    with netns(ns):
        s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((addr, port))
    return s


def snmp(ns):
    """{'Ip': {...}, 'Ip6': {...}} counters of a namespace."""
    res = {}
    with netns(ns):
        with open("/proc/thread-self/net/snmp") as f:
            lines = f.read().splitlines()
        with open("/proc/thread-self/net/snmp6") as f:
            six = f.read().splitlines()
    for i in range(0, len(lines) - 1, 2):
        k = lines[i].split()
        v = lines[i + 1].split()
        res[k[0].rstrip(":")] = dict(zip(k[1:], (int(x) for x in v[1:])))
    res["Ip6"] = {l.split()[0]: int(l.split()[1]) for l in six if l.split()}
    return res


def tcp_listening(ns, port):
    with netns(ns):
        for f in ("/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"):
            with open(f) as fh:
                for line in fh.read().splitlines()[1:]:
                    w = line.split()
                    if w[1].endswith(":%04X" % port) and w[3] == "0A":
                        return True
    return False


def wait_for(cond, timeout=5.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


# ---------------------------------------------------------------------------
# Topology: nodes A-D (ids 1-4) and an attacker E on one bridge

PREFIX = "akmp"
BRNS = PREFIX + "br"


class Node:
    def __init__(self, letter, idx):
        self.letter = letter
        self.id = idx
        self.ns = PREFIX + letter.lower()
        self.v4 = "10.99.0.%d" % idx
        self.v6 = "fd99::%d" % idx
        self.port = "p" + letter.lower()	# its bridge port (in BRNS)
        self.mac = "02:00:00:99:00:%02x" % idx

    def addr(self, v6):
        return self.v6 if v6 else self.v4

    def __repr__(self):
        return self.letter


def batch(lines, ns=None):
    """ip -batch, in namespace ns if given."""
    return sh(["ip", "-batch", "-"], ns=ns, input="\n".join(lines) + "\n")


def cleanup_netns():
    p = sh(["ip", "netns", "list"], check=False)
    for line in p.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(PREFIX):
            sh(["ip", "netns", "del", name], check=False)


class Topo:
    """Nodes A..D (ids 1..n) in ASR 1, attacker E (id 5, never a member), all
    on bridge br0 in BRNS. Node i: 10.99.0.i/24, fd99::i/64, MAC
    02:00:00:99:00:0i on eth0."""

    def __init__(self, tmpdir, n=4, alg="hmac-sha256", grace=None):
        self.tmp = tmpdir
        self.alg = alg
        self.nodes = [Node(l, i + 1) for i, l in enumerate("ABCD"[:n])]
        self.E = Node("E", 5)
        self.all = self.nodes + [self.E]
        self.keys = {}
        self.grace = grace
        self.procs = []

    def __getattr__(self, name):
        if len(name) == 1 and name in "ABCD":
            for n in self.nodes:
                if n.letter == name:
                    return n
        raise AttributeError(name)

    def build(self):
        """A few ip -batch runs: every exec costs on the VM's 9p root."""
        cleanup_netns()
        batch(["netns add " + n for n in [BRNS] + [x.ns for x in self.all]])
        with netns(BRNS):
            for c in ("all", "default"):
                with open("/proc/sys/net/ipv6/conf/%s/disable_ipv6" % c, "w") as f:
                    f.write("1")
        batch(["link add eth0 netns %s address %s type veth peer name %s netns %s"
               % (n.ns, n.mac, n.port, BRNS) for n in self.all])
        batch(["link add br0 type bridge"] +
              ["link set %s master br0 up" % n.port for n in self.all] +
              ["link set br0 up"], ns=BRNS)
        for n in self.all:
            batch(["addr add %s/24 dev eth0" % n.v4,
                   "addr add %s/64 dev eth0 nodad" % n.v6,
                   "link set lo up", "link set eth0 up"], ns=n.ns)

    def new_key(self, epoch):
        k = os.urandom(32)
        self.keys[epoch] = k
        path = os.path.join(self.tmp, "key%d" % epoch)
        with open(path, "wb") as f:
            f.write(k)
        return path

    def keyfile(self, epoch):
        return os.path.join(self.tmp, "key%d" % epoch)

    def akm(self, nodes=None, epoch=1):
        """Configure AKM on the nodes: node id, ASR 1 with every node as an
        active member, epoch installed and activated."""
        self.new_key(epoch)
        for n in nodes or self.nodes:
            g = Genl(n.ns)
            g.do("node_set", node_id=n.id)
            extra = {"asr_grace": self.grace} if self.grace is not None else {}
            g.do("asr_new", asr_id=1, asr_alg=UAPI["AKM_ALG_" + self.alg.upper().replace("-", "_")],
                 **extra)
            for m in self.nodes:
                g.do("member_new", asr_id=1, node_id=m.id, member_addrs=[m.v4, m.v6],
                     member_state=UAPI["AKM_MEMBER_ACTIVE"])
            g.do("key_install", asr_id=1, key_epoch=epoch, key_material=self.keys[epoch])
            g.do("key_activate", asr_id=1, key_epoch=epoch)
            g.close()

    def start(self, cmd, ns=None, **kw):
        with (netns(ns) if ns else contextlib.nullcontext()):
            p = subprocess.Popen(cmd, stdout=kw.pop("stdout", subprocess.DEVNULL),
                                 stderr=kw.pop("stderr", subprocess.DEVNULL), **kw)
        self.procs.append(p)
        return p

    def stop(self, p, sig=15):
        if p.poll() is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, 9)
            p.wait()

    def destroy(self):
        for p in self.procs:
            self.stop(p)
        cleanup_netns()

    def ping(self, src, dst, v6=False, count=2, size=None, timeout=3):
        cmd = ["ping", "-n", "-q", "-c", str(count), "-i", "0.05", "-W", str(timeout)]
        if v6:
            cmd.insert(1, "-6")
        if size:
            cmd += ["-s", str(size)]
        p = sh(cmd + [dst.addr(v6)], ns=src.ns, check=False, timeout=30)
        return p.returncode == 0, p.stdout.strip().splitlines()[-2:] if p.stdout else p.stderr
