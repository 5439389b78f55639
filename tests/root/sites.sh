# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# The two-site deployment of tests/root/sync.sh and sites-random.sh, in the
# VM: the root (namespace root), two sites (east, west: an akm-nmmd each)
# with two nodes each (e1, e2, w1, w2: akm-agent), every one in a namespace
# of its own on one bridge, addresses $NET.<id>. Sourcing it sets them up,
# cleans up at exit and gives the first result: every node pings every
# other without AKM.
#
#   W=... P=... NAME=... NET=...; . "$(dirname "${BASH_SOURCE[0]}")/sites.sh"
ROOT_PID=
declare -A NMM_PID=() AGENT_PID=()
. "$(dirname "${BASH_SOURCE[0]}")/vm.sh"

declare -A ID=([root]=1 [east]=2 [west]=3 [e1]=11 [e2]=12 [w1]=21 [w2]=22)
declare -A SITE=([e1]=east [e2]=east [w1]=west [w2]=west)
NODES="e1 e2 w1 w2"
addr() { echo "$NET.${ID[$1]}"; }

cleanup() { vm_teardown "${AGENT_PID[*]} ${NMM_PID[*]} $ROOT_PID" root east west $NODES; }
trap cleanup EXIT

root() { "$AKMCTL" root socket "$W/root/admin.sock" "$@"; }
nmm() { local s=$1; shift; "$AKMCTL" nmm socket "$W/$s/admin.sock" "$@"; }
nmmj() { local s=$1; shift; "$AKMCTL" -j nmm socket "$W/$s/admin.sock" "$@"; }
store() { sqlite3 "$W/$1/nmm.db" "$2"; }
start_root() {
	ip netns exec "${P}root" "$ROOTD" --id 1 --database "$PG_DB" --listen "$(addr root)" \
		--state "$W/root" --foreground >>"$W/root.log" 2>&1 &
	ROOT_PID=$!
	wait_for 20 test -S "$W/root/admin.sock"
}
start_nmm() {	# SITE
	ip netns exec "$P$1" "$NMMD" --id "${ID[$1]}" --listen "$(addr "$1")" --state "$W/$1" \
		--foreground >>"$W/nmm-$1.log" 2>&1 &
	NMM_PID[$1]=$!
	wait_for 20 test -S "$W/$1/admin.sock"
}
start_agent() {	# NODE
	ip netns exec "$P$1" "$AGENT" run --state "$W/$1" -v >>"$W/agent-$1.log" 2>&1 &
	AGENT_PID[$1]=$!
}
site_up() { nmm "$1" root show 2>/dev/null | grep -q " state session "; }
online() { nmmj "${SITE[$1]}" node list "$1" | grep -q '"link":"online"'; }

bridge_up
for ns in root east west $NODES; do netns_up "$ns"; done

# ---- without AKM: the nodes of both sites reach each other ----
good=0
for x in $NODES; do for y in $NODES; do
	[ "$x" = "$y" ] || in_ns "$x" ping -c 1 -W 2 "$(addr "$y")" >/dev/null || good=1
done; done
ok $good "without AKM: every node pings every other, across sites"
