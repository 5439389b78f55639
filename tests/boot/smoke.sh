#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Smoke test of the boot test (tests/boot/lib.sh): two Debian 12 VMs on
# the private network, ping, a reboot, and the 6.12 kernel installed offline
# from /var/cache/akm-kernels then booted. Prints timings at the end.
#
#   tests/boot/smoke.sh [--force]   (root; --force rebuilds the image;
#                                    BOOT_WORK etc. as in lib.sh)
# shellcheck source-path=SCRIPTDIR disable=SC2153 # BOOT_* are lib.sh's
set -eu -o pipefail

# shellcheck source=lib.sh disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap boot_cleanup EXIT
trap 'exit 130' INT TERM HUP

step() { echo "== $*"; }
check() { # WHAT EXPECTED-REGEX GOT
	if [[ $3 =~ $2 ]]; then
		echo "ok - $1"
	else
		echo "FAIL - $1: got '$3', want /$2/"
		exit 1
	fi
}
is() { # WHAT EXPECTED GOT: the same, for an exact string
	if [ "$3" = "$2" ]; then
		echo "ok - $1"
	else
		echo "FAIL - $1: got '$3', want '$2'"
		exit 1
	fi
}
times=()
timing() { times+=("$(printf '%-40s %4ss' "$1" "$2")"); }

step "image"
t=$EPOCHSECONDS
boot_image "$@"
timing "image (build or cache check)" $((EPOCHSECONDS - t))
echo "kernels: $BOOT_KVER61, ${BOOT_KVER612:-none}; work dir $BOOT_WORK"
[ -n "$BOOT_KVER612" ] || { echo "FAIL - the image has no 6.12 kernel .debs"; exit 1; }

step "boot a and b (6.1, in parallel)"
vm_launch a 1
vm_launch b 2
vm_ready a
timing "boot a to runner ready, 6.1 (parallel)" "$BOOT_SECONDS"
vm_ready b
timing "boot b to runner ready, 6.1 (parallel)" "$BOOT_SECONDS"
for v in a b; do
	state=$(vm_exec "$v" 'systemctl is-system-running --wait' || true)
	[ "$state" = running ] || vm_exec "$v" 'systemctl --failed --no-pager' || true
	check "$v: systemctl is-system-running" '^running$' "$state"
	is "$v: uname -r" "$BOOT_KVER61" "$(vm_exec "$v" 'uname -r')"
done
vm_exec a 'systemd-analyze; ip -br addr; ip route'

step "ping over the bridge"
vm_exec a 'ping -c 3 -W 5 10.77.0.2'
vm_exec b 'ping -c 3 -W 5 fd77::1'
echo "ok - ping a -> b (IPv4), b -> a (IPv6)"

step "exit status, stderr, timeout"
rc=0; out=$(vm_exec a 'echo out; echo err >&2; exit 7') || rc=$?
check "exit status" '^7$' "$rc"
check "stdout and stderr" $'^out\nerr$' "$out"
rc=0; vm_exec -t 2 a 'sleep 30' || rc=$?
check "timeout" '^124$' "$rc"

step "copy in and out"
vm_copy_in a "${BASH_SOURCE[0]}" /root/smoke.sh
vm_copy_out a /root/smoke.sh "$BOOT_WORK/smoke.sh.back"
is "copied in and out unchanged" "$(sha256sum <"${BASH_SOURCE[0]}")" "$(sha256sum <"$BOOT_WORK/smoke.sh.back")"
is "sha256sum in the VM" "$(sha256sum <"${BASH_SOURCE[0]}")" "$(vm_exec a 'sha256sum </root/smoke.sh')"

step "reboot b"
vm_reboot b
timing "reboot b (command to runner ready)" "$BOOT_SECONDS"
is "b: host name after reboot" b "$(vm_exec b hostname)"
check "b: address after reboot" '10\.77\.0\.2/24' "$(vm_exec b 'ip -br -4 addr show dev ens3')"
check "b: is-system-running" '^running$' "$(vm_exec b 'systemctl is-system-running --wait' || true)"
check "b: journal of both boots kept" '^[2-9]$' "$(vm_exec b 'journalctl --list-boots --no-pager | tail -n +2 | wc -l')"
vm_exec a 'ping -c 2 -W 5 10.77.0.2' >/dev/null && echo "ok - ping a -> b after the reboot"

step "install $BOOT_KVER612 in a, offline"
vm_exec a 'ip route; ls /var/cache/akm-kernels'
t=$EPOCHSECONDS
# shellcheck disable=SC2016 # expanded in the VM
vm_exec -t 3600 a 'apt-get install -y /var/cache/akm-kernels/*.deb 2>&1 | tail -n 15; exit ${PIPESTATUS[0]}'
timing "apt install of the 6.12 kernel (offline)" $((EPOCHSECONDS - t))
vm_copy_out a "/boot/vmlinuz-$BOOT_KVER612" "$BOOT_WORK/"
vm_copy_out a "/boot/initrd.img-$BOOT_KVER612" "$BOOT_WORK/"
ls -l "$BOOT_WORK/vmlinuz-$BOOT_KVER612" "$BOOT_WORK/initrd.img-$BOOT_KVER612"

step "reboot a into $BOOT_KVER612"
vm_reboot a "$BOOT_WORK/vmlinuz-$BOOT_KVER612" "$BOOT_WORK/initrd.img-$BOOT_KVER612"
timing "reboot a into 6.12 (command to ready)" "$BOOT_SECONDS"
is "a: uname -r" "$BOOT_KVER612" "$(vm_exec a 'uname -r')"
state=$(vm_exec a 'systemctl is-system-running --wait' || true)
[ "$state" = running ] || vm_exec a 'systemctl --failed --no-pager' || true
check "a: is-system-running on 6.12" '^running$' "$state"
vm_exec a 'ping -c 2 -W 5 10.77.0.2' >/dev/null && echo "ok - ping a (6.12) -> b (6.1)"

step "power off"
t=$EPOCHSECONDS
vm_stop a
vm_stop b
timing "power off a, then b" $((EPOCHSECONDS - t))

step "timings"
printf '%s\n' "${times[@]}"
echo "smoke: all ok"
