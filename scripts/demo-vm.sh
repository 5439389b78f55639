#!/bin/bash
# The six steps of the seed (../shared/seeds), inside the VM, as root with
# akm.ko loaded. Run by scripts/demo.sh.
#
#   NMM 10.7.0.1 (id 1)   A 10.7.0.11 (id 11)   B .12   C .13   D .14
#
# Before the steps: B, C and D are provisioned, activated and members of
# ASR 1 (B keeps its credential sealed to a TPM 2.0, swtpm, if available).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
US=$PWD/userspace
AKMCTL=$US/akmctl/akmctl AGENT=$US/agent/akm-agent NMMD=$US/nmm/akm-nmmd
W=$(mktemp -d /tmp/akm-demo.XXXXXX)
NET=10.7.0
declare -A IP=([nmm]=1 [a]=11 [b]=12 [c]=13 [d]=14)
declare -A PID=()

step() { printf '\n\033[1m==== %s\033[0m\n' "$*"; }
run() { printf '\033[36m$ %s\033[0m\n' "$*"; "$@"; }
die() { echo "demo: $*" >&2; tail -n 20 "$W"/*.log >&2; exit 1; }
nmm() { "$AKMCTL" nmm socket "$W/nmm/admin.sock" "$@"; }
. tests/lib.sh	# wait_for
cleanup() {
	kill "${PID[@]}" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

online() { "$AKMCTL" -j nmm socket "$W/nmm/admin.sock" node list "$1" | grep -q '"link":"online"'; }
activated() {
	"$AKMCTL" -j nmm socket "$W/nmm/admin.sock" asr show "$1" | python3 -c '
import json, sys
a = json.load(sys.stdin)
m = [m for m in a["members"] if m["state"] != "revoked"]
sys.exit(0 if m and all(x["delivery"] == "activated" for x in m) else 1)'
}
provision() {	# node: add, export, import, run
	local n=$1 N=${1^^} code
	nmm node add "$N" id "${IP[$n]}" addr "$NET.${IP[$n]}" >/dev/null || die "node add $N"
	code=$("$AKMCTL" -j nmm socket "$W/nmm/admin.sock" node export "$N" file "$W/usb/$N.akmb" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])') || die "export $N"
	echo "$code" >"$W/$N.code"
}
import() {	# node [extra args]
	local n=$1 N=${1^^}
	shift
	ip netns exec "$n" "$AGENT" import "$W/usb/$N.akmb" --code-file "$W/$N.code" \
		--state "$W/$n" "$@"
}
start_agent() {
	ip netns exec "$1" env ${TCTI:+AKM_TPM_TCTI=$TCTI} "$AGENT" run --state "$W/$1" \
		>>"$W/agent-$1.log" 2>&1 &
	PID[agent-$1]=$!
}

# ---- the network: one bridge, a namespace per machine ----
ip link add name akmdemo type bridge && ip link set akmdemo up
for n in nmm a b c d; do
	ip netns add "$n"
	ip link add name "v$n" type veth peer name eth0 netns "$n"
	ip link set "v$n" master akmdemo up
	ip -n "$n" addr add "$NET.${IP[$n]}/24" dev eth0
	ip -n "$n" link set eth0 up
	ip -n "$n" link set lo up
done
mkdir -p "$W/usb"
ip netns exec nmm "$NMMD" --id 1 --listen "$NET.1" --state "$W/nmm" --foreground \
	>>"$W/nmm.log" 2>&1 &
PID[nmm]=$!
wait_for 10 test -S "$W/nmm/admin.sock" || die "akm-nmmd did not start"

step "Before: B, C and D are active members of ASR 1"
TCTI=
if command -v swtpm >/dev/null; then
	mkdir -p "$W/tpm-b"
	ip netns exec b swtpm socket --tpm2 --flags startup-clear --tpmstate dir="$W/tpm-b" \
		--server type=tcp,port=2321,bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=2322,bindaddr=127.0.0.1 >>"$W/swtpm.log" 2>&1 &
	PID[swtpm]=$!
	wait_for 10 ip netns exec b bash -c 'exec 3<>/dev/tcp/127.0.0.1/2321' || die "swtpm"
fi
for n in b c d; do
	provision "$n"
	if [ "$n" = b ] && [ -n "${PID[swtpm]:-}" ]; then
		echo "B: step 2b, the secure enclave: the credential is sealed to B's TPM 2.0 (swtpm)"
		TCTI="swtpm:host=127.0.0.1,port=2321" import b --tpm || die "import B"
		ip netns exec b env AKM_TPM_TCTI="$TCTI" "$AGENT" run --state "$W/b" \
			>>"$W/agent-b.log" 2>&1 &
		PID[agent-b]=$!
	else
		import "$n" >/dev/null || die "import ${n^^}"
		TCTI= start_agent "$n"
	fi
done
for n in B C D; do wait_for 60 online "$n" || die "$n not online"; done
run nmm asr add 1 alg chacha20-poly1305 name edge-group || die "asr add"
for n in B C D; do nmm asr add-member 1 node "$n" >/dev/null || die "add-member $n"; done
wait_for 90 activated 1 || die "ASR 1 not delivered"
run nmm node list

step "Step 1: create a provisioning relationship for edge node A"
run nmm node add A id 11 addr "$NET.11" || die "node add A"
run nmm node list A

step "Step 2a: save the credential to a USB drive, import it on A"
run nmm node export A file "$W/usb/A.akmb" | tee "$W/export.txt" || die "export A"
awk '/transfer code/ { print $NF }' "$W/export.txt" >"$W/A.code"
[ -s "$W/A.code" ] || die "no transfer code in the export output"
run ls -l "$W/usb/A.akmb"
echo "(the transfer code travels separately from the drive)"
run ip netns exec a "$AGENT" import "$W/usb/A.akmb" --code-file "$W/A.code" \
	--state "$W/a" || die "import A"
echo "A's kernel keyring holds the credential; keyctl shows what it is, never the bytes:"
kr=$("$AKMCTL" -n a -j node show | python3 -c 'import json,sys; print(json.load(sys.stdin)["keyring"])')
run ip netns exec a keyctl show "$kr"
if ip netns exec a keyctl read "$(ip netns exec a keyctl search "$kr" akm cred:1)" >/dev/null 2>&1; then
	die "keyctl read returned the credential"
fi
echo "keyctl read on it: refused"

step "Step 3: activate A (mutual proof of the credential with the NMM)"
start_agent a
wait_for 60 online A || die "A not activated"
run nmm node list A
run "$AKMCTL" -n a asr show $((0x8000000b))

step "Step 4: add A to ASR 1 (new key epoch for members A, B, C, D)"
run nmm asr add-member 1 node A || die "add-member A"

step "Step 5: the new ASR 1 key, wrapped for each member, installed and switched over"
wait_for 90 activated 1 || die "re-key not delivered"
for n in a b c d; do
	echo "-- ${n^^}:"
	"$AKMCTL" -n "$n" asr show 1
done

step "Step 6: show ASR 1"
run nmm asr show 1
run "$AKMCTL" -j nmm socket "$W/nmm/admin.sock" asr show 1

step "Authenticated traffic between A and B"
ip netns exec nmm tcpdump -c 2 -nli eth0 'ip proto 253' >/dev/null 2>&1 &
tcpdump -c 4 -nvi akmdemo "ip proto 253 and host $NET.11 and host $NET.12" >"$W/wire.txt" 2>&1 &
TD=$!
sleep 1
run ip netns exec a ping -c 3 -i 0.3 "$NET.12" || die "A cannot reach B"
wait "$TD" 2>/dev/null
echo "on the wire (IP protocol 253: the AKM header):"
grep -A1 "proto unknown (253)" "$W/wire.txt" | head -n 4
run "$AKMCTL" -n b stats show asr 1 node 11

step "Remove C from ASR 1: a new epoch C never gets; the others list C as revoked"
run nmm asr del-member 1 node C || die "del-member C"
wait_for 90 activated 1 || die "re-key after removal not delivered"
wait_for 60 bash -c "! '$AKMCTL' -n a asr show 1 | grep -q previous" || true
run "$AKMCTL" -n a asr show 1
if ip netns exec c ping -c 3 -W 1 -i 0.3 "$NET.11" >/dev/null; then
	die "C still reaches A"
fi
echo "C pings A: no answer"
run "$AKMCTL" -n a stats show
echo
echo "demo: all steps done"
