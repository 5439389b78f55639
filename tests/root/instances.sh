#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Two akm-rootd instances on one PostgreSQL (Documentation/root.md,
# "Several instances"), in a VM with akm.ko loaded (as root): instances A
# and B listen in namespaces of their own; a site's NMM (east) with two
# nodes, each in its own namespace. The site's bundle names A; the root
# tells the site of B. Checked: the site moves to the instance that is
# alive when the other is killed (kill -9, twice, both ways), a change made
# while the site's instance was frozen reaches the nodes through the other
# one, a change cut by kill -9 at a random moment and one cut by a
# PostgreSQL restart leave the nodes' kernels as the database says. Every
# path is pinged first without AKM, so that a failure says whose it is.
#
#   scripts/vm-run.sh --kernel VER --module build/VER/akm.ko -- tests/root/instances.sh
set -uo pipefail

W=$(mktemp -d /tmp/akm-inst.XXXXXX)
chmod 711 "$W"
P=akmin-
NMM_PID=
declare -A ROOT_PID=() AGENT_PID=()
NAME="root instances"
. "$(dirname "${BASH_SOURCE[0]}")/vm.sh"

NET=10.9.6
SEED=${AKM_SEED:-$RANDOM}
echo "# seed $SEED (AKM_SEED=$SEED to repeat)"
RANDOM=$SEED
declare -A ID=([ra]=1 [rb]=2 [east]=3 [e1]=11 [e2]=12)
NODES="e1 e2"
addr() { echo "$NET.${ID[$1]}"; }

cleanup() { vm_teardown "${AGENT_PID[*]} $NMM_PID ${ROOT_PID[*]}" ra rb east $NODES; }
trap cleanup EXIT

root() { local i=$1; shift; "$AKMCTL" root socket "$W/$i/admin.sock" "$@"; }
nmm() { "$AKMCTL" nmm socket "$W/east/admin.sock" "$@"; }
nmmj() { "$AKMCTL" -j nmm socket "$W/east/admin.sock" "$@"; }

bridge_up
for ns in ra rb east $NODES; do netns_up "$ns"; done

# ---- without AKM: the site reaches both instances, the nodes each other ----
good=0
for x in ra rb e1 e2; do in_ns east ping -c 1 -W 2 "$(addr "$x")" >/dev/null || good=1; done
in_ns e1 ping -c 1 -W 2 "$(addr e2)" >/dev/null || good=1
ok $good "without AKM: east pings both instances and its nodes, e1 pings e2"

pg_start "$W/pg"
ok $? "PostgreSQL started" "$(tail -n 5 "$W/pg/pg.log" 2>/dev/null)"
start_root() {	# INSTANCE
	ip netns exec "$P$1" "$ROOTD" --id 1 --database "$PG_DB" --listen "$(addr "$1")" \
		--state "$W/$1" --foreground >>"$W/$1.log" 2>&1 &
	ROOT_PID[$1]=$!
	wait_for 20 test -S "$W/$1/admin.sock"
}
kill_root() {	# INSTANCE
	kill -9 "${ROOT_PID[$1]}" 2>/dev/null
	wait "${ROOT_PID[$1]}" 2>/dev/null
	rm -f "$W/$1/admin.sock"
}
start_root ra && install -m 600 -D "$W/ra/master.key" "$W/rb/master.key" && chmod 700 "$W/rb" &&
	start_root rb
ok $? "instances A and B on one database, each listening in its namespace" \
	"$(tail -n 3 "$W/ra.log" "$W/rb.log")"

# ---- the site, provisioned through A; told of B ----
root ra site add east id "${ID[east]}" endpoint "$(addr east):4790" >/dev/null &&
	root ra site export east file "$W/east.bundle" >"$W/east.export"
ok $? "site east added and exported at A (its bundle names A)" "$(cat "$W/east.export")"
start_nmm() {
	ip netns exec "${P}east" "$NMMD" --id "${ID[east]}" --listen "$(addr east)" \
		--state "$W/east" --foreground >>"$W/nmm.log" 2>&1 &
	NMM_PID=$!
	wait_for 20 test -S "$W/east/admin.sock"
}
stop_nmm() {
	kill -9 "$NMM_PID"; wait "$NMM_PID" 2>/dev/null
	rm -f "$W/east/admin.sock"
}
start_nmm &&
	sed -n 's/^transfer code //p' "$W/east.export" |
	nmm root import "$W/east.bundle" code-file - >/dev/null
site_at() {	# INSTANCE: east's session is with it
	nmmj root show | grep -q "\"addr\":\"$(addr "$1")\",\"port\":4790,\"state\":\"session\""
}
wait_for 60 site_at ra
ok $? "east's NMM has its session with A" "$(nmm root show; tail -n 5 "$W/nmm.log")"
knows_both() { nmmj root show | grep -q "\"instances\":\[\"$(addr ra):4790\",\"$(addr rb):4790\"\]"; }
wait_for 60 knows_both
ok $? "A told east of both instances" "$(nmm root show)"
[ "$(sqlite3 "$W/east/nmm.db" "SELECT instances FROM uplink")" = "$(addr ra):4790 $(addr rb):4790" ]
ok $? "... and east's store keeps them"
nmm root show | sed 's/^/# /'

# ---- two nodes, an ASR ----
good=0
for x in $NODES; do
	{ root ra node add "$x" id "${ID[$x]}" site east addr "$(addr "$x")" >/dev/null &&
		wait_for 20 sh -c "$AKMCTL -j nmm socket $W/east/admin.sock node list | grep -q '\"name\":\"$x\"'" &&
		nmm node export "$x" file "$W/$x.bundle" >"$W/$x.export" &&
		sed -n 's/^transfer code //p' "$W/$x.export" |
			in_ns "$x" "$AGENT" import "$W/$x.bundle" --state "$W/$x" --code-file - \
			>/dev/null; } || good=1
	ip netns exec "$P$x" "$AGENT" run --state "$W/$x" -v >>"$W/agent-$x.log" 2>&1 &
	AGENT_PID[$x]=$!
done
online() { nmmj node list "$1" | grep -q '"link":"online"'; }
for x in $NODES; do wait_for 60 online "$x" || good=1; done
ok $good "e1 and e2 made at A, provisioned by east's NMM, online" "$(nmm node list)"

# The nodes' kernels as the database says: every live member holds its
# ASR's epoch, no other node holds the ASR.
converged() {
	local asr e x live
	for asr in $(pg_sql -c "SELECT id FROM asrs WHERE NOT deleted ORDER BY id"); do
		e=$(pg_sql -c "SELECT epoch FROM asrs WHERE id = $asr")
		for x in $NODES; do
			live=$(pg_sql -c "SELECT count(*) FROM members WHERE asr = $asr AND \
				node = ${ID[$x]} AND state = 'live'")
			if [ "$live" = 1 ]; then
				[ "$(kernel_epoch "$x" "$asr")" = "$e" ] || return 1
			else
				no_asr "$x" "$asr" || return 1
			fi
		done
	done
}
state() {
	pg_sql -c "SELECT a.id, a.epoch, string_agg(m.node || ':' || m.state, ' ') FROM asrs a \
		LEFT JOIN members m ON m.asr = a.id WHERE NOT a.deleted GROUP BY a.id, a.epoch"
	for x in $NODES; do echo "$x: $(ctl "$x" asr show 2>&1 | tr '\n' ' ')"; done
	nmm root show
}

root ra asr add 1 alg hmac-sha256 policy drop >/dev/null &&
	root ra asr add-member 1 node e1 >/dev/null && root ra asr add-member 1 node e2 >/dev/null
wait_for 30 converged && wait_for 20 talks e1 e2
ok $? "ASR 1 with e1 and e2: both hold the root's epoch and talk" "$(state)"

# ---- A frozen (its database connection alive), a change made at B ----
kill -STOP "${ROOT_PID[ra]}"
wait_for 20 root rb asr del-member 1 node e2
ok $? "A frozen: e2 removed from ASR 1 at B" "$(tail -n 3 "$W/rb.log")"
# east's NMM started again, trying B first: refused while A holds its session
B_FIRST="$(addr rb):4790 $(addr ra):4790"
stop_nmm
sqlite3 "$W/east/nmm.db" "UPDATE uplink SET instances = '$B_FIRST'"
start_nmm
busy() { grep -c "site ${ID[east]} from $(addr east): refused: bootstrap-during-session-elsewhere" "$W/rb.log"; }
refused() { [ "$(busy)" -gt 0 ]; }
wait_for 30 refused
ok $? "... B refuses east's bootstrap while A has its session (EBUSY)" "$(tail -n 5 "$W/rb.log")"
# A killed, its last contact with east still recent: B takes east at the first try
stop_nmm
refusals=$(busy)
kill_root ra
start_nmm
t0=$SECONDS
wait_for 60 site_at rb && [ "$(busy)" = "$refusals" ]
ok $? "A killed: B takes east's session at once ($((SECONDS - t0)) s; A's database connection gone)" \
	"$(nmm root show; tail -n 8 "$W/nmm.log"; tail -n 5 "$W/rb.log")"
wait_for 30 converged && dropped e1 e2
ok $? "... e1 holds ASR 1's new epoch $(pg_sql -c "SELECT epoch FROM asrs WHERE id = 1"), e2 left it, e1 drops its packets" \
	"$(state)"

# A's machine lost for good: refused while its row says it runs, forgotten at B once
# aged past that (rather than wait), and east told at once (not at B's next 30 s read)
aged() { pg_sql -c "UPDATE instances SET seen = now() - interval '$1 seconds' WHERE
	addr = '$(addr ra)'" >/dev/null; }
aged 30
out=$(root rb instance del "$(addr ra)" 2>&1)
[ $? = 1 ] && grep -q "was seen in the last 60 s: it runs" <<<"$out"
ok $? "instance del of A seen 30 s ago: refused, it may run" "$out"
aged 120
root rb instance list | sed 's/^/# /'
# (the NMM tries its bundle's endpoint after them all the same)
knows_b() { [ "$(sqlite3 "$W/east/nmm.db" "SELECT instances FROM uplink")" = "$(addr rb):4790" ]; }
root rb instance del "$(addr ra)" && [ "$(root rb instance list | grep -c state)" = 1 ] &&
	wait_for 10 knows_b &&
	grep -q "event instance-removed instance $(addr ra) port 4790" "$W/rb.log"
ok $? "instance del of A at B: east is told of B alone" \
	"$(root rb instance list; sqlite3 "$W/east/nmm.db" "SELECT instances FROM uplink")"

# ---- A back, B killed in the middle of changes at B ----
start_root ra
ok $? "A started again" "$(tail -n 3 "$W/ra.log")"
delay=$((RANDOM % 10))
{
	root rb asr add-member 1 node e2
	root rb asr add 2 alg hmac-sha256 policy drop
	root rb asr add-member 2 node e1
	root rb asr add-member 2 node e2
} >/dev/null 2>&1 &
changes=$!
sleep "0.$delay"
kill_root rb
wait "$changes" 2>/dev/null
echo "# B killed 0.$delay s into four changes: $(pg_sql -c "SELECT count(*) FROM members") member rows"
t0=$SECONDS
wait_for 90 site_at ra
ok $? "B killed mid-change: east's session moves back to A" "$(nmm root show; tail -n 8 "$W/nmm.log")"
[ $((SECONDS - t0)) -lt 20 ]
ok $? "... in $((SECONDS - t0)) s"
wait_for 30 sh -c "[ \"\$(sqlite3 $W/east/nmm.db 'SELECT instances FROM uplink')\" = '$(addr ra):4790 $(addr rb):4790' ]"
ok $? "... and A told it of both instances, itself first" \
	"$(sqlite3 "$W/east/nmm.db" "SELECT instances FROM uplink")"
wait_for 60 converged
ok $? "... the nodes' kernels are as the database says, whatever of the changes was made" \
	"$(state)"
# what B did not make, made at A
[ "$(pg_sql -c "SELECT count(*) FROM members WHERE asr = 1 AND node = ${ID[e2]} AND \
	state = 'live'")" = 1 ] || root ra asr add-member 1 node e2 >/dev/null
[ "$(pg_sql -c "SELECT count(*) FROM asrs WHERE id = 2")" = 1 ] ||
	root ra asr add 2 alg hmac-sha256 policy drop >/dev/null
for x in $NODES; do
	[ "$(pg_sql -c "SELECT count(*) FROM members WHERE asr = 2 AND node = ${ID[$x]}")" = 1 ] ||
		root ra asr add-member 2 node "$x" >/dev/null
done
wait_for 60 converged && wait_for 20 talks e1 e2
ok $? "the rest made at A: both in ASRs 1 and 2, as the database says, and they talk" \
	"$(state)"

# ---- PostgreSQL restarted in the middle of a change ----
root ra asr del-member 2 node e2 >/dev/null 2>&1 &
changes=$!
sleep "0.$((RANDOM % 5))"
pg_restart fast
wait "$changes" 2>/dev/null
echo "# e2 in ASR 2 after the restart: $(pg_sql -c "SELECT state FROM members WHERE asr = 2 AND node = ${ID[e2]}")"
wait_for 60 converged
ok $? "PostgreSQL restarted mid-change: the nodes' kernels as the database says" "$(state)"
[ "$(pg_sql -c "SELECT state FROM members WHERE asr = 2 AND node = ${ID[e2]}")" = revoked ] ||
	root ra asr del-member 2 node e2 >/dev/null
wait_for 60 converged && wait_for 30 site_at ra
ok $? "... the removal made (again if it was cut), east still with A" "$(state)"

! grep -E "AddressSanitizer|runtime error" "$W"/r?.log "$W/nmm.log"
ok $? "no sanitizer reports"
totals
[ "$fail" = 0 ]
