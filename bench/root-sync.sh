#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The root server at a deployment's scale, its sites real NMMs, and write
# bench/results-root-sync.md.
#
#   bench/root-sync.sh [--kernel VER] [--sites N] [--nodes N] [--asrs N]
#                      [--changes N] [--seconds S] [--clients N] [--no-agents]
#
# On the host it boots VER (default: the newest of scripts/kernels.sh) with
# scripts/vm-run.sh and runs itself there (--guest): a PostgreSQL server of
# its own (tests/root/pg.sh), one akm-rootd --listen, and N sites, each an
# akm-nmmd in a network namespace of its own. The root's records are made
# first as bench/root-load.py does (default 100 sites, 10,000 nodes spread
# over them, 1,000 ASRs: ASR 1 with 256 members from 10 sites, the others
# with 10 random members each), then every site is exported, imported at its
# NMM and linked, and bench/root-sync.py measures:
#   - N changes of ASR 1 (default 20: a member removed, added again, ...),
#     each timed from the command to the moment every site with a member
#     holds the new epoch in its store, and to the moment the 25 members at
#     the last of them (real nodes: an akm-agent each, in a namespace of its
#     own, provisioned by their site's NMM) switched to it;
#   - C clients (default 4) changing random ASRs for S seconds (default 60)
#     with every site linked: changes per second, and the time until every
#     site's store holds exactly the root's view again (its ASRs, their
#     epochs);
#   - the database's size, and a site's full round after a restart.
# The other nodes are records only (no agents; --no-agents: none at all).
# TCG: compare figures within one run, not with hardware.
#
# Not part of the test suite: it measures, it does not judge.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
SITES=100 NODES=10000 ASRS=1000 CHANGES=20 SECS=60 CLIENTS=4 AGENTS=1 KVER= GUEST=
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) KVER=${2:?}; shift 2 ;;
	--sites) SITES=${2:?}; shift 2 ;;
	--nodes) NODES=${2:?}; shift 2 ;;
	--asrs) ASRS=${2:?}; shift 2 ;;
	--changes) CHANGES=${2:?}; shift 2 ;;
	--seconds) SECS=${2:?}; shift 2 ;;
	--clients) CLIENTS=${2:?}; shift 2 ;;
	--no-agents) AGENTS=0; shift ;;
	--guest) GUEST=${2:?}; shift 2 ;;
	*) sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
	esac
done
[ "$SITES" -ge 10 ] && [ "$SITES" -le 250 ] && [ "$NODES" -ge $((SITES * 26)) ] &&
	[ $((NODES % SITES)) = 0 ] && [ "$ASRS" -ge 2 ] && [ "$CHANGES" -ge 1 ] &&
	[ "$CLIENTS" -ge 1 ] || {
	echo "root-sync: 10 to 250 sites, as many nodes at each, 26 at least; a change, a client" >&2
	exit 2
}
ARGS="--sites $SITES --nodes $NODES --asrs $ASRS --changes $CHANGES --seconds $SECS --clients $CLIENTS"
[ $AGENTS = 1 ] || ARGS+=" --no-agents"

if [ -z "$GUEST" ]; then
	[ -n "$KVER" ] || KVER=$("$REPO/scripts/kernels.sh" | tail -n 1)
	OUT=$REPO/build/bench-out/root-sync-$KVER
	rm -rf "$OUT" && mkdir -p "$OUT" || exit 1
	make -s -C "$REPO" module KVER="$KVER" >/dev/null && make -s -C "$REPO/userspace" >/dev/null ||
		exit 1
	# shellcheck disable=SC2086
	"$REPO/scripts/vm-run.sh" --kernel "$KVER" --module "$REPO/build/$KVER/akm.ko" \
		--out "$OUT" --mem 6144 --timeout 10800 -- \
		"$REPO/bench/root-sync.sh --guest $OUT $ARGS" || exit 1
	cp "$OUT/results.md" "$HERE/results-root-sync.md" && cat "$HERE/results-root-sync.md"
	exit
fi

# ---- in the VM ----
. "$REPO/tests/root/pg.sh"
. "$REPO/tests/lib.sh"
US=$REPO/userspace
ROOTD=${AKM_ROOTD:-$US/rootd/akm-rootd}
NMMD=${AKM_NMMD:-$US/nmm/akm-nmmd}
AGENT=${AKM_AGENT:-$US/agent/akm-agent}
AKMCTL=${AKM_AKMCTL:-$US/akmctl/akmctl}
W=$(mktemp -d /tmp/akm-rsync.XXXXXX)
chmod 711 "$W"
PIDS=()
declare -A NMM=()
NODES_UP=()
cleanup() {
	kill "${PIDS[@]}" "${NMM[@]}" 2>/dev/null
	wait 2>/dev/null
	pg_stop
	for i in root $(seq 1 "$SITES") "${NODES_UP[@]}"; do ip netns del "rs-$i" 2>/dev/null; done
	ip link del rsbr 2>/dev/null
	cp "$W"/*.log "$W/pg/pg.log" "$GUEST/" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
ulimit -n 65536
root() { "$AKMCTL" root socket "$W/root/admin.sock" "$@"; }
# site i (id 100000 + i, as root-load.py makes it) at 10.255.0.i, the root at 10.254.0.1
site_addr() { echo "10.255.$(($1 / 256)).$(($1 % 256))"; }
now_ms() { date +%s%3N; }

netns_up() {	# NAME ADDRESS: a namespace on the bridge
	ip netns add "rs-$1" &&
		ip link add "rs-$1" type veth peer name eth0 netns "rs-$1" &&
		ip link set "rs-$1" master rsbr up &&
		ip -n "rs-$1" addr add "$2/8" dev eth0 &&
		ip -n "rs-$1" link set eth0 up &&
		ip -n "rs-$1" link set lo up
}
ip link add rsbr type bridge && ip link set rsbr up
netns_up root 10.254.0.1 || exit 1
for i in $(seq 1 "$SITES"); do netns_up "$i" "$(site_addr "$i")" || exit 1; done
pg_start "$W/pg" || exit 1
ip netns exec rs-root "$ROOTD" --id 999999 --database "$PG_DB" --listen 10.254.0.1 \
	--state "$W/root" --foreground >>"$W/root.log" 2>&1 &
PIDS+=($!)
wait_for 60 test -S "$W/root/admin.sock" || exit 1
echo "root-sync: populating ($SITES sites, $NODES nodes, $ASRS ASRs)" >&2
pop=$(python3 "$HERE/root-load.py" populate "$W/root/admin.sock" "$SITES" "$NODES" "$ASRS") ||
	exit 1
empty=$(pg_sql -c "SELECT pg_database_size('template1')") &&
	db=$(pg_sql -c "SELECT pg_database_size('akm')") || exit 1

start_nmm() {	# I
	ip netns exec "rs-$1" "$NMMD" --id $((100000 + $1)) --listen "$(site_addr "$1")" \
		--state "$W/s$1" --foreground >>"$W/nmm-s$1.log" 2>&1 &
	NMM[$1]=$!
	wait_for 60 test -S "$W/s$1/admin.sock"
}
synced() {	# I: the site's first full round ended
	grep -q "event root-synced" "$W/nmm-s$1.log"
}
echo "root-sync: linking the sites" >&2
t0=$(now_ms)
for i in $(seq 1 "$SITES"); do
	root site export "s$i" file "$W/s$i.bundle" >"$W/s$i.export" && start_nmm "$i" &&
		sed -n 's/^transfer code //p' "$W/s$i.export" |
		"$AKMCTL" nmm socket "$W/s$i/admin.sock" root import "$W/s$i.bundle" code-file - \
			>/dev/null || { echo "root-sync: site $i not imported" >&2; exit 1; }
	[ $((i % 10)) = 0 ] && echo "root-sync: $i sites imported, $(($(now_ms) - t0)) ms" >&2
done
t1=$(now_ms)
for i in $(seq 1 "$SITES"); do
	wait_for 1800 synced "$i" || { echo "root-sync: site $i not synced" >&2; exit 1; }
	[ $((i % 10)) = 0 ] && echo "root-sync: $i sites synced, $(($(now_ms) - t1)) ms" >&2
done
t2=$(now_ms)

# the members of ASR 1 at its last site: real nodes, each an agent
asite=$(pg_sql -c "SELECT max(n.site) - 100000 FROM members m JOIN nodes n ON n.id = m.node
	WHERE m.asr = 1 AND m.state = 'live'") && [ -n "$asite" ] || exit 1
members=()
t5=$(now_ms)
if [ $AGENTS = 1 ]; then
	echo "root-sync: provisioning the members of ASR 1 at site $asite" >&2
	pg_sql -F ' ' -c "SELECT n.id, n.name, host(a.addr) FROM members m JOIN nodes n
		ON n.id = m.node JOIN addrs a ON a.node = n.id WHERE m.asr = 1 AND m.state = 'live'
		AND n.site = 100000 + $asite ORDER BY n.id" >"$W/members" || exit 1
	S="$W/s$asite/admin.sock"
	while read -r id name addr; do
		netns_up "n$id" "$addr" && NODES_UP+=("n$id") &&
			"$AKMCTL" nmm socket "$S" node export "$name" file "$W/n$id.bundle" \
				>"$W/n$id.export" &&
			sed -n 's/^transfer code //p' "$W/n$id.export" |
			ip netns exec "rs-n$id" "$AGENT" import "$W/n$id.bundle" --state "$W/n$id" \
				--code-file - >/dev/null || { echo "root-sync: node $name" >&2; exit 1; }
		ip netns exec "rs-n$id" "$AGENT" run --state "$W/n$id" >>"$W/agent-n$id.log" 2>&1 &
		PIDS+=($!)
		members+=("$id")
	done <"$W/members"
	[ ${#members[@]} -gt 0 ] || { echo "root-sync: no member of ASR 1 at site $asite" >&2; exit 1; }
	switched() {	# every member at the site activated ASR 1's epoch in the store
		[ "$(sqlite3 "file:$W/s$asite/nmm.db?mode=ro" "SELECT count(*) FROM deliveries d
			JOIN asrs a ON a.id = d.asr AND a.epoch = d.epoch WHERE d.asr = 1 AND
			d.state = 'activated'")" = ${#members[@]} ]
	}
	wait_for 3600 switched || { echo "root-sync: the agents did not switch" >&2; exit 1; }
fi
t6=$(now_ms)
echo "root-sync: measuring" >&2
stores=$(for i in $(seq 1 "$SITES"); do printf '%s ' "$W/s$i/nmm.db"; done)
PSQL="runuser -u postgres -- psql -h $PG_DIR -p $PG_PORT -d akm -XAtq -v ON_ERROR_STOP=1 -c"
# shellcheck disable=SC2086
AGENT_SITE=$([ $AGENTS = 1 ] && echo "$asite" || echo 0) python3 "$HERE/root-sync.py" \
	"$W/root/admin.sock" "$PSQL" "$CHANGES" "$SECS" "$CLIENTS" "$W/figures.json" $stores >&2 ||
	exit 1

# a site's full round: its NMM killed and started again
kill -9 "${NMM[1]}"
wait "${NMM[1]}" 2>/dev/null
rm -f "$W/s1/admin.sock"
mv "$W/nmm-s1.log" "$W/nmm-s1.first.log"
t3=$(now_ms)
start_nmm 1 && wait_for 300 synced 1 || exit 1
t4=$(now_ms)
round=$(sed -n 's/.*event root-synced root [0-9]* \(nodes [0-9]* asrs [0-9]*\).*/\1/p' \
	"$W/nmm-s1.log" | head -n 1)
rss=$(ps -o rss= -p "${PIDS[0]}")
nmm_rss=$(ps -o rss= -p "${NMM[2]}")

python3 - "$pop" "$W/figures.json" "$db" "$empty" "$((t1 - t0))" "$((t2 - t1))" \
	"$((t4 - t3))" "$round" "$rss" "$nmm_rss" "$GUEST/results.md" "$((t6 - t5))" "$asite" \
	<<'PY'
import json, sys
pop, f = json.loads(sys.argv[1]), json.load(open(sys.argv[2]))
db, empty, imp, sync, restart = map(int, sys.argv[3:8])
rnd, rss, nmm_rss, out = sys.argv[8], int(sys.argv[9]), int(sys.argv[10]), sys.argv[11]
agents_s, asite = int(sys.argv[12]) / 1000, int(sys.argv[13])
c = f["churn"]
ms = lambda v: "%d ms | %d ms | %d ms" % tuple(v)
setup = [
    ("sites, nodes, ASRs, memberships", "%d, %d, %d, %d" % (
        pop["sites"], pop["nodes"], pop["asrs"], pop["memberships"])),
    ("records made (sites, nodes, memberships; admin socket)", "%.0f s, %.0f s, %.0f s" % (
        pop["sites_s"], pop["nodes_s"], pop["members_s"])),
    ("database, less an empty one", "%.1f MB" % ((db - empty) / 1e6)),
    ("per 1,000 nodes (with their share of ASRs and epochs)",
     "%.2f MB" % ((db - empty) * 1000 / pop["nodes"] / 1e6)),
    ("sites exported, imported, linked", "%.0f s" % (imp / 1000)),
    ("then every site's first full round ended", "%.0f s" % (sync / 1000)),
    ("akm-rootd resident size, an NMM's", "%.0f MiB, %.0f MiB" % (rss / 1024, nmm_rss / 1024))]
if "agents" in f:
    setup.append(("%d agents at site %d provisioned, online, ASR 1 activated on all" %
                  (f["agents"], asite), "%.0f s" % agents_s))
change = [("akmctl root asr del-member/add-member answered", ms(f["asr1_answer_ms"])),
          ("every site with a member holds the new epoch", ms(f["asr1_sites_ms"]))]
if "asr1_nodes_ms" in f:
    change.append(("the members at site %d switched to it (activated)" % asite,
                   ms(f["asr1_nodes_ms"])))
churn = [("changes made (each a new epoch)", "%d (%.1f/s)" % (c["changes"], c["changes_per_s"])),
         ("answer p50, p99", "%s ms, %s ms" % (c["p50_ms"], c["p99_ms"])),
         ("refused (a concurrent change took the member first)", "%d" % c["failed"]),
         ("every site's store as the root's view, after the last change",
          "%s s" % f["churn_converge_s"])]
rows = lambda t: "\n".join("| %s | %s |" % r for r in t)
members = ("The members of ASR 1 at site %d are real nodes (an akm-agent each, in a\n"
           "namespace of its own, provisioned by the site's NMM); the other nodes are\n"
           "records only." % asite) if "agents" in f else "The nodes are records only (no agents)."
text = f"""# The root at scale, its sites real NMMs (bench/root-sync.sh)

One akm-rootd (--listen) on PostgreSQL 15 and {f["sites"]} sites, an akm-nmmd
each in a network namespace of one VM (TCG, 2 vCPUs; compare figures within
the run, not with hardware).
{members}

| set-up | figure |
|---|---|
{rows(setup)}

| ASR 1 ({f["asr1_members"]} members at {f["asr1_sites"]} sites): a member removed or added | min | median | max |
|---|---|---|---|
{rows(change)}

| {c["clients"]} clients changing random ASRs for {c["seconds"]:.0f} s, every site linked | figure |
|---|---|
{rows(churn)}

A site's NMM killed (-9) and started again: its link up and its full round
({rnd}) in {restart / 1000:.1f} s.
"""
open(out, "w").write(text)
PY
cat "$GUEST/results.md"
