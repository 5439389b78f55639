#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Load on the root server, and write bench/results-root.md.
#
#   bench/root-load.sh [--sites N] [--nodes N] [--asrs N] [--seconds S]
#
# On the host (root): a PostgreSQL server of its own (tests/root/pg.sh), two
# akm-rootd instances (the optimized build) on one database, and
# bench/root-load.py speaking their admin protocol: it makes N sites, nodes
# spread over them and ASRs (ASR 1 with 256 members from 10 sites, the
# others with 10 random members each), then measures membership changes
# (each makes an epoch) through one and two instances, with 1 to 8 clients
# at once, on random ASRs and all on ASR 1, and the database's size.
# Defaults: 100 sites, 10,000 nodes, 1,000 ASRs, 20 s per run.
#
# Not part of the test suite: it measures, it does not judge. What the root
# cannot do yet (deliver epochs to sites) is not measured: Documentation/root.md.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
SITES=100 NODES=10000 ASRS=1000 SECS=20
while [ $# -gt 0 ]; do
	case $1 in
	--sites) SITES=${2:?}; shift 2 ;;
	--nodes) NODES=${2:?}; shift 2 ;;
	--asrs) ASRS=${2:?}; shift 2 ;;
	--seconds) SECS=${2:?}; shift 2 ;;
	*) sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
	esac
done
. "$REPO/tests/root/pg.sh"

T=$(mktemp -d /tmp/akm-root-load.XXXXXX)
chmod 711 "$T"
PIDS=()
cleanup() {
	kill "${PIDS[@]}" 2>/dev/null
	wait 2>/dev/null
	pg_stop
	rm -rf "$T"
}
trap cleanup EXIT
make -s -C "$REPO/userspace" >/dev/null || exit 1
pg_start "$T/pg" || exit 1
ROOTD=$REPO/userspace/rootd/akm-rootd
for i in 1 2; do
	[ $i = 1 ] || install -m 600 -D "$T/r1/master.key" "$T/r2/master.key"
	"$ROOTD" --id 999999 --database "$PG_DB" --state "$T/r$i" --foreground >"$T/r$i.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do [ -S "$T/r$i/admin.sock" ] && break; sleep 0.1; done
	[ -S "$T/r$i/admin.sock" ] || { cat "$T/r$i.log"; exit 1; }
done
S1=$T/r1/admin.sock S2=$T/r2/admin.sock
load() { python3 "$HERE/root-load.py" "$@"; }

echo "root-load: populating ($SITES sites, $NODES nodes, $ASRS ASRs)" >&2
pop=$(load populate "$S1" "$SITES" "$NODES" "$ASRS") || exit 1
size() { pg_sql -c "SELECT pg_database_size('akm')"; }
tables=$(pg_sql -c "SELECT relname || ' ' || pg_total_relation_size(oid) FROM pg_class
	WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace
	ORDER BY pg_total_relation_size(oid) DESC")
empty=$(pg_sql -c "SELECT pg_database_size('template1')")
db=$(size)
runs=()
for spec in "churn 1 $S1" "churn 4 $S1" "churn 8 $S1" "churn 8 $S1 $S2" "hot 8 $S1 $S2"; do
	read -r kind conc socks <<<"$spec"
	echo "root-load: $kind, $conc clients, $(wc -w <<<"$socks") instance(s)" >&2
	# shellcheck disable=SC2086
	runs+=("$(load "$kind" "$SECS" "$conc" $socks)") || exit 1
done
epochs=$(pg_sql -c "SELECT count(*) FROM epochs")
db_after=$(size)

out=$HERE/results-root.md
{
	echo "# Root server load ($(date -u +%Y-%m-%d), bench/root-load.sh)"
	echo
	echo "Host: $(nproc) cores, $(uname -r); PostgreSQL $(pg_sql -c 'SHOW server_version'),"
	echo "default settings, Unix socket; akm-rootd $(cat "$REPO/VERSION") (-O2). Each change"
	echo "is one SERIALIZABLE transaction through \`akm-rootd\`'s admin socket;"
	echo "clients wait for each answer. Not measured yet: delivery to sites."
	echo
	python3 - "$pop" "$db" "$empty" "$tables" "$epochs" "$db_after" "${runs[@]}" <<'PY'
import json, sys
pop = json.loads(sys.argv[1]); db, empty = int(sys.argv[2]), int(sys.argv[3])
tables = [l.split() for l in sys.argv[4].splitlines()]
epochs, db_after = int(sys.argv[5]), int(sys.argv[6])
runs = [json.loads(a) for a in sys.argv[7:]]
mb = lambda b: "%.1f MB" % (b / 1e6)
print("| populated | figure |\n|---|---|")
print("| sites, nodes, ASRs, memberships | %d, %d, %d, %d |" %
      (pop["sites"], pop["nodes"], pop["asrs"], pop["memberships"]))
print("| time: sites, nodes, memberships | %.1f s, %.1f s, %.1f s |" %
      (pop["sites_s"], pop["nodes_s"], pop["members_s"]))
print("| database, less an empty one | %s |" % mb(db - empty))
print("| per 1,000 nodes (with their share of ASRs and epochs) | %s |" %
      mb((db - empty) * 1000 / pop["nodes"]))
for name, size in tables[:6]:
    print("| table `%s` | %s |" % (name, mb(int(size))))
print()
print("| membership changes | instances | clients | changes/s | p50 | p99 | refused |")
print("|---|---|---|---|---|---|---|")
for r in runs:
    print("| %s | %d | %d | %.1f | %.1f ms | %.1f ms | %d |" %
          ("ASR 1 only (256 members)" if r["hot"] else "random ASRs",
           r["instances"], r["clients"], r["changes_per_s"], r["p50_ms"], r["p99_ms"],
           r["failed"]))
print()
print("After the runs: %d epochs kept, database %s." % (epochs, mb(db_after - empty)))
errs = sorted({e for r in runs for e in r["errors"]})
if errs:
    print("\nRefusals seen: " + "; ".join(errs))
PY
} >"$out"
cat "$out"
