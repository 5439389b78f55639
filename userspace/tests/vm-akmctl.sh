#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# akmctl against the live module, as TAP. Needs root and akm.ko loaded, so
# it runs in a VM:
#
#   make -C userspace all asan
#   scripts/vm-run.sh --kernel VER --module build/VER/akm.ko -- \
#           userspace/tests/vm-akmctl.sh
#
# AKMCTL selects the binary (default: the ASan build, so that every call is
# also checked for leaks and undefined behaviour); the hundreds of calls that
# only fill the tables use AKMCTL_FAST (default: the normal build).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
AKMCTL=${AKMCTL:-$(dirname "$HERE")/asan/akmctl/akmctl}
AKMCTL_FAST=${AKMCTL_FAST:-$(dirname "$HERE")/akmctl/akmctl}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=98}

. "$HERE/../../tests/lib.sh"
tmp=$(mktemp -d)
NS=akmctl-test-$$
cleanup() {
	[ -z "${mon:-}" ] || kill "$mon" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# run STATUS NAME -- ARGS...: akmctl ARGS must exit with STATUS.
run() {
	local want=$1 name=$2
	shift 3
	"$AKMCTL" "$@" >"$tmp/out" 2>"$tmp/err"
	local got=$?
	[ "$got" = "$want" ]
	tap $((! $?)) "$name" "akmctl $*: exit status $got, want $want
$(cat "$tmp/out" "$tmp/err")"
}

# json NAME PYTHON-EXPR: the expression over the last output, parsed as d.
json() {
	local res
	res=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(bool(eval("(" + sys.argv[2] + ")")))' "$tmp/out" "$2" 2>&1)
	[ "$res" = True ]
	tap $((! $?)) "$1" "$2: $res
$(head -c 2000 "$tmp/out")"
}

# has NAME PATTERN: the last stdout (+stderr) matches the extended regex.
has() {
	grep -qE -- "$2" "$tmp/out" "$tmp/err"
	tap $((! $?)) "$1" "no match for '$2' in:
$(cat "$tmp/out" "$tmp/err")"
}

run 0 "node set" -- node set id 7
run 0 "node show" -- node show
has "node show: text" "^node 7 keyring [0-9]+ generation [0-9]+ asrs 0$"
run 0 "node show -j" -- -j node show
json "node show: JSON" 'd["id"] == 7 and d["asr_count"] == 0 and "drop_replay" in d["stats"]'

run 0 "asr add" -- asr add 1 alg hmac-sha256 name edge
run 0 "asr add with policy and grace" -- \
	asr add 2 alg chacha20-poly1305 name 'two "quoted"' policy accept grace 0
run 1 "asr add: duplicate" -- asr add 1 alg hmac-sha256
has "asr add: duplicate: kernel message and errno" "^akmctl: asr add: .*\(File exists\)$"
run 0 "asr set" -- asr set 1 policy accept grace 60
run 0 "asr show -j" -- -j asr show
json "asr show: two ASRs, in order" '[a["id"] for a in d] == [1, 2]'
json "asr show: fields" 'd[0]["alg"] == "hmac-sha256" and d[0]["policy"] == "accept" and
	d[0]["grace"] == 60 and d[1]["name"] == "two \"quoted\"" and d[1]["grace"] == 0'
run 0 "asr show -p" -- -p asr show 2
json "asr show ID: one ASR" 'len(d) == 1 and d[0]["alg"] == "chacha20-poly1305" and
	d[0]["keys"] == [] and d[0]["members"] == []'
run 1 "asr show: no such ASR" -- asr show 99
has "asr show: no such ASR: message" "^akmctl: asr show: .*\(No such file or directory\)$"

run 0 "member add" -- member add asr 1 node 2 addr 192.0.2.2 addr 2001:db8::2 state active
run 0 "member add, no address" -- member add asr 1 node 3
run 1 "member add: no such ASR" -- member add asr 9 node 3
run 0 "member set replaces addresses" -- member set asr 1 node 3 addr 198.51.100.3 state revoked
run 0 "member show" -- member show asr 1
has "member show: text" "^asr 1 node 2 state active addr 192.0.2.2 addr 2001:db8::2$"
has "member show: set" "^asr 1 node 3 state revoked addr 198.51.100.3$"
run 0 "member show one -j" -- -j member show asr 1 node 2
json "member show: JSON" 'd == [{"asr": 1, "node": 2, "state": "active",
	"addrs": ["192.0.2.2", "2001:db8::2"], "stats": d[0]["stats"]}]'
run 0 "member del" -- member del asr 1 node 3
run 1 "member del: gone" -- member del asr 1 node 3

printf '%064x\n' 1 >"$tmp/key.hex"
run 0 "key install from a hex file" -- key install asr 1 epoch 1 file "$tmp/key.hex"
head -c 32 /dev/urandom >"$tmp/key.raw"
run 1 "key install: a next epoch exists" -- key install asr 1 epoch 2 file "$tmp/key.hex"
run 0 "key activate" -- key activate asr 1 epoch 1
run 1 "key activate: no such epoch" -- key activate asr 1 epoch 9
run 0 "key install from stdin" -- key install asr 1 epoch 2 file - <"$tmp/key.raw"
run 1 "key install: bad file" -- key install asr 1 epoch 3 file /etc/hostname
run 0 "key show -j" -- -j key show asr 1
json "key show: epochs and states" 'sorted((k["epoch"], k["state"]) for k in d) ==
	[(1, "current"), (2, "next")] and all(k["asr"] == 1 and k["serial"] for k in d)'
json "key show: no key material" 'all(set(k) == {"asr", "epoch", "state", "serial",
	"created", "activated"} for k in d)'
run 0 "key show" -- key show
has "key show: text" "^asr 1 epoch 1 state current serial [0-9]+ created [0-9T:-]+Z activated [0-9T:-]+Z$"
run 0 "key retire" -- key retire asr 1 epoch 2
run 0 "asr show: text" -- asr show 1
has "asr show: header" "^asr 1 name edge alg hmac-sha256 policy accept grace 60 members 1$"
has "asr show: key line" "^    key epoch 1 state current "
has "asr show: member line" "^    member node 2 state active addr 192.0.2.2 addr 2001:db8::2$"

run 0 "stats" -- stats
has "stats: node-wide" "^node$"
has "stats: member" "^asr 1 node 2$"
run 0 "stats -j asr" -- -j stats asr 1
json "stats asr: ASR and members" '[(e.get("asr"), e.get("node")) for e in d] ==
	[(1, None), (1, 2)] and len(d[0]["stats"]) == 13'
run 0 "stats reset" -- stats reset asr 1 node 2
run 1 "stats: no such member" -- stats asr 1 node 5

run 0 "cred install" -- cred install id 9 file "$tmp/key.hex"
run 1 "cred install: a 72-byte file" -- cred install id 9 file /dev/null
run 0 "cred show" -- -j cred show
json "cred show: id and serial" 'len(d) == 1 and d[0]["id"] == 9 and d[0]["serial"] > 0'
run 0 "asr add: provisioning ASR" -- asr add 50 alg hmac-sha256 name prov-9
run 0 "key install derived from a credential" -- key install asr 50 epoch 1 cred 9
run 1 "key install: no such credential" -- key install asr 50 epoch 2 cred 8
has "key install: no such credential: message" "no such credential"
head -c 72 /dev/zero >"$tmp/wrapped"
run 0 "key retire" -- key retire asr 50 epoch 1
run 1 "key install: a wrapped key that does not open" -- \
	key install asr 50 epoch 2 cred 9 wrapped "$tmp/wrapped"
has "key install: wrapped: message" "does not open"
run 0 "cred del" -- cred del id 9
run 0 "cred show: none" -- -j cred show
json "cred show: empty" 'd == []'
run 0 "asr del: provisioning ASR" -- asr del 50

# Events, in order, while another process makes changes.
"$AKMCTL" -j monitor >"$tmp/events" 2>"$tmp/monitor.err" &
mon=$!
sleep 1
"$AKMCTL" asr add 5 alg hmac-sha256 &&
"$AKMCTL" member add asr 5 node 1 addr 192.0.2.1 &&
"$AKMCTL" key install asr 5 epoch 1 file "$tmp/key.hex" &&
"$AKMCTL" key activate asr 5 epoch 1 &&
"$AKMCTL" asr del 5
sleep 1
kill -TERM "$mon"
wait "$mon"
status=$?
mon=
tap $((status == 0)) "monitor ends cleanly on SIGTERM" "status $status: $(cat "$tmp/monitor.err")"
cp "$tmp/events" "$tmp/out"
events=$(python3 -c 'import json, sys
print(" ".join(json.loads(l)["event"] for l in open(sys.argv[1])))' "$tmp/events" 2>&1)
[ "$events" = "asr-new member-new key-install key-activate asr-del" ]
tap $((! $?)) "monitor: one JSON line per event, in order" "$events"

# Many ASRs and members: dumps that take several messages.
for i in $(seq 100 219); do
	"$AKMCTL_FAST" asr add "$i" alg hmac-sha256 name "asr-$i" || break
done
for i in $(seq 1 256); do
	"$AKMCTL_FAST" member add asr 100 node "$i" addr "10.0.$((i / 256)).$((i % 256))" addr "fd00::$i" || break
done
run 0 "dump of 122 ASRs" -- -j asr show
json "dump: every ASR once, in order" '[a["id"] for a in d] == [1, 2] + list(range(100, 220))'
json "dump: 256 members of one ASR" 'len(d[2]["members"]) == 256 and
	[m["node"] for m in d[2]["members"]] == list(range(1, 257))'
run 0 "member dump of all ASRs" -- -j member show
json "member dump: all" 'len(d) == 257'

# Dumps racing with changes either complete, listing every ASR once, or fail
# cleanly after their retries.
(
	for i in $(seq 1 30); do
		"$AKMCTL_FAST" asr add 999 alg hmac-sha256 && "$AKMCTL_FAST" asr del 999
	done
) >/dev/null 2>&1 &
churn=$!
good=0 interrupted=0 bad=0
while kill -0 "$churn" 2>/dev/null; do
	if "$AKMCTL" -j asr show >"$tmp/out" 2>"$tmp/err" &&
	   python3 -c 'import json, sys
ids = [a["id"] for a in json.load(open(sys.argv[1]))]
sys.exit(ids != sorted(set(ids)) or ids[:2] != [1, 2])' "$tmp/out"; then
		good=$((good + 1))
	elif grep -q "dump interrupted by concurrent changes, try again" "$tmp/err"; then
		interrupted=$((interrupted + 1))
	else
		bad=$((bad + 1))
		cp "$tmp/err" "$tmp/bad"
	fi
done
wait "$churn"
tap $((bad == 0 && good > 0)) "dumps during changes: $good complete, $interrupted interrupted" \
	"$bad bad: $(cat "$tmp/bad" 2>/dev/null)"

# Namespaces: each has its own AKM state.
ip netns add "$NS"
run 0 "-n: node show in another namespace" -- -n "$NS" -j node show
json "-n: that namespace has its own state" 'd["id"] == 0 and d["asr_count"] == 0'
run 1 "-n: no such namespace" -- -n "$NS-none" node show
has "-n: message" "cannot enter network namespace"

run 0 "asr del" -- asr del 1

echo "1..$n"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
