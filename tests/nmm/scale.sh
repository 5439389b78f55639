#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The NMM at the kernel's limits, in a VM with akm.ko loaded (as root): an
# ASR of 256 members (each a node with its agent in a network namespace)
# and a node in 1000 ASRs, end to end; prints the figures of
# Documentation/testing.md ("Scale"). Long (tens of minutes under TCG), so
# it is its own command and not in the default suite:
#
#   scripts/vm-run.sh --kernel VER --module build/VER/akm.ko --mem 6144 \
#       --timeout 7200 -- tests/nmm/scale.sh [--members 256] [--asrs 1000]
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
MEMBERS=256 ASRS=1000
while [ $# -gt 0 ]; do
	case $1 in
	--members) MEMBERS=$2; shift 2 ;;
	--asrs) ASRS=$2; shift 2 ;;
	*) echo "usage: $0 [--members N] [--asrs N]" >&2; exit 2 ;;
	esac
done
W=$(mktemp -d /tmp/akm-scale.XXXXXX)
P=akmsc-
declare -a AGENT_PIDS=()
NMM_PID=
. "$HERE/../lib.sh"
NAME="nmm scale"
. "$HERE/lib.sh"
now_ms() { date +%s%3N; }

cleanup() {
	local p i
	for p in "${AGENT_PIDS[@]}" $NMM_PID; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	ip netns del "${P}nmm" 2>/dev/null
	for i in $(seq 1 $((MEMBERS + 1))); do ip netns del "$P$i" 2>/dev/null; done
	ip link del akmscbr 2>/dev/null
	[ -z "${OUT:-}" ] || cp "$W"/nmm.log "$OUT/scale-nmm.log" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

# node i (1..MEMBERS+1) has id i+1 and address 10.10.(i/250).(i%250+2)
addr() { echo "10.10.$(($1 / 250)).$(($1 % 250 + 2))"; }
ulimit -n 65536
sysctl -qw net.ipv4.neigh.default.gc_thresh3=8192 net.ipv4.neigh.default.gc_thresh2=4096

ip link add akmscbr type bridge && ip link set akmscbr up
ip netns add "${P}nmm"
ip link add "${P}nmm" type veth peer name eth0 netns "${P}nmm"
ip link set "${P}nmm" master akmscbr up
in_ns nmm ip addr add 10.10.255.1/16 dev eth0
in_ns nmm ip link set eth0 up
for i in $(seq 1 $((MEMBERS + 1))); do
	ip netns add "$P$i"
	ip link add "$P$i" type veth peer name eth0 netns "$P$i"
	ip link set "$P$i" master akmscbr up
	in_ns "$i" ip addr add "$(addr "$i")/16" dev eth0
	in_ns "$i" ip link set eth0 up
done
ip netns exec "${P}nmm" "$NMMD" --id 1 --listen 10.10.255.1 --state "$W/nmm" --foreground \
	>>"$W/nmm.log" 2>&1 &
NMM_PID=$!
wait_for 10 test -S "$W/nmm/admin.sock"
t0=$(now_ms)
# The NMM derives each bundle's key (Argon2id) in turn; the imports run
# beside it, two at a time.
import_node() {	# i
	sed -n 's/^transfer code //p' "$W/$1.export" |
		in_ns "$1" "$AGENT" import "$W/$1.bundle" --state "$W/$1" --code-file - >/dev/null ||
		echo "$1" >>"$W/import-failed"
}
good=0
imports=()
for i in $(seq 1 $((MEMBERS + 1))); do
	nmm node add "n$i" id $((i + 1)) addr "$(addr "$i")" >/dev/null &&
		nmm node export "n$i" file "$W/$i.bundle" >"$W/$i.export" || good=1
	if [ ${#imports[@]} -ge 2 ]; then
		wait "${imports[0]}"
		imports=("${imports[@]:1}")
	fi
	import_node "$i" &
	imports+=($!)
done
for p in "${imports[@]}"; do wait "$p"; done
[ ! -e "$W/import-failed" ] || good=1
ok $good "$((MEMBERS + 1)) nodes provisioned ($(( ($(now_ms) - t0) / 1000 )) s)"

# ---- an ASR of MEMBERS members: the members join while offline ----
nmm asr add 1 alg chacha20-poly1305 >/dev/null
good=0
for i in $(seq 1 "$MEMBERS"); do nmm asr add-member 1 node "n$i" >/dev/null || good=1; done
ok $good "ASR 1: $MEMBERS members added"
t0=$(now_ms)
for i in $(seq 1 "$MEMBERS"); do
	ip netns exec "$P$i" "$AGENT" run --state "$W/$i" >>"$W/agent-$i.log" 2>&1 &
	AGENT_PIDS+=($!)
done
all_online() {
	[ "$(nmmj node list | python3 -c 'import json,sys; print(sum(n["link"] == "online" for n in json.load(sys.stdin)))')" -ge "$MEMBERS" ]
}
activated() {	# asr count
	nmmj asr show "$1" | python3 -c '
import json, sys
a = json.load(sys.stdin)
sys.exit(0 if sum(m["delivery"] == "activated" for m in a["members"]) >= int(sys.argv[1]) else 1)' "$2"
}
wait_for 3000 all_online && wait_for 3000 activated 1 "$MEMBERS"
ok $? "$MEMBERS agents started: all online, ASR 1's epoch activated on all ($(( ($(now_ms) - t0) / 1000 )) s)" \
	"$(tail -n 5 "$W/nmm.log")"
echo "# startup of $MEMBERS members (each first session re-keys ASR 1): $(( ($(now_ms) - t0) / 1000 )) s"

# one re-key of the full ASR: del-member answers when every online member switched
for _ in 1 2 3; do
	nmm asr del-member 1 node "n$MEMBERS" >"$W/out" 2>&1
	ms=$(sed -n 's/.* after \([0-9]*\) ms.*/\1/p' "$W/out" | head -n 1)
	echo "# re-key of ASR 1 ($((MEMBERS - 1)) online members), del-member: ${ms:-?} ms"
	nmm asr add-member 1 node "n$MEMBERS" >"$W/out" 2>&1
	ms2=$(sed -n 's/.* after \([0-9]*\) ms.*/\1/p' "$W/out" | head -n 1)
	echo "# re-key of ASR 1 ($MEMBERS online members), add-member: ${ms2:-?} ms"
done
[ -n "$ms" ] && [ -n "$ms2" ]
ok $? "re-key of the $MEMBERS-member ASR: every member switched (${ms:-?} / ${ms2:-?} ms)" \
	"$(cat "$W/out")"
e=$(nmmj asr show 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["epoch"])')
in_ns 1 ping -c 2 -i 0.2 -W 2 "$(addr "$MEMBERS")" >/dev/null &&
	"$AKMCTL" -n "${P}1" -j asr show 1 | python3 -c '
import json, sys
a = json.load(sys.stdin)
a = a[0] if isinstance(a, list) else a
sys.exit(0 if any(k["epoch"] == int(sys.argv[1]) and k["state"] == "current"
                  for k in a["keys"]) else 1)' "$e"
ok $? "member 1 and member $MEMBERS talk under epoch $e"

# ---- a node in ASRS ASRs (with node 1) ----
X=$((MEMBERS + 1))
ip netns exec "$P$X" "$AGENT" run --state "$W/$X" >>"$W/agent-$X.log" 2>&1 &
AGENT_PIDS+=($!)
wait_for 60 sh -c "$AKMCTL -j nmm socket $W/nmm/admin.sock node list n$X | grep -q online"
t0=$(now_ms)
good=0
for a in $(seq 2 $((ASRS + 1))); do
	nmm asr add "$a" alg chacha20-poly1305 >/dev/null &&
		nmm asr add-member "$a" node "n$X" >/dev/null &&
		nmm asr add-member "$a" node n1 >/dev/null || good=1
done
ok $good "node n$X in $ASRS ASRs with n1 ($(( ($(now_ms) - t0) / 1000 )) s)"
current_all() {
	"$AKMCTL" -n "$P$X" -j asr show | python3 -c '
import json, sys
n = sum(1 for a in json.load(sys.stdin) if a["id"] < 2**31 and
        any(k["state"] == "current" for k in a.get("keys", [])))
sys.exit(0 if n >= int(sys.argv[1]) else 1)' "$ASRS"
}
wait_for 600 current_all && in_ns "$X" ping -c 2 -i 0.2 -W 2 "$(addr 1)" >/dev/null
ok $? "n$X's kernel holds a current epoch in all $ASRS ASRs and talks to n1"
kill "${AGENT_PIDS[-1]}"
wait "${AGENT_PIDS[-1]}" 2>/dev/null
t0=$(now_ms)
ip netns exec "$P$X" "$AGENT" run --state "$W/$X" >>"$W/agent-$X.log" 2>&1 &
AGENT_PIDS+=($!)
wait_for 600 sh -c "$AKMCTL -j nmm socket $W/nmm/admin.sock node list n$X | grep -q online" &&
	wait_for 600 current_all
ok $? "n$X's agent restarted: online and converged again ($(( ($(now_ms) - t0) / 1000 )) s)"
echo "# agent restart of a node in $ASRS ASRs: $(( ($(now_ms) - t0) / 1000 )) s to converge"

totals
[ "$fail" = 0 ]
