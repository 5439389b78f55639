# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
# Shared by the NMM tests in a VM (hijack.sh, converge.sh, scale.sh), after
# ../lib.sh: the binaries, the skips, and the commands on the lab.
#
#   NAME=what  W=workdir  P=namespace-prefix  . "$HERE/lib.sh"

US=$REPO/userspace
NMMD=${AKM_NMMD:-$US/nmm/akm-nmmd}
AGENT=${AKM_AGENT:-$US/agent/akm-agent}
AKMCTL=${AKM_AKMCTL:-$US/akmctl/akmctl}

nmm_skip() {	# reason
	echo "ok 1 - $NAME # SKIP $1"
	echo "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0"
	exit 4
}
for bin in "$NMMD" "$AGENT" "$AKMCTL"; do
	[ -x "$bin" ] || nmm_skip "$bin not built (make -C userspace)"
done
[ -d /sys/module/akm ] || nmm_skip "akm.ko not loaded"

nmm() { "$AKMCTL" nmm socket "$W/nmm/admin.sock" "$@"; }
nmmj() { "$AKMCTL" -j nmm socket "$W/nmm/admin.sock" "$@"; }
in_ns() { local ns=$P$1; shift; ip netns exec "$ns" "$@"; }
ctl() { local ns=$P$1; shift; "$AKMCTL" -n "$ns" "$@"; }	# akmctl in a namespace
