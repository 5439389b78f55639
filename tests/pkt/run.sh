#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# AKM packet-path tests: run every group of tests/pkt/akm_pkt.py (and the
# libsodium known-answer check of akm_tagcheck), each in its own set of
# network namespaces. Inside the test VM, as root, from the repository root,
# with akm.ko loaded (tests/run_tests.sh runs this as "pkt/run.sh"):
#
#   tests/pkt/run.sh [GROUP[:ALG]...]
#
# Each group's TAP is nested ("# " prefix); this script prints one result
# line per group and, last, the kselftest Totals line summing the groups'
# Totals. The "unload" group (rmmod/insmod under traffic) runs last; it
# reloads $AKM_MODULE with default parameters.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE/../.." || exit 1
export PYTHONDONTWRITEBYTECODE=1
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
GROUP_TIMEOUT=${AKM_PKT_TIMEOUT:-300}

ALL=(tagcheck connect:hmac-sha256 connect:chacha20-poly1305
	attack:hmac-sha256 attack:chacha20-poly1305 policy
	rollover:hmac-sha256 rollover:chacha20-poly1305 membership grace unload)
if [ $# -gt 0 ]; then
	GROUPS_RUN=("$@")
else
	GROUPS_RUN=("${ALL[@]}")
fi

echo "TAP version 13"
echo "1..${#GROUPS_RUN[@]}"
echo "# akm packet-path tests on $(uname -r)"
n=0 P=0 F=0 S=0 failed=0
for g in "${GROUPS_RUN[@]}"; do
	n=$((n + 1))
	start=$SECONDS
	if [ "$g" = tagcheck ]; then
		if [ -x "$HERE/akm_tagcheck" ]; then
			out=$("$HERE/akm_tagcheck" --selftest 2>&1)
			rc=$?
			p=$(grep -c '^ok ' <<<"$out") f=$(grep -c '^not ok ' <<<"$out")
			out+=$'\n'"# Totals: pass:$p fail:$f xfail:0 xpass:0 skip:0 error:0"
		else
			out="# $HERE/akm_tagcheck is not built (make -C tests on the host)"$'\n'
			out+="# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0"
			rc=1
		fi
	else
		out=$(timeout -k 10 "$GROUP_TIMEOUT" $PY "$HERE/akm_pkt.py" ${g/:/ } 2>&1)
		rc=$?
	fi
	sed 's/^/# /' <<<"$out"
	totals=$(grep -E '^# Totals: pass:[0-9]+ fail:[0-9]+ ' <<<"$out" | tail -n 1)
	if [ -z "$totals" ]; then
		why="exit status $rc"
		[ $rc = 124 ] && why="timed out after ${GROUP_TIMEOUT}s"
		echo "# pkt $g: no Totals line ($why): counted as one failure"
		F=$((F + 1)) failed=1
		echo "not ok $n pkt: $g # $why"
		# a group that died may have left the module unloaded
		if [ ! -d /sys/module/akm ] && [ -n "${AKM_MODULE:-}" ]; then
			modprobe nf_defrag_ipv6 2>/dev/null
			insmod "$AKM_MODULE" || echo "# insmod $AKM_MODULE failed"
		fi
		continue
	fi
	p=$(sed -E 's/^# Totals: pass:([0-9]+).*/\1/' <<<"$totals")
	f=$(sed -E 's/.* fail:([0-9]+).*/\1/' <<<"$totals")
	s=$(sed -E 's/.* skip:([0-9]+).*/\1/' <<<"$totals")
	P=$((P + p)) F=$((F + f)) S=$((S + s))
	if [ "$f" -gt 0 ]; then
		failed=1
		echo "not ok $n pkt: $g # $f failed, $((SECONDS - start))s"
	elif [ $rc != 0 ] && [ $rc != 4 ]; then
		echo "# pkt $g: exit status $rc after a clean Totals line: counted as one failure"
		F=$((F + 1)) failed=1
		echo "not ok $n pkt: $g # exit=$rc"
	else
		echo "ok $n pkt: $g # $((SECONDS - start))s"
	fi
done
echo "# Totals: pass:$P fail:$F xfail:0 xpass:0 skip:$S error:0"
exit $failed
