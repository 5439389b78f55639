#!/usr/bin/python3
"""Turn the raw results of one bench/guest.sh run into a Markdown report.

    bench/report.py OUTDIR RESULTS.md

OUTDIR is build/bench-out/<kernel> (host.txt, sysinfo.txt, checks.tsv,
events.txt, raw/). Medians over the rounds; ratios are median / median of the
"plain" configuration (no authentication, akm.ko loaded with no ASR).
"""
import json
import os
import re
import statistics
import sys

CONFIGS = [
    ("plain-nomod", "no auth, akm.ko unloaded"),
    ("plain", "no auth (base)"),
    ("akm-hmac", "AKM hmac-sha256"),
    ("akm-chacha", "AKM chacha20-poly1305"),
    ("ah", "IPsec AH hmac(sha256)-128"),
    ("esp-gmac", "IPsec ESP rfc4543(gcm(aes))"),
    ("wg", "WireGuard"),
    ("plain-fw", "no auth, stateful firewall both sides"),
    ("akm-fw", "AKM chacha20-poly1305, stateful firewall both sides"),
]
NAME = dict(CONFIGS)
AKM = ["akm-hmac", "akm-chacha"]
PEERS = ["ah", "esp-gmac", "wg"]
BASE = "plain"
BENIGN = re.compile(r"[Cc]ommand line:|akm: loading out-of-tree|akm: module verification failed|"
                    r"Key type akm (un)?registered|MP-BIOS bug")
# metric id, heading, unit, format
METRICS = [
    ("tcp", "TCP", "Mbit/s", "%.1f"),
    ("udp1400", "UDP 1400 B received", "Mbit/s", "%.1f"),
    ("udp64", "UDP 64 B received", "kpps", "%.2f"),
    ("rr", "ICMP request/response", "round trips/s", "%.0f"),
]


def kv_file(path):
    d = {}
    try:
        for line in open(path):
            if ":" in line:
                k, v = line.split(":", 1)
                d.setdefault(k.strip(), []).append(v.strip())
    except OSError:
        pass
    return d


def one(d, k, default="?"):
    return d.get(k, [default])[0]


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def iperf(path, kind):
    """(value, extra dict) of one iperf3 JSON result, value None on error."""
    j = load_json(path)
    if not j or "error" in j or "end" not in j:
        err = j.get("error") if isinstance(j, dict) else "no result"
        return None, {"error": err}
    end = j["end"]
    r = end.get("sum_received", {})
    s = end.get("sum_sent", {})
    if kind == "tcp":
        return r.get("bits_per_second", 0) / 1e6, {"retr": s.get("retransmits", 0)}
    loss = r.get("lost_percent", 0.0)
    if kind == "udp1400":
        return r.get("bits_per_second", 0) / 1e6, {"loss": loss}
    got = r.get("packets", 0) - r.get("lost_packets", 0)
    secs = r.get("seconds") or 1
    return got / secs / 1e3, {"loss": loss}


def ping_rate(path):
    try:
        t = open(path).read()
    except OSError:
        return None, {"error": "no result"}
    m = re.search(r"(\d+) packets transmitted, (\d+) received.*time (\d+)ms", t)
    if not m or int(m.group(3)) == 0:
        return None, {"error": "no ping summary"}
    m2 = re.search(r"rtt min/avg/max/mdev = [\d.]+/([\d.]+)/", t)
    return int(m.group(2)) / (int(m.group(3)) / 1000.0), {
        "rtt": float(m2.group(1)) if m2 else None}


def akm_stats(path):
    j = load_json(path)
    if not isinstance(j, list):
        return None
    for e in j:
        if e.get("asr") == 1 and "node" not in e:
            return e.get("stats", {})
    return None


def xfrm_counters(path):
    try:
        return {k: int(v) for k, v in re.findall(r"^(Xfrm\w+)\s+(\d+)", open(path).read(), re.M)}
    except OSError:
        return {}


def xfrm_stats(raw, r, c, side):
    """packets per SA, replay/auth drop counters, XfrmIn/Out errors of this run."""
    try:
        t = open(os.path.join(raw, "r%d-%s-xfrm-%s.txt" % (r, c, side))).read()
    except OSError:
        return None
    pk = [int(x) for x in re.findall(r"\d+\(bytes\), (\d+)\(packets\)", t)]
    drops = 0
    for m in re.finditer(r"replay-window (\d+) replay (\d+) failed (\d+)", t):
        drops += sum(int(x) for x in m.groups())
    # /proc/net/xfrm_stat counts for the namespace's lifetime: take the difference
    before = xfrm_counters(os.path.join(raw, "r%d-%s-xfrmstat-%s-before.txt" % (r, c, side)))
    after = xfrm_counters(os.path.join(raw, "r%d-%s-xfrmstat-%s.txt" % (r, c, side)))
    errs = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
    return {"packets": pk, "drops": drops, "errors": errs}


def nstat(path):
    try:
        return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)", open(path).read(), re.M)}
    except OSError:
        return None


def tcp_detail(raw, rounds, c):
    """Per round: segments a sent (incl. retransmits), segments b received,
    retransmits, D-SACKs a received, reorder events a saw, b's OFO queueing."""
    out = []
    for r in rounds:
        a = nstat(os.path.join(raw, "r%d-%s-nstat-a.txt" % (r, c)))
        b = nstat(os.path.join(raw, "r%d-%s-nstat-b.txt" % (r, c)))
        if a is None or b is None:
            continue
        out.append({
            "sent": a.get("TcpOutSegs", 0) + a.get("TcpRetransSegs", 0),
            "rcvd": b.get("TcpInSegs", 0),
            "retr": a.get("TcpRetransSegs", 0),
            "dsack": a.get("TcpExtTCPDSACKRecv", 0),
            "reorder": a.get("TcpExtTCPSACKReorder", 0) + a.get("TcpExtTCPTSReorder", 0)
            + a.get("TcpExtTCPRenoReorder", 0),
            "ofo": b.get("TcpExtTCPOFOQueue", 0),
            "rto": a.get("TcpExtTCPTimeouts", 0),
        })
    return out


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(f, v):
    return "n/a" if v is None else f % v


def ratio(v, b):
    return None if v is None or not b else v / b


def main():
    out, dest = sys.argv[1], sys.argv[2]
    raw = os.path.join(out, "raw")
    host = kv_file(os.path.join(out, "host.txt"))
    sysi = kv_file(os.path.join(out, "sysinfo.txt"))
    kver = one(sysi, "kernel", os.path.basename(out.rstrip("/"))).split(" ")[0]
    events = []
    try:
        for line in open(os.path.join(out, "events.txt")):
            line = line.rstrip("\n")
            m = re.match(r"(.*?: kernel messages: )(.*)", line)
            if m:  # drop boot noise that mentions akm without being about it
                keep = [x for x in m.group(2).split("|") if x.strip() and not BENIGN.search(x)]
                if not keep:
                    continue
                line = m.group(1) + "|".join(keep)
            if line.strip():
                events.append(line)
    except OSError:
        pass
    checks = []
    try:
        checks = [l.rstrip("\n").split("\t") for l in open(os.path.join(out, "checks.tsv"))]
    except OSError:
        pass

    rounds = sorted({int(m.group(1)) for f in (os.listdir(raw) if os.path.isdir(raw) else [])
                     for m in [re.match(r"r(\d+)-", f)] if m})
    present = [c for c, _ in CONFIGS
               if any(os.path.exists(os.path.join(raw, "r%d-%s-tcp.json" % (r, c))) for r in rounds)]

    # vals[cfg][metric] = [per round]; extra[cfg][metric] = [dict per round]
    vals, extra = {}, {}
    for c in present:
        vals[c], extra[c] = {}, {}
        for mid, _, _, _ in METRICS:
            vs, es = [], []
            for r in rounds:
                p = os.path.join(raw, "r%d-%s-%s" % (r, c, mid))
                v, e = ping_rate(p + ".txt") if mid == "rr" else iperf(p + ".json", mid)
                if not os.path.exists(p + (".txt" if mid == "rr" else ".json")):
                    continue
                vs.append(v)
                es.append(e)
            vals[c][mid], extra[c][mid] = vs, es
    M = {c: {m: med(vals[c][m]) for m, _, _, _ in METRICS} for c in present}
    base = M.get(BASE, {})

    # protection / sanity notes per configuration
    problems = []
    akm_ok = []
    for c in present:
        for r in rounds:
            if c.startswith("akm"):
                for side in "ab":
                    st = akm_stats(os.path.join(raw, "r%d-%s-stats-%s.json" % (r, c, side)))
                    if st is None:
                        continue
                    if not st.get("tx_packets") or not st.get("rx_packets"):
                        problems.append("%s round %d: AKM counters in %s show no tagged traffic (tx %s rx %s)"
                                        % (c, r, side, st.get("tx_packets"), st.get("rx_packets")))
                    d = {k: v for k, v in st.items() if (k.startswith("drop_") or k == "tx_no_key") and v}
                    if d:
                        problems.append("%s round %d: AKM drops in %s: %s" % (c, r, side, d))
                    # every IP packet the namespace received must have been verified by
                    # AKM: its counters were reset before the 3 connectivity pings,
                    # nstat's after them
                    ns = nstat(os.path.join(raw, "r%d-%s-nstat-%s.txt" % (r, c, side)))
                    if ns is not None:
                        inr = ns.get("IpInReceives", 0)
                        if not inr <= st.get("rx_packets", 0) <= inr + 10:
                            problems.append("%s round %d: in %s AKM verified %s packets but IP "
                                            "received %d" % (c, r, side, st.get("rx_packets"), inr))
                        else:
                            akm_ok.append(1)
            elif c in ("ah", "esp-gmac"):
                for side in "ab":
                    x = xfrm_stats(raw, r, c, side)
                    if x is None:
                        continue
                    if len(x["packets"]) < 2 or min(x["packets"]) == 0:
                        problems.append("%s round %d: an SA in %s carried no packets (%s)"
                                        % (c, r, side, x["packets"]))
                    if x["drops"] or x["errors"]:
                        problems.append("%s round %d: xfrm drops in %s: replay/failed %d %s"
                                        % (c, r, side, x["drops"], x["errors"] or ""))
            elif c == "wg":
                try:
                    t = open(os.path.join(raw, "r%d-wg-wg.txt" % r)).read()
                    nums = [int(x) for m in re.findall(r"\s(\d+)\s+(\d+)\s*$", t, re.M) for x in m]
                    if len(nums) < 4 or min(nums) == 0:
                        problems.append("wg round %d: a peer shows no transfer (%s)" % (r, t.strip()))
                except OSError:
                    pass
        for mid, _, _, _ in METRICS:
            for r, e in zip(rounds, extra[c][mid]):
                if e.get("error"):
                    problems.append("%s round %d %s: %s" % (c, r, mid, e["error"]))
    for row in checks:
        if len(row) >= 4 and row[2] != "OK":
            problems.append("%s round %s: %s" % (row[0], row[1], row[3]))

    L = []
    w = L.append
    w("# AKM benchmark: %s" % kver)
    w("")
    w("Written by `bench/run.sh` (see `bench/README.md`); do not edit by hand.")
    w("")
    w("- kernel: `%s`" % one(sysi, "kernel"))
    w("- date: %s; tree: %s; akm.ko sha256 %s" % (one(host, "date"), one(host, "git"),
                                                  one(host, "akm_ko_sha256")))
    w("- VM: %s; guest sees %s vCPUs, %d MB; %s; clocksource %s"
      % (one(host, "vm"), one(sysi, "vcpus"), int(one(sysi, "mem_kb", "0")) // 1024,
         one(host, "qemu"), one(sysi, "clocksource")))
    w("- host: %s; load average before %s, after %s (other jobs share the host)"
      % (one(host, "host_cpu"), one(host, "host_load_before"), one(host, "host_load_after")))
    w("- rounds: %d (configuration order rotated each round), TCP %s s (+1 s omitted), "
      "UDP %s s, request/response %s s; %s s in the guest"
      % (len(rounds), one(sysi, "t_tcp"), one(sysi, "t_udp"), one(sysi, "t_rr"),
         one(sysi, "duration_s")))
    w("- crypto drivers picked: " + "; ".join("`%s`" % x for x in sysi.get("crypto", [])))
    w("- tools: %s; %s" % (one(sysi, "iperf3"), one(sysi, "wg").split(" - ")[0]))
    w("")
    w("TCG emulation: absolute numbers mean nothing, only the ratios to the "
      "no-auth run of this same VM run do (×: median / median of `plain`).")
    w("")
    w("## Medians")
    w("")
    hdr = "| configuration |"
    sep = "|---|"
    for mid, head, unit, _ in METRICS:
        hdr += " %s %s | × |" % (head, unit)
        sep += "---:|---:|"
        if mid == "tcp":
            hdr += " retransmits |"
            sep += "---:|"
        if mid in ("udp1400", "udp64"):
            hdr += " loss % |"
            sep += "---:|"
    w(hdr)
    w(sep)
    for c in present:
        row = "| %s |" % NAME[c]
        for mid, _, _, f in METRICS:
            v = M[c][mid]
            rt = ratio(v, base.get(mid))
            row += " %s | %s |" % (fmt(f, v), fmt("%.3f", rt))
            if mid == "tcp":
                row += " %s |" % fmt("%d", med([e.get("retr") for e in extra[c][mid]]))
            if mid in ("udp1400", "udp64"):
                row += " %s |" % fmt("%.1f", med([e.get("loss") for e in extra[c][mid]]))
        w(row)
    w("")

    # target: fastest AKM suite vs every peer
    w("## Fastest AKM suite against each peer")
    w("")
    w("AKM/peer is the median of the fastest AKM suite over the peer's median; "
      "\"overlap\" marks a difference smaller than the spread between rounds.")
    w("")
    w("| metric | fastest AKM suite | " + " | ".join(NAME[p] for p in PEERS if p in present) +
      " | target met |")
    w("|---|---|" + "---:|" * len([p for p in PEERS if p in present]) + "---|")
    verdict = {}
    for mid, head, unit, f in METRICS:
        cand = [(M[c][mid], c) for c in AKM if c in present and M[c][mid] is not None]
        if not cand:
            continue
        bv, bc = max(cand)
        cells, ok = [], True
        for p in PEERS:
            if p not in present:
                continue
            pv = M[p][mid]
            if pv is None:
                cells.append("n/a")
                continue
            aks = [x for x in vals[bc][mid] if x is not None]
            pvs = [x for x in vals[p][mid] if x is not None]
            overlap = aks and pvs and min(aks) <= max(pvs) and min(pvs) <= max(aks)
            cells.append("%.2f%s" % (bv / pv, " (overlap)" if overlap else ""))
            verdict.setdefault(mid, {})[p] = (bv / pv, overlap)
            if bv < pv:
                ok = False
        w("| %s | %s %s %s | %s | %s |" % (head, NAME[bc].replace("AKM ", ""), fmt(f, bv), unit,
                                           " | ".join(cells), "yes" if ok else "**no**"))
        verdict.setdefault(mid, {})["_best"] = (bc, ok)
    w("")

    w("## Every round")
    w("")
    w("Raw values per round, in time order (TCP retransmits in brackets); spread = "
      "(max - min) / median of the rounds.")
    w("")
    w("| configuration | " + " | ".join("%s %s | spread" % (h, u) for _, h, u, _ in METRICS) + " |")
    w("|---|" + "---:|---:|" * len(METRICS))
    spreads = []
    for c in present:
        row = "| %s |" % NAME[c]
        for mid, head, unit, f in METRICS:
            vs = vals[c][mid]
            cells = []
            for v, e in zip(vs, extra[c][mid]):
                cells.append(fmt(f, v) + (" (%s)" % e.get("retr") if mid == "tcp" and v is not None else ""))
            good = [v for v in vs if v is not None]
            sp = (max(good) - min(good)) / med(good) if len(good) > 1 and med(good) else None
            if sp is not None:
                spreads.append(sp)
            row += " %s | %s |" % (" · ".join(cells), fmt("%.0f%%", None if sp is None else sp * 100))
        w(row)
    w("")

    w("## TCP detail")
    w("")
    w("From per-namespace `nstat` deltas over the whole configuration (the TCP test "
      "plus the iperf3 control connections), medians over the rounds. \"sent\" counts "
      "the segments the client's stack sent including retransmissions, \"received\" "
      "the segments the server's stack got; they are equal when nothing was lost "
      "(GRO on the receiver, as on the plain path and inside WireGuard, makes "
      "\"received\" smaller). D-SACKs are the receiver reporting a segment it already "
      "had, i.e. a spurious retransmission.")
    w("")
    w("| configuration | sent | received | retransmitted | D-SACKs | reordering seen | out-of-order queued | RTOs |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    tcpd = {}
    for c in present:
        d = tcp_detail(raw, rounds, c)
        tcpd[c] = d
        if not d:
            continue
        w("| %s | %s |" % (NAME[c], " | ".join(
            "%d" % med([x[k] for x in d]) for k in
            ("sent", "rcvd", "retr", "dsack", "reorder", "ofo", "rto"))))
    w("")

    w("## Checks")
    w("")
    w("Every configuration first had to pass a ping; AKM counters (tagged packets "
      "in both directions, no drops), xfrm SA counters and WireGuard transfer "
      "counters were read after each configuration; the kernel log was scanned "
      "for BUG/WARNING/lockups after each one.")
    w("")
    if akm_ok:
        w("- AKM: in %d of %d namespace-runs, the packets AKM verified equal the IP packets the "
          "namespace received (+ the 3 connectivity pings): every packet was authenticated."
          % (len(akm_ok), 2 * len(rounds) * len([c for c in present if c in AKM])))
    if problems or events:
        for p in problems:
            w("- %s" % p)
        for e in events:
            w("- event: %s" % e)
    else:
        w("- nothing else to report: all configurations passed traffic, all counters as "
          "expected, no drops, no kernel warnings.")
    w("")

    # ---- reading
    w("## Reading")
    w("")
    w(reading(present, M, base, verdict, spreads, extra, tcpd))
    w("")
    with open(dest, "w") as fh:
        fh.write("\n".join(L))
    return 0


def reading(present, M, base, verdict, spreads, extra, tcpd):
    def r(c, m):
        return ratio(M[c][m], base.get(m))

    heads = {m: h for m, h, _, _ in METRICS}
    noise = statistics.median(spreads) if spreads else 0
    s = []
    # the verdict first
    met = [m for m in verdict if verdict[m].get("_best", (0, False))[1]]
    miss = [m for m in verdict if not verdict[m].get("_best", (0, True))[1]]
    if verdict:
        t = ("Target (the fastest AKM suite at or above every peer in the same run): met on "
             "%d of %d metrics" % (len(met), len(verdict)))
        if miss:
            t += ", missed on %s" % ", ".join(heads[m] for m in miss)
        best = sorted({verdict[m]["_best"][0] for m in verdict})
        s.append(t + "; the fastest suite was %s." % " / ".join(NAME[b] for b in best))
    for p in PEERS:
        if p not in present:
            continue
        parts = []
        for mid, head, _, _ in METRICS:
            v = verdict.get(mid, {}).get(p)
            if v:
                parts.append("%s %.2f×%s" % (head, v[0], " (within noise)" if v[1] else ""))
        if parts:
            s.append("Against %s: %s." % (NAME[p], ", ".join(parts)))
    if all(c in present for c in AKM):
        parts = []
        for mid, head, _, _ in METRICS:
            a, b = M["akm-chacha"][mid], M["akm-hmac"][mid]
            if a and b:
                parts.append("%s %.2f×" % (head, a / b))
        s.append("chacha20-poly1305 over hmac-sha256: %s." % ", ".join(parts))
    # what the numbers are worth
    s.append("Under TCG every SIMD instruction is emulated, so implementations built on "
             "AES-NI/PCLMULQDQ (ESP-GMAC) or AVX2 (SHA-256 of AH and AKM hmac-sha256) lose "
             "far more than on real hardware, where AES-GCM usually matches or beats "
             "ChaCha20-Poly1305: the margins over ESP-GMAC and AH are TCG margins, not "
             "hardware predictions. The margin over WireGuard is the more transferable one: "
             "both use the same ChaCha20/Poly1305 code, and AKM authenticates (one Poly1305 "
             "pass and one ChaCha20 block per packet) where WireGuard also encrypts "
             "and pads.")
    if "wg" in present and r("wg", "rr") is not None and r("wg", "rr") < 0.1:
        rtts = [e.get("rtt") for e in extra["wg"]["rr"] if e.get("rtt") is not None]
        artts = [e.get("rtt") for c in AKM if c in present for e in extra[c]["rr"]
                 if e.get("rtt") is not None]
        s.append("WireGuard's request/response rate is not a crypto cost: its echo round "
                 "trip averages %.1f ms in this VM (AKM: %.2f ms), so ping -f mostly waits "
                 "for its 10 ms timer; WireGuard hands every packet to worker threads, and "
                 "their wake-up latency on an emulated, overcommitted CPU is the likely "
                 "cause. The ratio on that metric says little." % (med(rtts) or 0, med(artts) or 0))
    over = ["%s %s" % (NAME[c], heads[m]) for c in present if c in AKM + PEERS
            for m in ("udp1400", "udp64") if (r(c, m) or 0) > 1]
    if over:
        s.append("Ratios above 1× on a UDP test (%s) do not mean faster than no "
                 "authentication: with -b 0 the sender and the receiver share the two vCPUs, "
                 "and a sender slowed down by tagging leaves more CPU to the receiver, "
                 "which then drops less (compare the loss column)." % ", ".join(over))
    tr = [r(c, "tcp") for c in present if c in AKM + PEERS and r(c, "tcp") is not None]
    if tr and base.get("tcp"):
        s.append("All authenticated paths reach only %.0f-%.0f%% of the unauthenticated TCP "
                 "rate, because the plain veth path carries 64 KB GSO super-packets while "
                 "AKM (which segments GSO packets in its POST_ROUTING hook), xfrm and WireGuard "
                 "tag MTU-sized packets one by one." % (100 * min(tr), 100 * max(tr)))
    spur = []
    for c in AKM + ["ah", "esp-gmac"]:
        d = tcpd.get(c) or []
        if d and all(x["sent"] == x["rcvd"] for x in d) and med([x["retr"] for x in d]) >= 10:
            spur.append(c)
    if spur:
        s.append("The TCP retransmissions of %s are spurious: every segment sent arrived "
                 "(sent = received in every round), the receiver flagged duplicates with "
                 "D-SACKs and the sender saw reordering, most likely because both vCPUs "
                 "feed the veth with MTU-sized packets and their backlogs drain in a "
                 "different order. WireGuard, which keeps each peer's packets in order, "
                 "shows none." % ", ".join(NAME[c] for c in spur))
    if "plain-nomod" in present and M["plain-nomod"].get("tcp") and base.get("tcp"):
        rs = [r("plain-nomod", m) for m, _, _, _ in METRICS if r("plain-nomod", m) is not None]
        s.append("With akm.ko unloaded the unauthenticated path gives %s of the base "
                 "(akm.ko loaded, no ASR)%s." % (
                     ", ".join("%.2f×" % x for x in rs),
                     ": within the round-to-round noise, so the idle hooks' cost is not "
                     "measurable here" if all(abs(x - 1) <= noise for x in rs) else
                     "; differences of this size are %s the round-to-round noise" % (
                         "beyond" if any(abs(x - 1) > 2 * noise for x in rs) else "close to")))
    if all(c in present for c in ("plain-fw", "akm-fw")):
        parts = ["%s %.2f×" % (heads[m], M["akm-fw"][m] / M["plain-fw"][m])
                 for m, _, _, _ in METRICS if M["akm-fw"][m] and M["plain-fw"][m]]
        if parts:
            s.append("Behind a stateful firewall (conntrack) on both sides, AKM "
                     "chacha20-poly1305 against no authentication behind the same firewall: "
                     "%s." % ", ".join(parts))
    if spreads:
        s.append("The same cell varied by a median of %.0f%% (worst %.0f%%) between rounds on "
                 "this shared, loaded host, so ratios closer to 1 than that are no difference; "
                 "the × columns divide by the unauthenticated rows, which swing the most "
                 "(their speed depends on CPU time alone)." % (100 * noise, 100 * max(spreads)))
    return " ".join(s)


if __name__ == "__main__":
    sys.exit(main())
