#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# End to end, in a VM with akm.ko loaded (as root): the NMM and nodes in
# network namespaces on one bridge, the seed's steps with the real daemons.
#
#   scripts/vm-run.sh --kernel VER --module build/VER/akm.ko -- tests/nmm/e2e.sh
#
# TAP; the last line is a kselftest-style Totals line.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
US=$REPO/userspace
NMMD=${AKM_NMMD:-$US/nmm/akm-nmmd}
AGENT=${AKM_AGENT:-$US/agent/akm-agent}
AKMCTL=${AKM_AKMCTL:-$US/akmctl/akmctl}
W=$(mktemp -d /tmp/akm-nmm-e2e.XXXXXX)
NODES="a b c d"
declare -A ID=([a]=2 [b]=3 [c]=4 [d]=5) AGENT_PID=()
NMM_PID=
. "$HERE/../lib.sh"

for bin in "$NMMD" "$AGENT" "$AKMCTL"; do
	if [ ! -x "$bin" ]; then
		echo "ok 1 - nmm e2e # SKIP $bin not built (make -C userspace)"
		echo "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0"
		exit 4
	fi
done
[ -d /sys/module/akm ] || { echo "ok 1 - nmm e2e # SKIP akm.ko not loaded"
	echo "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0"; exit 4; }
nmm() { "$AKMCTL" nmm socket "$W/nmm/admin.sock" "$@"; }
nmmj() { "$AKMCTL" -j nmm socket "$W/nmm/admin.sock" "$@"; }
P=akme2e-	# namespace and veth prefix, out of the way of other tests
in_ns() { local ns=$P$1; shift; ip netns exec "$ns" "$@"; }
ctl() { local ns=$P$1; shift; "$AKMCTL" -n "$ns" "$@"; }	# akmctl in a namespace

cleanup() {
	local p
	for p in "${AGENT_PID[@]}" $NMM_PID; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	for ns in nmm $NODES; do ip netns del "$P$ns" 2>/dev/null; done
	ip link del akme2ebr 2>/dev/null
	[ -z "${OUT:-}" ] || cp "$W"/*.log "$OUT/" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

start_nmm() {
	# not through a function: $! must be the daemon (ip netns exec execs it)
	ip netns exec "${P}nmm" "$NMMD" --id 1 --listen 10.9.0.1 --state "$W/nmm" --foreground \
		>>"$W/nmm.log" 2>&1 &
	NMM_PID=$!
	wait_for 10 test -S "$W/nmm/admin.sock"
}
start_agent() {	# node
	ip netns exec "$P$1" "$AGENT" run --state "$W/$1" -v >>"$W/agent-$1.log" 2>&1 &
	AGENT_PID[$1]=$!
}
node_json() { nmmj node list "$1"; }
node_is() {	# node state link
	node_json "$1" | grep -q "\"state\":\"$2\".*\"link\":\"$3\""
}
delivery_is() {	# asr node-name state
	nmmj asr show "$1" | python3 -c "
import json, sys
a = json.load(sys.stdin)
m = [x for x in a['members'] if x['name'] == '$2']
sys.exit(0 if m and m[0]['delivery'] == '$3' else 1)"
}
all_activated() {	# asr
	nmmj asr show "$1" | python3 -c "
import json, sys
a = json.load(sys.stdin)
m = [x for x in a['members'] if x['state'] != 'revoked']
sys.exit(0 if m and all(x['delivery'] == 'activated' for x in m) else 1)"
}
kernel_epoch() {	# ns asr -> current epoch in that kernel, 0 if it has no such ASR
	local out
	out=$(ctl "$1" -j asr show "$2" 2>/dev/null) || { echo 0; return; }
	python3 -c "
import json, sys
a = json.loads(sys.argv[1])
a = a[0] if isinstance(a, list) else a
print(max([k['epoch'] for k in a.get('keys', []) if k['state'] == 'current'] or [0]))" "$out"
}
epoch_is() { [ "$(kernel_epoch "$1" "$2")" = "$3" ]; }

# ---- network: one bridge, a namespace each ----
ip link add akme2ebr type bridge && ip link set akme2ebr up
i=1
for ns in nmm $NODES; do
	ip netns add "$P$ns"
	ip link add "$P$ns" type veth peer name eth0 netns "$P$ns"
	ip link set "$P$ns" master akme2ebr up
	in_ns "$ns" ip addr add "10.9.0.$i/24" dev eth0
	in_ns "$ns" ip link set eth0 up
	in_ns "$ns" ip link set lo up
	i=$((i + 1))
done
in_ns a ping -c 1 -W 2 10.9.0.1 >/dev/null
ok $? "network up"

# ---- NMM ----
start_nmm
ok $? "akm-nmmd starts" "$(tail -n 20 "$W/nmm.log")"
[ "$(stat -c %a "$W/nmm/admin.sock")" = 600 ] && [ "$(stat -c %a "$W/nmm/master.key")" = 600 ]
ok $? "admin.sock and master.key are 0600"

# ---- step 1, 2a: provision and export; import on each node ----
i=2
for node in $NODES; do
	name=${node^^}
	nmm node add "$name" id "${ID[$node]}" addr "10.9.0.$i" >/dev/null &&
		nmm node export "$name" file "$W/$node.bundle" >"$W/$node.export"
	ok $? "node $name: add and export" "$(cat "$W/$node.export")"
	code=$(sed -n 's/^transfer code //p' "$W/$node.export")
	printf '%s\n' "$code" | in_ns "$node" "$AGENT" import "$W/$node.bundle" --code-file - \
		--state "$W/$node" >"$W/$node.import" 2>&1
	ok $? "node $name: import" "$(cat "$W/$node.import")"
	i=$((i + 1))
done
node_is A provisioned offline
ok $? "A is provisioned before it runs"

# ---- step 3: activation ----
for node in $NODES; do start_agent "$node"; done
for node in $NODES; do
	wait_for 40 node_is "${node^^}" active online
	ok $? "node ${node^^} active and online" "$(nmm node list "${node^^}"; tail -n 5 "$W/agent-$node.log")"
done
ctl nmm asr show $((0x80000002)) >"$W/prov.txt" 2>&1
grep -q "policy drop" "$W/prov.txt"
ok $? "NMM kernel: provisioning ASR of A in session mode" "$(cat "$W/prov.txt")"

# ---- steps 4-5: ASR 1 = B C D, then add A ----
nmm asr add 1 alg hmac-sha256 name ASR1 grace 5 >/dev/null
for x in B C D; do nmm asr add-member 1 node $x >/dev/null; done
wait_for 60 all_activated 1
ok $? "ASR 1 {B,C,D} delivered and activated" "$(nmm asr show 1)"
nmm asr add-member 1 node A >/dev/null
wait_for 60 all_activated 1
ok $? "add A: ASR 1 re-keyed, delivered and activated on all four" "$(nmm asr show 1)"
e=$(nmmj asr show 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["epoch"])')
good=0
for node in $NODES; do epoch_is "$node" 1 "$e" || good=1; done
ok $good "every member's kernel sends with epoch $e"

# ---- step 6: show ----
nmm asr show 1 >"$W/show.txt" && grep -q "asr 1 name ASR1 epoch $e alg hmac-sha256" "$W/show.txt"
ok $? "asr show (text)" "$(cat "$W/show.txt")"
nmmj asr show 1 | python3 -c '
import json, sys
a = json.load(sys.stdin)
assert a["id"] == 1 and len(a["members"]) == 4
assert all(m["state"] == "active" and m["link"] == "online" for m in a["members"])'
ok $? "asr show (JSON): four active online members"

# ---- authenticated traffic ----
in_ns a ping -c 3 -i 0.2 -W 2 10.9.0.3 >/dev/null
ok $? "A pings B under ASR 1"

# ---- removal ----
nmm asr del-member 1 node C >/dev/null
wait_for 60 all_activated 1
ok $? "del C: re-keyed without C" "$(nmm asr show 1)"
e=$(nmmj asr show 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["epoch"])')
[ -n "$e" ] && ! epoch_is c 1 "$e" && epoch_is b 1 "$e"
ok $? "C does not hold the new epoch $e, B does"
nmmj asr show 1 | grep -q '"node":4,"name":"C","state":"revoked"'
ok $? "C stays in ASR 1 as revoked"
ctl b member show asr 1 node 4 2>&1 | grep -q "state revoked"
ok $? "B's kernel has C as a revoked member" "$(ctl b member show asr 1 2>&1)"

# ---- NMM killed in the middle of a re-key ----
nmm asr add-member 1 node C >/dev/null
kill -9 "$NMM_PID"
wait "$NMM_PID" 2>/dev/null
rm -f "$W/nmm/admin.sock"
start_nmm
ok $? "akm-nmmd restarts after SIGKILL"
wait_for 120 all_activated 1
ok $? "the interrupted re-key completes after the restart" "$(nmm asr show 1)"

# ---- the NMM's machine replaced: a fresh kernel, its store from a backup
# older than the last sessions. Session epochs must still be new to both
# kernels (an old one would start K(prov, s)'s sequence numbers again):
# the nodes refuse old ones and name their last in HELLO.
sessions() {
	nmmj node list | python3 -c 'import json, sys
print(" ".join("%s=%s" % (n["name"], n["session"]) for n in json.load(sys.stdin)))'
}
before=$(sessions)
kill "$NMM_PID"
wait "$NMM_PID" 2>/dev/null
rm -f "$W/nmm/admin.sock"
python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE nodes SET session = 1")
db.commit()' "$W/nmm/nmm.db"
# the old namespace may linger (orphaned sockets) and answer ARP: unplug it first
ip link del "${P}nmm"
ip netns del "${P}nmm"
ip netns add "${P}nmm"
ip link add "${P}nmm" type veth peer name eth0 netns "${P}nmm"
ip link set "${P}nmm" master akme2ebr up
in_ns nmm ip addr add 10.9.0.1/24 dev eth0
in_ns nmm ip link set eth0 up
in_ns nmm ip link set lo up
# the NMM's address has a new MAC now: the nodes forget the old one (ARP, not AKM)
for node in $NODES; do ip -n "$P$node" neigh flush to 10.9.0.1 2>/dev/null; done
start_nmm
all_online() {
	local node
	for node in $NODES; do node_is "${node^^}" active online || return 1; done
}
# the agents' reconnect backoff grew to a minute or more meanwhile
wait_for 300 all_online
good=$?
after=$(sessions)
python3 -c 'import sys
b = dict(x.split("=") for x in sys.argv[1].split())
a = dict(x.split("=") for x in sys.argv[2].split())
sys.exit(not all(int(a[k]) > int(b[k]) for k in b))' "$before" "$after" && [ $good = 0 ]
ok $? "NMM on a fresh kernel with its store rolled back: every node back online, on a session epoch above its last" \
	"before: $before; after: $after; $(nmm node list 2>&1)"

# ---- offline member catches up ----
kill "${AGENT_PID[d]}"
wait "${AGENT_PID[d]}" 2>/dev/null
nmm asr del-member 1 node C >/dev/null
sleep 1
start_agent d
wait_for 90 all_activated 1
ok $? "D, offline during a re-key, catches up" "$(nmm asr show 1)"

# ---- 16 members: 13 more nodes, added in quick succession ----
EXTRA=$(seq -f "e%g" 1 13)
i=10
for node in $EXTRA; do
	ID[$node]=$i
	ip netns add "$P$node"
	ip link add "$P$node" type veth peer name eth0 netns "$P$node"
	ip link set "$P$node" master akme2ebr up
	in_ns "$node" ip addr add "10.9.0.$i/24" dev eth0
	in_ns "$node" ip link set eth0 up
	nmm node add "${node^^}" id "$i" addr "10.9.0.$i" >/dev/null &&
		nmm node export "${node^^}" file "$W/$node.bundle" >"$W/$node.export" &&
		sed -n 's/^transfer code //p' "$W/$node.export" |
		in_ns "$node" "$AGENT" import "$W/$node.bundle" --state "$W/$node" \
			--code-file - >/dev/null 2>&1 &&
		start_agent "$node" || echo "# $node: setup failed"
	i=$((i + 1))
done
NODES="$NODES $EXTRA"
good=0
for node in $EXTRA; do wait_for 90 node_is "${node^^}" active online || good=1; done
ok $good "13 more nodes active and online"
for node in $EXTRA; do nmm asr add-member 1 node "${node^^}" >/dev/null || good=1; done
ok $good "13 add-member in a row"
wait_for 120 all_activated 1
ok $? "ASR 1 with 16 members: the last epoch delivered and activated" "$(nmm asr show 1)"
nmmj asr show 1 | python3 -c '
import json, sys
a = json.load(sys.stdin)
m = [x for x in a["members"] if x["state"] != "revoked"]
assert len(m) == 16, len(m)
states = {e["epoch"]: e["state"] for e in a["epochs"]}
assert states[a["epoch"]] == "active", states'
ok $? "16 active members, superseded epochs never activated"
e=$(nmmj asr show 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["epoch"])')
in_ns e13 ping -c 2 -i 0.2 -W 2 10.9.0.2 >/dev/null && epoch_is e13 1 "$e" && epoch_is a 1 "$e"
ok $? "E13 pings A under epoch $e"

# ---- node del ----
nmm node del D >/dev/null
ok $? "node del D"
wait_for 60 all_activated 1
ok $? "ASR 1 re-keyed without D" "$(nmm asr show 1)"
! ctl nmm asr show $((0x80000005)) >/dev/null 2>&1 &&
	! ctl nmm cred show id 5 >/dev/null 2>&1
ok $? "D's credential and provisioning ASR are gone from the NMM's kernel"
! nmm node list D >/dev/null 2>&1 &&
	wait_for 20 grep -q "auth-failure node 5 .*reason unknown-node" "$W/nmm.log"
ok $? "D is refused when it comes back" "$(grep 'node 5' "$W/nmm.log" | tail -n 3)"

# ---- robustness: garbage on the port ----
for i in $(seq 1 20); do
	head -c $((RANDOM % 200 + 1)) /dev/urandom | in_ns nmm timeout 2 \
		bash -c 'cat >/dev/tcp/10.9.0.1/4790' 2>/dev/null
done
kill -0 "$NMM_PID" && nmm node list >/dev/null
ok $? "akm-nmmd survives malformed input"

totals
[ "$fail" = 0 ]
