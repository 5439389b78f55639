#!/bin/bash
# Run a command in a throw-away VM booted with one of the host's kernels.
#
#   scripts/vm-run.sh [--kernel VER] [--timeout SEC] [--mem MB] [--module PATH]
#                     [--out DIR] [--log FILE] -- CMD...
#   scripts/vm-run.sh --image BZIMAGE [--kernel LABEL] [...] -- CMD...
#
# The guest is qemu (TCG; KVM only with AKM_VM_KVM=1) running
# /boot/vmlinuz-VER with 2 vCPUs. Its root is the host's root, shared
# read-only over 9p and made the root of PID 1, so the guest runs the host's
# binaries and /lib/modules/VER (module auto-loading works); /tmp, /run,
# /var/tmp and /root are tmpfs. The output directory (default
# build/vm-out/VER) is shared read-write at the same path. In the guest the
# command runs from the directory vm-run.sh was started in, as
# `bash -c "CMD..."` (the words are joined with spaces, as ssh does), with
# $KVER (uname -r) and $OUT (the output directory) set, AKM_* and KSFT_*
# variables passed through, after `insmod PATH` when --module is given.
#
# The console (kernel messages of level warning and above) goes to stdout and to build/vm-VER.log. Exit status: the
# command's; 124 on timeout; 125 if the VM did not boot or the command did
# not run (insmod failure, crash before the command ended); it is also
# written to OUT/exit-code. The guest's dmesg is left in OUT/dmesg.log and
# /proc/sys/kernel/tainted in OUT/tainted; a taint from a WARN/BUG/oops is
# reported on stderr.
#
# Environment: AKM_VM_KVM=1 (use KVM), AKM_VM_NO_VNG=1 (ignore vng),
# AKM_VM_BOOT_TIMEOUT (seconds until the command must have started, 300),
# AKM_VM_TCG_THREAD=multi (multi-threaded TCG: faster, but racy with
# kernel text patching, see the qemu command below),
# AKM_VM_APPEND (extra kernel command line), AKM_VM_QUIET=1 (console only
# to the log).
#
# --image boots the kernel image BZIMAGE instead (e.g. the debug kernel of
# scripts/debug-kernel.sh), always with qemu: it must have virtio-pci, 9p,
# devtmpfs, tmpfs and the rest built in, as the initramfs then carries no
# modules (and the guest has no /lib/modules for it). VER (the name of the
# default output directory and log) is LABEL, default image-<file name>.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 125
}
die() { echo "vm-run: $*" >&2; exit 125; }

KVER_ARG= TIMEOUT=900 MEM=1024 MODULE= OUT= LOG= IMAGE=
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) KVER_ARG=${2:?}; shift 2 ;;
	--kernel=*) KVER_ARG=${1#*=}; shift ;;
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	--timeout=*) TIMEOUT=${1#*=}; shift ;;
	--mem) MEM=${2:?}; shift 2 ;;
	--mem=*) MEM=${1#*=}; shift ;;
	--module) MODULE=${2:?}; shift 2 ;;
	--module=*) MODULE=${1#*=}; shift ;;
	--out) OUT=${2:?}; shift 2 ;;
	--out=*) OUT=${1#*=}; shift ;;
	--log) LOG=${2:?}; shift 2 ;;
	--log=*) LOG=${1#*=}; shift ;;
	--image) IMAGE=${2:?}; shift 2 ;;
	--image=*) IMAGE=${1#*=}; shift ;;
	-h|--help) usage ;;
	--) shift; break ;;
	*) echo "vm-run: unknown option '$1'" >&2; usage ;;
	esac
done
[ $# -gt 0 ] || { echo "vm-run: no command given" >&2; usage; }
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout wants seconds"
[[ $MEM =~ ^[0-9]+$ ]] || die "--mem wants megabytes"

if [ -n "$IMAGE" ]; then
	[ -r "$IMAGE" ] || die "cannot read the kernel image $IMAGE"
	IMAGE=$(realpath "$IMAGE")
	VER=${KVER_ARG:-image-$(basename "$IMAGE")}
	[[ $VER =~ ^[A-Za-z0-9_.+-]+$ ]] || die "bad label '$VER' (use --kernel LABEL)"
	KERNEL=$IMAGE
else
VER=${KVER_ARG:-$("$HERE/kernels.sh" | tail -n 1)}
[ -n "$VER" ] || die "no supported kernel installed (see scripts/kernels.sh; run scripts/install-deps.sh)"
KERNEL=/boot/vmlinuz-$VER
[ -r "$KERNEL" ] || die "cannot read $KERNEL"
[ -d "/lib/modules/$VER" ] || die "no /lib/modules/$VER"
fi

if [ -n "$MODULE" ]; then
	[ -f "$MODULE" ] || die "no module file $MODULE"
	MODULE=$(realpath "$MODULE")
fi
OUT=${OUT:-$REPO/build/vm-out/$VER}
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(realpath "$OUT")
LOG=$(realpath -m "${LOG:-$REPO/build/vm-$VER.log}")
mkdir -p "$(dirname "$LOG")" || die "cannot create the directory of $LOG"
# The guest has tmpfs on /tmp, /run, /var/tmp and /root: host directories
# the run needs from under those (a checkout in /tmp, say) are kept visible.
KEEP=
for p in "$REPO" "$PWD" ${MODULE:+"$(dirname "$MODULE")"}; do
	case $p/ in
	/tmp/*|/run/*|/var/tmp/*|/root/*) ;;
	*) continue ;;
	esac
	dup=0
	for k in ${KEEP//,/ }; do
		case $p/ in "$k"/*) dup=1 ;; esac
	done
	[ "$dup" = 1 ] || KEEP=${KEEP:+$KEEP,}$p
done
# These paths go on the kernel command line: keep them to plain characters.
for p in "$OUT" "$HERE" ${KEEP//,/ }; do
	[[ $p =~ ^/[A-Za-z0-9_./+,:@=-]*$ ]] || die "path '$p' has characters the kernel command line cannot carry"
done

# Several runs may share OUT (and the whole tree: the repo is shared by
# everyone working on this machine): warn, and keep each run's control files apart.
exec 9>>"$OUT/.lock"
if ! flock -n 9; then
	echo "vm-run: warning: another vm-run is using $OUT (and maybe $LOG); use --out/--log for parallel runs" >&2
fi
# The run description the guest reads (scripts/vm-guest.sh), private to this run.
CTL=$OUT/.vm.$$
rm -rf "$CTL"
mkdir -p "$CTL"
printf '%s\n' "$*" >"$CTL/cmd"
pwd >"$CTL/cwd"
[ -z "$MODULE" ] || printf '%s\n' "$MODULE" >"$CTL/module"
for v in $(compgen -e | grep -E '^(AKM|KSFT)_' || true); do
	declare -p "$v"
done >"$CTL/env"
rm -f "$OUT/dmesg.log" "$OUT/exit-code" "$OUT/tainted"

KVM=${AKM_VM_KVM:-0}
BOOT_TIMEOUT=${AKM_VM_BOOT_TIMEOUT:-300}
[ "$BOOT_TIMEOUT" -gt "$TIMEOUT" ] && BOOT_TIMEOUT=$TIMEOUT

# The initramfs for --image: busybox and the init of vm-initramfs.sh, no
# modules (an empty load order). Cached next to vm-initramfs.sh's.
nomod_initramfs() {
	local cache=${AKM_CACHE_DIR:-/var/cache/akm} bb=${AKM_BUSYBOX:-/bin/busybox} stamp tmp out a
	if ! { mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ]; }; then
		cache=${XDG_CACHE_HOME:-$HOME/.cache}/akm
		mkdir -p "$cache" || return 1
	fi
	out=$cache/initramfs-nomodules.cpio.gz
	[ -x "$bb" ] && ! ldd "$bb" >/dev/null 2>&1 || { echo "vm-run: need a static $bb (busybox-static)" >&2; return 1; }
	stamp=$( { cat "$HERE/vm-initramfs-init.sh"; stat -L -c '%s %Y' "$bb"; } | sha256sum | cut -d' ' -f1)
	if [ -s "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ]; then
		echo "$out"
		return 0
	fi
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/akm-initramfs.XXXXXX") || return 1
	mkdir -p "$tmp"/root/{bin,dev,proc,sys,newroot,lib/akm-modules}
	cp "$bb" "$tmp/root/bin/busybox"
	for a in $("$bb" --list); do
		[ "$a" = busybox ] || ln -s busybox "$tmp/root/bin/$a"
	done
	install -m 0755 "$HERE/vm-initramfs-init.sh" "$tmp/root/init"
	: >"$tmp/root/lib/akm-modules/order"
	if [ "$(id -u)" = 0 ]; then
		mknod -m 600 "$tmp/root/dev/console" c 5 1
		mknod -m 666 "$tmp/root/dev/null" c 1 3
	fi
	(cd "$tmp/root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) |
		gzip -1 >"$out.tmp.$$" && mv -f "$out.tmp.$$" "$out" && echo "$stamp" >"$out.stamp"
	rm -rf "$tmp"
	[ -s "$out" ] && echo "$out"
}

if [ -z "$IMAGE" ] && command -v vng >/dev/null 2>&1 && [ "${AKM_VM_NO_VNG:-0}" != 1 ]; then
	runner=vng
	# virtme-ng shares the host root itself; --rwdir makes OUT writable there.
	cmd=(vng --run "$KERNEL" --memory "${MEM}M" --cpus 2 --rwdir "$OUT"
		--append "panic=-1 ${AKM_VM_APPEND:-}")
	[ "$KVM" = 1 ] || cmd+=(--disable-kvm)
	cmd+=(--exec "/bin/bash $HERE/vm-guest.sh --vng $OUT $CTL")
else
	runner=qemu
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
	if [ -n "$IMAGE" ]; then
		INITRD=$(nomod_initramfs) || die "cannot build the initramfs for $IMAGE"
	else
	INITRD=$("$HERE/vm-initramfs.sh" "$VER") || die "cannot build the initramfs for $VER"
	fi
	if [ "$KVM" = 1 ]; then
		accel=(-accel kvm -cpu host)
	else
		# One host thread for both vCPUs by default: with multi-threaded
		# TCG, a CPU can still run an int3 that text_poke_bp() already
		# removed while another CPU flips a static key (seen: "Oops: int3"
		# in __netif_receive_skb_core when ping enabled timestamps).
		accel=(-accel "tcg,thread=${AKM_VM_TCG_THREAD:-single}" -cpu max)
	fi
	append="console=ttyS0 quiet loglevel=5 panic=-1 akm.out=$OUT akm.ctl=$CTL akm.guest=$HERE/vm-guest.sh${KEEP:+ akm.keep=$KEEP} ${AKM_VM_APPEND:-}"
	cmd=(qemu-system-x86_64 -nodefaults -no-user-config -machine pc "${accel[@]}"
		-smp 2 -m "$MEM" -display none -vga none -no-reboot
		-kernel "$KERNEL" -initrd "$INITRD" -append "$append"
		-chardev "stdio,id=con,signal=off,logfile=$LOG" -serial chardev:con
		-fsdev local,id=rootfs,path=/,security_model=none,readonly=on,multidevs=remap
		-device virtio-9p-pci,fsdev=rootfs,mount_tag=/dev/root
		-fsdev "local,id=outfs,path=$OUT,security_model=none,multidevs=remap"
		-device virtio-9p-pci,fsdev=outfs,mount_tag=akmout)
fi

qpid=
cleanup() {
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill -TERM "$qpid" 2>/dev/null
		sleep 1
		kill -KILL "$qpid" 2>/dev/null
	fi
}
finish() {
	cleanup
	[ -n "${CTL:-}" ] && rm -rf "$CTL"
}
trap 'cleanup; echo "vm-run: interrupted" >&2; exit 130' INT TERM HUP
trap finish EXIT

: >"$LOG"
start=$SECONDS
echo "vm-run: booting $VER ($runner, $([ "$KVM" = 1 ] && echo kvm || echo tcg), ${MEM} MB, timeout ${TIMEOUT}s): $*" >&2
if [ "$runner" = vng ]; then
	if [ "${AKM_VM_QUIET:-0}" = 1 ]; then
		"${cmd[@]}" </dev/null >"$LOG" 2>&1 &
	else
		"${cmd[@]}" </dev/null > >(tee -a "$LOG") 2>&1 &
	fi
	qpid=$!
else
	# qemu writes the console to stdout and, through logfile=, to $LOG.
	if [ "${AKM_VM_QUIET:-0}" = 1 ]; then
		"${cmd[@]}" </dev/null >/dev/null &
	else
		"${cmd[@]}" </dev/null &
	fi
	qpid=$!
fi

why=
while kill -0 "$qpid" 2>/dev/null; do
	el=$((SECONDS - start))
	if [ "$el" -ge "$TIMEOUT" ]; then
		why=timeout
		break
	fi
	if [ ! -e "$CTL/started" ] && [ "$el" -ge "$BOOT_TIMEOUT" ]; then
		why=boot
		break
	fi
	sleep 1
done
if [ -n "$why" ]; then
	cleanup
fi
wait "$qpid" 2>/dev/null
qrc=$?
qpid=
elapsed=$((SECONDS - start))

tail_log() {
	echo "vm-run: ---- last 50 lines of $LOG ----" >&2
	tail -n 50 "$LOG" | tr -d '\r' >&2
	echo "vm-run: ----" >&2
}

check_taint() {
	local t
	t=$(cat "$CTL/tainted" 2>/dev/null) || return 0
	echo "$t" >"$OUT/tainted"
	# D (oops/BUG) 128, W (WARN) 512, B (bad page) 32, L (soft lockup) 16384,
	# M (machine check) 16; O/E (our out-of-tree, unsigned module) are expected.
	if [ $((t & (16 | 32 | 128 | 512 | 16384))) -ne 0 ]; then
		echo "vm-run: *** kernel tainted ($t): a WARN/BUG/oops happened; see $OUT/dmesg.log:" >&2
		grep -E -A3 'WARNING:|BUG:|Oops|general protection|Call Trace|soft lockup|refcount_t:|UBSAN|KASAN' \
			"$OUT/dmesg.log" 2>/dev/null | head -n 40 >&2
	fi
}

if [ "$why" = timeout ]; then
	echo "vm-run: TIMEOUT after ${TIMEOUT}s ($VER); log: $LOG" >&2
	tail_log
	echo 124 >"$OUT/exit-code"
	exit 124
fi
if [ "$why" = boot ]; then
	echo "vm-run: the VM did not start the command within ${BOOT_TIMEOUT}s ($VER); log: $LOG" >&2
	tail_log
	echo 125 >"$OUT/exit-code"
	exit 125
fi
if [ -s "$CTL/rc" ]; then
	rc=$(cat "$CTL/rc")
	[[ $rc =~ ^[0-9]+$ ]] || rc=125
	check_taint
	echo "vm-run: exit status $rc after ${elapsed}s ($VER)" >&2
	[ "$rc" = 0 ] || echo "vm-run: log: $LOG" >&2
	echo "$rc" >"$OUT/exit-code"
	exit "$rc"
fi
if [ -e "$CTL/started" ]; then
	echo "vm-run: the VM died before the command finished (kernel panic?) ($VER, $runner exit $qrc); log: $LOG" >&2
else
	echo "vm-run: the VM failed to boot ($VER, $runner exit $qrc); log: $LOG" >&2
fi
tail_log
echo 125 >"$OUT/exit-code"
exit 125
