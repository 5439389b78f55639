#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The NMM off the demo's script, in a VM with akm.ko loaded (as root): the
# sequences that once broke it, each a regression test (issue 11), with the
# real daemons and kernels; nodes A-E in network namespaces on one bridge.
#
#   - a pair in two ASRs, and a pair that shared an ASR before (revoked)
#     meeting in another: one ASR carries the pair's addresses, and the
#     traffic between them is authenticated;
#   - a node added with another's address is refused, and changes nothing;
#   - a node added to an ASR before its first handshake;
#   - a member offline: a removal switches every online member at once
#     (the lock-out latency is measured), the offline one catches up;
#   - an agent killed between WELCOME and its session connection: back
#     within the NMM's session wait (10 s), not locked out for 30 s;
#   - a failed delivery is reported, shown and tried again; a removal
#     meanwhile is applied by the failing member all the same;
#   - a kernel ahead of the NMM (ESTALE): the NMM goes above it;
#   - node set (an address the NMM's kernel refuses; a new address), asr
#     purge, asr del.
#
#   scripts/vm-run.sh --kernel VER --module build/VER/akm.ko -- tests/nmm/converge.sh
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
W=$(mktemp -d /tmp/akm-converge.XXXXXX)
NODES="a b c d e"
declare -A ID=([a]=2 [b]=3 [c]=4 [d]=5 [e]=6) AGENT_PID=() IP=()
NMM_PID=
P=akmcv-
NET=10.9.8
. "$HERE/../lib.sh"
NAME="nmm converge"
. "$HERE/lib.sh"

cleanup() {
	local p
	for p in "${AGENT_PID[@]}" $NMM_PID; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	for ns in nmm $NODES; do ip netns del "$P$ns" 2>/dev/null; done
	ip link del akmcvbr 2>/dev/null
	[ -z "${OUT:-}" ] || cp "$W"/*.log "$OUT/" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

start_agent() {
	ip netns exec "$P$1" "$AGENT" run --state "$W/$1" -v >>"$W/agent-$1.log" 2>&1 &
	AGENT_PID[$1]=$!
}
stop_agent() { kill "${AGENT_PID[$1]}"; wait "${AGENT_PID[$1]}" 2>/dev/null; unset "AGENT_PID[$1]"; }
addr() { echo "$NET.${IP[$1]:-${ID[$1]}}"; }
online() { nmmj node list "${1^^}" | grep -q '"link":"online"'; }
nmm_epoch() { nmmj asr show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["epoch"])'; }
kernel_epoch() { akm_kernel_epoch "$P$1" "$2"; }	# NS ASR: its current epoch, 0 if none
# every online member of asr holds the NMM's epoch as current
converged() {	# asr
	local e x
	e=$(nmm_epoch "$1")
	for x in $(nmmj asr show "$1" | python3 -c '
import json, sys
print(" ".join(m["name"].lower() for m in json.load(sys.stdin)["members"]
               if m["state"] != "revoked" and m["link"] == "online"))'); do
		[ "$(kernel_epoch "$x" "$1")" = "$e" ] || return 1
	done
}
rx_from() { akm_rx_from "$P$1" "${ID[$2]}"; }	# NS NODE: packets NS verified from NODE
# x and y exchange authenticated traffic: pings pass, and each kernel
# counts verified packets from the other
talks() {	# x y
	local rx ry
	rx=$(rx_from "$1" "$2") ry=$(rx_from "$2" "$1")
	in_ns "$1" ping -c 2 -i 0.2 -W 2 "$(addr "$2")" >/dev/null &&
		[ "$(rx_from "$1" "$2")" -gt "$rx" ] && [ "$(rx_from "$2" "$1")" -gt "$ry" ]
}
dropped() { ! in_ns "$1" ping -c 2 -i 0.2 -W 1 "$(addr "$2")" >/dev/null; }

# ---- network, NMM, five nodes ----
ip link add akmcvbr type bridge && ip link set akmcvbr up
for ns in nmm $NODES; do
	ip netns add "$P$ns"
	ip link add "$P$ns" type veth peer name eth0 netns "$P$ns"
	ip link set "$P$ns" master akmcvbr up
	in_ns "$ns" ip addr add "$NET.${ID[$ns]:-1}/24" dev eth0
	in_ns "$ns" ip link set eth0 up
	in_ns "$ns" ip link set lo up
done
ip netns exec "${P}nmm" "$NMMD" --id 1 --listen "$NET.1" --state "$W/nmm" --foreground \
	>>"$W/nmm.log" 2>&1 &
NMM_PID=$!
wait_for 10 test -S "$W/nmm/admin.sock"
for x in $NODES; do
	nmm node add "${x^^}" id "${ID[$x]}" addr "$(addr "$x")" >/dev/null &&
		nmm node export "${x^^}" file "$W/$x.bundle" >"$W/$x.export" &&
		sed -n 's/^transfer code //p' "$W/$x.export" |
			in_ns "$x" "$AGENT" import "$W/$x.bundle" --state "$W/$x" --code-file - >/dev/null ||
		echo "# $x: provisioning failed"
done
for x in a b c d; do start_agent "$x"; done
good=0
for x in a b c d; do wait_for 60 online "$x" || good=1; done
ok $good "NMM and nodes A-D online (E provisioned, not running)" "$(nmm node list)"
for id in 1 2 3; do nmm asr add $id alg chacha20-poly1305 grace 2 >/dev/null; done

# ---- two ASRs over one pair; a revoked pair meeting again ----
nmm asr add-member 1 node A >/dev/null && nmm asr add-member 1 node B >/dev/null &&
	nmm asr add-member 2 node A >/dev/null && nmm asr add-member 2 node B >/dev/null
ok $? "A and B in ASR 1 and ASR 2: add-member succeeds every time" "$(nmm asr show)"
converged 1 && converged 2 && wait_for 20 talks a b
ok $? "A and B talk, authenticated (one ASR carries the pair)" "$(nmm asr show 2)"
nmm asr del-member 1 node A >/dev/null && converged 1 && converged 2 && wait_for 20 talks a b
ok $? "A leaves ASR 1: the pair's addresses move to ASR 2, still authenticated"
nmm asr add-member 3 node B >/dev/null && nmm asr del-member 3 node B >/dev/null &&
	nmm asr add-member 3 node C >/dev/null && nmm asr add-member 3 node B >/dev/null
ok $? "B revoked in ASR 3 with C, then added again" "$(nmm asr show 3)"
nmm asr add-member 2 node C >/dev/null && nmm asr del-member 3 node B >/dev/null
ok $? "C joins ASR 2 where B is, while B is revoked in ASR 3 (was EADDRINUSE)" \
	"$(nmm asr show 2; tail -n 5 "$W/agent-c.log")"
converged 2 && converged 3 && wait_for 20 talks b c && wait_for 20 talks a c
ok $? "B and C talk under ASR 2; A and C too" "$(nmm asr show 2)"
! nmmj asr show | grep -q '"delivery":"failed"'
ok $? "no delivery failed" "$(nmm asr show)"

# ---- bad input changes nothing ----
before=$(nmmj node list | python3 -c 'import json,sys; print([(n["name"], n["addrs"]) for n in json.load(sys.stdin)])')
nmm node add X id 9 addr "$(addr b)" >"$W/out" 2>&1
[ $? = 1 ] && grep -q "address $(addr b) belongs to node 'B'" "$W/out" &&
	[ "$(nmmj node list | python3 -c 'import json,sys; print([(n["name"], n["addrs"]) for n in json.load(sys.stdin)])')" = "$before" ]
ok $? "node add with B's address: refused, nothing changed" "$(cat "$W/out")"
converged 2 && wait_for 20 talks b c
ok $? "ASR 2 unharmed"

# ---- a node added to an ASR before its first handshake ----
nmm asr add-member 2 node E >/dev/null
start_agent e
wait_for 60 online e && wait_for 30 converged 2 && wait_for 20 talks e a && wait_for 20 talks e b
ok $? "E, added before it ever ran: talks to A and B once it runs" \
	"$(nmm asr show 2; tail -n 5 "$W/agent-e.log")"

# ---- a member offline: lock-out does not wait for it ----
stop_agent d
nmm asr add-member 2 node D >"$W/out" 2>&1
ok $? "D (offline) added to ASR 2: succeeds, D named offline" "$(cat "$W/out")"
grep -q "member D offline" "$W/out"
ok $? "... the answer says D gets it when it connects" "$(cat "$W/out")"
nmm asr del-member 2 node E >"$W/out" 2>&1
st=$?
ms=$(sed -n 's/.* after \([0-9]*\) ms.*/\1/p' "$W/out" | head -n 1)
[ "$st" = 0 ] && [ -n "$ms" ] && [ "$ms" -lt 1000 ] && converged 2
ok $? "E removed, D offline: every online member switched in ${ms:-?} ms (< 1000)" \
	"$(cat "$W/out")"
echo "# lock-out latency, one member offline: ${ms:-?} ms"
wait_for 10 dropped a e && dropped e a
ok $? "E is locked out: A and E drop each other's packets"
start_agent d
wait_for 60 online d && wait_for 30 converged 2 && wait_for 20 talks d a
ok $? "D back: it gets ASR 2's epoch and talks to A" "$(tail -n 5 "$W/agent-d.log")"

# ---- an agent killed between its bootstrap WELCOME and its session connection ----
# (the NMM's kernel drops the node's plain packets while it waits for the session)
stop_agent d
lines=$(wc -l <"$W/agent-d.log")
ups=$(grep -c "node-online node ${ID[d]} " "$W/nmm.log")
start_agent d
# the agent waits 200 ms after WELCOME: tail -f wakes on the write (inotify)
timeout 60 tail -n "+$((lines + 1))" -f "$W/agent-d.log" | grep -q -m 1 "reconnecting authenticated"
kill -9 "${AGENT_PID[d]}"
wait "${AGENT_PID[d]}" 2>/dev/null
caught=yes
[ "$(grep -c "node-online node ${ID[d]} " "$W/nmm.log")" = "$ups" ] || caught="no (it was faster)"
t0=$(date +%s)
start_agent d
wait_for 25 online d
ok $? "D's agent killed after WELCOME, before its session (caught: $caught): online again in $(($(date +%s) - t0)) s" \
	"$(tail -n 8 "$W/agent-d.log"; grep "node ${ID[d]} " "$W/nmm.log" | tail -n 5)"

# ---- a failed delivery: reported, shown, tried again ----
# an address of C taken in B's kernel by a stranger's member: B cannot take C
ctl b asr add 77 alg hmac-sha256 >/dev/null
nmm asr del-member 2 node C >/dev/null && nmm asr purge 2 >/dev/null &&
	wait_for 20 ctl b member add asr 77 node 99 addr "$(addr c)"
ok $? "B's kernel: C's address under a member of another ASR" "$(ctl b member show)"
nmm asr add-member 2 node C >"$W/out" 2>&1
st=$?
[ "$st" = 1 ] && grep -q "node 'B' did not take epoch" "$W/out"
ok $? "add-member says B's delivery failed (exit 1)" "$(cat "$W/out")"
nmmj asr show 2 | python3 -c '
import json, sys
m = [x for x in json.load(sys.stdin)["members"] if x["name"] == "B"][0]
assert m["delivery"] == "failed" and "in use" in m["error"], m'
ok $? "asr show: B's delivery failed, with the error" "$(nmm asr show 2)"
# a removal while B's list fails: B revokes D all the same
nmm asr del-member 2 node D >/dev/null 2>&1
wait_for 20 sh -c "$AKMCTL -n ${P}b -j member show asr 2 | python3 -c '
import json, sys
sys.exit(0 if any(m[\"node\"] == ${ID[d]} and m[\"state\"] == \"revoked\"
                  for m in json.load(sys.stdin)) else 1)'"
ok $? "del-member D while B fails ASR 2's list: B's kernel revokes D" "$(ctl b member show asr 2)"
ctl b asr del 77 >/dev/null
nmm asr add-member 2 node D >/dev/null 2>&1
wait_for 30 converged 2 && wait_for 20 talks b c
ok $? "the conflict gone, the NMM tried again: B and C talk" "$(nmm asr show 2)"

# ---- a kernel ahead of the NMM: ESTALE ----
# A's kernel had ASR 4 up to epoch 40 (a store restored from a backup)
head -c 32 /dev/urandom >"$W/k"
ctl a asr add 4 alg chacha20-poly1305 >/dev/null &&
	ctl a key install asr 4 epoch 40 file "$W/k" >/dev/null && ctl a asr del 4 >/dev/null
nmm asr add 4 alg chacha20-poly1305 >/dev/null && nmm asr add-member 4 node A >/dev/null &&
	nmm asr add-member 4 node B >/dev/null
wait_for 30 converged 4 && [ "$(nmm_epoch 4)" -gt 40 ] && wait_for 20 talks a b
ok $? "ASR 4: A's kernel refused epochs up to 40; the NMM went above ($(nmm_epoch 4))" \
	"$(grep 'epoch-stale' "$W/nmm.log" | tail -n 2)"

# ---- node set: an address the NMM's kernel refuses changes nothing ----
ctl nmm asr add 77 alg hmac-sha256 >/dev/null &&
	ctl nmm member add asr 77 node 99 addr "$NET.56" >/dev/null
d_addrs() { nmmj node list D | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["addrs"])'; }
before=$(d_addrs)
! nmm node set D addr "$NET.56" >"$W/out" 2>&1 && [ "$(d_addrs)" = "$before" ] &&
	ctl nmm member show asr $((0x80000000 + ${ID[d]})) | grep -q "$(addr d)"
ok $? "node set to an address the NMM's kernel holds elsewhere: refused, nothing changed" \
	"$(cat "$W/out"; nmmj node list D)"
ctl nmm asr del 77 >/dev/null

# ---- node set: a new address ----
in_ns d sysctl -qw net.ipv4.conf.eth0.promote_secondaries=1
in_ns d ip addr add "$NET.55/24" dev eth0
nmm node set D addr "$NET.55" >"$W/out" 2>&1
ok $? "node set D addr $NET.55" "$(cat "$W/out")"
in_ns d ip addr del "$(addr d)/24" dev eth0
IP[d]=55
wait_for 60 online d && wait_for 30 converged 2 && wait_for 20 talks a d
ok $? "D on its new address: online again, talks to A" "$(tail -n 5 "$W/agent-d.log")"

# ---- asr purge, asr del ----
nmm asr del-member 2 node C >/dev/null && wait_for 30 sh -c "$AKMCTL -n ${P}a -j member show asr 2 | grep -q revoked" &&
	nmm asr purge 2 >/dev/null && wait_for 30 sh -c "! $AKMCTL -n ${P}a -j member show asr 2 | grep -q revoked"
ok $? "asr purge 2: the revoked members leave A's kernel" "$(ctl a member show asr 2)"
stop_agent b
nmm asr del 2 >"$W/out" 2>&1 && wait_for 30 sh -c "! $AKMCTL -n ${P}a asr show 2"
ok $? "asr del 2: A leaves it at once" "$(cat "$W/out")"
start_agent b
wait_for 60 online b && wait_for 30 sh -c "! $AKMCTL -n ${P}b asr show 2"
ok $? "... and B, offline then, when it comes back" "$(tail -n 5 "$W/agent-b.log")"

# ---- from review: sequences that once left a pair wrong ----
# A and E in ASRs 5 and 6; E leaves 5, then E is deleted: A drops E's packets
for id in 5 6; do nmm asr add $id alg chacha20-poly1305 >/dev/null; done
nmm asr add-member 5 node A >/dev/null && nmm asr add-member 5 node E >/dev/null &&
	nmm asr add-member 6 node A >/dev/null && nmm asr add-member 6 node E >/dev/null &&
	wait_for 20 talks a e && nmm asr del-member 5 node E >/dev/null &&
	nmm node del E >/dev/null && wait_for 20 dropped a e
ok $? "E out of ASR 5, then deleted: A drops E's packets (its revoked entry has them)" \
	"$(ctl a member show)"
nmm node add Y id 9 addr "::ffff:$(addr a)" >"$W/out" 2>&1
[ $? = 1 ] && grep -q "belongs to node 'A'" "$W/out"
ok $? "node add with ::ffff:A's address: refused as A's" "$(cat "$W/out")"
# C leaves ASR 3 while offline, then ASR 3 is deleted: C leaves it when back
stop_agent c
nmm asr del-member 3 node C >/dev/null && nmm asr del 3 >/dev/null
start_agent c
wait_for 60 online c && wait_for 30 sh -c "! $AKMCTL -n ${P}c asr show 3"
ok $? "C, revoked in ASR 3 while offline, leaves it after asr del" "$(ctl c asr show)"

nmmj asr show | python3 -c '
import json, sys
bad = [(a["id"], m["name"]) for a in json.load(sys.stdin) for m in a["members"]
       if m["delivery"] == "failed"]
assert not bad, bad'
ok $? "no delivery failed at the end" "$(nmm asr show)"
! grep -q "ERROR: \(Address\|Undefined\)Sanitizer" "$W"/*.log
ok $? "no sanitizer reports"

totals
[ "$fail" = 0 ]
