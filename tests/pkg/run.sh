#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The packages on the host (TAP): scripts/deb.sh builds them and lintian
# finds no error or warning; each holds what it must; the versions agree
# (VERSION, debian/changelog, MODULE_VERSION of build/<kver>/akm.ko, the
# programs' --version); the units are rated 2.0 or lower by
# systemd-analyze security; the example configuration files are accepted.
# The packages installed and booted: tests/boot/run.sh (in VMs).
#
#   tests/pkg/run.sh
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib.sh"
cd "$top" || exit 1
out=build/pkg-test
rm -rf "$out"
v=$(cat VERSION)

log=$(scripts/deb.sh --out "$out" 2>&1)
ok $? "scripts/deb.sh: dpkg-buildpackage, lintian without error or warning" "$log"

contents() { dpkg-deb -c "$out/$1_${v}_$2.deb" 2>&1 | awk '{print $6}'; }
has() {	# PACKAGE ARCH PATH...
	local p=$1 a=$2 list missing=()
	shift 2
	list=$(contents "$p" "$a")
	for f in "$@"; do grep -qxF "./$f" <<<"$list" || missing+=("$f"); done
	ok ${#missing[@]} "$p: holds $*" "missing: ${missing[*]}"
}
has akm-dkms all "usr/src/akm-$v/dkms.conf" "usr/src/akm-$v/Kbuild" "usr/src/akm-$v/VERSION" \
	"usr/src/akm-$v/kernel/main.c" "usr/src/akm-$v/uapi/linux/akm.h"
has akm-tools amd64 usr/sbin/akmctl usr/share/man/man8/akmctl.8.gz \
	usr/share/bash-completion/completions/akmctl
has akm-nmm amd64 usr/sbin/akm-nmmd usr/share/man/man8/akm-nmmd.8.gz etc/akm/nmmd.conf \
	lib/systemd/system/akm-nmmd.service
has akm-root amd64 usr/sbin/akm-rootd usr/share/man/man8/akm-rootd.8.gz etc/akm/rootd.conf \
	lib/systemd/system/akm-rootd.service
has akm-agent amd64 usr/sbin/akm-agent usr/share/man/man8/akm-agent.8.gz etc/akm/agent.conf \
	lib/systemd/system/akm-agent.service

dkms=$(dpkg-deb --fsys-tarfile "$out/akm-dkms_${v}_all.deb" | tar -xOf - "./usr/src/akm-$v/dkms.conf")
grep -qx "PACKAGE_VERSION=\"$v\"" <<<"$dkms" && grep -qx 'AUTOINSTALL="yes"' <<<"$dkms" &&
	grep -qx 'BUILD_EXCLUSIVE_KERNEL="^6\\.(1|12)\\."' <<<"$dkms"
ok $? "akm-dkms: dkms.conf of version $v, built for every new 6.1 or 6.12 kernel" "$dkms"

# one version everywhere
got=()
got+=("changelog $(dpkg-parsechangelog -S Version)")
for p in akm-dkms:all akm-tools:amd64 akm-nmm:amd64 akm-agent:amd64 akm-root:amd64; do
	got+=("${p%%:*} $(dpkg-deb -f "$out/${p%%:*}_${v}_${p#*:}.deb" Version)")
done
got+=("akmctl $(userspace/akmctl/akmctl -V | cut -d' ' -f2)")
got+=("akm-nmmd $(userspace/nmm/akm-nmmd --version | cut -d' ' -f2)")
got+=("akm-rootd $(userspace/rootd/akm-rootd --version | cut -d' ' -f2)")
got+=("akm-agent $(userspace/agent/akm-agent --version | cut -d' ' -f2)")
for k in $(scripts/kernels.sh); do
	got+=("akm.ko($k) $(modinfo -F version "build/$k/akm.ko" 2>&1)")
done
bad=$(printf '%s\n' "${got[@]}" | awk -v v="$v" '$NF != v')
[ -z "$bad" ]
ok $? "one version, $v (VERSION): changelog, packages, programs, module" \
	"$(printf '%s\n' "${got[@]}")"

for u in systemd/akm-nmmd.service systemd/akm-agent.service systemd/akm-rootd.service; do
	sec=$(systemd-analyze security --offline=true "$u" 2>&1)
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$sec")
	[ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'
	ok $? "$(basename "$u"): systemd-analyze security ${score:-?} (2.0 or lower)" \
		"$(grep '✗' <<<"$sec")"
done

userspace/nmm/akm-nmmd --config userspace/nmm/nmmd.conf --version >/dev/null 2>"$out/err"
ok $? "userspace/nmm/nmmd.conf (/etc/akm/nmmd.conf) is accepted" "$(cat "$out/err")"
userspace/agent/akm-agent --config userspace/agent/agent.conf --version >/dev/null 2>"$out/err"
ok $? "userspace/agent/agent.conf (/etc/akm/agent.conf) is accepted" "$(cat "$out/err")"
userspace/rootd/akm-rootd --config userspace/rootd/rootd.conf --version >/dev/null 2>"$out/err"
ok $? "userspace/rootd/rootd.conf (/etc/akm/rootd.conf) is accepted" "$(cat "$out/err")"

totals
