# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Shared by the shell tests (and the demo): TAP results and polling.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"     (or its path from there)
#
# Results are numbered in $n and counted in $pass, $fail and $skip.

pass=0 fail=0 skip=0 n=0

# ok STATUS NAME [DIAGNOSTICS]: one result, passed if STATUS (an exit
# status) is 0; the diagnostics follow a failure as "# " lines.
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		pass=$((pass + 1))
		echo "ok $n - $2"
	else
		fail=$((fail + 1))
		echo "not ok $n - $2"
		[ -z "${3:-}" ] || sed 's/^/# /' <<<"$3" | head -n 60
	fi
}

# tap PASS NAME [DIAGNOSTICS]: the same, passed if PASS (a truth value) is 1.
tap() {
	ok "$([ "$1" = 1 ] && echo 0 || echo 1)" "$2" "${3:-}"
}

# skip NAME REASON
skip() {
	n=$((n + 1))
	skip=$((skip + 1))
	echo "ok $n - $1 # SKIP $2"
}

# totals: the plan and the kselftest Totals line, at the end of a program.
totals() {
	echo "1..$n"
	echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$skip error:0"
}

# wait_for SECONDS CMD...: run CMD every 0.5 s until it succeeds; 1 on timeout.
wait_for() {
	local end=$((SECONDS + $1))

	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.5
	done
}

# akm_kernel_epoch NETNS ASR: the current epoch of ASR in that namespace's
# kernel, 0 if it has none ($AKMCTL).
akm_kernel_epoch() {
	local out
	out=$("$AKMCTL" -n "$1" -j asr show "$2" 2>/dev/null) || { echo 0; return; }
	python3 -c '
import json, sys
a = json.loads(sys.argv[1])
a = a[0] if isinstance(a, list) else a
print(max([k["epoch"] for k in a.get("keys", []) if k["state"] == "current"] or [0]))' "$out"
}

# akm_rx_from NETNS NODE_ID: the packets that namespace's kernel verified
# from the node, over every ASR ($AKMCTL).
akm_rx_from() {
	"$AKMCTL" -n "$1" -j member show 2>/dev/null | python3 -c '
import json, sys
node = int(sys.argv[1])
def walk(v):
    if isinstance(v, dict):
        if v.get("node") == node and "stats" in v:
            yield v["stats"].get("rx_packets", 0)
        for x in v.values():
            yield from walk(x)
    elif isinstance(v, list):
        for x in v:
            yield from walk(x)
print(sum(walk(json.load(sys.stdin))))' "$2"
}
