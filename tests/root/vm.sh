# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Shared by the root server's tests in the VM (tests/root/link.sh, sync.sh,
# instances.sh, sites-random.sh): the TAP helpers, a PostgreSQL server of
# the test's own (pg.sh), the programs (AKM_ROOTD, AKM_NMMD, AKM_AGENT,
# AKM_AKMCTL or the tree's), and the whole test skipped when one of them,
# akm.ko or PostgreSQL is missing.
#
#   NAME="..."; . "$(dirname "${BASH_SOURCE[0]}")/vm.sh"
#   (sets HERE, REPO, US, ROOTD, NMMD, AGENT, AKMCTL)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
. "$HERE/../lib.sh"
. "$HERE/pg.sh"
US=$REPO/userspace
ROOTD=${AKM_ROOTD:-$US/rootd/akm-rootd}
NMMD=${AKM_NMMD:-$US/nmm/akm-nmmd}
AGENT=${AKM_AGENT:-$US/agent/akm-agent}
AKMCTL=${AKM_AKMCTL:-$US/akmctl/akmctl}

skip_all() {
	echo "ok 1 - $NAME # SKIP $1"
	echo "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0"
	exit 4
}
for bin in "$ROOTD" "$NMMD" "$AGENT" "$AKMCTL"; do
	[ -x "$bin" ] || skip_all "$bin not built (make -C userspace)"
done
[ -d /sys/module/akm ] || skip_all "akm.ko not loaded"
[ -x "$PG_BIN/initdb" ] || skip_all "PostgreSQL is not installed (scripts/install-deps.sh)"
id postgres >/dev/null 2>&1 || skip_all "no postgres user"

# At exit: kill -9 the PIDs (one word), then PostgreSQL, the namespaces $P<NS>,
# the bridge; the logs to $OUT, $W gone unless KEEP is set.
vm_teardown() {	# "PID..." NS...
	local p ns
	for p in $1; do kill -9 "$p" 2>/dev/null; done
	shift
	wait 2>/dev/null
	pg_stop
	for ns; do ip netns del "$P$ns" 2>/dev/null; done
	ip link del "${P}br" 2>/dev/null
	[ -z "${OUT:-}" ] || cp "$W"/*.log "$OUT/" 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$W"
}

# Namespace $P$1: a command in it; akmctl there.
in_ns() { local ns=$P$1; shift; ip netns exec "$ns" "$@"; }
ctl() { local ns=$P$1; shift; "$AKMCTL" -n "$ns" "$@"; }
# The bridge ${P}br, and namespace $P$1 on it with the address $(addr $1)/24
# (addr: the test's).
bridge_up() { ip link add "${P}br" type bridge && ip link set "${P}br" up; }
netns_up() {
	ip netns add "$P$1"
	ip link add "$P$1" type veth peer name eth0 netns "$P$1"
	ip link set "$P$1" master "${P}br" up
	in_ns "$1" ip addr add "$(addr "$1")/24" dev eth0
	in_ns "$1" ip link set eth0 up
	in_ns "$1" ip link set lo up
}

# Nodes by name ($P, ID and addr the test's): a namespace's current epoch of
# an ASR (0: none); packets X verified from Y; X and Y ping each other and
# each kernel counts verified packets from the other; X's pings to Y get no
# answer; X holds no ASR A.
kernel_epoch() { akm_kernel_epoch "$P$1" "$2"; }
rx_from() { akm_rx_from "$P$1" "${ID[$2]}"; }
talks() {
	local rx ry
	rx=$(rx_from "$1" "$2") ry=$(rx_from "$2" "$1")
	in_ns "$1" ping -c 2 -i 0.2 -W 2 "$(addr "$2")" >/dev/null &&
		[ "$(rx_from "$1" "$2")" -gt "$rx" ] && [ "$(rx_from "$2" "$1")" -gt "$ry" ]
}
dropped() { ! in_ns "$1" ping -c 2 -i 0.2 -W 1 "$(addr "$2")" >/dev/null; }
no_asr() { ! ctl "$1" asr show "$2" >/dev/null 2>&1; }
