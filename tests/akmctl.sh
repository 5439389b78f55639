#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# End-to-end test of the akmctl CLI (userspace/akmctl/akmctl) against the
# loaded module, in a private network namespace. Run as root from the
# repository root (tests/run_tests.sh does that inside the VM). Prints
# kselftest-style TAP ending with a "# Totals:" line; every check is one
# test case. Without a built akmctl every case is skipped.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
AKMCTL=${AKMCTL:-$REPO/userspace/akmctl/akmctl}
# Every case, in order, so that the plan and the skip path agree.
NCASES=41

if [ "${AKMCTL_SH_INNER:-}" != 1 ]; then
	echo "TAP version 13"
	if [ ! -x "$AKMCTL" ]; then
		echo "1..$NCASES"
		for i in $(seq 1 $NCASES); do
			echo "ok $i akmctl # SKIP $AKMCTL not built (make -C userspace)"
		done
		echo "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:$NCASES error:0"
		exit 4
	fi
	# a network namespace of our own: a fresh AKM state
	exec unshare --net env AKMCTL_SH_INNER=1 "$0" "$@"
	echo "# unshare --net failed"
	echo "# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0"
	exit 1
fi

. "$HERE/lib.sh"
tmp=$(mktemp -d 2>/dev/null || mktemp -d -p /dev/shm)
NS=akmctl-e2e-$$
mon=
cleanup() {
	[ -z "$mon" ] || kill "$mon" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "1..$NCASES"

# run WANT NAME ARGS...: akmctl ARGS must exit with WANT (or "nz": non-zero)
run() {
	local want=$1 name=$2 got st
	shift 2
	"$AKMCTL" "$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$want" = nz ]; then [ $got != 0 ]; else [ $got = "$want" ]; fi
	st=$?
	ok $st "$name" "akmctl $*: exit $got, want $want
stdout: $(head -c 1500 "$tmp/out")
stderr: $(head -c 500 "$tmp/err")"
	return $st
}

# json NAME EXPR: EXPR (python, the last stdout parsed as d) must be true
json() {
	local res
	res=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
def walk(x):
    if isinstance(x, dict):
        yield x
        for v in x.values():
            yield from walk(v)
    elif isinstance(x, list):
        for v in x:
            yield from walk(v)
print(bool(eval(sys.argv[2])))' "$tmp/out" "$2" 2>&1)
	[ "$res" = True ]
	ok $? "$1" "check: $2 -> $res
stdout: $(head -c 1500 "$tmp/out")"
}

KEYHEX=6b6579206d6174657269616c20666f722074686520616b6d2073656c66746573
printf '%s\n' "$KEYHEX" >"$tmp/key1"
printf 'raw key bytes for epoch two ....' >"$tmp/key2"	# 32 raw bytes
head -c 31 "$tmp/key2" >"$tmp/short"

# node
run 0 "node show" node show
run 0 "node set id 7" node set id 7
run 0 "node show -j" -j node show
json "node show -j: id 7, a keyring, no ASR" \
	'd["id"] == 7 and d["keyring"] > 0 and d["asr_count"] == 0'

# ASRs
run 0 "asr add 1 (hmac-sha256, name, policy)" asr add 1 alg hmac-sha256 name edge policy drop
run 0 "asr add 2 (chacha20-poly1305, grace 0)" asr add 2 alg chacha20-poly1305 grace 0
run 0 "asr show -j" -j asr show
json "asr show -j: both ASRs in id order" \
	'[a["id"] for a in d] == [1, 2] and d[0]["name"] == "edge" and d[0]["alg"] == "hmac-sha256" and d[1]["alg"] == "chacha20-poly1305" and d[1]["grace"] == 0 and d[0]["grace"] == 30'
run 0 "asr set 1 policy accept" asr set 1 policy accept
run 0 "asr show 1 -j" -j asr show 1
json "asr show 1 -j: policy accept, name kept" \
	'(d[0] if isinstance(d, list) else d)["policy"] == "accept" and (d[0] if isinstance(d, list) else d)["name"] == "edge"'

# members
run 0 "member add (two addresses, active)" \
	member add asr 1 node 2 addr 192.0.2.2 addr 2001:db8::2 state active
run 0 "member show asr 1 -j" -j member show asr 1
json "member show -j: node 2 active with both addresses" \
	'len(d) == 1 and d[0]["node"] == 2 and d[0]["state"] == "active" and sorted(d[0]["addrs"]) == ["192.0.2.2", "2001:db8::2"]'
run 1 "member add with a used address fails (exit 1)" member add asr 1 node 3 addr 192.0.2.2
run 1 "member add to an unknown ASR fails (exit 1)" member add asr 99 node 3

# keys
run 0 "key install from a hex file" key install asr 1 epoch 1 file "$tmp/key1"
run nz "key install of 31 bytes is refused" key install asr 1 epoch 5 file "$tmp/short"
run 0 "key activate" key activate asr 1 epoch 1
run 0 "key install from stdin (32 raw bytes)" key install asr 1 epoch 2 file - <"$tmp/key2"
run 0 "key show asr 1 -j" -j key show asr 1
cp "$tmp/out" "$tmp/keys.json"
json "key show -j: epoch 1 current, epoch 2 next, serials" \
	'{k["epoch"]: k["state"] for k in walk(d) if "epoch" in k and "state" in k} == {1: "current", 2: "next"} and all(k["serial"] > 0 for k in walk(d) if "serial" in k)'
serial=$(python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
def walk(x):
    if isinstance(x, dict):
        yield x
        for v in x.values(): yield from walk(v)
    elif isinstance(x, list):
        for v in x: yield from walk(v)
print([k["serial"] for k in walk(d) if k.get("epoch") == 1 and "serial" in k][0])' "$tmp/keys.json" 2>/dev/null)
desc=$(keyctl describe "${serial:-0}" 2>&1)
grep -q "akm" <<<"$desc" && grep -q "asr:1:epoch:1" <<<"$desc"
ok $? "keyctl describe shows the akm key" "serial '$serial': $desc"
keyctl read "${serial:-0}" >/dev/null 2>&1
ok $((! $?)) "keyctl read of the akm key fails"
run 1 "key activate of an unknown epoch fails (exit 1)" key activate asr 1 epoch 9

# show everything; no key material anywhere
run 0 "asr show (text)" asr show
grep -q edge "$tmp/out"
ok $? "asr show (text) names the ASR" "$(head -c 1500 "$tmp/out")"
"$AKMCTL" -j asr show >"$tmp/all" 2>&1
"$AKMCTL" asr show >>"$tmp/all" 2>&1
"$AKMCTL" -j key show >>"$tmp/all" 2>&1
! grep -qi -e "$KEYHEX" -e "raw key bytes" "$tmp/all"
ok $? "no key material in any output"

# stats
run 0 "stats show -j" -j stats show
json "stats show -j: node-wide, ASR and member entries with counters" \
	'any("asr" not in e for e in d) and any(e.get("asr") == 1 and "node" not in e for e in d) and any(e.get("asr") == 1 and e.get("node") == 2 for e in d) and all("stats" in e for e in d)'
run 0 "stats reset asr 1 node 2" stats reset asr 1 node 2
run 1 "stats show of an unknown member fails (exit 1)" stats show asr 1 node 77

# usage errors and refusals
run 2 "unknown algorithm is a usage error (exit 2)" asr add 3 alg rot13
run 2 "unknown object is a usage error (exit 2)" frobnicate
run 1 "duplicate ASR is refused (exit 1)" asr add 1 alg hmac-sha256
run 1 "unknown ASR is refused (exit 1)" asr show 99

# monitor, captured in the background
"$AKMCTL" -j monitor >"$tmp/mon" 2>"$tmp/mon.err" &
mon=$!
sleep 1
"$AKMCTL" asr add 5 alg hmac-sha256 >/dev/null 2>&1
"$AKMCTL" member add asr 5 node 1 >/dev/null 2>&1
"$AKMCTL" key install asr 5 epoch 1 file "$tmp/key1" >/dev/null 2>&1
"$AKMCTL" asr del 5 >/dev/null 2>&1
sleep 1
kill -INT "$mon" 2>/dev/null
wait "$mon" 2>/dev/null
mon=
res=$(python3 -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
seq = [(e.get("event"), e.get("asr")) for e in ev if e.get("asr") == 5]
print(seq == [("asr-new", 5), ("member-new", 5), ("key-install", 5), ("asr-del", 5)] or seq)' \
	"$tmp/mon" 2>&1)
[ "$res" = True ]
ok $? "monitor -j saw asr-new, member-new, key-install, asr-del" "$res
$(head -c 1500 "$tmp/mon") $(head -c 300 "$tmp/mon.err")"

# -n NAME acts in another namespace
if ip netns add "$NS" 2>/dev/null; then
	run 0 "-n NAME asr add" -n "$NS" asr add 9 alg hmac-sha256
	run 1 "the ASR is not in this namespace" asr show 9
else
	ok 1 "ip netns add $NS"
	ok 1 "the ASR is not in this namespace (not run)"
fi

# delete
run 0 "asr del 1" asr del 1
run 1 "members of a deleted ASR are gone (exit 1)" member show asr 1 node 2

if [ $n != $NCASES ]; then
	echo "# ran $n cases, planned $NCASES"
	fail=$((fail + 1))
fi
echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:0 error:0"
[ $fail = 0 ]
