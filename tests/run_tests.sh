#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the AKM control-plane selftests. Meant to run inside the test VM as
# root, from the repository root, with akm.ko already loaded:
#
#   KVER=$(uname -r) AKM_MODULE=build/$KVER/akm.ko tests/run_tests.sh [TEST...]
#
# Every program prints kselftest TAP and ends with a
# "# Totals: pass:X fail:Y xfail:0 xpass:0 skip:Z error:0" line. A program
# that ends without one (crash, timeout, missing binary) gets a Totals line
# with fail:1 printed on its behalf, so every failure is counted once.
# akm_module (unload/reload) runs last. Exit status: 0 if nothing failed.
set -u

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KVER=${KVER:-$(uname -r)}
export KVER
: "${AKM_MODULE:=build/$KVER/akm.ko}"
[ -e "$AKM_MODULE" ] && AKM_MODULE=$(cd "$(dirname "$AKM_MODULE")" && pwd)/$(basename "$AKM_MODULE")
export AKM_MODULE

TIMEOUT=$(sed -n 's/^timeout=//p' "$TESTS_DIR/settings" 2>/dev/null)
TIMEOUT=${TIMEOUT:-900}

ALL=(akm_node akm_asr akm_member akm_key akm_keyring akm_dump akm_perm_ns
	akm_stats akm_events akm_cred akmctl.sh mcast.sh pkt/run.sh net/run.sh nmm/e2e.sh
	nmm/hijack.sh nmm/converge.sh nmm/agent_tpm.sh nmm/agent_e2e.sh nmm/random.py root/link.sh
	root/sync.sh
	root/instances.sh
	root/sites-random.sh
	memcg.sh
	docs.py akm_fault akm_module)
if [ $# -gt 0 ]; then
	TESTS=("$@")
else
	TESTS=("${ALL[@]}")
fi

echo "TAP version 13"
echo "1..${#TESTS[@]}"
echo "# akm selftests on $KVER, module $AKM_MODULE"

failed=0 n=0 sum_pass=0 sum_fail=0 sum_skip=0
for t in "${TESTS[@]}"; do
	n=$((n + 1))
	prog=$TESTS_DIR/$t
	echo "# selftests: akm: $t"
	if [ ! -x "$prog" ]; then
		echo "# $t: not built ($prog missing; run make -C tests on the host)"
		echo "# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0"
		echo "not ok $n selftests: akm: $t # missing"
		failed=1 sum_fail=$((sum_fail + 1))
		continue
	fi
	start=$SECONDS
	# KSFT_TAP_LEVEL is not set: each program prints its own TAP header.
	out=$(cd "$TESTS_DIR/.." && timeout -k 10 "$TIMEOUT" "$prog" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	totals=$(printf '%s\n' "$out" | grep -E '^# Totals: pass:[0-9]+ fail:[0-9]+ ' | tail -n 1)
	if [ -z "$totals" ]; then
		why="exit status $rc"
		[ $rc = 124 ] && why="timed out after ${TIMEOUT}s"
		[ $rc -gt 128 ] && why="killed by signal $((rc - 128))"
		echo "# $t: no Totals line ($why): counted as one failure"
		echo "# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0"
		echo "not ok $n selftests: akm: $t # $why"
		failed=1 sum_fail=$((sum_fail + 1))
		continue
	fi
	p=$(sed -E 's/^# Totals: pass:([0-9]+).*/\1/' <<<"$totals")
	f=$(sed -E 's/.* fail:([0-9]+).*/\1/' <<<"$totals")
	s=$(sed -E 's/.* skip:([0-9]+).*/\1/' <<<"$totals")
	sum_pass=$((sum_pass + p)) sum_fail=$((sum_fail + f)) sum_skip=$((sum_skip + s))
	if [ "$f" -gt 0 ]; then
		echo "not ok $n selftests: akm: $t # exit=$rc, $((SECONDS - start))s"
		failed=1
	elif [ $rc != 0 ] && [ $rc != 4 ]; then
		# Totals said no failure but the program did not exit cleanly.
		echo "# $t: exit status $rc after a clean Totals line: counted as one failure"
		echo "# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0"
		echo "not ok $n selftests: akm: $t # exit=$rc"
		failed=1 sum_fail=$((sum_fail + 1))
	else
		echo "ok $n selftests: akm: $t # $((SECONDS - start))s"
	fi
done

echo "# akm summary on $KVER: passed $sum_pass, failed $sum_fail, skipped $sum_skip"
exit $failed
