#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The boot test (Documentation/packaging.md): the Debian packages installed
# on Debian 12 machines that boot with systemd as PID 1. Three VMs under qemu
# (nmm 10.77.0.1, a 10.77.0.2, b 10.77.0.3) on one L2 network, from the image
# of scripts/boot-image.sh (built once into /var/cache/akm/boot/).
#
#   tests/boot/run.sh          TAP; figures at the end; logs in $BOOT_WORK
#
# 1. Without AKM, a reaches b. The freshly built packages (scripts/deb.sh)
#    are installed with apt, offline: DKMS builds akm for the running 6.1
#    kernel, modprobe loads it.
# 2. The seed's steps with the packaged units: the NMM configured in
#    /etc/akm/nmmd.conf and enabled; nodes A and B provisioned, their bundles
#    exported to the "USB stick" (the share) and imported with
#    `akm-agent import` (which enables and starts akm-agent.service); ASR 1
#    made with A and B; a's pings to b are authenticated by AKM.
# 3. Reboot: akm is loaded at boot, both services are active, the nodes
#    converge, traffic is authenticated again. `systemctl restart` of the
#    agent and of the NMM, and `systemctl reload` of the agent, while a
#    pings b: no ping is lost.
# 4. Kernel upgrade: the 6.12 kernel installed (offline, from the image's
#    /var/cache/akm-kernels): DKMS builds akm for it; reboot into 6.12; the
#    same checks.
# 5. Package upgrade to a newer version (scripts/deb.sh --version) over the
#    running system: services restarted with the new binaries, traffic
#    keeps flowing, the nodes converge; the new module after a reboot.
# 6. Removal: `apt remove` keeps state and configuration, `apt purge`
#    leaves no module, unit, configuration or state behind.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$top" || exit 1
. tests/lib.sh
BOOT_EXEC_TIMEOUT=${BOOT_EXEC_TIMEOUT:-2400}	# apt with DKMS builds under TCG
. tests/boot/lib.sh
trap boot_cleanup EXIT

NET=10.77.0
V=$(cat VERSION)
V2=$V+boottest1
FIG=()
fig() { FIG+=("$(printf '%-58s %s' "$1" "$2")"); }
t_start() { T0=$SECONDS; }
t_end() { fig "$1" "$((SECONDS - T0)) s"; }
bail() { echo "Bail out! $*"; totals; exit 1; }

# every VM at once: vm_all 'CMD' VM... -> outputs in OUT[VM], statuses in RC[VM]
declare -A OUT RC
vm_all() {
	local cmd=$1 v n
	declare -A num
	shift
	for v in "$@"; do num[$v]=$(vm_send "$v" "$cmd") || return 1; done
	for v in "$@"; do
		OUT[$v]=$(vm_wait "$v" "${num[$v]}")
		RC[$v]=$?
	done
}
all_ok() {	# NAME VM...: one result, passed if RC of every VM is 0
	local name=$1 v bad=""
	shift
	for v in "$@"; do [ "${RC[$v]}" = 0 ] || bad+="== $v (exit ${RC[$v]}):"$'\n'"${OUT[$v]}"$'\n'; done
	ok "$([ -z "$bad" ] && echo 0 || echo 1)" "$name" "$bad"
}

# rx_packets of member NODE in ASR 1 as VM's kernel counts them
rx() { vm_exec "$1" "akmctl -j stats show asr 1 node $2" | grep -o '"rx_packets":[0-9]*' | head -n1 | cut -d: -f2; }
online() { vm_exec nmm "akmctl -j nmm node list $1" | grep -q '"link":"online"'; }
converged() {	# every member of ASR 1 has the current epoch activated
	vm_exec nmm 'akmctl -j nmm asr show 1' | python3 -c '
import json, sys
a = json.load(sys.stdin)
a = a[0] if isinstance(a, list) else a
m = a.get("members", [])
sys.exit(0 if len(m) == 2 and all(x["delivery"] == "activated" for x in m) else 1)'
}
# authenticated: a pings b, and b's kernel counts the packets as A's in ASR 1
authenticated() {	# LABEL
	local before after out
	before=$(rx b 2)
	out=$(vm_exec a "ping -c 5 -i 0.3 -W 2 $NET.3" 2>&1)
	local st=$?
	after=$(rx b 2)
	[ $st = 0 ] && [ -n "$before" ] && [ -n "$after" ] && [ $((after - before)) -ge 5 ]
	ok $? "$1: a pings b, b verifies the packets as A's in ASR 1 (rx $before -> $after)" "$out"
}
# a pings b every 0.2 s while CMD runs in VM; no ping may be lost
no_loss() {	# LABEL VM CMD
	local num out st
	num=$(vm_send a "ping -i 0.2 -w 25 -W 1 $NET.3 | tail -n 3") || return
	sleep 5
	vm_exec "$2" "$3" >/dev/null 2>&1
	st=$?
	out=$(vm_wait a "$num")
	[ $st = 0 ] && grep -q ' 0% packet loss' <<<"$out"
	ok $? "$1: no ping from a to b lost ($(grep -o '[0-9]* received' <<<"$out"))" "exit $st; $out"
}
services_active() {	# LABEL
	vm_all 'systemctl is-active akm-nmmd' nmm
	vm_all 'systemctl is-active akm-agent' a b
	all_ok "$1: akm-nmmd active on nmm, akm-agent active on a and b" nmm a b
}
loaded() {	# LABEL VERSION: akm loaded at boot (modprobe@akm of the units), in VERSION
	vm_all "grep -x '$2' /sys/module/akm/version && journalctl -b -k | grep -q 'Key type akm registered'" nmm a b
	all_ok "$1: akm $2 loaded at boot" nmm a b
}
converge() {	# LABEL
	local s=$SECONDS
	wait_for 180 online A && wait_for 180 online B && wait_for 120 converged
	ok $? "$1: A and B online, ASR 1 activated on both ($((SECONDS - s)) s)" \
		"$(vm_exec nmm 'akmctl nmm node list; akmctl nmm asr show 1' 2>&1)"
	fig "$1: nodes online and ASR 1 activated" "$((SECONDS - s)) s"
}
reboot_all() {	# LABEL [KERNEL INITRD]
	local v s=$SECONDS
	for v in nmm a b; do vm_send "$v" 'systemctl reboot' >/dev/null; done
	for v in nmm a b; do boot__down "$v" "$BOOT_STOP_TIMEOUT" || true; done
	for v in nmm a b; do
		vm_launch "$v" "$(cat "$BOOT_WORK/$v.k")" ${2:+"$2" "$3"} || bail "$v does not boot"
	done
	for v in nmm a b; do vm_ready "$v" || bail "$v: no runner after the reboot"; done
	fig "$1: reboot of the three VMs" "$((SECONDS - s)) s"
}
install_cmd() {	# DEBDIR PACKAGES...
	local d=$1 p files=""
	shift
	for p in "$@"; do files+=" /mnt/share/debs/$d/${p}_*.deb"; done
	echo "apt-get install -y -q -o Dpkg::Options::=--force-confold$files"
}

# --- the packages and the VMs ------------------------------------------------
t_start
scripts/deb.sh --out "$BOOT_SHARE/debs/1" >"$BOOT_WORK.deb.log" 2>&1 ||
	bail "scripts/deb.sh failed: $(tail -n 20 "$BOOT_WORK.deb.log")"
scripts/deb.sh --version "$V2" --out "$BOOT_SHARE/debs/2" >>"$BOOT_WORK.deb.log" 2>&1 ||
	bail "scripts/deb.sh --version $V2 failed: $(tail -n 20 "$BOOT_WORK.deb.log")"
t_end "packages $V and $V2 built (scripts/deb.sh, lintian)"
boot_image || bail "no image (scripts/boot-image.sh)"
boot_net_up || bail "no network namespace"
mkdir -p "$BOOT_SHARE/usb"
echo "# image: $BOOT_CACHE, kernels $BOOT_KVER61, $BOOT_KVER612; work: $BOOT_WORK"
t_start
vm_launch nmm 1 && vm_launch a 2 && vm_launch b 3 || bail "qemu does not start"
vm_ready nmm && vm_ready a && vm_ready b || bail "the VMs do not boot"
t_end "boot of three fresh VMs (6.1)"

out=$(vm_exec a "ping -c 3 -W 2 $NET.3" 2>&1)
ok $? "without AKM: a reaches b" "$out"

# --- 1. install --------------------------------------------------------------
t_start
vm_all "$(install_cmd 1 akm-dkms akm-tools akm-nmm)" nmm
vm_all "$(install_cmd 1 akm-dkms akm-tools akm-agent)" a b
all_ok "apt installs akm-dkms, akm-tools and akm-nmm (nmm), akm-agent (a, b) offline" nmm a b
t_end "apt install with the DKMS build for 6.1 (three VMs at once)"
vm_all "dkms status akm; dkms status akm | grep -qF 'akm/$V, $BOOT_KVER61, x86_64: installed'" nmm a b
all_ok "DKMS built and installed akm $V for $BOOT_KVER61" nmm a b
vm_all "modprobe akm && grep -x '$V' /sys/module/akm/version && modinfo -F filename akm | grep -q /updates/dkms/" nmm a b
all_ok "modprobe akm loads the DKMS module (its dependencies resolved by modprobe)" nmm a b
vm_all "[ \"\$(systemctl is-enabled akm-agent)\" = disabled ] && ! systemctl is-active akm-agent" a b
all_ok "akm-agent.service installed, disabled and stopped before an import" a b

# --- 2. the seed's steps with the packaged units ------------------------------
vm_exec nmm "printf 'id = 1\nlisten = $NET.1\n' >>/etc/akm/nmmd.conf && systemctl enable --now akm-nmmd && systemctl is-active akm-nmmd" >"$BOOT_WORK/out" 2>&1
ok $? "nmmd.conf set, akm-nmmd enabled and started (Type=notify: active once listening)" "$(cat "$BOOT_WORK/out")"
for N in A:2 B:3; do
	name=${N%:*} id=${N#*:}
	js=$(vm_exec nmm "akmctl nmm node add $name id $id addr $NET.$id >/dev/null && akmctl -j nmm node export $name file /mnt/share/usb/$name.akmb")
	code=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])' <<<"$js" 2>/dev/null)
	[ -n "$code" ] && [ -s "$BOOT_SHARE/usb/$name.akmb" ] && echo "$code" >"$BOOT_WORK/$name.code"
	ok $? "step 1-2: node $name provisioned, its bundle exported by the sandboxed NMM to the USB stick" "$js"
done
for v in a b; do
	V_=${v^^}
	vm_copy_in "$v" "$BOOT_WORK/$V_.code" /root/$V_.code >/dev/null
	# the runner is a service: import does not wait for the start (--no-block)
	out=$(vm_exec "$v" "akm-agent import /mnt/share/usb/$V_.akmb --code-file /root/$V_.code && rm /root/$V_.code && systemctl is-enabled akm-agent && for i in \$(seq 90); do systemctl is-active akm-agent && exit 0; sleep 1; done; exit 1" 2>&1)
	ok $? "step 2-3: akm-agent import on $v enables and starts akm-agent.service" "$out"
done
wait_for 120 online A && wait_for 120 online B
ok $? "step 3: A and B activated by mutual proof, online" "$(vm_exec nmm 'akmctl nmm node list' 2>&1)"
out=$(vm_exec nmm 'akmctl nmm asr add 1 alg chacha20-poly1305 name boot && akmctl nmm asr add-member 1 node A && akmctl nmm asr add-member 1 node B' 2>&1)
ok $? "step 4-5: ASR 1 with A and B, the epoch delivered and switched" "$out"
out=$(vm_exec a 'akmctl asr show 1 && akmctl member show asr 1' 2>&1)
grep -q "$NET.3" <<<"$out"
ok $? "step 6: a's kernel holds ASR 1 with member B" "$out"
authenticated "6.1"
vm_exec a "systemd-analyze security akm-agent.service | tail -n 1; journalctl -u akm-agent -b --no-pager | tail -n 5" >"$BOOT_WORK/sec" 2>&1
grep -q "Overall exposure level for akm-agent.service: [01]\.[0-9]\|: 2\.0 " "$BOOT_WORK/sec"
ok $? "akm-agent.service in the VM: systemd-analyze security 2.0 or lower" "$(cat "$BOOT_WORK/sec")"
fig "systemd-analyze security akm-agent.service (in the VM)" "$(grep -o 'level for [^ ]*: [0-9.]*' "$BOOT_WORK/sec" | awk '{print $NF}')"
sec=$(vm_exec nmm "systemd-analyze security akm-nmmd.service | tail -n 1")
fig "systemd-analyze security akm-nmmd.service (in the VM)" "$(grep -o 'level for [^ ]*: [0-9.]*' <<<"$sec" | awk '{print $NF}')"

# --- 3. reboot, restarts ----------------------------------------------------
reboot_all "6.1"
loaded "6.1 after a reboot" "$V"
services_active "6.1 after a reboot"
converge "6.1 after a reboot"
authenticated "6.1 after a reboot"
no_loss "systemctl restart akm-agent on a" a 'systemctl restart akm-agent && systemctl is-active akm-agent'
no_loss "systemctl restart akm-nmmd" nmm 'systemctl restart akm-nmmd && systemctl is-active akm-nmmd'
out=$(vm_exec b 'systemctl reload akm-agent && systemctl is-active akm-agent && for i in $(seq 50); do journalctl -u akm-agent -b --no-pager | grep -q "reloaded;" && exit 0; sleep 0.2; done; exit 1' 2>&1)
ok $? "systemctl reload akm-agent: reloaded, still active" "$out"
converge "6.1 after the restarts"

# --- 4. kernel upgrade --------------------------------------------------------
t_start
vm_all "apt-get install -y -q /var/cache/akm-kernels/*.deb >/tmp/k.log 2>&1 || { tail -n 30 /tmp/k.log; exit 1; }; dkms status akm | grep -F '$BOOT_KVER612'" nmm a b
all_ok "kernel $BOOT_KVER612 installed: DKMS built akm $V for it" nmm a b
t_end "kernel 6.12 install with the DKMS build (three VMs at once)"
rm -f "$BOOT_WORK/vmlinuz-612" "$BOOT_WORK/initrd-612"
vm_copy_out nmm "/boot/vmlinuz-$BOOT_KVER612" "$BOOT_WORK/vmlinuz-612" >/dev/null &&
	vm_copy_out nmm "/boot/initrd.img-$BOOT_KVER612" "$BOOT_WORK/initrd-612" >/dev/null ||
	bail "no 6.12 kernel or initrd in the guest"
reboot_all "6.12" "$BOOT_WORK/vmlinuz-612" "$BOOT_WORK/initrd-612"
vm_all 'uname -r' nmm a b
[ "${OUT[a]}" = "$BOOT_KVER612" ]
ok $? "the VMs run $BOOT_KVER612" "${OUT[a]}"
loaded "6.12" "$V"
services_active "6.12"
converge "6.12"
authenticated "6.12"

# --- 5. package upgrade -------------------------------------------------------
t_start
vm_exec a "setsid ping -i 0.2 -w 1200 -W 1 $NET.3 </dev/null >/tmp/ping-up.log 2>&1 &" >/dev/null
vm_all "$(install_cmd 2 akm-dkms akm-tools akm-nmm)" nmm
vm_all "$(install_cmd 2 akm-dkms akm-tools akm-agent)" a b
all_ok "apt upgrades to $V2 over the running system" nmm a b
t_end "apt upgrade to $V2 (DKMS builds for both kernels)"
vm_all "akm-nmmd --version; systemctl is-active akm-nmmd && readlink /proc/\$(systemctl show -P MainPID akm-nmmd)/exe | grep -v deleted" nmm
vm_all "akm-agent --version; systemctl is-active akm-agent && readlink /proc/\$(systemctl show -P MainPID akm-agent)/exe | grep -v deleted" a b
all_ok "the services run the new binaries (restarted by the upgrade)" nmm a b
vm_all "dkms status -m akm; dkms status -m akm -v '$V2' -k '$BOOT_KVER61' | grep -q ': installed' && dkms status -m akm -v '$V2' -k '$BOOT_KVER612' | grep -q ': installed' && modinfo -F version akm | grep -x '$V2' && grep -x '$V' /sys/module/akm/version" nmm a b
all_ok "akm $V2 built for both kernels; $V stays loaded until the next boot" nmm a b
converge "after the package upgrade"
out=$(vm_exec a "pkill -INT -x ping; sleep 1; tail -n 3 /tmp/ping-up.log")
grep -q ' 0% packet loss' <<<"$out"
ok $? "package upgrade: no ping from a to b lost while apt upgraded every VM" "$out"
authenticated "after the package upgrade"
reboot_all "6.12 after the upgrade" "$BOOT_WORK/vmlinuz-612" "$BOOT_WORK/initrd-612"
loaded "6.12 after the upgrade" "$V2"
services_active "6.12 after the upgrade"
converge "6.12 after the upgrade"
authenticated "6.12 after the upgrade"

# --- 6. remove and purge --------------------------------------------------------
out=$(vm_exec a 'apt-get remove -y -q akm-agent >/dev/null && ! systemctl is-active akm-agent && test -s /var/lib/akm/agent/agent.conf && test -f /etc/akm/agent.conf && ! test -e /lib/systemd/system/akm-agent.service' 2>&1)
ok $? "apt remove akm-agent: service stopped and gone; state and configuration kept" "$out"
leftovers='ls -d /etc/akm /var/lib/akm /usr/src/akm-* /var/lib/dkms/akm /lib/modules/*/updates/dkms/akm.ko* /lib/systemd/system/akm-nmmd* /lib/systemd/system/akm-agent* /etc/systemd/system/*/akm-nmmd* /etc/systemd/system/*/akm-agent* 2>/dev/null; lsmod | grep -w "^akm"'
vm_all "apt-get purge -y -q akm-agent akm-tools akm-dkms >/dev/null; $leftovers; true" a b
vm_all "apt-get purge -y -q akm-nmm akm-tools akm-dkms >/dev/null; $leftovers; true" nmm
bad=""
for v in nmm a b; do [ -z "${OUT[$v]}" ] || bad+="== $v:"$'\n'"${OUT[$v]}"$'\n'; done
[ -z "$bad" ]
ok $? "apt purge: no module (file or loaded), unit, configuration or state left" "$bad"

for v in nmm a b; do vm_stop "$v" 60; done
echo "# figures (TCG, 1 vCPU each, three VMs on 2 host cores):"
printf '#   %s\n' "${FIG[@]}"
totals
[ "$fail" = 0 ]
