#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The root server's package on a booted Debian 12 (systemd as PID 1, the
# image of scripts/boot-image.sh, with Debian's PostgreSQL 15): akm-root and
# akm-tools installed with apt, offline; the database and its role made as
# Documentation/packaging.md says; akm-rootd.service started (its own
# dynamic user, PostgreSQL peer authentication, Type=notify); akmctl root
# through it; restarts of PostgreSQL and of the service; a reboot; purge.
# One VM, about 3 minutes.
#
#   tests/boot/root.sh         TAP; logs in $BOOT_WORK
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$top" || exit 1
. tests/lib.sh
. tests/boot/lib.sh
trap boot_cleanup EXIT
bail() { echo "Bail out! $*"; totals; exit 1; }
in_vm() {	# NAME CMD: one result, passed if CMD succeeds in the VM
	local out st
	out=$(vm_exec root "$2" 2>&1)
	st=$?
	ok $st "$1" "$out"
}

boot_image || bail "no boot image"
scripts/deb.sh --out "$BOOT_SHARE/debs" >"$BOOT_WORK.deb.log" 2>&1 ||
	bail "scripts/deb.sh failed: $(tail -n 20 "$BOOT_WORK.deb.log")"
vm_start root 1 || bail "the VM does not boot"

in_vm "the VM is up, PostgreSQL 15 runs in it (without AKM)" \
	'systemctl is-system-running --wait; systemctl is-active postgresql@15-main &&
	 runuser -u postgres -- psql -XAtc "SELECT 1"'
in_vm "apt install akm-root akm-tools (offline)" \
	'apt-get install -y -q /mnt/share/debs/akm-root_*.deb /mnt/share/debs/akm-tools_*.deb'
in_vm "the unit is installed, not enabled" \
	'[ "$(systemctl is-enabled akm-rootd)" = disabled ] && ! systemctl is-active -q akm-rootd'
in_vm "the database and its role, as packaging.md says" \
	'runuser -u postgres -- createuser akm-root && runuser -u postgres -- createdb -O akm-root akm'
in_vm "id set in /etc/akm/rootd.conf; systemctl enable --now akm-rootd (Type=notify)" \
	'echo "id = 1" >>/etc/akm/rootd.conf && systemctl enable --now akm-rootd &&
	 systemctl is-active akm-rootd'
in_vm "it runs as the dynamic user akm-root, without capabilities" \
	'pid=$(systemctl show -P MainPID akm-rootd) && [ "$(ps -o user= -p "$pid")" = akm-root ] &&
	 grep -q "^CapEff:\s*0000000000000000$" /proc/$pid/status'
in_vm "its state: /var/lib/akm/root/master.key, 0600, the dynamic user's" \
	'[ "$(stat -L -c "%a %U" /var/lib/akm/root/master.key)" = "600 akm-root" ]'
in_vm "akmctl root through its admin socket" \
	'akmctl root site add east id 100 endpoint 10.77.0.1 &&
	 akmctl root node add a id 2 site east addr 10.77.0.2 &&
	 akmctl root asr add 1 alg hmac-sha256 && akmctl root asr add-member 1 node a &&
	 akmctl root asr show 1 | grep -q "member 2 name a site east"'
in_vm "its records are in PostgreSQL, owned by the role akm-root" \
	'[ "$(runuser -u postgres -- psql -XAt akm -c "SELECT tableowner FROM pg_tables WHERE tablename = '"'asrs'"'")" = akm-root ]'
in_vm "systemctl restart postgresql: akm-rootd stays active and serves" \
	'systemctl restart postgresql && sleep 2 && systemctl is-active akm-rootd &&
	 akmctl root asr add-member 1 node a 2>&1 | grep -q "already"'
in_vm "systemctl restart akm-rootd" \
	'systemctl restart akm-rootd && systemctl is-active akm-rootd && akmctl root asr show 1 >/dev/null'
in_vm "journal: its log lines without timestamps of their own" \
	'journalctl -u akm-rootd -b --no-pager -o cat | grep -qx "root 1 serving, state /var/lib/private/akm/root"'
in_vm "systemd-analyze security akm-rootd: 2.0 or lower" \
	's=$(systemd-analyze security akm-rootd | sed -n "s/.*exposure level for akm-rootd.service: \([0-9.]*\).*/\1/p");
	 echo "$s"; awk -v s="$s" "BEGIN { exit !(s != \"\" && s <= 2.0) }"'

vm_reboot root || bail "no runner after the reboot"
in_vm "after a reboot: akm-rootd started after PostgreSQL, active, its records there" \
	'systemctl is-system-running --wait; systemctl is-active akm-rootd &&
	 akmctl root asr show 1 | grep -q "member 2 name a" &&
	 [ "$(systemctl show -P ActiveEnterTimestampMonotonic akm-rootd)" -gt \
	   "$(systemctl show -P ActiveEnterTimestampMonotonic postgresql@15-main)" ] &&
	 ! journalctl -b -u akm-rootd -o cat | grep -q "cannot connect"'

in_vm "apt purge akm-root: the unit, the configuration and the master key gone; the database kept" \
	'apt-get purge -y -q akm-root >/dev/null && ! systemctl cat akm-rootd >/dev/null 2>&1 &&
	 [ ! -e /etc/akm/rootd.conf ] && [ ! -e /var/lib/akm/root ] && [ ! -e /var/lib/private/akm/root ] &&
	 runuser -u postgres -- psql -XAt akm -c "SELECT count(*) FROM asrs" | grep -qx 1'
vm_stop root
totals
[ "$fail" = 0 ]
