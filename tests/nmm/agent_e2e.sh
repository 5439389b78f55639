#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The node agent end to end, in a VM with akm.ko loaded (as root): refused
# imports, file and TPM (swtpm) storage, activation, a re-key, the agent's
# memory after activation, restarts of the agent and of the NMM, a sealed
# credential on another TPM, a "fresh boot" (a new network namespace: an
# empty kernel state), authentication-failure events and status.
#
#   scripts/vm-run.sh --kernel VER --module build/VER/akm.ko -- tests/nmm/agent_e2e.sh
#
# TAP; the last line is a kselftest-style Totals line. KEEP=1 keeps the
# work directory (logs) in /tmp.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
US=$REPO/userspace
NMMD=${AKM_NMMD:-$US/nmm/akm-nmmd}
AGENT=${AKM_AGENT:-$US/agent/akm-agent}
AKMCTL=${AKM_AKMCTL:-$US/akmctl/akmctl}
SECRETS="python3 $HERE/agent_secrets.py"
W=$(mktemp -d /tmp/akm-agent-e2e.XXXXXX)
NET=10.9.1
TCTI_B="swtpm:host=127.0.0.1,port=2321"
declare -A AGENT_PID=() TPM_PID=()
NMM_PID= DUMP_PID=
. "$HERE/../lib.sh"
nmm() { "$AKMCTL" nmm socket "$W/nmm/admin.sock" "$@"; }
nmmj() { "$AKMCTL" -j nmm socket "$W/nmm/admin.sock" "$@"; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

cleanup() {
	local p
	for p in "${AGENT_PID[@]}" "${TPM_PID[@]}" $NMM_PID $DUMP_PID; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	for ns in nmm a b x y; do ip netns del "$ns" 2>/dev/null; done
	ip link del akmbr1 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT

netns() {	# name host-number: a namespace on the bridge
	ip netns add "$1"
	ip link add "v$1" type veth peer name eth0 netns "$1"
	ip link set "v$1" master akmbr1 up
	in_ns "$1" ip addr add "$NET.$2/24" dev eth0
	in_ns "$1" ip link set eth0 up
	in_ns "$1" ip link set lo up
}
start_nmm() {
	ip netns exec nmm "$NMMD" --id 1 --listen "$NET.1" --state "$W/nmm" --foreground \
		>>"$W/nmm.log" 2>&1 &
	NMM_PID=$!
	wait_for 10 test -S "$W/nmm/admin.sock"
}
start_agent() {	# node [env...]
	local node=$1
	shift
	ip netns exec "$node" env "$@" "$AGENT" run --state "$W/$node" -v >>"$W/agent-$node.log" 2>&1 &
	AGENT_PID[$node]=$!
}
stop_agent() {	# node [signal]
	kill "-${2:-TERM}" "${AGENT_PID[$1]}" 2>/dev/null
	wait "${AGENT_PID[$1]}" 2>/dev/null
	unset "AGENT_PID[$1]"
}
start_tpm() {	# ns state-dir port
	mkdir -p "$2"
	ip netns exec "$1" swtpm socket --tpm2 --flags startup-clear --tpmstate dir="$2" \
		--server type=tcp,port="$3",bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=$(($3 + 1)),bindaddr=127.0.0.1 >>"$W/swtpm.log" 2>&1 &
	TPM_PID[$1]=$!
	wait_for 10 in_ns "$1" bash -c "exec 3<>/dev/tcp/127.0.0.1/$3"
}
online() { nmmj node list "$1" | grep -q '"state":"active".*"link":"online"'; }
agent_state() {	# node -> the daemon's state from 'akm-agent status -j'
	in_ns "$1" "$AGENT" status -j --state "$W/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["daemon"]["state"])'
}
kernel_epoch() {	# ns asr -> current epoch in that kernel, 0 if none
	"$AKMCTL" -n "$1" -j asr show "$2" 2>/dev/null | python3 -c "
import json, sys
a = json.load(sys.stdin)
a = a[0] if isinstance(a, list) else a
print(max([k['epoch'] for k in a.get('keys', []) if k['state'] == 'current'] or [0]))" 2>/dev/null ||
		echo 0
}
epoch_is() { [ "$(kernel_epoch "$1" "$2")" = "$3" ]; }
nmm_epoch() { nmmj asr show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["epoch"])'; }
all_activated() {
	nmmj asr show "$1" | python3 -c "
import json, sys
a = json.load(sys.stdin)
sys.exit(0 if a['members'] and all(m['delivery'] == 'activated' for m in a['members']) else 1)"
}
has_cred() { "$AKMCTL" -n "$1" cred show id 1 >/dev/null 2>&1; }

# ---- network and NMM ----
ip link add akmbr1 type bridge && ip link set akmbr1 up
netns nmm 1 && netns a 2 && netns b 3 && netns x 99
in_ns a ping -c 1 -W 2 "$NET.1" >/dev/null
ok $? "network up"
start_nmm
ok $? "akm-nmmd starts" "$(tail -n 20 "$W/nmm.log")"
declare -A ID=([a]=2 [b]=3)
for node in a b; do
	id=${ID[$node]}
	nmm node add "${node^^}" id "$id" addr "$NET.$id" >/dev/null &&
		nmmj node export "${node^^}" file "$W/$node.bundle" >"$W/$node.export"
	ok $? "node ${node^^}: added and exported" "$(cat "$W/$node.export")"
done
code_a=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])' <"$W/a.export")
code_b=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])' <"$W/b.export")

# ---- refused imports: nothing reaches the kernel or the state directory ----
refused() {	# name pattern file code
	printf '%s\n' "$4" | in_ns a "$AGENT" import "$3" --code-file - --state "$W/a" \
		>"$W/out" 2>&1
	local st=$?
	[ $st = 1 ] && grep -q -- "$2" "$W/out" && ! has_cred a && [ ! -e "$W/a/agent.conf" ]
	ok $? "import refused: $1" "exit $st: $(cat "$W/out")"
}
wrong=$(tr 'A-Z2-7' 'B-Z2-7A' <<<"$code_a")
refused "wrong transfer code" "wrong transfer code, or the bundle was modified" "$W/a.bundle" "$wrong"
cp "$W/a.bundle" "$W/bad" && printf '\x01' | dd of="$W/bad" bs=1 seek=40 conv=notrunc 2>/dev/null
refused "tampered byte" "bundle is corrupt or was modified" "$W/bad" "$code_a"
cp "$W/a.bundle" "$W/bad" && printf '\x02' | dd of="$W/bad" bs=1 seek=4 conv=notrunc 2>/dev/null
refused "version 2" "bundle version 2 not supported (this program reads version 1)" "$W/bad" "$code_a"
head -c 100 "$W/a.bundle" >"$W/bad"
refused "truncated file" "bundle has 100 bytes" "$W/bad" "$code_a"
refused "missing file" "cannot open" "$W/none" "$code_a"
refused "malformed code" "transfer code is 20 characters" "$W/a.bundle" "not-a-code"
in_ns a "$AGENT" import "$W/a.bundle" --code "$code_a" --state "$W/a" >"$W/out" 2>&1
st=$?
[ $st = 2 ] && grep -q -- "--code-file" "$W/out" && ! has_cred a && [ ! -e "$W/a/agent.conf" ]
ok $? "import refused: --code CODE on the command line (exit 2)" "exit $st: $(cat "$W/out")"

# ---- 2a: file storage on A ----
printf '%s\n' "${code_a,,}" >"$W/code-a"
in_ns a "$AGENT" import "$W/a.bundle" --code-file "$W/code-a" --state "$W/a" >"$W/out" 2>&1
ok $? "A: import (code in lower case)" "$(cat "$W/out")"
[ "$(stat -c %a "$W/a/cred")" = 600 ] && [ "$(stat -c %a "$W/a")" = 700 ] &&
	[ "$(stat -c %s "$W/a/cred")" = 32 ]
ok $? "A: state/cred is 32 bytes, 0600, in a 0700 directory"
has_cred a && "$AKMCTL" -n a node show | grep -q "node 2"
ok $? "A: kernel holds the credential and node id 2" "$("$AKMCTL" -n a node show 2>&1)"
grep -q "serial" <("$AKMCTL" -n a cred show id 1) && ! grep -qi "[0-9a-f]\{64\}" <(cat /proc/keys)
ok $? "A: the keyring shows the credential, never its bytes"

# ---- 2b: TPM storage on B (swtpm inside B's namespace) ----
if command -v swtpm >/dev/null; then
	start_tpm b "$W/tpm-b" 2321
	ok $? "swtpm for B starts" "$(tail -n 5 "$W/swtpm.log")"
	printf '%s\n' "$code_b" | in_ns b env AKM_TPM_TCTI="$TCTI_B" "$AGENT" import "$W/b.bundle" \
		--code-file - --tpm --state "$W/b" >"$W/out" 2>&1
	ok $? "B: import --tpm" "$(cat "$W/out")"
	cred_b=$($SECRETS cred "$W/b.bundle" "$code_b")
	[ -s "$W/b/cred.tpm" ] && [ ! -e "$W/b/cred" ] && [ "$(stat -c %a "$W/b/cred.tpm")" = 600 ] &&
		! od -An -v -tx1 "$W/b/cred.tpm" | tr -d ' \n' | grep -q "$cred_b"
	ok $? "B: only the sealed copy is kept, without the credential in clear"
	TPM_OK=1
else
	skip "B: import --tpm" "swtpm not installed"
	printf '%s\n' "$code_b" | in_ns b "$AGENT" import "$W/b.bundle" --code-file - \
		--state "$W/b" >/dev/null 2>&1
	TPM_OK=
fi

# (background jobs are started with 'ip netns exec' itself, not in_ns, so
# that $! is the daemon's pid)

# ---- 3: activation ----
tcpdump -i akmbr1 -s 0 -U -w "$W/wire.pcap" >/dev/null 2>&1 &
DUMP_PID=$!
sleep 1
start_agent a
start_agent b AKM_TPM_TCTI="$TCTI_B"
wait_for 60 online A && wait_for 60 online B
ok $? "A and B activated and online" "$(nmm node list; tail -n 20 "$W/agent-a.log")"
"$AKMCTL" -n a asr show $((0x80000002)) >"$W/prov.txt" 2>&1
grep -q "policy drop" "$W/prov.txt" && grep -q "current" "$W/prov.txt"
ok $? "A: provisioning ASR in session mode" "$(cat "$W/prov.txt")"
[ "$(agent_state a)" = session ]
ok $? "A: status says session" "$("$AGENT" status --state "$W/a" 2>&1)"
in_ns a "$AGENT" status -j --state "$W/a" | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["node_id"] == 2 and s["nmm_id"] == 1 and s["storage"] == "file"
assert s["kernel"]["credential"] == "installed" and s["kernel"]["provisioning_mode"] == "session"'
ok $? "A: status -j" "$(in_ns a "$AGENT" status -j --state "$W/a" 2>&1)"

# ---- 4-5: ASR 1 = {A, B} ----
nmm asr add 1 alg hmac-sha256 name ASR1 grace 3 >/dev/null &&
	nmm asr add-member 1 node A >/dev/null && nmm asr add-member 1 node B >/dev/null
wait_for 90 all_activated 1
ok $? "ASR 1 delivered to A and B and activated" "$(nmm asr show 1; tail -n 10 "$W/agent-a.log")"
e=$(nmm_epoch 1)
epoch_is a 1 "$e" && epoch_is b 1 "$e"
ok $? "A and B send with epoch $e" "$("$AKMCTL" -n a asr show 1)"
"$AKMCTL" -n a member show asr 1 node 2 | grep -q "addr" 
[ $? != 0 ] && "$AKMCTL" -n a member show asr 1 node 3 | grep -q "$NET.3"
ok $? "A: own member entry without addresses, B's with" "$("$AKMCTL" -n a member show asr 1)"
in_ns a ping -c 3 -i 0.2 -W 2 "$NET.3" >/dev/null
ok $? "A pings B under ASR 1"

# ---- the agent's memory holds no key ----
sleep 2
kill "$DUMP_PID" 2>/dev/null
wait "$DUMP_PID" 2>/dev/null
DUMP_PID=
cred_a=$($SECRETS cred "$W/a.bundle" "$code_a")
read -r kauth kwrap kprov <<<"$($SECRETS derived "$cred_a" $((0x80000002)) \
	"$(kernel_epoch a $((0x80000002)))")"
groupkeys=$($SECRETS groupkeys "$cred_a" "$W/wire.pcap" 1 2 3)
[ -n "$groupkeys" ]
ok $? "the capture holds ASR 1's wrapped key (test oracle)"
needles="hex:cred=$cred_a hex:k_auth=$kauth hex:k_wrap=$kwrap hex:k_prov=$kprov"
i=0
for k in $groupkeys; do needles="$needles hex:group$i=$k"; i=$((i + 1)); done
for node in a b; do
	pid=$(pgrep -f "akm-agent run --state $W/$node" | head -1)
	found=$($SECRETS scan "$pid" $needles rodata=agent.conf "dir=$W/$node")
	[[ " $found " == *" rodata "* && " $found " == *" dir "* ]]
	ok $? "${node^^}: memory scan finds what it should (control)" "found: $found"
	! grep -q "hex:" <<<"$found"
	ok $? "${node^^}: no credential, derived key or group key in the agent's memory" \
		"found: $found"
	[ $node = a ] && needles="hex:cred=$cred_b"
done

# ---- the agent restarts: keys and membership stay, no re-key ----
stop_agent a
epoch_is a 1 "$e" && "$AKMCTL" -n a member show asr 1 | grep -q "node 3"
ok $? "A stopped: its kernel keeps epoch $e and the members"
in_ns a ping -c 2 -i 0.2 -W 2 "$NET.3" >/dev/null
ok $? "A pings B while its agent is down"
start_agent a
wait_for 60 online A && sleep 2 && [ "$(nmm_epoch 1)" = "$e" ] && epoch_is a 1 "$e"
ok $? "A's agent restarted: online again, same epoch $e" "$(nmm asr show 1; tail -n 5 "$W/agent-a.log")"

# ---- the NMM goes away: backoff; comes back: reconnect ----
kill "$NMM_PID"
wait "$NMM_PID" 2>/dev/null
# the NMM's kernel still drops A's plain bootstrap packets: each attempt
# times out after 10 s, then waits 1, 2, 4 s (+-25%)
before=$(grep -c "next attempt in" "$W/agent-a.log")
wait_for 60 test "$(grep -c "next attempt in" "$W/agent-a.log")" -ge $((before + 3))
grep -o "next attempt in [0-9.]* s" "$W/agent-a.log" | tail -n 3 | awk '{print $4}' >"$W/backoff"
python3 -c '
import sys
v = [float(x) for x in open(sys.argv[1])]
assert len(v) == 3 and v[0] < v[1] < v[2], v' "$W/backoff"
ok $? "A backs off while the NMM is down" "$(cat "$W/backoff")"
epoch_is a 1 "$e" && in_ns a ping -c 2 -i 0.2 -W 2 "$NET.3" >/dev/null
ok $? "ASR 1 traffic goes on without the NMM"
start_nmm
wait_for 120 online A && wait_for 120 online B
ok $? "NMM restarted: A and B online again" "$(nmm node list; tail -n 5 "$W/agent-a.log")"

# ---- B's sealed credential is useless on another TPM ----
if [ -n "$TPM_OK" ]; then
	netns y 98
	start_tpm y "$W/tpm-other" 2321
	mkdir -p "$W/y" && cp "$W/b/agent.conf" "$W/b/cred.tpm" "$W/y/"
	in_ns y env AKM_TPM_TCTI="$TCTI_B" timeout 5 "$AGENT" run --state "$W/y" >"$W/out" 2>&1
	grep -q "does not load on this TPM" "$W/out" && ! has_cred y
	ok $? "B's sealed credential does not unseal on another TPM" "$(cat "$W/out")"
else
	skip "sealed credential on another TPM" "swtpm not installed"
fi

# ---- B boots again: empty kernel, credential from the TPM, re-key ----
stop_agent b
[ -n "$TPM_OK" ] && kill "${TPM_PID[b]}" && wait "${TPM_PID[b]}" 2>/dev/null
# the old namespace may linger a while (orphaned sockets): unplug it first
ip link del vb
ip netns del b
netns b 3
[ -n "$TPM_OK" ] && start_tpm b "$W/tpm-b" 2321
start_agent b AKM_TPM_TCTI="$TCTI_B"
src="state file"
[ -z "$TPM_OK" ] || src=TPM
wait_for 30 has_cred b
ok $? "B's fresh kernel gets the credential back from the $src" \
	"$(tail -n 10 "$W/agent-b.log")"
wait_for 120 online B && wait_for 120 all_activated 1
e2=$(nmm_epoch 1)
[ "$e2" -gt "$e" ] && epoch_is b 1 "$e2" && epoch_is a 1 "$e2"
ok $? "B told the NMM it lost its state: ASR 1 re-keyed to $e2 on A and B" \
	"$(nmm asr show 1; tail -n 10 "$W/agent-b.log")"
in_ns b ping -c 3 -i 0.2 -W 2 "$NET.2" >/dev/null
ok $? "B pings A after its fresh boot"

# ---- authentication failures reach the NMM ----
in_ns x python3 -c '
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
for i in range(5):
    h = struct.pack("!BBHIIII", 17, 1, 0, 1, int(sys.argv[1]), 99, i + 1) + bytes(16)
    s.sendto(h + b"forged", (sys.argv[2], 0))' "$e2" "$NET.2"
wait_for 10 grep -q "auth-failure node 2 asr 1 reason drop_not_member" "$W/nmm.log"
ok $? "a forged packet to A: its kernel's event reaches the NMM" "$(tail -n 5 "$W/nmm.log")"
in_ns a "$AGENT" status -j --state "$W/a" | python3 -c '
import json, sys
assert json.load(sys.stdin)["daemon"]["events"] >= 1'
ok $? "A: status counts the event"

# ---- removal: LEAVE ----
nmm asr del-member 1 node B >/dev/null
wait_for 60 grep -q "ASR 1: left" "$W/agent-b.log" && ! "$AKMCTL" -n b asr show 1 >/dev/null 2>&1
ok $? "B removed from ASR 1: its agent deleted the ASR" "$(tail -n 5 "$W/agent-b.log")"

for node in a b; do stop_agent "$node"; done
! grep -E "AddressSanitizer|runtime error" "$W"/agent-*.log
ok $? "no sanitizer reports in the agent logs"

totals
[ "$fail" = 0 ]
