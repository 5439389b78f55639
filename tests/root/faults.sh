#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# akm-rootd when the database or its clients misbehave (TAP), on the host,
# against a PostgreSQL server of the test's own; faults are injected with
# triggers in the database. Checked: serialization failures that never end
# (the retry budget, no crash); the connection lost in the middle of a
# change (run again, made once) and while committing (reported as unknown);
# a row lock held elsewhere (a clean "busy" in seconds); a row this version
# cannot read; an answer of several megabytes (whole, exit 0); a watcher
# that stops reading (dropped, the others served); notifications from
# another role of the server (ignored).
#
#   tests/root/faults.sh       (root)
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root_setup root-faults

start 1
ok $? "akm-rootd" "$(cat "$T/r1.log")"
r1 site add east id 100 endpoint 10.1.0.1 >/dev/null &&
	r1 node add a id 1001 site east addr 10.1.0.2 >/dev/null &&
	r1 node add b id 1002 site east addr 10.1.0.3 >/dev/null &&
	r1 asr add 1 alg hmac-sha256 >/dev/null && r1 asr add-member 1 node a >/dev/null
ok $? "a site, two nodes, an ASR"

# ---- serialization failures without end ----
pg_sql <<'SQL'
CREATE SEQUENCE tries;
CREATE FUNCTION inject_40001() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM nextval('tries'); RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END $$;
CREATE TRIGGER inject BEFORE INSERT ON asrs FOR EACH ROW EXECUTE FUNCTION inject_40001();
SQL
t0=$SECONDS
out=$(r1 asr add 50 alg hmac-sha256 2>&1)
st=$?
dt=$((SECONDS - t0))
tries=$(pg_sql -c "SELECT last_value FROM tries")
[ $st = 1 ] && grep -q "kept reporting conflicting changes for 5 s" <<<"$out" &&
	[ $dt -ge 4 ] && [ $dt -le 8 ] && [ "$tries" -gt 10 ]
ok $? "serialization failures without end: $tries tries, refused after the 5 s budget (${dt} s)" \
	"$out"
pg_sql -c "DROP TRIGGER inject ON asrs"
serves 1 && r1 asr show 1 >/dev/null && ! r1 asr show 50 >/dev/null 2>&1
ok $? "the instance serves on; nothing of the refused change was made"

# ---- the connection lost in the middle of a change, once ----
pg_sql <<'SQL'
CREATE SEQUENCE once;
CREATE FUNCTION inject_die() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN
	IF nextval('once') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER inject BEFORE INSERT ON sites FOR EACH ROW EXECUTE FUNCTION inject_die();
SQL
out=$(r1 site add west id 200 endpoint 10.2.0.1 2>&1)
st=$?
rows=$(pg_sql -c "SELECT count(*) FROM sites WHERE name = 'west'")
[ $st = 0 ] && [ "$rows" = 1 ] && grep -q "connection lost" "$T/r1.log" &&
	grep -q "connected again" "$T/r1.log"
ok $? "connection lost before COMMIT: run again on a new connection, made once" \
	"exit $st: $out; rows $rows; $(tail -n 4 "$T/r1.log")"
pg_sql -c "DROP TRIGGER inject ON sites" -c "ALTER SEQUENCE once RESTART"

# ---- ... and while committing ----
pg_sql <<'SQL'
CREATE CONSTRAINT TRIGGER inject AFTER INSERT ON sites DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION inject_die();
SQL
out=$(r1 site add north id 300 endpoint 10.3.0.1 2>&1)
st=$?
[ $st = 1 ] && grep -q "lost while committing: the change may or may not have been made" <<<"$out"
ok $? "connection lost at COMMIT: reported as unknown, not run again" "exit $st: $out"
pg_sql -c "DROP TRIGGER inject ON sites"
r1 site add north id 300 endpoint 10.3.0.1 >/dev/null
ok $? "looked, and made again: it had not been made"

# ---- a row lock held elsewhere ----
runuser -u postgres -- psql -h "$PG_DIR" -p "$PG_PORT" -d akm -XAtq \
	-c "BEGIN" -c "SELECT id FROM asrs WHERE id = 1 FOR UPDATE" -c "SELECT pg_sleep(30)" \
	>/dev/null 2>&1 &
BG+=($!)
locked() {
	[ "$(pg_sql -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
		WHERE c.relname = 'asrs' AND l.mode = 'RowShareLock'")" -ge 1 ]
}
wait_for 10 locked
t0=$SECONDS
out=$(r1 asr add-member 1 node b 2>&1)
st=$?
dt=$((SECONDS - t0))
[ $st = 1 ] && grep -q "the database is busy" <<<"$out" && [ $dt -le 10 ]
ok $? "an ASR locked by another session: busy after the 5 s lock timeout (${dt} s)" \
	"exit $st: $out"
kill "${BG[-1]}" 2>/dev/null
pg_sql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep%'
	AND pid != pg_backend_pid()" >/dev/null
r1 asr add-member 1 node b >/dev/null
ok $? "the lock released: the change is made"

# ---- a row this version cannot read ----
pg_sql -c "UPDATE asrs SET alg = 9, policy = 7 WHERE id = 1"
out=$(r1 asr show 1 2>&1)
st=$?
[ $st = 0 ] && grep -q "alg unknown(9) policy unknown(7)" <<<"$out"
ok $? "an algorithm and a policy it does not know: shown as unknown, no crash" "$out"
pg_sql -c "UPDATE asrs SET alg = 1, policy = 1 WHERE id = 1"

# ---- a watcher that stops reading, another that reads; megabytes of events ----
# 1,000 ASRs of 200 members each, all with nodes 'v' and 'w': deleting them
# makes 2,000 epochs, and 2,000 events of about 1.3 kB: 2.6 MB, well past
# the backlog of 1 MiB and any socket buffer
pg_sql <<'SQL' >/dev/null
INSERT INTO sites (id, name, endpoint, cred) VALUES (400, 'big', '10.4.0.1:4790', '\x00');
INSERT INTO nodes (id, name, site, cred)
	SELECT 100000 + g, 'x' || g, 400, '\x00' FROM generate_series(1, 20000) g;
INSERT INTO nodes (id, name, site, cred) VALUES (99999, 'v', 400, '\x00');
INSERT INTO addrs (addr, node)
	SELECT ('10.100.0.0'::inet + g), 100000 + g FROM generate_series(1, 20000) g;
INSERT INTO asrs (id, alg, policy, grace) SELECT 1000 + k, 1, 1, 30 FROM generate_series(0, 999) k;
INSERT INTO members (asr, node, state)
	SELECT 1000 + k, 100000 + (k * 199 + m) % 20000 + 1, 'live'
	FROM generate_series(0, 999) k, generate_series(0, 198) m;
INSERT INTO nodes (id, name, site, cred) VALUES (99998, 'w', 400, '\x00');
INSERT INTO members (asr, node, state) SELECT 1000 + k, 99999, 'live' FROM generate_series(0, 999) k;
INSERT INTO members (asr, node, state) SELECT 1000 + k, 99998, 'live' FROM generate_series(0, 999) k;
SQL
python3 - "$T/r1/admin.sock" >"$T/stalled.out" 2>&1 <<'PY' &
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
body = bytes([100]) + struct.pack(">HH", 2, 5) + b"watch"
s.sendall(struct.pack(">I", len(body)) + body)
time.sleep(15)			# reads nothing meanwhile
got = 0
s.settimeout(5)
try:
	while True:
		d = s.recv(1 << 16)
		if not d:
			break
		got += len(d)
	print("closed after", got)
except socket.timeout:
	print("still open after", got)
PY
STALLED=$!
BG+=($STALLED)
"$AKMCTL" -j root socket "$T/r1/admin.sock" watch >"$T/watch.json" 2>&1 &
BG+=($!)
sleep 1
t0=$SECONDS
r1 node del v && r1 node del w
ok $? "node del of two nodes in 1,000 ASRs of 201 members ($((SECONDS - t0)) s)" \
	"$(tail -n 3 "$T/r1.log")"
events() { [ "$(grep -c '"event":"epoch-created"' "$T/watch.json")" -ge 2000 ]; }
wait_for 30 events
ok $? "the reading watcher got all 2,000 events ($(wc -c <"$T/watch.json") bytes)" \
	"$(grep -c '"event":"epoch-created"' "$T/watch.json") events"
wait "$STALLED"
grep -q "^closed after" "$T/stalled.out"
ok $? "the watcher that stopped reading was dropped ($(cat "$T/stalled.out"))" \
	"$(cat "$T/stalled.out")"
serves 1 && r1 asr show 1 >/dev/null
ok $? "the instance serves on"

# ---- an answer of megabytes ----
live=$(pg_sql -c "SELECT count(*) FROM nodes WHERE state != 'removed'")
r1 node list >"$T/list.txt"
st=$?
lines=$(wc -l <"$T/list.txt")
[ $st = 0 ] && [ "$lines" = "$live" ] && ! grep -vq "^node [^ ]* id [0-9]* site [^ ]* state provisioned asrs [0-9]* link unknown addr [0-9.]*$" "$T/list.txt"
ok $? "node list of $live nodes: whole, every line intact ($(wc -c <"$T/list.txt") bytes)" \
	"exit $st, $lines lines; $(grep -v "^node .* addr [0-9.]*$" "$T/list.txt" | head -n 3)"
got=$(r1j node list | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
[ "$got" = "$live" ]
ok $? "... and as JSON" "$got"

# ---- notifications from another role of the server: forged, and replayed ----
runuser -u postgres -- psql -h "$PG_DIR" -p "$PG_PORT" -d akm -Xq \
	-c "LISTEN akm_root" -c "SELECT pg_sleep(3)" >"$T/listen.out" 2>&1 &
BG+=($!)
sleep 1
r1 asr add 3 alg hmac-sha256 >/dev/null
wait "${BG[-1]}"
captured=$(sed -n 's/.*with payload "\(.*asr-added asr 3\)" received.*/\1/p' "$T/listen.out")
[ -n "$captured" ]
ok $? "another role can LISTEN: it captured the event of 'asr add 3'" "$(cat "$T/listen.out")"
r1 asr add 2 alg hmac-sha256 >/dev/null
pg_sql -c "NOTIFY akm_root, '00000000000000000000000000000000 9999 asr-deleted asr 1'" \
	-c "NOTIFY akm_root, 'asr-deleted asr 1'" -c "SELECT pg_notify('akm_root', '$captured')" \
	>/dev/null
r1 asr del 2 >/dev/null
wait_for 5 grep -q '"event":"asr-deleted","asr":2' "$T/watch.json" &&
	! grep -q '"event":"asr-deleted","asr":1' "$T/watch.json" &&
	[ "$(grep -c '"event":"asr-added","asr":3' "$T/watch.json")" = 1 ] &&
	grep -q "ignored a notification on akm_root without this deployment's MAC, or one seen" "$T/r1.log"
ok $? "forged notifications and a replayed one are ignored (and said once)" \
	"$(grep 'asr-deleted\|"asr":3' "$T/watch.json"; grep ignored "$T/r1.log")"

# ---- after a reconnection, another server in the place of the database ----
pg_ctl_ -w -m fast stop >/dev/null
mv "$PG_DIR/data" "$PG_DIR/data.akm"
runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null 2>&1 &&
	pg_ctl_ -w -o "-k $PG_DIR -p $PG_PORT -c listen_addresses=''" start >/dev/null &&
	runuser -u postgres -- "$PG_BIN/createdb" -h "$PG_DIR" -p "$PG_PORT" akm
out=$(r1 asr del 99999 2>&1)
st=$?
made=$(pg_sql -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
[ $st = 1 ] && [ "$made" = 0 ] && grep -q "holds no AKM deployment" "$T/r1.log" &&
	grep -q "not root 1's database" <<<"$out"
ok $? "a server without this deployment: refused, nothing written into it" \
	"exit $st: $out; tables made: $made; $(tail -n 3 "$T/r1.log")"
pg_ctl_ -w -m fast stop >/dev/null
rm -rf "$PG_DIR/data"
mv "$PG_DIR/data.akm" "$PG_DIR/data"
pg_ctl_ -w -o "-k $PG_DIR -p $PG_PORT -c listen_addresses=''" start >/dev/null
serves 1 && r1 asr show 1 >/dev/null
ok $? "the right one back: served again"

invariants "faults"
stop 1
st=$?
[ $st = 0 ]
ok $? "stops on SIGTERM, no leak (exit $st)" "$(grep -A20 -m1 "Sanitizer" "$T/r1.log")"
no_reports
totals
[ "$fail" = 0 ]
