# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Shared by the root server's host tests (tests/root/*.sh): a PostgreSQL
# server of the test's own (pg.sh), akm-rootd and akmctl built with ASan and
# UBSan, instances started and stopped, the database's invariants.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"      (sets top, T, ROOTD, AKMCTL)
#   root_setup NAME        # temporary directory, build, the server (PG_DB)
#   start N [ARGS...]      # instance N on PG_DB, state $T/rN, log $T/rN.log
#   stop N                 # SIGTERM; its exit status (ASan's leak report: 99)
#   r1 ..., r2 ...         # akmctl root through instance 1 or 2 (r1j: -j)
#   serves N               # instance N makes changes
#   invariants PHASE       # one TAP result: the invariants hold
#   expect STATUS PATTERN WHAT CMD...   # one TAP result: CMD refused so
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib.sh"
. "$top/tests/root/pg.sh"

B=$top/userspace/asan
ROOTD=$B/rootd/akm-rootd
AKMCTL=$B/akmctl/akmctl
T=
PID1= PID2=
BG=()		# other background processes, killed at the end
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:exitcode=99}

root_cleanup() {
	local p
	for p in "${BG[@]}" $PID1 $PID2; do kill "$p" 2>/dev/null; done
	# and instances started by a helper (random.sh's hook)
	[ -z "$T" ] || pkill -f -- "--state $T/" 2>/dev/null
	wait 2>/dev/null
	pg_stop
	[ -z "$T" ] || rm -rf "$T"
}

root_setup() {
	T=$(mktemp -d "/tmp/akm-$1.XXXXXX")
	chmod 711 "$T"	# the server runs as postgres
	trap root_cleanup EXIT
	if ! make -s -C "$top/userspace" asan >"$T/build.log" 2>&1; then
		ok 1 "build akm-rootd and akmctl with ASan and UBSan" "$(tail -n 20 "$T/build.log")"
		totals
		exit 1
	fi
	pg_start "$T/pg"
	ok $? "a PostgreSQL server of the test's own ($PG_BIN)" \
		"$(cat "$T/pg/pg.log" 2>/dev/null)"
}

r1() { "$AKMCTL" root socket "$T/r1/admin.sock" "$@"; }
r2() { "$AKMCTL" root socket "$T/r2/admin.sock" "$@"; }
r1j() { "$AKMCTL" -j root socket "$T/r1/admin.sock" "$@"; }
# Instance N makes changes (reads run beside them): one it refuses, made by its loop.
serves() {
	local out
	out=$("$AKMCTL" root socket "$T/r$1/admin.sock" asr del 99999 2>&1)
	grep -q "no ASR 99999" <<<"$out" || { echo "# instance $1: $out"; return 1; }
}

start() {
	local i=$1 pid
	shift
	"$ROOTD" --id 1 --database "${DB:-$PG_DB}" --state "$T/r$i" --foreground "$@" \
		>>"$T/r$i.log" 2>&1 &
	pid=$!
	eval "PID$i=$pid"
	for _ in $(seq 100); do
		[ -S "$T/r$i/admin.sock" ] && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

stop() {
	local pid st
	pid=$(eval echo "\$PID$1")
	kill "$pid" 2>/dev/null
	wait "$pid"
	st=$?
	eval "PID$1="
	return $st
}

# The database's invariants, as one list of violations (empty: all hold):
# per ASR, epochs 1..epoch each made once, at most one pending (the last),
# the last one's member set the live members (unless the ASR was deleted);
# no id both a site's and a live node's; no name on two live nodes.
violations() {
	pg_sql <<'SQL'
SELECT 'asr ' || a.id || ': epoch ' || a.epoch || ', epochs ' ||
	coalesce((SELECT string_agg(e.epoch || ':' || e.state, ' ' ORDER BY e.epoch)
		  FROM epochs e WHERE e.asr = a.id), 'none')
FROM asrs a
WHERE a.epoch != (SELECT count(*) FROM epochs e WHERE e.asr = a.id)
   OR a.epoch != coalesce((SELECT max(epoch) FROM epochs e WHERE e.asr = a.id), 0)
   OR EXISTS (SELECT 1 FROM epochs e WHERE e.asr = a.id AND e.state = 'pending'
	      AND e.epoch != a.epoch)
   OR (a.epoch > 0 AND NOT a.deleted AND
       (SELECT members FROM epochs e WHERE e.asr = a.id AND e.epoch = a.epoch
	AND e.state != 'retired')
       != coalesce((SELECT array_agg(node ORDER BY node) FROM members m
		    WHERE m.asr = a.id AND m.state = 'live'), '{}'));
SELECT 'id ' || s.id || ' is a site and a node' FROM sites s JOIN nodes n ON n.id = s.id
WHERE n.state != 'removed';
SELECT 'name ' || name || ' on two nodes' FROM nodes WHERE state != 'removed'
GROUP BY name HAVING count(*) > 1;
SELECT 'removed node ' || m.node || ' live in asr ' || m.asr FROM members m
JOIN nodes n ON n.id = m.node WHERE n.state = 'removed' AND m.state = 'live';
SELECT 'deleted asr ' || a.id || ' keeps members or keys' FROM asrs a WHERE a.deleted AND
	(EXISTS (SELECT 1 FROM members m WHERE m.asr = a.id) OR
	 EXISTS (SELECT 1 FROM epochs e WHERE e.asr = a.id AND e.key != ''));
SELECT 'asr ' || asr || ' epoch ' || epoch || ' ' || state || ' keeps its key' FROM epochs
WHERE state IN ('superseded', 'retired') AND key != '';
SELECT 'asr ' || e.asr || ' epoch ' || e.epoch || ' ' || e.state || ', not its current one'
FROM epochs e JOIN asrs a ON a.id = e.asr WHERE e.state IN ('pending', 'active') AND
	e.epoch != a.epoch;
SELECT 'asr ' || k.asr || ' acks of epoch ' || k.epoch || ', not its pending current one'
FROM acks k JOIN asrs a ON a.id = k.asr WHERE a.deleted OR NOT EXISTS (SELECT 1 FROM epochs e
	WHERE e.asr = k.asr AND e.epoch = k.epoch AND e.epoch = a.epoch AND e.state = 'pending');
SQL
}

invariants() {
	local v
	v=$(violations 2>&1)
	[ -z "$v" ]
	ok $? "$1: the database's invariants hold" "$v"
}

expect() {
	local st=$1 pat=$2 what=$3 out rc
	shift 3
	out=$("$@" 2>&1)
	rc=$?
	[ $rc = "$st" ] && grep -q -- "$pat" <<<"$out"
	ok $? "refused ($st): $what" "exit $rc: $out"
}

# The instances' logs hold no sanitizer report: one TAP result.
no_reports() {
	! grep -q "runtime error\|Sanitizer" "$T"/r?.log
	ok $? "no ASan or UBSan report in the logs" \
		"$(grep -h -A10 "runtime error\|Sanitizer" "$T"/r?.log)"
}
