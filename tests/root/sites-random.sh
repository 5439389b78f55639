#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Random membership changes across two sites, with crashes, checked after
# every step (Documentation/root.md), in a VM with akm.ko loaded (as root):
# akm-rootd on a PostgreSQL of the test's own, two sites (east, west), each
# an akm-nmmd with two nodes (akm-agent), every one in a namespace of its
# own; three ASRs made at the root. Each step is a member added or removed
# at the root, a site's NMM killed (-9) and started again (a change made
# while it is down), the root killed and started again, or a node's agent
# restarted. After each step, within 90 s: every node's kernel holds the
# root's epoch of each ASR it is a live member of and nothing of the
# others; each site's store holds the credentials of its own nodes only and
# the keys of the ASRs with a live member there only; one pair of live
# members of an ASR exchanges authenticated traffic. Every path is pinged
# first without AKM, so that a failure says whose it is.
#
#   scripts/vm-run.sh --kernel VER --module build/VER/akm.ko -- tests/root/sites-random.sh
#   (AKM_SEED=N repeats a run, AKM_STEPS=N sets its length: 12)
set -uo pipefail

W=$(mktemp -d /tmp/akm-srand.XXXXXX)
chmod 711 "$W"
P=akmsr-
NAME="root sites random"

SEED=${AKM_SEED:-$RANDOM}
STEPS=${AKM_STEPS:-12}
echo "# seed $SEED (AKM_SEED=$SEED repeats this run)"
RANDOM=$SEED
NET=10.9.5
. "$(dirname "${BASH_SOURCE[0]}")/sites.sh"
ASRS="1 2 3"

pg_start "$W/pg"
ok $? "PostgreSQL started" "$(tail -n 5 "$W/pg/pg.log" 2>/dev/null)"
has_node() { nmmj "${SITE[$1]}" node list | grep -q "\"name\":\"$1\""; }

good=0
start_root || good=1
for s in east west; do
	{ root site add "$s" id "${ID[$s]}" endpoint "$(addr "$s"):4790" &&
		root site export "$s" file "$W/$s.bundle" >"$W/$s.export" && start_nmm "$s" &&
		sed -n 's/^transfer code //p' "$W/$s.export" |
			nmm "$s" root import "$W/$s.bundle" code-file - >/dev/null; } || good=1
done
for s in east west; do wait_for 60 site_up "$s" || good=1; done
for x in $NODES; do
	{ root node add "$x" id "${ID[$x]}" site "${SITE[$x]}" addr "$(addr "$x")" >/dev/null &&
		wait_for 20 has_node "$x" &&
		nmm "${SITE[$x]}" node export "$x" file "$W/$x.bundle" >"$W/$x.export" &&
		sed -n 's/^transfer code //p' "$W/$x.export" |
			in_ns "$x" "$AGENT" import "$W/$x.bundle" --state "$W/$x" --code-file - \
			>/dev/null; } || good=1
	start_agent "$x"
done
for x in $NODES; do wait_for 60 online "$x" || good=1; done
for a in $ASRS; do root asr add "$a" alg hmac-sha256 policy drop >/dev/null || good=1; done
# ASR 1 spans the sites from the start
root asr add-member 1 node e1 >/dev/null && root asr add-member 1 node w1 >/dev/null || good=1
ok $good "the root, two sites with two nodes each, online; ASRs $ASRS made at the root, e1 and w1 in 1" \
	"$(tail -n 5 "$W/root.log"; nmm east node list; nmm west node list)"

# ---- the invariants ----
declare -A LIVE=() EPOCH=()
# the root's records, once per check: LIVE[asr:node] for its live members, EPOCH[asr]
load_db() {
	local a x e
	LIVE=() EPOCH=()
	while IFS='|' read -r a x; do LIVE[$a:$x]=1; done < <(pg_sql -c "SELECT asr, node FROM \
		members WHERE state = 'live'")
	while IFS='|' read -r a e; do EPOCH[$a]=$e; done < <(pg_sql -c "SELECT id, epoch FROM asrs")
}
live() { [ -n "${LIVE[$1:${ID[$2]}]:-}" ]; }
# every node's kernel: the root's epoch of each ASR it is a live member of, nothing of the others
kernels() {
	local a x
	load_db
	for a in $ASRS; do
		for x in $NODES; do
			if live "$a" "$x"; then
				[ "$(akm_kernel_epoch "$P$x" "$a")" = "${EPOCH[$a]}" ] || return 1
			else
				! ctl "$x" asr show "$a" >/dev/null 2>&1 || return 1
			fi
		done
	done
}
# each site's store: its own nodes' credentials only, keys of the ASRs with a live member there only
stores() {
	local s a x mine
	for s in east west; do
		[ "$(store "$s" "SELECT group_concat(id) FROM (SELECT id FROM nodes WHERE \
			length(cred) > 0 ORDER BY id)")" = "$(pg_sql -c "SELECT string_agg(id::text, \
			',' ORDER BY id) FROM nodes WHERE site = ${ID[$s]} AND state != 'removed'")" ] ||
			return 1
		for a in $ASRS; do
			mine=0
			for x in $NODES; do [ "${SITE[$x]}" = "$s" ] && live "$a" "$x" && mine=1; done
			[ "$mine" = 1 ] ||
				[ "$(store "$s" "SELECT count(*) FROM epochs WHERE asr = $a AND \
					length(key) > 0")" = 0 ] || return 1
		done
	done
}
state() {
	pg_sql -c "SELECT a.id, a.epoch, string_agg(m.node || ':' || m.state, ' ' ORDER BY m.node) \
		FROM asrs a LEFT JOIN members m ON m.asr = a.id GROUP BY a.id, a.epoch ORDER BY a.id"
	for x in $NODES; do
		echo "$x: $(for a in $ASRS; do printf '%s ' "$a:$(akm_kernel_epoch "$P$x" "$a")"; done)"
	done
	for s in east west; do
		echo "$s: $(store "$s" "SELECT asr || ':' || epoch FROM epochs WHERE length(key) > 0" |
			tr '\n' ' ')"
	done
}
# one pair of live members of an ASR, if there is one (across sites if
# there is such a pair): they talk
a_pair_talks() {
	local a x y cross
	for cross in 1 0; do
		for a in $ASRS; do
			for x in $NODES; do for y in $NODES; do
				[ "$x" != "$y" ] && live "$a" "$x" && live "$a" "$y" &&
					{ [ "${SITE[$x]}" != "${SITE[$y]}" ] || [ $cross = 0 ]; } &&
					{ wait_for 20 talks "$x" "$y"; return; }
			done; done
		done
	done
	return 0
}
converged() { kernels && stores; }

# ---- the steps ----
# VAR CHOICE...: one of them at random, in this shell (a subshell's RANDOM is reseeded)
pick() { local -n _v=$1; shift; local c=("$@"); _v=${c[RANDOM % ${#c[@]}]}; }
for step in $(seq 1 "$STEPS"); do
	pick a $ASRS
	pick x $NODES
	what=
	load_db
	case $((RANDOM % 8)) in
	0|1|2)	what="asr $a add-member $x"
		live "$a" "$x" || root asr add-member "$a" node "$x" >/dev/null ;;
	3|4)	what="asr $a del-member $x"
		! live "$a" "$x" || root asr del-member "$a" node "$x" >/dev/null ;;
	5)	s=${SITE[$x]} what="${SITE[$x]}'s NMM killed, asr $a add-member $x meanwhile"
		kill -9 "${NMM_PID[$s]}"; wait "${NMM_PID[$s]}" 2>/dev/null
		rm -f "$W/$s/admin.sock"
		live "$a" "$x" || root asr add-member "$a" node "$x" >/dev/null
		start_nmm "$s" ;;
	6)	what="the root killed and started again"
		kill -9 "$ROOT_PID"; wait "$ROOT_PID" 2>/dev/null
		rm -f "$W/root/admin.sock"
		start_root ;;
	7)	what="$x's agent restarted"
		kill "${AGENT_PID[$x]}"; wait "${AGENT_PID[$x]}" 2>/dev/null
		start_agent "$x" ;;
	esac
	st=$?
	[ $st = 0 ] && wait_for 90 converged && a_pair_talks
	ok $? "step $step ($what, exit $st): kernels and stores as the root says, a pair talks" \
		"$(state)"
done

! grep -E "AddressSanitizer|runtime error" "$W/root.log" "$W"/nmm-*.log
ok $? "no sanitizer reports"
totals
[ "$fail" = 0 ]
