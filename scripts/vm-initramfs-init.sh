#!/bin/sh
# /init of the initramfs built by scripts/vm-initramfs.sh (runs under busybox sh).
# Loads the virtio/9p modules, mounts the host's root file system (9p tag
# /dev/root, read-only) on /newroot with tmpfs on /tmp /run /var/tmp /root,
# mounts the run's output directory (9p tag akmout, read-write) at the same
# path, then makes the shared root the root of PID 1:
#   exec switch_root /newroot /bin/bash <akm.guest> <akm.out> <akm.ctl>
# so that the kernel's module auto-loading (/sbin/modprobe) sees the host's
# /lib/modules. Kernel command line: akm.out=DIR akm.ctl=DIR akm.guest=SCRIPT
# [akm.keep=DIR,DIR...]: host directories under /tmp, /run, /var/tmp or /root
# (say, a checkout in /tmp) that stay visible over the guest's tmpfs there.
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

fail() {
	echo "vm-init: FATAL: $*"
	echo "vm-init: powering off"
	echo o >/proc/sysrq-trigger
	poweroff -f
	sleep 10
}

for m in $(cat /lib/akm-modules/order); do
	insmod "/lib/akm-modules/$m.ko" || echo "vm-init: warning: insmod $m failed"
done

out= ctl= guest= keep=
for arg in $(cat /proc/cmdline); do
	case $arg in
	akm.out=*) out=${arg#akm.out=} ;;
	akm.guest=*) guest=${arg#akm.guest=} ;;
	akm.ctl=*) ctl=${arg#akm.ctl=} ;;
	akm.keep=*) keep=${arg#akm.keep=} ;;
	esac
done
[ -n "$guest" ] || fail "no akm.guest= on the kernel command line"

# msize: 6.1's virtio transport takes at most 512 KiB; the default (8 KiB) is slow.
# cache=loose: the root is read-only in the guest and nothing changes it during a run.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose /dev/root /newroot ||
	fail "cannot mount the host root (9p tag /dev/root)"

i=0
for p in $(echo "$keep" | tr ',' ' '); do
	i=$((i + 1))
	mkdir -p "/keep/$i"
	mount --bind "/newroot$p" "/keep/$i" && echo "$p" >"/keep/$i.path" ||
		echo "vm-init: warning: cannot keep $p"
done

mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp || fail "tmpfs /tmp"
mount -t tmpfs -o mode=0755 tmpfs /newroot/run || fail "tmpfs /run"
mount -t tmpfs -o mode=1777 tmpfs /newroot/var/tmp || fail "tmpfs /var/tmp"
mount -t tmpfs -o mode=0700 tmpfs /newroot/root || fail "tmpfs /root"
mkdir -p /newroot/run/lock /newroot/run/netns
for f in /keep/*.path; do
	[ -e "$f" ] || continue
	p=$(cat "$f")
	mkdir -p "/newroot$p" && mount --move "${f%.path}" "/newroot$p" || fail "cannot keep $p"
done

mount --move /proc /newroot/proc || fail "move /proc"
mount --move /sys /newroot/sys || fail "move /sys"
mount --move /dev /newroot/dev || fail "move /dev"
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
[ -e /newroot/dev/ptmx ] || ln -s pts/ptmx /newroot/dev/ptmx
ln -sf /proc/self/fd /newroot/dev/fd
ln -sf /proc/self/fd/0 /newroot/dev/stdin
ln -sf /proc/self/fd/1 /newroot/dev/stdout
ln -sf /proc/self/fd/2 /newroot/dev/stderr
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup 2>/dev/null
mount -t debugfs debugfs /newroot/sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /newroot/sys/kernel/tracing 2>/dev/null

if [ -n "$out" ]; then
	mkdir -p "/newroot$out" 2>/dev/null
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 akmout "/newroot$out" ||
		fail "cannot mount the output directory $out (9p tag akmout)"
fi

[ -x /newroot/bin/bash ] || fail "no /bin/bash in the shared root"
exec switch_root /newroot /bin/bash "$guest" "$out" "$ctl"
fail "switch_root failed"
