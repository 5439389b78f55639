#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Site synchronisation (Documentation/root.md), in a VM with akm.ko loaded
# (as root): akm-rootd on a PostgreSQL of the test's own, two sites (east,
# west), each an akm-nmmd in a namespace with two nodes (akm-agent) in
# namespaces of their own. The nodes are made at the root and provisioned
# by their site's NMM; an ASR spans both sites. Checked: each NMM holds its
# own nodes' credentials and the keys of ASRs with a member at its site,
# nothing else; members at different sites exchange authenticated traffic;
# a removal at the root locks the node out at the other site; a node's new
# kernel gets new epochs from the root; a site that was down catches up;
# a node removed at the root is gone at its site, also when it was removed
# (and its id given to another site's node) while the site was away; local
# changes at a site are refused. Every path is pinged first without AKM, so that a failure
# says whose it is.
#
#   scripts/vm-run.sh --kernel VER --module build/VER/akm.ko -- tests/root/sync.sh
set -uo pipefail

W=$(mktemp -d /tmp/akm-sync.XXXXXX)
chmod 711 "$W"
P=akmsy-
NAME="root sync"

NET=10.9.7
. "$(dirname "${BASH_SOURCE[0]}")/sites.sh"

pg_start "$W/pg"
ok $? "PostgreSQL started" "$(tail -n 5 "$W/pg/pg.log" 2>/dev/null)"
start_root
ok $? "akm-rootd listens for sites" "$(tail -n 5 "$W/root.log")"

# ---- the seed's steps at site scale: the NMMs first, then their nodes ----
good=0
for s in east west; do
	{ root site add "$s" id "${ID[$s]}" endpoint "$(addr "$s"):4790" &&
		root site export "$s" file "$W/$s.bundle" >"$W/$s.export" &&
		start_nmm "$s" &&
		sed -n 's/^transfer code //p' "$W/$s.export" |
			nmm "$s" root import "$W/$s.bundle" code-file - >/dev/null; } || good=1
done
for s in east west; do wait_for 60 site_up "$s" || good=1; done
ok $good "both sites provisioned by the root, their links up" \
	"$(nmm east root show 2>&1; nmm west root show 2>&1; tail -n 5 "$W/root.log")"

good=0
for x in $NODES; do
	root node add "$x" id "${ID[$x]}" site "${SITE[$x]}" addr "$(addr "$x")" >/dev/null || good=1
done
ok $good "four nodes made at the root, two per site"
has_node() { nmmj "$1" node list | grep -q "\"name\":\"$2\""; }
good=0
for x in $NODES; do wait_for 20 has_node "${SITE[$x]}" "$x" || good=1; done
ok $good "each site's NMM received its nodes" "$(nmm east node list; nmm west node list)"
[ "$(store east "SELECT count(*) FROM nodes WHERE length(cred) > 0")" = 2 ] &&
	[ "$(store west "SELECT count(*) FROM nodes WHERE length(cred) > 0")" = 2 ] &&
	[ "$(store west "SELECT count(*) FROM nodes WHERE id IN (${ID[e1]}, ${ID[e2]})")" = 0 ]
ok $? "a site's store holds its own nodes' credentials, no other site's" \
	"$(store west "SELECT id, name, length(cred), remote FROM nodes")"

good=0
for x in $NODES; do
	s=${SITE[$x]}
	{ nmm "$s" node export "$x" file "$W/$x.bundle" >"$W/$x.export" &&
		sed -n 's/^transfer code //p' "$W/$x.export" |
			in_ns "$x" "$AGENT" import "$W/$x.bundle" --state "$W/$x" --code-file - \
			>/dev/null; } || good=1
	start_agent "$x"
done
for x in $NODES; do wait_for 60 online "$x" || good=1; done
ok $good "the nodes are exported, imported and online at their sites' NMMs" \
	"$(nmm east node list; nmm west node list)"
# the deployment-wide view: what the sites report of their nodes
at_root() { "$AKMCTL" -j root socket "$W/root/admin.sock" node list "$1" | grep -q "\"link\":\"$2\""; }
good=0
for x in $NODES; do wait_for 30 at_root "$x" online || good=1; done
ok $good "the root shows each node online, as its site reported" "$(root node list)"

# ---- an ASR across both sites ----
root_epoch() {
	pg_sql -c "SELECT epoch FROM asrs WHERE id = $1"
}
at_epoch() {	# ASR EPOCH NODE...: each holds EPOCH current
	local asr=$1 e=$2 x
	shift 2
	for x in "$@"; do [ "$(kernel_epoch "$x" "$asr")" = "$e" ] || return 1; done
}
root_above() { [ "$(root_epoch "$1")" -gt "$2" ]; }

root asr add 1 alg hmac-sha256 name spans policy drop >/dev/null &&
	root asr add-member 1 node e1 >/dev/null && root asr add-member 1 node w1 >/dev/null
ok $? "ASR 1 with e1 (east) and w1 (west) at the root"
e=$(root_epoch 1)
wait_for 30 at_epoch 1 "$e" e1 w1
ok $? "both members hold the root's epoch $e" "e1 $(kernel_epoch e1 1), w1 $(kernel_epoch w1 1)"
wait_for 20 talks e1 w1
ok $? "e1 (east) and w1 (west) exchange authenticated traffic" \
	"$(ctl e1 member show 2>&1 | head -n 20)"
root asr add 2 alg hmac-sha256 >/dev/null && root asr add-member 2 node w1 >/dev/null &&
	root asr add-member 2 node w2 >/dev/null
wait_for 30 at_epoch 2 "$(root_epoch 2)" w1 w2
ok $? "ASR 2, west only: its members hold its epoch" "w2 $(kernel_epoch w2 2)"
[ "$(store east "SELECT count(*) FROM asrs WHERE id = 2")" = 0 ] &&
	[ "$(store east "SELECT count(*) FROM epochs WHERE asr = 2")" = 0 ] &&
	[ "$(store west "SELECT count(*) FROM epochs WHERE asr = 2 AND length(key) > 0")" -ge 1 ]
ok $? "east's store holds no key of ASR 2 (no member there), west's does" \
	"$(store east "SELECT asr, epoch FROM epochs")"
[ "$(store east "SELECT remote FROM nodes WHERE id = ${ID[w1]}")" = 1 ] &&
	[ "$(store east "SELECT count(*) FROM nodes WHERE id = ${ID[w2]}")" = 0 ]
ok $? "east knows w1 as a member of ASR 1 (addresses, no credential), not w2" \
	"$(store east "SELECT id, name, addrs, length(cred), remote FROM nodes")"

# ---- local changes at a site are refused ----
out=$(nmm east asr add-member 1 node e2 2>&1)
[ $? = 1 ] && grep -q "takes its nodes and ASRs from root 1: change them there" <<<"$out"
ok $? "a membership change at a site's NMM is refused, with where to make it" "$out"

# ---- a removal at the root locks the node out at the other site ----
root asr del-member 1 node w1 >/dev/null
e=$(root_epoch 1)
wait_for 30 at_epoch 1 "$e" e1 && wait_for 20 no_asr w1 1
ok $? "w1 removed from ASR 1 at the root: e1 holds epoch $e, w1 left the ASR" \
	"e1 $(kernel_epoch e1 1); $(ctl w1 asr show 2>&1 | head -n 5)"
dropped e1 w1
ok $? "... and e1 drops w1's packets" "$(ctl e1 member show 1 2>&1)"
# the nodes' counters (their heartbeats, every 10 s) reach the root through their sites
counters_of() {	# root|SITE NODE: its counters that are not zero
	local j
	if [ "$1" = root ]; then
		j=$("$AKMCTL" -j root socket "$W/root/admin.sock" node list "$2")
	else
		j=$(nmmj "$1" node list "$2")
	fi
	python3 -c 'import json, sys
print(sorted((c["asr"], c["name"], c["value"]) for n in json.load(sys.stdin)
             for c in n["counters"] if c["value"]))' <<<"$j"
}
same_counters() {
	local x
	for x in "$@"; do [ "$(counters_of root "$x")" = "$(counters_of "${SITE[$x]}" "$x")" ] || return 1; done
}
drops_reported() {
	same_counters e1 w1 && [ "$(counters_of root e1)$(counters_of root w1)" != "[][]" ]
}
wait_for 40 drops_reported
ok $? "... and the root shows e1's and w1's counters as their sites do, the drops among them" \
	"root: $(counters_of root e1) $(counters_of root w1); sites: $(counters_of east e1) $(counters_of west w1)"
root node list e1 | sed 's/^/# /'
[ "$(store west "SELECT count(*) FROM asrs WHERE id = 1")" = 0 ] &&
	[ "$(store west "SELECT count(*) FROM epochs WHERE asr = 1")" = 0 ]
ok $? "west, with no member left in ASR 1, holds nothing of it (no key of epoch $e)" \
	"$(store west "SELECT asr, epoch, state FROM epochs")"
root asr add-member 1 node w1 >/dev/null && root asr add-member 1 node e2 >/dev/null
e=$(root_epoch 1)
wait_for 30 at_epoch 1 "$e" e1 e2 w1 && wait_for 20 talks e1 w1 && wait_for 20 talks e2 w1
ok $? "w1 and e2 added: epoch $e at all three, e1 and e2 talk to w1" \
	"e1 $(kernel_epoch e1 1) e2 $(kernel_epoch e2 1) w1 $(kernel_epoch w1 1)"

# ---- activation across sites: nobody switches before every site installed ----
epoch_drops() {	# NODE: ASR 1's drop_unknown_epoch in its kernel
	"$AKMCTL" -n "$P$1" -j stats show asr 1 | python3 -c 'import json, sys
print(sum(e["stats"]["drop_unknown_epoch"] for e in json.load(sys.stdin) if "node" not in e))'
}
activated_at() {	# SITE EPOCH: the site's NMM activated epoch EPOCH of ASR 1 on the root's word
	grep -qE "event epoch-activated asr 1 epoch $2 installed [0-9]+ of [0-9]+ by root$" \
		"$W/nmm-$1.log"
}
d0="$(epoch_drops e1) $(epoch_drops w1)"
in_ns w1 ping -q -i 0.02 -w 300 "$(addr e1)" >/dev/null 2>&1 &
p1=$!
in_ns e1 ping -q -i 0.02 -w 300 "$(addr w1)" >/dev/null 2>&1 &
p2=$!
good=0
for v in del-member add-member del-member add-member; do
	root asr "$v" 1 node e2 >/dev/null || good=1
	e=$(root_epoch 1)
	wait_for 30 at_epoch 1 "$e" e1 w1 && wait_for 10 activated_at east "$e" &&
		wait_for 10 activated_at west "$e" || good=1
	grep -q "event epoch-activated asr 1 epoch $e\$" "$W/root.log" || good=1
done
kill "$p1" "$p2" 2>/dev/null
wait "$p1" "$p2" 2>/dev/null
ok $good "four changes of ASR 1: the root activated each epoch once both sites installed it, and both sites on its word" \
	"$(grep -E "epoch-activated asr 1 " "$W/root.log" "$W"/nmm-*.log | tail -n 8)"
d1="$(epoch_drops e1) $(epoch_drops w1)"
[ "$d0" = "$d1" ]
ok $? "... and e1 and w1, pinging each other all along (50/s), dropped no packet of an epoch they did not hold" \
	"drop_unknown_epoch at e1 and w1: before $d0, after $d1"
root asr show 1 | grep -q "epoch $e active"
ok $? "... the root shows epoch $e active" "$(root asr show 1 | head -n 6)"

# ---- a node's new kernel gets new epochs from the root ----
e=$(root_epoch 1) e2e=$(root_epoch 2)
offline_events() { grep -c "event node-offline node ${ID[w1]} site ${ID[west]}" "$W/root.log"; }
was=$(offline_events)
kill "${AGENT_PID[w1]}"; wait "${AGENT_PID[w1]}" 2>/dev/null
# its session ends in a reset sent before west's NMM switches w1 to
# bootstrap: no orphan socket of the old session is left in w1 (a FIN
# answered under the other mode never arrives)
no_sockets() { local s; s=$(in_ns w1 ss -Htan dst "$(addr west)") && [ -z "$s" ]; }
wait_for 10 no_sockets
ok $? "w1's agent stopped: no socket of its session left in w1" "$(in_ns w1 ss -tan)"
wait_for 20 at_root w1 offline && [ "$(offline_events)" -gt "$was" ]
ok $? "... the root shows it offline (event node-offline)" "$(root node list w1)"
# The old machine is gone: its link first (the namespace itself lives on
# while its closed TCP sockets do, and would answer ARP for w1's address)
ip link del "${P}w1"
ip netns del "${P}w1"
netns_up w1
# w1's address has a new MAC now: the others forget the old one (ARP, not AKM)
for x in root east west e1 e2 w2; do ip -n "$P$x" neigh flush to "$(addr w1)" 2>/dev/null; done
start_agent w1
wait_for 60 online w1 && wait_for 30 root_above 1 "$e"
ok $? "w1 in a new namespace (a new kernel): the root re-keyed ASR 1 ($e -> $(root_epoch 1))" \
	"$(tail -n 5 "$W/agent-w1.log"; grep -E "node-fresh|REKEY" "$W"/nmm-west.log "$W/root.log" | tail -n 5)"
[ "$(root_epoch 2)" -gt "$e2e" ]
ok $? "... and ASR 2 ($e2e -> $(root_epoch 2))"
e=$(root_epoch 1)
wait_for 30 at_epoch 1 "$e" e1 e2 w1 && wait_for 20 talks e1 w1
ok $? "... e1 and w1 talk under epoch $e" "e1 $(kernel_epoch e1 1) w1 $(kernel_epoch w1 1)"

# ---- a site that was down catches up ----
kill -9 "${NMM_PID[east]}"; wait "${NMM_PID[east]}" 2>/dev/null
rm -f "$W/east/admin.sock"
root asr add 3 alg hmac-sha256 >/dev/null && root asr add-member 3 node e1 >/dev/null &&
	root asr add-member 3 node w2 >/dev/null && root asr del-member 1 node e2 >/dev/null
ok $? "east's NMM down: ASR 3 made with e1 and w2, e2 removed from ASR 1"
start_nmm east
e=$(root_epoch 3)
wait_for 60 at_epoch 3 "$e" e1 w2 && wait_for 30 no_asr e2 1
ok $? "east back: e1 gets ASR 3 (epoch $e), e2 leaves ASR 1" \
	"e1 $(kernel_epoch e1 3) w2 $(kernel_epoch w2 3); $(tail -n 5 "$W/nmm-east.log")"
wait_for 20 talks e1 w2
ok $? "... e1 and w2 talk under ASR 3"

# ---- a node removed at the root, live and while its site was away ----
root node del e2 >/dev/null
gone() { ! nmmj east node list | grep -q '"name":"e2"'; }
wait_for 20 gone && [ "$(store east "SELECT state, length(cred) FROM nodes WHERE id = ${ID[e2]}")" = "removed|0" ]
ok $? "e2 removed at the root: gone from east's NMM, its credential wiped" \
	"$(store east "SELECT id, name, state, length(cred) FROM nodes")"
wait_for 30 sh -c "! ip netns exec ${P}east $AKMCTL cred show ${ID[e2]} >/dev/null 2>&1"
ok $? "... and from east's kernel" "$(ctl east cred show 2>&1)"
root node add e3 id 13 site east addr "$NET.13" >/dev/null &&
	wait_for 20 has_node east e3
ok $? "e3 made at the root reaches east's NMM"
kill -9 "${NMM_PID[east]}"; wait "${NMM_PID[east]}" 2>/dev/null
rm -f "$W/east/admin.sock"
root node del e3 >/dev/null && root node add w3 id 13 site west addr "$NET.113" >/dev/null &&
	root asr add-member 3 node w3 >/dev/null
ok $? "east's NMM down: e3 removed at the root, its id 13 given to w3 at west, in ASR 3"
start_nmm east
e=$(root_epoch 3)
w3_remote() { [ "$(store east "SELECT remote, addrs FROM nodes WHERE id = 13")" = "1|$NET.113" ]; }
wait_for 60 w3_remote && wait_for 30 at_epoch 3 "$e" e1 &&
	! nmmj east node list | grep -q '"name":"e3"'
ok $? "east back: e3 gone, id 13 is west's w3 there (remote, its address), e1 holds epoch $e" \
	"$(store east "SELECT id, name, state, remote, addrs FROM nodes")"
[ "$(store east "SELECT count(*) FROM deliveries WHERE node = 13")" = 0 ]
ok $? "... and east owes node 13 no delivery"

# ---- autonomy: a removal at a site while the root is out of reach ----
wait_for 30 talks w1 w2
ok $? "w1 and w2 talk under ASR 2"
kill -9 "$ROOT_PID"; wait "$ROOT_PID" 2>/dev/null
rm -f "$W/root/admin.sock"
wait_for 60 sh -c "! $AKMCTL nmm socket $W/west/admin.sock root show | grep -q ' state session '"
e=$(root_epoch 2)
out=$(nmm west node del w2 2>&1)
ok $? "the root down: node del w2 at west is taken" "$out"
wait_for 20 no_asr w2 2 && dropped w1 w2 &&
	[ "$(store west "SELECT state FROM nodes WHERE id = ${ID[w2]}")" = removed ] &&
	[ "$(store west "SELECT count(*) FROM removals")" = 1 ]
ok $? "... at once: w2 left ASR 2, w1 drops its packets, west keeps the removal for the root" \
	"$(ctl w1 member show 2 2>&1; store west "SELECT * FROM removals")"
[ "$(pg_sql -c "SELECT state FROM nodes WHERE id = ${ID[w2]}")" = active ] ||
	[ "$(pg_sql -c "SELECT state FROM nodes WHERE id = ${ID[w2]}")" = provisioned ]
ok $? "... the root's database does not know yet"
start_root
reconciled() {
	[ "$(pg_sql -c "SELECT state FROM nodes WHERE id = ${ID[w2]}")" = removed ] &&
		[ "$(root_epoch 2)" -gt "$e" ] &&
		[ "$(store west "SELECT count(*) FROM removals")" = 0 ]
}
wait_for 90 reconciled
ok $? "the root back: the removal reconciled (w2 removed at the root, ASR 2 re-keyed $e -> $(root_epoch 2), west's removal done)" \
	"$(pg_sql -c "SELECT id, state FROM nodes"; store west "SELECT * FROM removals"; tail -n 5 "$W/root.log")"
e=$(root_epoch 2)
wait_for 30 at_epoch 2 "$e" w1 && dropped w1 w2
ok $? "... w1 holds ASR 2's new epoch $e, and w2 stays out" "w1 $(kernel_epoch w1 2)"

grep -E "event (root-synced|node-fresh)" "$W"/nmm-*.log | head -n 4 | sed 's/^/# /'
! grep -E "AddressSanitizer|runtime error" "$W/root.log" "$W"/nmm-*.log
ok $? "no sanitizer reports"
totals
[ "$fail" = 0 ]
