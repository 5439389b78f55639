# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# The boot test's host side: Debian 12 VMs (systemd as PID 1, the image of
# scripts/boot-image.sh) under qemu/TCG on one private L2 network, and
# commands run in them through the test runner baked into the image.
#
#   . tests/boot/lib.sh
#   trap boot_cleanup EXIT          VMs killed, namespace and disks deleted
#   boot_image                      build the image unless cached
#   vm_start a 1                    boot (making the disk), wait for the runner
#   vm_launch b 2; vm_ready b       the same in two steps (parallel boots)
#   vm_exec a 'ping -c1 10.77.0.2'  output on stdout, the command's exit status
#   vm_exec -t 60 a CMD             with a timeout (124), default 900 s
#   n=$(vm_send a CMD); vm_wait a "$n"   the same in two steps
#   vm_copy_in a HOSTPATH GUESTPATH / vm_copy_out a GUESTPATH HOSTPATH
#   vm_reboot a [KERNEL INITRD]     reboot, into the same or another kernel
#   vm_stop b; vm_delete b          power off; also delete the disk
#   vm_running a, vm_pid a; boot_net_up, boot_net_down
#
# VM NAME with number K (1..250): disk $BOOT_WORK/NAME.qcow2, an overlay on
# the cached image, kept across reboots and reused by later vm_start until
# vm_delete or boot_cleanup (it stays on the image it was made on, also
# after a rebuild); host name NAME; 10.77.0.K/24 and fd77::K/64 on its
# virtio NIC, MAC 52:54:00:77:00:KK (hex); 1 vCPU, BOOT_MEM; the console
# appended to $BOOT_WORK/NAME.console.log. The NICs are taps on a bridge in
# the network namespace $BOOT_NETNS, where qemu runs; the bridge has
# 10.77.0.254 and fd77::fe (`ip netns exec $BOOT_NETNS ping 10.77.0.1`),
# multicast snooping off. $BOOT_WORK/share is the 9p share, /mnt/share in
# the guests; NAME's commands are share/NAME/cmd.N, with out.N and rc.N
# (see the runner in scripts/boot-image.sh). Commands run one at a time,
# as root with DEBIAN_FRONTEND=noninteractive; output comes when they end.
#
# Environment: BOOT_WORK (default /var/tmp/akm-boot.PID), BOOT_NETNS
# (akmboot-PID), BOOT_MEM (MB, 1024), BOOT_APPEND (extra kernel command
# line), BOOT_READY_TIMEOUT (s, boot until the runner answers, 600),
# BOOT_EXEC_TIMEOUT (s, default of vm_exec, 900), BOOT_STOP_TIMEOUT (s,
# guest shutdown, 300), BOOT_KEEP=1 (boot_cleanup keeps the disks),
# AKM_BOOT_CACHE (the image, /var/cache/akm/boot).
# After boot_image: BOOT_KVER61, BOOT_KVER612, BOOT_IMAGE, and BOOT_KERNEL
# and BOOT_INITRD (the 6.1 kernel). After vm_start, vm_ready, vm_reboot:
# BOOT_SECONDS (the boot time).

BOOT_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BOOT_CACHE=${AKM_BOOT_CACHE:-/var/cache/akm/boot}
BOOT_WORK=${BOOT_WORK:-/var/tmp/akm-boot.$$}
BOOT_NETNS=${BOOT_NETNS:-akmboot-$$}
BOOT_SHARE=$BOOT_WORK/share
BOOT_MEM=${BOOT_MEM:-1024}
BOOT_APPEND=${BOOT_APPEND:-}
BOOT_READY_TIMEOUT=${BOOT_READY_TIMEOUT:-600}
BOOT_EXEC_TIMEOUT=${BOOT_EXEC_TIMEOUT:-900}
BOOT_STOP_TIMEOUT=${BOOT_STOP_TIMEOUT:-300}
BOOT_STAMP='' BOOT_IMAGE='' BOOT_KVER61='' BOOT_KVER612='' BOOT_KERNEL='' BOOT_INITRD='' BOOT_SECONDS=0

boot_say() { echo "boot: $*" >&2; }
boot_fail() { echo "boot: error: $*" >&2; return 1; }

# boot_image [--force]: build the image unless up to date; read image.env.
boot_image() {
	bash "$BOOT_REPO/scripts/boot-image.sh" "$@" || boot_fail "scripts/boot-image.sh failed" || return
	boot__env
}
boot__env() {
	local KVER61 KVER612 STAMP IMAGE=root.img
	[ -r "$BOOT_CACHE/image.env" ] || boot_fail "no image in $BOOT_CACHE (boot_image)" || return
	# shellcheck source=/dev/null
	. "$BOOT_CACHE/image.env"
	# shellcheck disable=SC2034 # for the caller
	BOOT_KVER61=$KVER61 BOOT_KVER612=$KVER612 BOOT_STAMP=$STAMP BOOT_IMAGE=$BOOT_CACHE/$IMAGE
	BOOT_KERNEL=$BOOT_CACHE/vmlinuz-$KVER61 BOOT_INITRD=$BOOT_CACHE/initrd.img-$KVER61
}

# boot_net_up: the namespace with the bridge (idempotent).
boot_net_up() {
	[ ! -e "/run/netns/$BOOT_NETNS" ] || return 0
	ip netns add "$BOOT_NETNS" || return
	ip -n "$BOOT_NETNS" link set lo up &&
		ip -n "$BOOT_NETNS" link add br0 type bridge mcast_snooping 0 &&
		ip -n "$BOOT_NETNS" addr add 10.77.0.254/24 dev br0 &&
		ip -n "$BOOT_NETNS" addr add fd77::fe/64 dev br0 nodad &&
		ip -n "$BOOT_NETNS" link set br0 up
}

# boot_net_down: delete the namespace (its taps and bridge go with it).
boot_net_down() {
	[ ! -e "/run/netns/$BOOT_NETNS" ] || ip netns del "$BOOT_NETNS"
}

boot__check() { # NAME [K]
	[[ $1 =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || boot_fail "bad VM name '$1' (a-z, 0-9, -)" || return
	[ $# -lt 2 ] || [[ $2 =~ ^[0-9]+$ && $2 -ge 1 && $2 -le 250 ]] || boot_fail "bad VM number '$2' (1..250)"
}

# vm_create NAME K: the disk overlay and share directory (idempotent: an
# existing disk is kept, unless the image it was made on is gone).
vm_create() {
	local name=$1 k=$2 disk=$BOOT_WORK/$1.qcow2 base
	boot__check "$name" "$k" || return
	[ -n "$BOOT_STAMP" ] || boot__env || return
	mkdir -p "$BOOT_WORK" "$BOOT_SHARE/$name" || return
	echo "$k" >"$BOOT_WORK/$name.k"
	if [ -e "$disk" ]; then
		base=$(cat "$disk.base" 2>/dev/null) || base=
		[ -z "$base" ] || [ ! -e "$base" ] || return 0
		! vm_running "$name" || boot_fail "$name runs on a disk whose image is gone" || return
		boot_say "warning: the image of $disk is gone: making it again"
	fi
	rm -f "$disk"
	qemu-img create -q -f qcow2 -F raw -b "$BOOT_IMAGE" "$disk" || return
	echo "$BOOT_IMAGE" >"$disk.base"
	# boot-image.sh keeps the images that overlays are on
	mkdir -p "$BOOT_CACHE/users" &&
		ln -sfn "$disk" "$BOOT_CACHE/users/$(sha256sum <<<"$disk" | cut -c1-16)"
}

# vm_delete NAME: stop NAME and delete its disk (the next vm_start makes a
# fresh one).
vm_delete() {
	vm_stop "$1" || true
	rm -f "$BOOT_WORK/$1.qcow2" "$BOOT_WORK/$1.qcow2.base"
}

# vm_pid NAME: the pid of NAME's qemu if it runs (and is ours).
vm_pid() {
	local pid stat cmd
	pid=$(cat "$BOOT_WORK/$1.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ] || return 1
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $cmd == *"file=$BOOT_WORK/$1.qcow2,"* ]] || return 1
	echo "$pid"
}
vm_running() { vm_pid "$1" >/dev/null; }

boot__tail() { # NAME: the end of the console log, on stderr
	echo "boot: ---- $1: end of $BOOT_WORK/$1.console.log ----" >&2
	tail -n 40 "$BOOT_WORK/$1.console.log" 2>/dev/null | tr -d '\r' >&2
	if [ -s "$BOOT_WORK/$1.qemu.log" ]; then
		echo "boot: ---- $BOOT_WORK/$1.qemu.log ----" >&2
		tail -n 10 "$BOOT_WORK/$1.qemu.log" >&2
	fi
	echo "boot: ----" >&2
}

# vm_launch NAME K [KERNEL INITRD]: boot NAME (default: the image's 6.1
# kernel) without waiting; several VMs boot in parallel this way.
vm_launch() {
	local name=$1 k=$2 kernel=${3:-} initrd=${4:-} mac tap append
	vm_create "$name" "$k" || return
	kernel=${kernel:-$BOOT_KERNEL} initrd=${initrd:-$BOOT_INITRD}
	[ -r "$kernel" ] && [ -r "$initrd" ] || boot_fail "cannot read $kernel or $initrd" || return
	! vm_running "$name" || boot_fail "$name is already running" || return
	boot_net_up || return
	printf '%s\n%s\n%s\n' "$kernel" "$initrd" "$EPOCHSECONDS" >"$BOOT_WORK/$name.boot"
	mac=$(printf '52:54:00:77:00:%02x' "$k")
	tap=akt$k
	if ! ip -n "$BOOT_NETNS" link show "$tap" >/dev/null 2>&1; then
		ip -n "$BOOT_NETNS" tuntap add dev "$tap" mode tap &&
			ip -n "$BOOT_NETNS" link set "$tap" master br0 up || return
	fi
	append="root=/dev/vda rw console=ttyS0 quiet panic=-1 akmtest.name=$name"
	append+=" akmtest.addr=10.77.0.$k/24 akmtest.addr6=fd77::$k/64 akmtest.mac=$mac $BOOT_APPEND"
	echo "==== $(date '+%F %T') boot: $kernel" >>"$BOOT_WORK/$name.console.log"
	ip netns exec "$BOOT_NETNS" qemu-system-x86_64 -nodefaults -no-user-config \
		-name "$name" -machine pc -accel tcg -cpu max -smp 1 -m "$BOOT_MEM" \
		-display none -vga none -no-reboot -rtc base=utc \
		-kernel "$kernel" -initrd "$initrd" -append "$append" \
		-drive "file=$BOOT_WORK/$name.qcow2,if=virtio,format=qcow2,discard=unmap" \
		-chardev "file,id=con,path=$BOOT_WORK/$name.console.log,append=on" -serial chardev:con \
		-fsdev "local,id=share,path=$BOOT_SHARE,security_model=none,multidevs=remap" \
		-device virtio-9p-pci,fsdev=share,mount_tag=share \
		-netdev "tap,id=net0,ifname=$tap,script=no,downscript=no" \
		-device "virtio-net-pci,netdev=net0,mac=$mac" \
		-device virtio-rng-pci \
		</dev/null >>"$BOOT_WORK/$name.qemu.log" 2>&1 &
	echo $! >"$BOOT_WORK/$name.pid"
}

# vm_ready NAME: wait until NAME's runner answers (BOOT_READY_TIMEOUT);
# sets BOOT_SECONDS to the time since vm_launch.
vm_ready() {
	local name=$1 kernel initrd start n
	{ read -r kernel; read -r initrd; read -r start; } <"$BOOT_WORK/$name.boot" || return
	n=$(vm_send "$name" true) || return
	if ! vm_wait "$name" "$n" $((BOOT_READY_TIMEOUT - (EPOCHSECONDS - start))) >/dev/null 2>&1; then
		boot__cancel "$name" "$n"
		boot_say "$name did not come up within ${BOOT_READY_TIMEOUT}s ($kernel)"
		boot__tail "$name"
		return 1
	fi
	BOOT_SECONDS=$((EPOCHSECONDS - start))
	boot_say "$name up in ${BOOT_SECONDS}s (${kernel##*/})"
}

# vm_start NAME K [KERNEL INITRD]: vm_launch, then vm_ready.
vm_start() {
	vm_launch "$@" && vm_ready "$1"
}

boot__next() { # NAME: the next command number
	local f=$BOOT_SHARE/$1/seq
	# shellcheck disable=SC2016 # expanded by that bash
	flock "$f.lock" bash -c 'n=$(($(cat "$1" 2>/dev/null || echo 0) + 1)); echo "$n" >"$1"; echo "$n"' _ "$f"
}

# vm_send [-t SEC] NAME CMD...: queue a command; prints its number N.
vm_send() {
	local t=$BOOT_EXEC_TIMEOUT d n
	if [ "$1" = -t ]; then t=$2; shift 2; fi
	d=$BOOT_SHARE/$1
	shift
	[ -d "$d" ] || boot_fail "no VM ${d##*/}" || return
	n=$(boot__next "${d##*/}") || return
	printf '# akmtest-timeout=%s\n%s\n' "$t" "$*" >"$d/.cmd.$n.tmp" &&
		mv -f "$d/.cmd.$n.tmp" "$d/cmd.$n" && echo "$n"
}

# vm_wait NAME N [SEC]: wait up to SEC (BOOT_EXEC_TIMEOUT + 30) for command
# N; print its output, return its status (255 if the VM stopped first, 124
# if no answer in time).
vm_wait() {
	local name=$1 n=$2 end=$((SECONDS + ${3:-$((BOOT_EXEC_TIMEOUT + 30))})) d=$BOOT_SHARE/$1
	until [ -e "$d/rc.$n" ]; do
		if ! vm_running "$name"; then
			[ -e "$d/rc.$n" ] && break
			boot_say "$name stopped before command $n ended"
			return 255
		fi
		if [ $SECONDS -ge "$end" ]; then
			boot_say "$name: no answer to command $n ($d/cmd.$n)"
			return 124
		fi
		sleep 0.1
	done
	cat "$d/out.$n" 2>/dev/null
	return "$(cat "$d/rc.$n")"
}

# vm_exec [-t SEC] NAME CMD...: run CMD (words joined by spaces, as ssh does)
# with bash in NAME; its output on stdout, its exit status.
vm_exec() {
	local t=$BOOT_EXEC_TIMEOUT n
	if [ "$1" = -t ]; then t=$2; shift 2; fi
	n=$(vm_send -t "$t" "$@") || return 255
	vm_wait "$1" "$n" $((t + 30))	# the guest kills it after t + 10 s
}

boot__cancel() { # NAME N: drop a command the guest has not started
	local d=$BOOT_SHARE/$1
	[ -e "$d/run.$2" ] || rm -f "$d/cmd.$2"
}

# boot__down NAME SEC: wait for qemu to exit, then kill it.
boot__down() {
	local name=$1 end=$((SECONDS + $2)) pid
	while pid=$(vm_pid "$name"); do
		if [ $SECONDS -ge "$end" ]; then
			boot_say "$name did not stop within $2s: killing qemu $pid"
			kill -TERM "$pid" 2>/dev/null || true
			sleep 3
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.5
			return 1
		fi
		sleep 0.2
	done
	wait "$(cat "$BOOT_WORK/$name.pid")" 2>/dev/null || true
}

# vm_reboot NAME [KERNEL INITRD]: `systemctl reboot` in the guest (qemu
# exits: -no-reboot), then vm_start with that kernel or the last one.
vm_reboot() {
	local name=$1 kernel=${2:-} initrd=${3:-} n start=$EPOCHSECONDS
	vm_running "$name" || boot_fail "$name is not running" || return
	if [ -z "$kernel" ]; then
		{ read -r kernel; read -r initrd; } <"$BOOT_WORK/$name.boot"
	fi
	n=$(vm_send "$name" systemctl reboot) || return
	boot__down "$name" "$BOOT_STOP_TIMEOUT" || true
	boot__cancel "$name" "$n"
	boot_say "$name went down in $((EPOCHSECONDS - start))s"
	vm_start "$name" "$(cat "$BOOT_WORK/$name.k")" "$kernel" "$initrd" || return
	BOOT_SECONDS=$((EPOCHSECONDS - start))
	boot_say "$name rebooted in ${BOOT_SECONDS}s"
}

# vm_stop NAME [SEC]: power off (qemu killed after SEC, BOOT_STOP_TIMEOUT).
vm_stop() {
	local name=$1 n
	vm_running "$name" || return 0
	n=$(vm_send "$name" systemctl poweroff) || true
	boot__down "$name" "${2:-$BOOT_STOP_TIMEOUT}" || true
	[ -z "$n" ] || boot__cancel "$name" "$n"
}

# vm_copy_in NAME HOSTPATH GUESTPATH / vm_copy_out NAME GUESTPATH HOSTPATH:
# copy a file or directory (cp -R semantics) through the share.
vm_copy_in() {
	local name=$1 x rc=0
	x=xfer.$$.$RANDOM
	mkdir -p "$BOOT_SHARE/$name/$x" && cp -R "$2" "$BOOT_SHARE/$name/$x/" || return
	vm_exec "$name" "cp -R --preserve=mode,timestamps $(printf %q "/mnt/share/$name/$x/$(basename "$2")") $(printf %q "$3")" || rc=$?
	rm -rf "${BOOT_SHARE:?}/$name/$x"
	return $rc
}
vm_copy_out() {
	local name=$1 x rc=0
	x=xfer.$$.$RANDOM
	vm_exec "$name" "mkdir /mnt/share/$name/$x && cp -RH --preserve=mode,timestamps $(printf %q "$2") /mnt/share/$name/$x/" || rc=$?
	[ $rc != 0 ] || cp -R "$BOOT_SHARE/$name/$x/$(basename "$2")" "$3" || rc=$?
	rm -rf "${BOOT_SHARE:?}/$name/$x"
	return $rc
}

# boot_cleanup: stop (kill) the VMs of $BOOT_WORK, delete the namespace and,
# unless BOOT_KEEP=1, the disks. Logs and the share stay in $BOOT_WORK.
boot_cleanup() {
	local f name pid
	for f in "$BOOT_WORK"/*.pid; do
		[ -e "$f" ] || continue
		name=${f##*/}
		name=${name%.pid}
		if pid=$(vm_pid "$name"); then
			kill -TERM "$pid" 2>/dev/null || true
			boot__down "$name" 10 >/dev/null 2>&1 || true
		fi
		rm -f "$f"
	done
	boot_net_down || true
	if [ "${BOOT_KEEP:-0}" != 1 ]; then
		rm -f "$BOOT_WORK"/*.qcow2 "$BOOT_WORK"/*.qcow2.base
	fi
	rm -rf "$BOOT_SHARE"/*/xfer.*
	[ ! -d "$BOOT_WORK" ] || boot_say "logs in $BOOT_WORK"
}
