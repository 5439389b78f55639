#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# User-space tests as one TAP stream: the unit tests of libakm and akmctl's
# output, then akmctl's command line (usage errors, help, key files, the
# missing family), all built with ASan and UBSan.
#
#   userspace/tests/run.sh [-v]     -v: also show the build
#
# Exit status 0 if every test passed. Needs no kernel module; a test that
# expects the family to be missing is skipped where it is registered.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
US=$(dirname "$HERE")
AKMCTL=$US/asan/akmctl/akmctl
UNIT=$US/asan/tests/unit

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=98}

. "$HERE/../../tests/lib.sh"

build_log=$(make -C "$US" asan-tests 2>&1)
if [ $? -ne 0 ]; then
	tap 0 "build with ASan and UBSan" "$build_log"
	echo "1..$n"
	echo "0 passed, $fail failed"
	exit 1
fi
[ "${1:-}" != -v ] || echo "$build_log" | sed 's/^/# /'

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Unit tests (libakm, akmctl's output; the protocol codec; credential
# bundles): renumber their
# "ok - NAME" lines into this stream.
for prog in "$UNIT" "$US/asan/tests/proto" "$US/asan/tests/agent_unit" "$HERE/nmm-host.sh"; do
	"$prog" >"$tmp/unit" 2>&1
	status=$?
	while IFS= read -r line; do
		case $line in
		"ok - "*) tap 1 "${line#ok - }" ;;
		"not ok - "*) tap 0 "${line#not ok - }" ;;
		"#"*) echo "$line" ;;
		esac
	done <"$tmp/unit"
	# A crash or a sanitizer report fails even after the last test.
	tap $((status == 0)) "${prog##*/} tests exit cleanly" \
		"exit status $status; $(grep -Ev '^(not )?ok - |^#' "$tmp/unit" | tail -n 30)"
done

# expect STATUS STDERR-PATTERN NAME -- ARGS...: run akmctl, check both.
expect() {
	local want=$1 pattern=$2 name=$3
	shift 4
	"$AKMCTL" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	local got=$?
	if [ "$got" = "$want" ] && grep -qE -- "$pattern" "$tmp/err"; then
		tap 1 "$name"
	else
		tap 0 "$name" "akmctl $*
exit status $got, want $want; stderr:
$(cat "$tmp/err")"
	fi
}

expect 2 "^akmctl: missing object; try 'akmctl help'$" "no arguments" --
expect 2 "^akmctl: unknown command 'foo'; try 'akmctl help'$" "unknown object" -- foo
expect 2 "^akmctl: unknown option '-x'" "unknown option" -- -x node
expect 2 "needs a value" "-n without a name" -- -n
expect 2 "unknown asr command 'frob'; try 'akmctl asr help'" "unknown command" -- asr frob
expect 2 "unknown argument 'bogus'" "unknown keyword" -- member show asr 1 bogus
expect 2 "invalid ASR_ID '0'" "ASR id 0" -- asr add 0 alg hmac-sha256
expect 2 "invalid ASR_ID '1x'" "ASR id with trailing garbage" -- asr del 1x
expect 2 "invalid node '4294967296'" "node id overflow" -- member del asr 1 node 4294967296
expect 2 "invalid epoch '-1'" "negative epoch" -- key activate asr 1 epoch -1
expect 2 "invalid alg 'md5' \(one of: hmac-sha256 chacha20-poly1305\)" "unknown alg" -- \
	asr add 1 alg md5
expect 2 "invalid policy 'maybe' \(one of: drop accept\)" "unknown policy" -- \
	asr set 1 policy maybe
expect 2 "invalid state 'gone' \(one of: provisioned active revoked\)" "unknown state" -- \
	member set asr 1 node 2 state gone
expect 2 "missing 'alg'" "asr add without alg" -- asr add 1
expect 2 "missing ASR_ID" "asr add without id" -- asr add
expect 2 "invalid grace '86401'" "grace too long" -- asr add 1 alg hmac-sha256 grace 86401
expect 2 "'alg' given twice" "repeated keyword" -- asr add 1 alg hmac-sha256 alg hmac-sha256
expect 2 "missing value after 'name'" "keyword without value" -- asr add 1 alg hmac-sha256 name
expect 2 "longer than 31 bytes" "asr name too long" -- \
	asr add 1 alg hmac-sha256 name abcdefghijklmnopqrstuvwxyz0123456
expect 2 "unknown argument 'alg'" "asr set cannot change alg" -- asr set 1 alg hmac-sha256
expect 2 "nothing to set" "asr set without changes" -- asr set 1
expect 2 "invalid address '10.0.0.256'" "bad address" -- member add asr 1 node 2 addr 10.0.0.256
expect 2 "more than 8 addresses" "too many addresses" -- member add asr 1 node 2 \
	addr ::1 addr ::2 addr ::3 addr ::4 addr ::5 addr ::6 addr ::7 addr ::8 addr ::9
expect 2 "missing 'node'" "member add without node" -- member add asr 1
expect 2 "missing 'asr'" "node without asr" -- stats show node 2
expect 2 "give either 'file' or 'cred'" "key install without a source" -- \
	key install asr 1 epoch 1
expect 2 "give either 'file' or 'cred'" "key install with two sources" -- \
	key install asr 1 epoch 1 file x cred 2
expect 2 "'wrapped' needs 'cred'" "wrapped key without cred" -- \
	key install asr 1 epoch 1 file x wrapped y
expect 2 "missing 'id'" "cred del without id" -- cred del
expect 2 "missing 'file'" "cred install without file" -- cred install id 2
head -c 72 /dev/zero >"$tmp/wrapped"
expect 1 "$tmp/wrapped: this file must hold 32 raw bytes" "credential of 72 bytes" -- \
	cred install id 2 file "$tmp/wrapped"
expect 2 "unknown argument 'file'" "key activate takes no file" -- \
	key activate asr 1 epoch 1 file x
expect 2 "unknown argument 'x'" "monitor takes no arguments" -- monitor x

for obj in node asr member key stats cred monitor nmm root; do
	"$AKMCTL" $obj help >"$tmp/out" 2>&1
	st=$?
	grep -q "^Usage: akmctl $obj" "$tmp/out" && [ $st = 0 ]
	tap $((! $?)) "akmctl $obj help" "$(cat "$tmp/out")"
done
"$AKMCTL" --help >"$tmp/out" 2>&1 && [ "$(grep -c '^Usage: akmctl' "$tmp/out")" = 10 ]
tap $((! $?)) "akmctl --help shows every object" "$(cat "$tmp/out")"

head -c 31 /dev/zero >"$tmp/short"
expect 1 "this file must hold 32 raw bytes, or 64 hex digits" "key file of 31 bytes" -- \
	key install asr 1 epoch 1 file "$tmp/short"
expect 1 "cannot read '$tmp/none': No such file" "missing key file" -- \
	key install asr 1 epoch 1 file "$tmp/none"
expect 1 "invalid network namespace name '../x'" "bad netns name" -- \
	-n ../x node show

if [ -d /sys/module/akm ]; then
	skip "family missing" "akm is loaded"
else
	expect 1 "^akm: generic netlink family not found; is akm.ko loaded\? \(modprobe akm / insmod akm.ko\)$" \
		"family missing" -- node show
	printf '%064d\n' 0 >"$tmp/key"
	expect 1 "^akm: generic netlink family not found" "key install without the family" -- \
		key install asr 1 epoch 1 file "$tmp/key"
fi

echo "1..$n"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
