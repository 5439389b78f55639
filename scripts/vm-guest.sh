#!/bin/bash
# Guest side of scripts/vm-run.sh, run with the host's /bin/bash.
#
#   vm-guest.sh OUTDIR CTLDIR         as PID 1 after switch_root (our own runner)
#   vm-guest.sh --vng OUTDIR CTLDIR   as a command under virtme-ng (vng --exec)
#
# Reads the run description that vm-run.sh left in CTLDIR (cmd, cwd, env,
# module; CTLDIR is inside OUTDIR), sets the guest up, insmods the module,
# runs the command with bash -c, and leaves CTLDIR/rc (its exit status),
# CTLDIR/tainted and OUTDIR/dmesg.log behind. As PID 1 it then syncs and
# powers the VM off.
set -u

vng=0
if [ "${1:-}" = --vng ]; then
	vng=1
	shift
fi
OUT=${1:-}
CTL=${2:-}

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LC_ALL=C.UTF-8
umask 022

poweroff_now() {
	[ "$vng" = 1 ] && exit "${1:-0}"
	sync
	[ -x /bin/busybox ] && /bin/busybox poweroff -f
	echo o >/proc/sysrq-trigger 2>/dev/null
	sleep 5
	# Still here: exiting makes the kernel panic, and panic=-1 + -no-reboot ends qemu.
	exit 1
}

if [ -z "$OUT" ] || [ -z "$CTL" ] || [ ! -d "$CTL" ]; then
	echo "vm-guest: FATAL: no run description in '$CTL'" >&2
	poweroff_now 125
fi
date +%s.%N >"$CTL/started"

if [ "$vng" = 0 ]; then
	echo akm-vm >/proc/sys/kernel/hostname
	echo 1 >/proc/sys/kernel/sysrq
fi
ip link set lo up 2>/dev/null

# Variables passed from the host (AKM_*, KSFT_*), then the fixed ones.
[ -r "$CTL/env" ] && source "$CTL/env"
KVER=$(uname -r)
export KVER OUT

rc=0
cwd=$(cat "$CTL/cwd" 2>/dev/null)
if ! cd "$cwd" 2>/dev/null; then
	echo "vm-guest: cannot cd to '$cwd' in the guest" >&2
	rc=125
fi

if [ "$rc" = 0 ] && [ -s "$CTL/module" ]; then
	module=$(cat "$CTL/module")
	# insmod does not resolve dependencies: load them from this kernel first
	for dep in $(modinfo -F depends "$module" | tr , ' '); do
		modprobe "$dep" || echo "vm-guest: modprobe $dep failed" >&2
	done
	if ! insmod "$module"; then
		echo "vm-guest: insmod $module failed" >&2
		rc=125
	fi
fi

if [ "$rc" = 0 ]; then
	echo "vm-guest: $KVER: running: $(cat "$CTL/cmd")"
	bash -c "$(cat "$CTL/cmd")" </dev/null
	rc=$?
fi

dmesg >"$OUT/dmesg.log" 2>&1
cat /proc/sys/kernel/tainted >"$CTL/tainted" 2>/dev/null
echo "$rc" >"$CTL/rc.tmp" && mv -f "$CTL/rc.tmp" "$CTL/rc"
sync
poweroff_now "$rc"
