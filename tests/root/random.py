#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Random sequences of akmctl root commands against a model (tests/root/random.sh).

Each step picks a command at random (sites, nodes and ASRs made and deleted,
members added and removed, names, ids and addresses drawn from small pools
so that they collide), sends it to one of the instances, and checks that
it succeeded exactly when the model says it must; then that every ASR's
epoch, live members and revoked members are the model's. Every N steps
random.sh's hooks may restart an instance or the database (--hook).

  random.py SEED STEPS SOCK1 SOCK2 [HOOK]   -> TAP on stdout
"""
import json
import random
import socket
import struct
import subprocess
import sys

RUN, OUT, ERR, EXIT = 100, 101, 102, 103
ROOT_ID = 1


def run(sock, words, json_out=False):
    body = bytes([RUN]) + struct.pack(">HHB", 1, 1, 1 if json_out else 0)
    for w in words:
        body += struct.pack(">HH", 2, len(w)) + w.encode()
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sock)
        s.sendall(struct.pack(">I", len(body)) + body)
        f = s.makefile("rb")
        out = err = b""
        while True:
            hdr = f.read(4)
            if len(hdr) < 4:
                return None, out, err
            (n,) = struct.unpack(">I", hdr)
            frame = f.read(n)
            p = 1
            while p + 4 <= len(frame):
                t, ln = struct.unpack(">HH", frame[p:p + 4])
                v = frame[p + 4:p + 4 + ln]
                p += 4 + ln
                if frame[0] == OUT:
                    out += v
                elif frame[0] == ERR:
                    err += v
                elif frame[0] == EXIT:
                    return struct.unpack(">I", v)[0], out, err
    finally:
        s.close()


class Model:
    def __init__(self):
        self.sites = {}      # name -> id
        self.nodes = {}      # name -> {id, site, addrs, removed}; removed ones by "#id"
        self.asrs = {}       # id -> {epoch, live: set, revoked: set, deleted}

    def live_nodes(self):
        return {n: v for n, v in self.nodes.items() if not v["removed"]}

    def forget(self, key):
        """A removed node's tombstone goes, with its revoked entries."""
        v = self.nodes.pop(key)
        for a in self.asrs.values():
            a["revoked"].discard(v["id"])
            a["live"].discard(v["id"])

    def tombstones(self, pred):
        for k in [k for k, v in self.nodes.items() if v["removed"] and pred(v)]:
            self.forget(k)

    def id_taken(self, i):
        return i == ROOT_ID or i in self.sites.values() or \
            any(v["id"] == i for v in self.live_nodes().values())

    def site_add(self, name, i):
        if self.id_taken(i) or name in self.sites:
            return False
        self.tombstones(lambda v: v["id"] == i)
        self.sites[name] = i
        return True

    def site_del(self, name):
        if name not in self.sites:
            return False
        sid = self.sites[name]
        if any(v["site"] == sid for v in self.live_nodes().values()):
            return False
        self.tombstones(lambda v: v["site"] == sid)
        del self.sites[name]
        return True

    def node_add(self, name, i, site, addr):
        if site not in self.sites or self.id_taken(i) or name in self.live_nodes():
            return False
        if any(addr in v["addrs"] for v in self.live_nodes().values()):
            return False
        self.tombstones(lambda v: v["id"] == i or v["name"] == name)
        for v in self.nodes.values():
            v["addrs"].discard(addr)
        self.nodes[name] = {"id": i, "name": name, "site": self.sites[site],
                            "addrs": {addr}, "removed": False}
        return True

    def node_del(self, name):
        if name not in self.live_nodes():
            return False
        v = self.nodes.pop(name)
        v["removed"] = True
        self.nodes["#%d" % v["id"]] = v
        for a in self.asrs.values():
            if v["id"] in a["live"]:
                a["live"].discard(v["id"])
                a["revoked"].add(v["id"])
                a["epoch"] += 1
        return True

    def asr_add(self, i):
        a = self.asrs.get(i)
        if a and not a["deleted"]:
            return False
        if a:
            a["deleted"] = False
        else:
            self.asrs[i] = {"epoch": 0, "live": set(), "revoked": set(), "deleted": False}
        return True

    def asr_del(self, i):
        a = self.asrs.get(i)
        if not a or a["deleted"]:
            return False
        a.update(deleted=True, live=set(), revoked=set())
        return True

    def member(self, i, name, add):
        a = self.asrs.get(i)
        if not a or a["deleted"] or name not in self.live_nodes():
            return False
        nid = self.nodes[name]["id"]
        if add == (nid in a["live"]):
            return False
        if add:
            a["revoked"].discard(nid)
            a["live"].add(nid)
        else:
            a["live"].discard(nid)
            a["revoked"].add(nid)
        a["epoch"] += 1
        return True


def main():
    seed, steps, socks = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:5]
    hook = sys.argv[5] if len(sys.argv) > 5 else None
    rnd = random.Random(seed)
    m = Model()
    n = fails = 0
    names = ["n%d" % k for k in range(12)]
    sites = ["s%d" % k for k in range(3)]
    ids = list(range(1, 20))          # 1 is the root's
    addrs = ["10.0.0.%d" % k for k in range(1, 10)]

    def tap(ok, what, diag=""):
        nonlocal n, fails
        n += 1
        if not ok:
            fails += 1
        print("%sok %d - %s" % ("" if ok else "not ", n, what))
        if not ok and diag:
            print("\n".join("# " + l for l in diag.splitlines()[:20]))
        sys.stdout.flush()

    for step in range(1, steps + 1):
        if hook and step % 25 == 0:
            subprocess.run([hook, str(rnd.randrange(3))], check=False)
        r = rnd.random()
        if r < 0.08:
            name, i = rnd.choice(sites), rnd.choice(ids)
            # an endpoint address of its own (one site per address)
            ep = "10.9.%d.%d" % (i >> 8 & 255, i & 255)
            words, want = ["site", "add", name, "id", str(i), "endpoint", ep], \
                m.site_add(name, i)
        elif r < 0.12:
            name = rnd.choice(sites)
            words, want = ["site", "del", name], m.site_del(name)
        elif r < 0.30:
            name, i, site, a = rnd.choice(names), rnd.choice(ids), rnd.choice(sites), \
                rnd.choice(addrs)
            words, want = ["node", "add", name, "id", str(i), "site", site, "addr", a], \
                m.node_add(name, i, site, a)
        elif r < 0.38:
            name = rnd.choice(names)
            words, want = ["node", "del", name], m.node_del(name)
        elif r < 0.45:
            i = rnd.randint(1, 4)
            words, want = ["asr", "add", str(i), "alg", "hmac-sha256"], m.asr_add(i)
        elif r < 0.48:
            i = rnd.randint(1, 4)
            words, want = ["asr", "del", str(i)], m.asr_del(i)
        else:
            i, name, add = rnd.randint(1, 4), rnd.choice(names), rnd.random() < 0.6
            words = ["asr", "add-member" if add else "del-member", str(i), "node", name]
            want = m.member(i, name, add)
        sock = rnd.choice(socks)
        st, out, err = run(sock, words)
        got = st == 0
        tap(got == want, "step %d: %s: %s" % (step, " ".join(words),
                                               "made" if want else "refused"),
            "exit %s: %s%s" % (st, out.decode(), err.decode()))
        if st is None or got != want:
            break
        # every ASR as the model has it
        st, out, err = run(rnd.choice(socks), ["asr", "show"], json_out=True)
        shown = {a["id"]: a for a in json.loads(out)} if st == 0 else None
        want_asrs = {i: a for i, a in m.asrs.items() if not a["deleted"]}
        bad = []
        if shown is None:
            bad.append("asr show failed: %s" % err.decode())
        else:
            if set(shown) != set(want_asrs):
                bad.append("ASRs %s, model %s" % (sorted(shown), sorted(want_asrs)))
            for i, a in want_asrs.items():
                s = shown.get(i)
                if not s:
                    continue
                live = {x["node"] for x in s["members"] if x["state"] != "revoked"}
                rev = {x["node"] for x in s["members"] if x["state"] == "revoked"}
                if (s["epoch"], live, rev) != (a["epoch"], a["live"], a["revoked"]):
                    bad.append("asr %d: epoch %d live %s revoked %s; model %d %s %s" %
                               (i, s["epoch"], sorted(live), sorted(rev), a["epoch"],
                                sorted(a["live"]), sorted(a["revoked"])))
        if bad:
            tap(False, "step %d: the ASRs are the model's" % step, "\n".join(bad))
            break
    tap(fails == 0, "%d steps, seed %d: every outcome and every ASR as the model says" %
        (steps, seed))
    print("1..%d" % n)
    print("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:0 error:0" % (n - fails, fails))
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
