#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# akm-rootd against a real PostgreSQL (TAP), on the host: the server is the
# test's own (tests/root/pg.sh), two akm-rootd instances (ASan and UBSan)
# serve one database. Checked: the deployment's identity (root id, master
# key) guards the database; every command and its errors; changes through
# one instance seen by the other, its watchers told; concurrent changes
# through both (serialized: one epoch per change, no epoch made twice,
# addresses and ids unique across instances); a read waiting while the same
# instance makes a change; kill -9 of an instance in the
# middle of a burst; the PostgreSQL server restarted under the instances.
# After every phase the database's invariants are checked (below).
#
#   tests/root/run.sh          (root; AKM_ROOT_SEED=N repeats a run)
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SEED=${AKM_ROOT_SEED:-$RANDOM}
RANDOM=$SEED
WATCH=
pids=()
echo "# seed $SEED (AKM_ROOT_SEED=$SEED repeats this run)"
root_setup root-test

# ---- the deployment's identity ----
start 1
ok $? "akm-rootd starts on an empty database (schema made, master key made)" "$(cat "$T/r1.log")"
grep -q "schema migrated to version 6" "$T/r1.log" && [ -f "$T/r1/master.key" ] &&
	[ "$(stat -c %a "$T/r1/master.key")" = 600 ]
ok $? "schema version 6; master.key made, mode 0600" "$(cat "$T/r1.log")"
# started by root: without --listen it keeps no capability
grep -q "^CapEff:\s*0000000000000000$" /proc/"$PID1"/status &&
	grep -q "^CapPrm:\s*0000000000000000$" /proc/"$PID1"/status
ok $? "without --listen, no capability is left" "$(grep ^Cap /proc/"$PID1"/status)"

out=$("$ROOTD" --id 1 --database "$PG_DB" --state "$T/r2" --foreground 2>&1)
st=$?
[ $st = 1 ] && grep -q "master.key is missing, but the database" <<<"$out" && [ ! -e "$T/r2/master.key" ]
ok $? "a second instance without the master key is refused, and makes none" "$out"

mkdir -p "$T/other" && head -c 32 /dev/urandom >"$T/other/master.key" && chmod 600 "$T/other/master.key"
out=$("$ROOTD" --id 1 --database "$PG_DB" --state "$T/other" --foreground 2>&1)
[ $? = 1 ] && grep -q "does not open this database's secrets" <<<"$out"
ok $? "an instance with another master key is refused" "$out"

install -m 600 -D "$T/r1/master.key" "$T/r2/master.key"
out=$("$ROOTD" --id 7 --database "$PG_DB" --state "$T/r2" --foreground 2>&1)
[ $? = 1 ] && grep -q "belongs to root 1, not 7" <<<"$out"
ok $? "an instance with another root id is refused" "$out"

out=$("$ROOTD" --id 1 --database "host=$T/nowhere port=1 dbname=akm connect_timeout=2" \
	--state "$T/r2" --foreground 2>&1)
[ $? = 1 ] && grep -q "database: cannot connect" <<<"$out"
ok $? "an unreachable database stops the start with the reason" "$out"

out=$("$ROOTD" --foreground 2>&1)
[ $? = 2 ] && grep -q "no root id: set 'id = N' in /etc/akm/rootd.conf or give --id" <<<"$out"
ok $? "no id: exit 2, the setting named" "$out"

printf 'id = 1\ndatabase = %s\nstate = %s\n' "$PG_DB" "$T/r2" >"$T/rootd.conf"
start 2 --config "$T/rootd.conf"
ok $? "a second instance with the same master key, its settings in a config file" \
	"$(tail -n 5 "$T/r2.log")"

# ---- commands and their errors ----
r1 site add east id 100 endpoint 10.1.0.1 >/dev/null &&
	r2 site add west id 200 endpoint '[fd00::1]:4800' >/dev/null
ok $? "site add, one through each instance"
got=$(r1 site list)
want="site east id 100 endpoint 10.1.0.1:4790 state provisioned link offline nodes 0 last-contact never
site west id 200 endpoint [fd00::1]:4800 state provisioned link offline nodes 0 last-contact never"
[ "$got" = "$want" ]
ok $? "site list shows both sites, the endpoints in one spelling" "$got"

i=0
for site in east west; do
	for k in 1 2 3 4 5 6 7 8; do
		i=$((i + 1))
		r1 node add "n$i" id $((1000 + i)) site $site addr "10.9.0.$i" >/dev/null || break 2
	done
done
ok $? "node add: 16 nodes, 8 at each site"
[ "$(r2 site)" = "$(r2 site list)" ] && [ "$(r1 node)" = "$(r1 node list)" ] &&
	[ "$(r1 asr)" = "$(r1 asr show)" ]
ok $? "an object alone lists it, as with akmctl nmm"
got=$(r2 node list n3)
[ "$got" = "node n3 id 1003 site east state provisioned asrs 0 link unknown addr 10.9.0.3" ]
ok $? "node list NAME through the other instance" "$got"

expect 1 "address 10.9.0.1 belongs to node 'n1' (id 1001)" "an address of another node" \
	r2 node add x id 3000 site east addr 10.9.0.1
expect 1 "address 10.9.0.2 belongs to node 'n2'" "an address of another node, in IPv4-mapped form" \
	r1 node add x id 3000 site east addr ::ffff:10.9.0.2
expect 1 "id 100 is taken by a site or a node" "a node with a site's id" \
	r1 node add x id 100 site east addr 10.9.1.1
expect 1 "id 1001 is taken" "a site with a node's id" r2 site add x id 1001 endpoint 10.0.0.9
expect 1 "id 1 is the root's own" "the root's id" r1 site add x id 1 endpoint 10.0.0.9
expect 1 "a node named 'n1' exists" "a second node named n1" \
	r1 node add n1 id 3000 site east addr 10.9.1.1
expect 1 "no site named 'north'" "an unknown site" r1 node add x id 3000 site north addr 10.9.1.1
expect 2 "invalid name" "a bad name" r1 node add 'x y' id 3000 site east addr 10.9.1.1
expect 2 "invalid id '0'" "id 0" r1 node add x id 0 site east addr 10.9.1.1
expect 2 "invalid id '2147483648'" "an id of a provisioning ASR" \
	r1 node add x id 2147483648 site east addr 10.9.1.1
expect 2 "invalid address '10.9.1.300'" "a bad address" r1 node add x id 3000 site east addr 10.9.1.300
expect 2 "address '10.9.1.1' given twice" "an address twice" \
	r1 node add x id 3000 site east addr 10.9.1.1 addr 10.9.1.1
expect 2 "more than 8 addresses" "nine addresses" r1 node add x id 3000 site east \
	$(for k in 1 2 3 4 5 6 7 8 9; do echo addr 10.9.2.$k; done)
expect 2 "missing 'addr'" "no address" r1 node add x id 3000 site east
expect 2 "more than 64 arguments" "65 words" r1 node add x id 3000 site east $(seq 59)
expect 2 "invalid endpoint" "a bad endpoint" r1 site add x id 300 endpoint 10.0.0.1:99999
expect 1 "another site's endpoint has the address 10.1.0.1" "another site's endpoint address" \
	r1 site add x id 300 endpoint 10.1.0.1:4791
expect 1 "another site's endpoint has the address fd00::1" "... in IPv6" \
	r2 site add x id 300 endpoint '[fd00:0::1]:4790' 
expect 2 "unknown command 'sites'" "an unknown object" r1 sites list
expect 2 "unknown asr command 'grow'" "an unknown verb" r1 asr grow 1
expect 2 "invalid alg 'md5'" "an unknown algorithm" r1 asr add 1 alg md5
expect 2 "missing 'alg'" "an ASR without algorithm" r1 asr add 1
expect 1 "no ASR 9" "a member of an unknown ASR" r1 asr add-member 9 node n1
expect 1 "site 'east' has 8 nodes: delete them first" "a site with nodes" r1 site del east
r1 site add empty id 300 endpoint 10.0.0.3 >/dev/null && r1 site del empty &&
	! r1 site list empty >/dev/null 2>&1
ok $? "site del of a site without nodes"

# ---- ASRs across sites, one instance's changes seen by the other's watchers ----
"$AKMCTL" -j root socket "$T/r2/admin.sock" watch >"$T/watch.json" 2>&1 &
WATCH=$!
BG+=($WATCH)
sleep 0.5
r1 asr add 1 alg hmac-sha256 name spans >/dev/null && r1 asr add 2 alg chacha20-poly1305 >/dev/null
ok $? "asr add"
for k in 1 2 9 10; do r1 asr add-member 1 node "n$k" >/dev/null || break; done
ok $? "asr add-member: two members at each site"
got=$(r2 asr show 1)
want="asr 1 name spans epoch 4 alg hmac-sha256 policy drop grace 30
    epoch 4 pending
    member 1001 name n1 site east state provisioned link unknown
    member 1002 name n2 site east state provisioned link unknown
    member 1009 name n9 site west state provisioned link unknown
    member 1010 name n10 site west state provisioned link unknown"
[ "$got" = "$want" ]
ok $? "asr show through the other instance: one epoch per change, members of both sites" "$got"
expect 1 "node 'n1' is a member of ASR 1 already" "a member added twice" r2 asr add-member 1 node n1
r2 asr del-member 1 node n9 >/dev/null
got=$(r1j asr show 1 | python3 -c '
import json, sys
a = json.load(sys.stdin)
print(a["epoch"], " ".join("%s:%s" % (m["name"], m["state"]) for m in a["members"]))')
[ "$got" = "5 n1:provisioned n2:provisioned n10:provisioned n9:revoked" ]
ok $? "del-member: a new epoch, the member kept as revoked (JSON)" "$got"
expect 1 "node 'n9' is not a member of ASR 1" "a revoked member removed again" \
	r1 asr del-member 1 node n9
wait_for 5 grep -q '"event":"epoch-created","asr":1,"epoch":5,"members":"1001,1002,1010"' \
	"$T/watch.json"
ok $? "a watcher of instance 2 sees the epochs made through instance 1" "$(cat "$T/watch.json")"
invariants "commands"

# ---- removal: revoked everywhere; its id and name free again, its address too ----
r1 asr add-member 1 node n3 >/dev/null && r1 asr add-member 2 node n3 >/dev/null
e1=$(pg_sql -c "SELECT epoch FROM asrs WHERE id = 1")
e2=$(pg_sql -c "SELECT epoch FROM asrs WHERE id = 2")
r2 node del n3 && ! r1 node list n3 >/dev/null 2>&1
ok $? "node del"
got=$(r1 asr show 1 | grep "name n3"; r1 asr show 2 | grep "name n3")
[ "$(pg_sql -c "SELECT epoch FROM asrs WHERE id = 1")" = $((e1 + 1)) ] &&
	[ "$(pg_sql -c "SELECT epoch FROM asrs WHERE id = 2")" = $((e2 + 1)) ] &&
	[ "$(grep -c "state revoked" <<<"$got")" = 2 ]
ok $? "node del: a new epoch in each of its ASRs, where it stays as revoked" "$got"
[ -z "$(pg_sql -c "SELECT 1 FROM nodes WHERE id = 1003 AND cred IS NOT NULL")" ]
ok $? "node del: its credential is gone from the database"
r1 node add n3 id 1003 site west addr 10.9.0.3 >/dev/null &&
	! r1 asr show 1 | grep -q "name n3" && ! r1 asr show 2 | grep -q "name n3"
ok $? "its name, id and address taken by a new node: the old one's entries forgotten"
e2=$(pg_sql -c "SELECT epoch FROM asrs WHERE id = 2")
r1 asr del 2 && r2 asr add 2 alg hmac-sha256 >/dev/null &&
	got=$(r1 asr add-member 2 node n3) && [ "$got" = "asr 2 epoch $((e2 + 1)) pending" ]
ok $? "an ASR deleted and made again goes on from its last epoch ($e2), never reusing one" \
	"$got"
invariants "removals"

# ---- the instances sites are offered: running, gone without a clean stop, clocks ----
# (these instances do not listen: the rows are what listening ones write)
pg_sql -c "INSERT INTO instances (addr, port, seen) VALUES ('192.0.2.7', 4790, now()),
	('2001:db8::9', 4791, now() - interval '10 minutes'),
	('192.0.2.11', 4790, now() - interval '2 hours'),
	('192.0.2.12', 4790, now() + interval '2 hours')" >/dev/null
got=$(r2 instance list)
grep -q "instance 192.0.2.7 port 4790 state running last-seen " <<<"$got" &&
	grep -q "instance 2001:db8::9 port 4791 state silent last-seen " <<<"$got" &&
	grep -q "instance 192.0.2.11 port 4790 state expired " <<<"$got" &&
	grep -q "instance 192.0.2.12 port 4790 state ahead " <<<"$got"
ok $? "instance list: running, silent, expired, and ahead of the database's clock" "$got"
expect 1 "was seen in the last 60 s: it runs; stop it" "instance del of one that runs" \
	r1 instance del 192.0.2.7
expect 1 "no instance at 192.0.2.8 port 4790" "instance del of none" r1 instance del 192.0.2.8
expect 2 "invalid instance 'nowhere'" "instance del of no address" r1 instance del nowhere
expect 2 "unknown argument 'now'" "instance del with a word too many" \
	r1 instance del 192.0.2.11 now
r1 instance del '[2001:db8::9]:4791' && r2 instance del ::ffff:192.0.2.11 &&
	r1 instance del 192.0.2.12 && got=$(r1j instance list) &&
	[ "$(python3 -c 'import json, sys
print(" ".join("%s:%d:%s" % (i["addr"], i["port"], i["state"]) for i in json.load(sys.stdin)))' \
		<<<"$got")" = "192.0.2.7:4790:running" ]
ok $? "instance del of a silent, an expired (IPv4-mapped) and an ahead one (JSON)" "$got"
wait_for 5 grep -q '"event":"instance-removed","instance":"2001:db8::9","port":4791' \
	"$T/watch.json"
ok $? "... and the other instance's watchers told (instance-removed)" "$(tail -n 3 "$T/watch.json")"
pg_sql -c "DELETE FROM instances" >/dev/null

# ---- a read holds up nothing else ----
# The server process of the instances' reads stopped (SIGSTOP): a read
# waits for its answer (20 s at most); meanwhile the same instance makes a
# change, and a client that leaves while its read waits in line is let go.
reads_backends() { pg_sql -c "SELECT pid FROM pg_stat_activity WHERE application_name =
	'akm-rootd reads'"; }
reads_pause() {	# SIGSTOP or SIGCONT
	local p
	for p in $(reads_backends); do kill "-$1" "$p"; done
}
[ "$(reads_backends | wc -l)" = 2 ]
ok $? "each instance has a connection of its own for reads" "$(reads_backends)"
reads_pause STOP
r1 asr show >"$T/show.out" 2>&1 &
show=$!
"$AKMCTL" root socket "$T/r1/admin.sock" site list >/dev/null 2>&1 &
gone=$!
sleep 1
kill "$gone"
t0=$SECONDS
r1 node add waits id 3001 site east addr 10.99.0.1 >/dev/null && kill -0 "$show"
ok $? "a change is made while the same instance's read waits ($((SECONDS - t0)) s)" \
	"$(cat "$T/show.out")"
reads_pause CONT
wait "$show" && grep -q "^asr 1 " "$T/show.out" && grep -q "^asr 2 " "$T/show.out"
ok $? "the read answers whole once its server goes on" "$(head -n 5 "$T/show.out")"
wait "$gone"
st=$?
[ $st = 143 ] && serves 1 && r1 node del waits >/dev/null && r1 site list >/dev/null
ok $? "... and the instance goes on after a client left its read waiting in line" "exit $st"

# ---- concurrent changes through both instances ----
# Random add-member / del-member of 16 nodes in ASRs 1 and 2, eight at a
# time, half through each instance. Each success made exactly one epoch.
before=$(pg_sql -c "SELECT sum(epoch) FROM asrs")
for round in $(seq 12); do
	for j in $(seq 8); do
		a=$((1 + RANDOM % 2))
		node=n$((1 + RANDOM % 16))
		verb=$([ $((RANDOM % 3)) = 0 ] && echo del-member || echo add-member)
		via=$([ $((j % 2)) = 0 ] && echo r1 || echo r2)
		( $via asr $verb $a node $node >"$T/c.$round.$j.out" 2>&1
		  echo $? >"$T/c.$round.$j.rc" ) &
		pids+=($!)
	done
	wait "${pids[@]}"
	pids=()
done
succ=$(cat "$T"/c.*.rc | grep -c '^0$')
bad=$(grep -L -e "^asr [12] epoch [0-9]* pending$" -e "is a member of ASR [12] already" \
	-e "is not a member of ASR [12]" "$T"/c.*.out)
[ -z "$bad" ]
ok $? "96 concurrent changes: each made an epoch or was refused for a reason ($succ made one)" \
	"$(for f in $bad; do echo "$f: $(cat "$f")"; done)"
after=$(pg_sql -c "SELECT sum(epoch) FROM asrs")
[ $((after - before)) = "$succ" ]
ok $? "the epochs made are the changes that succeeded ($before + $succ = $after)"
dups=$(cat "$T"/c.*.out | grep '^asr' | sort | uniq -d)
[ -z "$dups" ]
ok $? "no epoch was given to two changes" "$dups"
invariants "concurrent changes"

# the same address, and the same id as a site and as a node, at once through both instances
for k in $(seq 10); do
	r1 node add "a$k" id $((2000 + k)) site east addr "10.8.0.$k" >"$T/u1.$k" 2>&1 &
	pids+=($!)
	r2 node add "b$k" id $((2100 + k)) site west addr "10.8.0.$k" >"$T/u2.$k" 2>&1 &
	pids+=($!)
	r1 site add "s$k" id $((2200 + k)) endpoint "10.7.0.$k" >"$T/v1.$k" 2>&1 &
	pids+=($!)
	r2 node add "c$k" id $((2200 + k)) site west addr "10.6.0.$k" >"$T/v2.$k" 2>&1 &
	pids+=($!)
	wait "${pids[@]}"
	pids=()
done
pairs=$(pg_sql -c "SELECT count(*) FROM addrs WHERE host(addr) LIKE '10.8.0.%'")
ids=$(pg_sql -c "SELECT (SELECT count(*) FROM sites WHERE id BETWEEN 2201 AND 2210) +
	(SELECT count(*) FROM nodes WHERE id BETWEEN 2201 AND 2210)")
[ "$pairs" = 10 ] && [ "$ids" = 10 ]
ok $? "one owner for each contested address and id (10 and 10 of 20 attempts each)" \
	"addresses $pairs, ids $ids; $(cat "$T"/u?.* "$T"/v?.* | sort | uniq -c)"
invariants "contested addresses and ids"

# ---- kill -9 of an instance in the middle of a burst ----
for j in $(seq 24); do
	r1 asr "$([ $((j % 2)) = 0 ] && echo add-member || echo del-member)" $((1 + j % 2)) \
		node "n$((1 + RANDOM % 16))" >/dev/null 2>&1 &
	pids+=($!)
done
sleep 0.3
kill -9 "$PID1"
wait "${pids[@]}" "$PID1" 2>/dev/null
pids=()
PID1=
invariants "kill -9 of instance 1 mid-burst"
r2 asr add-member 2 node n16 >/dev/null 2>&1 || r2 asr del-member 2 node n16 >/dev/null
ok $? "instance 2 goes on serving"
rm -f "$T/r1/admin.sock"
start 1 && r1 asr show 1 >/dev/null
ok $? "instance 1 restarts" "$(tail -n 5 "$T/r1.log")"

# ---- the PostgreSQL server restarted under both instances ----
pg_restart fast
ok $? "pg_ctl restart -m fast" "$(tail -n 5 "$T/pg/pg.log")"
r1 asr add-member 1 node n5 >/dev/null 2>&1 || r1 asr del-member 1 node n5 >/dev/null
ok $? "the first change after the restart succeeds (instance 1 connects again)" \
	"$(tail -n 5 "$T/r1.log")"
serves 2 && r2 asr show 2 >/dev/null
ok $? "... and through instance 2" "$(tail -n 5 "$T/r2.log")"
wait_for 10 grep -q '"event":"database-back"' "$T/watch.json" &&
	grep -q '"event":"database-lost"' "$T/watch.json"
ok $? "instance 2's watcher is told the database was lost and is back" "$(tail -n 5 "$T/watch.json")"
r1 asr del 2 >/dev/null && ! r2 asr show 2 >/dev/null 2>&1
ok $? "asr del, seen through the other instance"

pg_ctl_ -w -m fast stop >/dev/null
out=$(r1 asr show 1 2>&1)
[ $? = 1 ] && grep -q "the database is unreachable" <<<"$out"
ok $? "with the server down: the command fails and says why" "$out"
pg_ctl_ -w -o "-k $PG_DIR -p $PG_PORT -c listen_addresses=''" start >/dev/null
serves 1 && serves 2 && r1 asr show 1 >/dev/null && r2 asr show 1 >/dev/null
ok $? "the server back: both instances serve again"
invariants "database restarts"

# ---- a schema newer than this akm-rootd ----
schema=$(pg_sql -c "SELECT v FROM meta WHERE k = 'schema'")
pg_sql -c "UPDATE meta SET v = 99 WHERE k = 'schema'"
out=$("$ROOTD" --id 1 --database "$PG_DB" --state "$T/r2" --foreground 2>&1)
[ $? = 1 ] && grep -q "schema version 99 is newer than this akm-rootd knows (6)" <<<"$out"
ok $? "a database of a newer schema is refused" "$out"
pg_sql -c "UPDATE meta SET v = $schema WHERE k = 'schema'"

# secrets without the check value (a partial restore): still no new master key
sealed=$(pg_sql -c "SELECT encode(b, 'hex') FROM meta WHERE k = 'master_check'")
pg_sql -c "DELETE FROM meta WHERE k = 'master_check'"
out=$("$ROOTD" --id 1 --database "$PG_DB" --state "$T/fresh" --foreground 2>&1)
[ $? = 1 ] && grep -q "master.key is missing, but the database holds secrets" <<<"$out" &&
	[ ! -e "$T/fresh/master.key" ] && ! grep -q "$PG_DIR" <<<"$out"
ok $? "the database's secrets, without its check value, still forbid a new master key" "$out"
pg_sql -c "INSERT INTO meta (k, b) VALUES ('master_check', decode('$sealed', 'hex'))"

# instance 1 stops while a read waits for its answer: in 5 s (ROOT_STOP_SECS) and a little
[ "$(reads_backends | wc -l)" = 2 ]
ok $? "each instance has its connection for reads again" "$(reads_backends)"
reads_pause STOP
"$AKMCTL" root socket "$T/r1/admin.sock" asr show >/dev/null 2>&1 &
show=$!
sleep 1
kill -0 "$show"
ok $? "a read waits for the stopped server process"
t0=$SECONDS
stop 1
st1=$?
dt=$((SECONDS - t0))
reads_pause CONT
wait "$show"
stop 2
st2=$?
[ $st1 = 0 ] && [ $st2 = 0 ] && [ ! -e "$T/r1/admin.sock" ] && [ $dt -ge 4 ] && [ $dt -le 7 ]
ok $? "both instances stop on SIGTERM, one in ${dt} s while a read waits; no leak (exit $st1, $st2)" \
	"$(grep -A20 -m1 "ERROR: \(Leak\|Address\)Sanitizer\|runtime error" "$T"/r?.log)"
no_reports
totals
[ "$fail" = 0 ]
