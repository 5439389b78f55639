#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The root server's database surviving its machine (TAP), on the host:
# PostgreSQL's own streaming replication, as Documentation/root.md says to
# run it. A primary and a hot standby made with pg_basebackup -R, commits
# synchronous to it; two akm-rootd instances given both servers in one
# connection string with target_session_attrs=read-write. Changes go in,
# the primary dies (immediate stop: no shutdown checkpoint), the standby is
# promoted, and both instances serve again with every change they had
# acknowledged; the database's invariants hold. The same without AKM first:
# a row written with psql survives the same failover, so a failure says whose
# it is.
#
#   tests/root/failover.sh     (root)
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root_setup root-failover
SB=$T/standby
SB_PORT=$((PG_PORT + 1))
sb_ctl() { runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$SB/data" -l "$SB/pg.log" "$@"; }
sb_sql() { runuser -u postgres -- psql -h "$SB" -p "$SB_PORT" -d akm -XAtq "$@"; }
failover_cleanup() {
	[ -d "$SB/data" ] && sb_ctl -w -m immediate stop >/dev/null 2>&1
	root_cleanup
}
trap failover_cleanup EXIT

# ---- the primary (root_setup's server), and a synchronous hot standby of it ----
# remote_apply: an acknowledged commit is visible on the standby at once
pg_sql -c "ALTER SYSTEM SET synchronous_standby_names = '*'" \
	-c "ALTER SYSTEM SET synchronous_commit = remote_apply" -c "SELECT pg_reload_conf()" \
	>/dev/null
mkdir -p "$SB" && chown postgres "$SB"
sync_standby() {
	[ "$(pg_sql -c "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'
		AND state = 'streaming'")" = 1 ]
}
runuser -u postgres -- "$PG_BIN/pg_basebackup" -h "$PG_DIR" -p "$PG_PORT" -U postgres \
	-D "$SB/data" -R -X stream -c fast >"$SB/basebackup.log" 2>&1 &&
	sb_ctl -w -o "-k $SB -p $SB_PORT -c listen_addresses=''" start >/dev/null &&
	wait_for 20 sync_standby
ok $? "a hot standby (pg_basebackup -R), streaming, synchronous" \
	"$(cat "$SB/basebackup.log" "$SB/pg.log" 2>/dev/null | tail -n 20)"

# ---- without AKM: a row survives the failover ----
pg_sql -c "CREATE TABLE plain (v int)" -c "INSERT INTO plain VALUES (1)"
got=$(sb_sql -c "SELECT count(*) FROM plain")
[ "$got" = 1 ]
ok $? "without AKM: a committed row is on the standby at once" "$got"

# ---- two instances given both servers ----
DB="host=$PG_DIR,$SB port=$PG_PORT,$SB_PORT dbname=akm user=postgres
	target_session_attrs=read-write connect_timeout=5"
DB=${DB//$'\n'/ }
DB=${DB//$'\t'/}
r() { local i=$1; shift; "$AKMCTL" root socket "$T/r$i/admin.sock" "$@"; }
start 1 && install -m 600 -D "$T/r1/master.key" "$T/r2/master.key" && start 2
ok $? "two akm-rootd instances, both servers in their connection string" \
	"$(cat "$T/r1.log" "$T/r2.log")"

r 1 site add east id 100 endpoint 10.1.0.1 >/dev/null &&
	r 2 site add west id 200 endpoint 10.2.0.1 >/dev/null &&
	r 1 node add a id 1001 site east addr 10.1.0.2 >/dev/null &&
	r 2 node add b id 1002 site west addr 10.2.0.2 >/dev/null &&
	r 1 asr add 1 alg hmac-sha256 >/dev/null
ok $? "sites, nodes and an ASR through both instances"
acked=0
for k in $(seq 10); do
	node=$([ $((k % 2)) = 0 ] && echo a || echo b)
	verb=$([ $(((k + 1) / 2 % 2)) = 1 ] && echo add-member || echo del-member)
	r $((1 + k % 2)) asr $verb 1 node $node >/dev/null && acked=$k
done
[ "$acked" = 10 ]
ok $? "10 membership changes acknowledged (epochs 1-10)"
got=$(sb_sql -c "SELECT epoch FROM asrs WHERE id = 1")
[ "$got" = 10 ]
ok $? "the standby has epoch 10 before the primary goes" "$got"

# ---- the primary's machine dies; the standby is promoted ----
pg_ctl_ -w -m immediate stop >/dev/null
out=$(r 1 asr show 1 2>&1)
[ $? = 1 ] && grep -q "unreachable\|read-only" <<<"$out"
ok $? "with the primary gone: a command fails and says why" "$out"
t0=$EPOCHSECONDS
# the promoted server has no standby of its own yet: its commits must not
# wait for one (it inherited synchronous_standby_names from the base backup)
sb_ctl -w promote >/dev/null &&
	sb_sql -c "ALTER SYSTEM RESET synchronous_standby_names" -c "SELECT pg_reload_conf()" \
		>/dev/null
ok $? "pg_ctl promote; synchronous_standby_names reset on it" "$(tail -n 5 "$SB/pg.log")"
got=$(sb_sql -c "SELECT count(*) FROM plain")
[ "$got" = 1 ]
ok $? "without AKM: the row is on the promoted server" "$got"
r 1 asr add-member 1 node b >/dev/null 2>&1 || r 1 asr del-member 1 node b >/dev/null
st=$?
dt=$((EPOCHSECONDS - t0))
[ $st = 0 ] && [ $dt -le 2 ]
ok $? "instance 1's next change succeeds on the promoted server ($dt s after promote)" \
	"$(tail -n 5 "$T/r1.log")"
serves 2 && r 2 asr show 1 >/dev/null
ok $? "instance 2 serves too" "$(tail -n 5 "$T/r2.log")"
got=$(r 2 asr show 1 | head -n 1)
grep -q "epoch 11" <<<"$got"
ok $? "no acknowledged change lost: epoch 11 follows the 10 acknowledged" "$got"
# the promoted server is the primary now
PG_DIR=$SB PG_PORT=$SB_PORT invariants "the promoted server"
# (instance 2 was asked reads only: its own connection is back within its retry interval)
wait_for 20 grep -q "database: connected again" "$T/r1.log" &&
	wait_for 20 grep -q "database: connected again" "$T/r2.log"
ok $? "both instances logged their reconnection" "$(tail -n 3 "$T/r1.log" "$T/r2.log")"

# ---- the standby lost, the primary alive, commits synchronous ----
sb_sql -c "ALTER SYSTEM SET synchronous_standby_names = '*'" -c "SELECT pg_reload_conf()" \
	>/dev/null
e0=$(sb_sql -c "SELECT epoch FROM asrs WHERE id = 1")
t0=$SECONDS
out=$(r 1 asr add-member 1 node a 2>&1 || r 1 asr del-member 1 node a 2>&1)
st=$?
dt=$((SECONDS - t0))
[ $st = 1 ] && [ $dt -ge 19 ] && [ $dt -le 30 ] &&
	grep -q "lost while committing: the change may or may not have been made" <<<"$out"
ok $? "no standby to confirm a commit: given up after 20 s (${dt} s), reported as unknown" \
	"exit $st: $out"
serves 2 && r 2 asr show 1 >/dev/null
ok $? "the other instance is not stuck" "$(tail -n 3 "$T/r2.log")"
sb_sql -c "ALTER SYSTEM RESET synchronous_standby_names" -c "SELECT pg_reload_conf()" >/dev/null
e1() { [ "$(sb_sql -c "SELECT epoch FROM asrs WHERE id = 1")" = $((e0 + 1)) ]; }
wait_for 10 e1 && r 1 asr show 1 | grep -q "epoch $((e0 + 1))"
ok $? "the standby requirement lifted: the change was made (epoch $((e0 + 1))), instance 1 serves" \
	"$(r 1 asr show 1 2>&1 | head -n 2)"

stop 1
st1=$?
stop 2
st2=$?
[ $st1 = 0 ] && [ $st2 = 0 ]
ok $? "both stop on SIGTERM, no leak (exit $st1, $st2)"
no_reports
totals
[ "$fail" = 0 ]
