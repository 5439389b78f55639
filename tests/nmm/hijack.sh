#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Attacks on the control protocol from a namespace on the path, in a VM with
# akm.ko loaded (as root): the node's bundle names the attacker's address as
# its NMM endpoint, which is what an attacker who redirects the node's TCP
# gets (protocol.md, "What the proofs bind").
#
#   1. a relay that passes the node's connections on to the NMM from its own
#      address: the NMM must never take a session from it (before protocol
#      version 3 the relayed session connection became the node's session);
#   2. a second machine with a copy of the node's credential, at another
#      address, while the node has its session: refused, and an alarm;
#   3. a fake NMM that answers HELLO with WELCOME at once, and one that sends
#      a CHALLENGE it cannot prove: the node must key nothing.
#
# Each runs once without the attacker first (a direct endpoint), so that a
# failure says whose it is.
#
#   scripts/vm-run.sh --kernel VER --module build/VER/akm.ko -- tests/nmm/hijack.sh
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
W=$(mktemp -d /tmp/akm-hijack.XXXXXX)
P=akmhj-
NMM_PID= AGENT_PID= EVIL_PID=
. "$HERE/../lib.sh"
NAME="nmm hijack"
. "$HERE/lib.sh"

cleanup() {
	local p
	for p in $AGENT_PID $EVIL_PID $NMM_PID; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	for ns in nmm a m; do ip netns del "$P$ns" 2>/dev/null; done
	ip link del akmhjbr 2>/dev/null
	[ -z "${OUT:-}" ] || cp "$W"/*.log "$OUT/" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

ip link add akmhjbr type bridge && ip link set akmhjbr up
declare -A ADDR=([nmm]=10.9.7.1 [a]=10.9.7.2 [m]=10.9.7.66)
for ns in nmm a m; do
	ip netns add "$P$ns"
	ip link add "$P$ns" type veth peer name eth0 netns "$P$ns"
	ip link set "$P$ns" master akmhjbr up
	in_ns "$ns" ip addr add "${ADDR[$ns]}/24" dev eth0
	in_ns "$ns" ip link set eth0 up
	in_ns "$ns" ip link set lo up
done

ip netns exec "${P}nmm" "$NMMD" --id 1 --listen "${ADDR[nmm]}" --state "$W/nmm" --foreground \
	>>"$W/nmm.log" 2>&1 &
NMM_PID=$!
wait_for 10 test -S "$W/nmm/admin.sock"
nmm node add A id 2 addr "${ADDR[a]}" >/dev/null
ok $? "network, NMM and node A" "$(tail -n 5 "$W/nmm.log")"

# run_agent ENDPOINT: A imports a bundle naming ENDPOINT as its NMM and runs
run_agent() {
	[ -z "$AGENT_PID" ] || { kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; }
	rm -rf "$W/a"
	nmm node export A file "$W/a.bundle" endpoint "$1" >"$W/a.export" &&
		sed -n 's/^transfer code //p' "$W/a.export" |
			in_ns a "$AGENT" import "$W/a.bundle" --state "$W/a" --code-file - >/dev/null ||
		echo "# import with endpoint $1 failed"
	ip netns exec "${P}a" "$AGENT" run --state "$W/a" -v >>"$W/agent.log" 2>&1 &
	AGENT_PID=$!
}
online() { nmmj node list A | grep -q '"link":"online"'; }
prov_last() {	# A's kernel: the last epoch of its provisioning ASR
	"$AKMCTL" -n "${P}a" -j asr show $((0x80000002)) 2>/dev/null | python3 -c '
import json, sys
a = json.load(sys.stdin)
print((a[0] if isinstance(a, list) else a).get("last_epoch", 0))'
}

# ---- 0: direct, no attacker ----
run_agent "${ADDR[nmm]}:4790"
wait_for 40 online
ok $? "without an attacker: A gets a session" "$(tail -n 5 "$W/agent.log")"
kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=
wait_for 40 sh -c "! $AKMCTL -j nmm socket $W/nmm/admin.sock node list A | grep -q online"

# ---- 1: a relay on the path ----
ip netns exec "${P}m" socat TCP-LISTEN:4790,fork,reuseaddr "TCP:${ADDR[nmm]}:4790" \
	2>>"$W/relay.log" &
EVIL_PID=$!
sleep 0.5
mark=$(wc -l <"$W/nmm.log")
run_agent "${ADDR[m]}:4790"
# A's session connection goes to the relay's address tagged, and never gets
# through; A starts over, and the relay carries its bootstrap handshake to
# the NMM, while the NMM waits for A's session or after its 10 s wait
# (protocol version 2 took that handshake for the session connection):
# each is a bootstrap, and the NMM's wait for the session ends again
wait_for 60 sh -c "tail -n +$mark $W/nmm.log |
	grep -q 'node-offline node 2 reason \(bootstrap-connection\|no-session-connection\)'"
ok $? "a bootstrap handshake relayed to the NMM is a bootstrap" \
	"$(tail -n +"$mark" "$W/nmm.log" | grep 'node 2' | tail -n 5)"
sleep 3
! online && ! tail -n +"$mark" "$W/nmm.log" | grep -q "node-online node 2"
ok $? "the relay never holds A's session" "$(tail -n +"$mark" "$W/nmm.log" | grep 'node 2')"
kill "$EVIL_PID"; wait "$EVIL_PID" 2>/dev/null; EVIL_PID=

# ---- 2: A's credential on another machine ----
# a client with a copy of A's credential, at the attacker's address, while A
# has its session: a session connection for A's session epoch, and a
# bootstrap one; the NMM refuses both, says so, and A's session stays
run_agent "${ADDR[nmm]}:4790"
wait_for 40 online
ok $? "A has its session again" "$(tail -n 3 "$W/agent.log")"
session=$(nmmj node list A | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["session"])')
copy() {	# SESSION: WELCOME's STATUS (or "none")
	ip netns exec "${P}m" env PYTHONPATH="$REPO/userspace/tests" python3 - "$W/a/cred" "${ADDR[nmm]}" "$1" <<'EOF'
import hashlib, hmac, os, socket, struct, sys
cred = open(sys.argv[1], "rb").read()
k_auth = hmac.new(cred, b"AKM v1 auth", hashlib.sha256).digest()
session = int(sys.argv[3])
from akmp import frame, parse, recv_frame, tlv
def recv(s): return parse(recv_frame(s))
nn, inst = os.urandom(32), 0x1234567
s = socket.create_connection((sys.argv[2], 4790), timeout=10)
s.sendall(frame(1, tlv(1, b"\3") + tlv(2, struct.pack(">I", 2)) + tlv(3, struct.pack(">I", 1)) +
                tlv(4, nn) + tlv(20, struct.pack(">I", 0)) + tlv(12, struct.pack(">I", 0)) +
                tlv(21, struct.pack(">Q", inst)) + tlv(22, struct.pack(">I", session))))
typ, t = recv(s)
tr = (struct.pack(">II", 2, 1) + nn + t[4] + struct.pack(">IIQI", 0, 0, inst, session))
assert hmac.compare_digest(t[5], hmac.new(k_auth, b"nmm" + tr, hashlib.sha256).digest())
s.sendall(frame(3, tlv(5, hmac.new(k_auth, b"node" + tr, hashlib.sha256).digest())))
typ, t = recv(s)
print(struct.unpack(">I", t[6])[0] if typ == 4 else "none")
EOF
}
mark=$(wc -l <"$W/nmm.log")
st=$(copy "$session")
[ "$st" = 13 ] &&
	grep -q "node-conflict node 2 addr ${ADDR[m]} reason session-from-foreign-address" "$W/nmm.log"
ok $? "a copy's session connection from another address: EACCES, node-conflict" \
	"status $st; $(tail -n +"$mark" "$W/nmm.log" | grep 'node 2')"
st=$(copy 0)
[ "$st" = 16 ] &&
	grep -q "node-conflict node 2 addr ${ADDR[m]} reason bootstrap-during-session" "$W/nmm.log"
ok $? "a copy's bootstrap connection while A has its session: EBUSY, node-conflict" \
	"status $st; $(tail -n +"$mark" "$W/nmm.log" | grep 'node 2')"
sleep 2
online && [ "$(nmmj node list A | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["session"])')" = "$session" ] &&
	! tail -n +"$mark" "$W/nmm.log" | grep -q "node-offline node 2"
ok $? "A's session is untouched (session epoch $session)" "$(tail -n +"$mark" "$W/nmm.log")"

# ---- 3: a fake NMM ----
# answers HELLO with WELCOME STATUS 0, session epoch 77 and a made-up proof;
# or (cheat=challenge) with a CHALLENGE whose proof it cannot make
fake_nmm() {	# mode
	ip netns exec "${P}m" env PYTHONPATH="$REPO/userspace/tests" python3 - "$1" "${ADDR[m]}" <<'EOF' 2>>"$W/fake.log" &
import os, socket, struct, sys
mode, addr = sys.argv[1], sys.argv[2]
from akmp import frame, tlv
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((addr, 4790))
srv.listen(8)
while True:
    s, _ = srv.accept()
    s.settimeout(5)
    try:
        s.recv(4096)	# HELLO
        if mode == "welcome":
            s.sendall(frame(4, tlv(6, struct.pack(">I", 0)) + tlv(12, struct.pack(">I", 77)) +
                            tlv(5, os.urandom(32))))
        else:
            s.sendall(frame(2, tlv(4, os.urandom(32)) + tlv(5, os.urandom(32))))
        s.recv(4096)
    except OSError:
        pass
    s.close()
EOF
	EVIL_PID=$!
}
for mode in welcome challenge; do
	fake_nmm "$mode"
	sleep 0.5
	before=$(prov_last)
	run_agent "${ADDR[m]}:4790"
	case $mode in
	welcome) want="WELCOME before the handshake was done" ;;
	*) want="the NMM failed to prove it holds this node's credential" ;;
	esac
	wait_for 30 grep -q "$want" "$W/agent.log"
	ok $? "fake NMM ($mode): A refuses it" "$(tail -n 4 "$W/agent.log")"
	sleep 2
	[ "$(prov_last)" = "$before" ]
	ok $? "fake NMM ($mode): A keyed nothing (provisioning ASR last epoch $before)" \
		"$(prov_last)"
	kill "$EVIL_PID"; wait "$EVIL_PID" 2>/dev/null; EVIL_PID=
done

# ---- and back: direct again ----
run_agent "${ADDR[nmm]}:4790"
wait_for 60 online
ok $? "after the attacks: A gets its session directly" "$(tail -n 5 "$W/agent.log")"

totals
[ "$fail" = 0 ]
