#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# TPM 2.0 sealing of the node agent (userspace/lib/tpm.c) against two
# software TPMs: seal, unseal, refusals, and a blob that another TPM cannot
# open. Needs swtpm, no kernel module: runs on the host or in the VM.
#
#   tests/nmm/agent_tpm.sh
#
# TAP; the last line is a kselftest-style Totals line.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
US=$(cd "$HERE/../../userspace" && pwd)
UNIT=${AKM_TPM_UNIT:-$US/asan/tests/tpm_unit}
W=$(mktemp -d /tmp/akm-agent-tpm.XXXXXX)
PIDS=()
. "$HERE/../lib.sh"

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

if ! command -v swtpm >/dev/null; then
	skip "TPM sealing" "swtpm not installed"
	totals
	exit 0
fi
if [ -z "${AKM_TPM_UNIT:-}" ]; then
	log=$(make -C "$US" asan-tests 2>&1)
	tap $((! $?)) "build with ASan and UBSan" "$(tail -n 20 <<<"$log")"
fi

port() {	# a free TCP port pair on 127.0.0.1
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 20000 * 2))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null ||
			(exec 3<>"/dev/tcp/127.0.0.1/$((p + 1))") 2>/dev/null || { echo "$p"; return; }
	done
	return 1
}
start() {	# name -> prints the port
	local p
	p=$(port) || return 1
	mkdir -p "$W/$1"
	swtpm socket --tpm2 --flags startup-clear --tpmstate dir="$W/$1" \
		--server type=tcp,port="$p",bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=$((p + 1)),bindaddr=127.0.0.1 >>"$W/swtpm.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 1 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && { echo "$p"; return; }
		sleep 0.1
	done
	return 1
}
p1= p2=
p1=$(start one) && p2=$(start two)
started=$((! $?))
tap $started "two software TPMs start" "$(cat "$W/swtpm.log")"
if [ $started = 0 ]; then	# nothing else can run: say so and stop
	totals
	exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=98}
AKM_TPM_TCTI="swtpm:host=127.0.0.1,port=$p1" AKM_TPM_TCTI_OTHER="swtpm:host=127.0.0.1,port=$p2" \
	TSS2_LOG=all+NONE "$UNIT" >"$W/unit" 2>&1
status=$?
while IFS= read -r line; do
	case $line in
	"ok - "*) tap 1 "${line#ok - }" ;;
	"not ok - "*) tap 0 "${line#not ok - }" ;;
	"#"*) echo "$line" ;;
	esac
done <"$W/unit"
tap $((status == 0)) "tpm_unit exits cleanly" "exit status $status; $(tail -n 20 "$W/unit")"
totals
[ "$fail" = 0 ]
