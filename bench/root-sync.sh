#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# How fast a membership change at the root reaches the sites, and write
# bench/results-root-sync.md.
#
#   bench/root-sync.sh [--kernel VER] [--changes N]
#
# On the host it boots VER (default: the newest of scripts/kernels.sh) with
# scripts/vm-run.sh and runs itself there (--guest): a PostgreSQL server of
# its own (tests/root/pg.sh), one akm-rootd --listen, 10 sites (an akm-nmmd
# each, every one in a network namespace of its own, linked to the root),
# 26 nodes made at the root per site, and ASR 1 with 256 members spread
# over the 10 sites. Then N changes of ASR 1 (default 20: a member removed,
# added again, ...), each timed from the akmctl command to the moment every
# site's store holds the new epoch (its NMM then delivers it to its members
# as an NMM of its own does: tests/nmm/scale.sh measures that part), and a
# site's full round from a restart of its NMM. The nodes are records only
# (no agents). TCG: compare figures within one run, not with hardware.
#
# Not part of the test suite: it measures, it does not judge.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
CHANGES=20 KVER= GUEST=
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) KVER=${2:?}; shift 2 ;;
	--changes) CHANGES=${2:?}; shift 2 ;;
	--guest) GUEST=${2:?}; shift 2 ;;
	*) sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
	esac
done

if [ -z "$GUEST" ]; then
	[ -n "$KVER" ] || KVER=$("$REPO/scripts/kernels.sh" | tail -n 1)
	OUT=$REPO/build/bench-out/root-sync-$KVER
	rm -rf "$OUT" && mkdir -p "$OUT" || exit 1
	make -s -C "$REPO" module KVER="$KVER" >/dev/null || exit 1
	"$REPO/scripts/vm-run.sh" --kernel "$KVER" --module "$REPO/build/$KVER/akm.ko" \
		--out "$OUT" --timeout 3600 -- \
		"bench/root-sync.sh --guest $OUT --changes $CHANGES" || exit 1
	cp "$OUT/results.md" "$HERE/results-root-sync.md" && cat "$HERE/results-root-sync.md"
	exit
fi

# ---- in the VM ----
. "$REPO/tests/root/pg.sh"
. "$REPO/tests/lib.sh"
US=$REPO/userspace
AKMCTL=$US/akmctl/akmctl
W=$(mktemp -d /tmp/akm-rsync.XXXXXX)
chmod 711 "$W"
PIDS=()
declare -A NMM=()
SITES=10 PER=26
cleanup() {
	kill "${PIDS[@]}" "${NMM[@]}" 2>/dev/null
	wait 2>/dev/null
	pg_stop
	for i in root $(seq 1 $SITES); do ip netns del "rs-$i" 2>/dev/null; done
	ip link del rsbr 2>/dev/null
	cp "$W"/*.log "$GUEST/" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
root() { "$AKMCTL" root socket "$W/root/admin.sock" "$@"; }

ip link add rsbr type bridge && ip link set rsbr up
for i in root $(seq 1 $SITES); do
	a=10.9.6.$([ "$i" = root ] && echo 1 || echo $((10 + i)))
	ip netns add "rs-$i"
	ip link add "rs-$i" type veth peer name eth0 netns "rs-$i"
	ip link set "rs-$i" master rsbr up
	ip -n "rs-$i" addr add "$a/24" dev eth0
	ip -n "rs-$i" link set eth0 up
	ip -n "rs-$i" link set lo up
done
pg_start "$W/pg" || exit 1
ip netns exec rs-root "$US/rootd/akm-rootd" --id 1 --database "$PG_DB" --listen 10.9.6.1 \
	--state "$W/root" --foreground >>"$W/root.log" 2>&1 &
PIDS+=($!)
wait_for 30 test -S "$W/root/admin.sock" || exit 1
start_nmm() {	# I
	ip netns exec "rs-$1" "$US/nmm/akm-nmmd" --id $((1 + $1)) --listen "10.9.6.$((10 + $1))" \
		--state "$W/s$1" --foreground >>"$W/nmm-s$1.log" 2>&1 &
	NMM[$1]=$!
	wait_for 30 test -S "$W/s$1/admin.sock"
}
start=$SECONDS
for i in $(seq 1 $SITES); do
	root site add "s$i" id $((1 + i)) endpoint "10.9.6.$((10 + i)):4790" >/dev/null &&
		root site export "s$i" file "$W/s$i.bundle" >"$W/s$i.export" && start_nmm "$i" &&
		sed -n 's/^transfer code //p' "$W/s$i.export" |
		"$AKMCTL" nmm socket "$W/s$i/admin.sock" root import "$W/s$i.bundle" code-file - \
			>/dev/null || exit 1
done
for i in $(seq 1 $SITES); do
	for k in $(seq 1 $PER); do
		root node add "n$i-$k" id $((1000 + 100 * i + k)) site "s$i" addr "10.20.$i.$k" \
			>/dev/null || exit 1
	done
done
root asr add 1 alg hmac-sha256 policy drop >/dev/null || exit 1
m=0
for k in $(seq 1 $PER); do
	for i in $(seq 1 $SITES); do
		[ $m -lt 256 ] || break 2
		root asr add-member 1 node "n$i-$k" >/dev/null || exit 1
		m=$((m + 1))
	done
done
setup=$((SECONDS - start))
stores=$(for i in $(seq 1 $SITES); do printf '%s ' "$W/s$i/nmm.db"; done)
python3 - "$W/root/admin.sock" "$AKMCTL" "$CHANGES" "$setup" "$GUEST/results.md" $stores \
	<<'EOF'
import sqlite3, statistics, subprocess, sys, time
sock, akmctl, changes, setup, out, stores = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    int(sys.argv[4]), sys.argv[5], sys.argv[6:]

def root(*args):
    return subprocess.run([akmctl, "root", "socket", sock, *args], check=True,
                          capture_output=True, text=True).stdout

def epochs():
    out = []
    for s in stores:
        db = sqlite3.connect(f"file:{s}?mode=ro", uri=True, timeout=5)
        try:
            row = db.execute("SELECT epoch FROM asrs WHERE id = 1").fetchone()
            out.append(row[0] if row else 0)
        except sqlite3.OperationalError:
            out.append(0)
        db.close()
    return out

def root_epoch():
    for line in root("asr", "show", "1").splitlines():
        if line.startswith("asr 1 "):
            return int(line.split(" epoch ")[1].split()[0])

def wait_all(e, limit=120):
    t = time.monotonic()
    while time.monotonic() - t < limit:
        if min(epochs()) >= e:
            return time.monotonic()
        time.sleep(0.002)
    raise SystemExit(f"epoch {e} did not reach every site in {limit} s: {epochs()}")

e = root_epoch()
wait_all(e, 300)
cmd, total = [], []
for i in range(changes):
    verb = "del-member" if i % 2 == 0 else "add-member"
    t0 = time.monotonic()
    root("asr", verb, "1", "node", "n10-1")
    t1 = time.monotonic()
    e += 1
    t2 = wait_all(e)
    cmd.append((t1 - t0) * 1000)
    total.append((t2 - t0) * 1000)

def row(name, v):
    return f"| {name} | {min(v):.0f} ms | {statistics.median(v):.0f} ms | {max(v):.0f} ms |"

with open(out, "w") as f:
    f.write(f"""# Root to sites: propagation (bench/root-sync.sh)

One akm-rootd (--listen) on PostgreSQL 15, 10 sites (an akm-nmmd each, in
network namespaces of one VM under TCG), 26 nodes per site made at the root,
ASR 1 with 256 members over the 10 sites (setup: {setup} s). Each change
removes or adds one member of ASR 1 (a new epoch); timed from the akmctl
command to every site's store holding the new epoch. The NMMs' own delivery
to their members follows (tests/nmm/scale.sh: 2.4-4.0 s for 256 members
of one NMM).

| {changes} changes of ASR 1 | min | median | max |
|---|---|---|---|
{row("akmctl root asr add-member/del-member answered", cmd)}
{row("every site's store holds the new epoch", total)}
""")
print(open(out).read())
EOF
rc=$?
[ $rc = 0 ] || exit $rc
# a site's full round: its NMM restarted
kill -9 "${NMM[1]}"; wait "${NMM[1]}" 2>/dev/null
rm -f "$W/s1/admin.sock"
mv "$W/nmm-s1.log" "$W/nmm-s1.first.log"
t0=$(date +%s%N)
start_nmm 1 || exit 1
wait_for 120 grep -q "event root-synced" "$W/nmm-s1.log" || exit 1
t1=$(date +%s%N)
printf '\nA site restarted (kill -9 of its NMM): its link up and a full round (26 nodes,\nASR 1 of 256 members) in %d ms.\n' $(((t1 - t0) / 1000000)) >>"$GUEST/results.md"
tail -n 3 "$GUEST/results.md"
